"""Typed events yielded by :meth:`foresight_models.ForesightPipeline.stream`.

A stream is a sequence of these events, in the order the work happens:

1. ``TextDelta(stage="prompt")`` while the VLM writes the motion prompt from the context images
   (only when no prompt was given);
2. ``Progress`` once per denoising step of the video model (all continuations are one batch);
3. ``Frames`` once per predicted continuation, once the batch is decoded (none with
   ``output_type="latent"``);
4. ``TextDelta(stage="description", index=i)`` and ``TextDelta(stage="rating", index=i)`` while the
   VLM describes and rates continuation ``i``; then ``Description(index=i)`` (none without a VLM or
   with ``output_type="latent"``);
5. ``Done`` with the same :class:`~foresight_models.pipelines.ForesightPipelineOutput` that
   ``__call__`` returns for the same arguments.

Each stage needs the previous one's result (the prompt conditions the video; the description is
about its frames), so the stages do not overlap in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Description", "Done", "ForesightEvent", "Frames", "Progress", "TextDelta"]


@dataclass(frozen=True)
class TextDelta:
    """A piece of VLM text as it is produced.

    Args:
        text: the new characters.
        stage: ``"prompt"`` (motion prompt from the context), ``"description"`` (answer to the
            question about a predicted clip) or ``"rating"`` (the critic's answer).
        index: the continuation the text is about (``None`` for the prompt), in generation order.
    """

    text: str
    stage: Literal["prompt", "description", "rating"]
    index: int | None = None


@dataclass(frozen=True)
class Progress:
    """Denoising step ``step`` (1-based) of ``total`` finished."""

    step: int
    total: int


@dataclass(frozen=True)
class Frames:
    """The decoded frames of continuation ``index`` (generation order), in the requested ``output_type``:
    a list of ``t`` PIL images, an ``(t, h, w, c)`` array or a ``(t, c, h, w)`` tensor in [0, 1]."""

    frames: Any
    index: int


@dataclass(frozen=True)
class Description:
    """The finished description of continuation ``index`` (generation order) and its critic score
    (``None`` when not rated; ``nan`` when the rating answer held no number in range)."""

    text: str
    index: int
    score: float | None = None


@dataclass(frozen=True)
class Done:
    """The last event: the complete result, identical to what ``__call__`` returns."""

    output: Any


ForesightEvent = TextDelta | Progress | Frames | Description | Done
