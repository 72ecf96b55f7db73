"""Differentiable 2-D max and average pooling (torch.nn.functional names and defaults).

    y = max_pool2d(x, kernel_size, stride=None, padding=0)    stride defaults to kernel_size
    y = avg_pool2d(x, kernel_size, stride=None, padding=0)    zero padding counted in the mean
    y = adaptive_avg_pool2d(x, output_size)                   bins as torch's (below)
    y = adaptive_max_pool2d(x, output_size)

The forward passes call the kernels picked by tinygen.kernels.implementation. Both backward
passes are linear maps of gy, written as Functions whose own backward is their adjoint, so
gradients of gradients work:

    max:  gx = scatter(gy at idx)         its adjoint: ggy = gather(ggx at idx)
    avg:  gx = avg_pool2d_backward(gy)    its adjoint: ggy = avg_pool2d(ggx)

idx (N, C, Ho, Wo) holds the flat position h*W + w of every window's maximum, found in the
forward pass and kept on the node (memory that backward needs, visibly saved).

Adaptive pooling splits an axis of size H into Ho bins, bin i covering rows
[floor(i H / Ho), ceil((i + 1) H / Ho)). When Ho divides H the bins are the windows of the
plain pool (kernel = stride = H / Ho) and that op runs. Otherwise the bins differ in size or
overlap, and the adaptive ops are composed from differentiable ops: the average as two
matrix products with the (Ho, H) bin-averaging matrices, y = A_h x A_w^T; the max as an
index gather of every bin (short bins padded by repeating their last row, which changes
neither the max nor, summed back by the gather's adjoint, its gradient) and an amax. (On
that path, equal maxima at distinct positions share the gradient; torch gives it to the
first.)
"""
import numpy as np

from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor
from tinygen.kernels import implementation
from tinygen.backend import get_array_module
from tinygen.kernels.common import pool_output_size
from tinygen.ops.common import as_pair
from tinygen.ops.conv import check_float
from tinygen.ops.linalg import matmul
from tinygen.ops.reduce import amax
from tinygen.ops.shape import getitem, pad, reshape, transpose


class MaxPool2d(Function):
    def __init__(self, kernel_size, stride, padding):
        self.geometry = (kernel_size, stride, padding)

    def forward(self, x):
        y, self.idx = implementation("pool", self.device).max_pool2d(x, *self.geometry)
        return y                                                         # (N, C, Ho, Wo)

    def backward(self, gy):
        x, = self.inputs
        return MaxPool2dBackward(self.idx, tuple(x.shape), self.geometry)(gy)


class MaxPool2dBackward(Function):
    """gy (N, C, Ho, Wo) -> gx (N, C, H, W): gy added at the argmax positions idx."""

    def __init__(self, idx, x_shape, geometry):
        self.idx, self.x_shape, self.geometry = idx, x_shape, geometry

    def forward(self, gy):
        if gy.size == 0:   # an empty batch: the reference kernel's reshape(-1) cannot take it
            return get_array_module(gy).zeros(self.x_shape, dtype=gy.dtype)
        return implementation("pool", self.device).max_pool2d_backward(
            gy, self.idx, self.x_shape, *self.geometry)

    def backward(self, ggx):
        return MaxPool2dGather(self.idx, self.x_shape, self.geometry)(ggx)


class MaxPool2dGather(Function):
    """ggx (N, C, H, W) -> (N, C, Ho, Wo): the value at each window's argmax (adjoint of the scatter)."""

    def __init__(self, idx, x_shape, geometry):
        self.idx, self.x_shape, self.geometry = idx, x_shape, geometry

    def forward(self, ggx):
        xp = get_array_module(ggx)
        N, C, H, W = ggx.shape
        Ho, Wo = self.idx.shape[2:]
        flat = ggx.reshape(N * C, H * W)
        return xp.take_along_axis(flat, self.idx.reshape(N * C, Ho * Wo), axis=1).reshape(self.idx.shape)

    def backward(self, g):
        return MaxPool2dBackward(self.idx, self.x_shape, self.geometry)(g)


class AvgPool2d(Function):
    def __init__(self, kernel_size, stride, padding):
        self.geometry = (kernel_size, stride, padding)

    def forward(self, x):
        return implementation("pool", self.device).avg_pool2d(x, *self.geometry)

    def backward(self, gy):
        x, = self.inputs
        return AvgPool2dBackward(tuple(x.shape), self.geometry)(gy)


class AvgPool2dBackward(Function):
    """gy (N, C, Ho, Wo) -> gx (N, C, H, W), the adjoint of avg_pool2d."""

    def __init__(self, x_shape, geometry):
        self.x_shape, self.geometry = x_shape, geometry

    def forward(self, gy):
        return implementation("pool", self.device).avg_pool2d_backward(gy, self.x_shape, *self.geometry)

    def backward(self, ggx):
        return AvgPool2d(*self.geometry)(ggx)


