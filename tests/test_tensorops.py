"""Issue 11 item 4, the Tensor methods a torch script uses: indexing by index tensors, in-place
ops (version counters, rebasing onto the graph), comparisons and logic, splitting and
repeating, sorting, cumulative ops, special functions.

CASES is a table like tests/test_ops_gradcheck.py's OPS: each entry draws (fn, inputs) and is
gradchecked and gradgradchecked in float64 by hypothesis. Its names are in GRADCHECKED, which
test_ops_gradcheck's walk reads. Values and gradients against torch: test_tensorops_torch.py.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
import tinygen.ops as ops
from tinygen import testing as tgt
from tinygen.autograd import gradcheck, gradgradcheck

CASES = []
GRADCHECKED = set()


def case(name, *covers, twice=True):
    def register(fn):
        CASES.append((name, st.composite(fn)(), twice))
        GRADCHECKED.update(covers or (name,))
        return fn
    return register


@st.composite
def _dim_index(draw, x, dim, max_len=4):
    n = x.shape[dim]
    return draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=max_len))


# ---- indexing ---------------------------------------------------------------------------------

@case("gather")
def _gather(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 3)))
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    shape = tuple(draw(st.integers(1, n)) if d != dim % x.ndim else draw(st.integers(1, 4))
                  for d, n in enumerate(x.shape))
    n = x.shape[dim]
    index = tg.tensor(np.asarray(draw(st.lists(st.integers(0, n - 1), min_size=int(np.prod(shape)),
                                               max_size=int(np.prod(shape))))).reshape(shape))
    return (lambda x: x.gather(dim, index)), (x,)


@st.composite
def _scatter_args(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 3)))
    dim = draw(st.integers(0, x.ndim - 1))
    shape = tuple(draw(st.integers(1, n)) if d != dim else draw(st.integers(1, 3))
                  for d, n in enumerate(x.shape))
    size = int(np.prod(shape))
    index = np.asarray(draw(st.lists(st.integers(0, x.shape[dim] - 1), min_size=size, max_size=size)))
    src = draw(tgt.tensors(tuple(n + draw(st.integers(0, 1)) for n in shape)))  # may be larger
    return x, dim, tg.tensor(index.reshape(shape)), src


@case("scatter_add")
def _scatter_add(draw):
    x, dim, index, src = draw(_scatter_args())
    return (lambda x, s: ops.scatter_add(x, dim, index, s)), (x, src)


@case("scatter")
def _scatter(draw):
    x, dim, index, src = draw(_scatter_args())
    # unique positions per write: a repeated index keeps one unspecified write (as torch), so
    # the gradient of the losing src elements is the gradient at the written place, not 0
    flat = np.ravel_multi_index(tuple(np.indices(index.shape)[d] if d != dim else index.numpy()
                                      for d in range(x.ndim)), x.shape)
    if len(set(flat.ravel().tolist())) != flat.size:
        return (lambda x: ops.scatter(x, dim, index, value=1.5)), (x,)
    return (lambda x, s: x.scatter(dim, index, s)), (x, src)


@case("index_select")
def _index_select(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 3)))
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    index = tg.tensor(draw(_dim_index(x, dim)))
    return (lambda x: x.index_select(dim, index)), (x,)


@case("index_add")
def _index_add(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 3)))
    dim = draw(st.integers(0, x.ndim - 1))
    rows = draw(_dim_index(x, dim))
    src = draw(tgt.tensors(x.shape[:dim] + (len(rows),) + x.shape[dim + 1:]))
    alpha = draw(st.sampled_from([1, -0.5]))
    return (lambda x, s: ops.index_add(x, dim, tg.tensor(rows), s, alpha=alpha)), (x, src)


@case("index_fill")
def _index_fill(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 3)))
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    index = tg.tensor(draw(_dim_index(x, dim)))
    if draw(st.booleans()):
        return (lambda x: x.index_fill(dim, index, -1.5)), (x,)
    return (lambda x, v: ops.index_fill(x, dim, index, v.sum())), (x, draw(tgt.tensors((2,))))


@st.composite
def _mask(draw, shape):
    size = int(np.prod(shape))
    return tg.tensor(np.asarray(draw(st.lists(st.booleans(), min_size=size, max_size=size))).reshape(shape))


@case("masked_fill")
def _masked_fill(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 3)))
    mask = draw(_mask(x.shape[draw(st.integers(0, x.ndim)):]))   # broadcast from the right
    if draw(st.booleans()):
        return (lambda x: x.masked_fill(mask, -2.5)), (x,)
    return (lambda x, v: ops.masked_fill(x, mask, v)), (x, draw(tgt.tensors(())))


@case("masked_select")
def _masked_select(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 3)))
    mask = draw(_mask(x.shape[draw(st.integers(0, x.ndim)):]))
    return (lambda x: x.masked_select(mask)), (x,)


@case("setitem")
def _setitem(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 3)))
    n0 = x.shape[0]
    kind = draw(st.sampled_from(["int", "slice", "array", "mask"]))
    index = {"int": draw(st.integers(-n0, n0 - 1)), "slice": slice(draw(st.integers(0, n0 - 1)), None),
             "array": tg.tensor(sorted(set(draw(st.lists(st.integers(0, n0 - 1), min_size=1))))),
             "mask": draw(_mask(x.shape[:1]))}[kind]
    picked = x.numpy()[index.numpy() if isinstance(index, tg.Tensor) else index]
    value = draw(tgt.tensors(picked.shape[draw(st.integers(0, picked.ndim)):]))  # broadcasts

    def fn(x, v):
        y = x * 1.0
        y[index] = v          # in place on a non-leaf: rebased onto SetItem
        return y * 2.0
    return fn, (x, value)


# ---- in-place ops on non-leaf tensors: recorded like torch ------------------------------------

@case("inplace_arithmetic", "add_", "sub_", "mul_", "div_", "clamp_")
def _inplace(draw):
    sa, sb = draw(tgt.broadcastable_shapes())
    sb = sb[max(0, len(sb) - len(sa)):] if len(sb) > len(sa) else sb
    out = np.broadcast_shapes(sa, sb)
    if out != sa:           # in-place: self keeps its shape, so b must broadcast to a's
        sb = ()
    a, b = draw(tgt.tensors(sa, "away_from_kinks")), draw(tgt.tensors(sb, "away_from_kinks"))
    which = draw(st.sampled_from(["add_", "sub_", "mul_", "div_", "clamp_"]))

    def fn(a, b):
        y = a.exp()                   # exp's backward reads its output: y_old keeps a copy
        if which == "clamp_":
            y.clamp_(0.9, 1.5)
            return y * b
        if which in ("add_", "sub_"):
            getattr(y, which)(b, alpha=0.5)
        else:
            getattr(y, which)(b)
        return y * y
    return fn, (a, b)


@case("inplace_functional_forms", "scatter_", "scatter_add_", "index_add_", "index_fill_", "exp_",
      "tanh_", "sigmoid_", "pow_")
def _inplace_forms(draw):
    a = draw(tgt.tensors((2, 3)))
    s = draw(tgt.tensors((2, 2)))
    which = draw(st.sampled_from(["scatter_", "scatter_add_", "index_add_", "index_fill_", "exp_",
                                  "tanh_", "sigmoid_", "pow_"]))
    index = tg.tensor([[0, 2], [1, 0]])

    def fn(a, s):
        y = a * 1.5
        if which in ("scatter_", "scatter_add_"):
            getattr(y, which)(1, index, s)
        elif which == "index_add_":
            y.index_add_(1, tg.tensor([2, 2]), s)
        elif which == "index_fill_":
            y.index_fill_(0, tg.tensor([1]), s.sum())
        elif which == "pow_":
            y.pow_(2)
        else:
            getattr(y, which)()
        return y * a
    return fn, (a, s)


@case("inplace_overwrite", "fill_", "zero_", "copy_", "masked_fill_")
def _overwrite(draw):
    a = draw(tgt.tensors(tgt.shapes(1, 2, 1, 3)))
    b = draw(tgt.tensors(a.shape))
    which = draw(st.sampled_from(["fill_", "zero_", "copy_", "masked_fill_"]))
    mask = draw(_mask(a.shape))

    def fn(a, b):
        y = a * a
        z = y * 1.0
        if which == "fill_":
            z.fill_(b.sum())                       # a 0-d tensor value: differentiable
        elif which == "zero_":
            z.zero_()
        elif which == "copy_":
            z.copy_(b * 3)
        else:
            z.masked_fill_(mask, b.sum())
        return y * z + z
    return fn, (a, b)


# ---- cutting, repeating, reordering -------------------------------------------------------------

@case("narrow_select_split", "narrow", "select", "split", "chunk", "unbind")
def _cut(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 4)))
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[dim]
    which = draw(st.sampled_from(["narrow", "select", "split", "sections", "chunk", "unbind"]))
    if which == "narrow":
        start = draw(st.integers(-n, n - 1))
        length = draw(st.integers(0, n - start % n))
        return (lambda x: x.narrow(dim, start, length)), (x,)
    if which == "select":
        i = draw(st.integers(-n, n - 1))
        return (lambda x: x.select(dim, i)), (x,)
    if which == "sections":
        cut = draw(st.integers(0, n))
        return (lambda x: ops.cat([p * (k + 1) for k, p in enumerate(x.split([cut, n - cut], dim))], dim)), (x,)
    k = draw(st.integers(1, 3))
    pieces = {"split": lambda x: x.split(k, dim), "chunk": lambda x: x.chunk(k, dim),
              "unbind": lambda x: x.unbind(dim)}[which]
    return (lambda x: ops.stack([p.sum() * (i + 1) for i, p in enumerate(pieces(x))])), (x,)


@case("flip_roll", "flip", "roll")
def _flip_roll(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 3)))
    dims = draw(st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=x.ndim, unique=True))
    if draw(st.booleans()):
        return (lambda x: x.flip(dims)), (x,)
    shifts = [draw(st.integers(-4, 4)) for _ in dims]
    if draw(st.booleans()):
        return (lambda x: x.roll(shifts[0])), (x,)          # dims=None: the flattened tensor
    return (lambda x: x.roll(shifts, dims)), (x,)


@case("repeat_tile", "repeat", "tile", "repeat_interleave")
def _repeat(draw):
    x = draw(tgt.tensors(tgt.shapes(0, 2, 1, 3)))
    which = draw(st.sampled_from(["repeat", "tile", "interleave", "interleave_counts"]))
    if which == "repeat":
        sizes = tuple(draw(st.integers(1, 3)) for _ in range(x.ndim + draw(st.integers(0, 1))))
        return (lambda x: x.repeat(*sizes)), (x,)
    if which == "tile":
        dims = tuple(draw(st.integers(1, 2)) for _ in range(draw(st.integers(1, 3))))
        return (lambda x: x.tile(dims)), (x,)
    if which == "interleave" or x.ndim == 0:
        r = draw(st.integers(1, 3))
        dim = draw(st.one_of(st.none(), st.integers(0, max(x.ndim - 1, 0)))) if x.ndim else None
        return (lambda x: x.repeat_interleave(r, dim=dim)), (x,)
    counts = tg.tensor(draw(st.lists(st.integers(0, 3), min_size=x.shape[0], max_size=x.shape[0])))
    return (lambda x: x.repeat_interleave(counts, dim=0)), (x,)


@case("view_expand_reshape_as", "view_as", "reshape_as", "expand_as")
def _as(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 2, 1, 3)))
    other = tg.zeros(*reversed(x.shape))
    big = tg.zeros(2, *x.shape)
    return (lambda x: x.view_as(other) * 2 + x.reshape_as(other) + x.expand_as(big).sum()), (x,)


@case("concat_stack_movedim", "concat", "hstack", "vstack", "movedim")
def _concat(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 3)))
    which = draw(st.sampled_from(["concat", "hstack", "vstack", "movedim"]))
    if which == "movedim":
        src = draw(st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=x.ndim, unique=True))
        dst = draw(st.permutations(range(x.ndim)))[:len(src)]
        return (lambda x: ops.movedim(x, src, dst)), (x,)
    if which == "hstack" and x.ndim == 1 or which == "concat":
        return (lambda x: getattr(ops, which)([x, x * 2])), (x,)
    return (lambda x: getattr(ops, which)([x, x * 2, x[:1] if which == "vstack" and x.ndim > 1 else x])), (x,)


@case("matrix_ops", "mm", "bmm", "dot", "outer", "tril", "triu", "diag", "diagonal", "trace")
def _matrix(draw):
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    which = draw(st.sampled_from(["mm", "bmm", "dot", "outer", "tril", "triu", "diag", "diagonal", "trace"]))
    if which == "mm":
        return ops.mm, (draw(tgt.tensors((n, k))), draw(tgt.tensors((k, m))))
    if which == "bmm":
        return ops.bmm, (draw(tgt.tensors((2, n, k))), draw(tgt.tensors((2, k, m))))
    if which in ("dot", "outer"):
        return getattr(ops, which), (draw(tgt.tensors((k,))), draw(tgt.tensors((k,) if which == "dot" else (m,))))
    offset = draw(st.integers(-2, 2))
    if which in ("tril", "triu"):
        return (lambda x: getattr(ops, which)(x, offset)), (draw(tgt.tensors(draw(tgt.shapes(2, 3, 1, 3)))),)
    if which == "diag":
        x = draw(tgt.tensors(draw(tgt.shapes(1, 2, 1, 3))))
        return (lambda x: ops.diag(x, offset)), (x,)
    if which == "trace":
        return ops.trace, (draw(tgt.tensors((n, m))),)
    x = draw(tgt.tensors(draw(tgt.shapes(2, 3, 1, 3))))
    d1, d2 = draw(st.permutations(range(x.ndim)))[:2]
    return (lambda x: ops.diagonal(x, offset, d1, d2)), (x,)


@case("einsum_kron_cross_cdist", "einsum", "kron", "cross", "cdist")
def _einsum(draw):
    which = draw(st.sampled_from(["einsum", "kron", "cross", "cdist"]))
    if which == "kron":
        sa, sb = draw(tgt.shapes(1, 2, 1, 2)), draw(tgt.shapes(1, 2, 1, 2))
        return ops.kron, (draw(tgt.tensors(sa)), draw(tgt.tensors(sb)))
    if which == "cross":
        lead = draw(tgt.shapes(0, 1, 1, 2))
        return (lambda a, b: ops.cross(a, b, dim=-1)), (draw(tgt.tensors(lead + (3,))), draw(tgt.tensors(lead + (3,))))
    if which == "cdist":
        p = draw(st.sampled_from([2.0, 1.0, 3.0]))
        a = draw(tgt.tensors((2, 3), "away_from_kinks"))
        b = draw(tgt.tensors((3, 3), "away_from_kinks"))
        return (lambda a, b: ops.cdist(a, b * 0.5 + 0.01, p)), (a, b)
    eq, shapes = draw(st.sampled_from([("ii->i", [(3, 3)]), ("bii->b", [(2, 2, 2)]), ("iji,j->ij", [(2, 3, 2), (3,)]),
                                       ("ij,jk->ik", [(2, 3), (3, 2)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 1)]),
                                       ("i,i->", [(3,), (3,)]), ("ij->j", [(2, 3)]), ("...i,i", [(2, 2, 3), (3,)]),
                                       ("i,j,k->ijk", [(2,), (1,), (2,)]), ("ij,kj->ik", [(2, 3), (1, 3)])]))
    return (lambda *xs: ops.einsum(eq, *xs)), tuple(draw(tgt.tensors(s)) for s in shapes)


# ---- sorting, cumulative ops, norms ----------------------------------------------------------------

@case("sort_topk_median", "sort", "topk", "median", "kthvalue", "mode")
def _sort(draw):
    x = draw(tgt.tensors(tgt.shapes(0, 3, 1, 4), "away_from_kinks"))   # distinct: no ties
    dim = draw(st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1))
    n = x.shape[dim] if x.ndim else 1
    which = draw(st.sampled_from(["sort", "topk", "median", "median_dim", "kthvalue", "mode"]))
    descending, keepdim = draw(st.booleans()), draw(st.booleans())
    k = draw(st.integers(1, n))
    return {"sort": lambda x: x.sort(dim, descending=descending).values,
            "topk": lambda x: x.topk(k, dim, largest=descending).values,
            "median": lambda x: x.median(),
            "median_dim": lambda x: x.median(dim, keepdim).values,
            "kthvalue": lambda x: x.kthvalue(k, dim, keepdim).values,
            "mode": lambda x: ops.mode(x, dim, keepdim).values}[which], (x,)


@case("prod")
def _prod(draw):
    x = draw(tgt.tensors(tgt.shapes(0, 3, 1, 3), "away_from_kinks"))
    dim = draw(st.one_of(st.none(), st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1)))
    keepdim = draw(st.booleans())
    if x.ndim and draw(st.booleans()):                        # exact zeros: the product of the others
        zeros = np.asarray(draw(st.lists(st.booleans(), min_size=x.numel(), max_size=x.numel())))
        zero = tg.tensor(zeros.reshape(x.shape))
        return (lambda x: x.masked_fill(zero, 0.0).prod(dim, keepdim) if dim is not None
                else x.masked_fill(zero, 0.0).prod()), (x,)
    return (lambda x: x.prod(dim, keepdim) if dim is not None else x.prod()), (x,)


@case("cumsum_cumprod", "cumsum", "cumprod")
def _cumulative(draw):
    # |x| >= 0.11: cumprod's backward divides by x (as torch's, when x has no zeros); exact
    # zeros take the other path, drawn below
    x = draw(tgt.tensors(tgt.shapes(0, 3, 1, 4), "away_from_kinks"))
    dim = draw(st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1))
    which = draw(st.sampled_from(["cumsum", "cumprod", "cumprod_with_zeros"]))
    if which == "cumprod_with_zeros" and x.ndim:
        zeros = np.asarray(draw(st.lists(st.booleans(), min_size=x.numel(), max_size=x.numel())))
        zero = tg.tensor(zeros.reshape(x.shape))
        return (lambda x: x.masked_fill(zero, 0.0).cumprod(dim)), (x,)   # exact zeros on x's path
    return (lambda x: getattr(x, which.split("_")[0])(dim)), (x,)


@case("norm_dist", "norm", "dist")
def _norm(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 3), "away_from_kinks"))
    p = draw(st.sampled_from(["fro", 2, 1, 3, 0.5, float("inf"), -float("inf")]))
    dim = draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    keepdim = draw(st.booleans())
    if draw(st.booleans()):
        y = draw(tgt.tensors(x.shape[1:], "any"))
        return (lambda x, y: ops.dist(x, y * 0.01, p if p != "fro" else 2)), (x, y)
    return (lambda x: x.norm(p, dim, keepdim)), (x,)


# ---- composed special functions, fmod and remainder ----------------------------------------------

@case("lerp_nan_to_num", "lerp", "nan_to_num")
def _lerp(draw):
    sa, sb = draw(tgt.broadcastable_shapes(max_dims=2))
    a, b = draw(tgt.tensors(sa)), draw(tgt.tensors(sb))
    if draw(st.booleans()):
        return (lambda a, b: ops.lerp(a, b, 0.3) + ops.lerp(a, b, b)), (a, b)
    a = draw(tgt.tensors(sa, "away_from_kinks"))

    def fn(a):
        with np.errstate(invalid="ignore"):
            return ops.nan_to_num(ops.log(a), neginf=-7.0)   # log(< 0) = nan -> 0
    return fn, (a,)


@case("polygamma")
def _polygamma(draw):
    n = draw(st.integers(1, 3))
    return (lambda x: ops.polygamma(n, x)), (draw(tgt.tensors(tgt.shapes(0, 2, 1, 3), "positive")),)


@case("fmod_remainder", "fmod", "remainder", "floor_divide")
def _fmod(draw):
    sa, sb = draw(tgt.broadcastable_shapes(max_dims=2))
    a, b = draw(tgt.tensors(sa, "away_from_kinks")), draw(tgt.tensors(sb, "away_from_kinks"))
    # a / b at least 0.01 away from an integer: the quotient's rounding is constant nearby
    def near_integer(b):
        ratio = np.divide(*np.broadcast_arrays(a.numpy(), b.numpy()))
        return np.abs(ratio - np.round(ratio)).min(initial=1) < 1e-2
    if near_integer(b):
        b = tg.tensor(b.numpy() * 1.37, dtype="float64", requires_grad=True)
        if near_integer(b):
            return (lambda a: ops.fmod(a, 10.0)), (a,)
    fn = draw(st.sampled_from([ops.fmod, ops.remainder, ops.floor_divide]))  # (the last: zero)
    return fn, (a, b)


# ---- issue 26: composed elementwise ops and the add* products -----------------------------------

@case("sinc_logit", "sinc", "logit")
def _sinc_logit(draw):
    x = draw(tgt.tensors(tgt.shapes(0, 2, 1, 3), "away_from_kinks"))
    if draw(st.booleans()):
        return (lambda x: ops.sinc(x * 2)), (x,)      # crosses the integers (sinc's zeros)
    # p = 0.4 |x| in (0.04, 0.85), away from eps = 0.2's clamp bounds 0.2 and 0.8 (|x| = 0.5, 2)
    eps = draw(st.sampled_from([None, 0.01, 0.2]))
    return (lambda x: ops.logit(x.abs() * 0.4, eps)), (x,)


@case("xlogy_copysign_fmax_fmin", "xlogy", "copysign", "fmax", "fmin")
def _binary_issue26(draw):
    sa, sb = draw(tgt.broadcastable_shapes(max_dims=2))
    a, b = draw(tgt.tensors(sa, "away_from_kinks")), draw(tgt.tensors(sb, "away_from_kinks"))
    which = draw(st.sampled_from(["xlogy", "xlogy_zeros", "copysign", "fmax", "fmin"]))
    if which == "xlogy":
        return (lambda a, b: ops.xlogy(a, b.abs())), (a, b)
    if which == "xlogy_zeros":                        # exact zeros in x: value and gradients 0
        zero = tg.tensor(a.numpy() < 0)
        return (lambda a, b: ops.xlogy(a.masked_fill(zero, 0.0), b.abs())), (a, b)
    if which == "copysign":
        return ops.copysign, (a, b)
    return getattr(ops, which), (a, b)


@case("meshgrid_clamp_min_max", "meshgrid", "clamp_min", "clamp_max")
def _meshgrid_clamp(draw):
    a = draw(tgt.tensors(draw(tgt.shapes(0, 1, 1, 3)), "away_from_kinks"))
    b = draw(tgt.tensors(draw(tgt.shapes(1, 1, 1, 3)), "away_from_kinks"))
    which = draw(st.sampled_from(["ij", "xy", "clamp_min", "clamp_max"]))
    if which == "clamp_min":                 # bounds 0.5 and -0.5: multiples of 0.05, away
        return (lambda a, b: ops.clamp_min(b, 0.5) * a.sum()), (a, b)   # from every value
    if which == "clamp_max":
        return (lambda a, b: b.clamp_max(-0.5) + a.sum()), (a, b)
    return (lambda a, b: _grid_product(a, b, which)), (a, b)


def _grid_product(a, b, indexing):
    """A product of the grids: each input's gradient sums over the other's values."""
    ga, gb = ops.meshgrid(a, b, indexing=indexing)
    return ga * gb * gb


@case("addcmul_addcdiv", "addcmul", "addcdiv")
def _addc(draw):
    shapes = draw(hnp_shapes(3))
    x, t1, t2 = (draw(tgt.tensors(s, "away_from_kinks")) for s in shapes)
    value = draw(st.sampled_from([1, -0.5, 2.0]))
    fn = draw(st.sampled_from([ops.addcmul, ops.addcdiv]))
    return (lambda x, a, b: fn(x, a, b, value=value)), (x, t1, t2)


def hnp_shapes(n):
    from hypothesis.extra import numpy as hnp
    return hnp.mutually_broadcastable_shapes(num_shapes=n, max_dims=3, max_side=3).map(
        lambda b: tuple(b.input_shapes))


@case("add_products", "addmm", "addmv", "baddbmm", "addbmm")
def _add_products(draw):
    b, n, k, m = (draw(st.integers(1, 3)) for _ in range(4))
    which = draw(st.sampled_from(["addmm", "addmv", "baddbmm", "addbmm"]))
    beta, alpha = draw(st.sampled_from([(1, 1), (0.5, -2.0), (0, 1.5)]))
    out, operands = {"addmm": ((n, m), [(n, k), (k, m)]), "addmv": ((n,), [(n, k), (k,)]),
                     "baddbmm": ((b, n, m), [(b, n, k), (b, k, m)]),
                     "addbmm": ((n, m), [(b, n, k), (b, k, m)])}[which]
    if draw(st.booleans()):
        out = out[-1:]                                # input broadcasts (a row)
    xs = tuple(draw(tgt.tensors(s)) for s in [out] + operands)
    fn = getattr(ops, which)
    return (lambda x, p, q: fn(x, p, q, beta=beta, alpha=alpha)), xs


@case("nansum_nanmean", "nansum", "nanmean")
def _nan_reductions(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 3)))
    nan = tg.tensor(np.asarray(draw(st.lists(st.booleans(), min_size=x.numel(), max_size=x.numel())))
                    .reshape(x.shape))
    nan[0] = False                                    # one number in every reduction over dim 0
    dim = draw(st.sampled_from([None, 0]))
    fn = draw(st.sampled_from([ops.nansum, ops.nanmean]))
    return (lambda x: fn(x.masked_fill(nan, float("nan")), dim)), (x,)


@case("var_mean_std_mean", "var_mean", "std_mean")
def _var_mean(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 2, 3), "away_from_kinks"))
    dim = draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    correction, keepdim = draw(st.sampled_from([0, 1])), draw(st.booleans())
    fn = draw(st.sampled_from([ops.var_mean, ops.std_mean]))

    def both(x):
        spread, centre = fn(x, dim, correction=correction, keepdim=keepdim)
        return spread * 2 + centre
    return both, (x,)


@case("cummax_cummin_logcumsumexp", "cummax", "cummin", "logcumsumexp")
def _cumulative_extremes(draw):
    x = draw(tgt.tensors(tgt.shapes(0, 3, 1, 4), "away_from_kinks"))   # no ties
    dim = draw(st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1))
    which = draw(st.sampled_from(["cummax", "cummin", "logcumsumexp"]))
    if which == "logcumsumexp":
        return (lambda x: ops.logcumsumexp(x, dim)), (x,)
    return (lambda x: getattr(ops, which)(x, dim).values), (x,)


@case("linalg_matrix_functions", "inv", "det", "slogdet", "logdet", "solve", "cholesky")
def _linalg(draw):
    n = draw(st.integers(1, 3))
    batch = draw(tgt.shapes(0, 1, 1, 2))
    m = draw(tgt.tensors(batch + (n, n)))

    def eye(m):
        return tg.eye(n, dtype=m.dtype, device=m.device)

    def well_conditioned(m):                      # diagonally dominant: 2 > 3 * 0.6
        return m * 0.3 + eye(m) * 2
    which = draw(st.sampled_from(["inv", "det", "slogdet", "logdet", "solve", "solve_vector", "cholesky",
                                  "cholesky_upper"]))
    if which in ("inv", "det", "logdet"):
        return (lambda m: getattr(ops, which)(well_conditioned(m))), (m,)
    if which == "slogdet":
        return (lambda m: ops.slogdet(-well_conditioned(m)).logabsdet), (m,)
    if which.startswith("cholesky"):   # A = M M^T + I is symmetric positive definite
        return (lambda m: ops.cholesky(m @ m.mT + eye(m), upper=which.endswith("upper"))), (m,)
    b_shape = draw(st.sampled_from([(n, draw(st.integers(1, 2))), batch + (n, 1)]))
    if which == "solve_vector":
        b_shape = batch + (n,)
    return (lambda m, b: ops.solve(well_conditioned(m), b)), (m, draw(tgt.tensors(b_shape)))


@case("eigvalsh_svdvals", "eigvalsh", "svdvals")
def _spectra(draw):
    # eigenvalues k (3 + k) apart on the diagonal plus a perturbation of at most 0.6 per entry:
    # distinct, so their gradients are smooth; the checks see sign-free quantities only
    n, m = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch = draw(tgt.shapes(0, 1, 1, 2))
    x = draw(tgt.tensors(batch + (n, m)))
    spread = np.zeros((n, m))
    spread[np.arange(min(n, m)), np.arange(min(n, m))] = 3.0 * np.arange(1, min(n, m) + 1)

    def separated(x):
        return x * 0.3 + tg.tensor(spread, dtype=x.dtype, device=x.device)
    if n == m and draw(st.booleans()):
        return (lambda x: ops.eigvalsh(separated(x) + separated(x).mT)), (x,)
    return (lambda x: ops.svdvals(separated(x))), (x,)


@case("linalg_norms", "vector_norm", "matrix_norm", "linalg_norm")
def _linalg_norms(draw):
    x = draw(tgt.tensors(tgt.shapes(2, 3, 2, 3), "away_from_kinks"))   # no ties, no zeros
    which = draw(st.sampled_from(["vector", "matrix", "norm"]))
    keepdim = draw(st.booleans())
    if which == "vector":
        ord, dim = draw(st.sampled_from([2, 1, 3, float("inf")])), draw(st.sampled_from([None, -1, (0, 1)]))
        return (lambda x: ops.vector_norm(x, ord, dim, keepdim)), (x,)
    ord = draw(st.sampled_from(["fro", 1, -1, float("inf"), -float("inf"), "nuc", 2, -2]))
    if ord in ("nuc", 2, -2):     # a matrix with singular values 3 apart (smooth, none near 0)
        x = draw(tgt.tensors(tuple(x.shape[:2])))
        spread = np.zeros(x.shape)
        spread[np.arange(min(x.shape)), np.arange(min(x.shape))] = 3.0 * np.arange(1, min(x.shape) + 1)
        x = tg.tensor(x.numpy() * 0.3 + spread, dtype="float64", requires_grad=True)
    if which == "matrix":
        dim = draw(st.sampled_from([(-2, -1), (0, 1), (-1, 0)]))
        return (lambda x: ops.matrix_norm(x, ord, dim, keepdim)), (x,)
    return (lambda x: ops.linalg_norm(x, ord, (0, 1), keepdim) + ops.linalg_norm(x)), (x,)


@case("diag_embed_take_along_dim", "diag_embed", "take_along_dim")
def _diag_embed(draw):
    x = draw(tgt.tensors(tgt.shapes(1, 3, 1, 3)))
    if draw(st.booleans()):
        offset = draw(st.integers(-2, 2))
        d1, d2 = draw(st.permutations(range(x.ndim + 1)))[:2]
        return (lambda x: ops.diag_embed(x, offset, d1, d2)), (x,)
    dim = draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    if dim is None:
        idx = draw(st.lists(st.integers(0, x.numel() - 1), min_size=1, max_size=5))
        return (lambda x: ops.take_along_dim(x, tg.tensor(idx))), (x,)
    shape = tuple(draw(st.integers(1, 3)) if d == dim % x.ndim else draw(st.sampled_from([1, n]))
                  for d, n in enumerate(x.shape))      # size 1 broadcasts against x
    idx = np.asarray(draw(st.lists(st.integers(0, x.shape[dim] - 1), min_size=int(np.prod(shape)),
                                   max_size=int(np.prod(shape))))).reshape(shape)
    return (lambda x: ops.take_along_dim(x, tg.tensor(idx), dim)), (x,)


# ---- the checks -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, strategy, twice", CASES, ids=[c[0] for c in CASES])
@settings(max_examples=8)
@given(data=st.data())
def test_gradcheck(name, strategy, twice, data):
    fn, inputs = data.draw(strategy, label="fn, inputs")
    assert gradcheck(fn, inputs)


@pytest.mark.parametrize("name, strategy, twice", [c for c in CASES if c[2]], ids=[c[0] for c in CASES if c[2]])
@settings(max_examples=4)
@given(data=st.data())
def test_gradgradcheck(name, strategy, twice, data):
    fn, inputs = data.draw(strategy, label="fn, inputs")
    assert gradgradcheck(fn, inputs)


# ---- in-place semantics -----------------------------------------------------------------------------

def leaf(values):
    return tg.tensor(values, dtype="float64", requires_grad=True)


def test_inplace_on_a_leaf_that_requires_grad_raises_like_torch_and_no_grad_allows_it():
    x = leaf([1.0, 2.0])
    for change in (lambda: x.add_(1), lambda: x.mul_(2), lambda: x.zero_(), lambda: x.fill_(1.0),
                   lambda: x.copy_(tg.ones(2)), lambda: x.__setitem__(0, 5.0),
                   lambda: x.normal_(), lambda: x.clamp_(0, 1)):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            change()
    assert x._version == 0 and x.tolist() == [1.0, 2.0]
    with tg.no_grad():
        x.add_(1).mul_(2)
        x[0] = 10.0
    assert x.tolist() == [10.0, 6.0] and x._version == 3 and x.is_leaf and x.grad is None


def test_every_inplace_op_bumps_the_version_shared_with_views():
    x = tg.zeros(2, 3, dtype="float64")
    v = x[0]
    steps = [lambda: x.add_(1), lambda: x.sub_(1, alpha=2), lambda: x.mul_(2), lambda: x.div_(4),
             lambda: x.clamp_(-1, 1), lambda: x.zero_(), lambda: x.fill_(2), lambda: x.copy_(tg.ones(3)),
             lambda: x.masked_fill_(tg.tensor([True, False, True]), 0.0), lambda: x.normal_(),
             lambda: x.uniform_(), lambda: x.bernoulli_(0.5), lambda: x.__setitem__((0, 1), 7.0)]
    for i, step in enumerate(steps, 1):
        assert step() is None or True
        assert x._version == i and v._version == i
    assert x[0, 1].item() == 7.0 and v[1].item() == 7.0    # the view sees the write


def test_augmented_assignment_is_in_place_as_in_torch():
    p = tg.tensor([1.0, 2.0], requires_grad=True)
    alias = p
    with tg.no_grad():
        p -= 0.5 * tg.ones(2)          # a hand-written SGD step keeps the parameter object
        p *= 2
        p /= 4
        p += 1
    assert alias is p and p.tolist() == [1.25, 1.75] and p._version == 4 and p.is_leaf
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        p += 1
    x = leaf([1.0, 2.0])
    h = x * 3
    h += x * x                         # recorded: h = 3x + x^2
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 7.0])


def test_setitem_on_a_non_leaf_is_differentiable_and_keeps_aliases():
    x = leaf([1.0, 2.0, 3.0])
    y = x * 2
    y[1] = x[0] * 10                 # y = [2x0, 10x0, 2x2]
    assert y.creator is not None and y._version == 1
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 0.0, 2.0])
    # a leaf that needs no grad takes a value that does: the usual "fill an output" pattern
    x.grad = None
    out = tg.zeros(3, dtype="float64")
    for i in range(3):
        out[i] = x[i] ** 2
    assert out.requires_grad and not out.is_leaf
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_inplace_change_of_a_saved_output_is_still_caught_and_of_a_grad_view_is_refused():
    x = leaf([1.0, 2.0])
    y = x.exp()
    z = y * 3                         # Mul saved y
    y.add_(1)                         # recorded (y rebased), but z's node saw the old version
    with pytest.raises(RuntimeError, match="modified in place"):
        z.sum().backward()
    w = (x * 2)[0:1]
    with pytest.raises(RuntimeError, match="view .* of a tensor that requires grad"):
        w.mul_(2)


def test_hash_and_comparison_operators():
    x = tg.tensor([1.0, 2.0, 3.0])
    assert {x: 1}[x] == 1 and len({x, tg.tensor([1.0, 2.0, 3.0])}) == 2
    assert (x == None) is False and (x != None) is True  # noqa: E711
    with pytest.raises(TypeError):
        x < "a"
    for got, expected in [(x == 2, [False, True, False]), (x != 2, [True, False, True]),
                          (x < 2, [True, False, False]), (x <= 2, [True, True, False]),
                          (x > 2, [False, False, True]), (x >= 2, [False, True, True]),
                          (2 < x, [False, False, True]), (x.eq(tg.tensor([1.0, 0, 3])), [True, False, True])]:
        assert got.dtype == np.bool_ and got.tolist() == expected
    assert x in [x] and x is not tg.tensor([1.0, 2.0, 3.0])


def test_no_grad_decorates_with_and_without_parentheses_and_set_grad_enabled_is_a_call():
    @tg.no_grad
    def f(x):
        return x * 2

    @tg.no_grad()
    def g(x):
        return x * 2

    x = leaf([1.0])
    assert not f(x).requires_grad and not g(x).requires_grad and f.__name__ == "f"
    assert tg.is_grad_enabled()
    tg.set_grad_enabled(False)
    try:
        assert not tg.is_grad_enabled()
    finally:
        tg.set_grad_enabled(True)
    with tg.no_grad():
        with tg.set_grad_enabled(True):
            assert tg.is_grad_enabled()
        assert not tg.is_grad_enabled()


def test_new_factories_take_dtype_and_device_from_self():
    x = tg.zeros(2, dtype="float64")
    assert x.new_zeros(3).dtype == np.float64 and x.new_zeros((2, 3)).shape == (2, 3)
    assert x.new_ones(2, 2).numpy().sum() == 4 and x.new_full((2,), 7.0).tolist() == [7.0, 7.0]
    assert x.new_empty(4).shape == (4,) and x.new_tensor([1, 2]).dtype == np.float64
    assert x.new_zeros(2, dtype="int64").dtype == np.int64
    assert x.new_ones(2, requires_grad=True).requires_grad


def test_legacy_new_takes_sizes_or_data_in_the_dtype_and_device_of_self():
    """weight.new(nlayers, bsz, nhid).zero_(), std.data.new(std.size()).normal_(), as torch."""
    x = tg.zeros(2, 3, dtype="float64", requires_grad=True)
    assert x.new(4, 5).shape == (4, 5) and x.new(4, 5).dtype == np.float64
    assert x.new(x.size()).normal_().shape == (2, 3) and not x.new(2).requires_grad
    assert x.new([1, 2]).tolist() == [1.0, 2.0] and x.new(np.ones(3)).dtype == np.float64
    assert x.new().shape == (0,) and x.data.new(1, 2).zero_().shape == (1, 2)
    with pytest.raises(TypeError, match="new\\(\\): from a Tensor"):
        x.new(x)


def test_nonzero_and_where_with_one_argument():
    x = tg.tensor([[0.0, 1.0], [2.0, 0.0]])
    assert x.nonzero().tolist() == [[0, 1], [1, 0]] and x.nonzero().dtype == np.int64
    rows, cols = tg.nonzero(x, as_tuple=True)
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
    assert [t.tolist() for t in tg.where(x > 0)] == [[0, 1], [1, 0]]


def test_index_errors_name_the_op_and_shapes():
    x = tg.zeros(2, 3)
    with pytest.raises(IndexError, match=r"gather: index 3 is out of range \[0, 3\)"):
        x.gather(1, tg.tensor([[3]]))
    with pytest.raises(TypeError, match="gather: index must be an integer tensor"):
        x.gather(1, tg.tensor([[0.0]]))
    with pytest.raises(RuntimeError, match=r"index_add: source of shape \(2, 2\)"):
        x.index_add(1, tg.tensor([0]), tg.zeros(2, 2))
    with pytest.raises(TypeError, match="masked_fill: mask must be a bool tensor"):
        x.masked_fill(tg.zeros(3), 1.0)


@pytest.mark.parametrize("name, strategy, twice", CASES, ids=[c[0] for c in CASES])
@settings(max_examples=2)
@given(data=st.data())
def test_float32_in_float32_out_and_cuda_matches_cpu(name, strategy, twice, data):
    """Outputs and gradients stay float32 for float32 inputs; the cuda device (numba's
    simulator in CI) gives the cpu's values and gradients."""
    fn, inputs = data.draw(strategy, label="fn, inputs")
    xs = tuple(tg.tensor(x.numpy(), dtype="float32", requires_grad=True) for x in inputs)
    y = fn(*xs)
    assert y.dtype == np.float32
    assert all(g is None or g.dtype == np.float32 for g in tg.grad(y.sum(), xs, allow_unused=True))
    if not tg.backend.cuda_is_available() or tg.backend.gpu_available():
        return   # a real GPU: the index tensors these fns close over live on the cpu
    results = []
    for device in ("cpu", "cuda"):
        xs = tuple(tg.tensor(x.numpy(), dtype="float64", device=device, requires_grad=True) for x in inputs)
        y = fn(*xs)
        assert y.device == device
        results.append([y.numpy()] + [g.numpy() for g in tg.grad(y.sum(), xs, allow_unused=True) if g is not None])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def test_a_failed_inplace_op_leaves_the_tensor_and_its_graph_alone():
    x = leaf([1.0, 2.0])
    y = x * 2
    with pytest.raises((RuntimeError, ValueError)):
        y.add_(tg.ones(3, 2, dtype="float64"))          # would broadcast self: refused
    assert y._version == 0 and y.tolist() == [2.0, 4.0]
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_size_dim_numel_tolist():
    x = tg.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.dim() == 3 and x.numel() == 24 and tg.tensor(2.5).tolist() == 2.5
    assert tg.tensor([[1, 2]]).tolist() == [[1, 2]]
    with pytest.raises(IndexError):
        x.size(3)


