"""gated_tanh: the gated activation unit of Gated PixelCNN and WaveNet, as one op.

    gated_tanh(x, dim)   a, b = the two halves of x along dim;  y = tanh(a) * sigmoid(b)

(torch has the sigmoid-only form, F.glu(x, dim) = a * sigmoid(b).) Composed from ops it is five
graph nodes (two slices, tanh, sigmoid, a product), and its backward evaluates sigmoid again
(sigmoid's gradient is y sigmoid(-x)) and fills a zero array per slice. Here the forward keeps
t = tanh(a) and s = sigmoid(b), so the backward is products only:

    ga = gy s (1 - t^2),      gb = gy t s (1 - s)

GatedTanhGrad, the backward as a node, is itself differentiable (its backward is written with
ops), so second derivatives work. Both forwards are fused kernels (kernels/fused_*.py:
gated_tanh, gated_tanh_grad; the formulas are fused_numpy's).
"""
from tinygen import kernels
from tinygen.autograd.function import Function
from tinygen.ops.common import normalize_dim
from tinygen.ops.elementwise import sigmoid, tanh
from tinygen.ops.rearrange import narrow
from tinygen.ops.shape import cat


class GatedTanh(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        fused = kernels.implementation("fused", kernels.device_of(x))
        y, self.t, self.s = fused.gated_tanh(x, self.dim)
        return y

    def backward(self, gy):
        return GatedTanhGrad(self.dim, self.t, self.s)(self.inputs[0], gy)

    def release(self):
        self.t = self.s = None
        super().release()


class GatedTanhGrad(Function):
    """(x, gy) -> gx, given t = tanh(a) and s = sigmoid(b) of x's halves (kept by the forward)."""

    def __init__(self, dim, t, s):
        self.dim, self.t, self.s = dim, t, s

    def forward(self, x, gy):
        return kernels.implementation("fused", kernels.device_of(x)).gated_tanh_grad(
            x, gy, self.t, self.s, self.dim)

    def backward(self, ggx):
        x, gy = self.inputs
        a, b = (narrow(x, self.dim, k * (x.shape[self.dim] // 2), x.shape[self.dim] // 2)
                for k in (0, 1))
        gga, ggb = (narrow(ggx, self.dim, k * (x.shape[self.dim] // 2), x.shape[self.dim] // 2)
                    for k in (0, 1))
        t, s = tanh(a), sigmoid(b)
        dt, ds = 1 - t * t, s * sigmoid(-b)               # tanh', sigmoid' (accurate for b >> 0)
        g_gy = gga * s * dt + ggb * t * ds
        g_a = gy * (gga * s * (-2 * t) * dt + ggb * ds * dt)
        g_b = gy * (gga * dt * ds + ggb * t * ds * (1 - 2 * s))
        return cat([g_a, g_b], self.dim), g_gy


def gated_tanh(input, dim=1):
    """tanh(a) * sigmoid(b) for the two halves a, b of input along dim (an even size)."""
    d = normalize_dim(dim, input.ndim, "gated_tanh")
    if input.shape[d] % 2:
        raise ValueError(f"gated_tanh: dim {dim} of input {tuple(input.shape)} must have an even "
                         f"size (two halves)")
    return GatedTanh(d)(input)
