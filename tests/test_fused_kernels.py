"""The fused kernels (kernels/fused_*.py) equal their plain reference formulas."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import backend
from tinygen.kernels import fused_cuda, fused_numba, fused_numpy
from tinygen.kernels.threads import GRAIN
from tinygen.settings import use_num_threads

# fused_cuda runs in numba's CUDA simulator in the tests (skipped with neither it nor a GPU)
FAST = [fused_numba, pytest.param(fused_cuda, marks=pytest.mark.skipif(
    not backend.cuda_is_available(), reason="no GPU and no CUDA simulator"))]


def _arrays(shape, seed, dtype):
    rs = np.random.default_rng(seed)
    return (rs.standard_normal(shape) * 4).astype(dtype), (rs.random(shape) < 0.4).astype(dtype)


@pytest.mark.parametrize("impl", FAST, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
@settings(max_examples=8)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
       seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float32, np.float64]))
def test_bce_and_sigmoid_equal_reference(impl, shape, seed, dtype):
    l, t = _arrays(shape, seed, dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(impl.sigmoid(l), fused_numpy.sigmoid(l), **tol)
    np.testing.assert_allclose(impl.bce_with_logits(l, t), fused_numpy.bce_with_logits(l, t), **tol)
    gy = np.asarray(1.5, dtype=dtype)
    np.testing.assert_allclose(impl.bce_with_logits_grad(l, t, gy),
                               fused_numpy.bce_with_logits_grad(l, t, gy), **tol)
    gy = np.random.default_rng(seed + 1).standard_normal(shape).astype(dtype)
    np.testing.assert_allclose(impl.bce_with_logits_grad(l, t, gy),
                               fused_numpy.bce_with_logits_grad(l, t, gy), **tol)


def _ulps(got, exact):
    """|got - exact| in float32 ulps of exact (float64 exact; the spacing at the smallest
    normal for subnormal values)."""
    spacing = np.spacing(np.maximum(np.abs(exact), np.finfo(np.float32).tiny).astype(np.float32))
    return np.abs(got.astype(np.float64) - exact) / spacing


def test_float32_kernels_round_the_double_formula_once():
    # fused_numba's float32 sigmoid and BCE: polynomial exp and log1p in double (vectorized),
    # against the reference's formulas in float64 over logits -120..120 and their extremes
    l = np.concatenate([np.linspace(-120, 120, 200_001), [0.0, -0.0, 1e-30, -1e-30, 1e4, -1e4],
                        np.geomspace(1e-8, 1, 1000), -np.geomspace(1e-8, 1, 1000)]).astype(np.float32)
    l64 = l.astype(np.float64)
    for t in (np.zeros_like(l), np.ones_like(l), np.full_like(l, 0.3)):
        t64 = t.astype(np.float64)
        checks = [(fused_numba.sigmoid(l), fused_numpy.sigmoid(l64)),
                  (fused_numba.bce_with_logits(l, t), fused_numpy.bce_with_logits(l64, t64)),
                  (fused_numba.bce_with_logits_grad(l, t, np.float32(1)),
                   fused_numpy.bce_with_logits_grad(l64, t64, 1.0))]
        for got, exact in checks:
            assert got.dtype == np.float32
            ulps = _ulps(got, exact)
            assert ulps.max() <= 1.0, (ulps.max(), l[ulps.argmax()])
            assert np.mean(got == exact.astype(np.float32)) > 0.999   # rounded to nearest


def test_float32_kernels_keep_nan_and_infinity():
    l = np.array([np.nan, np.inf, -np.inf, np.inf, -np.inf], np.float32)
    t = np.array([0.0, 1.0, 0.0, 0.0, 1.0], np.float32)
    np.testing.assert_array_equal(fused_numba.sigmoid(l), [np.nan, 1, 0, 1, 0])
    np.testing.assert_array_equal(fused_numba.bce_with_logits(l, t), [np.nan, 0, 0, np.inf, np.inf])
    np.testing.assert_array_equal(fused_numba.bce_with_logits_grad(l, t, np.float32(2)),
                                  [np.nan, 0, 0, 2, -2])


def test_float32_kernels_split_over_threads_bitwise():
    # above GRAIN elements the loop runs in slices on tinygen's threads: the same values
    l, t = _arrays((3, GRAIN), 7, np.float32)
    with use_num_threads(1):
        whole = fused_numba.bce_with_logits(l, t)
    with use_num_threads(2):
        np.testing.assert_array_equal(fused_numba.bce_with_logits(l, t), whole)


@pytest.mark.parametrize("impl", [fused_numpy] + FAST, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_extreme_logits_stay_finite(impl):
    l = np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=np.float32)
    t = np.array([1.0, 0.0, 1.0, 1.0, 0.0], dtype=np.float32)
    np.testing.assert_allclose(impl.bce_with_logits(l, t), [1e4, 0.0, np.log(2), 0.0, 1e4], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(impl.bce_with_logits_grad(l, t, np.float32(1)), [-1, 0, -0.5, 0, 1], atol=1e-6)
    np.testing.assert_allclose(impl.sigmoid(l), [0, 0, 0.5, 1, 1], atol=1e-6)


# ---- optimizer steps: one call for a list of tensors, bitwise the per-tensor reference ------

SHAPE_LISTS = st.lists(st.lists(st.integers(0, 4), max_size=3).map(tuple), min_size=1, max_size=5)


def _tensors(rs, shapes, dtype, strided=False):
    """Standard normal arrays of `shapes`; strided: every other element of a bigger array
    (not contiguous, as a gradient may be), 0-d and empty shapes included."""
    if strided:
        return [rs.standard_normal(s + (2,)).astype(dtype)[..., 1] for s in shapes]
    return [rs.standard_normal(s).astype(dtype) for s in shapes]


def _copies(arrays):
    return [a.copy() for a in arrays]


@pytest.mark.parametrize("impl", FAST, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
@settings(max_examples=10)
@given(shapes=SHAPE_LISTS, seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float32, np.float64]),
       weight_decay=st.sampled_from([0.0, 0.1]), decoupled=st.booleans(), maximize=st.booleans())
def test_adam_step_over_a_list_is_bitwise_the_reference_per_tensor(impl, shapes, seed, dtype,
                                                                   weight_decay, decoupled, maximize):
    rs = np.random.default_rng(seed)
    xs = _tensors(rs, shapes, dtype)
    ms, vs = [np.zeros_like(x) for x in xs], [np.zeros_like(x) for x in xs]
    fast = _copies(xs), _copies(ms), _copies(vs)
    for step in range(1, 4):
        gs = _tensors(rs, shapes, dtype, strided=step == 2)
        hyper = (1e-2, 0.9, 0.999, 1e-8, weight_decay, step, decoupled, maximize)
        for x, g, m, v in zip(xs, gs, ms, vs):
            fused_numpy.adam_step([x], [g], [m], [v], *hyper)
        impl.adam_step(*fast[:1], gs, *fast[1:], *hyper)
    for reference, got in zip((xs, ms, vs), fast):
        for a, b in zip(reference, got):
            np.testing.assert_array_equal(b, a, strict=True)


@pytest.mark.parametrize("impl", FAST, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
@settings(max_examples=10)
@given(shapes=SHAPE_LISTS, seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float32, np.float64]),
       options=st.sampled_from([(0.0, 0.0, 0.0, False), (0.9, 0.0, 0.0, False),
                                (0.9, 0.3, 0.1, False), (0.8, 0.0, 0.05, True)]),
       maximize=st.booleans())
def test_sgd_step_over_a_list_is_bitwise_the_reference_per_tensor(impl, shapes, seed, dtype,
                                                                  options, maximize):
    momentum, dampening, weight_decay, nesterov = options
    rs = np.random.default_rng(seed)
    xs = _tensors(rs, shapes, dtype)
    bufs = [np.full_like(x, np.nan) for x in xs]         # garbage: the first step sets b = g
    fast = _copies(xs), _copies(bufs)
    for step in range(3):
        gs = _tensors(rs, shapes, dtype, strided=step == 1)
        hyper = (0.1, momentum, dampening, weight_decay, nesterov, maximize, step == 0)
        for x, g, b in zip(xs, gs, bufs):
            fused_numpy.sgd_step([x], [g], [b], *hyper)
        impl.sgd_step(fast[0], gs, fast[1] if momentum else None, *hyper)
    for a, b in zip(xs + (bufs if momentum else []), fast[0] + (fast[1] if momentum else [])):
        np.testing.assert_array_equal(b, a, strict=True)


def test_optimizer_steps_over_many_tensors_split_over_threads_are_bitwise_the_reference():
    """More tensors than one call takes (fused_numba.TENSORS_PER_CALL) and more elements than
    one slice (GRAIN): the chunks and the slices over the worker threads meet exactly."""
    shapes = [(3,)] * 9 + [(3 * GRAIN + 7,), (), (0,)] + [(5, 2)] * 9
    assert len(shapes) > fused_numba.TENSORS_PER_CALL
    rs = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        xs = _tensors(rs, shapes, dtype)
        ms, vs = [np.zeros_like(x) for x in xs], [np.zeros_like(x) for x in xs]
        fast = _copies(xs), _copies(ms), _copies(vs)
        for step in range(1, 3):
            gs = _tensors(rs, shapes, dtype)
            fused_numpy.adam_step(xs, gs, ms, vs, 1e-2, 0.9, 0.999, 1e-8, 0.01, step, False, False)
            fused_numba.adam_step(fast[0], gs, fast[1], fast[2], 1e-2, 0.9, 0.999, 1e-8, 0.01, step,
                                  False, False)
        for a, b in zip(xs + ms + vs, fast[0] + fast[1] + fast[2]):
            np.testing.assert_array_equal(b, a, strict=True)
        bufs = [np.zeros_like(x) for x in xs]
        fast = _copies(xs), _copies(bufs)
        for step in range(2):
            gs = _tensors(rs, shapes, dtype)
            fused_numpy.sgd_step(xs, gs, bufs, 0.1, 0.9, 0.0, 0.01, True, False, step == 0)
            fused_numba.sgd_step(fast[0], gs, fast[1], 0.1, 0.9, 0.0, 0.01, True, False, step == 0)
        for a, b in zip(xs + bufs, fast[0] + fast[1]):
            np.testing.assert_array_equal(b, a, strict=True)


def test_split_loops_equal_the_whole_loop_bitwise():
    # above GRAIN elements relu and batch_norm run in slices on tinygen's worker threads: each
    # element (each channel) is computed as by one loop over the whole array (the optimizer
    # steps: the test above)
    rs = np.random.default_rng(0)
    n = 3 * GRAIN + 5
    for dtype in (np.float32, np.float64):
        x = rs.standard_normal(n).astype(dtype)
        with use_num_threads(1):
            whole = fused_numba.relu(x, 0.2)
        with use_num_threads(2):
            np.testing.assert_array_equal(fused_numba.relu(x, 0.2), whole)
    x = rs.standard_normal((256, 600, 1)).astype(np.float32)     # BatchNorm1d's columns
    w, b = np.ones(600, np.float32), np.zeros(600, np.float32)
    with use_num_threads(1):
        whole = fused_numba.batch_norm(x, w, b, 1e-5, 0.0)
    with use_num_threads(2):
        split = fused_numba.batch_norm(x, w, b, 1e-5, 0.0)
    for got, want in zip(split, whole):                   # y, mean, var, rstd
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("impl", FAST, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_optimizer_steps_update_strided_and_mixed_dtype_tensors_in_place_as_the_reference(impl):
    """A parameter (or state) that is a strided view, or of another dtype than the first,
    cannot go through the flat views: it takes the reference's loop, and is still updated in
    place (its base sees the change), bitwise as the reference."""
    rs = np.random.default_rng(0)
    base = rs.standard_normal((4, 6)).astype(np.float32)
    shapes_dtypes = [((3,), np.float32), ((6, 4), np.float32), ((2,), np.float64), ((5,), np.float32)]

    owner = base.copy()
    xs = [owner.T] + [rs.standard_normal(s).astype(d) for s, d in shapes_dtypes]
    xs[2] = xs[2][:, ::2]                                  # strided too
    ref_x = [x.copy() for x in xs]
    ms, vs = [np.zeros_like(x) for x in xs], [np.zeros_like(x) for x in xs]
    ref_m, ref_v = _copies(ms), _copies(vs)
    for step in range(1, 3):
        gs = [rs.standard_normal(x.shape).astype(x.dtype) for x in xs]
        impl.adam_step(xs, gs, ms, vs, 1e-2, 0.9, 0.999, 1e-8, 0.1, step, False, True)
        fused_numpy.adam_step(ref_x, gs, ref_m, ref_v, 1e-2, 0.9, 0.999, 1e-8, 0.1, step, False, True)
    for a, b in zip(ref_x + ref_m + ref_v, xs + ms + vs):
        np.testing.assert_array_equal(b, a, strict=True)
    assert not np.array_equal(owner, base)                # written through the transposed view
    bufs = [np.zeros_like(x) for x in xs]
    ref_b = _copies(bufs)
    for step in range(2):
        gs = [rs.standard_normal(x.shape).astype(x.dtype) for x in xs]
        impl.sgd_step(xs, gs, bufs, 0.1, 0.9, 0.1, 0.01, False, False, step == 0)
        fused_numpy.sgd_step(ref_x, gs, ref_b, 0.1, 0.9, 0.1, 0.01, False, False, step == 0)
    for a, b in zip(ref_x + ref_b, xs + bufs):
        np.testing.assert_array_equal(b, a, strict=True)


@pytest.mark.parametrize("impl", FAST, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
@settings(max_examples=8)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
       seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float32, np.float64]),
       slope=st.sampled_from([0.0, 0.2, -1.5]))
def test_relu_grad_equals_reference(impl, shape, seed, dtype, slope):
    x, _ = _arrays(shape, seed, dtype)
    x[x > 3] = 0.0                                       # x == 0 takes the slope, as x < 0
    gy = np.random.default_rng(seed + 1).standard_normal(shape).astype(dtype)
    out = impl.relu_grad(gy, x, slope)
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_array_equal(out, fused_numpy.relu_grad(gy, x, slope))


@pytest.mark.parametrize("impl", FAST, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
@settings(max_examples=8)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
       seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float32, np.float64]),
       slope=st.sampled_from([0.0, 0.2, -1.5, 3.0]))
def test_relu_equals_reference(impl, shape, seed, dtype, slope):
    x, _ = _arrays(shape, seed, dtype)
    x[x > 3] = 0.0
    x[x < -3] = -0.0
    x.reshape(-1)[:3] = [np.nan, -np.inf, np.inf][:x.size]
    out = impl.relu(x, slope)
    assert out.dtype == dtype and out.shape == shape
    want = fused_numpy.relu(x, slope)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(want))


@pytest.mark.parametrize("impl", FAST, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_relu_keeps_integers_exact(impl):
    # relu's slope 0 goes to the kernel as a float: an int64 beyond 2^53 must not pass through it
    x = np.array([2**60 + 1, -3, 0, 2**53 + 1], np.int64)
    out = impl.relu(x, 0.0)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, fused_numpy.relu(x, 0.0))
    np.testing.assert_array_equal(out, [2**60 + 1, 0, 0, 2**53 + 1])


@pytest.mark.parametrize("impl", FAST, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
@pytest.mark.parametrize("ufunc", [np.add, np.subtract, np.multiply], ids=lambda u: u.__name__)
@settings(max_examples=6)
@given(n=st.sampled_from([1, 1000, 2**16 - 2, 2**16 + 8, 200_004]), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]), transposed=st.booleans())
def test_arithmetic_equals_reference(impl, ufunc, n, seed, dtype, transposed):
    # above 2 GRAIN elements the fast version runs NumPy's loop in slices on the workers, into a
    # pooled output: the same values to the bit, nan and inf included; a transposed (not
    # C-contiguous) operand is NumPy's own call
    rs = np.random.default_rng(seed)
    a, b = ((rs.standard_normal(n) * 1e3).astype(dtype) for _ in range(2))
    a[:3] = [np.nan, np.inf, -np.inf][:n]
    if transposed and n > 1:
        a, b = a.reshape(2, -1).T, b.reshape(2, -1).T
    got, want = impl.arithmetic(ufunc, a, b), fused_numpy.arithmetic(ufunc, a, b)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want, strict=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("impl", FAST, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
@settings(max_examples=10)
@given(shape=st.sampled_from([(2, 6), (3, 8, 5), (4, 2, 3, 3), (64, 16, 8, 9), (3, 4, 6)]),
       dim=st.sampled_from([1, -1]), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]), strided=st.booleans())
def test_gated_tanh_and_its_gradient_equal_reference(impl, shape, dim, seed, dtype, strided):
    # (64, 16, 8, 9): above 2 GRAIN values, the samples split over the workers. The forward's
    # tanh and product are NumPy's and its sigmoid the implementation's own (fast and reference
    # sigmoids may differ in the last ulps); the gradient is the reference's operators: bitwise
    rs = np.random.default_rng(seed)
    dim = dim % len(shape)
    if shape[dim] % 2:
        dim = 1
    x = (rs.standard_normal(shape) * 3).astype(dtype)
    if strided:
        x = np.repeat(x, 2, axis=0)[::2]                 # the same values, not C-contiguous
    y, t, s = impl.gated_tanh(x, dim)
    a, b = np.split(x, 2, axis=dim)
    np.testing.assert_array_equal(t, np.tanh(a))
    np.testing.assert_array_equal(s, impl.sigmoid(np.ascontiguousarray(b)))
    np.testing.assert_allclose(s, fused_numpy.sigmoid(b), rtol=4 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_array_equal(y, t * s)
    gy = rs.standard_normal(t.shape).astype(dtype)
    if strided:
        gy = np.repeat(gy, 2, axis=0)[::2]               # as a view into a padding's gradient
    gx = impl.gated_tanh_grad(x, gy, t, s, dim)
    assert gx.shape == x.shape and gx.dtype == x.dtype
    np.testing.assert_array_equal(gx, fused_numpy.gated_tanh_grad(x, gy, t, s, dim))


def test_relu_reference_limits():
    x = np.array([np.nan, -np.inf, np.inf, -2.0, 0.0, -0.0, 3.0], np.float32)
    for slope, want in [(0.0, [np.nan, 0, np.inf, 0, 0, -0.0, 3]),
                        (0.2, [np.nan, -np.inf, np.inf, -0.4, 0, -0.0, 3])]:
        got = fused_numpy.relu(x, slope)
        np.testing.assert_array_equal(got, np.array(want, np.float32), strict=True)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))   # -0.0 kept, as torch


@pytest.mark.parametrize("impl", FAST, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
@settings(max_examples=12)
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 300), st.sampled_from([1, 1, 2, 6])),
       seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float32, np.float64]),
       slope=st.sampled_from([1.0, 0.0, 0.2, -1.5]))
def test_batch_norm_equals_reference(impl, shape, seed, dtype, slope):
    # S = 1 (BatchNorm1d's columns, more than one block of channels at C > 256) and S > 1
    rs = np.random.default_rng(seed)
    x = (rs.standard_normal(shape) * 3 + 1).astype(dtype)
    if shape[0] * shape[2] == 1:
        x[...] = 2.0                               # one value per channel: var 0, xhat 0
    gy = rs.standard_normal(shape).astype(dtype)
    w, b = rs.standard_normal(shape[1]).astype(dtype), rs.standard_normal(shape[1]).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    # y and gx in x's dtype; the statistics and gw, gb in float64
    dtypes = (dtype, np.float64, np.float64, np.float64)
    got, want = impl.batch_norm(x, w, b, 1e-5, slope), fused_numpy.batch_norm(x, w, b, 1e-5, slope)
    for g, r, d in zip(got, want, dtypes):
        assert g.dtype == d and g.shape == r.shape
        np.testing.assert_allclose(g, r, **tol)
    _, mean, _, rstd = want
    got = impl.batch_norm_backward(gy, x, mean, rstd, w, b, slope)
    want = fused_numpy.batch_norm_backward(gy, x, mean, rstd, w, b, slope)
    for g, r, d in zip(got, want, dtypes[:1] + dtypes[2:]):
        assert g.dtype == d and g.shape == r.shape
        np.testing.assert_allclose(g, r, **tol)
