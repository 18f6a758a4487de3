"""Latent-space metrics: how similar two sets of features are, and how much one predicts the other.

Feature sets are ``(n, d)``: ``n`` samples (the same inputs, in the same order, for ``x`` and ``y``),
with possibly different widths ``d_x`` and ``d_y``. Per-sample metrics return ``(n,)``; set-level
metrics (CKA, R², Spearman, recall@k) return a 0-d tensor.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange

from .._validation import check_bool, check_choice, check_int, check_real
from ..models.layers import masked_mean
from .checks import check_same_length, check_same_shape, check_tensor

__all__ = [
    "cosine_similarity",
    "linear_cka",
    "linear_probe_r2",
    "rank",
    "rbf_cka",
    "recall_at_k",
    "rsa_spearman",
]


def cosine_similarity(
    prediction: torch.Tensor, target: torch.Tensor, *, mask: torch.Tensor | None = None, eps: float = 1e-8
) -> torch.Tensor:
    """Cosine similarity per sample.

    Args:
        prediction: ``(b, d)`` vectors or ``(b, n, d)`` tokens.
        target: same shape.
        mask: for tokens, optional bool ``(b, n)`` with ``True`` = real token; the token-wise cosines
            are averaged over real tokens only.

    Returns:
        ``(b,)`` in ``[-1, 1]``; higher is better.
    """
    prediction = check_tensor("prediction", prediction, ndim=(2, 3))
    target = check_tensor("target", target, ndim=(2, 3))
    check_same_shape("prediction", prediction, "target", target)
    cos = F.cosine_similarity(prediction, target, dim=-1, eps=eps)
    if prediction.ndim == 2:
        if mask is not None:
            raise ValueError("mask is only used with token features (b, n, d)")
        return cos
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.shape != prediction.shape[:2]:
            shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ValueError(f"mask must be a bool tensor of shape {tuple(prediction.shape[:2])}, got {shape}")
        if not bool(mask.any(dim=1).all()):
            raise ValueError("mask has a sample with no real token")
    return masked_mean(rearrange(cos, "b n -> b n 1"), mask, dim=1).squeeze(-1)


def _check_sets(
    x: torch.Tensor, y: torch.Tensor, *, min_samples: int = 2, names: tuple[str, str] = ("x", "y")
) -> tuple[torch.Tensor, torch.Tensor]:
    x = check_tensor(names[0], x, ndim=2)
    y = check_tensor(names[1], y, ndim=2)
    check_same_length(names[0], x, names[1], y)
    if x.shape[0] < min_samples:
        raise ValueError(f"{names[0]} and {names[1]}: need at least {min_samples} samples, got {x.shape[0]}")
    return x.double(), y.double()


def _center_gram(gram: torch.Tensor) -> torch.Tensor:
    return gram - gram.mean(dim=0, keepdim=True) - gram.mean(dim=1, keepdim=True) + gram.mean()


def _hsic(gram_x: torch.Tensor, gram_y: torch.Tensor, *, unbiased: bool) -> torch.Tensor:
    """HSIC of two Gram matrices ``(n, n)``; the biased one up to the constant ``1 / (n - 1)^2``."""
    n = gram_x.shape[0]
    if not unbiased:
        return (_center_gram(gram_x) * _center_gram(gram_y)).sum()
    # Song et al. (2012): unbiased estimator on Gram matrices with zeroed diagonals.
    kx = gram_x - torch.diag(torch.diag(gram_x))
    ky = gram_y - torch.diag(torch.diag(gram_y))
    value = (kx * ky).sum() + kx.sum() * ky.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (kx.sum(0) @ ky.sum(0))
    return value / (n * (n - 3))


def _cka_from_grams(grams: list[tuple[torch.Tensor, torch.Tensor]], *, unbiased: bool) -> torch.Tensor:
    xy = sum(_hsic(gx, gy, unbiased=unbiased) for gx, gy in grams)
    xx = sum(_hsic(gx, gx, unbiased=unbiased) for gx, _ in grams)
    yy = sum(_hsic(gy, gy, unbiased=unbiased) for _, gy in grams)
    if not (xx > 0 and yy > 0):
        raise ValueError("CKA is undefined: one of the feature sets has no variance")
    return (xy / torch.sqrt(xx * yy)).float()


def _batches(n: int, batch_size: int | None, unbiased: bool) -> tuple[list[slice], bool]:
    check_bool(unbiased, "unbiased")
    if batch_size is None:
        return [slice(0, n)], unbiased
    check_int(batch_size, "batch_size (or None)", minimum=4)
    slices = [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    if slices[-1].stop - slices[-1].start < 4:  # the unbiased estimator needs 4 samples: merge the tail
        slices = slices[:-2] + [slice(slices[-2].start, n)] if len(slices) > 1 else slices
    return slices, True


def linear_cka(
    x: torch.Tensor, y: torch.Tensor, *, unbiased: bool = False, batch_size: int | None = None
) -> torch.Tensor:
    """Linear centred kernel alignment (Kornblith et al. 2019) between two feature sets.

    ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with ``K = x x^T``, ``L = y y^T``; invariant to
    orthogonal transforms and isotropic scaling of either set.

    Args:
        x: ``(n, d_x)`` features.
        y: ``(n, d_y)`` features of the same ``n`` inputs.
        unbiased: use the unbiased HSIC estimator (Song et al. 2012), ``n >= 4``.
        batch_size: minibatch CKA (Nguyen et al. 2021) for large sets: unbiased HSIC accumulated over
            consecutive minibatches of this size (implies ``unbiased``).

    Returns:
        0-d tensor in ``[0, 1]`` (the unbiased estimate can be slightly negative); 1.0 = same geometry.
    """
    x, y = _check_sets(x, y, min_samples=4 if unbiased or batch_size else 2)
    slices, unbiased = _batches(x.shape[0], batch_size, unbiased)
    grams = [(x[s] @ x[s].T, y[s] @ y[s].T) for s in slices]
    return _cka_from_grams(grams, unbiased=unbiased)


def _rbf_gram(x: torch.Tensor, threshold: float) -> torch.Tensor:
    sq = torch.cdist(x, x).pow(2)
    ordered = sq.flatten().sort().values
    median = (ordered[(ordered.numel() - 1) // 2] + ordered[ordered.numel() // 2]) / 2  # as numpy.median
    if not median > 0:
        raise ValueError("rbf_cka: the median pairwise distance is 0 (most samples are identical)")
    return torch.exp(-sq / (2 * threshold**2 * median))


def rbf_cka(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    threshold: float = 1.0,
    unbiased: bool = False,
    batch_size: int | None = None,
) -> torch.Tensor:
    """CKA with Gaussian (RBF) kernels, bandwidth ``threshold * sqrt(median squared distance)``.

    Same arguments and range as :func:`linear_cka`; the bandwidth is set per set (and per minibatch).
    """
    check_real(threshold, "threshold", minimum=0.0, min_inclusive=False)
    x, y = _check_sets(x, y, min_samples=4 if unbiased or batch_size else 2)
    slices, unbiased = _batches(x.shape[0], batch_size, unbiased)
    grams = [(_rbf_gram(x[s], threshold), _rbf_gram(y[s], threshold)) for s in slices]
    return _cka_from_grams(grams, unbiased=unbiased)


def _ridge_fit(x: torch.Tensor, y: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form ridge with an unpenalised intercept: returns ``(weight (d_x, d_y), bias (d_y,))``."""
    x_mean, y_mean = x.mean(dim=0), y.mean(dim=0)
    xc, yc = x - x_mean, y - y_mean
    d = x.shape[1]
    if d <= x.shape[0]:
        weight = torch.linalg.solve(xc.T @ xc + alpha * torch.eye(d, dtype=x.dtype, device=x.device), xc.T @ yc)
    else:  # dual form, cheaper when there are more dimensions than samples
        identity = torch.eye(x.shape[0], dtype=x.dtype, device=x.device)
        weight = xc.T @ torch.linalg.solve(xc @ xc.T + alpha * identity, yc)
    return weight, y_mean - x_mean @ weight


