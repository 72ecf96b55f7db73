"""Recurrent layers as torch.nn: RNNCell, LSTMCell, GRUCell, and the sequence layers RNN, LSTM, GRU.

One step, for input x_t (N, I) and state h (N, H) (c (N, H) for the LSTM); W_ih (G H, I),
W_hh (G H, H) hold the G gate blocks stacked in torch's order, so weights load across:

    RNN   (G = 1)   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)            (or relu)
    LSTM  (G = 4)   i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh)
                    c' = sigmoid(f) c + sigmoid(i) tanh(g)
                    h' = sigmoid(o) tanh(c')
    GRU   (G = 3)   r, z, n from W_ih x + b_ih (a) and W_hh h + b_hh (b):
                    r = sigmoid(a_r + b_r),  z = sigmoid(a_z + b_z)
                    n = tanh(a_n + r b_n)
                    h' = (1 - z) n + z h

Every parameter starts as U(-1/sqrt(H), 1/sqrt(H)) (torch's init). The sequence layers
compute W_ih x for all time steps with one matmul, then loop over time (the recurrence is
sequential); with num_layers > 1 each layer reads the one below (dropout between layers in
training), and bidirectional=True runs a second pass right to left (parameters *_reverse)
whose outputs are concatenated to the forward pass's on the last dim.

Everything is built from differentiable ops, so gradients of gradients work.
"""
import math

from tinygen.nn import init
from tinygen.nn.module import Module, Parameter
from tinygen.ops import cat, dropout, linear, relu, sigmoid, stack, tanh, zeros
from tinygen.ops.factories import empty
from tinygen.ops.rearrange import Chunks

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def time_steps(x):
    """x (L, ...) -> the L tensors x[0], ..., x[L-1] (a recurrence's inputs, one per step)."""
    steps = Chunks(x.shape[0], 0, squeeze=True)(x)
    return steps if isinstance(steps, tuple) else (steps,)


# ---- one step of each cell, on the input projection a = W_ih x + b_ih ----------------------

def _rnn_step(a, h, w_hh, b_hh, nonlinearity):
    z = a + linear(h, w_hh, b_hh)
    return tanh(z) if nonlinearity == "tanh" else relu(z)


def lstm_update(gates, c):
    """The LSTM's state update from its gate pre-activations (..., 4H) in the order i, f, g, o
    and the cell c (..., H): returns (h', c'). PixelRNN's layers share it."""
    i, f, g, o = Chunks(4, gates.ndim - 1)(gates)
    i, f, g, o = sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
    c = f * c + i * g
    return o * tanh(c), c


def _lstm_step(a, h, c, w_hh, b_hh):
    return lstm_update(a + linear(h, w_hh, b_hh), c)         # gates (N, 4H): i, f, g, o


def _gru_step(a, h, w_hh, b_hh):
    b = linear(h, w_hh, b_hh)                                # (N, 3H): r, z, n
    H = h.shape[-1]
    r = sigmoid(a[..., :H] + b[..., :H])
    z = sigmoid(a[..., H:2 * H] + b[..., H:2 * H])
    n = tanh(a[..., 2 * H:] + r * b[..., 2 * H:])
    return n + z * (h - n)                                   # (1 - z) n + z h


def _uniform_init(module, hidden_size):
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


def _check_sizes(name, input_size, hidden_size):
    if not (isinstance(hidden_size, int) and hidden_size > 0):
        raise ValueError(f"{name}: hidden_size must be a positive int, got {hidden_size!r}")
    if not (isinstance(input_size, int) and input_size >= 0):
        raise ValueError(f"{name}: input_size must be a non-negative int, got {input_size!r}")


# ---- cells ---------------------------------------------------------------------------------

