"""Higher-order derivatives as functions of a function, as torch.autograd.functional.

For f: inputs -> outputs with Jacobian J (and, for a scalar f, Hessian H):

    vjp(f, x, v)   -> (f(x), v^T J)      one backward pass
    jvp(f, x, v)   -> (f(x), J v)        the double-vjp trick: g(u) = J^T u is linear in u,
                                         so the vjp of g with v is (J^T)^T v = J v
    jacobian(f, x) -> J                  one backward per output element, J[out..., in...]
    hessian(f, x)  -> H                  the Jacobian of the gradient
    vhp(f, x, v)   -> (f(x), v^T H)      the gradient of <grad f, v>
    hvp(f, x, v)   -> (f(x), H v)        the double-vjp trick again, on grad f

All of them run on the reverse-mode engine (tinygen has no forward mode). `inputs` is a
Tensor or a tuple of Tensors; results follow it (a Tensor, a tuple, or for jacobian and
hessian of tuples a tuple of tuples [i][j] = d output_i / d input_j). Without create_graph
the results are detached; with it they are differentiable, also with respect to the
caller's tensors that `inputs` were computed from. strict=True makes an output that does
not depend on an input an error instead of a zero block.
"""
from tinygen import backend
from tinygen.autograd import grad_mode
from tinygen.autograd.engine import grad
from tinygen.autograd.tensor import Tensor


def _as_tuple(x, arg, fn_name):
    is_tuple = isinstance(x, (tuple, list))
    xs = tuple(x) if is_tuple else (x,)
    for i, t in enumerate(xs):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fn_name}: the {arg} must be a Tensor or a tuple of Tensors, but "
                            f"element {i} is {type(t).__name__}")
    return is_tuple, xs


def _prepare_inputs(inputs, create_graph):
    """Fresh leaves that require grad (as torch: differentiable views of inputs that already
    require grad, under create_graph, so the caller's graph continues through them)."""
    if create_graph:
        return tuple(x.clone() if x.requires_grad else x.detach().requires_grad_()
                     for x in inputs)
    return tuple(x.detach().requires_grad_() for x in inputs)


def _finish(xs, create_graph):
    return tuple(x if x is None or create_graph else x.detach() for x in xs)


def _unpack(xs, is_tuple):
    return xs if is_tuple else xs[0]


def _zeros_like(x):
    from tinygen.ops.factories import zeros_like
    return zeros_like(x)


def _run(func, inputs, fn_name):
    with grad_mode.enable_grad():
        outputs = func(*inputs)
    return _as_tuple(outputs, "outputs of the user-provided function", fn_name)


