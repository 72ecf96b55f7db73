"""tinygen.nn.functional: the functional ops under torch's names (`import tinygen.nn.functional as F`).

Everything here is defined elsewhere and only gathered: the ops in tinygen/ops (activations,
losses, linear, dropout, pad), the convolution and pooling ops in tinygen/ops/conv.py and
tinygen/ops/pool.py, and batch_norm / layer_norm in tinygen/nn/normalization.py.
"""
from tinygen.nn.normalization import batch_norm, layer_norm  # noqa: F401
from tinygen.ops import (  # noqa: F401
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, dropout, elu,
    gaussian_nll_loss, leaky_relu, linear, log_softmax, logsigmoid, logsumexp, mse_loss,
    nll_loss, pad, relu, sigmoid, softmax, softplus, tanh)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """2-D cross-correlation: x (N, C_in, H, W), weight (C_out, C_in, kh, kw) -> (N, C_out, H', W')."""
    from tinygen.ops import conv
    return conv.conv2d(x, weight, bias, stride, padding, dilation)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1):
    """The adjoint of conv2d: x (N, C_in, H, W), weight (C_in, C_out, kh, kw) -> (N, C_out, H', W')."""
    from tinygen.ops import conv
    return conv.conv_transpose2d(x, weight, bias, stride, padding, output_padding, dilation)


def max_pool2d(x, *args, **kwargs):
    """Max over kernel windows of x (N, C, H, W) (see tinygen/ops/pool.py)."""
    from tinygen.ops import pool
    return pool.max_pool2d(x, *args, **kwargs)


def avg_pool2d(x, *args, **kwargs):
    """Mean over kernel windows of x (N, C, H, W) (see tinygen/ops/pool.py)."""
    from tinygen.ops import pool
    return pool.avg_pool2d(x, *args, **kwargs)
