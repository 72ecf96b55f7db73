"""make_grid and save_image in torchvision.utils' shape: a batch of images -> one picture.

    save_image(samples, "samples.png", nrow=8, normalize=True)   # samples (B, C, H, W)

make_grid follows torchvision step for step: a list is stacked, (H, W) and (C, H, W) are one
image, 1-channel images are repeated to 3 channels, normalize=True maps value_range (or each
image's / the batch's min..max) to [0, 1], and the images are laid out nrow per row with
`padding` pixels of `pad_value` around each. save_image writes the grid as an 8-bit RGB PNG
(or the format `fp`'s suffix or `format` names) with matplotlib's imsave, rounding as
torchvision does: uint8(clamp(255 * x + 0.5, 0, 255)).

These are for looking at samples, not part of a graph: they read the arrays and return a new
constant Tensor (on the input's device).
"""
import math

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor


def _images(tensor):
    """The input as an array (N, C, H, W) with 3 channels where it had 1."""
    if isinstance(tensor, (list, tuple)):
        device = tensor[0].device if isinstance(tensor[0], Tensor) else backend.CPU
        xp = backend.array_module(device)
        tensor = Tensor.wrap(xp.stack([getattr(t, "array", t) for t in tensor]), device, False)
    if not isinstance(tensor, Tensor):
        raise TypeError(f"make_grid: tensor should be a Tensor or a list of Tensors, got "
                        f"{type(tensor).__name__}")
    xp = backend.array_module(tensor.device)
    x = tensor.array
    if x.ndim == 2:                                  # (H, W): one image
        x = x[None]
    if x.ndim == 3:                                  # (C, H, W): one image
        x = (xp.concatenate([x, x, x], 0) if x.shape[0] == 1 else x)[None]
    if x.ndim != 4:
        raise ValueError(f"make_grid: expected images of shape (H, W), (C, H, W) or "
                         f"(B, C, H, W), got {tuple(tensor.shape)}")
    if x.shape[1] == 1:                              # gray -> RGB
        x = xp.concatenate([x, x, x], 1)
    return x, tensor.device, xp


def _normalized(x, value_range):
    """x clamped to value_range (default: x's min and max) and mapped to [0, 1]."""
    low, high = value_range if value_range is not None else (float(x.min()), float(x.max()))
    return (x.clip(low, high) - low) / max(high - low, 1e-5)


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False,
              pad_value=0.0):
    """Images (B, C, H, W) (or a list of (C, H, W)) -> one image (C, rows*(H+p)+p, cols*(W+p)+p)
    with cols = min(nrow, B) images per row; gray images come back with 3 channels."""
    x, device, xp = _images(tensor)
    if normalize:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("value_range has to be a tuple (min, max) if specified. min and max "
                            "are numbers")
        x = x.astype(x.dtype if x.dtype.kind == "f" else np.float32)
        if scale_each:
            x = xp.stack([_normalized(img, value_range) for img in x])
        else:
            x = _normalized(x, value_range)
    if x.shape[0] == 1:
        return Tensor.wrap(x[0].copy(), device, False)
    n, c, h, w = x.shape
    cols = min(nrow, n)
    rows = int(math.ceil(n / cols))
    step_h, step_w = h + padding, w + padding
    grid = xp.full((c, rows * step_h + padding, cols * step_w + padding), pad_value, dtype=x.dtype)
    for k in range(n):
        r, col = divmod(k, cols)
        top, left = r * step_h + padding, col * step_w + padding
        grid[:, top:top + h, left:left + w] = x[k]
    return Tensor.wrap(grid, device, False)


def save_image(tensor, fp, nrow=8, padding=2, normalize=False, value_range=None,
               scale_each=False, pad_value=0.0, format=None):
    """Write make_grid(tensor, ...) to `fp` (a path or a binary file object) as 8-bit RGB."""
    import matplotlib.image
    grid = make_grid(tensor, nrow=nrow, padding=padding, normalize=normalize,
                     value_range=value_range, scale_each=scale_each, pad_value=pad_value)
    pixels = backend.to_numpy(grid.array)                                # (C, H, W)
    if pixels.dtype.kind != "f":
        pixels = pixels.astype(np.float32)
    # in the grid's own dtype, as torchvision's grid.mul(255).add_(0.5).clamp_(0, 255)
    pixels = np.clip(pixels * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)      # matplotlib would colormap a 2-d array
    if format is None and not isinstance(fp, (str, bytes)) and not hasattr(fp, "__fspath__"):
        format = "png"                             # a file object has no suffix to go by
    matplotlib.image.imsave(fp, pixels, format=format)
