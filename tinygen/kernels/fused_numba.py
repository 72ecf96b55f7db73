"""Fused elementwise kernels, fast CPU version.

Same functions as fused_numpy.py (the formulas are there). The optimizer steps are one numba
call over all the tensors of a parameter group: it reads p, g, m, v once and writes p, m, v
once, where the NumPy expression makes a pass (and often a temporary) per operator.

Every loop here is a plain (serial, GIL-free) numba function over a range; a large array is
cut into slices that tinygen's own worker threads run (threads.over_slices), never numba's
parallel=True: numba's OpenMP pool spins after each loop on the core the next kernel needs
and cannot survive a fork (threads.py tells both stories).

The kernels with exp and log are a lesson in measuring. A numba loop that calls math.exp or
math.log1p calls libm's scalar functions per element, and NumPy's float32 log1p is a scalar
loop too on a CPU without AVX-512 (this machine: AVX2): 1.7 ms for the 100k logits of a VAE
batch, where torch's whole BCE takes 0.44 ms. So for float32 arrays sigmoid and the BCE are
loops over elements whose exp and log1p are written out as polynomials in float64 (multiply-
adds, one division, integer ops on the exponent bits: no library call), which LLVM vectorizes
(4 doubles per AVX2 instruction): one pass, each float32 result within one rounding of the
float64 value, as fused_cuda.py's. The BCE forward on those 100k logits went from 3.9 ms
(the reference's NumPy expression) to 0.65 ms on one thread, 0.47 on two. float64 arrays use the
reference's expressions: a float64 result needs longer polynomials (and gradcheck, not speed,
is what float64 is for). The 0.5 + 0.5 tanh(x / 2) form once used here loses all relative
accuracy below x = -6 in float32 and is exactly 0 from x = -20 (so log sigmoid(-20) = -inf).
"""
import math

import numpy as np
from numba import njit

from tinygen.kernels import fused_numpy
from tinygen.kernels.common import contiguous, empty, empty_like, gated_tanh_halves
from tinygen.kernels.threads import GRAIN, over_rows, over_slices


# Below GRAIN elements (threads.py: 32k, torch's grain for elementwise ops) a loop runs whole
# on the calling thread. Most of a model's parameters are biases and norm weights of a few
# hundred elements (B2: 14 of 18): measured on 30k float32 elements, 0.008 ms on one thread
# against 0.024 ms split (idle machine), and on a loaded machine a split waits for a core.


def arithmetic(ufunc, a, b):
    """ufunc(a, b) (np.add, np.subtract, np.multiply) for two arrays of one shape and dtype:
    NumPy's own loop, in slices over the worker threads from 2 GRAIN elements, into a pooled
    output. NumPy's a + b runs on one thread and writes a fresh array, whose pages fault on
    first touch: in a Gated PixelCNN step a sum of two (64, 64, 28, 28) arrays took 2.4 ms;
    on warm memory one thread takes 1.2 ms, two 0.94 (the loop is memory-bound). Each slice is
    the same elementwise loop, so the result is NumPy's, bit for bit."""
    if not (a.flags.c_contiguous and b.flags.c_contiguous):
        return ufunc(a, b)                     # NumPy keeps such operands' layout in its result
    out = empty(a.shape, np.result_type(a, b))
    return _elementwise(ufunc, out, a, b)   # ufunc(a, b, out)


# ---- sigmoid and BCE with logits (float32) -------------------------------------------------
#
# error_model="numpy": a division by zero gives inf, as NumPy, instead of numba's Python-style
# check, which stops LLVM from vectorizing any loop with a division in it. "contract": a * b + c
# may be one fused multiply-add (rounded once).

