"""Gated PixelCNN: PixelCNN without the blind spot, with gated units and class conditioning.

van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves & Kavukcuoglu (2016), "Conditional
Image Generation with PixelCNN Decoders", NeurIPS (binarized MNIST, in the PixelVAE paper's
reimplementation: 80.10 nats).

The likelihood is PixelCNN's (pixelcnn.py). A masked k x k kernel never sees the pixels up
and to the right beyond its reach (the blind spot); here two stacks replace it:

    vertical stack    v: a (k//2 + 1) x k convolution over rows i - k//2 .. i (every column
                      j - k//2 .. j + k//2, the current row included, so v at row i has seen
                      pixels of row i right of j: it may only be used one row down)
    horizontal stack  h: a 1 x k mask-B convolution over row i, columns <= j (mask A in the
                      first layer: columns < j), plus the vertical stack shifted down one row
                      through a 1x1 link

and every layer gates its 2p pre-activations (p features each half):

    v_pre = conv_v(v) [+ V_v e(y)]            v' = tanh(v_pre[:p]) * sigmoid(v_pre[p:])
    h_pre = conv_h(h) + link(down_shift(v_pre)) [+ V_h e(y)]
    h' = h + 1x1(tanh(h_pre[:p]) * sigmoid(h_pre[p:]))          (no residual in layer 1)

with e(y) the one-hot class label (y: "draw a 7"), so V e(y) is a learned embedding of the
class added as a bias. The output head is ReLU, 1x1 p -> head, ReLU, 1x1 head -> outputs,
on the horizontal stack. Pixel (i, j) sees every pixel of the rows above within the stacks'
reach (k//2 per layer), and every pixel left of it within the horizontal reach.
"""
from dataclasses import dataclass, replace

import numpy as np

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
from tinygen.models.base import ModelSpec
from tinygen.models.pixelcnn import PixelCNN, check_likelihood
from tinygen.ops import down_shift, gated_tanh, pad

PRESETS = {
    # binarized MNIST: 7x7 first layer, 6 gated 3x3 layers, 32 features per stack
    "mnist": dict(channels=32, n_layers=7, head_channels=64),
    # trains in minutes on two cores
    "small": dict(channels=16, n_layers=4, head_channels=32),
}


@dataclass
class GatedPixelCNNConfig:
    in_channels: int = 1               # image channels (1: MNIST)
    likelihood: str = "bernoulli"      # "bernoulli" (binary pixels) | "categorical" (levels)
    levels: int = 256                  # classes of the categorical likelihood
    channels: int = 32                 # p: features of each stack
    n_layers: int = 7                  # gated layers (the first has the first_kernel)
    first_kernel: int = 7              # kernel width k of layer 1
    kernel: int = 3                    # kernel width k of the later layers
    head_channels: int = 64            # width of the 1x1 output head
    n_classes: int = 0                 # > 0: condition on class labels y
    lr: float = 1e-3                   # Adam learning rate (configure_optimizers default)


def gate(a):
    """tanh(a[:, :p]) * sigmoid(a[:, p:]) for a (N, 2p, H, W), as one op."""
    return gated_tanh(a, 1)


