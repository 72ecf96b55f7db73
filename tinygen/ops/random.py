"""Ops that draw random numbers: dropout, bernoulli. Every draw goes through tinygen.rng,
so tg.manual_seed makes them reproducible."""
from tinygen import rng
from tinygen.autograd.tensor import Tensor
from tinygen.ops.common import constant_mask
from tinygen.ops.shape import reshape


def dropout(input, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = rng.random(rng.generator(input.device), input.shape, input.dtype) >= p
    return input * constant_mask(input, keep / (1.0 - p))


def bernoulli(probs):
    """A 0/1 draw per element with the given probabilities (no gradient)."""
    p = probs.array
    draw = rng.random(rng.generator(probs.device), p.shape, p.dtype) < p
    return Tensor.wrap(draw.astype(p.dtype), probs.device, False)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """dropout2d for (N, C, L), or an unbatched (C, L) whose channels are its rows, as
    torch.nn.functional.dropout1d. inplace is accepted and ignored."""
    if input.ndim not in (2, 3):
        raise ValueError(f"dropout1d: expected input (N, C, L) or (C, L), got {tuple(input.shape)}")
    if input.ndim == 2 and training:
        return reshape(dropout2d(reshape(input, (1,) + tuple(input.shape)), p), input.shape)
    return dropout2d(input, p, training)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: each (sample, channel) plane of input (N, C, *) is dropped with
    probability p, the kept ones scaled by 1/(1-p). inplace is accepted and ignored."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: probability p must be in [0, 1], got {p}")
    if input.ndim < 2:
        raise ValueError(f"dropout2d: expected input (N, C, *), got {tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)           # (N, C, 1, 1)
    keep = rng.random(rng.generator(input.device), shape, input.dtype) >= p
    return input * constant_mask(input, keep / (1.0 - p))
