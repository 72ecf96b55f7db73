"""Cumulative ops along a dim: cumsum and cumprod; and prod, the last element of cumprod (so
its gradient, the product of the others, is exact with zeros too).

    cumsum:   y_i = sum_{j <= i} x_j          gx_j = sum_{i >= j} gy_i   (a reversed cumsum)
    cumprod:  y_i = prod_{j <= i} x_j         gx_j = sum_{i >= j} gy_i y_i / x_j   (no zeros)

Both backwards are written with cumsum/cumprod themselves, so they differentiate again. With
zeros in x the division fails; cumprod's backward then uses the exact product without x_j:
gx_j = sum_{i >= j} gy_i prod_{k <= i, k != j} x_k, formed as an (n, n) table per slice.

Composed of the ops above (and gather), so twice differentiable:

    cummax, cummin:  (values, indices), indices the running arg max (the latest of ties, as
                     torch); values = gather(x, dim, indices), whose gradient lands on them
    logcumsumexp:    y_i = log sum_{j <= i} e^(x_j) = m + log cumsum(e^(x - m)), m = max x along
                     the dim (a constant): exact where no x_j lies ~700 (float64) below m
"""
import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor
from tinygen.ops.common import constant, normalize_dim
from tinygen.ops.elementwise import exp, log
from tinygen.ops.indexing import gather
from tinygen.ops.reduce import values_indices
from tinygen.ops.shape import astype, expand, getitem, reshape, sum_to, transpose


def _reverse(x, dim):
    return getitem(x, (slice(None),) * dim + (slice(None, None, -1),))


class CumSum(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        return backend.array_module(self.device).cumsum(x, axis=self.dim, dtype=x.dtype)

    def backward(self, gy):
        return _reverse(CumSum(self.dim)(_reverse(gy, self.dim)), self.dim)


def _scan_input(input, dim, dtype, op):
    if dtype is not None:
        input = astype(input, np.dtype(dtype))
    elif input.dtype.kind in "biu":        # integers and bools accumulate in int64, as torch
        input = astype(input, np.int64)
    if input.ndim == 0:
        normalize_dim(dim, 1, op)
        return input, None
    return input, normalize_dim(dim, input.ndim, op)


def cumsum(input, dim, dtype=None):
    """y[..., i, ...] = sum of input[..., :i + 1, ...] along dim."""
    x, d = _scan_input(input, dim, dtype, "cumsum")
    return x * 1 if d is None else CumSum(d)(x)


class CumProd(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        return backend.array_module(self.device).cumprod(x, axis=self.dim, dtype=x.dtype)

    def backward(self, gy):
        x, y, d = self.inputs[0], self.output, self.dim
        if not (x.array == 0).any():
            return _reverse(CumSum(d)(_reverse(gy * y, d)), d) / x
        return _cumprod_grad_with_zeros(x, gy, d)


def _cumprod_grad_with_zeros(x, gy, d):
    """gx_j = sum_{i >= j} gy_i prod_{j < k <= i} x_k * prod_{k < j} x_k, for any x."""
    xp = backend.array_module(x.device)
    xl = transpose(x, d, -1)                     # (..., n)
    gl = transpose(gy, d, -1)
    n = xl.shape[-1]
    j, k = np.arange(n)[:, None], np.arange(n)[None, :]
    after = Tensor.wrap(xp.asarray(k > j), x.device, False)          # (n, n): k > j
    before = Tensor.wrap(xp.asarray(k < j), x.device, False)
    from tinygen.ops.elementwise import where
    rows = expand(reshape(xl, xl.shape[:-1] + (1, n)), xl.shape[:-1] + (n, n))   # (..., j, k)
    one = Tensor.wrap(xp.ones((), x.dtype), x.device, False)
    tail = CumProd(len(rows.shape) - 1)(where(after, rows, one))   # [j, i]: prod_{j < k <= i} x_k
    head = getitem(CumProd(len(rows.shape) - 1)(where(before, rows, one)), (Ellipsis, -1))  # prod_{k < j}
    upper = Tensor.wrap(xp.asarray((k >= j).astype(x.dtype)), x.device, False)          # i >= j
    g = reshape(gl, gl.shape[:-1] + (1, n))
    gx = sum_to(tail * upper * g, gl.shape[:-1] + (n, 1))
    gx = reshape(gx, gl.shape) * head
    return transpose(gx, d, -1)


def cumprod(input, dim, dtype=None):
    """y[..., i, ...] = product of input[..., :i + 1, ...] along dim."""
    x, d = _scan_input(input, dim, dtype, "cumprod")
    return x * 1 if d is None else CumProd(d)(x)


def prod(input, dim=None, keepdim=False, dtype=None):
    """The product of all elements (dim=None), or along the int dim."""
    if dim is None:
        y = cumprod(reshape(input, (-1,)), 0, dtype)
        return reshape(getitem(y, (-1,)), ())
    x, d = _scan_input(input, dim, dtype, "prod")
    if d is None:
        return x * 1
    y = getitem(CumProd(d)(x), (slice(None),) * d + (slice(-1, None),))   # keeps dim d
    return y if keepdim else reshape(y, x.shape[:d] + x.shape[d + 1:])


def _running_arg(input, dim, extreme):
    """The index of the running max (extreme = "maximum") or min along dim: the latest index
    whose value equals the running extreme, as torch."""
    xp = backend.array_module(input.device)
    x = input.array
    running = getattr(xp, extreme).accumulate(x, axis=dim)
    shape = [1] * x.ndim
    shape[dim] = x.shape[dim]
    position = xp.arange(x.shape[dim]).reshape(shape)
    hit = (x == running) | xp.isnan(x)                # a nan becomes the extreme, as in torch
    return xp.maximum.accumulate(xp.where(hit, position, 0), axis=dim).astype(np.int64)


def _cumulative_extreme(input, dim, op, extreme):
    if input.ndim == 0:
        normalize_dim(dim, 1, op)
        return values_indices(input * 1, constant(input, backend.array_module(input.device).zeros((), np.int64)))
    d = normalize_dim(dim, input.ndim, op)
    indices = constant(input, _running_arg(input, d, extreme))
    return values_indices(gather(input, d, indices), indices)


def cummax(input, dim):
    """(values, indices): the running maximum along dim and where it was found."""
    return _cumulative_extreme(input, dim, "cummax", "maximum")


def cummin(input, dim):
    """(values, indices): the running minimum along dim and where it was found."""
    return _cumulative_extreme(input, dim, "cummin", "minimum")


def logcumsumexp(input, dim):
    """y[..., i, ...] = log sum_{j <= i} exp(input[..., j, ...]) along dim."""
    if input.ndim == 0:
        normalize_dim(dim, 1, "logcumsumexp")
        return input * 1
    d = normalize_dim(dim, input.ndim, "logcumsumexp")
    xp = backend.array_module(input.device)
    m = input.array.max(axis=d, keepdims=True)
    m = constant(input, xp.where(xp.isfinite(m), m, 0).astype(input.dtype))    # a shift, no gradient
    return log(CumSum(d)(exp(input - m))) + m
