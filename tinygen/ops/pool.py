"""Differentiable 2-D max and average pooling (torch.nn.functional names and defaults).

    y = max_pool2d(x, kernel_size, stride=None, padding=0)    stride defaults to kernel_size
    y = avg_pool2d(x, kernel_size, stride=None, padding=0)    zero padding counted in the mean

The forward passes call the kernels picked by tinygen.kernels.implementation. Both backward
passes are linear maps of gy, written as Functions whose own backward is their adjoint, so
gradients of gradients work:

    max:  gx = scatter(gy at idx)         its adjoint: ggy = gather(ggx at idx)
    avg:  gx = avg_pool2d_backward(gy)    its adjoint: ggy = avg_pool2d(ggx)

idx (N, C, Ho, Wo) holds the flat position h*W + w of every window's maximum, found in the
forward pass and kept on the node (memory that backward needs, visibly saved).
"""
from tinygen.autograd.function import Function
from tinygen.kernels import implementation
from tinygen.kernels.pool_numpy import array_module, pool_output_size
from tinygen.ops.conv import _pair, check_float


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
            return array_module(gy).zeros(self.x_shape, dtype=gy.dtype)
        return implementation("pool", self.device).max_pool2d_backward(
            gy, self.idx, self.x_shape, *self.geometry)

    def backward(self, ggx):
        return MaxPool2dGather(self.idx, self.x_shape, self.geometry)(ggx)


class MaxPool2dGather(Function):
    """ggx (N, C, H, W) -> (N, C, Ho, Wo): the value at each window's argmax (adjoint of the scatter)."""

    def __init__(self, idx, x_shape, geometry):
        self.idx, self.x_shape, self.geometry = idx, x_shape, geometry

    def forward(self, ggx):
        xp = array_module(ggx)
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
    kernel_size = _pair(kernel_size, "kernel_size", op)
    stride = kernel_size if stride is None else _pair(stride, "stride", op)
    padding = _pair(padding, "padding", op)
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


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max over kh x kw windows: x (N, C, H, W) -> (N, C, Ho, Wo), Ho = (H + 2*ph - kh) // sh + 1."""
    return MaxPool2d(*_check("max_pool2d", x, kernel_size, stride, padding))(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over kh x kw windows (zero padding counted): x (N, C, H, W) -> (N, C, Ho, Wo)."""
    return AvgPool2d(*_check("avg_pool2d", x, kernel_size, stride, padding))(x)
