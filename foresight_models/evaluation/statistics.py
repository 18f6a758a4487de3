"""Paired statistics over per-sample scores: is predictor ``a`` better than predictor ``b``?"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from .._validation import check_int, check_real

__all__ = ["Comparison", "bootstrap_ci", "compare"]


@dataclass(frozen=True)
class Comparison:
    """Paired comparison of two predictors' per-sample scores ``a`` and ``b`` (differences ``a - b``).

    Attributes:
        mean_a, mean_b: mean score of each predictor.
        mean_diff: mean of ``a - b`` (for a lower-is-better metric, negative means ``a`` is better).
        p_value: two-sided paired t-test p-value.
        p_wilcoxon: two-sided Wilcoxon signed-rank p-value.
        ci95: ``(low, high)`` percentile-bootstrap confidence interval of ``mean_diff``.
        n: number of paired samples.
    """

    mean_a: float
    mean_b: float
    mean_diff: float
    p_value: float
    p_wilcoxon: float
    ci95: tuple[float, float]
    n: int

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["ci95"] = list(self.ci95)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Comparison:
        values = dict(data)
        values["ci95"] = tuple(values["ci95"])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


def _as_vector(name: str, value: object) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().double().numpy()
    elif isinstance(value, (list, tuple, np.ndarray)):
        array = np.asarray(value, dtype=np.float64)
    else:
        raise TypeError(f"{name} must be a 1-d tensor, array or list of per-sample scores, got {type(value).__name__}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-d (one score per sample), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(
            f"{name} contains NaN or infinite scores at samples {np.flatnonzero(~np.isfinite(array)).tolist()[:10]}; "
            "a mean and a paired test need finite scores (PSNR of identical frames is inf: use psnr(..., max_db=100.0))"
        )
    return array


def bootstrap_ci(
    values: torch.Tensor | np.ndarray, *, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of ``values`` ``(n,)``, seeded (reproducible)."""
    array = _as_vector("values", values)
    confidence = check_real(confidence, "confidence", minimum=0.0, maximum=1.0, min_inclusive=False, max_inclusive=False)
    n_resamples = check_int(n_resamples, "n_resamples")
    rng = np.random.default_rng(seed)
    n = array.shape[0]
    chunk = max(1, 4_000_000 // n)  # bound the memory of the index matrix
    means = np.concatenate(
        [
            array[rng.integers(0, n, size=(min(chunk, n_resamples - i), n))].mean(axis=1)
            for i in range(0, n_resamples, chunk)
        ]
    )
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def compare(
    a: torch.Tensor | np.ndarray,
    b: torch.Tensor | np.ndarray,
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Compare paired per-sample scores ``a (n,)`` and ``b (n,)`` of two predictors on the same samples.

    Returns a :class:`Comparison` with the mean difference ``a - b``, a paired t-test p-value, a
    Wilcoxon signed-rank p-value and a seeded bootstrap 95% CI. All differences zero gives p = 1; a
    constant non-zero difference gives a t-test p of 0.
    """
    try:
        from scipy import stats
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("compare needs scipy: pip install 'foresight_models[eval]'") from error
    x, y = _as_vector("a", a), _as_vector("b", b)
    if x.shape != y.shape:
        raise ValueError(f"a and b must score the same samples, got {x.shape[0]} and {y.shape[0]} scores")
    if x.shape[0] < 2:
        raise ValueError(f"compare needs at least 2 paired samples, got {x.shape[0]}")
    diff = x - y
    if not diff.any():
        p_t = p_w = 1.0
    else:
        if np.ptp(diff) == 0:  # constant non-zero difference: t is infinite
            p_t = 0.0
        else:
            p_t = float(stats.ttest_rel(x, y).pvalue)
        p_w = float(stats.wilcoxon(x, y, zero_method="wilcox").pvalue)
    low, high = bootstrap_ci(diff, n_resamples=n_resamples, seed=seed)
    return Comparison(
        mean_a=float(x.mean()),
        mean_b=float(y.mean()),
        mean_diff=float(diff.mean()),
        p_value=p_t,
        p_wilcoxon=p_w,
        ci95=(low, high),
        n=int(x.shape[0]),
    )
