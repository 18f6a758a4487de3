"""Condition a stock diffusers ``LTXVideoTransformer3DModel`` on adapter tokens, removably.

Two strategies, both installed as hooks on an unmodified transformer (no fork or copy of its blocks)
and removed leaving it exactly as it was:

- ``mode="cross_attention"`` (default): decoupled cross-attention, IP-Adapter style. Adapter tokens
  ``(b, k, caption_channels)`` pass through the transformer's own ``caption_projection``; for every
  block, extra key/value projections (an :class:`LTXConditioningAdapter`, initialised from that
  block's cross-attention key/value weights) attend from the block's cross-attention queries, and the
  block's cross-attention output gains ``strength * to_out(attention(q, k_adapter, v_adapter))``
  (the output projection without its bias, i.e. ``to_out(a + strength * b)`` as in IP-Adapter).
  Only the video tokens of the chosen latent frames receive it.
- ``mode="prompt"``: the adapter tokens are appended to (or replace) the T5 prompt embeddings the
  transformer receives; ``strength`` becomes a ``log(strength)`` bias on the attention logits of the
  adapter tokens, and frames other than the chosen ones cannot see them.

Video tokens are in the transformer's order, frame-major then height then width: token
``f * (h * w) + y * w + x`` is latent frame ``f``, row ``y``, column ``x``. The latent geometry is read
from the ``num_frames``/``height``/``width`` keyword arguments the LTX pipelines pass to the
transformer on every call, and checked against the token count.

Example::

    >>> with ltx_conditioning(pipe.transformer, adapter_tokens, frames="first", strength=0.5):
    ...     video = pipe(image=image, prompt=prompt, generator=generator).frames
"""

from __future__ import annotations

import contextlib
import inspect
import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from einops import rearrange
from torch import nn

from ._validation import check_bool, check_choice, check_int, check_real
from .hub import ComponentHubMixin
from .models.modeling import ForesightModelMixin, ModelMixin  # noqa: F401 (see modeling.py)

if TYPE_CHECKING:
    from diffusers import LTXVideoTransformer3DModel

__all__ = [
    "LTXConditioningAdapter",
    "LTXConditioningHooks",
    "install_ltx_conditioning",
    "ltx_conditioning",
    "normalize_strength",
    "video_token_mask",
]

FrameSelection = Literal["first", "all"] | Sequence[int]
StrengthSchedule = float | Sequence[float] | Callable[[int], float]

_MODES = ("cross_attention", "prompt")
_UNCONDITIONAL = ("none", "same")
_PROMPT_MERGE = ("append", "replace")
# Additive attention bias LTX-Video itself uses for masked prompt tokens.
_MASKED_BIAS = -10000.0

# transformer -> its installed hooks (weak, so a dropped transformer frees its entry)
_INSTALLED: weakref.WeakKeyDictionary[nn.Module, LTXConditioningHooks] = weakref.WeakKeyDictionary()


# --------------------------------------------------------------------------------------------------
# trainable part
# --------------------------------------------------------------------------------------------------


