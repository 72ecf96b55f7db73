"""PixelCNN: an autoregressive image model made of masked convolutions.

van den Oord, Kalchbrenner & Kavukcuoglu (2016), "Pixel Recurrent Neural Networks", ICML.

The joint distribution of an image x with pixels x_1 .. x_D in raster order (row by row,
left to right; D = H W for one channel) is factorized exactly by the chain rule:

    p(x) = prod_{i=1..D} p(x_i | x_1, ..., x_{i-1})

One network computes every conditional at once. Its convolutions are masked so that the
output at pixel i sees only pixels j < i:

    mask A  (first layer, k x k):  weights at the centre and after it (raster order) are 0,
                                   so output i depends on x_{<i} only
    mask B  (later layers):        the centre is kept, so feature i may use feature i of the
                                   layer below, which itself saw only x_{<i}
    1 x 1 convolutions             mix channels at one pixel: they keep the property

The last layer gives, for each pixel, the parameters of its conditional:

    Bernoulli (binary images)      p(x_i = 1 | x_<i) = sigmoid(l_i)
                                   log p(x_i | x_<i) = x_i l_i - softplus(l_i)
    256-way categorical (gray)     x_i in {0, ..., 255},  log p(x_i = k | x_<i) = log_softmax(l_i)_k

and the negative log-likelihood of an image, in nats and in bits per dimension:

    nll(x) = - sum_i log p(x_i | x_<i)          bits/dim = nll(x) / (D ln 2)

Training minimises the mean nll over a batch (maximum likelihood, exact: no bound).
Sampling is sequential: draw x_1, put it in the image, run the network again for x_2, ...
(D forward passes). Pixel i only sees what lies within the network's receptive radius above
and beside it, so each pass runs on that window of the image only.

Two architectures:
    "residual" (the paper's, Table 2 / Fig. 5): 7x7 mask A conv 1 -> 2h; blocks of
               [ReLU, 1x1 2h -> h, ReLU, 3x3 mask B h -> h, ReLU, 1x1 h -> 2h] + skip;
               ReLU, 1x1 2h -> head, ReLU, 1x1 head -> outputs.
    "plain"    (preset "b3", docs/benchmarks.md B3): 7x7 mask A conv 1 -> 64; 5 x [3x3 mask B
               64 -> 64, ReLU]; 1x1 64 -> 64, ReLU; 1x1 64 -> outputs.

Presets (PRESETS, `PixelCNN("small")` or `--preset small`): "b3" the plain stack, "residual"
the paper's sizes (the default), "small" 3 residual blocks of 16 channels, which trains in
minutes on two cores.

Images have one channel here (MNIST). Both architectures are fully convolutional: any H x W.
"""
import math
from dataclasses import asdict, dataclass, replace

import numpy as np

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
import tinygen.optim as optim
from tinygen.models.base import GenerativeModel, ModelSpec, eval_batches
from tinygen.models.record import Record

PRESETS = {
    # docs/benchmarks.md B3: the plain stack of mask-B convolutions
    "b3": dict(architecture="plain", channels=64, n_layers=5, head_channels=64),
    # the paper's residual blocks
    "residual": dict(architecture="residual", channels=64, n_layers=8, head_channels=64),
    # the paper's blocks, fewer and narrower: trains in minutes on two cores
    "small": dict(architecture="residual", channels=16, n_layers=3, head_channels=32),
}


@dataclass
class PixelCNNConfig:
    in_channels: int = 1               # image channels (1: MNIST)
    likelihood: str = "bernoulli"      # "bernoulli" (binary pixels) | "categorical" (levels)
    levels: int = 256                  # classes of the categorical likelihood
    architecture: str = "residual"     # "residual" (paper) | "plain" (B3)
    channels: int = 64                 # feature maps between layers (2h in the paper)
    n_layers: int = 8                  # residual blocks, or mask-B layers of the plain stack
    first_kernel: int = 7              # mask-A kernel size
    kernel: int = 3                    # mask-B kernel size
    head_channels: int = 64            # width of the 1x1 output head
    lr: float = 1e-3                   # Adam learning rate (configure_optimizers default)


