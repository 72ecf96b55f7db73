"""Names that old PyTorch scripts still use: tg.FloatTensor(2, 3), tg.LongTensor([1, 2]),
tg.autograd.Variable(x). They make ordinary Tensors; nothing here is a second tensor type.

    tg.FloatTensor(2, 3)          # uninitialized (here: zeros) float32 tensor of shape (2, 3)
    tg.FloatTensor(x.size())      # the same, of x's shape (x.size() is a tg.Size)
    tg.FloatTensor([1, 2])        # float32 tensor holding the data
    isinstance(x, tg.LongTensor)  # True when x is an int64 Tensor
    tg.cuda.FloatTensor(2, 3)     # the same on the cuda device; where no cuda device is
                                  # usable, TypeError "... not available", as torch says
"""
import numpy as np

from tinygen.autograd.tensor import _LEGACY_NAMES, Size, Tensor, tensor


class _LegacyTensorType(type):
    """isinstance(x, tg.FloatTensor) asks whether x is a Tensor of that dtype (and, for
    tg.cuda.FloatTensor, on the cuda device), as in torch."""

    def __instancecheck__(cls, obj):
        return (isinstance(obj, Tensor) and obj.dtype == cls.dtype
                and (cls.device is None or obj.device == cls.device))


def is_size(arg):
    """A tg.Size (what x.size() returns): read as a size by the legacy constructors, as torch
    reads a torch.Size; a plain tuple or list is data, as in torch."""
    return isinstance(arg, Size)


def _legacy_new(dtype, args, device):
    if len(args) == 1 and is_size(args[0]):
        args = args[0]
    elif len(args) == 1 and not isinstance(args[0], (int, np.integer)):
        return tensor(args[0], dtype=dtype, device=device or "cpu")   # data
    from tinygen.ops.factories import zeros
    return zeros(*(args or (0,)), dtype=dtype, device=device or "cpu")  # sizes (torch: garbage)


def _legacy_type(name, dtype):
    def __new__(cls, *args, device=None):
        return _legacy_new(cls.dtype, args, device)
    return _LegacyTensorType(name, (), {"dtype": np.dtype(dtype), "device": None,
                                        "__new__": __new__, "__module__": "tinygen",
                                        "__doc__": f"tg.{name}(*sizes | data): a {dtype} Tensor"})


def _legacy_cuda_type(name, dtype):
    def __new__(cls, *args):
        from tinygen import backend
        if not backend.cuda_is_available():
            raise TypeError(f"type tinygen.cuda.{name} not available: "
                            f"{backend.why_gpu_unavailable()}")
        return _legacy_new(cls.dtype, args, "cuda")
    return _LegacyTensorType(name, (), {"dtype": np.dtype(dtype), "device": "cuda",
                                        "__new__": __new__, "__module__": "tinygen.cuda",
                                        "__doc__": f"tg.cuda.{name}(*sizes | data): a {dtype} "
                                                   f"Tensor on the cuda device"})


_DTYPES = ("float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")
FloatTensor, DoubleTensor, LongTensor, IntTensor, ShortTensor, CharTensor, ByteTensor, \
    BoolTensor = (_legacy_type(_LEGACY_NAMES[d], d) for d in _DTYPES)
CUDA_TYPES = {_LEGACY_NAMES[d]: _legacy_cuda_type(_LEGACY_NAMES[d], d) for d in _DTYPES}


def Variable(data, requires_grad=False, volatile=False):
    """The tensor itself (Variable and Tensor merged in torch 0.4); requires_grad=True marks
    it as a leaf that needs gradients."""
    if not isinstance(data, Tensor):
        data = tensor(data)
    return data.requires_grad_(True) if requires_grad else data
