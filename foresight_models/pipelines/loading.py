"""Checks around loading and saving a pipeline folder: refuse what diffusers would only warn about.

- :func:`check_config_fits_weights`: before a component is built, its ``config.json`` must not
  describe (many) more parameters than its safetensors files hold, so that a config saying
  ``num_layers=1000000`` is refused at once instead of building until the process is killed;
- :func:`check_complete`: after loading, no parameter or buffer may be left on the ``meta`` device
  (diffusers leaves a key missing from the weights there, with only a warning, and the call then
  fails with "Tensor on device meta");
- :func:`save_folder`: a folder is written beside its destination and moved into place once complete.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from typing import Any

import torch

from ..models.modeling import check_complete, check_safetensors_file, read_safetensors_header, weight_files

__all__ = [
    "check_complete",
    "check_config_fits_weights",
    "check_weight_files",
    "load_transformers_models",
    "safetensors_parameter_count",
    "save_folder",
]


def safetensors_parameter_count(path: str) -> int:
    """Number of elements of all tensors in a safetensors file, read from its header only."""
    header = read_safetensors_header(path)
    return sum(math.prod(entry["shape"]) for key, entry in header.items() if key != "__metadata__")


class _OverBudget(Exception):
    pass


def _component_class(library: str | None, class_name: str | None) -> type | None:
    """The ``ModelMixin`` class a ``model_index.json`` entry names, when it is one we can build on ``meta``."""
    from diffusers import ModelMixin

    if not library or not class_name:
        return None
    if library == "diffusers" or library.startswith("foresight_models."):  # our own package: safe to import
        cls = getattr(importlib.import_module(library), class_name, None)
    else:
        return None
    if not isinstance(cls, type) or not issubclass(cls, ModelMixin) or class_name == "HybridEncoder":
        return None  # a HybridEncoder is built on backbones its folder does not hold
    return cls


def load_transformers_models(folder: str, index: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Load the transformers models of a pipeline folder (the VLM, T5), refusing incomplete weights.

    transformers fills a key missing from the checkpoint with random values and only prints a load
    report, so a damaged folder would load and answer nonsense. Each ``PreTrainedModel`` component that
    ``kwargs`` does not already provide is loaded here with ``output_loading_info=True`` and passed on
    to diffusers' loader as a ready component. Folders loaded with a ``device_map`` are left to diffusers.

    Raises:
        ValueError: naming the component, its folder and the missing keys.
    """
    if kwargs.get("device_map") is not None:
        return {}
    import transformers

    dtype = kwargs.get("torch_dtype")
    loaded: dict[str, Any] = {}
    for name, entry in index.items():
        if name.startswith("_") or name in kwargs or not isinstance(entry, (list, tuple)) or entry[0] != "transformers":
            continue
        cls = getattr(transformers, entry[1], None)
        if not (isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel)):
            continue
        component_dtype = dtype.get(name, dtype.get("default")) if isinstance(dtype, dict) else dtype
        options = {"local_files_only": kwargs.get("local_files_only", False), "output_loading_info": True}
        if component_dtype is not None:
            options["dtype"] = component_dtype
        model, info = cls.from_pretrained(os.path.join(folder, name), **options)
        missing = sorted(info.get("missing_keys") or ())
        if missing:
            shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            raise ValueError(
                f"{name}: {os.path.join(folder, name)} lack(s) {len(missing)} weight(s) this {entry[1]} needs: "
                f"{shown}; the file is incomplete or was saved from another configuration"
            )
        loaded[name] = model
    return loaded


def check_weight_files(folder: str, name: str) -> None:
    """Refuse ``folder/name`` when one of its safetensors files is damaged (:func:`check_safetensors_file`)."""
    for path in weight_files(os.path.join(folder, name)):
        check_safetensors_file(path)


def check_config_fits_weights(folder: str, name: str, library: str | None, class_name: str | None) -> None:
    """Refuse ``folder/name`` when its config describes more than twice the parameters its weights hold.

    The component is built on the ``meta`` device (no memory) while a parameter-registration hook counts
    what it creates, and the build stops as soon as the count passes the budget: even an absurd config
    costs a moment. Only ``ModelMixin`` components are checked (diffusers' and ours).

    Raises:
        ValueError: naming the config file, what it asks for and what the weights file holds.
    """
    cls = _component_class(library, class_name)
    files = weight_files(os.path.join(folder, name))
    if cls is None or not files:
        return
    held = sum(safetensors_parameter_count(path) for path in files)
    budget = 2 * held + 1_000_000  # tied or derived parameters, small buffers saved as parameters
    owner, created = threading.get_ident(), [0]

    def count(module, parameter_name, parameter):
        if parameter is not None and threading.get_ident() == owner:
            created[0] += parameter.numel()
            if created[0] > budget:
                raise _OverBudget

    handle = torch.nn.modules.module.register_module_parameter_registration_hook(count)
    try:
        with torch.device("meta"):
            cls.from_config(cls.load_config(os.path.join(folder, name)))
    except _OverBudget:
        raise ValueError(
            f"{os.path.join(folder, name, 'config.json')}: describes a {class_name} with more than {budget:,} "
            f"parameters, but {', '.join(files)} hold(s) {held:,}; the config does not belong to these weights"
        ) from None
    finally:
        handle.remove()


def save_folder(target: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Run ``write(staging)`` on a fresh folder beside ``target``, then move its entries into ``target``.

    Afterwards ``target`` holds exactly what ``write`` wrote, plus any entry that is not part of a saved
    pipeline (a ``.git`` folder, notes): the entries of an earlier pipeline (``model_index.json``, the
    component folders it lists, ``README.md``) are removed. If ``write`` fails, ``target`` is untouched;
    if moving fails, the earlier entries are put back.
    """
    target = os.path.abspath(os.fspath(target))
    parent, base = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".{base}.saving-{secrets.token_hex(4)}")
    os.makedirs(staging)
    try:
        write(staging)
        if not os.path.exists(target):
            os.replace(staging, target)
            return
        if not os.path.isdir(target):
            raise NotADirectoryError(f"save_directory: {target} exists and is not a folder")
        _move_in(staging, target, parent, base)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _pipeline_entries(folder: str) -> set[str]:
    entries = {"model_index.json", "README.md"}
    try:
        with open(os.path.join(folder, "model_index.json")) as file:
            entries |= {key for key in json.load(file) if not key.startswith("_")}
    except (OSError, ValueError, AttributeError):
        pass
    return {entry for entry in entries if os.path.lexists(os.path.join(folder, entry))}


def _move_in(staging: str, target: str, parent: str, base: str) -> None:
    new = set(os.listdir(staging))
    old = (_pipeline_entries(target) | new) & set(os.listdir(target))
    backup = os.path.join(parent, f".{base}.old-{secrets.token_hex(4)}")
    os.makedirs(backup)
    moved_out: list[str] = []
    moved_in: list[str] = []
    try:
        for entry in sorted(old):
            os.replace(os.path.join(target, entry), os.path.join(backup, entry))
            moved_out.append(entry)
        for entry in sorted(new):
            os.replace(os.path.join(staging, entry), os.path.join(target, entry))
            moved_in.append(entry)
    except BaseException:
        for entry in moved_in:
            os.replace(os.path.join(target, entry), os.path.join(staging, entry))
        for entry in moved_out:
            os.replace(os.path.join(backup, entry), os.path.join(target, entry))
        os.rmdir(backup)
        raise
    shutil.rmtree(backup, ignore_errors=True)
