"""Facts about the upstream checkpoints this library builds on, as plain data.

Every preset names a Hub checkpoint and holds the architecture configuration of that checkpoint, so
that a model of the real size can be built with random weights and no download: on the ``meta``
device to count parameters, on ``cuda`` to benchmark (timing does not depend on weight values).

Example::

    >>> from foresight_models.presets import PRESETS, build
    >>> model = build("qwen2.5-vl-7b", device="meta")
    >>> sum(p.numel() for p in model.parameters())
    8292166656
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from ._validation import check_choice, check_int

__all__ = ["LTX_VIDEO_SCHEDULER_CONFIG", "Preset", "PRESETS", "build", "get_preset", "register_preset"]


@dataclass(frozen=True)
class Preset:
    """One upstream (or library) architecture.

    Attributes:
        name: short name used as the key of :data:`PRESETS`.
        hub_id: the Hub repository holding real weights (``None`` for architectures defined here).
        subfolder: folder inside ``hub_id`` holding this component, if any.
        library: ``"transformers"``, ``"diffusers"``, ``"timm"`` or ``"foresight_models"``.
        class_name: the class to instantiate (``module:Class`` for ``foresight_models``).
        config: keyword arguments of the config (transformers) or of ``__init__`` (diffusers, ours).
        num_parameters: the published parameter count, where one is known.
        description: one line for ``foresight info``.
    """

    name: str
    hub_id: str | None
    library: str
    class_name: str
    config: dict[str, Any] = field(default_factory=dict)
    subfolder: str | None = None
    num_parameters: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        check_choice(self.library, "library", _LIBRARIES)
        if self.num_parameters is not None:
            check_int(self.num_parameters, "num_parameters")


#: The libraries a preset's ``class_name`` can come from.
_LIBRARIES = ("transformers", "diffusers", "timm", "foresight_models")


def _qwen2_5_vl(*, hidden, intermediate, layers, heads, kv_heads, vocab, tie) -> dict[str, Any]:
    return {
        "model_type": "qwen2_5_vl",
        "text_config": {
            "vocab_size": vocab,
            "hidden_size": hidden,
            "intermediate_size": intermediate,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "hidden_act": "silu",
            "max_position_embeddings": 128000,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
            "bos_token_id": 151643,
            "eos_token_id": 151645,
        },
        "vision_config": {
            "depth": 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "in_channels": 3,
            "out_hidden_size": hidden,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [7, 15, 23, 31],
            "tokens_per_second": 2,
            "hidden_act": "silu",
        },
        "image_token_id": 151655,
        "video_token_id": 151656,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
        "tie_word_embeddings": tie,
    }


def _dinov2(*, hidden, layers, heads, swiglu=False) -> dict[str, Any]:
    return {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "mlp_ratio": 4,
        "image_size": 518,
        "patch_size": 14,
        "layerscale_value": 1.0,
        "use_swiglu_ffn": swiglu,
        "layer_norm_eps": 1e-6,
    }


_LTX_TRANSFORMER_2B = {
    "in_channels": 128,
    "out_channels": 128,
    "patch_size": 1,
    "patch_size_t": 1,
    "num_attention_heads": 32,
    "attention_head_dim": 64,
    "cross_attention_dim": 2048,
    "num_layers": 28,
    "activation_fn": "gelu-approximate",
    "qk_norm": "rms_norm_across_heads",
    "norm_elementwise_affine": False,
    "norm_eps": 1e-6,
    "caption_channels": 4096,
    "attention_bias": True,
    "attention_out_bias": True,
}

_LTX_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 128,
    "block_out_channels": [128, 256, 512, 512],
    "decoder_block_out_channels": [128, 256, 512, 512],
    "layers_per_block": [4, 3, 3, 3, 4],
    "decoder_layers_per_block": [4, 3, 3, 3, 4],
    "spatio_temporal_scaling": [True, True, True, False],
    "decoder_spatio_temporal_scaling": [True, True, True, False],
    "decoder_inject_noise": [False, False, False, False, False],
    "upsample_residual": [False, False, False, False],
    "upsample_factor": [1, 1, 1, 1],
    "timestep_conditioning": False,
    "patch_size": 4,
    "patch_size_t": 1,
    "encoder_causal": True,
    "decoder_causal": False,
}

_T5_V1_1_XXL = {
    "vocab_size": 32128,
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "relative_attention_num_buckets": 32,
    "dropout_rate": 0.1,
    "layer_norm_epsilon": 1e-6,
    "feed_forward_proj": "gated-gelu",
    "is_encoder_decoder": True,
    "tie_word_embeddings": False,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
}

PRESETS: dict[str, Preset] = {}
"""Every registered preset by name; filled by :func:`register_preset` (upstream checkpoints and the library's own sizes)."""


#: ``FlowMatchEulerDiscreteScheduler`` arguments of Lightricks/LTX-Video's ``scheduler`` folder (dynamic
#: shifting on the video's sequence length): ``FlowMatchEulerDiscreteScheduler(**LTX_VIDEO_SCHEDULER_CONFIG)``.
LTX_VIDEO_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "shift": 1.0,
    "use_dynamic_shifting": True,
    "base_shift": 0.95,
    "max_shift": 2.05,
    "base_image_seq_len": 1024,
    "max_image_seq_len": 4096,
    "shift_terminal": 0.1,
}


