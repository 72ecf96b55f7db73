"""Kernels: every fast implementation equals the numpy reference (tinygen/kernels/).

    numba (cpu, fast)          == numpy reference   float64: atol 1e-10; float32: rtol 1e-5, atol 1e-5
    numba.cuda (the simulator) == numpy reference   float64: atol 1e-10

over hypothesis-drawn shapes, strides, paddings, dilations and output paddings. The numpy
reference itself is checked against a second reference (_conv2d_direct below, the sum written
as shifted products), against the adjoint identities <im2col(x), c> = <x, col2im(c)> and
<conv2d(x, w), g> = <x, conv_transpose2d(g, w)> = <w, W(x, g)>, and, where PyTorch is
installed, against torch (test_conv_ops.py checks the ops against torch).

The cuda column runs under NUMBA_ENABLE_CUDASIM=1 (tests/conftest.py sets it), on tiny
shapes: the simulator runs one Python thread per GPU thread. Tests marked `gpu` run the same
kernels on CuPy arrays and need a real GPU (TINYGEN_REAL_GPU=1; skipped otherwise).
"""
import importlib
import inspect
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import backend
from tinygen import testing as tgt
from tinygen.kernels import FAMILIES, ONE_PER_DEVICE, common, conv_algorithms_numba, device_of, implementation
from tinygen.kernels.common import conv_output_size, conv_transpose_output_size
from tinygen.settings import use_conv_algorithm, use_kernels

WITH_REFERENCE = ("conv", "pool", "matmul", "fused")        # FAMILIES but ONE_PER_DEVICE
REFERENCE = {family: implementation(family, "cpu", "reference") for family in WITH_REFERENCE}
NUMBA = {family: implementation(family, "cpu", "fast") for family in WITH_REFERENCE}
ALGORITHMS = conv_algorithms_numba.ALGORITHMS   # {op: {name: function}}: conv_numba's algorithms

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


# ---- the contract: every implementation file defines its family's list ----------------------

def _parameters(fn):
    return [(p.name, p.kind) for p in inspect.signature(fn).parameters.values()]


def _public_functions(module):
    return {name for name, obj in vars(module).items()
            if inspect.isfunction(obj) and obj.__module__ == module.__name__ and not name.startswith("_")}


# the files of tinygen/kernels/ that implement no family: what the families share, and the
# worker threads
SHARED = ("common", "common_numba", "common_cuda", "threads")

# winograd_numba.py's functions: conv_numba's algorithms, each with the signature of its op
WINOGRAD = {"conv2d_winograd": "conv2d", "conv2d_winograd_s2": "conv2d",
            "conv_transpose2d_winograd_s2": "conv_transpose2d",
            "conv2d_weight_grad_winograd_s2": "conv2d_weight_grad"}


def test_every_implementation_file_defines_exactly_its_family_list():
    """*_numpy.py, *_numba.py, *_cuda.py: the family's functions (FAMILIES) and no other public
    ones, with the reference's parameters (numba's where a family has no reference; defaults
    may differ, e.g. a GPU tile). conv_numba's algorithms live in files of their own
    (conv_algorithms_numba.py, winograd_numba.py): named `<op>_<name>` with the op's
    parameters, beside the choice among them."""
    folder = pathlib.Path(REFERENCE["conv"].__file__).parent
    stems = sorted(f.stem for f in folder.glob("*.py")
                   if not f.stem.startswith("_") and f.stem.rsplit("_", 1)[-1] in ("numpy", "numba", "cuda"))
    assert {f"{family}_{impl}" for family in WITH_REFERENCE for impl in ("numpy", "numba", "cuda")} <= set(stems)
    algorithms = {f"{op}_{name}" for op, table in ALGORITHMS.items() for name in table}
    for stem in stems:
        family, _ = stem.rsplit("_", 1)
        module = importlib.import_module(f"tinygen.kernels.{stem}")
        if stem in SHARED:
            continue
        if stem == "winograd_numba":
            assert _public_functions(module) == set(WINOGRAD)
            for name in WINOGRAD:
                assert _parameters(getattr(module, name)) == _parameters(getattr(REFERENCE["conv"], WINOGRAD[name]))
            continue
        if stem == "conv_algorithms_numba":
            assert _public_functions(module) == algorithms - set(WINOGRAD) | {"choose_algorithm", "applicable"}
            continue
        assert family in FAMILIES, f"{stem}.py: declare its family's function list in tinygen/kernels/__init__.py"
        own = "numpy" if (folder / f"{family}_numpy.py").exists() else "numba"   # special: no numpy
        like = REFERENCE.get(family) or importlib.import_module(f"tinygen.kernels.{family}_{own}")
        for name in FAMILIES[family]:
            assert _parameters(getattr(module, name)) == _parameters(getattr(like, name)), (stem, name)
        assert _public_functions(module) <= set(FAMILIES[family]), stem
    for op, table in ALGORITHMS.items():
        for name, fn in table.items():
            assert fn.__name__ == f"{op}_{name}" and getattr(conv_algorithms_numba, fn.__name__) is fn
            assert _parameters(fn) == _parameters(getattr(REFERENCE["conv"], op)), (op, name)


