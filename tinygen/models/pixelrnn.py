"""PixelRNN: an autoregressive image model whose layers are two-dimensional LSTMs.

van den Oord, Kalchbrenner & Kavukcuoglu (2016), "Pixel Recurrent Neural Networks", ICML,
sec. 3.1-3.3 (binarized MNIST: Diagonal BiLSTM, 7 layers, h = 16, 79.20 nats).

The likelihood is PixelCNN's (see pixelcnn.py): p(x) = prod_i p(x_i | x_<i) in raster
order, one Bernoulli (or 256-way categorical) conditional per pixel, computed for every pixel
at once. The layers are:

    7x7 mask-A conv, 1 -> 2h
    n_layers x [ LSTM layer (2h -> h state), 1x1 conv h -> 2h, + residual ]
    ReLU, 1x1 conv 2h -> head, ReLU, 1x1 conv head -> outputs      (the mask-B 1x1 layers;
                                                                  one channel: no mask needed)

Each LSTM layer computes, at every position, gates i, f, g, o (4h) from the layer's input
(input-to-state K_is, computed for the whole image at once) and from the states of a
neighbourhood already computed (state-to-state K_ss, one step of a recurrence):

    [i, f, g, o] = K_is * x + K_ss * h_prev,   c = sigmoid(f) c_prev + sigmoid(i) tanh(g),
    h = sigmoid(o) tanh(c)

    Row LSTM        one step per row: K_is is a k x 1 mask-B conv along the row (columns <= j
                    of the input), K_ss an unmasked k x 1 conv over the previous row's states
                    (columns j - k//2 .. j + k//2). Pixel (i, j) sees a triangle above it.
    Diagonal BiLSTM one step per diagonal: skew the input (row i moved right by i, so each
                    diagonal is a column), K_is a 1x1 conv, K_ss a 2x1 conv over the previous
                    column's states at rows i - 1 and i (the pixels above and to the left),
                    unskew. A second LSTM runs right to left (on the mirrored image); its
                    output is shifted down one row (so that it sees only rows above) and
                    added. Pixel (i, j) sees every earlier pixel.

The recurrences loop over H rows or W + H - 1 diagonals; every step is a batched array op
over all images and all positions of the row (or diagonal).
"""
import sys
from dataclasses import dataclass, replace

import tinygen.nn as nn
import tinygen.nn.functional as F
from tinygen.models.pixelcnn import PixelCNN
from tinygen.nn.rnn import lstm_update, time_steps
from tinygen.ops import cat, down_shift, pad, skew, stack, unskew, zeros

PRESETS = {
    # the paper's binarized-MNIST model (Table 4): 7 layers, h = 16
    "mnist": dict(hidden=16, n_layers=7, head_channels=32),
    # trains in minutes on two cores
    "small": dict(hidden=8, n_layers=2, head_channels=16),
}
VARIANTS = ("row", "diagonal")


@dataclass
class PixelRNNConfig:
    variant: str = "diagonal"          # "row" (Row LSTM) | "diagonal" (Diagonal BiLSTM)
    in_channels: int = 1               # image channels (1: MNIST)
    likelihood: str = "bernoulli"      # "bernoulli" (binary pixels) | "categorical" (levels)
    levels: int = 256                  # classes of the categorical likelihood
    hidden: int = 16                   # h: LSTM state features (2h between layers)
    n_layers: int = 7                  # LSTM layers
    first_kernel: int = 7              # mask-A kernel size
    kernel: int = 3                    # Row LSTM: width k of its k x 1 convolutions
    head_channels: int = 32            # width of the 1x1 output head
    lr: float = 1e-3                   # Adam learning rate (configure_optimizers default)


# ---- layers, bottom-up ------------------------------------------------------------------

def neighbours(h, before, after):
    """The states around each position of a line, side by side: h (N, L, c) ->
    (N, L, (before + 1 + after) c) with h[l - before], ..., h[l + after] (zeros past the
    ends). A k x 1 convolution over the line is then one Linear."""
    L = h.shape[1]
    padded = pad(h, (0, 0, before, after))                   # (N, before + L + after, c)
    return cat([padded[:, t:t + L] for t in range(before + 1 + after)], -1)


