"""Convolution layers: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, and the PixelCNN's
MaskedConv2d.

Layouts as torch: Conv2d.weight (C_out, C_in, kh, kw), ConvTranspose2d.weight
(C_in, C_out, kh, kw); cross-correlation (no kernel flip). Default initialization as torch:
weight kaiming_uniform_(a=sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
fan_in = weight.shape[1] * kh * kw (for ConvTranspose2d that is C_out kh kw: torch's rule,
kept so that the two libraries start from the same distribution).

MaskedConv2d (van den Oord et al. 2016, "Pixel Recurrent Neural Networks", sec. 3.4) makes
a convolution causal in raster order (rows top to bottom, pixels left to right): output
pixel i may only see input pixels before i. With the kernel centre at (kh // 2, kw // 2),

    mask[r, c] = 1   for r < kh // 2                       (rows above the centre)
    mask[r, c] = 1   for r = kh // 2 and c < kw // 2        (left of the centre)
    mask[r, c] = 1   for the centre itself, type 'B' only
    mask[r, c] = 0   otherwise                              (right of the centre, rows below)

Type 'A' (first layer) excludes the centre, so output i does not see input i; type 'B'
(later layers) includes it, so a stack A, B, B, ... keeps output i a function of x_<i.
(Single channel group: every channel sees the same spatial mask.)

The forward uses weight * mask, so d loss / d weight is exactly zero under the mask. The
masked entries are set to zero at initialization and, having zero gradient, stay zero
under SGD and Adam, weight decay included (their decay term wd * 0 is zero too).
"""
import numpy as np

from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor
from tinygen.nn import functional as F
from tinygen.nn import init
from tinygen.nn.module import Module, Parameter
from tinygen.ops.conv import masked_conv2d
from tinygen.ops.common import as_pair, as_single
from tinygen.ops.conv1d import conv1d, conv_transpose1d
from tinygen.ops.factories import empty


class _ConvNd(Module):
    """What the convolution layers share: the weight/bias, their init, torch's repr.

    groups and padding_mode are torch's arguments; only groups=1 and 'zeros' are supported."""

    n = 2                         # spatial dims

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 bias, weight_shape, device, dtype, groups=1, padding_mode="zeros"):
        super().__init__()
        if groups != 1 or padding_mode != "zeros":
            raise ValueError(f"{type(self).__name__}: groups={groups}, padding_mode={padding_mode!r} "
                             f"is not supported (only groups=1, padding_mode='zeros')")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = self._sizes(kernel_size, "kernel_size")
        self.stride, self.dilation = self._sizes(stride, "stride"), self._sizes(dilation, "dilation")
        self.padding = padding if isinstance(padding, str) else self._sizes(padding, "padding")
        self.groups, self.padding_mode = groups, padding_mode
        self.weight = Parameter(empty(weight_shape, dtype=dtype, device=device))
        self.register_parameter(
            "bias", Parameter(empty(out_channels, dtype=dtype, device=device)) if bias else None)
        self.reset_parameters()

    def _sizes(self, value, name):
        """A size argument as torch keeps it, an n-tuple: an int or a sequence of n ints (the
        ops' own checks, whose errors name the layer and the argument)."""
        op = type(self).__name__
        return as_pair(value, name, op) if self.n == 2 else (as_single(value, name, op),)

    def reset_parameters(self):
        init.default_init_(self.weight, self.bias)

    def extra_repr(self):
        zeros, ones = (0,) * self.n, (1,) * self.n
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != zeros:
            s += f", padding={self.padding}"
        if self.dilation != ones:
            s += f", dilation={self.dilation}"
        if getattr(self, "output_padding", zeros) != zeros:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """x (N, C_in, H, W) -> (N, C_out, H', W'), H' = (H + 2 ph - dh (kh - 1) - 1) // sh + 1."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        kh, kw = as_pair(kernel_size, "kernel_size", type(self).__name__)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias,
                         (out_channels, in_channels, kh, kw), device, dtype, groups, padding_mode)

    def forward(self, x):     # padding may be 'valid' or 'same' (F.conv2d reads them)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)


class ConvTranspose2d(_ConvNd):
    """x (N, C_in, H, W) -> (N, C_out, H', W'),
    H' = (H - 1) sh - 2 ph + dh (kh - 1) + output_padding + 1 (the adjoint of Conv2d)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        kh, kw = as_pair(kernel_size, "kernel_size", type(self).__name__)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias,
                         (in_channels, out_channels, kh, kw), device, dtype, groups, padding_mode)
        self.output_padding = self._sizes(output_padding, "output_padding")

    def forward(self, x):
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.dilation)


