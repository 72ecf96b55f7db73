"""Numerics fuzz suite (issue 10): values and gradients against 60-digit arithmetic (mpmath).

Each op runs in float32 and float64 on hypothesis-drawn inputs mixed with extremes (+-1e30,
+-80, +-20, +-17, subnormals, 0, +-inf where the op has a limit there), and its value and
gradient are compared with the exact result of the same float inputs. The error is counted
in ulps:

    ulps = |got - exact| / ulp(scale)      ulp(v): the float spacing at |v| (at 0: the smallest
                                           subnormal), in the op's dtype

with `scale` the exact result itself unless BUDGET says otherwise (for a result that is a
cancellation of larger terms, such as sigmoid(l) - t, the ulp of the larger term: the error
any float evaluation of the inputs' formula makes). An exact value beyond the float range
must come out as inf of the right sign; an exact limit (sigmoid(-inf) = 0) exactly.

Budgets (max ulps, float32 / float64) and scales: the BUDGET table below. Where torch is
installed it is also the oracle (in float64) at the same extremes, and for the edge shapes.
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

mp = pytest.importorskip("mpmath")

import tinygen as tg  # noqa: E402
import tinygen.nn as nn  # noqa: E402
import tinygen.nn.functional as F  # noqa: E402
from tinygen.ops.elementwise import Elementwise  # noqa: E402

try:
    import torch
except ImportError:   # the mpmath tests still run
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch (the oracle) is not installed")

DPS = 60
EXAMPLES = settings(max_examples=30, deadline=None)

#   op                       f32  f64   scale of the ulp
BUDGET = {
    "sigmoid":               (4, 4),    # exact
    "sigmoid'":              (6, 6),    # exact
    "logsigmoid":            (4, 4),    # exact
    "logsigmoid'":           (6, 6),    # exact
    "softplus":              (4, 4),    # exact
    "softplus'":             (6, 6),    # exact
    "bce_with_logits":       (6, 6),    # exact (a sum of terms >= 0 for t in [0, 1])
    "bce_with_logits'":      (6, 6),    # max(sigmoid(l), t): sigmoid(l) - t cancels
    "binary_cross_entropy":  (4, 4),    # exact (logs clamped at -100, as torch)
    "binary_cross_entropy'": (6, 6),    # exact, of torch's (p - t) / max(p (1 - p), 1e-12)
    "logsumexp":             (4, 4),    # max(|exact|, max |x|): x - max x is rounded
    "logsumexp'":            (8, 8),    # max(|exact|, max p) * (1 + |x_i - max x|): the rounded
                                        # shift x_i - max x enters exp (a condition number)
    "log_softmax":           (4, 4),    # max(|exact|, |x_i - max x|), per unit of the row's
                                        # condition 1 + max |x_j - max x| (as logsumexp')
    "log_softmax'":          (8, 8),    # max(|exact|, n p_i) for the loss sum(log_softmax),
                                        # per unit of the same condition
    "pow":                   (4, 4),    # exact
    "pow'":                  (8, 8),    # exact (d/da = b a^(b-1); d/db = a^b log a), where
                                        # a^b is not subnormal
    "div":                   (1, 1),    # exact
    "div'":                  (3, 3),    # exact, where a / b is not subnormal
    "var":                   (8, 8),    # exact
    "std":                   (8, 8),    # exact
    "var'":                  (8, 8),    # max over the row of |exact gradient|
    "std'":                  (8, 8),    # max over the row of |exact gradient|
}

DTYPES = [np.float32, np.float64]


# ---- measuring ulps ----------------------------------------------------------------------

def ulps(got, exact, dtype, scale=None):
    """Error of the float `got` against the mpf `exact`, in ulps of `scale` (default |exact|)."""
    got = float(got)
    info = np.finfo(dtype)
    big = mp.mpf(float(info.max))
    if mp.isinf(exact) or abs(exact) > big * (1 + mp.mpf(2) ** -30):   # a limit, or overflow
        return 0.0 if got == float(mp.sign(exact)) * math.inf else math.inf
    # from max + half its ulp on, an exact value rounds to inf: log_softmax([2^1023, -2^1023])[1]
    # lies just below -2^1024, whose correctly rounded float64 is -inf
    rounds_to_inf = mp.mpf(2) ** info.maxexp - mp.mpf(2) ** (info.maxexp - info.nmant - 2)
    if got == float(mp.sign(exact)) * math.inf and abs(exact) >= rounds_to_inf:
        return 0.0
    if not math.isfinite(got):
        return math.inf
    s = abs(exact) if scale is None else abs(mp.mpf(scale))
    ulp = np.spacing(dtype(min(float(s), float(np.nextafter(dtype(big), dtype(0))))))   # max's own is inf
    return float(abs(mp.mpf(got) - exact) / mp.mpf(float(ulp)))


def worst(gots, exacts, dtype, scales=None):
    scales = scales if scales is not None else [None] * len(exacts)
    return max(ulps(g, e, dtype, s) for g, e, s in zip(gots, exacts, scales))


def value_and_grad(fn, *arrays):
    """fn on Tensors of `arrays`, then backward of y.sum(): (y, grads) as numpy arrays."""
    ts = [tg.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    with np.errstate(over="ignore"):      # the sum of outputs near the float's max may be inf;
        total = y.sum()                   # its gradient, ones, is what the test needs
    total.backward()
    return y.array, [t.grad.array for t in ts]


def check(name, dtype, errors):
    budget = BUDGET[name][DTYPES.index(dtype)]
    assert errors <= budget, f"{name} ({np.dtype(dtype).name}): {errors:.3g} ulps > budget {budget}"


# ---- inputs ------------------------------------------------------------------------------

def extremes(dtype, infinite=False):
    tiny = [1e-40, 1.4e-45] if dtype == np.float32 else [1e-310, 5e-324]
    xs = [0.0, 1e30, 80.0, 20.0, 17.0, 6.0, 1.0, 1e-3, 1e-30] + tiny
    xs = xs + [-x for x in xs] + ([math.inf, -math.inf] if infinite else [])
    return [float(dtype(x)) for x in xs]


def reals(dtype, infinite=False, lo=None, hi=None):
    width = 32 if dtype == np.float32 else 64
    lo, hi = (None if v is None else float(dtype(v)) for v in (lo, hi))
    pool = [x for x in extremes(dtype, infinite) if (lo is None or x >= lo) and (hi is None or x <= hi)]
    return st.one_of(st.sampled_from(pool),
                     st.floats(-100 if lo is None else lo, 100 if hi is None else hi, width=width),
                     st.floats(lo, hi, width=width, allow_nan=False, allow_infinity=infinite))


def vectors(dtype, infinite=False, min_size=1, max_size=8, **bounds):
    return st.lists(reals(dtype, infinite, **bounds), min_size=min_size, max_size=max_size).map(
        lambda v: np.array(v, dtype=dtype))


def mpf(x):
    return mp.mpf(float(x))


def s_exact(x):
    return 1 / (1 + mp.exp(-x))


# ---- sigmoid, logsigmoid, softplus: one table of exact values and derivatives --------------

def ds_exact(x):
    return s_exact(x) * s_exact(-x)


UNARY_EXACT = {
    # name          tinygen op                      exact f(x)                       exact f'(x)
    "sigmoid":    (tg.sigmoid,                     s_exact,                         ds_exact),
    "logsigmoid": (F.logsigmoid,                   lambda x: -mp.log1p(mp.exp(-x)), lambda x: s_exact(-x)),
    "softplus":   (lambda x: Elementwise("softplus")(x), lambda x: mp.log1p(mp.exp(x)), s_exact),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(UNARY_EXACT))
@EXAMPLES
@given(data=st.data())
def test_unary_value_and_gradient_within_budget(name, dtype, data):
    x = data.draw(vectors(dtype, infinite=True))
    op, f, df = UNARY_EXACT[name]
    y, (gx,) = value_and_grad(op, x)
    assert y.dtype == dtype and gx.dtype == dtype
    with mp.workdps(DPS):
        check(name, dtype, worst(y, [f(mpf(v)) for v in x], dtype))
        check(name + "'", dtype, worst(gx, [df(mpf(v)) for v in x], dtype))


def test_sigmoid_keeps_relative_accuracy_where_tanh_form_was_zero():
    # the issue's cases: sigmoid(-20) was 0 in float32 (log -> -inf), logsigmoid'(17) 44% off
    x = tg.tensor(np.array([-20.0, -80.0, -100.0], np.float32))
    assert np.all(np.isfinite(np.log(tg.sigmoid(x).array)))
    _, (g,) = value_and_grad(F.logsigmoid, np.array([17.0], np.float32))
    with mp.workdps(DPS):
        assert ulps(g[0], s_exact(mp.mpf(-17)), np.float32) <= 6


def test_fused_kernels_share_the_one_sigmoid():
    # one formula (fused_numpy's); the fast kernels evaluate it in double and round once,
    # which also rounds sigmoid(17) = 1 - 4.1e-8 to 1 - 6e-8 where float32 arithmetic gives 1
    from tinygen.kernels import fused_cuda, fused_numba, fused_numpy
    x = np.array([-1e30, -104.0, -80.0, -20.0, -1e-40, 0.0, 17.0, 1e30, np.inf, -np.inf], np.float32)
    rounded_once = fused_numpy.sigmoid(x.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(tg.sigmoid(tg.tensor(x)).array, fused_numba.sigmoid(x))
    np.testing.assert_array_equal(fused_numba.sigmoid(x), rounded_once)
    np.testing.assert_allclose(fused_cuda.sigmoid(x), rounded_once, rtol=2e-7, atol=0)
    with tg.settings.use_kernels("reference"):
        np.testing.assert_array_equal(tg.sigmoid(tg.tensor(x)).array, fused_numpy.sigmoid(x))


# ---- binary cross-entropy ----------------------------------------------------------------

def _term(w, z):
    """w log(1 + e^z), 0 where w = 0 (also at z = inf: the limit of the loss)."""
    return mp.mpf(0) if w == 0 else w * mp.log1p(mp.exp(z))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@EXAMPLES
@given(data=st.data())
def test_bce_with_logits_value_and_gradient_within_budget(dtype, data):
    l = data.draw(vectors(dtype, infinite=True, min_size=1, max_size=6))
    width = 32 if dtype == np.float32 else 64
    t = np.array([data.draw(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1, width=width)))
                  for _ in l], dtype=dtype)
    y, (gl, _) = value_and_grad(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none"), l, t)
    with mp.workdps(DPS):
        exact = [_term(mpf(ti), -mpf(li)) + _term(1 - mpf(ti), mpf(li)) for li, ti in zip(l, t)]
        check("bce_with_logits", dtype, worst(y, exact, dtype))
        dexact = [s_exact(mpf(li)) - mpf(ti) for li, ti in zip(l, t)]
        scales = [max(s_exact(mpf(li)), mpf(ti)) for li, ti in zip(l, t)]
        check("bce_with_logits'", dtype, worst(gl, dexact, dtype, scales))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@EXAMPLES
@given(data=st.data())
def test_binary_cross_entropy_value_and_gradient_within_budget(dtype, data):
    p = data.draw(vectors(dtype, min_size=1, max_size=6, lo=0.0, hi=1.0))
    p = np.concatenate([p, 1 - p[:2]]).astype(dtype)          # p near 1 too
    t = np.array([data.draw(st.sampled_from([0.0, 1.0])) for _ in p], dtype=dtype)
    y, (gp, _) = value_and_grad(lambda a, b: F.binary_cross_entropy(a, b, reduction="none"), p, t)
    with mp.workdps(DPS):
        def clamped(log_v):
            return max(log_v, mp.mpf(-100))
        exact = [-(mpf(ti) * clamped(mp.log(mpf(pi))) + (1 - mpf(ti)) * clamped(mp.log1p(-mpf(pi))))
                 for pi, ti in zip(p, t)]
        check("binary_cross_entropy", dtype, worst(y, exact, dtype))
        dexact = [(mpf(pi) - mpf(ti)) / max(mpf(pi) * (1 - mpf(pi)), mp.mpf(1e-12)) for pi, ti in zip(p, t)]
        check("binary_cross_entropy'", dtype, worst(gp, dexact, dtype))


def test_bce_with_logits_issue_cases():
    def bce(l, t, dtype):
        l, t = tg.tensor(np.array(l, dtype)), tg.tensor(np.array(t, dtype))
        return F.binary_cross_entropy_with_logits(l, t, reduction="none").array
    with mp.workdps(DPS):   # were 0.8% and 100% off
        assert ulps(bce([10.0], [1.0], np.float32)[0], mp.log1p(mp.exp(-10)), np.float32) <= 2
        assert ulps(bce([40.0], [1.0], np.float64)[0], mp.log1p(mp.exp(-40)), np.float64) <= 2
    # exact limits at +-inf logits (torch gives nan for the first two)
    np.testing.assert_array_equal(bce([np.inf, -np.inf, np.inf, -np.inf], [1.0, 0.0, 0.0, 1.0], np.float32),
                                  [0.0, 0.0, np.inf, np.inf])


# ---- logsumexp and log_softmax -----------------------------------------------------------

def _log_sum_exp_exact(x):
    """(m, L) with log sum exp(x) = m + L, m = max x, L = log sum exp(x - m): so that 60 digits
    keep L's digits (log(e^x) loses x = 1e-165; m + log 2 at m = 1e46 keeps 14 of log 2's)."""
    xs = sorted(mpf(v) for v in x)
    m = xs[-1]
    return m, mp.log1p(mp.fsum(mp.exp(v - m) for v in xs[:-1]))   # log1p: 1 + 1e-49 keeps its digits


def _shift_condition(x, dtype):
    """1 + max |x_j - max x| over the terms exp(x_j - max x) that are not 0 in the float:
    the rounded shift z = x_j - max x enters exp with an error |z| eps / 2, a condition
    number of any float evaluation, not a defect of one."""
    m = float(np.max(x))
    z = [abs(float(v) - m) for v in x if math.isfinite(float(v) - m)]
    floor = -math.log(float(np.finfo(dtype).smallest_subnormal))
    return 1 + max([d for d in z if d < floor] + [0.0])


def _rows(dtype):
    return vectors(dtype, min_size=1, max_size=4).flatmap(
        lambda row: st.sampled_from([row, np.concatenate([row, [-np.inf]]).astype(dtype)]))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@EXAMPLES
@given(data=st.data())
def test_logsumexp_value_and_gradient_within_budget(dtype, data):
    x = data.draw(_rows(dtype))
    y, (gx,) = value_and_grad(lambda t: tg.logsumexp(t, 0), x)
    m = float(np.max(x))
    with mp.workdps(DPS):
        m_, L = _log_sum_exp_exact(x)
        lse = m_ + L
        big = max(abs(v) for v in x if math.isfinite(v))
        check("logsumexp", dtype, ulps(y, lse, dtype, max(abs(lse), mpf(big))))
        p = [mp.exp((mpf(v) - m_) - L) for v in x]
        errs = [ulps(g, pi, dtype, max(abs(pi), max(p))) / (1 + abs(v - m)) for g, pi, v in zip(gx, p, x)]
        check("logsumexp'", dtype, max(errs))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@EXAMPLES
@given(data=st.data())
def test_log_softmax_value_and_gradient_within_budget(dtype, data):
    x = data.draw(vectors(dtype, min_size=1, max_size=4))
    y, (gx,) = value_and_grad(lambda t: F.log_softmax(t, 0), x)
    m, n = float(np.max(x)), len(x)
    with mp.workdps(DPS):
        _, shift = _log_sum_exp_exact(x)
        exact = [(mpf(v) - mpf(m)) - shift for v in x]
        scales = [max(abs(e), abs(mpf(v) - mpf(m))) for e, v in zip(exact, x)]
        kappa = _shift_condition(x, dtype)
        check("log_softmax", dtype, worst(y, exact, dtype, scales) / kappa)
        p = [mp.exp(e) for e in exact]
        check("log_softmax'", dtype,
              worst(gx, [1 - n * pi for pi in p], dtype, [max(1, n * pi) for pi in p]) / kappa)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_log_softmax_rows_with_infinities_and_extremes_are_torchs_and_quiet(dtype, recwarn):
    """torch's values (torch 2.13) on rows with +-inf and with values far apart, without
    NumPy's overflow and invalid-value warnings: a row with +inf is nan throughout."""
    big = float(np.finfo(dtype).max)
    rows = [([np.inf, 1.0], [np.nan, np.nan], np.inf, [np.nan, np.nan]),
            ([np.inf, np.inf], [np.nan, np.nan], np.inf, [np.nan, np.nan]),
            ([-np.inf, 0.0], [-np.inf, 0.0], 0.0, [0.0, 1.0]),
            ([big, -big, big], [-math.log(2), -np.inf, -math.log(2)], big, [0.5, 0.0, 0.5]),
            ([np.nan, 1.0], [np.nan, np.nan], np.nan, [np.nan, np.nan])]
    for x, log_softmax, logsumexp, softmax in rows:
        t = tg.tensor(np.array(x, dtype))
        got = F.log_softmax(t, 0).numpy()
        assert got.dtype == dtype
        np.testing.assert_allclose(got, log_softmax, rtol=1e-6)
        np.testing.assert_allclose(tg.logsumexp(t, 0).numpy(), logsumexp, rtol=1e-6)
        np.testing.assert_allclose(F.softmax(t, 0).numpy(), softmax, rtol=1e-6)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_logsumexp_gradient_issue_cases():
    _, (g,) = value_and_grad(lambda t: tg.logsumexp(t, 0), np.array([1e8, 1e8], np.float32))
    np.testing.assert_array_equal(g, [0.5, 0.5])                    # was [1, 1]
    y, (g,) = value_and_grad(lambda t: tg.logsumexp(t, 1), np.full((2, 3), -np.inf, np.float64))
    assert np.all(y == -np.inf)
    np.testing.assert_array_equal(g, np.zeros((2, 3)))              # torch: nan; the limit is undefined
    # over several dims: the gradient is the softmax over those dims
    x = np.random.default_rng(0).standard_normal((2, 3, 4)) * 50
    _, (g,) = value_and_grad(lambda t: tg.logsumexp(t, (0, 2)), x)
    e = np.exp(x - x.max(axis=(0, 2), keepdims=True))
    np.testing.assert_allclose(g, e / e.sum(axis=(0, 2), keepdims=True), rtol=1e-12)


