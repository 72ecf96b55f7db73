"""Parzen-window log-likelihood of a sample-only model (Goodfellow et al. 2014, Breuleux et al. 2011).

A generator gives samples, not densities. The Parzen estimate puts an isotropic Gaussian
kernel of width sigma on each of n samples s_1..s_n (dimension d) and scores data x under
the mixture:

    p_sigma(x) = 1/n sum_i N(x; s_i, sigma^2 I)

    log p_sigma(x) = logsumexp_i( -||x - s_i||^2 / (2 sigma^2) ) - log n - d/2 log(2 pi sigma^2)

The original protocol (the GAN paper's parzen_ll.py, reported as 225 +- 2 nats on MNIST):

    1. draw n = 10,000 samples from the generator;
    2. choose sigma on a validation set (MNIST train[50000:60000]) from a log-spaced grid
       (np.logspace(-1, 0, 10)), keeping the sigma with the highest mean log-likelihood;
    3. report the mean log-likelihood on the test set +- its standard error
       (std / sqrt(N_test)).

Data are the gray images in [0, 1] (not binarized), flattened to d = 784. The estimate is
known to be a poor measure of sample quality (Theis et al. 2016); it is kept to compare with
the literature.

Computation: ||x - s||^2 = ||x||^2 - 2 x.s + ||s||^2 as one matrix product per chunk of
data rows, in float64; the squared distances do not depend on sigma, so the whole grid is
scored from one pass over the data.
"""
import numpy as np

SIGMA_GRID = np.logspace(-1, 0, 10)  # the original grid: 0.1 ... 1.0


def _flat(x):
    """(N, ...) array-like or Tensor -> (N, d) float64 NumPy."""
    x = getattr(x, "array", x)
    if hasattr(x, "get"):  # a CuPy array
        x = x.get()
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def _logsumexp_rows(a):
    """log sum_j exp(a[:, j]) for each row of a (N, n), stably."""
    m = a.max(axis=1, keepdims=True)  # (N, 1)
    return m[:, 0] + np.log(np.exp(a - m).sum(axis=1))


def parzen_log_likelihoods(samples, x, sigmas, chunk_size=500):
    """log p_sigma(x_k) for every data row and every sigma: (len(sigmas), N) float64.

    samples: (n, ...) the generator's samples; x: (N, ...) data; sigmas: iterable of floats.
    """
    s = _flat(samples)                                   # (n, d)
    x = _flat(x)                                         # (N, d)
    sigmas = np.atleast_1d(np.asarray(sigmas, dtype=np.float64))
    n, d = s.shape
    if x.shape[1] != d:
        raise ValueError(f"samples have {d} dimensions, data {x.shape[1]}")
    s_sq = (s * s).sum(axis=1)                           # (n,)
    out = np.empty((len(sigmas), len(x)))
    for start in range(0, len(x), chunk_size):
        xc = x[start:start + chunk_size]                 # (B, d)
        dist2 = (xc * xc).sum(axis=1)[:, None] - 2.0 * xc @ s.T + s_sq[None, :]  # (B, n)
        np.maximum(dist2, 0.0, out=dist2)                # rounding can dip below 0
        for k, sigma in enumerate(sigmas):
            lse = _logsumexp_rows(-dist2 / (2.0 * sigma * sigma))          # (B,)
            out[k, start:start + chunk_size] = (lse - np.log(n)
                                                - 0.5 * d * np.log(2.0 * np.pi * sigma * sigma))
    return out


def parzen_log_likelihood(samples, x, sigma, chunk_size=500):
    """log p_sigma(x_k) for each data row: (N,) float64."""
    return parzen_log_likelihoods(samples, x, [sigma], chunk_size)[0]


def select_sigma(samples, x_valid, sigmas=SIGMA_GRID, chunk_size=500):
    """The sigma of the grid with the highest mean validation log-likelihood.

    Returns (sigma, {sigma: mean validation log-likelihood})."""
    means = parzen_log_likelihoods(samples, x_valid, sigmas, chunk_size).mean(axis=1)
    table = {float(s): float(m) for s, m in zip(np.atleast_1d(sigmas), means)}
    return float(np.atleast_1d(sigmas)[int(np.argmax(means))]), table


def parzen_evaluate(samples, x_valid, x_test, sigmas=SIGMA_GRID, chunk_size=500):
    """The full protocol: sigma chosen on x_valid, then mean +- standard error on x_test.

    Returns {"parzen_ll": mean, "parzen_se": std / sqrt(N_test), "parzen_sigma": sigma,
    "parzen_valid": {sigma: mean validation log-likelihood}, "n_samples": n}, in nats.
    """
    sigma, table = select_sigma(samples, x_valid, sigmas, chunk_size)
    ll = parzen_log_likelihood(samples, x_test, sigma, chunk_size)
    return {"parzen_ll": float(ll.mean()),
            "parzen_se": float(ll.std() / np.sqrt(len(ll))),
            "parzen_sigma": sigma, "parzen_valid": table, "n_samples": len(_flat(samples))}
