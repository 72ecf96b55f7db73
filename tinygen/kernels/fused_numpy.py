"""Fused elementwise kernels, reference version: the plain array formulas.

The fast versions (fused_numba.py, fused_cuda.py) compute the same thing in one pass over
memory instead of one pass per operator; tests hold them equal to these.

    bce_with_logits(l, t)              max(l, 0) - l t + log(1 + exp(-|l|)), as w |l| + log1p(e)
                                       with e = exp(-|l|), w = 1 - t (l >= 0) or t (l < 0):
                                       a sum of terms >= 0 for t in [0, 1] (no cancellation),
                                       and 0 (not inf * 0) where w = 0 at l = +-inf
    bce_with_logits_grad(l, t, gy)     gy (sigmoid(l) - t), as gy ((1 - t) - s) for l >= 0 and
                                       gy (s - t) for l < 0, with s = sigmoid(-|l|) in (0, 1/2]
    sigmoid(x)                         1 / (1 + exp(-x)) as 1/(1 + e) for x >= 0 and e/(1 + e)
                                       for x < 0, with e = exp(-|x|) in (0, 1]: no overflow, a
                                       few ulps everywhere (subnormal e^x included), exact 0, 1
                                       at -inf, +inf. This is the one sigmoid of tinygen (the
                                       ELEMENTWISE table's sigmoid row calls it).
    relu(x, slope)                     x where x > 0, slope * x elsewhere (relu: slope 0, as
                                       max(x, 0): nan stays nan, -inf gives 0; leaky_relu)
    relu_grad(gy, x, slope)            gy where x > 0, slope * gy elsewhere (relu: slope 0,
                                       leaky_relu: its negative slope)
    batch_norm(x, weight, bias, eps, slope)
                                       batch norm of x (N, C, S) per channel, affine map and
                                       leaky ReLU in one: mean, var over (N, S) (biased),
                                       rstd = 1 / sqrt(var + eps), z = (x - mean) rstd w + b,
                                       y = z where z > 0, slope z elsewhere (slope 1: no
                                       activation, 0: relu) -> y, and mean, var, rstd (each
                                       (C,), float64: the backward recomputes z from them)
    batch_norm_backward(gy, x, mean, rstd, weight, bias, slope)
                                       gz = gy where z > 0, slope gy elsewhere (z recomputed
                                       from x), xhat = (x - mean) rstd, sums over (N, S) of
                                       M = N S values: gb = sum(gz), gw = sum(gz xhat),
                                       gx = w rstd (gz - gb / M - xhat gw / M) -> gx (x's
                                       dtype), gw, gb (float64)
    gated_tanh(x, dim)                 tanh(a) sigmoid(b) for the halves a, b of x along dim
                                       (ops/gates.py) -> y, and t = tanh(a), s = sigmoid(b)
    gated_tanh_grad(x, gy, t, s, dim)  its gradient gx (x's shape): ga = gy s (1 - t^2) and
                                       gb = gy t s (1 - s) in x's two halves along dim
    arithmetic(ufunc, a, b)            ufunc(a, b) for np.add, np.subtract or np.multiply on two
                                       arrays of one shape and dtype (what ops/elementwise.py's
                                       Add, Sub and Mul run on large NumPy arrays: the fast
                                       version runs NumPy's own loop on the worker threads)
    adam_step(xs, gs, ms, vs, ...)     one Adam step of every tensor of the lists, in place
                                       (torch.optim.Adam's order), for each x, g, m, v:
        g <- -g                                            (maximize)
        x <- x (1 - lr weight_decay)                       (decoupled: AdamW's decay)
        g <- g + weight_decay x                            (otherwise, when weight_decay != 0)
        m <- m + (1 - beta1) (g - m)
        v <- beta2 v + (1 - beta2) g^2
        x <- x - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    sgd_step(xs, gs, bufs, ...)        one SGD step of every tensor of the lists, in place
                                       (torch.optim.SGD's order), for each x, g, b:
        g <- -g                                            (maximize)
        g <- g + weight_decay x                            (when weight_decay != 0)
        b <- g  (first)   or   b <- momentum b + (1 - dampening) g      (when momentum != 0)
        g <- g + momentum b  (nesterov)   or   g <- b
        x <- x - lr g

The fast optimizer steps take the lists of a whole parameter group in one call (as torch's
foreach/fused steps do) and compute every element exactly as these loops: in x's dtype,
operator by operator, so that their results are bitwise these.
"""
import math

