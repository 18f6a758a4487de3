"""The foresight pipeline: video predicts, VLM describes.

- :mod:`.foresight_pipeline`: :class:`ForesightPipeline`.
- :mod:`.output`: :class:`ForesightPipelineOutput`, its ranking best first, :class:`NonFiniteOutputError`.
- :mod:`.checks`: the argument checks that need no pipeline (components, video arguments).
- :mod:`.frames`: the context images a call reads, the frames the VLM sees, the clips it returns.
- :mod:`.locks`: the per-module locks that serialise what concurrent calls share.
- :mod:`.upstream`: loading the LTX-Video and Qwen2.5-VL checkpoints a pipeline is assembled from.
- :mod:`.events`: the events :meth:`ForesightPipeline.stream` yields.
- :mod:`.critic`: the rating prompt and its parser (the VLM as critic of several continuations).
- :mod:`.model_card`: the README written beside a saved pipeline.
- :mod:`.streaming`: :class:`ForesightStream` and how a call reports events to it.
- :mod:`.memory`: the memory estimate a call is checked against.
- :mod:`.loading`: checks of a folder before and after loading; saving into place.
- :mod:`.named`: loading a pipeline by name (``"tiny"``), folder or Hub id; the call defaults per kind of model.
- :mod:`.diffusers_registry`: lets ``diffusers.DiffusionPipeline.from_pretrained`` find the pipeline class.
- :mod:`.call_state`: diffusers' per-call properties (``num_timesteps``, ``interrupt``...), kept per thread.
- :mod:`.noise`: generators, seeds and latents drawn in advance.
- :mod:`.context_conditioning`: which diffusers LTX pipeline denoises, by how the context conditions the video.
- :mod:`.hub`: ``push_to_hub`` with this library's model card.
- :mod:`.display`: the notebook display of an output.

Names are resolved lazily: importing this package imports neither diffusers nor transformers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY_NAMES: dict[str, str] = {
    "ForesightPipeline": "foresight_pipeline",
    "ForesightPipelineOutput": "output",
    "DEFAULT_QUESTION": "foresight_pipeline",
    "MOTION_PROMPT_INSTRUCTION": "foresight_pipeline",
    "NonFiniteOutputError": "output",
    "ForesightStream": "streaming",
    "TextDelta": "events",
    "Progress": "events",
    "Frames": "events",
    "Description": "events",
    "Done": "events",
    "ForesightEvent": "events",
    "RATING_PROMPT": "critic",
    "parse_rating": "critic",
    "rank_best_first": "critic",
    "write_model_card": "model_card",
}

__all__ = list(_LAZY_NAMES)

if TYPE_CHECKING:  # pragma: no cover
    from .critic import RATING_PROMPT, parse_rating, rank_best_first
    from .events import Description, Done, ForesightEvent, Frames, Progress, TextDelta
    from .foresight_pipeline import DEFAULT_QUESTION, MOTION_PROMPT_INSTRUCTION, ForesightPipeline
    from .model_card import write_model_card
    from .output import ForesightPipelineOutput, NonFiniteOutputError
    from .streaming import ForesightStream


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
