"""Next-frame prediction heads and the parameter-free baselines they must beat.

Every predictor has one call::

    predicted = head(context, mask=None, horizon=1)   # context (b, t, n, d) -> predicted (b, n, d)

``context`` holds the tokens of ``t`` past frames (oldest first); the output is the tokens of frame
``t - 1 + horizon``. ``mask`` is boolean, ``(b, n)`` (the same tokens are real in every frame) or
``(b, t, n)``, with ``True`` marking a real token.

The baselines :class:`CopyLastFrame` and :class:`LinearExtrapolation` accept any trailing shape, so
the same objects predict pixel clips ``(b, t, c, h, w) -> (b, c, h, w)``.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from einops import rearrange
from torch import nn

from .._validation import check_bool, check_int, check_probability, check_real
from ..hub import ComponentHubMixin
from .layers import CrossAttentionBlock, SelfAttentionBlock
from .modeling import ForesightModelMixin, ModelMixin  # noqa: F401 (see modeling.py)

__all__ = [
    "CopyLastFrame",
    "LinearExtrapolation",
    "MultiFrameHead",
    "QueryPredictionHead",
    "TemporalTransformerHead",
]


def _check_horizon(horizon: int) -> int:
    return check_int(horizon, "horizon")


def _check_clip(context: torch.Tensor, *, min_frames: int = 1) -> None:
    """Validate a clip ``(b, t, ...)`` with at least ``min_frames`` frames."""
    if not isinstance(context, torch.Tensor):
        raise TypeError(f"context must be a torch.Tensor of shape (b, t, ...), got {type(context).__name__}")
    if context.ndim < 3:
        raise ValueError(f"context must have shape (b, t, ...) with at least 3 dims, got {tuple(context.shape)}")
    if context.shape[1] < min_frames:
        raise ValueError(
            f"context must hold at least {min_frames} frame(s) along dim 1, got t={context.shape[1]} "
            f"(shape {tuple(context.shape)})"
        )


def _check_baseline_mask(context: torch.Tensor, mask: torch.Tensor | None) -> None:
    """A mask is only meaningful for token clips ``(b, t, n, d)``: ``(b, n)`` or ``(b, t, n)``."""
    if mask is None:
        return
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a boolean torch.Tensor or None, got {getattr(mask, 'dtype', type(mask))}")
    if context.ndim != 4:
        raise ValueError(f"mask is only supported for token context (b, t, n, d), got context {tuple(context.shape)}")
    b, t, n, _ = context.shape
    if tuple(mask.shape) not in ((b, n), (b, t, n)):
        raise ValueError(f"mask must have shape (b, n)={(b, n)} or (b, t, n)={(b, t, n)}, got {tuple(mask.shape)}")


class CopyLastFrame(nn.Module):
    """Baseline: the future equals the last observed frame, at every horizon.

    Shapes: ``context (b, t, ...) -> (b, ...)``; tokens ``(b, t, n, d) -> (b, n, d)``, pixels
    ``(b, t, c, h, w) -> (b, c, h, w)``. ``mask`` is validated and otherwise ignored (a copied
    padding token stays padding). Has no parameters.
    """

    def forward(self, context: torch.Tensor, mask: torch.Tensor | None = None, *, horizon: int = 1) -> torch.Tensor:
        _check_clip(context)
        _check_baseline_mask(context, mask)
        _check_horizon(horizon)
        return context[:, -1]


class LinearExtrapolation(nn.Module):
    """Baseline: constant velocity from the last two frames, ``x[t-1] + horizon * (x[t-1] - x[t-2])``.

    Exact on sequences that change linearly in time. Shapes as :class:`CopyLastFrame`; needs ``t >= 2``.

    Args:
        clamp: optional ``(low, high)`` range to clamp the prediction to (e.g. ``(0.0, 1.0)`` for pixels in
            [0, 1]); ``None`` (default) returns the raw extrapolation.
    """

    def __init__(self, *, clamp: tuple[float, float] | None = None):
        super().__init__()
        if clamp is not None:
            if not isinstance(clamp, (tuple, list)) or len(clamp) != 2:
                raise TypeError(f"clamp: expected None or a (low, high) pair of numbers, got {clamp!r}")
            low, high = check_real(clamp[0], "clamp[0] (low)"), check_real(clamp[1], "clamp[1] (high)")
            if not low < high:
                raise ValueError(f"clamp: expected low < high, got {clamp!r}")
            clamp = (low, high)
        self.clamp = clamp

    def forward(self, context: torch.Tensor, mask: torch.Tensor | None = None, *, horizon: int = 1) -> torch.Tensor:
        _check_clip(context, min_frames=2)
        _check_baseline_mask(context, mask)
        _check_horizon(horizon)
        last, previous = context[:, -1], context[:, -2]
        predicted = last + horizon * (last - previous)
        if self.clamp is not None:
            predicted = predicted.clamp(*self.clamp)
        return predicted


class _ContextEmbedding(nn.Module):
    """Projects context tokens to the working width and adds time, position and horizon embeddings.

    Any ``t <= num_frames`` works. By default frames are indexed from the end (the last observed frame
    always gets the last time embedding, whatever ``t``). With ``from_start=True`` they are indexed from
    the start, so frame ``i`` gets the same embedding in every prefix ``context[:, :j]``, ``j > i``
    (what a causal model needs to predict from every prefix at once).
    """

    def __init__(
        self,
        *,
        dim: int,
        hidden_dim: int,
        num_frames: int,
        max_tokens: int,
        max_horizon: int,
        positions: bool = True,
        from_start: bool = False,
    ):
        super().__init__()
        self.dim, self.num_frames, self.max_tokens, self.max_horizon = dim, num_frames, max_tokens, max_horizon
        self.from_start = from_start
        self.proj_in = nn.Linear(dim, hidden_dim) if hidden_dim != dim else nn.Identity()
        self.time_embed = nn.Parameter(torch.randn(num_frames, hidden_dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(max_tokens, hidden_dim) * 0.02) if positions else None
        self.horizon_embed = nn.Parameter(torch.randn(max_horizon, hidden_dim) * 0.02)

    def validate(
        self, context: torch.Tensor, mask: torch.Tensor | None, horizon: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Check ``context (b, t, n, d)``, ``mask`` and ``horizon``; return the context in the
        parameters' dtype (floating context of another dtype is cast) and the mask as ``(b, t, n)`` or ``None``."""
        if not isinstance(context, torch.Tensor):
            raise TypeError(f"context must be a torch.Tensor of shape (b, t, n, d), got {type(context).__name__}")
        if not context.is_floating_point():
            raise TypeError(f"context must be a floating-point tensor of tokens, got dtype {context.dtype}")
        if context.ndim != 4:
            raise ValueError(f"context must have shape (b, t, n, d), got {tuple(context.shape)}")
        b, t, n, d = context.shape
        if d != self.dim:
            raise ValueError(f"context has token dim d={d} but the head was built with dim={self.dim}")
        if t < 1 or t > self.num_frames:
            raise ValueError(f"context must hold 1 <= t <= num_frames={self.num_frames} frames, got t={t}")
        if n < 1 or n > self.max_tokens:
            raise ValueError(f"context must hold 1 <= n <= max_tokens={self.max_tokens} tokens per frame, got n={n}")
        _check_horizon(horizon)
        if horizon > self.max_horizon:
            raise ValueError(f"horizon={horizon} exceeds max_horizon={self.max_horizon} the head was built with")
        context = context.to(self.time_embed.dtype)
        if mask is None:
            return context, None
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise TypeError(f"mask must be a boolean torch.Tensor or None, got {getattr(mask, 'dtype', type(mask))}")
        if tuple(mask.shape) == (b, n):
            mask = mask[:, None].expand(b, t, n)
        elif tuple(mask.shape) != (b, t, n):
            raise ValueError(f"mask must have shape (b, n)={(b, n)} or (b, t, n)={(b, t, n)}, got {tuple(mask.shape)}")
        if not bool(mask.flatten(1).any(dim=1).all()):
            raise ValueError("mask must keep at least one real token in every sample")
        return context, mask

    def forward(self, context: torch.Tensor, horizon: int) -> torch.Tensor:
        """``(b, t, n, d) -> (b, t, n, hidden_dim)``."""
        t, n = context.shape[1], context.shape[2]
        time = self.time_embed[:t] if self.from_start else self.time_embed[-t:]
        h = self.proj_in(context) + rearrange(time, "t d -> 1 t 1 d")
        if self.pos_embed is not None:
            h = h + rearrange(self.pos_embed[:n], "n d -> 1 1 n d")
        return h + self.horizon_embed[horizon - 1]


