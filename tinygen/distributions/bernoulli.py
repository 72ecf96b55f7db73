"""Bernoulli(probs=p) or Bernoulli(logits=l): one coin per element, l = log(p / (1 - p)).

Everything is computed from the logits, in forms that stay finite for any |l|:

    log p(x)  = x log sigmoid(l) + (1 - x) log sigmoid(-l)
              = -[max(l, 0) - l x + log(1 + e^-|l|)]          (= -BCE-with-logits(l, x))
    H         = max(l, 0) - l p + log(1 + e^-|l|)              (the same form with x = p)
    mean      = p,  variance = p (1 - p)

Given probs, the logits are log p - log(1 - p) with p clamped to [eps, 1 - eps] (eps the
dtype's machine epsilon), as torch does, so p = 0 and p = 1 give large finite logits.
"""
import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor, as_tensor
from tinygen.distributions.distribution import Distribution, broadcast_params
from tinygen.ops.elementwise import clamp, log, log1p, sigmoid
from tinygen.ops.losses import BCEWithLogits
from tinygen.ops.random import bernoulli
from tinygen.ops.shape import broadcast_to


def probs_to_logits(probs):
    """log p - log(1 - p), p clamped to [eps, 1 - eps]."""
    eps = float(np.finfo(probs.dtype).eps)
    p = clamp(probs, min=eps, max=1 - eps)
    return log(p) - log1p(-p)


class Bernoulli(Distribution):
    """Independent coins; give exactly one of probs (in [0, 1]) and logits.

    `never`, `always`: bool arrays of the batch shape, True where the probability of 1 is
    exactly 0 or exactly 1 (a given prob of 0 or 1, or a given logit of -inf or +inf): the
    clamped logits alone do not say so (kl_divergence reads them)."""

    def __init__(self, probs=None, logits=None):
        if (probs is None) == (logits is None):
            raise ValueError("Bernoulli: give exactly one of probs and logits")
        if probs is not None:
            (self.probs,) = broadcast_params("Bernoulli", probs=probs)
            p = self.probs.array
            nan = backend.check_values((p >= 0) & (p <= 1), ValueError(
                "Bernoulli: probs must lie in [0, 1]"), p.dtype)   # device: NaN logits, no sync
            self.logits = probs_to_logits(self.probs)
            self.never, self.always = p == 0, p == 1
            if nan is not None:
                self.logits = self.logits + Tensor.wrap(nan, self.probs.device, False)
        else:
            (self.logits,) = broadcast_params("Bernoulli", logits=logits)
            self._probs = None  # sigmoid(logits), computed when first asked for
            l = self.logits.array
            self.never, self.always = l == -np.inf, l == np.inf
        super().__init__(self.logits.shape)

    @property
    def probs(self):
        if self._probs is None:
            self._probs = sigmoid(self.logits)
        return self._probs

    @probs.setter
    def probs(self, value):
        self._probs = value

    @property
    def mean(self):
        return self.probs

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def log_prob(self, value):
        """log p(value) per element; value holds 0s and 1s (checked; on a device, NaN where
        not: backend.check_values)."""
        value = as_tensor(value, like=(self.logits,))
        shape = self._value_shape(value)
        nan = backend.check_values((value.array == 0) | (value.array == 1), ValueError(
            "Bernoulli.log_prob: value must hold only 0s and 1s"), self.logits.dtype)
        value = value if value.dtype == self.logits.dtype else value.to(dtype=self.logits.dtype)
        log_p = -BCEWithLogits()(broadcast_to(self.logits, shape), broadcast_to(value, shape))
        return log_p if nan is None else log_p + Tensor.wrap(nan, value.device, False)

    def sample(self, sample_shape=()):
        """0/1 draws of shape sample_shape + batch_shape, in the parameters' dtype."""
        return bernoulli(broadcast_to(self.probs.detach(), self._extended_shape(sample_shape)))

    def entropy(self):
        return BCEWithLogits()(self.logits, self.probs)

    def __repr__(self):
        return f"Bernoulli(batch_shape={self.batch_shape}, dtype={self.logits.dtype})"
