"""The autograd core's behaviour: hooks, retain_grad, grad modes, graph freeing and memory,
version counters, error messages, dtype promotion, higher-order gradients, gradcheck's own
failure report, anomaly mode and the DOT view."""
import gc
import re
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import ops
from tinygen import testing as tgt
from tinygen.autograd import (AnomalyError, Function, GradcheckError, gradcheck, gradgradcheck,
                              to_dot)


def leaf(values, dtype="float64"):
    return tg.tensor(values, dtype=dtype, requires_grad=True)


# ---- hooks and retain_grad --------------------------------------------------------------------

def test_hook_on_a_leaf_changes_its_gradient_and_remove_undoes_it():
    x = leaf([1.0, 2.0])
    seen = []
    handle = x.register_hook(lambda g: (seen.append(g.numpy().copy()), g * 10)[1])
    (x * 3).sum().backward()
    np.testing.assert_allclose(seen[0], [3, 3])
    np.testing.assert_allclose(x.grad.numpy(), [30, 30])
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3, 3])
    assert len(seen) == 1


def test_hook_on_an_intermediate_changes_what_flows_upstream():
    x = leaf([1.0, 2.0])
    y = x * x
    y.register_hook(lambda g: g * 0.5)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 2.0])  # 0.5 * 2x


def test_hook_returning_none_keeps_the_gradient():
    x = leaf([1.0])
    x.register_hook(lambda g: None)
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0])


def test_retain_grad_keeps_an_intermediate_gradient():
    x = leaf([1.0, 2.0])
    y = x * 3
    z = x * 4
    y.retain_grad()
    (y * z).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), z.numpy())
    assert z.grad is None
    assert not y.grad.requires_grad


def test_retained_grad_accumulates_across_backwards_as_torch():
    x = leaf([1.0, 2.0])
    y = x * 3
    y.retain_grad()
    z = (y * y).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(y.grad.numpy(), 2 * 2 * y.numpy())  # torch: [12, 24]


def test_hook_and_retain_grad_need_requires_grad():
    x = tg.tensor([1.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        x.retain_grad()
    with pytest.raises(RuntimeError, match="does not require grad"):
        x.register_hook(lambda g: g)


# ---- grad modes -------------------------------------------------------------------------------

def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with tg.no_grad():
        y = (x * 2).exp().sum()
    assert y.creator is None and not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_enable_grad_inside_no_grad_records():
    x = leaf([1.0, 2.0])
    with tg.no_grad():
        with tg.enable_grad():
            y = (x * x).sum()
        z = x * 2
    assert y.creator is not None and z.creator is None
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    assert tg.is_grad_enabled()


def test_set_grad_enabled_as_context_and_decorator():
    x = leaf([1.0])

    @tg.set_grad_enabled(False)
    def frozen(t):
        """doc kept"""
        return t * 2

    assert frozen(x).creator is None
    assert frozen.__name__ == "frozen" and frozen.__doc__ == "doc kept"
    with tg.set_grad_enabled(False):
        assert (x * 2).creator is None
        with tg.set_grad_enabled(True):
            assert (x * 2).creator is not None
    assert tg.is_grad_enabled()


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ValueError):
        with tg.no_grad():
            raise ValueError
    assert tg.is_grad_enabled()


def test_backward_records_nothing_without_create_graph():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    assert x.grad.creator is None and not x.grad.requires_grad


# ---- graph freeing and memory -------------------------------------------------------------------

def test_second_backward_through_a_freed_graph_raises_clearly():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward_that_accumulates():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    np.testing.assert_allclose(first, np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0])))


def test_gradients_accumulate_across_separate_graphs():
    x = leaf([1.0, 2.0])
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0])


class _Owner:
    """A weakref-able object to watch, attached nowhere."""


@pytest.fixture
def gc_off():
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    yield
    if was:
        gc.enable()


