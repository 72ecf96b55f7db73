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
over all images and all positions of the row (or diagonal), and a layer's whole recurrence is
one graph node (tinygen/ops/recurrence.py: lstm_scan, forward and backward on arrays).

Sampling draws pixel by pixel. Every activation at position (r, c) depends on pixels before
(r, c) only, so it is final once computed: each draw computes every layer at its own
position only, from the states that earlier positions cached (O(H W) positions in all,
not O(H W) whole-network passes); `fill_rows(..., window=False)` is the slow reference.
"""
import sys
from dataclasses import dataclass, replace

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
from tinygen.models.base import ModelSpec
from tinygen.models.pixelcnn import PixelCNN, check_likelihood
from tinygen.nn.rnn import lstm_update
from tinygen.ops import cat, down_shift, lstm_scan, pad, skew, unskew, zeros

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
        a = self.input_to_state(x).permute(2, 0, 3, 1)       # (H, N, W, 4h): one step a row
        k = self.kernel // 2                                 # row i - 1, columns j-k..j+k
        h = lstm_scan(a, self.state_to_state.weight, k, k)   # (H, N, W, h)
        return x + self.output(h.permute(1, 3, 0, 2))

    # sampling: the layer at one position (r, c), from what earlier positions cached
    def sampling_cache(self, N, H, W, like):
        k, h = self.kernel // 2, self.hidden
        return {"input": _zeros_like(like, N, H, W + k, 2 * h),          # column offset k
                "h": _zeros_like(like, N, H + 1, W + 2 * k, h),          # row offset 1, col k
                "c": _zeros_like(like, N, H + 1, W, h)}                  # row offset 1

    def forward_at(self, v, cache, r, c):
        """v (N, 2h): this layer's input at (r, c) -> its output at (r, c)."""
        k = self.kernel // 2
        cache["input"][:, r, c + k] = v
        window = cache["input"][:, r, c:c + k + 1]           # (N, k + 1, 2h): columns c-k..c
        w = (self.input_to_state.weight * self.input_to_state.mask)[:, :, 0, :k + 1]
        a = F.linear(window.permute(0, 2, 1).reshape(v.shape[0], -1),
                     w.reshape(w.shape[0], -1), self.input_to_state.bias)
        above = cache["h"][:, r, c:c + 2 * k + 1]            # row r - 1, columns c-k..c+k
        h, cell = lstm_update(a + self.state_to_state(above.reshape(v.shape[0], -1)),
                              cache["c"][:, r, c])
        cache["h"][:, r + 1, c + k] = h
        cache["c"][:, r + 1, c] = cell
        return v + _pointwise(self.output, h)

    def end_row(self, cache, r):
        pass


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
        a = skew(a).permute(3, 0, 2, 1)                      # (W + H - 1, N, H, 4h)
        h = lstm_scan(a, state_to_state.weight, 1, 0)        # diagonal d - 1: rows i - 1, i
        return unskew(h.permute(1, 3, 2, 0))                 # (N, h, H, W)

    def forward(self, x):                                    # (N, 2h, H, W)
        a = self.input_to_state(x)                           # (N, 8h, H, W)
        g = 4 * self.hidden
        left = self._diagonal_lstm(a[:, :g], self.state_to_state)
        mirror = (Ellipsis, slice(None, None, -1))           # columns reversed
        right = self._diagonal_lstm(a[:, g:][mirror], self.state_to_state_reverse)[mirror]
        # (i, j) of the right-to-left pass saw row i right of j: the row below may use it
        return x + self.output(left + down_shift(right))

    # sampling: the left-to-right pass at one position (r, c); the right-to-left pass over
    # row r once the row is known (row r + 1 reads it). States off the image are zero.
    def sampling_cache(self, N, H, W, like):
        h = self.hidden
        return {"a_right": _zeros_like(like, N, H, W, 4 * h),
                "hL": _zeros_like(like, N, H + 1, W + 1, h),     # row offset 1, col offset 1
                "cL": _zeros_like(like, N, H + 1, W + 1, h),
                "hR": _zeros_like(like, N, H + 1, W + 1, h),     # row offset 1 (col W: zero)
                "cR": _zeros_like(like, N, H + 1, W + 1, h)}

    def forward_at(self, v, cache, r, c):
        """v (N, 2h): this layer's input at (r, c) -> its output at (r, c)."""
        g = 4 * self.hidden
        a = _pointwise(self.input_to_state, v)               # (N, 8h)
        cache["a_right"][:, r, c] = a[:, g:]
        above, left = cache["hL"][:, r, c + 1], cache["hL"][:, r + 1, c]
        h, cell = lstm_update(a[:, :g] + self.state_to_state(cat([above, left], -1)),
                              cache["cL"][:, r + 1, c])
        cache["hL"][:, r + 1, c + 1] = h
        cache["cL"][:, r + 1, c + 1] = cell
        return v + _pointwise(self.output, h + cache["hR"][:, r, c])    # right pass at (r-1, c)

    def end_row(self, cache, r):
        for j in range(cache["a_right"].shape[2] - 1, -1, -1):
            above, right = cache["hR"][:, r, j], cache["hR"][:, r + 1, j + 1]
            h, cell = lstm_update(cache["a_right"][:, r, j]
                                  + self.state_to_state_reverse(cat([above, right], -1)),
                                  cache["cR"][:, r + 1, j + 1])
            cache["hR"][:, r + 1, j] = h
            cache["cR"][:, r + 1, j] = cell


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
        """Unbounded: the recurrences carry every row above."""
        return sys.maxsize

    def fill_rows(self, x, first_row, window=True, **condition):
        """Sample rows first_row..H-1 of x (N, C, H, W) in place, pixel by pixel.

        Every activation at position (r, c) depends on the pixels before (r, c) only, so it
        is final once computed: for each pixel the fast path (window=True) computes every
        layer at that one position, from the activations that earlier positions cached.
        window=False is PixelCNN's reference: the whole network on rows 0..r per pixel."""
        if not window:
            return super().fill_rows(x, first_row, window=False, **condition)
        N, C, H, W = x.shape
        k = self.config.first_kernel // 2
        conv = self.input_conv
        w = (conv.weight * conv.mask)[:, :, :k + 1]          # rows above and the centre row
        w = w.reshape(w.shape[0], -1)
        with tg.no_grad():
            padded = pad(x, (k, k, k, 0))                    # (N, C, k + H, k + W + k)
            caches = [layer.sampling_cache(N, H, W, x) for layer in self.layers]
            for r in range(H):
                for c in range(W):
                    window_rc = padded[:, :, r:r + k + 1, c:c + 2 * k + 1]   # rows r-k..r
                    v = F.linear(window_rc.reshape(N, -1), w, conv.bias)      # (N, 2h)
                    for layer, cache in zip(self.layers, caches):
                        v = layer.forward_at(v, cache, r, c)
                    if r < first_row:
                        continue
                    y = _pointwise(self.output_conv, F.relu(_pointwise(self.head, F.relu(v))))
                    if self.config.likelihood == "bernoulli":
                        x[:, 0, r, c] = self.draw_pixel(y[:, 0])             # (N,)
                    else:
                        x[:, 0, r, c] = self.draw_pixel(y)                   # (N, levels)
                    padded[:, :, k + r, k + c] = x[:, :, r, c]
                for layer, cache in zip(self.layers, caches):
                    layer.end_row(cache, r)
        return x


def _pointwise(conv, v):
    """A 1x1 convolution at one position: v (N, C_in) -> (N, C_out)."""
    return F.linear(v, conv.weight.reshape(conv.weight.shape[0], -1), conv.bias)


def _zeros_like(x, *shape):
    return zeros(*shape, dtype=x.dtype, device=x.device)



SPEC = ModelSpec("pixelrnn", PixelRNN, lr=1e-3, epochs=5, presets=tuple(sorted(PRESETS)),
                 variants=VARIANTS, pictures=("samples", "completions", "receptive_field"))
