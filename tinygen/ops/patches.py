"""Sliding-window patches: unfold (im2col) and fold (col2im, its adjoint), as torch.nn.functional.

    unfold(x, k)    x (N, C, H, W) -> cols (N, C kh kw, L), L = Ho Wo,
                    cols[n, (c kh + i) kw + j, p Wo + q] = xpad[n, c, p sh + i dh, q sw + j dw]
    fold(cols, (H, W), k)    the adjoint: every column value added back at the pixel it came
                    from (overlaps sum), padding cropped

unfold is an index gather of the zero-padded input and fold the matching scatter-add (GetItem
and IndexAdd of tinygen/ops/shape.py, each the other's backward), so both are differentiable
to any order. conv2d(x, w) equals (w.reshape(C_out, -1) @ unfold(x, k)).reshape(...).
"""
import numpy as np

from tinygen import backend
from tinygen.ops.common import as_pair
from tinygen.ops.shape import IndexAdd, getitem, pad, reshape


def _geometry(op, size, kernel_size, dilation, padding, stride):
    """Index arrays (rows (kh, 1, Ho, 1), cols (1, kw, 1, Wo)) into the padded (H, W) image,
    the padding, and (Ho, Wo)."""
    (kh, kw), (dh, dw) = as_pair(kernel_size, "kernel_size", op), as_pair(dilation, "dilation", op)
    (ph, pw), (sh, sw) = as_pair(padding, "padding", op), as_pair(stride, "stride", op)
    H, W = size
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if Ho <= 0 or Wo <= 0 or min(kh, kw, dh, dw, sh, sw) <= 0 or min(ph, pw) < 0:
        raise ValueError(f"{op}: kernel_size {(kh, kw)}, dilation {(dh, dw)}, padding {(ph, pw)}, "
                         f"stride {(sh, sw)} give no window in an image of size {(H, W)}")
    rows = (np.arange(kh) * dh)[:, None] + (np.arange(Ho) * sh)[None, :]     # (kh, Ho)
    cols = (np.arange(kw) * dw)[:, None] + (np.arange(Wo) * sw)[None, :]     # (kw, Wo)
    return rows[:, None, :, None], cols[None, :, None, :], (ph, pw), (Ho, Wo)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding kh x kw patches of input (N, C, H, W) as columns: (N, C kh kw, Ho Wo)."""
    if input.ndim != 4:
        raise ValueError(f"unfold: expected a 4-D input (N, C, H, W), got {tuple(input.shape)}")
    rows, cols, (ph, pw), (Ho, Wo) = _geometry("unfold", input.shape[2:], kernel_size,
                                               dilation, padding, stride)
    xp = backend.array_module(input.device)
    x = pad(input, (pw, pw, ph, ph)) if ph or pw else input
    patches = getitem(x, (slice(None), slice(None), xp.asarray(rows), xp.asarray(cols)))
    N, C = input.shape[:2]
    return reshape(patches, (N, C * rows.shape[0] * cols.shape[1], Ho * Wo))  # (N, C kh kw, L)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum columns (N, C kh kw, L) back into an image (N, C, H, W), H, W = output_size."""
    H, W = as_pair(output_size, "output_size", "fold")
    rows, cols, (ph, pw), (Ho, Wo) = _geometry("fold", (H, W), kernel_size, dilation, padding,
                                               stride)
    kh, kw = rows.shape[0], cols.shape[1]
    if input.ndim != 3 or input.shape[1] % (kh * kw) or input.shape[2] != Ho * Wo:
        raise ValueError(f"fold: input of shape {tuple(input.shape)} for output_size {(H, W)} and "
                         f"kernel {(kh, kw)} (expected (N, C * {kh * kw}, {Ho * Wo}))")
    N, C = input.shape[0], input.shape[1] // (kh * kw)
    xp = backend.array_module(input.device)
    patches = reshape(input, (N, C, kh, kw, Ho, Wo))
    index = (slice(None), slice(None), xp.asarray(rows), xp.asarray(cols))
    image = IndexAdd(index, (N, C, H + 2 * ph, W + 2 * pw))(patches)
    if ph or pw:
        image = getitem(image, (slice(None), slice(None), slice(ph, ph + H), slice(pw, pw + W)))
    return image