# ---- the reference against itself ----------------------------------------------------------

def _conv2d_direct(x, w, stride, padding, dilation):
    """conv2d as kh*kw shifted tensor contractions, no cols matrix (a second reference)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    N, C, H, W = x.shape
    C_out, _, kh, kw = w.shape
    Ho, Wo = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.zeros((N, C_out, Ho, Wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            tap = xpad[:, :, i * dh: i * dh + sh * (Ho - 1) + 1: sh,
                       j * dw: j * dw + sw * (Wo - 1) + 1: sw]       # (N, C, Ho, Wo)
            y += np.einsum("nchw,oc->nohw", tap, w[:, :, i, j])
    return y


@given(conv_cases())
def test_reference_conv2d_equals_direct_loop(case):
    x, w, params = case
    y = REFERENCE["conv"].conv2d(x, w, *_geometry(params))
    assert y.shape[2:] == params.output_size
    _close64(_conv2d_direct(x, w, *_geometry(params)), y)


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
    op = tuple(x.shape[2 + a] - conv_transpose_output_size(
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


def _applicable(op, x, w_shape, y_shape, params):
    return conv_algorithms_numba.applicable(op, x.shape, w_shape, y_shape, *_geometry(params))


def _random_taps(kernel_size, seed):
    """A (kh, kw) bool support with at least one tap out (or None for a 1x1 kernel half the time)."""
    taps = np.random.default_rng(seed).random(kernel_size) < 0.6
    taps.flat[seed % taps.size] = False
    return taps


@settings(max_examples=30)
@given(conv_cases(max_batch=3), st.integers(0, 2**16))
def test_every_conv2d_algorithm_equals_reference(case, seed):
    """Each named algorithm of conv2d and of its weight gradient, called directly where it
    applies, with and without taps (Winograd only without), against the reference."""
    x, w, params = case
    ref = REFERENCE["conv"]
    geometry = _geometry(params)
    taps = _random_taps(params.kernel_size, seed)
    y = ref.conv2d(x, w, *geometry)
    g = np.random.default_rng(seed).standard_normal(y.shape)
    names = _applicable("conv2d", x, w.shape, y.shape, params)
    assert {"im2col", "phases"} <= set(names)
    for name in names:
        _close64(ALGORITHMS["conv2d"][name](x, w, *geometry), y)
        if not name.startswith("winograd"):
            _close64(ALGORITHMS["conv2d"][name](x, w, *geometry, taps), ref.conv2d(x, w, *geometry, taps))
    gw, gw_taps = (ref.conv2d_weight_grad(x, g, params.kernel_size, *geometry, t) for t in (None, taps))
    for name in _applicable("conv2d_weight_grad", x, w.shape, g.shape, params):
        fn = ALGORITHMS["conv2d_weight_grad"][name]
        _close64(fn(x, g, params.kernel_size, *geometry), gw)
        _close64(fn(x, g, params.kernel_size, *geometry, taps), gw_taps)


@settings(max_examples=30)
@given(conv_cases(transposed=True, max_batch=3), st.integers(0, 2**16))
def test_every_conv_transpose2d_algorithm_equals_reference(case, seed):
    x, w, params = case
    ref = REFERENCE["conv"]
    args = (params.stride, params.padding, params.output_padding, params.dilation)
    taps = _random_taps(params.kernel_size, seed)
    y = ref.conv_transpose2d(x, w, *args)
    names = _applicable("conv_transpose2d", x, w.shape, y.shape, params)
    assert {"phases", "col2im", "col2im_planes"} <= set(names)
    for name in names:
        _close64(ALGORITHMS["conv_transpose2d"][name](x, w, *args), y)
        _close64(ALGORITHMS["conv_transpose2d"][name](x, w, *args, taps), ref.conv_transpose2d(x, w, *args, taps))


@settings(max_examples=10)
@given(conv_cases(max_batch=3), conv_cases(transposed=True, max_batch=3))
def test_every_forced_algorithm_equals_reference(case, case_t):
    """use_conv_algorithm(name) for every name: the ops then run it wherever it applies."""
    for name in conv_algorithms_numba.NAMES:
        with use_conv_algorithm(name):
            _check_conv_family(NUMBA["conv"], case)
            _check_conv_transpose(NUMBA["conv"], case_t)


@settings(max_examples=10)
@given(conv_cases(max_batch=3), conv_cases(transposed=True, max_batch=3))
def test_every_forced_algorithm_equals_reference_in_float32(case, case_t):
    def close32(a, b):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
        assert a.dtype == np.float32

    (x, w, params), (xt, wt, params_t) = case, case_t
    for name in conv_algorithms_numba.NAMES:
        with use_conv_algorithm(name):
            _check_conv_family(NUMBA["conv"], (x.astype(np.float32), w.astype(np.float32), params), close32)
            _check_conv_transpose(NUMBA["conv"], (xt.astype(np.float32), wt.astype(np.float32), params_t), close32)


@settings(max_examples=10)
@given(conv_cases(max_batch=3), conv_cases(transposed=True, max_batch=3))
def test_numba_conv_in_chunks_of_one_sample(case, case_t):
    """The algorithms process each worker's samples in chunks (common.CHUNK_BYTES); here
    every chunk is one sample."""
    old, common.CHUNK_BYTES = common.CHUNK_BYTES, 1
    try:
        for name in ("im2col", "phases", "winograd", "col2im", "col2im_planes", "sample_last", "per_sample"):
            with use_conv_algorithm(name):
                _check_conv_family(NUMBA["conv"], case)
                _check_conv_transpose(NUMBA["conv"], case_t)
    finally:
        common.CHUNK_BYTES = old


def test_choose_algorithm_follows_shapes_taps_and_the_setting(monkeypatch):
    """The rules of choose_algorithm; forcing applies only where the algorithm does."""
    choose = conv_algorithms_numba.choose_algorithm
    one, zero = (1, 1), (0, 0)
    x, y = (2, 64, 8, 8), (2, 64, 8, 8)
    assert choose("conv2d", x, (64, 64, 3, 3), y, one, one, one) == "winograd"
    assert choose("conv2d", (2, 8, 8, 8), (8, 8, 3, 3), y, one, one, one) == "phases"   # few channels
    mask = np.ones((3, 3), bool)
    assert choose("conv2d", x, (64, 64, 3, 3), y, one, one, one, taps=mask) == "winograd"  # keeps all
    mask[2, 2] = False
    assert choose("conv2d", x, (64, 64, 3, 3), y, one, one, one, taps=mask) == "phases"
    assert choose("conv2d", x, (64, 64, 1, 1), y, one, zero, one) == "gemm_1x1"
    assert choose("conv_transpose2d", (2, 32, 7, 7), (32, 64, 3, 3), (2, 64, 13, 13), (2, 2), one, one) == "phases"
    assert choose("conv_transpose2d", (2, 64, 7, 7), (64, 32, 3, 3), (2, 32, 13, 13), (2, 2), one, one) == "col2im"
    # 4x4 stride 2 with channels in and out: F(4x4, 2x2) on the phases; one channel: not
    assert choose("conv_transpose2d", (2, 64, 7, 7), (64, 32, 4, 4), (2, 32, 14, 14), (2, 2), one, one) == "winograd_s2"
    assert choose("conv_transpose2d", (2, 64, 14, 14), (64, 1, 4, 4), (2, 1, 28, 28), (2, 2), one,
                  one) == "col2im_planes"
    assert choose("conv_transpose2d", (2, 64, 7, 7), (64, 32, 4, 4), (2, 32, 14, 14), (2, 2), one, one,
                  taps=np.arange(16).reshape(4, 4) < 10) == "col2im"
    assert choose("conv_transpose2d", x, (64, 64, 3, 3), y, one, one, one) == "flip"
    # stride 1 with more channels in than out (the input gradients of the PixelRNN and Gated
    # PixelCNN presets): flip too, col2im stays with the strided ones
    assert choose("conv_transpose2d", (2, 64, 8, 8), (64, 32, 2, 3), (2, 32, 9, 10), one, zero,
                  one) == "flip"
    assert choose("conv_transpose2d", (2, 128, 8, 8), (128, 32, 1, 1), (2, 32, 8, 8), one, zero,
                  one) == "flip"
    assert choose("conv2d_weight_grad", x, (64, 64, 3, 3), y, one, one, one) == "phases"
    two, y2 = (2, 2), (2, 128, 7, 7)                 # strided, enough input channels: sample_last
    assert choose("conv2d", (2, 64, 14, 14), (128, 64, 4, 4), y2, two, one, one) == "winograd_s2"
    assert choose("conv2d", (2, 64, 14, 14), (128, 64, 3, 3), y2, two, one, one) == "sample_last"
    assert choose("conv2d_weight_grad", (2, 64, 14, 14), (128, 64, 4, 4), y2, two, one, one) == "winograd_s2"
    assert choose("conv2d_weight_grad", (2, 64, 14, 14), (128, 64, 3, 3), y2, two, one, one) == "sample_last"
    assert choose("conv2d", (2, 1, 28, 28), (64, 1, 4, 4), (2, 64, 14, 14), two, one, one) == "im2col"
    # a weight gradient with few rows of cols (one input channel: 16 for 4x4): a GEMM per sample
    assert choose("conv2d_weight_grad", (2, 1, 28, 28), (64, 1, 4, 4), (2, 64, 14, 14), two, one, one) == "per_sample"
    assert choose("conv2d_weight_grad", (2, 1, 28, 28), (32, 1, 3, 3), (2, 32, 28, 28), one, one, one) == "per_sample"
    assert choose("conv2d_weight_grad", (2, 2, 28, 28), (32, 2, 3, 3), (2, 32, 28, 28), one, one, one) == "phases"
    with use_conv_algorithm("im2col"):
        assert choose("conv2d", x, (64, 64, 3, 3), y, one, one, one) == "im2col"
        assert choose("conv_transpose2d", x, (64, 64, 3, 3), y, one, one, one) == "flip"   # not a transpose's
        with use_conv_algorithm("auto"):
            assert choose("conv2d", x, (64, 64, 3, 3), y, one, one, one) == "winograd"
    with use_conv_algorithm("winograd"):         # never for a kernel with taps, nor for a 5x5
        assert choose("conv2d", x, (64, 64, 3, 3), y, one, one, one, taps=mask) == "phases"
        assert choose("conv2d", (2, 8, 8, 8), (8, 8, 3, 3), y, one, one, one) == "winograd"
        assert choose("conv2d", x, (64, 64, 5, 5), (2, 64, 6, 6), one, one, one) == "phases"
    monkeypatch.setenv("TINYGEN_CONV_ALGO", "col2im")
    assert choose("conv_transpose2d", x, (64, 64, 3, 3), y, one, one, one) == "col2im"
    monkeypatch.setenv("TINYGEN_CONV_ALGO", "fastest")
    with pytest.raises(ValueError, match="fastest"):
        choose("conv2d", x, (64, 64, 3, 3), y, one, one, one)
    with pytest.raises(ValueError, match="unknown conv algorithm"):
        with use_conv_algorithm("fastest"):
            pass


def test_algorithm_does_not_depend_on_weight_values():
    """A 3x3 kernel with a tap of zeros is still an unmasked kernel: Winograd serves it, to the
    bit, as it serves the same kernel without the zeros (taps are explicit, never detected)."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 16, 6, 5)), rng.standard_normal((16, 16, 3, 3))
    w[:, :, 2, :] = 0.0
    geometry = ((1, 1), (1, 1), (1, 1))
    assert np.array_equal(NUMBA["conv"].conv2d(x, w, *geometry), ALGORITHMS["conv2d"]["winograd"](x, w, *geometry))
    with pytest.raises(ValueError, match="mask"):
        ALGORITHMS["conv2d"]["winograd"](x, w, *geometry, np.arange(9).reshape(3, 3) < 6)


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
    with use_kernels("reference"):
        assert implementation("conv", "cpu") is conv_numpy
        assert implementation("pool", "cuda").__name__ == "tinygen.kernels.pool_numpy"
    assert implementation("matmul", "cuda", "fast").__name__ == "tinygen.kernels.matmul_cuda"
    with pytest.raises(ValueError, match="unknown kernel family"):
        implementation("fft", "cpu")
    for family, per_device in ONE_PER_DEVICE.items():    # special: NumPy has no erf
        for device, suffix in per_device.items():
            modules = {implementation(family, device, mode).__name__ for mode in ("reference", "fast")}
            assert modules == {f"tinygen.kernels.{family}_{suffix}"}
    assert device_of(np.zeros(2)) == "cpu"
    with pytest.raises(ValueError, match="kernel mode"):
        with use_kernels("fastest"):
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


