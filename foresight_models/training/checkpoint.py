"""Crash-safe training checkpoints: atomic saves, a checksum per file, keep-last-K, verified resume.

A checkpoint is a folder ``<directory>/checkpoint-<step>/``::

    model.safetensors   trained weights (see :func:`model_state_dict`)
    optimizer.pt        optimizer state (plain tensors and numbers; read with ``torch.load(weights_only=True)``)
    scheduler.json      learning-rate scheduler state
    rng.safetensors     torch (CPU and CUDA) and NumPy RNG states, one set per process
    ema.safetensors     the moving average of the weights and its settings (when an EMA is given)
    state.json          step, data position, Python/NumPy RNG scalars and the caller's extra values
    manifest.json       size and sha256 of every file above, and a checksum of the manifest itself

Each save writes into ``checkpoint-<step>.tmp-<random>/``, flushes every file and the folder to disk,
writes the manifest last, and only then renames the folder to ``checkpoint-<step>``: a crash at any
point leaves either the complete checkpoint or a temporary folder that resume ignores (and the next
save removes). Loading verifies sizes and checksums, so a truncated or corrupted file is detected.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import secrets
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .durable import fsync_dir, fsync_file
from .task import TrainingTask

__all__ = [
    "CheckpointError",
    "RestoredCheckpoint",
    "capture_rng_state",
    "find_checkpoints",
    "load_checkpoint",
    "model_state_dict",
    "restore_rng_state",
    "save_checkpoint",
    "verify_checkpoint",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.json"
EMA_FILE = "ema.safetensors"
RNG_FILE = "rng.safetensors"
STATE_FILE = "state.json"
MANIFEST_FILE = "manifest.json"

_NAME = re.compile(r"^checkpoint-(\d+)$")
_LEFTOVER = re.compile(r"^checkpoint-\d+\.(tmp|old)-[0-9a-zA-Z_]+$")
_RESUME_MODES = ("auto", "never")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, truncated or does not fit the model / optimizer it is loaded into."""


@dataclass(frozen=True)
class RestoredCheckpoint:
    """What :func:`load_checkpoint` restored.

    Attributes:
        step: the training step the checkpoint was saved at.
        path: the checkpoint folder that was loaded.
        extra: the keyword arguments given to :func:`save_checkpoint` (JSON values).
        data: the data position (``sampler.state_dict()`` at save time), or ``None``.
        rng_restored: whether this process's RNG states were restored.
        skipped: checkpoints that failed verification and were skipped, newest first.
    """

    step: int
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] | None = None
    rng_restored: bool = False
    skipped: tuple[Path, ...] = ()


# ---------------------------------------------------------------------------------------------- RNG


def capture_rng_state() -> dict[str, Any]:
    """This process's RNG states: torch CPU, every CUDA device (when CUDA is available), NumPy's global and Python's ``random``."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(legacy=True),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Set the RNGs back to a state returned by :func:`capture_rng_state` (or read from a checkpoint)."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available():
        if len(cuda) != torch.cuda.device_count():
            warnings.warn(
                f"the checkpoint holds CUDA RNG states for {len(cuda)} device(s) but {torch.cuda.device_count()} "
                "are visible; CUDA RNG states are not restored",
                stacklevel=2,
            )
        else:
            torch.cuda.set_rng_state_all(cuda)


def _rng_to_files(states: Sequence[Mapping[str, Any]]) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """Split per-process RNG states into tensors (for safetensors) and JSON scalars."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: list[dict[str, Any]] = []
    for index, state in enumerate(states):
        prefix = f"process{index}"
        tensors[f"{prefix}.torch"] = state["torch"].clone()
        kind, keys, pos, has_gauss, cached_gaussian = state["numpy"]
        tensors[f"{prefix}.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
        for device, cuda_state in enumerate(state.get("cuda") or ()):
            tensors[f"{prefix}.cuda{device}"] = cuda_state.clone()
        version, internal, gauss = state["python"]
        scalars.append(
            {
                "numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": cached_gaussian},
                "python": {"version": version, "state": list(internal), "gauss": gauss},
                "cuda_devices": len(state.get("cuda") or ()),
            }
        )
    return tensors, scalars


