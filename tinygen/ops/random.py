"""Ops that draw random numbers: dropout (and its channel and alpha forms), bernoulli. Every
draw goes through tinygen.rng, so tg.manual_seed makes them reproducible."""
import math

from tinygen import rng
from tinygen.autograd.tensor import Tensor
from tinygen.ops.common import constant_mask
from tinygen.ops.shape import reshape


def _keep_mask(op, input, p, training, shape):
    """None where the dropout `op` leaves input as it is (in evaluation, or p = 0), else a bool
    array of `shape`, True (kept) with probability 1 - p, drawn from the generator of input's
    device. p outside [0, 1]: a ValueError naming op."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return None
    return rng.random(rng.generator(input.device), shape, input.dtype) >= p


def _inverted(input, keep, p):
    """input where kept, scaled by 1/(1-p), 0 elsewhere (all 0 for p = 1)."""
    if p == 1.0:
        return input * 0.0
    return input * constant_mask(input, keep / (1.0 - p))


def dropout(input, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout)."""
    keep = _keep_mask("dropout", input, p, training, input.shape)
    return input if keep is None else _inverted(input, keep, p)


# SELU's negative saturation value, scale * alpha (Klambauer et al. 2017; ops/activation.py)
_SELU_SATURATION = 1.0507009873554804934193349852946 * 1.6732632423543772848170429916717


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks, as torch.nn.functional.alpha_dropout (Klambauer et al. 2017):
    a dropped element becomes SELU's negative saturation -s (s = 1.7581), and then a y + b
    restores a standard normal input's mean 0 and variance 1:

        y = x where kept (probability 1 - p), -s where dropped
        a = ((1 - p) (1 + p s^2))^(-1/2),    b = a s p,    output a y + b

    Note torch's default training=False for the function (nn.AlphaDropout passes its mode).
    The gradient is a where kept, 0 where dropped. inplace is accepted and ignored."""
    keep = _keep_mask("alpha_dropout", input, p, training, input.shape)
    if keep is None:
        return input
    if p == 1.0:
        return input * 0.0
    a = 1.0 / math.sqrt((1.0 - p) * (1.0 + p * _SELU_SATURATION ** 2))
    shift = a * _SELU_SATURATION * (p - 1.0 + keep)          # a (-s) + a s p where dropped, a s p kept
    return input * constant_mask(input, keep * a) + constant_mask(input, shift)


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
    if input.ndim < 2:
        raise ValueError(f"dropout2d: expected input (N, C, *), got {tuple(input.shape)}")
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)           # (N, C, 1, 1)
    keep = _keep_mask("dropout2d", input, p, training, shape)
    return input if keep is None else _inverted(input, keep, p)
