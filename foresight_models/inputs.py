"""Conversion of user-facing images and clips to the library's internal tensors.

Public functions accept ``PIL.Image | np.ndarray | torch.Tensor`` (or lists of them); internally
everything is a float tensor in ``[0, 1]`` laid out ``(b, t, c, h, w)`` for clips and
``(b, c, h, w)`` for images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["ImageLike", "frames_to_float", "frames_to_uint8", "to_frames", "to_pil_images"]

ImageLike = Any  # PIL.Image.Image | np.ndarray | torch.Tensor, or a list of them


def _single_to_tensor(image: Any, name: str) -> torch.Tensor:
    """One PIL image / array / tensor -> float ``(..., c, h, w)`` in [0, 1]."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a hard dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        array = np.asarray(image.convert("RGB"))
        return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0
    if isinstance(image, np.ndarray):
        if image.ndim < 3:
            raise ValueError(f"{name}: a numpy image must be (..., h, w, c) with c in (1, 3), got shape {image.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(image)).movedim(-1, -3)
        return _scale(tensor, name)
    if isinstance(image, torch.Tensor):
        if image.ndim < 3:
            raise ValueError(f"{name}: a tensor image must be (..., c, h, w), got shape {tuple(image.shape)}")
        return _scale(image, name)
    raise TypeError(f"{name}: expected a PIL.Image, numpy array or torch.Tensor, got {type(image).__name__}")


def _scale(tensor: torch.Tensor, name: str) -> torch.Tensor:
    if tensor.dtype == torch.uint8:
        return tensor.float() / 255.0
    if not tensor.is_floating_point():
        raise TypeError(f"{name}: expected uint8 or floating-point values, got dtype {tensor.dtype}")
    if tensor.numel() and (torch.isnan(tensor).any() or tensor.min() < 0 or tensor.max() > 1):
        lo, hi = tensor.nan_to_num(0).min().item(), tensor.nan_to_num(0).max().item()
        raise ValueError(
            f"{name}: floating-point images must lie in [0, 1] without NaN, got range [{lo:.3g}, {hi:.3g}]"
        )
    return tensor.float()


def to_frames(images: ImageLike | Sequence[ImageLike], *, name: str = "images") -> torch.Tensor:
    """Convert images or clips to a float tensor ``(b, t, c, h, w)`` in [0, 1].

    Accepted forms:
        - one PIL image, ``(h, w, c)`` array or ``(c, h, w)`` tensor -> ``b = t = 1``;
        - a list of PIL images / arrays / tensors of one size -> the frames of one clip, ``b = 1``;
        - a ``(t, c, h, w)`` tensor or ``(t, h, w, c)`` array (e.g. ``read_video``'s output) -> one clip, ``b = 1``;
        - a ``(b, t, c, h, w)`` tensor or ``(b, t, h, w, c)`` array -> as is.

    uint8 values are divided by 255; float values must already be in [0, 1]. Channels must be 3
    (a single channel is repeated to RGB, as ``PIL.Image.convert("RGB")`` does).
    """
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError(f"{name}: expected at least one image, got an empty {type(images).__name__}")
        frames = [_single_to_tensor(image, f"{name}[{i}]") for i, image in enumerate(images)]
        shapes = {tuple(f.shape) for f in frames}
        if len(shapes) != 1:
            raise ValueError(f"{name}: all frames must have the same shape, got {sorted(shapes)}")
        tensor = torch.stack(frames)  # t c h w
        if tensor.ndim != 4:
            raise ValueError(f"{name}: list elements must be single images, got element shape {tuple(frames[0].shape)}")
        tensor = tensor.unsqueeze(0)
    else:
        tensor = _single_to_tensor(images, name)
        while tensor.ndim < 5:
            tensor = tensor.unsqueeze(0)
        if tensor.ndim > 5:
            raise ValueError(f"{name}: expected at most 5 dims (b, t, c, h, w), got shape {tuple(tensor.shape)}")
    if tensor.shape[0] == 0 or tensor.shape[1] == 0:
        raise ValueError(f"{name}: empty batch or clip, got shape {tuple(tensor.shape)}")
    channels = tensor.shape[2]
    if channels == 1:
        tensor = tensor.expand(-1, -1, 3, -1, -1)
    elif channels != 3:
        raise ValueError(f"{name}: expected 3 (RGB) or 1 channels, got {channels} in shape {tuple(tensor.shape)}")
    return tensor.contiguous()


def to_pil_images(frames: torch.Tensor) -> list:
    """``(t, c, h, w)`` float in [0, 1] (or uint8, taken as it is) -> list of ``t`` RGB PIL images."""
    from PIL import Image

    return [Image.fromarray(frame) for frame in frames_to_uint8(frames).permute(0, 2, 3, 1).cpu().numpy()]


def frames_to_uint8(frames: torch.Tensor) -> torch.Tensor:
    """Float frames in ``[0, 1]`` -> uint8 in ``[0, 255]`` (clamped, rounded to the nearest step), same
    shape and device; uint8 frames are returned as they are."""
    if frames.dtype == torch.uint8:
        return frames
    return (frames.clamp(0, 1) * 255).round().to(torch.uint8)


def frames_to_float(frames: torch.Tensor, *, name: str = "frames") -> torch.Tensor:
    """uint8 frames in ``[0, 255]`` or float frames in ``[0, 1]`` -> float32 in ``[0, 1]``, same shape."""
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of frames (b, t, 3, h, w), got {type(frames).__name__}")
    if frames.dtype == torch.uint8:
        return frames.float() / 255.0
    if not frames.is_floating_point():
        raise TypeError(f"{name}: expected uint8 or floating-point frames, got dtype {frames.dtype}")
    return frames.float()
