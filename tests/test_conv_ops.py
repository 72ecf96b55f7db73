"""Differentiable conv2d, conv_transpose2d, max_pool2d, avg_pool2d (tinygen/ops/conv.py, pool.py).

- float64 gradcheck and gradgradcheck (central differences, tg.autograd defaults
  atol 1e-5, rtol 1e-3) over hypothesis-drawn shapes, strides, paddings, dilations and
  output paddings, on the fast kernels, and once on the reference kernels;
- values and gradients equal PyTorch's (torch.nn.functional) within 1e-10 in float64,
  where torch is installed;
- the same ops on the cuda device (the simulator in CI) equal the cpu ones;
- bad arguments raise a ValueError naming the op and the shapes.

Max pooling's gradient is piecewise constant: finite differences are valid away from ties,
which standard normal inputs avoid with probability 1.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
import tinygen.cuda  # noqa: F401  (tg.cuda, until tinygen/__init__ imports it)
from tinygen import backend
from tinygen import testing as tgt
from tinygen.autograd import gradcheck, gradgradcheck
from tinygen.ops.conv import conv2d, conv_transpose2d
from tinygen.ops.pool import avg_pool2d, max_pool2d


def t64(a, requires_grad=True, device="cpu"):
    return tg.tensor(np.asarray(a, np.float64), dtype="float64", device=device,
                     requires_grad=requires_grad)


@st.composite
def conv_inputs(draw, transposed=False, max_side=4):
    """(x, w, b, params) as float64 Tensors that require grad; b may be None."""
    n = draw(st.integers(1, 2))
    c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    hw = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    params = draw(tgt.conv_params(hw, transposed=transposed))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((n, c_in) + hw)
    w = rng.standard_normal(((c_in, c_out) if transposed else (c_out, c_in)) + params.kernel_size)
    b = rng.standard_normal(c_out) if draw(st.booleans()) else None
    return t64(x), t64(w), (t64(b) if b is not None else None), params


@st.composite
def pool_inputs(draw, max_side=5):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    hw = tuple(draw(st.integers(max(1, k[a] - 2 * p[a]), max_side)) for a in (0, 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return t64(rng.standard_normal((draw(st.integers(1, 2)), draw(st.integers(1, 2))) + hw)), k, s, p


def _conv_fn(params, with_bias):
    def f(x, w, *b):
        return conv2d(x, w, b[0] if with_bias else None, params.stride, params.padding, params.dilation)
    return f


def _conv_t_fn(params, with_bias):
    def f(x, w, *b):
        return conv_transpose2d(x, w, b[0] if with_bias else None, params.stride, params.padding,
                                params.output_padding, params.dilation)
    return f


def _inputs(x, w, b):
    return (x, w) if b is None else (x, w, b)


# ---- gradcheck / gradgradcheck ----------------------------------------------------------------

@settings(max_examples=15)
@given(conv_inputs())
def test_conv2d_gradcheck(case):
    x, w, b, params = case
    assert gradcheck(_conv_fn(params, b is not None), _inputs(x, w, b))


@settings(max_examples=15)
@given(conv_inputs(transposed=True, max_side=3))
def test_conv_transpose2d_gradcheck(case):
    x, w, b, params = case
    assert gradcheck(_conv_t_fn(params, b is not None), _inputs(x, w, b))


@settings(max_examples=8)
@given(conv_inputs(max_side=3))
def test_conv2d_gradgradcheck(case):
    x, w, b, params = case
    assert gradgradcheck(_conv_fn(params, b is not None), _inputs(x, w, b))


@settings(max_examples=8)
@given(conv_inputs(transposed=True, max_side=2))
def test_conv_transpose2d_gradgradcheck(case):
    x, w, b, params = case
    assert gradgradcheck(_conv_t_fn(params, b is not None), _inputs(x, w, b))


@settings(max_examples=15)
@given(pool_inputs())
def test_pooling_gradcheck_and_gradgradcheck(case):
    x, k, s, p = case
    for pool in (max_pool2d, avg_pool2d):
        def f(x):
            return pool(x, k, s, p)
        assert gradcheck(f, (x,))
        assert gradgradcheck(f, (x,))


@pytest.mark.parametrize("name", ["sample_last", "col2im"])
def test_gradgradcheck_with_each_strided_algorithm_forced(name):
    """Strided conv2d and conv_transpose2d with one of conv_numba's algorithms forced wherever
    it applies (the default choice gives sample_last only from 16 input channels on)."""
    rng = np.random.default_rng(1)
    x, w = t64(rng.standard_normal((2, 3, 5, 6))), t64(rng.standard_normal((2, 3, 3, 2)))
    b = t64(rng.standard_normal(2))
    wt = t64(rng.standard_normal((3, 2, 4, 3)))
    with tg.settings.use_conv_algorithm(name):
        assert gradgradcheck(lambda x, w, b: conv2d(x, w, b, stride=2, padding=1, dilation=(1, 2)), (x, w, b))
        assert gradgradcheck(lambda x, w: conv_transpose2d(x, w, None, (2, 1), 1, (1, 0)), (x, wt))


def test_winograd_s2_layers_reuse_their_tiles_through_backward_and_double_backward():
    """4x4 stride-2 convs and transposed convs by winograd_s2, as chosen for 16 channels and
    forced for 3. A conv's forward keeps its input tiles for its weight gradient; a transposed
    conv's backward keeps gy's from its input gradient (a conv2d of gy) for its weight gradient
    (kernels/conv_algorithms_numba.py). Values and gradients through two backwards of one node
    (retain_graph) equal the reference kernels'; gradgradcheck holds."""
    rng = np.random.default_rng(2)
    for channels, algorithm in ((16, None), (3, "winograd_s2")):
        x = t64(rng.standard_normal((2, channels, 6, 6)))
        w, b = t64(rng.standard_normal((16, channels, 4, 4))), t64(rng.standard_normal(16))
        xt, wt = t64(rng.standard_normal((2, 16, 3, 3))), t64(rng.standard_normal((16, channels, 4, 4)))
        cases = [(lambda: conv2d(x, w, b, stride=2, padding=1), (x, w, b)),
                 (lambda: conv_transpose2d(xt, wt, None, stride=2, padding=1), (xt, wt))]

        def values_and_grads():
            out = []
            for op, inputs in cases:
                y = op()
                gy = t64(np.random.default_rng(0).standard_normal(y.shape), requires_grad=False)
                out += [y, *tg.grad(y, inputs, grad_outputs=gy, retain_graph=True), *tg.grad(y, inputs, grad_outputs=gy)]
            return out

        with tg.settings.use_conv_algorithm(algorithm or "auto"):
            fast = values_and_grads()
        with tg.settings.use_kernels("reference"):
            reference = values_and_grads()
        for got, want in zip(fast, reference):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-10)
    x, w = t64(rng.standard_normal((1, 3, 6, 6))), t64(rng.standard_normal((2, 3, 4, 4)))
    xt, wt = t64(rng.standard_normal((1, 2, 3, 3))), t64(rng.standard_normal((2, 3, 4, 4)))
    with tg.settings.use_conv_algorithm("winograd_s2"):
        assert gradgradcheck(lambda x, w: conv2d(x, w, None, stride=2, padding=1), (x, w))
        assert gradgradcheck(lambda x, w: conv_transpose2d(x, w, None, stride=2, padding=1), (xt, wt))


