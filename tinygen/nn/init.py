"""Weight initialization, in place, with PyTorch's names and formulas (torch.nn.init).

    fan_in  = size(1) * receptive field      (Linear (out, in): in;  Conv (C_out, C_in, kh, kw): C_in kh kw)
    fan_out = size(0) * receptive field
    gain(nonlinearity, a): linear/sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2 / (1 + a^2))

    xavier_uniform_  U(-b, b), b = gain sqrt(6 / (fan_in + fan_out))        (Glorot & Bengio 2010)
    xavier_normal_   N(0, s^2), s = gain sqrt(2 / (fan_in + fan_out))
    kaiming_uniform_ U(-b, b), b = gain sqrt(3 / fan)                         (He et al. 2015)
    kaiming_normal_  N(0, s^2), s = gain / sqrt(fan)

PyTorch's default for Linear and Conv layers is kaiming_uniform_(w, a=sqrt(5)), i.e.
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

Every draw comes from tinygen.rng, so tg.manual_seed(s) makes a model's initial weights
reproducible. The functions change the tensor under no_grad and return it.
"""
import math

from tinygen import rng
from tinygen.autograd.grad_mode import no_grad


def calculate_gain(nonlinearity, param=None):
    """The gain that keeps activations' variance stable through `nonlinearity`."""
    linear = ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d",
              "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dims, got shape "
                         f"{tuple(tensor.shape)}")
    receptive_field = 1
    for n in tensor.shape[2:]:
        receptive_field *= n
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _fan(tensor, mode):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")


def _fill(tensor, draw):
    """Write draw(generator, shape) into tensor, in place, outside the graph."""
    with no_grad():
        tensor.copy_(draw(rng.generator(tensor.device), tensor.shape).astype(tensor.dtype, copy=False))
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with draws from U(a, b)."""
    return _fill(tensor, lambda g, s: g.uniform(a, b, s))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with draws from N(mean, std^2)."""
    return _fill(tensor, lambda g, s: g.normal(mean, std, s))


def constant_(tensor, val):
    with no_grad():
        return tensor.fill_(val)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def default_init_(weight, bias=None, fan_in=None):
    """PyTorch's default for Linear/Conv: weight kaiming_uniform_(a=sqrt(5)) (that is,
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        if fan_in is None:
            fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound)
    return weight
