"""2-D max and average pooling, fast CPU version: numba loops, one (n, c) plane per task.

Same functions and math as pool_numpy.py (read that first). Each image plane is independent,
so the planes are split over the cores with prange; within a plane the windows are swept in
order, which also makes the backward scatters race-free (no two tasks touch one plane).
Padding is handled by clipping the window to the image instead of materializing a padded
copy: for max that is padding with -inf, for avg the divisor stays kh*kw (zeros counted).
"""
import numpy as np
from numba import njit, prange

from tinygen.kernels._common import pool_output_size


@njit(parallel=True, cache=True)
def _max_pool2d(x, kh, kw, sh, sw, ph, pw, y, idx):
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t % C
        for p in range(Ho):
            for q in range(Wo):
                best = -np.inf
                arg = -1
                for i in range(kh):
                    h = p * sh - ph + i
                    if h < 0 or h >= H:
                        continue
                    for j in range(kw):
                        w = q * sw - pw + j
                        if w < 0 or w >= W:
                            continue
                        v = x[n, c, h, w]
                        if v > best or arg < 0:  # first maximum in window order, as PyTorch
                            best = v
                            arg = h * W + w
                y[n, c, p, q] = best
                idx[n, c, p, q] = arg


@njit(parallel=True, cache=True)
def _max_pool2d_backward(gy, idx, gx):
    N, C, H, W = gx.shape
    Ho, Wo = gy.shape[2], gy.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t % C
        for h in range(H):
            for w in range(W):
                gx[n, c, h, w] = 0
        for p in range(Ho):
            for q in range(Wo):
                k = idx[n, c, p, q]
                gx[n, c, k // W, k % W] += gy[n, c, p, q]


@njit(parallel=True, cache=True)
def _avg_pool2d(x, kh, kw, sh, sw, ph, pw, y):
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t % C
        for p in range(Ho):
            for q in range(Wo):
                s = 0.0
                for i in range(kh):
                    h = p * sh - ph + i
                    if h < 0 or h >= H:
                        continue
                    for j in range(kw):
                        w = q * sw - pw + j
                        if w >= 0 and w < W:
                            s += x[n, c, h, w]
                y[n, c, p, q] = s / (kh * kw)


@njit(parallel=True, cache=True)
def _avg_pool2d_backward(gy, kh, kw, sh, sw, ph, pw, gx):
    N, C, H, W = gx.shape
    Ho, Wo = gy.shape[2], gy.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t % C
        for h in range(H):
            for w in range(W):
                gx[n, c, h, w] = 0
        for p in range(Ho):
            for q in range(Wo):
                share = gy[n, c, p, q] / (kh * kw)
                for i in range(kh):
                    h = p * sh - ph + i
                    if h < 0 or h >= H:
                        continue
                    for j in range(kw):
                        w = q * sw - pw + j
                        if w >= 0 and w < W:
                            gx[n, c, h, w] += share


def max_pool2d(x, kernel_size, stride, padding):
    """Max over windows: x (N, C, H, W) -> y (N, C, Ho, Wo), idx (N, C, Ho, Wo) int64 in [0, H*W)."""
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    Ho, Wo = pool_output_size(H, kh, sh, ph), pool_output_size(W, kw, sw, pw)
    y = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    idx = np.empty((N, C, Ho, Wo), dtype=np.int64)
    _max_pool2d(x, kh, kw, sh, sw, ph, pw, y, idx)
    return y, idx


def max_pool2d_backward(gy, idx, x_shape, kernel_size, stride, padding):
    """Scatter gy to the argmax positions: gy, idx (N, C, Ho, Wo) -> gx (N, C, H, W).

    A scatter needs only idx; the window geometry is in the signature for the GPU's gather.
    """
    gx = np.empty(x_shape, dtype=gy.dtype)
    _max_pool2d_backward(np.ascontiguousarray(gy), np.ascontiguousarray(idx), gx)
    return gx


def avg_pool2d(x, kernel_size, stride, padding):
    """Mean over windows (zero padding counted): x (N, C, H, W) -> y (N, C, Ho, Wo)."""
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    Ho, Wo = pool_output_size(H, kh, sh, ph), pool_output_size(W, kw, sw, pw)
    y = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    _avg_pool2d(x, kh, kw, sh, sw, ph, pw, y)
    return y


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding):
    """Adjoint of avg_pool2d: gy (N, C, Ho, Wo) -> gx (N, C, H, W)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    gx = np.empty(x_shape, dtype=gy.dtype)
    _avg_pool2d_backward(np.ascontiguousarray(gy), kh, kw, sh, sw, ph, pw, gx)
    return gx
