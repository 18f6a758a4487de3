"""The training tasks: one :class:`~foresight_models.training.task.TrainingTask` per trainable module.

- :class:`HeadTask`: a prediction head learns the next frame's tokens from ``context_frames`` past ones.
- :class:`AdapterTask`: an adapter learns to turn context tokens into the clip label's T5 prompt embeddings.
- :class:`FrameDecoderTask`: a :class:`~foresight_models.models.frame_decoder.SimpleFrameDecoder` learns
  to turn tokens back into the frame.
- :class:`FusionTask`: the hybrid encoder's fusion and a frame decoder learn together to reconstruct frames.
- :class:`VLMTask`: Qwen2.5-VL is fine-tuned (fully or through a LoRA) on question/answer pairs about clips.

Every task reads a batch dict (collated dataset items). Features come from the cache when the batch
holds them (``"tokens"``, ``"prompt_embeds"`` ...; see :class:`~foresight_models.training.cache.CachedFeatures`)
and are otherwise computed by the task's frozen encoder from ``"frames"`` (and ``"label"``), so the
same data and seed give the same losses either way. A task can be driven by the library's trainer
or by a plain loop::

    task = HeadTask(head, context_frames=3)
    optimizer = torch.optim.AdamW(task.trainable_parameters(), lr=1e-3)
    for batch in loader:
        loss = task.loss(batch)["loss"]
        optimizer.zero_grad(); loss.backward(); optimizer.step()

:func:`build_task` builds a task from a config section (``{"name": "head", ...}``); :data:`TASKS`
maps each name to its builder.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .._validation import check_bool, check_choice, check_int, check_keys, check_real
from .features import (
    HybridEncoderFeatures,
    PatchTokenizer,
    PromptEmbeddings,
    VLMHiddenStates,
    frames_to_float,
)
from .specs import (
    LoadOptions,
    check_name,
    encoder_spec,
    hybrid_encoder_spec,
    load_processor,
    load_vlm,
    prompt_spec,
)
from .task import TrainingTask

__all__ = [
    "DESCRIBE_QUESTION",
    "PREDICT_QUESTION",
    "TASKS",
    "AdapterTask",
    "FrameDecoderTask",
    "FusionTask",
    "HeadTask",
    "VLMTask",
    "VLM_QUESTION_SOURCES",
    "VideoQADataset",
    "build_task",
    "pipeline_qa_samples",
    "video_qa_pairs",
]

DESCRIBE_QUESTION = "What happens in this video?"
PREDICT_QUESTION = "What will happen next?"


# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------


def _as_extractor(encoder: Any, what: str) -> tuple[Callable[[Mapping[str, Any]], Any], nn.Module | None]:
    """A ``batch -> features`` callable for ``encoder``, and the module to register (frozen) on the task."""
    from ..models.fusion import HybridEncoder

    if encoder is None:
        return PatchTokenizer(), None
    if isinstance(encoder, HybridEncoder):
        return HybridEncoderFeatures(encoder), encoder.requires_grad_(False).eval()
    if isinstance(encoder, HybridEncoderFeatures):
        return encoder, encoder.encoder.requires_grad_(False).eval()
    if isinstance(encoder, VLMHiddenStates):
        return encoder, encoder.vlm.requires_grad_(False)
    if isinstance(encoder, nn.Module):  # a module frames -> tokens

        def extract(batch: Mapping[str, Any]) -> torch.Tensor:
            return encoder(batch["frames"])

        return extract, encoder.requires_grad_(False).eval()
    if callable(encoder):
        return encoder, None
    raise TypeError(
        f"{what}: expected None, a HybridEncoder, a feature extractor or a callable, got {type(encoder).__name__}"
    )


def _features(
    batch: Mapping[str, Any], keys: Sequence[str], extractor: Callable[..., Any], what: str
) -> dict[str, Any]:
    """``batch[keys]`` when cached, else the frozen extractor's outputs on the batch (no gradient)."""
    if all(key in batch for key in keys):
        return {key: batch[key] for key in keys}
    if "frames" not in batch:
        raise KeyError(f"batch: {what} needs {list(keys)} (cached) or 'frames'; it has {sorted(batch)}")
    with torch.no_grad():
        out = extractor(batch)
    if isinstance(out, torch.Tensor):
        out = {keys[0]: out}
    missing = [key for key in keys if key not in out]
    if missing:
        raise KeyError(f"{what}: the encoder returned {sorted(out)}, without {missing}")
    return {key: out[key] for key in keys}


def _module_dtype_device(module: nn.Module) -> tuple[torch.dtype, torch.device]:
    parameter = next(module.parameters())
    return parameter.dtype, parameter.device


