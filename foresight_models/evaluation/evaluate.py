"""Run predictors and baselines over a dataset, score them per sample and per horizon, compare them.

A *predictor* is any callable ``predictor(context (b, t, ...), *, horizon=k) -> (b, ...)`` that returns
the frame ``k`` steps after the last context frame; the baselines ``CopyLastFrame`` and
``LinearExtrapolation`` and the prediction heads have exactly this call. A predictor that produces a
whole clip at once (a video model) sets the attribute ``predicts_clip = True`` and is called as
``predictor(context, num_frames=k_max) -> (b, k_max, ...)``.

A *dataset* is any sized iterable of dict items holding ``"context" (t, ...)`` and ``"future" (t', ...)``
tensors (pixel clips ``(t, c, h, w)``, uint8 in ``[0, 255]`` or float in ``[0, 1]``, or token clips
``(t, n, d)``), or ``"frames"`` split at ``context_frames``.

Example::

    report = evaluate({"model": model}, dataset, metrics=("pixel_l1", "ssim"))
    print(report)                       # model vs copy: improvement, p-values, CI
    report.save("eval/")                # report.json, report.md, horizons.png
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from .._validation import check_choice, check_int, check_real
from ..inputs import frames_to_float
from .metric import Metric, resolve_metrics
from .report import EvaluationReport

__all__ = ["BASELINES", "evaluate"]


#: Names of the built-in baselines.
BASELINES = ("copy", "extrapolate")


def _baseline(name: str, value_range: tuple[float, float] | None) -> Callable[..., torch.Tensor]:
    from ..models.heads import CopyLastFrame, LinearExtrapolation

    if name == "copy":
        return CopyLastFrame()
    return LinearExtrapolation(clamp=value_range)


def _check_value_range(value_range: Any) -> tuple[float, float] | None:
    if value_range is None:
        return None
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise TypeError(f"value_range: expected None or a (low, high) pair of numbers, got {value_range!r}")
    low = check_real(value_range[0], "value_range[0] (low)")
    high = check_real(value_range[1], "value_range[1] (high)")
    if not low < high:
        raise ValueError(f"value_range: expected low < high, got {value_range!r}")
    return (low, high)


def _split_item(item: Any, index: int, context_frames: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(item, Mapping):
        raise TypeError(f"dataset item {index} must be a dict with 'context' and 'future', got {type(item).__name__}")
    if "context" in item and "future" in item:
        return frames_to_float(item["context"], name="dataset item 'context'"), frames_to_float(item["future"], name="dataset item 'future'")
    if "frames" in item and context_frames is not None:
        frames = frames_to_float(item["frames"], name="dataset item 'frames'")
        if not 1 <= context_frames < frames.shape[0]:
            raise ValueError(
                f"context_frames={context_frames} leaves no future in item {index} of {frames.shape[0]} frames"
            )
        return frames[:context_frames], frames[context_frames:]
    hint = " (pass context_frames= to split 'frames')" if "frames" in item else ""
    raise ValueError(f"dataset item {index} needs 'context' and 'future' tensors{hint}; it has keys {sorted(item)}")


def _batches(
    dataset: Iterable[Any], batch_size: int, context_frames: int | None
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    contexts: list[torch.Tensor] = []
    futures: list[torch.Tensor] = []
    shapes: tuple[torch.Size, torch.Size] | None = None
    for index, item in enumerate(dataset):
        context, future = _split_item(item, index, context_frames)
        if shapes is None:
            shapes = (context.shape, future.shape)
        elif (context.shape, future.shape) != shapes:
            raise ValueError(
                f"dataset item {index} has context {tuple(context.shape)} / future {tuple(future.shape)}, unlike the "
                f"first item ({tuple(shapes[0])} / {tuple(shapes[1])}); resize clips to one size"
            )
        contexts.append(context)
        futures.append(future)
        if len(contexts) == batch_size:
            yield torch.stack(contexts), torch.stack(futures)
            contexts, futures = [], []
    if contexts:
        yield torch.stack(contexts), torch.stack(futures)


def _predict(
    name: str, predictor: Callable[..., torch.Tensor], context: torch.Tensor, future: torch.Tensor, horizons: list[int]
) -> torch.Tensor:
    """Predicted frames at ``horizons``: ``(b, len(horizons), ...)`` shaped like ``future[:, horizons - 1]``."""
    expected = (future.shape[0], *future.shape[2:])
    if getattr(predictor, "predicts_clip", False):
        clip = predictor(context, num_frames=max(horizons))
        wanted = (future.shape[0], max(horizons), *future.shape[2:])
        if not isinstance(clip, torch.Tensor) or tuple(clip.shape) != wanted:
            got = tuple(clip.shape) if isinstance(clip, torch.Tensor) else type(clip).__name__
            raise ValueError(f"predictor {name!r} returned {got}, expected a clip of shape {wanted}")
        return clip[:, [h - 1 for h in horizons]].float()
    frames = []
    for horizon in horizons:
        frame = predictor(context, horizon=horizon)
        if not isinstance(frame, torch.Tensor) or tuple(frame.shape) != expected:
            got = tuple(frame.shape) if isinstance(frame, torch.Tensor) else type(frame).__name__
            raise ValueError(f"predictor {name!r} returned {got} at horizon {horizon}, expected {expected}")
        frames.append(frame.float())
    return torch.stack(frames, dim=1)


def evaluate(
    predictors: Mapping[str, Callable[..., torch.Tensor]],
    dataset: Iterable[Mapping[str, Any]],
    metrics: Sequence[str | Metric] | Mapping[str, Callable[..., torch.Tensor]] = ("pixel_l1", "ssim"),
    baselines: Sequence[str] = ("copy", "extrapolate"),
    *,
    horizons: Sequence[int] | None = None,
    context_frames: int | None = None,
    batch_size: int = 8,
    value_range: tuple[float, float] | None = (0.0, 1.0),
    reference: str = "copy",
) -> EvaluationReport:
    """Score every predictor and baseline on every sample of ``dataset``, per horizon.

    Args:
        predictors: name -> predictor (see the module docstring). May be empty if baselines are given.
        dataset: sized iterable of dict items with ``context`` / ``future`` tensors (uint8 is scaled to [0, 1]).
        metrics: names from :data:`METRICS`, :class:`Metric` objects, or ``{name: fn}`` frame metrics.
        baselines: any of ``"copy"`` (:class:`CopyLastFrame`) and ``"extrapolate"`` (:class:`LinearExtrapolation`,
            clamped to ``value_range``).
        horizons: frames ahead to score, each in ``[1, t']``; default every future frame ``1..t'``.
        context_frames: split items that hold ``"frames"`` instead of ``context`` / ``future``.
        batch_size: items per forward call.
        value_range: range of the data (pixels ``(0, 1)``); ``None`` for unbounded features.
        reference: the predictor every other one is compared against in the report.

    Returns:
        An :class:`EvaluationReport` with per-sample scores ``(n,)`` (frame metrics averaged over horizons)
        and per-horizon scores ``(n, len(horizons))``.
    """
    if not isinstance(predictors, Mapping):
        raise TypeError(f"predictors must be a dict of name -> callable, got {type(predictors).__name__}")
    value_range = _check_value_range(value_range)
    if isinstance(baselines, str):
        baselines = (baselines,)
    for baseline in baselines:
        check_choice(baseline, "baselines", BASELINES)
    if context_frames is not None:
        context_frames = check_int(context_frames, "context_frames")
    batch_size = check_int(batch_size, "batch_size")
    clash = sorted(set(predictors) & set(baselines))
    if clash:
        raise ValueError(f"predictor names {clash} clash with baseline names; rename them")
    for name, predictor in predictors.items():
        if not callable(predictor):
            raise TypeError(f"predictor {name!r} is not callable")
    everyone: dict[str, Callable[..., torch.Tensor]] = {b: _baseline(b, value_range) for b in baselines}
    everyone.update(predictors)
    if not everyone:
        raise ValueError("nothing to evaluate: predictors and baselines are both empty")
    if reference not in everyone:
        raise ValueError(f"reference {reference!r} is not among the evaluated predictors {sorted(everyone)}")
    resolved = resolve_metrics(metrics)

    frame_scores: dict[str, dict[str, list[torch.Tensor]]] = {p: {m.name: [] for m in resolved} for p in everyone}
    used_horizons: list[int] | None = None
    with torch.no_grad():
        for context, future in _batches(dataset, batch_size, context_frames):
            if value_range is not None:
                for part, values in (("context", context), ("future", future)):
                    low, high = float(values.min()), float(values.max())
                    if not (value_range[0] <= low and high <= value_range[1]):
                        raise ValueError(
                            f"dataset {part} values lie in [{low:.4g}, {high:.4g}], outside value_range={value_range} "
                            "(pass value_range=None for unbounded features)"
                        )
            if used_horizons is None:
                used_horizons = _check_horizons(horizons, future.shape[1])
            for name, predictor in everyone.items():
                predicted = _predict(name, predictor, context, future, used_horizons)
                real = future[:, [h - 1 for h in used_horizons]]
                for metric in resolved:
                    frame_scores[name][metric.name].append(_score(metric, name, predicted, real, context))
    if used_horizons is None:
        raise ValueError("dataset is empty: nothing to evaluate")
    per_horizon = {p: {m: torch.cat(v) for m, v in by_metric.items()} for p, by_metric in frame_scores.items()}
    return EvaluationReport(
        horizon_scores=per_horizon,
        horizons=used_horizons,
        higher_is_better={m.name: m.higher_is_better for m in resolved},
        reference=reference,
    )


def _check_horizons(horizons: Sequence[int] | None, future_frames: int) -> list[int]:
    if future_frames < 1:
        raise ValueError("dataset items have no future frames to predict")
    if horizons is None:
        return list(range(1, future_frames + 1))
    values = list(horizons)
    if not values:
        raise ValueError("horizons: expected at least one horizon (frames ahead), got an empty list")
    for i, horizon in enumerate(values):
        check_int(horizon, f"horizons[{i}] (frames ahead, the items have {future_frames} future frames)", maximum=future_frames)
    return sorted({int(h) for h in values})


def _score(
    metric: Metric, name: str, predicted: torch.Tensor, real: torch.Tensor, context: torch.Tensor
) -> torch.Tensor:
    """``(b, k)`` scores at each horizon for frame metrics, ``(b, 1)`` for clip metrics."""
    try:
        if metric.per == "clip":
            last = context[:, -1:]
            scores = metric.fn(torch.cat([last, predicted], dim=1), torch.cat([last, real], dim=1)).reshape(-1, 1)
        else:
            b, k = predicted.shape[:2]
            scores = metric.fn(predicted.flatten(0, 1), real.flatten(0, 1)).reshape(b, k)
        if not bool(torch.isfinite(scores).all()):
            raise ValueError(
                "it gave NaN or infinite scores, which means and paired tests cannot use (PSNR is inf for a frame "
                "predicted exactly: cap it with Metric('psnr', functools.partial(psnr, max_db=100.0), True), "
                "or --psnr-max-db 100 on the command line)"
            )
        return scores
    except ValueError as error:
        raise ValueError(f"metric {metric.name!r} failed on the predictions of {name!r}: {error}") from error
