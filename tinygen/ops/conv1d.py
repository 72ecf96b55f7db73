"""1-d convolutions as 2-d ones on a height-1 image (torch.nn.functional.conv1d and
conv_transpose1d): x (N, C, L) -> (N, C, 1, L), weight (.., .., k) -> (.., .., 1, k), then
tinygen/ops/conv.py's conv2d / conv_transpose2d with stride (1, s), padding (0, p), dilation
(1, d), and the height dim dropped again. Values and gradients are conv2d's.

padding='valid' is 0; padding='same' (stride 1) pads d (k - 1) in all, the extra one on the
right when odd, as torch.
"""
from tinygen.ops.common import as_single
from tinygen.ops.conv import conv2d, conv_transpose2d
from tinygen.ops.shape import reshape


def _as_images(op, x, weight):
    """x (N, C, L) or (C, L) and weight (A, B, k) -> 4-D views, and whether x was unbatched."""
    if x.ndim not in (2, 3) or weight.ndim != 3:
        raise ValueError(f"{op}: expected input (N, C, L) or (C, L) and a 3-D weight, got input "
                         f"{tuple(x.shape)}, weight {tuple(weight.shape)}")
    unbatched = x.ndim == 2
    x4 = reshape(x, (1 if unbatched else x.shape[0], x.shape[-2], 1, x.shape[-1]))
    return x4, reshape(weight, weight.shape[:2] + (1, weight.shape[2])), unbatched


def _as_sequence(y, unbatched):
    y = reshape(y, (y.shape[0], y.shape[1], y.shape[3]))      # (N, C_out, L')
    return reshape(y, y.shape[1:]) if unbatched else y


def _check_groups(op, groups):
    if groups != 1:
        raise ValueError(f"{op}: groups={groups} is not supported (only groups=1)")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation: input (N, C_in, L), weight (C_out, C_in, k), bias (C_out,) ->
    (N, C_out, L'), L' = (L + 2 p - d (k - 1) - 1) // s + 1."""
    _check_groups("conv1d", groups)
    stride, dilation = as_single(stride, "stride", "conv1d"), as_single(dilation, "dilation", "conv1d")
    x4, w4, unbatched = _as_images("conv1d", input, weight)
    if isinstance(padding, str):        # 'valid', 'same': conv2d's, on the height-1 image
        if padding == "same" and stride != 1:
            raise ValueError(f"conv1d: padding='same' needs stride 1, got stride={stride}")
        y = conv2d(x4, w4, bias, (1, stride), padding, (1, dilation))
    else:
        y = conv2d(x4, w4, bias, (1, stride), (0, as_single(padding, "padding", "conv1d")), (1, dilation))
    return _as_sequence(y, unbatched)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed convolution: input (N, C_in, L), weight (C_in, C_out, k), bias (C_out,) ->
    (N, C_out, L'), L' = (L - 1) s - 2 p + d (k - 1) + output_padding + 1."""
    _check_groups("conv_transpose1d", groups)
    op = "conv_transpose1d"
    x4, w4, unbatched = _as_images(op, input, weight)
    y = conv_transpose2d(x4, w4, bias, (1, as_single(stride, "stride", op)),
                         (0, as_single(padding, "padding", op)),
                         (0, as_single(output_padding, "output_padding", op)),
                         (1, as_single(dilation, "dilation", op)))
    return _as_sequence(y, unbatched)
