"""lstm_scan (tinygen/ops/recurrence.py), PixelRNN's recurrence as one op: values and gradients
equal its step-by-step definition and torch's nn.LSTM recurrence, gradcheck and gradgradcheck
over hypothesis shapes, float32 kept, bad arguments named."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import testing as tgt
from tinygen.autograd import gradcheck, gradgradcheck
from tinygen.ops import lstm_scan, lstm_scan_reference

GRADCHECKED = {"lstm_scan", "lstm_scan_reference"}


@st.composite
def scans(draw, max_side=3):
    """(gates (L, N, M, 4H), weight (4H, K H), before, after), float64, requiring grad."""
    L, N, M, H = (draw(st.integers(1, max_side)) for _ in range(4))
    before, after = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    gates = draw(tgt.tensors((L, N, M, 4 * H)))
    weight = draw(tgt.tensors((4 * H, (before + 1 + after) * H)))
    return gates, weight, before, after


def _grads(y, xs, v):
    return [g.numpy() for g in tg.grad((y * v).sum(), xs, materialize_grads=True)]


@settings(max_examples=25, deadline=None)
@given(case=scans(max_side=4))
def test_lstm_scan_equals_its_step_by_step_definition(case):
    gates, weight, before, after = case
    y = lstm_scan(gates, weight, before, after)
    want = lstm_scan_reference(gates, weight, before, after)
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-12, atol=1e-14)
    v = tg.tensor(np.random.default_rng(0).standard_normal(y.shape))
    for a, b in zip(_grads(y, [gates, weight], v), _grads(want, [gates, weight], v)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("before, after", [(0, 0), (1, 1)])
def test_lstm_scan_split_over_the_images_equals_its_definition(before, after):
    # 40 images of 32 positions and 4H = 64 gates: 2048 values a step an image, so the images
    # split over the worker threads (each thread runs every step of its images), forward and
    # backward; the weight gradient is then the sum of the threads' parts
    rs = np.random.default_rng(1)
    L, N, M, H = 3, 40, 32, 16
    gates = tg.tensor(rs.standard_normal((L, N, M, 4 * H)), requires_grad=True)
    weight = tg.tensor(rs.standard_normal((4 * H, (before + 1 + after) * H)) * 0.3, requires_grad=True)
    v = tg.tensor(rs.standard_normal((L, N, M, H)))
    with tg.settings.use_num_threads(2):
        y = lstm_scan(gates, weight, before, after)
        got = _grads(y, [gates, weight], v)
    want = lstm_scan_reference(gates, weight, before, after)
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-12, atol=1e-14)
    for a, b in zip(got, _grads(want, [gates, weight], v)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@settings(max_examples=6, deadline=None)
@given(case=scans(max_side=2))
def test_lstm_scan_gradcheck_and_gradgradcheck(case):
    gates, weight, before, after = case
    assert gradcheck(lambda g, w: lstm_scan(g, w, before, after), (gates, weight))
    assert gradgradcheck(lambda g, w: lstm_scan(g, w, before, after), (gates, weight))


def test_lstm_scan_reference_gradgradcheck():
    gates = tg.tensor(np.random.default_rng(1).standard_normal((3, 1, 2, 8)), requires_grad=True)
    weight = tg.tensor(np.random.default_rng(2).standard_normal((8, 4)), requires_grad=True)
    assert gradgradcheck(lambda g, w: lstm_scan_reference(g, w, 1, 0), (gates, weight))


def test_lstm_scan_is_torchs_lstm_recurrence():
    """M = 1, K = 1: nn.LSTM's recurrence, given its input projection x W_ih^T + b_ih + b_hh."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    L, N, D, H = 5, 3, 4, 6
    lstm = torch.nn.LSTM(D, H).double()
    x = rng.standard_normal((L, N, D))
    xt = torch.tensor(x, requires_grad=True)
    out, _ = lstm(xt)
    v = rng.standard_normal(out.shape)
    (out * torch.tensor(v)).sum().backward()
    w_ih, w_hh, b_ih, b_hh = (tg.tensor(p.detach().numpy(), requires_grad=True)
                              for p in (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
                                        lstm.bias_hh_l0))
    ours_x = tg.tensor(x, requires_grad=True)
    gates = (ours_x @ w_ih.transpose(0, 1) + b_ih + b_hh).reshape(L, N, 1, 4 * H)
    h = lstm_scan(gates, w_hh).reshape(L, N, H)
    np.testing.assert_allclose(h.numpy(), out.detach().numpy(), rtol=1e-12, atol=1e-14)
    (h * tg.tensor(v)).sum().backward()
    np.testing.assert_allclose(ours_x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(w_hh.grad.numpy(), lstm.weight_hh_l0.grad.numpy(), rtol=1e-10,
                               atol=1e-13)


def test_lstm_scan_keeps_float32_and_names_bad_arguments():
    gates = tg.randn(2, 3, 4, 8, dtype="float32", requires_grad=True)
    weight = tg.randn(8, 6, dtype="float32", requires_grad=True)
    h = lstm_scan(gates, weight, 1, 1)
    assert h.dtype == np.float32 and h.shape == (2, 3, 4, 2)
    assert all(g.dtype == np.float32 for g in tg.grad(h.sum(), [gates, weight]))
    with pytest.raises(ValueError, match=r"lstm_scan: expected gates .* \(8, 4\)"):
        lstm_scan(gates, tg.randn(8, 4, dtype="float32"), 1, 1)
    with pytest.raises(ValueError, match="lstm_scan"):
        lstm_scan(tg.randn(2, 3, 7), weight, 1, 1)
    with pytest.raises(TypeError, match="lstm_scan: .* dtype"):
        lstm_scan(gates, weight.double(), 1, 1)
    with pytest.raises(NotImplementedError, match="third derivatives"):
        g = tg.grad(lstm_scan(gates, weight, 1, 1).sum(), [gates], create_graph=True)[0]
        tg.grad((g * g).sum(), [gates], create_graph=True)