_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453
_ROUNDER = 6755399441055744.0          # 1.5 * 2^52: v + _ROUNDER holds round(v) in its low bits
_ROUNDER_BITS = 0x4338000000000000     # the bits of _ROUNDER


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _exp_nonpositive(x):
    """e^x for float64 x <= 0, relative error < 3e-10: enough for a float32 result.
    Below -110 it is e^-110 (1.7e-48), which a float32 result rounds to 0 as it does e^x."""
    x = x if x > -110.0 else -110.0
    k = x * _LOG2E + _ROUNDER             # x = n ln 2 + r with n = round(x / ln 2), |r| <= ln 2 / 2
    n = k - _ROUNDER
    r = x - n * _LN2                      # (n ln 2 is exact enough: |n| <= 159)
    p = 1.0 + r * (1.0 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (
        1 / 720 + r * (1 / 5040 + r * (1 / 40320))))))))           # e^r, Taylor to r^8
    two_n = np.int64((np.float64(k).view(np.int64) - _ROUNDER_BITS + 1023) << 52)  # 2^n's bits
    return p * two_n.view(np.float64)


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _log1p_unit(e):
    """log(1 + e) for float64 e in [0, 1], relative error < 2e-9, as 2 atanh(s) with
    s = e / (2 + e) in [0, 1/3]: 2 (s + s^3/3 + s^5/5 + ...), to s^15 (no cancellation)."""
    s = e / (2.0 + e)
    s2 = s * s
    return 2.0 * s * (1.0 + s2 * (1 / 3 + s2 * (1 / 5 + s2 * (1 / 7 + s2 * (1 / 9 + s2 * (
        1 / 11 + s2 * (1 / 13 + s2 * (1 / 15))))))))


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _sigmoid_element(x):
    # fused_numpy.sigmoid's formula: 1/(1 + e) for x >= 0, e/(1 + e) for x < 0, e = e^-|x|
    e = _exp_nonpositive(-abs(x))
    y = (1.0 if x >= 0 else e) / (1.0 + e)
    return y if x == x else x              # nan stays nan (the clamp in exp would hide it)


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _bce_element(l, t):
    # fused_numpy.bce_with_logits's formula: w |l| + log1p(e^-|l|)
    a = abs(l)
    w = 1.0 - t if l >= 0 else t
    loss = (w * a if w != 0 else 0.0) + _log1p_unit(_exp_nonpositive(-a))
    return loss if l == l else l


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _bce_grad_element(l, t):
    # fused_numpy.bce_with_logits_grad's formula (for gy = 1): sigmoid(l) - t, with
    # s = sigmoid(-|l|) = e / (1 + e)
    e = _exp_nonpositive(-abs(l))
    s = e / (1.0 + e)
    d = (1.0 - t) - s if l >= 0 else s - t
    return d if l == l else l


# One flat loop per kernel, each vectorized by LLVM (a prange loop was not: 2x slower per
# thread, measured). A large array is cut into one slice per worker thread (threads.py).
# Each kernel takes arrays of any shape and ravels them first (in numba a view of a C-contiguous
# array): numba compiles a loop per number of dimensions and layout, and a small array needs no
# flat view made in Python (_elementwise).

@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _sigmoid(x, y):
    x, y = x.ravel(), y.ravel()
    for i in range(x.size):
        y[i] = _sigmoid_element(np.float64(x[i]))


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _bce(l, t, y):
    l, t, y = l.ravel(), t.ravel(), y.ravel()
    for i in range(l.size):
        y[i] = _bce_element(np.float64(l[i]), np.float64(t[i]))


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _bce_grad(l, t, d):
    l, t, d = l.ravel(), t.ravel(), d.ravel()
    for i in range(l.size):
        d[i] = _bce_grad_element(np.float64(l[i]), np.float64(t[i]))


def _elementwise(kernel, out, *args):
    """kernel(*args, out) -> out: args are arrays of out's size (any layout) and scalars, out
    is C-contiguous. Each kernel ravels its arrays first (in numba a view of a C-contiguous
    array, else a copy), so below 2 GRAIN elements they go to it as they are, in one call: a
    split costs more than a small loop (3.7 us against 0.35 for relu on 1k values), and flat
    views made here took 0.5 of relu's 1.4 us a call. From 2 GRAIN elements, flat slices of
    them go to the worker threads."""
    if out.size < 2 * GRAIN:
        kernel(*args, out)
        return out
    flat = [a.reshape(-1) if isinstance(a, np.ndarray) else a for a in args]
    y = out.reshape(-1)
    over_slices(y.size, lambda lo, hi: kernel(*(a[lo:hi] if isinstance(a, np.ndarray) else a
                                                for a in flat), y[lo:hi]),
                min_slice=GRAIN, blas=False)
    return out


