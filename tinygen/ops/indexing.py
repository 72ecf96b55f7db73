"""Indexing by index tensors: gather (take_along_dim), scatter(_add), index_select, index_add, index_fill,
masked_select, nonzero, setitem (masked_fill, an elementwise choice, is elementwise.py's).

Every op here is a case of NumPy advanced indexing, so every one reduces to the two nodes of
shape.py: GetItem (y = x[index]) and its adjoint IndexAdd (zeros with g added at index,
repeats summed). An index along `dim` becomes the full index tuple

    gather(x, dim, index)[i, j, k] = x[i, index[i, j, k], k]          (dim = 1)
    full index = (arange(I)[:, None, None], index, arange(K)[None, None, :])

so gather is x[full index], scatter_add adds src at it, and the backward of each is the
other. Overwriting ops (scatter, setitem) add one node, SetItem, whose backward zeroes the
overwritten places for the old values and gathers them for the new ones.

Indices are int64 tensors (or int arrays/lists); masks are bool tensors.
"""
import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor, as_tensor
from tinygen.ops.common import full_index, index_arrays, mask_array, normalize_dim, on_device_of
from tinygen.ops.shape import IndexAdd, broadcast_to, getitem, reshape, unbroadcast


def _index_array(index, op, x):
    """An int64 array on x's device from an index Tensor, array or list."""
    array = on_device_of(x, index)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer tensor, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _check_gather_shapes(op, x, dim, index, src=None):
    if index.ndim != x.ndim:
        raise RuntimeError(f"{op}: index of shape {tuple(index.shape)} must have as many dims as "
                           f"the input of shape {tuple(x.shape)}")
    for d in range(x.ndim):
        if d != dim and index.shape[d] > x.shape[d]:
            raise RuntimeError(f"{op}: index of shape {tuple(index.shape)} is larger than the "
                               f"input of shape {tuple(x.shape)} at dim {d}")
        if src is not None and index.shape[d] > src.shape[d]:
            raise RuntimeError(f"{op}: index of shape {tuple(index.shape)} is larger than src of "
                               f"shape {tuple(src.shape)} at dim {d}")
    _check_range(op, index, x, dim)


def _check_range(op, index, x, dim, lowest=0):
    """Indices in [lowest, n) along dim: 0 for the ops where torch refuses a negative index
    (gather, scatter, index_select, index_add: -1 would silently pick the last slice), -n for
    index_fill, which takes one as Python does."""
    n = x.shape[dim] if x.ndim else 1
    if not index.size:
        return
    low, high = int(index.min()), int(index.max())
    if low < lowest or high >= n:
        raise IndexError(f"{op}: index {low if low < lowest else high} is out of range "
                         f"[{lowest}, {n}) for dim {dim} of shape {tuple(x.shape)}")


def _src_part(src, index):
    """src cut to index's shape (torch uses only that corner of a larger src)."""
    if tuple(src.shape) == tuple(index.shape):
        return src
    return getitem(src, tuple(slice(0, n) for n in index.shape))


def gather(input, dim, index, *, sparse_grad=False):
    """out[i][j][k] = input[i][index[i][j][k]][k] (for dim = 1), as torch.gather (the gradient
    is always dense: sparse_grad is accepted and ignored)."""
    idx = _index_array(index, "gather", input)
    dim = normalize_dim(dim, input.ndim, "gather")
    if input.ndim == 0:
        return getitem(input, ()) if idx.ndim == 0 else input * 1.0
    _check_gather_shapes("gather", input, dim, idx)
    return getitem(input, full_index(backend.array_module(input.device), idx, dim))


def take_along_dim(input, indices, dim=None):
    """gather along dim with input and indices broadcast against each other over the other
    dims, as torch.take_along_dim; dim=None: both flattened."""
    idx = _index_array(indices, "take_along_dim", input)
    if dim is None:
        return gather(reshape(input, (-1,)), 0, Tensor.wrap(idx.reshape(-1), input.device, False))
    if input.ndim != idx.ndim:
        raise RuntimeError(f"take_along_dim: input of shape {tuple(input.shape)} and indices of shape "
                           f"{tuple(idx.shape)} need the same number of dims")
    dim = normalize_dim(dim, input.ndim, "take_along_dim")

    def with_dim(shape, n):
        return tuple(n if d == dim else k for d, k in enumerate(shape))
    try:
        others = np.broadcast_shapes(with_dim(input.shape, 1), with_dim(idx.shape, 1))
    except ValueError:
        raise RuntimeError(f"take_along_dim: input of shape {tuple(input.shape)} and indices of shape "
                           f"{tuple(idx.shape)} do not broadcast outside dim {dim}") from None
    xp = backend.array_module(input.device)
    idx = xp.broadcast_to(idx, with_dim(others, idx.shape[dim]))
    return gather(broadcast_to(input, with_dim(others, input.shape[dim])), dim,
                  Tensor.wrap(idx, input.device, False))


def scatter_add(input, dim, index, src):
    """input with src[i][j][k] added at [i][index[i][j][k]][k] (dim = 1); repeats add up."""
    idx = _index_array(index, "scatter_add", input)
    dim = normalize_dim(dim, input.ndim, "scatter_add")
    src = as_tensor(src, like=(input,))
    if src.dtype != input.dtype:
        raise TypeError(f"scatter_add: src dtype {src.dtype} differs from the input's {input.dtype}")
    _check_gather_shapes("scatter_add", input, dim, idx, src)
    full = full_index(backend.array_module(input.device), idx, dim)
    return input + IndexAdd(full, tuple(input.shape))(_src_part(src, idx))


