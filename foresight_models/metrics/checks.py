"""Tensor checks shared by the metric functions (and the evaluation probes): clear errors at the public boundary."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["check_same_length", "check_same_shape", "check_tensor"]


def check_tensor(
    name: str,
    value: object,
    *,
    ndim: int | Sequence[int] | None = None,
    value_range: tuple[float, float] | None = None,
    min_size: dict[int, int] | None = None,
) -> torch.Tensor:
    """Return ``value`` as a floating tensor after checking type, rank, finiteness and range.

    Raises ``TypeError`` for non-tensors and ``ValueError`` for a wrong rank, NaN/inf values,
    values outside ``value_range`` (inclusive) or a dimension smaller than ``min_size[dim]``.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            wanted = " or ".join(str(n) for n in allowed)
            raise ValueError(f"{name} must have {wanted} dimensions, got shape {tuple(value.shape)}")
    if value.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(value.shape)})")
    if not value.is_floating_point():
        value = value.float()
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    if value_range is not None:
        low, high = value_range
        lo, hi = float(value.min()), float(value.max())
        if lo < low or hi > high:
            raise ValueError(f"{name} must lie in [{low}, {high}], got values in [{lo:.4g}, {hi:.4g}]")
    for dim, size in (min_size or {}).items():
        if value.shape[dim] < size:
            raise ValueError(f"{name} needs at least {size} entries on dimension {dim}, got shape {tuple(value.shape)}")
    return value


def check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def check_same_length(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same first dimension (paired samples)."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} and {name_b} must describe the same samples (same first dimension), "
            f"got {a.shape[0]} and {b.shape[0]}"
        )
