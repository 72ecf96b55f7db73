"""PyTorch as an independent oracle (skipped when torch is not installed): values and
gradients of a composite expression, of every loss with every reduction, and of a few ops
whose conventions are easy to get wrong (ties aside)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import ops
from tinygen import testing as tgt
from tinygen.ops import elementwise
from tinygen.ops.elementwise import ELEMENTWISE

torch = pytest.importorskip("torch")
TF = torch.nn.functional

REDUCTIONS = ("mean", "sum", "none")


def pair(array, requires_grad=True):
    """The same float64 values as a tinygen leaf and a torch leaf."""
    array = np.asarray(array, dtype=np.float64)
    return (tg.tensor(array, dtype="float64", requires_grad=requires_grad),
            torch.tensor(array, dtype=torch.float64, requires_grad=requires_grad))


def assert_close(ours, theirs, rtol=1e-10, atol=1e-12):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=rtol, atol=atol)


def check(fn_tg, fn_torch, arrays, differentiable=None, rtol=1e-10, second_order=True):
    """Same value, same gradient of sum(y * v) for a random v (within rtol), and the same
    second-order term (gradient of the sum of squared gradients, within 10 rtol)."""
    differentiable = differentiable or [True] * len(arrays)
    ours = [pair(a, d)[0] for a, d in zip(arrays, differentiable)]
    theirs = [pair(a, d)[1] for a, d in zip(arrays, differentiable)]
    y, yt = fn_tg(*ours), fn_torch(*theirs)
    assert_close(y, yt)
    v = np.random.default_rng(0).standard_normal(y.shape)
    xs = [x for x, d in zip(ours, differentiable) if d]
    xts = [x for x, d in zip(theirs, differentiable) if d]
    gs = tg.grad((y * tg.tensor(v, dtype="float64")).sum(), xs, create_graph=True)
    gts = torch.autograd.grad((yt * torch.tensor(v)).sum(), xts, create_graph=True)
    for g, gt in zip(gs, gts):
        assert_close(g, gt, rtol=rtol)
    if not second_order:
        return
    second = sum(((g * g).sum() for g in gs), tg.tensor(0.0, dtype="float64"))
    second_t = sum((gt * gt).sum() for gt in gts)
    if second.requires_grad and second_t.requires_grad:
        for g, gt in zip(tg.grad(second, xs, allow_unused=True),
                         torch.autograd.grad(second_t, xts, allow_unused=True)):
            if g is None or gt is None:
                assert (g is None or not g.numpy().any()) and (gt is None or not gt.numpy().any())
            else:
                assert_close(g, gt, rtol=10 * rtol, atol=1e-10)


def test_composite_expression_matches_torch():
    rs = np.random.default_rng(1)
    x, w, b = rs.standard_normal((4, 3)), rs.standard_normal((5, 3)), rs.standard_normal(5)

    def ours(x, w, b):
        h = ops.tanh(ops.linear(x, w, b))                         # (4, 5)
        z = ops.log_softmax(h * 2, 1) + ops.softplus(h) - ops.logsigmoid(-h)
        z = ops.maximum(z, ops.sigmoid(h) - 3) ** 2
        return ops.logsumexp(z, 0) + ops.var(z, 0) + (z[:, 1:3] @ z[:2, 1:3].T).mean() \
            + ops.elu(h, 0.5).sum(0) + ops.leaky_relu(h, 0.2).amax(0)

    def theirs(x, w, b):
        h = torch.tanh(TF.linear(x, w, b))
        z = TF.log_softmax(h * 2, 1) + TF.softplus(h) - TF.logsigmoid(-h)
        z = torch.maximum(z, torch.sigmoid(h) - 3) ** 2
        return torch.logsumexp(z, 0) + torch.var(z, 0) + (z[:, 1:3] @ z[:2, 1:3].T).mean() \
            + TF.elu(h, 0.5).sum(0) + TF.leaky_relu(h, 0.2).amax(0)

    check(ours, theirs, [x, w, b])


def test_indexing_padding_and_products_match_torch():
    rs = np.random.default_rng(2)
    a = rs.standard_normal((4, 3, 2))
    idx = [3, 0, 0, 2]
    check(lambda x: x[idx, 1:] * x[-1, 1:], lambda x: x[idx, 1:] * x[-1, 1:], [a])
    check(lambda x: ops.pad(x, (1, -1, 2, 0)) ** 2, lambda x: TF.pad(x, (1, -1, 2, 0)) ** 2, [a])
    check(lambda x: ops.cat([x, x * 2], 1).std(dim=(0, 2)),
          lambda x: torch.cat([x, x * 2], 1).std(dim=(0, 2)), [a])
    check(lambda x: ops.stack([x, x.exp()], -1).softmax(-1),
          lambda x: torch.stack([x, x.exp()], -1).softmax(-1), [a])
    v, m = rs.standard_normal(3), rs.standard_normal((2, 3, 3))
    check(lambda v, m: (v @ m) @ v, lambda v, m: (v @ m) @ v, [v, m])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=8)
@given(shape=tgt.shapes(1, 3, 1, 3), data=st.data())
def test_regression_losses_match_torch(reduction, shape, data):
    x = data.draw(tgt.arrays(shape))
    t = data.draw(tgt.arrays(shape))
    check(lambda x, t: ops.mse_loss(x, t, reduction=reduction),
          lambda x, t: TF.mse_loss(x, t, reduction=reduction), [x, t])
    var_shape = data.draw(st.sampled_from([shape, shape[:-1] + (1,), shape[:-1]]))
    var = data.draw(tgt.arrays(var_shape, "positive"))
    full = data.draw(st.booleans())
    check(lambda x, t, v: ops.gaussian_nll_loss(x, t, v, full, reduction=reduction),
          lambda x, t, v: TF.gaussian_nll_loss(x, t, v, full, reduction=reduction), [x, t, var])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=8)
@given(shape=tgt.shapes(1, 3, 1, 3), data=st.data())
def test_binary_losses_match_torch(reduction, shape, data):
    p, t = data.draw(tgt.arrays(shape, "unit")), data.draw(tgt.arrays(shape, "unit"))
    logits = data.draw(tgt.arrays(shape))
    weight = data.draw(tgt.arrays(shape[-1:], "positive"))
    w_tg, w_t = pair(weight, False)
    check(lambda p, t: ops.binary_cross_entropy(p, t, w_tg, reduction=reduction),
          lambda p, t: TF.binary_cross_entropy(p, t, w_t, reduction=reduction), [p, t])
    check(lambda l, t: ops.binary_cross_entropy_with_logits(l, t, w_tg, reduction=reduction,
                                                            pos_weight=w_tg * 2),
          lambda l, t: TF.binary_cross_entropy_with_logits(l, t, w_t, reduction=reduction,
                                                           pos_weight=w_t * 2), [logits, t])
    check(lambda l, t: ops.binary_cross_entropy_with_logits(l, t, reduction=reduction),
          lambda l, t: TF.binary_cross_entropy_with_logits(l, t, reduction=reduction), [logits, t])


def test_binary_cross_entropy_at_0_and_1_matches_torch():
    p, t = np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([1.0, 0.0, 0.0, 1.0, 0.3])
    check(lambda p, t: ops.binary_cross_entropy(p, t, reduction="none"),
          lambda p, t: TF.binary_cross_entropy(p, t, reduction="none"), [p, t], [True, False],
          rtol=1e-8,  # torch's clamp 1e-12 is a float32 constant (9.9999999600e-13)
          second_order=False)  # at p = 0, 1 both regularize an infinite d2/dp2, differently
    l = np.array([1e4, -1e4, 30.0, -30.0])
    check(lambda l, t: ops.binary_cross_entropy_with_logits(l, t),
          lambda l, t: TF.binary_cross_entropy_with_logits(l, t), [l, t[:4]])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=8)
@given(data=st.data())
def test_classification_losses_match_torch(reduction, data):
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(2, 4))
    extra = data.draw(tgt.shapes(0, 2, 1, 2))
    x = data.draw(tgt.arrays((n, c) + extra))
    size = n * int(np.prod(extra))
    target = np.asarray(data.draw(st.lists(st.integers(0, c - 1), min_size=size, max_size=size)))
    target = target.reshape((n,) + extra)
    ignore = data.draw(st.sampled_from([-100, 0]))
    if (target == ignore).all():
        ignore = -100
    weight = data.draw(st.one_of(st.none(), tgt.arrays((c,), "positive")))
    w_tg = None if weight is None else tg.tensor(weight, dtype="float64")
    w_t = None if weight is None else torch.tensor(weight)
    t_tg, t_t = tg.tensor(target), torch.tensor(target)
    check(lambda x: ops.cross_entropy(x, t_tg, w_tg, ignore_index=ignore, reduction=reduction),
          lambda x: TF.cross_entropy(x, t_t, w_t, ignore_index=ignore, reduction=reduction), [x])
    check(lambda x: ops.nll_loss(ops.log_softmax(x, 1), t_tg, w_tg, ignore_index=ignore,
                                 reduction=reduction),
          lambda x: TF.nll_loss(TF.log_softmax(x, 1), t_t, w_t, ignore_index=ignore,
                                reduction=reduction), [x])


@settings(max_examples=30)
@given(data=st.data())
def test_ignored_targets_give_torchs_value_and_no_nan_gradient(data):
    """Any set of targets ignored, every one included (a padding-only batch): the value as
    torch's (NaN when none counts) and the gradient too: 0 at ignored targets, never NaN."""
    n, c = data.draw(st.integers(1, 4)), data.draw(st.integers(2, 4))
    x = data.draw(tgt.arrays((n, c)))
    target = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    ignored = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    target[ignored] = -100
    weight = data.draw(st.one_of(st.none(), tgt.arrays((c,), "positive")))
    smoothing = data.draw(st.sampled_from([0.0, 0.1]))
    reduction = data.draw(st.sampled_from(REDUCTIONS))
    w_tg = None if weight is None else tg.tensor(weight, dtype="float64")
    w_t = None if weight is None else torch.tensor(weight)
    for ours, theirs in [
            (lambda x: ops.cross_entropy(x, tg.tensor(target), w_tg, reduction=reduction,
                                         label_smoothing=smoothing),
             lambda x: TF.cross_entropy(x, torch.tensor(target), w_t, reduction=reduction,
                                        label_smoothing=smoothing)),
            (lambda x: ops.nll_loss(ops.log_softmax(x, 1), tg.tensor(target), w_tg,
                                    reduction=reduction),
             lambda x: TF.nll_loss(TF.log_softmax(x, 1), torch.tensor(target), w_t,
                                   reduction=reduction))]:
        x_tg, x_t = pair(x)
        y, yt = ours(x_tg), theirs(x_t)
        assert_close(y, yt)                      # NaN where torch's is NaN
        y.sum().backward()
        yt.sum().backward()
        assert not np.isnan(x_tg.grad.numpy()).any()
        assert_close(x_tg.grad, x_t.grad)
        np.testing.assert_array_equal(x_tg.grad.numpy()[ignored], 0.0)


