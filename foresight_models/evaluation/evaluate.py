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

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from .. import metrics as M
from .._validation import check_int
from .statistics import Comparison, compare

__all__ = [
    "METRICS",
    "ClipFolder",
    "Comparison",
    "EvaluationReport",
    "Metric",
    "compare",
    "evaluate",
    "save_clip_folder",
]


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


def _resolve_metrics(metrics: Sequence[str | Metric] | Mapping[str, Callable[..., torch.Tensor]]) -> list[Metric]:
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


def _baseline(name: str, value_range: tuple[float, float] | None) -> Callable[..., torch.Tensor]:
    from ..models.heads import CopyLastFrame, LinearExtrapolation

    if name == "copy":
        return CopyLastFrame()
    if name == "extrapolate":
        return LinearExtrapolation(clamp=value_range)
    raise ValueError(f"unknown baseline {name!r}; baselines are 'copy' and 'extrapolate'")


def _to_float(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"dataset item {name!r} must be a torch.Tensor, got {type(value).__name__}")
    if value.dtype == torch.uint8:
        return value.float() / 255.0
    if not value.is_floating_point():
        raise TypeError(f"dataset item {name!r} must be uint8 or floating point, got {value.dtype}")
    return value.float()


def _split_item(item: Any, index: int, context_frames: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(item, Mapping):
        raise TypeError(f"dataset item {index} must be a dict with 'context' and 'future', got {type(item).__name__}")
    if "context" in item and "future" in item:
        return _to_float("context", item["context"]), _to_float("future", item["future"])
    if "frames" in item and context_frames is not None:
        frames = _to_float("frames", item["frames"])
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
    if value_range is not None and not (
        isinstance(value_range, (tuple, list))
        and len(value_range) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value_range)
        and value_range[0] < value_range[1]
    ):
        raise ValueError(f"value_range must be None or (low, high) numbers with low < high, got {value_range!r}")
    if isinstance(baselines, str):
        baselines = (baselines,)
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
    resolved = _resolve_metrics(metrics)
    check_int(batch_size, "batch_size")

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
    if not values or any(isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= future_frames for h in values):
        raise ValueError(f"horizons must be integers in [1, {future_frames}] (the future frames), got {values}")
    return sorted(set(values))


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


