"""Spatial transformer sampling (Jaderberg et al. 2015): affine_grid and grid_sample, as
torch.nn.functional's, composed of differentiable ops.

affine_grid(theta, (N, C, H, W)) maps the output pixel centres, in normalized coordinates
[-1, 1] (x along W, y along H), through theta (N, 2, 3): grid[n, h, w] = theta[n] [x_w, y_h, 1].

grid_sample(x, grid) reads x (N, C, H, W) at grid (N, Ho, Wo, 2)'s (x, y) points. A normalized
coordinate g becomes a pixel coordinate

    u = (g + 1) (W - 1) / 2        align_corners=True (-1 and 1 are the corner pixels' centres)
    u = ((g + 1) W - 1) / 2        align_corners=False (-1 and 1 are the corner pixels' edges)

then padding_mode says what lies outside: 'zeros' (taps outside read 0), 'border' (u clamped
to [0, W - 1]) or 'reflection' (u reflected at the edges, then clamped). 'bilinear' weighs the
four pixels around u by (1 - l) and l per axis, l = u - floor(u); 'nearest' takes the pixel
at round(u) (half to even, as torch). The taps are an index gather (its adjoint adds the
gradient back: gx), the weights are ops of the grid (ggrid), so both differentiate again.
"""
import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor
from tinygen.ops.elementwise import abs, clamp, fmod, where
from tinygen.ops.linalg import matmul
from tinygen.ops.shape import getitem, permute, reshape, transpose, unsqueeze


def _normalized_positions(n, align_corners, xp, dtype):
    """The n pixel centres of an axis in normalized coordinates."""
    if align_corners:
        return xp.linspace(-1.0, 1.0, n).astype(dtype) if n > 1 else xp.zeros(1, dtype)
    return ((xp.arange(n) * 2 + 1) / n - 1).astype(dtype)


def affine_grid(theta, size, align_corners=False):
    """The sampling grid (N, H, W, 2) of the affine maps theta (N, 2, 3) for an output of size
    (N, C, H, W)."""
    if theta.ndim != 3 or tuple(theta.shape[1:]) != (2, 3) or len(size) != 4 or size[0] != theta.shape[0]:
        raise ValueError(f"affine_grid: expected theta (N, 2, 3) and size (N, C, H, W), got theta "
                         f"{tuple(theta.shape)} and size {tuple(size)}")
    N, _, H, W = size
    xp = backend.array_module(theta.device)
    xs = _normalized_positions(W, align_corners, xp, theta.dtype)
    ys = _normalized_positions(H, align_corners, xp, theta.dtype)
    base = xp.stack([xp.broadcast_to(xs[None, :], (H, W)), xp.broadcast_to(ys[:, None], (H, W)),
                     xp.ones((H, W), theta.dtype)], axis=-1).reshape(1, H * W, 3)
    grid = matmul(Tensor.wrap(base, theta.device, False), transpose(theta, 1, 2))   # (N, H W, 2)
    return reshape(grid, (N, H, W, 2))


def _pixel_coordinate(g, n, align_corners):
    return (g + 1) * ((n - 1) / 2) if align_corners else ((g + 1) * n - 1) / 2


def _reflected(u, low2, high2):
    """u reflected into [low2 / 2, high2 / 2] (torch's reflect_coordinates, with ops)."""
    if low2 == high2:
        return u * 0.0
    low, span = low2 / 2, (high2 - low2) / 2
    d = abs(u - low)
    flips = backend.array_module(u.device).floor(d.array / span)
    extra = fmod(d, span)
    return where(flips % 2 == 0, extra + low, (extra * -1 + span) + low)


def _padded(u, n, padding_mode, align_corners):
    if padding_mode == "border":
        return clamp(u, 0.0, n - 1.0)
    if padding_mode == "reflection":
        u = _reflected(u, 0, 2 * (n - 1)) if align_corners else _reflected(u, -1, 2 * n - 1)
        return clamp(u, 0.0, n - 1.0)
    return u


def _taps(x, rows, cols):
    """x[n, :, rows[n, i, j], cols[n, i, j]] (0 where outside x) as (N, C, Ho, Wo)."""
    xp = backend.array_module(x.device)
    H, W = x.shape[2:]
    inside = (rows >= 0) & (rows < H) & (cols >= 0) & (cols < W)
    batch = xp.arange(x.shape[0]).reshape(-1, 1, 1)
    picked = getitem(x, (batch, slice(None), xp.clip(rows, 0, H - 1), xp.clip(cols, 0, W - 1)))   # (N, Ho, Wo, C)
    return permute(picked, (0, 3, 1, 2)), Tensor.wrap(inside[:, None].astype(x.dtype), x.device, False)


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """input (N, C, H, W) read at grid (N, Ho, Wo, 2) (x, y in [-1, 1]) -> (N, C, Ho, Wo)."""
    if input.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != input.shape[0]:
        raise ValueError(f"grid_sample: expected input (N, C, H, W) and grid (N, Ho, Wo, 2), got "
                         f"{tuple(input.shape)} and {tuple(grid.shape)}")
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"grid_sample: mode must be 'bilinear' or 'nearest' (bicubic is not "
                         f"supported), got {mode!r}")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"grid_sample: padding_mode must be 'zeros', 'border' or 'reflection', "
                         f"got {padding_mode!r}")
    align_corners = bool(align_corners)
    H, W = input.shape[2:]
    u = _padded(_pixel_coordinate(getitem(grid, (Ellipsis, 0)), W, align_corners), W, padding_mode, align_corners)
    v = _padded(_pixel_coordinate(getitem(grid, (Ellipsis, 1)), H, align_corners), H, padding_mode, align_corners)
    xp = backend.array_module(input.device)
    if mode == "nearest":
        values, inside = _taps(input, xp.round(v.array).astype(np.int64), xp.round(u.array).astype(np.int64))
        return values * inside
    u0, v0 = xp.floor(u.array), xp.floor(v.array)
    lu = unsqueeze(u - Tensor.wrap(u0, u.device, False), 1)                 # (N, 1, Ho, Wo)
    lv = unsqueeze(v - Tensor.wrap(v0, v.device, False), 1)
    u0, v0 = u0.astype(np.int64), v0.astype(np.int64)
    y = 0.0
    for dv, wv in ((0, 1 - lv), (1, lv)):
        for du, wu in ((0, 1 - lu), (1, lu)):
            values, inside = _taps(input, v0 + dv, u0 + du)
            y = y + values * inside * wv * wu
    return y
