"""2-D max and average pooling, the readable reference (the ground truth in tests).

x (N, C, H, W) -> y (N, C, Ho, Wo),  Ho = (H + 2*ph - kh) // sh + 1   (likewise Wo)

    max:  y[n, c, p, q] = max_{i, j} xpad[n, c, p*sh + i, q*sw + j]      (padding is -inf)
          idx[n, c, p, q] = h*W + w, the flat input position of that maximum (the first one
          in row-major window order on ties, as PyTorch)
          gx[n, c, h, w] = sum of gy[n, c, p, q] over the windows whose maximum is (h, w)
    avg:  y[n, c, p, q] = (1 / (kh*kw)) * sum_{i, j} xpad[n, c, p*sh + i, q*sw + j]
          (padding is 0 and counts in the divisor: PyTorch's count_include_pad=True)
          gx = the adjoint: every window spreads gy / (kh*kw) back over its pixels

Both backward kernels are linear in gy: max_pool2d_backward is a scatter whose adjoint is the
gather ggx.flat[idx], and avg_pool2d_backward's adjoint is avg_pool2d itself; that is all the
ops need for double backward. kernel_size, stride, padding are (h, w) pairs; the ops check them.
Each function works on NumPy or CuPy arrays (`xp`).
"""
import numpy as np

from tinygen.kernels import device_of, implementation
from tinygen.backend import get_array_module
from tinygen.kernels.common import pool_output_size


def _windows(xpad, kernel_size, stride, out_size):
    """The kh*kw taps of every window: (N, C, H+2ph, W+2pw) -> (kh*kw, N, C, Ho, Wo)."""
    xp = get_array_module(xpad)
    (kh, kw), (sh, sw), (Ho, Wo) = kernel_size, stride, out_size
    return xp.stack([xpad[:, :, i: i + sh * (Ho - 1) + 1: sh, j: j + sw * (Wo - 1) + 1: sw]
                     for i in range(kh) for j in range(kw)])


def max_pool2d(x, kernel_size, stride, padding):
    """Max over windows: x (N, C, H, W) -> y (N, C, Ho, Wo), idx (N, C, Ho, Wo) int64 in [0, H*W)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    Ho, Wo = pool_output_size(H, kh, sh, ph), pool_output_size(W, kw, sw, pw)
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    taps = _windows(xpad, kernel_size, stride, (Ho, Wo))               # (kh*kw, N, C, Ho, Wo)
    tap = xp.argmax(taps, axis=0)                                       # (N, C, Ho, Wo)
    y = xp.take_along_axis(taps, tap[None], axis=0)[0]
    # window (p, q), tap (i, j) reads input row p*sh - ph + i, column q*sw - pw + j
    h = xp.arange(Ho)[:, None] * sh - ph + tap // kw
    w = xp.arange(Wo)[None, :] * sw - pw + tap % kw
    return y, (h * W + w).astype(np.int64)


def max_pool2d_backward(gy, idx, x_shape, kernel_size, stride, padding):
    """Scatter gy to the argmax positions: gy, idx (N, C, Ho, Wo) -> gx (N, C, H, W).

    A scatter needs only idx; the window geometry is in the signature for the GPU's gather.
    """
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    gx = xp.zeros((N * C, H * W), dtype=gy.dtype)
    plane = xp.arange(N * C)[:, None]                                   # (N*C, 1)
    implementation("scatter", device_of(gx)).scatter_add(gx, (plane, idx.reshape(N * C, -1)),
                                                   gy.reshape(N * C, -1))
    return gx.reshape(N, C, H, W)


def avg_pool2d(x, kernel_size, stride, padding):
    """Mean over windows (zero padding counted): x (N, C, H, W) -> y (N, C, Ho, Wo)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    Ho, Wo = pool_output_size(H, kh, sh, ph), pool_output_size(W, kw, sw, pw)
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    return _windows(xpad, kernel_size, stride, (Ho, Wo)).sum(axis=0) / (kh * kw)


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding):
    """Adjoint of avg_pool2d: gy (N, C, Ho, Wo) -> gx (N, C, H, W)."""
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    Ho, Wo = gy.shape[2], gy.shape[3]
    gxpad = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=gy.dtype)
    share = gy / (kh * kw)
    for i in range(kh):
        for j in range(kw):
            gxpad[:, :, i: i + sh * (Ho - 1) + 1: sh, j: j + sw * (Wo - 1) + 1: sw] += share
    return xp.ascontiguousarray(gxpad[:, :, ph: ph + H, pw: pw + W])