class Conv1d(_ConvNd):
    """x (N, C_in, L) -> (N, C_out, L'), L' = (L + 2 p - d (k - 1) - 1) // s + 1
    (conv2d on a height-1 image; tinygen/ops/conv1d.py)."""

    n = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        k = as_single(kernel_size, "kernel_size", type(self).__name__)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias,
                         (out_channels, in_channels, k), device, dtype, groups, padding_mode)

    def forward(self, x):
        padding = self.padding if isinstance(self.padding, str) else self.padding[0]
        return conv1d(x, self.weight, self.bias, self.stride[0], padding, self.dilation[0])


class ConvTranspose1d(_ConvNd):
    """x (N, C_in, L) -> (N, C_out, L'), L' = (L - 1) s - 2 p + d (k - 1) + output_padding + 1."""

    n = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        k = as_single(kernel_size, "kernel_size", type(self).__name__)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias,
                         (in_channels, out_channels, k), device, dtype, groups, padding_mode)
        self.output_padding = self._sizes(output_padding, "output_padding")

    def forward(self, x):
        return conv_transpose1d(x, self.weight, self.bias, self.stride[0], self.padding[0],
                                self.output_padding[0], 1, self.dilation[0])


def causal_mask(kernel_size, mask_type):
    """The (kh, kw) 0/1 PixelCNN mask of type 'A' (centre excluded) or 'B' (centre included)."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    kh, kw = as_pair(kernel_size, "kernel_size", "causal_mask")
    mask = np.zeros((kh, kw), dtype=bool)
    mask[:kh // 2, :] = True                   # rows above the centre
    mask[kh // 2, :kw // 2] = True             # left of the centre, same row
    mask[kh // 2, kw // 2] = mask_type == "B"  # the centre itself
    return mask


class MaskedConv2d(Conv2d):
    """A Conv2d whose kernel is multiplied by the PixelCNN causal mask (type 'A' or 'B').

    The mask is a non-persistent buffer (rebuilt from mask_type, moved by .to())."""

    def __init__(self, in_channels, out_channels, kernel_size, mask_type="A", stride=1,
                 padding=0, dilation=1, bias=True, device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, bias=bias, device=device, dtype=dtype)
        self.mask_type = mask_type
        mask = causal_mask(kernel_size, mask_type).astype(self.weight.dtype)
        self._taps = mask != 0   # (kh, kw) on the host, for the kernels: no copy per forward
        self.register_buffer("mask", Tensor(mask, device=self.weight.device), persistent=False)
        self._zero_masked_weights()

    def reset_parameters(self):
        super().reset_parameters()
        if "mask" in self._buffers:  # not yet during __init__; it zeroes them itself then
            self._zero_masked_weights()

    def _zero_masked_weights(self):
        with no_grad():
            # an assignment writes +0.0 (w * 0 would leave -0.0 where w < 0)
            self.weight[..., ~self.mask.array.astype(bool)] = 0   # (C_out, C_in, kh, kw)

    def forward(self, x):
        # conv2d(x, weight * mask), with the weight gradient computed only where the mask is 1
        return masked_conv2d(x, self.weight, self.mask, self.bias, self.stride, self.padding,
                             self.dilation, taps=self._taps)

    def extra_repr(self):
        return f"{super().extra_repr()}, mask_type={self.mask_type!r}"
