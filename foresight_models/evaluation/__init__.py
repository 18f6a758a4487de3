"""Evaluation: run predictors and baselines over a dataset, paired statistics, probes, reports.

- :mod:`.evaluate`: :func:`evaluate`, the metric registry, :class:`EvaluationReport`, clip folders.
- :mod:`.statistics`: paired t-test, Wilcoxon test and bootstrap CI (:func:`compare`).
- :mod:`.probes`: what frozen features contain (spatial probe, latent alignment).

The metrics themselves are pure functions in :mod:`foresight_models.metrics`.
"""

from __future__ import annotations

from .evaluate import METRICS, ClipFolder, EvaluationReport, Metric, evaluate, save_clip_folder
from .probes import SpatialProbe, evaluate_spatial_probe, latent_alignment, train_spatial_probe
from .statistics import Comparison, bootstrap_ci, compare

__all__ = [
    "METRICS",
    "ClipFolder",
    "Comparison",
    "EvaluationReport",
    "Metric",
    "SpatialProbe",
    "bootstrap_ci",
    "compare",
    "evaluate",
    "evaluate_spatial_probe",
    "latent_alignment",
    "save_clip_folder",
    "train_spatial_probe",
]