@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("float64", "float64"), ("float32", "float64")])
@pytest.mark.parametrize("c_out", [1, 5])
def test_bias_is_added_per_channel_to_the_bit(c_out, dtypes):
    """conv2d and conv_transpose2d with a bias equal the same op without it plus the bias
    broadcast over (N, H, W), bit for bit (tinygen adds it row by row, a faster order of the
    same additions), for one channel and several, and for a float64 bias on float32 values."""
    rng = np.random.default_rng(c_out)
    x = tg.tensor(rng.standard_normal((3, 2, 6, 5)), dtype=dtypes[0])
    for op, w_shape in ((conv2d, (c_out, 2, 3, 3)), (conv_transpose2d, (2, c_out, 3, 3))):
        w = tg.tensor(rng.standard_normal(w_shape), dtype=dtypes[0])
        b = tg.tensor(rng.standard_normal(c_out), dtype=dtypes[1])
        expected = op(x, w, None, 2, 1).numpy().copy()
        expected += b.numpy().reshape(1, -1, 1, 1)
        got = op(x, w, b, 2, 1).numpy()
        assert got.dtype == expected.dtype and np.array_equal(got, expected)


def test_gradcheck_on_reference_kernels():
    """The same ops on the reference kernels (TINYGEN_KERNELS=reference)."""
    rng = np.random.default_rng(0)
    x, w, b = t64(rng.standard_normal((2, 2, 5, 4))), t64(rng.standard_normal((3, 2, 2, 3))), t64(rng.standard_normal(3))
    wt = t64(rng.standard_normal((2, 3, 3, 2)))
    with tg.settings.use_kernels("reference"):
        assert gradgradcheck(lambda x, w, b: conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)), (x, w, b))
        assert gradgradcheck(lambda x, w: conv_transpose2d(x, w, None, 2, 1, (1, 0)), (x, wt))
        assert gradgradcheck(lambda x: max_pool2d(x, 3, 2, 1), (x,))
        assert gradgradcheck(lambda x: avg_pool2d(x, (2, 3), 1, (1, 0)), (x,))