@st.composite
def _ties_and_nans(draw):
    """A small float64 array whose values repeat and hold NaN at drawn places, and a dim."""
    shape = draw(tgt.shapes(1, 3, 1, 4))
    n = int(np.prod(shape))
    values = draw(st.lists(st.sampled_from([-1.0, 0.0, 2.0, 2.0, np.nan]), min_size=n, max_size=n))
    return np.array(values).reshape(shape), draw(st.integers(-len(shape), len(shape) - 1))


@settings(max_examples=60)
@given(case=_ties_and_nans(), keepdim=st.booleans())
def test_max_min_median_over_a_dim_with_ties_and_nan_match_torch(case, keepdim):
    """Values, indices and gradients as torch's: the whole gradient to the returned index (the
    first extreme, the first NaN), the median NaN where a NaN is among its elements."""
    array, dim = case
    for name in ("max", "min", "median"):
        x, xt = pair(array)
        (y, i), (yt, it) = getattr(x, name)(dim, keepdim), getattr(xt, name)(dim, keepdim)
        assert_close(y, yt)
        np.testing.assert_array_equal(i.numpy(), it.numpy(), err_msg=name)
        v = np.random.default_rng(0).standard_normal(tuple(yt.shape))
        (y * tg.tensor(v)).sum().backward()
        (yt * torch.tensor(v)).sum().backward()
        assert_close(x.grad, xt.grad)


