"""Synthetic moving-shape clips with known motion, boxes, masks and SSv2-style labels.

Each clip shows one or two flat-coloured shapes on a plain background doing one action from the
Something-Something-v2 template set (moving left/right, pushing, falling, approaching). Because
the scene is drawn from known positions, every frame comes with exact per-object boxes and masks
(for spatial IoU) and per-frame velocities. Clips are deterministic in ``(seed, index)``.

The dataset can write itself out as an SSv2-layout folder of real webm/mp4 files, so everything
that reads Something-Something v2 can be exercised on real files offline.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .._validation import check_choice, check_int, check_size_pair
from .video import write_video

__all__ = ["ACTIONS", "COLOURS", "HAND_COLOUR", "SyntheticMotion", "object_colour"]

# action -> SSv2 template (as spelled in the official label files)
ACTIONS: dict[str, str] = {
    "move_right": "Moving [something] from left to right",
    "move_left": "Moving [something] from right to left",
    "push_right": "Pushing [something] from left to right",
    "push_left": "Pushing [something] from right to left",
    "fall": "[Something] falling like a rock",
    "approach": "Moving [something] and [something] closer to each other",
}
#: colour name -> the flat RGB colour its shapes are drawn in (the first word of an object's name)
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 210, 40),
    "purple": (150, 60, 190),
    "orange": (240, 140, 30),
}
_SHAPES = ("square", "circle")
#: RGB colour of the ``"hand"`` that pushes an object
HAND_COLOUR: tuple[int, int, int] = (120, 90, 70)


def object_colour(name: str) -> tuple[int, int, int]:
    """The flat RGB colour (0..255) of a ``SyntheticMotion`` object, from its name.

    ``"red circle"`` -> ``COLOURS["red"]``; ``"hand"`` -> ``HAND_COLOUR``.

    Raises:
        TypeError: ``name`` is not a str.
        ValueError: ``name`` is neither ``"hand"`` nor ``"<colour> <shape>"`` with a colour of ``COLOURS``
            and a shape that ``SyntheticMotion`` draws.
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected an object name such as 'red circle' or 'hand', got {type(name).__name__}")
    if name == "hand":
        return HAND_COLOUR
    words = name.split()
    if len(words) != 2 or words[0] not in COLOURS or words[1] not in _SHAPES:
        raise ValueError(
            f"name: expected 'hand' or '<colour> <shape>' with a colour in {sorted(COLOURS)} and a shape in "
            f"{list(_SHAPES)}, got {name!r}"
        )
    return COLOURS[words[0]]


@dataclass(frozen=True)
class _Object:
    name: str
    shape: str
    colour: tuple[int, int, int]
    radius: int  # half the side of a square, radius of a circle (pixels)


