"""Ops that move values around without arithmetic: reshape, permute, index, cat, pad, ...

Each backward is the inverse movement of the gradient: reshape back, permute back, scatter
what an index gathered, slice what cat joined. Broadcasting lives here too, as the pair

    broadcast_to(x, shape)    copy values out along new or size-1 axes
    sum_to(x, shape)          its adjoint: sum the gradient back down to `shape`

and sum_to is the one helper every binary op's backward uses to undo broadcasting.
"""
import functools

import numpy as np

from tinygen import backend, kernels
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor, as_dtype, as_tensor
from tinygen.kernels.common import empty as pooled_empty
from tinygen.kernels.common import zeros as pooled_zeros
from tinygen.ops.common import index_arrays, normalize_dim, promote_types, shape_argument, sum_over


def _new_array(xp, shape, dtype, zeroed=False):
    """xp.empty(shape, dtype) (xp.zeros: zeroed), a NumPy one from the kernels' buffer pool
    (kernels/common.py): a fresh array's pages fault on first touch, as many as 3200 for the
    12.8 MB of a (64, 64, 28, 28) float32 gradient (Pad and IndexAdd took 1.5 and 3-4 ms a
    call in a Gated PixelCNN step, 0.95 and 1.1 from the pool)."""
    if xp is np:
        return (pooled_zeros if zeroed else pooled_empty)(tuple(shape), dtype)
    return (xp.zeros if zeroed else xp.empty)(shape, dtype=dtype)


# ---- broadcasting ------------------------------------------------------------------------

def _sum_to_array(x, shape):
    """Sum array x down to `shape` (the shape it was broadcast from)."""
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    y = sum_over(x, axes, keepdims=True)
    return y.reshape(shape) if lead else y


class BroadcastTo(Function):
    view_of_input = True

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        xp = backend.array_module(self.device)
        return xp.broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.inputs[0].shape)


class SumTo(Function):
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        return _sum_to_array(x, self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.inputs[0].shape)


def broadcast_to(x, shape):
    shape = tuple(shape)
    if tuple(x.shape) == shape:
        return x
    try:
        np.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {tuple(x.shape)} to {shape}") from None
    return BroadcastTo(shape)(x)


def sum_to(x, shape):
    """Sum x down to `shape`: the adjoint of broadcasting (the unbroadcast helper)."""
    shape = tuple(shape)
    if tuple(x.shape) == shape:
        return x
    return SumTo(shape)(x)


def unbroadcast(gy, x):
    """The gradient gy of a broadcasting op, returned for input x: summed down to x's shape and
    cast to x's dtype (float32 + float64 -> float64 forward; each input's gradient keeps the
    input's own dtype, as in torch)."""
    gx = sum_to(gy, x.shape)
    return gx if gx.dtype == x.dtype else astype(gx, x.dtype)


def expand(x, *sizes):
    """x broadcast to `sizes` (-1 keeps a dimension), as torch.Tensor.expand."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: {len(sizes)} sizes for a tensor of shape {tuple(x.shape)}")
    if -1 in sizes[:lead]:
        raise ValueError(f"expand: size -1 (keep) for a new leading dim in {sizes}, for a tensor "
                         f"of shape {tuple(x.shape)}")
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return broadcast_to(x, shape)


# ---- reshaping ---------------------------------------------------------------------------

class Reshape(Function):
    view_of_input = True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, gy):
        return reshape(gy, self.inputs[0].shape)


def reshape(x, *shape):
    shape = shape_argument(shape)
    if tuple(x.shape) == shape:
        return x
    size, known = x.array.size, 1
    for n in shape:
        known *= n if n != -1 else 1
    free = shape.count(-1)
    if free > 1 or (free == 0 and known != size) or (free == 1 and (known == 0 or size % known)):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} "
                         f"({size} elements) to {shape}")
    return Reshape(shape)(x)


view = reshape


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, 1)
    start, end = normalize_dim(start_dim, x.ndim, "flatten"), normalize_dim(end_dim, x.ndim, "flatten")
    # the flattened size, not -1: an empty batch (N = 0) cannot resolve -1
    shape = x.shape[:start] + (int(np.prod(x.shape[start:end + 1])),) + x.shape[end + 1:]
    return reshape(x, shape)


def unflatten(x, dim, sizes):
    dim = normalize_dim(dim, x.ndim, "unflatten")
    return reshape(x, x.shape[:dim] + tuple(sizes) + x.shape[dim + 1:])


def squeeze(x, dim=None):
    if dim is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    dim = normalize_dim(dim, x.ndim, "squeeze")
    if x.shape[dim] != 1:
        return x
    return reshape(x, x.shape[:dim] + x.shape[dim + 1:])


def unsqueeze(x, dim):
    dim = normalize_dim(dim, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


class Permute(Function):
    view_of_input = True

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        return permute(gy, tuple(np.argsort(self.axes)))


def permute(x, *dims):
    dims = shape_argument(dims)
    if sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} dims "
                         f"of shape {tuple(x.shape)}")
    dims = tuple(d % x.ndim for d in dims)
    if dims == tuple(range(x.ndim)):
        return x
    return Permute(dims)(x)


def transpose(x, dim0, dim1):
    dims = list(range(x.ndim))
    d0, d1 = normalize_dim(dim0, x.ndim, "transpose"), normalize_dim(dim1, x.ndim, "transpose")
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(x, dims)


def t(x):
    if x.ndim > 2:
        raise ValueError(f"t: expects a tensor of at most 2 dims, got shape {tuple(x.shape)}")
    return x if x.ndim < 2 else transpose(x, 0, 1)


def contiguous(x):
    """x itself when its array is C-contiguous (is_contiguous), else a C-contiguous copy,
    differentiable as clone: as torch, writing into the result never changes x."""
    return x if is_contiguous(x) else clone(x)


def is_contiguous(x):
    """Whether x's array is laid out in C order with no gaps (a transpose, a stepped slice or
    an expand is not; dims of size 1 do not count, as torch)."""
    return bool(x.array.flags.c_contiguous)


# ---- indexing ----------------------------------------------------------------------------

def _is_basic(index):
    """True for an index of ints, slices, None and Ellipsis only (no arrays, no masks)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, slice)
               or (isinstance(i, (int, np.integer)) and not isinstance(i, bool)) for i in items)


