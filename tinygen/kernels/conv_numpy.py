"""2-D convolution, the readable reference: im2col + one GEMM (the ground truth in tests).

Cross-correlation, PyTorch layouts, groups = 1:

    x (N, C_in, H, W),  w (C_out, C_in, kh, kw),  y (N, C_out, Ho, Wo)

    y[n, o, p, q] = sum_{c, i, j} w[o, c, i, j] * xpad[n, c, p*sh + i*dh, q*sw + j*dw]
    Ho = (H + 2*ph - dh*(kh - 1) - 1) // sh + 1          (likewise Wo)

im2col copies every receptive field into one column, so the convolution becomes one matrix
product (Chellapilla et al. 2006, "High performance convolutional neural networks for
document processing"; Caffe's and Chainer's conv):

    cols (C_in*kh*kw, N*Ho*Wo)      row (c, i, j), column (n, p, q)
    y    = w.reshape(C_out, C_in*kh*kw) @ cols          -> (C_out, N*Ho*Wo) -> (N, C_out, Ho, Wo)

The two gradients are products with the same matrices:

    gw    = gy (C_out, N*Ho*Wo) @ cols.T                 weight gradient, one GEMM
    gcols = w2.T @ gy,  gx = col2im(gcols)              input gradient; col2im is the adjoint
                                                         of im2col: it adds each column entry
                                                         back onto the pixel it was copied from

The input gradient of a convolution is a transposed convolution (conv_transpose2d), whose
weight layout is (C_in, C_out, kh, kw), PyTorch's ConvTranspose2d.weight:

    y = conv_transpose2d(x, w)  with x (N, C_in, H, W), w (C_in, C_out, kh, kw)
    Ho = (H - 1)*sh - 2*ph + dh*(kh - 1) + oph + 1        (oph: output_padding)

so conv2d_weight_grad(input, gy) also serves conv_transpose2d: the weight gradient of
y = conv_transpose2d(x, w) is conv2d_weight_grad(gy, x) (the roles of input and output swap).

taps: None, or a (kh, kw) 0/1 array, the kernel's support (MaskedConv2d's mask): every
function computes with the kernel w * taps; the weight gradient is that of conv2d(x, w * taps),
0 at the other taps. Here it is a multiplication; conv_algorithms_numba.py skips those taps instead.

Every function works on NumPy or CuPy arrays alike (`xp`), so the `cuda` device can run the
reference too. Arguments stride, padding, dilation, output_padding are (h, w) pairs here; the
differentiable ops in tinygen/ops/conv.py accept ints and check shapes.
"""
from tinygen.backend import get_array_module
from tinygen.kernels.common import conv_output_size, conv_transpose_output_size, masked_kernel


