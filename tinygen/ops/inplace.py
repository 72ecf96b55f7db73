"""In-place ops: add_ sub_ mul_ div_ clamp_ zero_ fill_ copy_ masked_fill_ normal_ uniform_
bernoulli_ resize_, x[index] = value, x op= y, and the in-place forms of functional ops (scatter_,
index_add_, exp_, relu_, addcmul_, ...) through one helper, `_via`.

Every in-place op bumps the tensor's version counter (shared with its views), so a graph
node that saved the tensor refuses to run backward on changed values.

When autograd must record the change (grad mode on, and the tensor or an operand requires
grad), the op is differentiable as in torch: the tensor's memory is overwritten in place and
the Tensor object is *rebased* onto a new graph node,

    y.add_(b)      is    y  <-  Add(y_old, b)      with y_old a stand-in for y's old value

y_old takes over y's old creator (and a copy of y's old values, when that creator's backward
may read them), so gradients flow through both the old history and the new op; nodes that
computed the new value from y (y[1] = y[0] * 2) are pointed at y_old too, and the views of
y they read (y[0]) keep their values as snapshots. Every other node that read y before the
change refuses to run backward (its version check), so a stale read is an error, never a
wrong gradient: stricter than torch, which only checks saved tensors. Two cases raise, as
in torch: a leaf that requires grad (its .grad would lose meaning), and a view of a tensor
that requires grad (tinygen does not replay the change on the view's base).
Outside recording the op is a plain array update.
"""
import weakref

import numpy as np

from tinygen import backend, rng
from tinygen.autograd import grad_mode
from tinygen.autograd.tensor import Tensor, as_tensor
from tinygen.ops import elementwise, indexing, special
from tinygen.ops.common import index_arrays, mask_array
from tinygen.ops.elementwise import add, clamp, div, mul, where
from tinygen.ops.indexing import SetItem
from tinygen.ops.methods import other_and_alpha, value_and_tensors
from tinygen.ops.shape import astype, clone


def _recording(x, *operands):
    return grad_mode._local.enabled and (x.requires_grad or any(
        isinstance(o, Tensor) and o.requires_grad for o in operands))


def _view_of_grad_tensor(x):
    return x.creator is not None and x.creator.view_of_input and x.creator.inputs[0].requires_grad


def _refuse(x, op):
    """The in-place changes autograd cannot record (torch refuses the same)."""
    if x.creator is None and x.requires_grad:
        raise RuntimeError(
            f"{op}: in-place change of a leaf tensor that requires grad (shape "
            f"{tuple(x.shape)}): a leaf Variable that requires grad is being used in an in-place "
            f"operation; do it under tg.no_grad() or use the out-of-place op")
    if _view_of_grad_tensor(x):
        raise RuntimeError(
            f"{op}: in-place change of a view (shape {tuple(x.shape)}, made by "
            f"{x.creator.name}) of a tensor that requires grad is not supported; clone() the "
            f"view, or change the base tensor")


def _operand(x, other):
    if isinstance(other, Tensor):
        if other.device != x.device:
            raise RuntimeError(f"in-place op: tensor on {x.device}, operand on {other.device}")
        return other.array
    return other


def _rebase(x, op, build, keeps_old_values=True):
    """x <- build(x_old) in place, recorded in the graph (see the module docstring).

    keeps_old_values=False: build's backward never reads x_old's values (an overwrite), so
    x_old may share x's memory unless x's own creator reads its output."""
    _refuse(x, op)
    copy = keeps_old_values or (x.creator is not None and not getattr(x.creator, "output_unused", False))
    old = Tensor.wrap(x.array.copy() if copy else x.array, x.device, x.requires_grad)
    old._vc = [x._vc[0]]
    old.creator, old.generation = x.creator, x.generation
    out = build(old)
    if out.dtype != x.dtype:
        out = astype(out, x.dtype)
    if tuple(out.shape) != tuple(x.shape):   # checked before the graph is touched
        raise RuntimeError(f"{op}: the result's shape {tuple(out.shape)} does not match the "
                           f"tensor's shape {tuple(x.shape)} (in-place ops do not broadcast self)")
    if out.creator is None or out is old:
        out = clone(out)
    if x.creator is not None:            # x_old takes x's place in its creator's outputs
        x.creator._outputs = [weakref.ref(old) if r() is x else r for r in x.creator._outputs]
    _snapshot_views(out, x)
    _redirect(out, x, old)
    if out.array is not x.array:
        x.array[...] = out.array
    x._vc[0] += 1
    node = out.creator
    node._outputs = [weakref.ref(x) if r() is out else r for r in node._outputs]
    node.output_versions = [x._vc[0] if r() is x else v for r, v in zip(node._outputs, node.output_versions)]
    x.creator, x.generation, x.requires_grad = node, out.generation, True
    return x