def sigmoid(x):
    if x.dtype != np.float32:
        return fused_numpy.sigmoid(x)
    return _elementwise(_sigmoid, empty_like(x), x)


def bce_with_logits(l, t):
    if not (l.dtype == t.dtype == np.float32 and l.shape == t.shape):
        return fused_numpy.bce_with_logits(l, t)
    return _elementwise(_bce, empty_like(l), l, t)


def bce_with_logits_grad(l, t, gy):
    if not (l.dtype == t.dtype == np.float32 and l.shape == t.shape):
        return fused_numpy.bce_with_logits_grad(l, t, gy)
    d = _elementwise(_bce_grad, empty_like(l), l, t)
    return gy * d              # gy broadcasts (a scalar after a sum), as the reference's


# ---- the gated tanh of ops/gates.py: tanh(a) sigmoid(b) for x's halves a, b along dim -------
#
# With dim 1 and x C-contiguous, sample n's halves are the contiguous rows x3[n, 0] and
# x3[n, 1] of x3 = x.reshape(N, 2, -1), and the samples are split over the worker threads
# (a Gated PixelCNN gate on (64, 64, 28, 28): the reference's NumPy passes take 4 ms forward
# and 5.6 ms backward in a step, on one thread, each into fresh memory). The forward keeps
# NumPy's tanh (a SIMD loop; numba's math.tanh is libm's scalar call) and this file's sigmoid;
# the gradient is one pass of the reference's operators, in its order and x's dtype (bitwise
# the reference). Other dims and layouts: the reference's formulas, with this file's sigmoid.