# ---- pow and div -------------------------------------------------------------------------

def _pow_exact(a, b):
    """(a^b, d/da, d/db), with torch's conventions at a = 0."""
    if a == 0:
        value = mp.inf if b < 0 else (mp.mpf(1) if b == 0 else mp.mpf(0))
        da = mp.mpf(0) if b == 0 else (b * (mp.inf if b < 1 else (1 if b == 1 else 0)))
        db = mp.mpf(0) if b >= 0 else -mp.inf
        return value, da, db
    return a ** b, b * a ** (b - 1), a ** b * mp.log(a)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@EXAMPLES
@given(data=st.data())
def test_pow_value_and_gradients_within_budget(dtype, data):
    a = np.abs(data.draw(vectors(dtype, min_size=1, max_size=6, lo=0.0, hi=1e3)))   # no -0.0
    # exponents where b - 1 is exact, so the ulps measure pow, not the rounding of b - 1
    exponents = st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
    b = np.array([data.draw(exponents) for _ in a], dtype)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y, (ga, gb) = value_and_grad(lambda u, v: u ** v, a, b)
    with mp.workdps(DPS):
        exact = [_pow_exact(mpf(u), mpf(v)) for u, v in zip(a, b)]
        tiny = mpf(np.finfo(dtype).tiny)
        assume(not any(0 < abs(e[0]) < tiny for e in exact))   # a^b not subnormal: too few bits for d/db
        check("pow", dtype, worst(y, [e[0] for e in exact], dtype))
        check("pow'", dtype, worst(ga, [e[1] for e in exact], dtype))
        check("pow'", dtype, worst(gb, [e[2] for e in exact], dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@EXAMPLES
@given(data=st.data())
def test_div_value_and_gradients_within_budget(dtype, data):
    a = data.draw(vectors(dtype, min_size=1, max_size=6))
    b = data.draw(vectors(dtype, min_size=len(a), max_size=len(a)))
    b[b == 0] = 1
    tiny = np.finfo(dtype).tiny
    with np.errstate(over="ignore"):
        assume(all(q == 0 or abs(q) >= tiny for q in (a.astype(np.float64) / b)))   # a / b not subnormal
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):   # y.sum() of +-inf
        y, (ga, gb) = value_and_grad(lambda u, v: u / v, a, b)
    with mp.workdps(DPS):
        check("div", dtype, worst(y, [mpf(u) / mpf(v) for u, v in zip(a, b)], dtype))
        check("div'", dtype, worst(ga, [1 / mpf(v) for v in b], dtype))
        check("div'", dtype, worst(gb, [-mpf(u) / mpf(v) ** 2 for u, v in zip(a, b)], dtype))


def test_pow_and_div_issue_cases():
    _, (ga, gb) = value_and_grad(lambda u, v: u ** v, np.array([0.0, 0.0, 0.0]), np.array([2.0, 0.5, 0.0]))
    np.testing.assert_array_equal(gb, [0.0, 0.0, 0.0])             # was nan (0 * log 0)
    np.testing.assert_array_equal(ga, [0.0, np.inf, 0.0])          # as torch
    with np.errstate(over="ignore"):
        _, (ga, gb) = value_and_grad(lambda u, v: u / v, np.array([0.0]), np.array([5e-324]))
    assert gb[0] == 0                                               # was nan


# ---- var and std -------------------------------------------------------------------------

def _moments(x, correction=1):
    n = len(x)
    xs = [mpf(v) for v in x]
    mean = mp.fsum(xs) / n
    var = mp.fsum((v - mean) ** 2 for v in xs) / (n - correction)
    return xs, mean, var


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@EXAMPLES
@given(data=st.data())
def test_var_and_std_values_and_gradients_within_budget(dtype, data):
    # |x| <= 1e30 and no subnormals: a subnormal mean has too few bits for the gradient's x - mean
    normal = np.finfo(dtype).tiny
    x = data.draw(vectors(dtype, min_size=2, max_size=5, lo=-1e30, hi=1e30))
    x[np.abs(x) < normal] = 0
    v, (gv,) = value_and_grad(lambda t: t.var(), x)
    s, (gs,) = value_and_grad(lambda t: t.std(), x)
    with mp.workdps(DPS):
        xs, mean, var = _moments(x)
        std = mp.sqrt(var)
        check("var", dtype, ulps(v, var, dtype))
        check("std", dtype, ulps(s, std, dtype))
        dvar = [2 * (u - mean) / (len(x) - 1) for u in xs]
        check("var'", dtype, worst(gv, dvar, dtype, [max(abs(d) for d in dvar)] * len(x)))
        dstd = [(u - mean) / ((len(x) - 1) * std) if std else mp.mpf(0) for u in xs]
        check("std'", dtype, worst(gs, dstd, dtype, [max(max(abs(d) for d in dstd), mpf(normal))] * len(x)))


def test_var_std_issue_cases():
    # float32, values near 1e20: var of [+-1.5e19] is 3e38 (finite), std of +-1e20 is 1.15e20
    v, (gv,) = value_and_grad(lambda t: t.var(), np.array([1.5e19, -1.5e19] * 2, np.float32))
    assert np.isfinite(v) and np.all(np.isfinite(gv))
    s, (gs,) = value_and_grad(lambda t: t.std(), np.array([1e20, -1e20] * 2, np.float32))
    np.testing.assert_allclose(s, 2e20 / np.sqrt(3), rtol=1e-6)
    # var overflows there, but its gradient 2 (x - mean) / (n - 1) does not
    v, (gv,) = value_and_grad(lambda t: t.var(), np.array([1e20, -1e20] * 2, np.float32))
    assert v == np.inf
    np.testing.assert_allclose(gv, np.array([1, -1, 1, -1]) * 2e20 / 3, rtol=1e-6)
    # tiny inputs: d^2 underflows, the std and its gradient do not
    s, (gs,) = value_and_grad(lambda t: t.std(), np.array([1e-30, 2e-30, 0.0], np.float32))
    np.testing.assert_allclose(s, 1e-30, rtol=1e-6)
    np.testing.assert_allclose(gs, [0.0, 0.5, -0.5], atol=1e-6)
    # zero variance: gradient 0, as torch
    _, (gs,) = value_and_grad(lambda t: t.std(), np.array([3.0, 3.0, 3.0]))
    np.testing.assert_array_equal(gs, [0.0, 0.0, 0.0])
    # the rounded mean is corrected: var([a, a + ulp]) = ulp^2 / 2
    a = np.float32(1e20)
    b = np.nextafter(a, np.float32(np.inf))
    v, _ = value_and_grad(lambda t: t.var(), np.array([a, b], np.float32))
    np.testing.assert_allclose(v, (float(b) - float(a)) ** 2 / 2, rtol=1e-6)


# ---- torch as the oracle, at the same extreme inputs ---------------------------------------

TORCH_CASES = [
    # name, tinygen fn, torch fn (same signature on tensors)
    ("sigmoid", tg.sigmoid, lambda t: torch.sigmoid(t)),
    ("logsigmoid", F.logsigmoid, lambda t: torch.nn.functional.logsigmoid(t)),
    ("softplus", F.softplus, lambda t: torch.nn.functional.softplus(t)),
    ("log_softmax", lambda t: F.log_softmax(t, -1), lambda t: torch.log_softmax(t, -1)),
    ("logsumexp", lambda t: tg.logsumexp(t, -1), lambda t: torch.logsumexp(t, -1)),
    ("var", lambda t: t.var(dim=-1), lambda t: t.var(dim=-1)),
    ("std", lambda t: t.std(dim=-1), lambda t: t.std(dim=-1)),
]


@needs_torch
@pytest.mark.parametrize("name,ours,theirs", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_extremes_match_torch(name, ours, theirs, dtype):
    x = np.array([[-1e30, -80.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 80.0],
                  [1e8, 1e8, 1e8, 1e8, 1e8, 1e8, 1e8, 1e8],
                  [-17.0, 17.0, 6.0, -6.0, 1.0, 2.0, 3.0, 4.0]], dtype)
    y, (g,) = value_and_grad(ours, x)
    g = g[2:] if name == "logsumexp" else g   # torch's exp(x - rounded y) is 1 - 6e-9 at 1e8: the bug
    # torch in float64 (its float32 sigmoid' = y (1 - y) is 0.0018% off at x = 6 and 0 at 17)
    t = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = theirs(t)
    ty.sum().backward()
    tol = dict(rtol=1e-5, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(y, ty.detach().numpy().astype(dtype), **tol)
        theirs_g = t.grad.numpy()[2:] if name == "logsumexp" else t.grad.numpy()
        np.testing.assert_allclose(g, theirs_g.astype(dtype), **tol, err_msg=f"{name} gradient")


@needs_torch
def test_bce_with_logits_pos_weight_matches_torch():
    l = np.array([-1e30, -80.0, -25.0, -1.0, 0.0, 1.0, 25.0, 80.0, 1e30])
    t = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 0.0, 0.0, 0.3, 0.0])
    w = np.array([2.0] * 9)
    y, (g, _, _) = value_and_grad(lambda a, b, c: F.binary_cross_entropy_with_logits(
        a, b, pos_weight=c, reduction="none"), l, t, w)
    ta = torch.tensor(l, requires_grad=True)
    ty = torch.nn.functional.binary_cross_entropy_with_logits(ta, torch.tensor(t), pos_weight=torch.tensor(w),
                                                              reduction="none")
    ty.sum().backward()
    # atol: torch's value at l = -25 is 2.8e-5 off (ours is log1p(e^-25) to an ulp, below)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-6, atol=1e-14)
    np.testing.assert_allclose(g, ta.grad.numpy(), rtol=1e-6, atol=1e-14)
    with mp.workdps(DPS):
        assert ulps(y[2], mp.log1p(mp.exp(-25)), np.float64) <= 4


@needs_torch
def test_losses_match_torch_at_extremes():
    l = np.array([-1e30, -80.0, -20.0, -1.0, 0.0, 1.0, 20.0, 80.0, 1e30])
    t = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 0.0, 1.0, 0.3, 0.0])
    p = np.array([0.0, 1e-300, 1e-30, 0.2, 0.5, 0.7, 1 - 1e-16, 1.0, 1.0])
    for name, inp in (("binary_cross_entropy_with_logits", l), ("binary_cross_entropy", p)):
        for reduction in ("none", "sum", "mean"):
            y, (g, _) = value_and_grad(lambda a, b: getattr(F, name)(a, b, reduction=reduction), inp, t)
            ta = torch.tensor(inp, requires_grad=True)
            ty = getattr(torch.nn.functional, name)(ta, torch.tensor(t), reduction=reduction)
            ty.sum().backward()
            # rtol 1e-6: torch's BCE-with-logits is 3e-7 off at l = -20 (the mpmath tests above
            # hold ours to ulps); this checks the semantics: clamps, limits, reductions
            np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-6, atol=1e-300)
            np.testing.assert_allclose(g, ta.grad.numpy(), rtol=1e-6, atol=1e-300)