def register_preset(preset: Preset) -> Preset:
    """Add ``preset`` to :data:`PRESETS` (raises if the name is taken) and return it."""
    if not isinstance(preset, Preset):
        raise TypeError(f"preset: expected a Preset, got {type(preset).__name__}")
    if preset.name in PRESETS:
        raise ValueError(f"preset name {preset.name!r} is already registered")
    PRESETS[preset.name] = preset
    return preset


for _preset in (
    Preset(
        name="qwen2.5-vl-3b",
        hub_id="Qwen/Qwen2.5-VL-3B-Instruct",
        library="transformers",
        class_name="Qwen2_5_VLForConditionalGeneration",
        config=_qwen2_5_vl(hidden=2048, intermediate=11008, layers=36, heads=16, kv_heads=2, vocab=151936, tie=True),
        description="Qwen2.5-VL-3B-Instruct vision-language model",
    ),
    Preset(
        name="qwen2.5-vl-7b",
        hub_id="Qwen/Qwen2.5-VL-7B-Instruct",
        library="transformers",
        class_name="Qwen2_5_VLForConditionalGeneration",
        config=_qwen2_5_vl(hidden=3584, intermediate=18944, layers=28, heads=28, kv_heads=4, vocab=152064, tie=False),
        num_parameters=8_292_166_656,
        description="Qwen2.5-VL-7B-Instruct vision-language model",
    ),
    Preset(
        name="dinov2-small",
        hub_id="facebook/dinov2-small",
        library="transformers",
        class_name="Dinov2Model",
        config=_dinov2(hidden=384, layers=12, heads=6),
        description="DINOv2 ViT-S/14",
    ),
    Preset(
        name="dinov2-base",
        hub_id="facebook/dinov2-base",
        library="transformers",
        class_name="Dinov2Model",
        config=_dinov2(hidden=768, layers=12, heads=12),
        description="DINOv2 ViT-B/14",
    ),
    Preset(
        name="dinov2-large",
        hub_id="facebook/dinov2-large",
        library="transformers",
        class_name="Dinov2Model",
        config=_dinov2(hidden=1024, layers=24, heads=16),
        num_parameters=304_368_640,
        description="DINOv2 ViT-L/14 (the hybrid encoder's default spatial backbone)",
    ),
    Preset(
        name="dinov2-giant",
        hub_id="facebook/dinov2-giant",
        library="transformers",
        class_name="Dinov2Model",
        config=_dinov2(hidden=1536, layers=40, heads=24, swiglu=True),
        description="DINOv2 ViT-g/14",
    ),
    Preset(
        name="ltx-video-2b-transformer",
        hub_id="Lightricks/LTX-Video",
        subfolder="transformer",
        library="diffusers",
        class_name="LTXVideoTransformer3DModel",
        config=_LTX_TRANSFORMER_2B,
        num_parameters=1_923_385_472,
        description="LTX-Video 2B denoising transformer",
    ),
    Preset(
        name="ltx-video-vae",
        hub_id="Lightricks/LTX-Video",
        subfolder="vae",
        library="diffusers",
        class_name="AutoencoderKLLTXVideo",
        config=_LTX_VAE,
        description="LTX-Video causal video VAE (32x spatial, 8x temporal compression)",
    ),
    Preset(
        name="t5-v1.1-xxl-encoder",
        hub_id="Lightricks/LTX-Video",
        subfolder="text_encoder",
        library="transformers",
        class_name="T5EncoderModel",
        config=_T5_V1_1_XXL,
        description="T5-v1.1-XXL text encoder (LTX-Video's prompt encoder)",
    ),
):
    register_preset(_preset)


