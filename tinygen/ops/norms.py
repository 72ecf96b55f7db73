"""Vector norms: norm(input, p, dim, keepdim), dist(input, other, p) and cdist(x1, x2, p);
torch.linalg's vector_norm, matrix_norm and norm (gathered in tinygen/linalg.py).

    p = 2 ('fro')   sqrt(sum x^2)         gx = gy x / y, and 0 where y = 0 (as torch)
    p = 1           sum |x|               gx = gy sign(x)
    p = inf, -inf   max |x|, min |x|      the gradient shared among ties (amax/amin's rule)
    p = 0           number of nonzeros    no gradient
    other p > 0     (sum |x|^p)^(1/p)     0 where y = 0, as p = 2

Matrix norms over two dims (rows r, columns c), from the vector ones:

    'fro'           sqrt(sum x^2)
    1, -1           max, min over columns of sum_r |x|     (the largest column sum)
    inf, -inf       max, min over rows of sum_c |x|
    2, -2, 'nuc'    the largest, the smallest, the sum of the singular values (svdvals)
"""
import math

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor
from tinygen.ops.common import constant_mask, expand_reduced, reduction_axes
from tinygen.ops.elementwise import abs, sign_constant
from tinygen.ops.linalg import svdvals
from tinygen.ops.rearrange import movedim
from tinygen.ops.reduce import amax, amin, sum
from tinygen.ops.shape import unsqueeze


class Norm2(Function):
    def __init__(self, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x):
        xp = backend.array_module(self.device)
        return xp.sqrt((x * x).sum(axis=self.axes, keepdims=self.keepdim))

    def backward(self, gy):
        x, y = self.inputs[0], self.output
        zero = constant_mask(y, y.array == 0)
        scale = gy * (1 - zero) / (y + zero)      # gy / y, and 0 where y = 0
        return expand_reduced(scale, x.shape, self.axes, self.keepdim) * x


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
        zero = constant_mask(y, y.array == 0)
        scale = gy * (1 - zero) / (y + zero) ** (self.p - 1)
        return (expand_reduced(scale, x.shape, self.axes, self.keepdim) * abs(x) ** (self.p - 1)
                * sign_constant(x))


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """The p-norm of input over dim (None: all elements), as torch.norm."""
    if dtype is not None:
        input = input.to(dtype=dtype)
    if input.dtype.kind != "f":
        raise TypeError(f"norm: expects a floating-point tensor, got {input.dtype}")
    if isinstance(dim, (list, tuple)) and len(dim) == 0:
        dim = None
    axes = reduction_axes(dim, input.ndim, "norm")
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
        return Tensor.wrap(count, input.device, False)
    if p == 1:
        return sum(abs(input), dim=axes, keepdim=keepdim)
    if p < 0:
        return sum(abs(input) ** p, dim=axes, keepdim=keepdim) ** (1.0 / p)
    return NormP(float(p), axes, keepdim)(input)


def dist(input, other, p=2):
    """norm(input - other, p) over all elements."""
    return norm(input - other, p)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.vector_norm: the ord-norm of x over dim (None: all elements, flattened)."""
    if isinstance(ord, str):
        raise ValueError(f"vector_norm: ord must be a number, got {ord!r}")
    return norm(x, ord, dim, keepdim, dtype)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """torch.linalg.matrix_norm over the two dims in dim: 'fro', 'nuc', 1, -1, 2, -2, inf, -inf."""
    if A.ndim < 2 or len(dim) != 2:
        raise RuntimeError(f"matrix_norm: expects a tensor of at least 2 dims and two dims, got "
                           f"shape {tuple(A.shape)} and dim {dim}")
    rows, cols = reduction_axes(dim[0], A.ndim, "matrix_norm")[0], reduction_axes(dim[1], A.ndim, "matrix_norm")[0]
    if ord == "fro":
        return norm(A, 2, (rows, cols), keepdim, dtype)
    if ord not in ("nuc", 1, -1, 2, -2, math.inf, -math.inf):
        raise ValueError(f"matrix_norm: ord must be 'fro', 'nuc', 1, -1, 2, -2, inf or -inf, got {ord!r}")
    if dtype is not None:
        A = A.to(dtype=dtype)
    if ord in ("nuc", 2, -2):
        s = svdvals(movedim(A, (rows, cols), (-2, -1)))                      # (..., k)
        y = s.sum(dim=-1) if ord == "nuc" else amax(s, dim=-1) if ord == 2 else amin(s, dim=-1)
        if keepdim:
            y = unsqueeze(unsqueeze(y, min(rows, cols)), max(rows, cols))
        return y
    summed, over = (rows, cols) if ord in (1, -1) else (cols, rows)    # column sums for 1
    sums = sum(abs(A), dim=summed, keepdim=True)
    y = amax(sums, dim=over, keepdim=True) if ord > 0 else amin(sums, dim=over, keepdim=True)
    if keepdim:
        return y
    return y.reshape(tuple(n for i, n in enumerate(A.shape) if i not in (rows, cols)))


def linalg_norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: a vector norm over one dim (or all, flattened, when ord is None), a
    matrix norm over two (dim a pair, or A 2-d with ord given)."""
    if isinstance(dim, int) or (dim is None and (ord is None or A.ndim == 1)):
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    if dim is None:
        if A.ndim != 2:
            raise RuntimeError(f"linalg.norm: with ord {ord!r} and no dim, A must be 1-d or 2-d, "
                               f"got shape {tuple(A.shape)}")
        dim = (-2, -1)
    if len(dim) == 1:
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    return matrix_norm(A, "fro" if ord is None else ord, tuple(dim), keepdim, dtype=dtype)


def cdist(x1, x2, p=2.0):
    """Pairwise p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M):
    (..., P, R)."""
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: expects (..., P, M) and (..., R, M), got {tuple(x1.shape)} "
                           f"and {tuple(x2.shape)}")
    return norm(unsqueeze(x1, -2) - unsqueeze(x2, -3), p, dim=-1)