def linear_probe_r2(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    alpha: float = 1.0,
    test_fraction: float = 0.2,
    seed: int = 0,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
) -> torch.Tensor:
    """Held-out R² of a closed-form ridge regression from ``x`` to ``y``.

    The probe is fitted on a training split and scored on the held-out split; R² is averaged uniformly
    over the output dimensions (scikit-learn's ``Ridge(alpha).fit(...).score(...)``).

    Args:
        x: ``(n, d_x)`` inputs.
        y: ``(n, d_y)`` targets.
        alpha: ridge penalty, ``>= 0``.
        test_fraction: share of samples held out (a seeded random split), in ``(0, 1)``.
        seed: seed of the split.
        x_test, y_test: an explicit held-out set; then all of ``x, y`` is used for fitting.

    Returns:
        0-d tensor ``<= 1``; 1.0 = ``y`` is a linear function of ``x``; ``<= 0`` = no better than the mean.
    """
    check_real(alpha, "alpha", minimum=0.0)
    x, y = _check_sets(x, y)
    if (x_test is None) != (y_test is None):
        raise ValueError("pass both x_test and y_test, or neither")
    if x_test is not None:
        x_test, y_test = _check_sets(x_test, y_test, names=("x_test", "y_test"))
        if x_test.shape[1] != x.shape[1] or y_test.shape[1] != y.shape[1]:
            raise ValueError(
                f"x_test/y_test widths {x_test.shape[1]}/{y_test.shape[1]} differ from x/y {x.shape[1]}/{y.shape[1]}"
            )
        x_train, y_train = x, y
    else:
        check_real(test_fraction, "test_fraction", minimum=0.0, maximum=1.0, min_inclusive=False, max_inclusive=False)
        n = x.shape[0]
        n_test = round(n * test_fraction)
        if n_test < 2 or n - n_test < 2:
            raise ValueError(f"{n} samples with test_fraction={test_fraction} leave fewer than 2 for a split")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        test, train = order[:n_test], order[n_test:]
        x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
    weight, bias = _ridge_fit(x_train, y_train, float(alpha))
    residual = (y_test - (x_test @ weight + bias)).pow(2).sum(dim=0)
    total = (y_test - y_test.mean(dim=0)).pow(2).sum(dim=0)
    if not bool((total > 0).all()):
        raise ValueError("linear_probe_r2: a target dimension is constant on the held-out set (R² undefined)")
    return (1 - residual / total).mean().float()


