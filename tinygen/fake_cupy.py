"""A strict stand-in for CuPy, for tests of the cuda path on a machine without a GPU.

Under NUMBA_ENABLE_CUDASIM=1 the cuda device is backed by plain NumPy arrays, so code that
calls NumPy on a GPU array, uses a NumPy-only generator method or copies to the host
behind the scenes passes in CI and fails (or crawls) on a real GPU. With TINYGEN_FAKE_CUPY=1
as well (tests only: backend.fake_cupy_enabled), the cuda device's array module is this one:

    ndarray     wraps a NumPy array ("device memory"), has __cuda_array_interface__, .data
                and .device as CuPy's arrays, and refuses what CuPy refuses: np.asarray(a)
                (__array__), arithmetic, ufuncs and assignment with a NumPy array (a host
                array is not on the device; xp.asarray copies it); stricter than CuPy, it
                refuses np.* functions (np.sum(a), np.shape(a)): use the xp module
    the module  CuPy's functions by NumPy's names, on ndarrays (xp.zeros, xp.matmul, ...)
    random      default_rng -> a Generator with only CuPy's methods (random, standard_normal,
                integers, standard_exponential, uniform; no normal, no permutation)
    SYNCS       a count of the host syncs CuPy would make: .get(), .item(), float(a),
                int(a), bool(a), .tolist(), and the sizes that depend on the data (CuPy
                reads them back before it can allocate the result): boolean-mask indexing
                and assignment ("mask"), nonzero, flatnonzero, argwhere, unique, where(c)
                with one argument, compress, extract; `with counting_syncs() as syncs:`
                counts a block
    LAUNCHES    a count of the kernels CuPy would launch, by name: one per call that makes
                a new array or writes one (an elementwise op, a reduction, a matmul, a copy,
                a draw, an in-place op, an assignment; concatenate/stack as CuPy: one kernel
                for more than 8 arrays, else one per array), none for a view (reshape of a
                contiguous array, transpose, basic slicing, astype to the same dtype) or an
                empty allocation; plus one per numba.cuda kernel launched through
                tinygen.kernels.common.launch ("numba:<kernel>"). `with counting_launches()
                as launches:` counts a block. A model: cuBLAS may run more than one kernel
    COPIES      host-to-device copies made by xp.asarray / xp.array of host data: {"h2d":
                copies, "h2d_bytes": bytes}; `with counting_copies() as copies:` counts a block

The numba.cuda kernels run in the simulator on the wrapped NumPy arrays (inside a simulated
kernel an ndarray indexes as device memory does).
"""
import collections
import contextlib
import threading
import types

import numpy as np

SYNCS = collections.Counter()
COPIES = collections.Counter()
LAUNCHES = collections.Counter()


class HostSyncError(TypeError):
    """NumPy was handed a device array: an implicit host copy, which CuPy refuses."""


def _in_kernel():
    """True inside a simulated numba.cuda kernel (its threads are the simulator's)."""
    from numba.cuda.simulator.kernel import BlockThread
    return isinstance(threading.current_thread(), BlockThread)


def _sync(kind):
    SYNCS[kind] += 1


@contextlib.contextmanager
def _counting(counter):
    before = counter.copy()
    counts = collections.Counter()
    try:
        yield counts
    finally:
        counts.update(counter - before)


def counting_syncs():
    """Count the host syncs made inside the block: yields a Counter {kind: count}."""
    return _counting(SYNCS)


def counting_copies():
    """Count the host-to-device copies made inside the block (see COPIES)."""
    return _counting(COPIES)


def counting_launches():
    """Count the kernel launches made inside the block: yields a Counter {name: count}."""
    return _counting(LAUNCHES)


def launched(name):
    """Note one kernel launch (tinygen.kernels.common.launch notes its numba.cuda ones)."""
    LAUNCHES[name] += 1


# Calls whose result size depends on the values: CuPy copies a count to the host first.
DATA_DEPENDENT = frozenset({"nonzero", "flatnonzero", "argwhere", "unique", "compress",
                            "extract"})
# Calls that allocate without writing: no kernel.
ALLOCATIONS = frozenset({"empty", "empty_like"})
CONCATENATIONS = frozenset({"concatenate", "stack", "hstack", "vstack"})


