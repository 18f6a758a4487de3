"""The training loop: it learns, resumes exactly, evaluates, stops early; the resumable sampler."""

import importlib.util
import json

import pytest
import torch
from safetensors.torch import load_file
from training_tiny import NextFrameTask, tiny_config, tiny_dataset

from foresight_models.training import CheckpointError, ResumableSampler, Trainer, find_checkpoints


def _train_records(output_dir):
    records = [json.loads(line) for line in (output_dir / "logs.jsonl").read_text().splitlines()]
    # everything but the measured throughput is a pure function of the seed
    return [{k: v for k, v in r.items() if k != "samples_per_s"} for r in records if r["event"] == "train"]


def _final_weights(output_dir):
    return load_file(str(output_dir / "final" / "head" / "diffusion_pytorch_model.safetensors"))


def test_the_loop_learns_and_writes_logs_checkpoints_and_the_final_export(tmp_path):
    config = tiny_config(tmp_path / "run", max_steps=30, every=10, optim={"lr": 1e-2})
    result = Trainer(NextFrameTask(), tiny_dataset(), config).train()
    assert result.finished and result.step == 30 and result.final_dir == tmp_path / "run" / "final"
    records = _train_records(tmp_path / "run")
    assert [r["step"] for r in records] == list(range(1, 31))
    first, last = records[0]["loss"], sum(r["loss"] for r in records[-5:]) / 5
    assert last < 0.2 * first, (first, last)
    assert records[0]["lr"] == pytest.approx(5e-3) and records[1]["lr"] == pytest.approx(1e-2)  # warmup
    assert records[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine decays to zero at max_steps
    assert [p.name for p in find_checkpoints(tmp_path / "run" / "checkpoints")] == ["checkpoint-20", "checkpoint-30"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["optim"]["max_steps"] == 30
    from foresight_models.models.heads import QueryPredictionHead

    head = QueryPredictionHead.from_pretrained(result.final_dir / "head")
    assert torch.equal(head.proj_out[1].weight, _final_weights(tmp_path / "run")["proj_out.1.weight"])


@pytest.mark.parametrize(("accumulation", "ema_decay"), [(1, None), (2, None), (1, 0.9)], ids=["plain", "accumulate", "ema"])
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, accumulation, ema_decay):
    """20 steps straight vs 10 steps, a new process-like start (fresh task, fresh RNG), resume, 10 more."""
    sections = {"optim": {"gradient_accumulation_steps": accumulation, "batch_size": 2, "ema_decay": ema_decay}}
    straight = tmp_path / "straight"
    Trainer(NextFrameTask(), tiny_dataset(), tiny_config(straight, max_steps=20, every=5, **sections)).train()

    split = tmp_path / "split"
    config = tiny_config(split, max_steps=20, every=5, **sections)
    first = Trainer(NextFrameTask(), tiny_dataset(), config).train(until_step=10)
    assert not first.finished and first.final_dir is None and not (split / "final").exists()
    torch.manual_seed(12345)  # the RNG state must come from the checkpoint, not from here
    second = Trainer(NextFrameTask(seed=7), tiny_dataset(), config).train(resume="auto")
    assert second.finished and second.resumed_from.name == "checkpoint-10"

    assert _train_records(split) == _train_records(straight)
    a, b = _final_weights(straight), _final_weights(split)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # more than one epoch was crossed (16 clips, 4 per step), so the data position really was restored
    assert _train_records(split)[-1]["epoch"] >= 1
    last = split / "checkpoints" / "checkpoint-20"
    raw = load_file(str(last / "model.safetensors"))
    if ema_decay is None:
        assert all(torch.equal(raw[f"head.{k}"], v) for k, v in b.items())
    else:  # the export holds the moving average, the checkpoint both
        shadow = load_file(str(last / "ema.safetensors"))
        assert not all(torch.equal(raw[f"head.{k}"], v) for k, v in b.items())
        assert {tuple(v.shape) for v in shadow.values()} == {tuple(v.shape) for v in b.values()}
        assert any(torch.equal(shadow[s], b["proj_out.1.weight"]) for s in shadow)


def test_resume_never_refuses_a_folder_with_checkpoints_and_resume_continues_a_finished_run(tmp_path):
    config = tiny_config(tmp_path / "run", max_steps=4, every=2)
    Trainer(NextFrameTask(), tiny_dataset(), config).train()
    with pytest.raises(CheckpointError, match="already holds checkpoints"):
        Trainer(NextFrameTask(), tiny_dataset(), config).train(resume="never")
    again = Trainer(NextFrameTask(seed=3), tiny_dataset(), config).train()
    assert again.step == 4 and again.finished
    records = [json.loads(line) for line in (tmp_path / "run" / "logs.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records].count("resume") == 1 and len(_train_records(tmp_path / "run")) == 4


def test_evaluation_is_logged_and_early_stopping_ends_the_run(tmp_path):
    config = tiny_config(
        tmp_path / "run",
        max_steps=40,
        every=40,
        optim={"lr": 1e-6, "warmup_steps": 0, "scheduler": "constant"},  # too small a step to improve
        eval={"every": 2, "batch_size": 3},
        early_stopping={"patience": 2, "metric": "eval_loss", "min_delta": 0.01},
    )
    calls = []

    def eval_fn(task, batch):
        calls.append(len(batch["frames"]))
        return {"copy": float(task.loss(batch)["copy_loss"])}

    result = Trainer(NextFrameTask(), tiny_dataset(), config, eval_dataset=tiny_dataset(5, seed=9), eval_fn=eval_fn).train()
    assert result.stopped_early and result.finished and result.step == 6  # best at 2, no gain at 4 and 6
    assert calls[:2] == [3, 2]  # the whole held-out set, in batches of eval.batch_size
    records = [json.loads(line) for line in (tmp_path / "run" / "logs.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["event"] == "eval"]
    assert [r["step"] for r in evals] == [2, 4, 6] and {"eval_loss", "eval_copy"} <= evals[0].keys()
    assert records[-1]["event"] == "early_stop" and result.best_metric == evals[0]["eval_loss"]
    assert (tmp_path / "run" / "checkpoints" / "checkpoint-6").is_dir() and (tmp_path / "run" / "final").is_dir()
    # a resumed early-stopped run stays stopped
    assert Trainer(NextFrameTask(), tiny_dataset(), config, eval_dataset=tiny_dataset(5, seed=9)).train().step == 6


def test_trainer_checks_its_arguments(tmp_path):
    config = tiny_config(tmp_path)
    with pytest.raises(TypeError, match="task: expected a TrainingTask"):
        Trainer(torch.nn.Linear(2, 2), tiny_dataset(), config)
    frozen = NextFrameTask().requires_grad_(False)
    with pytest.raises(ValueError, match="yields no parameters"):
        Trainer(frozen, tiny_dataset(), config)
    with pytest.raises(ValueError, match="optim.batch_size"):
        Trainer(NextFrameTask(), tiny_dataset(), tiny_config(tmp_path, optim={"batch_size": 0}))
    with pytest.raises(ValueError, match="train_dataset: 16 samples do not fill one optimizer step of optim.batch_size 32"):
        Trainer(NextFrameTask(), tiny_dataset(), tiny_config(tmp_path, optim={"batch_size": 32}))  # before training
    if importlib.util.find_spec("wandb") is None:  # asked for but not installed: refused before any work
        with pytest.raises(ValueError, match="logging.wandb: wandb is not installed"):
            Trainer(NextFrameTask(), tiny_dataset(), tiny_config(tmp_path, logging={"wandb": True}))


def test_sampler_shards_resumes_and_refuses_other_data():
    whole = ResumableSampler(20, batch_size=4, seed=1)
    shards = [ResumableSampler(20, batch_size=2, seed=1, num_replicas=2, rank=r) for r in (0, 1)]
    order = list(whole)
    assert sorted(order) == sorted(set(order)) and len(order) == 20
    parts = [list(s) for s in shards]
    for batch in range(5):  # each global batch of 4 is split into two halves of 2
        assert parts[0][2 * batch : 2 * batch + 2] + parts[1][2 * batch : 2 * batch + 2] == order[4 * batch : 4 * batch + 4]
    whole.set_epoch(1)
    assert list(whole) != order  # a new permutation every epoch
    epoch_one = list(whole)
    whole.advance(3)
    resumed = ResumableSampler(20, batch_size=4, seed=1)
    resumed.load_state_dict(whole.state_dict())
    assert list(resumed) == epoch_one[12:] and len(resumed) == 8
    with pytest.raises(ValueError, match="num_samples=20 but this sampler has num_samples=21"):
        ResumableSampler(21, batch_size=4, seed=1).load_state_dict(whole.state_dict())
    with pytest.raises(ValueError, match="passes the end of the epoch"):
        whole.advance(3)
    accumulating = ResumableSampler(20, batch_size=4, batches_per_step=3)
    assert accumulating.batches_per_epoch == 3 and len(list(accumulating)) == 12  # whole optimizer steps only
