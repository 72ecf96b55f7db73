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
from tinygen.nn.activation import (  # noqa: F401
    CELU, GELU, SELU, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid, LogSoftmax, Mish, PReLU, ReLU6,
    SiLU, Softmax, Softmin, Softsign)
from tinygen.nn.container import ModuleDict, ParameterDict, ParameterList  # noqa: F401
from tinygen.nn.conv import Conv1d, ConvTranspose1d  # noqa: F401
from tinygen.nn.embedding import Embedding  # noqa: F401
from tinygen.nn.loss import (  # noqa: F401
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, GaussianNLLLoss, HuberLoss, KLDivLoss, L1Loss,
    MSELoss, NLLLoss, SmoothL1Loss)
from tinygen.nn.normalization import GroupNorm, InstanceNorm1d, InstanceNorm2d  # noqa: F401
from tinygen.nn.normalization import SyncBatchNorm  # noqa: F401
from tinygen.nn import parallel  # noqa: F401
from tinygen.nn.padding import (  # noqa: F401
    ConstantPad1d, ConstantPad2d, ReflectionPad1d, ReflectionPad2d, ReplicationPad1d,
    ReplicationPad2d, ZeroPad1d, ZeroPad2d)
from tinygen.nn.pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d  # noqa: F401
from tinygen.nn.shape import AlphaDropout, Dropout1d, Dropout2d  # noqa: F401
from tinygen.nn.patches import Fold, Unfold  # noqa: F401
from tinygen.nn.upsampling import (  # noqa: F401
    PixelShuffle, PixelUnshuffle, Upsample, UpsamplingBilinear2d, UpsamplingNearest2d)

# issue 26
from tinygen.nn.activation import GLU, Hardshrink, Softshrink, Tanhshrink, Threshold  # noqa: F401
from tinygen.nn.distance import CosineSimilarity, PairwiseDistance  # noqa: F401
from tinygen.nn.linear import Bilinear  # noqa: F401
from tinygen.nn.loss import (  # noqa: F401
    CosineEmbeddingLoss, HingeEmbeddingLoss, MarginRankingLoss, MultiLabelMarginLoss,
    MultiLabelSoftMarginLoss, MultiMarginLoss, PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss,
    TripletMarginWithDistanceLoss)
from tinygen.nn.normalization import LocalResponseNorm  # noqa: F401
from tinygen.nn.pooling import AdaptiveAvgPool1d, AdaptiveMaxPool1d, AvgPool1d, MaxPool1d  # noqa: F401
from tinygen.nn.transformer import (  # noqa: F401
    MultiheadAttention, TransformerEncoder, TransformerEncoderLayer)
