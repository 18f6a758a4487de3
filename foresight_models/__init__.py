"""foresight_models: visual foresight with LTX-Video and Qwen2.5-VL, as composable PyTorch modules.

Importing the package is cheap: public names are resolved lazily, so ``import foresight_models``
imports neither ``diffusers`` nor ``transformers`` until a name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .pipelines import diffusers_registry as _diffusers_registry

__version__ = "0.1.0"

# public name -> submodule that defines it
_LAZY_NAMES: dict[str, str] = {
    # presets
    "PRESETS": "foresight_models.presets",
    "Preset": "foresight_models.presets",
    "build_preset": "foresight_models.presets",
    # shared blocks
    "Attention": "foresight_models.models.layers",
    "CrossAttentionBlock": "foresight_models.models.layers",
    "FeedForward": "foresight_models.models.layers",
    "SelfAttentionBlock": "foresight_models.models.layers",
    # prediction heads, baselines, losses, frame decoder
    "CopyLastFrame": "foresight_models.models.heads",
    "LinearExtrapolation": "foresight_models.models.heads",
    "MultiFrameHead": "foresight_models.models.heads",
    "QueryPredictionHead": "foresight_models.models.heads",
    "TemporalTransformerHead": "foresight_models.models.heads",
    "SimpleFrameDecoder": "foresight_models.models.frame_decoder",
    "cosine_loss": "foresight_models.models.losses",
    "info_nce_loss": "foresight_models.models.losses",
    "mse_loss": "foresight_models.models.losses",
    "pixel_l1_loss": "foresight_models.models.losses",
    # hybrid encoder
    "CrossAttentionFusion": "foresight_models.models.fusion",
    "HybridEncoder": "foresight_models.models.fusion",
    "HybridEncoderOutput": "foresight_models.models.fusion",
    # pipeline
    "ForesightPipeline": "foresight_models.pipelines.foresight_pipeline",
    "ForesightPipelineOutput": "foresight_models.pipelines.output",
    "ForesightStream": "foresight_models.pipelines.streaming",
    "NonFiniteOutputError": "foresight_models.pipelines.output",
    "TextDelta": "foresight_models.pipelines.events",
    "Progress": "foresight_models.pipelines.events",
    "Frames": "foresight_models.pipelines.events",
    "Description": "foresight_models.pipelines.events",
    "Done": "foresight_models.pipelines.events",
    "parse_rating": "foresight_models.pipelines.critic",
    "load_pipeline": "foresight_models.pipelines.named",
    # the browser demo (needs the "demo" extra: Gradio)
    "build_demo": "foresight_models.demo.app",
    # adapters
    "AdapterOutput": "foresight_models.models.adapter_common",
    "BottleneckAdapter": "foresight_models.models.adapters",
    "LoRAAdapter": "foresight_models.models.lora_adapter",
    "PerceiverAdapter": "foresight_models.models.adapters",
    "QueryAdapter": "foresight_models.models.adapters",
    "build_adapter": "foresight_models.models.adapters",
    "count_parameters": "foresight_models.models.adapter_common",
    # video data
    "ClipTooShortError": "foresight_models.data.video",
    "VideoDecodeError": "foresight_models.data.video",
    "VideoInfo": "foresight_models.data.video",
    "read_video": "foresight_models.data.video",
    "video_info": "foresight_models.data.video",
    "write_video": "foresight_models.data.video",
    "SomethingSomethingV2": "foresight_models.data.datasets",
    "collate_clips": "foresight_models.data.datasets",
    "SyntheticMotion": "foresight_models.data.synthetic",
    "ForesightClips": "foresight_models.data.foresight_clips",
    # LTX-Video conditioning hooks
    "LTXConditioningAdapter": "foresight_models.conditioning",
    "LTXConditioningHooks": "foresight_models.conditioning",
    "install_ltx_conditioning": "foresight_models.conditioning",
    "ltx_conditioning": "foresight_models.conditioning",
    "video_token_mask": "foresight_models.conditioning",
    # evaluation: predictors vs baselines, paired statistics, probes
    "ClipFolder": "foresight_models.evaluation.clip_folder",
    "Comparison": "foresight_models.evaluation.statistics",
    "EvaluationReport": "foresight_models.evaluation.report",
    "Metric": "foresight_models.evaluation.metric",
    "compare": "foresight_models.evaluation.statistics",
    "evaluate": "foresight_models.evaluation.evaluate",
    "save_clip_folder": "foresight_models.evaluation.clip_folder",
    "SpatialProbe": "foresight_models.evaluation.probes",
    "evaluate_spatial_probe": "foresight_models.evaluation.probes",
    "latent_alignment": "foresight_models.evaluation.probes",
    "train_spatial_probe": "foresight_models.evaluation.probes",
}

_SUBMODULES = (
    "presets",
    "testing",
    "models",
    "metrics",
    "data",
    "cli",
    "inputs",
    "pipelines",
    "evaluation",
    "conditioning",
    "demo",
)

__all__ = ["__version__", *_LAZY_NAMES]

if TYPE_CHECKING:  # pragma: no cover - for static analysis and IDEs only
    from .conditioning import (
        LTXConditioningAdapter,
        LTXConditioningHooks,
        install_ltx_conditioning,
        ltx_conditioning,
        video_token_mask,
    )
    from .data.datasets import SomethingSomethingV2, collate_clips
    from .data.foresight_clips import ForesightClips
    from .data.synthetic import SyntheticMotion
    from .data.video import ClipTooShortError, VideoDecodeError, VideoInfo, read_video, video_info, write_video
    from .demo.app import build_demo
    from .evaluation.clip_folder import ClipFolder, save_clip_folder
    from .evaluation.evaluate import evaluate
    from .evaluation.metric import Metric
    from .evaluation.probes import SpatialProbe, evaluate_spatial_probe, latent_alignment, train_spatial_probe
    from .evaluation.report import EvaluationReport
    from .evaluation.statistics import Comparison, compare
    from .models.adapter_common import AdapterOutput, count_parameters
    from .models.adapters import BottleneckAdapter, PerceiverAdapter, QueryAdapter, build_adapter
    from .models.frame_decoder import SimpleFrameDecoder
    from .models.fusion import CrossAttentionFusion, HybridEncoder, HybridEncoderOutput
    from .models.heads import (
        CopyLastFrame,
        LinearExtrapolation,
        MultiFrameHead,
        QueryPredictionHead,
        TemporalTransformerHead,
    )
    from .models.layers import Attention, CrossAttentionBlock, FeedForward, SelfAttentionBlock
    from .models.lora_adapter import LoRAAdapter
    from .models.losses import cosine_loss, info_nce_loss, mse_loss, pixel_l1_loss
    from .pipelines.critic import parse_rating
    from .pipelines.events import Description, Done, Frames, Progress, TextDelta
    from .pipelines.foresight_pipeline import ForesightPipeline
    from .pipelines.named import load_pipeline
    from .pipelines.output import ForesightPipelineOutput, NonFiniteOutputError
    from .pipelines.streaming import ForesightStream
    from .presets import PRESETS, Preset
    from .presets import build as build_preset


# `diffusers.DiffusionPipeline.from_pretrained` finds ForesightPipeline folders once this package is
# imported, without importing diffusers here (see `_diffusers_registry`).
_diffusers_registry.install()


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        module = importlib.import_module(_LAZY_NAMES[name])
        value = getattr(module, "build" if name == "build_preset" else name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
