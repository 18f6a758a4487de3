"""Evaluation: run predictors and baselines over a dataset, paired statistics, probes, reports.

- :mod:`.evaluate`: :func:`evaluate` (predictors and baselines scored per sample and horizon).
- :mod:`.metric`: :class:`Metric` and the built-in registry :data:`METRICS`.
- :mod:`.report`: :class:`EvaluationReport` (comparisons, tables, ``report.json`` / ``.md`` / ``.png``).
- :mod:`.clip_folder`: :class:`ClipFolder` and :func:`save_clip_folder`, the folder ``foresight eval`` reads.
- :mod:`.statistics`: paired t-test, Wilcoxon test and bootstrap CI (:func:`compare`).
- :mod:`.probes`: what frozen features contain (spatial probe, latent alignment).

The metrics themselves are pure functions in :mod:`foresight_models.metrics`.
"""

from __future__ import annotations

from .clip_folder import ClipFolder, save_clip_folder
from .evaluate import BASELINES, evaluate
from .metric import METRICS, Metric
from .probes import SpatialProbe, evaluate_spatial_probe, latent_alignment, train_spatial_probe
from .report import EvaluationReport
from .statistics import Comparison, bootstrap_ci, compare

__all__ = [
    "BASELINES",
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