class GetItem(Function):
    """y = x[index]; basic slicing or integer/boolean array indexing."""

    def __init__(self, index):
        self.index = index
        self.view_of_input = _is_basic(index)   # basic indexing returns a view

    def forward(self, x):
        try:
            return x[self.index]
        except (IndexError, TypeError, ValueError) as e:
            raise IndexError(f"getitem: index {self.index!r} is invalid for a tensor of shape "
                             f"{tuple(x.shape)}: {e}") from None

    def backward(self, gy):
        return IndexAdd(self.index, self.inputs[0].shape)(gy)


class IndexAdd(Function):
    """The adjoint of GetItem: zeros of `shape` with gy added at `index` (repeats summed)."""

    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, gy):
        xp = backend.array_module(self.device)
        gx = _new_array(xp, self.shape, gy.dtype, zeroed=True)
        if _is_basic(self.index):  # each element picked at most once: a plain store (~30x faster)
            gx[self.index] = gy
            return gx
        scatter = kernels.implementation("scatter", kernels.device_of(gx))   # repeats in order
        return scatter.scatter_add(gx, self.index, gy)

    def backward(self, ggx):
        return getitem(ggx, self.index)


def getitem(x, index):
    return GetItem(index_arrays(index))(x)


class Cat(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, *xs):
        xp = backend.array_module(self.device)
        return xp.concatenate(xs, axis=self.dim)

    def backward(self, gy):
        gxs, start = [], 0
        for x in self.inputs:
            n = x.shape[self.dim]
            index = (slice(None),) * self.dim + (slice(start, start + n),)
            gxs.append(astype(getitem(gy, index), x.dtype))  # inputs of mixed dtypes
            start += n
        return tuple(gxs)


def cat(tensors, dim=0):
    """The tensors joined along dim, in torch's promoted dtype (int64 with float32: float32)."""
    tensors = [as_tensor(t, like=tensors) for t in tensors]
    if not tensors:
        raise ValueError("cat: expects a non-empty list of tensors")
    dtype = functools.reduce(promote_types, [t.array.dtype for t in tensors])
    tensors = [astype(t, dtype) for t in tensors]
    ref = tensors[0]
    dim = normalize_dim(dim, ref.ndim, "cat")
    for t in tensors[1:]:
        if t.ndim != ref.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape)) if i != dim):
            raise ValueError(f"cat: shapes {[tuple(u.shape) for u in tensors]} differ outside "
                             f"dim {dim}")
    return Cat(dim)(*tensors)


def stack(tensors, dim=0):
    tensors = [as_tensor(t, like=tensors) for t in tensors]
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: expects tensors of one shape, got {sorted(shapes)}")
    dim = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


class Pad(Function):
    """Constant padding; `widths` is NumPy's ((before, after), ...) per dim."""

    def __init__(self, widths, value):
        self.widths, self.value = widths, value

    def forward(self, x):
        """xp.pad(x, widths, constant_values=value): x copied in, then the border slabs filled."""
        xp = backend.array_module(self.device)
        y = _new_array(xp, [n + b + a for n, (b, a) in zip(x.shape, self.widths)], x.dtype)
        y[tuple(slice(b, b + n) for n, (b, _) in zip(x.shape, self.widths))] = x
        for d, (b, a) in enumerate(self.widths):
            lead = (slice(None),) * d
            y[lead + (slice(0, b),)] = self.value
            y[lead + (slice(y.shape[d] - a, None),)] = self.value
        return y

    def backward(self, gy):
        index = tuple(slice(b, gy.shape[i] - a) for i, (b, a) in enumerate(self.widths))
        return getitem(gy, index)


