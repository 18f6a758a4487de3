"""The frames of a call: the context images it reads, the frames the VLM sees, the clips it returns."""

from __future__ import annotations

from typing import Any

import numpy as np
import PIL.Image
import torch

from ..inputs import to_frames, to_pil_images

__all__ = ["OUTPUT_TYPES", "context_images", "convert_frames", "sample_frames"]

#: The values of ``output_type``.
OUTPUT_TYPES = ("pil", "np", "pt", "latent")


def context_images(image: Any) -> list[PIL.Image.Image]:
    """The context as RGB PIL images (a ``(t, c, h, w)`` tensor / ``(t, h, w, c)`` array is ``t`` images)."""
    if image is None:
        raise ValueError("image: expected at least one image, got None")
    if isinstance(image, (list, tuple)):
        items = list(image)
    elif isinstance(image, (torch.Tensor, np.ndarray)) and image.ndim == 4:
        items = list(image)
    else:
        items = [image]
    if not items:
        raise ValueError(f"image: expected at least one image, got an empty {type(image).__name__}")
    images = []
    for i, item in enumerate(items):
        if isinstance(item, PIL.Image.Image):
            images.append(item.convert("RGB"))
            continue
        frames = to_frames(item, name=f"image[{i}]")
        if frames.shape[:2] != (1, 1):
            raise ValueError(f"image[{i}]: expected a single image, got shape {tuple(frames.shape)} as (b, t, c, h, w)")
        images.append(to_pil_images(frames[0])[0])
    return images


def sample_frames(clip: torch.Tensor, budget: int) -> torch.Tensor:
    """At most ``budget`` evenly spaced frames of ``clip (t, c, h, w)``, first and last included."""
    t = clip.shape[0]
    if t <= budget:
        return clip
    indices = torch.linspace(0, t - 1, budget).round().long()
    return clip[indices]


def convert_frames(clip: torch.Tensor, output_type: str) -> Any:
    """``(t, c, h, w)`` in [0, 1] -> PIL list, ``(t, h, w, c)`` array or the tensor itself (as diffusers does)."""
    if output_type == "pt":
        return clip
    if output_type == "np":
        return clip.permute(0, 2, 3, 1).float().cpu().numpy()
    return to_pil_images(clip)
