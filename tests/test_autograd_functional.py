"""tg.autograd: grad()'s allow_unused / materialize_grads / is_grads_batched semantics,
autograd.functional (jacobian, hessian, vjp, jvp, hvp, vhp) against torch and analytic
derivatives, torch-style custom Functions (ctx), and Function.__call__ on arrays."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygen as tg
from tinygen.autograd import functional as AF
from tinygen.ops.elementwise import Add, Mul

RS = np.random.default_rng(0)


def _t(a, requires_grad=False):
    return tg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def _np(x):
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


def _close(a, b, rtol=1e-10):
    np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, atol=1e-12)


# ---- Function.__call__ on arrays ------------------------------------------------------------

@pytest.mark.parametrize("Op", [Add, Mul])
def test_function_call_converts_arrays_in_any_position(Op):
    x = _t([1.0, 2.0], requires_grad=True)
    a = np.array([3.0, 4.0])
    for args in [(x, a), (a, x), (x, 2.0), (2.0, x)]:
        y = Op()(*args)
        assert isinstance(y, tg.Tensor) and y.requires_grad
        gx, = tg.grad(y.sum(), x)
        assert np.all(np.isfinite(gx.numpy()))
    _close(Add()(x, a), [4.0, 6.0])
    _close(Mul()(a, x), [3.0, 8.0])
    _close(Add.apply(x, a), [4.0, 6.0])  # apply works for tinygen-style ops too


# ---- grad() ----------------------------------------------------------------------------------

def test_grad_allow_unused_names_the_unused_input():
    x, u = _t([1.0, 2.0], True), _t([3.0], True)
    with pytest.raises(RuntimeError, match=r"index 1 \(shape \(1,\)\).*allow_unused=True"):
        tg.autograd.grad((x * 2).sum(), [x, u])
    gx, gu = tg.autograd.grad((x * 2).sum(), [x, u], allow_unused=True)
    _close(gx, [2.0, 2.0])
    assert gu is None
    gx, gu = tg.autograd.grad((x * 2).sum(), [x, u], materialize_grads=True)
    _close(gu, [0.0])
    with pytest.raises(ValueError, match="materialize_grads"):
        tg.autograd.grad((x * 2).sum(), [x, u], allow_unused=False, materialize_grads=True)
    gx, = tg.autograd.grad((x * x).sum(), x, only_inputs=True)
    _close(gx, [2.0, 4.0])
    with pytest.raises(RuntimeError, match="index 0"):
        tg.autograd.grad((x * 2).sum(), [_t([1.0])])


def test_grad_is_grads_batched_equals_torch():
    torch = pytest.importorskip("torch")
    a = RS.standard_normal((3, 4))
    v = RS.standard_normal((5, 3))
    x = _t(a, True)
    gx, = tg.autograd.grad(x.exp() * x, x, grad_outputs=_t(v[:, :, None] * np.ones(4)),
                           is_grads_batched=True)
    xt = torch.tensor(a, requires_grad=True)
    gt, = torch.autograd.grad(xt.exp() * xt, xt,
                              grad_outputs=torch.tensor(v[:, :, None] * np.ones(4)),
                              is_grads_batched=True)
    assert tuple(gx.shape) == (5, 3, 4)
    _close(gx, gt.numpy())


def test_grad_with_create_graph_gives_the_gradient_penalty_of_wgan_gp():
    """||d D(x) / dx|| as a loss, differentiated again (what WGAN-GP does) equals torch."""
    torch = pytest.importorskip("torch")
    w0, x0 = RS.standard_normal((3, 4)), RS.standard_normal((2, 3))
    w, x = _t(w0, True), _t(x0, True)
    g, = tg.autograd.grad((x @ w).tanh().sum(), x, create_graph=True)
    penalty = ((g.pow(2).sum(1).sqrt() - 1) ** 2).mean()
    penalty.backward()
    wt, xt = torch.tensor(w0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    gt, = torch.autograd.grad((xt @ wt).tanh().sum(), xt, create_graph=True)
    pt = ((gt.pow(2).sum(1).sqrt() - 1) ** 2).mean()
    pt.backward()
    _close(penalty, pt.item())
    _close(w.grad, wt.grad.numpy())


# ---- autograd.functional against torch ------------------------------------------------------

def _f_single(F):
    return lambda x: (x ** 3).tanh() * 2 + x.sum()


def _f_tuple_in(F):
    return lambda x, y: (x * y.exp()).tanh() + x ** 2


def _f_tuple_out(F):
    return lambda x: (x.tanh(), (x * x).sum(), x.exp() * 3)


def _f_scalar(F):
    return lambda x, y: (x * x * y).sum() + (x.tanh() * y.exp()).sum() + y.sum() ** 3


FUNCS = {
    "single": (_f_single, [(3,)]),
    "matrix": (_f_single, [(2, 3)]),
    "tuple_in": (_f_tuple_in, [(4,), (4,)]),
    "tuple_out": (_f_tuple_out, [(3,)]),
}


def _inputs(shapes, seed):
    rs = np.random.default_rng(seed)
    return [rs.standard_normal(s) for s in shapes]


def _compare_nested(ours, theirs):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _compare_nested(o, t)
    else:
        assert isinstance(ours, tg.Tensor)
        assert tuple(ours.shape) == tuple(theirs.shape)
        _close(ours, theirs.detach().numpy())


def _args(arrays, as_tuple, lib):
    xs = tuple(lib.tensor(a) for a in arrays) if lib is not tg else tuple(_t(a) for a in arrays)
    return xs if as_tuple else xs[0]


@pytest.mark.parametrize("name", list(FUNCS))
@pytest.mark.parametrize("what", ["jacobian", "vjp", "jvp"])
def test_functional_equals_torch(name, what):
    torch = pytest.importorskip("torch")
    make, shapes = FUNCS[name]
    arrays = _inputs(shapes, 1)
    as_tuple = len(shapes) > 1
    x, xt = _args(arrays, as_tuple, tg), _args(arrays, as_tuple, torch)
    f, ft = make(tg), make(torch)
    if what == "jacobian":
        _compare_nested(AF.jacobian(f, x), torch.autograd.functional.jacobian(ft, xt))
        return
    out_t = ft(*xt) if as_tuple else ft(xt)
    like = out_t if what == "vjp" else xt
    like = like if isinstance(like, tuple) else (like,)
    vs = [RS.standard_normal(tuple(t.shape)) for t in like]
    v = tuple(_t(a) for a in vs) if len(vs) > 1 else _t(vs[0])
    vt = tuple(torch.tensor(a) for a in vs) if len(vs) > 1 else torch.tensor(vs[0])
    ours = getattr(AF, what)(f, x, v)
    theirs = getattr(torch.autograd.functional, what)(ft, xt, vt)
    _compare_nested(ours, theirs)


@pytest.mark.parametrize("what", ["hessian", "hvp", "vhp"])
@pytest.mark.parametrize("as_tuple", [False, True])
def test_second_order_functional_equals_torch(what, as_tuple):
    torch = pytest.importorskip("torch")
    arrays = _inputs([(3,), (3,)], 2)
    if as_tuple:
        f, ft = _f_scalar(tg), _f_scalar(torch)
        x, xt = _args(arrays, True, tg), _args(arrays, True, torch)
    else:
        f, ft = (lambda x: _f_scalar(tg)(x, x * 0.5)), (lambda x: _f_scalar(torch)(x, x * 0.5))
        x, xt = _t(arrays[0]), torch.tensor(arrays[0])
    if what == "hessian":
        _compare_nested(AF.hessian(f, x), torch.autograd.functional.hessian(ft, xt))
        return
    vs = _inputs([(3,), (3,)], 3)
    v = tuple(_t(a) for a in vs) if as_tuple else _t(vs[0])
    vt = tuple(torch.tensor(a) for a in vs) if as_tuple else torch.tensor(vs[0])
    _compare_nested(getattr(AF, what)(f, x, v),
                    getattr(torch.autograd.functional, what)(ft, xt, vt))


def test_analytic_jacobian_and_hessian_of_a_quadratic_form():
    """f(x) = x^T A x / 2 + b^T x: gradient A_sym x + b, Hessian (A + A^T) / 2 * 2 / 2."""
    A, b, x0 = RS.standard_normal((4, 4)), RS.standard_normal(4), RS.standard_normal(4)
    At, bt = _t(A), _t(b)

    def f(x):
        return (x * (At @ x)).sum() / 2 + (bt * x).sum()

    H = AF.hessian(f, _t(x0))
    _close(H, (A + A.T) / 2)
    J = AF.jacobian(lambda x: At @ x, _t(x0))
    _close(J, A)
    v = RS.standard_normal(4)
    _close(AF.hvp(f, _t(x0), _t(v))[1], (A + A.T) / 2 @ v)
    _close(AF.jvp(lambda x: At @ x, _t(x0), _t(v))[1], A @ v)
    _close(AF.vjp(lambda x: At @ x, _t(x0), _t(v))[1], A.T @ v)


def test_functional_create_graph_is_differentiable_and_strict_raises():
    x = _t([0.5, -1.0], True)
    # d/dx of the trace of the Hessian of sum(x^4) = d/dx sum(12 x^2) = 24 x
    H = AF.hessian(lambda z: (z ** 4).sum(), x, create_graph=True)
    assert H.requires_grad
    (H * tg.eye(2, dtype="float64")).sum().backward()
    _close(x.grad, 24 * np.array([0.5, -1.0]))
    J = AF.jacobian(lambda z: z * 2, x)
    assert not J.requires_grad
    with pytest.raises(RuntimeError, match="independent of input 1"):
        AF.jacobian(lambda a, b: a * 2, (_t([1.0]), _t([2.0])), strict=True)
    zeros = AF.jacobian(lambda a, b: a * 2, (_t([1.0]), _t([2.0])))
    _close(zeros[1], [[0.0]])
    with pytest.raises(RuntimeError, match="v can only be None"):
        AF.vjp(lambda z: z * 2, _t([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="single element"):
        AF.hessian(lambda z: z * 2, _t([1.0, 2.0]))
    with pytest.raises(TypeError, match="Tensor"):
        AF.jacobian(lambda z: z, [1.0])


# ---- torch-style custom Functions -----------------------------------------------------------

class Cube(tg.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        return x ** 3 * k

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy * 3 * x ** 2 * ctx.k, None


class ExpAndSort(tg.autograd.Function):
    """Two outputs, one non-differentiable (indices), the output saved for backward."""

    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        idx = tg.tensor(np.argsort(x.numpy(), axis=-1).astype(np.int64))
        ctx.mark_non_differentiable(idx)
        ctx.save_for_backward(y)
        return y, idx

    @staticmethod
    def backward(ctx, gy, gidx):
        y, = ctx.saved_tensors
        return gy * y


class MulAdd(tg.autograd.Function):
    @staticmethod
    def forward(ctx, a, alpha, b):
        ctx.save_for_backward(a, b)
        ctx.alpha = alpha
        ctx.seen = ctx.needs_input_grad
        return a * b * alpha + b

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        ga = gy * b * ctx.alpha if ctx.needs_input_grad[0] else None
        gb = gy * (a * ctx.alpha + 1) if ctx.needs_input_grad[2] else None
        return ga, None, gb


@settings(max_examples=10, deadline=None)
@given(shape=st.sampled_from([(3,), (2, 3), (1, 4)]), seed=st.integers(0, 1000))
def test_custom_function_gradcheck_and_gradgradcheck(shape, seed):
    rs = np.random.default_rng(seed)
    x = _t(rs.standard_normal(shape), True)
    b = _t(rs.standard_normal(shape), True)
    assert tg.autograd.gradcheck(lambda x: Cube.apply(x, 1.5), (x,))
    assert tg.autograd.gradgradcheck(lambda x: Cube.apply(x, 1.5), (x,))
    assert tg.autograd.gradcheck(lambda a, b: MulAdd.apply(a, 0.7, b), (x, b))
    assert tg.autograd.gradgradcheck(lambda a, b: MulAdd.apply(a, 0.7, b), (x, b))
    assert tg.autograd.gradcheck(lambda x: ExpAndSort.apply(x)[0], (x,))


def test_custom_function_ctx_semantics():
    x = _t([0.1, -0.5, 0.3], True)
    y, idx = ExpAndSort.apply(x)
    assert y.requires_grad and not idx.requires_grad and idx.dtype == np.int64
    assert y.creator.name == "ExpAndSortBackward"
    y.sum().backward()
    _close(x.grad, np.exp([0.1, -0.5, 0.3]))
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()
    a, b = _t([1.0, 2.0], True), _t([3.0, 4.0])
    out = MulAdd.apply(a, 2.0, b)
    assert out.creator.seen == (True, False, False)
    out.sum().backward()
    _close(a.grad, [6.0, 8.0])
    with tg.no_grad():
        assert not Cube.apply(a, 2.0).requires_grad
    assert not Cube.apply(b, 2.0).requires_grad  # no input requires grad: no node


def test_custom_function_errors():
    class TooFew(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, gy):
            return gy

    x = _t([1.0], True)
    with pytest.raises(RuntimeError, match="TooFew.backward returned 1 gradients, expected 2"):
        TooFew.apply(x, x).sum().backward()

    class SavesNumber(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(3.0)
            return x

    with pytest.raises(TypeError, match="save_for_backward"):
        SavesNumber.apply(x)


def test_custom_function_equals_torch_custom_function():
    """The same custom op source, written once for either framework, gives the same values
    and first and second derivatives."""
    torch = pytest.importorskip("torch")

    def make(lib):
        class Swish(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, beta):
                s = (x * beta).sigmoid()
                ctx.save_for_backward(x, s)
                ctx.beta = beta
                return x * s

            @staticmethod
            def backward(ctx, gy):
                x, s = ctx.saved_tensors
                return gy * (s + x * ctx.beta * s * (1 - s)), None
        return Swish

    a = RS.standard_normal(5)
    x, xt = _t(a, True), torch.tensor(a, requires_grad=True)
    y, yt = make(tg).apply(x, 1.3), make(torch).apply(xt, 1.3)
    _close(y, yt.detach().numpy())
    g, = tg.autograd.grad(y.sum(), x, create_graph=True)
    gt, = torch.autograd.grad(yt.sum(), xt, create_graph=True)
    _close(g, gt.detach().numpy())
    gg, = tg.autograd.grad(g.sum(), x)
    ggt, = torch.autograd.grad(gt.sum(), xt)
    _close(gg, ggt.numpy())


def test_once_differentiable_backward_gives_no_second_derivative_graph():
    class Square(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @tg.autograd.once_differentiable
        def backward(ctx, gy):
            x, = ctx.saved_tensors
            return gy * 2 * x

    x = _t([1.0, 2.0], True)
    g, = tg.autograd.grad(Square.apply(x).sum(), x, create_graph=True)
    _close(g, [2.0, 4.0])
    assert not g.requires_grad


def test_grad_fn_and_set_detect_anomaly():
    x = _t([1.0, 2.0], True)
    y = Cube.apply(x, 1.0)
    assert y.grad_fn is y.creator and y.grad_fn.name == "CubeBackward" and x.grad_fn is None
    with tg.autograd.set_detect_anomaly(True):
        with pytest.raises(tg.autograd.AnomalyError, match="non-finite"):
            x * float("inf")
    x * float("inf")   # off again after the block
    mode = tg.autograd.set_detect_anomaly(True)  # as torch: on from the call
    try:
        with pytest.raises(tg.autograd.AnomalyError):
            x * float("inf")
    finally:
        tg.autograd.set_detect_anomaly(False)
    assert mode.prev is False


def test_autograd_backward_equals_torch():
    torch = pytest.importorskip("torch")
    a, b = RS.standard_normal(3), RS.standard_normal(3)
    x, y = _t(a, True), _t(b, True)
    xt, yt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    v = RS.standard_normal(3)
    tg.autograd.backward([(x * y).exp(), (x * x).sum()], [_t(v), None])
    torch.autograd.backward([(xt * yt).exp(), (xt * xt).sum()], [torch.tensor(v), None])
    _close(x.grad, xt.grad.numpy())
    _close(y.grad, yt.grad.numpy())
    # inputs=: only those tensors' .grad change
    x.grad = y.grad = None
    tg.autograd.backward((x * y).sum(), inputs=[y])
    assert x.grad is None
    _close(y.grad, a)


def test_custom_function_with_setup_context_equals_torch():
    """torch 2's form: forward(*args) without ctx, setup_context(ctx, inputs, output)."""
    torch = pytest.importorskip("torch")

    def make(lib):
        class Scale(lib.autograd.Function):
            @staticmethod
            def forward(x, k):
                return x.exp() * k

            @staticmethod
            def setup_context(ctx, inputs, output):
                x, k = inputs
                ctx.save_for_backward(output)
                ctx.k = k

            @staticmethod
            def backward(ctx, gy):
                y, = ctx.saved_tensors
                return gy * y, None
        return Scale

    a = RS.standard_normal(4)
    x, xt = _t(a, True), torch.tensor(a, requires_grad=True)
    y, yt = make(tg).apply(x, 3.0), make(torch).apply(xt, 3.0)
    _close(y, yt.detach().numpy())
    g, = tg.autograd.grad(y.sum(), x, create_graph=True)
    gt, = torch.autograd.grad(yt.sum(), xt, create_graph=True)
    _close(g, gt.detach().numpy())
    gg, = tg.autograd.grad(g.sum(), x)
    ggt, = torch.autograd.grad(gt.sum(), xt)
    _close(gg, ggt.numpy())
