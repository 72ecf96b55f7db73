"""PyTorch twins of tinygen's PixelRNN (Row LSTM, Diagonal BiLSTM) and Gated PixelCNN, for
bench_pixelrnn.py: the same layers, parameter names, initialization scheme (torch's default
Conv2d/Linear init, masked taps zeroed) and loss, so a tinygen state_dict loads into them and
both compute the same nll. Mirrors tinygen/models/pixelrnn.py and gated_pixelcnn.py."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class MaskedConv2d(nn.Conv2d):
    def __init__(self, cin, cout, k, mask_type, padding):
        super().__init__(cin, cout, k, padding=padding)
        kh, kw = self.kernel_size
        mask = torch.zeros(kh, kw)
        mask[:kh // 2] = 1
        mask[kh // 2, :kw // 2] = 1
        mask[kh // 2, kw // 2] = float(mask_type == "B")
        self.register_buffer("mask", mask, persistent=False)
        with torch.no_grad():
            self.weight *= mask

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def lstm_update(gates, c):
    i, f, g, o = gates.chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def neighbours(h, before, after):
    L = h.shape[1]
    p = F.pad(h, (0, 0, before, after))
    return torch.cat([p[:, t:t + L] for t in range(before + 1 + after)], -1)


def skew(x):
    N, C, H, W = x.shape
    y = x.new_zeros(N, C, H, W + H - 1)
    for i in range(H):
        y[:, :, i, i:i + W] = x[:, :, i]
    return y


def unskew(y):
    H = y.shape[2]
    W = y.shape[3] - H + 1
    return torch.stack([y[:, :, i, i:i + W] for i in range(H)], 2)


def down_shift(x):
    return F.pad(x[:, :, :-1], (0, 0, 1, 0))


class RowLSTM(nn.Module):
    def __init__(self, channels, hidden, kernel):
        super().__init__()
        self.hidden, self.kernel = hidden, kernel
        self.input_to_state = MaskedConv2d(channels, 4 * hidden, (1, kernel), "B", (0, kernel // 2))
        self.state_to_state = nn.Linear(kernel * hidden, 4 * hidden, bias=False)
        self.output = nn.Conv2d(hidden, channels, 1)

    def forward(self, x):
        N, _, H, W = x.shape
        a = self.input_to_state(x).permute(2, 0, 3, 1).unbind(0)
        h = c = x.new_zeros(N, W, self.hidden)
        k, rows = self.kernel // 2, []
        for i in range(H):
            h, c = lstm_update(a[i] + self.state_to_state(neighbours(h, k, k)), c)
            rows.append(h)
        return x + self.output(torch.stack(rows, 0).permute(1, 3, 0, 2))


class DiagonalBiLSTM(nn.Module):
    def __init__(self, channels, hidden):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = nn.Conv2d(channels, 8 * hidden, 1)
        self.state_to_state = nn.Linear(2 * hidden, 4 * hidden, bias=False)
        self.state_to_state_reverse = nn.Linear(2 * hidden, 4 * hidden, bias=False)
        self.output = nn.Conv2d(hidden, channels, 1)

    def _diagonal_lstm(self, a, s2s):
        N, _, H, W = a.shape
        h = c = a.new_zeros(N, H, self.hidden)
        a = skew(a).permute(3, 0, 2, 1).unbind(0)
        cols = []
        for d in range(W + H - 1):
            h, c = lstm_update(a[d] + s2s(neighbours(h, 1, 0)), c)
            cols.append(h)
        return unskew(torch.stack(cols, 0).permute(1, 3, 2, 0))

    def forward(self, x):
        a = self.input_to_state(x)
        g = 4 * self.hidden
        left = self._diagonal_lstm(a[:, :g], self.state_to_state)
        right = self._diagonal_lstm(a[:, g:].flip(3), self.state_to_state_reverse).flip(3)
        return x + self.output(left + down_shift(right))


class PixelRNN(nn.Module):
    def __init__(self, variant="diagonal", hidden=16, n_layers=7, first_kernel=7, kernel=3,
                 head_channels=32):
        super().__init__()
        c = 2 * hidden
        self.input_conv = MaskedConv2d(1, c, first_kernel, "A", first_kernel // 2)
        layer = (lambda: RowLSTM(c, hidden, kernel)) if variant == "row" else \
            (lambda: DiagonalBiLSTM(c, hidden))
        self.layers = nn.Sequential(*[layer() for _ in range(n_layers)])
        self.head = nn.Conv2d(c, head_channels, 1)
        self.output_conv = nn.Conv2d(head_channels, 1, 1)

    def logits(self, x):
        h = self.layers(self.input_conv(x))
        return self.output_conv(F.relu(self.head(F.relu(h))))


def gate(a):
    p = a.shape[1] // 2
    return torch.tanh(a[:, :p]) * torch.sigmoid(a[:, p:])


class GatedLayer(nn.Module):
    def __init__(self, cin, p, kernel, first):
        super().__init__()
        self.kernel, self.first = kernel, first
        self.vertical = nn.Conv2d(cin, 2 * p, (kernel // 2 + 1, kernel))
        self.horizontal = MaskedConv2d(cin, 2 * p, (1, kernel), "A" if first else "B",
                                       (0, kernel // 2))
        self.link = nn.Conv2d(2 * p, 2 * p, 1)
        self.output = nn.Conv2d(p, p, 1)

    def forward(self, v, h):
        k = self.kernel // 2
        v_pre = self.vertical(F.pad(v, (k, k, k, 0)))
        h_pre = self.horizontal(h) + self.link(down_shift(v_pre))
        h_out = self.output(gate(h_pre))
        return gate(v_pre), (h_out if self.first else h + h_out)


class GatedPixelCNN(nn.Module):
    def __init__(self, channels=32, n_layers=7, first_kernel=7, kernel=3, head_channels=64):
        super().__init__()
        self.layers = nn.ModuleList([GatedLayer(1 if i == 0 else channels, channels,
                                                first_kernel if i == 0 else kernel, i == 0)
                                     for i in range(n_layers)])
        self.head = nn.Conv2d(channels, head_channels, 1)
        self.output_conv = nn.Conv2d(head_channels, 1, 1)

    def logits(self, x):
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h)
        return self.output_conv(F.relu(self.head(F.relu(h))))


def loss(model, x):
    """Mean over images of nll = sum over pixels of -log p(x_i | x_<i) (Bernoulli)."""
    nll = F.binary_cross_entropy_with_logits(model.logits(x), x, reduction="none")
    return nll.sum(dim=(1, 2, 3)).mean()