# ---- against PyTorch --------------------------------------------------------------------------

def _grads_vs_torch(ours, theirs, arrays, seed=0):
    """Forward values and input gradients of ours (tinygen) and theirs (torch) at `arrays`."""
    torch = pytest.importorskip("torch")
    xs = [t64(a) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, yt = ours(*xs), theirs(*ts)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    gy = np.random.default_rng(seed).standard_normal(yt.shape)
    grads = tg.grad(y, xs, grad_outputs=t64(gy, requires_grad=False))
    grads_t = torch.autograd.grad(yt, ts, torch.tensor(gy))
    for g, gt in zip(grads, grads_t):
        np.testing.assert_allclose(g.numpy(), gt.numpy(), rtol=1e-10, atol=1e-10)


@settings(max_examples=20)
@given(conv_inputs(max_side=6), conv_inputs(transposed=True, max_side=4))
def test_conv_ops_equal_torch(case, case_t):
    F = pytest.importorskip("torch.nn.functional")
    x, w, b, p = case
    arrays = [t.numpy() for t in _inputs(x, w, b)]
    _grads_vs_torch(_conv_fn(p, b is not None),
                    lambda x, w, *b: F.conv2d(x, w, b[0] if b else None, p.stride, p.padding, p.dilation),
                    arrays)
    x, w, b, p = case_t
    arrays = [t.numpy() for t in _inputs(x, w, b)]
    _grads_vs_torch(_conv_t_fn(p, b is not None),
                    lambda x, w, *b: F.conv_transpose2d(x, w, b[0] if b else None, p.stride, p.padding,
                                                        p.output_padding, 1, p.dilation),
                    arrays)


@settings(max_examples=20)
@given(pool_inputs(max_side=7))
def test_pool_ops_equal_torch(case):
    F = pytest.importorskip("torch.nn.functional")
    x, k, s, p = case
    _grads_vs_torch(lambda x: max_pool2d(x, k, s, p), lambda x: F.max_pool2d(x, k, s, p), [x.numpy()])
    _grads_vs_torch(lambda x: avg_pool2d(x, k, s, p), lambda x: F.avg_pool2d(x, k, s, p), [x.numpy()])


def test_b3_layer_float32_equals_torch():
    """B3's 3x3 64->64 layer (smaller batch) in float32, fast kernels, forward and both gradients."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((2, 64, 28, 28), (64, 64, 3, 3), (64,)))
    xs = [tg.tensor(a, requires_grad=True) for a in (x, w, b)]
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = conv2d(*xs, padding=1)
    yt = torch.nn.functional.conv2d(*ts, padding=1)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    gy = rng.standard_normal(yt.shape).astype(np.float32)
    for g, gt in zip(tg.grad(y, xs, grad_outputs=tg.tensor(gy)), torch.autograd.grad(yt, ts, torch.tensor(gy))):
        scale = np.abs(gt.numpy()).max()
        np.testing.assert_allclose(g.numpy(), gt.numpy(), rtol=1e-4, atol=1e-5 * scale)


# ---- the cuda device ---------------------------------------------------------------------------

needs_cuda = pytest.mark.skipif(not backend.cuda_is_available(),
                                reason="no cuda device (neither a GPU nor the simulator)")


@needs_cuda
def test_ops_on_cuda_equal_cpu():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in ((1, 2, 4, 4), (2, 2, 3, 3), (2,), (2, 2, 2, 2))]

    def run(device):
        x, w, b, wt = (t64(a, device=device) for a in arrays)
        y = conv2d(x, w, b, stride=1, padding=1)
        z = conv_transpose2d(max_pool2d(y, 2, 1), wt, None, stride=2, padding=1, output_padding=1)
        loss = (avg_pool2d(z, 3, 2, 1) ** 2).sum()
        return [loss] + list(tg.grad(loss, [x, w, b, wt]))

    for a, b in zip(run("cuda"), run("cpu")):
        assert a.device in ("cuda",) and b.device == "cpu"
        np.testing.assert_allclose(backend.to_numpy(a.array), b.numpy(), rtol=1e-10, atol=1e-10)


@needs_cuda
def test_cuda_gradcheck_fast_mode():
    rng = np.random.default_rng(1)
    x, w = t64(rng.standard_normal((1, 1, 3, 3)), device="cuda"), t64(rng.standard_normal((1, 1, 2, 2)), device="cuda")
    assert gradcheck(lambda x, w: conv2d(x, w, padding=1, stride=2), (x, w), fast_mode=True)
    assert gradcheck(lambda x, w: conv_transpose2d(x, w, stride=2), (x, w), fast_mode=True)


def test_tg_cuda_is_available_matches_backend():
    assert tg.cuda.is_available() == backend.cuda_is_available()
    tg.cuda.synchronize()  # no-op without a real GPU, must not raise


@needs_cuda
def test_mixing_devices_is_an_error():
    x = t64(np.zeros((1, 1, 3, 3)))
    w = t64(np.zeros((1, 1, 2, 2)), device="cuda")
    with pytest.raises(RuntimeError, match="cuda"):
        conv2d(x, w)


# ---- bad input --------------------------------------------------------------------------------

def _z(*shape):
    return tg.zeros(*shape, dtype="float64")


BAD = [
    ("conv2d", lambda: conv2d(_z(2, 3, 5), _z(4, 3, 3, 3)), r"4-D input.*\(2, 3, 5\)"),
    ("conv2d", lambda: conv2d(_z(1, 3, 5, 5), _z(4, 2, 3, 3)), r"3 channels.*expects 2"),
    ("conv2d", lambda: conv2d(_z(1, 3, 5, 5), _z(4, 3, 7, 3)), r"spans 7.*\(1, 3, 5, 5\)"),
    ("conv2d", lambda: conv2d(_z(1, 3, 5, 5), _z(4, 3, 3, 3), dilation=3), r"spans 7"),
    ("conv2d", lambda: conv2d(_z(1, 3, 5, 5), _z(4, 3, 3, 3), stride=0), r"stride.*positive"),
    ("conv2d", lambda: conv2d(_z(1, 3, 5, 5), _z(4, 3, 3, 3), padding=-1), r"padding non-negative"),
    ("conv2d", lambda: conv2d(_z(1, 3, 5, 5), _z(4, 3, 3, 3), _z(3)), r"bias of shape \(3,\)"),
    ("conv2d", lambda: conv2d(_z(1, 3, 5, 5), _z(4, 3, 3, 3), stride=(1, 2, 3)), r"pair of ints"),
    ("conv2d", lambda: conv2d(_z(1, 3, 5, 5), tg.zeros(4, 3, 3, 3, dtype="float32")), r"dtype"),
    ("conv_transpose2d", lambda: conv_transpose2d(_z(1, 3, 5, 5), _z(4, 2, 3, 3)), r"3 channels.*expects 4"),
    ("conv_transpose2d", lambda: conv_transpose2d(_z(1, 3, 5, 5), _z(3, 2, 3, 3), stride=2, output_padding=2),
     r"output_padding \(2, 2\).*stride \(2, 2\)"),
    ("conv_transpose2d", lambda: conv_transpose2d(_z(1, 3, 5, 5), _z(3, 2, 3, 3), output_padding=1),
     r"smaller than either stride"),
    ("conv_transpose2d", lambda: conv_transpose2d(_z(1, 3, 1, 1), _z(3, 2, 1, 1), padding=1), r"not positive"),
    ("conv_transpose2d", lambda: conv_transpose2d(_z(1, 3, 5, 5), _z(3, 2, 3, 3), stride=-1), r"positive"),
    ("max_pool2d", lambda: max_pool2d(_z(3, 5, 5), 2), r"4-D input.*\(3, 5, 5\)"),
    ("max_pool2d", lambda: max_pool2d(_z(1, 1, 5, 5), 2, padding=2), r"at most half"),
    ("max_pool2d", lambda: max_pool2d(_z(1, 1, 2, 5), 5, padding=1), r"kernel larger.*\(1, 1, 2, 5\)"),
    ("avg_pool2d", lambda: avg_pool2d(_z(1, 1, 5, 5), 2, stride=0), r"positive"),
    ("avg_pool2d", lambda: avg_pool2d(_z(1, 1, 5, 5), 0), r"positive"),
]


@pytest.mark.parametrize("op,call,message", BAD, ids=[f"{op}-{i}" for i, (op, _, _) in enumerate(BAD)])
def test_bad_input_is_a_value_error_naming_the_op(op, call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert str(info.value).startswith(op + ":")


def test_defaults_follow_torch():
    x = t64(np.arange(32.0).reshape(1, 2, 4, 4), requires_grad=False)
    assert max_pool2d(x, 2).shape == (1, 2, 2, 2)                          # stride = kernel_size
    np.testing.assert_array_equal(max_pool2d(x, 2).numpy()[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(avg_pool2d(x, 2, padding=1).numpy()[0, 0, 0], [0 / 4, (1 + 2) / 4, 3 / 4])
    assert conv2d(x, t64(np.ones((3, 2, 1, 1)))).shape == (1, 3, 4, 4)


def test_masked_conv2d_equals_conv2d_of_masked_weight_with_the_gradients_masked():
    """masked_conv2d (MaskedConv2d's op) = conv2d(x, w * mask) in value, input gradient and
    weight gradient, to all orders: it only leaves the masked-out taps out of the work."""
    from tinygen.nn.conv import causal_mask
    from tinygen.ops.conv import masked_conv2d
    rng = np.random.default_rng(0)
    mask = causal_mask(3, "B").astype(np.float64)
    x = tg.tensor(rng.standard_normal((2, 3, 5, 4)), requires_grad=True)
    w = tg.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    b = tg.tensor(rng.standard_normal(4), requires_grad=True)
    m = tg.tensor(mask)
    y1 = masked_conv2d(x, w, m, b, padding=1)
    y2 = conv2d(x, w * m, b, padding=1)
    np.testing.assert_allclose(y1.numpy(), y2.numpy(), rtol=1e-12, atol=1e-12)
    g = tg.tensor(rng.standard_normal(y1.shape))
    g1 = tg.grad((y1 * g).sum(), (x, w, b), create_graph=True)
    g2 = tg.grad((y2 * g).sum(), (x, w, b), create_graph=True)
    for a, c in zip(g1, g2):
        np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=1e-12, atol=1e-12)
    assert np.all(g1[1].numpy()[:, :, mask == 0] == 0.0)              # exactly 0 off the mask
    # second order: the gradient of <gw, v> with respect to x agrees too
    v = tg.tensor(rng.standard_normal(w.shape))
    (h1,) = tg.grad((g1[1] * v).sum(), x)
    (h2,) = tg.grad((g2[1] * v).sum(), x)
    np.testing.assert_allclose(h1.numpy(), h2.numpy(), rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x, w: masked_conv2d(x, w, m, padding=1), (x, w))
    assert gradgradcheck(lambda x, w: masked_conv2d(x, w, m, padding=1), (x, w))