def _note_call(name, args, kwargs, inputs, result):
    """Count what a call of `name` (device arrays `inputs`) that returned `result` (NumPy
    arrays, unwrapped) costs on CuPy: syncs for data-dependent sizes, kernel launches."""
    short = name.rpartition(".")[2]
    if short in DATA_DEPENDENT or (short == "where" and len(args) + len(kwargs) == 1):
        _sync(short)
    if short in ALLOCATIONS:
        return
    if short in CONCATENATIONS:
        arrays = args[0] if args else kwargs.get("arrays", ())
        LAUNCHES[name] += 1 if len(arrays) > 8 else len(arrays)
        return
    results = [r for r in (result if isinstance(result, (tuple, list)) else (result,))
               if isinstance(r, (np.ndarray, np.generic))]   # a scalar: CuPy's 0-d array
    if result is None or any(not isinstance(r, np.ndarray) or
                             not any(np.may_share_memory(r, a) for a in inputs) for r in results):
        LAUNCHES[name] += 1   # a new array, or one written in place (fill, sort, out=)


def _device_arrays(values):
    found = []
    for v in values:
        if isinstance(v, np.ndarray):
            found.append(v)
        elif isinstance(v, (list, tuple)):
            found += _device_arrays(v)
        elif isinstance(v, dict):
            found += _device_arrays(v.values())
    return found


def _host_to_device(a):
    COPIES["h2d"] += 1
    COPIES["h2d_bytes"] += a.nbytes
    return ndarray(a)


