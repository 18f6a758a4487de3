"""Evaluation: run predictors and baselines over a dataset, paired statistics, probes, reports.

- :mod:`.evaluate`: :func:`evaluate` (predictors and baselines scored per sample and horizon).
- :mod:`.metric`: :class:`Metric` and the built-in registry :data:`METRICS`.
- :mod:`.report`: :class:`EvaluationReport` (comparisons, tables, ``report.json`` / ``.md`` / ``.png``).
- :mod:`.clip_folder`: :class:`ClipFolder` and :func:`save_clip_folder`, the folder ``foresight eval`` reads.
- :mod:`.statistics`: paired t-test, Wilcoxon test and bootstrap CI (:func:`compare`).
- :mod:`.probes`: what frozen features contain (spatial probe, latent alignment).
- :mod:`.synthetic_foresight`: video predictors on ``SyntheticMotion``, where the future is known exactly
  (object centre error per horizon against the baselines, PSNR/SSIM, action recall of descriptions).

The metrics themselves are pure functions in :mod:`foresight_models.metrics`.
"""

from __future__ import annotations

from .clip_folder import ClipFolder, save_clip_folder
from .evaluate import BASELINES, evaluate
from .metric import METRICS, Metric
from .probes import SpatialProbe, evaluate_spatial_probe, latent_alignment, train_spatial_probe
from .report import EvaluationReport
from .statistics import Comparison, bootstrap_ci, compare
from .synthetic_foresight import (
    PREDICTORS,
    PROMPT_SOURCES,
    SyntheticForesightResult,
    action_from_text,
    box_centres,
    evaluate_synthetic_foresight,
    locate_objects,
    pipeline_predictor,
)

__all__ = [
    "BASELINES",
    "METRICS",
    "PREDICTORS",
    "PROMPT_SOURCES",
    "ClipFolder",
    "Comparison",
    "EvaluationReport",
    "Metric",
    "SpatialProbe",
    "SyntheticForesightResult",
    "action_from_text",
    "bootstrap_ci",
    "box_centres",
    "compare",
    "evaluate",
    "evaluate_synthetic_foresight",
    "evaluate_spatial_probe",
    "latent_alignment",
    "locate_objects",
    "pipeline_predictor",
    "save_clip_folder",
    "train_spatial_probe",
]