def _grads(outputs, inputs, grad_outputs, create_graph, strict, fn_name, what="output"):
    """grad() of the differentiable outputs; None where an input is unused (strict: an error)."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if pairs:
        gs = grad([o for o, _ in pairs], inputs, [g for _, g in pairs], retain_graph=True,
                  create_graph=create_graph, allow_unused=True)
    else:
        gs = (None,) * len(inputs)
    if strict:
        for j, g in enumerate(gs):
            if g is None:
                raise RuntimeError(f"{fn_name}: the {what} of the user-provided function is "
                                   f"independent of input {j}; this is not allowed in strict "
                                   f"mode")
    return gs


def _check_v(v, like, fn_name, arg_of):
    if v is None:
        if len(like) != 1 or like[0].array.size != 1:
            raise RuntimeError(f"{fn_name}: v can only be None if the {arg_of} is a single "
                               f"Tensor with a single element")
        return (Tensor.wrap(backend.array_module(like[0].device).ones_like(like[0].array),
                             like[0].device, False),)
    _, vs = _as_tuple(v, "v", fn_name)
    if len(vs) != len(like):
        raise RuntimeError(f"{fn_name}: v has {len(vs)} Tensors, the {arg_of} {len(like)}")
    for i, (a, b) in enumerate(zip(vs, like)):
        if tuple(a.shape) != tuple(b.shape):
            raise RuntimeError(f"{fn_name}: entry {i} of v has shape {tuple(a.shape)}, the "
                               f"{arg_of} has shape {tuple(b.shape)} there")
    return vs


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): v has the outputs' shapes, the result the inputs' shapes."""
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
    xs = _prepare_inputs(inputs, create_graph)
    is_out_tuple, outputs = _run(func, xs, "vjp")
    vs = _check_v(v, outputs, "vjp", "output")
    gs = _grads(outputs, xs, vs, create_graph, strict, "vjp")
    gs = tuple(_zeros_like(x) if g is None else g for g, x in zip(gs, xs))
    return (_unpack(_finish(outputs, create_graph), is_out_tuple),
            _unpack(_finish(gs, create_graph), is_in_tuple))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): v has the inputs' shapes, the result the outputs' shapes."""
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
    xs = _prepare_inputs(inputs, create_graph)
    vs = _check_v(v, xs, "jvp", "input")
    is_out_tuple, outputs = _run(func, xs, "jvp")
    # g(u) = J^T u for a dummy u; its vjp with v is J v
    us = tuple(_zeros_like(o).requires_grad_() for o in outputs)
    with grad_mode.enable_grad():
        g_us = _grads(outputs, xs, us, True, strict, "jvp")
        pairs = [(g, w) for g, w in zip(g_us, vs) if g is not None and g.requires_grad]
        if pairs:
            jv = grad([g for g, _ in pairs], us, [w for _, w in pairs],
                      create_graph=create_graph, allow_unused=True)
        else:
            jv = (None,) * len(us)
    if strict and any(j is None for j in jv):
        raise RuntimeError("jvp: an output of the user-provided function is independent of "
                           "the inputs; this is not allowed in strict mode")
    jv = tuple(_zeros_like(o) if j is None else j for j, o in zip(jv, outputs))
    return (_unpack(_finish(outputs, create_graph), is_out_tuple),
            _unpack(_finish(jv, create_graph), is_out_tuple))


def _jacobian_blocks(outputs, xs, create_graph, strict, fn_name):
    """blocks[i][j] of shape outputs[i].shape + xs[j].shape, by one backward per element."""
    from tinygen.ops.shape import stack
    blocks = []
    for i, out in enumerate(outputs):
        xp = backend.array_module(out.device)
        rows = [[] for _ in xs]
        for k in range(out.array.size):
            onehot = xp.zeros(out.array.size, dtype=out.dtype)
            onehot[k] = 1
            e_k = Tensor.wrap(onehot.reshape(out.shape), out.device, False)
            gs = _grads([out], xs, [e_k], create_graph, strict, fn_name, what=f"output {i}")
            for j, g in enumerate(gs):
                rows[j].append(_zeros_like(xs[j]) if g is None else g)
        row = []
        for j, x in enumerate(xs):
            if rows[j]:
                block = stack(rows[j]).reshape(tuple(out.shape) + tuple(x.shape))
            else:  # an empty output
                block = Tensor.wrap(xp.zeros(tuple(out.shape) + tuple(x.shape), dtype=x.dtype),
                                     x.device, False)
            row.append(block if create_graph else block.detach())
        blocks.append(tuple(row))
    return blocks


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """J = d func(inputs) / d inputs: for one input and one output a Tensor of shape
    output.shape + input.shape; tuples of those as torch (see the module docstring).
    vectorize is accepted and has no effect (each row is its own backward); only the
    reverse-mode strategy exists."""
    if strategy != "reverse-mode":
        raise NotImplementedError(f"jacobian: strategy={strategy!r}; tinygen has only "
                                  f"'reverse-mode'")
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    xs = _prepare_inputs(inputs, create_graph)
    is_out_tuple, outputs = _run(func, xs, "jacobian")
    blocks = _jacobian_blocks(outputs, xs, create_graph, strict, "jacobian")
    rows = tuple(_unpack(row, is_in_tuple) for row in blocks)
    return _unpack(rows, is_out_tuple)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """H = d^2 func / d inputs^2 for a func with one single-element output: for one input a
    Tensor of shape input.shape + input.shape; for a tuple, a tuple of tuples [i][j]."""
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def gradient(*xs):
        _, outputs = _run(func, xs, "hessian")
        if len(outputs) != 1 or outputs[0].array.size != 1:
            raise RuntimeError(f"hessian: the user-provided function must return a single "
                               f"Tensor with a single element, got "
                               f"{[tuple(o.shape) for o in outputs]}")
        gs = _grads(outputs, xs, [None], True, strict, "hessian")
        return tuple(_zeros_like(x) if g is None else g for g, x in zip(gs, xs))

    xs = _prepare_inputs(inputs, create_graph)
    blocks = _jacobian_blocks(gradient(*xs), xs, create_graph, strict, "hessian")
    rows = tuple(_unpack(row, is_in_tuple) for row in blocks)
    return _unpack(rows, is_in_tuple)


def _scalar_output(func, xs, fn_name):
    _, outputs = _run(func, xs, fn_name)
    if len(outputs) != 1 or outputs[0].array.size != 1:
        raise RuntimeError(f"{fn_name}: the user-provided function must return a single Tensor "
                           f"with a single element, got {[tuple(o.shape) for o in outputs]}")
    return outputs[0]


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H) for a func with one single-element output."""
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", "vhp")
    xs = _prepare_inputs(inputs, create_graph)
    vs = _check_v(v, xs, "vhp", "input")
    out = _scalar_output(func, xs, "vhp")
    with grad_mode.enable_grad():
        jac = _grads([out], xs, [None], True, strict, "vhp")
        pairs = [(g, w) for g, w in zip(jac, vs) if g is not None and g.requires_grad]
        res = _grads([g for g, _ in pairs], xs, [w for _, w in pairs], create_graph, strict,
                     "vhp", what="gradient")
    res = tuple(_zeros_like(x) if r is None else r for r, x in zip(res, xs))
    return (_finish((out,), create_graph)[0], _unpack(_finish(res, create_graph), is_in_tuple))


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v) for a func with one single-element output (equal to vhp's result,
    H being symmetric, but computed as torch does, by the double-vjp trick)."""
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", "hvp")
    xs = _prepare_inputs(inputs, create_graph)
    vs = _check_v(v, xs, "hvp", "input")
    out = _scalar_output(func, xs, "hvp")
    with grad_mode.enable_grad():
        jac = _grads([out], xs, [None], True, strict, "hvp")
        us = tuple(_zeros_like(x).requires_grad_() for x in xs)
        pairs = [(g, u) for g, u in zip(jac, us) if g is not None and g.requires_grad]
        double = _grads([g for g, _ in pairs], xs, [u for _, u in pairs], True, strict, "hvp",
                        what="gradient")
        pairs = [(d, w) for d, w in zip(double, vs) if d is not None and d.requires_grad]
        if pairs:
            res = grad([d for d, _ in pairs], us, [w for _, w in pairs],
                       create_graph=create_graph, allow_unused=True)
        else:
            res = (None,) * len(us)
    res = tuple(_zeros_like(x) if r is None else r for r, x in zip(res, xs))
    return (_finish((out,), create_graph)[0], _unpack(_finish(res, create_graph), is_in_tuple))