def test_intermediates_die_with_their_output_with_the_gc_off(gc_off):
    x = leaf(np.ones((64, 64)))
    h = (x * 2).exp()                  # a big intermediate that Sum and Mul keep alive
    y = (h * x).sum()
    h_ref, h_array_ref = weakref.ref(h), weakref.ref(h.array)
    fn_ref = weakref.ref(y.creator)
    del h
    assert h_ref() is not None         # the graph still needs it
    del y                              # drop the output: the whole graph goes, by refcount
    assert h_ref() is None and h_array_ref() is None and fn_ref() is None


def test_backward_releases_saved_tensors_with_the_gc_off(gc_off):
    x = leaf(np.ones((32, 32)))
    h = x.exp()
    y = (h * h).sum()
    h_ref = weakref.ref(h)
    mul_ref = weakref.ref(y.creator.inputs[0].creator)  # the Mul node
    del h
    y.backward()                       # frees the graph: nodes drop their inputs
    assert h_ref() is None
    assert y.creator is not None and y.creator.released  # y keeps a released node, nothing more
    assert mul_ref() is None


def test_retained_graph_keeps_intermediates_until_the_output_goes(gc_off):
    x = leaf(np.ones(8))
    h = x.exp()
    y = (h * 2).sum()
    h_ref = weakref.ref(h)
    del h
    y.backward(retain_graph=True)
    assert h_ref() is not None
    del y
    assert h_ref() is None


def test_outputs_are_held_weakly_no_cycle(gc_off):
    x = leaf([1.0, 2.0])
    y = x * 3
    fn = y.creator
    y_ref = weakref.ref(y)
    del y
    assert y_ref() is None              # freed while its node lives: the node holds it weakly
    assert fn.inputs[0] is x


# ---- version counters -------------------------------------------------------------------------------

def test_in_place_edit_of_a_saved_output_is_caught():
    x = leaf([1.0, 2.0])
    y = x.exp()                        # exp's backward uses its output
    z = (y * 1).sum()
    with tg.no_grad():
        y.mul_(2)
    # every node that uses y refuses (stricter than torch: all inputs are checked, not only
    # saved ones), so the first node the walk meets reports it
    with pytest.raises(RuntimeError, match=r"modified in place"):
        z.backward()


def test_in_place_edit_of_a_needed_input_is_caught():
    x = leaf([1.0, 2.0])
    a = x * 1
    b = (a * a).sum()                  # Mul needs a
    with tg.no_grad():
        a.add_(1.0)
    with pytest.raises(RuntimeError, match=r"Mul: a tensor of shape \(2,\).*modified in place"):
        b.backward()


def test_in_place_edit_through_a_view_of_a_needed_tensor_is_caught():
    x = leaf([1.0, 2.0, 3.0])
    a = x * 1
    z = (a * a).sum()                  # Mul needs a
    v = a[0:2]                         # shares a's memory
    with tg.no_grad():
        v.mul_(10)
    with pytest.raises(RuntimeError, match="modified in place"):
        z.backward()                   # today: no error, and x.grad = [20, 40, 6]


def test_in_place_edit_of_a_leaf_that_requires_grad_is_refused_outside_no_grad():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="in-place change of a leaf tensor"):
        x.add_(1.0)
    with tg.no_grad():
        x.add_(1.0)                    # an optimizer step: allowed
    assert x._version == 1


# ---- errors that say what went wrong ------------------------------------------------------------------

def test_backward_on_a_non_scalar_needs_a_gradient():
    x = leaf([1.0, 2.0])
    y = x * 2
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*pass gradient="):
        y.backward()
    y.backward(gradient=tg.tensor([1.0, 10.0], dtype="float64"))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])


def test_backward_gradient_of_the_wrong_shape():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"gradient of shape \(3,\) for an output of shape \(2,\)"):
        y.backward(gradient=tg.zeros(3, dtype="float64"))


