"""2-D max and average pooling, GPU version: numba.cuda kernels, one thread per output value.

Same functions and math as pool_numpy.py (read that first). Forward: one thread per window.
Backward: one thread per input pixel, which gathers from the windows that cover it; the
windows covering row h are p = ceil((h + ph - kh + 1) / sh) .. floor((h + ph) / sh). Each
pixel is written by one thread only: no atomics, deterministic sums.
Runs on CuPy arrays, or on NumPy arrays in numba's CUDA simulator (tiny shapes only).
"""
from numba import cuda, int32

from tinygen.backend import get_array_module
from tinygen.kernels.common import launch, launch_config, pool_output_size
from tinygen.kernels.common_cuda import div32, grid32, mod32, unravel4


@cuda.jit(device=True, inline=True)
def _first_window(a, k, s):
    """The first window p (p*s <= a < p*s + k) covering padded position a >= 0:
    ceil((a - k + 1) / s), at least 0, in unsigned 32-bit division."""
    return div32(a - k + s, s) if a + 1 > k else 0


@cuda.jit
def _max_pool2d(x, kh, kw, sh, sw, ph, pw, y, idx):
    N, C, H, W = x.shape
    _, _, Ho, Wo = y.shape
    start, step = grid32()              # 32-bit index math (common_cuda.py)
    for t in range(start, int32(N * C * Ho * Wo), step):
        n, c, p, q = unravel4(t, C, Ho, Wo)
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
    start, step = grid32()
    for t in range(start, int32(N * C * H * W), step):
        n, c, h, w = unravel4(t, C, H, W)
        s = zero                        # of gx's dtype (gy[...] * 0 was float64)
        for p in range(_first_window(h + ph, kh, sh), min(Ho, div32(h + ph, sh) + 1)):
            for q in range(_first_window(w + pw, kw, sw), min(Wo, div32(w + pw, sw) + 1)):
                if idx[n, c, p, q] == h * W + w:
                    s += gy[n, c, p, q]
        gx[n, c, h, w] = s


@cuda.jit
def _avg_pool2d(x, kh, kw, sh, sw, ph, pw, y, zero, area):
    N, C, H, W = x.shape
    _, _, Ho, Wo = y.shape
    start, step = grid32()              # 32-bit index math (common_cuda.py)
    for t in range(start, int32(N * C * Ho * Wo), step):
        n, c, p, q = unravel4(t, C, Ho, Wo)
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
    start, step = grid32()
    for t in range(start, int32(N * C * H * W), step):
        n, c, h, w = unravel4(t, C, H, W)
        s = zero
        for p in range(_first_window(h + ph, kh, sh), min(Ho, div32(h + ph, sh) + 1)):
            for q in range(_first_window(w + pw, kw, sw), min(Wo, div32(w + pw, sw) + 1)):
                s += gy[n, c, p, q]
        gx[n, c, h, w] = s / area


# The numba.cuda kernels above by name, with the kinds of the arguments their launches pass
# (kernels/common_cuda.py's example_arguments): what benchmarks/ptx_check.py compiles.
DEVICE_KERNELS = {
    "max_pool2d": (_max_pool2d, ("array4d", *("int",) * 6, "array4d", "int64 array4d")),
    "max_pool2d_backward": (_max_pool2d_backward,
                            ("array4d", "int64 array4d", "array4d", *("int",) * 6, "scalar")),
    "avg_pool2d": (_avg_pool2d, ("array4d", *("int",) * 6, "array4d", "scalar", "scalar")),
    "avg_pool2d_backward": (_avg_pool2d_backward,
                            ("array4d", *("int",) * 6, "array4d", "scalar", "scalar")),
}


def max_pool2d(x, kernel_size, stride, padding):
    """Max over windows: x (N, C, H, W) -> y (N, C, Ho, Wo), idx (N, C, Ho, Wo) int64 in [0, H*W)."""
    xp = get_array_module(x)
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
    xp = get_array_module(gy)
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    gx = xp.empty(x_shape, dtype=gy.dtype)
    blocks, threads = launch_config(gx.size)
    launch(_max_pool2d_backward, blocks, threads, xp.ascontiguousarray(gy), xp.ascontiguousarray(idx),
           gx, kh, kw, sh, sw, ph, pw, gx.dtype.type(0))
    return gx


def avg_pool2d(x, kernel_size, stride, padding):
    """Mean over windows (zero padding counted): x (N, C, H, W) -> y (N, C, Ho, Wo)."""
    xp = get_array_module(x)
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
    xp = get_array_module(gy)
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    gx = xp.empty(x_shape, dtype=gy.dtype)
    blocks, threads = launch_config(gx.size)
    launch(_avg_pool2d_backward, blocks, threads, xp.ascontiguousarray(gy), kh, kw, sh, sw, ph, pw, gx,
           gx.dtype.type(0), gx.dtype.type(kh * kw))
    return gx