def rank(values: torch.Tensor) -> torch.Tensor:
    """Ranks ``1..n`` of a 1-d tensor, ties getting their average rank (as ``scipy.stats.rankdata``)."""
    _, inverse, counts = torch.unique(values, sorted=True, return_inverse=True, return_counts=True)
    average = counts.cumsum(0).double() - (counts.double() - 1) / 2
    return average[inverse]


def _distances(x: torch.Tensor, metric: str) -> torch.Tensor:
    if check_choice(metric, "metric", ("cosine", "euclidean")) == "cosine":
        normed = F.normalize(x, dim=-1)
        return 1 - normed @ normed.T
    return torch.cdist(x, x)


def rsa_spearman(
    x: torch.Tensor, y: torch.Tensor, *, metric: Literal["cosine", "euclidean"] = "cosine"
) -> torch.Tensor:
    """Representational similarity: Spearman correlation of the two sets' pairwise distance matrices.

    The ``n (n - 1) / 2`` distances above the diagonal of each representational distance matrix are
    ranked (ties averaged) and correlated.

    Args:
        x: ``(n, d_x)``, ``n >= 3``.
        y: ``(n, d_y)``.
        metric: ``"cosine"`` (``1 - cos``) or ``"euclidean"`` distances.

    Returns:
        0-d tensor in ``[-1, 1]``; 1.0 = the same ordering of pairwise distances.
    """
    x, y = _check_sets(x, y, min_samples=3)
    n = x.shape[0]
    rows, cols = torch.triu_indices(n, n, offset=1, device=x.device)
    rx = rank(_distances(x, metric)[rows, cols])
    ry = rank(_distances(y, metric)[rows, cols])
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = torch.sqrt((rx * rx).sum() * (ry * ry).sum())
    if not denominator > 0:
        raise ValueError("rsa_spearman is undefined: all pairwise distances of a set are equal")
    return ((rx * ry).sum() / denominator).float()


def recall_at_k(
    x: torch.Tensor, y: torch.Tensor, *, k: int = 10, metric: Literal["cosine", "euclidean"] = "cosine"
) -> torch.Tensor:
    """Neighbourhood recall@k: the overlap of each sample's ``k`` nearest neighbours in the two spaces.

    For every sample ``i``, its ``k`` nearest other samples are found in ``x`` and in ``y``; the score
    is ``|N_x(i) ∩ N_y(i)| / k`` averaged over samples.

    Args:
        x: ``(n, d_x)``.
        y: ``(n, d_y)``.
        k: neighbourhood size, ``1 <= k < n``.
        metric: ``"cosine"`` or ``"euclidean"`` distance.

    Returns:
        0-d tensor in ``[0, 1]``; chance level is about ``k / (n - 1)``.
    """
    x, y = _check_sets(x, y)
    n = x.shape[0]
    check_int(k, f"k (at most n - 1 = {n - 1} for {n} samples)", maximum=n - 1)
    eye = torch.eye(n, dtype=torch.bool, device=x.device)
    nx = _distances(x, metric).masked_fill(eye, float("inf")).topk(k, dim=1, largest=False).indices
    ny = _distances(y, metric).masked_fill(eye, float("inf")).topk(k, dim=1, largest=False).indices
    in_x = torch.zeros_like(eye).scatter_(1, nx, True)
    in_y = torch.zeros_like(eye).scatter_(1, ny, True)
    return ((in_x & in_y).sum(dim=1).double() / k).mean().float()
