"""The backward walk: reverse-mode differentiation over the recorded graph.

    1. collect every Function reachable from the roots;
    2. visit them newest generation first (a node's outputs are always newer than its
       inputs, so every gradient of a node's outputs is complete when the node is visited);
    3. at each node: gather the gradients of its outputs, run its backward, and add the
       results into the gradients of its inputs;
    4. leaves collect their total into .grad (backward) or are returned (grad).

Without create_graph the walk runs under no_grad, so it records nothing; with it, the
gradients are themselves differentiable. Unless retain_graph, every visited node is
released at the end (inputs and saved arrays dropped).

The walk runs with NumPy's floating-point warnings off (np.errstate, once per walk: 1-3 us
on the 25 us of benchmarks/bench_overhead.py's add forward+backward): an infinite or NaN
gradient (sqrt's at 0, a NaN that reached the loss) is a value, which torch computes
silently; the user did not write these expressions, so NumPy's "divide by zero encountered"
pointing into tinygen's backward formulas told them nothing. Anomaly mode and the training
loop's guards are the ways to find where a non-finite value came from.
"""
import numpy as np

from tinygen import backend
from tinygen.autograd import anomaly, grad_mode
from tinygen.autograd.tensor import Tensor, as_tensor


def _ones_like(t):
    return Tensor.wrap(backend.array_module(t.device).ones_like(t.array), t.device, False)


def _zeros_like(t):
    return Tensor.wrap(backend.array_module(t.device).zeros_like(t.array), t.device, False)


def _root_gradient(root, gradient):
    if gradient is None:
        if root.array.size != 1:
            raise RuntimeError(
                f"backward() on a tensor of shape {tuple(root.shape)}: the gradient is implicit "
                f"only for a single-element output; pass gradient= (a tensor of that shape)")
        return _ones_like(root)
    gradient = as_tensor(gradient, like=(root,))
    if tuple(gradient.shape) != tuple(root.shape):
        raise RuntimeError(f"backward(): gradient of shape {tuple(gradient.shape)} for an "
                           f"output of shape {tuple(root.shape)}")
    return gradient


def _topological_order(roots):
    """Every Function reachable from the roots, newest generation first."""
    seen, stack, order = set(), [r.creator for r in roots if r.creator is not None], []
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        order.append(fn)
        if fn.released:
            continue
        for x in fn.inputs:
            if x.creator is not None and id(x.creator) not in seen:
                stack.append(x.creator)
    order.sort(key=lambda fn: fn.generation, reverse=True)
    return order


def _apply_hooks(t, g):
    """g through t's hooks in order; a hook may replace the gradient, but not change its shape,
    dtype or device (as torch: SGD would otherwise update t with a gradient of another shape)."""
    if t._hooks:
        for hook in t._hooks:
            new = hook(g)
            if new is not None:
                _check_hook_result(hook, g, new)
                g = new
    return g


def _check_hook_result(hook, g, new):
    name = getattr(hook, "__name__", type(hook).__name__)
    if not hasattr(new, "shape") or not hasattr(new, "device"):
        raise RuntimeError(f"hook '{name}' returned a {type(new).__name__}, not a Tensor (or None)")
    for what, before, after in (("shape", tuple(g.shape), tuple(new.shape)),
                                ("dtype", g.dtype, new.dtype), ("device", g.device, new.device)):
        if before != after:
            raise RuntimeError(f"hook '{name}' has changed the {what} of the gradient: it got "
                               f"{before} and returned {after} (return a gradient like the one "
                               f"it got, or None)")


def _accumulate(grads, x, g):
    key = id(x)
    old = grads.get(key)
    grads[key] = (x, g) if old is None else (x, old[1] + g)


def _last_use(order):
    """{id(leaf): index in order of its last consumer} for leaves with post-accumulate hooks."""
    last = {}
    for step, fn in enumerate(order):
        for x in fn.inputs or ():  # a released node has none (the walk then raises)
            if x.creator is None and x._post_accumulate_hooks:
                last[id(x)] = step
    return last


