"""Every differentiable op, gradchecked and gradgradchecked in float64 over hypothesis draws.

OPS is the table: one OpCase per op (or per variant: a loss per reduction, matmul per operand
layout), each with a strategy that draws `(fn, inputs)`, the function of Tensors to check and
its float64 inputs with values in the op's domain (see tinygen/testing.py). The ELEMENTWISE table
of tinygen/ops/elementwise.py is looped over row by row, on each row's domain column.

test_every_op_has_a_gradcheck walks tinygen.ops (its public functions and the ELEMENTWISE table) and
tinygen.nn.functional (when importable), and fails when a differentiable op has no entry here.
Ops checked in another test module count when that module lists them in a module-level set
named GRADCHECKED (e.g. tests/test_ops_conv.py: GRADCHECKED = {"conv2d", ...}).
"""
import contextlib
import importlib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
import tinygen.ops as ops
from tinygen import testing as tgt
from tinygen.autograd import gradcheck, gradgradcheck
from tinygen.ops.elementwise import ELEMENTWISE, Elementwise

SMALL = tgt.shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
NONEMPTY = tgt.shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)
REDUCTIONS = ("mean", "sum", "none")


@dataclass
class OpCase:
    name: str           # the test id
    covers: tuple       # names in tinygen.ops (or nn.functional) this entry checks
    strategy: object    # draws (fn, inputs)
    twice: bool = True  # twice differentiable: also gradgradcheck


OPS = []


def op(name, *covers, twice=True):
    """Register a composite strategy drawing (fn, inputs) as the entry `name`."""
    def register(strategy_fn):
        OPS.append(OpCase(name, covers or (name,), st.composite(strategy_fn)(), twice))
        return strategy_fn
    return register


def dims(ndim):
    """A reduction's dim argument for an ndim tensor: None, an int (maybe negative), a tuple."""
    if ndim == 0:
        return st.sampled_from([None, 0, -1])
    return st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                     st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                              unique=True).map(tuple))


# ---- elementwise -----------------------------------------------------------------------------

# rows whose domains do not make their check meaningful, with a case of their own elsewhere:
# fmod and remainder jump where a / b crosses an integer (tests/test_tensorops.py keeps clear)
OWN_CASE = {"fmod", "remainder"}
# the public function of row "softplus" is softplus_unit; ops.softplus (beta, threshold) has
# its own entry below
PUBLIC_NAME = {"softplus": "softplus_unit"}


def _elementwise_case(op):
    def draw_case(draw):
        if len(op.domains) == 1:
            return (lambda x: Elementwise(op.name)(x)), (draw(tgt.tensors(SMALL, op.domain)),)
        shapes = draw(tgt.broadcastable_shapes())
        return (lambda a, b: Elementwise(op.name)(a, b)), tuple(
            draw(tgt.tensors(s, d)) for s, d in zip(shapes, op.domains))
    return draw_case


for _op in ELEMENTWISE.values():
    if _op.name not in OWN_CASE:
        OPS.append(OpCase(f"elementwise:{_op.name}", (PUBLIC_NAME.get(_op.name, _op.name),),
                          st.composite(_elementwise_case(_op))()))


def _binary_case(fn, domain_b="any", domain_a="any"):
    def draw_case(draw):
        sa, sb = draw(tgt.broadcastable_shapes())
        return fn, (draw(tgt.tensors(sa, domain_a)), draw(tgt.tensors(sb, domain_b)))
    return draw_case


op("add")(_binary_case(ops.add))
op("sub")(_binary_case(ops.sub))
op("mul")(_binary_case(ops.mul))
op("div")(_binary_case(ops.div, domain_b="away_from_kinks"))
op("pow", "pow")(_binary_case(ops.pow, domain_a="positive"))


@op("pow_scalar", "pow", "square")
def _pow_scalar(draw):
    c = draw(st.sampled_from([2, 3, 0.5, -1.5, 1, 0.0]))
    x = draw(tgt.tensors(SMALL, "positive"))
    return (lambda x: x ** c), (x,)


@op("rpow_scalar", "pow")
def _rpow_scalar(draw):
    c = draw(st.sampled_from([2.0, 0.5, 3]))
    return (lambda x: c ** x), (draw(tgt.tensors(SMALL)),)


@op("python_scalar_operands", "add", "sub", "mul", "div", "neg")
def _scalars(draw):
    c = draw(st.floats(0.5, 2.0))
    x = draw(tgt.tensors(SMALL, "positive"))
    return (lambda x: (c - x) * 2 + c / x - x / c + (-x) + 1 - 3 * x), (x,)


