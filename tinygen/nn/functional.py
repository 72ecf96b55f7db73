"""tinygen.nn.functional: the functional ops under torch's names (`import tinygen.nn.functional as F`).

Everything here is defined elsewhere and only gathered: the ops in tinygen/ops (activations,
losses, linear, bilinear, dropout, pad), the convolution and pooling ops in tinygen/ops/conv.py,
conv1d.py, pool.py and pool1d.py, resizing in resample.py, patches in patches.py, lookups in
embedding.py, and the normalizations in tinygen/nn/normalization.py.
"""
from tinygen.nn.normalization import batch_norm, layer_norm  # noqa: F401
from tinygen.ops import (  # noqa: F401
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, dropout, elu,
    gaussian_nll_loss, leaky_relu, linear, logsigmoid, logsumexp, mse_loss,
    nll_loss, pad, relu, sigmoid, softplus, tanh)
from tinygen.ops.activation import functional_log_softmax as log_softmax  # noqa: F401
from tinygen.ops.activation import functional_softmax as softmax  # noqa: F401
from tinygen.ops.conv import conv2d, conv_transpose2d  # noqa: F401
from tinygen.ops.pool import avg_pool2d, max_pool2d  # noqa: F401

from tinygen.nn.normalization import group_norm, instance_norm  # noqa: F401
from tinygen.ops.activation import (  # noqa: F401
    celu, gelu, hardsigmoid, hardswish, hardtanh, mish, prelu, relu6, selu, silu, softmin, softsign)
from tinygen.ops.conv1d import conv1d, conv_transpose1d  # noqa: F401
from tinygen.ops.embedding import embedding, one_hot  # noqa: F401
from tinygen.ops.losses import huber_loss, kl_div, l1_loss, smooth_l1_loss  # noqa: F401
from tinygen.ops.patches import fold, unfold  # noqa: F401
from tinygen.ops.pool import adaptive_avg_pool2d, adaptive_max_pool2d  # noqa: F401
from tinygen.ops.random import alpha_dropout, dropout1d, dropout2d  # noqa: F401
from tinygen.ops.resample import interpolate, pixel_shuffle, pixel_unshuffle, upsample  # noqa: F401
from tinygen.ops.similarity import cosine_similarity, normalize  # noqa: F401

# issue 26
from tinygen.nn.normalization import local_response_norm  # noqa: F401
from tinygen.ops.activation import glu, hardshrink, softshrink, tanhshrink, threshold  # noqa: F401
from tinygen.ops.attention import scaled_dot_product_attention  # noqa: F401
from tinygen.ops.grid_sample import affine_grid, grid_sample  # noqa: F401
from tinygen.ops.linalg import bilinear  # noqa: F401
from tinygen.ops.losses import (  # noqa: F401
    cosine_embedding_loss, hinge_embedding_loss, margin_ranking_loss, multi_margin_loss,
    multilabel_margin_loss, multilabel_soft_margin_loss, poisson_nll_loss, soft_margin_loss,
    triplet_margin_loss, triplet_margin_with_distance_loss)
from tinygen.ops.pool1d import (  # noqa: F401
    adaptive_avg_pool1d, adaptive_max_pool1d, avg_pool1d, max_pool1d)
from tinygen.ops.similarity import pairwise_distance  # noqa: F401
