"""Names that old PyTorch scripts still use: tg.FloatTensor(2, 3), tg.LongTensor([1, 2]),
tg.autograd.Variable(x). They make ordinary Tensors; nothing here is a second tensor type.

    tg.FloatTensor(2, 3)          # uninitialized (here: zeros) float32 tensor of shape (2, 3)
    tg.FloatTensor([1, 2])        # float32 tensor holding the data
    isinstance(x, tg.LongTensor)  # True when x is an int64 Tensor
"""
import numpy as np

from tinygen.autograd.tensor import _LEGACY_NAMES, Tensor, tensor


class _LegacyTensorType(type):
    """isinstance(x, tg.FloatTensor) asks whether x is a Tensor of that dtype, as in torch."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype


def _legacy_new(dtype, args, device):
    if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
        return tensor(args[0], dtype=dtype, device=device or "cpu")   # data
    from tinygen.ops.factories import zeros
    return zeros(*(args or (0,)), dtype=dtype, device=device or "cpu")  # sizes (torch: garbage)


def _legacy_type(name, dtype):
    def __new__(cls, *args, device=None):
        return _legacy_new(cls.dtype, args, device)
    return _LegacyTensorType(name, (), {"dtype": np.dtype(dtype), "__new__": __new__,
                                        "__doc__": f"tg.{name}(*sizes | data): a {dtype} Tensor"})


FloatTensor, DoubleTensor, LongTensor, IntTensor, ShortTensor, CharTensor, ByteTensor, \
    BoolTensor = (_legacy_type(_LEGACY_NAMES[d], d) for d in
                  ("float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool"))


def Variable(data, requires_grad=False, volatile=False):
    """The tensor itself (Variable and Tensor merged in torch 0.4); requires_grad=True marks
    it as a leaf that needs gradients."""
    if not isinstance(data, Tensor):
        data = tensor(data)
    return data.requires_grad_(True) if requires_grad else data