@st.composite
def _untied_pair(draw):
    """Two tensors of broadcastable shapes with no near-ties between paired elements: both are
    cut from one away_from_kinks draw of shape (2, *out) (a from [0], b from [1])."""
    sa, sb = draw(tgt.broadcastable_shapes())
    out = np.broadcast_shapes(sa, sb)
    v = draw(tgt.arrays((2,) + out, "away_from_kinks"))

    def cut(values, shape):
        lead = len(out) - len(shape)
        index = (0,) * lead + tuple(slice(0, 1) if n == 1 else slice(None) for n in shape)
        return tg.tensor(values[index].reshape(shape), dtype="float64", requires_grad=True)
    return cut(v[0], sa), cut(v[1], sb)


@op("maximum")
def _maximum(draw):
    return ops.maximum, draw(_untied_pair())


@op("minimum")
def _minimum(draw):
    return ops.minimum, draw(_untied_pair())


@op("where")
def _where(draw):
    sa, sb = draw(tgt.broadcastable_shapes())
    sc = draw(st.sampled_from([np.broadcast_shapes(sa, sb), sa, sb, ()]))
    cond = np.asarray(draw(st.lists(st.booleans(), min_size=int(np.prod(sc)),
                                    max_size=int(np.prod(sc))))).reshape(sc)
    c = tg.tensor(cond)
    return (lambda a, b: ops.where(c, a, b)), (draw(tgt.tensors(sa)), draw(tgt.tensors(sb)))


@op("leaky_relu")
def _leaky_relu(draw):
    slope = draw(st.sampled_from([0.01, 0.2, 1.5]))
    return (lambda x: ops.leaky_relu(x, slope)), (draw(tgt.tensors(SMALL, "away_from_kinks")),)


@op("elu")
def _elu(draw):
    alpha = draw(st.sampled_from([1.0, 0.5, 2.0]))
    return (lambda x: ops.elu(x, alpha)), (draw(tgt.tensors(SMALL, "away_from_kinks")),)


@op("softplus")
def _softplus(draw):
    beta = draw(st.sampled_from([1.0, 2.0, 0.5]))
    threshold = draw(st.sampled_from([20.0, 1.0, None]))  # x beta = 1 lies on the 0.05 grid
    return (lambda x: ops.softplus(x, beta, threshold)), (draw(tgt.tensors(SMALL, "away_from_kinks")),)


@op("clamp", "clamp", "clip")
def _clamp(draw):
    lo, hi = draw(st.sampled_from([(-0.5, 0.5), (None, 0.5), (-0.5, None), (0.3, 1.0)]))
    return (lambda x: ops.clamp(x, lo, hi)), (draw(tgt.tensors(SMALL, "away_from_kinks")),)


# ---- reductions ---------------------------------------------------------------------------------

@op("sum")
def _sum(draw):
    x = draw(tgt.tensors(SMALL))
    dim, keepdim = draw(dims(x.ndim)), draw(st.booleans())
    return (lambda x: ops.sum(x, dim=dim, keepdim=keepdim)), (x,)


@op("mean")
def _mean(draw):
    x = draw(tgt.tensors(SMALL))
    dim, keepdim = draw(dims(x.ndim)), draw(st.booleans())
    return (lambda x: x.mean(dim, keepdim)), (x,)


@op("var", "var", "std")
def _var(draw):
    # at least 2 elements along every dim, so n > correction; distinct values so std > 0
    x = draw(tgt.tensors(tgt.shapes(1, 3, 2, 3), "away_from_kinks"))
    dim, keepdim = draw(dims(x.ndim)), draw(st.booleans())
    correction = draw(st.sampled_from([None, 0, 1]))
    fn = draw(st.sampled_from([ops.var, ops.std]))
    return (lambda x: fn(x, dim, keepdim=keepdim, correction=correction)), (x,)


@op("max_min", "max", "min", "amax", "amin")
def _max_min(draw):
    x = draw(tgt.tensors(SMALL, "away_from_kinks"))  # no ties
    dim, keepdim = draw(dims(x.ndim)), draw(st.booleans())
    which = draw(st.sampled_from(["max", "min", "amax", "amin"]))
    fn = getattr(ops, which)
    if which in ("max", "min") and isinstance(dim, int):  # (values, indices), as torch
        return (lambda x: fn(x, dim, keepdim).values), (x,)
    return (lambda x: fn(x, dim=dim, keepdim=keepdim)), (x,)


@op("max_with_ties", "max", "amax")
def _max_ties(draw):
    # ties share the gradient equally. A finite difference sees a tie only along directions
    # that keep it: here the max runs over k stacked copies of x (a k-way tie that every
    # perturbation of x keeps), so the k shares of 1/k must add up to d x / d x = 1
    x = draw(tgt.tensors(tgt.shapes(1, 1, 1, 3)))
    k = draw(st.integers(2, 3))
    return (lambda x: ops.amax(ops.expand(x, k, x.shape[0]), dim=0)), (x,)