@dataclass
class EvaluationReport:
    """Per-sample scores of several predictors, with paired comparisons against a reference.

    Attributes:
        horizon_scores: ``{predictor: {metric: (n, k)}}`` scores per sample and horizon (clip metrics ``(n, 1)``).
        horizons: the ``k`` horizons (frames ahead) that were scored.
        higher_is_better: ``{metric: bool | None}``.
        reference: the predictor others are compared with (``"copy"`` by default).
    """

    horizon_scores: dict[str, dict[str, torch.Tensor]]
    horizons: list[int]
    higher_is_better: dict[str, bool | None]
    reference: str = "copy"

    @property
    def predictors(self) -> list[str]:
        return list(self.horizon_scores)

    @property
    def metrics(self) -> list[str]:
        return list(self.higher_is_better)

    @property
    def scores(self) -> dict[str, dict[str, torch.Tensor]]:
        """``{predictor: {metric: (n,)}}`` per-sample scores, frame metrics averaged over horizons."""
        return {p: {m: v.mean(dim=1) for m, v in by.items()} for p, by in self.horizon_scores.items()}

    def horizon_curve(self, predictor: str, metric: str) -> torch.Tensor:
        """Mean score at each horizon, ``(k,)``: how far ahead predictions stay accurate."""
        return self.horizon_scores[predictor][metric].mean(dim=0)

    def comparisons(self, *, n_resamples: int = 10_000, seed: int = 0) -> dict[str, dict[str, Comparison]]:
        """``{predictor: {metric: compare(predictor, reference)}}`` for every predictor but the reference."""
        scores = self.scores
        return {
            p: {
                m: compare(scores[p][m], scores[self.reference][m], n_resamples=n_resamples, seed=seed)
                for m in self.metrics
            }
            for p in self.predictors
            if p != self.reference
        }

    def rows(self, *, n_resamples: int = 10_000, seed: int = 0) -> list[dict[str, Any]]:
        """The table as dicts: model, metric, model mean, reference mean, improvement, 95% CI, p-values."""
        rows = []
        for predictor, by_metric in self.comparisons(n_resamples=n_resamples, seed=seed).items():
            for metric, c in by_metric.items():
                better = self.higher_is_better[metric]
                verdict = (
                    "-"
                    if better is None or c.p_value >= 0.05
                    else ("better" if (c.mean_diff > 0) == better else "worse")
                )
                rows.append(
                    {
                        "model": predictor,
                        "metric": metric,
                        "value": c.mean_a,
                        self.reference: c.mean_b,
                        "improvement": c.mean_diff,
                        "ci95": list(c.ci95),
                        "p": c.p_value,
                        "p_wilcoxon": c.p_wilcoxon,
                        "n": c.n,
                        "verdict": verdict,
                    }
                )
        return rows

    def _table(self, markdown: bool) -> str:
        header = ["model", "metric", "value", self.reference, "improvement", "95% CI", "p", "p (Wilcoxon)", "n", ""]
        lines = []
        for row in self.rows():
            lines.append(
                [
                    row["model"],
                    row["metric"],
                    f"{row['value']:.4f}",
                    f"{row[self.reference]:.4f}",
                    f"{row['improvement']:+.4f}",
                    f"[{row['ci95'][0]:+.4f}, {row['ci95'][1]:+.4f}]",
                    _format_p(row["p"]),
                    _format_p(row["p_wilcoxon"]),
                    str(row["n"]),
                    row["verdict"] if row["verdict"] != "-" else "",
                ]
            )
        if markdown:
            out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            out += ["| " + " | ".join(line) + " |" for line in lines]
            return "\n".join(out)
        widths = [max(len(str(x)) for x in column) for column in zip(header, *lines, strict=True)]
        out = ["  ".join(f"{x:<{w}}" for x, w in zip(header, widths, strict=True)).rstrip()]
        out.append("  ".join("-" * w for w in widths))
        out += ["  ".join(f"{x:<{w}}" for x, w in zip(line, widths, strict=True)).rstrip() for line in lines]
        return "\n".join(out)

    def table(self) -> str:
        """Plain-text table: each model against the reference, improvement = model - reference."""
        return self._table(markdown=False)

    def __str__(self) -> str:
        n = next(iter(next(iter(self.horizon_scores.values())).values())).shape[0]
        return f"Evaluation on {n} samples, horizons {self.horizons}\n{self.table()}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per-sample, per-horizon scores and the comparison rows."""
        return {
            "reference": self.reference,
            "horizons": self.horizons,
            "higher_is_better": self.higher_is_better,
            "horizon_scores": {p: {m: v.tolist() for m, v in by.items()} for p, by in self.horizon_scores.items()},
            "comparisons": self.rows(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationReport:
        return cls(
            horizon_scores={
                p: {m: torch.tensor(v, dtype=torch.float64) for m, v in by.items()}
                for p, by in data["horizon_scores"].items()
            },
            horizons=list(data["horizons"]),
            higher_is_better=dict(data["higher_is_better"]),
            reference=data["reference"],
        )

    def save_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=True))
        return path

    @classmethod
    def load_json(cls, path: str | Path) -> EvaluationReport:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def save_markdown(self, path: str | Path) -> Path:
        path = Path(path)
        curves = ["| model | metric | " + " | ".join(f"+{h}" for h in self.horizons) + " |"]
        curves.append("|" + "---|" * (2 + len(self.horizons)))
        for p in self.predictors:
            for m in self.metrics:
                values = self.horizon_curve(p, m).tolist()
                if len(values) == len(self.horizons):
                    curves.append(f"| {p} | {m} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
        text = (
            f"# Evaluation\n\nImprovement = model - {self.reference}, per sample; p: paired t-test; "
            f"95% CI: bootstrap.\n\n{self._table(markdown=True)}\n\n## Mean score by horizon (frames ahead)\n\n"
            + "\n".join(curves)
            + "\n"
        )
        path.write_text(text)
        return path

    def save_plot(self, path: str | Path) -> Path:
        """PNG of the horizon curves: one panel per frame metric, one line per predictor."""
        try:
            from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend and figures alone
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("plots need matplotlib: pip install 'foresight_models[eval]'") from error
        path = Path(path)
        frame_metrics = [
            m for m in self.metrics if self.horizon_scores[self.reference][m].shape[1] == len(self.horizons)
        ]
        panels = frame_metrics or self.metrics
        fig = Figure(figsize=(4 * len(panels), 3.2))
        axes = fig.subplots(1, len(panels), squeeze=False)
        for ax, metric in zip(axes[0], panels, strict=True):
            for predictor in self.predictors:
                curve = self.horizon_curve(predictor, metric).tolist()
                xs = self.horizons if len(curve) == len(self.horizons) else [0]
                ax.plot(xs, curve, marker="o", label=predictor)
            direction = {True: " (higher is better)", False: " (lower is better)"}.get(
                self.higher_is_better[metric], ""
            )
            ax.set_title(metric + direction, fontsize=9)
            ax.set_xlabel("frames ahead")
            ax.set_xticks(self.horizons)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        return path

    def save(self, directory: str | Path) -> dict[str, Path]:
        """Write ``report.json``, ``report.md`` and ``horizons.png`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return {
            "json": self.save_json(directory / "report.json"),
            "markdown": self.save_markdown(directory / "report.md"),
            "plot": self.save_plot(directory / "horizons.png"),
        }


def _format_p(p: float) -> str:
    if math.isnan(p):
        return "nan"
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}"


class ClipFolder:
    """A folder of ``*.safetensors`` files, one sample each, holding ``context`` and ``future`` tensors
    (or ``frames``); files are read in name order. Write one with :func:`save_clip_folder`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"dataset folder {self.path} does not exist")
        self.files = sorted(self.path.glob("*.safetensors"))
        if not self.files:
            raise ValueError(f"dataset folder {self.path} holds no *.safetensors file")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file

        return load_file(self.files[index])

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def save_clip_folder(items: Iterable[Mapping[str, torch.Tensor]], path: str | Path) -> Path:
    """Write dataset items (dicts of tensors; other values are dropped) as ``path/000000.safetensors``, ...

    Only tensor entries are stored; at least ``context`` / ``future`` or ``frames`` are expected.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    count = 0
    for index, item in enumerate(items):
        tensors = {k: v.contiguous() for k, v in item.items() if isinstance(v, torch.Tensor)}
        if not ({"context", "future"} <= set(tensors) or "frames" in tensors):
            raise ValueError(f"item {index} needs 'context' and 'future' (or 'frames') tensors, has {sorted(tensors)}")
        save_file(tensors, str(path / f"{index:06d}.safetensors"))
        count += 1
    if count == 0:
        raise ValueError("items is empty: nothing to save")
    return path
