"""Receptive fields of autoregressive image models: which input pixels reach an output pixel.

    seen = receptive_field(model, (r, c), (H, W))     # (H, W) bool
    save_receptive_fields({"PixelCNN": cnn, "Row LSTM": row}, (r, c), (H, W), "rf.png")

Pixel (r, c)'s conditional p(x_rc | x_<rc) may depend on input pixel q only if the gradient
of its logits with respect to x_q is non-zero for some image. The map is that support,
measured on a few random images (a gradient that is zero on all of them is taken as zero).
Causality says the map is False at (r, c) and after it in raster order; PixelCNN's map has a
blind spot to the upper right, Row LSTM's is a triangle, Diagonal BiLSTM's and Gated
PixelCNN's cover (nearly) every earlier pixel.
"""
import numpy as np

import tinygen as tg


def receptive_field(model, pixel, shape, n_images=4, seed=0):
    """(H, W) bool: True at the input pixels whose gradient reaches the logits of `pixel`.

    model: has logits(x) for x (N, 1, H, W) (and labels y, when its condition(y) says so);
    pixel (r, c); shape (H, W) (or (C, H, W))."""
    H, W = shape[-2:]
    r, c = pixel
    if not (0 <= r < H and 0 <= c < W):
        raise ValueError(f"receptive_field: pixel {pixel} lies outside an image of shape {shape}")
    return receptive_fields(model, shape, [pixel], n_images, seed)[0]


def receptive_fields(model, shape, pixels=None, n_images=4, seed=0):
    """(P, H, W) bool: receptive_field of each of `pixels` (default: all, in raster order),
    from one forward pass."""
    H, W = shape[-2:]
    C = shape[0] if len(shape) == 3 else 1
    pixels = [divmod(i, W) for i in range(H * W)] if pixels is None else pixels
    p = next(model.parameters())
    rs = np.random.default_rng(seed)
    x = tg.tensor(rs.random((n_images, C, H, W)), dtype=p.dtype, device=p.device,
                  requires_grad=True)
    # a class-conditional model: any labels (a class adds the same bias at every pixel)
    labels = model.condition(np.zeros(n_images, np.int64)) if hasattr(model, "condition") else {}
    maps = []
    with tg.enable_grad():
        logits = model.logits(x, **labels)                   # (N, C, H, W) or (N, K, C, H, W)
        for r, c in pixels:
            (g,) = tg.grad(logits[..., r, c].sum(), x, retain_graph=True)
            maps.append(np.abs(tg.backend.to_numpy(g.array)).sum(axis=(0, 1)) > 0)
    return np.stack(maps)


def save_receptive_fields(models, pixel, shape, path, **kwargs):
    """One panel per model ({title: model}): the input pixels reaching `pixel` (white),
    the pixel itself (red). Writes a PNG at path and returns it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure      # a figure of its own: pyplot's backend untouched
    H, W = shape[-2:]
    fig = Figure(figsize=(2.6 * len(models), 2.6 * H / W + 0.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(models), squeeze=False)
    for ax, (title, model) in zip(axes[0], models.items()):
        seen = receptive_field(model, pixel, shape, **kwargs)
        rgb = np.repeat(seen[..., None].astype(np.float32) * 0.9, 3, axis=-1)   # (H, W, 3)
        rgb[pixel] = (1.0, 0.1, 0.1)
        ax.imshow(rgb, interpolation="nearest")
        ax.set_xticks(np.arange(-0.5, W, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, H, 1), minor=True)
        ax.grid(which="minor", color="0.4", linewidth=0.5)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        ax.set_title(f"{title}\n{int(seen.sum())} pixels seen", fontsize=9)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path
