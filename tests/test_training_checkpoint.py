"""Checkpoints: exact round trips, atomic saves, corruption detected and skipped, keep-last-K."""

import json
import random
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from foresight_models.training import (
    CheckpointError,
    ResumableSampler,
    TrainingTask,
    capture_rng_state,
    find_checkpoints,
    load_checkpoint,
    model_state_dict,
    save_checkpoint,
    verify_checkpoint,
)


class TwoPartTask(TrainingTask):
    """A trainable head beside a frozen encoder, as real tasks are."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.encoder = nn.Linear(4, 6).requires_grad_(False)
        self.head = nn.Sequential(nn.Linear(6, 3), nn.BatchNorm1d(3))
        self.trainable = {"head": self.head}

    def loss(self, batch):
        return self.head(self.encoder(batch["x"])).pow(2).mean()


def _trained(seed: int = 0):
    task = TwoPartTask(seed)
    optimizer = torch.optim.AdamW(task.trainable_parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + step))
    for _ in range(3):
        task.loss({"x": torch.randn(8, 4)}).backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return task, optimizer, scheduler


def _fresh(seed: int = 1):
    task = TwoPartTask(seed)
    optimizer = torch.optim.AdamW(task.trainable_parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + step))
    return task, optimizer, scheduler


def test_round_trip_restores_weights_optimizer_scheduler_rng_and_data_position(tmp_path):
    task, optimizer, scheduler = _trained()
    sampler = ResumableSampler(40, batch_size=4, seed=3)
    sampler.set_epoch(2)
    sampler.advance(5)
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(9)
    path = save_checkpoint(tmp_path, step=3, model=task, optimizer=optimizer, scheduler=scheduler, sampler=sampler, note="x")
    expected_draws = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])

    other, other_optimizer, other_scheduler = _fresh()
    other_sampler = ResumableSampler(40, batch_size=4, seed=3)
    torch.manual_seed(0)
    restored = load_checkpoint(
        tmp_path, model=other, optimizer=other_optimizer, scheduler=other_scheduler, sampler=other_sampler
    )
    assert restored.step == 3 and restored.path == path and restored.extra == {"note": "x"} and restored.rng_restored
    for key, value in task.head.state_dict().items():
        assert torch.equal(other.head.state_dict()[key], value), key
    assert not torch.equal(other.encoder.weight, task.encoder.weight)  # frozen weights are not part of it
    state, other_state = optimizer.state_dict(), other_optimizer.state_dict()
    for index, entry in state["state"].items():
        for name, value in entry.items():
            assert torch.equal(torch.as_tensor(other_state["state"][index][name]), torch.as_tensor(value))
    assert other_scheduler.state_dict() == scheduler.state_dict()
    assert (other_sampler.epoch, other_sampler.position) == (2, 5)
    draws = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    assert torch.equal(draws[0], expected_draws[0])
    assert np.array_equal(draws[1], expected_draws[1])
    assert draws[2] == expected_draws[2]


def test_task_checkpoints_hold_trainable_parameters_and_buffers_only():
    task = TwoPartTask()
    keys = set(model_state_dict(task))
    assert keys == {f"head.{key}" for key in task.head.state_dict()}
    assert "head.1.running_mean" in keys  # buffers change during training too
    plain = nn.Linear(2, 2)
    assert set(model_state_dict(plain)) == {"weight", "bias"}


def _corrupt_truncate(path):
    file = path / "model.safetensors"
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    return file


def _corrupt_flip(path):
    file = path / "optimizer.pt"
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x01
    file.write_bytes(bytes(data))
    return file


@pytest.mark.parametrize(
    ("corrupt", "reason"), [(_corrupt_truncate, "truncated"), (_corrupt_flip, "sha256")], ids=["truncated", "flipped"]
)
def test_auto_resume_skips_a_corrupt_newest_checkpoint_with_a_warning_naming_it(tmp_path, corrupt, reason):
    good, optimizer, _ = _trained(0)
    save_checkpoint(tmp_path, step=10, model=good, optimizer=optimizer)
    newer, newer_optimizer, _ = _trained(5)
    bad = save_checkpoint(tmp_path, step=20, model=newer, optimizer=newer_optimizer)
    damaged = corrupt(bad)
    with pytest.raises(CheckpointError, match=reason):
        verify_checkpoint(bad)

    target, target_optimizer, _ = _fresh()
    with pytest.warns(UserWarning, match=str(damaged)) as caught:
        restored = load_checkpoint(tmp_path, model=target, optimizer=target_optimizer)
    assert any("checkpoint-20" in str(w.message) for w in caught)
    assert restored.step == 10 and restored.path.name == "checkpoint-10" and restored.skipped == (bad,)
    assert torch.equal(target.head[0].weight, good.head[0].weight)


def test_an_explicit_corrupt_checkpoint_is_an_error_and_so_is_a_folder_where_none_verifies(tmp_path):
    task, optimizer, _ = _trained()
    path = save_checkpoint(tmp_path, step=1, model=task)
    _corrupt_truncate(path)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(tmp_path, model=TwoPartTask(), resume=path)
    with pytest.warns(UserWarning, match="checkpoint-1"), pytest.raises(CheckpointError, match="none of the 1"):
        load_checkpoint(tmp_path, model=TwoPartTask(), resume="auto")


def test_a_tampered_manifest_is_detected(tmp_path):
    path = save_checkpoint(tmp_path, step=2, model=TwoPartTask())
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["model.safetensors"]["bytes"] += 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="manifest.json is corrupt"):
        verify_checkpoint(path)


def test_keep_last_and_unfinished_saves(tmp_path):
    task = TwoPartTask()
    (tmp_path / "checkpoint-7.tmp-abc123").mkdir(parents=True)  # what a crash in the middle of a save leaves
    (tmp_path / "checkpoint-7.tmp-abc123" / "model.safetensors").write_bytes(b"\0" * 10)
    assert find_checkpoints(tmp_path) == []
    assert load_checkpoint(tmp_path, model=task) is None  # nothing finished: start afresh
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step=step, model=task, keep_last=2)
    assert [p.name for p in find_checkpoints(tmp_path)] == ["checkpoint-3", "checkpoint-4"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-3", "checkpoint-4"]  # the leftover is gone
    # saving a step again replaces it
    save_checkpoint(tmp_path, step=4, model=task, keep_last=2, again=True)
    assert load_checkpoint(tmp_path, model=task).extra == {"again": True}


def test_resume_never_and_bad_arguments(tmp_path):
    task = TwoPartTask()
    save_checkpoint(tmp_path, step=1, model=task)
    assert load_checkpoint(tmp_path, model=task, resume="never") is None
    with pytest.raises(TypeError, match="resume"):
        load_checkpoint(tmp_path, model=task, resume=3)
    with pytest.raises(CheckpointError, match="neither a checkpoint nor a folder"):
        load_checkpoint(tmp_path, model=task, resume=tmp_path / "elsewhere")
    with pytest.raises(TypeError, match="when"):
        save_checkpoint(tmp_path, step=2, model=task, when=object())
    with pytest.raises(ValueError, match="step"):
        save_checkpoint(tmp_path, step=-1, model=task)
    with pytest.raises(ValueError, match="keep_last"):
        save_checkpoint(tmp_path, step=2, model=task, keep_last=0)


def test_a_checkpoint_that_does_not_fit_the_model_is_refused(tmp_path):
    save_checkpoint(tmp_path, step=1, model=nn.Linear(3, 2))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(tmp_path, model=nn.Linear(4, 2))
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path, model=nn.Sequential(nn.Linear(3, 2)))
    with pytest.raises(CheckpointError, match="no optimizer state"):
        model = nn.Linear(3, 2)
        load_checkpoint(tmp_path, model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def test_rng_states_of_other_processes_are_kept_apart(tmp_path):
    torch.manual_seed(1)
    first = capture_rng_state()
    torch.manual_seed(2)
    second = capture_rng_state()
    save_checkpoint(tmp_path, step=1, model=nn.Linear(2, 2), rng_states=[first, second])
    torch.manual_seed(99)
    load_checkpoint(tmp_path, model=nn.Linear(2, 2), process_index=1)
    torch.manual_seed(2)
    expected = torch.rand(4)
    load_checkpoint(tmp_path, model=nn.Linear(2, 2), process_index=1)
    assert torch.equal(torch.rand(4), expected)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restored = load_checkpoint(tmp_path, model=nn.Linear(2, 2), process_index=2)
    assert not restored.rng_restored and any("process 2" in str(w.message) for w in caught)
