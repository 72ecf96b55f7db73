"""Fréchet distance between two sets of feature vectors, each summarized as a Gaussian.

For N(mu1, S1) and N(mu2, S2) the squared 2-Wasserstein (Fréchet) distance is (Dowson &
Landau 1982)

    d^2 = ||mu1 - mu2||^2 + tr( S1 + S2 - 2 (S1^(1/2) S2 S1^(1/2))^(1/2) )

Heusel et al. (2017) apply it to Inception-v3 features and call it FID. tinygen applies it to
the penultimate features of its own small MNIST classifier (tinygen/models/classifier.py), so
the number is reported as the "Fréchet distance in tinygen-classifier features", never as
FID: it is not comparable with FID values from the literature.

Matrix square roots are taken with a symmetric eigendecomposition, A = V diag(l) V^T,
A^(1/2) = V diag(sqrt(max(l, 0))) V^T. S1^(1/2) S2 S1^(1/2) is symmetric positive
semi-definite, so (unlike the non-symmetric sqrtm(S1 S2) used by most FID code) no complex
parts appear; the two traces are equal since S1 S2 and S1^(1/2) S2 S1^(1/2) are similar.
"""
import numpy as np


def psd_sqrt(a):
    """The symmetric square root of a symmetric positive semi-definite matrix (float64).

    Eigenvalues below 0 (rounding) are clipped to 0."""
    a = np.asarray(a, dtype=np.float64)
    a = 0.5 * (a + a.T)                                  # symmetrize away rounding
    eigenvalues, v = np.linalg.eigh(a)                   # a = v diag(l) v^T
    return (v * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ v.T


def gaussian_stats(features):
    """Mean (d,) and covariance (d, d) (unbiased, as numpy.cov) of features (n, d)."""
    f = np.asarray(getattr(features, "array", features), dtype=np.float64)
    f = f.reshape(len(f), -1)
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def frechet_distance_gaussians(mu1, s1, mu2, s2):
    """d^2 between N(mu1, s1) and N(mu2, s2) (the formula above), float."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(s1).astype(np.float64), np.atleast_2d(s2).astype(np.float64)
    root1 = psd_sqrt(s1)                                 # S1^(1/2)
    cross = psd_sqrt(root1 @ s2 @ root1)                 # (S1^(1/2) S2 S1^(1/2))^(1/2)
    diff = mu1 - mu2
    d2 = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(cross)
    return float(max(d2, 0.0))                           # rounding may give -1e-12


def frechet_distance(features1, features2):
    """d^2 between the Gaussians fitted to two feature sets (n1, d) and (n2, d)."""
    return frechet_distance_gaussians(*gaussian_stats(features1), *gaussian_stats(features2))
