"""Reductions: sum, mean, var (var_mean, std_mean), nansum, nanmean, max/min, logsumexp; and softmax / log_softmax over a dim.

`dim` is None (all elements), an int, or a tuple of ints; `keepdim` keeps reduced dims as
size 1, as in torch. The backward of a reduction broadcasts the gradient back over the
reduced dims.

Ties in max/min, as torch: amax/amin and the full max()/min() share the gradient equally
among the tied maxima (each of k ties gets gy / k); max(x, dim)/min(x, dim) give it all to
the one index they return (the first maximum, or the first NaN).
"""
from collections import namedtuple

import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor
from tinygen.ops.common import (constant, constant_mask, expand_reduced, full_index, kept_shape,
                                reduction_axes, sum_over)
from tinygen.ops.elementwise import floating, where
from tinygen.ops.shape import getitem, reshape


class Sum(Function):
    def __init__(self, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x):
        return sum_over(x, self.axes, self.keepdim)

    def backward(self, gy):
        return expand_reduced(gy, self.inputs[0].shape, self.axes, self.keepdim)


def sum(x, dim=None, keepdim=False):
    return Sum(reduction_axes(dim, x.ndim, "sum"), keepdim)(x)


def mean(x, dim=None, keepdim=False):
    """Mean over dim; nan over no elements (as torch), not a ZeroDivisionError."""
    axes = reduction_axes(dim, x.ndim, "mean")
    n = int(np.prod([x.shape[a] for a in axes])) if axes else 1
    if n == 0:
        return Sum(axes, keepdim)(x) * float("nan")
    return Sum(axes, keepdim)(x) / float(n)     # correctly rounded (* (1 / n) is not)


class Var(Function):
    """Variance (or, with root=True, the standard deviation) over axes.

    Forward, two-pass, corrected and scaled: d = x - mean(x), c = the power of 2 just above
    max |d|, u = d / c, q = (sum u^2 - (sum u)^2 / n) / (n - correction), var = (q c) c,
    std = sqrt(q) c. u is exact and in (-1, 1), so nothing overflows where the result does
    not (d^2 overflows at |d| ~ 1e19 in float32) or underflows where it does not (the std of
    x ~ 1e-30); the (sum u)^2 term corrects for the rounded mean (Chan, Golub, LeVeque 1983:
    var([a, a + ulp]) is ulp^2 / 2, not ulp^2 or 0).

    Backward, written with ops (so twice differentiable):
        var:  gx = gy 2 d / (n - correction)
        std:  gx = gy d / ((n - correction) std), 0 where std = 0 (as torch)
    """

    def __init__(self, axes, keepdim, correction, root):
        self.axes, self.keepdim, self.correction, self.root = axes, keepdim, correction, root

    @property
    def name(self):
        return "Std" if self.root else "Var"

    def forward(self, x):
        xp = backend.array_module(self.device)
        self.n = n = int(np.prod([x.shape[a] for a in self.axes])) if self.axes else 1
        with np.errstate(invalid="ignore"):           # no elements: mean 0 / 0 = nan, as mean()
            d = x - x.sum(axis=self.axes, keepdims=True) / x.dtype.type(n)
        if all(x.shape[a] for a in self.axes):
            a = xp.abs(d).max(axis=self.axes, keepdims=True)
        else:
            a = xp.zeros(kept_shape(x.shape, self.axes), dtype=d.dtype)   # nothing to reduce
        c = xp.ldexp(xp.ones_like(a), xp.frexp(a)[1])   # 2^e > a >= 2^(e-1); 1 at a = 0, inf
        u = d / c
        q = (u * u).sum(axis=self.axes, keepdims=True)
        if n > self.correction:   # - (sum u)^2 / n: takes back the rounding error of the mean
            q = xp.maximum(q - u.sum(axis=self.axes, keepdims=True) ** 2 / x.dtype.type(n), 0)
            q = q / x.dtype.type(n - self.correction)
        else:
            q = q * np.nan
        with np.errstate(over="ignore"):             # var = inf where it exceeds the float
            y = xp.sqrt(q) * c if self.root else (q * c) * c
        return y if self.keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy):
        x = self.inputs[0]
        d = x - mean(x, dim=self.axes, keepdim=True)
        d = d - mean(d, dim=self.axes, keepdim=True)    # takes back the rounding of the mean
        dof = self.n - self.correction
        g = expand_reduced(gy, x.shape, self.axes, self.keepdim) * (1.0 / dof if dof > 0 else float("nan"))
        if not self.root:
            return g * 2 * d
        y = expand_reduced(self.output, x.shape, self.axes, self.keepdim)
        return g * (d / (y + constant_mask(y, y.array == 0)))    # at std = 0, d = 0: gx = 0


def _correction(unbiased, correction):
    return (1 if unbiased else 0) if correction is None else correction


