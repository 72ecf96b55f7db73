"""Independent(base, n): the last n batch dims of base read as one event (their log-densities
summed), as torch.distributions.Independent; e.g. a diagonal Gaussian over vectors:

    Independent(Normal(mu, sigma), 1).log_prob(x)   # (N, D) -> (N,): sum over D
"""
from tinygen.distributions.distribution import Distribution


class Independent(Distribution):
    """base with its last reinterpreted_batch_ndims batch dims moved into the event."""

    def __init__(self, base_distribution, reinterpreted_batch_ndims):
        n = reinterpreted_batch_ndims
        if not 0 <= n <= len(base_distribution.batch_shape):
            raise ValueError(f"Independent: reinterpreted_batch_ndims {n} for a base of batch_shape "
                             f"{base_distribution.batch_shape}")
        self.base_dist, self.reinterpreted_batch_ndims = base_distribution, n
        shape = base_distribution.batch_shape
        super().__init__(shape[:len(shape) - n], shape[len(shape) - n:] + base_distribution.event_shape)
        self.has_rsample = base_distribution.has_rsample

    def _sum_event(self, terms):
        n = self.reinterpreted_batch_ndims
        return terms if n == 0 else terms.sum(dim=tuple(range(-n, 0)))

    @property
    def mean(self):
        return self.base_dist.mean

    @property
    def variance(self):
        return self.base_dist.variance

    def log_prob(self, value):
        return self._sum_event(self.base_dist.log_prob(value))

    def entropy(self):
        return self._sum_event(self.base_dist.entropy())

    def sample(self, sample_shape=()):
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape)

    def __repr__(self):
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"