# ---- edge shapes: empty batches, through every layer torch accepts them in -----------------

def _torch_layer(layer):
    """The torch twin of a tinygen layer, with the same parameters."""
    name = type(layer).__name__
    if name in ("Conv2d", "ConvTranspose2d"):
        cls = getattr(torch.nn, name)
        w = layer.weight.array
        k = w.shape[2:]
        cin, cout = (w.shape[1], w.shape[0]) if name == "Conv2d" else (w.shape[0], w.shape[1])
        twin = cls(cin, cout, k, stride=layer.stride, padding=layer.padding).double()
    elif name == "Linear":
        twin = torch.nn.Linear(layer.weight.shape[1], layer.weight.shape[0]).double()
    else:
        return None
    with torch.no_grad():
        twin.weight.copy_(torch.tensor(layer.weight.array))
        twin.bias.copy_(torch.tensor(layer.bias.array))
    return twin


EMPTY_LAYERS = [
    ("Conv2d", lambda: nn.Conv2d(2, 3, 3, padding=1), (0, 2, 5, 5)),
    ("Conv2d stride 2", lambda: nn.Conv2d(2, 3, 3, stride=2), (0, 2, 7, 7)),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(2, 3, 4, stride=2, padding=1), (0, 2, 5, 5)),
    ("Linear", lambda: nn.Linear(4, 3), (0, 4)),
    ("BatchNorm2d eval", lambda: nn.BatchNorm2d(2).eval(), (0, 2, 4, 4)),
    ("BatchNorm1d eval", lambda: nn.BatchNorm1d(3).eval(), (0, 3)),
    ("BatchNorm2d train", lambda: nn.BatchNorm2d(2), (0, 2, 4, 4)),     # running estimates kept
    ("BatchNorm1d train", lambda: nn.BatchNorm1d(3), (0, 3)),
    ("LayerNorm", lambda: nn.LayerNorm(3), (0, 3)),
    ("MaskedConv2d", lambda: nn.MaskedConv2d(2, 3, 3, mask_type="A", padding=1), (0, 2, 5, 5)),
    ("max_pool2d", lambda: (lambda x: F.max_pool2d(x, 2)), (0, 2, 4, 4)),
    ("avg_pool2d", lambda: (lambda x: F.avg_pool2d(x, 2)), (0, 2, 4, 4)),
    ("ReLU", lambda: nn.ReLU(), (0, 3)),
    ("Flatten", lambda: nn.Flatten(), (0, 2, 3)),
]


