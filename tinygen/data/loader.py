"""DataLoader: seeded shuffling and batching over an in-memory dataset.

    loader = DataLoader(ds, batch_size=128, shuffle=True, seed=0, device="cpu")
    for epoch in range(10):
        for x, y in loader:        # x (B, 1, 28, 28) float32 Tensor, y (B,) int64 Tensor
            ...

Randomness. With `seed=s`, epoch e draws its permutation and its dynamic-binarization bits
from its own Generator, default_rng([s, e]); so two runs with the same seed give bitwise
equal batches, and a resumed run continues with `loader.set_epoch(e)` (as torch's
DistributedSampler). With `seed=None` the draws come from tinygen's global cpu generator
(`tg.manual_seed`), whose state a checkpoint saves and restores.

Batches are tinygen Tensors on `device` ('cpu' | 'cuda'), or NumPy arrays with device=None.
len(loader) is the number of batches: ceil(N / B), or floor(N / B) with drop_last.
With labels=False, y is None (nothing copied for it). On a GPU, an ImageDataset's images
travel as uint8 (dataset.batch_uint8) in one copy a batch and become float32 there, bitwise
the images a cpu loader serves.
"""
import numpy as np

from tinygen import backend
from tinygen import rng as tg_rng
from tinygen.autograd.tensor import Tensor, tensor


class DataLoader:
    """Batches (x, y) of `dataset` (an ImageDataset, or anything with len() and
    batch(index_array, rng) -> (x, y)); labels=False: (x, None)."""

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 device="cpu", labels=True):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last = shuffle, drop_last
        self.seed, self.device, self.labels = seed, device, labels
        self.epoch = 0

    def __len__(self):
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def set_epoch(self, epoch):
        """Make the next iteration epoch `epoch` (for resuming a seeded run)."""
        self.epoch = int(epoch)

    def generator(self, epoch):
        """The Generator of epoch `epoch`: private with a seed, else tinygen's cpu one."""
        if self.seed is None:
            return tg_rng.generator("cpu")
        return np.random.default_rng([int(self.seed), int(epoch)])

    def batch_indices(self, rng):
        """The index array of every batch of one epoch."""
        n = len(self.dataset)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        stop = len(self) * self.batch_size
        return [order[i:i + self.batch_size] for i in range(0, min(stop, n), self.batch_size)]

    def __iter__(self):
        rng = self.generator(self.epoch)
        self.epoch += 1
        compact = self.device not in (None, "cpu") and hasattr(self.dataset, "batch_uint8")
        for index in self.batch_indices(rng):
            if compact:
                (u8, divisor), y = self.dataset.batch_uint8(index, rng)
                x = self._to_float32(u8, divisor)
            else:
                x, y = self.dataset.batch(index, rng)
                x = self._convert(x)
            yield x, self._convert(y) if self.labels else None

    def _convert(self, a):
        return a if self.device is None else tensor(a, device=self.device)

    def _to_float32(self, u8, divisor):
        """u8 / divisor as float32 on the device: one copy of the uint8 bytes."""
        x = backend.to_device(u8, self.device).astype(np.float32)     # (B, C, H, W)
        if divisor != 1:
            x /= np.float32(divisor)
        return Tensor.wrap(x, backend.normalize_device(self.device), False)