@op("logsumexp")
def _logsumexp(draw):
    x = draw(tgt.tensors(SMALL))
    dim = draw(dims(x.ndim)) if x.ndim else 0
    dim = tuple(range(x.ndim)) if dim is None else dim  # logsumexp needs a dim, as torch
    keepdim = draw(st.booleans())
    return (lambda x: ops.logsumexp(x, dim, keepdim=keepdim)), (x,)


@op("logsumexp_keepdim", "logsumexp")
def _logsumexp_keep(draw):
    x = draw(tgt.tensors(NONEMPTY))
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    return (lambda x: x.logsumexp(dim, keepdim=True)), (x,)


@op("softmax")
def _softmax(draw):
    x = draw(tgt.tensors(SMALL))
    dim = draw(st.integers(-x.ndim, x.ndim - 1)) if x.ndim else 0
    return (lambda x: ops.softmax(x, dim)), (x,)


@op("log_softmax")
def _log_softmax(draw):
    x = draw(tgt.tensors(SMALL))
    dim = draw(st.integers(-x.ndim, x.ndim - 1)) if x.ndim else -1
    return (lambda x: ops.log_softmax(x, dim)), (x,)


# ---- shape ops -----------------------------------------------------------------------------------

@op("reshape", "reshape", "view")
def _reshape(draw):
    x = draw(tgt.tensors(SMALL))
    target = draw(st.sampled_from([(-1,), tuple(reversed(x.shape)), (1,) + x.shape + (1,),
                                   (x.numel(), 1)]))
    fn = draw(st.sampled_from([ops.reshape, ops.view]))
    return (lambda x: fn(x, target)), (x,)


@op("flatten_unflatten", "flatten", "unflatten")
def _flatten(draw):
    x = draw(tgt.tensors(NONEMPTY))
    start = draw(st.integers(0, x.ndim - 1))
    end = draw(st.integers(start, x.ndim - 1))
    sizes = x.shape[start:end + 1]

    def fn(x):
        y = ops.flatten(x, start, end - x.ndim)  # negative end_dim
        return ops.unflatten(y, start, sizes) * 1.5
    return fn, (x,)


@op("squeeze_unsqueeze", "squeeze", "unsqueeze")
def _squeeze(draw):
    x = draw(tgt.tensors(tgt.shapes(0, 3, 1, 2)))
    new = draw(st.integers(-x.ndim - 1, x.ndim))
    dim = draw(st.one_of(st.none(), st.integers(-x.ndim - 1, x.ndim)))

    def fn(x):
        y = ops.unsqueeze(x, new)
        return ops.squeeze(y) if dim is None else ops.squeeze(y, dim)
    return fn, (x,)


@op("permute_transpose", "permute", "transpose", "t")
def _permute(draw):
    x = draw(tgt.tensors(SMALL))
    perm = draw(st.permutations(range(x.ndim)))
    which = draw(st.sampled_from(["permute", "transpose", "t", "T"]))
    if which == "permute":
        return (lambda x: ops.permute(x, perm)), (x,)
    if which == "t" and x.ndim <= 2:
        return ops.t, (x,)
    if which == "T":
        return (lambda x: x.T), (x,)
    if x.ndim == 0:
        return (lambda x: ops.permute(x, ())), (x,)
    d0, d1 = draw(st.integers(-x.ndim, x.ndim - 1)), draw(st.integers(-x.ndim, x.ndim - 1))
    return (lambda x: ops.transpose(x, d0, d1)), (x,)


@st.composite
def _broadcast_source(draw):
    """(small, big): a shape and one it broadcasts to (small drops leading dims of big and
    keeps size 1 where big may not)."""
    big = draw(SMALL)
    lead = draw(st.integers(0, len(big)))
    small = tuple(1 if draw(st.booleans()) else n for n in big[lead:])
    return small, big


@op("expand_broadcast_to", "expand", "broadcast_to")
def _expand(draw):
    small, big = draw(_broadcast_source())
    x = draw(tgt.tensors(small))
    if draw(st.booleans()):
        sizes = tuple(-1 if i >= len(big) - len(small) and draw(st.booleans()) else n
                      for i, n in enumerate(big))
        return (lambda x: ops.expand(x, *sizes)), (x,)
    return (lambda x: ops.broadcast_to(x, big)), (x,)


@op("sum_to")
def _sum_to(draw):
    small, big = draw(_broadcast_source())
    return (lambda x: ops.sum_to(x, small)), (draw(tgt.tensors(big)),)


