"""Training in other processes: a run killed with SIGKILL mid-checkpoint resumes exactly; two processes with gloo."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from training_tiny import NextFrameTask

from foresight_models.training import find_checkpoints, verify_checkpoint

TESTS = Path(__file__).resolve().parent
SCRIPT = TESTS / "training_run.py"


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS.parent), env.get("PYTHONPATH", "")])
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def _start(*args):
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *map(str, args)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process, timeout=240):
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, stderr


def _weights(output_dir):
    return load_file(str(output_dir / "final" / "head" / "diffusion_pytorch_model.safetensors"))


def _train_records(output_dir):
    records = [json.loads(line) for line in (output_dir / "logs.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "samples_per_s"} for r in records if r["event"] == "train"]


def test_a_run_killed_while_writing_a_checkpoint_resumes_from_the_last_good_one_exactly(tmp_path):
    # the uninterrupted reference runs beside the one that is killed (one CPU thread each)
    reference, run = tmp_path / "reference", tmp_path / "run"
    straight = _start(reference, "--max-steps", 12, "--every", 4)
    crashing = _start(run, "--max-steps", 12, "--every", 4, "--kill-at-step", 8)
    returncode, stderr = _finish(crashing)
    assert returncode == -signal.SIGKILL, stderr[-2000:]
    returncode, stderr = _finish(straight)
    assert returncode == 0, stderr[-2000:]
    checkpoints = run / "checkpoints"
    assert [p.name for p in find_checkpoints(checkpoints)] == ["checkpoint-4"]
    unfinished = [p for p in checkpoints.iterdir() if p.name.startswith("checkpoint-8.tmp-")]
    assert len(unfinished) == 1 and (unfinished[0] / "model.safetensors").is_file()  # half a checkpoint on disk
    assert not (run / "final").exists()
    steps_logged_before_the_crash = [r["step"] for r in _train_records(run)]
    assert steps_logged_before_the_crash == list(range(1, 9))

    returncode, stderr = _finish(_start(run, "--max-steps", 12, "--every", 4))
    assert returncode == 0, stderr[-2000:]
    assert [p.name for p in find_checkpoints(checkpoints)] == ["checkpoint-8", "checkpoint-12"]  # keep_last=2
    assert not any(".tmp-" in p.name for p in checkpoints.iterdir())
    log = [json.loads(line) for line in (run / "logs.jsonl").read_text().splitlines()]
    assert {"event": "resume", "step": 4} == {k: log[4][k] for k in ("event", "step")}
    assert _train_records(run) == _train_records(reference)
    a, b = _weights(reference), _weights(run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_on_cpu_train_in_sync_and_write_one_checkpoint(tmp_path):
    if shutil.which("accelerate") is None and not (Path(sys.executable).parent / "accelerate").exists():
        pytest.skip("the accelerate launcher is not installed")
    run = tmp_path / "ddp"
    # `--cpu` makes `accelerate launch` start a single process; `--multi_gpu` with ACCELERATE_USE_CPU starts
    # torchrun workers that join a gloo process group on the CPU
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
        str(SCRIPT), str(run), "--max-steps", "3", "--every", "3", "--dump-weights",
    ]  # fmt: skip
    env = {**_env(), "ACCELERATE_USE_CPU": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    if done.returncode != 0 and "Address already in use" in done.stderr:
        pytest.skip("the rendezvous port was taken by another process")
    assert done.returncode == 0, done.stderr[-3000:]

    assert [p.name for p in find_checkpoints(run / "checkpoints")] == ["checkpoint-3"]
    verify_checkpoint(run / "checkpoints" / "checkpoint-3")
    state = json.loads((run / "checkpoints" / "checkpoint-3" / "state.json").read_text())
    assert len(state["rng"]) == 2  # each process's RNG states, written by the main process
    # 16 clips make two global batches of 8 per epoch: step 3 is the first batch of epoch 1
    assert (state["data"]["global_batch_size"], state["data"]["epoch"], state["data"]["position"]) == (8, 1, 1)
    assert [r["step"] for r in _train_records(run)] == [1, 2, 3]  # one log, written once
    # each process saw different samples, and DDP kept their weights identical
    w0, w1 = load_file(str(run / "weights-0.safetensors")), load_file(str(run / "weights-1.safetensors"))
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    initial = {f"head.{k}": v for k, v in NextFrameTask().head.state_dict().items()}
    assert any(not torch.equal(w0[k], initial[k]) for k in w0)
    final = _weights(run)
    assert all(torch.equal(final[k.removeprefix("head.")], w0[k]) for k in w0)
