"""Parzen-window estimator (tinygen/eval/parzen.py): its definition, its limits, the protocol."""
import numpy as np
import pytest

from tinygen.eval.parzen import (SIGMA_GRID, parzen_evaluate, parzen_log_likelihood,
                                 parzen_log_likelihoods, select_sigma)


def gaussian_log_density(x, mu, var):
    """log N(x; mu, var I) for rows x (N, d)."""
    d = x.shape[1]
    return -0.5 * ((x - mu) ** 2).sum(axis=1) / var - 0.5 * d * np.log(2 * np.pi * var)


def brute_force(samples, x, sigma):
    """The definition, term by term: log 1/n sum_i N(x; s_i, sigma^2 I)."""
    logk = np.stack([gaussian_log_density(x, s, sigma ** 2) for s in samples], axis=1)  # (N, n)
    m = logk.max(axis=1, keepdims=True)
    return m[:, 0] + np.log(np.exp(logk - m).mean(axis=1))


def test_one_sample_is_a_gaussian_density():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(1, 5))
    x = rng.normal(size=(20, 5))
    got = parzen_log_likelihood(s, x, 0.7)
    np.testing.assert_allclose(got, gaussian_log_density(x, s[0], 0.49), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_matches_the_definition_in_any_chunking(chunk_size):
    rng = np.random.default_rng(1)
    samples = rng.random((50, 3, 4))       # images (n, H, W) are flattened
    x = rng.random((23, 3, 4))
    for sigma in (0.05, 0.3, 2.0):
        got = parzen_log_likelihood(samples, x, sigma, chunk_size=chunk_size)
        np.testing.assert_allclose(got, brute_force(samples.reshape(50, -1), x.reshape(23, -1),
                                                    sigma), rtol=1e-10, atol=1e-8)


def test_narrow_kernels_stay_finite():
    """Far data under a tiny sigma: every kernel underflows in exp, logsumexp must not."""
    samples = np.zeros((4, 784))
    x = np.ones((3, 784))
    ll = parzen_log_likelihood(samples, x, 0.01)
    assert np.all(np.isfinite(ll))
    np.testing.assert_allclose(ll, gaussian_log_density(x, samples[0], 1e-4), rtol=1e-12)


def test_large_sample_limit_is_the_smoothed_gaussian():
    """Samples from N(mu, s^2 I): as n grows, p_sigma -> N(mu, (s^2 + sigma^2) I)."""
    rng = np.random.default_rng(2)
    mu, s, sigma, n = np.array([1.0, -2.0]), 1.0, 0.5, 40_000
    samples = mu + s * rng.normal(size=(n, 2))
    x = mu + rng.uniform(-1.5, 1.5, size=(50, 2))
    got = parzen_log_likelihood(samples, x, sigma)
    exact = gaussian_log_density(x, mu, s ** 2 + sigma ** 2)
    # relative sd of the kernel mean at n = 40,000 is below 1% in this range
    np.testing.assert_allclose(got, exact, atol=0.03)


def test_grid_scores_every_sigma_in_one_pass():
    rng = np.random.default_rng(3)
    samples, x = rng.random((30, 6)), rng.random((11, 6))
    table = parzen_log_likelihoods(samples, x, SIGMA_GRID)
    assert table.shape == (len(SIGMA_GRID), 11)
    for k, sigma in enumerate(SIGMA_GRID):
        np.testing.assert_allclose(table[k], parzen_log_likelihood(samples, x, sigma), rtol=1e-12)


def test_protocol_selects_sigma_on_validation_and_reports_standard_error():
    rng = np.random.default_rng(4)
    mu, s = np.zeros(2), 0.3
    samples = mu + s * rng.normal(size=(2000, 2))
    valid = mu + s * rng.normal(size=(500, 2))
    test = mu + s * rng.normal(size=(400, 2))
    grid = np.logspace(-2, 0, 9)
    sigma, table = select_sigma(samples, valid, grid)
    assert sigma == max(table, key=table.get)
    assert 0.02 < sigma < 0.5                            # neither end of the grid
    out = parzen_evaluate(samples, valid, test, grid)
    ll = parzen_log_likelihood(samples, test, out["parzen_sigma"])
    assert out["parzen_sigma"] == sigma and out["n_samples"] == 2000
    assert out["parzen_ll"] == pytest.approx(ll.mean())
    assert out["parzen_se"] == pytest.approx(ll.std() / np.sqrt(400))
    # a well-chosen sigma on 2,000 samples lands near the true density's mean log-likelihood
    true_ll = gaussian_log_density(test, mu, s ** 2).mean()
    assert abs(out["parzen_ll"] - true_ll) < 0.15


def test_dimension_mismatch_is_an_error():
    with pytest.raises(ValueError, match="dimensions"):
        parzen_log_likelihood(np.zeros((3, 4)), np.zeros((2, 5)), 1.0)
