"""Tensor: an array (NumPy or CuPy), the device it lives on, and its place in the graph.

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    x.grad            # tensor([2., 4.])

A Tensor made by an op remembers its `creator` (the Function node) and its `generation`
(one more than its newest input's), which orders the backward walk. Leaves (made by the
user) have no creator; their gradients accumulate in `.grad`.

dtypes: float32 by default, float64 supported (gradcheck uses it), integer and bool tensors
for indices and masks. Mixing dtypes follows NumPy's promotion rules (float32 + float64 ->
float64); a Python scalar takes the tensor's dtype.

The arithmetic operators and the methods that are ops (`sum`, `reshape`, ...) are attached
in tinygen/ops/__init__.py, one explicit assignment each.
"""
import numpy as np

from tinygen import backend

DEFAULT_DTYPE = np.float32
_DTYPES = {
    None: None, "float32": np.float32, "float64": np.float64, "float16": np.float16,
    "int64": np.int64, "int32": np.int32, "uint8": np.uint8, "bool": np.bool_,
    "float": np.float32, "double": np.float64, "long": np.int64,
    "int16": np.int16, "int8": np.int8, "int": np.int32,
}

# The dtype objects tg.float32, tg.int64, ... are NumPy's dtype objects themselves: hashable,
# equal to `tensor.dtype` (x.dtype == tg.float32), to their name (tg.float32 == "float32") and
# to NumPy's scalar type (== np.float32), accepted by every NumPy/CuPy call, and printed as
# the name, so code that passed dtype strings keeps working and torch code ports unchanged.
DTYPE_OBJECTS = {name: np.dtype(t) for name, t in _DTYPES.items()
                 if name is not None and name != "float16"}
_default_dtype = [np.dtype(DEFAULT_DTYPE)]   # tg.set_default_dtype changes it (torch's global)


def get_default_dtype():
    """The dtype of floats made from Python numbers and of the float factories (float32)."""
    return _default_dtype[0]


def set_default_dtype(dtype):
    """Make `dtype` (float32 or float64) the default floating dtype, as torch's: a setting of
    the process, seen by every thread (torch's is process-wide too)."""
    dtype = np.dtype(as_dtype(dtype))
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"set_default_dtype: only float32 and float64 can be the default "
                        f"dtype, got {dtype}")
    _default_dtype[0] = dtype


def as_dtype(dtype):
    """A NumPy dtype from a name ('float32'), a NumPy type, or None (-> None)."""
    if isinstance(dtype, str):
        if dtype.startswith(("torch.", "tinygen.")):  # 'torch.float32', as str(torch.float32)
            dtype = dtype.partition(".")[2]
        if dtype not in _DTYPES:
            raise TypeError(f"unknown dtype {dtype!r}: expected one of {sorted(k for k in _DTYPES if k)}")
        return _DTYPES[dtype]
    return None if dtype is None else np.dtype(dtype).type


