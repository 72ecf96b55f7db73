"""Check analytic gradients against central finite differences, in float64.

    J_num[:, j] = (f(x + eps e_j) - f(x - eps e_j)) / (2 eps)      one column per input element
    J_ana[i, :] = vjp(e_i)                                          one row per output element

gradcheck compares the two Jacobians element by element (|a - n| <= atol + rtol |n|) and, on
failure, raises GradcheckError naming the input, the element, the analytic and the numeric
value. fast_mode compares one random projection u^T J v instead (one backward, two
forwards per input), which scales to large inputs.

gradgradcheck checks the gradient of the gradient: it gradchecks the function
(inputs, v) -> vjp of fn at inputs with cotangent v, built with create_graph=True.
"""
import numpy as np

from tinygen import backend
from tinygen.autograd.engine import grad
from tinygen.autograd.grad_mode import enable_grad, no_grad
from tinygen.autograd.tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numeric derivatives disagree (the message names input and element)."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _checked_inputs(inputs):
    inputs = _as_tuple(inputs)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff:
        raise ValueError("gradcheck: no input requires grad")
    for i in diff:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; finite "
                            f"differences need float64 inputs")
        # the perturbation writes through a flat view, which needs contiguous memory
        if not inputs[i].array.flags.c_contiguous:
            inputs[i].array = inputs[i].array.copy()
    return inputs, diff


def _outputs(fn, inputs):
    return [y for y in _as_tuple(fn(*inputs)) if isinstance(y, Tensor)]


def _flat_outputs(fn, inputs):
    """All differentiable outputs' values, flattened and joined (as float64 numpy)."""
    with no_grad():
        ys = _outputs(fn, inputs)
    return np.concatenate([backend.to_numpy(y.array).astype(np.float64).ravel() for y in ys]) if ys else np.zeros(0)


def _numeric_column(fn, inputs, x, j, eps, direction=None):
    """d outputs / d x along element j (or along `direction`), by central differences."""
    flat = x.array.reshape(-1)
    orig = flat.copy()
    step = eps * direction.reshape(-1) if direction is not None else None
    try:
        if direction is None:
            flat[j] = orig[j] + eps
        else:
            flat[...] = orig + step
        plus = _flat_outputs(fn, inputs)
        if direction is None:
            flat[j] = orig[j] - eps
        else:
            flat[...] = orig - step
        minus = _flat_outputs(fn, inputs)
    finally:
        flat[...] = orig
    return (plus - minus) / (2 * eps)


def _vjp(fn, inputs, diff, cotangents):
    """sum_k cotangent_k . d y_k / d inputs, for every differentiable input."""
    ys = _outputs(fn, inputs)
    pairs = [(y, g) for y, g in zip(ys, cotangents) if y.requires_grad]
    if not pairs:
        return [np.zeros(inputs[i].shape) for i in diff]
    gs = grad([y for y, _ in pairs], [inputs[i] for i in diff],
              grad_outputs=[Tensor.wrap(g, y.device, False) for y, g in pairs],
              allow_unused=True)
    return [np.zeros(inputs[i].shape) if g is None else backend.to_numpy(g.array).astype(np.float64)
            for i, g in zip(diff, gs)]


def _fail(i, where, analytic, numeric, atol, rtol, what="gradient"):
    raise GradcheckError(
        f"{what} mismatch for input {i} at {where}: analytic {analytic!r}, numeric {numeric!r} "
        f"(|diff| {abs(analytic - numeric):.3g} > atol {atol} + rtol {rtol} * |numeric|)")


