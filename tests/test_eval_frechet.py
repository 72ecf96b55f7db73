"""Fréchet distance (tinygen/eval/frechet.py) against its closed forms."""
import numpy as np
import pytest

from tinygen.eval.frechet import (frechet_distance, frechet_distance_gaussians, gaussian_stats,
                                  psd_sqrt)


def random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_psd_sqrt_squares_back():
    rng = np.random.default_rng(0)
    a = random_spd(rng, 6)
    r = psd_sqrt(a)
    np.testing.assert_allclose(r, r.T, atol=1e-12)
    np.testing.assert_allclose(r @ r, a, rtol=1e-10, atol=1e-10)
    assert np.all(np.linalg.eigvalsh(r) > 0)


def test_psd_sqrt_of_a_singular_matrix():
    v = np.array([[1.0], [2.0], [-1.0]])
    a = v @ v.T                                          # rank one, eigenvalues 6, 0, 0
    np.testing.assert_allclose(psd_sqrt(a), a / np.sqrt(6.0), atol=1e-7)


def test_one_dimension_closed_form():
    """d^2(N(m1, v1), N(m2, v2)) = (m1 - m2)^2 + (sqrt v1 - sqrt v2)^2."""
    got = frechet_distance_gaussians([1.0], [[4.0]], [-2.0], [[0.25]])
    assert got == pytest.approx(9.0 + (2.0 - 0.5) ** 2, rel=1e-12)


def test_commuting_covariances_closed_form():
    """Diagonal covariances: the trace term is sum_k (sqrt a_k - sqrt b_k)^2."""
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.1, 3.0, 5), rng.uniform(0.1, 3.0, 5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    want = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    got = frechet_distance_gaussians(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(want, rel=1e-10)


def test_rotation_invariance_with_non_commuting_covariances():
    """d is invariant under a common rotation; and equals the scipy.linalg.sqrtm form."""
    rng = np.random.default_rng(2)
    s1, s2 = random_spd(rng, 4), random_spd(rng, 4)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    d = frechet_distance_gaussians(mu1, s1, mu2, s2)
    d_rot = frechet_distance_gaussians(q @ mu1, q @ s1 @ q.T, q @ mu2, q @ s2 @ q.T)
    assert d_rot == pytest.approx(d, rel=1e-9)
    assert frechet_distance_gaussians(mu2, s2, mu1, s1) == pytest.approx(d, rel=1e-9)
    linalg = pytest.importorskip("scipy.linalg")        # an independent oracle, where installed
    covmean = linalg.sqrtm(s1 @ s2).real
    want = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)
    assert d == pytest.approx(want, rel=1e-8)


def test_identical_sets_give_zero():
    rng = np.random.default_rng(3)
    f = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8))
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(f, f[::-1]) == pytest.approx(0.0, abs=1e-9)


def test_feature_sets_converge_to_the_gaussian_distance():
    """Features drawn from two Gaussians: the fitted distance -> the closed form."""
    rng = np.random.default_rng(4)
    mu1, mu2 = np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.5, 1.0])
    s1, s2 = np.diag([1.0, 2.0, 0.5]), random_spd(rng, 3)
    f1 = rng.multivariate_normal(mu1, s1, size=100_000)
    f2 = rng.multivariate_normal(mu2, s2, size=100_000)
    want = frechet_distance_gaussians(mu1, s1, mu2, s2)
    assert frechet_distance(f1, f2) == pytest.approx(want, rel=0.03, abs=0.02)


def test_gaussian_stats_is_mean_and_unbiased_covariance():
    rng = np.random.default_rng(5)
    f = rng.normal(size=(40, 3))
    mu, cov = gaussian_stats(f)
    np.testing.assert_allclose(mu, f.mean(0))
    np.testing.assert_allclose(cov, (f - mu).T @ (f - mu) / 39)