def _reads_of(x, start):
    """The graph nodes above `start` (a Tensor's creator) that may read x or its views: only
    nodes of generation >= x's can, so the walk stops below it."""
    stack, seen = [start], set()
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen or fn.released or fn.generation < x.generation:
            continue
        seen.add(id(fn))
        yield fn
        stack.extend(i.creator for i in fn.inputs)


def _snapshot_views(value, x):
    """Views of x that the graph of `value` read keep the values they had: own memory, own
    version counter (so x[1:3] = x[0:2] * w differentiates as it computed)."""
    if not isinstance(value, Tensor):
        return
    for fn in _reads_of(x, value.creator):
        for i in fn.inputs:
            if i is not x and i._vc is x._vc:
                i.array, i._vc = i.array.copy(), [i._vc[0]]


def _redirect(out, x, old):
    """In the graph that computed the new value, nodes that read x read its old value: point
    them at x_old (else x[1] = x[0] + 1 would make a cycle x -> SetItem -> Add -> x)."""
    for fn in _reads_of(x, out.creator):
        if any(i is x for i in fn.inputs):
            fn.inputs = tuple(old if i is x else i for i in fn.inputs)


def _bump(x):
    x._vc[0] += 1


def add_(self, other, *rest, alpha=1):
    """self += alpha * other."""
    other, alpha = other_and_alpha("add_", other, rest, alpha)
    if _recording(self, other):
        return _rebase(self, "add_", lambda old: add(old, other if alpha == 1 else mul(other, alpha)))
    data = _operand(self, other)
    _bump(self)
    self.array += data if alpha == 1 else alpha * data
    return self


def sub_(self, other, *rest, alpha=1):
    """self -= alpha * other."""
    other, alpha = other_and_alpha("sub_", other, rest, alpha)
    return add_(self, other, alpha=-alpha)


def mul_(self, other):
    if _recording(self, other):
        return _rebase(self, "mul_", lambda old: mul(old, other))
    data = _operand(self, other)
    _bump(self)
    self.array *= data
    return self


def div_(self, other):
    if _recording(self, other):
        return _rebase(self, "div_", lambda old: div(old, other))
    data = _operand(self, other)
    _bump(self)
    self.array /= data
    return self


def clamp_(self, min=None, max=None):
    if _recording(self):
        return _rebase(self, "clamp_", lambda old: clamp(old, min, max))
    if min is None and max is None:
        raise ValueError("clamp_: at least one of min and max must be given")
    _bump(self)
    backend.array_module(self.device).clip(self.array, min, max, out=self.array)
    return self


clip_ = clamp_


def _overwrite(self, op, index, value):
    """self[index] = value (value: a number, array or Tensor), recorded when needed."""
    if _recording(self, value):
        v = as_tensor(value, like=(self,))
        _snapshot_views(v, self)         # before SetItem may write into self's memory
        return _rebase(self, op, lambda old: SetItem(index, in_place=old.array is self.array)(old, v),
                       keeps_old_values=False)
    data = _operand(self, value)
    if self.device != backend.CPU and isinstance(data, (np.ndarray, list, tuple)):
        data = backend.to_device(np.asarray(data), self.device)   # a host source: copied over
    _bump(self)
    try:
        self.array[index] = data
    except (IndexError, ValueError) as e:
        raise IndexError(f"{op}: cannot assign a value of shape {tuple(getattr(data, 'shape', np.shape(data)))} at index "
                         f"{index!r} of a tensor of shape {tuple(self.shape)}: {e}") from None
    return self


