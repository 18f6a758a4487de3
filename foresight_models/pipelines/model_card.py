"""The model card (``README.md`` with Hub metadata) written beside a saved ``ForesightPipeline``."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from ..hub import LIBRARY_URL, render_card, write_card

__all__ = ["MODEL_CARD_TAGS", "render_model_card", "write_model_card"]

MODEL_CARD_TAGS = ("foresight_models", "video-prediction", "image-to-video", "ltx-video", "qwen2.5-vl")

_SUMMARY = """A `ForesightPipeline` from [foresight_models]({url}):
given one or more images of a scene, LTX-Video predicts what happens next as a video and
Qwen2.5-VL describes it.
"""

_COMPONENTS = """
## Components

| component | class |
|---|---|
{rows}

`diffusers.DiffusionPipeline.from_pretrained("{repo}")` loads it too once `foresight_models` is imported.
"""

_USAGE = """import torch
from foresight_models import ForesightPipeline

pipe = ForesightPipeline.from_pretrained("{repo}", torch_dtype=torch.bfloat16)
out = pipe(image, num_frames=121)
out.frames[0]      # the predicted clip
out.description    # what the VLM says happens
"""


def render_model_card(
    *,
    components: Mapping[str, str],
    base_models: Sequence[str] = (),
    model_name: str,
    repo_id: str | None = None,
    license: str | None = None,
) -> str:
    """The card's text; the usage snippet loads ``repo_id`` (default: ``model_name``)."""
    repo = repo_id or model_name
    rows = "\n".join(f"| `{name}` | `{cls}` |" for name, cls in components.items())
    return render_card(
        title=model_name,
        summary=_SUMMARY.format(url=LIBRARY_URL),
        usage=_USAGE.format(repo=repo),
        pipeline_tag="image-to-video",
        tags=MODEL_CARD_TAGS,
        base_models=base_models,
        license=license,
        extra=_COMPONENTS.format(rows=rows, repo=repo),
    )


def write_model_card(
    save_directory: str | os.PathLike,
    *,
    components: Mapping[str, str],
    base_models: Sequence[str] = (),
    model_name: str | None = None,
    license: str | None = None,
    repo_id: str | None = None,
) -> str:
    """Write ``save_directory/README.md`` with Hub metadata and return its path.

    Args:
        components: component name -> class name (one table row each).
        base_models: Hub ids of the upstream checkpoints the components come from (``base_model``).
        model_name: the card's title (default: the folder name).
        license: SPDX id or Hub license name, when known.
        repo_id: the Hub repository the usage snippet loads (default: ``model_name``).
    """
    save_directory = os.fspath(save_directory)
    model_name = model_name or os.path.basename(os.path.abspath(save_directory))
    text = render_model_card(
        components=components, base_models=base_models, model_name=model_name, repo_id=repo_id, license=license
    )
    return write_card(save_directory, text)