def test_numba_matmul_split_equals_numpy():
    """Large products are split over the worker threads (matmul_numba.SPLIT_FLOPS): by rows,
    or by columns when b is stored transposed and c is wider than tall."""
    rng = np.random.default_rng(0)
    for a_shape, b_shape in [((300, 200), (200, 150)), ((3, 64, 200), (200, 300)), ((2, 1, 40, 500), (3, 500, 300)),
                             ((8, 100), (100, 7))]:
        a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
        _close64(NUMBA["matmul"].matmul(a, b), a @ b)
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
        np.testing.assert_allclose(NUMBA["matmul"].matmul(a32, b32), a32 @ b32, rtol=1e-5, atol=1e-4)
    a, w = rng.standard_normal((300, 200)), rng.standard_normal((150, 200))
    _close64(NUMBA["matmul"].matmul(a, w.T), a @ w.T)                   # a transposed view, as Linear
    a, w = rng.standard_normal((128, 200)), rng.standard_normal((400, 200))
    _close64(NUMBA["matmul"].matmul(a, w.T), a @ w.T)                   # wider than tall: by columns
    a32, w32 = a.astype(np.float32), w.astype(np.float32)
    np.testing.assert_allclose(NUMBA["matmul"].matmul(a32, w32.T), a32 @ w32.T, rtol=1e-5, atol=1e-4)


