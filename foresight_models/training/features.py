"""Frozen feature extractors shared by the training tasks and the feature cache.

Each extractor is a callable ``batch -> {name: tensor (b, ...)}`` on a collated batch of dataset
items (``"frames"`` uint8 ``(b, t, 3, h, w)``, ``"label"`` list of str, ...), runs without gradients,
and has a :meth:`fingerprint_config` describing everything its output depends on (the configs of
its models and its own settings), which :func:`encoder_fingerprint` hashes. The same object feeds a
task live and :func:`~foresight_models.training.cache.cache_features` once, so cached and live
features are the same numbers.

- :class:`PatchTokenizer`: pixels -> non-overlapping patch tokens (no weights; CPU-sized runs).
- :class:`HybridEncoderFeatures`: a :class:`~foresight_models.models.fusion.HybridEncoder`'s fused /
  spatial / semantic tokens, per frame.
- :class:`VLMHiddenStates`: Qwen2.5-VL hidden states of a clip given as a video.
- :class:`LTXVAELatents`: LTX-Video VAE latents of a clip (unpacked ``(c, f, h, w)``).
- :class:`PromptEmbeddings`: T5 prompt embeddings of the clip's label, as LTX-Video's pipeline makes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .._validation import check_int
from ..inputs import frames_to_float

__all__ = [
    "CombinedFeatures",
    "HybridEncoderFeatures",
    "LTXVAELatents",
    "PatchTokenizer",
    "PromptEmbeddings",
    "VLMHiddenStates",
    "encoder_fingerprint",
    "frames_to_float",
    "model_config",
]


def model_config(model: Any) -> dict[str, Any]:
    """The config of a diffusers ``ConfigMixin`` / transformers ``PreTrainedModel`` (or tokenizer) as a plain dict,
    with its class name; bookkeeping keys that do not change the outputs (versions, paths) are dropped."""
    config = getattr(model, "config", None)
    if config is None and hasattr(model, "init_kwargs"):  # a tokenizer
        data = {k: v for k, v in model.init_kwargs.items() if isinstance(v, (str, int, float, bool, type(None)))}
        data["vocab_size"] = len(model)
    elif config is not None and hasattr(config, "to_dict"):
        data = config.to_dict()
    elif isinstance(config, Mapping):
        data = dict(config)
    else:
        raise TypeError(f"{type(model).__name__} has no config to fingerprint")
    ignored = {"_name_or_path", "_commit_hash", "transformers_version", "_diffusers_version", "name_or_path"}
    data = {k: v for k, v in data.items() if k not in ignored and not k.endswith("_name_or_path")}
    return {"class": type(model).__name__, "config": data}


def encoder_fingerprint(encoder: Any) -> str:
    """A SHA-256 hex digest of what ``encoder``'s features depend on.

    ``encoder`` is one of this module's extractors (its :meth:`fingerprint_config`), a diffusers
    ``ModelMixin`` or a transformers ``PreTrainedModel`` (its config), or a ``dict`` describing it.
    Configs describe architectures, not weights: two checkpoints of one architecture hash alike, so
    pass a ``fingerprint`` of your own to :func:`~foresight_models.training.cache.cache_features`
    when only the weights differ.

    Raises:
        TypeError: ``encoder`` has neither a ``fingerprint_config()`` nor a model config.
    """
    if isinstance(encoder, Mapping):
        description: Any = dict(encoder)
    elif hasattr(encoder, "fingerprint_config"):
        description = encoder.fingerprint_config()
    else:
        try:
            description = model_config(encoder)
        except TypeError:
            raise TypeError(
                f"encoder: cannot fingerprint a {type(encoder).__name__} (it has no fingerprint_config() and no "
                "model config); pass fingerprint='<a string naming the encoder and its weights>'"
            ) from None
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class PatchTokenizer:
    """Pixels to tokens without weights: each frame is cut into non-overlapping ``patch_size`` squares,
    each square flattened to one token of width ``3 * patch_size**2`` with values in ``[0, 1]``.

    ``frames (b, t, 3, h, w) -> tokens (b, t, (h / p) * (w / p), p * p * 3)``, row-major on the
    ``(h / p, w / p)`` grid (``rearrange(x, "b t c (gh p1) (gw p2) -> b t (gh gw) (p1 p2 c)")``).
    With ``size`` set, frames are first resized (bilinear, antialiased) to ``size x size``.

    It lets a prediction head learn motion on :class:`~foresight_models.data.SyntheticMotion` on a
    CPU in seconds (the next frame's patches, given the past ones), with no backbone. As a callable
    feature extractor it returns ``{"tokens": ...}``.

    Args:
        patch_size: side ``p`` of a patch in pixels.
        size: optional square side frames are resized to first; must be divisible by ``patch_size``.
    """

    def __init__(self, *, patch_size: int = 8, size: int | None = None):
        self.patch_size = check_int(patch_size, "patch_size")
        self.size = None if size is None else check_int(size, "size")
        if self.size is not None and self.size % self.patch_size:
            raise ValueError(f"size: expected a multiple of patch_size={self.patch_size}, got {size}")

    @property
    def dim(self) -> int:
        """Token width ``3 * patch_size**2``."""
        return 3 * self.patch_size**2

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """``(gh, gw)`` of a ``height x width`` frame (after the optional resize)."""
        if self.size is not None:
            height = width = self.size
        return height // self.patch_size, width // self.patch_size

    def tokenize(self, frames: torch.Tensor) -> torch.Tensor:
        """``(b, t, 3, h, w)`` uint8 or float in ``[0, 1]`` -> ``(b, t, n, d)`` float32."""
        x = frames_to_float(frames)
        if x.ndim != 5:
            raise ValueError(f"frames: expected shape (b, t, 3, h, w), got {tuple(x.shape)}")
        b = x.shape[0]
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            flat = F.interpolate(x.flatten(0, 1), size=(self.size, self.size), mode="bilinear", antialias=True)
            x = rearrange(flat, "(b t) c h w -> b t c h w", b=b)
        h, w = x.shape[-2:]
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(f"frames: height and width ({h}, {w}) must be multiples of patch_size={p}")
        return rearrange(x, "b t c (gh p1) (gw p2) -> b t (gh gw) (p1 p2 c)", p1=p, p2=p)

    def untokenize(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Inverse of :meth:`tokenize`: ``(..., n, d)`` on ``grid`` -> ``(..., 3, gh * p, gw * p)``."""
        p = self.patch_size
        return rearrange(tokens, "... (gh gw) (p1 p2 c) -> ... c (gh p1) (gw p2)", gh=grid[0], gw=grid[1], p1=p, p2=p)

    def __call__(self, batch: Any) -> Any:
        """A batch dict -> ``{"tokens": tokenize(batch["frames"])}``; a frames tensor -> its tokens."""
        if isinstance(batch, Mapping):
            return {"tokens": self.tokenize(batch["frames"])}
        return self.tokenize(batch)

    def __repr__(self) -> str:
        return f"PatchTokenizer(patch_size={self.patch_size}, size={self.size})"

    def fingerprint_config(self) -> dict[str, Any]:
        return {"class": "PatchTokenizer", "patch_size": self.patch_size, "size": self.size}


class HybridEncoderFeatures:
    """A frozen :class:`~foresight_models.models.fusion.HybridEncoder` as a feature extractor.

    ``batch["frames"] (b, t, 3, h, w)`` -> ``{"tokens": fused (b, t, n, d)}`` and, when asked,
    ``"spatial_tokens" (b, t, n, d_dino)`` and ``"semantic_tokens" (b, t, m, d_qwen)`` (what the
    fusion task needs to train the fusion without running the backbones again).

    Args:
        encoder: the hybrid encoder (its fusion frozen here, as are its backbones).
        outputs: any of ``"tokens"`` (the fused tokens), ``"spatial_tokens"``, ``"semantic_tokens"``.
    """

    OUTPUTS = ("tokens", "spatial_tokens", "semantic_tokens")

    def __init__(self, encoder: nn.Module, *, outputs: Sequence[str] = ("tokens",)):
        from ..models.fusion import HybridEncoder

        if not isinstance(encoder, HybridEncoder):
            raise TypeError(f"encoder: expected a HybridEncoder, got {type(encoder).__name__}")
        outputs = tuple(outputs)
        unknown = [o for o in outputs if o not in self.OUTPUTS]
        if not outputs or unknown:
            raise ValueError(f"outputs: expected a non-empty subset of {list(self.OUTPUTS)}, got {list(outputs)}")
        self.encoder = encoder
        self.outputs = outputs

    @torch.no_grad()
    def __call__(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        out = self.encoder(batch["frames"])
        values = {
            "tokens": out.fused_tokens,
            "spatial_tokens": out.spatial_tokens,
            "semantic_tokens": out.semantic_tokens,
        }
        return {name: values[name] for name in self.outputs}

    def fingerprint_config(self) -> dict[str, Any]:
        enc = self.encoder
        return {
            "class": "HybridEncoderFeatures",
            "outputs": list(self.outputs),
            "hybrid_encoder": model_config(enc),
            "dino": model_config(enc.dino),
            "vlm": model_config(enc.vlm),
        }


class VLMHiddenStates:
    """Qwen2.5-VL hidden states of each clip, the clip given to the VLM as a video with a prompt.

    ``batch["frames"] (b, t, 3, h, w)`` -> ``{"hidden_states": (b, l, d), "attention_mask": (b, l)}``:
    the ``layer`` hidden states of the chat-formatted prompt (the video's tokens and ``prompt``'s),
    left-padded to the longest sequence of the batch (``attention_mask`` 0 on padding). This is what
    the research cached once (about 40 minutes on SSv2) before training adapters on it. Clips of one
    frame count and size give sequences of one length, so cached items stack into batches.

    Args:
        vlm: ``Qwen2_5_VLForConditionalGeneration``.
        processor: its ``Qwen2_5_VLProcessor``.
        layer: index into the hidden states (0 = embeddings, -1 = final, after the norm).
        prompt: the text placed after the video.
    """

    def __init__(self, vlm: nn.Module, processor: Any, *, layer: int = -1, prompt: str = "Describe this video."):
        check_int(layer, "layer", minimum=None)  # an index into the hidden states; negative counts from the end
        self.vlm = vlm.eval()
        self.processor = processor
        self.layer = layer
        self.prompt = prompt

    @torch.no_grad()
    def __call__(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        frames = batch["frames"]
        videos = [clip for clip in frames]
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": self.prompt}]}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        tokenizer = self.processor.tokenizer
        side = tokenizer.padding_side
        tokenizer.padding_side = "left"
        try:
            inputs = self.processor(text=[text] * len(videos), videos=videos, padding=True, return_tensors="pt")
        finally:
            tokenizer.padding_side = side
        device = next(self.vlm.parameters()).device
        inputs = inputs.to(device)
        if "pixel_values_videos" in inputs:
            inputs["pixel_values_videos"] = inputs["pixel_values_videos"].to(self.vlm.dtype)
        out = self.vlm(**inputs, output_hidden_states=True, return_dict=True)
        return {"hidden_states": out.hidden_states[self.layer], "attention_mask": inputs["attention_mask"]}

    def fingerprint_config(self) -> dict[str, Any]:
        return {
            "class": "VLMHiddenStates",
            "vlm": model_config(self.vlm),
            "processor": model_config(self.processor.tokenizer),
            "layer": self.layer,
            "prompt": self.prompt,
        }


class LTXVAELatents:
    """LTX-Video VAE latents of each clip: ``batch["frames"] (b, t, 3, h, w)`` -> ``{"latents": (b, c, f, h', w')}``.

    The latents are *normalised*, in the space the transformer denoises: frames scaled to ``[-1, 1]``
    and encoded to the posterior mode (deterministic, so cached and live latents agree) by
    :func:`~foresight_models.training.flow_matching.encode_ltx_video`, then normalised with the VAE's
    ``latents_mean`` / ``latents_std`` and ``scaling_factor`` by
    :func:`~foresight_models.training.flow_matching.normalize_ltx_latents` (diffusers'
    ``_normalize_latents``). This is the convention of every ``"latents"`` batch entry:
    :class:`~foresight_models.training.ltx.LTXFlowMatchingTask` uses cached latents as they are, so
    training from a latent cache needs no VAE. Latents stay unpacked ``(c, f, h', w')``; ``t`` must be
    ``8k + 1`` frames (``4k + 1`` for the tiny VAE) and ``h, w`` multiples of the VAE's spatial ratio.

    Args:
        vae: ``diffusers.AutoencoderKLLTXVideo``.
    """

    def __init__(self, vae: nn.Module):
        self.vae = vae.eval()

    @torch.no_grad()
    def __call__(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        from .flow_matching import encode_ltx_video, normalize_ltx_latents

        return {"latents": normalize_ltx_latents(encode_ltx_video(self.vae, batch["frames"]), self.vae)}

    def fingerprint_config(self) -> dict[str, Any]:
        return {"class": "LTXVAELatents", "vae": model_config(self.vae)}


class PromptEmbeddings:
    """T5 prompt embeddings of text, as ``LTXImageToVideoPipeline.encode_prompt`` makes them.

    ``texts`` (a list of ``b`` strings, by default the batch's ``"label"``) -> ``{"prompt_embeds": (b, l, d),
    "prompt_attention_mask": (b, l)}``: tokenised with padding to ``max_length`` and truncation,
    encoded by the frozen T5 encoder without a mask (as diffusers does); padding positions keep T5's
    output (the video model masks them with ``prompt_attention_mask``).

    Args:
        text_encoder: ``transformers.T5EncoderModel``.
        tokenizer: its tokenizer.
        max_length: prompt length ``l`` (LTX-Video's default is 128).
        key: the batch entry holding the texts.
    """

    def __init__(self, text_encoder: nn.Module, tokenizer: Any, *, max_length: int = 128, key: str = "label"):
        self.text_encoder = text_encoder.eval()
        self.tokenizer = tokenizer
        self.max_length = check_int(max_length, "max_length")
        self.key = key

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``b`` strings -> ``(prompt_embeds (b, l, d), prompt_attention_mask (b, l))``."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"texts: expected a list of strings, got {texts!r}")
        tokens = self.tokenizer(
            list(texts),
            padding="max_length",
            max_length=self.max_length,
            truncation=True,
            add_special_tokens=True,
            return_tensors="pt",
        )
        device = next(self.text_encoder.parameters()).device
        # As diffusers' LTX pipelines: T5 sees the padded ids without a mask; the video model masks padding.
        embeds = self.text_encoder(tokens.input_ids.to(device)).last_hidden_state
        return embeds, tokens.attention_mask.to(device).bool()

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        if self.key not in batch:
            raise KeyError(f"batch has no {self.key!r} entry to embed (it has {sorted(batch)})")
        embeds, mask = self.encode(batch[self.key])
        return {"prompt_embeds": embeds, "prompt_attention_mask": mask}

    def fingerprint_config(self) -> dict[str, Any]:
        return {
            "class": "PromptEmbeddings",
            "text_encoder": model_config(self.text_encoder),
            "tokenizer": model_config(self.tokenizer),
            "max_length": self.max_length,
            "key": self.key,
        }


class CombinedFeatures:
    """Several extractors as one: ``batch -> {**extractor_0(batch), **extractor_1(batch), ...}``.

    One pass over the data caches, say, an adapter's context tokens and its target prompt embeddings.
    Feature names must not collide.
    """

    def __init__(self, *extractors: Any):
        if len(extractors) < 1 or not all(callable(e) for e in extractors):
            raise TypeError(f"extractors: expected one or more callables batch -> dict of tensors, got {extractors!r}")
        self.extractors = extractors

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for extractor in self.extractors:
            features = extractor(batch)
            if not isinstance(features, Mapping):
                raise TypeError(f"{type(extractor).__name__} returned {type(features).__name__}, expected a dict")
            clash = sorted(set(out) & set(features))
            if clash:
                raise ValueError(f"extractors: feature names {clash} are produced twice")
            out.update(features)
        return out

    def fingerprint_config(self) -> dict[str, Any]:
        return {"class": "CombinedFeatures", "extractors": [encoder_fingerprint(e) for e in self.extractors]}
