"""The model card (``README.md`` with Hub metadata) written beside a saved ``ForesightPipeline``."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

__all__ = ["MODEL_CARD_TAGS", "write_model_card"]

MODEL_CARD_TAGS = ("foresight_models", "video-prediction", "image-to-video", "ltx-video", "qwen2.5-vl")

_TEMPLATE = """
# {model_name}

A `ForesightPipeline` from [foresight_models](https://github.com/foresight-models/foresight_models):
given one or more images of a scene, LTX-Video predicts what happens next as a video and
Qwen2.5-VL describes it.

## Components

| component | class |
|---|---|
{component_rows}

## Usage

```python
import torch
from foresight_models import ForesightPipeline

pipe = ForesightPipeline.from_pretrained("{repo}", torch_dtype=torch.bfloat16)
out = pipe(image, num_frames=121)
out.frames[0]      # the predicted clip
out.description    # what the VLM says happens
```

`diffusers.DiffusionPipeline.from_pretrained("{repo}")` loads it too once `foresight_models` is imported.
"""


def write_model_card(
    save_directory: str | os.PathLike,
    *,
    components: Mapping[str, str],
    base_models: Sequence[str] = (),
    model_name: str | None = None,
    license: str | None = None,
) -> str:
    """Write ``save_directory/README.md`` with Hub metadata and return its path.

    Args:
        components: component name -> class name (one table row each).
        base_models: Hub ids of the upstream checkpoints the components come from (``base_model``).
        model_name: the card's title (default: the folder name).
        license: SPDX id or Hub license name, when known.
    """
    from huggingface_hub import ModelCard, ModelCardData

    save_directory = os.fspath(save_directory)
    model_name = model_name or os.path.basename(os.path.abspath(save_directory))
    data = ModelCardData(
        library_name="diffusers",
        pipeline_tag="image-to-video",
        tags=list(MODEL_CARD_TAGS),
        base_model=list(base_models) or None,
        license=license,
        model_name=model_name,
    )
    rows = "\n".join(f"| `{name}` | `{cls}` |" for name, cls in components.items())
    content = f"---\n{data.to_yaml()}\n---\n" + _TEMPLATE.format(
        model_name=model_name, component_rows=rows, repo=model_name
    )
    card = ModelCard(content)
    path = os.path.join(save_directory, "README.md")
    card.save(path)
    return path
