"""lstm_scan: a whole LSTM recurrence as one op (PixelRNN's Row LSTM and Diagonal BiLSTM).

A recurrence of L steps, each over a line of M positions (a row, a diagonal; M = 1 for a
sequence LSTM), in N images at once. Step t's gate pre-activations are its input part
gates[t] plus a K x 1 convolution (K = before + 1 + after) over the previous step's states:
at position m, the states h[t-1, m - before .. m + after] side by side (zeros past the
ends), times weight^T:

    z = gates[t] + [h[t-1, m - before], ..., h[t-1, m + after]] @ weight^T     (N, M, 4H)
    i, f, g, o = sigmoid(z_i), sigmoid(z_f), tanh(z_g), sigmoid(z_o)
    c[t] = f c[t-1] + i g,     h[t] = o tanh(c[t]),          h[-1] = c[-1] = 0

Written with per-step ops (`lstm_scan_reference`, the definition), a step is ~17 graph nodes
and its backward twice as many: the Row LSTM's training step spent most of its time in
Python, per row. LSTMScan runs forward and backward on arrays instead, one node in the
graph; a step's state-to-state convolution is one matrix product over every position and
image. Its backward is backpropagation through time (LSTMScanGrad.forward):

    dh  = gh[t] + (from step t + 1, through its neighbours)
    dc  = dc_next + dh o (1 - tanh(c)^2)
    dz  = [dc g i (1 - i),  dc c[t-1] f (1 - f),  dc i (1 - g^2),  dh tanh(c) o (1 - o)]
    dc_next = dc f,   dW += dz^T neighbours(h[t-1]),   dh_next = adjoint-neighbours(dz W)

The N images' recurrences never meet, so on the CPU both passes split the images over
tinygen's worker threads, each thread running every step of its images (the weight gradient
is then the sum of the threads' parts): one hand-off a recurrence, not one a step.

LSTMScanGrad is itself a node (inputs gates, weight, gh), so second derivatives work: its
backward differentiates the reference recurrence twice, on copies of its inputs (slow, but
only gradgradcheck and create_graph users pay it). Third derivatives are not implemented.
"""
import contextlib

import numpy as np

from tinygen import kernels
from tinygen.autograd import grad_mode
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module
from tinygen.ops.elementwise import sigmoid, tanh
from tinygen.ops.shape import cat, pad, stack


def _neighbours(h, before, after, out):
    """h (N, M, H) -> out (N, M, K H): block t holds h[:, m + t - before] (zeros off the line)."""
    M, H = h.shape[1], h.shape[2]
    for t in range(before + 1 + after):
        s = t - before
        lo, hi = max(0, -s), min(M, M - s)
        block = out[:, :, t * H:(t + 1) * H]
        block[:, :lo] = 0
        block[:, hi:] = 0
        block[:, lo:hi] = h[:, lo + s:hi + s]
    return out


def _neighbours_adjoint(xp, g, before, after, H):
    """The adjoint of _neighbours: g (N, M, K H) -> (N, M, H), each block added back to the
    positions it was read from."""
    N, M = g.shape[:2]
    out = xp.zeros((N, M, H), dtype=g.dtype)
    for t in range(before + 1 + after):
        s = t - before
        lo, hi = max(0, -s), min(M, M - s)
        out[:, lo + s:hi + s] += g[:, lo:hi, t * H:(t + 1) * H]
    return out


def _over_samples(xp, gates_shape, run):
    """[run(lo, hi)] over the N images of gates (L, N, M, 4H), whose recurrences never meet:
    NumPy arrays split over tinygen's worker threads, each thread running all L steps of its
    images (one hand-off a recurrence, where splitting each step's small ops was one a step),
    slices of at least GRAIN gate values a step; CuPy arrays whole."""
    N = gates_shape[1]
    if xp is not np:
        return [run(0, N)]
    from tinygen.kernels.threads import over_rows
    return over_rows(N, gates_shape[2] * gates_shape[3], run)


def _products(device):
    """The matrix product of `device`'s kernels, and a scope that keeps BLAS on one thread for
    a whole recurrence (hundreds of small products; tinygen/kernels/threads.py says why)."""
    matmul = kernels.implementation("matmul", device).matmul
    if device != "cpu":
        return matmul, contextlib.nullcontext()
    from tinygen.kernels.threads import blas_on_one_thread
    return matmul, blas_on_one_thread()


