import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr
from sklearn.linear_model import Ridge

from foresight_models.metrics import (
    cosine_similarity,
    linear_cka,
    linear_probe_r2,
    rank,
    rbf_cka,
    recall_at_k,
    rsa_spearman,
)


def _features(seed: int, n: int = 40, dx: int = 12, dy: int = 7):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dx, generator=g, dtype=torch.float64)
    y = x[:, :dy] @ torch.randn(dy, dy, generator=g, dtype=torch.float64) + 0.5 * torch.randn(
        n, dy, generator=g, dtype=torch.float64
    )
    return x, y


def _numpy_linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean(0)
    y = y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def _numpy_hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    n = k.shape[0]
    k, l = k.copy(), l.copy()  # noqa: E741
    np.fill_diagonal(k, 0)
    np.fill_diagonal(l, 0)
    one = np.ones(n)
    return (
        np.trace(k @ l) + one @ k @ one * (one @ l @ one) / ((n - 1) * (n - 2)) - 2 / (n - 2) * one @ k @ l @ one
    ) / (n * (n - 3))


def _numpy_rbf_gram(x: np.ndarray) -> np.ndarray:
    sq = ((x[:, None] - x[None]) ** 2).sum(-1)
    return np.exp(-sq / (2 * np.median(sq)))


def _numpy_cka_biased(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    n = k.shape[0]
    h = np.eye(n) - 1 / n
    kc, lc = h @ k @ h, h @ l @ h
    return (kc * lc).sum() / np.sqrt((kc * kc).sum() * (lc * lc).sum())


def test_linear_cka_matches_numpy_and_is_invariant():
    x, y = _features(0)
    reference = _numpy_linear_cka(x.numpy(), y.numpy())
    assert abs(float(linear_cka(x, y)) - reference) < 1e-5
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    assert abs(float(linear_cka(x @ q * 3.7, y)) - reference) < 1e-5
    assert abs(float(linear_cka(x, x)) - 1) < 1e-6


def test_unbiased_and_minibatch_cka_match_numpy():
    x, y = _features(1, n=30)
    xn, yn = x.numpy(), y.numpy()
    k, l = xn @ xn.T, yn @ yn.T  # noqa: E741
    reference = _numpy_hsic_unbiased(k, l) / np.sqrt(_numpy_hsic_unbiased(k, k) * _numpy_hsic_unbiased(l, l))
    assert abs(float(linear_cka(x, y, unbiased=True)) - reference) < 1e-5
    # minibatches of 10: HSIC terms summed over the 3 batches
    parts = [(xn[i : i + 10] @ xn[i : i + 10].T, yn[i : i + 10] @ yn[i : i + 10].T) for i in range(0, 30, 10)]
    xy = sum(_numpy_hsic_unbiased(a, b) for a, b in parts)
    xx = sum(_numpy_hsic_unbiased(a, a) for a, _ in parts)
    yy = sum(_numpy_hsic_unbiased(b, b) for _, b in parts)
    assert abs(float(linear_cka(x, y, batch_size=10)) - xy / np.sqrt(xx * yy)) < 1e-5


def test_rbf_cka_matches_numpy_and_is_invariant():
    x, y = _features(2)
    reference = _numpy_cka_biased(_numpy_rbf_gram(x.numpy()), _numpy_rbf_gram(y.numpy()))
    assert abs(float(rbf_cka(x, y)) - reference) < 1e-5
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=torch.Generator().manual_seed(6), dtype=torch.float64))
    assert abs(float(rbf_cka(2.5 * x @ q, y)) - reference) < 1e-5


