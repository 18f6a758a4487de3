"""What every adapter shares: its output type, its input check, its default width, parameter counting.

Both :mod:`foresight_models.models.adapters` and :mod:`foresight_models.models.lora_adapter` import
this module; neither imports the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.utils import BaseOutput
from torch import nn

from .._validation import check_bool, check_int

__all__ = [
    "LTX_CAPTION_CHANNELS",
    "AdapterOutput",
    "check_sizes",
    "check_tokens_and_mask",
    "count_parameters",
]

#: Default output width: LTX-Video's ``caption_channels`` (T5-v1.1-XXL's ``d_model``).
LTX_CAPTION_CHANNELS = 4096


@dataclass
class AdapterOutput(BaseOutput):
    """Output of every adapter.

    Args:
        tokens: ``(b, k, d_out)`` conditioning tokens.
        mask: ``(b, k)`` boolean, ``True`` where the token is real.
    """

    tokens: torch.Tensor
    mask: torch.Tensor


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters of ``module`` (only those with ``requires_grad`` when ``trainable_only``).

    Works on the meta device. Parameters shared between submodules are counted once.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    check_bool(trainable_only, "trainable_only")
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def check_sizes(**sizes: int) -> None:
    """Check that every keyword is a Python ``int >= 1`` (sizes stored in a model config)."""
    for name, value in sizes.items():
        check_int(value, name, plain=True)


def check_tokens_and_mask(
    tokens: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    d_in: int,
    ndims: tuple[int, ...] = (3,),
    dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate an adapter's inputs; return ``tokens`` (in ``dtype``) and the mask as a boolean tensor.

    Floating tokens of another dtype (e.g. ``float64``) are cast to ``dtype``, the adapter's
    parameter dtype, as transformers casts pixel values to its vision tower's dtype. Integer or
    boolean tokens are refused: they are ids, not embeddings.

    Args:
        tokens: ``(b, n, d_in)`` (or any rank in ``ndims``), floating point.
        mask: ``tokens.shape[:-1]``, boolean or integer 0/1 (as a transformers ``attention_mask``), or ``None``.
        d_in: the expected last dimension.
        ndims: the accepted ranks of ``tokens``.
        dtype: the dtype to cast ``tokens`` to (``None`` keeps theirs).

    Returns:
        ``(tokens, mask)`` with ``mask`` boolean of shape ``tokens.shape[:-1]`` (all ``True`` when ``None``).

    Raises:
        TypeError: ``tokens`` is not a floating tensor, or ``mask`` is not a boolean/integer tensor.
        ValueError: a wrong shape.
    """
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"tokens must be a torch.Tensor, got {type(tokens).__name__}")
    if not tokens.is_floating_point():
        raise TypeError(f"tokens must be a floating-point tensor (embeddings), got dtype {tokens.dtype}")
    if tokens.ndim not in ndims:
        allowed = " or ".join(f"{n}-d" for n in ndims)
        raise ValueError(f"tokens must be {allowed} (b, [t,] n, d_in), got shape {tuple(tokens.shape)}")
    if tokens.shape[-1] != d_in:
        raise ValueError(f"tokens last dimension must be d_in={d_in}, got shape {tuple(tokens.shape)}")
    if dtype is not None and tokens.dtype != dtype:
        tokens = tokens.to(dtype)
    if mask is None:
        return tokens, torch.ones(tokens.shape[:-1], dtype=torch.bool, device=tokens.device)
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor or None, got {type(mask).__name__}")
    if mask.shape != tokens.shape[:-1]:
        raise ValueError(
            f"mask must have shape {tuple(tokens.shape[:-1])} (tokens.shape[:-1]), got {tuple(mask.shape)}"
        )
    if mask.is_floating_point() or mask.is_complex():
        raise TypeError(f"mask must be boolean (True = real token) or integer 0/1, got dtype {mask.dtype}")
    return tokens, mask.to(device=tokens.device, dtype=torch.bool) if mask.dtype != torch.bool else mask
