import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import foresight_models
from foresight_models.cli import main


def _run_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_import_is_lazy():
    out = _run_python(
        "import sys, foresight_models; "
        "print(sorted(m for m in ('diffusers', 'transformers', 'timm', 'peft', 'av') if m in sys.modules))"
    )
    assert out.strip() == "[]"


def test_every_public_name_resolves():
    for name in foresight_models.__all__:
        assert getattr(foresight_models, name) is not None, name


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        foresight_models.no_such_name  # noqa: B018


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert foresight_models.__version__ in capsys.readouterr().out


def test_cli_info_lists_versions_and_presets(capsys):
    assert main(["info", "--json"]) == 0
    import json

    info = json.loads(capsys.readouterr().out)
    assert info["foresight_models"] == foresight_models.__version__
    assert info["presets"]["qwen2.5-vl-7b"] == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert info["device"] in {"cpu", "mps"} or info["device"].startswith("cuda")


def test_console_script_is_installed():
    script = shutil.which("foresight", path=str(Path(sys.executable).parent)) or shutil.which("foresight")
    assert script is not None, "the `foresight` console script is not installed"
    out = subprocess.run([script, "info"], check=True, capture_output=True, text=True).stdout
    assert "transformers" in out and "dinov2-large" in out


def test_cli_without_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: foresight" in capsys.readouterr().out


def test_every_command_lives_in_its_own_module():
    from foresight_models.cli import COMMANDS

    assert list(COMMANDS) == ["info", "predict", "eval", "train", "cache", "demo"]
    for name, command in COMMANDS.items():
        assert command.name == name
        assert command.run.__module__ == command.add_arguments.__module__ == f"foresight_models.cli.{name}"


@pytest.mark.parametrize(
    "name,module",
    [
        ("evaluate", "evaluate"),
        ("Metric", "metric"),
        ("EvaluationReport", "report"),
        ("ClipFolder", "clip_folder"),
        ("save_clip_folder", "clip_folder"),
        ("compare", "statistics"),
    ],
)
def test_evaluation_names_resolve_to_one_object_everywhere(name, module):
    import importlib

    from foresight_models import evaluation

    defining = importlib.import_module(f"foresight_models.evaluation.{module}")
    assert getattr(foresight_models, name) is getattr(evaluation, name) is getattr(defining, name)