def test_linear_probe_r2_matches_sklearn_ridge():
    x, y = _features(3, n=60)
    x_test, y_test = _features(4, n=25)
    for alpha in (0.0, 1.0, 10.0):
        reference = Ridge(alpha=alpha).fit(x.numpy(), y.numpy()).score(x_test.numpy(), y_test.numpy())
        ours = linear_probe_r2(x, y, alpha=alpha, x_test=x_test, y_test=y_test)
        assert abs(float(ours) - reference) < 1e-5
    # more dimensions than samples uses the dual form
    wide = torch.randn(20, 50, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    target = wide[:, :3].clone()
    wide_test = torch.randn(10, 50, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    reference = Ridge(alpha=1.0).fit(wide.numpy(), target.numpy()).score(wide_test.numpy(), wide_test[:, :3].numpy())
    assert abs(float(linear_probe_r2(wide, target, x_test=wide_test, y_test=wide_test[:, :3])) - reference) < 1e-5


def test_linear_probe_r2_split_is_seeded_and_meaningful():
    x, y = _features(5, n=80)
    assert float(linear_probe_r2(x, y, seed=1)) == float(linear_probe_r2(x, y, seed=1))
    assert float(linear_probe_r2(x, x[:, :3] * 2 + 1)) > 0.99
    noise = torch.randn(80, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    assert float(linear_probe_r2(x, noise)) < 0.2
    with pytest.raises(ValueError, match=r"test_fraction: expected a finite number in \(0.0, 1.0\), got 1.5"):
        linear_probe_r2(x, y, test_fraction=1.5)
    with pytest.raises(TypeError, match="test_fraction: expected a real number, got '0.2'"):
        linear_probe_r2(x, y, test_fraction="0.2")
    with pytest.raises(ValueError, match="alpha: expected a finite number >= 0.0, got -1"):
        linear_probe_r2(x, y, alpha=-1)
    with pytest.raises(ValueError, match="constant"):
        linear_probe_r2(x, torch.ones(80, 2, dtype=torch.float64))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_rsa_spearman_matches_scipy(metric):
    x, y = _features(6, n=25)
    reference = spearmanr(pdist(x.numpy(), metric=metric), pdist(y.numpy(), metric=metric)).statistic
    assert abs(float(rsa_spearman(x, y, metric=metric)) - reference) < 1e-5


def test_rank_averages_ties_like_scipy():
    from scipy.stats import rankdata

    values = torch.tensor([3.0, 1.0, 3.0, 2.0, 1.0, 3.0])
    np.testing.assert_allclose(rank(values).numpy(), rankdata(values.numpy()))


def test_recall_at_k():
    x, _ = _features(7, n=30)
    assert float(recall_at_k(x, x * 3, k=5)) == 1.0
    # hand-made: points on a line; y reverses their order, which keeps every neighbourhood
    line = torch.arange(6.0).view(6, 1)
    assert float(recall_at_k(line, -line, k=2, metric="euclidean")) == 1.0
    # y moves sample 0 to the far end: neighbours of 0 become {4, 5} (was {1, 2}), of 1 become {2, 3} (was {0, 2})
    moved = line.clone()
    moved[0] = 10.0
    expected = np.mean([0 / 2, 1 / 2, 2 / 2, 2 / 2, 2 / 2, 2 / 2])
    assert abs(float(recall_at_k(line, moved, k=2, metric="euclidean")) - expected) < 1e-6
    with pytest.raises(ValueError, match=r"k \(at most n - 1 = 29 for 30 samples\): expected an int in \[1, 29\], got 30"):
        recall_at_k(x, x, k=30)
    with pytest.raises(TypeError, match=r"k .*: expected an int, got 2.0"):
        recall_at_k(x, x, k=2.0)
    with pytest.raises(ValueError, match="metric: expected one of 'cosine', 'euclidean', got 'manhattan'"):
        recall_at_k(x, x, k=2, metric="manhattan")


def test_cosine_similarity_with_mask():
    g = torch.Generator().manual_seed(8)
    a, b = torch.randn(2, 4, 3, generator=g), torch.randn(2, 4, 3, generator=g)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1)
    torch.testing.assert_close(cosine_similarity(a, b, mask=mask), torch.stack([cos[0, :2].mean(), cos[1].mean()]))
    torch.testing.assert_close(cosine_similarity(a[:, 0], a[:, 0]), torch.ones(2))
    with pytest.raises(ValueError, match="no real token"):
        cosine_similarity(a, b, mask=torch.zeros(2, 4, dtype=torch.bool))


def test_set_metrics_reject_bad_input():
    x, y = _features(9)
    with pytest.raises(ValueError, match="same samples"):
        linear_cka(x, y[:-1])
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        rsa_spearman(bad, y)
    with pytest.raises(ValueError, match="no variance"):
        linear_cka(torch.ones(10, 3), y[:10])
    with pytest.raises(ValueError, match="x_test and y_test must describe the same samples"):
        linear_probe_r2(x, y, x_test=x[:5], y_test=y[:4])


def test_cka_batch_size_and_threshold_are_checked():
    x, y = _features(11, n=20)
    with pytest.raises(ValueError, match=r"batch_size \(or None\): expected an int >= 4, got 3"):
        linear_cka(x, y, batch_size=3)
    with pytest.raises(TypeError, match=r"batch_size \(or None\): expected an int, got True"):
        linear_cka(x, y, batch_size=True)
    with pytest.raises(ValueError, match="threshold: expected a finite number > 0.0, got 0"):
        rbf_cka(x, y, threshold=0)
    with pytest.raises(TypeError, match="threshold: expected a real number, got '1'"):
        rbf_cka(x, y, threshold="1")
