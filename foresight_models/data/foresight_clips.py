"""Clips split the way the pipeline sees them: a few context images, then the video that continues them.

``ForesightPipeline`` takes context images and generates a video whose frame 0 is the last context
image. :class:`ForesightClips` cuts each clip of a dataset the same way, so that training (the video
model learns the video, the VLM learns to write its prompt from the context) and evaluation (the
generated video is compared with the true one, frame for frame) use one convention.

Example::

    >>> from foresight_models.data import ForesightClips, SyntheticMotion
    >>> clips = ForesightClips(SyntheticMotion(4, frames=20, size=64), context_indices=(0, 3), num_frames=17)
    >>> item = clips[0]
    >>> tuple(item["context"].shape), tuple(item["video"].shape)
    ((2, 3, 64, 64), (17, 3, 64, 64))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from .._validation import check_int

__all__ = ["ForesightClips"]

# per-frame entries of a SyntheticMotion item, cut to the video's frames too
_PER_FRAME = ("boxes", "masks", "velocities")


class ForesightClips(Dataset):
    """Items of a clip dataset as ``context`` images and the ``video`` that continues them.

    Args:
        dataset: items with ``"frames"`` uint8 ``(t, 3, h, w)`` (``SyntheticMotion``, ``SomethingSomethingV2``
            through the training datasets).
        context_indices: increasing frame indices of the context images; the last one is frame 0 of the video.
        num_frames: frames of the video (the pipeline's ``num_frames``); the clips need
            ``context_indices[-1] + num_frames`` frames.

    Each item is the dataset's item with:
        ``context``: uint8 ``(k, 3, h, w)``, the frames at ``context_indices``;
        ``video``: uint8 ``(num_frames, 3, h, w)``, frames ``context_indices[-1]`` onwards (``video[0]`` is
        ``context[-1]``);
        ``frames``: the same tensor as ``video`` (the key the training tasks read);
        ``video_boxes``, ``video_masks``, ``video_velocities`` (when the dataset gives ``boxes``...): the
        per-frame entries cut to the video's frames; ``context_boxes`` likewise for the context frames.
    """

    def __init__(self, dataset: Dataset, *, context_indices: Sequence[int] = (0, 3), num_frames: int = 17):
        if isinstance(context_indices, (str, bytes)) or not isinstance(context_indices, Sequence):
            raise TypeError(f"context_indices: expected a sequence of frame indices, got {context_indices!r}")
        if not context_indices:
            raise ValueError("context_indices: expected at least one frame index, got an empty sequence")
        indices = tuple(check_int(i, f"context_indices[{n}]", minimum=0) for n, i in enumerate(context_indices))
        if any(b <= a for a, b in zip(indices, indices[1:])):
            raise ValueError(f"context_indices: expected increasing frame indices, got {list(indices)}")
        self.dataset = dataset
        self.context_indices = indices
        self.num_frames = check_int(num_frames, "num_frames", minimum=2)

    @property
    def clip_frames(self) -> int:
        """Frames each clip of the dataset must have."""
        return self.context_indices[-1] + self.num_frames

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.dataset[index])
        frames = item.get("frames")
        if not isinstance(frames, torch.Tensor) or frames.ndim != 4:
            raise KeyError(f"dataset[{index}]: expected 'frames' (t, 3, h, w), the item has keys {sorted(item)}")
        if frames.shape[0] < self.clip_frames:
            raise ValueError(
                f"dataset[{index}]: the clip has {frames.shape[0]} frames; context_indices {list(self.context_indices)} "
                f"and num_frames={self.num_frames} need {self.clip_frames}"
            )
        start = self.context_indices[-1]
        video = slice(start, start + self.num_frames)
        context = list(self.context_indices)
        item["context"] = frames[context]
        item["video"] = item["frames"] = frames[video]
        for key in _PER_FRAME:
            if isinstance(item.get(key), torch.Tensor):
                item[f"video_{key}"] = item[key][video]
                item[f"context_{key}"] = item[key][context]
        return item
