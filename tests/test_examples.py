"""Every script in examples/ runs with a small setting, offline, and produces what it promises.

One row per script: its arguments (`{out}` is a fresh temporary folder), the files it must write
under `{out}` and text its output must contain. A new example adds one row (or, if running it as a
script cannot end by itself, an entry of `NOT_RUN` saying how it is tested instead);
`test_every_example_is_run` fails until it does.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# script -> (arguments, files written under {out}, text in stdout)
EXAMPLE_RUNS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "predict.py": (
        "--output {out} --height 32 --width 32 --num-frames 9 --steps 2 --continuations 2 --max-new-tokens 8".split(),
        ["continuation_0.mp4", "continuation_1.mp4"],
        ["prompt:", "#1 (generated"],
    ),
    "rank_continuations.py": (
        ["--output", "{out}", "--continuations", "2", "--max-new-tokens", "8", "--fast"],
        ["rank_0.mp4", "rank_1.mp4", "ranking.json"],
        ["#1: continuation", "fast path: batched_answers: active"],
    ),
    "conditioning_sweep.py": (
        ["--tiny", "--output", "{out}", "--frames", "first", "all", "--strengths", "0", "0.5"],
        ["results.csv"],
        ["mean temporal consistency over images:", "wrote 4 clips"],
    ),
    "publish_model.py": (
        ["--output", "{out}/my-foresight", "--repo-id", "your-name/my-foresight"],
        ["my-foresight/README.md", "my-foresight/model_index.json", "my-foresight/transformer/config.json"],
        ["reloads offline", "pipeline_tag=image-to-video", "not pushed (add --push)"],
    ),
    "adapter_budget.py": ([], [], ["query      10M: 9.46M", "lora       10M:"]),
    "copy_baseline_check.py": ([], [], ["model - copy: +"]),
    "count_parameters.py": (["dinov2-large"], [], ["304,368,640"]),
    "encode_images.py": ([], [], ["identical outputs True"]),
    "evaluate_copy_baseline.py": (["--out", "{out}"], ["report.json", "report.md", "horizons.png"], ["copy"]),
    "synthetic_dataset.py": ([], [], ["mean abs error after VP9"]),
    "train_head.py": (
        "--output-dir {out}/run --steps 30 --clips 32 --held-out 16 --eval-every 10".split(),
        ["run/final/head/config.json", "run/logs.jsonl", "run/checkpoints/checkpoint-30/manifest.json"],
        ["trained to step 30", "held-out MSE: head"],
    ),
    "train_adapter.py": (
        "--output-dir {out}/run --steps 10 --clips 16 --held-out 8 --eval-every 5".split(),
        ["run/final/adapter/config.json", "run/logs.jsonl"],
        ["trained to step 10", "held-out loss"],
    ),
    "finetune_ltx_lora.py": (
        "--output {out}/run --clips 4 --steps 4 --batch-size 2".split(),
        ["run/final/pytorch_lora_weights.safetensors", "run/prediction.mp4", "run/logs.jsonl"],
        ["trained to step 4", "prediction written to"],
    ),
}

# script -> why it is not run as a script, and the test that covers it instead
NOT_RUN: dict[str, str] = {
    "app.py": "serves a web app until stopped; test_app_example_builds_the_demo imports it as a module",
}


def run_example(script: str, args: list[str], out: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "FORESIGHT_CACHE": str(out / ".cache"),
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",  # the suite runs one worker per core
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, str(EXAMPLES / script), *(a.replace("{out}", str(out)) for a in args)]
    return subprocess.run(command, cwd=out, env=env, capture_output=True, text=True, timeout=300)


def test_every_example_is_run():
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert sorted([*EXAMPLE_RUNS, *NOT_RUN]) == scripts, "add a row to EXAMPLE_RUNS for each script in examples/"
    assert not set(EXAMPLE_RUNS) & set(NOT_RUN)


def test_app_example_builds_the_demo(tmp_path):
    # imported under another name than "__main__", app.py builds the app without serving it
    code = f"import runpy; print(type(runpy.run_path({str(EXAMPLES / 'app.py')!r}, run_name='app')['demo']).__name__)"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FORESIGHT_CACHE": str(tmp_path / ".cache"), "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-5000:]
    assert result.stdout.strip().splitlines()[-1] == "Blocks"


@pytest.mark.parametrize("script", sorted(EXAMPLE_RUNS))
def test_example_runs(script, tmp_path):
    args, files, texts = EXAMPLE_RUNS[script]
    result = run_example(script, args, tmp_path)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    for name in files:
        assert (tmp_path / name).is_file(), f"{script} did not write {name}"
    for text in texts:
        assert text in result.stdout, f"{script}: {text!r} not in its output:\n{result.stdout[-3000:]}"
    if script == "rank_continuations.py":
        ranking = json.loads((tmp_path / "ranking.json").read_text())["ranking"]
        assert sorted(entry["continuation"] for entry in ranking) == [0, 1]
        scores = [math.nan if entry["score"] is None else entry["score"] for entry in ranking]
        finite = [s for s in scores if not math.isnan(s)]
        assert scores[: len(finite)] == sorted(finite, reverse=True), f"not best first: {scores}"


def test_publish_refuses_push_without_repo_and_a_non_empty_output(tmp_path):
    result = run_example("publish_model.py", ["--output", "{out}/x", "--push"], tmp_path)
    assert result.returncode == 2 and "--push needs --repo-id" in result.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("keep me")
    result = run_example("publish_model.py", ["--output", "{out}/full"], tmp_path)
    assert result.returncode == 2 and "exists and is not empty" in result.stderr
    assert (tmp_path / "full" / "file").read_text() == "keep me"