class SetItem(Function):
    """y = x with y[index] = value; the backward zeroes the overwritten places for x and picks
    them for value. Written in place into x's array when the caller allows it (setitem on a
    tensor whose old values nobody needs)."""

    output_unused = True   # the backward never reads the output (see inplace.py)

    def __init__(self, index, in_place=False):
        self.index, self.in_place = index, in_place

    def forward(self, x, value):
        y = x if self.in_place else x.copy()
        try:
            y[self.index] = value
        except (IndexError, ValueError) as e:
            raise IndexError(f"setitem: cannot assign a value of shape {tuple(value.shape)} at "
                             f"index {self.index!r} of a tensor of shape {tuple(x.shape)}: {e}") from None
        return y

    def backward(self, gy):
        x, value = self.inputs
        zero = Tensor.wrap(backend.array_module(gy.device).zeros((), gy.dtype), gy.device, False)
        gx = SetItem(self.index)(gy, zero) if x.requires_grad else None
        gv = None
        if value.requires_grad:
            picked = getitem(gy, self.index)
            gv = unbroadcast(picked, value) if picked.shape != value.shape or picked.dtype != value.dtype \
                else picked
        return gx, gv


def scatter(input, dim, index, src=None, value=None, reduce=None):
    """input with src (or the number `value`) written at [i][index[i][j][k]][k] (dim = 1).

    reduce='add' is scatter_add; repeated indices in plain scatter keep one of the writes
    (which one is unspecified, as in torch)."""
    if src is None and value is None:
        raise TypeError("scatter: expects src or value")
    if reduce is not None:
        if reduce != "add":
            raise ValueError(f"scatter: reduce must be None or 'add', got {reduce!r}")
        if src is None or not isinstance(src, Tensor):
            raise TypeError("scatter: reduce='add' expects a src tensor")
        return scatter_add(input, dim, index, src)
    idx = _index_array(index, "scatter", input)
    dim = normalize_dim(dim, input.ndim, "scatter")
    xp = backend.array_module(input.device)
    if src is None or not isinstance(src, Tensor):  # a number
        v = value if src is None else src
        _check_gather_shapes("scatter", input, dim, idx)
        return SetItem(full_index(xp, idx, dim))(input, as_tensor(v, like=(input,)))
    if src.dtype != input.dtype:
        raise TypeError(f"scatter: src dtype {src.dtype} differs from the input's {input.dtype}")
    _check_gather_shapes("scatter", input, dim, idx, src)
    return SetItem(full_index(xp, idx, dim))(input, _src_part(src, idx))


def _dim_index(op, input, dim, index, negative=False):
    """(slice(None),) * dim + (index,): picks whole slices along dim (negative: -1 is the last)."""
    idx = _index_array(index, op, input)
    if idx.ndim > 1:
        raise IndexError(f"{op}: index must be 0-d or 1-d, got shape {tuple(idx.shape)}")
    dim = normalize_dim(dim, input.ndim, op)
    n = input.shape[dim] if input.ndim else 1
    _check_range(op, idx, input, dim, lowest=-n if negative else 0)
    return (slice(None),) * dim + (idx.reshape(-1),), dim


def index_select(input, dim, index):
    """The slices of input along dim at the positions in the 1-d `index`."""
    if input.ndim == 0:
        return getitem(input, ()) * 1.0
    full, _ = _dim_index("index_select", input, dim, index)
    return getitem(input, full)


def index_add(input, dim, index, source, alpha=1):
    """input with alpha * source[j] added to the slice index[j] along dim (repeats add up)."""
    full, dim = _dim_index("index_add", input, dim, index)
    source = as_tensor(source, like=(input,))
    expected = tuple(input.shape[:dim]) + (full[-1].shape[0],) + tuple(input.shape[dim + 1:])
    if tuple(source.shape) != expected:
        raise RuntimeError(f"index_add: source of shape {tuple(source.shape)}, expected {expected} "
                           f"for input {tuple(input.shape)}, dim {dim} and {expected[dim]} indices")
    added = IndexAdd(full, tuple(input.shape))(source)
    return input + (added if alpha == 1 else added * alpha)


def index_fill(input, dim, index, value):
    """input with the slices index[j] along dim set to `value` (a number or 0-d tensor)."""
    full, _ = _dim_index("index_fill", input, dim, index, negative=True)
    xp = backend.array_module(input.device)
    full = full[:-1] + (xp.unique(full[-1] % max(input.shape[dim] if input.ndim else 1, 1)),)
    return SetItem(full)(input, as_tensor(value, like=(input,)))   # each slice filled once


def masked_select(input, mask):
    """The elements of input where mask is True (both broadcast together), as a 1-d tensor."""
    m = mask_array(mask, "masked_select", input)
    try:
        shape = np.broadcast_shapes(m.shape, input.shape)
    except ValueError:
        raise RuntimeError(f"masked_select: mask of shape {tuple(m.shape)} and input of shape "
                           f"{tuple(input.shape)} cannot be broadcast together") from None
    xp = backend.array_module(input.device)
    return getitem(broadcast_to(input, shape), xp.broadcast_to(m, shape))


def nonzero(input, *, as_tuple=False):
    """Indices of the nonzero elements: an int64 tensor (n, ndim), or a tuple of ndim 1-d ones."""
    xp = backend.array_module(input.device)
    if as_tuple:
        data = input.array if input.ndim else input.array.reshape(1)
        return tuple(Tensor.wrap(i.astype(np.int64), input.device, False) for i in xp.nonzero(data))
    return Tensor.wrap(xp.argwhere(input.array).astype(np.int64), input.device, False)


def setitem(x, index, value):
    """x[index] = value as a differentiable op on a copy (see inplace.setitem_ for x[...] = v)."""
    return SetItem(index_arrays(index))(x, as_tensor(value, like=(x,)))
