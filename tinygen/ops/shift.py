"""Shifts of an image's rows and columns: the plumbing of PixelRNN and Gated PixelCNN.

    skew(x)         (N, C, H, W) -> (N, C, H, W + H - 1):  row i moved right by i columns,
                    y[..., i, i + j] = x[..., i, j], zeros elsewhere. Every diagonal
                    i + j = const of x becomes one column of y, so a recurrence over the
                    columns of y is a recurrence over the diagonals of x (Diagonal BiLSTM).
    unskew(y)       (N, C, H, W') -> (N, C, H, W' - H + 1):  x[..., i, j] = y[..., i, i + j].
    down_shift(x)   rows moved down by n, the first n rows zero:  y[..., i, :] = x[..., i - n, :]
    right_shift(x)  columns moved right by n, the first n columns zero

skew is a zero-padded embedding and unskew the matching gather, so each is the other's
adjoint, <skew x, y> = <x, unskew y>, and unskew(skew x) = x: the backward of one is the other.
The two shifts are a pad and a crop (their backward, from those ops, crops and pads back).
"""
from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.ops.shape import getitem, pad


def _check_image(x, op):
    if x.ndim < 2:
        raise ValueError(f"{op}: expects a tensor (..., H, W) of at least 2 dims, got shape "
                         f"{tuple(x.shape)}")


class Skew(Function):
    def forward(self, x):                                    # (..., H, W)
        xp = backend.array_module(self.device)
        H, W = x.shape[-2:]
        y = xp.zeros(x.shape[:-2] + (H, W + H - 1), dtype=x.dtype)
        for i in range(H):                                   # a slice copy per row (a fancy
            y[..., i, i:i + W] = x[..., i, :]                # index is ~10x slower)
        return y                                             # (..., H, W + H - 1)

    def backward(self, gy):
        return unskew(gy)


class Unskew(Function):
    def forward(self, y):                                    # (..., H, W + H - 1)
        xp = backend.array_module(self.device)
        H = y.shape[-2]
        W = y.shape[-1] - H + 1
        x = xp.empty(y.shape[:-2] + (H, W), dtype=y.dtype)
        for i in range(H):
            x[..., i, :] = y[..., i, i:i + W]
        return x                                             # (..., H, W)

    def backward(self, gx):
        return skew(gx)


def skew(x):
    """Row i of x (..., H, W) moved right by i columns: (..., H, W + H - 1), zeros elsewhere."""
    _check_image(x, "skew")
    return Skew()(x)


def unskew(y):
    """The inverse of skew: y (..., H, W') -> x (..., H, W' - H + 1), x[i, j] = y[i, i + j]."""
    _check_image(y, "unskew")
    if y.shape[-1] < y.shape[-2]:
        raise ValueError(f"unskew: a skewed tensor (..., H, W + H - 1) has at least H columns, "
                         f"got shape {tuple(y.shape)}")
    return Unskew()(y)


def down_shift(x, n=1):
    """x (..., H, W) with its rows moved down by n: y[..., i, :] = x[..., i - n, :], zeros above."""
    _check_image(x, "down_shift")
    if int(n) < 0:
        raise ValueError(f"down_shift: n must be >= 0, got {n}")
    n = min(int(n), x.shape[-2])
    return pad(getitem(x, (Ellipsis, slice(0, x.shape[-2] - n), slice(None))), (0, 0, n, 0))


def right_shift(x, n=1):
    """x (..., H, W) with its columns moved right by n: y[..., j] = x[..., j - n], zeros left."""
    _check_image(x, "right_shift")
    if int(n) < 0:
        raise ValueError(f"right_shift: n must be >= 0, got {n}")
    n = min(int(n), x.shape[-1])
    return pad(getitem(x, (Ellipsis, slice(0, x.shape[-1] - n))), (n, 0))