class LSTMScan(Function):
    def __init__(self, before, after):
        self.before, self.after = before, after

    def forward(self, gates, weight):                     # (L, N, M, 4H), (4H, K H)
        xp = get_array_module(gates)
        L, N, M, G = gates.shape
        H = G // 4
        acts = xp.empty((L, N, M, G), dtype=gates.dtype)  # sigmoid i, f; tanh g; sigmoid o
        cells = xp.empty((L, N, M, H), dtype=gates.dtype)
        tanh_cells = xp.empty((L, N, M, H), dtype=gates.dtype)
        hs = xp.empty((L, N, M, H), dtype=gates.dtype)
        nb = xp.empty((N, M, weight.shape[1]), dtype=gates.dtype)
        wt = weight.T                                     # (K H, 4H)
        matmul, scope = _products(self.device)
        sigmoid_kernel = kernels.implementation("fused", kernels.device_of(gates)).sigmoid

        def run(lo, hi):                                  # images [lo, hi), all L steps
            for t in range(L):
                self._step(xp, matmul, sigmoid_kernel, gates, wt, acts, cells, tanh_cells, hs,
                           nb, t, slice(lo, hi))

        with scope:
            _over_samples(xp, gates.shape, run)
        self.acts, self.cells, self.tanh_cells = acts, cells, tanh_cells
        return hs                                         # (L, N, M, H)

    def _step(self, xp, matmul, sigmoid_kernel, gates, wt, acts, cells, tanh_cells, hs, nb, t, n):
        H = hs.shape[-1]
        z = gates[t, n]
        if t > 0:
            z = z + matmul(_neighbours(hs[t - 1, n], self.before, self.after, nb[n]), wt)
        a = acts[t, n]
        a[..., :2 * H] = sigmoid_kernel(z[..., :2 * H])                       # i, f
        xp.tanh(z[..., 2 * H:3 * H], out=a[..., 2 * H:3 * H])             # g
        a[..., 3 * H:] = sigmoid_kernel(z[..., 3 * H:])                       # o
        c = cells[t, n]
        xp.multiply(a[..., :H], a[..., 2 * H:3 * H], out=c)              # i g
        if t > 0:
            c += a[..., H:2 * H] * cells[t - 1, n]                        # + f c[t-1]
        xp.multiply(a[..., 3 * H:], xp.tanh(c, out=tanh_cells[t, n]), out=hs[t, n])

    def backward(self, gh):
        gates, weight = self.inputs
        if grad_mode.is_grad_enabled():                   # create_graph: stay differentiable
            return LSTMScanGrad(self.before, self.after)(gates, weight, gh)
        h = self.output
        matmul, scope = _products(self.device)
        with scope:
            gz, gw = bptt(self.acts, self.cells, self.tanh_cells, h.array, weight.array, gh.array,
                          self.before, self.after, matmul)
        return Tensor.wrap(gz, gh.device, False), Tensor.wrap(gw, gh.device, False)

    def release(self):
        self.acts = self.cells = self.tanh_cells = None
        super().release()


def bptt(acts, cells, tanh_cells, hs, weight, gh, before, after, matmul):
    """Backpropagation through LSTMScan's recurrence, on arrays: the gradients of the gates
    (L, N, M, 4H) and of the weight (4H, K H), given gh (L, N, M, H) and the forward's
    activations (L, N, M, 4H), cells, their tanh and the states (L, N, M, H)."""
    xp = get_array_module(acts)
    L, N, M, G = acts.shape
    H = G // 4
    gz = xp.empty_like(acts)

    def run(lo, hi):                  # images [lo, hi), all L steps back: their part of gw
        n, rows = slice(lo, hi), (hi - lo) * M
        gw = xp.zeros(weight.shape, dtype=weight.dtype)
        dh = xp.zeros((hi - lo, M, H), dtype=acts.dtype)  # from step t + 1, through its input
        dc = xp.zeros((hi - lo, M, H), dtype=acts.dtype)  # from step t + 1, through its cell
        nb = xp.empty((hi - lo, M, weight.shape[1]), dtype=acts.dtype)
        for t in range(L - 1, -1, -1):
            a = acts[t, n]
            i, f, g, o = a[..., :H], a[..., H:2 * H], a[..., 2 * H:3 * H], a[..., 3 * H:]
            dh += gh[t, n]
            tc = tanh_cells[t, n]
            dc += dh * o * (1 - tc * tc)
            z = gz[t, n]
            z[..., :H] = dc * g * i * (1 - i)
            z[..., 2 * H:3 * H] = dc * i * (1 - g * g)
            z[..., 3 * H:] = dh * tc * o * (1 - o)
            if t == 0:                                    # c[-1] = h[-1] = 0
                z[..., H:2 * H] = 0
                break
            z[..., H:2 * H] = dc * cells[t - 1, n] * f * (1 - f)
            dc *= f
            zf = z.reshape(rows, G)
            gw += matmul(zf.T, _neighbours(hs[t - 1, n], before, after, nb).reshape(rows, -1))
            dh = _neighbours_adjoint(xp, matmul(zf, weight).reshape(hi - lo, M, -1), before, after, H)
        return gw

    return gz, sum(_over_samples(xp, acts.shape, run))