def pad(x, pad, mode="constant", value=0.0):
    """torch.nn.functional.pad: `pad` lists (left, right) pairs from the LAST dim backwards.

    mode 'constant' (negative widths crop), 'reflect', 'replicate' or 'circular'."""
    if mode not in ("constant",) + tuple(_PAD_SOURCE):
        raise ValueError(f"pad: mode {mode!r} is not supported (expected 'constant', "
                         f"'reflect', 'replicate' or 'circular')")
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: {len(pad)} pad values for a tensor of shape {tuple(x.shape)}; "
                         f"expected pairs, at most 2 per dim")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if mode != "constant":
        return _pad_by_index(x, widths, mode)
    if all(b >= 0 and a >= 0 for b, a in widths):
        return Pad(tuple(widths), value)(x)
    # negative widths crop first, then the positive part pads
    crop = tuple(slice(max(-b, 0), x.shape[i] - max(-a, 0)) for i, (b, a) in enumerate(widths))
    return Pad(tuple((max(b, 0), max(a, 0)) for b, a in widths), value)(getitem(x, crop))


# The source position of each output position i in [-before, n + after) of a padded dim of n:
# every non-constant mode is a gather (its gradient the scatter-add of GetItem's backward).
_PAD_SOURCE = {
    "reflect": lambda i, n: np.abs((i + n - 1) % (2 * n - 2) - (n - 1)) if n > 1 else 0 * i,
    "replicate": lambda i, n: np.clip(i, 0, n - 1),
    "circular": lambda i, n: i % n,
}


def _pad_by_index(x, widths, mode):
    """pad with mode 'reflect' | 'replicate' | 'circular': one index gather per padded dim."""
    xp = backend.array_module(x.device)
    for d, (before, after) in enumerate(widths):
        if not before and not after:
            continue
        n = x.shape[d]
        limit = n - 1 if mode == "reflect" else n
        if min(before, after) < 0 or max(before, after) > limit or n == 0:
            raise ValueError(f"pad: {mode} padding ({before}, {after}) of dim {d} of a tensor of "
                             f"shape {tuple(x.shape)}: widths must lie in [0, {limit}]")
        source = _PAD_SOURCE[mode](np.arange(-before, n + after), n)
        x = getitem(x, (slice(None),) * d + (xp.asarray(source),))
    return x


# ---- dtype and device --------------------------------------------------------------------

class AsType(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, gy):
        return astype(gy, self.inputs[0].dtype)


def astype(x, dtype):
    if x.dtype == np.dtype(dtype):
        return x
    return AsType(dtype)(x)


class ToDevice(Function):
    def __init__(self, target):
        self.target = target

    def forward(self, x):
        return backend.to_device(x, self.target)

    def backward(self, gy):
        return to_device(gy, self.inputs[0].device)

    def __call__(self, x):
        # the output lives on the target device: build it there, then link it to x
        y = super().__call__(x)
        y.device = self.target
        return y


def to(self, *args, device=None, dtype=None, non_blocking=False, copy=False):
    """Tensor.to: a tensor on `device` and/or with `dtype` (self when nothing changes, a new
    tensor with copy=True); differentiable. As torch: x.to("cuda"), x.to(tg.float64),
    x.to(other) (other's device and dtype), x.to("cpu", tg.float64), x.to(device=...).
    non_blocking is accepted and ignored (every copy here is synchronous)."""
    device, dtype = _to_arguments(args, device, dtype)
    out = self
    if dtype is not None and np.dtype(dtype) != self.dtype:
        if np.dtype(dtype).kind not in "fc":
            out = out.detach()  # an integer/bool result carries no gradient, as torch
        out = astype(out, dtype)
    if device is not None and device != self.device:
        out = to_device(out, device)
    if copy and out is self:
        out = clone(self)
    return out


def _to_arguments(args, device, dtype):
    """Sort .to()'s positional arguments (device, dtype, or a tensor giving both)."""
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif isinstance(a, str) and a.partition(":")[0] in backend.DEVICES:
            device = a
        else:
            dtype = a
    return (None if device is None else backend.normalize_device(device),
            None if dtype is None else as_dtype(dtype))


def to_device(x, device):
    if x.device == device:
        return x
    return ToDevice(device)(x)


def clone(x):
    return Clone()(x)


class Clone(Function):
    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy
