"""Cutting, repeating and reordering along dims: narrow, select, chunk, split, unbind, flip,
roll, repeat, tile, repeat_interleave, movedim, concat/hstack/vstack, meshgrid, and view_as /
reshape_as / expand_as.

Most are compositions of shape.py's ops, so their gradients (and gradients of gradients) come
for free:

    narrow, select, chunk, split, unbind          views: getitem (backward: IndexAdd)
    flip                                          a reversed view, copied (as torch)
    repeat(r0, r1) of (n0, n1)    (1, n0, 1, n1) -> expand (r0, n0, r1, n1) -> (r0 n0, r1 n1)
    repeat_interleave(r, dim)     unsqueeze after dim, expand to r, merge: each slice r times
    meshgrid(a, b)                a as (n_a, 1), b as (1, n_b), each expanded to (n_a, n_b)

roll is its own node: its backward rolls the gradient back. Chunks is split's node for the
many-piece case (an RNN's time steps, an LSTM's gates): one backward concatenation instead
of one zero array of the input's size per piece.
"""
import warnings

import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor
from tinygen.ops.common import normalize_dim, shape_argument
from tinygen.ops.shape import cat, clone, expand, flatten, getitem, permute, reshape, stack


class Chunks(Function):
    """x split into n equal pieces along dim (with that dim dropped when squeeze): a tuple of
    views. Backward concatenates the pieces' gradients: one array of x's size in all, where
    n slices x[i] would each build (and add) a zero array of x's size (quadratic in n)."""

    def __init__(self, n, dim, squeeze=False):
        self.n, self.dim, self.squeeze = n, dim, squeeze

    def forward(self, x):
        xp = backend.array_module(self.device)
        pieces = xp.split(x, self.n, axis=self.dim)
        return tuple(xp.squeeze(p, axis=self.dim) if self.squeeze else p for p in pieces)

    def backward(self, *gys):
        x = self.inputs[0]
        shape = list(x.shape)
        shape[self.dim] //= self.n
        if self.squeeze:
            del shape[self.dim]
        gys = [Tensor.wrap(backend.array_module(x.device).zeros(shape, x.dtype), x.device, False)
               if g is None else g for g in gys]
        return stack(gys, self.dim) if self.squeeze else cat(gys, self.dim)


def view_as(input, other):
    return reshape(input, tuple(other.shape))


def reshape_as(input, other):
    return reshape(input, tuple(other.shape))


def expand_as(input, other):
    return expand(input, tuple(other.shape))


def _along(dim, ndim, item):
    """An index tuple that applies `item` along dim and keeps every other dim."""
    return (slice(None),) * dim + (item,)


def narrow(input, dim, start, length):
    """The slice [start, start + length) along dim (start may be negative); a view."""
    dim = normalize_dim(dim, input.ndim, "narrow")
    n = input.shape[dim]
    start = int(start) + n if int(start) < 0 else int(start)
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise IndexError(f"narrow: start {start} and length {length} out of range for dim {dim} "
                         f"of size {n} (shape {tuple(input.shape)})")
    return getitem(input, _along(dim, input.ndim, slice(start, start + int(length))))


def select(input, dim, index):
    """The slice at `index` along dim, with that dim removed; a view."""
    dim = normalize_dim(dim, input.ndim, "select")
    n = input.shape[dim]
    if not -n <= index < n:
        raise IndexError(f"select: index {index} out of range for dim {dim} of size {n}")
    return getitem(input, _along(dim, input.ndim, int(index)))


