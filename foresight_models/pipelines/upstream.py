"""The upstream checkpoints :meth:`ForesightPipeline.from_components
<foresight_models.pipelines.foresight_pipeline.ForesightPipeline.from_components>` assembles a pipeline
from: LTX-Video and Qwen2.5-VL, each a Hub id, a local folder or an already loaded object."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from diffusers import DiffusionPipeline, LTXImageToVideoPipeline

__all__ = ["hub_ids", "load_or_explain", "load_video_model", "load_vlm"]


def hub_ids(name: str | os.PathLike) -> list[str]:
    """``[name]`` when it looks like a Hub id (``owner/name``, not a local folder), else ``[]``."""
    name = os.fspath(name)
    return [name] if name.count("/") == 1 and not os.path.exists(name) else []


def load_video_model(video_model: Any, torch_dtype, load_kwargs: dict) -> tuple[DiffusionPipeline, list[str]]:
    """``(pipeline, hub_ids)``: ``video_model`` itself when loaded, else the LTX-Video image-to-video pipeline
    loaded from its Hub id or folder."""
    if isinstance(video_model, DiffusionPipeline):
        return video_model, []
    if not isinstance(video_model, (str, os.PathLike)):
        raise TypeError(
            f"video_model: expected a Hub id, a folder or a loaded LTX pipeline, got {type(video_model).__name__}"
        )
    ltx = load_or_explain(
        lambda: LTXImageToVideoPipeline.from_pretrained(video_model, torch_dtype=torch_dtype, **load_kwargs),
        video_model,
        "the LTX-Video checkpoint",
    )
    return ltx, hub_ids(video_model)


def load_vlm(vlm: Any, processor: Any, torch_dtype, load_kwargs: dict) -> tuple[Any, Any, list[str]]:
    """``(vlm, processor, hub_ids)``: ``vlm`` itself when loaded or ``None``, else Qwen2.5-VL and its processor
    loaded from its Hub id or folder."""
    if vlm is None or isinstance(vlm, torch.nn.Module):
        return vlm, processor, []
    if not isinstance(vlm, (str, os.PathLike)):
        raise TypeError(f"vlm: expected a Hub id, a folder, a loaded model or None, got {type(vlm).__name__}")
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    model = load_or_explain(
        lambda: Qwen2_5_VLForConditionalGeneration.from_pretrained(vlm, dtype=torch_dtype, **load_kwargs),
        vlm,
        "the Qwen2.5-VL checkpoint",
    )
    if processor is None:
        processor = load_or_explain(
            lambda: AutoProcessor.from_pretrained(vlm, **load_kwargs), vlm, "the Qwen2.5-VL processor"
        )
    return model, processor, hub_ids(vlm)


def load_or_explain(load: Callable[[], Any], name: Any, what: str) -> Any:
    """``load()``, after checking ``name`` is a folder or a Hub id; an ``OSError`` says how to get the files."""
    name = os.fspath(name)
    if not os.path.isdir(name) and not hub_ids(name):
        raise ValueError(f"{what}: {name!r} is neither an existing folder nor a Hub id of the form 'owner/name'")
    try:
        return load()
    except OSError as error:
        raise OSError(
            f"could not load {what} from {name!r}: download it first "
            f"(`hf download {name}`) or pass a local folder; original error: {error}"
        ) from error
