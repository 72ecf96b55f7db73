"""2-D convolution, GPU version: numba.cuda im2col/col2im kernels + one cuBLAS GEMM.

Same functions and math as conv_numpy.py (read that first):

    cols (C_in*kh*kw, N*Ho*Wo) = im2col(x)        one GPU thread per entry of cols
    y    = w2 @ cols                              xp.matmul: cuBLAS under CuPy
    gw   = gy2 @ cols.T                           one GEMM
    gx   = col2im(w2.T @ gy2)                     GEMM, then one thread per pixel of gx

col2im is written as a gather: the thread for pixel (n, c, h, w) finds the few columns that
copied it (those p with p*sh - ph + i*dh = h, for each tap i) and sums them. Every output is
written by exactly one thread, so no atomics are needed and the result is deterministic.

Arrays are CuPy arrays on a GPU. Under NUMBA_ENABLE_CUDASIM=1 they are NumPy arrays and the
same kernels run in numba's CUDA simulator (one Python thread per GPU thread: tiny shapes
only); `xp` is then numpy.
"""
from numba import cuda, int32

from tinygen.backend import get_array_module
from tinygen.kernels.common import (
    conv_output_size, conv_transpose_output_size, launch, launch_config, masked_kernel)
from tinygen.kernels.common_cuda import div32, grid32, mod32, unravel4


@cuda.jit
def _im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, cols):
    N, C, H, W = x.shape
    K, P = cols.shape
    start, step = grid32()              # 32-bit index math (common_cuda.py)
    for t in range(start, int32(K * P), step):
        r = div32(t, P)                 # row (c, i, j)
        col = mod32(t, P)               # column (n, p, q)
        c = div32(r, kh * kw)
        i = mod32(div32(r, kw), kh)
        j = mod32(r, kw)
        n = div32(col, Ho * Wo)
        p = mod32(div32(col, Wo), Ho)
        q = mod32(col, Wo)
        h = p * sh - ph + i * dh
        w = q * sw - pw + j * dw
        if h >= 0 and h < H and w >= 0 and w < W:
            cols[r, col] = x[n, c, h, w]
        else:
            cols[r, col] = 0


@cuda.jit
def _col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, x, zero):
    N, C, H, W = x.shape
    start, step = grid32()
    for t in range(start, int32(N * C * H * W), step):
        n, c, h, w = unravel4(t, C, H, W)
        s = zero                        # of x's dtype (cols[0, 0] * 0 was float64)
        for i in range(kh):
            hp = h + ph - i * dh        # = p * sh for the window row p that reads h with tap i
            if hp < 0 or mod32(hp, sh) != 0 or div32(hp, sh) >= Ho:
                continue
            p = div32(hp, sh)
            for j in range(kw):
                wq = w + pw - j * dw
                if wq < 0 or mod32(wq, sw) != 0 or div32(wq, sw) >= Wo:
                    continue
                q = div32(wq, sw)
                s += cols[(c * kh + i) * kw + j, (n * Ho + p) * Wo + q]
        x[n, c, h, w] = s


# The numba.cuda kernels above by name, with the kinds of the arguments their launches pass
# (kernels/common_cuda.py's example_arguments): what benchmarks/ptx_check.py compiles.
DEVICE_KERNELS = {
    "im2col": (_im2col, ("array4d", *("int",) * 10, "array2d")),
    "col2im": (_col2im, ("array2d", *("int",) * 10, "array4d", "scalar")),
}


def im2col(x, kernel_size, stride, padding, dilation, out_size=None):
    """Receptive fields as columns: (N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo)."""
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    if out_size is None:
        out_size = (conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw))
    Ho, Wo = out_size
    cols = xp.empty((C * kh * kw, N * Ho * Wo), dtype=x.dtype)
    blocks, threads = launch_config(cols.size)
    launch(_im2col, blocks, threads, x, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, cols)
    return cols