@pytest.mark.parametrize("call, op, shapes", [
    (lambda: tg.randn(3) + tg.randn(4), "add", ["(3,)", "(4,)"]),
    (lambda: tg.randn(2, 3) * tg.randn(3, 2), "mul", ["(2, 3)", "(3, 2)"]),
    (lambda: ops.maximum(tg.randn(2), tg.randn(3)), "maximum", ["(2,)", "(3,)"]),
    (lambda: tg.randn(2, 3) @ tg.randn(2, 3), "matmul", ["(2, 3)", "(2, 3)"]),
    (lambda: ops.matmul(tg.randn(2, 2, 3), tg.randn(3, 3, 1)), "matmul", ["(2, 2, 3)", "(3, 3, 1)"]),
    (lambda: ops.cat([tg.randn(2, 3), tg.randn(2, 4)], 0), "cat", ["(2, 3)", "(2, 4)"]),
    (lambda: ops.stack([tg.randn(2), tg.randn(3)]), "stack", ["(2,)", "(3,)"]),
    (lambda: ops.mse_loss(tg.randn(2, 3), tg.randn(3, 2)), "mse_loss", ["(2, 3)", "(3, 2)"]),
    (lambda: ops.binary_cross_entropy_with_logits(tg.randn(2), tg.rand(3)),
     "binary_cross_entropy_with_logits", ["(2,)", "(3,)"]),
    (lambda: ops.linear(tg.randn(2, 3), tg.randn(4, 5)), "linear", ["(2, 3)", "(4, 5)"]),
    (lambda: ops.reshape(tg.randn(2, 3), 4, 2), "reshape", ["(2, 3)", "(4, 2)"]),
    (lambda: ops.where(tg.tensor([True, False, True]), tg.randn(2), tg.randn(2)), "where",
     ["(3,)", "(2,)"]),
    (lambda: ops.expand(tg.randn(2, 3), 4, 3), "broadcast_to", ["(2, 3)", "(4, 3)"]),
    (lambda: ops.cross_entropy(tg.randn(2, 3), tg.tensor([0, 1, 2])), "nll_loss", ["(3,)", "(2, 3)"]),
])
def test_shape_mismatch_errors_name_the_op_and_both_shapes(call, op, shapes):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert message.startswith(op + ":"), message
    for s in shapes:
        assert s in message, message


def test_mixing_devices_is_refused():
    a = tg.tensor([1.0, 2.0], device="cuda")
    b = tg.tensor([1.0, 2.0])
    assert a.device == "cuda"
    with pytest.raises(RuntimeError, match=r"Add: inputs on different devices.*cpu.*cuda|cuda.*cpu"):
        b + a
    with pytest.raises(RuntimeError, match="different devices"):
        ops.matmul(a.reshape(1, 2), b.reshape(2, 1))
    np.testing.assert_allclose((a + a).to("cpu").numpy(), [2.0, 4.0])


@pytest.mark.parametrize("call, exc, pattern", [
    (lambda: tg.randn(2) + "a", TypeError, "expected a Tensor, an array or a number, got str"),
    (lambda: tg.randn(2) * {}, TypeError, "got dict"),
    (lambda: tg.tensor([1.0], dtype="float128"), TypeError, "unknown dtype 'float128'"),
    (lambda: tg.tensor([1, 2]).requires_grad_(), TypeError, "only floating-point tensors"),
    (lambda: ops.where(tg.tensor([1.0]), tg.randn(1), tg.randn(1)), TypeError, "bool"),
    (lambda: ops.nll_loss(tg.randn(2, 3), tg.tensor([0.0, 1.0])), TypeError, "integer class indices"),
    (lambda: ops.softmax(tg.randn(2, 3), (0, 1)), TypeError, "softmax: dim must be an int"),
    (lambda: ops.sum(tg.randn(2, 3), 2), IndexError, "sum: dim 2 out of range"),
    (lambda: ops.clamp(tg.randn(2)), ValueError, "at least one of min and max"),
    (lambda: ops.mse_loss(tg.randn(2), tg.randn(2), reduction="avg"), ValueError, "reduction must be"),
    (lambda: ops.dropout(tg.randn(2), p=1.5), ValueError, "p must be in"),
    (lambda: ops.binary_cross_entropy(tg.tensor([1.5]), tg.tensor([1.0])), ValueError, r"\[0, 1\]"),
    (lambda: tg.tensor([1.0], device="tpu"), ValueError, "unknown device 'tpu'"),
])
def test_wrong_arguments_say_what_was_expected(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


# ---- dtypes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("a, b, expected", [
    ("float32", "float64", "float64"), ("float32", "float32", "float32"),
    ("float32", "int64", "float32"),       # the higher category's dtype (NumPy: float64)
    ("int32", "float32", "float32"), ("int64", "int64", "int64"), ("int32", "int64", "int64"),
    ("float64", "bool", "float64"), ("bool", "int32", "int32"),
    ("float32", "float64 0-d", "float32"),  # a 0-d operand of the same category does not widen
    ("int32", "int64 0-d", "int32"), ("int64", "float64 0-d", "float64"),
    ("bool", "int64 0-d", "int64"), ("float32 0-d", "float64 0-d", "float64")])
