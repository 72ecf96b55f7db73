"""Tensor.new_zeros/new_ones/new_full/new_empty/new_tensor: factories that default to the
dtype and device of an existing tensor, as torch's; and the legacy Tensor.new of older scripts
(`weight.new(nlayers, bsz, nhid).zero_()`, `std.data.new(std.size()).normal_()`)."""
from tinygen.autograd.legacy import is_size
from tinygen.autograd.tensor import Tensor
from tinygen.ops import factories


def _like(x, dtype, device):
    return dtype if dtype is not None else x.dtype, device if device is not None else x.device


def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(self, dtype, device)
    return factories.zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(self, dtype, device)
    return factories.ones(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(self, dtype, device)
    return factories.empty(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(self, dtype, device)
    return factories.full(size, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    """A new leaf holding a copy of data, in self's dtype and on self's device by default."""
    dtype, device = _like(self, dtype, device)
    return factories.tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def new(self, *args):
    """x.new(*sizes) or x.new(size): a new tensor of that shape (zeros; torch leaves it
    uninitialized), x.new(data): one holding data, x.new(): an empty one; all in x's dtype,
    on x's device, outside the graph. A tg.Size (what x.size() returns) is a size."""
    if len(args) == 1 and isinstance(args[0], Tensor):
        raise TypeError(f"new(): from a Tensor (shape {tuple(args[0].shape)}) is not supported; "
                        f"use x.new_tensor(t), t.clone() or t.detach()")
    if len(args) == 1 and not is_size(args[0]) and not isinstance(args[0], int):
        return factories.tensor(args[0], dtype=self.dtype, device=self.device)
    size = args[0] if len(args) == 1 and is_size(args[0]) else args or (0,)
    return factories.zeros(*size, dtype=self.dtype, device=self.device)
