"""Reductions: sum, mean, var, max/min, logsumexp; and softmax / log_softmax over a dim.

`dim` is None (all elements), an int, or a tuple of ints; `keepdim` keeps reduced dims as
size 1, as in torch. The backward of a reduction broadcasts the gradient back over the
reduced dims.

Ties in max/min: the gradient is shared equally among all tied maxima (each of k ties gets
gy / k), for the full reduction and for a reduction over dims. (torch does the same for a
full reduction; torch.max(x, dim) gives it all to the one index it returns.)
"""
import builtins
from collections import namedtuple

import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor
from tinygen.ops.elementwise import _mask, exp
from tinygen.ops.shape import broadcast_to, reshape


def _axes(dim, ndim, op):
    """dim argument -> a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    if ndim == 0:  # as torch: a 0-d tensor accepts dim 0 or -1 and reduces over nothing
        for d in (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim):
            if d not in (0, -1):
                raise IndexError(f"{op}: dim {d} out of range for a tensor of 0 dims")
        return ()
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    n = builtins.max(ndim, 1)  # this module's max is the tensor op; a 0-d tensor takes dim 0 or -1
    out = []
    for d in dims:
        if not -n <= d < n:
            raise IndexError(f"{op}: dim {d} out of range for a tensor of {ndim} dims")
        out.append(int(d) % n)
    return tuple(sorted(set(out)))


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _expand_back(gy, x_shape, axes, keepdim):
    """Broadcast a reduction's gradient back to the input's shape."""
    if not keepdim and x_shape:
        gy = reshape(gy, _kept_shape(x_shape, axes))
    return broadcast_to(gy, x_shape)


class Sum(Function):
    def __init__(self, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x):
        return x.sum(axis=self.axes, keepdims=self.keepdim)

    def backward(self, gy):
        return _expand_back(gy, self.inputs[0].shape, self.axes, self.keepdim)


def sum(x, dim=None, keepdim=False):
    return Sum(_axes(dim, x.ndim, "sum"), keepdim)(x)


def mean(x, dim=None, keepdim=False):
    axes = _axes(dim, x.ndim, "mean")
    n = int(np.prod([x.shape[a] for a in axes])) if axes else 1
    return Sum(axes, keepdim)(x) * (1.0 / n)


def var(x, dim=None, unbiased=True, keepdim=False, correction=None):
    """Variance; `correction` (torch 2 name) overrides `unbiased` (1 = Bessel's correction)."""
    axes = _axes(dim, x.ndim, "var")
    n = int(np.prod([x.shape[a] for a in axes])) if axes else 1
    if correction is None:
        correction = 1 if unbiased else 0
    d = x - mean(x, dim=axes, keepdim=True)
    scale = 1.0 / (n - correction) if n > correction else float("nan")
    return sum(d * d, dim=axes, keepdim=keepdim) * scale


def std(x, dim=None, unbiased=True, keepdim=False, correction=None):
    return var(x, dim, unbiased, keepdim, correction) ** 0.5


class MaxMin(Function):
    """max (sign=+1) or min (sign=-1) over axes; ties share the gradient equally."""

    def __init__(self, axes, keepdim, sign):
        self.axes, self.keepdim, self.sign = axes, keepdim, sign

    @property
    def name(self):
        return "Max" if self.sign > 0 else "Min"

    def forward(self, x):
        if x.size == 0:
            raise ValueError(f"{self.name.lower()}: reduction of an empty tensor of shape {x.shape}")
        y = x.max(axis=self.axes, keepdims=True) if self.sign > 0 else x.min(axis=self.axes, keepdims=True)
        hits = x == y
        # 1/k at each of k ties, kept in x's dtype (this array is what backward holds)
        self.share = (hits / hits.sum(axis=self.axes, keepdims=True)).astype(x.dtype, copy=False)
        return y if self.keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy):
        x = self.inputs[0]
        return _expand_back(gy, x.shape, self.axes, self.keepdim) * _mask(x, self.share)


values_indices = namedtuple("values_indices", ["values", "indices"])


