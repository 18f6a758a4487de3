"""Config sections -> frozen components, shared by :func:`~foresight_models.training.tasks.build_task` and
``foresight cache``.

Every ``*_spec`` function validates a section first (unknown keys, wrong types and values raise at
once, naming the key) and returns a zero-argument builder that does the heavy work (loading
checkpoints) only when called. Upstream models are named ``"tiny"`` (the offline builders of
:mod:`foresight_models.testing`), a Hub id or a local folder, and load as users load them:
``from_pretrained(name, local_files_only=..., dtype=...)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .._validation import check_bool, check_choice, check_int, check_keys
from .features import (
    HybridEncoderFeatures,
    LTXVAELatents,
    PatchTokenizer,
    PromptEmbeddings,
    VLMHiddenStates,
)

__all__ = [
    "DTYPES",
    "ENCODER_KINDS",
    "LoadOptions",
    "check_name",
    "encoder_spec",
    "hybrid_encoder_spec",
    "load_processor",
    "load_vlm",
    "prompt_spec",
]

#: dtype names a config may give.
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
#: The ``kind`` values of an encoder section.
ENCODER_KINDS = ("patches", "hybrid", "vlm", "ltx_vae", "t5")
# HybridEncoder arguments that make the tiny DINOv2 + tiny Qwen2.5-VL pair work (56 px, width 32).
TINY_HYBRID = {"dino_image_size": 56, "qwen_image_size": 56, "dim": 32, "depth": 1, "heads": 4, "dim_head": 8}


@dataclass(frozen=True)
class LoadOptions:
    """How upstream checkpoints load: ``local_files_only`` and ``dtype`` (``None`` = the checkpoint's)."""

    local_files_only: bool = False
    dtype: torch.dtype | None = None

    @classmethod
    def from_section(cls, section: Mapping[str, Any], where: str) -> LoadOptions:
        """Read ``local_files_only`` (bool) and ``dtype`` (``"float32"``, ``"float16"``, ``"bfloat16"``) of a section."""
        local = check_bool(section.get("local_files_only", False), f"{where}.local_files_only")
        dtype = section.get("dtype")
        return cls(local, None if dtype is None else DTYPES[check_choice(dtype, f"{where}.dtype", tuple(DTYPES))])

    def kwargs(self) -> dict[str, Any]:
        return {"local_files_only": self.local_files_only, "dtype": self.dtype}


def check_name(value: Any, where: str) -> str:
    """A model name: ``"tiny"``, a Hub id or a local folder."""
    if not isinstance(value, str) or not value:
        raise TypeError(f"{where}: expected 'tiny', a Hub id or a local folder, got {value!r}")
    return value


def load_vlm(name: str, options: LoadOptions = LoadOptions()) -> nn.Module:
    """``Qwen2_5_VLForConditionalGeneration``: ``"tiny"`` or ``from_pretrained(name, ...)``."""
    if name == "tiny":
        from ..testing import tiny_qwen2_5_vl

        return tiny_qwen2_5_vl()
    from transformers import Qwen2_5_VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration.from_pretrained(name, use_safetensors=True, **options.kwargs())


def load_processor(name: str, options: LoadOptions = LoadOptions()) -> Any:
    """``Qwen2_5_VLProcessor``: ``"tiny"`` or ``AutoProcessor.from_pretrained(name, ...)``."""
    if name == "tiny":
        from ..testing import tiny_qwen2_5_vl_processor

        return tiny_qwen2_5_vl_processor()
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(name, local_files_only=options.local_files_only)


def hybrid_encoder_spec(spec: Any, where: str, options: LoadOptions) -> Callable[[], nn.Module]:
    """``{"path": folder}`` (a saved ``HybridEncoder``) or ``{"dino": name, "vlm": name, **HybridEncoder arguments}``.

    A new fusion (not loaded from ``path``) is initialised from seed 0, so every process that builds
    the same section (``foresight cache`` and a training run) gets the same fused tokens.
    """
    from ..models.fusion import HybridEncoder

    arguments = [p for p in inspect.signature(HybridEncoder.__init__).parameters if p not in ("self", "dino", "vlm")]
    spec = check_keys(spec, where, ["kind", "outputs", "path", "dino", "vlm", *arguments])
    spec.pop("kind", None)
    spec.pop("outputs", None)
    if "path" in spec:
        if set(spec) != {"path"}:
            extra = sorted(set(spec) - {"path"})
            raise ValueError(f"{where}: 'path' loads a saved HybridEncoder and cannot be combined with {extra}")
        path = spec["path"]
        return lambda: HybridEncoder.from_pretrained(
            path, local_files_only=options.local_files_only, torch_dtype=options.dtype
        )
    if "dino" not in spec or "vlm" not in spec:
        raise ValueError(f"{where}: expected 'path' (a saved HybridEncoder) or both 'dino' and 'vlm'")
    dino_name = check_name(spec.pop("dino"), f"{where}.dino")
    vlm_name = check_name(spec.pop("vlm"), f"{where}.vlm")

    def build() -> nn.Module:
        if dino_name == "tiny":
            from ..testing import tiny_dinov2

            dino = tiny_dinov2()
        else:
            from transformers import AutoModel

            dino = AutoModel.from_pretrained(dino_name, use_safetensors=True, **options.kwargs())
        from ..testing import seeded

        defaults = TINY_HYBRID if dino_name == "tiny" and vlm_name == "tiny" else {}
        vlm = load_vlm(vlm_name, options)
        with seeded(0):  # a new fusion is the same in every process (the cache's and the trainer's)
            return HybridEncoder(dino=dino, vlm=vlm, **{**defaults, **spec})

    return build


def prompt_spec(spec: Any, where: str, options: LoadOptions) -> Callable[[], PromptEmbeddings | None]:
    """``None`` (prompt embeddings come from the cache) or
    ``{"text_encoder": name, "tokenizer": name (default: the encoder's), "max_length": l, "key": "label"}``,
    with ``"subfolder"`` / ``"tokenizer_subfolder"`` for a pipeline repository (LTX-Video's T5 is
    ``{"text_encoder": "Lightricks/LTX-Video", "subfolder": "text_encoder", "tokenizer_subfolder": "tokenizer"}``)."""
    if spec is None:
        return lambda: None
    allowed = ["kind", "text_encoder", "tokenizer", "subfolder", "tokenizer_subfolder", "max_length", "key"]
    spec = check_keys(spec, where, allowed, required=["text_encoder"])
    encoder_name = check_name(spec["text_encoder"], f"{where}.text_encoder")
    tokenizer_name = check_name(spec.get("tokenizer", encoder_name), f"{where}.tokenizer")
    subfolders = {"model": spec.get("subfolder"), "tokenizer": spec.get("tokenizer_subfolder")}
    for name, value in subfolders.items():
        if value is not None and not isinstance(value, str):
            raise TypeError(
                f"{where}.{'subfolder' if name == 'model' else 'tokenizer_subfolder'}: expected a str, got {value!r}"
            )
    max_length = check_int(spec.get("max_length", 128), f"{where}.max_length")
    key = spec.get("key", "label")
    if not isinstance(key, str):
        raise TypeError(f"{where}.key: expected the name of a batch entry, got {key!r}")

    def build() -> PromptEmbeddings:
        from .. import testing

        if encoder_name == "tiny":
            text_encoder = testing.tiny_t5_encoder()
        else:
            from transformers import T5EncoderModel

            text_encoder = T5EncoderModel.from_pretrained(
                encoder_name, subfolder=subfolders["model"] or "", use_safetensors=True, **options.kwargs()
            )
        if tokenizer_name == "tiny":
            tokenizer = testing.tiny_t5_tokenizer()
        else:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(
                tokenizer_name, subfolder=subfolders["tokenizer"] or "", local_files_only=options.local_files_only
            )
        return PromptEmbeddings(text_encoder, tokenizer, max_length=max_length, key=key)

    return build


def encoder_spec(spec: Any, where: str, options: LoadOptions) -> Callable[[], Any]:
    """A frozen feature extractor from its section (``None`` -> ``None``):

    - ``{"kind": "patches", "patch_size": 8, "size": null}``: :class:`PatchTokenizer`;
    - ``{"kind": "hybrid", "dino": name, "vlm": name, ...}`` or ``{"kind": "hybrid", "path": folder}``, with
      ``"outputs"`` (default ``["tokens"]``): :class:`HybridEncoderFeatures`;
    - ``{"kind": "vlm", "model": name, "processor": name, "layer": -1, "prompt": str}``: :class:`VLMHiddenStates`;
    - ``{"kind": "ltx_vae", "model": name}`` (a folder / Hub id of an LTX-Video pipeline, its ``vae``
      subfolder; or a VAE folder): :class:`LTXVAELatents`;
    - ``{"kind": "t5", "text_encoder": name, "tokenizer": name, "max_length": l}``: :class:`PromptEmbeddings`.
    """
    if spec is None:
        return lambda: None
    if not isinstance(spec, Mapping) or "kind" not in spec:
        raise TypeError(f"{where}: expected null or a mapping with 'kind' (one of {list(ENCODER_KINDS)}), got {spec!r}")
    kind = check_choice(spec["kind"], f"{where}.kind", ENCODER_KINDS)
    if kind == "patches":
        spec = check_keys(spec, where, ["kind", "patch_size", "size"])
        tokenizer = PatchTokenizer(patch_size=spec.get("patch_size", 8), size=spec.get("size"))
        return lambda: tokenizer
    if kind == "hybrid":
        outputs = spec.get("outputs", ["tokens"])
        if isinstance(outputs, str) or not all(o in HybridEncoderFeatures.OUTPUTS for o in outputs):
            raise ValueError(
                f"{where}.outputs: expected a list among {list(HybridEncoderFeatures.OUTPUTS)}, got {outputs!r}"
            )
        build = hybrid_encoder_spec(spec, where, options)
        return lambda: HybridEncoderFeatures(build(), outputs=outputs)
    if kind == "t5":
        return prompt_spec(spec, where, options)
    if kind == "ltx_vae":
        spec = check_keys(spec, where, ["kind", "model", "subfolder"], required=["model"])
        model = check_name(spec["model"], f"{where}.model")
        subfolder = spec.get("subfolder", "vae")

        def build_vae() -> LTXVAELatents:
            if model == "tiny":
                from ..testing import tiny_ltx_vae

                return LTXVAELatents(tiny_ltx_vae())
            from diffusers import AutoencoderKLLTXVideo

            vae = AutoencoderKLLTXVideo.from_pretrained(
                model, subfolder=subfolder, local_files_only=options.local_files_only, torch_dtype=options.dtype
            )
            return LTXVAELatents(vae)

        return build_vae
    spec = check_keys(spec, where, ["kind", "model", "processor", "layer", "prompt"], required=["model"])
    model = check_name(spec["model"], f"{where}.model")
    processor = check_name(spec.get("processor", model), f"{where}.processor")
    extra = {k: spec[k] for k in ("layer", "prompt") if k in spec}
    return lambda: VLMHiddenStates(load_vlm(model, options), load_processor(processor, options), **extra)