def col2im(cols, x_shape, kernel_size, stride, padding, dilation, out_size):
    """Adjoint of im2col: cols (C*kh*kw, N*Ho*Wo) -> (N, C, H, W), overlapping taps summed."""
    xp = get_array_module(cols)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    x = xp.empty(x_shape, dtype=cols.dtype)
    blocks, threads = launch_config(x.size)
    launch(_col2im, blocks, threads, xp.ascontiguousarray(cols), kh, kw, sh, sw, ph, pw, dh, dw,
           out_size[0], out_size[1], x, x.dtype.type(0))
    return x


def _images_to_rows(x):
    """(N, C, H, W) -> (C, N*H*W), contiguous."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    return xp.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(C, N * H * W)


def _rows_to_images(y, N, H, W):
    """(C, N*H*W) -> (N, C, H, W), contiguous."""
    xp = get_array_module(y)
    return xp.ascontiguousarray(y.reshape(y.shape[0], N, H, W).transpose(1, 0, 2, 3))


def conv2d(x, w, stride, padding, dilation, taps=None, reserve=None):
    """y = x (*) (w * taps): x (N, C_in, H, W), w (C_out, C_in, kh, kw) -> y (N, C_out, Ho, Wo).

    reserve: the ops pass a dict for work the weight gradient could reuse; this kernel keeps
    nothing in it (its cols would cost kh*kw times x's memory until the backward)."""
    xp = get_array_module(x)
    w = masked_kernel(w, taps)
    N, C, H, W = x.shape
    C_out, _, kh, kw = w.shape
    Ho = conv_output_size(H, kh, stride[0], padding[0], dilation[0])
    Wo = conv_output_size(W, kw, stride[1], padding[1], dilation[1])
    cols = im2col(x, (kh, kw), stride, padding, dilation)                # (C*kh*kw, N*Ho*Wo)
    y = xp.matmul(xp.ascontiguousarray(w).reshape(C_out, C * kh * kw), cols)  # (C_out, N*Ho*Wo)
    return _rows_to_images(y, N, Ho, Wo)


def conv_transpose2d(x, w, stride, padding, output_padding, dilation, taps=None):
    """Transposed convolution: x (N, C_in, H, W), w (C_in, C_out, kh, kw) -> (N, C_out, Ho, Wo)."""
    xp = get_array_module(x)
    w = masked_kernel(w, taps)
    N, C_in, H, W = x.shape
    _, C_out, kh, kw = w.shape
    Ho = conv_transpose_output_size(H, kh, stride[0], padding[0], output_padding[0], dilation[0])
    Wo = conv_transpose_output_size(W, kw, stride[1], padding[1], output_padding[1], dilation[1])
    w2 = xp.ascontiguousarray(w).reshape(C_in, C_out * kh * kw)
    cols = xp.matmul(w2.T, _images_to_rows(x))                           # (C_out*kh*kw, N*H*W)
    return col2im(cols, (N, C_out, Ho, Wo), (kh, kw), stride, padding, dilation, (H, W))


def conv2d_weight_grad(x, gy, kernel_size, stride, padding, dilation, taps=None, reserve=None):
    """gw = d<gy, conv2d(x, w)>/dw: x (N, C_in, H, W), gy (N, C_out, Ho, Wo) -> (C_out, C_in, kh, kw).

    taps: None, or (kh, kw) 0/1: the gradient of conv2d(x, w * taps), 0 at the other taps.
    reserve: what conv2d kept for this x (nothing, here)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    _, C_out, Ho, Wo = gy.shape
    kh, kw = kernel_size
    cols = im2col(x, kernel_size, stride, padding, dilation, (Ho, Wo))  # (C*kh*kw, N*Ho*Wo)
    gw = xp.matmul(_images_to_rows(gy), cols.T).reshape(C_out, C, kh, kw)  # (C_out, C*kh*kw)
    return masked_kernel(gw, taps)
