"""Vector norms: norm(input, p, dim, keepdim) and dist(input, other, p).

    p = 2 ('fro')   sqrt(sum x^2)         gx = gy x / y, and 0 where y = 0 (as torch)
    p = 1           sum |x|               gx = gy sign(x)
    p = inf, -inf   max |x|, min |x|      the gradient shared among ties (amax/amin's rule)
    p = 0           number of nonzeros    no gradient
    other p         (sum |x|^p)^(1/p)
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
        zero = _mask(y, y.data == 0)
        scale = gy * (1 - zero) / (y + zero)      # gy / y, and 0 where y = 0
        return _expand_back(scale, x.shape, self.axes, self.keepdim) * x


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
        count = (input.data != 0).sum(axis=axes, keepdims=keepdim).astype(input.dtype)
        return Tensor._make(count, input.device, False)
    if p == 1:
        return sum(abs(input), dim=axes, keepdim=keepdim)
    return sum(abs(input) ** p, dim=axes, keepdim=keepdim) ** (1.0 / p)


def dist(input, other, p=2):
    """norm(input - other, p) over all elements."""
    return norm(input - other, p)
