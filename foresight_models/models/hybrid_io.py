"""Inputs and outputs of :class:`~foresight_models.models.fusion.HybridEncoder`.

``images_to_clips`` turns what users pass (PIL images, arrays, tensors; single images, clips, or a
batch of clips) into one float tensor ``(b, t, c, h, w)`` in [0, 1]; ``HybridEncoderInputs`` holds
the preprocessed pixels of both backbones; ``HybridEncoderOutput`` holds the tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..inputs import to_frames

__all__ = ["HybridEncoderInputs", "HybridEncoderOutput", "images_to_clips"]


def _is_clip_element(element: Any) -> bool:
    """A batch element that is itself a clip: a list of frames, a ``(t, c, h, w)`` tensor or ``(t, h, w, c)`` array."""
    if isinstance(element, (list, tuple)):
        return True
    return isinstance(element, (torch.Tensor, np.ndarray)) and element.ndim == 4


def images_to_clips(images: Any, *, name: str = "images") -> tuple[torch.Tensor, bool]:
    """Convert user images to ``(b, t, c, h, w)`` float in [0, 1] and say whether they were clips.

    Accepted forms (uint8, or float in [0, 1]; 3 channels, or 1 repeated to RGB):
        - one PIL image, ``(h, w, c)`` array or ``(c, h, w)`` tensor: one image (``b = t = 1``);
        - ``(b, c, h, w)`` tensor / ``(b, h, w, c)`` array: ``b`` images;
        - a list of single images: the frames of one clip;
        - ``(b, t, c, h, w)`` tensor / ``(b, t, h, w, c)`` array: ``b`` clips;
        - a list of clips (lists of frames, ``(t, c, h, w)`` tensors or ``(t, h, w, c)`` arrays),
          all with the same number of frames and size: ``b`` clips.

    Returns:
        ``(frames, is_clip)``; ``is_clip`` is ``False`` for single images (outputs then drop ``t``).
    """
    if isinstance(images, (list, tuple)) and len(images) and all(_is_clip_element(e) for e in images):
        clips = []
        for i, clip in enumerate(images):
            if isinstance(clip, (torch.Tensor, np.ndarray)):
                clip = clip[None]
            clips.append(to_frames(clip, name=f"{name}[{i}]"))
        lengths = [c.shape[1] for c in clips]
        if len(set(lengths)) != 1:
            raise ValueError(f"{name}: all clips must have the same number of frames, got frame counts {lengths}")
        sizes = sorted({tuple(c.shape[-2:]) for c in clips})
        if len(sizes) != 1:
            raise ValueError(f"{name}: all clips must have the same frame size (h, w), got {sizes}")
        return torch.cat(clips), True
    if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 4:
        return to_frames(images[:, None], name=name), False  # (b, c, h, w): b single images
    is_clip = isinstance(images, (list, tuple)) or (isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 5)
    return to_frames(images, name=name), is_clip


@dataclass
class HybridEncoderInputs:
    """Preprocessed pixels for both backbones (``n_img = batch * frames`` images, frame-major per clip).

    Attributes:
        dino_pixels: ``(n_img, 3, H_d, W_d)`` normalised for DINOv2, in the backbone's dtype.
        qwen_pixel_values: ``(n_img * gh_q * gw_q, 3 * temporal_patch * patch**2)``, Qwen2-VL's patch rows.
        qwen_grid_thw: ``(n_img, 3)`` long, ``(1, gh_q, gw_q)`` per image.
        batch: ``b``.
        frames: ``t`` (1 for single images).
        is_clip: whether the outputs keep the ``t`` axis.
    """

    dino_pixels: torch.Tensor
    qwen_pixel_values: torch.Tensor
    qwen_grid_thw: torch.Tensor
    batch: int
    frames: int
    is_clip: bool


@dataclass
class HybridEncoderOutput:
    """Tokens of the hybrid encoder; ``[t,]`` is present for clips and absent for single images.

    Attributes:
        fused_tokens: ``(b, [t,] n, d)`` fused tokens on the DINOv2 grid, ``n = gh * gw``, row-major.
        spatial_tokens: ``(b, [t,] n, d_dino)`` DINOv2 patch tokens (final norm, no class/register tokens).
        semantic_tokens: ``(b, [t,] m, d_qwen)`` Qwen2.5-VL tokens (merger output or LLM hidden states).
        grid: ``(gh, gw)`` of the fused and spatial tokens.
        semantic_grid: ``(gh_q, gw_q)`` of the semantic tokens (after the 2x2 merger).
    """

    fused_tokens: torch.Tensor
    spatial_tokens: torch.Tensor
    semantic_tokens: torch.Tensor
    grid: tuple[int, int]
    semantic_grid: tuple[int, int]

    def to_tuple(self) -> tuple[Any, ...]:
        """``(fused_tokens, spatial_tokens, semantic_tokens, grid, semantic_grid)``."""
        return (self.fused_tokens, self.spatial_tokens, self.semantic_tokens, self.grid, self.semantic_grid)
