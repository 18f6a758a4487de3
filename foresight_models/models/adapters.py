"""Adapters that turn VLM / hybrid-encoder tokens into conditioning tokens for the video model.

Every adapter has one call::

    adapter(tokens (b, n, d_in), mask (b, n) | None) -> AdapterOutput(tokens (b, k, d_out), mask (b, k))

``d_out`` defaults to 4096, LTX-Video's ``caption_channels`` (the T5-XXL width). Masks are boolean with
``True`` marking a real token; masked input tokens never change the output. Floating tokens of
another dtype than the adapter's parameters are cast to it; integer or boolean tokens are refused
with a ``TypeError``. Each adapter is a diffusers ``ModelMixin, ConfigMixin``: it saves as
``config.json`` + safetensors, loads with ``Class.from_pretrained(dir)`` and is a pipeline component.

Four architectures: query (learned queries cross-attend to the input), bottleneck (pooling and a
narrow MLP), perceiver (latents attend to input and latents) and LoRA (:class:`LoRAAdapter`, a LoRA
on the VLM itself). :func:`build_adapter` sizes an adapter to a parameter budget, so a comparison
of sizes is one line per configuration; the study that motivated them is summarised in
``docs/research.md``.
"""

from __future__ import annotations

import math

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from einops import rearrange, repeat
from torch import nn

from .._validation import check_choice, check_int
from ..hub import ComponentHubMixin
from .adapter_common import (
    LTX_CAPTION_CHANNELS,
    AdapterOutput,
    check_sizes,
    check_tokens_and_mask,
    count_parameters,
)
from .layers import Attention, CrossAttentionBlock, FeedForward
from .lora_adapter import LoRAAdapter
from .modeling import ForesightModelMixin, ModelMixin  # noqa: F401 (see modeling.py)

__all__ = [
    "ADAPTER_KINDS",
    "AdapterOutput",
    "BottleneckAdapter",
    "LTX_CAPTION_CHANNELS",
    "LoRAAdapter",
    "PerceiverAdapter",
    "QueryAdapter",
    "build_adapter",
    "check_tokens_and_mask",
    "count_parameters",
]