def _assign_leaf(x, g, create_graph, assigned, root_arrays):
    """Accumulate a leaf's final gradient g into x.grad, then run its post-accumulate hooks."""
    g = _apply_hooks(x, g)
    if not create_graph:
        # one array may be the gradient of several leaves (add's backward passes gy to both
        # inputs): give each leaf its own copy, so that an in-place change of one .grad never
        # changes another
        if id(g.array) in assigned or id(g.array) in root_arrays:
            g = type(g).wrap(g.array.copy(), g.device, False)
        else:
            g = g.detach()
        assigned.add(id(g.array))
    x.grad = g if x.grad is None else x.grad + g
    if x._post_accumulate_hooks:
        for hook in x._post_accumulate_hooks:
            hook(x)


def tensor_backward(tensor, gradient=None, retain_graph=False, create_graph=False):
    """Tensor.backward (attached in autograd/__init__.py): accumulate d(tensor)/d(leaf) into
    every leaf's .grad."""
    backward([tensor], [gradient], retain_graph=retain_graph or create_graph,
             create_graph=create_graph)


def backward(roots, grad_roots, retain_graph=False, create_graph=False, inputs=None,
             allow_unused=False):
    """Run the walk. With inputs=None, leaves' .grad accumulate; else return their grads."""
    for root in roots:
        if not root.requires_grad:
            raise RuntimeError(
                f"backward through a tensor of shape {tuple(root.shape)} that does not require "
                f"grad (no input of its computation requires grad, or it ran under no_grad)")
    with grad_mode.set_grad_enabled(create_graph), \
            np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        grads = {}
        for root, g in zip(roots, grad_roots):
            _accumulate(grads, root, _root_gradient(root, g))
        wanted = None if inputs is None else {id(t) for t in inputs}
        order = _topological_order(roots)
        assigned = set()
        root_arrays = {id(g.array) for g in grad_roots if g is not None and hasattr(g, "array")}
        # leaves with post-accumulate hooks get their .grad as soon as their last consumer has
        # run (not at the end of the walk), so the hook's work overlaps the rest of backward
        last_use = _last_use(order) if inputs is None else None
        for step, fn in enumerate(order):
            if fn.released:
                raise RuntimeError(
                    f"{fn.name}: trying to backward through the graph a second time: its saved "
                    f"tensors were freed after the first backward; pass retain_graph=True to "
                    f"the first backward if you need to")
            gys, any_grad = [], False
            for ref in fn._outputs:
                y = ref()
                entry = grads.pop(id(y), None) if y is not None else None
                if entry is None:
                    gys.append(None)
                    continue
                g = _apply_hooks(y, entry[1])
                if y._retains_grad:  # accumulates across backward calls, like a leaf's
                    g_kept = g if create_graph else g.detach()
                    y.grad = g_kept if y.grad is None else y.grad + g_kept
                if wanted is not None and id(y) in wanted:
                    grads[("result", id(y))] = (y, g)
                gys.append(g)
                any_grad = True
            if not any_grad:
                continue
            if len(gys) > 1 and any(g is None for g in gys):
                gys = [_zeros_like(ref()) if g is None and ref() is not None else g
                       for g, ref in zip(gys, fn._outputs)]
            fn.check_versions()
            if anomaly._enabled[0]:
                gxs = anomaly.run_backward(fn, gys)
            else:
                gxs = fn.backward(*gys)
            if type(gxs) is not tuple:
                gxs = (gxs,)
            if anomaly._enabled[0]:
                anomaly.check_backward(fn, gxs)
            for x, gx in zip(fn.inputs, gxs):
                if gx is not None and x.requires_grad:
                    if tuple(gx.shape) != tuple(x.shape):
                        raise RuntimeError(f"{fn.name}.backward returned a gradient of shape "
                                           f"{tuple(gx.shape)} for an input of shape "
                                           f"{tuple(x.shape)}")
                    _accumulate(grads, x, gx)
            if last_use:
                for x in fn.inputs:
                    if last_use.get(id(x)) == step and id(x) in grads:
                        _assign_leaf(x, grads.pop(id(x))[1], create_graph, assigned, root_arrays)
        if not retain_graph:
            for fn in order:
                if not fn.released:
                    fn.release()
        # what is left in grads: leaves (and requested non-leaf results)
        if inputs is None:
            for x, g in grads.values():
                if x.creator is None:
                    _assign_leaf(x, g, create_graph, assigned, root_arrays)
            return None
        results = []
        for i, t in enumerate(inputs):
            entry = grads.get(("result", id(t))) or (grads.get(id(t)) if t.creator is None else None)
            if entry is None:
                if not allow_unused:
                    raise RuntimeError(
                        f"grad(): the differentiated Tensor at index {i} (shape "
                        f"{tuple(t.shape)}) was not used in the graph of the outputs; pass "
                        f"allow_unused=True to get None for it")
                results.append(None)
            else:
                g = entry[1] if t.creator is not None else _apply_hooks(t, entry[1])
                results.append(g if create_graph else g.detach())
        return tuple(results)