@pytest.mark.parametrize("kernels", ["fast", "reference"])
@pytest.mark.parametrize("name,make,shape", EMPTY_LAYERS, ids=[c[0] for c in EMPTY_LAYERS])
def test_empty_batch_through_layers(name, make, shape, kernels):
    with tg.settings.use_kernels(kernels):
        layer = make()
        x = tg.zeros(*shape, dtype=np.float64, requires_grad=True)
        if hasattr(layer, "double"):
            layer.double()
        y = layer(x)
        assert y.shape[0] == 0
        (y.sum() * 1.0).backward()
        assert x.grad.shape == x.shape
        for p in getattr(layer, "parameters", lambda: [])():
            if p.grad is not None:   # a sum over no samples
                np.testing.assert_array_equal(p.grad.array, np.zeros(p.shape))
        for buffer, b in getattr(layer, "named_buffers", lambda: [])():   # as initialized
            if buffer in ("running_mean", "running_var"):
                np.testing.assert_array_equal(b.array, np.full(b.shape, float(buffer == "running_var")))
    twin = _torch_layer(layer) if torch is not None else None
    if twin is not None:
        assert tuple(y.shape) == tuple(twin(torch.zeros(shape, dtype=torch.float64)).shape)


@pytest.mark.parametrize("loss,args", [
    ("mse_loss", lambda: (tg.zeros(0, 3), tg.zeros(0, 3))),
    ("binary_cross_entropy", lambda: (tg.zeros(0, 3), tg.zeros(0, 3))),
    ("binary_cross_entropy_with_logits", lambda: (tg.zeros(0, 3), tg.zeros(0, 3))),
    ("cross_entropy", lambda: (tg.zeros(0, 3), tg.tensor(np.zeros(0, np.int64)))),
    ("nll_loss", lambda: (tg.zeros(0, 3), tg.tensor(np.zeros(0, np.int64)))),
    ("gaussian_nll_loss", lambda: (tg.zeros(0, 3), tg.zeros(0, 3), tg.ones(0, 3))),
])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@needs_torch
def test_losses_of_an_empty_batch_as_torch(loss, args, reduction):
    a = args()
    a[0].requires_grad_(True)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = getattr(F, loss)(*a, reduction=reduction)
        y.sum().backward()
    ta = [torch.tensor(t.array) for t in a]
    ty = getattr(torch.nn.functional, loss)(*ta, reduction=reduction)
    assert tuple(y.shape) == tuple(ty.shape)
    np.testing.assert_array_equal(y.array, ty.numpy())   # nan for 'mean', 0 for 'sum'
    assert a[0].grad.shape == a[0].shape


