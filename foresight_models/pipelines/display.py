"""Notebook display of a pipeline output: the best clip plays inline with its prompt and description.

:func:`output_html` is what ``ForesightPipelineOutput._repr_html_`` returns: an animated image (GIF,
base64 in a ``data:`` URI, so the notebook file stays self-contained), downscaled to at most
``MAX_SIDE`` pixels and ``MAX_FRAMES`` frames to stay small, and the prompt, the description and the
critic's score beneath it, HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
import PIL.Image
import torch

__all__ = ["MAX_FRAMES", "MAX_SIDE", "clip_gif", "output_html"]

MAX_SIDE = 256
MAX_FRAMES = 48


def _pil_frames(clip: Any) -> list[PIL.Image.Image]:
    """One clip (a list of PIL images, ``(t, h, w, c)`` array or ``(t, c, h, w)`` tensor in [0, 1]) as PIL."""
    if isinstance(clip, torch.Tensor):
        clip = clip.detach().float().cpu().permute(0, 2, 3, 1).numpy()
    if isinstance(clip, np.ndarray):
        clip = [PIL.Image.fromarray((np.clip(frame, 0, 1) * 255).round().astype(np.uint8)) for frame in clip]
    return list(clip)


def clip_gif(clip: Any, *, fps: float = 8.0) -> bytes:
    """The clip as an animated GIF (looping), at most ``MAX_SIDE`` px and ``MAX_FRAMES`` frames."""
    frames = _pil_frames(clip)
    if len(frames) > MAX_FRAMES:
        frames = [frames[i] for i in np.linspace(0, len(frames) - 1, MAX_FRAMES).round().astype(int)]
    scale = min(1.0, MAX_SIDE / max(frames[0].size))
    if scale < 1.0:
        size = (max(1, round(frames[0].width * scale)), max(1, round(frames[0].height * scale)))
        frames = [frame.resize(size, PIL.Image.BILINEAR) for frame in frames]
    buffer = io.BytesIO()
    frames[0].convert("RGB").save(
        buffer, format="GIF", save_all=True, append_images=[f.convert("RGB") for f in frames[1:]],
        duration=round(1000 / fps), loop=0,
    )  # fmt: skip
    return buffer.getvalue()


def output_html(output: Any) -> str:
    """HTML for a ``ForesightPipelineOutput``: its best clip inline, its prompt, description and score."""
    parts = ['<div class="foresight-output">']
    frames = output.frames
    is_latent = isinstance(frames, torch.Tensor) and frames.ndim != 5
    if frames is not None and len(frames) and not is_latent:
        data = base64.b64encode(clip_gif(frames[0])).decode("ascii")
        parts.append(f'<img src="data:image/gif;base64,{data}" alt="predicted clip"/>')
    elif is_latent:
        parts.append(f"<p>latents {tuple(frames.shape)} (output_type='latent': nothing decoded)</p>")
    parts.append(f"<p><b>prompt</b>: {html.escape(output.prompt)}</p>")
    if output.description:
        parts.append(f"<p><b>description</b>: {html.escape(output.description[0])}</p>")
    if output.scores:
        parts.append(f"<p><b>score</b>: {output.scores[0]:.3g} (best of {len(output.scores)})</p>")
    parts.append("</div>")
    return "\n".join(parts)
