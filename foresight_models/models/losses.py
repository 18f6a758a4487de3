"""Training losses for prediction heads and frame decoders, as small pure functions.

Token losses take ``pred`` and ``target`` of the same shape ``(..., d)`` (usually ``(b, n, d)``) and
an optional boolean ``mask`` of shape ``pred.shape[:-1]`` (``True`` = real token); only real tokens
count. All return a scalar.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validation import check_bool, check_real
from .layers import masked_mean

__all__ = ["cosine_loss", "info_nce_loss", "mse_loss", "pixel_l1_loss"]


def _check_pair(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, *, token_mask: bool) -> None:
    for name, value in (("pred", pred), ("target", target)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if pred.ndim < 2:
        raise ValueError(f"pred must have at least 2 dims, got shape {tuple(pred.shape)}")
    if mask is None:
        return
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a boolean torch.Tensor or None, got {getattr(mask, 'dtype', type(mask))}")
    expected = tuple(pred.shape[:-1]) if token_mask else tuple(pred.shape)
    if tuple(mask.shape) != expected:
        raise ValueError(f"mask must have shape {expected}, got {tuple(mask.shape)}")
    if not mask.any():
        raise ValueError("mask selects no element; the loss would be undefined")


def _masked_average(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return values.mean()
    return values[mask].mean()


def cosine_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``mean(1 - cos(pred, target))`` over tokens. Shapes: ``(..., d)``, ``mask pred.shape[:-1]`` -> scalar."""
    _check_pair(pred, target, mask, token_mask=True)
    return _masked_average(1.0 - F.cosine_similarity(pred, target, dim=-1), mask)


def mse_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error over all elements of real tokens. Shapes: ``(..., d)``, ``mask pred.shape[:-1]``."""
    _check_pair(pred, target, mask, token_mask=True)
    per_token = (pred - target).pow(2).mean(dim=-1)
    return _masked_average(per_token, mask)


def pixel_l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute pixel error. Shapes: ``pred``, ``target`` ``(b, c, h, w)`` (or any equal shapes);
    ``mask`` boolean of the same shape or ``None``."""
    _check_pair(pred, target, mask, token_mask=False)
    return _masked_average((pred - target).abs(), mask)


def _pool(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``(b, d)`` stays; ``(b, n, d)`` -> masked mean over ``n``."""
    return x if x.ndim == 2 else masked_mean(x, mask, dim=1)


def info_nce_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    negatives: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    temperature: float = 0.07,
    in_batch: bool = True,
) -> torch.Tensor:
    """InfoNCE: each prediction must pick its own target among negatives, by cosine similarity.

    Predictions and targets are pooled to one vector per sample (masked mean over tokens) and
    L2-normalised. For sample ``i`` the candidates are its target (the positive), the other samples'
    targets (``in_batch=True``) and its own hard negatives ``negatives[i]``, typically other frames of
    the same clip: the last context frame is the hardest, since it is what copying predicts.

    Args:
        pred, target: ``(b, d)`` or ``(b, n, d)``.
        negatives: ``(b, k, d)`` or ``(b, k, n, d)`` same-clip hard negatives, or ``None``.
        mask: ``(b, n)`` boolean for token inputs, at least one True per row (also applied to the
            negatives' tokens).
        temperature: softmax temperature, > 0.
        in_batch: use the other samples' targets as negatives (needs ``b >= 2`` or ``negatives``).

    Returns:
        Scalar cross-entropy of the positive among the candidates, averaged over the batch.
    """
    _check_pair(pred, target, None, token_mask=True)
    if pred.ndim not in (2, 3):
        raise ValueError(f"pred must have shape (b, d) or (b, n, d), got {tuple(pred.shape)}")
    if mask is not None and pred.ndim == 2:
        raise ValueError("mask is only meaningful for token inputs (b, n, d)")
    _check_pair(pred, target, mask, token_mask=True)
    if mask is not None and not bool(mask.any(dim=1).all()):
        raise ValueError("mask must keep at least one real token in every sample (pooling needs one)")
    check_real(temperature, "temperature", minimum=0.0, min_inclusive=False)
    check_bool(in_batch, "in_batch")
    b = pred.shape[0]
    p = F.normalize(_pool(pred, mask), dim=-1)
    t = F.normalize(_pool(target, mask), dim=-1)

    columns = []
    if in_batch:
        columns.append(p @ t.T)  # (b, b): positive on the diagonal
    else:
        columns.append((p * t).sum(-1, keepdim=True))  # (b, 1): positive in column 0
    if negatives is not None:
        expected = (b, "k", *pred.shape[1:])
        if (
            not isinstance(negatives, torch.Tensor)
            or negatives.ndim != pred.ndim + 1
            or (negatives.shape[0] != b or negatives.shape[2:] != pred.shape[1:])
        ):
            raise ValueError(
                f"negatives must have shape {expected}, got {getattr(negatives, 'shape', type(negatives).__name__)}"
            )
        if negatives.ndim == 4:
            k = negatives.shape[1]
            neg_mask = None if mask is None else mask.repeat_interleave(k, dim=0)
            pooled = masked_mean(negatives.flatten(0, 1), neg_mask, dim=1).unflatten(0, (b, k))
        else:
            pooled = negatives
        columns.append(torch.einsum("b d, b k d -> b k", p, F.normalize(pooled, dim=-1)))
    if sum(column.shape[1] for column in columns) < 2:
        raise ValueError("info_nce_loss needs at least one negative: use b >= 2 with in_batch=True, or negatives")
    logits = torch.cat(columns, dim=1) / temperature
    labels = torch.arange(b, device=pred.device) if in_batch else torch.zeros(b, dtype=torch.long, device=pred.device)
    return F.cross_entropy(logits, labels)
