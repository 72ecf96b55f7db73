"""Weight initialization, in place, with PyTorch's names and formulas (torch.nn.init).

    fan_in  = size(1) * receptive field      (Linear (out, in): in;  Conv (C_out, C_in, kh, kw): C_in kh kw)
    fan_out = size(0) * receptive field
    gain(nonlinearity, a): linear/sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2 / (1 + a^2))

    xavier_uniform_  U(-b, b), b = gain sqrt(6 / (fan_in + fan_out))        (Glorot & Bengio 2010)
    xavier_normal_   N(0, s^2), s = gain sqrt(2 / (fan_in + fan_out))
    kaiming_uniform_ U(-b, b), b = gain sqrt(3 / fan)                         (He et al. 2015)
    kaiming_normal_  N(0, s^2), s = gain / sqrt(fan)
    orthogonal_      Q of the QR factorization of a N(0, 1) matrix (signs fixed by diag R),
                     times gain: orthonormal rows or columns              (Saxe et al. 2013)
    trunc_normal_    N(mean, std^2) restricted to [a, b] (draws outside are redrawn)
    eye_, dirac_     the identity matrix; the identity convolution (a 1 at each kernel centre)

PyTorch's default for Linear and Conv layers is kaiming_uniform_(w, a=sqrt(5)), i.e.
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

Every draw comes from tinygen.rng, so tg.manual_seed(s) makes a model's initial weights
reproducible. The functions change the tensor under no_grad and return it. torch scripts pass
`m.weight.data` (a Tensor sharing the weight's values): nn.init.normal_(m.weight.data, 0.0,
0.02) changes the weight. A raw array (`m.weight.array`) is accepted too.
"""
import math
import warnings

import numpy as np

from tinygen import backend, rng
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor


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


def _device(tensor):
    """The device of a Tensor, or of a raw array (numpy: cpu; cupy: cuda)."""
    if isinstance(tensor, Tensor):
        return tensor.device
    return "cpu" if isinstance(tensor, np.ndarray) else "cuda"


def _write(tensor, values):
    """Write values into tensor in place, outside the graph. tensor is a Tensor (torch scripts
    pass `m.weight.data`, which shares the weight's values) or a raw array (`m.weight.array`)."""
    if isinstance(tensor, Tensor):
        with no_grad():
            tensor.copy_(values)
    else:
        tensor[...] = values
    return tensor


def _fill(tensor, draw):
    """Write draw(generator, shape) into tensor, in place, outside the graph."""
    values = draw(rng.generator(_device(tensor)), tensor.shape, tensor.dtype)
    return _write(tensor, values.astype(tensor.dtype, copy=False))


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with draws from U(a, b)."""
    return _fill(tensor, lambda g, s, d: rng.uniform(g, s, d, a, b))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with draws from N(mean, std^2)."""
    return _fill(tensor, lambda g, s, d: rng.normal(g, s, d, mean, std))


def constant_(tensor, val):
    """Fill with the number val."""
    return _write(tensor, val)


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


def _no_elements(tensor, name):
    """True (with torch's warning) for a tensor with a dim of size 0: nothing to fill, and its
    fan may be 0 (nn.Linear(0, 3)), so the kaiming initializers leave it as it is, as torch's."""
    if 0 not in tuple(tensor.shape):
        return False
    warnings.warn(f"{name}: initializing zero-element tensors is a no-op", stacklevel=3)
    return True


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    if _no_elements(tensor, "kaiming_uniform_"):
        return tensor
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    if _no_elements(tensor, "kaiming_normal_"):
        return tensor
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


def eye_(tensor):
    """Fill the 2-D tensor with the identity matrix (ones on the diagonal)."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tuple(tensor.shape)}")
    xp = backend.array_module(_device(tensor))
    return _write(tensor, xp.eye(*tensor.shape, dtype=tensor.dtype))


def dirac_(tensor, groups=1):
    """Fill the 3-, 4- or 5-D conv weight (C_out, C_in, *k) so the convolution is the identity
    on as many channels as possible (per group): weight[g C_out/groups + d, d, centre] = 1."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: only 3-, 4- and 5-D tensors are supported, got shape "
                         f"{tuple(tensor.shape)}")
    if tensor.shape[0] % groups:
        raise ValueError(f"dirac_: dim 0 ({tensor.shape[0]}) must be divisible by groups={groups}")
    out_per_group = tensor.shape[0] // groups
    xp = backend.array_module(_device(tensor))
    w = xp.zeros(tensor.shape, dtype=tensor.dtype)
    centre = tuple(k // 2 for k in tensor.shape[2:])
    for g in range(groups):
        for d in range(min(out_per_group, tensor.shape[1])):
            w[(g * out_per_group + d, d) + centre] = 1
    return _write(tensor, w)


def orthogonal_(tensor, gain=1.0):
    """Fill with a (semi-)orthogonal matrix (the tensor seen as (size(0), rest)), times gain."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dims are supported, got "
                         f"shape {tuple(tensor.shape)}")
    rows = tensor.shape[0]
    cols = int(np.prod(tensor.shape)) // rows
    a = rng.generator("cpu").normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        a = a.T
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))          # makes the draw uniform over orthogonal matrices
    if rows < cols:
        q = q.T
    q = (gain * q).reshape(tensor.shape).astype(tensor.dtype)
    return _write(tensor, backend.to_device(q, _device(tensor)))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Fill with draws from N(mean, std^2) truncated to [a, b] (rejection: draws outside are
    drawn again; best when [a, b] holds a fair share of the mass, as torch's docs advise)."""
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")

    def draw(g, shape, dtype):
        x = rng.normal(g, shape, dtype, mean, std)
        for _ in range(1000):
            outside = (x < a) | (x > b)
            if not outside.any():
                return x
            x[outside] = rng.normal(g, (int(outside.sum()),), dtype, mean, std)
        raise ValueError(f"trunc_normal_: [a, b] = [{a}, {b}] holds too little of "
                         f"N({mean}, {std}^2) to sample by rejection")
    return _fill(tensor, draw)
