"""skew / unskew / down_shift / right_shift (tinygen/ops/shift.py): values from their
definitions, the adjoint identity, gradcheck and gradgradcheck over hypothesis shapes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import testing as tgt
from tinygen.autograd import gradcheck, gradgradcheck
from tinygen.ops import down_shift, right_shift, skew, unskew

GRADCHECKED = {"skew", "unskew", "down_shift", "right_shift"}

IMAGES = tgt.shapes(min_dims=2, max_dims=4, min_side=1, max_side=4)


@settings(max_examples=25, deadline=None)
@given(x=tgt.arrays(IMAGES))
def test_skew_moves_row_i_right_by_i_and_unskew_undoes_it(x):
    H, W = x.shape[-2:]
    y = skew(tg.tensor(x)).numpy()
    assert y.shape == x.shape[:-2] + (H, W + H - 1)
    want = np.zeros_like(y)
    for i in range(H):
        want[..., i, i:i + W] = x[..., i, :]
    np.testing.assert_array_equal(y, want)
    # each column of y holds one anti-diagonal i + j = const of x
    for d in range(W + H - 1):
        for i in range(H):
            if 0 <= d - i < W:
                np.testing.assert_array_equal(y[..., i, d], x[..., i, d - i])
    np.testing.assert_array_equal(unskew(tg.tensor(y)).numpy(), x)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), shape=IMAGES)
def test_skew_and_unskew_are_adjoint(data, shape):
    """<skew x, y> = <x, unskew y> for every x and y: the backward of one is the other."""
    H, W = shape[-2:]
    x = data.draw(tgt.arrays(shape))
    y = data.draw(tgt.arrays(shape[:-2] + (H, W + H - 1)))
    left = float((skew(tg.tensor(x)).numpy() * y).sum())
    right = float((x * unskew(tg.tensor(y)).numpy()).sum())
    assert left == pytest.approx(right, rel=1e-12, abs=1e-12)
    xt = tg.tensor(x, requires_grad=True)
    (skew(xt) * tg.tensor(y)).sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy(), unskew(tg.tensor(y)).numpy())


@settings(max_examples=25, deadline=None)
@given(x=tgt.arrays(IMAGES), n=st.integers(0, 5))
def test_shifts_match_their_definition(x, n):
    H, W = x.shape[-2:]
    down = np.zeros_like(x)
    down[..., min(n, H):, :] = x[..., :H - min(n, H), :]
    np.testing.assert_array_equal(down_shift(tg.tensor(x), n).numpy(), down)
    right = np.zeros_like(x)
    right[..., min(n, W):] = x[..., :W - min(n, W)]
    np.testing.assert_array_equal(right_shift(tg.tensor(x), n).numpy(), right)


@pytest.mark.parametrize("op", ["skew", "unskew", "down_shift", "right_shift"])
@settings(max_examples=8, deadline=None)
@given(shape=tgt.shapes(min_dims=2, max_dims=3, min_side=1, max_side=3), data=st.data())
def test_gradcheck_and_gradgradcheck(op, shape, data):
    if op == "unskew":   # a skewed input: at least H columns
        shape = shape[:-1] + (shape[-1] + shape[-2] - 1,)
    fn = {"skew": skew, "unskew": unskew, "down_shift": down_shift,
          "right_shift": lambda x: right_shift(x, 2)}[op]
    x = data.draw(tgt.tensors(shape))
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_float32_stays_float32_and_bad_shapes_are_named():
    x = tg.zeros(2, 3, 4)
    assert skew(x).dtype == np.float32 and unskew(skew(x)).dtype == np.float32
    with pytest.raises(ValueError, match=r"skew.*\(3,\)"):
        skew(tg.zeros(3))
    with pytest.raises(ValueError, match=r"unskew.*\(2, 4, 3\)"):
        unskew(tg.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="down_shift"):
        down_shift(x, -1)


@pytest.mark.skipif(not tg.backend.cuda_is_available(),
                    reason="no cuda device (neither a GPU nor the simulator)")
def test_on_cuda_equal_cpu():
    x = np.random.default_rng(0).standard_normal((2, 3, 3, 4))

    def run(device):
        t = tg.tensor(x, dtype="float64", device=device, requires_grad=True)
        y = unskew(down_shift(right_shift(skew(t) * 2.0)))
        loss = (y * y).sum()
        return [loss, tg.grad(loss, t)[0]]

    for a, b in zip(run("cuda"), run("cpu")):
        assert a.device == "cuda"
        np.testing.assert_allclose(tg.backend.to_numpy(a.array), b.numpy(), rtol=1e-12)
