"""benchmarks/foresight_tiny_eval.py runs end to end on a saved random-weight pipeline, and checks the goals."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from foresight_models import testing

ROOT = Path(__file__).resolve().parents[1]


def benchmark():
    spec = importlib.util.spec_from_file_location("foresight_tiny_eval", ROOT / "benchmarks" / "foresight_tiny_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_runs_end_to_end_and_writes_every_section(tmp_path):
    folder = testing.tiny_pipeline_folder(tmp_path / "model")
    out, md = tmp_path / "results.json", tmp_path / "results.md"
    argv = ["--model", folder, "--num-clips", "2", "--size", "32", "--frames", "9", "--steps", "1"]
    argv += ["--max-new-tokens", "3", "--device", "cpu", "--out", str(out), "--markdown", str(md)]
    benchmark().main(argv)
    results = json.loads(out.read_text())
    assert set(results) == {
        "config", "centre_error", "image_metrics", "action_recall", "prompt_ablation", "goals", "runs"
    }
    assert results["config"]["seed"] == 1000 and results["config"]["main_prompt"] == "vlm"
    errors = results["centre_error"]
    assert errors["horizons"] == list(range(1, 9))
    assert set(errors["mean"]) == {"prediction", "copy", "extrapolation"}
    assert all(len(values) == 8 for values in errors["mean"].values())
    for comparison in errors["last_frame"].values():
        assert comparison["n"] == 2 and len(comparison["ci95"]) == 2
    assert set(results["image_metrics"]) == {"psnr", "ssim"}
    assert set(results["action_recall"]) == {"real", "generated", "prompt", "with_objects", "mentions"}
    assert all(results["action_recall"][key] is not None for key in ("real", "generated", "prompt"))
    assert list(results["prompt_ablation"]) == ["vlm", "label", "empty"]
    assert results["runs"]["label"]["prompts"] == [
        item["label"] for item in (benchmark().held_out_clips(2, 1000, 32, 9)[i] for i in range(2))
    ]
    assert results["runs"]["empty"]["prompts"] == ["", ""]
    assert [goal["met"] for goal in results["goals"]][:2] == [False, False]  # random weights meet no goal
    text = md.read_text()
    for heading in ("Where are the objects?", "Action recall", "Per action", "Does the prompt matter?", "Goals"):
        assert heading in text
    assert text.count("\n| 8 |") == 1  # one row per horizon


def test_runs_of_separate_processes_combine_into_one_report(tmp_path):
    folder = testing.tiny_pipeline_folder(tmp_path / "model")
    common = ["--model", folder, "--num-clips", "2", "--size", "32", "--frames", "9", "--steps", "1"]
    common += ["--max-new-tokens", "2", "--device", "cpu"]
    module = benchmark()
    first = module.main([*common, "--prompts", "vlm", "--out", str(tmp_path / "vlm.json")])
    rest = module.main([*common, "--prompts", "label,empty", "--no-recall", "--out", str(tmp_path / "rest.json")])
    assert rest["action_recall"]["real"] is None and rest["runs"]["label"]["real_descriptions"] is None
    files = [str(tmp_path / "vlm.json"), str(tmp_path / "rest.json")]
    combined = module.main(["--combine", *files, "--out", str(tmp_path / "all.json"), "--markdown", str(tmp_path / "all.md")])
    assert list(combined["prompt_ablation"]) == ["vlm", "label", "empty"]
    assert combined["action_recall"] == first["action_recall"]
    assert combined["centre_error"] == first["centre_error"]
    assert combined["prompt_ablation"]["empty"] == rest["prompt_ablation"]["empty"]
    assert json.loads((tmp_path / "all.json").read_text())["config"]["prompts"] == ["vlm", "label", "empty"]
    # runs on other settings do not combine
    other = module.main([*common[:-4], "--max-new-tokens", "2", "--device", "cpu", "--seed", "2000", "--prompts",
                         "empty", "--no-recall", "--out", str(tmp_path / "other.json")])
    assert other["config"]["seed"] == 2000
    with pytest.raises(SystemExit, match="seed"):
        module.main(["--combine", files[0], str(tmp_path / "other.json"), "--out", str(tmp_path / "x.json")])


def summary(ratio, p, real, generated):
    comparison = {"mean_a": 10 * ratio, "mean_b": 10.0, "mean_diff": 10 * ratio - 10, "ratio": ratio,
                  "p_value": p, "p_wilcoxon": p, "ci95": [-1.0, 1.0], "n": 200}
    return {"last_frame": {"prediction_vs_copy": comparison},
            "action_recall": {"real": real, "generated": generated, "prompt": None}}


@pytest.mark.parametrize(
    ("ratio", "p", "real", "generated", "met"),
    [
        (0.4, 1e-5, 0.95, 0.9, [True, True, True]),
        (0.5, 1e-4, 0.9, 0.81, [True, True, True]),
        (0.6, 1e-5, 0.95, 0.85, [False, True, False]),
        (0.3, 0.01, 0.8, 0.75, [False, False, True]),
    ],
)
def test_goals_are_met_or_missed_by_the_numbers(ratio, p, real, generated, met):
    goals = benchmark().goals(summary(ratio, p, real, generated))
    assert [goal["met"] for goal in goals] == met


def test_held_out_seed_must_not_be_a_training_seed():
    with pytest.raises(SystemExit):
        benchmark().parse_args(["--model", "m", "--out", "o.json", "--seed", "3"])
    with pytest.raises(SystemExit):
        benchmark().parse_args(["--model", "m", "--out", "o.json", "--prompts", "vlm,caption"])
