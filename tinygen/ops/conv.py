"""Differentiable 2-D convolution and transposed convolution (torch.nn.functional names).

    y = conv2d(x, w, b)             x (N, C_in, H, W), w (C_out, C_in, kh, kw), b (C_out,)
    y = conv_transpose2d(x, w, b)   x (N, C_in, H, W), w (C_in, C_out, kh, kw), b (C_out,)

The forward passes call the kernels picked by tinygen.kernels.implementation (device and
kernel setting). The backward passes are themselves convolutions, written with these ops so
that gradients of gradients work:

    conv2d:            gx = conv_transpose2d(gy, w)       gw = W(x, gy)          gb = sum gy
    conv_transpose2d:  gx = conv2d(gy, w)                 gw = W(gy, x)          gb = sum gy

where W(a, g) = conv2d_weight_grad: the weight gradient of conv2d(a, .) for output gradient
g, itself a Function. W is bilinear, <ggw, W(a, g)> = <g, conv2d(a, ggw)>, so its own
backward is again a pair of convolutions:

    W's backward:      ga = conv_transpose2d(g, ggw)      gg = conv2d(a, ggw)

A conv_transpose2d with output_padding makes the grids of a and g differ by less than one
stride from what the conv formula gives; `_conv_to` and `_conv_transpose_to` handle that by
cropping, or by choosing the output_padding that hits the size wanted.

Arguments are int or (h, w) pairs, as torch. Bad shapes and arguments raise a ValueError that
names the op and the shapes, and a dtype other than float32/float64 a TypeError; the checks
are all here, the kernels trust their inputs. An empty batch (N = 0) runs the reference
kernels (plain array code, which handles it); the fast ones assume N >= 1.
"""

import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor
from tinygen.kernels import implementation
from tinygen.kernels.common import conv_transpose_output_size
from tinygen.ops.common import as_pair


def _kernels(device, n):
    """The conv kernels for a batch of n images: the reference ones for an empty batch."""
    return implementation("conv", device, mode="reference" if n == 0 else None)


def _add_bias(y, b):
    """y (N, C, H, W) += b (C,), in place. A NumPy y goes as N rows of C*H*W values plus b
    repeated H*W times: NumPy's broadcast add of b.reshape(1, -1, 1, 1) runs N*C inner loops
    of H*W values, 0.089 ms on (64, 128, 7, 7) against 0.043 this way (0.28 against 0.16 on
    (32, 64, 28, 28)), the same sums to the bit. One channel keeps the broadcast add (its
    inner loops are whole planes already: 0.004 ms on (64, 1, 28, 28) against 0.010 with the
    repeat), and so does a GPU array (one launch, where the repeat would be a second)."""
    N, C, H, W = y.shape
    if C == 1 or not isinstance(y, np.ndarray) or not y.flags.c_contiguous:
        y += b.reshape(1, -1, 1, 1)
    else:
        rows = y.reshape(N, C * H * W)                  # a view of y (contiguous)
        rows += b.repeat(H * W)


# ---- the Functions ------------------------------------------------------------------------

class Conv2d(Function):
    def __init__(self, stride, padding, dilation, taps=None, reserve=None):
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.taps = taps          # None, or (kh, kw) 0/1: the kernel's support (it is w * taps)
        # what the kernel may keep for the weight gradient of this x (winograd_s2: its input
        # tiles): this node's own dict (dropped with the node after backward, or at once when
        # no graph is recorded), or one shared with a weight gradient of the same x
        self.reserve = {} if reserve is None else reserve

    def forward(self, x, w, b=None):
        y = _kernels(self.device, x.shape[0]).conv2d(x, w, self.stride, self.padding, self.dilation,
                                                     self.taps, reserve=self.reserve)
        if b is not None:
            _add_bias(y, b)
        return y                                                        # (N, C_out, Ho, Wo)

    def backward(self, gy):
        x, w = self.inputs[0], self.inputs[1]
        geometry = (self.stride, self.padding, self.dilation)
        gx = _conv_transpose_to(gy, w, x.shape[2:], *geometry, self.taps) if x.requires_grad else None
        gw = (Conv2dWeightGrad(w.shape[2:], *geometry, self.taps, self.reserve)(x, gy)
              if w.requires_grad else None)
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, gy.sum(dim=(0, 2, 3))


