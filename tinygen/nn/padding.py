"""Padding layers (torch.nn's ZeroPad, ConstantPad, ReflectionPad, ReplicationPad; 1-d and 2-d).

`padding` is an int (the same on every side) or torch's tuple (left, right[, top, bottom]);
forward calls F.pad (tinygen/ops/shape.py) with the layer's mode.
"""
from tinygen.nn.module import Module
from tinygen.ops.shape import pad


class _Pad(Module):
    mode = "constant"
    sides = 4                       # 2 for the 1-d layers (left, right)

    def __init__(self, padding, value=0.0):
        super().__init__()
        self.padding = (padding,) * self.sides if isinstance(padding, int) else tuple(padding)
        if len(self.padding) != self.sides:
            raise ValueError(f"{type(self).__name__}: padding must be an int or {self.sides} ints, "
                             f"got {padding!r}")
        self.value = value

    def forward(self, x):
        return pad(x, self.padding, self.mode, self.value)

    def extra_repr(self):
        return f"{self.padding}"


class ConstantPad2d(_Pad):
    """Pad the last two dims with `value`."""

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(ConstantPad2d):
    sides = 2


class ZeroPad2d(_Pad):
    """Pad the last two dims with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ZeroPad1d(ZeroPad2d):
    sides = 2


class ReflectionPad2d(_Pad):
    """Pad the last two dims with their mirror image (edge not repeated)."""

    mode = "reflect"

    def __init__(self, padding):
        super().__init__(padding)


class ReflectionPad1d(ReflectionPad2d):
    sides = 2


class ReplicationPad2d(_Pad):
    """Pad the last two dims by repeating the edge values."""

    mode = "replicate"

    def __init__(self, padding):
        super().__init__(padding)


class ReplicationPad1d(ReplicationPad2d):
    sides = 2