@st.composite
def _slice(draw, n):
    start = draw(st.one_of(st.none(), st.integers(-n, n - 1)))
    stop = draw(st.one_of(st.none(), st.integers(-n, n)))
    step = draw(st.sampled_from([None, 1, 2, -1]))
    return slice(start, stop, step)


@op("getitem_basic", "getitem")
def _getitem_basic(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 4)))
    index = []
    for n in x.shape:
        kind = draw(st.sampled_from(["slice", "int", "full"]))
        index.append(draw(_slice(n)) if kind == "slice" else
                     draw(st.integers(-n, n - 1)) if kind == "int" else slice(None))
    if draw(st.booleans()):
        index.insert(draw(st.integers(0, len(index))), None)
    if draw(st.booleans()) and len(index) > 1:
        index = [Ellipsis] + index[2:]
    index = tuple(index)
    return (lambda x: x[index]), (x,)


@op("getitem_advanced", "getitem")
def _getitem_advanced(draw):
    """Integer arrays with repeats (their gradients are summed), alone, with slices, 2-D,
    as Tensors; and boolean masks."""
    x = draw(tgt.tensors(tgt.shapes(1, 3, 2, 4)))
    n0 = x.shape[0]
    rows = draw(st.lists(st.integers(-n0, n0 - 1), min_size=1, max_size=6))  # repeats welcome
    kind = draw(st.sampled_from(["list", "tensor", "array2d", "with_slice", "two_arrays", "mask"]))
    if x.ndim == 1 and kind in ("with_slice", "two_arrays"):
        kind = "tensor"
    if kind == "list":
        index = rows
    elif kind == "tensor":
        index = tg.tensor(rows)
    elif kind == "array2d":
        index = np.asarray(rows * 2).reshape(2, -1)
    elif kind == "with_slice":  # an array on dim 0 and a slice on dim 1, or the other way
        cols = draw(st.lists(st.integers(0, x.shape[1] - 1), min_size=1, max_size=4))
        index = draw(st.sampled_from([(tg.tensor(rows), slice(1, None)),
                                      (slice(None, None, -1), tg.tensor(cols))]))
    elif kind == "two_arrays":  # paired (row, col) picks, repeats included
        cols = draw(st.lists(st.integers(0, x.shape[1] - 1), min_size=len(rows), max_size=len(rows)))
        index = (np.asarray(rows), np.asarray(cols))
    else:
        mask = np.asarray(draw(st.lists(st.booleans(), min_size=n0, max_size=n0)))
        index = tg.tensor(mask)
    return (lambda x: ops.getitem(x, index)), (x,)


@op("cat")
def _cat(draw):
    base = draw(NONEMPTY)
    dim = draw(st.integers(-len(base), len(base) - 1))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    xs = []
    for n in sizes:
        shape = list(base)
        shape[dim] = n
        xs.append(draw(tgt.tensors(tuple(shape))))
    return (lambda *xs: ops.cat(xs, dim)), tuple(xs)


@op("stack")
def _stack(draw):
    shape = draw(SMALL)
    k = draw(st.integers(1, 3))
    dim = draw(st.integers(-len(shape) - 1, len(shape)))
    xs = tuple(draw(tgt.tensors(shape)) for _ in range(k))
    return (lambda *xs: ops.stack(list(xs), dim)), xs


@op("pad")
def _pad(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 2, 3)))
    k = draw(st.integers(1, x.ndim))
    widths = []
    for i in range(k):
        n = x.shape[x.ndim - 1 - i]
        left = draw(st.integers(-(n - 1), 2))
        right = draw(st.integers(-(n - 1 - max(-left, 0)), 2))
        widths += [left, right]
    value = draw(st.sampled_from([0.0, -1.5]))
    return (lambda x: ops.pad(x, widths, value=value)), (x,)


@op("clone")
def _clone(draw):
    return (lambda x: ops.clone(x) * 2), (draw(tgt.tensors(SMALL)),)


@op("contiguous")
def _contiguous(draw):
    # a transposed view: contiguous() copies it (a contiguous input is returned as it is)
    x = draw(tgt.tensors(draw(tgt.shapes(min_dims=2, max_dims=3))))
    return (lambda x: x.transpose(0, -1).contiguous() * 2), (x,)


@op("to_device")
def _to_device(draw):
    # cpu -> cuda (the simulator in tests) -> cpu, through the device-move op
    return (lambda x: (x.to("cuda") * 2).to("cpu")), (draw(tgt.tensors(SMALL)),)


# ---- linear algebra -----------------------------------------------------------------------------

