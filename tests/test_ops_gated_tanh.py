"""gated_tanh (tinygen/ops/gates.py), Gated PixelCNN's gate as one op: values and gradients
equal tanh * sigmoid and torch's, gradcheck and gradgradcheck over hypothesis shapes, float32
kept, bad arguments named."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import testing as tgt
from tinygen.autograd import gradcheck, gradgradcheck
from tinygen.ops import gated_tanh

GRADCHECKED = {"gated_tanh"}


def _grads(y, xs, v):
    return [g.numpy() for g in tg.grad((y * v).sum(), xs, materialize_grads=True)]


@st.composite
def gated_inputs(draw):
    shape = list(draw(tgt.shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    shape[dim] *= 2
    return draw(tgt.tensors(tuple(shape))), dim


@settings(max_examples=25, deadline=None)
@given(case=gated_inputs())
def test_gated_tanh_equals_tanh_times_sigmoid(case):
    x, dim = case
    a, b = x.chunk(2, dim)
    want = a.tanh() * b.sigmoid()
    y = gated_tanh(x, dim)
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-14, atol=1e-15)
    v = tg.tensor(np.random.default_rng(0).standard_normal(y.shape))
    np.testing.assert_allclose(_grads(y, [x], v)[0], _grads(want, [x], v)[0], rtol=1e-12,
                               atol=1e-14)


@settings(max_examples=10, deadline=None)
@given(case=gated_inputs())
def test_gated_tanh_gradcheck_and_gradgradcheck(case):
    x, dim = case
    assert gradcheck(lambda x: gated_tanh(x, dim), (x,))
    assert gradgradcheck(lambda x: gated_tanh(x, dim), (x,))


def test_gated_tanh_equals_torch_in_float32():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).standard_normal((2, 6, 3, 3)).astype(np.float32) * 3
    xt = torch.tensor(x, requires_grad=True)
    a, b = xt.chunk(2, 1)
    want = torch.tanh(a) * torch.sigmoid(b)
    want.sum().backward()
    ours = tg.tensor(x, requires_grad=True)
    y = gated_tanh(ours, 1)
    y.sum().backward()
    assert y.dtype == np.float32 and ours.grad.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), want.detach().numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="gated_tanh: dim 1 .* even"):
        gated_tanh(tg.randn(2, 3), 1)