def im2col(x, kernel_size, stride, padding, dilation, out_size=None):
    """Receptive fields as columns: (N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo).

    out_size=(Ho, Wo) overrides the output grid (a conv_transpose2d weight gradient with
    output_padding uses a grid smaller than the formula's).
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    if out_size is None:
        out_size = (conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw))
    Ho, Wo = out_size
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))       # (N, C, H+2ph, W+2pw)
    cols = xp.empty((C, kh, kw, N, Ho, Wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            # every output position's (i, j) tap at once: a strided window of xpad
            patch = xpad[:, :, i * dh: i * dh + sh * (Ho - 1) + 1: sh,
                         j * dw: j * dw + sw * (Wo - 1) + 1: sw]  # (N, C, Ho, Wo)
            cols[:, i, j] = patch.transpose(1, 0, 2, 3)          # (C, N, Ho, Wo)
    return cols.reshape(C * kh * kw, N * Ho * Wo)


def col2im(cols, x_shape, kernel_size, stride, padding, dilation, out_size):
    """Adjoint of im2col: cols (C*kh*kw, N*Ho*Wo) -> (N, C, H, W), overlapping taps summed."""
    xp = get_array_module(cols)
    N, C, H, W = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    Ho, Wo = out_size
    cols = cols.reshape(C, kh, kw, N, Ho, Wo)
    xpad = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xpad[:, :, i * dh: i * dh + sh * (Ho - 1) + 1: sh,
                 j * dw: j * dw + sw * (Wo - 1) + 1: sw] += cols[:, i, j].transpose(1, 0, 2, 3)
    return xp.ascontiguousarray(xpad[:, :, ph: ph + H, pw: pw + W])


def _images_to_rows(x):
    """(N, C, H, W) -> (C, N*H*W): the channel-major layout the GEMMs use."""
    N, C, H, W = x.shape
    return x.transpose(1, 0, 2, 3).reshape(C, N * H * W)


def _rows_to_images(y, N, H, W):
    """(C, N*H*W) -> (N, C, H, W), contiguous."""
    xp = get_array_module(y)
    C = y.shape[0]
    return xp.ascontiguousarray(y.reshape(C, N, H, W).transpose(1, 0, 2, 3))


def conv2d(x, w, stride, padding, dilation, taps=None, reserve=None):
    """y = x (*) (w * taps): x (N, C_in, H, W), w (C_out, C_in, kh, kw) -> y (N, C_out, Ho, Wo).

    reserve: the ops pass a dict for work the weight gradient could reuse; this kernel keeps
    nothing in it (its cols would cost kh*kw times x's memory until the backward)."""
    w = masked_kernel(w, taps)
    N, C, H, W = x.shape
    C_out, _, kh, kw = w.shape
    Ho = conv_output_size(H, kh, stride[0], padding[0], dilation[0])
    Wo = conv_output_size(W, kw, stride[1], padding[1], dilation[1])
    cols = im2col(x, (kh, kw), stride, padding, dilation)         # (C*kh*kw, N*Ho*Wo)
    y = w.reshape(C_out, C * kh * kw) @ cols                      # (C_out, N*Ho*Wo)
    return _rows_to_images(y, N, Ho, Wo)


def conv_transpose2d(x, w, stride, padding, output_padding, dilation, taps=None):
    """Transposed convolution: x (N, C_in, H, W), w (C_in, C_out, kh, kw) -> (N, C_out, Ho, Wo).

    It is the input gradient of conv2d with weight w, taken at gy = x.
    """
    w = masked_kernel(w, taps)
    N, C_in, H, W = x.shape
    _, C_out, kh, kw = w.shape
    Ho = conv_transpose_output_size(H, kh, stride[0], padding[0], output_padding[0], dilation[0])
    Wo = conv_transpose_output_size(W, kw, stride[1], padding[1], output_padding[1], dilation[1])
    cols = w.reshape(C_in, C_out * kh * kw).T @ _images_to_rows(x)  # (C_out*kh*kw, N*H*W)
    return col2im(cols, (N, C_out, Ho, Wo), (kh, kw), stride, padding, dilation, (H, W))


def conv2d_weight_grad(x, gy, kernel_size, stride, padding, dilation, taps=None, reserve=None):
    """gw = d<gy, conv2d(x, w)>/dw: x (N, C_in, H, W), gy (N, C_out, Ho, Wo) -> (C_out, C_in, kh, kw).

    The output grid is gy's (Ho, Wo), so conv_transpose2d's weight gradient is this function
    with the roles swapped: conv2d_weight_grad(gy_of_transpose, x_of_transpose).
    taps: None, or (kh, kw) 0/1: the gradient of conv2d(x, w * taps), 0 at the other taps.
    reserve: what conv2d kept for this x (nothing, here).
    """
    N, C, H, W = x.shape
    C_out, Ho, Wo = gy.shape[1], gy.shape[2], gy.shape[3]
    kh, kw = kernel_size
    cols = im2col(x, kernel_size, stride, padding, dilation, (Ho, Wo))   # (C*kh*kw, N*Ho*Wo)
    gw = (_images_to_rows(gy) @ cols.T).reshape(C_out, C, kh, kw)        # (C_out, C*kh*kw)
    return masked_kernel(gw, taps)

