"""Attention, feed-forward and pre-norm residual blocks shared by every trainable module.

Written once here and imported by the fusion encoder, the adapters and the prediction heads.
Conventions: keyword-only constructors; tokens are ``(b, n, d)``; masks are boolean ``(b, n)`` with
``True`` marking a real token (the ``attention_mask`` convention of transformers); attention runs
through ``torch.nn.functional.scaled_dot_product_attention``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

__all__ = [
    "Attention",
    "CrossAttentionBlock",
    "FeedForward",
    "SelfAttentionBlock",
    "masked_mean",
]


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor | None, *, dim: int = 1) -> torch.Tensor:
    """Mean of ``tokens`` over ``dim`` counting only positions where ``mask`` is ``True``.

    Args:
        tokens: ``(b, n, d)``.
        mask: ``(b, n)`` boolean or ``None`` (all tokens count).

    Returns:
        ``(b, d)``. Rows whose mask is all ``False`` give zeros (nothing to average, by definition).
    """
    if mask is None:
        return tokens.mean(dim=dim)
    weights = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * weights).sum(dim=dim) / weights.sum(dim=dim).clamp(min=1.0)


class FeedForward(nn.Module):
    """Pre-norm GELU MLP: ``LayerNorm -> Linear(d, d*mult) -> GELU -> Linear(d*mult, d)``.

    Shapes: ``(..., d) -> (..., d)``.
    """

    def __init__(self, dim: int, *, mult: float = 4.0, dropout: float = 0.0, zero_init_output: bool = False):
        super().__init__()
        inner = int(dim * mult)
        self.norm = nn.LayerNorm(dim)
        self.net = nn.Sequential(
            nn.Linear(dim, inner), nn.GELU(), nn.Dropout(dropout), nn.Linear(inner, dim), nn.Dropout(dropout)
        )
        if zero_init_output:
            nn.init.zeros_(self.net[3].weight)
            nn.init.zeros_(self.net[3].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(x))


class Attention(nn.Module):
    """Multi-head (cross-)attention with pre-norm on the queries and optionally on the context.

    ``context`` defaults to ``x`` (self-attention). Shapes: ``x (b, n, d)``, ``context (b, m, d_ctx)``,
    ``context_mask (b, m)`` boolean (``True`` = attend) -> ``(b, n, d)``. With ``causal=True`` query
    ``i`` attends to keys ``<= i`` (self-attention only).

    Masked context tokens never change the output, whatever they hold (NaN included). A query with
    no key to attend to (its whole row masked) receives zeros. NaN or infinite values in unmasked
    tokens are not hidden: they propagate to the output, as without a mask.
    """

    def __init__(
        self,
        dim: int,
        *,
        heads: int = 8,
        dim_head: int = 64,
        context_dim: int | None = None,
        norm_context: bool = False,
        causal: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        context_dim = dim if context_dim is None else context_dim
        inner = heads * dim_head
        self.heads = heads
        self.causal = causal
        self.dropout = dropout
        self.norm = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(context_dim) if norm_context else nn.Identity()
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(context_dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = self.norm(x)
        context = x if context is None else self.norm_context(context)
        q = rearrange(self.to_q(x), "b n (h d) -> b h n d", h=self.heads)
        k, v = rearrange(self.to_kv(context), "b m (two h d) -> two b h m d", two=2, h=self.heads)

        attn_mask = None
        if context_mask is not None:
            context_mask = context_mask.bool()
            # Masked keys and values are zeroed, so whatever a padding token holds (even NaN) never
            # reaches the output: a zero attention weight times NaN would still be NaN.
            keep = rearrange(context_mask, "b m -> b 1 m 1")
            k, v = k.masked_fill(~keep, 0.0), v.masked_fill(~keep, 0.0)
            attn_mask = rearrange(context_mask, "b m -> b 1 1 m")
        if self.causal:
            n, m = q.shape[-2], k.shape[-2]
            causal = torch.ones(n, m, dtype=torch.bool, device=x.device).tril(m - n)
            attn_mask = causal if attn_mask is None else attn_mask & causal

        receives = None
        if attn_mask is not None:
            # A query with no key to attend to would get NaN from a softmax over -inf only; let it
            # attend to the (zeroed) keys instead and give it zeros. NaN from the input still shows.
            receives = attn_mask.any(dim=-1, keepdim=True)
            attn_mask = attn_mask | ~receives
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        if receives is not None:
            out = out.masked_fill(~receives, 0.0)
        return self.to_out(rearrange(out, "b h n d -> b n (h d)"))


class SelfAttentionBlock(nn.Module):
    """Pre-norm residual transformer block: ``x + attn(x)``, then ``x + ff(x)``.

    Shapes: ``x (b, n, d)``, ``mask (b, n)`` -> ``(b, n, d)``.
    """

    def __init__(
        self,
        dim: int,
        *,
        heads: int = 8,
        dim_head: int = 64,
        ff_mult: float = 4.0,
        causal: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.attn = Attention(dim, heads=heads, dim_head=dim_head, causal=causal, dropout=dropout)
        self.ff = FeedForward(dim, mult=ff_mult, dropout=dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(x, context_mask=mask)
        return x + self.ff(x)


class CrossAttentionBlock(nn.Module):
    """Pre-norm residual cross-attention block: ``x + g_a * attn(x, context)``, then ``x + g_f * ff(x)``.

    With ``gated=True`` the gates ``g`` are ``tanh`` of learned scalars initialised to zero
    (Flamingo), so a new block is exactly the identity; otherwise ``g = 1``.

    Shapes: ``x (b, n, d)``, ``context (b, m, d_ctx)``, ``context_mask (b, m)`` -> ``(b, n, d)``.
    """

    def __init__(
        self,
        dim: int,
        *,
        context_dim: int | None = None,
        heads: int = 8,
        dim_head: int = 64,
        ff_mult: float = 4.0,
        gated: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.attn = Attention(
            dim, heads=heads, dim_head=dim_head, context_dim=context_dim, norm_context=True, dropout=dropout
        )
        self.ff = FeedForward(dim, mult=ff_mult, dropout=dropout)
        self.gated = gated
        if gated:
            self.attn_gate = nn.Parameter(torch.zeros(1))
            self.ff_gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor | None = None) -> torch.Tensor:
        attn_gate = self.attn_gate.tanh() if self.gated else 1.0
        ff_gate = self.ff_gate.tanh() if self.gated else 1.0
        x = x + attn_gate * self.attn(x, context, context_mask)
        return x + ff_gate * self.ff(x)
