"""tinygen.nn: modules (layers with parameters), their initialization, and the functional ops.

    import tinygen.nn as nn
    import tinygen.nn.functional as F

    model = nn.Sequential(nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 10))
    logits = model(x)                           # x (N, 784) -> (N, 10)
"""
from tinygen.nn import functional, init, utils  # noqa: F401
from tinygen.nn.activation import ELU, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh  # noqa: F401
from tinygen.nn.container import ModuleList, Sequential  # noqa: F401
from tinygen.nn.conv import Conv2d, ConvTranspose2d, MaskedConv2d  # noqa: F401
from tinygen.nn.linear import Identity, Linear  # noqa: F401
from tinygen.nn.module import Module, Parameter  # noqa: F401
from tinygen.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm  # noqa: F401
from tinygen.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: F401
from tinygen.nn.shape import Dropout, Flatten, Unflatten  # noqa: F401
