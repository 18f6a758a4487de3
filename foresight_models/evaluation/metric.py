"""Metrics that :func:`~foresight_models.evaluation.evaluate` computes: :class:`Metric` and the built-in registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from .. import metrics as M

__all__ = ["METRICS", "Metric", "resolve_metrics"]


@dataclass(frozen=True)
class Metric:
    """A metric that :func:`evaluate` can compute.

    Attributes:
        name: column name in reports.
        fn: ``per="frame"``: ``fn(prediction (b, ...), target (b, ...)) -> (b,)`` applied at every horizon;
            ``per="clip"``: ``fn(predicted_clip (b, 1 + k, ...), real_clip (b, 1 + k, ...)) -> (b,)`` on the
            last context frame followed by the ``k`` predicted (or real) frames.
        higher_is_better: direction of the metric; ``None`` when neither is (e.g. a ratio whose ideal is 1).
        per: ``"frame"`` or ``"clip"``.
    """

    name: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    higher_is_better: bool | None
    per: Literal["frame", "clip"] = "frame"


def _temporal_consistency(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return M.temporal_consistency(prediction)


#: Built-in metrics by name.
METRICS: dict[str, Metric] = {
    "pixel_l1": Metric("pixel_l1", M.pixel_l1, False),
    "psnr": Metric("psnr", M.psnr, True),
    "ssim": Metric("ssim", M.ssim, True),
    "lpips": Metric("lpips", M.lpips, False),
    "cosine": Metric("cosine", M.cosine_similarity, True),
    "temporal_ratio": Metric("temporal_ratio", M.temporal_ratio, None, per="clip"),
    "temporal_consistency": Metric("temporal_consistency", _temporal_consistency, None, per="clip"),
}


def resolve_metrics(metrics: Sequence[str | Metric] | Mapping[str, Callable[..., torch.Tensor]]) -> list[Metric]:
    """Metric names, :class:`Metric` objects or ``{name: fn}`` frame metrics -> a list of unique :class:`Metric`."""
    if isinstance(metrics, str):
        metrics = [metrics]
    if isinstance(metrics, Mapping):
        resolved = [m if isinstance(m, Metric) else Metric(name, m, None) for name, m in metrics.items()]
    else:
        resolved = []
        for metric in metrics:
            if isinstance(metric, Metric):
                resolved.append(metric)
            elif metric in METRICS:
                resolved.append(METRICS[metric])
            else:
                raise ValueError(
                    f"unknown metric {metric!r}; built-in metrics are {sorted(METRICS)} (or pass Metric objects)"
                )
    if not resolved:
        raise ValueError("metrics is empty: name at least one metric")
    names = [m.name for m in resolved]
    if len(set(names)) != len(names):
        raise ValueError(f"metric names must be unique, got {names}")
    return resolved
