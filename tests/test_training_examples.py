"""The shipped example configs train through ``foresight train`` (a few steps, tiny data) and resume."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from foresight_models.cli import main
from foresight_models.training import find_checkpoints

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "examples"


def _small_copy(name: str, folder: Path, *, steps: int = 2) -> Path:
    """The example config with one batch of clips, evaluation / checkpoints every step and a warmup that fits in
    ``steps`` (a warmup longer than the run is refused); the task section is untouched."""
    config = yaml.safe_load((CONFIGS / name).read_text())
    config["data"]["num_clips"] = config["optim"]["batch_size"]
    config["optim"]["warmup_steps"] = min(config["optim"].get("warmup_steps", 0), steps)
    if "eval" in config:
        config["eval"].update(num_clips=4, every=1)
    config["checkpoint"]["every"] = 1
    config["logging"] = {**config.get("logging", {}), "every": 1, "progress_bar": False}
    path = folder / name
    path.write_text(yaml.safe_dump(config))
    return path


def _records(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "logs.jsonl").read_text().splitlines()]


def test_every_example_config_is_exercised():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == ["adapter.yaml", "head.yaml", "ltx_lora.yaml"]


@pytest.mark.parametrize(
    ("name", "exported"),
    [
        ("head.yaml", "head/diffusion_pytorch_model.safetensors"),
        ("adapter.yaml", "adapter/diffusion_pytorch_model.safetensors"),
        ("ltx_lora.yaml", "pytorch_lora_weights.safetensors"),
    ],
)
def test_example_config_trains_through_foresight_train(name, exported, tmp_path, capsys):
    config = _small_copy(name, tmp_path)
    out = tmp_path / "run"
    steps = 2
    assert main(["train", "--config", str(config), "--max-steps", str(steps), "--output-dir", str(out)]) == 0
    assert f"trained to step {steps}" in capsys.readouterr().out
    records = _records(out)
    train = [r for r in records if r["event"] == "train"]
    assert [r["step"] for r in train] == [1, 2] and all(r["loss"] > 0 for r in train)
    if name != "ltx_lora.yaml":
        evals = [r for r in records if r["event"] == "eval"]
        assert [r["step"] for r in evals] == [1, 2] and all("eval_loss" in r for r in evals)
    assert [p.name for p in find_checkpoints(out / "checkpoints")] == ["checkpoint-1", "checkpoint-2"]
    assert load_file(str(out / "final" / exported))  # the trained weights, exported
    saved = json.loads((out / "config.json").read_text())
    assert saved["optim"]["max_steps"] == steps and saved["output_dir"] == str(out)


def test_an_example_run_stopped_midway_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, capsys):
    config = str(_small_copy("head.yaml", tmp_path, steps=4))
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["train", "--config", config, "--max-steps", "4", "--output-dir", str(straight)]) == 0
    arguments = ["train", "--config", config, "--max-steps", "4", "--output-dir", str(split)]
    assert main([*arguments, "--until-step", "2"]) == 0
    assert "stopped at step 2 of 4" in capsys.readouterr().out
    assert not (split / "final").exists()
    assert main(arguments) == 0  # resume="auto": continues from checkpoint-2
    assert "trained to step 4" in capsys.readouterr().out
    resumed = [r for r in _records(split) if r["event"] == "resume"]
    assert [(r["step"], Path(r["checkpoint"]).name) for r in resumed] == [(2, "checkpoint-2")]

    def losses(run):
        return [(r["step"], r["loss"]) for r in _records(run) if r["event"] == "train"]

    assert losses(split) == losses(straight)
    weights = "final/head/diffusion_pytorch_model.safetensors"
    expected, got = load_file(str(straight / weights)), load_file(str(split / weights))
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)


def test_data_too_small_for_one_step_is_refused_before_training(tmp_path, capsys):
    config = yaml.safe_load((CONFIGS / "head.yaml").read_text())
    config["data"]["num_clips"] = 4  # batch_size is 16
    path = tmp_path / "head.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", "--config", str(path), "--output-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "train_dataset: 4 samples do not fill one optimizer step of optim.batch_size 16" in err
    assert not (tmp_path / "run").exists()
