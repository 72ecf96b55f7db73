"""2-D convolution, fast CPU version: each op runs the algorithm that choose_algorithm picks.

Same functions and the same math as conv_numpy.py (read that first; `diff conv_numpy.py
conv_numba.py` lines up function by function). Where the reference has one way per op
(im2col + one GEMM, and col2im for the transposed convolution), conv2d, conv_transpose2d and
conv2d_weight_grad here ask `choose_algorithm` for one of several named algorithms and run
it: contiguous copies in numba, GEMMs in BLAS, the batch split over tinygen's worker threads.
The algorithms, the rules that choose among them and the measurements behind those rules
are conv_algorithms_numba.py's (the Winograd ones: winograd_numba.py);
`TINYGEN_CONV_ALGO=<name>` or `with tinygen.settings.use_conv_algorithm(name):` forces one
wherever it applies. im2col and col2im are the reference's, as numba loops over the whole
batch (common_numba.py's, which the algorithms run a few samples at a time).
"""
import numpy as np

from tinygen.kernels.common import contiguous, conv_output_size, conv_transpose_output_size, empty
from tinygen.kernels.common_numba import col2im_chunk, im2col_chunk
from tinygen.kernels.conv_algorithms_numba import ALGORITHMS, choose_algorithm


def im2col(x, kernel_size, stride, padding, dilation, out_size=None):
    """Receptive fields as columns: (N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo)."""
    x = contiguous(x)
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    if out_size is None:
        out_size = (conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw))
    Ho, Wo = out_size
    cols = empty((C * kh * kw, N * Ho * Wo), dtype=x.dtype)
    im2col_chunk(x, 0, N, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, cols)
    return cols


def col2im(cols, x_shape, kernel_size, stride, padding, dilation, out_size):
    """Adjoint of im2col: cols (C*kh*kw, N*Ho*Wo) -> (N, C, H, W), overlapping taps summed."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    x = empty(x_shape, dtype=cols.dtype)
    col2im_chunk(np.ascontiguousarray(cols), 0, x_shape[0], kh, kw, sh, sw, ph, pw, dh, dw, *out_size, x)
    return x


def conv2d(x, w, stride, padding, dilation, taps=None, reserve=None):
    """y = x (*) (w * taps): x (N, C_in, H, W), w (C_out, C_in, kh, kw) -> y (N, C_out, Ho, Wo).

    reserve: None, or a dict for what conv2d_weight_grad of the same x can reuse (winograd_s2
    keeps its transformed input tiles there; the other algorithms nothing)."""
    N, C, H, W = x.shape
    C_out, _, kh, kw = w.shape
    y_shape = (N, C_out, conv_output_size(H, kh, stride[0], padding[0], dilation[0]),
               conv_output_size(W, kw, stride[1], padding[1], dilation[1]))
    name = choose_algorithm("conv2d", x.shape, w.shape, y_shape, stride, padding, dilation, taps)
    return ALGORITHMS["conv2d"][name](x, w, stride, padding, dilation, taps, reserve)


def conv_transpose2d(x, w, stride, padding, output_padding, dilation, taps=None):
    """Transposed convolution: x (N, C_in, H, W), w (C_in, C_out, kh, kw) -> (N, C_out, Ho, Wo)."""
    N, C_in, H, W = x.shape
    _, C_out, kh, kw = w.shape
    y_shape = (N, C_out,
               conv_transpose_output_size(H, kh, stride[0], padding[0], output_padding[0], dilation[0]),
               conv_transpose_output_size(W, kw, stride[1], padding[1], output_padding[1], dilation[1]))
    name = choose_algorithm("conv_transpose2d", x.shape, w.shape, y_shape, stride, padding, dilation, taps)
    return ALGORITHMS["conv_transpose2d"][name](x, w, stride, padding, output_padding, dilation, taps)


def conv2d_weight_grad(x, gy, kernel_size, stride, padding, dilation, taps=None, reserve=None):
    """gw = d<gy, conv2d(x, w)>/dw: x (N, C_in, H, W), gy (N, C_out, Ho, Wo) -> (C_out, C_in, kh, kw).

    taps: None, or (kh, kw) bool: the gradient of conv2d(x, w * taps), 0 at the other taps.
    reserve: what conv2d(x, ..., reserve=) kept, if anything (x must be unchanged since)."""
    w_shape = (gy.shape[1], x.shape[1]) + tuple(kernel_size)
    name = choose_algorithm("conv2d_weight_grad", x.shape, w_shape, gy.shape, stride, padding, dilation, taps)
    return ALGORITHMS["conv2d_weight_grad"][name](x, gy, kernel_size, stride, padding, dilation, taps, reserve)