@op("matmul")
def _matmul(draw):
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    layout = draw(st.sampled_from(["2d", "batched", "vec_mat", "mat_vec", "vec_vec",
                                   "vec_batched", "batched_vec"]))
    ba, bb = draw(tgt.broadcastable_shapes(min_dims=1, max_dims=2, max_side=2))
    shapes = {"2d": ((n, k), (k, m)), "batched": (ba + (n, k), bb + (k, m)),
              "vec_mat": ((k,), (k, m)), "mat_vec": ((n, k), (k,)), "vec_vec": ((k,), (k,)),
              "vec_batched": ((k,), bb + (k, m)), "batched_vec": (ba + (n, k), (k,))}[layout]
    a, b = (draw(tgt.tensors(s)) for s in shapes)
    return (lambda a, b: a @ b), (a, b)


@op("linear")
def _linear(draw):
    i, o = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    lead = draw(tgt.shapes(0, 2, 1, 3))
    x = draw(tgt.tensors(lead + (i,)))
    w = draw(tgt.tensors((o, i)))
    if draw(st.booleans()):
        return ops.linear, (x, w, draw(tgt.tensors((o,))))
    return ops.linear, (x, w)


# ---- losses: one entry per reduction ------------------------------------------------------------

for _reduction in REDUCTIONS:
    def _bce(draw, reduction=_reduction):
        shape = draw(SMALL)
        p, t = draw(tgt.tensors(shape, "unit")), draw(tgt.tensors(shape, "unit"))
        weight = draw(st.one_of(st.none(), tgt.tensors(shape[1:], "positive", requires_grad=False)))
        return (lambda p, t: ops.binary_cross_entropy(p, t, weight, reduction=reduction)), (p, t)

    def _bce_logits(draw, reduction=_reduction):
        shape = draw(SMALL)
        logits, t = draw(tgt.tensors(shape)), draw(tgt.tensors(shape, "unit"))
        pos_weight = draw(st.one_of(st.none(), tgt.tensors(shape[-1:], "positive", requires_grad=False)))
        return (lambda l, t: ops.binary_cross_entropy_with_logits(
            l, t, reduction=reduction, pos_weight=pos_weight)), (logits, t)

    def _classification(draw, reduction=_reduction, fn_name="cross_entropy"):
        n, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
        extra = draw(tgt.shapes(0, 2, 1, 2))
        x = draw(tgt.tensors((n, c) + extra))
        size = n * int(np.prod(extra))
        target = np.asarray(draw(st.lists(st.integers(0, c - 1), min_size=size, max_size=size)))
        target = target.reshape((n,) + extra)
        ignore = draw(st.sampled_from([-100, int(target.flat[0])]))
        if ignore == target.flat[0] and (target == ignore).all():
            ignore = -100  # keep at least one counted target (else the mean is 0/0)
        weight = draw(st.one_of(st.none(), tgt.tensors((c,), "positive", requires_grad=False)))
        fn = getattr(ops, fn_name)
        if fn_name == "nll_loss":
            return (lambda x: fn(ops.log_softmax(x, 1), target, weight, ignore, reduction)), (x,)
        return (lambda x: fn(x, tg.tensor(target), weight, ignore, reduction)), (x,)

    def _mse(draw, reduction=_reduction):
        shape = draw(SMALL)
        return (lambda x, t: ops.mse_loss(x, t, reduction=reduction)), (draw(tgt.tensors(shape)),
                                                                        draw(tgt.tensors(shape)))

    def _gaussian_nll(draw, reduction=_reduction):
        shape = draw(NONEMPTY)
        var_shape = draw(st.sampled_from([shape, shape[:-1] + (1,)]))
        full = draw(st.booleans())
        mu, t = draw(tgt.tensors(shape)), draw(tgt.tensors(shape))
        var = draw(tgt.tensors(var_shape, "positive"))
        return (lambda mu, t, var: ops.gaussian_nll_loss(mu, t, var, full, reduction=reduction)), \
            (mu, t, var)

    for _fn, _name in [(_bce, "binary_cross_entropy"), (_bce_logits, "binary_cross_entropy_with_logits"),
                       (_classification, "cross_entropy"), (_mse, "mse_loss"),
                       (_gaussian_nll, "gaussian_nll_loss")]:
        OPS.append(OpCase(f"{_name}[{_reduction}]", (_name,), st.composite(_fn)()))
    OPS.append(OpCase(f"nll_loss[{_reduction}]", ("nll_loss",),
                      st.composite(lambda draw, r=_reduction: _classification(draw, r, "nll_loss"))()))


# ---- random ----------------------------------------------------------------------------------------

@op("dropout")
def _dropout(draw):
    p = draw(st.sampled_from([0.0, 0.3, 0.5, 1.0]))
    seed = draw(st.integers(0, 100))
    training = draw(st.booleans())

    def fn(x):
        tg.manual_seed(seed)  # the same mask at every evaluation
        return ops.dropout(x, p, training)
    return fn, (draw(tgt.tensors(SMALL)),)