def _unwrap(value, where):
    """The NumPy array behind a device value; a NumPy array here is a host array on the
    device's path, which CuPy refuses."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray):
        raise TypeError(f"{where}: got a NumPy array where CuPy needs a device array "
                        f"(shape {value.shape}); copy it with xp.asarray first")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v, where) for k, v in value.items()}
    return value


def _index(key):
    """An index: device arrays, or host ones (CuPy copies NumPy index arrays over). A
    boolean device array in it is a mask: CuPy reads its count back (a sync)."""
    keys = key if isinstance(key, tuple) else (key,)
    if any(isinstance(k, ndarray) and k.dtype == bool for k in keys):
        _sync("mask")
    if isinstance(key, tuple):
        return tuple(k._a if isinstance(k, ndarray) else k for k in key)
    return key._a if isinstance(key, ndarray) else key


def _wrap(value):
    if isinstance(value, np.ndarray):
        return ndarray(value)
    if isinstance(value, np.generic):   # CuPy gives 0-d device arrays, not host scalars
        return ndarray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _device_fn(fn, name, this=None):
    """fn on the arrays behind device arguments, counted (see _note_call); `this`: the array
    whose method fn is."""
    def call(*args, **kwargs):
        args, kwargs = _unwrap(args, name), _unwrap(kwargs, name)
        result = fn(*args, **kwargs)
        inputs = _device_arrays((args, kwargs)) + ([] if this is None else [this])
        if inputs or name.rpartition(".")[2] in ALLOCATIONS or name in _FACTORIES:
            _note_call(name, args, kwargs, inputs, result)
        return _wrap(result)
    call.__name__ = name
    return call


# module functions that make a device array from no device array: a fill kernel each
_FACTORIES = frozenset({"zeros", "ones", "full", "arange", "linspace", "eye", "identity",
                        "zeros_like", "ones_like", "full_like", "tri"})


class _MemoryPointer:
    def __init__(self, a):
        self.ptr = a.__array_interface__["data"][0]


class Device:
    id = 0

    def synchronize(self):
        _sync("synchronize")


class ndarray:
    """A device array: a NumPy array that only the fake module and kernels may touch."""
    __array_priority__ = 1000

    def __init__(self, a):
        self._a = a

    # ---- what CuPy has and NumPy's arrays do not
    @property
    def __cuda_array_interface__(self):
        face = dict(self._a.__array_interface__)
        face.update(version=3, stream=None)
        if self._a.flags.c_contiguous:
            face["strides"] = None
        return face

    @property
    def data(self):
        return _MemoryPointer(self._a)

    @property
    def device(self):
        return Device()

    def get(self, stream=None, out=None):
        _sync("get")
        return self._a.copy()

    def set(self, arr, stream=None):
        self._a[...] = arr

    # ---- the host syncs
    def item(self):
        _sync("item")
        return self._a.item()

    def tolist(self):
        _sync("tolist")
        return self._a.tolist()

    def __float__(self):
        _sync("float")
        return float(self._a)

    def __int__(self):
        _sync("int")
        return int(self._a)

    def __index__(self):
        _sync("index")
        return self._a.__index__()

    def __bool__(self):
        _sync("bool")
        return bool(self._a)

    def __complex__(self):
        _sync("complex")
        return complex(self._a)

    # ---- what CuPy refuses
    def __array__(self, dtype=None, copy=None):
        raise HostSyncError("Implicit conversion to a NumPy array is not allowed. Please use "
                            "`.get()` to construct a NumPy array explicitly.")

    def __array_function__(self, func, types, args, kwargs):
        raise HostSyncError(f"np.{func.__name__} on a device array: call it through the array "
                            f"module (xp = backend.array_module(device)), or .get() explicitly")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # np.float32(0.5) * a lands here; CuPy computes it on the device (its __array_ufunc__),
        # so do ufuncs of device arrays and scalars too. A NumPy array among them is refused.
        if method == "__call__" and "out" not in kwargs and \
                all(isinstance(v, (ndarray, np.generic, int, float, bool)) for v in inputs):
            LAUNCHES[ufunc.__name__] += 1
            return _wrap(ufunc(*_unwrap(inputs, ufunc.__name__), **kwargs))
        raise HostSyncError(f"np.{ufunc.__name__} on a device array: call it through the array "
                            f"module (xp = backend.array_module(device)), or .get() explicitly")

    # ---- the rest is NumPy's array on the device
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))
    real = property(lambda self: ndarray(self._a.real))
    imag = property(lambda self: ndarray(self._a.imag))

    @property
    def base(self):
        return None if self._a.base is None else ndarray(self._a.base)

    def __getattr__(self, name):
        if name.startswith("__"):   # __array_interface__, __array_struct__: NumPy's doors to the data
            raise AttributeError(f"fake_cupy.ndarray has no {name}")
        method = getattr(self._a, name)          # astype, reshape, sum, transpose, ...
        if not callable(method):
            return _wrap(method)
        return _device_fn(method, f"ndarray.{name}", this=self._a)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (ndarray(row) if isinstance(row, np.ndarray) else ndarray(np.asarray(row))
                for row in self._a)

    def __getitem__(self, key):
        if _in_kernel():
            return self._a[key]
        y = self._a[_index(key)]
        if y.size and not np.may_share_memory(y, self._a):   # advanced indexing: a gather
            # kernel (an empty result shares no memory with anything, view or not: no kernel)
            LAUNCHES["ndarray.__getitem__"] += 1
        return _wrap(y)

    def __setitem__(self, key, value):
        if _in_kernel():
            self._a[key] = value
            return
        self._a[_index(key)] = _unwrap(value, "ndarray.__setitem__")
        LAUNCHES["ndarray.__setitem__"] += 1

    def __repr__(self):
        return f"fake_cupy.ndarray(shape={self.shape}, dtype={self.dtype})"

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __reduce__(self):
        raise HostSyncError("pickling a device array copies it to the host: .get() it first")


def _binary(name):
    def op(self, other):
        result = getattr(self._a, name)(_unwrap(other, f"ndarray.{name}"))
        if result is not NotImplemented:
            LAUNCHES[f"ndarray.{name}"] += 1   # in place (__iadd__) or not: one kernel
        return _wrap(result)
    op.__name__ = name
    return op


def _unary(name):
    def op(self):
        LAUNCHES[f"ndarray.{name}"] += 1
        return _wrap(getattr(self._a, name)())
    op.__name__ = name
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
              "xor", "lshift", "rshift"):
    for _form in ("__%s__", "__r%s__", "__i%s__"):
        setattr(ndarray, _form % _name, _binary(_form % _name))
for _name in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__", "__divmod__"):
    setattr(ndarray, _name, _binary(_name))
for _name in ("__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(ndarray, _name, _unary(_name))
ndarray.__hash__ = None


# ---- the module: CuPy's functions by NumPy's names -----------------------------------------
def asarray(a, dtype=None, order=None):
    """A device array of `a`: a host array is copied to the device (an explicit transfer)."""
    if isinstance(a, ndarray):
        if dtype is None or a.dtype == dtype:
            return a
        LAUNCHES["asarray"] += 1
        return ndarray(a._a.astype(dtype))
    return _host_to_device(np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(a, dtype=None, copy=True, order="K", ndmin=0):
    if isinstance(a, ndarray):
        y = np.array(a._a, dtype=dtype, copy=copy, order=order, ndmin=ndmin)
        if not np.may_share_memory(y, a._a):
            LAUNCHES["array"] += 1
        return ndarray(y)
    return _host_to_device(np.array(a, dtype=dtype, copy=True, order=order, ndmin=ndmin))


def ascontiguousarray(a, dtype=None):
    x = _unwrap(a, "ascontiguousarray")
    y = np.ascontiguousarray(x, dtype=dtype)
    if not np.may_share_memory(y, x):
        LAUNCHES["ascontiguousarray"] += 1
    return ndarray(y)


def asnumpy(a, stream=None, order="C", out=None):
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def get_array_module(*args):
    return _this if any(isinstance(a, ndarray) for a in args) else np


def scatter_add(a, slices, value):
    """cupyx.scatter_add: a[slices] += value, repeated indices summed."""
    np.add.at(a._a, _index(slices), _unwrap(value, "scatter_add"))   # indices as in a[...]
    LAUNCHES["scatter_add"] += 1


class _Pool:
    def total_bytes(self):
        return 0

    def used_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


def get_default_memory_pool():
    return _Pool()


class _Stream:
    def synchronize(self):
        _sync("synchronize")


cuda = types.SimpleNamespace(
    Stream=types.SimpleNamespace(null=_Stream()), get_current_stream=lambda: _Stream(),
    Device=lambda i=0: Device(),
    runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
class _Special:
    """cupyx.scipy.special's functions that tinygen calls, by special_numba's kernels."""
    _NAMES = {"gammaln": "lgamma"}

    def __getattr__(self, name):
        from tinygen.kernels import special_numba
        kernel = self._NAMES.get(name, name)
        getattr(special_numba, kernel)    # AttributeError for a name tinygen has no kernel for

        def call(*args):
            launched(f"special.{name}")
            if kernel == "polygamma":
                n, x = args
                return ndarray(special_numba.apply("polygamma", x._a, int(n._a)))
            return ndarray(special_numba.apply(kernel, args[0]._a))
        return call


fake_cupyx = types.SimpleNamespace(scatter_add=scatter_add,
                                   scipy=types.SimpleNamespace(special=_Special()))


def _draw(method):
    """A Generator method, counted as one kernel launch."""
    def draw(self, *args, **kwargs):
        LAUNCHES[f"random.{method.__name__}"] += 1
        return method(self, *args, **kwargs)
    draw.__name__ = method.__name__
    return draw


class Generator:
    """cupy.random.Generator's method set (and only it), drawing from a NumPy PCG64; each
    draw is one kernel launch."""

    def __init__(self, seed=None):
        self._g = np.random.default_rng(seed)


    @_draw
    def random(self, size=None, dtype=np.float64, out=None):
        return ndarray(np.asarray(self._g.random(size, dtype=dtype)))

    @_draw
    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return ndarray(np.asarray(self._g.standard_normal(size, dtype=dtype)))

    @_draw
    def standard_exponential(self, size=None, dtype=np.float64, method="inv", out=None):
        return ndarray(np.asarray(self._g.standard_exponential(size, dtype=dtype)))

    @_draw
    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        return ndarray(np.asarray(self._g.uniform(low, high, size).astype(dtype)))

    @_draw
    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return ndarray(np.asarray(self._g.integers(low, high, size, dtype=dtype, endpoint=endpoint)))


random = types.SimpleNamespace(default_rng=Generator, Generator=Generator)


class _Submodule:
    """numpy.linalg, numpy.fft, ... with device arrays in and out."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return _lookup(getattr(self._module, name), name)


def _lookup(value, name):
    if isinstance(value, types.ModuleType):
        return _Submodule(value)
    if isinstance(value, type) or not callable(value):
        return value                      # dtypes (xp.float32 is np.float32, as in CuPy), constants
    if isinstance(value, np.ufunc):
        return _Ufunc(value)
    return _device_fn(value, name)


class _Ufunc:
    def __init__(self, ufunc):
        self._u = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        LAUNCHES[self.__name__] += 1      # a ufunc: one elementwise kernel, out= or not
        return _wrap(self._u(*_unwrap(args, self.__name__), **_unwrap(kwargs, self.__name__)))

    def __getattr__(self, name):           # reduce, accumulate, outer, at, nin, ...
        return _lookup(getattr(self._u, name), f"{self.__name__}.{name}")


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _lookup(getattr(np, name), name)


import sys as _sys  # noqa: E402

_this = _sys.modules[__name__]