class ConvTranspose2d(Function):
    def __init__(self, stride, padding, output_padding, dilation, taps=None):
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.output_padding = output_padding
        self.taps = taps          # None, or (kh, kw) 0/1: the kernel's support (it is w * taps)

    def forward(self, x, w, b=None):
        y = _kernels(self.device, x.shape[0]).conv_transpose2d(
            x, w, self.stride, self.padding, self.output_padding, self.dilation, self.taps)
        if b is not None:
            _add_bias(y, b)
        return y                                                        # (N, C_out, Ho, Wo)

    def backward(self, gy):
        x, w = self.inputs[0], self.inputs[1]
        geometry = (self.stride, self.padding, self.dilation)
        reserve = {}          # gx = conv2d(gy, w) keeps gy's tiles there, gw = W(gy, x) reads them
        gx = _conv_to(gy, w, x.shape[2:], *geometry, self.taps, reserve) if x.requires_grad else None
        gw = Conv2dWeightGrad(w.shape[2:], *geometry, self.taps, reserve)(gy, x) if w.requires_grad else None
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, gy.sum(dim=(0, 2, 3))


class Conv2dWeightGrad(Function):
    """W(a, g): a (N, C_a, Ha, Wa), g (N, C_g, Hg, Wg) -> (C_g, C_a, kh, kw), bilinear.

    With taps (a (kh, kw) 0/1 mask), taps * W(a, g): only the masked-in taps are computed.
    reserve: what the forward conv2d of this same a kept for it (Conv2d passes its own)."""

    def __init__(self, kernel_size, stride, padding, dilation, taps=None, reserve=None):
        self.kernel_size = tuple(kernel_size)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.taps = taps
        self.reserve = reserve

    def forward(self, a, g):
        return _kernels(self.device, a.shape[0]).conv2d_weight_grad(
            a, g, self.kernel_size, self.stride, self.padding, self.dilation, self.taps,
            reserve=self.reserve)

    def backward(self, ggw):
        a, g = self.inputs
        if self.taps is not None:
            ggw = ggw * Tensor.wrap(backend.to_device(np.asarray(self.taps, dtype=ggw.array.dtype),
                                                       self.device), self.device, False)
        geometry = (self.stride, self.padding, self.dilation)
        ga = _conv_transpose_to(g, ggw, a.shape[2:], *geometry, self.taps) if a.requires_grad else None
        gg = _conv_to(a, ggw, g.shape[2:], *geometry, self.taps) if g.requires_grad else None
        return ga, gg


def _conv_to(x, w, size, stride, padding, dilation, taps=None, reserve=None):
    """conv2d(x, w) cropped to the spatial `size` (the grid of a conv_transpose2d input)."""
    y = Conv2d(stride, padding, dilation, taps, reserve)(x, w)
    if tuple(y.shape[2:]) != tuple(size):
        y = y[:, :, :size[0], :size[1]]
    return y


def _conv_transpose_to(x, w, size, stride, padding, dilation, taps=None):
    """conv_transpose2d(x, w) with the output_padding that makes its output spatial `size`."""
    kh, kw = w.shape[2:]
    output_padding = tuple(
        int(size[a]) - conv_transpose_output_size(x.shape[2 + a], k, stride[a], padding[a], 0, dilation[a])
        for a, k in enumerate((kh, kw)))
    return ConvTranspose2d(stride, padding, output_padding, dilation, taps)(x, w)


# ---- argument checks ----------------------------------------------------------------------

FLOAT_DTYPES = (np.float32, np.float64)   # what the conv and pool kernels compute in


def check_float(op, *tensors):
    """TypeError naming the op and the dtype unless every tensor is float32 or float64."""
    for t in tensors:
        if t.array.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{op}: got a {t.array.dtype} tensor of shape {tuple(t.shape)}; "
                            f"{op} computes in float32 or float64 (convert with .float())")


def _check(op, x, weight, bias, stride, padding, dilation, in_axis):
    """Shared checks of conv2d and conv_transpose2d; returns (stride, padding, dilation)."""
    stride, padding, dilation = (as_pair(stride, "stride", op), as_pair(padding, "padding", op),
                                 as_pair(dilation, "dilation", op))
    shapes = f"input {tuple(x.shape)}, weight {tuple(weight.shape)}"
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) and a 4-D weight, got {shapes}")
    if x.shape[1] != weight.shape[in_axis]:
        raise ValueError(f"{op}: input has {x.shape[1]} channels but the weight expects "
                         f"{weight.shape[in_axis]} (weight axis {in_axis}): {shapes}")
    if min(stride) <= 0 or min(dilation) <= 0 or min(padding) < 0:
        raise ValueError(f"{op}: stride and dilation must be positive and padding non-negative, "
                         f"got stride={stride}, padding={padding}, dilation={dilation} ({shapes})")
    check_float(op, x, weight)
    if x.dtype != weight.dtype:
        raise ValueError(f"{op}: input dtype {x.dtype} and weight dtype {weight.dtype} differ ({shapes})")
    out_channels = weight.shape[1 - in_axis]
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{op}: bias of shape {tuple(bias.shape)} for {out_channels} output "
                         f"channels ({shapes})")
    return stride, padding, dilation