class Tensor:
    __slots__ = ("array", "device", "requires_grad", "grad", "creator", "generation",
                 "_vc", "_retains_grad", "_hooks", "name", "__weakref__",
                 "_post_accumulate_hooks")
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected operator

    def __init__(self, data, dtype=None, device="cpu", requires_grad=False):
        device = backend.normalize_device(device)
        if isinstance(data, Tensor):
            data = data.array
        array = backend.to_device(_as_array(data, as_dtype(dtype)), device)
        _init(self, array, device, False)
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def wrap(array, device, requires_grad=False):
        """Wrap an array the caller owns as a Tensor on `device`: no checks, no copies.

        The constructor every op uses for its outputs (the hot path). `array` is a NumPy
        array on "cpu" or a CuPy array on "cuda"; the Tensor shares it. Use `tg.tensor`
        or `tg.as_tensor` for user input, which check and convert.
        """
        if isinstance(array, np.generic):  # numpy reductions return scalars: keep 0-d arrays
            array = np.asarray(array)
        t = object.__new__(Tensor)
        t.array = array                     # _init's body, inlined: this is the hot path
        t.device = device
        t.requires_grad = requires_grad
        t.grad = t.creator = t._hooks = t.name = None
        t._post_accumulate_hooks = None
        t.generation = 0
        t._vc = [0]
        t._retains_grad = False
        return t

    # ---- what a Tensor is ---------------------------------------------------------------

    # Two names for the values, as torch has one and tinygen's internals need the other:
    #   .array  the raw NumPy (CPU) or CuPy (GPU) array. Ops, kernels, optimizers and tests
    #           read and write it; reading it records nothing.
    #   .data   torch's: a Tensor sharing the array, requires_grad=False, no creator and a
    #           version counter of its own, so an in-place change through it is invisible
    #           to autograd. It is the escape hatch of published torch code:
    #           p.data.add_(-lr * p.grad), p.data.clamp_(-c, c), m.weight.data.normal_(0, .02).

    @property
    def data(self):
        """A Tensor sharing this tensor's values, cut from the graph, with its own version
        counter (torch's .data; .detach() shares the counter and so is the safe choice)."""
        return Tensor.wrap(self.array, self.device, False)

    @data.setter
    def data(self, value):
        """t.data = other: t now holds other's values (its shape, dtype and device may
        differ, as torch allows); t keeps requires_grad, its .grad and its place in a graph."""
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data: assigned value must be a Tensor, got "
                            f"{type(value).__name__} (assign to .array for a raw array)")
        if self.requires_grad and value.dtype.kind not in "fc":
            raise TypeError(f"Tensor.data: a tensor that requires grad cannot hold "
                            f"{value.dtype} values")
        self.array, self.device = value.array, value.device

    @property
    def _version(self):
        """How many in-place changes this tensor's memory has seen. A view (reshape, slice,
        permute, detach, ...) shares its base's counter, as in torch, so a change made
        through either is seen by the graph nodes that saved the other."""
        return self._vc[0]

    @_version.setter
    def _version(self, value):
        self._vc[0] = value

    @property
    def shape(self):
        return self.array.shape

    @property
    def ndim(self):
        return self.array.ndim

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def is_leaf(self):
        return self.creator is None

    @property
    def grad_fn(self):
        """torch's name for the creator: the Function node that made this tensor, or None."""
        return self.creator

    def size(self, dim=None):
        """The shape as a tg.Size (a tuple), or the length of dimension `dim`."""
        return Size(self.array.shape) if dim is None else self.array.shape[dim]

    def dim(self):
        return self.array.ndim

    def numel(self):
        return int(self.array.size)

    def __len__(self):
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = ""
        if self.dtype != _default_dtype[0]:
            extra += f", dtype={self.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.creator is not None:
            extra += f", grad_fn=<{self.creator.name}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    __hash__ = object.__hash__

    # ---- leaving the graph, changing device and dtype -------------------------------------

    def numpy(self):
        """The values as a NumPy array (a copy when the tensor is on a GPU)."""
        return backend.to_numpy(self.array)

    def item(self):
        if self.array.size != 1:
            raise ValueError(f"item(): tensor of shape {tuple(self.shape)} has {self.array.size} "
                             f"elements, expected 1")
        return self.array.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.array.size != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {tuple(self.shape)} is "
                               f"ambiguous; use .any() or .all()")
        return bool(self.item())

    def detach(self):
        """The same array, cut from the graph (shares memory and version counter, as torch)."""
        t = Tensor.wrap(self.array, self.device, False)
        t._vc = self._vc
        return t

    # to(device, dtype) is an op (a differentiable copy): tinygen/ops/shape.py, attached in
    # tinygen/ops/__init__.py with the other op methods; cpu(), cuda(), float(), ... call it

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        return self.to("cuda" if device is None else device)

    @property
    def is_cuda(self):
        return self.device == "cuda"

    @property
    def is_cpu(self):
        return self.device == "cpu"

    # torch's other device and layout predicates: tinygen tensors are dense, unquantized and
    # live on the cpu or one CUDA GPU, so scripts that test for these take their plain path
    is_xpu = is_mps = is_meta = is_sparse = is_quantized = is_mkldnn = property(
        lambda self: False)

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    def long(self):
        return self.to(dtype=np.int64)

    def int(self):
        return self.to(dtype=np.int32)

    def bool(self):
        return self.to(dtype=np.bool_)

    def half(self):
        raise TypeError("half(): tinygen has no float16 kernels; use .float() (float32) or "
                        ".double() (float64)")

    def type(self, dtype=None, non_blocking=False):
        """With no argument, the legacy type name ('tinygen.FloatTensor'); else .to(dtype),
        where dtype may also be a name ('torch.FloatTensor') or a class (tg.LongTensor)."""
        if dtype is None:
            return f"tinygen.{_LEGACY_NAMES.get(self.dtype.name, self.dtype.name)}"
        if isinstance(dtype, str) and dtype.partition(".")[2] in _LEGACY_NAMES.values():
            dtype = next(k for k, v in _LEGACY_NAMES.items() if v == dtype.partition(".")[2])
        return self.to(dtype=getattr(dtype, "dtype", dtype))

    def type_as(self, other):
        """self cast to other's dtype."""
        return self.to(dtype=other.dtype)

    def element_size(self):
        """Bytes per element (4 for float32)."""
        return self.dtype.itemsize

    def is_floating_point(self):
        return self.dtype.kind == "f"

    # ---- gradients ---------------------------------------------------------------------

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require gradients, got {self.dtype}")
        if not requires_grad and self.creator is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use .detach()")
        self.requires_grad = requires_grad
        return self

    # backward() is the engine's walk: tinygen/autograd/engine.py's tensor_backward, attached
    # in tinygen/autograd/__init__.py (the engine imports Tensor, so Tensor does not import it)

    def retain_grad(self):
        """Keep this non-leaf tensor's gradient in .grad after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retains_grad = True

    def register_hook(self, hook):
        """hook(grad) -> new grad or None, called when this tensor's gradient is computed.

        Returns a handle with .remove()."""
        if not self.requires_grad:
            raise RuntimeError("register_hook() on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return _HookHandle(self._hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """hook(tensor) -> None, called on a leaf once its .grad holds this backward's final
        gradient (the engine assigns it as soon as the leaf's last consumer has run, so the
        hook can start work, e.g. DDP's all-reduce, while the rest of backward runs).

        Returns a handle with .remove()."""
        if self.creator is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                               "tensors")
        if not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook() on a tensor that does "
                               "not require grad")
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = []
        self._post_accumulate_hooks.append(hook)
        return _HookHandle(self._post_accumulate_hooks, hook)

    # in-place ops (add_, zero_, __setitem__, ...) live in tinygen/ops/inplace.py


class Size(tuple):
    """torch.Size: a tuple of dimension lengths, as x.size() returns it. Old scripts pass one
    to the legacy constructors (tg.FloatTensor(x.size()) is a tensor of x's shape), which read
    a plain tuple as data, as torch does. (x.shape stays a plain tuple.)"""

    def numel(self):
        n = 1
        for d in self:
            n *= d
        return n

    def __repr__(self):
        return f"tinygen.Size({list(self)})"


_LEGACY_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
                 "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor",
                 "uint8": "ByteTensor", "bool": "BoolTensor"}


def _init(t, array, device, requires_grad):
    t.array = array
    t.device = device
    t.requires_grad = requires_grad
    t.grad = None
    t.creator = None
    t.generation = 0
    t._vc = [0]
    t._retains_grad = False
    t._hooks = None
    t.name = None
    t._post_accumulate_hooks = None


class _HookHandle:
    def __init__(self, hooks, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self):
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def _as_array(data, dtype):
    """An array from lists, scalars or arrays; floats default to float32."""
    if hasattr(data, "__cuda_array_interface__") and not isinstance(data, np.ndarray):
        return data if dtype is None else data.astype(dtype)  # a cupy array: keep it there
    array = np.asarray(data)
    if dtype is not None:
        return array.astype(dtype, copy=False)
    if array.dtype == np.float64 and not isinstance(data, np.ndarray):
        with np.errstate(over="ignore"):        # 1e200 -> inf in float32, silently as torch
            return array.astype(_default_dtype[0])  # Python floats and lists -> float32, as torch
    if array.dtype.kind in "iu" and not isinstance(data, np.ndarray):
        return array.astype(np.int64)
    return array


def as_tensor(x, like=()):
    """x as a constant Tensor on the device of the first Tensor in `like`.

    Python scalars take that tensor's dtype (so 2 * float32 stays float32)."""
    if isinstance(x, Tensor):
        return x
    ref = None
    for t in like:                        # (a loop: a generator costs 0.4 us a call)
        if isinstance(t, Tensor):
            ref = t
            break
    device = ref.device if ref is not None else backend.CPU
    xp = backend.array_module(device)
    if isinstance(x, (bool, int, float)) and ref is not None and ref.dtype.kind == "f":
        return Tensor.wrap(xp.asarray(x, dtype=ref.dtype), device, False)
    if isinstance(x, (list, tuple, int, float, bool, np.ndarray, np.generic)) or hasattr(x, "__cuda_array_interface__"):
        return Tensor.wrap(backend.to_device(_as_array(x, None), device), device, False)
    raise TypeError(f"expected a Tensor, an array or a number, got {type(x).__name__}")


def tensor(data, dtype=None, device="cpu", requires_grad=False):
    """A new leaf Tensor holding a copy of `data` (floats default to float32)."""
    if isinstance(data, Tensor):
        data = data.array
    array = _as_array(data, as_dtype(dtype))
    if isinstance(array, np.ndarray) and (array is data or np.shares_memory(array, np.asarray(data))):
        array = array.copy()
    elif array is data:   # a CuPy array: copied too, as torch.tensor copies
        array = array.copy()
    return Tensor(array, device=device, requires_grad=requires_grad)
