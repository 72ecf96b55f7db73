"""The base class of tinygen's distributions: shapes, argument checks, the shared interface.

A distribution holds a batch of independent distributions of one family, all of shape
`batch_shape` (the broadcast shape of its parameters; for Categorical the last axis of the
parameters holds the categories and is not part of the batch). Each draw has `event_shape`:
() for the scalar families, (d,) for MultivariateNormal, the reinterpreted dims for
Independent. Every method is elementwise over the batch:

    log_prob(x)          log p(x) per element, shape broadcast(x.shape, batch_shape);
                         never summed over anything (sum it yourself, e.g. over pixels)
    sample(shape=())     a draw of shape sample_shape + batch_shape + event_shape, no gradient
    rsample(shape=())    a reparameterized draw x = g(params, eps): gradients flow to params
    entropy()            H[p] per element, shape batch_shape
    mean, variance       per element, where they make sense

Random draws go through tinygen.rng (tg.manual_seed makes them reproducible).
"""
import numpy as np

from tinygen.autograd.tensor import Tensor, as_tensor
from tinygen.ops.shape import broadcast_to


def _sample_shape(sample_shape):
    """(), 5 or (5, 3) -> a tuple of ints."""
    if isinstance(sample_shape, (int, np.integer)):
        return (int(sample_shape),)
    return tuple(int(n) for n in sample_shape)


def broadcast_params(name, **params):
    """The parameters as Tensors broadcast to one shape (numbers take the tensors' dtype).

    Raises ValueError naming the distribution and the shapes when they do not broadcast."""
    tensors = [p for p in params.values() if isinstance(p, Tensor)]
    values = {k: as_tensor(v, like=tensors) for k, v in params.items()}
    shapes = {k: tuple(v.shape) for k, v in values.items()}
    try:
        shape = np.broadcast_shapes(*shapes.values())
    except ValueError:
        detail = ", ".join(f"{k} {s}" for k, s in shapes.items())
        raise ValueError(f"{name}: parameter shapes do not broadcast: {detail}") from None
    return tuple(broadcast_to(v, shape) for v in values.values())


class Distribution:
    """A batch of independent distributions of one family (see the module docstring)."""

    has_rsample = False

    def __init__(self, batch_shape, event_shape=()):
        self.batch_shape, self.event_shape = tuple(batch_shape), tuple(event_shape)

    @property
    def name(self):
        return type(self).__name__

    def _extended_shape(self, sample_shape=()):
        """sample_shape + batch_shape + event_shape: the shape of a draw."""
        return _sample_shape(sample_shape) + self.batch_shape + self.event_shape

    def _value_shape(self, value):
        """The shape of log_prob(value): broadcast(value.shape, batch_shape), or a clear error.

        (A Categorical value holds one class index per batch element: its categories axis is
        not part of batch_shape.)"""
        try:
            return np.broadcast_shapes(tuple(value.shape), self.batch_shape)
        except ValueError:
            raise ValueError(f"{self.name}.log_prob: value of shape {tuple(value.shape)} does "
                             f"not broadcast with batch_shape {self.batch_shape}") from None

    def log_prob(self, value):
        raise NotImplementedError

    def sample(self, sample_shape=()):
        raise NotImplementedError

    def rsample(self, sample_shape=()):
        raise NotImplementedError(f"{self.name} has no reparameterized sampler (rsample): its "
                                  f"samples are discrete, so they are not differentiable in its "
                                  f"parameters; use sample() and a score-function estimator")

    def entropy(self):
        raise NotImplementedError

    @property
    def mean(self):
        raise NotImplementedError(f"{self.name} has no mean")

    @property
    def variance(self):
        raise NotImplementedError(f"{self.name} has no variance")

    @property
    def stddev(self):
        return self.variance.sqrt()

    def __repr__(self):
        return f"{self.name}(batch_shape={self.batch_shape})"
