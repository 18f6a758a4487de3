"""Video metrics: temporal consistency, temporal ratio and frame-wise image metrics over clips.

Clips are ``(b, t, c, h, w)``; features of a clip are ``(b, t, d)`` (one vector per frame) or
``(b, t, n, d)`` (tokens per frame). Every function returns one value per sample, shape ``(b,)``
(or ``(b, t)`` for :func:`framewise`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange

from .checks import check_same_shape, check_tensor

__all__ = ["framewise", "temporal_consistency", "temporal_ratio"]


def temporal_consistency(
    clip: torch.Tensor,
    *,
    encoder: Callable[[torch.Tensor], torch.Tensor] | None = None,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Mean cosine similarity between the features of consecutive frames, per clip.

    Args:
        clip: pixel clips ``(b, t, c, h, w)``, frame features ``(b, t, d)`` or token features
            ``(b, t, n, d)``; ``t >= 2``. Values must be finite.
        encoder: optional feature extractor applied to pixel clips: ``(b*t, c, h, w) -> (b*t, d)``
            or ``(b*t, n, d)``. Without it, a pixel frame's feature is its flattened pixels.
        eps: added to the norms to avoid division by zero.

    Returns:
        ``(b,)`` in ``[-1, 1]``: ``mean_{i} cos(f_i, f_{i+1})`` over the ``t - 1`` consecutive pairs.
        For token features the cosine is taken token by token (token ``j`` of frame ``i`` against token
        ``j`` of frame ``i + 1``) and averaged over tokens. 1.0 means no change between frames.
    """
    clip = check_tensor("clip", clip, ndim=(3, 4, 5), min_size={1: 2})
    if clip.ndim == 5:
        b = clip.shape[0]
        frames = rearrange(clip, "b t c h w -> (b t) c h w")
        if encoder is None:
            features = rearrange(frames, "bt c h w -> bt (c h w)")
        else:
            features = encoder(frames)
            if not isinstance(features, torch.Tensor) or features.ndim not in (2, 3):
                shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
                raise ValueError(f"encoder must return (b*t, d) or (b*t, n, d) features, got {shape}")
        features = features.reshape(b, clip.shape[1], *features.shape[1:]).float()
    elif encoder is not None:
        raise ValueError(f"encoder is only used with pixel clips (b, t, c, h, w), got shape {tuple(clip.shape)}")
    else:
        features = clip
    if features.ndim == 3:  # (b, t, d) -> one token per frame
        features = rearrange(features, "b t d -> b t 1 d")
    cos = F.cosine_similarity(features[:, 1:], features[:, :-1], dim=-1, eps=eps)  # (b, t-1, n)
    return cos.mean(dim=(1, 2))


def _motion(clip: torch.Tensor) -> torch.Tensor:
    """Mean absolute frame-to-frame change ``(b,)`` of a clip ``(b, t, ...)``."""
    return (clip[:, 1:] - clip[:, :-1]).abs().flatten(1).mean(dim=1)


def temporal_ratio(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Motion of the predicted clip over motion of the real clip, per sample.

    Motion is the mean absolute frame-to-frame change ``mean |x_{i+1} - x_i|``.

    Args:
        prediction: predicted clip ``(b, t, ...)`` (pixels ``(b, t, c, h, w)`` or features), ``t >= 2``.
        target: real clip of the same shape.

    Returns:
        ``(b,)``, ``>= 0``: 1.0 means as much motion as reality, 0.0 a frozen prediction.

    Raises:
        ValueError: if a real clip has no motion at all (the ratio is undefined).
    """
    prediction = check_tensor("prediction", prediction, ndim=(3, 4, 5), min_size={1: 2})
    target = check_tensor("target", target, ndim=(3, 4, 5), min_size={1: 2})
    check_same_shape("prediction", prediction, "target", target)
    real = _motion(target)
    static = torch.nonzero(real == 0).flatten().tolist()
    if static:
        raise ValueError(f"target clips {static} have no motion (all frames equal); temporal_ratio is undefined")
    return _motion(prediction) / real


def framewise(
    metric: Callable[..., torch.Tensor],
    prediction: torch.Tensor,
    target: torch.Tensor,
    **kwargs: object,
) -> torch.Tensor:
    """Apply an image metric ``metric(pred (n, c, h, w), target (n, c, h, w), **kwargs) -> (n,)`` to every frame.

    Args:
        metric: e.g. :func:`~foresight_models.metrics.psnr` or :func:`~foresight_models.metrics.ssim`.
        prediction: ``(b, t, c, h, w)``.
        target: ``(b, t, c, h, w)``.

    Returns:
        ``(b, t)``: the metric of frame ``i`` of each clip; average over ``t`` for a clip score, or read
        column ``i`` for a horizon curve.
    """
    prediction = check_tensor("prediction", prediction, ndim=5)
    target = check_tensor("target", target, ndim=5)
    check_same_shape("prediction", prediction, "target", target)
    b = prediction.shape[0]
    scores = metric(
        rearrange(prediction, "b t c h w -> (b t) c h w"), rearrange(target, "b t c h w -> (b t) c h w"), **kwargs
    )
    return rearrange(scores, "(b t) -> b t", b=b)