def jacobians(fn, inputs, eps=1e-6):
    """The whole Jacobians that gradcheck compares: (diff, analytic, numeric), with diff the
    indices of the inputs checked and, for each of them, its (n_outputs, n_elements) Jacobian
    from backward (analytic) and from central differences (numeric). Exported as
    tg.autograd.jacobians, to look at a gradcheck failure whole."""
    inputs, diff = _checked_inputs(inputs)
    with no_grad():
        ys = _outputs(fn, inputs)
    shapes = [y.shape for y in ys]
    sizes = [int(np.prod(s)) for s in shapes]
    total = sum(sizes)
    analytic = [np.zeros((total, int(np.prod(inputs[i].shape)))) for i in diff]
    for r in range(total):  # one backward per output element: row r of every Jacobian
        onehot = np.zeros(total)
        onehot[r] = 1.0
        parts = np.split(onehot, np.cumsum(sizes)[:-1])
        cot = [backend.array_module(y.device).asarray(p.reshape(s)) for y, p, s in zip(ys, parts, shapes)]
        for k, g in enumerate(_vjp(fn, inputs, diff, cot)):
            analytic[k][r] = g.ravel()
    numeric = []
    for i in diff:  # two forwards per input element: column j of its Jacobian
        x = inputs[i]
        cols = [_numeric_column(fn, inputs, x, j, eps) for j in range(int(np.prod(x.shape)))]
        numeric.append(np.stack(cols, axis=1) if cols else np.zeros((total, 0)))
    return diff, analytic, numeric


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=False, raise_exception=True,
              what="gradient"):
    """True if fn's analytic gradients match finite differences at `inputs`; else raise.

    fn: Tensors -> Tensor or tuple of Tensors. inputs: a Tensor or a tuple; those with
    requires_grad (float64) are checked."""
    inputs, diff = _checked_inputs(inputs)
    try:
        if fast_mode:
            _fast_check(fn, inputs, diff, eps, atol, rtol, what)
            return True
        diff, analytic, numeric = jacobians(fn, inputs, eps)
        for i, a, n in zip(diff, analytic, numeric):
            bad = ~(np.abs(a - n) <= atol + rtol * np.abs(n))
            if bad.any():
                r, j = np.unravel_index(int(np.argmax(bad)), bad.shape)
                shape = inputs[i].shape
                index = tuple(int(v) for v in np.unravel_index(j, shape)) if shape else ()
                where = f"element {index} (output element {int(r)})"
                _fail(i, where, float(a[r, j]), float(n[r, j]), atol, rtol, what)
        return True
    except GradcheckError:
        if raise_exception:
            raise
        return False


def _fast_check(fn, inputs, diff, eps, atol, rtol, what):
    """Compare v^T J u for random u (input space) and v (output space), per input."""
    with no_grad():
        ys = _outputs(fn, inputs)
    rs = np.random.default_rng(0)
    v = [rs.standard_normal(y.shape) for y in ys]
    xp_of = backend.array_module
    analytic = _vjp(fn, inputs, diff, [xp_of(y.device).asarray(vk) for y, vk in zip(ys, v)])
    v_flat = np.concatenate([vk.ravel() for vk in v]) if v else np.zeros(0)
    for k, i in enumerate(diff):
        u = rs.standard_normal(inputs[i].shape)
        u_dev = xp_of(inputs[i].device).asarray(u)
        numeric = float(v_flat @ _numeric_column(fn, inputs, inputs[i], None, eps, u_dev))
        a = float((analytic[k] * u).sum())
        if not abs(a - numeric) <= atol + rtol * abs(numeric):
            _fail(i, "a random direction (fast_mode)", a, numeric, atol, rtol, what)


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                  fast_mode=False, raise_exception=True):
    """Check second derivatives: gradcheck of (inputs, v) -> d(v . fn(inputs)) / d inputs."""
    inputs, diff = _checked_inputs(inputs)
    with no_grad():
        ys = _outputs(fn, inputs)
    if grad_outputs is None:
        rs = np.random.default_rng(1)
        grad_outputs = [Tensor.wrap(backend.array_module(y.device).asarray(rs.standard_normal(y.shape)),
                                     y.device, False).requires_grad_() for y in ys]
    grad_outputs = list(_as_tuple(grad_outputs))
    n = len(inputs)

    def first_derivative(*args):
        xs, vs = args[:n], args[n:]
        with enable_grad():  # also when the numeric pass evaluates it under no_grad
            outs = _outputs(fn, xs)
            pairs = [(y, v) for y, v in zip(outs, vs) if y.requires_grad]
            gs = grad([y for y, _ in pairs], [xs[i] for i in diff], grad_outputs=[v for _, v in pairs],
                      create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_derivative, tuple(inputs) + tuple(grad_outputs), eps, atol, rtol,
                     fast_mode, raise_exception, what="second-order gradient")
