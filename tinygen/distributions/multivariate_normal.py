"""MultivariateNormal(loc, covariance_matrix | precision_matrix | scale_tril): the Gaussian
over vectors of size d, N(mu, Sigma), Sigma = L L^T with L lower triangular (Cholesky):

    log p(x)  = -(d log(2 pi) + |L^-1 (x - mu)|^2) / 2 - sum_i log L_ii
    H         = d (1 + log(2 pi)) / 2 + sum_i log L_ii
    rsample   x = mu + L eps,  eps ~ N(0, I_d): differentiable in mu and L (so in Sigma)

All written with tinygen ops (cholesky, solve, inv from tinygen/ops/linalg.py), so every
term differentiates in the parameters. event_shape (d,); batch_shape the broadcast of
loc's leading dims and the matrix's.
"""
import math

import numpy as np

from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import as_tensor
from tinygen.distributions.distribution import Distribution
from tinygen.ops.elementwise import log
from tinygen.ops.factories import randn
from tinygen.ops.linalg import cholesky, diagonal, inv, matmul, solve, tril
from tinygen.ops.shape import broadcast_to, getitem, transpose, unsqueeze

_LOG_2PI = math.log(2 * math.pi)


class MultivariateNormal(Distribution):
    """N(loc, Sigma) over vectors: loc (..., d) and exactly one of covariance_matrix,
    precision_matrix (its inverse) or scale_tril (L) of shape (..., d, d)."""

    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None):
        given = [m for m in (covariance_matrix, precision_matrix, scale_tril) if m is not None]
        if len(given) != 1:
            raise ValueError("MultivariateNormal: give exactly one of covariance_matrix, "
                             "precision_matrix or scale_tril")
        loc = as_tensor(loc, like=given)
        matrix = as_tensor(given[0], like=(loc,))
        if loc.ndim < 1 or matrix.ndim < 2 or matrix.shape[-1] != matrix.shape[-2] \
                or matrix.shape[-1] != loc.shape[-1]:
            raise ValueError(f"MultivariateNormal: loc (..., d) and a (..., d, d) matrix, got "
                             f"{tuple(loc.shape)} and {tuple(matrix.shape)}")
        if scale_tril is not None:
            L = tril(matrix)              # only its lower triangle is read (as torch's triangular solves)
        elif covariance_matrix is not None:
            L = cholesky(matrix)
        else:
            L = cholesky(inv(matrix))
        d = loc.shape[-1]
        batch = np.broadcast_shapes(tuple(loc.shape[:-1]), tuple(L.shape[:-2]))
        self.loc = broadcast_to(loc, batch + (d,))
        self.scale_tril = broadcast_to(L, batch + (d, d))
        super().__init__(batch, (d,))

    @property
    def mean(self):
        return self.loc

    @property
    def covariance_matrix(self):
        return matmul(self.scale_tril, transpose(self.scale_tril, -1, -2))

    @property
    def precision_matrix(self):
        return inv(self.covariance_matrix)

    @property
    def variance(self):
        return (self.scale_tril * self.scale_tril).sum(dim=-1)      # diag(L L^T)

    def _half_log_det(self):
        """log sqrt(det Sigma) = sum_i log L_ii: (...)."""
        return log(diagonal(self.scale_tril, 0, -2, -1)).sum(dim=-1)

    def log_prob(self, value):
        value = as_tensor(value, like=(self.loc,))
        if value.ndim < 1 or value.shape[-1] != self.event_shape[0]:
            raise ValueError(f"MultivariateNormal.log_prob: value of shape {tuple(value.shape)} for "
                             f"event_shape {self.event_shape}")
        self._value_shape(getitem(value, (Ellipsis, 0)))
        z = getitem(solve(self.scale_tril, unsqueeze(value - self.loc, -1)), (Ellipsis, 0))   # L^-1 (x - mu)
        return -0.5 * ((z * z).sum(dim=-1) + self.event_shape[0] * _LOG_2PI) - self._half_log_det()

    def rsample(self, sample_shape=()):
        eps = randn(self._extended_shape(sample_shape), dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + getitem(matmul(self.scale_tril, unsqueeze(eps, -1)), (Ellipsis, 0))

    def sample(self, sample_shape=()):
        with no_grad():
            return self.rsample(sample_shape).detach()

    def entropy(self):
        return self._half_log_det() + 0.5 * self.event_shape[0] * (1 + _LOG_2PI)

    def __repr__(self):
        return f"MultivariateNormal(loc: {tuple(self.loc.shape)}, scale_tril: {tuple(self.scale_tril.shape)})"
