"""A folder of ``*.safetensors`` clips, one sample each: what ``foresight eval`` reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from .._validation import check_int

__all__ = ["ClipFolder", "save_clip_folder"]


class ClipFolder:
    """A folder of ``*.safetensors`` files, one sample each, holding ``context`` and ``future`` tensors
    (or ``frames``); files are read in name order. Write one with :func:`save_clip_folder`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"dataset folder {self.path} does not exist")
        self.files = sorted(self.path.glob("*.safetensors"))
        if not self.files:
            raise ValueError(f"dataset folder {self.path} holds no *.safetensors file")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """The tensors of file ``index``.

        Raises:
            ValueError: the file is corrupt or truncated (the message names it).
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = self.files[check_int(index, "index", minimum=None)]
        try:
            return load_file(path)
        except (SafetensorError, OSError) as error:
            raise ValueError(f"clip file {str(path)!r} cannot be read as safetensors (corrupt or truncated?): {error}") from error

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def save_clip_folder(items: Iterable[Mapping[str, torch.Tensor]], path: str | Path) -> Path:
    """Write dataset items (dicts of tensors; other values are dropped) as ``path/000000.safetensors``, ...

    Only tensor entries are stored; at least ``context`` / ``future`` or ``frames`` are expected.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    count = 0
    for index, item in enumerate(items):
        tensors = {k: v.contiguous() for k, v in item.items() if isinstance(v, torch.Tensor)}
        if not ({"context", "future"} <= set(tensors) or "frames" in tensors):
            raise ValueError(f"item {index} needs 'context' and 'future' (or 'frames') tensors, has {sorted(tensors)}")
        save_file(tensors, str(path / f"{index:06d}.safetensors"))
        count += 1
    if count == 0:
        raise ValueError("items is empty: nothing to save")
    return path