def test_mean_of_nothing_is_nan_as_torch():
    assert np.isnan(tg.zeros(0).mean().item())
    np.testing.assert_array_equal(tg.zeros(3, 0).mean(dim=1).array, [np.nan] * 3)
    assert np.isnan(tg.zeros(0).var().item()) and np.isnan(tg.zeros(0).std().item())


# ---- dtypes and sizes at the op boundary ---------------------------------------------------

@pytest.mark.parametrize("factory", ["zeros", "ones", "empty", "rand", "randn"])
@pytest.mark.parametrize("size", [(2.5,), ((2, 2.5),), (2, "3"), (True,)])
def test_factories_refuse_non_int_sizes(factory, size):
    with pytest.raises(TypeError, match="size"):
        getattr(tg, factory)(*size)
    if torch is not None:
        with pytest.raises(TypeError):
            getattr(torch, factory)(*size)
    assert getattr(tg, factory)(2, 3).shape == (2, 3) == getattr(tg, factory)((2, 3)).shape
    assert getattr(tg, factory)(np.int64(2)).shape == (2,)


KERNEL_OPS = [
    ("conv2d", lambda x: F.conv2d(x, tg.zeros(1, 1, 2, 2, dtype=x.dtype))),
    ("conv_transpose2d", lambda x: F.conv_transpose2d(x, tg.zeros(1, 1, 2, 2, dtype=x.dtype))),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2)),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 2)),
]


