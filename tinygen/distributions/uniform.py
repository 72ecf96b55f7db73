"""Uniform(low, high): the continuous uniform distribution on [low, high), elementwise.

    log p(x)  = -log(high - low) for low <= x < high, -inf elsewhere
    H         = log(high - low)
    rsample   x = low + (high - low) u,  u ~ U[0, 1): differentiable in low and high
    cdf       clamp((x - low) / (high - low), 0, 1)      icdf  low + p (high - low)
"""
from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor, as_tensor
from tinygen.distributions.distribution import Distribution, broadcast_params
from tinygen.ops.elementwise import clamp, log
from tinygen.ops.factories import rand


class Uniform(Distribution):
    """U[low, high) elementwise; low < high (checked: a ValueError otherwise; on a GPU, NaN
    bounds instead, without a host sync, as Normal's scale)."""

    has_rsample = True

    def __init__(self, low, high):
        self.low, self.high = broadcast_params("Uniform", low=low, high=high)
        nan = backend.check_values(self.low.array < self.high.array, ValueError(
            "Uniform: low must be less than high everywhere"), self.low.dtype)
        if nan is not None:
            self.low = self.low + Tensor.wrap(nan, self.low.device, False)
        super().__init__(self.low.shape)

    @property
    def mean(self):
        return (self.low + self.high) * 0.5

    @property
    def variance(self):
        width = self.high - self.low
        return width * width / 12

    def log_prob(self, value):
        value = as_tensor(value, like=(self.low,))
        self._value_shape(value)
        xp = backend.array_module(value.device)
        inside = (self.low.array <= value.array) & (value.array < self.high.array)
        with_support = Tensor.wrap(xp.where(inside, 0.0, -xp.inf).astype(self.low.dtype), value.device, False)
        return with_support - log(self.high - self.low)

    def rsample(self, sample_shape=()):
        u = rand(self._extended_shape(sample_shape), dtype=self.low.dtype, device=self.low.device)
        return self.low + (self.high - self.low) * u

    def sample(self, sample_shape=()):
        with no_grad():
            return self.rsample(sample_shape).detach()

    def cdf(self, value):
        value = as_tensor(value, like=(self.low,))
        return clamp((value - self.low) / (self.high - self.low), 0.0, 1.0)

    def icdf(self, value):
        value = as_tensor(value, like=(self.low,))
        return self.low + value * (self.high - self.low)

    def entropy(self):
        return log(self.high - self.low)
