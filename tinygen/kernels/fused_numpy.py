"""Fused elementwise kernels, reference version: the plain array formulas.

The fast versions (fused_numba.py, fused_cuda.py) compute the same thing in one pass over
memory instead of one pass per operator; tests hold them equal to these.

    bce_with_logits(l, t)              max(l, 0) - l t + log(1 + exp(-|l|))
    bce_with_logits_grad(l, t, gy)     gy (sigmoid(l) - t)
    sigmoid(x)                         1 / (1 + exp(-x)), without overflow for any x
    relu_grad(gy, x, slope)            gy where x > 0, slope * gy elsewhere (relu: slope 0,
                                       leaky_relu: its negative slope)
    normalize_channels(x, eps)         batch norm's standardization of x (N, C, S) per channel:
                                       mu, var over (N, S) (biased), xhat = (x - mu) / sqrt(var + eps)
                                       -> xhat, mu, var, rstd (each (1, C, 1))
    normalize_channels_backward(gy, xhat, rstd)
                                       rstd (gy - mean(gy) - xhat mean(gy xhat)), means over (N, S)
    adam_update(x, g, m, v, ...)       one Adam step in place (torch.optim.Adam's order):
        g <- g + weight_decay x
        m <- m + (1 - beta1) (g - m)
        v <- beta2 v + (1 - beta2) g^2
        x <- x - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
"""
import math

from tinygen.kernels._common import array_module as _xp


def sigmoid(x):
    xp = _xp(x)
    e = xp.exp(-xp.abs(x))                 # in (0, 1]: never overflows
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def bce_with_logits(l, t):
    xp = _xp(l)
    return xp.maximum(l, 0) - l * t + xp.log1p(xp.exp(-xp.abs(l)))


def bce_with_logits_grad(l, t, gy):
    return gy * (sigmoid(l) - t)


def relu_grad(gy, x, slope):
    xp = _xp(gy)
    return xp.where(x > 0, gy, gy * gy.dtype.type(slope))


def normalize_channels(x, eps):
    xp = _xp(x)
    mu = x.mean(axis=(0, 2), keepdims=True)
    d = x - mu
    var = xp.mean(d * d, axis=(0, 2), keepdims=True)
    rstd = 1 / xp.sqrt(var + x.dtype.type(eps))
    return d * rstd, mu, var, rstd


def normalize_channels_backward(gy, xhat, rstd):
    return rstd * (gy - gy.mean(axis=(0, 2), keepdims=True)
                   - xhat * (gy * xhat).mean(axis=(0, 2), keepdims=True))


def adam_update(x, g, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """Update x, m, v in place."""
    xp = _xp(x)
    if weight_decay != 0:
        g = g + weight_decay * x
    m += (1 - beta1) * (g - m)
    v *= beta2
    v += (1 - beta2) * g * g
    denom = xp.sqrt(v) / math.sqrt(1 - beta2 ** step) + eps
    x -= (lr / (1 - beta1 ** step)) * m / denom
