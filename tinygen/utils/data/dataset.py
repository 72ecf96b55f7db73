"""Datasets as torch.utils.data has them: map-style (len + [i]) and iterable ones, and the
ways to combine them.

    ds = TensorDataset(x, y)                 # ds[i] == (x[i], y[i])
    train, valid = random_split(ds, [0.8, 0.2], generator=tg.Generator().manual_seed(0))
    both = ConcatDataset([train, valid])     # or train + valid
"""
import bisect
import math

from tinygen import rng
from tinygen.autograd.tensor import Tensor


class Dataset:
    """A map-style dataset: subclasses define __getitem__(index) and __len__()."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} defines no __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset read as a stream: subclasses define __iter__(). With num_workers > 0 every
    worker iterates its own copy; split the work with get_worker_info(), as in torch."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} defines no __iter__")

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the i-th rows of the given tensors: ds[i] == (t0[i], t1[i], ...)."""

    def __init__(self, *tensors):
        sizes = [t.shape[0] for t in tensors]
        if not tensors or any(n != sizes[0] for n in sizes):
            raise ValueError(f"TensorDataset: the tensors must share their first dimension, got "
                             f"shapes {[tuple(t.shape) for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(_row(t, index) for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


def _row(t, index):
    """t[index]: the differentiable op when t needs gradients, else a plain view of the row
    sharing t's version counter (100x cheaper per sample, which matters for a loader)."""
    if t.requires_grad or isinstance(index, Tensor):
        return t[index]
    row = Tensor.wrap(t.array[index], t.device, False)
    row._vc = t._vc
    return row


class ConcatDataset(Dataset):
    """The datasets one after the other: index i falls into the first whose cumulative size
    exceeds it."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        if any(isinstance(d, IterableDataset) for d in self.datasets):
            raise TypeError("ConcatDataset does not support IterableDataset (use ChainDataset)")
        self.cumulative_sizes, total = [], 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if index < 0:
            if -index > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][index - start]


class ChainDataset(IterableDataset):
    """Iterable datasets one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)

    def __iter__(self):
        for d in self.datasets:
            yield from d

    def __len__(self):
        return sum(len(d) for d in self.datasets)


class Subset(Dataset):
    """dataset[indices[i]] for i in range(len(indices))."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None):
    """Non-overlapping random Subsets of the given lengths (ints summing to len(dataset), or
    fractions summing to 1: floor(n * f) each, the remainder dealt one by one from the first).
    The permutation is drawn from `generator` (tg.Generator), else tinygen's random state."""
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and all(0 <= f <= 1 for f in lengths):
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, but the "
                         f"dataset has {n} samples")
    order = rng.numpy_generator(generator).permutation(n).tolist()
    subsets, start = [], 0
    for length in lengths:
        subsets.append(Subset(dataset, order[start:start + length]))
        start += length
    return subsets