def tensors_backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False,
                     inputs=None):
    """torch.autograd.backward: accumulate d(sum of tensors)/d(leaf) into the leaves' .grad,
    or, with inputs, into those tensors' .grad only (exported as tg.autograd.backward)."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    elif isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors]
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is None:
        backward(tensors, list(grad_tensors), retain_graph=retain_graph,
                 create_graph=create_graph)
        return
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    grads = backward(tensors, list(grad_tensors), retain_graph=retain_graph,
                     create_graph=create_graph, inputs=inputs, allow_unused=True)
    for t, g in zip(inputs, grads):
        if g is not None:
            t.grad = g if t.grad is None else t.grad + g


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """d(outputs)/d(inputs) as a tuple, without touching any .grad (as torch.autograd.grad).

    grad_outputs: the vector v of the vector-Jacobian product v^T J (one per output; None
    means ones, allowed for single-element outputs). An input the outputs do not depend on is
    an error unless allow_unused (then its gradient is None) or materialize_grads (zeros).
    is_grads_batched: every grad_output has a leading batch dimension; the result is the
    stack of the vector-Jacobian products of its rows (computed one row at a time).
    only_inputs is accepted and ignored, as torch does (deprecated there).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad(): the differentiated input at index {i} is not a Tensor "
                               f"that requires grad")
    if allow_unused is None:
        allow_unused = materialize_grads
    elif materialize_grads and not allow_unused:
        raise ValueError("grad(): materialize_grads=True needs allow_unused to be None or True")
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad(): got {len(grad_outputs)} grad_outputs for {len(outputs)} "
                           f"outputs")
    if retain_graph is None:
        retain_graph = create_graph
    if is_grads_batched:
        return _batched_grad(outputs, inputs, grad_outputs, retain_graph, create_graph,
                             allow_unused, materialize_grads)
    results = backward(outputs, grad_outputs, retain_graph=retain_graph,
                       create_graph=create_graph, inputs=inputs, allow_unused=allow_unused)
    if materialize_grads:
        results = tuple(_zeros_like(t) if g is None else g for t, g in zip(inputs, results))
    return results


def _batched_grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused,
                  materialize_grads):
    from tinygen.ops.shape import stack      # an op: the engine sits below ops, it reaches up here
    n = len(grad_outputs[0])
    rows = []
    for b in range(n):
        rows.append(grad(outputs, inputs, [v[b] for v in grad_outputs],
                         retain_graph=True if b < n - 1 else retain_graph,
                         create_graph=create_graph, allow_unused=allow_unused,
                         materialize_grads=materialize_grads))
    result = []
    for i, t in enumerate(inputs):
        column = [row[i] for row in rows]
        if all(g is None for g in column):
            result.append(None)
        else:
            result.append(stack([_zeros_like(t) if g is None else g for g in column]))
    return tuple(result)