def _check(op, x, kernel_size, stride, padding):
    """(kernel_size, stride, padding) as pairs, or a ValueError naming the op and shapes."""
    kernel_size = as_pair(kernel_size, "kernel_size", op)
    stride = kernel_size if stride is None else as_pair(stride, "stride", op)
    padding = as_pair(padding, "padding", op)
    args = f"input {tuple(x.shape)}, kernel_size={kernel_size}, stride={stride}, padding={padding}"
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got {args}")
    check_float(op, x)
    if min(kernel_size) <= 0 or min(stride) <= 0 or min(padding) < 0:
        raise ValueError(f"{op}: kernel_size and stride must be positive and padding "
                         f"non-negative: {args}")
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(f"{op}: padding must be at most half the kernel size: {args}")
    for a in (0, 1):
        if pool_output_size(x.shape[2 + a], kernel_size[a], stride[a], padding[a]) <= 0:
            raise ValueError(f"{op}: kernel larger than the padded input along axis {2 + a}: {args}")
    return kernel_size, stride, padding


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over kh x kw windows: x (N, C, H, W) -> (N, C, Ho, Wo), Ho = (H + 2*ph - kh) // sh + 1.

    return_indices=True also returns each maximum's flat position h*W + w (int64), as torch.
    ceil_mode=True rounds Ho up (a last, partial window), as torch; dilation must be 1."""
    _check_defaults("max_pool2d", dilation=(dilation, 1))
    geometry = _check("max_pool2d", x, kernel_size, stride, padding)
    if ceil_mode:
        return _max_pool2d_ceil(x, geometry, return_indices)
    fn = MaxPool2d(*geometry)
    y = fn(x)
    if return_indices:
        return y, Tensor.wrap(fn.idx, x.device, False)
    return y


def _ceil_extra(x, geometry):
    """Rows and columns a ceil_mode pool needs beyond the padded input (bottom, right)."""
    (kh, kw), (sh, sw), (ph, pw) = geometry
    extra = []
    for n, k, s, p in ((x.shape[2], kh, sh, ph), (x.shape[3], kw, sw, pw)):
        out = -(-(n + 2 * p - k) // s) + 1
        if (out - 1) * s >= n + p:          # torch: the last window must start inside the input
            out -= 1
        extra.append(max((out - 1) * s + k - (n + 2 * p), 0))
    return extra


def _max_pool2d_ceil(x, geometry, return_indices):
    """max_pool2d with ceil_mode: the input padded with -inf (p on the top/left, p plus what the
    partial last window needs on the bottom/right), then pooled without padding."""
    (kh, kw), (sh, sw), (ph, pw) = geometry
    eh, ew = _ceil_extra(x, geometry)
    xp = pad(x, (pw, pw + ew, ph, ph + eh), value=-np.inf)
    fn = MaxPool2d((kh, kw), (sh, sw), (0, 0))
    y = fn(xp)
    if not return_indices:
        return y
    Wp, W = xp.shape[3], x.shape[3]
    idx = (fn.idx // Wp - ph) * W + (fn.idx % Wp - pw)      # padded -> input coordinates
    return y, Tensor.wrap(idx, x.device, False)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over kh x kw windows: x (N, C, H, W) -> (N, C, Ho, Wo). As torch: the zero padding
    counts in the mean unless count_include_pad=False; ceil_mode=True adds a last, partial
    window (averaged over its part inside the padded input); divisor_override replaces the
    count."""
    geometry = _check("avg_pool2d", x, kernel_size, stride, padding)
    (kh, kw), stride, (ph, pw) = geometry
    if not ceil_mode and (count_include_pad or not (ph or pw)):
        y = AvgPool2d(*geometry)(x)
        return y if divisor_override is None else y * (kh * kw / divisor_override)
    # mean over kh kw of the zero-extended input, rescaled by the count of cells that count:
    # y = sum / count = mean_k / (count / (kh kw)), count = the pooled 0/1 mask of counted cells
    eh, ew = _ceil_extra(x, geometry) if ceil_mode else (0, 0)
    H, W = x.shape[2:]
    y = AvgPool2d((kh, kw), stride, (0, 0))(pad(x, (pw, pw + ew, ph, ph + eh)))
    if divisor_override is not None:
        return y * (kh * kw / divisor_override)
    xp = get_array_module(x.array)
    counted = xp.zeros((1, 1, H + 2 * ph + eh, W + 2 * pw + ew), dtype=x.dtype)
    if count_include_pad:
        counted[..., :H + 2 * ph, :W + 2 * pw] = 1
    else:
        counted[..., ph:ph + H, pw:pw + W] = 1
    share = implementation("pool", x.device).avg_pool2d(counted, (kh, kw), stride, (0, 0))
    return y / Tensor.wrap(share, x.device, False)