def test_dtype_promotion_follows_torch(a, b, expected):
    """torch.result_type's rule, not NumPy's: across categories (bool < integer < floating)
    the higher category's dtype, within one the wider; a 0-d operand beside one with dims
    counts only when it is of a higher category."""
    def tensor(spec):
        dtype, _, zero_d = spec.partition(" ")
        return tg.tensor(np.ones(() if zero_d else 2, dtype=dtype))
    x, y = tensor(a), tensor(b)
    assert (x + y).dtype == expected and (y + x).dtype == expected
    assert (x * y).dtype == expected and tg.maximum(x, y).dtype == expected
    floating = expected if np.dtype(expected).kind == "f" else "float32"
    assert (x / y).dtype == floating                      # integers divide in the default float
    assert tg.atan2(x, y).dtype == floating               # and float functions of them too


def test_integer_tensors_and_float_numbers_give_the_default_float():
    i = tg.tensor([1, 2])
    assert (i * 1.5).dtype == np.float32 and (i / 2).dtype == np.float32
    assert (i ** 1.5).dtype == np.float32 and (i * 2).dtype == np.int64
    np.testing.assert_allclose((2.5 ** i).numpy(), [2.5, 6.25])    # not 2 ** i
    assert tg.exp(i).dtype == np.float32 and tg.sqrt(tg.tensor([True])).dtype == np.float32
    assert tg.abs(i).dtype == np.int64 and tg.floor(i).dtype == np.int64


def test_python_scalars_take_the_tensor_dtype():
    x = tg.tensor([1.0, 2.0])
    assert x.dtype == np.float32
    assert (x * 2.5).dtype == np.float32 and (2.5 - x).dtype == np.float32
    assert (x ** 2).dtype == np.float32 and (x / 3).dtype == np.float32
    assert tg.tensor([1.0, 2.0], dtype="float64").__add__(1).dtype == np.float64


def test_each_input_gets_its_gradient_in_its_own_dtype():
    a = leaf([1.0, 2.0], "float32")
    b = leaf([3.0, 4.0], "float64")
    y = a * b + ops.maximum(a, b) + ops.where(tg.tensor([True, False]), a, b) + (a @ b)
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    c = leaf([[1.0, 2.0]], "float32")
    w = leaf([[1.0, 1.0]], "float64")
    ops.cat([c, w], 0).sum().backward()
    ops.linear(c, w, leaf([0.5], "float32")).sum().backward()
    assert c.grad.dtype == np.float32 and w.grad.dtype == np.float64


def test_to_dtype_is_differentiable():
    x = leaf([1.0, 2.0], "float32")
    y = x.double() * 2
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32


# ---- higher order -----------------------------------------------------------------------------------

