"""The settings a demo page starts with, fitted to the loaded model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._validation import check_int, check_real
from ..pipelines.foresight_pipeline import DEFAULT_QUESTION
from ..pipelines.named import call_defaults, pipeline_kind

__all__ = ["DemoSettings"]


@dataclass(frozen=True)
class DemoSettings:
    """Initial values of the page's settings; every one can be changed in the page.

    Args:
        height, width: video size in pixels (multiples of 32).
        num_frames: frames of the predicted clip (``8k + 1``, the first is the context frame).
        steps: denoising steps.
        continuations: futures generated per call; with several, the VLM rates them and the page ranks them.
        seed: the noise seed.
        max_new_tokens: VLM tokens per answer (not shown in the page).
        guidance_scale: classifier-free guidance scale (not shown in the page).
        fps: frame rate the video model is told and the mp4 stores.
        question: what the VLM is asked about the predicted clip.
    """

    height: int
    width: int
    num_frames: int
    steps: int
    continuations: int = 1
    seed: int = 0
    max_new_tokens: int = 128
    guidance_scale: float = 3.0
    fps: float = 25.0
    question: str = DEFAULT_QUESTION

    def __post_init__(self) -> None:
        for name in ("height", "width", "num_frames", "steps", "continuations", "max_new_tokens"):
            check_int(getattr(self, name), name)
        check_int(self.seed, "seed", minimum=0, maximum=2**64 - 1)
        check_real(self.fps, "fps", minimum=0.0, min_inclusive=False)
        check_real(self.guidance_scale, "guidance_scale", minimum=0.0)
        if not isinstance(self.question, str):
            raise TypeError(f"question: expected a str, got {type(self.question).__name__}")

    @classmethod
    def for_pipeline(cls, pipe: Any, **overrides: Any) -> DemoSettings:
        """The call defaults of ``foresight predict`` for ``pipe``'s kind of model (the tiny offline
        models get small sizes and few steps; LTX-Video checkpoints get LTX's), then ``overrides``."""
        defaults = call_defaults(pipeline_kind(pipe))
        values: dict[str, Any] = {
            "height": defaults["height"],
            "width": defaults["width"],
            "num_frames": defaults["num_frames"],
            "steps": defaults["steps"],
            "max_new_tokens": defaults["max_new_tokens"],
            "guidance_scale": defaults["guidance_scale"],
        }
        return cls(**{**values, **overrides})