def test_normal_multinomial_and_the_rng_state_functions():
    tg.manual_seed(5)
    assert tg.initial_seed() == 5
    state = tg.get_rng_state()
    a = tg.normal(tg.zeros(2000), tg.full((2000,), 2.0))
    tg.set_rng_state(state)
    assert tg.normal(tg.zeros(2000), 2.0).tolist() == a.tolist()   # the same stream again
    assert abs(a.numpy().std() - 2.0) < 0.15 and abs(a.numpy().mean()) < 0.15
    b = tg.normal(3.0, 0.5, (1000,), dtype="float64")
    assert b.dtype == np.float64 and abs(b.numpy().mean() - 3.0) < 0.1
    draws = tg.multinomial(tg.tensor([[0.0, 1.0, 3.0], [1.0, 0.0, 0.0]]), 400, replacement=True)
    assert draws.shape == (2, 400) and draws.dtype == np.int64
    assert set(draws[1].tolist()) == {0} and 0 not in draws[0].tolist()
    assert abs((draws[0] == 2).float().mean().item() - 0.75) < 0.08
    assert sorted(tg.multinomial(tg.ones(5), 5).tolist()) == [0, 1, 2, 3, 4]   # no repeats
    with pytest.raises(RuntimeError, match="without replacement"):
        tg.multinomial(tg.ones(2), 3)
    s = tg.seed()
    assert tg.initial_seed() == s


