"""2-D max and average pooling, GPU version: numba.cuda kernels, one thread per output value.

Same functions and math as pool_numpy.py (read that first). Forward: one thread per window.
Backward: one thread per input pixel, which gathers from the windows that cover it; the
windows covering row h are p = ceil((h + ph - kh + 1) / sh) .. floor((h + ph) / sh). Each
pixel is written by one thread only: no atomics, deterministic sums.
Runs on CuPy arrays, or on NumPy arrays in numba's CUDA simulator (tiny shapes only).
"""
from numba import cuda

from tinygen.kernels._common import array_module, launch, launch_config, pool_output_size


@cuda.jit
def _max_pool2d(x, kh, kw, sh, sw, ph, pw, y, idx):
    N, C, H, W = x.shape
    _, _, Ho, Wo = y.shape
    for t in range(cuda.grid(1), N * C * Ho * Wo, cuda.gridsize(1)):
        n = t // (C * Ho * Wo)
        c = (t // (Ho * Wo)) % C
        p = (t // Wo) % Ho
        q = t % Wo
        best = x[n, c, 0, 0]
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
                if arg < 0 or v > best:  # first maximum in window order, as PyTorch
                    best = v
                    arg = h * W + w
        y[n, c, p, q] = best
        idx[n, c, p, q] = arg


@cuda.jit
def _max_pool2d_backward(gy, idx, gx, kh, kw, sh, sw, ph, pw, zero):
    N, C, H, W = gx.shape
    _, _, Ho, Wo = gy.shape
    for t in range(cuda.grid(1), N * C * H * W, cuda.gridsize(1)):
        n = t // (C * H * W)
        c = (t // (H * W)) % C
        h = (t // W) % H
        w = t % W
        s = zero                        # of gx's dtype (gy[...] * 0 was float64)
        for p in range(max(0, -((kh - 1 - h - ph) // sh)), min(Ho, (h + ph) // sh + 1)):
            for q in range(max(0, -((kw - 1 - w - pw) // sw)), min(Wo, (w + pw) // sw + 1)):
                if idx[n, c, p, q] == h * W + w:
                    s += gy[n, c, p, q]
        gx[n, c, h, w] = s


@cuda.jit
def _avg_pool2d(x, kh, kw, sh, sw, ph, pw, y, zero, area):
    N, C, H, W = x.shape
    _, _, Ho, Wo = y.shape
    for t in range(cuda.grid(1), N * C * Ho * Wo, cuda.gridsize(1)):
        n = t // (C * Ho * Wo)
        c = (t // (Ho * Wo)) % C
        p = (t // Wo) % Ho
        q = t % Wo
        s = zero                        # zero, area = kh*kw: of y's dtype, so no float64
        for i in range(kh):
            h = p * sh - ph + i
            if h < 0 or h >= H:
                continue
            for j in range(kw):
                w = q * sw - pw + j
                if w >= 0 and w < W:
                    s += x[n, c, h, w]
        y[n, c, p, q] = s / area


@cuda.jit
def _avg_pool2d_backward(gy, kh, kw, sh, sw, ph, pw, gx, zero, area):
    N, C, H, W = gx.shape
    _, _, Ho, Wo = gy.shape
    for t in range(cuda.grid(1), N * C * H * W, cuda.gridsize(1)):
        n = t // (C * H * W)
        c = (t // (H * W)) % C
        h = (t // W) % H
        w = t % W
        s = zero
        for p in range(max(0, -((kh - 1 - h - ph) // sh)), min(Ho, (h + ph) // sh + 1)):
            for q in range(max(0, -((kw - 1 - w - pw) // sw)), min(Wo, (w + pw) // sw + 1)):
                s += gy[n, c, p, q]
        gx[n, c, h, w] = s / area


def max_pool2d(x, kernel_size, stride, padding):
    """Max over windows: x (N, C, H, W) -> y (N, C, Ho, Wo), idx (N, C, Ho, Wo) int64 in [0, H*W)."""
    xp = array_module(x)
    x = xp.ascontiguousarray(x)
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    Ho, Wo = pool_output_size(H, kh, sh, ph), pool_output_size(W, kw, sw, pw)
    y = xp.empty((N, C, Ho, Wo), dtype=x.dtype)
    idx = xp.empty((N, C, Ho, Wo), dtype=xp.int64)
    blocks, threads = launch_config(y.size)
    launch(_max_pool2d, blocks, threads, x, kh, kw, sh, sw, ph, pw, y, idx)
    return y, idx


def max_pool2d_backward(gy, idx, x_shape, kernel_size, stride, padding):
    """Scatter gy to the argmax positions: gy, idx (N, C, Ho, Wo) -> gx (N, C, H, W)."""
    xp = array_module(gy)
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    gx = xp.empty(x_shape, dtype=gy.dtype)
    blocks, threads = launch_config(gx.size)
    launch(_max_pool2d_backward, blocks, threads, xp.ascontiguousarray(gy), xp.ascontiguousarray(idx),
           gx, kh, kw, sh, sw, ph, pw, gx.dtype.type(0))
    return gx


def avg_pool2d(x, kernel_size, stride, padding):
    """Mean over windows (zero padding counted): x (N, C, H, W) -> y (N, C, Ho, Wo)."""
    xp = array_module(x)
    x = xp.ascontiguousarray(x)
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    Ho, Wo = pool_output_size(H, kh, sh, ph), pool_output_size(W, kw, sw, pw)
    y = xp.empty((N, C, Ho, Wo), dtype=x.dtype)
    blocks, threads = launch_config(y.size)
    launch(_avg_pool2d, blocks, threads, x, kh, kw, sh, sw, ph, pw, y, y.dtype.type(0),
           y.dtype.type(kh * kw))
    return y


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding):
    """Adjoint of avg_pool2d: gy (N, C, Ho, Wo) -> gx (N, C, H, W)."""
    xp = array_module(gy)
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    gx = xp.empty(x_shape, dtype=gy.dtype)
    blocks, threads = launch_config(gx.size)
    launch(_avg_pool2d_backward, blocks, threads, xp.ascontiguousarray(gy), kh, kw, sh, sw, ph, pw, gx,
           gx.dtype.type(0), gx.dtype.type(kh * kw))
    return gx
