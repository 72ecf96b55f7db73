"""Pictures of a run: sample grids, completions, loss-term curves, KL per latent, per-pixel NLL.

All write PNG files and return the path. They draw on matplotlib Figure objects of their
own (no pyplot, no display needed), so they never switch your process's matplotlib backend
or touch your own figures.
Each file is written whole to a temporary name beside it and then renamed, so a run killed
while drawing leaves the previous picture (or none), never a truncated one.
"""
import math
import os

import numpy as np

from tinygen.serialization import file_mode, naming_file


def _subplots(*args, figsize, **kwargs):
    """(figure, axes) as plt.subplots makes them, on a Figure of its own with an Agg canvas
    (not pyplot's)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(*args, **kwargs)


def _savefig(fig, path, **kwargs):
    """fig.savefig(path) through a temporary file and a rename."""
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path}: no directory {directory}")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        with naming_file(path):
            fig.savefig(tmp, format=fmt, **kwargs)
        os.chmod(tmp, file_mode(path))     # an overwrite keeps the file's permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def image_grid(images, nrow=None, pad=1):
    """(N, C, H, W) values in [0, 1] -> one (rows*(H+pad)+pad, cols*(W+pad)+pad) gray array
    of the first channel, white between images (tinygen.utils.make_grid lays it out)."""
    from tinygen.autograd.tensor import Tensor
    from tinygen.utils import make_grid
    images = np.asarray(images, dtype=np.float32)
    ncol = nrow or int(math.ceil(math.sqrt(len(images))))
    return make_grid(Tensor(images[:, :1]), nrow=ncol, padding=pad, pad_value=1).numpy()[0]


def save_image_grid(images, path, title=None, nrow=None, row_labels=None):
    """images (N, C, H, W) in [0, 1], nrow per row; row_labels: one name per row, at its left
    (e.g. the class of a class-conditional model's samples)."""
    grid = image_grid(images, nrow)
    fig, ax = _subplots(figsize=(6, 6 * grid.shape[0] / grid.shape[1]))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if row_labels is not None:
        cell = np.asarray(images).shape[2] + 1              # image height + padding
        for i, label in enumerate(row_labels):
            ax.text(-1, 1 + (i + 0.5) * cell, str(label), ha="right", va="center")
    if title:
        ax.set_title(title)
    return _savefig(fig, path, dpi=100, bbox_inches="tight")


def save_completions(originals, completions, known_rows, path, title=None):
    """One row per image: the original (N, C, H, W), what the model was given (rows
    < known_rows; the hidden rest gray), then its K completions (N, K, C, H, W); a red line
    marks where the given rows end."""
    originals, completions = np.asarray(originals), np.asarray(completions)
    N, K, C, H, W = completions.shape
    given = originals.copy()
    given[:, :, known_rows:] = 0.5
    cells = np.concatenate([originals[:, None], given[:, None], completions], axis=1)
    grid = image_grid(np.clip(cells.reshape(N * (K + 2), C, H, W), 0, 1), nrow=K + 2)
    fig, ax = _subplots(figsize=(1.0 * (K + 2), 1.0 * N + 0.6))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for i in range(N):                   # pad 1: cell (i, j) starts at 1 + i (H + 1), 1 + j (W + 1)
        y = 1 + i * (H + 1) + known_rows - 0.5
        ax.plot([1 + (W + 1) - 0.5, grid.shape[1] - 1.5], [y, y], color="red", lw=0.8)
    ax.axis("off")
    ax.set_title(title or f"original | top {known_rows} rows given | {K} completions",
                 fontsize=9)
    return _savefig(fig, path, dpi=100, bbox_inches="tight")


def save_curves(records, path, title="loss terms"):
    """records: dicts from metrics.jsonl with 'step' and term values; one panel per term."""
    rows = [r for r in records if r.get("kind") == "train_step"]
    names = sorted({k for r in rows for k, v in r.items()
                    if isinstance(v, (int, float)) and k not in ("step", "epoch", "time")})
    if not names:
        return None
    ncol = min(3, len(names))
    nrows = int(math.ceil(len(names) / ncol))
    fig, axes = _subplots(nrows, ncol, figsize=(4.5 * ncol, 3.2 * nrows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        pts = [(r["step"], r[name]) for r in rows if name in r]
        steps, values = zip(*pts)
        ax.plot(steps, values, lw=0.8, alpha=0.5, label="per step")
        if len(values) >= 10:
            k = max(len(values) // 20, 2)
            smooth = np.convolve(values, np.ones(k) / k, mode="valid")
            ax.plot(steps[k - 1:], smooth, lw=1.5, label=f"mean of {k}")
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return _savefig(fig, path, dpi=100)


def save_kl_per_latent(kl, path):
    """kl: (D,) mean KL of each latent dimension, in nats; inactive units sit near 0."""
    return _savefig(kl_per_latent_figure(kl), path, dpi=100)


def kl_per_latent_figure(kl):
    """The figure of save_kl_per_latent (open; the caller saves or closes it)."""
    kl = np.asarray(kl)
    order = np.argsort(kl)[::-1]
    fig, ax = _subplots(figsize=(max(4, 0.18 * len(kl) + 2), 3.4))
    ax.bar(np.arange(len(kl)), kl[order])
    ax.set_xlabel("latent dimension (sorted by KL)")
    ax.set_ylabel("KL(q(z_d|x) || p(z_d)) [nats]")
    # two lines: on one, the title of 20 latents was wider than the figure and cut off
    ax.set_title(f"KL per latent dimension: total {kl.sum():.2f} nats\n"
                 f"{int((kl > 0.01).sum())} of {len(kl)} above 0.01", fontsize=10)
    ax.set_xticks(np.arange(len(kl)))
    ax.set_xticklabels([str(i) for i in order], fontsize=6, rotation=90)
    fig.tight_layout()
    return fig


def save_pixel_nll(nll, path):
    """nll: (H, W) mean -log p(x_i | x_<i) per pixel, in nats."""
    nll = np.asarray(nll)
    fig, ax = _subplots(figsize=(4.5, 4))
    im = ax.imshow(nll, cmap="viridis", interpolation="nearest")
    fig.colorbar(im, ax=ax, label="nats")
    ax.set_title(f"per-pixel NLL, sum {nll.sum():.1f} nats")
    ax.axis("off")
    fig.tight_layout()
    return _savefig(fig, path, dpi=100)