def gated_tanh(x, dim):
    if dim != 1 or x.ndim < 2 or not x.flags.c_contiguous:
        return gated_tanh_halves(x, dim, sigmoid)
    N = x.shape[0]
    x3 = x.reshape(N, 2, -1)
    half = (N, x.shape[1] // 2) + x.shape[2:]
    y, t, s = empty(half, x.dtype), empty(half, x.dtype), empty(half, x.dtype)
    y2, t2, s2 = y.reshape(N, -1), t.reshape(N, -1), s.reshape(N, -1)

    float32 = x.dtype == np.float32

    def part(lo, hi):
        np.tanh(x3[lo:hi, 0], out=t2[lo:hi])
        for n in range(lo, hi):                 # a sample's b: a contiguous row
            if float32:
                _sigmoid(x3[n, 1], s2[n])
            else:
                s2[n] = fused_numpy.sigmoid(x3[n, 1])
        np.multiply(t2[lo:hi], s2[lo:hi], out=y2[lo:hi])

    over_rows(N, x3.shape[2], part, blas=False)
    return y, t, s


@njit(cache=True, nogil=True)
def _gated_tanh_grad(gy, t, s, gx, one):
    # gy, t, s (n, K), gx (n, 2, K): the reference's operators, in its order
    for n in range(gy.shape[0]):
        g, tn, sn, ga, gb = gy[n], t[n], s[n], gx[n, 0], gx[n, 1]
        for i in range(g.shape[0]):
            gs = g[i] * sn[i]
            ga[i] = (one - tn[i] * tn[i]) * gs          # gy s (1 - t^2)
            gb[i] = ((one - sn[i]) * gs) * tn[i]        # gy t s (1 - s)


def gated_tanh_grad(x, gy, t, s, dim):
    if (dim != 1 or x.ndim < 2 or len({a.dtype for a in (x, gy, t, s)}) > 1
            or not (t.flags.c_contiguous and s.flags.c_contiguous)):
        return fused_numpy.gated_tanh_grad(x, gy, t, s, dim)
    N = x.shape[0]
    gx = empty_like(x)
    t2, s2, gx3 = t.reshape(N, -1), s.reshape(N, -1), gx.reshape(N, 2, -1)
    one = x.dtype.type(1)

    def part(lo, hi):                           # gy may be a view into a padding's gradient
        g = contiguous(gy[lo:hi]).reshape(hi - lo, -1)
        _gated_tanh_grad(g, t2[lo:hi], s2[lo:hi], gx3[lo:hi], one)

    over_rows(N, gx3.shape[2], part, blas=False)
    return gx


def _slope(dtype, slope):
    """The slope as relu's loops take it: cast to the values' dtype, and 0 as the float 0.0
    (the loops write it as it is where x <= 0: an exact 0 in any dtype, and the cast costs
    0.25 us, of 1.6 for relu on 1k values)."""
    return dtype.type(slope) if slope else 0.0


@njit(cache=True, nogil=True)
def _relu(x, slope, y):
    x, y = x.ravel(), y.ravel()
    for i in range(x.size):
        xi = x[i]
        if not xi < 0:                  # x >= 0 (-0.0 kept) or nan: three stores, not one of
            y[i] = xi                   # a conditional expression, which would give xi the
        elif slope != 0:                # float slope's type first (int64 above 2^53 rounded)
            y[i] = slope * xi
        else:                           # slope 0 gives slope itself (0), not 0 * x: that is
            y[i] = slope                # nan at x = -inf


def relu(x, slope):
    """One pass, split over the workers: np.maximum(x, 0) runs on one thread, 0.96 ms on 800k
    float32 values against 0.10 ms here (2 threads), and leaky_relu as max(x, a x) is two."""
    return _elementwise(_relu, empty_like(x), x, _slope(x.dtype, slope))


@njit(cache=True, nogil=True)
def _relu_grad(gy, x, slope, gx):
    gy, x, gx = gy.ravel(), x.ravel(), gx.ravel()
    for i in range(gy.size):
        if x[i] > 0:                    # two stores, as _relu's
            gx[i] = gy[i]
        else:
            gx[i] = slope * gy[i]


def relu_grad(gy, x, slope):
    """One pass: NumPy needs three (compare, cast, multiply) and two temporaries. (0.0 * gy
    is the same zero, of gy's sign, as a zero of gy's dtype would give.)"""
    return _elementwise(_relu_grad, empty_like(gy), gy, x, _slope(gy.dtype, slope))


# Batch norm: a channel's M = N S values are reduced, then mapped; each kernel runs the
# channels [c0, c1) (a worker's slice) in one of two layouts:
# - planes (S > 1, BatchNorm2d): one channel at a time, its N rows of S contiguous values;
# - columns (S == 1, BatchNorm1d on (N, C)): a channel is a column with stride C, so the
#   loop takes a block of _COLUMNS channels and walks the rows, reading each row's block
#   contiguously (per-channel loops there read one float per cache line: measured 5x slower).
# Channels are independent, so the result does not depend on how they are split.
# Statistics and every per-element formula are float64 (as the reference's); "reassoc" lets
# LLVM vectorize the sums. Forward and backward compute z = (x - mean) * (rstd w) + b by the
# same expression, so the backward's sign mask is exactly the forward's.
_COLUMNS = 256


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _batch_norm_planes(x, w, b, eps, slope, y, mean, var, rstd, c0, c1):
    N, C, S = x.shape
    M = N * S
    for c in range(c0, c1):
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


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _batch_norm_columns(x, w, b, eps, slope, y, mean, var, rstd, c0, c1):
    # per block, views of the block's channels indexed from 0 (j): LLVM then sees no
    # negative index to wrap around and vectorizes the row loops (indexed by c - lo they
    # were scalar: 64 x 6272 took 0.91 ms forward, 2.45 backward)
    N, C = x.shape
    for lo in range(c0, c1, _COLUMNS):
        hi = min(c1, lo + _COLUMNS)
        m, v, r = mean[lo:hi], var[lo:hi], rstd[lo:hi]
        acc = np.zeros(hi - lo)
        for n in range(N):
            row = x[n, lo:hi]
            for j in range(hi - lo):
                acc[j] += row[j]
        for j in range(hi - lo):
            m[j] = acc[j] / N
            acc[j] = 0.0
        for n in range(N):
            row = x[n, lo:hi]
            for j in range(hi - lo):
                d = row[j] - m[j]
                acc[j] += d * d
        scale = np.empty(hi - lo)
        for j in range(hi - lo):
            v[j] = acc[j] / N
            r[j] = 1.0 / math.sqrt(v[j] + eps)
            scale[j] = r[j] * w[lo + j]
        shift = b[lo:hi]
        for n in range(N):
            row, out = x[n, lo:hi], y[n, lo:hi]
            for j in range(hi - lo):
                z = (row[j] - m[j]) * scale[j] + shift[j]
                out[j] = z if z > 0 else slope * z


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _batch_norm_backward_planes(gy, x, mean, rstd, w, b, slope, gx, gw, gb, c0, c1):
    N, C, S = x.shape
    M = N * S
    for c in range(c0, c1):
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


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _batch_norm_backward_columns(gy, x, mean, rstd, w, b, slope, gx, gw, gb, c0, c1):
    # views indexed from 0, as _batch_norm_columns
    N, C = x.shape
    for lo in range(c0, c1, _COLUMNS):
        hi = min(c1, lo + _COLUMNS)
        m, r, shift = mean[lo:hi], rstd[lo:hi], b[lo:hi]
        scale = np.empty(hi - lo)
        for j in range(hi - lo):
            scale[j] = r[j] * w[lo + j]
        sum_gz = np.zeros(hi - lo)
        sum_gz_xhat = np.zeros(hi - lo)
        for n in range(N):
            row, grow = x[n, lo:hi], gy[n, lo:hi]
            for j in range(hi - lo):
                d = row[j] - m[j]
                g = grow[j] if d * scale[j] + shift[j] > 0 else slope * grow[j]
                sum_gz[j] += g
                sum_gz_xhat[j] += g * (d * r[j])
        for j in range(hi - lo):
            gb[lo + j], gw[lo + j] = sum_gz[j], sum_gz_xhat[j]
            sum_gz[j] /= N               # now the means
            sum_gz_xhat[j] /= N
        for n in range(N):
            row, grow, out = x[n, lo:hi], gy[n, lo:hi], gx[n, lo:hi]
            for j in range(hi - lo):
                d = row[j] - m[j]
                g = grow[j] if d * scale[j] + shift[j] > 0 else slope * grow[j]
                out[j] = scale[j] * (g - sum_gz[j] - d * r[j] * sum_gz_xhat[j])


def batch_norm(x, weight, bias, eps, slope):
    """Two passes reading x, one writing y, per channel: the reference's formula takes a dozen."""
    x = np.ascontiguousarray(x)
    N, C, S = x.shape
    y = empty_like(x)
    mean, var, rstd = np.empty(C), np.empty(C), np.empty(C)
    w, b = weight.ravel().astype(np.float64), bias.ravel().astype(np.float64)
    if S == 1:
        x2, y2 = x.reshape(N, C), y.reshape(N, C)
        _over_channels(C, N, lambda c0, c1: _batch_norm_columns(
            x2, w, b, eps, float(slope), y2, mean, var, rstd, c0, c1), block=_COLUMNS)
    else:
        _over_channels(C, N * S, lambda c0, c1: _batch_norm_planes(
            x, w, b, eps, float(slope), y, mean, var, rstd, c0, c1))
    return y, mean, var, rstd


def batch_norm_backward(gy, x, mean, rstd, weight, bias, slope):
    """A pass for the two sums, a pass for gx, each reading gy and x."""
    gy, x = np.ascontiguousarray(gy), np.ascontiguousarray(x)
    N, C, S = x.shape
    gx = empty_like(x)
    gw, gb = np.empty(C), np.empty(C)
    w, b = weight.ravel().astype(np.float64), bias.ravel().astype(np.float64)
    args = (np.asarray(mean, dtype=np.float64), np.asarray(rstd, dtype=np.float64), w, b, float(slope))
    if S == 1:
        gy2, x2, gx2 = gy.reshape(N, C), x.reshape(N, C), gx.reshape(N, C)
        _over_channels(C, N, lambda c0, c1: _batch_norm_backward_columns(
            gy2, x2, *args, gx2, gw, gb, c0, c1), block=_COLUMNS)
    else:
        _over_channels(C, N * S, lambda c0, c1: _batch_norm_backward_planes(
            gy, x, *args, gx, gw, gb, c0, c1))
    return gx, gw, gb


def _over_channels(C, per_channel, part, block=1):
    """part(c0, c1) over slices of the C channels (per_channel values each), one per worker,
    each slice a multiple of `block` channels and at least GRAIN values."""
    blocks = (C + block - 1) // block
    min_blocks = max(1, GRAIN // max(1, per_channel * block))
    over_slices(blocks, lambda lo, hi: part(lo * block, min(C, hi * block)),
                min_slice=min_blocks, blas=False)


# ---- optimizer steps over a whole parameter group ------------------------------------------
#
# One call updates a group's tensors: they go in as tuples of flat views, at most
# TENSORS_PER_CALL of them, padded with empty arrays to exactly that many, so numba compiles
# one loop per dtype (a tuple's length is part of its type, and the compile time grows with
# it: 1.3 s for 8 tensors, 5 s for 32, 8 s for 50). A numba typed List takes any length but
# costs about 4 us per array to fill from Python (160 us a step for B1's 10 parameters, whose
# whole update costs 0.3 ms); a tuple of arrays about 0.3 us. The elements of all the tensors
# form one range that is split over the worker threads (threads.py, above GRAIN elements),
# so a group with big tensors wakes the workers once, not once per tensor.
#
# Each element is computed in x's dtype, operator by operator, as fused_numpy's loops do
# (scalars cast to x's dtype, no fused multiply-add): bitwise the reference.

TENSORS_PER_CALL = 16


@njit(nogil=True, cache=True, error_model="numpy")
def _adam_tensor(x, g, m, v, lr_t, one_minus_beta1, beta2, one_minus_beta2, eps, c2,
                 weight_decay, decay, l2, maximize):
    # decay: 1 - lr weight_decay for AdamW (weight_decay is then 0), 1 (exact) otherwise
    for i in range(x.size):
        gi = -g[i] if maximize else g[i]
        xi = x[i] * decay
        if l2:
            gi = gi + weight_decay * xi
        mi = m[i] + one_minus_beta1 * (gi - m[i])
        vi = beta2 * v[i] + one_minus_beta2 * gi * gi
        m[i] = mi
        v[i] = vi
        x[i] = xi - lr_t * mi / (math.sqrt(vi) / c2 + eps)


@njit(nogil=True, cache=True, error_model="numpy")
def _adam(xs, gs, ms, vs, lo, hi, *scalars):
    # elements [lo, hi) of the tensors laid end to end (slices first: an index loop from
    # `lo` would keep numba's negative-index check, which stops vectorization, 8x slower)
    start = 0
    for k in range(len(xs)):
        a, b = max(lo - start, 0), min(hi - start, xs[k].size)
        if a < b:
            _adam_tensor(xs[k][a:b], gs[k][a:b], ms[k][a:b], vs[k][a:b], *scalars)
        start += xs[k].size


@njit(nogil=True, cache=True, error_model="numpy")
def _sgd_tensor(x, g, b, lr, momentum, one_minus_dampening, weight_decay, nesterov, maximize,
                l2, heavy_ball, first):
    for i in range(x.size):
        gi = -g[i] if maximize else g[i]
        if l2:
            gi = gi + weight_decay * x[i]
        if heavy_ball:
            bi = gi if first else momentum * b[i] + one_minus_dampening * gi
            b[i] = bi
            gi = gi + momentum * bi if nesterov else bi
        x[i] = x[i] - lr * gi


@njit(nogil=True, cache=True, error_model="numpy")
def _sgd(xs, gs, bufs, lo, hi, *scalars):
    start = 0
    for k in range(len(xs)):
        a, b = max(lo - start, 0), min(hi - start, xs[k].size)
        if a < b:
            _sgd_tensor(xs[k][a:b], gs[k][a:b], bufs[k][a:b], *scalars)
        start += xs[k].size


def _flat_views(written, grads):
    """(columns, strided): flat views of the tensors a kernel takes, one list per written list
    and then the gradients' (C-contiguous, aligned, writable, of the first x's dtype: one
    numba array type), and the indices of the tensors it cannot write in place."""
    dtype = written[0][0].dtype
    strided = sorted({i for w in written for i, a in enumerate(w)
                      if not (a.flags.carray and a.dtype == dtype)})
    take = [i for i in range(len(grads)) if i not in strided] if strided else range(len(grads))
    columns = [[w[i].reshape(-1) for i in take] for w in written]
    columns.append([(g if g.flags.carray and g.dtype == dtype
                     else np.array(g, dtype=dtype, order="C")).reshape(-1)
                    for g in (grads[i] for i in take)])
    return columns, strided


def _over_tensors(kernel, tensor_kernel, columns, scalars):
    """kernel(*tuples, lo, hi, *scalars) over all elements of the tensors of `columns` (lists
    of flat views) laid end to end, TENSORS_PER_CALL tensors a call, split over threads.
    One tensor (foreach=False) goes to its loop, tensor_kernel, directly: no tuples to
    build and unbox (19 -> 12 us a call; the same element code, so the same values)."""
    if len(columns[0]) == 1:
        arrays = [c[0] for c in columns]
        over_slices(arrays[0].size, lambda lo, hi: tensor_kernel(
            *(a[lo:hi] for a in arrays), *scalars), min_slice=GRAIN, blas=False)
        return
    empty = columns[0][0][:0]          # the padding: a view of the right type
    chunks, start = [], 0
    for lo in range(0, len(columns[0]), TENSORS_PER_CALL):
        tuples = [tuple(c[lo:lo + TENSORS_PER_CALL]) for c in columns]
        size = sum(x.size for x in tuples[0])
        tuples = [t + (empty,) * (TENSORS_PER_CALL - len(t)) for t in tuples]
        chunks.append((start, size, tuples))
        start += size

    def part(lo, hi):
        for begin, size, tuples in chunks:
            if lo < begin + size and begin < hi:
                kernel(*tuples, max(lo - begin, 0), min(hi - begin, size), *scalars)

    over_slices(start, part, min_slice=GRAIN, blas=False)


def adam_step(xs, gs, ms, vs, lr, beta1, beta2, eps, weight_decay, step, decoupled, maximize):
    """Update each x, m, v of the lists in place. Tensors whose x, m or v is not contiguous,
    or not of the first x's dtype, take the reference's loop (the same values)."""
    if not xs:
        return
    (xs_, ms_, vs_, gs_), strided = _flat_views((xs, ms, vs), gs)
    for i in strided:
        fused_numpy.adam_step([xs[i]], [gs[i]], [ms[i]], [vs[i]], lr, beta1, beta2, eps,
                              weight_decay, step, decoupled, maximize)
    if xs_:
        s = xs_[0].dtype.type
        _over_tensors(_adam, _adam_tensor, (xs_, gs_, ms_, vs_), (
            s(lr / (1 - beta1 ** step)), s(1 - beta1), s(beta2), s(1 - beta2), s(eps),
            s(math.sqrt(1 - beta2 ** step)), s(0 if decoupled else weight_decay),
            s(1 - lr * weight_decay if decoupled else 1),
            bool(weight_decay != 0 and not decoupled), bool(maximize)))


def sgd_step(xs, gs, bufs, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """Update each x (and b, when momentum != 0) of the lists in place; tensors not
    contiguous or not of the first x's dtype take the reference's loop (the same values)."""
    if not xs:
        return
    bufs = bufs if momentum != 0 else xs           # not read then: any array of x's type
    (xs_, bufs_, gs_), strided = _flat_views((xs, bufs), gs)
    for i in strided:
        fused_numpy.sgd_step([xs[i]], [gs[i]], [bufs[i]], lr, momentum, dampening,
                             weight_decay, nesterov, maximize, first)
    if xs_:
        s = xs_[0].dtype.type
        _over_tensors(_sgd, _sgd_tensor, (xs_, gs_, bufs_), (
            s(lr), s(momentum), s(1 - dampening), s(weight_decay), bool(nesterov),
            bool(maximize), weight_decay != 0, momentum != 0, bool(first)))