# ---- layers, bottom-up ------------------------------------------------------------------

class ResidualBlock(nn.Module):
    """h + [ReLU, 1x1 2h -> h, ReLU, kxk mask B h -> h, ReLU, 1x1 h -> 2h](h)   (paper, Fig. 5)."""

    def __init__(self, channels, kernel):
        super().__init__()
        half = channels // 2
        self.down = nn.Conv2d(channels, half, 1)
        self.masked = nn.MaskedConv2d(half, half, kernel, mask_type="B", padding=kernel // 2)
        self.up = nn.Conv2d(half, channels, 1)

    def forward(self, h):                                    # (N, 2h, H, W)
        y = self.down(F.relu(h))                             # (N, h, H, W)
        y = self.masked(F.relu(y))                           # (N, h, H, W)
        y = self.up(F.relu(y))                               # (N, 2h, H, W)
        return h + y


class PlainLayer(nn.Module):
    """ReLU(kxk mask B conv): one layer of the B3 stack."""

    def __init__(self, channels, kernel):
        super().__init__()
        self.masked = nn.MaskedConv2d(channels, channels, kernel, mask_type="B",
                                      padding=kernel // 2)

    def forward(self, h):                                    # (N, c, H, W)
        return F.relu(self.masked(h))


# ---- the model ----------------------------------------------------------------------------

def check_likelihood(name, config):
    """The autoregressive models' images and likelihood: one channel, Bernoulli or
    categorical conditionals (ValueError otherwise)."""
    if config.in_channels != 1:
        raise ValueError(f"{name}: only single-channel images are supported (in_channels=1); "
                         "colour needs channel-group masks (R -> G -> B)")
    if config.likelihood not in ("bernoulli", "categorical"):
        raise ValueError(f"{name}: likelihood must be 'bernoulli' or 'categorical', got "
                         f"{config.likelihood!r}")


class PixelCNN(GenerativeModel):
    """PixelCNN with a Bernoulli (binary) or 256-way categorical (gray) output per pixel.

        model = PixelCNN()                    # residual blocks, Bernoulli, any H x W
        model = PixelCNN(preset="b3")         # docs/benchmarks.md B3
        t = model.terms(x)                    # x (N, 1, H, W) in {0, 1}
        t.log_p                               # (N, 1, H, W)  log p(x_i | x_<i)
        t.nll, t.bits_per_dim                 # (N,)
    """

    def __init__(self, config=None, preset=None, **overrides):
        super().__init__()
        if isinstance(config, str):  # PixelCNN("b3"), as VAE("iwae") and AutoEncoder("b4")
            config, preset = None, config
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}: expected one of {sorted(PRESETS)}")
        base = PixelCNNConfig(**PRESETS[preset]) if preset is not None else PixelCNNConfig()
        config = replace(config or base, **overrides)
        check_likelihood("PixelCNN", config)
        if config.architecture not in ("residual", "plain"):
            raise ValueError(f"architecture must be 'residual' or 'plain', got "
                             f"{config.architecture!r}")
        self.config = config
        c, k = config.channels, config.first_kernel
        self.outputs_per_channel = 1 if config.likelihood == "bernoulli" else config.levels
        self.input_conv = nn.MaskedConv2d(config.in_channels, c, k, mask_type="A", padding=k // 2)
        layer = ResidualBlock if config.architecture == "residual" else PlainLayer
        self.layers = nn.Sequential(*[layer(c, config.kernel) for _ in range(config.n_layers)])
        self.head = nn.Conv2d(c, config.head_channels, 1)
        self.output_conv = nn.Conv2d(config.head_channels,
                                     config.in_channels * self.outputs_per_channel, 1)

    # ---- the conditionals --------------------------------------------------------------

    def logits(self, x):
        """The parameters of p(x_i | x_<i) for every pixel.

        x (N, C, H, W) in [0, 1]. Returns (N, C, H, W) Bernoulli logits, or
        (N, levels, C, H, W) categorical logits (classes on dim 1, as cross_entropy wants)."""
        h = self.input_conv(x)                               # (N, c, H, W)
        if self.config.architecture == "residual":
            h = F.relu(self.layers(h))                       # the paper's ReLU before the head
        else:
            h = self.layers(h)                               # B3: every plain layer ends in ReLU
        h = F.relu(self.head(h))                             # (N, head, H, W)
        return self._per_pixel(self.output_conv(h))          # (N, C * outputs, H, W)

    def _per_pixel(self, y):
        """The output layer's (N, C * outputs, H, W) as Bernoulli logits (N, C, H, W) or
        categorical logits (N, levels, C, H, W)."""
        if self.config.likelihood == "bernoulli":
            return y
        N, _, H, W = y.shape
        return y.reshape(N, self.config.in_channels, self.config.levels, H, W).transpose(1, 2)

    def targets(self, x):
        """The discrete value of every pixel: x itself (binary), or round(x (levels - 1))."""
        if self.config.likelihood == "bernoulli":
            return x
        xp = tg.backend.array_module(x.device)
        k = xp.rint(x.array * (self.config.levels - 1)).astype(np.int64)
        return tg.Tensor.wrap(k, x.device, False)           # (N, C, H, W) int64

    def terms(self, x, **condition):
        """Record of log_p (N, C, H, W) = log p(x_i | x_<i), nll (N,) nats, bits_per_dim (N,).

        nll = -log_p summed over pixels; bits_per_dim = nll / (C H W ln 2). condition: what a
        conditional model's logits take besides x (GatedPixelCNN's labels y)."""
        return self._record(x, self.logits(x, **condition))

    def _record(self, x, logits):
        """The likelihood record of images x under the conditionals with these logits."""
        if self.config.likelihood == "bernoulli":
            log_p = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        else:
            log_p = -F.cross_entropy(logits, self.targets(x), reduction="none")   # (N, C, H, W)
        nll = -log_p.sum(dim=(1, 2, 3))                      # (N,)
        dims = x.shape[1] * x.shape[2] * x.shape[3]
        return Record(log_p=log_p, nll=nll, bits_per_dim=nll * (1.0 / (dims * math.log(2.0))))

    def loss(self, x, **condition):
        """Mean nll over the batch (nats per image)."""
        return self.terms(x, **condition).nll.mean()

    # ---- sampling ----------------------------------------------------------------------

    def _device_dtype(self):
        p = next(self.parameters())
        return p.device, p.dtype

    def draw_pixel(self, logits):
        """One draw per row of logits: (N,) Bernoulli logits, or (N, levels) categorical."""
        device, dtype = self._device_dtype()
        u = tg.rand(logits.shape, dtype=dtype, device=device)
        if self.config.likelihood == "bernoulli":
            return (u.array < tg.sigmoid(logits).array).astype(dtype)
        # Gumbel-max: argmax(l + g) with g = -log(-log u) is a draw from softmax(l)
        xp = tg.backend.array_module(device)
        u = xp.clip(u.array, 1e-12, 1.0 - 1e-7)
        k = xp.argmax(logits.array - xp.log(-xp.log(u)), axis=1)
        return (k / (self.config.levels - 1)).astype(dtype)

    @property
    def receptive_radius(self):
        """R: output pixel p depends on input pixels at most R rows/columns away from p."""
        return self.config.first_kernel // 2 + self.config.n_layers * (self.config.kernel // 2)

    def fill_rows(self, x, first_row, window=True, **condition):
        """Sample rows first_row..H-1 of x (N, C, H, W) in place, pixel by pixel (condition:
        keyword arguments of logits, e.g. class labels y).

        Pixel (r, c) is computed on the window of rows r-R..r and columns c-R..c+R only
        (R = receptive_radius, clipped at the image border): every activation that reaches
        (r, c) lies inside it, so its logits are those of the whole image, at a fraction
        of the cost. window=False runs the network on rows 0..r instead."""
        _, C, H, W = x.shape
        R = self.receptive_radius if window else max(H, W)
        with tg.no_grad():
            for r in range(first_row, H):
                for c in range(W):
                    top, left, right = max(0, r - R), max(0, c - R), min(W, c + R + 1)
                    logits = self.logits(x[:, :, top:r + 1, left:right], **condition)
                    for ch in range(C):
                        if self.config.likelihood == "bernoulli":
                            l_i = logits[:, ch, r - top, c - left]            # (N,)
                        else:
                            l_i = logits[:, :, ch, r - top, c - left]         # (N, levels)
                        x[:, ch, r, c] = self.draw_pixel(l_i)
        return x

    def sample(self, n, shape=(1, 28, 28), **condition):
        """n images (n, C, H, W) drawn from the model, pixel by pixel (binary 0/1, or gray
        levels k / (levels - 1)). Seeded by tg.manual_seed."""
        device, dtype = self._device_dtype()
        x = tg.zeros(n, *shape, dtype=dtype, device=device)
        return self.fill_rows(x, 0, **condition)

    def complete(self, x, known_rows=None, **condition):
        """Copies of images x (N, C, H, W) whose rows >= known_rows (default H // 2) are
        sampled from p(x_bottom | x_top); the top rows are kept as given."""
        known_rows = x.shape[2] // 2 if known_rows is None else int(known_rows)
        device, dtype = self._device_dtype()
        out = tg.tensor(x.array, dtype=dtype, device=device)
        out[:, :, known_rows:] = 0                           # nothing of the bottom is seen
        return self.fill_rows(out, known_rows, **condition)

    # ---- training and evaluation -------------------------------------------------------

    def configure_optimizers(self, lr=None):
        return {"adam": optim.Adam(self.parameters(), lr=lr or self.config.lr)}

    def training_step(self, x, optimizers, **condition):
        """One Adam step on the mean nll of batch x (N, 1, H, W) (binary for Bernoulli); returns
        loss and bits_per_dim as 0-d arrays on the model's device (no host sync)."""
        opt = optimizers["adam"]
        opt.zero_grad()
        t = self.terms(x, **condition)
        loss = t.nll.mean()
        loss.backward()
        opt.step()
        return {"loss": loss.array, "bits_per_dim": t.bits_per_dim.array.mean()}

    def evaluate(self, data, limit=None, batch_size=256):
        """Test nll of data: an ImageDataset, a DataLoader, or images (N, C, H, W).

        Binary models need binary images (e.g. a dataset with binarize='dynamic': one fresh
        draw per image); a class-conditional model takes each image's label from the dataset
        or loader. Returns {"nll": mean nats, "nll_se": its standard error, "bits_per_dim":
        mean, "n": images}."""
        nlls, dims = [], None
        device, dtype = self._device_dtype()
        with tg.no_grad():
            for x, y in eval_batches(data, batch_size, limit):
                x = tg.tensor(getattr(x, "array", x), dtype=dtype, device=device)
                binary = bool(((x.array == 0) | (x.array == 1)).all())
                if self.config.likelihood == "bernoulli" and not binary:
                    raise ValueError("evaluate: a Bernoulli PixelCNN needs binary images "
                                     "(load the test set with binarize='dynamic')")
                nll = self.terms(x, **self.condition(y)).nll
                nlls.append(tg.backend.to_numpy(nll.array).astype(np.float64))
                dims = x.shape[1] * x.shape[2] * x.shape[3]
        nll = np.concatenate(nlls)
        return {"nll": float(nll.mean()), "nll_se": float(nll.std() / np.sqrt(len(nll))),
                "bits_per_dim": float(nll.mean() / (dims * math.log(2.0))), "n": int(len(nll))}

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())



SPEC = ModelSpec("pixelcnn", PixelCNN, lr=1e-3, epochs=5, presets=tuple(sorted(PRESETS)),
                 pictures=("samples", "completions", "receptive_field"))