def _resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(b, 3, h, w)`` float -> ``(b, 3, *size)`` (bilinear, antialiased) when the size differs."""
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    return F.interpolate(frames, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


# --------------------------------------------------------------------------------------------------
# Prediction heads
# --------------------------------------------------------------------------------------------------


def _info_nce(pred: torch.Tensor, target: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    from ..models.losses import info_nce_loss

    return info_nce_loss(pred, target, negatives=context[:, -1:])


def _mse(pred: torch.Tensor, target: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    from ..models.losses import mse_loss

    return mse_loss(pred, target)


def _cosine(pred: torch.Tensor, target: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    from ..models.losses import cosine_loss

    return cosine_loss(pred, target)


#: Losses of :class:`HeadTask`: ``fn(predicted (b, n, d), target (b, n, d), context (b, t, n, d)) -> scalar``.
HEAD_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": _mse,
    "cosine": _cosine,
    "info_nce": _info_nce,  # the last context frame is each sample's hard negative
}


class _FrozenModulesEval(TrainingTask):
    """A task whose frozen modules (named in ``frozen``) stay in ``eval()`` when the task trains."""

    frozen: tuple[str, ...] = ()

    def train(self, mode: bool = True):
        super().train(mode)
        for name in self.frozen:
            module = getattr(self, name, None)
            if isinstance(module, nn.Module):
                module.eval()
        return self


class HeadTask(_FrozenModulesEval):
    """Next-frame prediction: ``head(tokens[:, :context_frames]) -> tokens[:, context_frames]``.

    Tokens ``(b, t, n, d)`` (``t > context_frames``) are the batch's cached ``"tokens"``, or the frozen
    ``encoder``'s tokens of ``"frames" (b, t, 3, h, w)``. With ``encoder=None`` frames are cut into
    pixel patches (:class:`~foresight_models.training.features.PatchTokenizer`, 8x8 patches of
    width 192), which lets a head learn :class:`~foresight_models.data.SyntheticMotion` on a CPU.

    Args:
        head: a prediction head ``(b, t, n, d) -> (b, n, d)`` (``QueryPredictionHead`` ...).
        encoder: ``None`` (pixel patches), a :class:`~foresight_models.models.fusion.HybridEncoder`
            (its fused tokens), a feature extractor ``batch -> {"tokens": ...}``, or a module
            ``frames -> tokens``. It is frozen and runs without gradients.
        context_frames: frames the head sees.
        loss: ``"mse"``, ``"cosine"`` or ``"info_nce"`` (the last context frame as hard negative).

    Attributes:
        features: the callable ``batch -> {"tokens": ...}`` used when the batch has no cached tokens
            (pass it to :func:`~foresight_models.training.cache.cache_features` to cache exactly these).
        encoder: the frozen module behind it (``None`` for pixel patches), registered so that
            ``task.to(device)`` moves it.
    """

    frozen = ("encoder",)

    def __init__(self, head: nn.Module, encoder: Any = None, *, context_frames: int, loss: str = "mse"):
        super().__init__()
        if not isinstance(head, nn.Module):
            raise TypeError(f"head: expected an nn.Module prediction head, got {type(head).__name__}")
        self.head = head
        self.context_frames = check_int(context_frames, "context_frames")
        self.loss_name = check_choice(loss, "loss", tuple(HEAD_LOSSES))
        self.features, self.encoder = _as_extractor(encoder, "encoder")
        self.trainable = {"head": head}

    def context_and_target(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(context (b, context_frames, n, d), target (b, n, d))`` of a batch."""
        tokens = _features(batch, ("tokens",), self.features, "HeadTask")["tokens"]
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 4:
            shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(f"batch['tokens']: expected (b, t, n, d) per-frame tokens, got {shape}")
        if tokens.shape[1] <= self.context_frames:
            raise ValueError(
                f"batch: clips of t={tokens.shape[1]} frames leave no target after context_frames={self.context_frames}"
            )
        dtype, device = _module_dtype_device(self.head)
        tokens = tokens.to(device=device, dtype=dtype)
        return tokens[:, : self.context_frames], tokens[:, self.context_frames]

    def loss(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``{"loss": scalar}`` of the head's prediction against the next frame's tokens."""
        context, target = self.context_and_target(batch)
        return {"loss": HEAD_LOSSES[self.loss_name](self.head(context), target, context)}

    @torch.no_grad()
    def evaluate(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """The head's loss and cosine similarity, and those of ``CopyLastFrame`` on the same batch.

        Keys: ``loss``, ``copy_loss``, ``cosine``, ``copy_cosine`` (mean per-sample cosine similarity of
        the tokens, :func:`foresight_models.metrics.cosine_similarity`).
        """
        from ..metrics import cosine_similarity
        from ..models.heads import CopyLastFrame

        context, target = self.context_and_target(batch)
        loss = HEAD_LOSSES[self.loss_name]
        predicted = self.head(context)
        copied = CopyLastFrame()(context)
        return {
            "loss": float(loss(predicted, target, context)),
            "copy_loss": float(loss(copied, target, context)),
            "cosine": float(cosine_similarity(predicted.float(), target.float()).mean()),
            "copy_cosine": float(cosine_similarity(copied.float(), target.float()).mean()),
        }


# --------------------------------------------------------------------------------------------------
# Adapters
# --------------------------------------------------------------------------------------------------


def _masked_token_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class AdapterTask(_FrozenModulesEval):
    """The bridging objective without LTX-Video: an adapter maps a clip's context tokens to the T5
    prompt embeddings of the clip's label, the conditioning LTX-Video was trained on.

    Context tokens are the batch's cached ``"tokens" (b, t, n, d_in)`` (the first ``context_frames``
    frames are flattened to ``(b, t * n, d_in)``) or ``"hidden_states" (b, l, d_in)`` with its
    ``"attention_mask"``, else they come from the frozen ``source`` applied to ``"frames"``. Targets are
    the cached ``"prompt_embeds" (b, l, d_out)`` + ``"prompt_attention_mask" (b, l)``, else ``target``
    (a :class:`~foresight_models.training.features.PromptEmbeddings`) applied to ``"label"``. With
    LTX-Video in the loop, the flow-matching task ``"ltx"`` with target ``"adapter"`` replaces this
    objective.

    Losses (adapter tokens ``(b, k, d_out)``, output mask ``(b, k)``):

    - ``"mse"``: token-by-token mean squared error over the prompt's real tokens; needs the adapter's
      ``num_tokens`` ``k`` to equal the prompt length ``l``, so token ``i`` of the adapter stands in for
      prompt token ``i`` (what the video model's cross-attention then reads in its place).
    - ``"pooled_cosine"``: ``1 - cos`` of the masked mean tokens; any ``k``; matches the prompt's overall
      direction only.

    Args:
        adapter: an adapter ``(tokens (b, n, d_in), mask) -> AdapterOutput(tokens (b, k, d_out), mask)``.
        source: context-token extractor for raw frames (``None``: pixel patches, as :class:`HeadTask`).
        target: a :class:`~foresight_models.training.features.PromptEmbeddings`, or ``None`` (cached only).
        context_frames: frames whose tokens the adapter reads (default: all).
        loss: ``"mse"`` or ``"pooled_cosine"``.
    """

    frozen = ("source_encoder", "text_encoder")

    def __init__(
        self,
        adapter: nn.Module,
        *,
        source: Any = None,
        target: PromptEmbeddings | None = None,
        context_frames: int | None = None,
        loss: str = "mse",
    ):
        super().__init__()
        if not isinstance(adapter, nn.Module):
            raise TypeError(f"adapter: expected an nn.Module adapter, got {type(adapter).__name__}")
        if target is not None and not isinstance(target, PromptEmbeddings):
            raise TypeError(f"target: expected None or a PromptEmbeddings, got {type(target).__name__}")
        self.adapter = adapter
        self.source_features, self.source_encoder = _as_extractor(source, "source")
        self.prompt_embeddings = target
        self.text_encoder = None if target is None else target.text_encoder.requires_grad_(False)
        self.context_frames = None if context_frames is None else check_int(context_frames, "context_frames")
        self.loss_name = check_choice(loss, "loss", ("mse", "pooled_cosine"))
        self.trainable = {"adapter": adapter}

    def inputs(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Context tokens ``(b, n, d_in)`` and their mask ``(b, n)`` (or ``None``) of a batch."""
        if "hidden_states" in batch:
            tokens, mask = batch["hidden_states"], batch.get("attention_mask")
        elif "tokens" in batch:
            tokens, mask = batch["tokens"], None
        elif "frames" in batch:
            with torch.no_grad():
                out = self.source_features(batch)
            if isinstance(out, torch.Tensor):
                tokens, mask = out, None
            elif "hidden_states" in out:
                tokens, mask = out["hidden_states"], out.get("attention_mask")
            else:
                tokens, mask = out["tokens"], None
        else:
            raise KeyError(
                f"batch: AdapterTask needs cached 'tokens' or 'hidden_states', or 'frames'; it has {sorted(batch)}"
            )
        if tokens.ndim == 4:
            if self.context_frames is not None:
                if tokens.shape[1] < self.context_frames:
                    raise ValueError(
                        f"batch: clips of t={tokens.shape[1]} frames are shorter than context_frames={self.context_frames}"
                    )
                tokens = tokens[:, : self.context_frames]
            tokens = rearrange(tokens, "b t n d -> b (t n) d")
        dtype, device = _module_dtype_device(self.adapter)
        tokens = tokens.to(device=device, dtype=dtype)
        return tokens, None if mask is None else mask.to(device=device).bool()

    def targets(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(prompt_embeds (b, l, d_out), prompt_attention_mask (b, l))`` of a batch."""
        keys = ("prompt_embeds", "prompt_attention_mask")
        if all(key in batch for key in keys):
            embeds, mask = batch["prompt_embeds"], batch["prompt_attention_mask"]
        elif self.prompt_embeddings is None:
            raise KeyError(
                f"batch: AdapterTask needs cached {list(keys)} or a target text encoder; the batch has {sorted(batch)}"
            )
        else:
            embeds, mask = self.prompt_embeddings.encode(batch[self.prompt_embeddings.key])
        dtype, device = _module_dtype_device(self.adapter)
        return embeds.to(device=device, dtype=dtype), mask.to(device=device).bool()

    def _loss(self, tokens: torch.Tensor, out_mask: torch.Tensor, embeds: torch.Tensor, mask: torch.Tensor):
        if self.loss_name == "pooled_cosine":
            pooled = _masked_token_mean(tokens, out_mask)
            return 1.0 - F.cosine_similarity(pooled, _masked_token_mean(embeds, mask), dim=-1).mean()
        if tokens.shape[1] != embeds.shape[1]:
            raise ValueError(
                f"loss='mse' matches tokens one to one, but the adapter gives k={tokens.shape[1]} tokens "
                f"(num_tokens) and the prompts have l={embeds.shape[1]} (max_length); make them equal or use "
                "loss='pooled_cosine'"
            )
        if tokens.shape[-1] != embeds.shape[-1]:
            raise ValueError(f"the adapter's d_out={tokens.shape[-1]} differs from the prompt width {embeds.shape[-1]}")
        real = mask & out_mask
        return (tokens - embeds).pow(2).mean(-1)[real].mean()

    def loss(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``{"loss": scalar}`` between the adapter's tokens and the label's prompt embeddings."""
        tokens, mask = self.inputs(batch)
        out = self.adapter(tokens, mask)
        embeds, prompt_mask = self.targets(batch)
        return {"loss": self._loss(out.tokens, out.mask, embeds, prompt_mask)}

    @torch.no_grad()
    def evaluate(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """``loss`` and ``pooled_cosine`` (cosine similarity of the mean adapter and prompt tokens)."""
        tokens, mask = self.inputs(batch)
        out = self.adapter(tokens, mask)
        embeds, prompt_mask = self.targets(batch)
        pooled = F.cosine_similarity(
            _masked_token_mean(out.tokens, out.mask), _masked_token_mean(embeds, prompt_mask), dim=-1
        )
        return {
            "loss": float(self._loss(out.tokens, out.mask, embeds, prompt_mask)),
            "pooled_cosine": float(pooled.mean()),
        }


# --------------------------------------------------------------------------------------------------
# Frame decoder and hybrid-encoder fusion
# --------------------------------------------------------------------------------------------------


def _reconstruction_loss(
    decoder: nn.Module, tokens: torch.Tensor, frames: torch.Tensor, lpips_weight: float, lpips_network: Any
) -> dict[str, torch.Tensor]:
    """Decode ``tokens ((b t), n, d)`` and compare with ``frames ((b t), 3, h, w)`` in [0, 1]."""
    from ..models.losses import pixel_l1_loss

    decoded = decoder(tokens)
    target = _resize_frames(frames.to(decoded.dtype), tuple(decoded.shape[-2:]))
    l1 = pixel_l1_loss(decoded, target)
    if lpips_weight == 0:
        return {"loss": l1, "pixel_l1": l1.detach()}
    perceptual = lpips_network.to(decoded.device)(decoded.float(), target.float(), normalize=True).mean()
    return {"loss": l1 + lpips_weight * perceptual, "pixel_l1": l1.detach(), "lpips": perceptual.detach()}


def _check_lpips(lpips_weight: float, lpips_network: Any) -> float:
    lpips_weight = check_real(lpips_weight, "lpips_weight", minimum=0.0)
    if lpips_weight > 0 and lpips_network is None:
        raise ValueError(
            "lpips_network: lpips_weight > 0 needs a network from foresight_models.metrics.load_lpips_network"
        )
    if lpips_network is not None:
        lpips_network.requires_grad_(False).eval()
    return lpips_weight


class FrameDecoderTask(_FrozenModulesEval):
    """A frame decoder learns ``tokens (n, d) on a grid -> frame (3, H, W)``: pixel L1 (+ LPIPS).

    Every frame of a clip is a sample: tokens ``(b, t, n, d)`` (cached ``"tokens"`` or the frozen
    ``encoder``'s, pixel patches by default) are decoded frame by frame and compared with
    ``"frames" (b, t, 3, h, w)`` resized to the decoder's ``out_size``.

    Args:
        decoder: a :class:`~foresight_models.models.frame_decoder.SimpleFrameDecoder` whose ``grid`` is
            the tokens' grid.
        encoder: as in :class:`HeadTask`.
        lpips_weight: weight of the LPIPS term (``0``: pixel L1 only).
        lpips_network: the LPIPS network (``foresight_models.metrics.load_lpips_network()``), needed
            when ``lpips_weight > 0``; frozen.
    """

    frozen = ("encoder", "lpips_network")

    def __init__(
        self, decoder: nn.Module, encoder: Any = None, *, lpips_weight: float = 0.0, lpips_network: Any = None
    ):
        super().__init__()
        if not isinstance(decoder, nn.Module):
            raise TypeError(f"decoder: expected an nn.Module frame decoder, got {type(decoder).__name__}")
        self.decoder = decoder
        self.features, self.encoder = _as_extractor(encoder, "encoder")
        self.lpips_weight = _check_lpips(lpips_weight, lpips_network)
        self.lpips_network = lpips_network
        self.trainable = {"decoder": decoder}

    def loss(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``{"loss", "pixel_l1"[, "lpips"]}`` of the decoded frames."""
        if "frames" not in batch:
            raise KeyError(f"batch: FrameDecoderTask needs 'frames' (the targets); it has {sorted(batch)}")
        tokens = _features(batch, ("tokens",), self.features, "FrameDecoderTask")["tokens"]
        frames = frames_to_float(batch["frames"])
        if tokens.ndim == 3:  # one frame per sample
            tokens = tokens[:, None]
        if frames.ndim == 4:
            frames = frames[:, None]
        if tokens.shape[:2] != frames.shape[:2]:
            raise ValueError(f"batch: tokens {tuple(tokens.shape)} and frames {tuple(frames.shape)} disagree on (b, t)")
        dtype, device = _module_dtype_device(self.decoder)
        tokens = rearrange(tokens, "b t n d -> (b t) n d").to(device=device, dtype=dtype)
        frames = rearrange(frames, "b t c h w -> (b t) c h w").to(device)
        return _reconstruction_loss(self.decoder, tokens, frames, self.lpips_weight, self.lpips_network)


class FusionTask(_FrozenModulesEval):
    """Train a :class:`~foresight_models.models.fusion.HybridEncoder`'s fusion, with a frame decoder that
    reconstructs each frame from the fused tokens (pixel L1, + LPIPS). The backbones stay frozen.

    The backbones' tokens are the batch's cached ``"spatial_tokens" (b, t, n, d_dino)`` and
    ``"semantic_tokens" (b, t, m, d_qwen)`` (``HybridEncoderFeatures(encoder, outputs=("spatial_tokens",
    "semantic_tokens"))``), or are computed from ``"frames"``; only the fusion and the decoder learn.

    Args:
        hybrid_encoder: the encoder; its ``fusion`` is trained.
        decoder: a ``SimpleFrameDecoder`` on the encoder's ``grid`` with ``dim`` = the fusion width.
        lpips_weight, lpips_network: as in :class:`FrameDecoderTask`.

    :meth:`save_pretrained` writes ``hybrid_encoder/`` (the fusion and a config naming the backbones)
    and ``decoder/``.
    """

    frozen = ("lpips_network",)  # the hybrid encoder keeps its own backbones in eval()

    def __init__(
        self, hybrid_encoder: nn.Module, decoder: nn.Module, *, lpips_weight: float = 0.0, lpips_network: Any = None
    ):
        super().__init__()
        from ..models.fusion import HybridEncoder

        if not isinstance(hybrid_encoder, HybridEncoder):
            raise TypeError(f"hybrid_encoder: expected a HybridEncoder, got {type(hybrid_encoder).__name__}")
        if not isinstance(decoder, nn.Module):
            raise TypeError(f"decoder: expected an nn.Module frame decoder, got {type(decoder).__name__}")
        self.hybrid_encoder = hybrid_encoder
        hybrid_encoder.dino.requires_grad_(False)
        hybrid_encoder.vlm.requires_grad_(False)
        hybrid_encoder.fusion.requires_grad_(True)
        self.decoder = decoder
        self.lpips_weight = _check_lpips(lpips_weight, lpips_network)
        self.lpips_network = lpips_network
        self.trainable = {"fusion": hybrid_encoder.fusion, "decoder": decoder}

    def fused_tokens(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Fused tokens ``((b t), n, dim)`` of a batch, with gradients through the fusion only."""
        fusion = self.hybrid_encoder.fusion
        dtype, device = _module_dtype_device(fusion)
        if "spatial_tokens" in batch and "semantic_tokens" in batch:
            spatial = rearrange(batch["spatial_tokens"], "b t n d -> (b t) n d").to(device=device, dtype=dtype)
            semantic = rearrange(batch["semantic_tokens"], "b t m d -> (b t) m d").to(device=device, dtype=dtype)
            return fusion(spatial, semantic)
        if "frames" not in batch:
            raise KeyError(
                f"batch: FusionTask needs 'frames' or cached spatial/semantic tokens; it has {sorted(batch)}"
            )
        fused = self.hybrid_encoder(batch["frames"]).fused_tokens  # the backbones run under no_grad
        return rearrange(fused, "b t n d -> (b t) n d")

    def loss(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``{"loss", "pixel_l1"[, "lpips"]}`` of the frames decoded from the fused tokens."""
        if "frames" not in batch:
            raise KeyError(f"batch: FusionTask needs 'frames' (the targets); it has {sorted(batch)}")
        tokens = self.fused_tokens(batch)
        frames = frames_to_float(batch["frames"])
        frames = rearrange(frames, "b t c h w -> (b t) c h w").to(tokens.device)
        dtype = _module_dtype_device(self.decoder)[0]
        return _reconstruction_loss(self.decoder, tokens.to(dtype), frames, self.lpips_weight, self.lpips_network)

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write ``hybrid_encoder/`` (``HybridEncoder.save_pretrained``: fusion weights only) and ``decoder/``."""
        self.hybrid_encoder.save_pretrained(os.path.join(os.fspath(directory), "hybrid_encoder"))
        self.decoder.save_pretrained(os.path.join(os.fspath(directory), "decoder"))


# --------------------------------------------------------------------------------------------------
# VLM question answering
# --------------------------------------------------------------------------------------------------


def video_qa_pairs(item: Mapping[str, Any], *, context_frames: int | None = None) -> list[dict[str, Any]]:
    """Question/answer pairs about one clip (a ``SyntheticMotion`` / ``SomethingSomethingV2`` item).

    - ``DESCRIBE_QUESTION`` ("What happens in this video?") on every frame -> the clip's label.
    - ``PREDICT_QUESTION`` ("What will happen next?") on the first ``context_frames`` frames -> the
      label (only when ``context_frames`` is given).

    Returns dicts with ``"id"`` (``"<id>/describe"``, ``"<id>/predict"``), ``"frames"`` uint8
    ``(t, 3, h, w)``, ``"question"``, ``"answer"`` and ``"label"``.
    """
    for key in ("frames", "label"):
        if key not in item:
            raise KeyError(f"item: expected a clip with 'frames' and 'label', it has {sorted(item)}")
    frames, label, clip_id = item["frames"], item["label"], str(item.get("id", ""))
    pairs = [
        {"id": f"{clip_id}/describe", "frames": frames, "question": DESCRIBE_QUESTION, "answer": label, "label": label}
    ]
    if context_frames is not None:
        context_frames = check_int(context_frames, "context_frames")
        if context_frames >= frames.shape[0]:
            raise ValueError(
                f"context_frames: expected fewer than the clip's {frames.shape[0]} frames, got {context_frames}"
            )
        pairs.append(
            {
                "id": f"{clip_id}/predict",
                "frames": frames[:context_frames],
                "question": PREDICT_QUESTION,
                "answer": label,
                "label": label,
            }
        )
    return pairs


class VideoQADataset(torch.utils.data.Dataset):
    """The :func:`video_qa_pairs` of every clip of ``dataset``, as a dataset (``len(dataset) * pairs per clip``).

    Batch it with :func:`foresight_models.data.collate_clips` (clips of different lengths stay a list).
    """

    def __init__(self, dataset: torch.utils.data.Dataset, *, context_frames: int | None = None):
        self.dataset = dataset
        self.context_frames = None if context_frames is None else check_int(context_frames, "context_frames")
        self.per_clip = 1 if context_frames is None else 2

    def __len__(self) -> int:
        return len(self.dataset) * self.per_clip

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"index: {index} is out of range for {len(self)} question/answer pairs")
        pairs = video_qa_pairs(self.dataset[index // self.per_clip], context_frames=self.context_frames)
        return pairs[index % self.per_clip]


#: Where a :class:`VLMTask`'s questions come from: the batch, or the pipeline's two questions about each clip.
VLM_QUESTION_SOURCES = ("batch", "pipeline")


def pipeline_qa_samples(
    item: Mapping[str, Any], *, max_description_frames: int = 8, context_as_video: bool = False
) -> list[tuple[str, list[Any], str, str]]:
    """The two questions ``ForesightPipeline`` asks, about one clip cut into ``context`` and ``video``
    (a :class:`~foresight_models.data.ForesightClips` item), each answered by the clip's label.

    - the motion prompt: the ``context`` images (PIL) with ``MOTION_PROMPT_INSTRUCTION``, as separate
      images or, with ``context_as_video``, as one video (the pipeline's ``context_as_video``);
    - the description: ``video`` sampled as the pipeline samples it (at most ``max_description_frames``
      frames, first and last kept) with ``DEFAULT_QUESTION``.

    Returns ``(kind, visuals, question, answer)`` tuples, ``kind`` being ``"image"`` or ``"video"``.
    """
    from ..inputs import frames_to_float, to_pil_images
    from ..pipelines.foresight_pipeline import DEFAULT_QUESTION, MOTION_PROMPT_INSTRUCTION
    from ..pipelines.frames import sample_frames

    for key in ("context", "video", "label"):
        if key not in item:
            raise KeyError(
                f"batch: questions='pipeline' needs clips cut into 'context' and 'video' (data.clips) with a "
                f"'label'; the batch has {sorted(item)}"
            )

    def images(frames: torch.Tensor, name: str) -> list[Any]:
        # uint8 frames go to PIL as they are; float frames are checked to lie in [0, 1] first
        return to_pil_images(frames if frames.dtype == torch.uint8 else frames_to_float(frames, name=name))

    context = images(item["context"], "context")
    video = images(sample_frames(item["video"], max_description_frames), "video")
    label = item["label"]
    context_kind = "video" if context_as_video else "image"
    return [(context_kind, context, MOTION_PROMPT_INSTRUCTION, label), ("video", video, DEFAULT_QUESTION, label)]


class VLMTask(TrainingTask):
    """Fine-tune Qwen2.5-VL to answer questions about clips: causal-LM cross-entropy on the answer only.

    Each sample is the chat ``user: <video> question`` / ``assistant: answer<|im_end|>``; the prompt
    (system turn, video tokens, question, assistant header) is masked with ``-100`` in the labels, so
    only the answer tokens and the closing ``<|im_end|>`` are supervised. Batch keys: ``"frames"``
    (``(b, t, 3, h, w)`` uint8, or a list of ``(t_i, 3, h, w)``), ``"question"`` and ``"answer"`` (lists of str).

    With ``questions="pipeline"`` the batch holds clips cut into ``"context"`` and ``"video"`` (a
    :class:`~foresight_models.data.ForesightClips` dataset) with their ``"label"``, and each clip gives
    the two samples of :func:`pipeline_qa_samples`: what the pipeline asks to write the motion prompt
    (the context as images, or as one video with ``context_as_video``) and to describe a clip (the
    video), both answered by the label.

    Args:
        vlm: ``Qwen2_5_VLForConditionalGeneration``.
        processor: its ``Qwen2_5_VLProcessor``.
        lora: ``None`` to fine-tune every weight; a :class:`~foresight_models.models.lora_adapter.LoRAAdapter`
            (attached here) or a ``peft.LoraConfig`` to train LoRA parameters only.
        questions: ``"batch"`` or ``"pipeline"`` (:data:`VLM_QUESTION_SOURCES`).
        context_as_video: with ``questions="pipeline"``, ask for the motion prompt with the context as one
            video, as a ``ForesightPipeline(context_as_video=True)`` asks.

    Raises:
        ValueError: ``context_as_video`` without ``questions="pipeline"`` (batch questions bring their own clips).
    """

    def __init__(
        self,
        vlm: nn.Module,
        processor: Any,
        *,
        lora: Any = None,
        questions: str = "batch",
        context_as_video: bool = False,
    ):
        super().__init__()
        from ..models.lora_adapter import LoRAAdapter

        self.questions = check_choice(questions, "questions", VLM_QUESTION_SOURCES)
        self.context_as_video = check_bool(context_as_video, "context_as_video")
        if self.context_as_video and self.questions != "pipeline":
            raise ValueError(
                f"context_as_video: True needs questions='pipeline' (the context is the pipeline's), got "
                f"questions={self.questions!r}"
            )
        self.processor = processor
        self.lora_adapter = None
        if lora is None:
            model = vlm.requires_grad_(True)
        elif isinstance(lora, LoRAAdapter):
            model = lora.attach(vlm)
            self.lora_adapter = lora
        else:
            from peft import PeftConfig, get_peft_model

            if not isinstance(lora, PeftConfig):
                raise TypeError(f"lora: expected None, a LoRAAdapter or a peft.LoraConfig, got {type(lora).__name__}")
            model = get_peft_model(vlm, lora)
        self.vlm = model
        self.is_lora = lora is not None
        self.trainable = {"vlm": model}

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """Every VLM weight (full fine-tuning) or only the LoRA weights."""
        for name, parameter in self.vlm.named_parameters():
            if parameter.requires_grad and (not self.is_lora or "lora_" in name):
                yield parameter

    def samples(self, batch: Mapping[str, Any]) -> list[tuple[str, Any, str, str]]:
        """The batch as ``(kind, visuals, question, answer)`` samples (``kind``: ``"image"`` or ``"video"``)."""
        if self.questions == "pipeline":
            keys = [key for key in ("context", "video", "label") if key in batch]
            size = len(batch["label"]) if "label" in batch else 0
            items = [{key: batch[key][i] for key in keys} for i in range(size)]
            return [
                sample for item in items for sample in pipeline_qa_samples(item, context_as_video=self.context_as_video)
            ]
        frames, questions, answers = batch.get("frames"), batch.get("question"), batch.get("answer")
        if frames is None or questions is None or answers is None:
            raise KeyError(f"batch: VLMTask needs 'frames', 'question' and 'answer'; it has {sorted(batch)}")
        clips = list(frames)
        if not (len(clips) == len(questions) == len(answers)):
            raise ValueError(f"batch: {len(clips)} clips, {len(questions)} questions and {len(answers)} answers")
        return [("video", clip, question, answer) for clip, question, answer in zip(clips, questions, answers)]

    def collate(self, items: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Dataset items -> the model's inputs on the CPU (the trainer runs this in its DataLoader workers,
        so the processor's image work overlaps the training steps)."""
        from ..data.datasets import collate_clips

        if self.questions == "pipeline":  # only what the questions read (not the clips' masks)
            items = [{key: item[key] for key in ("context", "video", "label") if key in item} for item in items]
        return self.build_inputs(collate_clips(list(items)), to_model=False)

    def build_inputs(self, batch: Mapping[str, Any], *, to_model: bool = True) -> dict[str, torch.Tensor]:
        """Processor inputs for the batch plus ``labels`` (``-100`` on the prompt and padding), right-padded;
        on the VLM's device and in its dtype unless ``to_model=False``."""
        from ..pipelines.foresight_pipeline import vlm_question

        tokenizer = self.processor.tokenizer
        end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        samples: list[dict[str, torch.Tensor]] = []
        vision: list[dict[str, Any]] = []
        for kind, visuals, question, answer in self.samples(batch):
            content, media = vlm_question(kind, visuals, question)
            messages = [{"role": "user", "content": content}]
            prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            inputs = self.processor(text=[prompt], return_tensors="pt", **media)
            answer_ids = tokenizer(answer, add_special_tokens=False, return_tensors="pt").input_ids[0]
            answer_ids = torch.cat([answer_ids, torch.tensor([end])])
            prompt_ids = inputs.pop("input_ids")[0]
            inputs.pop("attention_mask")
            per_token = {  # token-aligned extras (mm_token_type_ids): the answer tokens are text, 0
                key: torch.cat([value[0], value.new_zeros(len(answer_ids))])
                for key, value in inputs.items()
                if isinstance(value, torch.Tensor) and tuple(value.shape) == (1, len(prompt_ids))
            }
            extras = {key: value for key, value in inputs.items() if key not in per_token}
            ids = torch.cat([prompt_ids, answer_ids])
            labels = torch.cat([torch.full_like(prompt_ids, -100), answer_ids])
            samples.append({"input_ids": ids, "labels": labels, "attention_mask": torch.ones_like(ids), **per_token})
            vision.append(extras)
        length = max(len(sample["input_ids"]) for sample in samples)
        padding = {"input_ids": tokenizer.pad_token_id, "labels": -100}
        out: dict[str, Any] = {
            key: torch.stack(
                [F.pad(sample[key], (0, length - len(sample[key])), value=padding.get(key, 0)) for sample in samples]
            )
            for key in samples[0]
        }
        # pixel_values(_videos), image/video_grid_thw, second_per_grid_ts: concatenated over the samples having them
        for key in dict.fromkeys(key for extra in vision for key in extra):
            values = [extra[key] for extra in vision if key in extra]
            out[key] = torch.cat(values) if isinstance(values[0], torch.Tensor) else [v for vs in values for v in vs]
        return self.to_model(out) if to_model else out

    def to_model(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """``inputs`` on the VLM's device, floating tensors in its dtype."""
        dtype, device = _module_dtype_device(self.vlm)
        return {
            key: value.to(device=device, dtype=dtype if value.is_floating_point() else None)
            if isinstance(value, torch.Tensor)
            else value
            for key, value in inputs.items()
        }

    def loss(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``{"loss": mean cross-entropy over the answer tokens}`` of a batch of items, or of inputs
        already built by :meth:`collate`."""
        inputs = self.to_model(batch) if "input_ids" in batch else self.build_inputs(batch)
        return {"loss": self.vlm(**inputs, use_cache=False).loss}

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Full fine-tuning: ``vlm/`` (model + processor); LoRA: the LoRA in peft's format (a
        ``LoRAAdapter`` saves as ``lora_adapter/``, its projection beside it)."""
        directory = os.fspath(directory)
        if self.lora_adapter is not None:
            self.lora_adapter.save_pretrained(os.path.join(directory, "lora_adapter"))
            return
        target = os.path.join(directory, "vlm")
        self.vlm.save_pretrained(target)
        if not self.is_lora:
            self.processor.save_pretrained(target)


# --------------------------------------------------------------------------------------------------
# build_task: tasks from config sections
# --------------------------------------------------------------------------------------------------

#: Our trainable classes a config may name with ``{"class": ..., **kwargs}``, by slot.
MODULE_CLASSES: dict[str, dict[str, str]] = {
    "head": {
        "QueryPredictionHead": "foresight_models.models.heads",
        "MultiFrameHead": "foresight_models.models.heads",
        "TemporalTransformerHead": "foresight_models.models.heads",
    },
    "adapter": {
        "QueryAdapter": "foresight_models.models.adapters",
        "BottleneckAdapter": "foresight_models.models.adapters",
        "PerceiverAdapter": "foresight_models.models.adapters",
    },
    "decoder": {"SimpleFrameDecoder": "foresight_models.models.frame_decoder"},
}


def _module_spec(spec: Any, slot: str, where: str) -> Callable[[], nn.Module]:
    """Validate ``{"class": name, **kwargs}`` or a saved folder for ``slot``; return its builder."""
    classes = MODULE_CLASSES[slot]
    if isinstance(spec, (str, os.PathLike)):
        folder = os.fspath(spec)
        config_file = os.path.join(folder, "config.json")
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"{where}: {folder!r} is not a saved module folder (no config.json)")
        class_name = json.loads(open(config_file, encoding="utf-8").read()).get("_class_name")
        if class_name not in classes:
            raise ValueError(f"{where}: {config_file} holds a {class_name!r}; expected one of {sorted(classes)}")
        cls = getattr(importlib.import_module(classes[class_name]), class_name)
        return lambda: cls.from_pretrained(folder)
    if not isinstance(spec, Mapping) or "class" not in spec:
        raise TypeError(
            f"{where}: expected {{'class': <one of {sorted(classes)}>, ...arguments}} or a saved folder, got {spec!r}"
        )
    kwargs = dict(spec)
    class_name = kwargs.pop("class")
    if class_name not in classes:
        raise ValueError(f"{where}.class: unknown class {class_name!r}; expected one of {sorted(classes)}")
    cls = getattr(importlib.import_module(classes[class_name]), class_name)
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown argument(s) {unknown} for {class_name}; allowed: {sorted(allowed)}")
    return lambda: cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})


def _lpips_spec(spec: Any, where: str) -> Callable[[], tuple[float, Any]]:
    if spec is None:
        return lambda: (0.0, None)
    spec = check_keys(spec, where, allowed=["weight", "net", "backbone_weights"], required=["weight"])
    weight = check_real(spec["weight"], f"{where}.weight", minimum=0.0)
    net = check_choice(spec.get("net", "alex"), f"{where}.net", ("alex", "vgg"))

    def build() -> tuple[float, Any]:
        from ..metrics.image import load_lpips_network

        return weight, load_lpips_network(net, backbone_weights=spec.get("backbone_weights"))

    return build


_COMMON = ("name", "local_files_only", "dtype")


def build_head_task(section: Mapping[str, Any]) -> HeadTask:
    """``{"name": "head", "head": {...} | folder, "context_frames": int, "encoder": spec | null, "loss": str}``."""
    section = check_keys(
        section,
        "task",
        allowed=[*_COMMON, "head", "encoder", "context_frames", "loss"],
        required=["head", "context_frames"],
    )
    loader = LoadOptions.from_section(section, "task")
    head = _module_spec(section["head"], "head", "task.head")
    encoder = encoder_spec(section.get("encoder"), "task.encoder", loader)
    context_frames = check_int(section["context_frames"], "task.context_frames")
    loss = check_choice(section.get("loss", "mse"), "task.loss", tuple(HEAD_LOSSES))
    return HeadTask(head(), encoder(), context_frames=context_frames, loss=loss)


def build_adapter_task(section: Mapping[str, Any]) -> AdapterTask:
    """``{"name": "adapter", "adapter": {...} | folder, "source": spec | null, "target": prompt spec | null, ...}``."""
    section = check_keys(
        section,
        "task",
        allowed=[*_COMMON, "adapter", "source", "target", "context_frames", "loss"],
        required=["adapter"],
    )
    loader = LoadOptions.from_section(section, "task")
    adapter = _module_spec(section["adapter"], "adapter", "task.adapter")
    source = encoder_spec(section.get("source"), "task.source", loader)
    target = prompt_spec(section.get("target"), "task.target", loader)
    context_frames = section.get("context_frames")
    if context_frames is not None:
        check_int(context_frames, "task.context_frames")
    loss = check_choice(section.get("loss", "mse"), "task.loss", ("mse", "pooled_cosine"))
    return AdapterTask(adapter(), source=source(), target=target(), context_frames=context_frames, loss=loss)


def build_frame_decoder_task(section: Mapping[str, Any]) -> FrameDecoderTask:
    """``{"name": "frame_decoder", "decoder": {...} | folder, "encoder": spec | null, "lpips": {...} | null}``."""
    section = check_keys(section, "task", allowed=[*_COMMON, "decoder", "encoder", "lpips"], required=["decoder"])
    loader = LoadOptions.from_section(section, "task")
    decoder = _module_spec(section["decoder"], "decoder", "task.decoder")
    encoder = encoder_spec(section.get("encoder"), "task.encoder", loader)
    lpips = _lpips_spec(section.get("lpips"), "task.lpips")
    weight, network = lpips()
    return FrameDecoderTask(decoder(), encoder(), lpips_weight=weight, lpips_network=network)


def build_fusion_task(section: Mapping[str, Any]) -> FusionTask:
    """``{"name": "fusion", "hybrid_encoder": {"dino", "vlm", ...} | {"path"}, "decoder": {...}, "lpips": ...}``."""
    section = check_keys(
        section,
        "task",
        allowed=[*_COMMON, "hybrid_encoder", "decoder", "lpips"],
        required=["hybrid_encoder", "decoder"],
    )
    loader = LoadOptions.from_section(section, "task")
    hybrid = hybrid_encoder_spec(section["hybrid_encoder"], "task.hybrid_encoder", loader)
    decoder = _module_spec(section["decoder"], "decoder", "task.decoder")
    lpips = _lpips_spec(section.get("lpips"), "task.lpips")
    weight, network = lpips()
    return FusionTask(hybrid(), decoder(), lpips_weight=weight, lpips_network=network)


def build_vlm_task(section: Mapping[str, Any]) -> VLMTask:
    """``{"name": "vlm", "model": name, "processor": name, "lora": null | {"r", "lora_alpha", "lora_dropout",
    "target_modules"}, "questions": "batch" | "pipeline", "context_as_video": bool}`` (see :class:`VLMTask`)."""
    section = check_keys(
        section,
        "task",
        allowed=[*_COMMON, "model", "processor", "lora", "questions", "context_as_video"],
        required=["model"],
    )
    questions = check_choice(section.get("questions", "batch"), "task.questions", VLM_QUESTION_SOURCES)
    context_as_video = check_bool(section.get("context_as_video", False), "task.context_as_video")
    if context_as_video and questions != "pipeline":
        raise ValueError(
            f"task.context_as_video: true needs task.questions: pipeline, got task.questions: {questions!r}"
        )
    loader = LoadOptions.from_section(section, "task")
    model = check_name(section["model"], "task.model")
    processor = check_name(section.get("processor", model), "task.processor")
    lora = section.get("lora")
    if lora is not None:
        lora = check_keys(lora, "task.lora", allowed=["r", "lora_alpha", "lora_dropout", "target_modules"])
        targets = lora.get("target_modules", ["q_proj", "v_proj"])
        if isinstance(targets, str) or not targets or not all(isinstance(t, str) and t for t in targets):
            raise ValueError(f"task.lora.target_modules: expected a non-empty list of module names, got {targets!r}")
        options = {
            "r": check_int(lora.get("r", 8), "task.lora.r"),
            "lora_alpha": check_real(
                lora.get("lora_alpha", 16), "task.lora.lora_alpha", minimum=0.0, min_inclusive=False
            ),
            "lora_dropout": check_real(
                lora.get("lora_dropout", 0.0), "task.lora.lora_dropout", minimum=0.0, maximum=1.0, max_inclusive=False
            ),
            # whole name components inside the language model (never the vision tower)
            "target_modules": rf"(.*\.)?language_model\.(.*\.)?({'|'.join(re.escape(t) for t in targets)})",
        }
    vlm = load_vlm(model, loader)
    config = None
    if lora is not None:
        from peft import LoraConfig

        from ..models.lora_adapter import LoRAAdapter

        if LoRAAdapter.lora_parameters_per_rank(vlm, options["target_modules"]) == 0:
            raise ValueError(
                f"task.lora.target_modules: {targets} match no linear layer of the language model of {model!r}"
            )
        config = LoraConfig(bias="none", **options)
    return VLMTask(
        vlm, load_processor(processor, loader), lora=config, questions=questions, context_as_video=context_as_video
    )


def build_vae_task(section: Mapping[str, Any]) -> TrainingTask:
    """LTX-Video VAE reconstruction (:func:`foresight_models.training.vae.build_vae_task`), imported on use."""
    from .vae import build_vae_task as build

    return build(section)


def build_ltx_task(section: Mapping[str, Any]) -> TrainingTask:
    """LTX-Video flow matching (:func:`foresight_models.training.ltx.build_ltx_task`), imported on use."""
    from .ltx import build_ltx_task as build

    return build(section)


#: Task name (the config's ``task.name``) -> builder ``section -> TrainingTask``.
TASKS: dict[str, Callable[[Mapping[str, Any]], TrainingTask]] = {
    "head": build_head_task,
    "adapter": build_adapter_task,
    "frame_decoder": build_frame_decoder_task,
    "fusion": build_fusion_task,
    "vlm": build_vlm_task,
    "vae": build_vae_task,
    "ltx": build_ltx_task,
}


def build_task(section: Mapping[str, Any]) -> TrainingTask:
    """Build the task a config's ``task`` section describes (``section["name"]`` picks it in :data:`TASKS`).

    Components are named as in the config: our modules as ``{"class": "QueryPredictionHead", **kwargs}``
    or a folder saved with ``save_pretrained``; upstream models as ``"tiny"`` (the offline test builders
    of :mod:`foresight_models.testing`), a Hub id or a local folder, loaded with
    ``from_pretrained(..., local_files_only=section["local_files_only"], dtype=section["dtype"])``.

    Raises:
        ValueError: an unknown task name, key, class or argument, or a bad value (before any model loads).
        TypeError: a value of the wrong type.
    """
    if not isinstance(section, Mapping):
        raise TypeError(f"task: expected a mapping with a 'name', got {type(section).__name__}")
    if "name" not in section:
        raise ValueError(f"task: missing 'name'; expected one of {sorted(TASKS)}")
    name = check_choice(section["name"], "task.name", tuple(TASKS))
    return TASKS[name](section)
