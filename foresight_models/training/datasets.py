"""Datasets from a config section: ``{kind: synthetic | ssv2 | cache, ...}``.

``kind: synthetic`` builds :class:`~foresight_models.data.SyntheticMotion` (keys: its constructor's
arguments), ``kind: ssv2`` :class:`~foresight_models.data.SomethingSomethingV2` (``root`` required;
its items also get ``"frames"``, the context and future windows joined, the key training tasks
read), and ``kind: cache`` :class:`~foresight_models.training.cache.CachedFeatures` (``path``
required) over features written by ``foresight cache``. Every other key is passed to the class's
constructor, except ``clips: {context_indices: [0, 3], num_frames: 17}``, which cuts each clip of
a ``synthetic`` or ``ssv2`` dataset into context images and the video that continues them
(:class:`~foresight_models.data.ForesightClips`; ``"frames"`` is then the video).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from .._validation import check_choice, check_int, check_size_pair

__all__ = ["DATASET_KINDS", "JoinedClips", "build_dataset", "check_data_section"]

#: ``kind`` -> the argument that names the data on disk (``None``: generated, nothing to find).
DATASET_KINDS: dict[str, str | None] = {"synthetic": None, "ssv2": "root", "cache": "path"}

# integer arguments and their minimums, checked with the section's key names before anything is built
_INTS = {
    "synthetic": {"num_clips": 1, "frames": 2, "seed": 0, "first_id": 0},
    "ssv2": {"context_frames": 1, "future_frames": 0, "stride": 1},
    "cache": {},
}
_PATHS = {"synthetic": (), "ssv2": ("root", "video_dir", "label_file"), "cache": ("path",)}


class JoinedClips(Dataset):
    """Items of a context / future dataset (``SomethingSomethingV2``) with ``"frames"`` added:
    ``torch.cat([context, future])``, uint8 ``(context_frames + future_frames, 3, h, w)``."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.dataset[index])
        item["frames"] = torch.cat([item["context"], item["future"]])
        return item


def _dataset_class(kind: str, name: str = "data") -> type:
    if kind == "synthetic":
        from ..data.synthetic import SyntheticMotion

        return SyntheticMotion
    if kind == "ssv2":
        from ..data.datasets import SomethingSomethingV2

        return SomethingSomethingV2
    try:
        from .cache import CachedFeatures
    except ImportError as error:
        raise ValueError(
            f"{name}.kind: 'cache' needs foresight_models.training.cache, which cannot be imported here ({error})"
        ) from error
    return CachedFeatures


def _arguments(kind: str, cls: type) -> tuple[str, ...]:
    """The section keys of ``kind``: the constructor's arguments, the cache's folder argument spelled ``path``."""
    parameters = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    names = [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if kind == "cache":  # CachedFeatures(out_dir, ...): its first argument is the folder
        names = ["path", *names[1:]]
    return tuple(names)


def check_data_section(
    section: Mapping[str, Any], name: str = "data", *, extra_keys: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Check a dataset section (keys, integer values, paths that must exist) without building it.

    Args:
        section: ``{"kind": ..., **constructor arguments}``.
        name: the section's name in messages (``"data"``, ``"eval"``).
        extra_keys: other keys the section may hold (listed as allowed in the unknown-key message).

    Returns:
        A copy of the section.

    Raises:
        ValueError: no or an unknown ``kind``, an unknown key (the message lists the allowed ones),
            a missing required path key, a value out of range.
        TypeError: a value of the wrong type.
        FileNotFoundError: a path the section names does not exist.
    """
    if not isinstance(section, Mapping):
        raise TypeError(f"{name}: expected a mapping with a 'kind' key, got {section!r} ({type(section).__name__})")
    section = dict(section)
    kind = check_choice(section.get("kind"), f"{name}.kind", tuple(DATASET_KINDS))
    cls = _dataset_class(kind, name)
    allowed = ("kind", *_arguments(kind, cls), *(() if kind == "cache" else ("clips",)))
    for key in section:
        if key not in allowed:
            listed = ", ".join((*allowed, *extra_keys))
            raise ValueError(f"{name}.{key}: unknown key {key!r} for kind {kind!r}; allowed keys: {listed}")
    required = DATASET_KINDS[kind]
    if required is not None and section.get(required) is None:
        raise ValueError(f"{name}.{required}: kind {kind!r} needs {required!r} (where the data is)")
    for key, minimum in _INTS[kind].items():
        if key in section:
            check_int(section[key], f"{name}.{key}", minimum=minimum)
    if kind == "synthetic" and "size" in section:
        check_size_pair(section["size"], f"{name}.size", minimum=16)
    if "clips" in section:
        _check_clips(section["clips"], f"{name}.clips")
    for key in _PATHS[kind]:
        value = section.get(key)
        if value is None:
            continue
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{name}.{key}: expected a path, got {value!r} ({type(value).__name__})")
        if not Path(value).exists():
            raise FileNotFoundError(f"{name}.{key}: no such file or folder: {os.fspath(value)!r}")
    return section


def build_dataset(section: Mapping[str, Any], name: str = "data") -> Dataset:
    """Build the dataset a config section describes (checked first with :func:`check_data_section`).

    Example::

        build_dataset({"kind": "synthetic", "num_clips": 256, "frames": 8, "size": 64, "seed": 0})
    """
    section = check_data_section(section, name)
    kind = section.pop("kind")
    clips = section.pop("clips", None)
    cls = _dataset_class(kind, name)
    if isinstance(section.get("size"), list):
        section["size"] = tuple(section["size"])
    if kind == "cache":
        return cls(section.pop("path"), **section)
    dataset = JoinedClips(cls(**section)) if kind == "ssv2" else cls(**section)
    if clips is not None:
        from ..data.foresight_clips import ForesightClips

        dataset = ForesightClips(dataset, **clips)
    return dataset


def _check_clips(clips: Any, name: str) -> None:
    """``{context_indices: [i, ...], num_frames: n}``, checked the way ``ForesightClips`` checks them."""
    from ..data.foresight_clips import ForesightClips

    if not isinstance(clips, Mapping):
        raise TypeError(f"{name}: expected a mapping with 'context_indices' and 'num_frames', got {clips!r}")
    for key in clips:
        if key not in ("context_indices", "num_frames"):
            raise ValueError(f"{name}.{key}: unknown key {key!r}; allowed keys: context_indices, num_frames")
    try:
        ForesightClips([], **clips)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{name}.{error}") from error