from tinygen.backend import get_array_module
from tinygen.kernels.common import gated_tanh_halves, halves


def sigmoid(x):
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))                 # in (0, 1]: never overflows
    return xp.where(x >= 0, x.dtype.type(1), e) / (1 + e)


def bce_with_logits(l, t):
    xp = get_array_module(l)
    a = xp.abs(l)
    w = xp.where(l >= 0, 1 - t, t)         # max(l, 0) - l t = w |l|
    return w * xp.where(w == 0, 0, a) + xp.log1p(xp.exp(-a))


def bce_with_logits_grad(l, t, gy):
    xp = get_array_module(l)
    s = sigmoid(-xp.abs(l))                # sigmoid(l) = 1 - s for l >= 0, s for l < 0
    return gy * xp.where(l >= 0, (1 - t) - s, s - t)


def relu(x, slope):
    """x where x >= 0 (-0.0 stays -0.0, as in torch, whose relu is clamp(x, min=0)) and where
    x is nan; 0 (slope 0: not 0 * x, nan at -inf) or slope * x below 0."""
    xp = get_array_module(x)
    if slope == 0:
        return xp.where(x < 0, x.dtype.type(0), x)
    return xp.where(x < 0, x * x.dtype.type(slope), x)


def relu_grad(gy, x, slope):
    xp = get_array_module(gy)
    return xp.where(x > 0, gy, gy * gy.dtype.type(slope))


def batch_norm(x, weight, bias, eps, slope):
    xp = get_array_module(x)
    mean = x.mean(axis=(0, 2), dtype=xp.float64)             # statistics in float64
    d = x - mean[:, None]
    var = xp.mean(d * d, axis=(0, 2))
    rstd = 1 / xp.sqrt(var + eps)
    z = d * (rstd * weight)[:, None] + bias[:, None]
    return xp.where(z > 0, z, slope * z).astype(x.dtype), mean, var, rstd


def batch_norm_backward(gy, x, mean, rstd, weight, bias, slope):
    xp = get_array_module(gy)
    d = x - mean[:, None]
    z = d * (rstd * weight)[:, None] + bias[:, None]
    gz = xp.where(z > 0, gy, slope * gy)
    xhat = d * rstd[:, None]
    M = x.shape[0] * x.shape[2]
    gb = gz.sum(axis=(0, 2), dtype=xp.float64)
    gw = (gz * xhat).sum(axis=(0, 2))
    gx = (weight * rstd)[:, None] * (gz - (gb / M)[:, None] - xhat * (gw / M)[:, None])
    return gx.astype(x.dtype), gw, gb


def gated_tanh(x, dim):
    return gated_tanh_halves(x, dim, sigmoid)


def gated_tanh_grad(x, gy, t, s, dim):
    xp = get_array_module(x)
    gx = xp.empty_like(x)
    ga, gb = halves(gx, dim)
    gs = gy * s
    xp.multiply(t, t, out=ga)
    xp.subtract(1, ga, out=ga)
    ga *= gs                                          # gy s (1 - t^2)
    xp.subtract(1, s, out=gb)
    gb *= gs
    gb *= t                                           # gy t s (1 - s)
    return gx


def arithmetic(ufunc, a, b):
    return ufunc(a, b)


def adam_step(xs, gs, ms, vs, lr, beta1, beta2, eps, weight_decay, step, decoupled, maximize):
    """Update each x, m, v of the lists in place (g is read only). The scalars are Python
    numbers, so each operator computes in x's dtype (NumPy's rule for Python scalars)."""
    c2 = math.sqrt(1 - beta2 ** step)
    for x, g, m, v in zip(xs, gs, ms, vs):
        xp = get_array_module(x)
        if maximize:
            g = -g
        if decoupled:
            x *= 1 - lr * weight_decay
        elif weight_decay != 0:
            g = g + weight_decay * x
        m += (1 - beta1) * (g - m)
        v *= beta2
        v += (1 - beta2) * g * g
        x -= (lr / (1 - beta1 ** step)) * m / (xp.sqrt(v) / c2 + eps)


def sgd_step(xs, gs, bufs, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """Update each x (and b, when momentum != 0) of the lists in place; first: the buffers
    are new (b <- g). bufs is ignored when momentum == 0 (may be None)."""
    for x, g, b in zip(xs, gs, bufs if momentum != 0 else gs):
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * x
        if momentum != 0:
            if first:
                b[...] = g
            else:
                b *= momentum
                b += (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        x -= lr * g