def test_a_write_whose_value_read_an_overlapping_view_uses_the_values_it_read():
    w = leaf([2.0, 3.0])
    y = tg.zeros(4, dtype="float64")
    y[0:2] = w * 1.0
    y[1:3] = y[0:2] * w            # reads y[0:2] (then overwritten in part) to write y[1:3]
    assert y.tolist() == [2.0, 4.0, 9.0, 0.0]
    y.sum().backward()             # sum = w0 + w0^2 + w1^2 (torch refuses this backward)
    np.testing.assert_allclose(w.grad.numpy(), [5.0, 6.0])


def test_masked_fill_keeps_the_input_dtype_as_torch():
    ints = tg.tensor([1, 2, 3])
    assert ints.masked_fill(ints > 1, 0).dtype == np.int64
    x = tg.tensor([1.0, 2.0])
    assert x.masked_fill(tg.tensor([True, False]), tg.tensor(5.0, dtype="float64")).dtype == np.float32


# ---- contiguous ---------------------------------------------------------------------------------------

@st.composite
def _strided_views(draw):
    """(array, view of it through a permutation, stepped slices and an expand: (m, x) -> view)."""
    shape = draw(tgt.shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    perm = draw(st.permutations(range(len(shape))))
    steps = [draw(st.sampled_from([1, 1, 2, -1])) for _ in shape]
    expand = draw(st.booleans()) and shape[0] == 1

    def view(m, x):
        v = x[tuple(slice(None, None, s) if s > 0 else slice(None) for s in steps)]
        if any(s < 0 for s in steps):       # torch has no negative steps: flip those dims
            v = m.flip(v, [d for d, s in enumerate(steps) if s < 0])
        if expand:
            v = v.expand(3, *v.shape[1:])
        return v.permute(*perm)
    return np.arange(np.prod(shape), dtype=np.float64).reshape(shape), view


@settings(max_examples=40)
@given(case=_strided_views())
def test_contiguous_copies_exactly_when_torch_says_not_contiguous(case):
    """torch's is_contiguous on the same view; contiguous() then is x itself or a C-ordered
    copy that writes never reach x through (the old contiguous returned its input)."""
    torch = pytest.importorskip("torch")
    array, view = case
    x, xt = view(tg, tg.tensor(array)), view(torch, torch.tensor(array))
    assert x.is_contiguous() == xt.is_contiguous()
    y = x.contiguous()
    assert y.is_contiguous() and y.array.flags.c_contiguous
    np.testing.assert_array_equal(y.numpy(), xt.contiguous().numpy())
    if x.is_contiguous():
        assert y is x
    else:
        before = x.numpy().copy()
        y.mul_(10)
        np.testing.assert_array_equal(x.numpy(), before)


def test_contiguous_examples_from_the_issue_and_its_gradient():
    x = tg.tensor(np.arange(6.0).reshape(2, 3))
    x.t().contiguous().mul_(10)
    x[:, ::2].contiguous()[0, 0] = 99
    np.testing.assert_array_equal(x.numpy(), np.arange(6.0).reshape(2, 3))
    w = tg.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda w: w.t().contiguous() * 2.0, [w])
    assert gradgradcheck(lambda w: (w[:, ::2].contiguous() ** 2), [w])


