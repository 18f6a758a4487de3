"""The result of :func:`~foresight_models.evaluation.evaluate`: per-sample scores, comparisons, tables and files."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .statistics import Comparison, compare

__all__ = ["EvaluationReport"]


@dataclass(repr=False)
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

    def __repr__(self) -> str:
        """The table, readable in a REPL or a notebook's text output (not the raw tensors)."""
        return f"EvaluationReport(reference={self.reference!r}, predictors={self.predictors})\n{self}"

    def _repr_html_(self) -> str:
        """Notebook display: the table as HTML and, with matplotlib installed, the horizon curves inline (PNG)."""
        import base64
        import html

        header = ["model", "metric", "value", self.reference, "improvement", "95% CI", "p", "p (Wilcoxon)", "n", ""]
        cells = [line.split(" | ") for line in (row.strip("| ") for row in self._table(markdown=True).splitlines()[2:])]
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells)
        n = next(iter(next(iter(self.horizon_scores.values())).values())).shape[0]
        parts = [f"<p>Evaluation on {n} samples, horizons {html.escape(str(self.horizons))}</p>",
                 f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"]  # fmt: skip
        try:
            png = self.plot_png()
        except ImportError:
            png = None
        if png is not None:
            parts.append(f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="horizon curves"/>')
        return "\n".join(parts)

    def plot_png(self) -> bytes:
        """The horizon curves of :meth:`save_plot` as PNG bytes (needs matplotlib)."""
        import io

        buffer = io.BytesIO()
        self._figure().savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()

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
        path = Path(path)
        self._figure().savefig(path, dpi=100)
        return path

    def _figure(self):
        try:
            from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend and figures alone
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("plots need matplotlib: pip install 'foresight_models[eval]'") from error
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
        return fig

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