@settings(max_examples=40)
@given(case=_ties_and_nans())
def test_median_of_everything_with_ties_and_nan_matches_torch(case):
    array, _ = case
    x, xt = pair(array)
    y, yt = x.median(), xt.median()
    assert_close(y, yt)                     # NaN whenever any element is NaN
    y.backward()
    yt.backward()
    assert_close(x.grad, xt.grad)           # shared by the elements equal to it


@settings(max_examples=30)
@given(a=st.lists(st.sampled_from([0.0, -0.0, 1.0, -2.0]), min_size=4, max_size=4),
       b=st.lists(st.sampled_from([0.0, -0.0, 1.0, -2.0]), min_size=4, max_size=4))
def test_atan2_gradient_at_the_origin_is_zero_as_torch(a, b):
    (a_tg, a_t), (b_tg, b_t) = pair(a), pair(b)
    ops.atan2(a_tg, b_tg).sum().backward()
    torch.atan2(a_t, b_t).sum().backward()
    assert_close(a_tg.grad, a_t.grad)
    assert_close(b_tg.grad, b_t.grad)
    assert np.isfinite(a_tg.grad.numpy()).all() and np.isfinite(b_tg.grad.numpy()).all()


@pytest.mark.filterwarnings("ignore:size_average and reduce args will be deprecated")
def test_legacy_size_average_and_reduce_flags_and_positional_order_match_torch():
    """Older scripts' F.nll_loss(output, target, size_average=False) (a sum) and the like;
    arguments given by position land where torch's do (weight, size_average, ignore_index)."""
    rs = np.random.default_rng(3)
    x, p = rs.standard_normal((5, 4)), rs.uniform(0.1, 0.9, (5, 4))
    target = np.array([0, 3, 1, 1, 2])
    t_tg, t_t = tg.tensor(target), torch.tensor(target)
    w_tg, w_t = pair([1.0, 2.0, 0.5, 1.5], requires_grad=False)
    for flags in ({"size_average": False}, {"reduce": False}, {"size_average": True},
                  {"size_average": False, "reduce": True}):
        check(lambda x: ops.nll_loss(ops.log_softmax(x, 1), t_tg, **flags),
              lambda x: TF.nll_loss(TF.log_softmax(x, 1), t_t, **flags), [x])
        check(lambda x: ops.cross_entropy(x, t_tg, w_tg, **flags),
              lambda x: TF.cross_entropy(x, t_t, w_t, **flags), [x])
        check(lambda a, b: ops.mse_loss(a, b, **flags), lambda a, b: TF.mse_loss(a, b, **flags),
              [x, p])
        check(lambda a, b: ops.binary_cross_entropy(a, b, **flags),
              lambda a, b: TF.binary_cross_entropy(a, b, **flags), [p, p[::-1].copy()])
        check(lambda a, b: ops.binary_cross_entropy_with_logits(a, b, **flags),
              lambda a, b: TF.binary_cross_entropy_with_logits(a, b, **flags), [x, p])
    check(lambda x: ops.cross_entropy(x, t_tg, w_tg, None, 1, None, "sum"),
          lambda x: TF.cross_entropy(x, t_t, w_t, None, 1, None, "sum"), [x])
    check(lambda x: ops.nll_loss(x, t_tg, None, False, 3), lambda x: TF.nll_loss(x, t_t, None, False, 3),
          [x])