def split(tensor, split_size_or_sections, dim=0):
    """Pieces of `split_size` along dim (the last may be smaller), or of the listed sizes."""
    dim = normalize_dim(dim, tensor.ndim, "split")
    n = tensor.shape[dim]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0 and n:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - s) for s in range(0, n, size)] if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} sum to {sum(sizes)}, not the size {n} of "
                             f"dim {dim} (shape {tuple(tensor.shape)})")
    out, start = [], 0
    for s in sizes:
        out.append(getitem(tensor, _along(dim, tensor.ndim, slice(start, start + s))))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    """At most `chunks` pieces of ceil(n / chunks) along dim (fewer when n is small), as torch."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    dim = normalize_dim(dim, input.ndim, "chunk")
    n = input.shape[dim]
    return split(input, max(-(-n // chunks), 1), dim)


def unbind(input, dim=0):
    """The slices along dim, that dim removed, as a tuple."""
    dim = normalize_dim(dim, input.ndim, "unbind")
    return tuple(getitem(input, _along(dim, input.ndim, i)) for i in range(input.shape[dim]))


def flip(input, dims):
    """The order of elements reversed along each of `dims`."""
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    axes = {normalize_dim(d, input.ndim, "flip") for d in dims}
    if len(axes) != len(dims):
        raise RuntimeError(f"flip: dim {list(dims)} appears multiple times")
    reversed_view = getitem(input, tuple(slice(None, None, -1) if d in axes else slice(None)
                                         for d in range(input.ndim)))
    return clone(reversed_view)   # a copy, as torch's flip (a later in-place change stays local)


class Roll(Function):
    def __init__(self, shifts, axes):
        self.shifts, self.axes = shifts, axes

    def forward(self, x):
        return backend.array_module(self.device).roll(x, self.shifts, self.axes)

    def backward(self, gy):
        return Roll(tuple(-s for s in self.shifts), self.axes)(gy)


def roll(input, shifts, dims=None):
    """Elements shifted by `shifts` along `dims`, wrapping around; dims=None rolls the
    flattened tensor and restores the shape."""
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll: {len(shifts)} shifts need as many dims")
        return reshape(Roll(shifts, (0,))(flatten(input)), tuple(input.shape))
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts {shifts} and dims {dims} differ in length")
    return Roll(tuple(int(s) for s in shifts), tuple(normalize_dim(d, input.ndim, "roll") for d in dims))(input)


def repeat(input, *sizes):
    """input tiled sizes[i] times along dim i (len(sizes) >= input.ndim; extra leading dims
    are new), as torch.Tensor.repeat."""
    sizes = shape_argument(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError(f"repeat: {len(sizes)} repeats for a tensor of {input.ndim} dims "
                           f"(shape {tuple(input.shape)}); give at least one per dim")
    shape = (1,) * (len(sizes) - input.ndim) + tuple(input.shape)
    interleaved = tuple(v for n in shape for v in (1, n))             # (1, n0, 1, n1, ...)
    expanded = tuple(v for r, n in zip(sizes, shape) for v in (r, n))  # (r0, n0, r1, n1, ...)
    x = expand(reshape(input, interleaved), expanded)
    return reshape(x, tuple(r * n for r, n in zip(sizes, shape)))


def tile(input, dims):
    """As repeat, with 1s prepended when dims has fewer entries than input has dims."""
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    return repeat(input, (1,) * (input.ndim - len(dims)) + dims)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Each slice along dim repeated `repeats` times (an int, or a 1-d tensor of counts, one per
    slice); dim=None flattens first. repeat_interleave(counts) alone repeats arange(len)."""
    if repeats is None:  # torch.repeat_interleave(repeats): the indices, each counts[i] times
        counts = backend.to_numpy(input.array).tolist()
        xp = backend.array_module(input.device)
        return Tensor.wrap(xp.repeat(xp.arange(len(counts)), counts).astype(np.int64),
                            input.device, False)
    if dim is None:
        input, dim = flatten(input), 0
    dim = normalize_dim(dim, input.ndim, "repeat_interleave")
    if isinstance(repeats, (int, np.integer)) or (isinstance(repeats, Tensor) and repeats.ndim == 0):
        r = int(repeats.item() if isinstance(repeats, Tensor) else repeats)
        x = reshape(input, input.shape[:dim + 1] + (1,) + input.shape[dim + 1:])
        x = expand(x, input.shape[:dim + 1] + (r,) + input.shape[dim + 1:])
        return reshape(x, input.shape[:dim] + (input.shape[dim] * r,) + input.shape[dim + 1:])
    counts = repeats.array if isinstance(repeats, Tensor) else np.asarray(repeats)
    if counts.shape != (input.shape[dim],):
        raise RuntimeError(f"repeat_interleave: repeats of shape {tuple(counts.shape)}, expected "
                           f"({input.shape[dim]},) for dim {dim} of shape {tuple(input.shape)}")
    xp = backend.array_module(input.device)
    counts = backend.to_numpy(counts).tolist()          # cupy.repeat takes counts as a list
    index = xp.repeat(xp.arange(input.shape[dim]), counts)
    return getitem(input, _along(dim, input.ndim, index))


def concat(tensors, dim=0):
    """torch.concat: cat under its other name."""
    return cat(tensors, dim)


def hstack(tensors):
    """Join along dim 1 (dim 0 for 1-d tensors)."""
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    """Join along dim 0, 1-d tensors taken as rows (1, n)."""
    return cat([reshape(t, (1, -1)) if t.ndim < 2 else t for t in tensors], 0)


def movedim(input, source, destination):
    """Move dims `source` to positions `destination` (ints or sequences), keeping the others'
    order."""
    src = [source] if isinstance(source, (int, np.integer)) else list(source)
    dst = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: source {src} and destination {dst} differ in length")
    src = [normalize_dim(d, input.ndim, "movedim") for d in src]
    dst = [normalize_dim(d, input.ndim, "movedim") for d in dst]
    order = [d for d in range(input.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(input, order)


def meshgrid(*tensors, indexing=None):
    """Coordinate grids of 0-d or 1-d tensors, as torch.meshgrid(*tensors, indexing): output k
    holds tensors[k] along dim k of shape (len(t0), len(t1), ...) for indexing 'ij', and with
    the first two dims swapped for 'xy' (NumPy's default). Without indexing: 'ij', with
    torch's warning. Each output is its input reshaped and expanded, a view (the gradient
    sums back). The tensors may also come as one list."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("meshgrid: in an upcoming release, it will be required to pass the "
                      "indexing argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for t in tensors:
        if t.ndim > 1:
            raise ValueError(f"meshgrid: expects 0-d or 1-d tensors, got shape {tuple(t.shape)}")
    dims = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        dims[0], dims[1] = 1, 0                      # tensors[0] runs along dim 1, tensors[1] dim 0
    shape = [0] * len(tensors)
    for t, d in zip(tensors, dims):
        shape[d] = t.numel()
    grids = []
    for t, d in zip(tensors, dims):
        along = [1] * len(tensors)
        along[d] = -1
        grids.append(expand(reshape(t, along), tuple(shape)))
    return tuple(grids)
