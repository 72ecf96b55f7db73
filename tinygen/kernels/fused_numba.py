"""Fused elementwise kernels, fast CPU version.

Same functions as fused_numpy.py (the formulas are there). The Adam update is one parallel
numba loop: it reads p, g, m, v once and writes p, m, v once, where the NumPy expression
makes a pass (and often a temporary) per operator.

The kernels with exp/log are a lesson in measuring: a numba loop calls libm's scalar exp
and log1p per element, while NumPy's ufuncs run SIMD loops for them; on 100k float32 values
NumPy's 4-ufunc BCE took 0.2 ms and the numba loop 1.5 ms (this machine). So sigmoid and
BCE are the reference's NumPy expressions, imported from fused_numpy (rewriting them in place
to cut temporaries measured no faster). The 0.5 + 0.5 tanh(x / 2) form once used here is 2x
faster but loses all relative accuracy below x = -6 in float32 and is exactly 0 from x = -20
(so log sigmoid(-20) = -inf).
"""
import math

import numpy as np
from numba import njit, prange

from tinygen.kernels.fused_numpy import bce_with_logits, bce_with_logits_grad, sigmoid  # noqa: F401


def _flat(a):
    return np.ascontiguousarray(a).reshape(-1)


@njit(inline="always")
def _adam_element(x, g, m, v, i, lr_t, beta1, beta2, eps, c2, weight_decay):
    # the one copy of the update, inlined in both loops below (so they agree bitwise)
    gi = g[i] + weight_decay * x[i]
    mi = m[i] + (1.0 - beta1) * (gi - m[i])
    vi = beta2 * v[i] + (1.0 - beta2) * gi * gi
    m[i] = mi
    v[i] = vi
    x[i] -= lr_t * mi / (math.sqrt(vi) / c2 + eps)


@njit(parallel=True, cache=True)
def _adam(x, g, m, v, lr_t, beta1, beta2, eps, c2, weight_decay):
    for i in prange(x.size):
        _adam_element(x, g, m, v, i, lr_t, beta1, beta2, eps, c2, weight_decay)


@njit(cache=True)
def _adam_serial(x, g, m, v, lr_t, beta1, beta2, eps, c2, weight_decay):
    for i in range(x.size):
        _adam_element(x, g, m, v, i, lr_t, beta1, beta2, eps, c2, weight_decay)


# Below this many elements a parameter is updated on the calling thread: waking the pool
# costs more than the loop (torch's grain size for elementwise ops). Most of a model's
# parameters are biases and norm weights of a few hundred elements (B2: 14 of 18): measured
# on 30k float32 elements, 0.008 ms serial against 0.024 ms parallel (idle), and on a loaded
# machine each parallel launch waits milliseconds for a second core.
_PARALLEL_MIN = 1 << 15


@njit(parallel=True, cache=True)
def _relu_grad(gy, x, slope, gx):
    for i in prange(gy.size):
        gx[i] = gy[i] if x[i] > 0 else slope * gy[i]


def relu_grad(gy, x, slope):
    """One pass: NumPy needs three (compare, cast, multiply) and two temporaries."""
    gx = np.empty(gy.shape, dtype=gy.dtype)
    _relu_grad(_flat(gy), _flat(x), gy.dtype.type(slope), gx.reshape(-1))
    return gx


