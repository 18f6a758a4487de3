"""The run configuration: YAML / JSON files validated before any work, datasets from config sections, ``foresight train`` errors."""

import importlib.util
import json

import pytest
import torch

from foresight_models.cli import main
from foresight_models.data import SyntheticMotion
from foresight_models.training import RunConfig, build_dataset, load_config

HAS_TASKS = importlib.util.find_spec("foresight_models.training.tasks") is not None

YAML = """
seed: 3
output_dir: {out}
task: {{name: head, context_frames: 3}}
data: {{kind: synthetic, num_clips: 32, frames: 4, size: 16, seed: 0}}
eval: {{kind: synthetic, num_clips: 8, frames: 4, size: 16, seed: 1, every: 5}}
optim: {{lr: 1e-3, warmup_steps: 2, max_steps: 20, batch_size: 4, mixed_precision: "no", scheduler: cosine}}
checkpoint: {{every: 10, keep_last: 2}}
logging: {{every: 2}}
early_stopping: {{patience: 3, metric: eval_loss}}
"""


def test_yaml_and_json_files_load_into_the_same_dataclasses(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(YAML.format(out=tmp_path / "run"))
    config = load_config(path)
    assert isinstance(config, RunConfig)
    assert config.optim.lr == 1e-3 and isinstance(config.optim.lr, float)  # YAML 1.1 would read "1e-3" as a string
    assert (config.seed, config.optim.max_steps, config.checkpoint.keep_last, config.logging.every) == (3, 20, 2, 2)
    assert config.eval.every == 5 and config.eval.data == {
        "kind": "synthetic", "num_clips": 8, "frames": 4, "size": 16, "seed": 1
    }
    assert config.early_stopping.patience == 3 and config.task == {"name": "head", "context_frames": 3}
    as_json = tmp_path / "run.json"
    as_json.write_text(json.dumps(config.to_dict()))
    assert load_config(as_json) == config
    overridden = load_config(path, overrides={"optim": {"max_steps": 7}, "output_dir": "elsewhere"})
    assert overridden.optim.max_steps == 7 and overridden.optim.lr == 1e-3 and overridden.output_dir == "elsewhere"


@pytest.mark.parametrize(
    ("change", "error", "pattern"),
    [
        ({"learning_rate": 1}, ValueError, r"learning_rate: unknown key .*allowed keys: seed, output_dir"),
        ({"optim": {"lr": 1e-3, "momentum": 0.9}}, ValueError, r"optim\.momentum: unknown key .*allowed keys: lr"),
        ({"data": {"kind": "synthetic", "clip": 4}}, ValueError, r"data\.clip: unknown key .*num_clips"),
        ({"eval": {"kind": "synthetic", "evry": 4}}, ValueError, r"eval\.evry: unknown key .*every"),
        ({"data": {"kind": "webdataset"}}, ValueError, r"data\.kind: expected one of 'synthetic', 'ssv2', 'cache'"),
        ({"optim": {"lr": "fast"}}, TypeError, r"optim\.lr: expected a real number, got 'fast'"),
        ({"optim": {"max_steps": 2.5}}, TypeError, r"optim\.max_steps: expected an int"),
        ({"optim": {"max_steps": 0}}, ValueError, r"optim\.max_steps: expected an int >= 1, got 0"),
        ({"optim": {"warmup_steps": 50, "max_steps": 10}}, ValueError, r"optim\.warmup_steps: expected at most optim\.max_steps"),
        ({"optim": {"mixed_precision": "fp8"}}, ValueError, r"optim\.mixed_precision: expected one of 'no'"),
        ({"logging": {"tensorboard": "yes"}}, TypeError, r"logging\.tensorboard: expected True or False"),
        ({"data": {"kind": "synthetic", "num_clips": "many"}}, TypeError, r"data\.num_clips: expected an int"),
        ({"data": {"kind": "synthetic", "size": 8}}, ValueError, r"data\.size: expected an int >= 16"),
        ({"early_stopping": {"patience": 2}}, ValueError, r"early_stopping\.patience: early stopping needs an eval"),
        ({"task": {"context_frames": 3}}, ValueError, r"task\.name: expected the name of a training task"),
        ({"optim": [1, 2]}, TypeError, r"optim: expected a mapping"),
        ({"output_dir": None}, ValueError, r"output_dir: missing"),
    ],
)
def test_bad_configs_fail_with_the_key_named(tmp_path, change, error, pattern):
    raw = {
        "output_dir": str(tmp_path),
        "task": {"name": "head"},
        "data": {"kind": "synthetic", "num_clips": 4},
        "optim": {"max_steps": 10},
    }
    raw.update(change)
    with pytest.raises(error, match=pattern):
        load_config(raw)


def test_missing_data_paths_fail_before_anything_is_built(tmp_path):
    base = {"output_dir": str(tmp_path), "task": {"name": "head"}}
    with pytest.raises(FileNotFoundError, match=r"data\.root: no such file or folder: .*nowhere"):
        load_config({**base, "data": {"kind": "ssv2", "root": str(tmp_path / "nowhere")}})
    with pytest.raises(ValueError, match=r"data\.root: kind 'ssv2' needs 'root'"):
        load_config({**base, "data": {"kind": "ssv2", "split": "train"}})
    with pytest.raises(FileNotFoundError, match=r"eval\.root"):
        load_config(
            {**base, "data": {"kind": "synthetic"}, "eval": {"kind": "ssv2", "root": str(tmp_path / "gone"), "every": 2}}
        )
    with pytest.raises(FileNotFoundError, match="config: no such file"):
        load_config(tmp_path / "absent.yaml")
    bad_suffix = tmp_path / "run.toml"
    bad_suffix.write_text("seed = 1")
    with pytest.raises(ValueError, match=r"expected a \.yaml, \.yml or \.json file"):
        load_config(bad_suffix)


def test_build_dataset_from_sections(tmp_path):
    dataset = build_dataset({"kind": "synthetic", "num_clips": 3, "frames": 4, "size": [16, 24], "seed": 5})
    assert isinstance(dataset, SyntheticMotion) and len(dataset) == 3
    assert tuple(dataset[0]["frames"].shape) == (4, 3, 16, 24)
    reference = SyntheticMotion(3, frames=4, size=(16, 24), seed=5)
    assert dataset[2]["label"] == reference[2]["label"]

    SyntheticMotion(2, frames=4, size=16).write_ssv2(tmp_path / "ssv2", video_format="mp4")
    clips = build_dataset(
        {"kind": "ssv2", "root": str(tmp_path / "ssv2"), "context_frames": 2, "future_frames": 1, "size": 16,
         "extension": ".mp4", "window": "start"}
    )
    item = clips[1]
    assert len(clips) == 2 and tuple(item["frames"].shape) == (3, 3, 16, 16)  # context and future joined
    assert torch.equal(item["frames"][:2], item["context"]) and torch.equal(item["frames"][2:], item["future"])


def test_foresight_train_reports_config_errors_in_one_line(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text(YAML.format(out=tmp_path / "run") + "extra_section: {a: 1}\n")
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("foresight train: error: extra_section: unknown key") and "\n" not in err
    path.write_text(YAML.format(out=tmp_path / "run").replace("num_clips: 32", "num_clips: -1"))
    assert main(["train", "--config", str(path)]) == 2
    assert "data.num_clips: expected an int >= 1, got -1" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing was started


@pytest.mark.skipif(not HAS_TASKS, reason="foresight_models.training.tasks (the task registry) is not part of this tree")
def test_foresight_train_trains_a_head_from_a_config_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    config = {
        "seed": 0,
        "output_dir": str(out),
        "task": {
            "name": "head",
            "context_frames": 3,
            "head": {"class": "QueryPredictionHead", "dim": 192, "hidden_dim": 16, "depth": 1, "heads": 2,
                     "dim_head": 8, "num_frames": 3, "max_tokens": 4},
        },
        "data": {"kind": "synthetic", "num_clips": 8, "frames": 4, "size": 16},
        "eval": {"kind": "synthetic", "num_clips": 4, "frames": 4, "size": 16, "seed": 1, "every": 2},
        "optim": {"max_steps": 4, "batch_size": 2, "warmup_steps": 1},
        "checkpoint": {"every": 2},
        "logging": {"every": 1, "progress_bar": False},
    }
    path = tmp_path / "run.json"
    path.write_text(json.dumps(config))
    assert main(["train", "--config", str(path), "--until-step", "2"]) == 0
    assert "stopped at step 2 of 4" in capsys.readouterr().out
    assert main(["train", "--config", str(path)]) == 0
    assert "trained to step 4" in capsys.readouterr().out
    records = [json.loads(line) for line in (out / "logs.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["event"] == "train"] == [1, 2, 3, 4]
    assert [r["step"] for r in records if r["event"] == "eval"] == [2, 4]
    assert all("eval_copy_loss" in r for r in records if r["event"] == "eval")
    assert (out / "final" / "head" / "config.json").is_file()
    assert main(["train", "--config", str(path), "--resume", "never"]) == 2
    assert "already holds checkpoints" in capsys.readouterr().err
