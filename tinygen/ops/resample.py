"""Resizing images: interpolate (nearest, linear, bilinear), pixel_shuffle and its inverse.

interpolate resizes each spatial axis on its own (the 2-D modes are separable):

    nearest         out[o] = in[min(floor(o s), n_in - 1)]                  s = 1 / scale_factor
    nearest-exact   out[o] = in[min(floor((o + 1/2) s), n_in - 1)]          (or n_in / n_out)
    (bi)linear      out[o] = (1 - l) in[i0] + l in[i0 + 1],  i0 = floor(u), l = u - i0, with
                    u = o (n_in - 1) / (n_out - 1)                          align_corners=True
                    u = max((o + 1/2) s - 1/2, 0)                          align_corners=False

(the source coordinates torch uses). Nearest is an index gather along each axis; linear is a
product with the (n_out, n_in) interpolation matrix along each axis, y = M_h x M_w^T, so both
are composed from differentiable ops (their gradients are the scatter-add and M^T).

pixel_shuffle(x, r): (*, C r^2, H, W) -> (*, C, H r, W r) (Shi et al. 2016, sub-pixel
convolution), a reshape and a permute; pixel_unshuffle is its inverse.
"""
import math

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor
from tinygen.ops.linalg import matmul
from tinygen.ops.shape import getitem, permute, reshape, transpose

_MODES = {"nearest": 1, "nearest-exact": 1, "linear": 1, "bilinear": 2}   # mode -> spatial dims


def _output_sizes(op, x, dims, size, scale_factor):
    """(output sizes, scales or None) for the last `dims` axes, from size or scale_factor."""
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    inputs = tuple(x.shape[-dims:])
    if size is not None:
        size = (size,) * dims if isinstance(size, int) else tuple(size)
        if len(size) != dims:
            raise ValueError(f"{op}: size {size} for {dims} spatial dims of input {tuple(x.shape)}")
        return tuple(int(n) for n in size), None
    scales = (scale_factor,) * dims if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
    if len(scales) != dims:
        raise ValueError(f"{op}: scale_factor {scale_factor} for {dims} spatial dims of input "
                         f"{tuple(x.shape)}")
    return tuple(int(math.floor(n * float(s))) for n, s in zip(inputs, scales)), scales


def _source_step(n_in, n_out, scale):
    """torch's step between source positions: 1 / scale_factor when given, else n_in / n_out."""
    return 1.0 / float(scale) if scale is not None and scale > 0 else n_in / n_out


def _nearest_index(n_in, n_out, scale, exact):
    step = np.float32(_source_step(n_in, n_out, scale))      # float32, as torch's kernel
    o = np.arange(n_out, dtype=np.float32) + (np.float32(0.5) if exact else 0)
    return np.minimum(np.floor(o * step).astype(np.int64), n_in - 1)


def _linear_matrix(n_in, n_out, scale, align_corners):
    """(n_out, n_in): row o holds the two weights of output o's neighbours."""
    o = np.arange(n_out, dtype=np.float64)
    if align_corners:
        u = o * ((n_in - 1) / (n_out - 1)) if n_out > 1 else 0 * o
    else:
        u = np.maximum((o + 0.5) * _source_step(n_in, n_out, scale) - 0.5, 0)
    i0 = np.minimum(np.floor(u).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = u - i0
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), i0), 1 - lam)
    np.add.at(m, (np.arange(n_out), i1), lam)
    return m


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize input (N, C, L) or (N, C, H, W) to `size` or by `scale_factor`, as
    torch.nn.functional.interpolate. Modes: 'nearest', 'nearest-exact', 'linear' (3-D input),
    'bilinear' (4-D input). align_corners applies to the linear modes only."""
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode {mode!r} is not supported (expected one of "
                         f"{sorted(_MODES)})")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported")
    linear = mode in ("linear", "bilinear")
    if align_corners is not None and not linear:
        raise ValueError(f"interpolate: align_corners only applies to the linear modes, not {mode!r}")
    dims = input.ndim - 2
    if dims not in (1, 2) or (linear and dims != _MODES[mode]):
        raise ValueError(f"interpolate: mode {mode!r} got input of shape {tuple(input.shape)} "
                         f"(expected (N, C, L) or (N, C, H, W), as the mode needs)")
    sizes, scales = _output_sizes("interpolate", input, dims, size, scale_factor)
    if min(sizes) <= 0:
        raise ValueError(f"interpolate: output size {sizes} for input {tuple(input.shape)} is empty")
    if recompute_scale_factor:
        scales = None
    scales = scales or (None,) * dims
    xp = backend.array_module(input.device)
    y = input
    for k, (n_out, scale) in enumerate(zip(sizes, scales)):
        axis = input.ndim - dims + k
        n_in = input.shape[axis]
        if linear:
            m = _linear_matrix(n_in, n_out, scale, bool(align_corners)).astype(input.dtype)
            m = Tensor.wrap(xp.asarray(m), input.device, False)
            # along the last axis: y @ M^T; along the one before: M @ y
            y = matmul(y, transpose(m, 0, 1)) if axis == input.ndim - 1 else matmul(m, y)
        else:
            index = _nearest_index(n_in, n_out, scale, mode == "nearest-exact")
            y = getitem(y, (slice(None),) * axis + (xp.asarray(index),))
    return y


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """The old name of interpolate."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r): channel c r^2 + i r + j goes to pixel (i, j) of
    each r x r block."""
    r = int(upscale_factor)
    if input.ndim < 3 or input.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: input of shape {tuple(input.shape)} needs at least 3 "
                         f"dims and channels (dim -3) divisible by upscale_factor^2 = {r * r}")
    *lead, c, h, w = input.shape
    n = len(lead)
    y = reshape(input, tuple(lead) + (c // (r * r), r, r, h, w))           # (*, C, r, r, H, W)
    y = permute(y, tuple(range(n)) + tuple(n + a for a in (0, 3, 1, 4, 2)))  # (*, C, H, r, W, r)
    return reshape(y, tuple(lead) + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of pixel_shuffle."""
    r = int(downscale_factor)
    if input.ndim < 3 or input.shape[-2] % r or input.shape[-1] % r:
        raise ValueError(f"pixel_unshuffle: input of shape {tuple(input.shape)} needs at least 3 "
                         f"dims and height and width divisible by downscale_factor = {r}")
    *lead, c, h, w = input.shape
    n = len(lead)
    y = reshape(input, tuple(lead) + (c, h // r, r, w // r, r))            # (*, C, H, r, W, r)
    y = permute(y, tuple(range(n)) + tuple(n + a for a in (0, 2, 4, 1, 3)))  # (*, C, r, r, H, W)
    return reshape(y, tuple(lead) + (c * r * r, h // r, w // r))