# ---- nn.functional's own ops (convolution, pooling, normalization) ---------------------------------

try:
    import tinygen.nn.functional as F
except ImportError:  # written in parallel; the walk below then skips it too
    F = None


@st.composite
def _images(draw, domain="any", min_side=1):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h, w = draw(st.integers(min_side, 4)), draw(st.integers(min_side, 4))
    return draw(tgt.tensors((n, c, h, w), domain))


if F is not None:
    @op("conv2d")
    def _conv2d(draw):
        x = draw(_images())
        p = draw(tgt.conv_params(x.shape[2:]))
        c_out = draw(st.integers(1, 2))
        w = draw(tgt.tensors((c_out, x.shape[1]) + p.kernel_size))
        b = draw(st.one_of(st.none(), tgt.tensors((c_out,))))

        def fn(x, w, *b):
            y = F.conv2d(x, w, b[0] if b else None, p.stride, p.padding, p.dilation)
            assert tuple(y.shape[2:]) == p.output_size
            return y
        return fn, (x, w) + ((b,) if b is not None else ())

    @op("conv_transpose2d")
    def _conv_transpose2d(draw):
        x = draw(_images())
        p = draw(tgt.conv_params(x.shape[2:], transposed=True))
        c_out = draw(st.integers(1, 2))
        w = draw(tgt.tensors((x.shape[1], c_out) + p.kernel_size))
        b = draw(st.one_of(st.none(), tgt.tensors((c_out,))))

        def fn(x, w, *b):
            y = F.conv_transpose2d(x, w, b[0] if b else None, p.stride, p.padding,
                                   p.output_padding, p.dilation)
            assert tuple(y.shape[2:]) == p.output_size
            return y
        return fn, (x, w) + ((b,) if b is not None else ())

    @op("masked_conv2d")
    def _masked_conv2d(draw):
        """MaskedConv2d's op: conv2d with a causal mask, the weight gradient only on its taps."""
        from tinygen.nn.conv import causal_mask
        from tinygen.ops.conv import masked_conv2d
        x = draw(_images())
        k, mask_type = draw(st.sampled_from([3, 5])), draw(st.sampled_from("AB"))
        w = draw(tgt.tensors((draw(st.integers(1, 2)), x.shape[1], k, k)))
        mask = causal_mask(k, mask_type)
        b = draw(st.one_of(st.none(), tgt.tensors((w.shape[0],))))

        def fn(x, w, *b):                 # the mask in the weight's dtype, on its device
            m = tg.tensor(mask, dtype=w.dtype, device=w.device)
            return masked_conv2d(x, w, m, b[0] if b else None, padding=k // 2)
        return fn, (x, w) + ((b,) if b is not None else ())

    @st.composite
    def _pool_args(draw, x):
        k = draw(st.integers(1, min(3, min(x.shape[2:]))))
        padding = draw(st.integers(0, k // 2))
        stride = draw(st.sampled_from([None, 1, 2]))
        return k, stride, padding

    @op("max_pool2d")
    def _max_pool2d(draw):
        x = draw(_images("away_from_kinks"))  # no ties inside a window
        k, stride, padding = draw(_pool_args(x))
        return (lambda x: F.max_pool2d(x, k, stride, padding)), (x,)

    @op("avg_pool2d")
    def _avg_pool2d(draw):
        x = draw(_images())
        k, stride, padding = draw(_pool_args(x))
        return (lambda x: F.avg_pool2d(x, k, stride, padding)), (x,)

    @op("batch_norm")
    def _batch_norm(draw):
        c = draw(st.integers(1, 2))
        shape = draw(st.sampled_from([(3, c), (2, c, 2), (2, c, 2, 1)]))
        x = draw(tgt.tensors(shape, "away_from_kinks"))  # distinct values: batch variance > 0
        w, b = (draw(st.one_of(st.none(), tgt.tensors((c,)))) for _ in range(2))
        training = draw(st.booleans())
        rm = tg.zeros(c, dtype="float64") if draw(st.booleans()) or not training else None
        rv = tg.ones(c, dtype="float64") * 1.5 if rm is not None else None
        params = [t for t in (w, b) if t is not None]

        def fn(x, *params):
            it = iter(params)
            weight = next(it) if w is not None else None
            bias = next(it) if b is not None else None
            return F.batch_norm(x, rm, rv, weight, bias, training=training)
        return fn, (x, *params)

    @op("layer_norm")
    def _layer_norm(draw):
        x = draw(tgt.tensors(tgt.shapes(1, 3, 2, 3), "away_from_kinks"))
        k = draw(st.integers(1, x.ndim))
        normalized = x.shape[x.ndim - k:]
        w, b = (draw(st.one_of(st.none(), tgt.tensors(normalized))) for _ in range(2))
        params = [t for t in (w, b) if t is not None]

        def fn(x, *params):
            it = iter(params)
            weight = next(it) if w is not None else None
            bias = next(it) if b is not None else None
            return F.layer_norm(x, normalized, weight, bias)
        return fn, (x, *params)


# ---- the checks -----------------------------------------------------------------------------------

@pytest.mark.parametrize("case", OPS, ids=lambda c: c.name)
@settings(max_examples=10)
@given(data=st.data())
def test_gradcheck(case, data):
    fn, inputs = data.draw(case.strategy, label="fn, inputs")
    assert gradcheck(fn, inputs)


@pytest.mark.parametrize("case", [c for c in OPS if c.twice], ids=lambda c: c.name)
@settings(max_examples=5)
@given(data=st.data())
def test_gradgradcheck(case, data):
    fn, inputs = data.draw(case.strategy, label="fn, inputs")
    assert gradgradcheck(fn, inputs)


# ---- the walk: no differentiable op without an entry -----------------------------------------------

NOT_DIFFERENTIABLE = {
    # factories and random draws: nothing to differentiate
    "arange", "empty", "eye", "full", "full_like", "linspace", "manual_seed", "ones",
    "ones_like", "rand", "rand_like", "randint", "randn", "randn_like", "randperm", "tensor",
    "zeros", "zeros_like", "bernoulli", "empty_like", "randint_like", "as_tensor", "from_numpy",
    "logspace",
    # predicates
    "is_tensor", "is_floating_point", "is_contiguous",
    # bool or integer outputs
    "eq", "ne", "lt", "le", "gt", "ge", "argmax", "argmin",
    "one_hot",
}


def _public_functions(module):
    return {name: obj for name, obj in vars(module).items()
            if not name.startswith("_") and inspect.isfunction(obj)
            and getattr(obj, "__module__", "").startswith("tinygen")}


def _gradchecked_elsewhere():
    """Names listed in GRADCHECKED by other test modules of this directory."""
    names = set()
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        if path.stem == Path(__file__).stem or "GRADCHECKED" not in path.read_text():
            continue
        names |= set(getattr(importlib.import_module(path.stem), "GRADCHECKED", ()))
    return names


def _ops_without_gradcheck():
    """Public differentiable functions of tinygen.ops and nn.functional, and ELEMENTWISE rows, that
    no entry of OPS (nor another module's GRADCHECKED) covers."""
    covered = {name for case in OPS for name in case.covers} | _gradchecked_elsewhere()
    public = _public_functions(ops)
    covered_objects = {id(public[n]) for n in covered if n in public}  # aliases: clip, view

    def judged(name, fn):
        return name in covered or name in NOT_DIFFERENTIABLE or id(fn) in covered_objects

    missing = sorted(n for n, fn in public.items() if not judged(n, fn))
    tabled = {case.name for case in OPS}
    missing += [f"ELEMENTWISE[{k!r}]" for k in ELEMENTWISE
                if f"elementwise:{k}" not in tabled and k not in OWN_CASE]
    try:
        F = importlib.import_module("tinygen.nn.functional")
    except ImportError:
        F = None
    if F is not None:
        missing += [f"nn.functional.{n}" for n, fn in _public_functions(F).items()
                    if not judged(n, fn) and not (n in public and public[n] is fn)]
    return missing


def test_every_op_has_a_gradcheck():
    missing = _ops_without_gradcheck()
    assert not missing, (f"differentiable ops without a gradcheck entry in {Path(__file__).name} "
                         f"(or GRADCHECKED of another test module): {missing}")


def test_the_walk_sees_a_new_op(monkeypatch):
    """The walk is not vacuous: a new public op, or a new ELEMENTWISE row, is reported."""
    def frobnicate(x):
        return x
    frobnicate.__module__ = "tinygen.ops.elementwise"
    monkeypatch.setattr(ops, "frobnicate", frobnicate, raising=False)
    monkeypatch.setitem(ELEMENTWISE, "frob", ELEMENTWISE["neg"]._replace(name="frob"))
    assert _ops_without_gradcheck() == ["frobnicate", "ELEMENTWISE['frob']"]
    public = _public_functions(ops)
    assert {"add", "matmul", "softmax", "getitem", "cross_entropy"} <= set(public)
    assert {n for n in NOT_DIFFERENTIABLE if n in public} >= {"zeros", "eq", "argmax", "bernoulli"}


# ---- the cuda device (numba's simulator in CI, a real GPU with TINYGEN_REAL_GPU=1) ---------------

CPU_ONLY = {  # entries whose fn closes over cpu tensors (masks, class weights, running stats)
    "where", "batch_norm", "to_device",
    *(f"{name}[{r}]" for r in REDUCTIONS for name in ("binary_cross_entropy", "cross_entropy",
                                                      "binary_cross_entropy_with_logits", "nll_loss")),
}


def _on(device, xs):
    return tuple(tg.tensor(x.numpy(), dtype="float64", device=device, requires_grad=True) for x in xs)


@pytest.mark.skipif(not tg.backend.cuda_is_available(), reason="no GPU and no CUDA simulator")
@pytest.mark.parametrize("case", [c for c in OPS if c.name not in CPU_ONLY], ids=lambda c: c.name)
@settings(max_examples=3)
@given(data=st.data())
def test_cuda_matches_cpu(case, data):
    """Same values and gradients on the cuda device as on cpu, for every op in the table."""
    fn, inputs = data.draw(case.strategy, label="fn, inputs")
    results = {}
    for device in ("cpu", "cuda"):
        xs = _on(device, inputs)
        y = fn(*xs)
        assert y.device == device
        v = tg.tensor(np.linspace(-1, 1, y.numel()).reshape(y.shape), dtype="float64", device=device)
        grads = tg.grad((y * v).sum(), xs, allow_unused=True)
        results[device] = [y.numpy()] + [None if g is None else g.numpy() for g in grads]
    for a, b in zip(results["cpu"], results["cuda"]):
        if a is None or b is None:
            assert a is None and b is None
        else:
            np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


# Entries whose forward or backward may sync the host on the cuda device: {entry: {sync kind:
# why}}; every other entry must make none (tinygen.fake_cupy counts the syncs CuPy would
# make, data-dependent sizes included: boolean-mask indexing, nonzero, unique, argwhere).
MUST_SYNC = {
    "getitem_advanced": {"mask": "x[mask] with a boolean mask on the device: the result's size "
                                 "is the mask's count, which CuPy reads back (forward and backward)"},
}


@contextlib.contextmanager
def _fake_cupy():
    """The cuda device's arrays are tinygen.fake_cupy's inside the block (not a fixture:
    hypothesis runs the body many times per fixture)."""
    before = os.environ.get("TINYGEN_FAKE_CUPY")
    os.environ["TINYGEN_FAKE_CUPY"] = "1"
    try:
        yield importlib.import_module("tinygen.fake_cupy")
    finally:
        if before is None:
            del os.environ["TINYGEN_FAKE_CUPY"]
        else:
            os.environ["TINYGEN_FAKE_CUPY"] = before


@pytest.mark.skipif(not tg.backend.simulator_enabled(), reason="fake_cupy runs in the CUDA simulator")
@pytest.mark.parametrize("case", [c for c in OPS if c.name not in CPU_ONLY], ids=lambda c: c.name)
@settings(max_examples=2)
@given(data=st.data())
def test_cuda_op_forward_and_backward_sync_only_where_listed(case, data):
    """Forward and backward of every op in the table on the cuda device make no host sync,
    except the entries of MUST_SYNC, which make the ones listed there."""
    fn, inputs = data.draw(case.strategy, label="fn, inputs")
    with _fake_cupy() as fake:
        xs = _on("cuda", inputs)
        with fake.counting_syncs() as syncs:
            y = fn(*xs)
            v = tg.full(y.shape, 0.5, dtype="float64", device="cuda")
            tg.grad((y * v).sum(), xs, allow_unused=True)
    assert set(syncs) <= set(MUST_SYNC.get(case.name, ())), (case.name, dict(syncs))


# ---- float32 stays float32 --------------------------------------------------------------------------

MIXES_FLOAT64 = {  # entries whose fn closes over float64 tensors (weights, running statistics)
    "batch_norm",
    *(f"{name}[{r}]" for r in REDUCTIONS for name in ("binary_cross_entropy", "cross_entropy",
                                                      "binary_cross_entropy_with_logits", "nll_loss")),
}


@pytest.mark.parametrize("case", [c for c in OPS if c.name not in MIXES_FLOAT64], ids=lambda c: c.name)
@settings(max_examples=3)
@given(data=st.data())
def test_float32_in_float32_out(case, data):
    """No op silently computes in float64 on float32 inputs: outputs and gradients stay float32."""
    fn, inputs = data.draw(case.strategy, label="fn, inputs")
    xs = tuple(tg.tensor(x.numpy(), dtype="float32", requires_grad=True) for x in inputs)
    y = fn(*xs)
    assert y.dtype == np.float32
    for g in tg.grad(y.sum(), xs, allow_unused=True):
        assert g is None or g.dtype == np.float32