class RowLSTM(nn.Module):
    """x (N, 2h, H, W) -> x + 1x1(LSTM states) (N, 2h, H, W): a recurrence over rows."""

    def __init__(self, channels, hidden, kernel):
        super().__init__()
        self.hidden, self.kernel = hidden, kernel
        self.input_to_state = nn.MaskedConv2d(channels, 4 * hidden, (1, kernel), mask_type="B",
                                              padding=(0, kernel // 2))
        self.state_to_state = nn.Linear(kernel * hidden, 4 * hidden, bias=False)
        self.output = nn.Conv2d(hidden, channels, 1)

    def forward(self, x):                                    # (N, 2h, H, W)
        N, _, H, W = x.shape
        a = time_steps(self.input_to_state(x).permute(2, 0, 3, 1))   # H x (N, W, 4h)
        h = c = zeros(N, W, self.hidden, dtype=x.dtype, device=x.device)
        k = self.kernel // 2
        rows = []
        for i in range(H):                                   # row i from row i - 1
            h, c = lstm_update(a[i] + self.state_to_state(neighbours(h, k, k)), c)
            rows.append(h)                                   # (N, W, h)
        h = stack(rows, 0).permute(1, 3, 0, 2)               # (N, h, H, W)
        return x + self.output(h)


class DiagonalBiLSTM(nn.Module):
    """x (N, 2h, H, W) -> x + 1x1(left-to-right + down_shift(right-to-left)) (N, 2h, H, W)."""

    def __init__(self, channels, hidden):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = nn.Conv2d(channels, 8 * hidden, 1)   # both directions' gates
        self.state_to_state = nn.Linear(2 * hidden, 4 * hidden, bias=False)
        self.state_to_state_reverse = nn.Linear(2 * hidden, 4 * hidden, bias=False)
        self.output = nn.Conv2d(hidden, channels, 1)

    def _diagonal_lstm(self, a, state_to_state):
        """States (N, h, H, W) of the left-to-right LSTM from its input gates a (N, 4h, H, W)."""
        N, _, H, W = a.shape
        h = c = zeros(N, H, self.hidden, dtype=a.dtype, device=a.device)
        a = time_steps(skew(a).permute(3, 0, 2, 1))          # W + H - 1 x (N, H, 4h)
        columns = []
        for d in range(W + H - 1):                           # diagonal d from diagonal d - 1
            h, c = lstm_update(a[d] + state_to_state(neighbours(h, 1, 0)), c)   # rows i-1, i
            columns.append(h)                                # (N, H, h)
        return unskew(stack(columns, 0).permute(1, 3, 2, 0))   # (N, h, H, W)

    def forward(self, x):                                    # (N, 2h, H, W)
        a = self.input_to_state(x)                           # (N, 8h, H, W)
        g = 4 * self.hidden
        left = self._diagonal_lstm(a[:, :g], self.state_to_state)
        mirror = (Ellipsis, slice(None, None, -1))           # columns reversed
        right = self._diagonal_lstm(a[:, g:][mirror], self.state_to_state_reverse)[mirror]
        # (i, j) of the right-to-left pass saw row i right of j: the row below may use it
        return x + self.output(left + down_shift(right))


# ---- the model ----------------------------------------------------------------------------

class PixelRNN(PixelCNN):
    """PixelRNN with Row LSTM or Diagonal BiLSTM layers; PixelCNN's likelihood, sampling,
    completion, training step and evaluation.

        model = PixelRNN("diagonal")                  # the paper's MNIST model
        model = PixelRNN("row", preset="small")
        t = model.terms(x)                            # x (N, 1, H, W) in {0, 1}
        t.log_p, t.nll, t.bits_per_dim
    """

    def __init__(self, variant=None, preset=None, config=None, **overrides):
        nn.Module.__init__(self)                  # PixelCNN's methods, not its layers
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"PixelRNN: unknown preset {preset!r}: expected one of "
                             f"{sorted(PRESETS)}")
        base = PixelRNNConfig(**PRESETS[preset]) if preset is not None else PixelRNNConfig()
        config = replace(config or base, **overrides)
        if variant is not None:
            config = replace(config, variant=variant)
        if config.variant not in VARIANTS:
            raise ValueError(f"PixelRNN: variant must be 'row' or 'diagonal', got "
                             f"{config.variant!r}")
        check_likelihood("PixelRNN", config)
        self.config = config
        c, k, h = 2 * config.hidden, config.first_kernel, config.hidden
        self.outputs_per_channel = 1 if config.likelihood == "bernoulli" else config.levels
        self.input_conv = nn.MaskedConv2d(config.in_channels, c, k, mask_type="A", padding=k // 2)
        if config.variant == "row":
            layers = [RowLSTM(c, h, config.kernel) for _ in range(config.n_layers)]
        else:
            layers = [DiagonalBiLSTM(c, h) for _ in range(config.n_layers)]
        self.layers = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, config.head_channels, 1)
        self.output_conv = nn.Conv2d(config.head_channels,
                                     config.in_channels * self.outputs_per_channel, 1)

    def logits(self, x):
        """The parameters of p(x_i | x_<i) for every pixel: x (N, C, H, W) -> (N, C, H, W)
        Bernoulli logits, or (N, levels, C, H, W) categorical logits."""
        h = self.layers(self.input_conv(x))                  # (N, 2h, H, W)
        h = F.relu(self.head(F.relu(h)))                     # (N, head, H, W)
        return self._per_pixel(self.output_conv(h))

    @property
    def receptive_radius(self):
        """Unbounded: the recurrences carry every row above (sampling runs on rows 0..r)."""
        return sys.maxsize


def check_likelihood(name, config):
    if config.in_channels != 1:
        raise ValueError(f"{name}: only single-channel images are supported (in_channels=1)")
    if config.likelihood not in ("bernoulli", "categorical"):
        raise ValueError(f"{name}: likelihood must be 'bernoulli' or 'categorical', got "
                         f"{config.likelihood!r}")
