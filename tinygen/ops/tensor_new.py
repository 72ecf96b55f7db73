"""Tensor.new_zeros/new_ones/new_full/new_empty/new_tensor: factories that default to the
dtype and device of an existing tensor, as torch's."""
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
