"""What a :class:`~foresight_models.pipelines.foresight_pipeline.ForesightPipeline` call returns: the
output dataclass, its ranking best first, and the error raised instead of a ``nan`` result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers.utils import BaseOutput

from .critic import rank_best_first
from .display import output_html

__all__ = ["ForesightPipelineOutput", "NonFiniteOutputError", "check_finite", "ranked_output"]


class NonFiniteOutputError(FloatingPointError):
    """A stage produced ``nan`` (or ``inf``) values; raised instead of returning a black or garbled video."""



@dataclass
class ForesightPipelineOutput(BaseOutput):
    """Result of :class:`ForesightPipeline`; every per-continuation list is sorted best first.

    Args:
        frames: the predicted clips, one per continuation: ``output_type="pil"`` -> a list of lists of
            ``t`` PIL images; ``"np"`` -> float array ``(n, t, h, w, c)`` in [0, 1]; ``"pt"`` -> float
            tensor ``(n, t, c, h, w)`` in [0, 1]; ``"latent"`` -> the packed latents
            ``(n, tokens, channels)`` of ``LTXImageToVideoPipeline``.
        description: the VLM's answer to ``question`` for each clip (``None`` without a VLM or with
            ``output_type="latent"``).
        prompt: the motion prompt the video was generated from (given, or written by the VLM).
        scores: the critic's plausibility score of each clip on ``[0, 10]`` (``nan`` when its answer held
            no number in range), or ``None`` when the clips were not rated.
        seed: the seed of the generator the noise was drawn from (reproduces the call when passed back
            as ``seed=``); ``None`` when the call was given a list of generators (one per continuation).
        ratings: the critic's raw answers, aligned with ``scores``.
        order: for each returned clip, its index in generation order.
    """

    frames: Any
    description: list[str] | None
    prompt: str
    scores: list[float] | None
    seed: int | None
    ratings: list[str] | None = None
    order: list[int] | None = None

    def to_tuple(self) -> tuple:
        """``(frames, description, prompt, scores, seed, ratings, order)``: every field, in order, ``None``
        included (``return_dict=False`` returns this; frames first, as in diffusers)."""
        return tuple(getattr(self, name) for name in self.__dataclass_fields__)

    def _repr_html_(self) -> str:
        """The best clip as an inline animated image with its prompt and description (notebooks)."""
        return output_html(self)



def check_finite(values: torch.Tensor, stage: str, what: str) -> None:
    """Raise :class:`NonFiniteOutputError` naming ``stage`` when ``values`` hold ``nan`` or ``inf``."""
    if not bool(torch.isfinite(values).all()):
        raise NonFiniteOutputError(
            f"{stage}: {what} hold nan or inf values ({values.dtype}); this is what a float16 overflow looks "
            "like: load the pipeline in torch.bfloat16 or torch.float32 (torch_dtype=...), and check the "
            "weights for nan"
        )


def ranked_output(
    clips: list, descriptions, ratings, scores, *, prompt: str, seed: int, output_type: str
) -> ForesightPipelineOutput:
    """The output with every per-clip list sorted best first by ``scores`` (generation order without scores);
    ``output_type`` ``"pt"`` / ``"np"`` stacks the clips into one tensor / array."""
    order = rank_best_first(scores) if scores is not None else list(range(len(clips)))
    if output_type == "pt":
        frames: Any = torch.stack([clips[i] for i in order])
    elif output_type == "np":
        frames = np.stack([clips[i] for i in order])
    else:
        frames = [clips[i] for i in order]

    def ranked(values):
        return [values[i] for i in order] if values is not None else None

    return ForesightPipelineOutput(
        frames=frames,
        description=ranked(descriptions),
        prompt=prompt,
        scores=ranked(scores),
        seed=seed,
        ratings=ranked(ratings),
        order=order,
    )