class GatedLayer(nn.Module):
    """(v, h) (N, c_in, H, W) each -> (v', h') (N, p, H, W) each; see the module docstring."""

    def __init__(self, in_channels, channels, kernel, first, n_classes):
        super().__init__()
        self.kernel, self.first = kernel, first
        p2 = 2 * channels
        self.vertical = nn.Conv2d(in_channels, p2, (kernel // 2 + 1, kernel))
        self.horizontal = nn.MaskedConv2d(in_channels, p2, (1, kernel),
                                          mask_type="A" if first else "B",
                                          padding=(0, kernel // 2))
        self.link = nn.Conv2d(p2, p2, 1)
        self.output = nn.Conv2d(channels, channels, 1)
        if n_classes:
            self.class_vertical = nn.Linear(n_classes, p2, bias=False)
            self.class_horizontal = nn.Linear(n_classes, p2, bias=False)

    def forward(self, v, h, y=None):                         # y (N, n_classes) one-hot or None
        k = self.kernel // 2
        v_pre = self.vertical(pad(v, (k, k, k, 0)))          # (N, 2p, H, W): rows i-k..i
        if y is not None:
            v_pre = v_pre + self.class_vertical(y)[:, :, None, None]
        h_pre = self.horizontal(h) + self.link(down_shift(v_pre))   # v from rows < i only
        if y is not None:
            h_pre = h_pre + self.class_horizontal(y)[:, :, None, None]
        h_out = self.output(gate(h_pre))
        return gate(v_pre), (h_out if self.first else h + h_out)


class GatedPixelCNN(PixelCNN):
    """Gated PixelCNN, optionally class-conditional; PixelCNN's likelihood record, sampling,
    completion, training step and evaluation (terms, loss, sample, complete and
    training_step pass the labels y on to logits).

        model = GatedPixelCNN()                        # binarized MNIST, any H x W
        model = GatedPixelCNN(n_classes=10)
        t = model.terms(x, y)                          # y (N,) int labels
        model.sample(16, y=tg.tensor([7] * 16))        # sixteen sevens
    """

    def __init__(self, config=None, preset=None, **overrides):
        nn.Module.__init__(self)                  # PixelCNN's methods, not its layers
        if isinstance(config, str):
            config, preset = None, config
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"GatedPixelCNN: unknown preset {preset!r}: expected one of "
                             f"{sorted(PRESETS)}")
        base = GatedPixelCNNConfig(**PRESETS.get(preset, {}))
        config = replace(config or base, **overrides)
        check_likelihood("GatedPixelCNN", config)
        self.config = config
        p = config.channels
        self.outputs_per_channel = 1 if config.likelihood == "bernoulli" else config.levels
        self.layers = nn.ModuleList([
            GatedLayer(config.in_channels if i == 0 else p, p,
                       config.first_kernel if i == 0 else config.kernel, i == 0, config.n_classes)
            for i in range(config.n_layers)])
        self.head = nn.Conv2d(p, config.head_channels, 1)
        self.output_conv = nn.Conv2d(config.head_channels,
                                     config.in_channels * self.outputs_per_channel, 1)

    def _one_hot(self, y, n):
        """Labels y (N,) ints, or (N, n_classes) one-hot, as a (N, n_classes) float Tensor."""
        if y is None:
            if self.config.n_classes:
                raise ValueError("GatedPixelCNN: this model is class-conditional "
                                 f"(n_classes={self.config.n_classes}): pass labels y")
            return None
        if not self.config.n_classes:
            raise ValueError("GatedPixelCNN: labels y given to an unconditional model "
                             "(build it with n_classes > 0)")
        p = next(self.parameters())
        labels = np.asarray(tg.backend.to_numpy(y.array if isinstance(y, tg.Tensor) else y))
        if labels.ndim == 1:
            K = self.config.n_classes
            if labels.shape[0] != n:
                raise ValueError(f"GatedPixelCNN: expected {n} labels, got {labels.shape[0]}")
            bad = np.flatnonzero((labels < 0) | (labels >= K))
            if bad.size:   # name the first few, not all of a batch's labels
                shown = ", ".join(f"{labels[i].item()!r} at {i}" for i in bad[:3])
                raise ValueError(f"GatedPixelCNN: labels must lie in [0, {K}); {bad.size} of "
                                 f"{n} do not: {shown}{', ...' if bad.size > 3 else ''}")
            labels = np.eye(K)[labels.astype(np.int64)]
        if labels.shape != (n, self.config.n_classes):
            raise ValueError(f"GatedPixelCNN: expected labels (N,) or one-hot "
                             f"{(n, self.config.n_classes)}, got {labels.shape}")
        return tg.tensor(labels, dtype=p.dtype, device=p.device)

    def condition(self, y):
        """{"y": y}, the labels a class-conditional model's terms, sample, complete and
        training_step take (nothing for an unconditional one)."""
        return {"y": y} if self.config.n_classes else {}

    def evaluate(self, data, limit=None, batch_size=256):
        """PixelCNN's test nll; a class-conditional model's is -log p(x | y) with each image's
        own label y, and the metrics say so under "likelihood"."""
        metrics = super().evaluate(data, limit, batch_size)
        if self.config.n_classes:
            metrics["likelihood"] = "conditional: nll = -log p(x | y), y the image's label"
        return metrics

    def logits(self, x, y=None):
        """x (N, C, H, W) [, labels y] -> (N, C, H, W) Bernoulli logits, or
        (N, levels, C, H, W) categorical logits."""
        y = self._one_hot(y, x.shape[0])
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h, y)                            # (N, p, H, W) each
        h = F.relu(self.head(F.relu(h)))                     # (N, head, H, W)
        return self._per_pixel(self.output_conv(h))

    @property
    def receptive_radius(self):
        """R: output pixel p depends on input pixels at most R rows/columns away from p (the
        vertical stack reaches k//2 rows and columns per layer, plus the one-row shift)."""
        c = self.config
        return c.first_kernel // 2 + (c.n_layers - 1) * (c.kernel // 2) + 1


SPEC = ModelSpec("gated-pixelcnn", GatedPixelCNN, lr=1e-3, epochs=5,
                 presets=tuple(sorted(PRESETS)), conditional=True,
                 pictures=("samples", "completions", "receptive_field"))
