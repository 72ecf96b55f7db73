"""Order statistics: sort, argsort, topk, median, kthvalue, mode; unique.

Each finds indices on the raw array (a stable argsort along dim) and then gathers the values
with indexing.gather, so the values' gradient is gather's: each input element receives the
gradient of the output place it went to. Indices are int64 tensors without gradient.
Results with two parts are named tuples (values, indices), as torch's.
"""
from collections import namedtuple

import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor
from tinygen.ops.common import constant, normalize_dim
from tinygen.ops.indexing import gather
from tinygen.ops.shape import flatten, reshape, squeeze

values_indices = namedtuple("values_indices", ["values", "indices"])


def _argsort(x, dim, descending):
    """Stable argsort of array x along dim; descending keeps equal elements in input order."""
    xp = backend.array_module(x.device)
    data = x.array
    if data.dtype == np.bool_:
        data = data.astype(np.int8)
    if descending:   # a stable ascending sort of the reversed axis, reversed back
        n = data.shape[dim]
        rev = xp.flip(data, axis=dim)
        idx = xp.flip(xp.argsort(rev, axis=dim, kind="stable"), axis=dim)
        return (n - 1 - idx).astype(np.int64)
    return xp.argsort(data, axis=dim, kind="stable").astype(np.int64)


def _dim(x, dim, op):
    return normalize_dim(dim, x.ndim, op) if x.ndim else 0


def _as_1d(x):
    return reshape(x, (1,)) if x.ndim == 0 else x


def argsort(input, dim=-1, descending=False, stable=False):
    """The indices that sort input along dim (ties keep their order: the sort is stable)."""
    x = _as_1d(input)
    idx = _argsort(x, _dim(input, dim, "argsort"), descending)
    return Tensor.wrap(idx.reshape(input.shape), input.device, False)


def sort(input, dim=-1, descending=False, stable=False):
    """(values, indices): input sorted along dim, and where each value came from."""
    x = _as_1d(input)
    d = _dim(input, dim, "sort")
    idx = Tensor.wrap(_argsort(x, d, descending), input.device, False)
    values = gather(x, d, idx)
    if input.ndim == 0:
        return values_indices(reshape(values, ()), Tensor.wrap(idx.array.reshape(()), input.device, False))
    return values_indices(values, idx)


def topk(input, k, dim=-1, largest=True, sorted=True):
    """(values, indices) of the k largest (or smallest) elements along dim, in sorted order."""
    x = _as_1d(input)
    d = _dim(input, dim, "topk")
    n = x.shape[d]
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: k ({k}) out of range for dim {d} of size {n} "
                           f"(shape {tuple(input.shape)})")
    order = _argsort(x, d, descending=largest)
    first_k = order.take(backend.array_module(input.device).arange(k), axis=d)
    idx = Tensor.wrap(first_k, input.device, False)
    values = gather(x, d, idx)
    if input.ndim == 0:
        return values_indices(reshape(values, ()), Tensor.wrap(idx.array.reshape(()), input.device, False))
    return values_indices(values, idx)


def kthvalue(input, k, dim=-1, keepdim=False):
    """(values, indices) of the k-th smallest element (k from 1) along dim."""
    x = _as_1d(input)
    d = _dim(input, dim, "kthvalue")
    n = x.shape[d]
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue: k ({k}) out of range for dim {d} of size {n}")
    order = _argsort(x, d, descending=False)
    xp = backend.array_module(input.device)
    idx = Tensor.wrap(order.take(xp.arange(k - 1, k), axis=d), input.device, False)
    values = gather(x, d, idx)
    if input.ndim == 0 or not keepdim:
        values = squeeze(values, d) if input.ndim else reshape(values, ())
        idx = Tensor.wrap(idx.array.reshape(values.shape), input.device, False)
    return values_indices(values, idx)