# Batch norm: a channel's M = N S values are reduced, then mapped. Two layouts:
# - planes (S > 1, BatchNorm2d): one channel per task, its N rows of S contiguous values;
# - columns (S == 1, BatchNorm1d on (N, C)): a channel is a column with stride C, so a task
#   takes a block of _COLUMNS channels and walks the rows, reading each row's block
#   contiguously (per-channel loops there read one float per cache line: measured 5x slower).
# Statistics and every per-element formula are float64 (as the reference's); "reassoc" lets
# LLVM vectorize the sums. Forward and backward compute z = (x - mean) * (rstd w) + b by the
# same expression, so the backward's sign mask is exactly the forward's.
_COLUMNS = 256


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def _batch_norm_planes(x, w, b, eps, slope, y, mean, var, rstd):
    N, C, S = x.shape
    M = N * S
    for c in prange(C):
        total = 0.0
        for n in range(N):
            for k in range(S):
                total += x[n, c, k]
        m = total / M
        squares = 0.0
        for n in range(N):
            for k in range(S):
                d = x[n, c, k] - m
                squares += d * d
        r = 1.0 / math.sqrt(squares / M + eps)
        scale, shift = r * w[c], b[c]
        for n in range(N):
            for k in range(S):
                z = (x[n, c, k] - m) * scale + shift
                y[n, c, k] = z if z > 0 else slope * z
        mean[c], var[c], rstd[c] = m, squares / M, r


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def _batch_norm_columns(x, w, b, eps, slope, y, mean, var, rstd):
    N, C = x.shape
    for block in prange((C + _COLUMNS - 1) // _COLUMNS):
        lo = block * _COLUMNS
        hi = min(C, lo + _COLUMNS)
        acc = np.zeros(hi - lo)
        for n in range(N):
            for c in range(lo, hi):
                acc[c - lo] += x[n, c]
        for c in range(lo, hi):
            mean[c] = acc[c - lo] / N
            acc[c - lo] = 0.0
        for n in range(N):
            for c in range(lo, hi):
                d = x[n, c] - mean[c]
                acc[c - lo] += d * d
        for c in range(lo, hi):
            var[c] = acc[c - lo] / N
            rstd[c] = 1.0 / math.sqrt(var[c] + eps)
        for n in range(N):
            for c in range(lo, hi):
                z = (x[n, c] - mean[c]) * (rstd[c] * w[c]) + b[c]
                y[n, c] = z if z > 0 else slope * z


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def _batch_norm_backward_planes(gy, x, mean, rstd, w, b, slope, gx, gw, gb):
    N, C, S = x.shape
    M = N * S
    for c in prange(C):
        m, r, scale, shift = mean[c], rstd[c], rstd[c] * w[c], b[c]
        sum_gz = 0.0
        sum_gz_xhat = 0.0
        for n in range(N):
            for k in range(S):
                d = x[n, c, k] - m
                g = gy[n, c, k] if d * scale + shift > 0 else slope * gy[n, c, k]
                sum_gz += g
                sum_gz_xhat += g * (d * r)
        gb[c], gw[c] = sum_gz, sum_gz_xhat
        a, q = sum_gz / M, sum_gz_xhat / M
        for n in range(N):
            for k in range(S):
                d = x[n, c, k] - m
                g = gy[n, c, k] if d * scale + shift > 0 else slope * gy[n, c, k]
                gx[n, c, k] = scale * (g - a - d * r * q)


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def _batch_norm_backward_columns(gy, x, mean, rstd, w, b, slope, gx, gw, gb):
    N, C = x.shape
    for block in prange((C + _COLUMNS - 1) // _COLUMNS):
        lo = block * _COLUMNS
        hi = min(C, lo + _COLUMNS)
        sum_gz = np.zeros(hi - lo)
        sum_gz_xhat = np.zeros(hi - lo)
        for n in range(N):
            for c in range(lo, hi):
                d = x[n, c] - mean[c]
                g = gy[n, c] if d * (rstd[c] * w[c]) + b[c] > 0 else slope * gy[n, c]
                sum_gz[c - lo] += g
                sum_gz_xhat[c - lo] += g * (d * rstd[c])
        for c in range(lo, hi):
            gb[c], gw[c] = sum_gz[c - lo], sum_gz_xhat[c - lo]
            sum_gz[c - lo] /= N               # now the means
            sum_gz_xhat[c - lo] /= N
        for n in range(N):
            for c in range(lo, hi):
                d = x[n, c] - mean[c]
                scale = rstd[c] * w[c]
                g = gy[n, c] if d * scale + b[c] > 0 else slope * gy[n, c]
                gx[n, c] = scale * (g - sum_gz[c - lo] - d * rstd[c] * sum_gz_xhat[c - lo])


def batch_norm(x, weight, bias, eps, slope):
    """Two passes reading x, one writing y, per channel: the reference's formula takes a dozen."""
    x = np.ascontiguousarray(x)
    N, C, S = x.shape
    y = np.empty_like(x)
    mean, var, rstd = np.empty(C), np.empty(C), np.empty(C)
    w, b = _flat(weight).astype(np.float64), _flat(bias).astype(np.float64)
    if S == 1:
        _batch_norm_columns(x.reshape(N, C), w, b, eps, float(slope), y.reshape(N, C), mean, var, rstd)
    else:
        _batch_norm_planes(x, w, b, eps, float(slope), y, mean, var, rstd)
    return y, mean, var, rstd


def batch_norm_backward(gy, x, mean, rstd, weight, bias, slope):
    """A pass for the two sums, a pass for gx, each reading gy and x."""
    gy, x = np.ascontiguousarray(gy), np.ascontiguousarray(x)
    N, C, S = x.shape
    gx = np.empty_like(x)
    gw, gb = np.empty(C), np.empty(C)
    w, b = _flat(weight).astype(np.float64), _flat(bias).astype(np.float64)
    args = (np.asarray(mean, dtype=np.float64), np.asarray(rstd, dtype=np.float64), w, b, float(slope))
    if S == 1:
        _batch_norm_backward_columns(gy.reshape(N, C), x.reshape(N, C), *args, gx.reshape(N, C), gw, gb)
    else:
        _batch_norm_backward_planes(gy, x, *args, gx, gw, gb)
    return gx, gw, gb


def adam_update(x, g, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """Update x, m, v in place (each must be contiguous: they are written through flat views)."""
    for a in (x, m, v):
        if not a.flags.c_contiguous:
            raise ValueError("adam_update: parameter and state arrays must be contiguous")
    kernel = _adam if x.size >= _PARALLEL_MIN else _adam_serial
    kernel(x.reshape(-1), _flat(g), m.reshape(-1), v.reshape(-1), lr / (1 - beta1 ** step),
           beta1, beta2, eps, math.sqrt(1 - beta2 ** step), weight_decay)