class RNNCellBase(Module):
    """weight_ih (G H, input_size), weight_hh (G H, H), bias_ih, bias_hh (G H,)."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G = num_chunks * hidden_size
        self.weight_ih = Parameter(empty(G, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(empty(G, hidden_size, dtype=dtype, device=device))
        for name in ("bias_ih", "bias_hh"):
            self.register_parameter(
                name, Parameter(empty(G, dtype=dtype, device=device)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_init(self, self.hidden_size)

    def _batched(self, input, states):
        """Add a batch dim to an unbatched (input_size,) input and its states; zero states."""
        name = type(self).__name__
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input (N, {self.input_size}) or "
                             f"({self.input_size},), got {tuple(input.shape)}")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        out = []
        for s in states:
            if s is None:
                s = zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
            elif not batched:
                s = s.unsqueeze(0)
            if tuple(s.shape) != (x.shape[0], self.hidden_size):
                raise ValueError(f"{name}: expected a state of shape "
                                 f"{(x.shape[0], self.hidden_size)[2 - input.ndim:]}, got "
                                 f"{tuple(s.shape) if batched else tuple(s.shape[1:])}")
            out.append(s)
        return x, out, batched

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        return s


class RNNCell(RNNCellBase):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh): input (N, I) or (I,), hx (N, H) -> h' (N, H)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r} "
                             f"(expected 'tanh' or 'relu')")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._batched(input, [hx])
        h = _rnn_step(linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh,
                      self.nonlinearity)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: input (N, I), hx = (h, c) each (N, H) -> (h', c'); gates i, f, g, o."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        x, (h, c), batched = self._batched(input, [None, None] if hx is None else list(hx))
        h, c = _lstm_step(linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh,
                          self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step: input (N, I), hx (N, H) -> h' (N, H); gates r, z, n."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._batched(input, [hx])
        h = _gru_step(linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)


# ---- sequence layers -----------------------------------------------------------------------

class RNNBase(Module):
    """The multi-layer, optionally bidirectional recurrence shared by RNN, LSTM and GRU.

    Parameters per layer k and direction (suffix '' or '_reverse'), registered in torch's
    order: weight_ih_l{k}{suffix} (G H, I_k), weight_hh_l{k}{suffix} (G H, H),
    bias_ih_l{k}{suffix}, bias_hh_l{k}{suffix} (G H,), with I_0 = input_size and
    I_k = D H above (D = 2 if bidirectional else 1)."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, device=None,
                 dtype=None):
        super().__init__()
        name = {"LSTM": "LSTM", "GRU": "GRU"}.get(mode, "RNN")
        _check_sizes(name, input_size, hidden_size)
        if not (isinstance(num_layers, int) and num_layers > 0):
            raise ValueError(f"{name}: num_layers must be a positive int, got {num_layers!r}")
        if not (isinstance(dropout, (int, float)) and 0 <= dropout <= 1):
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        if proj_size:
            raise ValueError(f"{name}: proj_size is not supported (got {proj_size})")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, 0
        G = _GATES[mode] * hidden_size
        D = 2 if bidirectional else 1
        for k in range(num_layers):
            I = input_size if k == 0 else D * hidden_size
            for suffix in ("", "_reverse")[:D]:
                shapes = {"weight_ih": (G, I), "weight_hh": (G, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(G,), bias_hh=(G,))
                for p, shape in shapes.items():
                    setattr(self, f"{p}_l{k}{suffix}",
                            Parameter(empty(*shape, dtype=dtype, device=device)))
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_init(self, self.hidden_size)

    def flatten_parameters(self):
        """A no-op: torch packs its weights for cuDNN here; ported code calls it."""

    def _weights(self, k, suffix):
        get = lambda p: getattr(self, f"{p}_l{k}{suffix}", None)       # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def _run(self, a, state, w_hh, b_hh, reverse):
        """The recurrence over time of one layer and direction: a (L, N, G H) the input
        projections, state a tuple of (N, H). Returns outputs (L, N, H) and the last state."""
        a = time_steps(a)
        steps = range(len(a) - 1, -1, -1) if reverse else range(len(a))
        out = [None] * len(a)
        for t in steps:
            if self.mode == "LSTM":
                state = _lstm_step(a[t], *state, w_hh, b_hh)
            elif self.mode == "GRU":
                state = (_gru_step(a[t], state[0], w_hh, b_hh),)
            else:
                state = (_rnn_step(a[t], state[0], w_hh, b_hh, self.mode[4:].lower()),)
            out[t] = state[0]
        return stack(out, 0), state

    def forward(self, input, hx=None):
        name = type(self).__name__
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input (L, N, {self.input_size}) (or (N, L, ...) "
                             f"with batch_first, or unbatched (L, {self.input_size})), got "
                             f"{tuple(input.shape)}")
        batched = input.ndim == 3
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)                            # (L, N, I)
        L, N = x.shape[0], x.shape[1]
        D, H = (2 if self.bidirectional else 1), self.hidden_size
        n_states = 2 if self.mode == "LSTM" else 1
        if hx is None:
            states = [zeros(self.num_layers * D, N, H, dtype=x.dtype, device=x.device)] * n_states
        else:
            states = list(hx) if self.mode == "LSTM" else [hx]
            if len(states) != n_states:
                raise ValueError(f"{name}: expected hx = (h_0, c_0), got {len(states)} tensors")
            states = [s if batched else s.unsqueeze(1) for s in states]
            for s in states:
                if tuple(s.shape) != (self.num_layers * D, N, H):
                    raise ValueError(f"{name}: expected a state of shape "
                                     f"{(self.num_layers * D, N, H)}, got {tuple(s.shape)}")
        if L == 0:
            raise ValueError(f"{name}: expected a sequence of length >= 1, got "
                             f"{tuple(input.shape)}")
        finals = [[] for _ in range(n_states)]
        for k in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:D]):
                w_ih, w_hh, b_ih, b_hh = self._weights(k, suffix)
                a = linear(x, w_ih, b_ih)                    # (L, N, G H): every step at once
                state = tuple(s[k * D + d] for s in states)
                out, state = self._run(a, state, w_hh, b_hh, reverse=d == 1)
                outs.append(out)
                for f, s in zip(finals, state):
                    f.append(s)
            x = outs[0] if D == 1 else cat(outs, -1)         # (L, N, D H)
            if self.dropout and self.training and k < self.num_layers - 1:
                x = dropout(x, self.dropout, True)
        finals = [stack(f, 0) for f in finals]               # (num_layers D, N, H) each
        if not batched:
            x, finals = x.squeeze(1), [f.squeeze(1) for f in finals]
        elif self.batch_first:
            x = x.transpose(0, 1)                            # (N, L, D H)
        return (x, tuple(finals)) if self.mode == "LSTM" else (x, finals[0])

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        for key, default in (("num_layers", 1), ("bias", True), ("batch_first", False),
                             ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, key) != default:
                s += f", {key}={getattr(self, key)}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or relu), per layer.

    input (L, N, I) (batch_first: (N, L, I); unbatched: (L, I)), h_0 (layers D, N, H).
    Returns output (L, N, D H) and h_n (layers D, N, H)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r} "
                             f"(expected 'tanh' or 'relu')")
        self.nonlinearity = nonlinearity
        super().__init__(f"RNN_{nonlinearity.upper()}", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)


class LSTM(RNNBase):
    """LSTM, torch's equations and gate order (i, f, g, o).

    input (L, N, I) (batch_first: (N, L, I); unbatched: (L, I)), hx = (h_0, c_0) each
    (layers D, N, H). Returns output (L, N, D H) and (h_n, c_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype)


class GRU(RNNBase):
    """GRU, torch's equations and gate order (r, z, n).

    input (L, N, I) (batch_first: (N, L, I); unbatched: (L, I)), h_0 (layers D, N, H).
    Returns output (L, N, D H) and h_n (layers D, N, H)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)