class LSTMScanGrad(Function):
    """(gates, weight, gh) -> LSTMScan's gradients of gates and weight, as a node."""

    def __init__(self, before, after):
        self.before, self.after = before, after

    def forward(self, gates, weight, gh):
        scan = LSTMScan(self.before, self.after)
        scan.device = self.device
        hs = scan.forward(gates, weight)
        matmul, scope = _products(self.device)
        with scope:
            return bptt(scan.acts, scan.cells, scan.tanh_cells, hs, weight, gh, self.before,
                        self.after, matmul)

    def backward(self, ggz, ggw):
        if grad_mode.is_grad_enabled():
            raise NotImplementedError("lstm_scan: third derivatives are not implemented")
        from tinygen.autograd.engine import grad
        copies = [Tensor.wrap(x.array, x.device, True) for x in self.inputs]
        with grad_mode.enable_grad():
            h = lstm_scan_reference(copies[0], copies[1], self.before, self.after)
            gz, gw = grad(h, copies[:2], copies[2], create_graph=True, materialize_grads=True)
            pairs = [(y, g) for y, g in ((gz, ggz), (gw, ggw)) if y.requires_grad]   # L = 1: gw = 0
            return grad([y for y, _ in pairs], copies, [g.detach() for _, g in pairs],
                        materialize_grads=True)


def _check(gates, weight, before, after):
    K = before + 1 + after
    if before < 0 or after < 0:
        raise ValueError(f"lstm_scan: before and after must be >= 0, got {before}, {after}")
    if gates.ndim != 4 or gates.shape[-1] % 4 or weight.ndim != 2 or \
            tuple(weight.shape) != (gates.shape[-1], K * (gates.shape[-1] // 4)):
        raise ValueError(f"lstm_scan: expected gates (L, N, M, 4H) and weight (4H, {K} H) for "
                         f"before={before}, after={after}, got {tuple(gates.shape)} and "
                         f"{tuple(weight.shape)}")
    if gates.dtype != weight.dtype:
        raise TypeError(f"lstm_scan: gates and weight must share a dtype, got {gates.dtype} "
                        f"and {weight.dtype}")


def lstm_scan(gates, weight, before=0, after=0):
    """The states h (L, N, M, H) of an LSTM recurrence over L steps of lines of M positions,
    from the input gate pre-activations gates (L, N, M, 4H), order i, f, g, o, and the
    state-to-state weight (4H, (before + 1 + after) H) over the previous step's states at
    positions m - before .. m + after (module docstring). One node; equal to
    lstm_scan_reference."""
    _check(gates, weight, before, after)
    return LSTMScan(int(before), int(after))(gates, weight)


def lstm_scan_reference(gates, weight, before=0, after=0):
    """lstm_scan written step by step with tinygen ops (its definition; slow)."""
    _check(gates, weight, before, after)
    L, N, M, G = gates.shape
    H = G // 4
    states, h, c = [], None, None
    for t in range(L):
        z = gates[t]
        if t > 0:
            padded = pad(h, (0, 0, before, after))        # (N, before + M + after, H)
            near = cat([padded[:, s:s + M] for s in range(before + 1 + after)], -1)
            z = z + near @ weight.transpose(0, 1)
        i, f, g, o = sigmoid(z[..., :H]), sigmoid(z[..., H:2 * H]), tanh(z[..., 2 * H:3 * H]), \
            sigmoid(z[..., 3 * H:])
        c = i * g if t == 0 else f * c + i * g
        h = o * tanh(c)
        states.append(h)
    return stack(states, 0)