def setitem_(self, index, value):
    """x[index] = value: in place, version bumped, differentiable (torch's CopySlices)."""
    _overwrite(self, "__setitem__", index_arrays(index), value)


def zero_(self):
    return _overwrite(self, "zero_", Ellipsis, 0)


def fill_(self, value):
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"fill_: value must be a number or a 0-d tensor, got shape {tuple(value.shape)}")
    return _overwrite(self, "fill_", Ellipsis, value)


def copy_(self, src):
    """Copy src's values (broadcast to self's shape, cast to self's dtype) into self."""
    src_data = src.array if isinstance(src, Tensor) else src
    shape = tuple(src_data.shape if hasattr(src_data, "shape") else np.shape(src_data))
    try:
        if np.broadcast_shapes(shape, self.shape) != tuple(self.shape):
            raise ValueError
    except ValueError:
        raise RuntimeError(f"copy_: src of shape {shape} does not broadcast to the tensor's shape "
                           f"{tuple(self.shape)}") from None
    if isinstance(src, Tensor) and src.device != self.device:   # copy_ moves across devices
        src = src.to(self.device)
    return _overwrite(self, "copy_", Ellipsis, src)


def masked_fill_(self, mask, value):
    m = mask_array(mask, "masked_fill_", self)
    if _recording(self, value):
        mt = Tensor.wrap(m, self.device, False)
        return _rebase(self, "masked_fill_",
                       lambda old: where(mt, as_tensor(value, like=(old,)), old), keeps_old_values=False)
    return _overwrite(self, "masked_fill_", backend.array_module(self.device).broadcast_to(m, self.shape),
                      value)


def _random_fill(self, op, draw):
    values = draw(rng.generator(self.device), self.shape, self.dtype)
    return _overwrite(self, op, Ellipsis, backend.array_module(self.device).asarray(values, dtype=self.dtype))


def uniform_(self, a=0.0, b=1.0):
    return _random_fill(self, "uniform_", lambda g, s, d: rng.uniform(g, s, d, a, b))


def normal_(self, mean=0.0, std=1.0):
    return _random_fill(self, "normal_", lambda g, s, d: rng.normal(g, s, d, mean, std))


def exponential_(self, lambd=1.0):
    """Each element drawn from Exponential(rate lambd)."""
    return _random_fill(self, "exponential_", lambda g, s, d: rng.exponential(g, s, d, 1.0 / lambd))


def resize_(self, *sizes):
    """Give the tensor the shape `sizes` in place (older scripts' buffers reused per batch:
    label.resize_(batch_size).fill_(1), input.resize_as_(real).copy_(real)). Its first
    values, in order, are kept; added elements are zeros (torch leaves them uninitialized,
    and reads a strided tensor's storage instead of its values). Refused on a tensor that
    requires grad, as torch."""
    size = sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    if not all(isinstance(n, (int, np.integer)) and n >= 0 for n in size):
        raise TypeError(f"resize_: sizes must be non-negative ints, got {size!r}")
    if self.requires_grad:
        raise RuntimeError(f"resize_: cannot resize a tensor that requires grad (shape "
                           f"{tuple(self.shape)}); resize its .data, or detach() it")
    size = tuple(int(n) for n in size)
    if size != tuple(self.shape):
        n = int(np.prod(size))
        flat = self.array.reshape(-1)            # a view where the array is contiguous
        if n <= flat.size:
            self.array = flat[:n].reshape(size)
        else:
            grown = backend.array_module(self.device).zeros(n, dtype=self.dtype)
            grown[:flat.size] = flat
            self.array = grown.reshape(size)
    _bump(self)
    return self


def resize_as_(self, other):
    """resize_ to other's shape."""
    return resize_(self, tuple(other.shape))