def test_gradients_at_kinks_follow_torch():
    """Exactly at a kink the derivative is a convention: take torch's."""
    v = np.array([0.0, 0.0, 1.0, -1.0])
    cases = [
        (lambda x: ops.relu(x), lambda x: torch.relu(x)),
        (lambda x: ops.abs(x), lambda x: torch.abs(x)),
        (lambda x: ops.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
        (lambda x: ops.elu(x), lambda x: TF.elu(x)),
        (lambda x: ops.elu(x, 0.5), lambda x: TF.elu(x, 0.5)),
        (lambda x: ops.clamp(x, -1.0, 0.0), lambda x: torch.clamp(x, -1.0, 0.0)),
        (lambda x: ops.maximum(x, x[[1, 0, 3, 2]]),
         lambda x: torch.maximum(x, x[[1, 0, 3, 2]])),
        (lambda x: ops.amax(x), lambda x: torch.amax(x)),
        (lambda x: ops.max(x.reshape(2, 2)), lambda x: torch.max(x.reshape(2, 2))),
        (lambda x: ops.softplus(x + 20.0), lambda x: TF.softplus(x + 20.0)),
        (lambda x: ops.sqrt(x * x + 1.0), lambda x: torch.sqrt(x * x + 1.0)),
    ]
    for values in (v, np.array([1.0, 1.0, 0.0, -1.0])):  # the second has tied maxima
        for ours, theirs in cases:
            x, xt = pair(values)
            (g,) = tg.grad(ours(x).sum(), x)
            (gt,) = torch.autograd.grad(theirs(xt).sum(), xt)
            assert_close(g, gt)


BOUNDS = (None, -1.0, -0.0, 0.0, 1.0, float("nan"), float("inf"), -float("inf"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("lo, hi", [(lo, hi) for lo in BOUNDS for hi in BOUNDS
                                    if lo is not None or hi is not None])
def test_clamp_values_at_ties_signed_zeros_and_nan_match_torch(dtype, lo, hi):
    """Bit for bit, sign of zero included: torch keeps x where it ties a bound (clamp(-0.0,
    min=0.0) is -0.0) with one bound or two; a nan bound gives nan, and min > max gives max."""
    assert_bits_as_torch(lambda x: ops.clamp(x, lo, hi), lambda x: torch.clamp(x, lo, hi), dtype)


def assert_bits_as_torch(ours, theirs, dtype, zero_signs=True):
    """ours and theirs of the special values, bit for bit (nan too, and the sign of a zero
    unless zero_signs=False)."""
    x = [-0.0, 0.0, -1.0, 2.0, float("nan"), float("inf"), -float("inf"), 0.5, -0.5, 1e-30]
    y = ours(tg.tensor(x, dtype=dtype)).numpy()
    t = theirs(torch.tensor(x, dtype=getattr(torch, dtype))).numpy()
    assert y.dtype == t.dtype
    np.testing.assert_array_equal(y, t)
    if zero_signs:
        np.testing.assert_array_equal(np.signbit(y), np.signbit(t))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, ours, theirs", [
    ("relu", ops.relu, torch.relu),
    ("leaky_relu", lambda x: ops.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    ("relu6", tg.nn.functional.relu6, TF.relu6),
    ("hardtanh", lambda x: tg.nn.functional.hardtanh(x, -0.5, 0.0),
     lambda x: TF.hardtanh(x, -0.5, 0.0)),
    ("softshrink", lambda x: tg.nn.functional.softshrink(x, 0.5), lambda x: TF.softshrink(x, 0.5)),
    ("hardshrink", lambda x: tg.nn.functional.hardshrink(x, 0.5), lambda x: TF.hardshrink(x, 0.5)),
    ("abs", ops.abs, torch.abs),
    ("sign", ops.sign, torch.sign),
    ("abs_gradient", lambda x: tg.grad(ops.abs(x.requires_grad_()).sum(), x)[0],
     lambda x: torch.autograd.grad(torch.abs(x.requires_grad_()).sum(), x)[0]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_piecewise_activations_at_zeros_nan_and_inf_match_torch_bit_for_bit(dtype, name, ours,
                                                                            theirs):
    """The piecewise-linear ops on -0.0, +0.0, nan, inf and their thresholds: relu keeps -0.0
    (torch's relu is clamp(x, min=0)), the shrinks keep nan, sign is 0 at nan (and so is
    abs's gradient), as torch's sign is (x > 0) - (x < 0). (torch's softshrink of -0.0 is
    -0.0 in float32 and +0.0 in float64: its sign is not compared.)"""
    assert_bits_as_torch(ours, theirs, dtype, zero_signs=name != "softshrink")


# ---- the elementwise table: every row against torch's function of its name ------------------

@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@settings(max_examples=5)
@given(data=st.data())
def test_every_elementwise_row_matches_torch(name, data):
    """Each row of ops/elementwise.py's table, a new one too, as its function there against
    torch's of the same name (torch.nn.functional's for softplus and logsigmoid), on inputs
    of the row's domains: values, gradients and second-order terms."""
    op = ELEMENTWISE[name]
    theirs = getattr(torch, name, None) or getattr(TF, name)
    if len(op.domains) == 1:
        shapes = [data.draw(tgt.shapes(0, 2, 1, 3))]
    else:
        shapes = data.draw(tgt.broadcastable_shapes(max_dims=2))
    arrays = [data.draw(tgt.arrays(s, d)) for s, d in zip(shapes, op.domains)]
    check(getattr(elementwise, name), theirs, arrays, rtol=1e-8)   # torch's trigamma: to 5e-10


# ---- result dtypes: torch's promotion -------------------------------------------------------------

DTYPES = ("bool", "uint8", "int32", "int64", "float32", "float64")
BINARY = {"add": lambda m, a, b: a + b, "mul": lambda m, a, b: a * b, "div": lambda m, a, b: a / b,
          "maximum": lambda m, a, b: m.maximum(a, b), "atan2": lambda m, a, b: m.atan2(a, b),
          "fmod": lambda m, a, b: m.fmod(a, b), "floor_divide": lambda m, a, b: a // b,
          "xlogy": lambda m, a, b: m.xlogy(a, b), "pow": lambda m, a, b: a ** b,
          "where": lambda m, a, b: m.where(a == a, a, b), "cat": lambda m, a, b: m.cat([a, b]),
          "stack": lambda m, a, b: m.stack([a, b]),
          "clamp": lambda m, a, b: m.clamp(a, b, b) if isinstance(b, (int, float)) else m.clamp(a, 0.5)}


@pytest.mark.parametrize("a", DTYPES)
@pytest.mark.parametrize("b", DTYPES + tuple(d + " 0-d" for d in DTYPES) + (1.5, 2, True))
def test_binary_result_dtypes_match_torch(a, b):
    """Every binary op of two tensors (with dims, 0-d) or a tensor and a number gives torch's
    result dtype, where torch has the op for those dtypes. (Not a bool tensor to a number's
    power: torch makes bool ** 2 int64 and bool ** True bool, tinygen NumPy's int8.)"""
    def operand(m, spec):
        if not isinstance(spec, str):
            return spec
        dtype, _, zero_d = spec.partition(" ")
        values = [True, False] if dtype == "bool" else [3, 2]
        return m.tensor(values[0] if zero_d else values, dtype=getattr(m, dtype))
    checked = 0
    for name, fn in BINARY.items():
        if name == "pow" and a == "bool" and not isinstance(b, str):
            continue
        try:
            theirs = fn(torch, operand(torch, a), operand(torch, b)).dtype
        except (RuntimeError, TypeError):
            continue                                  # torch has no such op for these dtypes
        ours = fn(tg, operand(tg, a), operand(tg, b)).dtype
        assert str(ours) == str(theirs).replace("torch.", ""), (name, a, b)
        checked += 1
    assert checked


@pytest.mark.parametrize("dtype", ["bool", "int32", "int64"])
def test_reductions_of_integers_have_torchs_values_and_dtypes(dtype):
    """sum, nansum, prod and cumsum of integers (or bools) are int64; logsumexp and the float
    functions of them are in the default float dtype."""
    values = [True, False, True] if dtype == "bool" else [3, 0, 2]
    x, xt = tg.tensor(values, dtype=getattr(tg, dtype)), torch.tensor(values, dtype=getattr(torch, dtype))
    for name, fn in [("sum", lambda m, t: m.sum(t)), ("nansum", lambda m, t: m.nansum(t)),
                     ("prod", lambda m, t: m.prod(t)), ("cumsum", lambda m, t: m.cumsum(t, 0)),
                     ("logsumexp", lambda m, t: m.logsumexp(t, 0)), ("amax", lambda m, t: m.amax(t)),
                     ("exp", lambda m, t: m.exp(t)), ("sigmoid", lambda m, t: m.sigmoid(t))]:
        ours, theirs = fn(tg, x), fn(torch, xt)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), name
        np.testing.assert_allclose(ours.numpy().astype(float), theirs.numpy().astype(float),
                                   rtol=1e-6, err_msg=name)