def _check_defaults(op, **args):
    """ValueError for a torch argument given a value tinygen does not implement."""
    for name, (value, default) in args.items():
        if value != default:
            raise ValueError(f"{op}: {name}={value!r} is not supported (only {default!r})")


# ---- adaptive pooling -----------------------------------------------------------------------

def _adaptive_size(op, x, output_size):
    """output_size (an int, or a pair with None meaning 'keep') -> (Ho, Wo) for x (N, C, H, W)."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 3-D or 4-D input, got shape {tuple(x.shape)}")
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if len(size) != 2:
        raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    size = tuple(x.shape[2 + a] if n is None else int(n) for a, n in enumerate(size))
    if min(size) <= 0:
        raise ValueError(f"{op}: output_size must be positive, got {size} for input {tuple(x.shape)}")
    return size


def _bins(n_in, n_out):
    """torch's adaptive bins along one axis: (starts, ends), bin i = [starts[i], ends[i])."""
    i = np.arange(n_out)
    return (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)


def _unbatched(fn, x, *args):
    """fn on a 3-D input (C, H, W): run on (1, C, H, W), the batch dim removed from the results."""
    ys = fn(reshape(x, (1,) + tuple(x.shape)), *args)
    if isinstance(ys, tuple):
        return tuple(reshape(y, y.shape[1:]) for y in ys)
    return reshape(ys, ys.shape[1:])


def adaptive_avg_pool2d(input, output_size):
    """Mean over torch's adaptive bins: (N, C, H, W) or (C, H, W) -> (..., Ho, Wo); output_size
    an int or a pair (None keeps that input size)."""
    if input.ndim == 3:
        return _unbatched(adaptive_avg_pool2d, input, output_size)
    return _adaptive_avg_pool2d(input, _adaptive_size("adaptive_avg_pool2d", input, output_size))


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max over torch's adaptive bins: (N, C, H, W) or (C, H, W) -> (..., Ho, Wo), and with
    return_indices each maximum's flat position h*W + w (int64)."""
    if input.ndim == 3:
        return _unbatched(adaptive_max_pool2d, input, output_size, return_indices)
    size = _adaptive_size("adaptive_max_pool2d", input, output_size)
    return _adaptive_max_pool2d(input, size, return_indices)


def _adaptive_avg_pool2d(x, size):
    """Mean over torch's adaptive bins: x (N, C, H, W) -> (N, C, Ho, Wo)."""
    (H, W), (Ho, Wo) = x.shape[2:], size
    if H % Ho == 0 and W % Wo == 0:
        return avg_pool2d(x, (H // Ho, W // Wo))
    xp = get_array_module(x.array)

    def averaging(n_in, n_out):                  # (n_out, n_in): 1 / |bin| on each bin
        starts, ends = _bins(n_in, n_out)
        j = np.arange(n_in)
        a = ((j >= starts[:, None]) & (j < ends[:, None])) / (ends - starts)[:, None]
        return Tensor.wrap(xp.asarray(a.astype(x.dtype)), x.device, False)

    return matmul(matmul(averaging(H, Ho), x), transpose(averaging(W, Wo), 0, 1))


def _adaptive_max_pool2d(x, size, return_indices=False):
    """Max over torch's adaptive bins: x (N, C, H, W) -> (N, C, Ho, Wo) (and flat indices)."""
    (H, W), (Ho, Wo) = x.shape[2:], size
    if H % Ho == 0 and W % Wo == 0:
        return max_pool2d(x, (H // Ho, W // Wo), return_indices=return_indices)
    xp = get_array_module(x.array)

    def rows(n_in, n_out):                       # (n_out, k): each bin's rows, last one repeated
        starts, ends = _bins(n_in, n_out)
        k = int((ends - starts).max())
        return np.minimum(starts[:, None] + np.arange(k), ends[:, None] - 1)

    rh, rw = rows(H, Ho), rows(W, Wo)
    windows = getitem(x, (slice(None), slice(None), xp.asarray(rh[:, :, None, None]),
                          xp.asarray(rw[None, None, :, :])))     # (N, C, Ho, kh, Wo, kw)
    y = amax(windows, dim=(3, 5))
    if not return_indices:
        return y
    kh, kw = rh.shape[1], rw.shape[1]
    flat = xp.moveaxis(windows.array, 3, 4).reshape(x.shape[0], x.shape[1], Ho, Wo, kh * kw)
    tap = flat.argmax(axis=-1)                                   # first maximum, as torch
    h = xp.asarray(rh)[xp.arange(Ho)[:, None], tap // kw]
    w = xp.asarray(rw)[xp.arange(Wo)[None, :], tap % kw]
    return y, Tensor.wrap((h * W + w).astype(np.int64), x.device, False)

