"""tg.testing's strategies keep their promises: shapes in bounds, pairs that broadcast,
values in their domain, conv parameters that give the stated output size."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import testing as tgt


@given(st.data())
def test_shapes_respect_bounds(data):
    lo_d, hi_d = data.draw(st.integers(0, 3)), data.draw(st.integers(3, 5))
    lo_s, hi_s = data.draw(st.integers(0, 2)), data.draw(st.integers(2, 4))
    shape = data.draw(tgt.shapes(lo_d, hi_d, lo_s, hi_s))
    assert isinstance(shape, tuple)
    assert lo_d <= len(shape) <= hi_d
    assert all(lo_s <= n <= hi_s for n in shape)


@given(tgt.broadcastable_shapes(max_dims=4))
def test_broadcastable_shapes_broadcast(pair):
    a, b = pair
    out = np.broadcast_shapes(a, b)
    assert np.broadcast_to(np.zeros(a), out).shape == out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@given(data=st.data())
def test_tensors_values_lie_in_their_domain(dtype, data):
    domain = data.draw(st.sampled_from(tgt.DOMAINS))
    x = data.draw(tgt.tensors(tgt.shapes(0, 3, 1, 4), domain, dtype=dtype))
    assert isinstance(x, tg.Tensor) and x.requires_grad and x.dtype == np.dtype(dtype)
    v = x.numpy().astype(np.float64).ravel()
    assert np.isfinite(v).all()
    if domain == "any":
        assert (np.abs(v) <= 2).all()
    elif domain == "positive":
        assert (v >= 0.1 - 1e-6).all() and (v <= 2 + 1e-6).all()
    elif domain == "unit":
        assert (v > 0).all() and (v < 1).all()
    elif domain == "above_one":
        assert (v >= 1.1 - 1e-6).all() and (v <= 3 + 1e-6).all()
    else:  # away from kinks: from 0, from each other, from the 0.05 grid
        assert (np.abs(v) >= 0.11 - 1e-6).all()
        if v.size > 1:
            gaps = np.diff(np.sort(v))
            assert gaps.min() >= 0.02 - 1e-6
        grid = np.abs(v / 0.05 - np.round(v / 0.05)) * 0.05
        assert (grid >= 0.01 - 1e-6).all()


@given(tgt.tensors((2, 3), requires_grad=False))
def test_tensors_fixed_shape_and_no_grad(x):
    assert x.shape == (2, 3) and not x.requires_grad


def test_unknown_domain_is_an_error():
    with pytest.raises(ValueError, match="unknown domain"):
        tgt.tensors((2,), "negative")


@settings(max_examples=40)
@given(data=st.data())
def test_conv_params_give_the_stated_output_size(data):
    """Against torch's own shape arithmetic when torch is installed, else against the formula."""
    transposed = data.draw(st.booleans())
    h, w = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    p = data.draw(tgt.conv_params((h, w), transposed=transposed))
    assert all(n >= 1 for n in p.output_size)
    assert p.output_padding == (0, 0) or transposed
    assert all(op < max(s, d) for op, s, d in zip(p.output_padding, p.stride, p.dilation))
    for a, size in enumerate((h, w)):
        assert p.output_size[a] == tgt.conv_output_size(
            size, p.kernel_size[a], p.stride[a], p.padding[a], p.dilation[a],
            p.output_padding[a], transposed)
    torch = pytest.importorskip("torch")
    x = torch.zeros(1, 1, h, w)
    if transposed:
        y = torch.nn.functional.conv_transpose2d(
            x, torch.zeros((1, 1) + p.kernel_size), stride=p.stride, padding=p.padding,
            output_padding=p.output_padding, dilation=p.dilation)
    else:
        y = torch.nn.functional.conv2d(x, torch.zeros((1, 1) + p.kernel_size), stride=p.stride,
                                       padding=p.padding, dilation=p.dilation)
    assert tuple(y.shape[2:]) == p.output_size


@given(tgt.conv_params(1))
def test_conv_params_for_a_single_pixel(p):
    assert p.output_size[0] >= 1 and p.output_size[1] >= 1


def test_a_failing_example_prints_its_tensor_as_a_tensor():
    """Hypothesis's report shows the drawn tensor's own repr, not the call that built it."""
    @settings(database=None, derandomize=True, max_examples=5)
    @given(tgt.tensors((2,)))
    def fails(x):
        assert x.sum().item() > 100

    with pytest.raises(AssertionError) as info:
        fails()
    report = "\n".join(getattr(info.value, "__notes__", []))
    assert "x=tensor([" in report and "dtype=float64, requires_grad=True)" in report, report
    assert "_tensor(" not in report, report
