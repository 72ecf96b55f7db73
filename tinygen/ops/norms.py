"""Vector norms: norm(input, p, dim, keepdim) and dist(input, other, p).

    p = 2 ('fro')   sqrt(sum x^2)         gx = gy x / y, and 0 where y = 0 (as torch)
    p = 1           sum |x|               gx = gy sign(x)
    p = inf, -inf   max |x|, min |x|      the gradient shared among ties (amax/amin's rule)
    p = 0           number of nonzeros    no gradient
    other p > 0     (sum |x|^p)^(1/p)     0 where y = 0, as p = 2
"""
import math

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor
from tinygen.ops.elementwise import _mask, abs
from tinygen.ops.reduce import _axes, _expand_back, amax, amin, sum


class Norm2(Function):
    def __init__(self, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x):
        xp = backend.array_module(self.device)
        return xp.sqrt((x * x).sum(axis=self.axes, keepdims=self.keepdim))

    def backward(self, gy):
        x, y = self.inputs[0], self.output
        zero = _mask(y, y.array == 0)
        scale = gy * (1 - zero) / (y + zero)      # gy / y, and 0 where y = 0
        return _expand_back(scale, x.shape, self.axes, self.keepdim) * x


class NormP(Function):
    """(sum |x|^p)^(1/p) for a number p > 0; gx = gy |x|^(p-1) sign(x) / y^(p-1), and 0 where
    y = 0 (as torch)."""

    def __init__(self, p, axes, keepdim):
        self.p, self.axes, self.keepdim = p, axes, keepdim

    def forward(self, x):
        xp = backend.array_module(self.device)
        s = (xp.abs(x) ** self.p).sum(axis=self.axes, keepdims=self.keepdim)
        return s ** (1.0 / self.p)

    def backward(self, gy):
        x, y = self.inputs[0], self.output
        zero = _mask(y, y.array == 0)
        scale = gy * (1 - zero) / (y + zero) ** (self.p - 1)
        sign = _mask(x, backend.array_module(x.device).sign(x.array))
        return _expand_back(scale, x.shape, self.axes, self.keepdim) * abs(x) ** (self.p - 1) * sign


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """The p-norm of input over dim (None: all elements), as torch.norm."""
    if dtype is not None:
        input = input.to(dtype=dtype)
    if input.dtype.kind != "f":
        raise TypeError(f"norm: expects a floating-point tensor, got {input.dtype}")
    if isinstance(dim, (list, tuple)) and len(dim) == 0:
        dim = None
    axes = _axes(dim, input.ndim, "norm")
    if p in ("fro", 2, 2.0, None):
        return Norm2(axes, keepdim)(input)
    if p == "nuc":
        raise NotImplementedError("norm: p='nuc' (nuclear norm) is not supported")
    if not isinstance(p, (int, float)):
        raise ValueError(f"norm: p must be a number, 'fro' or inf, got {p!r}")
    if p == math.inf:
        return amax(abs(input), dim=axes, keepdim=keepdim)
    if p == -math.inf:
        return amin(abs(input), dim=axes, keepdim=keepdim)
    if p == 0:
        count = (input.array != 0).sum(axis=axes, keepdims=keepdim).astype(input.dtype)
        return Tensor._make(count, input.device, False)
    if p == 1:
        return sum(abs(input), dim=axes, keepdim=keepdim)
    if p < 0:
        return sum(abs(input) ** p, dim=axes, keepdim=keepdim) ** (1.0 / p)
    return NormP(float(p), axes, keepdim)(input)


def dist(input, other, p=2):
    """norm(input - other, p) over all elements."""
    return norm(input - other, p)
