"""Kernels: every fast implementation equals the numpy reference (tinygen/kernels/).

    numba (cpu, fast)          == numpy reference   float64: atol 1e-10; float32: rtol 1e-5, atol 1e-5
    numba.cuda (the simulator) == numpy reference   float64: atol 1e-10

over hypothesis-drawn shapes, strides, paddings, dilations and output paddings. The numpy
reference itself is checked against a second reference (conv2d_direct, the sum written as
shifted products), against the adjoint identities <im2col(x), c> = <x, col2im(c)> and
<conv2d(x, w), g> = <x, conv_transpose2d(g, w)> = <w, W(x, g)>, and, where PyTorch is
installed, against torch (test_conv_ops.py checks the ops against torch).

The cuda column runs under NUMBA_ENABLE_CUDASIM=1 (tests/conftest.py sets it), on tiny
shapes: the simulator runs one Python thread per GPU thread. Tests marked `gpu` run the same
kernels on CuPy arrays and need a real GPU (TINYGEN_REAL_GPU=1; skipped otherwise).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import backend
from tinygen import testing as tgt
from tinygen.kernels import implementation

REFERENCE = {family: implementation(family, "cpu", "reference") for family in ("conv", "pool", "matmul")}
NUMBA = {family: implementation(family, "cpu", "fast") for family in ("conv", "pool", "matmul")}

needs_cuda = pytest.mark.skipif(not backend.cuda_is_available(),
                                reason="neither the CUDA simulator nor a GPU is available")


def _cuda(family):
    return implementation(family, "cuda", "fast")


def _close64(a, b):
    np.testing.assert_allclose(backend.to_numpy(a), b, rtol=1e-10, atol=1e-10)


# ---- strategies ---------------------------------------------------------------------------

@st.composite
def conv_cases(draw, transposed=False, max_side=5, max_channels=3, max_batch=2, max_stride=2):
    """(x, w, params) for conv2d (w: (C_out, C_in, kh, kw)) or conv_transpose2d (w: (C_in, C_out, kh, kw))."""
    n = draw(st.integers(1, max_batch))
    c_in = draw(st.integers(1, max_channels))
    c_out = draw(st.integers(1, max_channels))
    hw = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    params = draw(tgt.conv_params(hw, transposed=transposed, max_stride=max_stride))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in) + hw)
    w_shape = (c_in, c_out) if transposed else (c_out, c_in)
    w = rng.standard_normal(w_shape + params.kernel_size)
    return x, w, params


@st.composite
def pool_cases(draw, max_side=6):
    """(x, kernel_size, stride, padding) valid for max/avg pooling (padding <= kernel // 2)."""
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    hw = tuple(draw(st.integers(max(1, k[a] - 2 * p[a]), max_side)) for a in (0, 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((draw(st.integers(1, 2)), draw(st.integers(1, 3))) + hw)
    return x, k, s, p


def _geometry(params):
    return params.stride, params.padding, params.dilation


# ---- the reference against itself ----------------------------------------------------------

@given(conv_cases())
def test_reference_conv2d_equals_direct_loop(case):
    x, w, params = case
    y = REFERENCE["conv"].conv2d(x, w, *_geometry(params))
    assert y.shape[2:] == params.output_size
    _close64(REFERENCE["conv"].conv2d_direct(x, w, *_geometry(params)), y)


@given(conv_cases())
def test_reference_im2col_col2im_are_adjoint(case):
    x, w, params = case
    conv = REFERENCE["conv"]
    cols = conv.im2col(x, params.kernel_size, *_geometry(params))
    c = np.random.default_rng(0).standard_normal(cols.shape)
    back = conv.col2im(c, x.shape, params.kernel_size, *_geometry(params), params.output_size)
    np.testing.assert_allclose(np.vdot(cols, c), np.vdot(x, back), rtol=1e-10, atol=1e-10)


@given(conv_cases())
def test_reference_conv_gradients_are_adjoint(case):
    """<conv2d(x, w), g> = <x, conv_transpose2d(g, w)> = <w, conv2d_weight_grad(x, g)>."""
    x, w, params = case
    conv = REFERENCE["conv"]
    y = conv.conv2d(x, w, *_geometry(params))
    g = np.random.default_rng(1).standard_normal(y.shape)
    # the output_padding that gives back x's size
    op = tuple(x.shape[2 + a] - conv.conv_transpose_output_size(
        y.shape[2 + a], params.kernel_size[a], params.stride[a], params.padding[a], 0,
        params.dilation[a]) for a in (0, 1))
    gx = conv.conv_transpose2d(g, w, params.stride, params.padding, op, params.dilation)
    gw = conv.conv2d_weight_grad(x, g, params.kernel_size, *_geometry(params))
    lhs = np.vdot(y, g)
    np.testing.assert_allclose(np.vdot(x, gx), lhs, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.vdot(w, gw), lhs, rtol=1e-10, atol=1e-10)


# ---- fast == reference: conv ----------------------------------------------------------------

def _check_conv_family(fast, case, close=_close64):
    x, w, params = case
    ref = REFERENCE["conv"]
    y = ref.conv2d(x, w, *_geometry(params))
    close(fast.conv2d(x, w, *_geometry(params)), y)
    g = np.random.default_rng(2).standard_normal(y.shape).astype(x.dtype)
    close(fast.conv2d_weight_grad(x, g, params.kernel_size, *_geometry(params)),
          ref.conv2d_weight_grad(x, g, params.kernel_size, *_geometry(params)))


def _check_conv_transpose(fast, case, close=_close64):
    x, w, params = case
    ref = REFERENCE["conv"]
    args = (params.stride, params.padding, params.output_padding, params.dilation)
    y = ref.conv_transpose2d(x, w, *args)
    assert y.shape[2:] == params.output_size
    close(fast.conv_transpose2d(x, w, *args), y)
    # the weight gradient of conv_transpose2d: W(gy, x) on x's grid
    g = np.random.default_rng(3).standard_normal(y.shape).astype(x.dtype)
    close(fast.conv2d_weight_grad(g, x, params.kernel_size, *_geometry(params)),
          ref.conv2d_weight_grad(g, x, params.kernel_size, *_geometry(params)))


@given(conv_cases())
def test_numba_conv2d_and_weight_grad_equal_reference(case):
    _check_conv_family(NUMBA["conv"], case)


@given(conv_cases(transposed=True))
def test_numba_conv_transpose2d_equals_reference(case):
    _check_conv_transpose(NUMBA["conv"], case)


@given(conv_cases(max_stride=1), conv_cases(transposed=True, max_stride=1))
def test_numba_stride1_path_equals_reference(case, case_t):
    """Stride 1 runs on shifted rows of the padded image, one sample at a time."""
    _check_conv_family(NUMBA["conv"], case)
    _check_conv_transpose(NUMBA["conv"], case_t)


@settings(max_examples=10)
@given(conv_cases(), conv_cases(transposed=True))
def test_numba_conv_float32_equals_reference(case, case_t):
    def close32(a, b):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
        assert a.dtype == np.float32

    x, w, params = case
    _check_conv_family(NUMBA["conv"], (x.astype(np.float32), w.astype(np.float32), params), close32)
    x, w, params = case_t
    _check_conv_transpose(NUMBA["conv"], (x.astype(np.float32), w.astype(np.float32), params), close32)


@pytest.mark.parametrize("via_phases", [True, False])
def test_numba_conv_transpose_both_paths_equal_reference(monkeypatch, via_phases):
    """conv_transpose2d runs as s*s stride-1 convolutions (sub-pixel phases) when
    C_in <= C_out, as GEMM + col2im otherwise: both paths, forced, on every geometry here."""
    conv = NUMBA["conv"]
    monkeypatch.setattr(conv, "_transpose_via_phases", lambda c_in, c_out: via_phases)
    rng = np.random.default_rng(0)
    gy = rng.standard_normal((2, 4, 7, 6))
    for c_out in (4, 5, 3):
        for k, stride, padding, output_padding, dilation in [
                (3, (1, 1), (1, 1), (0, 0), (1, 1)), (3, (1, 1), (1, 1), (0, 0), (2, 1)),
                (4, (2, 2), (1, 1), (0, 0), (1, 1)), (4, (2, 2), (1, 1), (1, 0), (1, 1)),
                (3, (2, 3), (0, 2), (1, 2), (2, 1)), (1, (3, 2), (0, 0), (2, 1), (1, 1))]:
            w = rng.standard_normal((4, c_out, k, k))
            args = (stride, padding, output_padding, dilation)
            _close64(conv.conv_transpose2d(gy, w, *args), REFERENCE["conv"].conv_transpose2d(gy, w, *args))


@settings(max_examples=10)
@given(conv_cases(max_stride=1, max_batch=3), conv_cases(transposed=True, max_stride=1, max_batch=3))
def test_numba_stride1_path_in_chunks_of_one_sample(case, case_t):
    """The stride-1 path processes the batch in chunks of samples; here every chunk is one."""
    conv = NUMBA["conv"]
    old, conv.CHUNK_BYTES = conv.CHUNK_BYTES, 1
    try:
        _check_conv_family(conv, case)
        _check_conv_transpose(conv, case_t)
    finally:
        conv.CHUNK_BYTES = old


def test_numba_1x1_path_equals_reference():
    """A 1x1 stride-1 unpadded conv runs as a matrix product over channels (B3's last layers)."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 4, 5, 6)), rng.standard_normal((2, 4, 1, 1))
    y = REFERENCE["conv"].conv2d(x, w, (1, 1), (0, 0), (1, 1))
    _close64(NUMBA["conv"].conv2d(x, w, (1, 1), (0, 0), (1, 1)), y)
    g = rng.standard_normal(y.shape)
    _close64(NUMBA["conv"].conv2d_weight_grad(x, g, (1, 1), (1, 1), (0, 0), (1, 1)),
             REFERENCE["conv"].conv2d_weight_grad(x, g, (1, 1), (1, 1), (0, 0), (1, 1)))
    for wt in (rng.standard_normal((2, 4, 1, 1)), rng.standard_normal((2, 1, 1, 1))):  # both convT paths
        _close64(NUMBA["conv"].conv_transpose2d(g, wt, (1, 1), (0, 0), (0, 0), (1, 1)),
                 REFERENCE["conv"].conv_transpose2d(g, wt, (1, 1), (0, 0), (0, 0), (1, 1)))


@needs_cuda
@settings(max_examples=8)
@given(conv_cases(max_side=4, max_channels=2, max_batch=1))
def test_cuda_conv2d_and_weight_grad_equal_reference(case):
    _check_conv_family(_cuda("conv"), case)


@needs_cuda
@settings(max_examples=8)
@given(conv_cases(transposed=True, max_side=3, max_channels=2, max_batch=1))
def test_cuda_conv_transpose2d_equals_reference(case):
    _check_conv_transpose(_cuda("conv"), case)


# ---- fast == reference: pooling -------------------------------------------------------------

def _check_pool(fast, case):
    x, k, s, p = case
    ref = REFERENCE["pool"]
    y, idx = ref.max_pool2d(x, k, s, p)
    y_fast, idx_fast = fast.max_pool2d(x, k, s, p)
    _close64(y_fast, y)
    np.testing.assert_array_equal(backend.to_numpy(idx_fast), idx)
    g = np.random.default_rng(4).standard_normal(y.shape)
    _close64(fast.max_pool2d_backward(g, idx, x.shape, k, s, p),
             ref.max_pool2d_backward(g, idx, x.shape, k, s, p))
    _close64(fast.avg_pool2d(x, k, s, p), ref.avg_pool2d(x, k, s, p))
    _close64(fast.avg_pool2d_backward(g, x.shape, k, s, p), ref.avg_pool2d_backward(g, x.shape, k, s, p))


@given(pool_cases())
def test_numba_pooling_equals_reference(case):
    _check_pool(NUMBA["pool"], case)


@needs_cuda
@settings(max_examples=8)
@given(pool_cases(max_side=4))
def test_cuda_pooling_equals_reference(case):
    _check_pool(_cuda("pool"), case)


@given(pool_cases())
def test_reference_max_pool_index_points_at_the_maximum(case):
    x, k, s, p = case
    y, idx = REFERENCE["pool"].max_pool2d(x, k, s, p)
    N, C = x.shape[:2]
    picked = np.take_along_axis(x.reshape(N, C, -1), idx.reshape(N, C, -1), axis=2)
    np.testing.assert_array_equal(picked.reshape(y.shape), y)


def test_float32_pooling_keeps_dtype():
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32)
    for impl in (REFERENCE["pool"], NUMBA["pool"]):
        y, _ = impl.max_pool2d(x, (2, 2), (2, 2), (0, 0))
        assert y.dtype == np.float32 and impl.avg_pool2d(x, (3, 3), (1, 1), (1, 1)).dtype == np.float32


# ---- matmul ---------------------------------------------------------------------------------

matrix_sizes = st.tuples(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40))


@settings(max_examples=15)
@given(matrix_sizes)
def test_numba_matmul_and_blocked_equal_reference(mkn):
    m, k, n = mkn
    rng = np.random.default_rng(m * 10000 + k * 100 + n)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    expect = REFERENCE["matmul"].matmul(a, b)
    for c in (NUMBA["matmul"].matmul(a, b), NUMBA["matmul"].matmul_blocked(a, b, block=8),
              REFERENCE["matmul"].matmul_blocked(a, b, block=8)):
        _close64(c, expect)


@needs_cuda
@settings(max_examples=4)
@given(st.tuples(st.integers(1, 20), st.integers(1, 20), st.integers(1, 20)))
def test_cuda_matmul_and_tiled_equal_reference(mkn):
    m, k, n = mkn
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    expect = a.astype(np.float64) @ b
    for c in (_cuda("matmul").matmul(a, b), _cuda("matmul").matmul_blocked(a, b)):
        np.testing.assert_allclose(backend.to_numpy(c), expect, rtol=1e-5, atol=1e-5)


# ---- dispatch -------------------------------------------------------------------------------

def test_dispatch_follows_device_and_setting():
    from tinygen.kernels import conv_numba, conv_numpy
    assert implementation("conv", "cpu") is conv_numba            # default: fast
    with backend.use_kernels("reference"):
        assert implementation("conv", "cpu") is conv_numpy
        assert implementation("pool", "cuda").__name__ == "tinygen.kernels.pool_numpy"
    assert implementation("matmul", "cuda", "fast").__name__ == "tinygen.kernels.matmul_cuda"
    with pytest.raises(ValueError, match="unknown kernel family"):
        implementation("fft", "cpu")
    with pytest.raises(ValueError, match="kernel mode"):
        with backend.use_kernels("fastest"):
            pass


# ---- a real GPU (skipped without one) -------------------------------------------------------

@pytest.mark.gpu
def test_gpu_kernels_on_cupy_arrays_equal_reference():
    cupy = pytest.importorskip("cupy")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 3, 9, 8)), rng.standard_normal((5, 3, 3, 3))
    geometry = ((2, 1), (1, 1), (1, 2))
    conv = _cuda("conv")
    y = conv.conv2d(cupy.asarray(x), cupy.asarray(w), *geometry)
    assert isinstance(y, cupy.ndarray)
    _close64(y, REFERENCE["conv"].conv2d(x, w, *geometry))
    wt = rng.standard_normal((3, 2, 4, 4))
    args = ((2, 2), (1, 1), (1, 0), (1, 1))
    _close64(conv.conv_transpose2d(cupy.asarray(x), cupy.asarray(wt), *args),
             REFERENCE["conv"].conv_transpose2d(x, wt, *args))
    y, idx = _cuda("pool").max_pool2d(cupy.asarray(x), (3, 3), (2, 2), (1, 1))
    y_ref, idx_ref = REFERENCE["pool"].max_pool2d(x, (3, 3), (2, 2), (1, 1))
    _close64(y, y_ref)
    np.testing.assert_array_equal(cupy.asnumpy(idx), idx_ref)
    a, b = rng.standard_normal((70, 50)).astype(np.float32), rng.standard_normal((50, 33)).astype(np.float32)
    np.testing.assert_allclose(cupy.asnumpy(_cuda("matmul").matmul_blocked(cupy.asarray(a), cupy.asarray(b))),
                               a @ b, rtol=1e-4, atol=1e-4)


def test_numba_matmul_split_by_rows_equals_numpy():
    """Large products are split by rows over the worker threads (matmul_numba.SPLIT_FLOPS)."""
    rng = np.random.default_rng(0)
    for a_shape, b_shape in [((300, 200), (200, 150)), ((3, 64, 200), (200, 300)), ((2, 1, 40, 500), (3, 500, 300)),
                             ((8, 100), (100, 7))]:
        a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
        _close64(NUMBA["matmul"].matmul(a, b), a @ b)
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
        np.testing.assert_allclose(NUMBA["matmul"].matmul(a32, b32), a32 @ b32, rtol=1e-5, atol=1e-4)
    a, w = rng.standard_normal((300, 200)), rng.standard_normal((150, 200))
    _close64(NUMBA["matmul"].matmul(a, w.T), a @ w.T)                   # a transposed view, as Linear


@settings(max_examples=10)
@given(conv_cases(max_side=6, max_batch=3), conv_cases(transposed=True, max_side=6, max_batch=3))
def test_numba_winograd_path_equals_reference(case, case_t):
    """3x3 stride-1 convolutions (and transposed ones, and the input gradient) run through
    F(2x2, 3x3) (winograd_numba.py) above WINOGRAD_MIN_CHANNELS channels; forced here for
    every channel count, on whatever geometry is drawn (other geometries take the usual path)."""
    conv = NUMBA["conv"]
    old, conv.WINOGRAD_MIN_CHANNELS = conv.WINOGRAD_MIN_CHANNELS, 1
    try:
        _check_conv_family(conv, case)
        _check_conv_transpose(conv, case_t)
    finally:
        conv.WINOGRAD_MIN_CHANNELS = old


@pytest.mark.parametrize("padding, hw", [
    (padding, hw) for padding in [(1, 1), (0, 2), (2, 0), (0, 0)] for hw in [(5, 6), (4, 4), (3, 7), (1, 3)]
    if hw[0] + 2 * padding[0] >= 3 and hw[1] + 2 * padding[1] >= 3])      # at least one output
def test_winograd_conv_equals_reference(padding, hw):
    """F(2x2, 3x3) directly, odd and even output sizes, against im2col + GEMM (float64)."""
    from tinygen.kernels import winograd_numba
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 4, *hw)), rng.standard_normal((5, 4, 3, 3))
    y = REFERENCE["conv"].conv2d(x, w, (1, 1), padding, (1, 1))
    _close64(winograd_numba.conv2d(x, w, padding), y)


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_numba_conv_with_masked_taps_equals_reference_and_keeps_zeros_exact(mask_type):
    """A kernel with whole taps of zeros (MaskedConv2d) skips those taps' rows in conv2d and in
    the input gradient; the result equals the reference, and masked inputs have exactly no
    influence (so Winograd, which would mix them in up to rounding, is not used)."""
    from tinygen.nn.conv import causal_mask
    rng = np.random.default_rng(0)
    conv = NUMBA["conv"]
    for k, c in [(3, 32), (5, 4)]:
        mask = causal_mask((k, k), mask_type)                            # (k, k)
        w = rng.standard_normal((c, c, k, k)) * mask
        x = rng.standard_normal((2, c, 6, 7))
        args = ((1, 1), (k // 2, k // 2), (1, 1))
        y = conv.conv2d(x, w, *args)
        _close64(y, REFERENCE["conv"].conv2d(x, w, *args))
        x2 = x.copy()
        x2[:, :, 3, 4:] += 100.0                    # change pixel (3, 4) and the rest of its row
        x2[:, :, 4:] -= 50.0                        # and every later row
        assert np.array_equal(conv.conv2d(x2, w, *args)[:, :, 3, 3 if mask_type == "A" else 2],
                              y[:, :, 3, 3 if mask_type == "A" else 2])
        g = rng.standard_normal(y.shape)
        _close64(conv.conv_transpose2d(g, w.transpose(1, 0, 2, 3), (1, 1), (k // 2, k // 2), (0, 0), (1, 1)),
                 REFERENCE["conv"].conv_transpose2d(g, w.transpose(1, 0, 2, 3), (1, 1), (k // 2, k // 2), (0, 0), (1, 1)))


@pytest.mark.parametrize("impl", ["numba", "cuda"])
def test_weight_grad_on_masked_taps_equals_reference(impl):
    """conv2d_weight_grad(..., taps=mask) computes only the taps the mask keeps, 0 elsewhere."""
    if impl == "cuda" and not backend.cuda_is_available():
        pytest.skip("neither the CUDA simulator nor a GPU is available")
    from tinygen.nn.conv import causal_mask
    rng = np.random.default_rng(0)
    conv = NUMBA["conv"] if impl == "numba" else _cuda("conv")
    for k, stride in [(3, (1, 1)), (5, (2, 1))]:
        taps = causal_mask(k, "A")
        x = rng.standard_normal((2, 3, 7, 6))
        args = ((k, k), stride, (k // 2, k // 2), (1, 1))
        gy = rng.standard_normal(REFERENCE["conv"].conv2d(x, rng.standard_normal((4, 3, k, k)), *args[1:]).shape)
        want = REFERENCE["conv"].conv2d_weight_grad(x, gy, *args, taps=taps)
        assert np.all(want[:, :, ~taps] == 0) and np.any(want[:, :, taps] != 0)
        xd, gd = (backend.to_device(a, "cuda") for a in (x, gy)) if impl == "cuda" else (x, gy)
        _close64(conv.conv2d_weight_grad(xd, gd, *args, taps=taps), want)