class _AdapterKeyValue(nn.Module):
    """Extra key/value projections of one block: context ``(b, k, c)`` -> keys, values ``(b, k, h*d)``."""

    def __init__(self, *, context_dim: int, inner_dim: int, bias: bool, norm_eps: float):
        super().__init__()
        self.to_k = nn.Linear(context_dim, inner_dim, bias=bias)
        self.to_v = nn.Linear(context_dim, inner_dim, bias=bias)
        self.norm_k = nn.RMSNorm(inner_dim, eps=norm_eps, elementwise_affine=True)

    def forward(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.norm_k(self.to_k(context)), self.to_v(context)


class LTXConditioningAdapter(ComponentHubMixin, ForesightModelMixin, ConfigMixin):
    """Per-block key/value projections for decoupled cross-attention into an LTX-Video transformer.

    Block ``i`` owns ``layers[i]``: ``to_k``, ``to_v`` (``cross_attention_dim -> heads * head_dim``) and
    ``norm_k`` (RMSNorm across heads, as the block's own cross-attention keys). Inputs are adapter
    tokens after the transformer's caption projection, ``(b, k, cross_attention_dim)``; outputs keys
    and values ``(b, k, heads * head_dim)``. Build one for a transformer with :meth:`from_transformer`.

    Args:
        num_layers: number of transformer blocks.
        num_attention_heads: attention heads of the blocks' cross-attention.
        attention_head_dim: channels per head.
        cross_attention_dim: width of the projected caption tokens (the transformer's inner width).
        caption_channels: width of the adapter tokens before the caption projection (4096 for LTX-Video).
        attention_bias: whether the key/value projections have a bias (as the transformer's).
        norm_eps: epsilon of the key RMSNorm.
    """

    @register_to_config
    def __init__(
        self,
        *,
        num_layers: int,
        num_attention_heads: int,
        attention_head_dim: int,
        cross_attention_dim: int,
        caption_channels: int,
        attention_bias: bool = True,
        norm_eps: float = 1e-5,
    ):
        super().__init__()
        for name, value in (
            ("num_layers", num_layers),
            ("num_attention_heads", num_attention_heads),
            ("attention_head_dim", attention_head_dim),
            ("cross_attention_dim", cross_attention_dim),
            ("caption_channels", caption_channels),
        ):
            check_int(value, name, plain=True)
        check_bool(attention_bias, "attention_bias")
        check_real(norm_eps, "norm_eps", minimum=0.0, min_inclusive=False)
        inner_dim = num_attention_heads * attention_head_dim
        self.layers = nn.ModuleList(
            _AdapterKeyValue(
                context_dim=cross_attention_dim, inner_dim=inner_dim, bias=attention_bias, norm_eps=norm_eps
            )
            for _ in range(num_layers)
        )

    @classmethod
    def from_transformer(
        cls,
        transformer: LTXVideoTransformer3DModel,
        *,
        init: Literal["copy", "random"] = "copy",
        dtype: torch.dtype | None = None,
    ) -> LTXConditioningAdapter:
        """An adapter sized for ``transformer``, on its device.

        Args:
            transformer: a diffusers ``LTXVideoTransformer3DModel``.
            init: ``"copy"`` (IP-Adapter initialisation) copies every block's ``attn2`` key/value
                projections and key norm; ``"random"`` keeps PyTorch's default initialisation.
            dtype: parameter dtype; defaults to the transformer's.
        """
        _check_transformer(transformer)
        check_choice(init, "init", ("copy", "random"))
        config = transformer.config
        conditioning = cls(
            num_layers=len(transformer.transformer_blocks),
            num_attention_heads=config.num_attention_heads,
            attention_head_dim=config.attention_head_dim,
            cross_attention_dim=config.num_attention_heads * config.attention_head_dim,
            caption_channels=config.caption_channels,
            attention_bias=config.attention_bias,
        )
        if init == "copy":
            with torch.no_grad():
                for layer, block in zip(conditioning.layers, transformer.transformer_blocks):
                    layer.to_k.weight.copy_(block.attn2.to_k.weight)
                    layer.to_v.weight.copy_(block.attn2.to_v.weight)
                    if layer.to_k.bias is not None:
                        layer.to_k.bias.copy_(block.attn2.to_k.bias)
                        layer.to_v.bias.copy_(block.attn2.to_v.bias)
                    layer.norm_k.weight.copy_(block.attn2.norm_k.weight)
        conditioning = conditioning.to(transformer.device)
        dtype = dtype or transformer.dtype
        return conditioning if conditioning.dtype == dtype else conditioning.to(dtype)

    def forward(self, context: torch.Tensor, *, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values ``(b, k, heads * head_dim)`` of block ``layer`` from context ``(b, k, cross_attention_dim)``."""
        return self.layers[layer](context)


# --------------------------------------------------------------------------------------------------
# token geometry
# --------------------------------------------------------------------------------------------------


def _normalize_frames(frames: FrameSelection) -> tuple[int, ...] | None:
    """``None`` for all frames, else the sorted latent-frame indices."""
    if isinstance(frames, str):
        if frames == "first":
            return (0,)
        if frames == "all":
            return None
        raise ValueError(f"frames must be 'first', 'all' or a list of latent-frame indices, got {frames!r}")
    if not isinstance(frames, Sequence):
        raise TypeError(f"frames must be 'first', 'all' or a list of latent-frame indices, got {frames!r}")
    if len(frames) == 0:
        raise ValueError(f"frames must be 'first', 'all' or a non-empty list of latent-frame indices, got {frames!r}")
    for i, index in enumerate(frames):
        check_int(index, f"frames[{i}] (a latent-frame index)", minimum=0)
    if len(set(frames)) != len(frames):
        raise ValueError(f"frames must not repeat an index, got {list(frames)!r}")
    return tuple(sorted(int(index) for index in frames))


def video_token_mask(frames: FrameSelection, *, num_frames: int, height: int, width: int) -> torch.Tensor:
    """Which video tokens of an LTX transformer belong to the chosen latent frames.

    Args:
        frames: ``"first"``, ``"all"`` or a list of latent-frame indices.
        num_frames, height, width: latent geometry as the pipeline passes it to the transformer.

    Returns:
        bool ``(num_frames * height * width,)`` in the transformer's token order (frame-major, then
        height, then width); True = token of a chosen frame.

    Raises:
        TypeError: ``frames`` or a size of the wrong type.
        ValueError: for an index outside ``0..num_frames - 1`` or an invalid ``frames``.
    """
    for name, value in (("num_frames", num_frames), ("height", height), ("width", width)):
        check_int(value, name)
    chosen = _normalize_frames(frames)
    if chosen is None:
        return torch.ones(num_frames * height * width, dtype=torch.bool)
    if chosen[-1] >= num_frames:
        raise ValueError(
            f"frames index {chosen[-1]} is out of range for a video of {num_frames} latent frames "
            f"(valid indices 0..{num_frames - 1})"
        )
    per_frame = torch.zeros(num_frames, dtype=torch.bool)
    per_frame[list(chosen)] = True
    return per_frame.repeat_interleave(height * width)


def normalize_strength(strength: StrengthSchedule) -> StrengthSchedule:
    """``strength`` checked: a float ``>= 0``, a non-empty tuple of them (one per denoising step), or a callable."""
    if callable(strength):
        return strength
    if isinstance(strength, Sequence) and not isinstance(strength, str):
        if len(strength) == 0:
            raise ValueError("strength schedule must have at least one value, got an empty sequence")
        return tuple(_check_strength_value(value, name="strength schedule value") for value in strength)
    return _check_strength_value(strength, name="strength")


def _check_strength_value(value: Any, *, name: str = "strength") -> float:
    """A strength (or one value of a schedule): a finite real number ``>= 0``."""
    return check_real(value, name, minimum=0.0)


# --------------------------------------------------------------------------------------------------
# hooks
# --------------------------------------------------------------------------------------------------


def _check_transformer(transformer: Any) -> None:
    from diffusers import LTXVideoTransformer3DModel

    if not isinstance(transformer, LTXVideoTransformer3DModel):
        hint = " (pass pipe.transformer)" if hasattr(transformer, "transformer") else ""
        raise TypeError(
            f"transformer must be a diffusers LTXVideoTransformer3DModel, got {type(transformer).__name__}{hint}"
        )


def _tokens_and_mask(
    adapter_tokens: Any, mask: torch.Tensor | None, *, caption_channels: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validate ``(b, k, caption_channels)`` tokens (or an object with ``.tokens``/``.mask``) and a bool ``(b, k)`` mask."""
    if not isinstance(adapter_tokens, torch.Tensor) and hasattr(adapter_tokens, "tokens"):
        if mask is not None and getattr(adapter_tokens, "mask", None) is not None:
            raise ValueError("mask was given twice: as the mask argument and as adapter_tokens.mask; pass one")
        mask = mask if mask is not None else getattr(adapter_tokens, "mask", None)
        adapter_tokens = adapter_tokens.tokens
    if not isinstance(adapter_tokens, torch.Tensor):
        raise TypeError(
            "adapter_tokens must be a tensor (b, k, caption_channels) or an adapter output with .tokens and "
            f".mask, got {type(adapter_tokens).__name__}"
        )
    if adapter_tokens.ndim != 3 or adapter_tokens.shape[0] < 1 or adapter_tokens.shape[1] < 1:
        raise ValueError(
            f"adapter_tokens must have shape (b, k, {caption_channels}), got {tuple(adapter_tokens.shape)}"
        )
    if adapter_tokens.shape[-1] != caption_channels:
        raise ValueError(
            f"adapter_tokens must have the transformer's caption width {caption_channels} "
            f"(transformer.config.caption_channels) as last dimension, got shape {tuple(adapter_tokens.shape)}"
        )
    if not adapter_tokens.is_floating_point():
        raise TypeError(f"adapter_tokens must be a floating-point tensor, got dtype {adapter_tokens.dtype}")
    if adapter_tokens.device != device:
        raise ValueError(
            f"adapter_tokens are on {adapter_tokens.device} but the transformer is on {device}; move them first"
        )
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise TypeError(
                f"mask must be a bool tensor (b, k) with True = real token, got {type(mask).__name__} "
                f"{getattr(mask, 'dtype', '')}"
            )
        if tuple(mask.shape) != tuple(adapter_tokens.shape[:2]):
            raise ValueError(f"mask must have shape {tuple(adapter_tokens.shape[:2])} (b, k), got {tuple(mask.shape)}")
        if mask.device != device:
            raise ValueError(f"mask is on {mask.device} but the transformer is on {device}; move it first")
        if not bool(mask.any(dim=1).all()):
            raise ValueError("mask must keep at least one real token in every row")
    return adapter_tokens, mask


@dataclass
class _Call:
    """What one transformer forward needs from the hooks (computed once, read by every block)."""

    rows: torch.Tensor | None  # batch rows that receive conditioning (None = all)
    tokens: torch.Tensor | None  # video-token indices that receive it (None = all)
    strength: float
    context: torch.Tensor | None = None  # (b_rows, k, inner) projected adapter tokens
    key_mask: torch.Tensor | None = None  # (b_rows, k) bool


class _ConditionedAttnProcessor:
    """Wraps a block's ``attn2`` processor: runs it unchanged, then adds the adapter attention."""

    def __init__(self, hooks: LTXConditioningHooks, layer: int, original: Any):
        self.hooks = hooks
        self.layer = layer
        self.original = original

    def __call__(
        self,
        attn: nn.Module,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        out = self.original(attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb)
        call = self.hooks._call
        if call is None:
            return out
        b, n, _ = hidden_states.shape
        rows = call.rows if call.rows is not None else torch.arange(b, device=out.device)
        tokens = call.tokens if call.tokens is not None else torch.arange(n, device=out.device)
        index = (rows[:, None], tokens[None, :])
        # only the conditioned tokens are projected: their queries are exactly the block's own
        query = attn.norm_q(attn.to_q(hidden_states[index]))
        key, value = self.hooks.conditioning(call.context, layer=self.layer)
        query = rearrange(query, "b m (h d) -> b h m d", h=attn.heads)
        key = rearrange(key.to(query.dtype), "b k (h d) -> b h k d", h=attn.heads)
        value = rearrange(value.to(query.dtype), "b k (h d) -> b h k d", h=attn.heads)
        key_mask = None if call.key_mask is None else call.key_mask[:, None, None, :]
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=key_mask)
        attended = rearrange(attended, "b h m d -> b m (h d)")
        delta = F.linear(attended, attn.to_out[0].weight) * call.strength
        return out.index_put(index, out[index] + delta.to(out.dtype))


class LTXConditioningHooks:
    """Adapter-token conditioning installed on one LTX transformer; made by :func:`install_ltx_conditioning`.

    Attributes:
        transformer: the hooked transformer.
        conditioning: the :class:`LTXConditioningAdapter` in use (``None`` with ``mode="prompt"``).
        step: index of the current denoising step (with a strength schedule), else ``None``.
    """

    def __init__(
        self,
        transformer: LTXVideoTransformer3DModel,
        *,
        conditioning: LTXConditioningAdapter | None,
        frames: tuple[int, ...] | None,
        strength: StrengthSchedule,
        mode: str,
        unconditional: str,
        prompt_merge: str,
    ):
        self.transformer = transformer
        self.conditioning = conditioning
        self.frames = frames
        self.strength = strength
        self.mode = mode
        self.unconditional = unconditional
        self.prompt_merge = prompt_merge
        self.step: int | None = None
        self.tokens: torch.Tensor | None = None
        self.mask: torch.Tensor | None = None
        self._call: _Call | None = None
        self._last_timestep: float | None = None
        self._originals: list[Any] = []
        self._handles: list[Any] = []
        self._signature = inspect.signature(transformer.forward)

    # -- public -------------------------------------------------------------------------------------

    @property
    def installed(self) -> bool:
        return bool(self._handles)

    def set_tokens(self, adapter_tokens: Any, mask: torch.Tensor | None = None) -> None:
        """Replace the adapter tokens ``(b, k, caption_channels)`` (+ optional bool mask ``(b, k)``)."""
        self.tokens, self.mask = _tokens_and_mask(
            adapter_tokens,
            mask,
            caption_channels=self.transformer.config.caption_channels,
            device=self.transformer.device,
        )

    def remove(self) -> None:
        """Restore the transformer's own ``attn2`` processors and drop the hooks (idempotent)."""
        for block, original in zip(self.transformer.transformer_blocks, self._originals):
            block.attn2.set_processor(original)
        for handle in self._handles:
            handle.remove()
        self._originals, self._handles, self._call = [], [], None
        if _INSTALLED.get(self.transformer) is self:
            del _INSTALLED[self.transformer]

    # -- internals ----------------------------------------------------------------------------------

    def _install(self) -> None:
        if self.mode == "cross_attention":
            for layer, block in enumerate(self.transformer.transformer_blocks):
                original = block.attn2.processor
                self._originals.append(original)
                block.attn2.set_processor(_ConditionedAttnProcessor(self, layer, original))
        self._handles.append(self.transformer.register_forward_pre_hook(self._pre_forward, with_kwargs=True))
        _INSTALLED[self.transformer] = self

    def _current_strength(self, timestep: torch.Tensor | None) -> float:
        if isinstance(self.strength, float):
            return self.strength
        if timestep is None:
            raise ValueError("a strength schedule needs the timestep passed to the transformer")
        # Denoising steps run at strictly decreasing timesteps: a larger one starts a new run, an equal
        # one is the same step (e.g. guidance branches evaluated separately).
        current = float(timestep.max())
        if self._last_timestep is None or current > self._last_timestep:
            self.step = 0
        elif current < self._last_timestep:
            self.step += 1
        self._last_timestep = current
        if callable(self.strength):
            return _check_strength_value(self.strength(self.step), name=f"strength({self.step})")
        if self.step >= len(self.strength):
            raise ValueError(
                f"strength schedule has {len(self.strength)} values but denoising step {self.step} was reached; "
                "give one value per inference step"
            )
        return self.strength[self.step]

    def _geometry(self, arguments: dict[str, Any], sequence_length: int) -> tuple[int, int, int]:
        num_frames, height, width = (arguments.get(name) for name in ("num_frames", "height", "width"))
        if num_frames is None or height is None or width is None:
            raise ValueError(
                "LTX conditioning needs the latent num_frames, height and width passed to the transformer as keyword "
                "arguments (as LTXPipeline and LTXImageToVideoPipeline do)"
            )
        num_frames, height, width = int(num_frames), int(height), int(width)
        if num_frames * height * width != sequence_length:
            raise ValueError(
                f"transformer got {sequence_length} video tokens but num_frames*height*width = "
                f"{num_frames}*{height}*{width} = {num_frames * height * width}"
            )
        return num_frames, height, width

    def _rows(self, batch: int) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        """Conditioned batch rows and the tokens/mask for them (guidance batches are [unconditional, conditional])."""
        tokens, mask = self.tokens, self.mask
        if batch == tokens.shape[0]:
            return None, tokens, mask
        if batch == 2 * tokens.shape[0]:
            if self.unconditional == "same":
                return None, torch.cat([tokens, tokens]), None if mask is None else torch.cat([mask, mask])
            return torch.arange(tokens.shape[0], batch, device=tokens.device), tokens, mask
        raise ValueError(
            f"adapter_tokens have batch {tokens.shape[0]} but the transformer got batch {batch}; give one row per "
            "video (repeat them for num_videos_per_prompt) — with classifier-free guidance the transformer batch "
            "is twice that"
        )

    def _pre_forward(self, module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        arguments = self._signature.bind(*args, **kwargs).arguments
        hidden_states = arguments["hidden_states"]
        batch, sequence_length = hidden_states.shape[:2]
        strength = self._current_strength(arguments.get("timestep"))
        self._call = None
        if strength == 0.0:
            return None
        num_frames, height, width = self._geometry(arguments, sequence_length)
        # bool (n,) on the CPU: video tokens of the chosen latent frames; None = all
        chosen = None
        if self.frames is not None:
            chosen = video_token_mask(self.frames, num_frames=num_frames, height=height, width=width)
        rows, tokens, mask = self._rows(batch)
        if self.mode == "prompt":
            chosen = None if chosen is None else chosen.to(hidden_states.device)
            return (), self._prompt_arguments(arguments, rows, tokens, mask, chosen, strength)
        # the projection runs in the dtype the transformer itself feeds it (that of encoder_hidden_states)
        caption_dtype = arguments["encoder_hidden_states"].dtype
        context = module.caption_projection(tokens.to(caption_dtype)).to(self.conditioning.dtype)
        token_index = None if chosen is None else chosen.nonzero().squeeze(1).to(hidden_states.device)
        self._call = _Call(rows=rows, tokens=token_index, strength=strength, context=context, key_mask=mask)
        return None

    def _prompt_arguments(
        self,
        arguments: dict[str, Any],
        rows: torch.Tensor | None,
        tokens: torch.Tensor,
        mask: torch.Tensor | None,
        chosen: torch.Tensor | None,
        strength: float,
    ) -> dict[str, Any]:
        """Append the adapter tokens to ``encoder_hidden_states`` and build a ``(b, q, l + k)`` attention bias.

        ``q`` is 1 when every video token may see the adapter tokens (``chosen is None``), else the number
        of video tokens ``n`` and only the tokens where the bool ``chosen (n,)`` is True may.
        """
        prompt = arguments["encoder_hidden_states"]
        batch, length, _ = prompt.shape
        sequence_length = arguments["hidden_states"].shape[1]
        dtype, device = prompt.dtype, prompt.device
        k = tokens.shape[1]
        rows = rows if rows is not None else torch.arange(batch, device=device)

        full = torch.zeros(batch, k, prompt.shape[-1], dtype=dtype, device=device)
        full[rows] = tokens.to(dtype)
        prompt_mask = arguments.get("encoder_attention_mask")
        if prompt_mask is None:
            prompt_bias = torch.zeros(batch, 1, length, dtype=dtype, device=device)
        elif prompt_mask.ndim == 2:
            prompt_bias = ((1 - prompt_mask.to(dtype)) * _MASKED_BIAS).unsqueeze(1)
        else:
            prompt_bias = prompt_mask.to(dtype)
        if self.prompt_merge == "replace":
            prompt_bias = prompt_bias.clone()
            prompt_bias[rows] = _MASKED_BIAS

        queries = 1 if chosen is None else sequence_length
        allowed = torch.zeros(batch, queries, k, dtype=torch.bool, device=device)
        real = torch.ones_like(tokens[..., 0], dtype=torch.bool) if mask is None else mask
        if chosen is None:
            allowed[rows] = real[:, None, :]
        else:
            allowed[rows] = real[:, None, :] & chosen[None, :, None]
        adapter_bias = torch.full_like(allowed, _MASKED_BIAS, dtype=dtype).masked_fill(allowed, math.log(strength))
        queries = max(queries, prompt_bias.shape[1])
        bias = torch.cat([prompt_bias.expand(batch, queries, length), adapter_bias.expand(batch, queries, k)], dim=2)
        arguments = dict(arguments)
        arguments["encoder_hidden_states"] = torch.cat([prompt, full], dim=1)
        arguments["encoder_attention_mask"] = bias
        return arguments


def install_ltx_conditioning(
    transformer: LTXVideoTransformer3DModel,
    adapter_tokens: Any,
    conditioning: LTXConditioningAdapter | None = None,
    *,
    mask: torch.Tensor | None = None,
    frames: FrameSelection = "first",
    strength: StrengthSchedule = 1.0,
    mode: Literal["cross_attention", "prompt"] = "cross_attention",
    unconditional: Literal["none", "same"] = "none",
    prompt_merge: Literal["append", "replace"] = "append",
) -> LTXConditioningHooks:
    """Install adapter-token conditioning on a stock LTX transformer; undo with ``hooks.remove()``.

    Args:
        transformer: a diffusers ``LTXVideoTransformer3DModel`` (e.g. ``pipe.transformer``).
        adapter_tokens: ``(b, k, caption_channels)`` tokens, or an adapter output with ``.tokens`` and
            ``.mask``. ``b`` is the number of videos (one row per video); under classifier-free guidance
            the transformer batch is ``2 * b`` and ordered ``[unconditional, conditional]`` (diffusers).
        conditioning: the :class:`LTXConditioningAdapter` (``mode="cross_attention"``); ``None`` makes a
            fresh one with :meth:`LTXConditioningAdapter.from_transformer`.
        mask: optional bool ``(b, k)``, True = real adapter token.
        frames: latent frames whose video tokens receive the conditioning: ``"first"`` (latent frame 0),
            ``"all"``, or a list of indices (keyframes).
        strength: a float ``>= 0``, a sequence with one value per denoising step, or a callable
            ``step -> float``. ``0`` leaves the output bit-identical to the stock transformer.
        mode: ``"cross_attention"`` (decoupled cross-attention) or ``"prompt"`` (tokens join the T5
            prompt embeddings).
        unconditional: under guidance, the unconditional half gets no adapter tokens (``"none"``) or
            the same ones (``"same"``).
        prompt_merge: with ``mode="prompt"``, ``"append"`` to the prompt tokens or ``"replace"`` them
            (``"replace"`` needs ``frames="all"``).

    Returns:
        The installed :class:`LTXConditioningHooks`.
    """
    _check_transformer(transformer)
    check_choice(mode, "mode", _MODES)
    check_choice(unconditional, "unconditional", _UNCONDITIONAL)
    check_choice(prompt_merge, "prompt_merge", _PROMPT_MERGE)
    frame_indices = _normalize_frames(frames)
    strength = normalize_strength(strength)
    if mode == "prompt":
        if conditioning is not None:
            raise ValueError("conditioning (an LTXConditioningAdapter) is only used with mode='cross_attention'")
        if prompt_merge == "replace" and frame_indices is not None:
            raise ValueError(
                f"prompt_merge='replace' replaces the prompt for every frame: use frames='all', got {frames!r}"
            )
    elif prompt_merge != "append":
        raise ValueError("prompt_merge is only used with mode='prompt'")
    if transformer in _INSTALLED:
        raise RuntimeError("this transformer already has LTX conditioning installed; remove() it first")

    if mode == "cross_attention":
        if conditioning is None:
            conditioning = LTXConditioningAdapter.from_transformer(transformer)
        _check_conditioning(conditioning, transformer)

    hooks = LTXConditioningHooks(
        transformer,
        conditioning=conditioning,
        frames=frame_indices,
        strength=strength,
        mode=mode,
        unconditional=unconditional,
        prompt_merge=prompt_merge,
    )
    hooks.set_tokens(adapter_tokens, mask)
    hooks._install()
    return hooks


def _check_conditioning(conditioning: Any, transformer: LTXVideoTransformer3DModel) -> None:
    if not isinstance(conditioning, LTXConditioningAdapter):
        raise TypeError(f"conditioning must be an LTXConditioningAdapter or None, got {type(conditioning).__name__}")
    config = transformer.config
    expected = {
        "num_layers": len(transformer.transformer_blocks),
        "num_attention_heads": config.num_attention_heads,
        "attention_head_dim": config.attention_head_dim,
        "cross_attention_dim": config.num_attention_heads * config.attention_head_dim,
        "caption_channels": config.caption_channels,
    }
    wrong = {
        name: (conditioning.config[name], value)
        for name, value in expected.items()
        if conditioning.config[name] != value
    }
    if wrong:
        detail = ", ".join(f"{name}={got} (transformer needs {want})" for name, (got, want) in wrong.items())
        raise ValueError(f"conditioning does not fit this transformer: {detail}")
    if conditioning.device != transformer.device:
        raise ValueError(f"conditioning is on {conditioning.device} but the transformer is on {transformer.device}")


@contextlib.contextmanager
def ltx_conditioning(
    transformer: LTXVideoTransformer3DModel,
    adapter_tokens: Any,
    conditioning: LTXConditioningAdapter | None = None,
    *,
    mask: torch.Tensor | None = None,
    frames: FrameSelection = "first",
    strength: StrengthSchedule = 1.0,
    mode: Literal["cross_attention", "prompt"] = "cross_attention",
    unconditional: Literal["none", "same"] = "none",
    prompt_merge: Literal["append", "replace"] = "append",
) -> Iterator[LTXConditioningHooks]:
    """Context manager form of :func:`install_ltx_conditioning`: the hooks are removed on exit.

    Example::

        >>> with ltx_conditioning(pipe.transformer, tokens, frames="first", strength=0.5) as hooks:
        ...     video = pipe(image=image, prompt=prompt).frames
    """
    hooks = install_ltx_conditioning(
        transformer,
        adapter_tokens,
        conditioning,
        mask=mask,
        frames=frames,
        strength=strength,
        mode=mode,
        unconditional=unconditional,
        prompt_merge=prompt_merge,
    )
    try:
        yield hooks
    finally:
        hooks.remove()