@pytest.mark.parametrize("dtype", [np.float16, np.int64, np.int32, np.bool_])
@pytest.mark.parametrize("op,fn", KERNEL_OPS, ids=[c[0] for c in KERNEL_OPS])
def test_unsupported_dtypes_are_refused_at_the_op_boundary(op, fn, dtype):
    x = tg.tensor(np.ones((1, 1, 4, 4), dtype))
    with pytest.raises(TypeError, match=rf"{op}: .*{np.dtype(dtype).name}"):
        fn(x)


def test_int_input_into_linear_is_an_error_as_torch():
    layer = nn.Linear(3, 2)
    x = tg.tensor(np.ones((2, 3), np.int64))
    with pytest.raises(TypeError, match=r"linear: mat1 and mat2 must have the same dtype.*int64.*float32"):
        layer(x)
    if torch is not None:
        with pytest.raises(RuntimeError, match="same dtype"):
            torch.nn.Linear(3, 2)(torch.ones(2, 3, dtype=torch.long))
    # float32 and float64 still mix (each gradient in its input's dtype), as before
    y = F.linear(tg.ones(2, 3, dtype=np.float64), tg.ones(2, 3, dtype=np.float32))
    assert y.shape == (2, 2)


def test_tinygens_internals_raise_no_numpy_runtime_warnings():
    """Non-finite values that tinygen computes on the user's behalf (backward formulas, a
    max's tie shares, casts of Python floats) come silently, as torch's, not as NumPy's
    'divide by zero encountered' pointing into tinygen's code."""
    import math
    import warnings

    import tinygen.nn.functional as F
    from tinygen.distributions import Bernoulli, Categorical, kl_divergence
    nan, inf = math.nan, math.inf
    cases = {
        "sqrt at 0, backward": lambda: tg.tensor([0.0, 4.0], requires_grad=True).sqrt().sum().backward(),
        "norm at 0, backward": lambda: tg.zeros(3, requires_grad=True).norm().backward(),
        "amax of NaN, backward": lambda: tg.tensor([1.0, nan], requires_grad=True).amax().backward(),
        "max over a dim with NaN": lambda: tg.tensor([[1.0, nan]], requires_grad=True).max(1)[0].sum().backward(),
        "median with NaN": lambda: tg.tensor([1.0, nan, 3.0], requires_grad=True).median().backward(),
        "1e200 as float32": lambda: tg.tensor([1e200, -1e200]),
        "every target ignored": lambda: F.cross_entropy(tg.ones(2, 3, requires_grad=True),
                                                        tg.tensor([-100, -100])).backward(),
        "KL at the edge": lambda: kl_divergence(
            Categorical(probs=tg.tensor([0.0, 0.5, 0.5], requires_grad=True)),
            Categorical(probs=tg.tensor([0.5, 0.5, 0.0]))).backward(),
        "Bernoulli KL at the edge": lambda: kl_divergence(
            Bernoulli(logits=tg.tensor([-inf, inf, 0.0])), Bernoulli(logits=tg.tensor([inf, -inf, 1.0]))),
        "atan2 at the origin": lambda: tg.atan2(tg.zeros(1, requires_grad=True),
                                                tg.zeros(1, requires_grad=True)).sum().backward(),
        # the user's own ops at IEEE's edges: inf and NaN as values, silently as torch
        "log(0), exp(1000)": lambda: (tg.tensor([0.0]).log(), tg.tensor([1000.0]).exp()),
        "1 / 0, 0 / 0": lambda: tg.tensor([1.0, 0.0]) / tg.tensor([0.0, 0.0]),
        "sqrt(-1), (-1) ** 0.5": lambda: (tg.tensor([-1.0]).sqrt(), tg.tensor([-1.0]) ** 0.5,
                                          tg.tensor([-1.0]) ** tg.tensor([0.5])),
    }
    raised = {}
    for name, case in cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            try:
                case()
            except RuntimeWarning as w:
                raised[name] = str(w)
    assert not raised, raised
