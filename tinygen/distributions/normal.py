"""Normal(loc, scale): the univariate Gaussian, elementwise over a batch.

    log p(x)  = -(x - mu)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2
    H         = 1/2 + log(2 pi) / 2 + log sigma
    rsample   x = mu + sigma * eps,  eps ~ N(0, 1)       (the reparameterization trick,
                                                          Kingma & Welling 2014, sec. 2.4)
    d x / d mu = 1,  d x / d sigma = eps: the draw is differentiable in (mu, sigma).
    cdf       F(x) = (1 + erf((x - mu) / (sigma sqrt 2))) / 2
    icdf      F^-1(p) = mu + sigma sqrt 2 erfinv(2 p - 1)
"""
import math

from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor, as_tensor
from tinygen.distributions.distribution import Distribution, broadcast_params
from tinygen.ops.elementwise import erf, erfinv, log
from tinygen.ops.factories import randn

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class Normal(Distribution):
    """N(loc, scale^2) elementwise; loc and scale are Tensors or numbers that broadcast.

    scale must be positive (checked; a ValueError otherwise)."""

    has_rsample = True

    def __init__(self, loc, scale):
        self.loc, self.scale = broadcast_params("Normal", loc=loc, scale=scale)
        nan = backend.check_values(self.scale.array > 0, ValueError(
            "Normal: scale must be positive everywhere"), self.scale.dtype)
        if nan is not None:   # a device scale: NaN where not positive, no host sync
            self.scale = self.scale + Tensor.wrap(nan, self.scale.device, False)
        super().__init__(self.loc.shape)

    @property
    def mean(self):
        return self.loc

    @property
    def variance(self):
        return self.scale * self.scale

    @property
    def stddev(self):
        return self.scale

    def log_prob(self, value):
        value = as_tensor(value, like=(self.loc,))
        self._value_shape(value)
        z = (value - self.loc) / self.scale
        return -0.5 * z * z - log(self.scale) - _HALF_LOG_2PI

    def rsample(self, sample_shape=()):
        """loc + scale * eps with eps ~ N(0, 1) of shape sample_shape + batch_shape."""
        eps = randn(self._extended_shape(sample_shape), dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + self.scale * eps

    def sample(self, sample_shape=()):
        with no_grad():
            return self.rsample(sample_shape).detach()

    def cdf(self, value):
        value = as_tensor(value, like=(self.loc,))
        return 0.5 * (1 + erf((value - self.loc) / (self.scale * math.sqrt(2))))

    def icdf(self, value):
        value = as_tensor(value, like=(self.loc,))
        return self.loc + self.scale * math.sqrt(2) * erfinv(2 * value - 1)

    def entropy(self):
        return log(self.scale) + (0.5 + _HALF_LOG_2PI)

    def __repr__(self):
        return f"Normal(batch_shape={self.batch_shape}, dtype={self.loc.dtype})"