class _PredictionHead(ComponentHubMixin, ForesightModelMixin, ConfigMixin):
    """What the trainable heads share: argument checks, the context embedding, the output projection
    and the ``predict_delta`` residual, so that a head only writes its own layers and forward.

    A head's ``__init__`` (with its own ``@register_to_config`` signature) calls ``super().__init__()``,
    which checks the arguments and adds ``embed``, then builds its layers and calls :meth:`_close`
    (adds ``proj_out``). Its forward starts with :meth:`_read_in` and ends with :meth:`_read_out`.
    """

    def __init__(self, *, positions: bool = True, from_start: bool = False):
        super().__init__()
        # `@register_to_config` on the head's `__init__` has filled `self.config` before its body runs.
        config = self.config
        self.hidden_dim = config.dim if config.hidden_dim is None else config.hidden_dim
        for name in ("dim", "depth", "heads", "dim_head", "num_frames", "max_tokens", "max_horizon"):
            check_int(config[name], name, plain=True)
        check_int(self.hidden_dim, "hidden_dim", plain=True)
        check_real(config.ff_mult, "ff_mult", minimum=0.0, min_inclusive=False)
        check_probability(config.dropout, "dropout")
        check_bool(config.predict_delta, "predict_delta")
        self.embed = _ContextEmbedding(
            dim=config.dim,
            hidden_dim=self.hidden_dim,
            num_frames=config.num_frames,
            max_tokens=config.max_tokens,
            max_horizon=config.max_horizon,
            positions=positions,
            from_start=from_start,
        )

    def _close(self) -> None:
        """Add the output projection ``LayerNorm -> Linear(hidden_dim, dim)``, zero at first with ``predict_delta``."""
        proj = nn.Linear(self.hidden_dim, self.config.dim)
        if self.config.predict_delta:
            nn.init.zeros_(proj.weight)
            nn.init.zeros_(proj.bias)
        self.proj_out = nn.Sequential(nn.LayerNorm(self.hidden_dim), proj)

    def _read_in(
        self, context: torch.Tensor, mask: torch.Tensor | None, horizon: int
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Checked ``context (b, t, n, d)``, its mask ``(b, t, n)`` or ``None``, and the embedded
        context ``(b, t, n, hidden_dim)``."""
        context, mask = self.embed.validate(context, mask, horizon)
        return context, mask, self.embed(context, horizon)

    def _read_out(self, hidden: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """Project ``hidden (..., hidden_dim)`` to ``(..., dim)``; with ``predict_delta`` add it to ``last``."""
        out = self.proj_out(hidden)
        return last + out if self.config.predict_delta else out


class QueryPredictionHead(_PredictionHead):
    """Learned queries cross-attend to all context tokens and become the next frame's tokens.

    One query per token position: query ``i`` is a learned embedding plus the last frame's token ``i``
    (plus position and horizon embeddings). Each of the ``depth`` layers is a pre-norm
    cross-attention block over the ``t * n`` context tokens (with time and position embeddings)
    followed by a self-attention block among the queries.

    Shapes: ``context (b, t, n, d)``, ``mask (b, n) | (b, t, n)`` -> ``(b, n, d)``.

    Args:
        dim: token width ``d`` of the context and of the prediction.
        hidden_dim: working width (default ``dim``; a projection is added when they differ).
        depth: number of (cross-attention, self-attention) layer pairs.
        heads, dim_head: attention heads and their width.
        ff_mult: feed-forward expansion.
        num_frames: the most context frames accepted.
        max_tokens: the most tokens per frame accepted (size of the learned query and position tables).
        max_horizon: the largest ``horizon`` the head is trained for.
        predict_delta: predict the change from the last frame; the output projection starts at zero so
            the untrained head equals :class:`CopyLastFrame`.
        dropout: attention and feed-forward dropout.
    """

    # fmt: off
    @register_to_config
    def __init__(
        self, *, dim: int = 1024, hidden_dim: int | None = None, depth: int = 2, heads: int = 8, dim_head: int = 64,
        ff_mult: float = 4.0, num_frames: int = 8, max_tokens: int = 1024, max_horizon: int = 1,
        predict_delta: bool = False, dropout: float = 0.0,
    ):
        # fmt: on
        super().__init__()
        hidden_dim = self.hidden_dim
        self.queries = nn.Parameter(torch.randn(max_tokens, hidden_dim) * 0.02)
        block = {"heads": heads, "dim_head": dim_head, "ff_mult": ff_mult, "dropout": dropout}
        self.layers = nn.ModuleList(
            nn.ModuleList([CrossAttentionBlock(hidden_dim, **block), SelfAttentionBlock(hidden_dim, **block)])
            for _ in range(depth)
        )
        self._close()

    def forward(self, context: torch.Tensor, mask: torch.Tensor | None = None, *, horizon: int = 1) -> torch.Tensor:
        context, mask, h = self._read_in(context, mask, horizon)
        n = context.shape[2]
        queries = h[:, -1] + self.queries[:n]
        memory = rearrange(h, "b t n d -> b (t n) d")
        memory_mask = None if mask is None else rearrange(mask, "b t n -> b (t n)")
        query_mask = None if mask is None else mask[:, -1]
        for cross, self_attn in self.layers:
            queries = cross(queries, memory, memory_mask)
            queries = self_attn(queries, query_mask)
        return self._read_out(queries, context[:, -1])


class MultiFrameHead(_PredictionHead):
    """Per-token temporal attention: each token's next value is aggregated from its own history.

    For every token position a query (the last frame's token plus a learned embedding) attends over
    the ``t`` context tokens at that position, through ``depth`` cross-attention blocks. Tokens do not
    exchange information across positions.

    Shapes: ``context (b, t, n, d)``, ``mask (b, n) | (b, t, n)`` -> ``(b, n, d)``. Arguments as
    :class:`QueryPredictionHead`.
    """

    # fmt: off
    @register_to_config
    def __init__(
        self, *, dim: int = 1024, hidden_dim: int | None = None, depth: int = 2, heads: int = 8, dim_head: int = 64,
        ff_mult: float = 4.0, num_frames: int = 8, max_tokens: int = 1024, max_horizon: int = 1,
        predict_delta: bool = False, dropout: float = 0.0,
    ):
        # fmt: on
        super().__init__(positions=False)
        hidden_dim = self.hidden_dim
        self.query = nn.Parameter(torch.randn(hidden_dim) * 0.02)
        self.layers = nn.ModuleList(
            CrossAttentionBlock(hidden_dim, heads=heads, dim_head=dim_head, ff_mult=ff_mult, dropout=dropout)
            for _ in range(depth)
        )
        self._close()

    def forward(self, context: torch.Tensor, mask: torch.Tensor | None = None, *, horizon: int = 1) -> torch.Tensor:
        context, mask, h = self._read_in(context, mask, horizon)
        b = context.shape[0]
        history = rearrange(h, "b t n d -> (b n) t d")
        history_mask = None if mask is None else rearrange(mask, "b t n -> (b n) t")
        queries = rearrange(h[:, -1] + self.query, "b n d -> (b n) 1 d")
        for block in self.layers:
            queries = block(queries, history, history_mask)
        return self._read_out(rearrange(queries, "(b n) 1 d -> b n d", b=b), context[:, -1])


class TemporalTransformerHead(_PredictionHead):
    """Factorised space/time transformer over the whole clip, causal or bidirectional in time.

    Each of the ``depth`` layers is a spatial self-attention block over the ``n`` tokens of every frame
    followed by a temporal self-attention block over the ``t`` frames of every token position
    (``causal=True``: frame ``i`` sees frames ``<= i`` only). The output at frame ``i`` predicts frame
    ``i + horizon``; :meth:`forward` returns the last one, :meth:`predict_all` all of them.

    With ``causal=True`` time embeddings count from the first frame, so ``predict_all(context)[:, i]``
    equals ``forward(context[:, :i + 1])``: one pass gives the prediction from every prefix (train on
    all of them at once). With ``causal=False`` they count from the last frame, as in the other heads;
    every entry then sees the whole clip, so only the last one is a forecast.

    Args:
        causal: causal (``True``, default) or bidirectional temporal attention. Other arguments as
            :class:`QueryPredictionHead`.

    Shapes: ``context (b, t, n, d)``, ``mask (b, n) | (b, t, n)`` -> ``(b, n, d)``.
    """

    # fmt: off
    @register_to_config
    def __init__(
        self, *, dim: int = 1024, hidden_dim: int | None = None, depth: int = 2, heads: int = 8, dim_head: int = 64,
        ff_mult: float = 4.0, num_frames: int = 8, max_tokens: int = 1024, max_horizon: int = 1, causal: bool = True,
        predict_delta: bool = False, dropout: float = 0.0,
    ):
        # fmt: on
        super().__init__(from_start=check_bool(causal, "causal"))
        hidden_dim = self.hidden_dim
        block = {"heads": heads, "dim_head": dim_head, "ff_mult": ff_mult, "dropout": dropout}
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [SelfAttentionBlock(hidden_dim, **block), SelfAttentionBlock(hidden_dim, causal=causal, **block)]
            )
            for _ in range(depth)
        )
        self._close()

    def predict_all(self, context: torch.Tensor, mask: torch.Tensor | None = None, *, horizon: int = 1) -> torch.Tensor:
        """Outputs at every frame: ``(b, t, n, d) -> (b, t, n, d)``; entry ``i`` predicts frame ``i + horizon``.

        With ``causal=True`` entry ``i`` is the prediction from the prefix ``context[:, :i + 1]``.
        """
        context, mask, h = self._read_in(context, mask, horizon)
        b = context.shape[0]
        space_mask = None if mask is None else rearrange(mask, "b t n -> (b t) n")
        time_mask = None if mask is None else rearrange(mask, "b t n -> (b n) t")
        for spatial, temporal in self.layers:
            h = rearrange(spatial(rearrange(h, "b t n d -> (b t) n d"), space_mask), "(b t) n d -> b t n d", b=b)
            h = rearrange(temporal(rearrange(h, "b t n d -> (b n) t d"), time_mask), "(b n) t d -> b t n d", b=b)
        return self._read_out(h, context)

    def forward(self, context: torch.Tensor, mask: torch.Tensor | None = None, *, horizon: int = 1) -> torch.Tensor:
        return self.predict_all(context, mask, horizon=horizon)[:, -1]