def _head_split(dim: int, heads: int | None, dim_head: int | None) -> tuple[int, int]:
    """Heads and head width for a ``dim``-wide block: 64-wide heads where ``dim`` allows, else 32, else 1 head."""
    check_sizes(**{name: value for name, value in (("heads", heads), ("dim_head", dim_head)) if value is not None})
    if heads is not None and dim_head is not None:
        return heads, dim_head
    if heads is not None:
        return heads, max(1, dim // heads)
    if dim_head is None:
        dim_head = next((w for w in (64, 32) if dim % w == 0), dim)
    return max(1, dim // dim_head), dim_head


class _LearnedTokenAdapter(ComponentHubMixin, ForesightModelMixin, ConfigMixin):
    """What the query and perceiver adapters share: ``num_tokens`` learned vectors of width ``dim``
    read the projected input, then ``LayerNorm -> Linear(dim, d_out)`` gives the output tokens.

    A subclass's ``__init__`` (with its own ``@register_to_config`` signature) calls
    ``super().__init__()``, which checks the sizes and adds ``proj_in``; it then builds its learned
    tokens and blocks and calls :meth:`_close` (adds ``norm_out`` and ``proj_out``).
    """

    def __init__(self):
        super().__init__()
        # `@register_to_config` on the subclass's `__init__` has filled `self.config` before its body runs.
        config = self.config
        check_sizes(**{name: config[name] for name in ("d_in", "d_out", "num_tokens", "dim", "depth")})
        self.proj_in = nn.Linear(config.d_in, config.dim)

    def _close(self) -> None:
        self.norm_out = nn.LayerNorm(self.config.dim)
        self.proj_out = nn.Linear(self.config.dim, self.config.d_out)

    def _read_in(
        self, tokens: torch.Tensor, mask: torch.Tensor | None, *, ndims: tuple[int, ...] = (3,)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Checked ``tokens (b, [t,] n, d_in)`` projected to ``(b, [t,] n, dim)``, and the bool mask."""
        tokens, mask = check_tokens_and_mask(
            tokens, mask, d_in=self.config.d_in, ndims=ndims, dtype=self.proj_in.weight.dtype
        )
        return self.proj_in(tokens), mask

    def _read_out(self, x: torch.Tensor) -> AdapterOutput:
        """``(b, k, dim)`` -> ``AdapterOutput(tokens (b, k, d_out), mask (b, k))`` with an all-``True`` mask."""
        out = self.proj_out(self.norm_out(x))
        return AdapterOutput(tokens=out, mask=torch.ones(out.shape[:2], dtype=torch.bool, device=out.device))


class QueryAdapter(_LearnedTokenAdapter):
    """Q-Former-like adapter: ``num_tokens`` learned queries read the input through stacked blocks of
    pre-norm cross-attention + feed-forward (no text branch), then project to ``d_out``.

    Shapes: ``tokens (b, n, d_in)``, ``mask (b, n)`` -> ``AdapterOutput(tokens (b, k, d_out), mask (b, k))``
    with ``k = num_tokens``; the output mask is all ``True``.

    Args:
        d_in: width of the input tokens (3584 for Qwen2.5-VL-7B).
        d_out: width of the output tokens (4096 for LTX-Video; 32 for the tiny test transformer).
        num_tokens: number of learned queries ``k``.
        dim: working width of the queries.
        depth: number of cross-attention + feed-forward blocks.
        heads, dim_head: attention heads and their width (default: 64-wide heads, ``dim // 64`` of them).
        ff_mult: feed-forward expansion.
        dropout: dropout in attention and feed-forward.
    """

    # fmt: off
    @register_to_config
    def __init__(
        self, *, d_in: int, d_out: int = LTX_CAPTION_CHANNELS, num_tokens: int = 32, dim: int = 512, depth: int = 2,
        heads: int | None = None, dim_head: int | None = None, ff_mult: float = 4.0, dropout: float = 0.0,
    ):
        # fmt: on
        super().__init__()
        heads, dim_head = _head_split(dim, heads, dim_head)
        self.queries = nn.Parameter(torch.randn(num_tokens, dim) * 0.02)
        self.blocks = nn.ModuleList(
            CrossAttentionBlock(dim, heads=heads, dim_head=dim_head, ff_mult=ff_mult, dropout=dropout)
            for _ in range(depth)
        )
        self._close()

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> AdapterOutput:
        """``tokens (b, n, d_in)``, ``mask (b, n)`` -> ``AdapterOutput(tokens (b, k, d_out), mask (b, k))``."""
        context, mask = self._read_in(tokens, mask)
        x = repeat(self.queries, "k d -> b k d", b=context.shape[0])
        for block in self.blocks:
            x = block(x, context, context_mask=mask)
        return self._read_out(x)


class BottleneckAdapter(ComponentHubMixin, ForesightModelMixin, ConfigMixin):
    """LLaVA-style projector with a narrow middle: masked average pooling of the input to ``num_tokens``
    tokens, then ``LayerNorm -> Linear(d_in, hidden_dim) -> GELU -> Linear(hidden_dim, d_out)``.

    Pooling splits the ``n`` input positions into ``k`` contiguous bins as ``adaptive_avg_pool1d``
    does (bins overlap when ``n < k``) and averages the real tokens of each bin. An output token
    whose bin holds no real token is zero and masked out.

    Shapes: ``tokens (b, n, d_in)``, ``mask (b, n)`` -> ``AdapterOutput(tokens (b, k, d_out), mask (b, k))``.

    Args:
        d_in: width of the input tokens.
        d_out: width of the output tokens.
        num_tokens: number of pooled tokens ``k``.
        hidden_dim: width of the bottleneck.
        dropout: dropout after the activation.
    """

    @register_to_config
    def __init__(
        self,
        *,
        d_in: int,
        d_out: int = LTX_CAPTION_CHANNELS,
        num_tokens: int = 32,
        hidden_dim: int = 1024,
        dropout: float = 0.0,
    ):
        super().__init__()
        check_sizes(d_in=d_in, d_out=d_out, num_tokens=num_tokens, hidden_dim=hidden_dim)
        self.norm_in = nn.LayerNorm(d_in)
        self.mlp = nn.Sequential(
            nn.Linear(d_in, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, d_out)
        )

    @staticmethod
    def bins(n: int, k: int, device: torch.device | None = None) -> torch.Tensor:
        """``(k, n)`` boolean membership of input positions in the ``k`` pooling bins (adaptive pooling)."""
        j = torch.arange(k, device=device)
        start = (j * n) // k
        end = ((j + 1) * n + k - 1) // k
        i = torch.arange(n, device=device)
        return (i[None, :] >= start[:, None]) & (i[None, :] < end[:, None])

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> AdapterOutput:
        """``tokens (b, n, d_in)``, ``mask (b, n)`` -> ``AdapterOutput(tokens (b, k, d_out), mask (b, k))``."""
        tokens, mask = check_tokens_and_mask(tokens, mask, d_in=self.config.d_in, dtype=self.norm_in.weight.dtype)
        membership = self.bins(tokens.shape[1], self.config.num_tokens, device=tokens.device)
        weights = (membership[None] & mask[:, None, :]).to(tokens.dtype)  # b k n
        counts = weights.sum(dim=-1, keepdim=True)
        pooled = torch.einsum("b k n, b n d -> b k d", weights, tokens) / counts.clamp(min=1.0)
        out_mask = counts.squeeze(-1) > 0
        out = self.mlp(self.norm_in(pooled)) * out_mask[..., None].to(tokens.dtype)
        return AdapterOutput(tokens=out, mask=out_mask)


class PerceiverAdapter(_LearnedTokenAdapter):
    """Flamingo-style perceiver resampler: ``num_tokens`` learned latents attend to the concatenation
    of the (projected) input tokens and the latents, through ``depth`` pre-norm blocks of attention
    + feed-forward, then project to ``d_out``.

    Accepts ``tokens (b, n, d_in)`` or a clip ``(b, t, n, d_in)`` (mask ``(b, t, n)``); with
    ``num_frames`` set, a learned embedding of each frame index is added before the frames are
    flattened to ``(b, t*n, dim)``.

    Shapes: ``-> AdapterOutput(tokens (b, k, d_out), mask (b, k))``, output mask all ``True``.

    Args:
        d_in: width of the input tokens.
        d_out: width of the output tokens.
        num_tokens: number of latents ``k``.
        dim: working width.
        depth: number of blocks.
        heads, dim_head: attention heads and their width (default: 64-wide heads).
        ff_mult: feed-forward expansion.
        num_frames: maximum clip length ``t`` for the per-frame time embeddings; ``None`` disables them.
        dropout: dropout in attention and feed-forward.
    """

    # fmt: off
    @register_to_config
    def __init__(
        self, *, d_in: int, d_out: int = LTX_CAPTION_CHANNELS, num_tokens: int = 32, dim: int = 512, depth: int = 2,
        heads: int | None = None, dim_head: int | None = None, ff_mult: float = 4.0, num_frames: int | None = None,
        dropout: float = 0.0,
    ):
        # fmt: on
        super().__init__()
        if num_frames is not None:
            check_sizes(num_frames=num_frames)
        heads, dim_head = _head_split(dim, heads, dim_head)
        self.latents = nn.Parameter(torch.randn(num_tokens, dim) * 0.02)
        self.time_embed = nn.Parameter(torch.randn(num_frames, dim) * 0.02) if num_frames is not None else None
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    Attention(dim, heads=heads, dim_head=dim_head, norm_context=True, dropout=dropout),
                    FeedForward(dim, mult=ff_mult, dropout=dropout),
                ]
            )
            for _ in range(depth)
        )
        self._close()

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> AdapterOutput:
        """``tokens (b, n, d_in)`` or ``(b, t, n, d_in)``, ``mask`` of ``tokens.shape[:-1]``
        -> ``AdapterOutput(tokens (b, k, d_out), mask (b, k))``."""
        x, mask = self._read_in(tokens, mask, ndims=(3, 4))
        if x.ndim == 4:
            t = x.shape[1]
            if self.time_embed is not None:
                if t > self.config.num_frames:
                    raise ValueError(
                        f"tokens has t={t} frames but the adapter has time embeddings for "
                        f"num_frames={self.config.num_frames}; pass at most that many frames"
                    )
                x = x + rearrange(self.time_embed[:t], "t d -> 1 t 1 d")
            x = rearrange(x, "b t n d -> b (t n) d")
            mask = rearrange(mask, "b t n -> b (t n)")
        b = x.shape[0]
        latents = repeat(self.latents, "k d -> b k d", b=b)
        latent_mask = torch.ones(latents.shape[:2], dtype=torch.bool, device=x.device)
        for attn, ff in self.layers:
            context = torch.cat([x, latents], dim=1)
            latents = latents + attn(latents, context, torch.cat([mask, latent_mask], dim=1))
            latents = latents + ff(latents)
        return self._read_out(latents)


# --------------------------------------------------------------------------------------------------
# Building to a parameter budget
# --------------------------------------------------------------------------------------------------

ADAPTER_KINDS = ("query", "bottleneck", "perceiver", "lora")
_ADAPTER_CLASSES = {"query": QueryAdapter, "bottleneck": BottleneckAdapter, "perceiver": PerceiverAdapter}
_BUDGET_TOLERANCE = 0.10


def _meta_count(cls: type[nn.Module], **config) -> int:
    with torch.device("meta"):
        return count_parameters(cls(**config))


def _closest_width(count, target: int, *, step: int, max_width: int) -> tuple[int, int]:
    """The multiple of ``step`` whose parameter count ``count(width)`` (increasing) is closest to ``target``."""
    lo, hi = 1, max(1, max_width // step)
    while lo < hi:  # smallest multiple whose count reaches the target
        mid = (lo + hi) // 2
        if count(mid * step) >= target:
            hi = mid
        else:
            lo = mid + 1
    candidates = {max(1, lo - 1) * step, lo * step}
    best = min(candidates, key=lambda w: abs(count(w) - target))
    return best, count(best)


def _default_depth(target_params: int) -> int:
    """Depth that grows with the budget: 1M -> 2 blocks, 10M -> 3, 100M -> 4, capped at 12."""
    return int(min(12, max(1, round(1.5 * math.log10(max(target_params, 1) / 1e6) + 1.5))))


def build_adapter(
    kind: str,
    d_in: int,
    d_out: int = LTX_CAPTION_CHANNELS,
    num_tokens: int = 32,
    target_params: int = 10_000_000,
    **kwargs,
) -> QueryAdapter | BottleneckAdapter | PerceiverAdapter:
    """Build an adapter of ``kind`` whose trainable parameter count is within 10% of ``target_params``.

    Width (and, for query / perceiver, depth) is chosen from the budget: the bottleneck's
    ``hidden_dim`` is solved for; query and perceiver keep 64-wide heads (32 for small widths), take
    a depth that grows with the budget and the width, a multiple of 32, that lands closest to it.
    Other constructor arguments (``ff_mult``, ``num_frames``, ``dropout``, or a fixed ``depth``) pass
    through ``kwargs``.

    Example (a 10M and a 100M adapter from Qwen2.5-VL-7B to LTX-Video; see ``docs/research.md``)::

        small = build_adapter("query", d_in=3584, d_out=4096, target_params=10_000_000)
        large = build_adapter("query", d_in=3584, d_out=4096, target_params=100_000_000)

    LoRA adapters are sized by their rank on a given VLM: use :class:`LoRAAdapter` and
    :meth:`LoRAAdapter.rank_for_budget`.

    Raises:
        ValueError: unknown ``kind``, non-positive sizes, or a budget no configuration reaches within 10%.
    """
    if kind == "lora":
        raise ValueError(
            "build_adapter cannot size kind='lora' without the VLM it adapts; build LoRAAdapter(...) and "
            "choose its rank with LoRAAdapter.rank_for_budget(vlm, target_params)"
        )
    check_choice(kind, "kind", tuple(_ADAPTER_CLASSES))
    check_sizes(d_in=d_in, d_out=d_out, num_tokens=num_tokens)
    target_params = check_int(target_params, "target_params")
    solved = "hidden_dim" if kind == "bottleneck" else "dim"
    if solved in kwargs:
        raise ValueError(
            f"build_adapter chooses {solved} of a {kind!r} adapter from target_params, got {solved}={kwargs[solved]!r}; "
            f"build {_ADAPTER_CLASSES[kind].__name__}(...) directly to fix it"
        )
    cls = _ADAPTER_CLASSES[kind]
    fixed = {"d_in": d_in, "d_out": d_out, "num_tokens": num_tokens, **kwargs}

    if kind == "bottleneck":

        def count(width: int) -> int:
            return _meta_count(cls, hidden_dim=width, **fixed)

        # The count is affine in hidden_dim, so two evaluations solve it.
        slope = count(2) - count(1)
        width = max(1, round((target_params - count(1)) / slope) + 1)
        config = {"hidden_dim": width}
        params = count(width)
    else:
        depths = [kwargs.pop("depth")] if "depth" in kwargs else [_default_depth(target_params)]
        fixed.pop("depth", None)
        depths += [d for d in range(1, 13) if d not in depths]
        smallest = _meta_count(cls, dim=32, depth=min(depths), **fixed)
        params, config = smallest, {"dim": 32, "depth": min(depths)}
        # The default depth first; the others only if it cannot reach the budget (none if nothing can).
        reachable = smallest <= (1 + _BUDGET_TOLERANCE) * target_params
        for depth in depths if reachable else ():

            def count(width: int, depth: int = depth) -> int:
                return _meta_count(cls, dim=width, depth=depth, **fixed)

            width, params = _closest_width(count, target_params, step=32, max_width=1 << 15)
            config = {"dim": width, "depth": depth}
            if abs(params - target_params) <= _BUDGET_TOLERANCE * target_params:
                break
    if abs(params - target_params) > _BUDGET_TOLERANCE * target_params:
        raise ValueError(
            f"cannot build a {kind!r} adapter with d_in={d_in}, d_out={d_out}, num_tokens={num_tokens} "
            f"within 10% of target_params={target_params:,}: the closest configuration {config} has "
            f"{params:,} parameters"
        )
    return cls(**fixed, **config)