def _rng_from_files(tensors: Mapping[str, torch.Tensor], scalars: Mapping[str, Any], index: int) -> dict[str, Any]:
    prefix = f"process{index}"
    numpy_state = scalars["numpy"]
    python_state = scalars["python"]
    state: dict[str, Any] = {
        "torch": tensors[f"{prefix}.torch"],
        "numpy": (
            numpy_state["kind"],
            tensors[f"{prefix}.numpy"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        ),
        "python": (python_state["version"], tuple(python_state["state"]), python_state["gauss"]),
    }
    devices = scalars.get("cuda_devices", 0)
    if devices:
        state["cuda"] = [tensors[f"{prefix}.cuda{d}"] for d in range(devices)]
    return state


# ------------------------------------------------------------------------------------------ weights


def _selected_entries(model: nn.Module) -> dict[str, torch.Tensor]:
    """``key -> tensor`` (live, not copied) of what a checkpoint stores for ``model``."""
    if not isinstance(model, TrainingTask):
        return dict(model.state_dict())
    trainable_ids = {id(parameter) for parameter in model.trainable_parameters()}
    entries: dict[str, torch.Tensor] = {}
    for name, module in model.trainable.items():
        for key, value in module.state_dict(keep_vars=True).items():
            # frozen parameters are rebuilt with the task; trainable ones and buffers change during training
            if isinstance(value, nn.Parameter) and id(value) not in trainable_ids:
                continue
            entries[f"{name}.{key}"] = value
    return entries


def model_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint stores for ``model``, detached copies on the CPU.

    For a :class:`~foresight_models.training.TrainingTask`: for every entry ``name`` of its
    ``trainable`` mapping, that module's trainable parameters (those of ``trainable_parameters()``)
    and buffers, under ``"<name>.<key>"``; frozen parameters are not stored (they are rebuilt with
    the task). For any other module: its whole ``state_dict()``.
    """
    return {key: value.detach().to("cpu", copy=True).contiguous() for key, value in _selected_entries(model).items()}


def _load_model_state(model: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    expected = _selected_entries(model)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        details = []
        if missing:
            details.append(f"missing {_few(missing)}")
        if unexpected:
            details.append(f"unexpected {_few(unexpected)}")
        raise CheckpointError(f"{path / MODEL_FILE} does not fit the model: {'; '.join(details)}")
    for key, target in expected.items():
        source = tensors[key]
        if tuple(source.shape) != tuple(target.shape):
            raise CheckpointError(
                f"{path / MODEL_FILE}: {key!r} has shape {tuple(source.shape)} but the model's is {tuple(target.shape)}"
            )
    with torch.no_grad():
        for key, target in expected.items():
            target.copy_(tensors[key].to(device=target.device, dtype=target.dtype))


def _few(keys: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return f"{len(keys)} key(s): {shown}{', ...' if len(keys) > limit else ''}"


def _save_ema(ema: Any, path: Path) -> None:
    from safetensors.torch import save_file

    state = dict(ema.state_dict())
    shadow = state.pop("shadow_params")
    _check_json(state, "ema.state_dict()")
    tensors = {f"shadow.{i}": t.detach().to("cpu", copy=True).contiguous() for i, t in enumerate(shadow)}
    save_file(tensors, str(path), metadata={"settings": json.dumps(state)})
    fsync_file(path)


def _load_ema(ema: Any, path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        settings = json.loads(handle.metadata()["settings"])
        shadow = [handle.get_tensor(f"shadow.{i}") for i in range(len(handle.keys()))]
    current = ema.shadow_params
    if len(shadow) != len(current) or any(a.shape != b.shape for a, b in zip(shadow, current)):
        raise CheckpointError(f"{path} does not fit the EMA: {len(shadow)} tensors for {len(current)} parameters")
    ema.load_state_dict({**settings, "shadow_params": [s.to(c.device, c.dtype) for s, c in zip(shadow, current)]})


# ---------------------------------------------------------------------------------------- file I/O


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())


def _manifest_checksum(manifest: Mapping[str, Any]) -> str:
    body = {key: value for key, value in manifest.items() if key != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _check_json(value: Any, name: str) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name}: expected JSON-serialisable values (str, numbers, bools, None, lists, dicts): {error}") from None


def _checkpoint_step(path: Path) -> int | None:
    match = _NAME.match(path.name)
    return int(match.group(1)) if match else None


def find_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """The ``checkpoint-<step>`` folders in ``directory``, oldest (lowest step) first; unverified.

    Temporary folders of unfinished saves (``checkpoint-<step>.tmp-*``) are not listed.
    """
    root = Path(directory)
    if not root.is_dir():
        return []
    found = [(step, path) for path in root.iterdir() if path.is_dir() and (step := _checkpoint_step(path)) is not None]
    return [path for _, path in sorted(found)]


# -------------------------------------------------------------------------------------------- save


def save_checkpoint(
    directory: str | os.PathLike,
    *,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    sampler: Any | None = None,
    ema: Any | None = None,
    rng_states: Sequence[Mapping[str, Any]] | None = None,
    keep_last: int | None = None,
    **extra: Any,
) -> Path:
    """Atomically write ``directory/checkpoint-<step>`` and keep only the newest ``keep_last`` checkpoints.

    Args:
        directory: the folder of checkpoints (created if needed).
        step: the training step (an int >= 0); names the folder.
        model: a :class:`~foresight_models.training.TrainingTask` or any ``nn.Module``
            (what is stored: :func:`model_state_dict`).
        optimizer, scheduler: saved with their ``state_dict()`` when given.
        sampler: anything with a ``state_dict()`` of JSON values giving the data position (e.g. a
            :class:`~foresight_models.training.ResumableSampler`).
        ema: a ``diffusers.training_utils.EMAModel`` (its shadow weights and settings are saved).
        rng_states: one :func:`capture_rng_state` per process, in process order (default: this
            process's current state only).
        keep_last: after a successful save, delete all but the newest ``keep_last`` checkpoints
            (``None`` keeps all).
        **extra: JSON values stored with the checkpoint and returned by :func:`load_checkpoint`.

    Returns:
        The path of the written checkpoint.

    Raises:
        TypeError, ValueError: a bad argument (``extra`` values must be JSON-serialisable).
    """
    from safetensors.torch import save_file

    from .._validation import check_int

    step = check_int(step, "step", minimum=0)
    if keep_last is not None:
        keep_last = check_int(keep_last, "keep_last", minimum=1)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a TrainingTask or an nn.Module, got {type(model).__name__}")
    for key, value in extra.items():
        _check_json(value, key)
    data_state = None if sampler is None else sampler.state_dict()
    if data_state is not None:
        _check_json(data_state, "sampler.state_dict()")
    rng_states = [capture_rng_state()] if rng_states is None else list(rng_states)

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"checkpoint-{step}"
    tmp = root / f"checkpoint-{step}.tmp-{secrets.token_hex(6)}"
    tmp.mkdir()
    try:
        save_file(model_state_dict(model), str(tmp / MODEL_FILE), metadata={"format": "pt"})
        fsync_file(tmp / MODEL_FILE)
        if optimizer is not None:
            with open(tmp / OPTIMIZER_FILE, "wb") as handle:
                torch.save(optimizer.state_dict(), handle)
                handle.flush()
                os.fsync(handle.fileno())
        if scheduler is not None:
            scheduler_state = scheduler.state_dict()
            _check_json(scheduler_state, "scheduler.state_dict()")
            _write_json(tmp / SCHEDULER_FILE, scheduler_state)
        if ema is not None:
            _save_ema(ema, tmp / EMA_FILE)
        rng_tensors, rng_scalars = _rng_to_files(rng_states)
        save_file(rng_tensors, str(tmp / RNG_FILE))
        fsync_file(tmp / RNG_FILE)
        state = {
            "format_version": FORMAT_VERSION,
            "step": step,
            "data": data_state,
            "extra": extra,
            "rng": rng_scalars,
            "optimizer": optimizer is not None,
            "scheduler": scheduler is not None,
            "ema": ema is not None,
        }
        _write_json(tmp / STATE_FILE, state)
        files = sorted(path.name for path in tmp.iterdir())
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "step": step,
            "files": {name: {"bytes": (tmp / name).stat().st_size, "sha256": _sha256(tmp / name)} for name in files},
        }
        manifest["checksum"] = _manifest_checksum(manifest)
        _write_json(tmp / MANIFEST_FILE, manifest)
        fsync_dir(tmp)
        previous = None
        if final.exists():  # saving the same step again: move the old one aside, remove it once the new one is in place
            previous = root / f"checkpoint-{step}.old-{secrets.token_hex(6)}"
            os.rename(final, previous)
        os.rename(tmp, final)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
    _remove_leftovers(root)
    if keep_last is not None:
        for old in find_checkpoints(root)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def _remove_leftovers(root: Path) -> None:
    """Remove temporary folders that an interrupted save left behind."""
    for path in root.iterdir():
        if path.is_dir() and _LEFTOVER.match(path.name):
            logger.info("removing %s, left by an interrupted checkpoint save", path)
            shutil.rmtree(path, ignore_errors=True)


# -------------------------------------------------------------------------------------------- load


def verify_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Check a checkpoint folder against its manifest (every file present, of the right size and sha256).

    Returns:
        The manifest.

    Raises:
        CheckpointError: the checkpoint is incomplete, truncated or corrupt; the message says which file.
    """
    path = Path(path)
    manifest_path = path / MANIFEST_FILE
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a checkpoint folder")
    if not manifest_path.is_file():
        raise CheckpointError(f"{path} has no {MANIFEST_FILE} (the save did not finish)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{manifest_path} is corrupt: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("checksum") != _manifest_checksum(manifest):
        raise CheckpointError(f"{manifest_path} is corrupt: its checksum does not match its content")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{manifest_path}: format version {manifest.get('format_version')!r} is not supported (expected {FORMAT_VERSION})"
        )
    step = _checkpoint_step(path)
    if step is not None and manifest.get("step") != step:
        raise CheckpointError(f"{manifest_path} records step {manifest.get('step')!r} but the folder is step {step}")
    for name, entry in manifest["files"].items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"{file} is missing")
        size = file.stat().st_size
        if size != entry["bytes"]:
            raise CheckpointError(f"{file} has {size} bytes but the manifest records {entry['bytes']} (truncated?)")
        if _sha256(file) != entry["sha256"]:
            raise CheckpointError(f"{file} fails its sha256 check (corrupt)")
    for required in (MODEL_FILE, RNG_FILE, STATE_FILE):
        if required not in manifest["files"]:
            raise CheckpointError(f"{path}: the manifest does not list {required}")
    return manifest


def _check_resume(resume: Any) -> str | Path:
    if isinstance(resume, str) and resume in _RESUME_MODES:
        return resume
    if isinstance(resume, (str, os.PathLike)):
        return Path(resume)
    raise TypeError(f"resume: expected 'auto', 'never' or a checkpoint path, got {resume!r} ({type(resume).__name__})")


def load_checkpoint(
    directory: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    sampler: Any | None = None,
    ema: Any | None = None,
    resume: str | os.PathLike = "auto",
    restore_rng: bool = True,
    process_index: int = 0,
) -> RestoredCheckpoint | None:
    """Restore the model (and optimizer, scheduler, data position, RNG states) from a verified checkpoint.

    Args:
        directory: the folder of checkpoints written by :func:`save_checkpoint`.
        model, optimizer, scheduler: restored in place (the optimizer and scheduler when given).
        sampler: its ``load_state_dict`` receives the saved data position, when both exist.
        ema: a ``diffusers.training_utils.EMAModel`` over the same parameters, restored in place.
        resume: ``"auto"``: the newest checkpoint in ``directory`` that verifies; corrupt or
            truncated ones are skipped with a warning naming them. ``"never"``: load nothing.
            A path: that checkpoint folder (which must verify), or a folder of checkpoints
            (then as ``"auto"``).
        restore_rng: restore this process's torch, CUDA, NumPy and Python RNG states.
        process_index: which process's RNG states to restore (``accelerator.process_index``).

    Returns:
        What was restored, or ``None`` when there is nothing to resume from (``resume="never"``, or
        no checkpoint in the folder).

    Raises:
        CheckpointError: checkpoints exist but none verifies, an explicit checkpoint path is corrupt
            or missing, or the checkpoint does not fit the model / optimizer.
    """
    from .._validation import check_bool, check_int

    mode = _check_resume(resume)
    check_bool(restore_rng, "restore_rng")
    process_index = check_int(process_index, "process_index", minimum=0)
    if mode == "never":
        return None
    skipped: list[Path] = []
    single = isinstance(mode, Path) and ((mode / MANIFEST_FILE).exists() or _NAME.match(mode.name) is not None)
    if single:
        if not mode.is_dir():
            raise CheckpointError(f"resume: no checkpoint folder at {mode}")
        verify_checkpoint(mode)
        chosen = mode
    else:
        root = Path(directory) if mode == "auto" else mode
        if isinstance(mode, Path) and not mode.is_dir():
            raise CheckpointError(f"resume: {mode} is neither a checkpoint nor a folder of checkpoints")
        candidates = find_checkpoints(root)
        chosen = None
        for candidate in reversed(candidates):
            try:
                verify_checkpoint(candidate)
            except CheckpointError as error:
                warnings.warn(f"skipping checkpoint {candidate}: {error}", stacklevel=2)
                logger.warning("skipping checkpoint %s: %s", candidate, error)
                skipped.append(candidate)
                continue
            chosen = candidate
            break
        if chosen is None:
            if candidates:
                names = ", ".join(path.name for path in skipped)
                raise CheckpointError(f"none of the {len(candidates)} checkpoints in {root} verifies ({names})")
            return None
    return _restore(chosen, model, optimizer, scheduler, sampler, ema, restore_rng, process_index, tuple(skipped))


def _restore(
    path: Path,
    model: nn.Module,
    optimizer: Any,
    scheduler: Any,
    sampler: Any,
    ema: Any,
    restore_rng: bool,
    process_index: int,
    skipped: tuple[Path, ...],
) -> RestoredCheckpoint:
    from safetensors.torch import load_file

    state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    _load_model_state(model, load_file(str(path / MODEL_FILE)), path)
    if optimizer is not None:
        if not state.get("optimizer"):
            raise CheckpointError(f"{path} holds no optimizer state, but an optimizer was given to restore")
        optimizer_state = torch.load(path / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
        try:
            optimizer.load_state_dict(optimizer_state)
        except (ValueError, KeyError, RuntimeError) as error:
            raise CheckpointError(f"{path / OPTIMIZER_FILE} does not fit the optimizer: {error}") from error
    if scheduler is not None:
        if not state.get("scheduler"):
            raise CheckpointError(f"{path} holds no scheduler state, but a scheduler was given to restore")
        scheduler.load_state_dict(json.loads((path / SCHEDULER_FILE).read_text(encoding="utf-8")))
    if ema is not None:
        if not state.get("ema"):
            raise CheckpointError(f"{path} holds no EMA weights, but an EMA was given to restore")
        _load_ema(ema, path / EMA_FILE)
    if sampler is not None and state.get("data") is not None:
        sampler.load_state_dict(state["data"])
    rng_restored = False
    if restore_rng:
        if process_index < len(state["rng"]):
            tensors = load_file(str(path / RNG_FILE))
            restore_rng_state(_rng_from_files(tensors, state["rng"][process_index], process_index))
            rng_restored = True
        else:
            warnings.warn(
                f"{path} holds RNG states for {len(state['rng'])} process(es), none for process {process_index}; "
                "its RNGs are not restored (the run continues, but not bit-exactly)",
                stacklevel=3,
            )
    return RestoredCheckpoint(
        step=int(state["step"]),
        path=path,
        extra=dict(state.get("extra") or {}),
        data=state.get("data"),
        rng_restored=rng_restored,
        skipped=skipped,
    )