class MedianAll(Function):
    """The lower median of all elements: NaN when any element is NaN (as torch; a sort puts
    NaN last, so the middle element alone would ignore it). Its gradient is shared equally by
    the elements equal to it (the NaN ones when it is NaN), as torch's median()."""

    def forward(self, x):
        xp = backend.array_module(self.device)
        flat = x.reshape(-1)
        ordered = xp.sort(flat)
        y = ordered[(flat.size - 1) // 2]
        if flat.dtype.kind == "f":
            y = xp.where(xp.isnan(ordered[-1]), ordered[-1], y)    # no host sync
            hits = (flat == y) | (xp.isnan(flat) & xp.isnan(y))
            self.share = (hits / hits.sum()).astype(x.dtype).reshape(x.shape)
        return xp.asarray(y)

    def backward(self, gy):
        return gy * constant(gy, self.share)


def median(input, dim=None, keepdim=False):
    """The lower median (the ((n - 1) // 2)-th smallest, as torch), NaN where a NaN is among
    the elements (as torch; kthvalue sorts NaN last): of all elements when dim is None (a 0-d
    tensor, its gradient shared by the elements equal to it), else (values, indices) along
    dim (the index of the first NaN where there is one)."""
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError("median: an empty tensor has no median")
        return MedianAll()(input)
    d = _dim(input, dim, "median")
    n = input.shape[d] if input.ndim else 1
    if input.dtype.kind != "f" or input.ndim == 0:
        return kthvalue(input, (n - 1) // 2 + 1, d, keepdim)
    xp = backend.array_module(input.device)
    k = (n - 1) // 2
    middle = _argsort(input, d, descending=False).take(xp.arange(k, k + 1), axis=d)
    nan = xp.isnan(input.array)
    first_nan = xp.argmax(nan, axis=d, keepdims=True)
    idx = Tensor.wrap(xp.where(nan.any(axis=d, keepdims=True), first_nan, middle).astype(np.int64),
                       input.device, False)
    values = gather(input, d, idx)
    if not keepdim:
        values = squeeze(values, d)
        idx = Tensor.wrap(idx.array.reshape(values.shape), input.device, False)
    return values_indices(values, idx)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct elements, sorted (no gradient); with return_inverse, each element's index
    into them; with return_counts, how often each occurs. Only dim=None."""
    if dim is not None:
        raise NotImplementedError("unique: only dim=None is supported")
    xp = backend.array_module(input.device)
    values, inverse, counts = xp.unique(input.array.reshape(-1), return_inverse=True, return_counts=True)
    out = [Tensor.wrap(values, input.device, False)]
    if return_inverse:
        out.append(Tensor.wrap(inverse.reshape(input.shape).astype(np.int64), input.device, False))
    if return_counts:
        out.append(Tensor.wrap(counts.astype(np.int64), input.device, False))
    return out[0] if len(out) == 1 else tuple(out)


def mode(input, dim=-1, keepdim=False):
    """(values, indices): the most frequent value along dim (the smallest among equally
    frequent ones) and the index of its last occurrence, as torch."""
    x = _as_1d(input)
    d = _dim(input, dim, "mode")
    data = backend.to_numpy(x.array)
    rows = np.moveaxis(data, d, -1).reshape(-1, data.shape[d])
    picks = np.empty(rows.shape[0], dtype=np.int64)
    for r, row in enumerate(rows):          # one row at a time: mode is rare and rows are short
        values, counts = np.unique(row, return_counts=True)
        best = values[np.argmax(counts)]    # unique is sorted: the first maximum is the smallest
        picks[r] = np.flatnonzero(row == best)[-1]
    shape = list(np.moveaxis(data, d, -1).shape[:-1])
    idx = np.expand_dims(picks.reshape(shape), d)
    idx = Tensor.wrap(backend.to_device(idx, input.device), input.device, False)
    values = gather(x, d, idx)
    if input.ndim == 0 or not keepdim:
        values = squeeze(values, d) if input.ndim else reshape(values, ())
        idx = Tensor.wrap(idx.array.reshape(values.shape), input.device, False)
    return values_indices(values, idx)
