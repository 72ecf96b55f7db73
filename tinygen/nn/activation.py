"""Activation modules: thin wrappers that call the functional ops (tinygen/ops/elementwise.py).

`inplace=` is accepted for torch compatibility; tinygen always computes out of place, which
gives the same values (and never clobbers a tensor that a backward needs).
"""
from tinygen.nn.module import Module
from tinygen.ops.elementwise import elu, leaky_relu, relu, sigmoid, softplus, tanh


class ReLU(Module):
    """max(x, 0)."""

    def __init__(self, inplace=False):
        super().__init__()

    def forward(self, x):
        return relu(x)


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """1 / (1 + e^-x)."""

    def forward(self, x):
        return sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return tanh(x)


class ELU(Module):
    """x for x > 0, alpha (e^x - 1) otherwise."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Softplus(Module):
    """(1/beta) log(1 + e^(beta x)), linear above threshold."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"
