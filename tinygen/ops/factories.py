"""Tensor factories with torch's signatures: zeros, ones, full, arange, rand, randn, ...

`size` is given as ints or one tuple: tg.zeros(2, 3) == tg.zeros((2, 3)). Floats default to
tg.get_default_dtype() (float32); random draws come from tinygen.rng (seeded by
tg.manual_seed). Every factory takes dtype= (a tg dtype, a name or a NumPy type) and device=
('cpu' | 'cuda' | tg.device); the *_like ones default to their input's dtype and device.
"""
import numpy as np

from tinygen import backend, rng
from tinygen.autograd.tensor import Tensor, as_dtype, get_default_dtype, tensor  # noqa: F401


def _size(size):
    """ints, or one tuple/list of ints -> a tuple; a float (zeros(2.5)) is a TypeError, as torch."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    for n in size:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(f"size must be ints (or one tuple of ints), got {tuple(size)!r}")
    return tuple(int(n) for n in size)


def _new(array, device, requires_grad):
    t = Tensor.wrap(array, device, False)
    return t.requires_grad_(True) if requires_grad else t


def from_numpy(array):
    """A Tensor sharing `array`'s memory (and dtype), as torch.from_numpy."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray, got {type(array).__name__}")
    return Tensor.wrap(array, backend.CPU, False)


def as_tensor(data, dtype=None, device=None):
    """data as a Tensor, sharing memory when it already is one (or a NumPy array) of that
    dtype on that device; else a converted copy (torch.as_tensor)."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)
    device = backend.normalize_device(device)
    if isinstance(data, np.ndarray) and device == "cpu" and (
            dtype is None or np.dtype(as_dtype(dtype)) == data.dtype):
        return Tensor.wrap(data, device, False)
    return Tensor(data, dtype=dtype, device=device)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_floating_point(x):
    """True for a Tensor of a floating dtype (x.is_floating_point())."""
    return x.dtype.kind == "f"


def _filled(fill, size, dtype, device, requires_grad):
    device = backend.normalize_device(device)
    xp = backend.array_module(device)
    array = xp.full(_size(size), fill, dtype=as_dtype(dtype) or get_default_dtype())
    return _new(array, device, requires_grad)


def zeros(*size, dtype=None, device="cpu", requires_grad=False):
    return _filled(0, size, dtype, device, requires_grad)


def ones(*size, dtype=None, device="cpu", requires_grad=False):
    return _filled(1, size, dtype, device, requires_grad)


def empty(*size, dtype=None, device="cpu", requires_grad=False):
    return _filled(0, size, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device="cpu", requires_grad=False):
    if dtype is None and isinstance(fill_value, (bool, int, np.integer, np.bool_)):
        dtype = np.bool_ if isinstance(fill_value, (bool, np.bool_)) else np.int64  # as torch
    return _filled(fill_value, (size,), dtype, device, requires_grad)


def zeros_like(x, dtype=None, device=None, requires_grad=False):
    return _filled(0, (x.shape,), dtype or x.dtype, device or x.device, requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False):
    return _filled(1, (x.shape,), dtype or x.dtype, device or x.device, requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    return _filled(fill_value, (x.shape,), dtype or x.dtype, device or x.device, requires_grad)


def empty_like(x, dtype=None, device=None, requires_grad=False):
    return _filled(0, (x.shape,), dtype or x.dtype, device or x.device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device="cpu", requires_grad=False):
    """As torch.arange: integers give int64, any float gives float32 (unless dtype)."""
    if end is None:
        start, end = 0, start
    device = backend.normalize_device(device)
    xp = backend.array_module(device)
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else get_default_dtype()
    return _new(xp.arange(start, end, step).astype(as_dtype(dtype)), device, requires_grad)


def linspace(start, end, steps, dtype=None, device="cpu", requires_grad=False):
    device = backend.normalize_device(device)
    xp = backend.array_module(device)
    array = xp.linspace(start, end, steps).astype(as_dtype(dtype) or get_default_dtype())
    return _new(array, device, requires_grad)


def logspace(start, end, steps, base=10.0, dtype=None, device="cpu", requires_grad=False):
    """base ** linspace(start, end, steps): steps points spaced evenly on a log scale."""
    device = backend.normalize_device(device)
    xp = backend.array_module(device)
    array = (base ** xp.linspace(start, end, steps)).astype(as_dtype(dtype) or get_default_dtype())
    return _new(array, device, requires_grad)


def eye(n, m=None, dtype=None, device="cpu", requires_grad=False):
    device = backend.normalize_device(device)
    xp = backend.array_module(device)
    return _new(xp.eye(n, m, dtype=as_dtype(dtype) or get_default_dtype()), device, requires_grad)


def _drawn(draw, size, dtype, device, requires_grad):
    device = backend.normalize_device(device)
    xp = backend.array_module(device)
    dtype = as_dtype(dtype) or get_default_dtype()
    array = xp.asarray(draw(rng.generator(device), _size(size), dtype), dtype=dtype)
    return _new(array, device, requires_grad)


def rand(*size, dtype=None, device="cpu", requires_grad=False):
    """Uniform on [0, 1)."""
    return _drawn(lambda g, s, d: rng.uniform(g, s, d), size, dtype, device, requires_grad)


def randn(*size, dtype=None, device="cpu", requires_grad=False):
    """Standard normal."""
    return _drawn(lambda g, s, d: rng.normal(g, s, d), size, dtype, device, requires_grad)


def randint(low, high=None, size=(), dtype=None, device="cpu", requires_grad=False):
    """Integers in [low, high); as torch, randint(high, size) means low = 0."""
    if isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    return _drawn(lambda g, s, d: g.integers(low, high, s), (tuple(size),), dtype or np.int64,
                  device, requires_grad)


def randint_like(x, low=0, high=None, dtype=None, device=None, requires_grad=False):
    """Integers in [low, high) shaped as x (randint_like(x, high) means low = 0)."""
    if high is None:
        low, high = 0, low
    return randint(low, high, x.shape, dtype=dtype or x.dtype, device=device or x.device,
                   requires_grad=requires_grad)


def rand_like(x, dtype=None, device=None, requires_grad=False):
    return rand(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


def randn_like(x, dtype=None, device=None, requires_grad=False):
    return randn(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


def randperm(n, dtype=None, device="cpu", requires_grad=False, generator=None):
    """A random permutation of 0..n-1 (int64), drawn from `generator` (a NumPy Generator or a
    tg.Generator) or else tinygen's random state."""
    if generator is not None:
        device = backend.normalize_device(device)
        order = rng.numpy_generator(generator).permutation(n)
        return _new(backend.to_device(order.astype(as_dtype(dtype) or np.int64), device), device,
                    requires_grad)
    return _drawn(lambda g, s, d: rng.permutation(g, n), ((n,),), dtype or np.int64, device, requires_grad)


def manual_seed(seed):
    """Seed every random draw tinygen makes."""
    return rng.manual_seed(seed)
