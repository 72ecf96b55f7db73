"""1-d pooling as 2-d pooling on a height-1 image (torch.nn.functional.max_pool1d, avg_pool1d,
adaptive_avg_pool1d, adaptive_max_pool1d), as conv1d.py does for convolutions: x (N, C, L) -> (N, C, 1, L), kernel (1, k),
stride (1, s), padding (0, p), then the height dim dropped again. Values and gradients (and
max_pool1d's indices, flat positions h W + w = w on a height-1 image) are the 2-d ops'.
"""
from tinygen.ops.common import as_single
from tinygen.ops.pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d
from tinygen.ops.shape import reshape


def _as_image(op, x):
    """(N, C, L) or (C, L) -> (N, C, 1, L), and whether x was unbatched."""
    if x.ndim not in (2, 3):
        raise ValueError(f"{op}: expected input (N, C, L) or (C, L), got shape {tuple(x.shape)}")
    unbatched = x.ndim == 2
    return reshape(x, (1 if unbatched else x.shape[0], x.shape[-2], 1, x.shape[-1])), unbatched


def _as_sequence(y, unbatched):
    y = reshape(y, (y.shape[0], y.shape[1], y.shape[3]))      # (N, C, L')
    return reshape(y, y.shape[1:]) if unbatched else y


def _geometry(op, x, kernel_size, stride, padding):
    k = as_single(kernel_size, "kernel_size", op)
    s = k if stride is None or stride == () else as_single(stride, "stride", op)
    p = as_single(padding, "padding", op)
    if x.shape[-1] + 2 * p < k:
        raise ValueError(f"{op}: kernel_size {k} is larger than the padded input: input "
                         f"{tuple(x.shape)}, padding {p}")
    return (1, k), (1, s), (0, p)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over windows of k: (N, C, L) -> (N, C, L'), L' = (L + 2 p - k) // s + 1."""
    x4, unbatched = _as_image("max_pool1d", input)
    kernel, stride, padding = _geometry("max_pool1d", input, kernel_size, stride, padding)
    out = max_pool2d(x4, kernel, stride, padding, as_single(dilation, "dilation", "max_pool1d"),
                     ceil_mode, return_indices)
    if return_indices:
        return _as_sequence(out[0], unbatched), _as_sequence(out[1], unbatched)
    return _as_sequence(out, unbatched)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows of k: (N, C, L) -> (N, C, L'); the zero padding counts unless
    count_include_pad=False."""
    x4, unbatched = _as_image("avg_pool1d", input)
    kernel, stride, padding = _geometry("avg_pool1d", input, kernel_size, stride, padding)
    return _as_sequence(avg_pool2d(x4, kernel, stride, padding, ceil_mode, count_include_pad), unbatched)


def _output_length(op, output_size):
    return as_single(output_size, "output_size", op)


def adaptive_avg_pool1d(input, output_size):
    """Mean over torch's adaptive bins: (N, C, L) or (C, L) -> (..., output_size)."""
    x4, unbatched = _as_image("adaptive_avg_pool1d", input)
    return _as_sequence(adaptive_avg_pool2d(x4, (1, _output_length("adaptive_avg_pool1d", output_size))),
                        unbatched)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max over torch's adaptive bins: (N, C, L) or (C, L) -> (..., output_size), and with
    return_indices each maximum's position."""
    x4, unbatched = _as_image("adaptive_max_pool1d", input)
    out = adaptive_max_pool2d(x4, (1, _output_length("adaptive_max_pool1d", output_size)), return_indices)
    if return_indices:
        return _as_sequence(out[0], unbatched), _as_sequence(out[1], unbatched)
    return _as_sequence(out, unbatched)
