"""The ``ModelMixin`` base of every trainable module here, with loading that refuses incomplete weights.

diffusers' ``ModelMixin.from_pretrained`` only warns when the weights file lacks keys the model
needs: with accelerate installed the missing parameters stay on the ``meta`` device (the first call
then fails with "Tensor on device meta"), without it they keep their random initial values and the
model silently computes nonsense. :func:`check_complete` turns both into an error at load time that
names the file and the keys; :class:`ForesightModelMixin` runs it after every ``from_pretrained``,
and ``ForesightPipeline`` runs it on every component it registers.

A module that defines pipeline components must also have the name ``ModelMixin`` in its namespace:
diffusers' pipeline loader finds a component class's base classes by looking its candidate names
(``ModelMixin``, ...) up on the component's own module (``getattr(module, "ModelMixin")``). Those
modules therefore import ``ModelMixin`` from here beside :class:`ForesightModelMixin`.
"""

from __future__ import annotations

import itertools
import json
import os
import struct
from typing import Any

import torch
from diffusers.models.modeling_utils import ModelMixin

__all__ = [
    "ForesightModelMixin",
    "ModelMixin",
    "check_complete",
    "read_safetensors_header",
    "check_safetensors_file",
    "safetensors_keys",
    "weight_files",
]

#: diffusers' weight file names (one file, or shards listed by an index)
_DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json")


def read_safetensors_header(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor name -> dtype, shape, offsets; ``__metadata__``),
    read without loading any tensor.

    Raises:
        ValueError: the file is not a safetensors file (the message names it).
    """
    return _read_header(path)[1]


def _read_header(path: str | os.PathLike) -> tuple[int, dict[str, Any]]:
    """The byte length of a safetensors file's JSON header, and the header (see :func:`read_safetensors_header`)."""
    with open(path, "rb") as file:
        head = file.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: not a safetensors file (it is {len(head)} bytes long)")
        (length,) = struct.unpack("<Q", head)
        if length > 100_000_000:
            raise ValueError(f"{path}: not a safetensors file (header length {length})")
        try:
            return length, json.loads(file.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a safetensors file (unreadable header: {error})") from error


def check_safetensors_file(path: str | os.PathLike) -> None:
    """Refuse a damaged safetensors file before a loader reads it: its header must parse and the file
    must hold every byte of tensor data the header describes (a truncated download or copy does not).

    Raises:
        OSError: naming the file and what is wrong with it.
    """
    path = os.fspath(path)
    try:
        length, header = _read_header(path)
    except ValueError as error:
        raise OSError(f"{error}; the file is damaged: re-download or re-save it") from None
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    needed, size = 8 + length + max(ends, default=0), os.path.getsize(path)
    if size < needed:
        raise OSError(
            f"{path}: truncated safetensors file ({size:,} bytes, its header describes {needed:,}); the file is "
            "damaged: re-download or re-save it"
        )


def safetensors_keys(path: str | os.PathLike) -> set[str]:
    """The tensor names stored in a safetensors file, read from its header only (see :func:`read_safetensors_header`)."""
    return {key for key in read_safetensors_header(path) if key != "__metadata__"}


def weight_files(folder: str | os.PathLike) -> list[str]:
    """The ``*.safetensors`` files directly inside ``folder`` (sorted; empty when it is not a folder)."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".safetensors"))


def _diffusers_weight_keys(folder: str) -> tuple[set[str], str] | None:
    """``(keys, file description)`` of a diffusers-format weights folder, or ``None`` when it is not one."""
    single, index = (os.path.join(folder, name) for name in _DIFFUSERS_WEIGHTS)
    if os.path.isfile(single):
        return safetensors_keys(single), single
    if os.path.isfile(index):
        with open(index) as file:
            shards = sorted(set(json.load(file).get("weight_map", {}).values()))
        keys: set[str] = set()
        for shard in shards:
            keys |= safetensors_keys(os.path.join(folder, shard))
        return keys, index
    return None


def _source_folder(module: torch.nn.Module) -> str | None:
    config = getattr(module, "config", None)
    path = getattr(config, "_name_or_path", None) or getattr(module, "name_or_path", None)
    return os.fspath(path) if path and os.path.isdir(path) else None


def check_complete(name: str, module: Any, *, folder: str | os.PathLike | None = None) -> None:
    """Refuse a loaded module whose weights file lacked keys it needs.

    Two signs: a parameter or buffer left on the ``meta`` device, and, for a diffusers ``ModelMixin``
    loaded from a local diffusers-format folder (``folder``, default the folder its config records),
    a state-dict key that the safetensors file does not hold (except those of the submodules a class
    lists in ``_modules_saved_elsewhere``, such as frozen backbones loaded from their own checkpoints).
    Anything that is not an ``nn.Module`` passes.

    Raises:
        ValueError: naming ``name``, the weights file and the missing keys.
    """
    if not isinstance(module, torch.nn.Module):
        return
    tensors = itertools.chain(module.named_parameters(), module.named_buffers())
    missing = [key for key, tensor in tensors if tensor.is_meta]
    folder = os.fspath(folder) if folder is not None else _source_folder(module)
    source = ", ".join(weight_files(folder)) if folder and weight_files(folder) else (folder or "its weights")
    if not missing and folder is not None and isinstance(module, ModelMixin):
        stored = _diffusers_weight_keys(folder)
        if stored is not None:
            keys, source = stored
            external = tuple(f"{name}." for name in getattr(module, "_modules_saved_elsewhere", ()))
            missing = sorted(key for key in set(module.state_dict()) - keys if not key.startswith(external))
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise ValueError(
            f"{name}: {source} lack(s) {len(missing)} weight(s) this {type(module).__name__} needs: {shown}; "
            "the file is incomplete or was saved from another configuration"
        )


class ForesightModelMixin(ModelMixin):
    """diffusers' ``ModelMixin`` whose ``from_pretrained`` refuses incomplete weights (:func:`check_complete`)."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        model = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        folder = os.fspath(pretrained_model_name_or_path)
        if kwargs.get("subfolder"):
            folder = os.path.join(folder, kwargs["subfolder"])
        check_complete(cls.__name__, model, folder=folder if os.path.isdir(folder) else None)
        return model