def get_preset(name: str) -> Preset:
    """Return the preset called ``name`` or raise a ``KeyError`` listing the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))}") from None


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _constructor(preset: Preset) -> Callable[[], torch.nn.Module]:
    if preset.library == "transformers":
        import transformers

        model_cls = getattr(transformers, preset.class_name)
        config = model_cls.config_class(**preset.config)
        return lambda: model_cls(config)
    if preset.library == "diffusers":
        import diffusers

        model_cls = getattr(diffusers, preset.class_name)
        return lambda: model_cls(**preset.config)
    if preset.library == "foresight_models":
        module_name, _, class_name = preset.class_name.partition(":")
        model_cls = getattr(importlib.import_module(module_name), class_name)
        return lambda: model_cls(**preset.config)
    raise ValueError(f"preset {preset.name!r} has unknown library {preset.library!r}")


def build(name: str, *, device: str | torch.device = "meta", dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """Build the architecture of preset ``name`` with random weights, without downloading anything.

    Args:
        name: a key of :data:`PRESETS`.
        device: where parameters are created: ``"meta"`` (no memory, for counting), ``"cpu"`` or ``"cuda"``.
        dtype: floating-point dtype of the parameters (e.g. ``torch.bfloat16`` for benchmarks).

    Returns:
        The model in ``eval()`` mode. Weights are random, so outputs are meaningless; shapes, parameter
        counts, memory and speed are those of the real checkpoint.
    """
    preset = get_preset(name)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    construct = _constructor(preset)
    with torch.device(device), _default_dtype(dtype):
        model = construct()
    if any(p.dtype != dtype for p in model.parameters() if p.is_floating_point()):
        model = model.to(dtype=dtype)
    return model.eval()


# Prediction head and frame decoder at the sizes of the pixel-feedback study (docs/research.md):
# Qwen2.5-VL-7B tokens (d=3584) of a 224x224 frame lie on an 8x8 grid after the 2x2 merger.
register_preset(
    Preset(
        name="e3.7-query-prediction-head",
        hub_id=None,
        library="foresight_models",
        class_name="foresight_models.models.heads:QueryPredictionHead",
        config={
            "dim": 3584,
            "depth": 2,
            "heads": 28,
            "dim_head": 128,
            "ff_mult": 3.75,
            "num_frames": 8,
            "max_tokens": 64,
        },
        num_parameters=604_359_168,
        description="QueryPredictionHead at the E3.7 size (~604M) on Qwen2.5-VL-7B tokens",
    )
)
register_preset(
    Preset(
        name="e3.7-simple-frame-decoder",
        hub_id=None,
        library="foresight_models",
        class_name="foresight_models.models.frame_decoder:SimpleFrameDecoder",
        config={
            "dim": 3584,
            "grid": (8, 8),
            "out_size": 224,
            "channels": (2560, 1280, 640, 320, 160),
            "blocks_per_stage": 2,
        },
        num_parameters=362_684_931,
        description="SimpleFrameDecoder at the E3.7 size (~362M): 8x8 Qwen2.5-VL-7B tokens -> 224x224 RGB",
    )
)