def _padded_same(x, weight, stride, dilation):
    """x padded for padding='same' (stride 1): d (k - 1) in all per dim, the odd one on the
    right and bottom, as torch."""
    if as_pair(stride, "stride", "conv2d") != (1, 1):
        raise ValueError(f"conv2d: padding='same' needs stride 1, got stride={stride}")
    (dh, dw), (kh, kw) = as_pair(dilation, "dilation", "conv2d"), weight.shape[2:]
    th, tw = dh * (kh - 1), dw * (kw - 1)
    from tinygen.ops.shape import pad
    return pad(x, (tw // 2, tw - tw // 2, th // 2, th - th // 2))


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """Cross-correlation: x (N, C_in, H, W), weight (C_out, C_in, kh, kw), bias (C_out,) ->
    (N, C_out, Ho, Wo) with Ho = (H + 2*ph - dh*(kh - 1) - 1) // sh + 1; padding may also be
    'valid' (0) or 'same' (Ho = H, stride 1)."""
    if padding == "same":
        x, padding = _padded_same(x, weight, stride, dilation), 0
    elif padding == "valid":
        padding = 0
    elif isinstance(padding, str):
        raise ValueError(f"conv2d: padding must be ints, 'valid' or 'same', got {padding!r}")
    stride, padding, dilation = _check_conv2d(x, weight, bias, stride, padding, dilation)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Conv2d(stride, padding, dilation)(*inputs)


def _check_conv2d(x, weight, bias, stride, padding, dilation):
    stride, padding, dilation = _check("conv2d", x, weight, bias, stride, padding, dilation, 1)
    for a in (0, 1):
        reach = dilation[a] * (weight.shape[2 + a] - 1) + 1
        if x.shape[2 + a] + 2 * padding[a] < reach:
            raise ValueError(
                f"conv2d: kernel {tuple(weight.shape[2:])} with dilation {dilation} spans "
                f"{reach} along axis {2 + a}, more than the padded input "
                f"({x.shape[2 + a]} + 2*{padding[a]}): input {tuple(x.shape)}, weight {tuple(weight.shape)}")
    return stride, padding, dilation


def masked_conv2d(x, weight, mask, bias=None, stride=1, padding=0, dilation=1, taps=None):
    """conv2d(x, weight * mask) for a (kh, kw) 0/1 `mask` (MaskedConv2d's): the same values and
    gradients, but the weight gradient is computed only at the taps the mask keeps (the others
    would be multiplied by 0), and the masked-out taps are skipped in the products.
    taps: mask != 0 as a host (kh, kw) array, when the caller keeps one (MaskedConv2d does),
    so that a mask on the GPU is not copied to the host on every call. On the cuda device the
    taps are not used: its kernels compute every tap (one GEMM), and the weight, masked
    already, goes in as it is (the taps would multiply it by the mask again: 3 kernels a
    layer and step, 17 of B3's) and no mask is read back to the host."""
    stride, padding, dilation = _check_conv2d(x, weight, bias, stride, padding, dilation)
    if tuple(mask.shape) != tuple(weight.shape[2:]):
        raise ValueError(f"masked_conv2d: mask of shape {tuple(mask.shape)} for weight of shape "
                         f"{tuple(weight.shape)} (expected {tuple(weight.shape[2:])})")
    w = weight * mask
    inputs = (x, w) if bias is None else (x, w, bias)
    if x.device != backend.CPU:
        return Conv2d(stride, padding, dilation)(*inputs)
    if taps is None:
        taps = backend.to_numpy(mask.array if isinstance(mask, Tensor) else mask)   # (kh, kw)
    return Conv2d(stride, padding, dilation, np.asarray(taps) != 0)(*inputs)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1):
    """Transposed convolution: x (N, C_in, H, W), weight (C_in, C_out, kh, kw), bias (C_out,) ->
    (N, C_out, Ho, Wo) with Ho = (H - 1)*sh - 2*ph + dh*(kh - 1) + output_padding + 1."""
    op = "conv_transpose2d"
    stride, padding, dilation = _check(op, x, weight, bias, stride, padding, dilation, 0)
    output_padding = as_pair(output_padding, "output_padding", op)
    for a in (0, 1):
        if not 0 <= output_padding[a] < max(stride[a], dilation[a]):
            raise ValueError(
                f"{op}: output_padding {output_padding} must be non-negative and smaller than "
                f"either stride {stride} or dilation {dilation}: input {tuple(x.shape)}, "
                f"weight {tuple(weight.shape)}")
        size = conv_transpose_output_size(x.shape[2 + a], weight.shape[2 + a], stride[a],
                                          padding[a], output_padding[a], dilation[a])
        if size <= 0:
            raise ValueError(f"{op}: output size {size} along axis {2 + a} is not positive "
                             f"(padding {padding} too large): input {tuple(x.shape)}, "
                             f"weight {tuple(weight.shape)}")
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return ConvTranspose2d(stride, padding, output_padding, dilation)(*inputs)