def test_numba_matmul_outer_products_equal_blas_bitwise():
    """K = 1 is a broadcast product (matmul_numba.py says why): the same numbers as BLAS's,
    batch dims broadcast as matmul's."""
    rng = np.random.default_rng(1)
    for a_shape, b_shape in [((64, 1), (1, 300)), ((3, 5, 1), (1, 7)), ((2, 1, 4, 1), (3, 1, 6))]:
        for dtype in (np.float32, np.float64):
            a, b = rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)
            got = NUMBA["matmul"].matmul(a, b)
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, np.matmul(a, b))


@pytest.mark.parametrize("padding, hw", [
    (padding, hw) for padding in [(1, 1), (0, 2), (2, 0), (0, 0)] for hw in [(5, 6), (4, 4), (3, 7), (1, 3)]
    if hw[0] + 2 * padding[0] >= 3 and hw[1] + 2 * padding[1] >= 3])      # at least one output
def test_winograd_conv_equals_reference(padding, hw):
    """F(2x2, 3x3) directly, odd and even output sizes, against im2col + GEMM (float64)."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 4, *hw)), rng.standard_normal((5, 4, 3, 3))
    y = REFERENCE["conv"].conv2d(x, w, (1, 1), padding, (1, 1))
    _close64(ALGORITHMS["conv2d"]["winograd"](x, w, (1, 1), padding, (1, 1)), y)


def test_winograd_f42_transforms_compute_a_2_tap_correlation():
    """The F(4, 2) transforms that winograd_numba derives by Cook-Toom (A_T42, G42, B_T42)
    compute a 2-tap correlation exactly (float64). The hard-coded loops that apply them are
    checked through the algorithms that run them, against the reference (the test below)."""
    wino = importlib.import_module("tinygen.kernels.winograd_numba")
    d, g = np.random.default_rng(0).standard_normal(5), np.random.default_rng(1).standard_normal(2)
    np.testing.assert_allclose(wino.A_T42 @ ((wino.G42 @ g) * (wino.B_T42 @ d)),
                               [g @ d[i:i + 2] for i in range(4)], atol=1e-12)


@pytest.mark.parametrize("padding, output_padding, hw, n", [
    ((1, 1), (0, 0), (14, 14), 3), ((0, 0), (1, 0), (5, 7), 1), ((2, 0), (0, 1), (9, 6), 2),
    ((3, 1), (1, 1), (4, 11), 2), ((0, 2), (0, 0), (2, 3), 1), ((1, 0), (1, 0), (1, 4), 1)])
def test_winograd_s2_equals_reference(padding, output_padding, hw, n):
    """F(4x4, 2x2) on stride-2 phases, conv2d, conv_transpose2d and the weight gradient (of
    both: a transpose's has a grid up to output_padding smaller than conv2d's formula) directly,
    through the ops (forced) and in chunks of one sample: odd and even sizes, partial tiles,
    output_padding, batch 1; float64 and float32 against the reference; taps are refused."""
    rng = np.random.default_rng(sum(hw) + n)
    ref, conv = REFERENCE["conv"], NUMBA["conv"]
    geometry = ((2, 2), padding, (1, 1))
    targs = ((2, 2), padding, output_padding, (1, 1))
    x, w = rng.standard_normal((n, 3, *hw)), rng.standard_normal((5, 3, 4, 4))
    wt = rng.standard_normal((3, 5, 4, 4))
    yt = ref.conv_transpose2d(x, wt, *targs)
    gt = rng.standard_normal(yt.shape)                             # the transpose's output gradient
    cases = [(ALGORITHMS["conv_transpose2d"]["winograd_s2"], conv.conv_transpose2d, x, wt, targs, yt),
             (ALGORITHMS["conv2d_weight_grad"]["winograd_s2"], conv.conv2d_weight_grad, gt, x,
              ((4, 4),) + geometry, ref.conv2d_weight_grad(gt, x, (4, 4), *geometry))]
    if all(hw[a] + 2 * padding[a] >= 4 for a in (0, 1)):
        y = ref.conv2d(x, w, *geometry)
        g = rng.standard_normal(y.shape)
        cases += [(ALGORITHMS["conv2d"]["winograd_s2"], conv.conv2d, x, w, geometry, y),
                  (ALGORITHMS["conv2d_weight_grad"]["winograd_s2"], conv.conv2d_weight_grad, x, g,
                   ((4, 4),) + geometry, ref.conv2d_weight_grad(x, g, (4, 4), *geometry))]
    for direct, op, a, k, args, y in cases:
        _close64(direct(a, k, *args), y)
        assert np.array_equal(direct(a, k, *args), direct(a, k, *args))   # run to run, to the bit
        y32 = direct(a.astype(np.float32), k.astype(np.float32), *args)   # F(4, 2)'s constants (8, 1/6):
        assert y32.dtype == np.float32                                      # float32 error about 1e-6
        np.testing.assert_allclose(y32, y, rtol=1e-5, atol=1e-5 * np.abs(y).max())   # of the largest output
        with use_conv_algorithm("winograd_s2"):
            _close64(op(a, k, *args), y)
            old, common.CHUNK_BYTES = common.CHUNK_BYTES, 1
            try:
                _close64(op(a, k, *args), y)
            finally:
                common.CHUNK_BYTES = old
        with pytest.raises(ValueError, match="mask"):
            direct(a, k, *args, np.arange(16).reshape(4, 4) < 6)
    with pytest.raises(ValueError, match="4x4 kernel"):
        ALGORITHMS["conv2d"]["winograd_s2"](x, w[:, :, :3, :3], *geometry)


def test_winograd_s2_weight_gradient_reuses_the_forwards_tiles_of_the_same_input():
    """conv2d(..., reserve=r) keeps its transformed input tiles in r; conv2d_weight_grad of the
    same unchanged x reads them instead of transforming x again, and gives the very same bits.
    A reserve made for another x, or other padding, is ignored; the reference and the other
    algorithms leave it empty."""
    rng = np.random.default_rng(3)
    conv, ref = NUMBA["conv"], REFERENCE["conv"]
    geometry = ((2, 2), (1, 1), (1, 1))
    x = rng.standard_normal((5, 16, 14, 14)).astype(np.float32)
    w = rng.standard_normal((16, 16, 4, 4)).astype(np.float32)
    reserve = {}
    y = conv.conv2d(x, w, *geometry, reserve=reserve)
    assert reserve["tiles"] and all(v.dtype == np.float32 for v in reserve["tiles"].values())
    np.testing.assert_array_equal(y, conv.conv2d(x, w, *geometry))
    g = rng.standard_normal(y.shape).astype(np.float32)
    fresh = conv.conv2d_weight_grad(x, g, (4, 4), *geometry)
    np.testing.assert_array_equal(conv.conv2d_weight_grad(x, g, (4, 4), *geometry, reserve=reserve), fresh)
    for tiles in reserve["tiles"].values():
        tiles[...] = 0                                               # then it must read these zeros
    assert not conv.conv2d_weight_grad(x, g, (4, 4), *geometry, reserve=reserve).any()
    other = x + 1                                                    # another array: transformed anew
    np.testing.assert_array_equal(conv.conv2d_weight_grad(other, g, (4, 4), *geometry, reserve=reserve),
                                  conv.conv2d_weight_grad(other, g, (4, 4), *geometry))
    zero = ((2, 2), (0, 0), (1, 1))                                  # the same x, other padding
    gz = rng.standard_normal(ref.conv2d(x, w, *zero).shape).astype(np.float32)
    np.testing.assert_allclose(conv.conv2d_weight_grad(x, gz, (4, 4), *zero, reserve=reserve),
                               ref.conv2d_weight_grad(x, gz, (4, 4), *zero), rtol=1e-4, atol=1e-3)
    for kernels, shape in ((ref, w.shape), (conv, (16, 16, 3, 3))):
        kept = {}
        kernels.conv2d(x, rng.standard_normal(shape).astype(np.float32), *geometry, reserve=kept)
        assert kept == {}


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_numba_conv_with_masked_taps_equals_reference_and_keeps_zeros_exact(mask_type):
    """A masked kernel (MaskedConv2d) passes its mask as `taps`: conv2d and the input gradient
    skip those taps' rows (or multiply by the mask), equal the reference, and masked inputs have
    exactly no influence, under every algorithm forced (Winograd, which would mix them in up to
    rounding, refuses taps, so forcing it falls back)."""
    from tinygen.nn.conv import causal_mask
    rng = np.random.default_rng(0)
    conv = NUMBA["conv"]
    for k, c in [(3, 32), (5, 4)]:
        mask = causal_mask((k, k), mask_type)                            # (k, k)
        w = rng.standard_normal((c, c, k, k)) * mask
        x = rng.standard_normal((2, c, 6, 7))
        args = ((1, 1), (k // 2, k // 2), (1, 1))
        targs = ((1, 1), (k // 2, k // 2), (0, 0), (1, 1))
        x2 = x.copy()
        x2[:, :, 3, 4:] += 100.0                    # change pixel (3, 4) and the rest of its row
        x2[:, :, 4:] -= 50.0                        # and every later row
        g = rng.standard_normal((2, c, 6, 7))
        for name in ("auto",) + conv_algorithms_numba.NAMES:
            with use_conv_algorithm(name):
                y = conv.conv2d(x, w, *args, taps=mask)
                _close64(y, REFERENCE["conv"].conv2d(x, w, *args))
                assert np.array_equal(conv.conv2d(x2, w, *args, taps=mask)[:, :, 3, 3 if mask_type == "A" else 2],
                                      y[:, :, 3, 3 if mask_type == "A" else 2]), name
                _close64(conv.conv_transpose2d(g, w.transpose(1, 0, 2, 3), *targs, taps=mask),
                         REFERENCE["conv"].conv_transpose2d(g, w.transpose(1, 0, 2, 3), *targs))


@pytest.mark.parametrize("impl", ["numba", "cuda"])
def test_weight_grad_on_masked_taps_equals_reference(impl):
    """conv2d_weight_grad(..., taps=mask) computes only the taps the mask keeps, 0 elsewhere;
    conv2d and conv_transpose2d with taps equal the reference on w * taps."""
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
        # conv2d and conv_transpose2d with taps compute with the kernel w * taps
        w = rng.standard_normal((4, 3, k, k))
        wd = backend.to_device(w, "cuda") if impl == "cuda" else w
        _close64(conv.conv2d(xd, wd, *args[1:], taps=taps), REFERENCE["conv"].conv2d(x, w * taps, *args[1:]))
        targs = (stride, (k // 2, k // 2), (0, 0), (1, 1))
        _close64(conv.conv_transpose2d(gd, wd, *targs, taps=taps),
                 REFERENCE["conv"].conv_transpose2d(gy, w * taps, *targs))