def var(x, dim=None, unbiased=True, keepdim=False, correction=None):
    """Variance; `correction` (torch 2 name) overrides `unbiased` (1 = Bessel's correction).
    Finite wherever the variance is (two-pass, scaled: see Var)."""
    return Var(reduction_axes(dim, x.ndim, "var"), keepdim, _correction(unbiased, correction), False)(x)


def std(x, dim=None, unbiased=True, keepdim=False, correction=None):
    """Standard deviation, computed without forming the variance (which overflows from
    x ~ 1e19 in float32 and underflows at x ~ 1e-23); gradient 0 at zero variance, as torch."""
    return Var(reduction_axes(dim, x.ndim, "std"), keepdim, _correction(unbiased, correction), True)(x)


def var_mean(input, dim=None, *, correction=1, keepdim=False):
    """(var, mean) over dim, as torch.var_mean."""
    return var(input, dim, keepdim=keepdim, correction=correction), mean(input, dim, keepdim)


def std_mean(input, dim=None, *, correction=1, keepdim=False):
    """(std, mean) over dim, as torch.std_mean."""
    return std(input, dim, keepdim=keepdim, correction=correction), mean(input, dim, keepdim)


def _without_nan(input):
    """(input with its nans replaced by 0 (no gradient through them), the count of the others)."""
    xp = backend.array_module(input.device)
    nan = xp.isnan(input.array)
    return where(constant(input, nan), 0.0, input), constant(input, (~nan).astype(input.dtype))


def nansum(input, dim=None, keepdim=False):
    """The sum over dim, nans counted as 0 (integers have none: their sum, in their dtype)."""
    if input.dtype.kind != "f":
        return sum(input, dim, keepdim)
    return sum(_without_nan(input)[0], dim, keepdim)


def nanmean(input, dim=None, keepdim=False):
    """The mean over dim of the elements that are not nan (nan where all are)."""
    x, count = _without_nan(input)
    return sum(x, dim, keepdim) / sum(count, dim, keepdim)


class MaxMin(Function):
    """max (sign=+1) or min (sign=-1) over axes; ties share the gradient equally (amax, and
    max() over everything, as torch; max(dim) gives it all to the returned index instead)."""

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
        # 1/k at each of k ties, kept in x's dtype (this array is what backward holds); NaN
        # where the extreme is NaN (no hits: 0/0, not worth NumPy's warning)
        with np.errstate(invalid="ignore"):
            self.share = (hits / hits.sum(axis=self.axes, keepdims=True)).astype(x.dtype, copy=False)
        return y if self.keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy):
        x = self.inputs[0]
        return expand_reduced(gy, x.shape, self.axes, self.keepdim) * constant_mask(x, self.share)


values_indices = namedtuple("values_indices", ["values", "indices"])


def _max_min(x, dim, keepdim, sign):
    """max/min over everything (ties share the gradient) or, over an int dim, (values, indices)
    with the values gathered at the indices: the first extreme (or the first NaN, as torch)
    gets the whole gradient, as torch's, where [1, 3, 3] used to share it [0, .5, .5]."""
    axes = reduction_axes(dim, x.ndim, "max" if sign > 0 else "min")
    if dim is None or not isinstance(dim, int):
        return MaxMin(axes, keepdim, sign)(x)
    xp = backend.array_module(x.device)
    if x.ndim == 0:
        return values_indices(MaxMin(axes, keepdim, sign)(x),
                              Tensor.wrap(xp.zeros((), dtype=np.int64), x.device, False))
    if x.shape[axes[0]] == 0:
        raise ValueError(f"{'max' if sign > 0 else 'min'}: reduction over dim {dim} of size 0 "
                         f"(shape {tuple(x.shape)})")
    arg = xp.argmax(x.array, axis=axes[0], keepdims=True) if sign > 0 else \
        xp.argmin(x.array, axis=axes[0], keepdims=True)
    arg = Tensor.wrap(arg.astype(np.int64), x.device, False)
    # gather's values at arg, without gather's range check of the index (in range here by
    # construction; the check's min and max would wait for the GPU)
    values = getitem(x, full_index(xp, arg.array, axes[0]))
    if keepdim:
        return values_indices(values, arg)
    shape = tuple(n for i, n in enumerate(x.shape) if i != axes[0])
    return values_indices(reshape(values, shape),
                          Tensor.wrap(arg.array.reshape(shape), x.device, False))


def max(x, dim=None, keepdim=False):
    """Full max (dim=None) -> Tensor; max over an int dim -> (values, indices), as torch."""
    return _max_min(x, dim, keepdim, +1)


def min(x, dim=None, keepdim=False):
    return _max_min(x, dim, keepdim, -1)


def amax(x, dim=None, keepdim=False):
    return MaxMin(reduction_axes(dim, x.ndim, "amax"), keepdim, +1)(x)


def amin(x, dim=None, keepdim=False):
    return MaxMin(reduction_axes(dim, x.ndim, "amin"), keepdim, -1)(x)