def _max_min(x, dim, keepdim, sign):
    axes = _axes(dim, x.ndim, "max" if sign > 0 else "min")
    values = MaxMin(axes, keepdim, sign)(x)
    if dim is None or not isinstance(dim, int):
        return values
    xp = backend.array_module(x.device)
    if x.ndim == 0:
        return values_indices(values, Tensor._make(xp.zeros((), dtype=np.int64), x.device, False))
    arg = xp.argmax(x.data, axis=dim) if sign > 0 else xp.argmin(x.data, axis=dim)
    if keepdim:
        arg = xp.expand_dims(arg, dim)
    return values_indices(values, Tensor._make(arg.astype(np.int64), x.device, False))


def max(x, dim=None, keepdim=False):
    """Full max (dim=None) -> Tensor; max over an int dim -> (values, indices), as torch."""
    return _max_min(x, dim, keepdim, +1)


def min(x, dim=None, keepdim=False):
    return _max_min(x, dim, keepdim, -1)


def amax(x, dim=None, keepdim=False):
    return MaxMin(_axes(dim, x.ndim, "amax"), keepdim, +1)(x)


def amin(x, dim=None, keepdim=False):
    return MaxMin(_axes(dim, x.ndim, "amin"), keepdim, -1)(x)


def argmax(x, dim=None, keepdim=False):
    xp = backend.array_module(x.device)
    arg = xp.argmax(x.data, axis=dim, keepdims=keepdim) if dim is not None else xp.argmax(x.data)
    return Tensor._make(xp.asarray(arg, dtype=np.int64), x.device, False)


def argmin(x, dim=None, keepdim=False):
    xp = backend.array_module(x.device)
    arg = xp.argmin(x.data, axis=dim, keepdims=keepdim) if dim is not None else xp.argmin(x.data)
    return Tensor._make(xp.asarray(arg, dtype=np.int64), x.device, False)


class LogSumExp(Function):
    """y = log sum_i exp(x_i), computed as m + log sum exp(x - m) with m = max x."""

    def __init__(self, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x):
        xp = backend.array_module(self.device)
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf rows: log 0 = -inf, not nan
        with np.errstate(divide="ignore"):  # log 0 = -inf for all -inf rows
            y = xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True)) + m
        return y if self.keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy):
        x = self.inputs[0]
        y = _expand_back(self.output, x.shape, self.axes, self.keepdim)
        return _expand_back(gy, x.shape, self.axes, self.keepdim) * exp(x - y)


def logsumexp(x, dim, keepdim=False):
    return LogSumExp(_axes(dim, x.ndim, "logsumexp"), keepdim)(x)


class Softmax(Function):
    """y_i = exp(x_i) / sum_j exp(x_j) along dim; backward y * (gy - sum(gy * y))."""

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        xp = backend.array_module(self.device)
        e = xp.exp(x - x.max(axis=self.dim, keepdims=True))
        return e / e.sum(axis=self.dim, keepdims=True)

    def backward(self, gy):
        y = self.output
        return y * (gy - sum(gy * y, dim=self.dim, keepdim=True))


class LogSoftmax(Function):
    """y = x - logsumexp(x) along dim; backward gy - exp(y) * sum(gy)."""

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        xp = backend.array_module(self.device)
        z = x - x.max(axis=self.dim, keepdims=True)
        return z - xp.log(xp.exp(z).sum(axis=self.dim, keepdims=True))

    def backward(self, gy):
        y = self.output
        return gy - exp(y) * sum(gy, dim=self.dim, keepdim=True)


def _one_dim(dim, ndim, op):
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    axes = _axes(dim, ndim, op)
    return axes[0] if axes else None  # None: a 0-d tensor, normalized over itself


def softmax(x, dim):
    """exp(x) / sum(exp(x)) along the int dim `dim` (required, as in torch)."""
    return Softmax(_one_dim(dim, x.ndim, "softmax"))(x)


def log_softmax(x, dim):
    """x - logsumexp(x, dim): the log of softmax, computed stably."""
    return LogSoftmax(_one_dim(dim, x.ndim, "log_softmax"))(x)