@settings(max_examples=60)
@given(n=st.integers(1, 3), picks=st.lists(st.integers(-4, 3), min_size=1, max_size=3),
       name=st.sampled_from(["index_select", "index_add", "index_fill", "gather", "scatter"]))
def test_negative_and_out_of_range_indices_raise_where_torch_raises(n, picks, name):
    """torch refuses -1 in index_select, index_add, gather and scatter (it used to pick the last
    slice here) and takes it in index_fill; every other result equals torch's."""
    torch = pytest.importorskip("torch")
    calls = {
        "index_select": lambda m, x, i: x.index_select(1, i),
        "index_add": lambda m, x, i: x.index_add(1, i, m.ones(2, len(picks), dtype=x.dtype)),
        "index_fill": lambda m, x, i: x.index_fill(1, i, -7.0),
        "gather": lambda m, x, i: x.gather(1, i.reshape(1, -1)),
        "scatter": lambda m, x, i: x.scatter(1, i.reshape(1, -1)[:, :1], -7.0),
    }
    array = np.arange(2.0 * n).reshape(2, n)

    def run(m):
        try:
            return calls[name](m, m.tensor(array), m.tensor(picks)).numpy()
        except (IndexError, RuntimeError) as e:
            return e

    ours, theirs = run(tg), run(torch)
    assert isinstance(ours, Exception) == isinstance(theirs, Exception), (ours, theirs)
    if isinstance(ours, Exception):
        assert f"{name}: index " in str(ours) and "out of range" in str(ours)
    else:
        np.testing.assert_array_equal(ours, theirs)
