"""2-D max and average pooling, fast CPU version: numba loops over the (n, c) planes.

Same functions and math as pool_numpy.py (read that first). Each image plane is independent,
so the planes are split over tinygen's worker threads (threads.over_slices: planes [t0, t1)
per worker); within a plane the windows are swept in order, which also makes the backward
scatters race-free (no two workers touch one plane).
Padding is handled by clipping the window to the image instead of materializing a padded
copy: for max that is padding with -inf, for avg the divisor stays kh*kw (zeros counted).
"""
import numpy as np
from numba import njit

from tinygen.kernels.common import empty, pool_output_size
from tinygen.kernels.threads import GRAIN, over_slices


@njit(cache=True, nogil=True)
def _max_pool2d(x, kh, kw, sh, sw, ph, pw, y, idx, t0, t1):
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    for t in range(t0, t1):
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


@njit(cache=True, nogil=True)
def _max_pool2d_backward(gy, idx, gx, t0, t1):
    N, C, H, W = gx.shape
    Ho, Wo = gy.shape[2], gy.shape[3]
    for t in range(t0, t1):
        n = t // C
        c = t % C
        for h in range(H):
            for w in range(W):
                gx[n, c, h, w] = 0
        for p in range(Ho):
            for q in range(Wo):
                k = idx[n, c, p, q]
                gx[n, c, k // W, k % W] += gy[n, c, p, q]


@njit(cache=True, nogil=True)
def _avg_pool2d(x, kh, kw, sh, sw, ph, pw, y, t0, t1):
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    for t in range(t0, t1):
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


@njit(cache=True, nogil=True)
def _avg_pool2d_backward(gy, kh, kw, sh, sw, ph, pw, gx, t0, t1):
    N, C, H, W = gx.shape
    Ho, Wo = gy.shape[2], gy.shape[3]
    for t in range(t0, t1):
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
    y = empty((N, C, Ho, Wo), dtype=x.dtype)
    idx = empty((N, C, Ho, Wo), dtype=np.int64)
    _over_planes(N * C, H * W,
                 lambda t0, t1: _max_pool2d(x, kh, kw, sh, sw, ph, pw, y, idx, t0, t1))
    return y, idx


def max_pool2d_backward(gy, idx, x_shape, kernel_size, stride, padding):
    """Scatter gy to the argmax positions: gy, idx (N, C, Ho, Wo) -> gx (N, C, H, W).

    A scatter needs only idx; the window geometry is in the signature for the GPU's gather.
    """
    gx = empty(x_shape, dtype=gy.dtype)
    gy, idx = np.ascontiguousarray(gy), np.ascontiguousarray(idx)
    N, C, H, W = x_shape
    _over_planes(N * C, H * W, lambda t0, t1: _max_pool2d_backward(gy, idx, gx, t0, t1))
    return gx


def avg_pool2d(x, kernel_size, stride, padding):
    """Mean over windows (zero padding counted): x (N, C, H, W) -> y (N, C, Ho, Wo)."""
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    Ho, Wo = pool_output_size(H, kh, sh, ph), pool_output_size(W, kw, sw, pw)
    y = empty((N, C, Ho, Wo), dtype=x.dtype)
    _over_planes(N * C, H * W, lambda t0, t1: _avg_pool2d(x, kh, kw, sh, sw, ph, pw, y, t0, t1))
    return y


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding):
    """Adjoint of avg_pool2d: gy (N, C, Ho, Wo) -> gx (N, C, H, W)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    gx = empty(x_shape, dtype=gy.dtype)
    gy = np.ascontiguousarray(gy)
    N, C, H, W = x_shape
    _over_planes(N * C, H * W, lambda t0, t1: _avg_pool2d_backward(gy, kh, kw, sh, sw, ph, pw, gx,
                                                                   t0, t1))
    return gx


def _over_planes(planes, plane_size, part):
    """part(t0, t1) over slices of the planes, one per worker, each at least GRAIN values."""
    over_slices(planes, part, min_slice=max(1, GRAIN // max(1, plane_size)), blas=False)
