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
from tinygen.ops.conv import conv2d, conv_transpose2d  # noqa: F401
from tinygen.ops.pool import avg_pool2d, max_pool2d  # noqa: F401