def test_third_derivative_of_x_to_the_fourth():
    x = leaf([0.5, -1.0, 2.0])
    y = (x ** 4).sum()
    (g1,) = tg.grad(y, x, create_graph=True)
    (g2,) = tg.grad(g1.sum(), x, create_graph=True)
    (g3,) = tg.grad(g2.sum(), x)
    v = x.numpy()
    np.testing.assert_allclose(g1.numpy(), 4 * v ** 3)
    np.testing.assert_allclose(g2.numpy(), 12 * v ** 2)
    np.testing.assert_allclose(g3.numpy(), 24 * v)
    assert x.grad is None  # grad() leaves .grad alone


def test_higher_derivatives_of_composites():
    x = leaf([0.3, 1.2])
    y = (ops.sin(x) * ops.exp(x)).sum()
    (g1,) = tg.grad(y, x, create_graph=True)
    (g2,) = tg.grad(g1.sum(), x, create_graph=True)
    (g3,) = tg.grad(g2.sum(), x)
    v = x.numpy()
    np.testing.assert_allclose(g1.numpy(), np.exp(v) * (np.sin(v) + np.cos(v)))
    np.testing.assert_allclose(g2.numpy(), 2 * np.exp(v) * np.cos(v))
    np.testing.assert_allclose(g3.numpy(), 2 * np.exp(v) * (np.cos(v) - np.sin(v)))


def test_backward_with_create_graph_makes_grad_differentiable():
    x = leaf([1.0, 2.0])
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    g = x.grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 12.0])


def test_grad_of_several_inputs_and_unused_inputs():
    x, y, u = leaf([1.0]), leaf([2.0]), leaf([3.0])
    gx, gy = tg.grad((x * y).sum(), (x, y))
    np.testing.assert_allclose([gx.item(), gy.item()], [2.0, 1.0])
    with pytest.raises(RuntimeError, match="was not used"):
        tg.grad((x * 2).sum(), (x, u))
    gx, gu = tg.grad((x * 2).sum(), (x, u), allow_unused=True)
    assert gu is None and gx.item() == 2.0


# ---- gradcheck reports ----------------------------------------------------------------------------

class _WrongSquare(Function):
    """x^2 with a wrong derivative (3x instead of 2x)."""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        return gy * 3 * self.inputs[0]


class _SquareWithFlatBackward(Function):
    """x^2 whose backward is right but not differentiable (the 2x is a constant)."""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        return gy * tg.tensor(2 * self.inputs[0].array, dtype="float64")


