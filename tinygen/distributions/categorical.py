"""Categorical(probs=p) or Categorical(logits=l) over the last axis of the parameters.

Parameters of shape batch_shape + (K,); a value is an integer class index in [0, K), one per
batch element (shape batch_shape, or anything that broadcasts with it). Internally the
logits are normalized, l <- l - logsumexp(l), so that l_k = log p_k:

    log p(x = k) = l_k
    H            = -sum_k p_k l_k          (terms with p_k = 0 count 0)
    sample       k = #{j : cumsum(p)_j <= u},  u ~ Uniform[0, 1)   (inverse CDF; a u past
                 the rounded cumsum's end takes the last category of positive probability)
"""
import numpy as np

from tinygen import backend, rng
from tinygen.autograd.tensor import Tensor, as_tensor
from tinygen.distributions.distribution import Distribution
from tinygen.ops.elementwise import clamp, log
from tinygen.ops.reduce import log_softmax, softmax
from tinygen.ops.shape import getitem, reshape


class Categorical(Distribution):
    """K-way categorical over the last axis; give exactly one of probs and logits.

    `impossible`: a bool array of the parameters' shape, True at the categories of probability
    exactly 0 (a given prob of 0, or a given logit of -inf): outside the support, whatever
    rounding made of the logits (kl_divergence reads it)."""

    def __init__(self, probs=None, logits=None):
        if (probs is None) == (logits is None):
            raise ValueError("Categorical: give exactly one of probs and logits")
        param = as_tensor(probs if probs is not None else logits)
        if param.ndim < 1:
            raise ValueError("Categorical: parameters need a last axis of categories, got a scalar")
        if probs is not None:
            p = param.array
            nan = backend.check_values((p >= 0).all(axis=-1, keepdims=True), ValueError(
                "Categorical: probs must be non-negative"), p.dtype)   # device: a NaN row
            self.probs = param / param.sum(dim=-1, keepdim=True)
            self.impossible = p == 0          # the clamped logits below no longer say so
            eps = float(np.finfo(param.dtype).tiny)
            self.logits = log(clamp(self.probs, min=eps))
            if nan is not None:   # a device input: NaN logits where invalid, no host sync
                self.logits = self.logits + Tensor.wrap(nan, param.device, False)
        else:
            self.logits = log_softmax(param, -1)
            self.probs = softmax(param, -1)   # cheap next to log_softmax, kept for entropy/sample
            self.impossible = self.logits.array == -np.inf
        self.num_categories = param.shape[-1]
        super().__init__(param.shape[:-1])

    def log_prob(self, value):
        """log p(value) per batch element; value holds integer indices in [0, K)."""
        v = value.array if isinstance(value, Tensor) else np.asarray(value)
        if v.dtype.kind not in "iu":
            raise TypeError(f"Categorical.log_prob: value must hold integer class indices, got {v.dtype}")
        shape = self._value_shape(v)
        xp = backend.array_module(self.logits.device)
        v = xp.broadcast_to(xp.asarray(v), shape).reshape(-1)                  # (M,)
        K = self.num_categories
        valid = (v >= 0) & (v < K)
        nan = backend.check_values(valid, IndexError(f"Categorical.log_prob: value outside "
                                                     f"[0, {K})"), self.logits.dtype)
        logits = self.logits.broadcast_to(shape + (K,)) if tuple(self.logits.shape[:-1]) != shape \
            else self.logits
        flat = reshape(logits, -1, K)                                           # (M, K)
        if nan is None:
            return reshape(getitem(flat, (xp.arange(v.shape[0]), v)), shape)
        picked = getitem(flat, (xp.arange(v.shape[0]), xp.where(valid, v, 0)))  # device: NaN
        return reshape(picked + Tensor.wrap(nan, self.logits.device, False), shape)

    def sample(self, sample_shape=()):
        """int64 indices of shape sample_shape + batch_shape, by inverse CDF."""
        xp = backend.array_module(self.probs.device)
        shape = self._extended_shape(sample_shape)
        cdf = xp.cumsum(self.probs.array, axis=-1)                               # (..., K)
        u = rng.random(rng.generator(self.probs.device), shape + (1,), cdf.dtype).astype(cdf.dtype)
        k = (xp.broadcast_to(cdf, shape + (self.num_categories,)) <= u).sum(axis=-1)
        # u at or beyond cdf[-1] (rounded below 1, or u rounded up to 1 in float32): the last
        # category of positive probability, never a trailing one of probability 0
        possible = self.probs.array > 0
        last = self.num_categories - 1 - xp.argmax(xp.flip(possible, axis=-1), axis=-1)
        k = xp.minimum(k, xp.broadcast_to(last, shape))
        return Tensor.wrap(k.astype(np.int64), self.probs.device, False)

    def entropy(self):
        tiny = float(np.finfo(self.logits.dtype).min)  # p = 0 with l = -inf: 0 * min = 0
        return -(self.probs * clamp(self.logits, min=tiny)).sum(dim=-1)

    @property
    def mean(self):
        raise NotImplementedError("Categorical has no mean: its values are unordered labels")

    def __repr__(self):
        return (f"Categorical(batch_shape={self.batch_shape}, K={self.num_categories}, "
                f"dtype={self.logits.dtype})")