class SyntheticMotion(Dataset):
    """Deterministic moving-shape clips with SSv2-style template labels.

    Args:
        num_clips: number of clips (``len(dataset)``).
        frames: frames per clip (>= 2).
        size: ``(height, width)`` or an int for a square (>= 16).
        seed: clips depend only on ``(seed, index)``.
        actions: subset of ``ACTIONS`` keys to draw from (default: all); clip ``i`` does action
            ``actions[i % len(actions)]``.
        first_id: clip ``i`` has id ``str(first_id + i)`` (SSv2 ids are integers).

    Each item is a dict:
        ``frames``: ``torch.uint8 (t, 3, h, w)``;
        ``boxes``: ``float32 (t, k, 4)`` per-object ``(x0, y0, x1, y1)`` in pixels, ``x1``/``y1``
        exclusive (the tight box of the mask); ``masks``: ``bool (t, k, h, w)``;
        ``velocities``: ``float32 (t, k, 2)`` per-object ``(dx, dy)`` from frame ``i`` to ``i + 1``
        (0 in the last frame); ``object_names``: ``k`` names (the moving objects first, then a
        ``"hand"`` for pushes); ``label``, ``template``, ``placeholders``, ``action``, ``id``.
    """

    def __init__(
        self,
        num_clips: int,
        frames: int = 16,
        size: int | tuple[int, int] = 64,
        seed: int = 0,
        *,
        actions: Sequence[str] | None = None,
        first_id: int = 0,
    ):
        for name, value, minimum in (
            ("num_clips", num_clips, 1),
            ("frames", frames, 2),
            ("first_id", first_id, 0),
            ("seed", seed, 0),
        ):
            check_int(value, name, minimum=minimum)
        if isinstance(actions, str):
            raise TypeError(f"actions: expected a sequence of action names, got the str {actions!r}")
        actions = tuple(ACTIONS) if actions is None else tuple(actions)
        if not actions:
            raise ValueError(f"actions: expected a non-empty subset of {list(ACTIONS)}, got an empty sequence")
        for i, action in enumerate(actions):
            check_choice(action, f"actions[{i}]", ACTIONS)
        self.num_clips = int(num_clips)
        self.frames = int(frames)
        self.size = check_size_pair(size, "size", minimum=16)
        self.seed = int(seed)
        self.actions = actions
        self.first_id = int(first_id)

    def __len__(self) -> int:
        return self.num_clips

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_int(index, "index", minimum=None)
        if not -self.num_clips <= index < self.num_clips:
            raise IndexError(f"index: {index} is out of range for {self.num_clips} clips")
        index %= self.num_clips
        rng = np.random.default_rng([self.seed, index])
        action = self.actions[index % len(self.actions)]
        objects, centres = self._trajectories(action, rng)
        frames, masks = self._render(objects, centres, rng)
        boxes = _boxes_from_masks(masks)
        velocities = np.zeros_like(centres)
        velocities[:-1] = centres[1:] - centres[:-1]
        placeholders = [o.name for o in objects if o.name != "hand"]
        template = ACTIONS[action]
        return {
            "frames": torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous(),  # t h w c -> t c h w
            "boxes": torch.from_numpy(boxes),
            "masks": torch.from_numpy(masks),
            "velocities": torch.from_numpy(velocities.astype(np.float32)),
            "object_names": [o.name for o in objects],
            "label": _fill_template(template, placeholders),
            "template": template,
            "placeholders": placeholders,
            "action": action,
            "id": str(self.first_id + index),
        }

    # ------------------------------------------------------------------ scene construction

    def _random_object(self, rng: np.random.Generator, exclude: str | None = None) -> _Object:
        colours = [c for c in COLOURS if c != exclude]
        colour = colours[rng.integers(len(colours))]
        shape = _SHAPES[rng.integers(len(_SHAPES))]
        radius = max(3, int(min(self.size) * rng.uniform(0.08, 0.12)))
        return _Object(name=f"{colour} {shape}", shape=shape, colour=COLOURS[colour], radius=radius)

    def _trajectories(self, action: str, rng: np.random.Generator) -> tuple[list[_Object], np.ndarray]:
        """Objects and their integer centres ``(t, k, 2)`` as ``(x, y)`` pixels."""
        height, width = self.size
        t = np.arange(self.frames, dtype=np.float64)
        last = self.frames - 1
        obj = self._random_object(rng)
        r = obj.radius
        if action in ("move_right", "move_left"):
            distance = rng.uniform(0.3, 0.6) * (width - 2 * r - 2)
            x0 = rng.uniform(r + 1, width - r - 1 - distance)
            y = rng.uniform(r + 1, height - r - 1)
            x = x0 + distance * t / last
            if action == "move_left":
                x = x0 + distance - distance * t / last
            centres = np.stack([x, np.full_like(x, y)], -1)[:, None]
            return [obj], _round(centres)
        if action in ("push_right", "push_left"):
            hand = _Object(name="hand", shape="square", colour=HAND_COLOUR, radius=r)
            y = rng.uniform(r + 1, height - r - 1)
            travel = rng.uniform(0.25, 0.4) * width
            contact = rng.integers(max(1, last // 3), max(2, last // 2) + 1)  # frame of first contact
            speed = travel / last
            # hand moves at constant speed; the object rests until the hand touches it, then moves with it
            gap = 2 * r + 1  # centre distance when touching (the shapes are adjacent, never overlapping)
            hand_x = speed * t
            obj_x = np.maximum(speed * contact + gap, hand_x + gap)
            span_lo, span_hi = hand_x.min() - r, obj_x.max() + r
            offset = rng.uniform(1 - span_lo, width - 1 - span_hi) if width - 2 > span_hi - span_lo else 1 - span_lo
            hand_x, obj_x = hand_x + offset, obj_x + offset
            if action == "push_left":
                hand_x, obj_x = width - 1 - hand_x, width - 1 - obj_x
            centres = np.stack(
                [np.stack([obj_x, np.full_like(obj_x, y)], -1), np.stack([hand_x, np.full_like(hand_x, y)], -1)], 1
            )
            return [obj, hand], _round(centres)
        if action == "fall":
            x = rng.uniform(r + 1, width - r - 1)
            y0 = rng.uniform(r + 1, 0.3 * height)
            floor = height - r - 1
            # reaches the floor after ~2/3 of the clip, then lies still
            gravity = 2 * (floor - y0) / (0.66 * last) ** 2
            y = np.minimum(y0 + 0.5 * gravity * t**2, floor)
            centres = np.stack([np.full_like(y, x), y], -1)[:, None]
            return [obj], _round(centres)
        if action == "approach":
            other = self._random_object(rng, exclude=obj.name.split()[0])
            other = _Object(name=other.name, shape=other.shape, colour=other.colour, radius=r)
            y = rng.uniform(r + 1, height - r - 1)
            left0, right0 = r + 1 + rng.uniform(0, 0.1 * width), width - r - 1 - rng.uniform(0, 0.1 * width)
            final_gap = 2 * r + 2 + rng.uniform(0, 0.1 * width)
            step = ((right0 - left0) - final_gap) / 2 * t / last
            centres = np.stack(
                [np.stack([left0 + step, np.full_like(t, y)], -1), np.stack([right0 - step, np.full_like(t, y)], -1)], 1
            )
            return [obj, other], _round(centres)
        raise AssertionError(action)  # actions are validated in __init__

    def _render(self, objects: list[_Object], centres: np.ndarray, rng: np.random.Generator):
        """Frames ``uint8 (t, h, w, 3)`` and masks ``bool (t, k, h, w)``."""
        height, width = self.size
        background = rng.integers(170, 215, size=3).astype(np.uint8)
        frames = np.broadcast_to(background, (self.frames, height, width, 3)).copy()
        masks = np.zeros((self.frames, len(objects), height, width), dtype=bool)
        ys, xs = np.mgrid[0:height, 0:width]
        for f in range(self.frames):
            for k, obj in enumerate(objects):
                cx, cy = centres[f, k]
                if obj.shape == "square":
                    mask = (np.abs(xs - cx) <= obj.radius) & (np.abs(ys - cy) <= obj.radius)
                else:
                    mask = (xs - cx) ** 2 + (ys - cy) ** 2 <= obj.radius**2
                masks[f, k] = mask
                frames[f][mask] = obj.colour
        return frames, masks

    # ------------------------------------------------------------------ SSv2 export

    def write_ssv2(
        self,
        root: str | os.PathLike,
        *,
        split: str = "train",
        video_format: str = "webm",
        fps: float = 12.0,
        options: dict[str, str] | None = None,
    ) -> Path:
        """Write the clips as an SSv2-layout folder of real video files.

        Layout (as distributed by the dataset's authors)::

            root/20bn-something-something-v2/<id>.webm
            root/labels/something-something-v2-<split>.json   [{"id", "label", "template", "placeholders"}, ...]
            root/labels/labels.json                           {"<template without brackets>": "<class index>"}

        Args:
            root: folder to write into (created if needed). Other splits' label files are kept.
            split: ``"train"``, ``"validation"`` or ``"test"``.
            video_format: ``"webm"`` (VP9, as SSv2) or ``"mp4"`` (H.264).
            fps: frame rate written into the files (SSv2 is 12 fps).
            options: encoder options for ``write_video`` (e.g. ``{"deadline": "realtime", "cpu-used": "8"}``
                to write VP9 faster at a lower quality).

        Returns:
            ``root`` as a ``Path``.
        """
        check_choice(split, "split", ("train", "validation", "test"))
        check_choice(video_format, "video_format", ("webm", "mp4"))
        root = Path(root)
        video_dir = root / "20bn-something-something-v2"
        label_dir = root / "labels"
        video_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        records = []
        for index in range(len(self)):
            item = self[index]
            write_video(item["frames"], video_dir / f"{item['id']}.{video_format}", fps=fps, options=options)
            records.append(
                {
                    "id": item["id"],
                    "label": item["label"],
                    "template": item["template"],
                    "placeholders": item["placeholders"],
                }
            )
        _write_json(label_dir / f"something-something-v2-{split}.json", records)
        classes = {_strip_brackets(t): str(i) for i, t in enumerate(ACTIONS.values())}
        _write_json(label_dir / "labels.json", classes)
        return root


def _fill_template(template: str, placeholders: list[str]) -> str:
    """``"Pushing [something] left"`` + ``["red cube"]`` -> ``"Pushing red cube left"`` (SSv2 ``label``)."""
    label = template
    for value in placeholders:
        start = label.index("[")
        end = label.index("]", start)
        label = label[:start] + value + label[end + 1 :]
    return label[0].lower() + label[1:]


def _round(values: np.ndarray) -> np.ndarray:
    """Round half up, so that points a whole number of pixels apart stay exactly that far apart."""
    return np.floor(values + 0.5)


def _strip_brackets(template: str) -> str:
    return template.replace("[", "").replace("]", "")


def _boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """``bool (t, k, h, w)`` -> tight boxes ``float32 (t, k, 4)`` ``(x0, y0, x1, y1)``, x1/y1 exclusive."""
    t, k = masks.shape[:2]
    boxes = np.zeros((t, k, 4), dtype=np.float32)
    for f in range(t):
        for j in range(k):
            rows = np.flatnonzero(masks[f, j].any(axis=1))
            cols = np.flatnonzero(masks[f, j].any(axis=0))
            if rows.size:
                boxes[f, j] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return boxes


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
