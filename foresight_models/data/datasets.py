"""Something-Something v2 in its official layout, as context / future clip pairs.

The official release is a folder of ``<id>.webm`` files (VP9, 12 fps, 240 px high) and label files
``something-something-v2-{train,validation}.json`` holding records
``{"id", "label", "template", "placeholders"}``, e.g.
``{"id": "78687", "label": "holding potato next to vicks vaporub bottle",
"template": "Holding [something] next to [something]", "placeholders": ["potato", "vicks vaporub bottle"]}``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from .._validation import check_choice, check_int, check_size_pair
from .video import ClipTooShortError, VideoDecodeError, read_video, video_info

__all__ = ["SomethingSomethingV2", "collate_clips"]

logger = logging.getLogger(__name__)

_SPLITS = ("train", "validation")
_WINDOWS = ("center", "start", "random")
_VIDEO_DIRS = ("20bn-something-something-v2", "videos", ".")
_LABEL_DIRS = ("labels", ".")


def _find(root: Path, candidates: Sequence[str], name: str | None, what: str) -> Path:
    for folder in candidates:
        path = root / folder / name if name else root / folder
        if path.is_file() if name else path.is_dir():
            return path
    looked = [str(root / c / name) if name else str(root / c) for c in candidates]
    raise FileNotFoundError(f"root: no {what} found under {str(root)!r}; looked for {looked}")


class SomethingSomethingV2(Dataset):
    """Something-Something v2 clips split into a context window and the future that follows it.

    Args:
        root: dataset folder. Videos are looked up in ``root/20bn-something-something-v2``,
            ``root/videos`` or ``root``; label files in ``root/labels`` or ``root``.
        split: ``"train"`` or ``"validation"`` (the test split has no labels).
        context_frames: frames given to a model.
        future_frames: frames that follow them (to predict).
        size: ``(height, width)`` (or an int for a square) every frame is resized to; ``None`` keeps
            the file's size (then clips of different sizes cannot be batched).
        stride: take every ``stride``-th frame of the file (SSv2 is 12 fps; stride 2 gives 6 fps).
        window: where the ``context + future`` window sits in each clip: ``"center"``, ``"start"``
            or ``"random"`` (uniform over valid starts, from ``torch``'s RNG, so DataLoader workers
            differ).
        on_error: ``"raise"`` to raise on a corrupt, truncated, missing or too short file (and, at
            construction, on an invalid label record), or ``"skip"`` to record it (once, with a
            logged warning) and return the next good clip instead. A label record is invalid when a
            key is missing, ``label`` / ``template`` are not strings, ``placeholders`` is not a list
            of strings, or ``id`` is not a plain file name (ids resolve only inside the video folder,
            so ``"../x"`` or an absolute path is refused). Skipped files are shared across DataLoader workers: ``num_skipped`` and
            ``skipped_ids`` in the main process see those found by the workers.
        video_dir, label_file: explicit locations, overriding the lookup above.
        extension: video file suffix (``".webm"`` in the official release).

    Each item is a dict: ``context`` ``torch.uint8 (context_frames, 3, h, w)``, ``future``
    ``torch.uint8 (future_frames, 3, h, w)``, ``label``, ``template``, ``placeholders`` (list of
    str), ``id`` (str) and ``start`` (index of the first context frame in the file). Batch items
    with ``collate_clips``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        context_frames: int = 8,
        future_frames: int = 8,
        size: int | tuple[int, int] | None = (224, 224),
        stride: int = 1,
        window: str = "center",
        on_error: str = "raise",
        video_dir: str | os.PathLike | None = None,
        label_file: str | os.PathLike | None = None,
        extension: str = ".webm",
    ):
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root: expected a str or os.PathLike, got {type(root).__name__}")
        check_choice(split, "split", _SPLITS)
        for name, value, minimum in (
            ("context_frames", context_frames, 1),
            ("future_frames", future_frames, 0),
            ("stride", stride, 1),
        ):
            check_int(value, name, minimum=minimum)
        check_choice(window, "window", _WINDOWS)
        check_choice(on_error, "on_error", ("raise", "skip"))
        if not isinstance(extension, str):
            raise TypeError(f"extension: expected a str such as '.webm', got {extension!r} ({type(extension).__name__})")
        if not extension.startswith(".") or not _is_file_name(extension):
            raise ValueError(f"extension: expected a suffix starting with '.', e.g. '.webm', got {extension!r}")
        self.root = Path(root)
        self.split = split
        self.context_frames = int(context_frames)
        self.future_frames = int(future_frames)
        self.size = None if size is None else check_size_pair(size, "size")
        self.stride = int(stride)
        self.window = window
        self.on_error = on_error
        self.extension = extension
        self.video_dir = (
            Path(video_dir) if video_dir is not None else _find(self.root, _VIDEO_DIRS, None, "video folder")
        )
        self.label_file = (
            Path(label_file)
            if label_file is not None
            else _find(self.root, _LABEL_DIRS, f"something-something-v2-{split}.json", f"{split} label file")
        )
        self.records, invalid = _load_records(self.label_file)
        if invalid and on_error == "raise":
            index, reason = invalid[0]
            more = f" ({len(invalid) - 1} more invalid records follow)" if len(invalid) > 1 else ""
            raise ValueError(f"label_file: record {index} of {str(self.label_file)!r} {reason}{more}")
        # One flag per clip in shared memory, so files found bad in DataLoader workers are seen here too.
        self._bad = torch.zeros(len(self.records), dtype=torch.bool).share_memory_()
        self._reasons: dict[str, str] = {}
        for index, reason in invalid:
            self._mark_bad(index, f"invalid label record: {reason}")

    @property
    def num_frames(self) -> int:
        """Frames read per item: ``context_frames + future_frames``."""
        return self.context_frames + self.future_frames

    @property
    def num_skipped(self) -> int:
        """How many files were found bad and skipped so far (``on_error="skip"``)."""
        return int(self._bad.sum())

    @property
    def skipped_ids(self) -> list[str]:
        """Ids of the files skipped so far, in dataset order."""
        return [self.records[i]["id"] for i in torch.nonzero(self._bad).flatten().tolist()]

    @property
    def skip_reasons(self) -> dict[str, str]:
        """``id -> reason`` for the files skipped in this process (workers log theirs)."""
        return dict(self._reasons)

    def __len__(self) -> int:
        return len(self.records)

    def video_path(self, index: int) -> Path:
        return self.video_dir / f"{self.records[index]['id']}{self.extension}"

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_int(index, "index", minimum=None)
        n = len(self.records)
        if not -n <= index < n:
            raise IndexError(f"index: {index} is out of range for {n} clips")
        index %= n
        if self.on_error == "raise":
            return self._load(index)  # invalid records were refused in __init__
        for offset in range(n):
            candidate = (index + offset) % n
            if self._bad[candidate]:
                continue
            try:
                return self._load(candidate)
            except (VideoDecodeError, ClipTooShortError, FileNotFoundError) as error:
                self._mark_bad(candidate, error)
        raise RuntimeError(
            f"every one of the {n} clips in {str(self.video_dir)!r} failed to load; see the logged warnings"
        )

    def _mark_bad(self, index: int, error: Exception | str) -> None:
        record_id = self.records[index]["id"]
        self._bad[index] = True
        self._reasons[record_id] = str(error)
        logger.warning("skipping SSv2 clip %s: %s", record_id, error)

    def _load(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        path = self.video_path(index)
        start = self._window_start(path)
        clip = read_video(path, num_frames=self.num_frames, stride=self.stride, start=start, size=self.size)
        return {
            "context": clip[: self.context_frames],
            "future": clip[self.context_frames :],
            "label": record["label"],
            "template": record["template"],
            "placeholders": list(record["placeholders"]),
            "id": record["id"],
            "start": start,
        }

    def _window_start(self, path: Path) -> int:
        if self.window == "start":
            return 0
        span = (self.num_frames - 1) * self.stride + 1
        available = video_info(path).num_frames
        if available < span:
            raise ClipTooShortError(path, span, available)
        if self.window == "center":
            return (available - span) // 2
        return int(torch.randint(available - span + 1, ()).item())


def _is_file_name(name: str) -> bool:
    """``name`` names an entry of a folder: no separator, not absolute, not ``.`` or ``..``."""
    separators = {os.sep, os.altsep or os.sep, "/", "\\"}
    return name not in ("", ".", "..") and not any(sep in name for sep in separators) and "\0" not in name


_RECORD_KEYS = ("id", "label", "template", "placeholders")


def _record_problem(record: Any) -> str | None:
    """Why one label record is invalid (``None`` when it is valid)."""
    if not isinstance(record, dict):
        return f"is a {type(record).__name__}, not a record with keys {list(_RECORD_KEYS)}"
    missing = [key for key in _RECORD_KEYS if key not in record]
    if missing:
        return f"lacks {missing}; each needs {', '.join(_RECORD_KEYS)}"
    record_id = record["id"]
    if isinstance(record_id, bool) or not isinstance(record_id, (str, int)):
        return f"has id {record_id!r} ({type(record_id).__name__}); expected a str or an int"
    if not _is_file_name(str(record_id)):
        return f"has id {str(record_id)!r}, which is not a plain file name (ids name files inside the video folder)"
    for key in ("label", "template"):
        if not isinstance(record[key], str):
            return f"(id {str(record_id)!r}) has {key} {record[key]!r} ({type(record[key]).__name__}); expected a str"
    placeholders = record["placeholders"]
    if not isinstance(placeholders, list) or not all(isinstance(p, str) for p in placeholders):
        return (
            f"(id {str(record_id)!r}) has placeholders {placeholders!r} ({type(placeholders).__name__}); "
            "expected a list of str"
        )
    return None


def _load_records(path: Path) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """The label file's records (ids as str) and ``(index, reason)`` for each invalid one."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"label_file: {str(path)!r} is not valid JSON ({error})") from error
    if not isinstance(data, list):
        raise ValueError(f"label_file: {str(path)!r} must hold a JSON list of records, got {type(data).__name__}")
    records, invalid = [], []
    for i, record in enumerate(data):
        problem = _record_problem(record)
        if problem is None:
            records.append({**record, "id": str(record["id"])})
            continue
        invalid.append((i, problem))
        known_id = isinstance(record, dict) and isinstance(record.get("id"), (str, int))
        records.append({"id": str(record["id"]) if known_id else f"<record {i}>"})
    return records, invalid


def collate_clips(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch dataset items: tensors of one shape are stacked (``(b, t, c, h, w)``), everything else becomes a list.

    Use as ``DataLoader(dataset, collate_fn=collate_clips)``; the default collate fails on the
    variable-length ``placeholders`` lists.
    """
    if not batch:
        raise ValueError("batch: expected at least one item, got an empty batch")
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [item[key] for item in batch]
        if all(isinstance(v, torch.Tensor) for v in values) and len({tuple(v.shape) for v in values}) == 1:
            out[key] = torch.stack(values)
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            out[key] = torch.tensor(values)
        else:
            out[key] = values
    return out