def test_gradcheck_names_input_element_analytic_and_numeric():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    c = leaf([1.0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda c, x: _WrongSquare()(x) * c, (c, x))
    message = str(info.value)
    assert "input 1" in message and "element (0, 0)" in message
    analytic = float(re.search(r"analytic (\S+),", message).group(1))
    numeric = float(re.search(r"numeric (\S+) ", message).group(1))
    assert analytic == pytest.approx(3.0) and numeric == pytest.approx(2.0, rel=1e-6)
    assert gradcheck(lambda c, x: _WrongSquare()(x) * c, (c, x), raise_exception=False) is False


def test_gradcheck_fast_mode_also_catches_it():
    x = leaf(np.linspace(0.5, 2, 6))
    with pytest.raises(GradcheckError, match="random direction"):
        gradcheck(lambda x: _WrongSquare()(x), (x,), fast_mode=True)
    assert gradcheck(lambda x: x * x, (x,), fast_mode=True)


def test_gradgradcheck_catches_a_backward_that_is_not_differentiable():
    x = leaf([1.0, 2.0])
    assert gradcheck(lambda x: _SquareWithFlatBackward()(x), (x,))
    with pytest.raises(GradcheckError, match="second-order"):
        gradgradcheck(lambda x: _SquareWithFlatBackward()(x), (x,))


def test_jacobians_are_exported_whole_analytic_and_numeric():
    """tg.autograd.jacobians: the whole Jacobians behind a gradcheck failure, row r the
    output element, column j the input element."""
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    diff, analytic, numeric = tg.autograd.jacobians(lambda x: _WrongSquare()(x), x)
    assert diff == [0] and analytic[0].shape == numeric[0].shape == (4, 4)
    values = x.array.ravel()
    np.testing.assert_allclose(analytic[0], np.diag(3 * values))   # the wrong backward's 3x
    np.testing.assert_allclose(numeric[0], np.diag(2 * values), atol=1e-8)


def test_gradcheck_wants_float64():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(ops.exp, (leaf([1.0], "float32"),))


# ---- anomaly mode and the DOT view -------------------------------------------------------------------

def test_detect_anomaly_names_the_op_and_the_users_line_in_forward():
    x = leaf([1.0, -1.0])
    with pytest.raises(AnomalyError) as info, np.errstate(invalid="ignore"):
        with tg.autograd.detect_anomaly():
            ops.log(x)  # the line the error must show
    message = str(info.value)
    assert message.startswith("log returned non-finite values in forward")
    assert "test_autograd.py" in message and "ops.log(x)  # the line the error must show" in message


def test_detect_anomaly_stops_a_backward_that_makes_infinities():
    x = leaf([0.0, 1.0])
    with tg.autograd.detect_anomaly(), np.errstate(divide="ignore"):
        y = ops.sqrt(x).sum()
        with pytest.raises(AnomalyError, match="non-finite"):
            y.backward()


def test_detect_anomaly_in_backward_names_the_forward_op():
    x = leaf([0.0, 1.0])
    with tg.autograd.detect_anomaly(), np.errstate(divide="ignore"):
        y = ops.sqrt(x).sum()  # finite forward, infinite derivative at 0
        with pytest.raises(AnomalyError) as info:
            y.backward()
    message = str(info.value)
    assert message.startswith("sqrt.backward returned non-finite values")
    assert "y = ops.sqrt(x).sum()" in message


def test_without_anomaly_mode_nothing_is_checked():
    with np.errstate(all="ignore"):
        y = ops.log(leaf([-1.0]))
    assert np.isnan(y.item())


def test_to_dot_shows_ops_shapes_and_dtypes():
    x = leaf(np.ones((2, 3)))
    x.name = "x"
    w = leaf(np.ones((3, 4)))
    y = ops.relu(x @ w).sum()
    dot = to_dot(y)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for text in ("MatMul", "relu", "Sum", "(2, 3)", "(3, 4)", "(2, 4)", "float64", "x\\n"):
        assert text in dot, text
    assert dot.count("->") >= 5
    saved = to_dot(ops.amax(x, 1))  # amax keeps its tie shares for backward
    assert "saved: share: (2, 3) float64" in saved


@settings(max_examples=40, deadline=None)
@given(shape=tgt.shapes(min_dims=1, max_dims=2, max_side=3),
       returned=tgt.shapes(min_dims=0, max_dims=2, max_side=3),
       dtype=st.sampled_from(["float32", "float64"]), leaf=st.booleans())
def test_a_hook_may_not_change_the_gradients_shape_or_dtype_as_torch(shape, returned, dtype, leaf):
    """A hook returning another shape or dtype raises where torch raises (the old walk let
    w.grad take the hook's shape, and SGD updated w with it), and passes where torch passes."""
    torch = pytest.importorskip("torch")

    def run(m, ones, make_like):
        w = ones(shape)
        t = w if leaf else w * 2
        t.register_hook(lambda g: make_like(m, g))
        try:
            (t * 3).sum().backward()
        except RuntimeError as e:
            return str(e)
        return w.grad.shape

    def like(m, g):
        return m.ones(returned, dtype=getattr(m, dtype))

    ours = run(tg, lambda s: tg.ones(s, dtype=tg.float32, requires_grad=True), like)
    theirs = run(torch, lambda s: torch.ones(s, dtype=torch.float32, requires_grad=True), like)
    assert isinstance(ours, str) == isinstance(theirs, str), (ours, theirs)
    if isinstance(ours, str):
        assert "hook '<lambda>' has changed the" in ours
    else:
        assert tuple(ours) == tuple(theirs) == tuple(shape)