def argmax(x, dim=None, keepdim=False):
    xp = backend.array_module(x.device)
    arg = xp.argmax(x.array, axis=dim, keepdims=keepdim) if dim is not None else xp.argmax(x.array)
    return Tensor.wrap(xp.asarray(arg, dtype=np.int64), x.device, False)


def argmin(x, dim=None, keepdim=False):
    xp = backend.array_module(x.device)
    arg = xp.argmin(x.array, axis=dim, keepdims=keepdim) if dim is not None else xp.argmin(x.array)
    return Tensor.wrap(xp.asarray(arg, dtype=np.int64), x.device, False)


def _shifted_log_sum_exp(xp, x, axes):
    """(m, z, L) with log sum exp(x) = m + L over axes: m = max x (0 where not finite: a row of
    -inf gives L = -inf, not nan), z = x - m, L = log sum exp(z).

    L = log1p(the sum without the e^0 = 1 of the max): log(1 + r) of a rounded 1 + r loses
    r's last bits (16 ulps of L = log(1 + e^-3) in float32). A row with +inf has L = +inf.

    Quiet, as torch: z overflows to -inf for x far below the max (1e308 - -1e308), e^z to inf
    for a row with +inf, and log1p(-1) = -inf for rows of -inf only."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        m = x.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        z = x - m
        top = z == 0
        rest = xp.where(top, 0, xp.exp(z)).sum(axis=axes, keepdims=True)
        rest += (top.sum(axis=axes, keepdims=True) - 1).astype(rest.dtype)   # ties at the max
        return m, z, xp.log1p(rest)


class LogSumExp(Function):
    """y = log sum_i exp(x_i), computed as m + log sum exp(x - m) with m = max x
    (_shifted_log_sum_exp).

    The gradient is softmax(x) over the axes, computed from the shifted x (exp(x - y) from
    the rounded y is 1, not 1/2, for x = [1e8, 1e8]); 0 on rows of -inf only (y = -inf),
    where torch gives nan."""

    def __init__(self, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x):
        xp = backend.array_module(self.device)
        m, _, L = _shifted_log_sum_exp(xp, floating(x), self.axes)
        y = m + L
        dead = y == -np.inf                                   # rows of -inf only
        # on a device, `any` would sync the host: the masked backward runs whether needed or not
        self.dead = dead if xp is not np or bool(dead.any()) else None
        return y if self.keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy):
        x = self.inputs[0]
        gy = expand_reduced(gy, x.shape, self.axes, self.keepdim)
        if self.dead is None:
            return gy * Softmax(self.axes)(x)
        xp = backend.array_module(x.device)
        dead = xp.broadcast_to(self.dead, x.shape)
        return gy * Softmax(self.axes)(where(constant(x, dead), 0.0, x)) * constant_mask(x, ~dead)


def logsumexp(x, dim, keepdim=False):
    return LogSumExp(reduction_axes(dim, x.ndim, "logsumexp"), keepdim)(x)


class Softmax(Function):
    """y_i = exp(x_i) / sum_j exp(x_j) along dim (an axis, or a tuple of axes: logsumexp's
    gradient); backward y * (gy - sum(gy * y))."""

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        xp = backend.array_module(self.device)
        with np.errstate(over="ignore", invalid="ignore"):   # quiet on inf rows, as torch
            e = xp.exp(x - x.max(axis=self.dim, keepdims=True))
            return e / e.sum(axis=self.dim, keepdims=True)

    def backward(self, gy):
        y = self.output
        return y * (gy - sum(gy * y, dim=self.dim, keepdim=True))


class LogSoftmax(Function):
    """y = x - logsumexp(x) along dim; backward gy - softmax(x) * sum(gy).

    softmax(x), from the shifted x, not exp(y): exp of the rounded y is off by about |y| / 2
    ulps (tens of ulps at y = -80)."""

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        xp = backend.array_module(self.device)
        _, z, L = _shifted_log_sum_exp(xp, x, self.dim)
        with np.errstate(invalid="ignore"):                  # inf - inf on a row with +inf
            y = z - L
        # a row with +inf is nan throughout, as torch's (z - L gives -inf beside the +inf); on
        # a device, `any` would sync the host: the copy runs whether needed or not
        inf_rows = L == np.inf
        if xp is not np or inf_rows.any():
            xp.copyto(y, np.nan, where=inf_rows)
        return y

    def backward(self, gy):
        return gy - Softmax(self.dim)(self.inputs[0]) * sum(gy, dim=self.dim, keepdim=True)


def _one_dim(dim, ndim, op):
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    axes = reduction_axes(dim, ndim, op)
    return axes[0] if axes else None  # None: a 0-d tensor, normalized over itself


def softmax(x, dim):
    """exp(x) / sum(exp(x)) along the int dim `dim` (required, as in torch)."""
    return Softmax(_one_dim(dim, x.ndim, "softmax"))(x)


def log_softmax(x, dim):
    """x - logsumexp(x, dim): the log of softmax, computed stably."""
    return LogSoftmax(_one_dim(dim, x.ndim, "log_softmax"))(x)