def detach_(self):
    """Cut this tensor from the graph in place (it becomes a leaf that needs no grad)."""
    if self.creator is not None and self.creator.view_of_input:
        raise RuntimeError(f"detach_: cannot detach a view (made by {self.creator.name}) in place; "
                           f"use detach()")
    self.creator, self.generation, self.requires_grad = None, 0, False
    return self


def bernoulli_(self, p=0.5):
    """Each element 1 with probability p (a number, or a tensor broadcast to self), else 0."""
    probs = p.array if isinstance(p, Tensor) else p
    return _random_fill(self, "bernoulli_", lambda g, s, d: rng.random(g, s, d) < probs)


def _augmented(inplace_op, op):
    """x op= y: in place (torch's semantics), except on a view of a tensor that requires grad,
    where the result is computed out of place; in `x[i] += v` Python then writes it back with
    x.__setitem__, which is recorded. (A named view, v = x[i]; v += 1, then leaves x as it was.)"""
    def augmented(self, other):
        if _view_of_grad_tensor(self) and _recording(self, other):
            return op(self, other)
        return inplace_op(self, other)
    augmented.__name__ = f"__i{op.__name__}__"
    return augmented


iadd = _augmented(add_, add)
isub = _augmented(sub_, lambda a, b: add(a, mul(b, -1)))
imul = _augmented(mul_, mul)
itruediv = _augmented(div_, div)


# ---- in-place forms of functional ops ------------------------------------------------------------

def _via(self, op, fn, *args, keeps_old_values=True, **kwargs):
    """self <- fn(self, *args): recorded through _rebase, else computed and written back."""
    if _recording(self, *args, *kwargs.values()):
        return _rebase(self, op, lambda old: fn(old, *args, **kwargs), keeps_old_values)
    with grad_mode.no_grad():
        out = fn(self, *args, **kwargs)
    if tuple(out.shape) != tuple(self.shape):
        raise RuntimeError(f"{op}: the result's shape {tuple(out.shape)} does not match the "
                           f"tensor's shape {tuple(self.shape)}")
    _bump(self)
    self.array[...] = out.array
    return self


def _inplace_form(fn, keeps_old_values=True):
    def inplace(self, *args, **kwargs):
        return _via(self, f"{fn.__name__}_", fn, *args, keeps_old_values=keeps_old_values, **kwargs)
    inplace.__name__ = f"{fn.__name__}_"
    inplace.__doc__ = f"In-place {fn.__name__}: self <- {fn.__name__}(self, ...), version bumped."
    return inplace


scatter_ = _inplace_form(indexing.scatter, keeps_old_values=False)
scatter_add_ = _inplace_form(indexing.scatter_add, keeps_old_values=False)
index_add_ = _inplace_form(indexing.index_add, keeps_old_values=False)
index_fill_ = _inplace_form(indexing.index_fill, keeps_old_values=False)
exp_ = _inplace_form(elementwise.exp)
log_ = _inplace_form(elementwise.log)
sqrt_ = _inplace_form(elementwise.sqrt)
abs_ = _inplace_form(elementwise.abs)
neg_ = _inplace_form(elementwise.neg)
sigmoid_ = _inplace_form(elementwise.sigmoid)
tanh_ = _inplace_form(elementwise.tanh)
relu_ = _inplace_form(elementwise.relu)


def addcmul_(self, *args, value=1):
    """self += value * tensor1 * tensor2 (or the deprecated addcmul_(value, tensor1, tensor2))."""
    value, t1, t2 = value_and_tensors("addcmul_", args, value)
    return _via(self, "addcmul_", special.addcmul, t1, t2, value=value)


def addcdiv_(self, *args, value=1):
    """self += value * tensor1 / tensor2 (or the deprecated addcdiv_(value, tensor1, tensor2))."""
    value, t1, t2 = value_and_tensors("addcdiv_", args, value)
    return _via(self, "addcdiv_", special.addcdiv, t1, t2, value=value)
pow_ = _inplace_form(elementwise.pow)
