"""Batch normalization (Ioffe & Szegedy 2015) and layer normalization (Ba et al. 2016).

Both standardize x over some axes A, then apply a learned per-feature affine map:

    mu   = mean_A(x)                 var = mean_A((x - mu)^2)        (biased)
    xhat = (x - mu) / sqrt(var + eps)
    y    = gamma * xhat + beta

    batch norm  A = (N, H, W) for x (N, C, H, W) or (N,) / (N, L) for (N, C) / (N, C, L);
                gamma, beta per channel C. In training the batch statistics are used and the
                running estimates are updated,
                    running_mean <- (1 - momentum) running_mean + momentum mu
                    running_var  <- (1 - momentum) running_var  + momentum var * n / (n - 1)
                (the unbiased variance, n = |A|, as torch); in evaluation the running
                estimates replace mu and var, so y is an affine function of x.
    layer norm  A = the trailing normalized_shape dims; gamma, beta of that shape.
    group norm  x (N, C, *) seen as (N, G, C/G * ...): A = each group's C/G channels and
                all positions (Wu & He 2018); gamma, beta per channel C.
    instance norm  A = (H, W) for each sample and channel (Ulyanov et al. 2016); gamma, beta
                per channel; running estimates, when kept, average the per-instance statistics
                over the batch (as torch).
    local response norm  x / (k + alpha mean_window(x^2))^beta, the mean over `size`
                neighbouring channels, zeros beyond the edges (Krizhevsky et al. 2012); no
                parameters, composed of ops (an average pool over channels).

The standardization is one Function, `Normalize`, whose backward is the classic closed form

    gx = (1 / sqrt(var + eps)) * (gy - mean_A(gy) - xhat * mean_A(gy * xhat))

written with tinygen ops, so it is itself differentiable (double backward); the affine map
is ordinary broadcasting ops.

Batch norm in training is one Function of its own, `BatchNorm`: standardization, affine map
and, when asked (batch_norm's `activation=`), the ReLU or leaky ReLU that follows, as one
fused per-channel kernel each way (kernels/fused_*.py: batch_norm, batch_norm_backward):

    z = xhat * gamma + beta,   y = z where z > 0, slope * z elsewhere (slope 1: no activation)
    gz = gy where z > 0, slope * gy elsewhere
    gbeta = sum_A(gz),   ggamma = sum_A(gz * xhat),   gx = gamma * (above closed form on gz)

That is two passes over memory each way where the separate ops take a dozen (measured on
B2's shapes). When a graph is being built (create_graph), its backward is the same formulas
written with ops, so double backward works.
"""
import numpy as np

from tinygen import backend, kernels
from tinygen.autograd import grad_mode
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor
from tinygen.nn import init
from tinygen.nn.module import Module, Parameter
from tinygen.ops.elementwise import ReluGrad, leaky_relu, relu
from tinygen.ops.factories import ones, zeros
from tinygen.ops.pool import avg_pool2d
from tinygen.ops.reduce import mean, sum
from tinygen.ops.shape import pad, reshape


class Normalize(Function):
    """xhat = (x - mean_A(x)) / sqrt(var_A(x) + eps) over the axes A (biased variance).

    After forward, .mean and .var hold the statistics (arrays with A kept as size-1 dims),
    which instance_norm reads to update its running estimates."""

    def __init__(self, axes, eps):
        self.axes, self.eps = tuple(axes), eps

    def forward(self, x):
        xp = backend.array_module(self.device)
        self.mean = x.mean(axis=self.axes, keepdims=True)
        xhat = x - self.mean
        self.var = xp.mean(xhat * xhat, axis=self.axes, keepdims=True)
        self.rstd = 1 / xp.sqrt(self.var + x.dtype.type(self.eps))
        xhat *= self.rstd
        return xhat

    def backward(self, gy):
        if grad_mode.is_grad_enabled():
            # create_graph: the gradient must be built as a function of x, so rebuild
            # the statistics from x with differentiable ops
            x = self.inputs[0]
            d = x - mean(x, self.axes, keepdim=True)
            rstd = (mean(d * d, self.axes, keepdim=True) + self.eps) ** -0.5
            xhat = d * rstd
        else:
            # plain backward: the saved statistics are constants
            xhat = self.output
            rstd = Tensor.wrap(self.rstd, self.device, False)
        return rstd * (gy - mean(gy, self.axes, keepdim=True)
                       - xhat * mean(gy * xhat, self.axes, keepdim=True))


class BatchNorm(Function):
    """y = act(xhat * weight + bias) for x (N, C, *), xhat standardized per channel over the
    batch (axes all but 1), act(z) = z where z > 0 and slope * z elsewhere (slope 1: none).

    Inputs (x, weight, bias), the last two only when the flags say so. After forward, .mean
    and .var ((C,) arrays) hold the batch statistics, which batch_norm reads to update its
    running estimates."""

    def __init__(self, eps, slope, has_weight, has_bias):
        self.eps, self.slope = eps, slope
        self.has_weight, self.has_bias = has_weight, has_bias

    def _affine_arrays(self, x, affine):
        """weight and bias as arrays, ones and zeros for the absent ones."""
        xp = backend.array_module(self.device)
        C = x.shape[1]
        w = affine[0] if self.has_weight else xp.ones(C, dtype=x.dtype)
        b = affine[-1] if self.has_bias else xp.zeros(C, dtype=x.dtype)
        return w, b

    def forward(self, x, *affine):
        w, b = self._affine_arrays(x, affine)
        x3 = x.reshape(x.shape[0], x.shape[1], -1)                    # (N, C, S)
        fused = kernels.implementation("fused", self.device)
        y, self.mean, self.var, self.rstd = fused.batch_norm(x3, w, b, self.eps, self.slope)
        return y.reshape(x.shape)

    def backward(self, gy):
        if grad_mode.is_grad_enabled():
            return self._backward_with_ops(gy)
        x = self.inputs[0]
        w, b = self._affine_arrays(x.array, [t.array for t in self.inputs[1:]])
        x3 = x.array.reshape(x.shape[0], x.shape[1], -1)
        fused = kernels.implementation("fused", self.device)
        gx, gw, gb = fused.batch_norm_backward(gy.array.reshape(x3.shape), x3, self.mean, self.rstd,
                                               w, b, self.slope)
        grads = [gx.reshape(x.shape)]
        if self.has_weight:
            grads.append(gw.astype(self.inputs[1].dtype, copy=False))
        if self.has_bias:
            grads.append(gb.astype(self.inputs[-1].dtype, copy=False))
        return tuple(Tensor.wrap(g, self.device, False) for g in grads)

    def _backward_with_ops(self, gy):
        """The same gradients as functions of x, weight, bias and gy (for create_graph)."""
        x = self.inputs[0]
        axes, shape = (0,) + tuple(range(2, x.ndim)), _channel_shape(x)
        d = x - mean(x, axes, keepdim=True)
        rstd = (mean(d * d, axes, keepdim=True) + self.eps) ** -0.5
        xhat = d * rstd
        w = reshape(self.inputs[1], shape) if self.has_weight else None
        z = xhat if w is None else xhat * w
        if self.has_bias:
            z = z + reshape(self.inputs[-1], shape)
        gz = gy if self.slope == 1 else ReluGrad(self.slope)(gy, z)
        gxhat = gz if w is None else gz * w
        gx = rstd * (gxhat - mean(gxhat, axes, keepdim=True)
                     - xhat * mean(gxhat * xhat, axes, keepdim=True))
        grads = [gx]
        if self.has_weight:
            grads.append(sum(gz * xhat, axes))
        if self.has_bias:
            grads.append(sum(gz, axes))
        return tuple(grads)


# batch_norm's activation= names: the slope of act(z) = z (z > 0), slope z (elsewhere)
_ACTIVATIONS = {None: lambda negative_slope: 1.0, "relu": lambda negative_slope: 0.0,
                "leaky_relu": lambda negative_slope: float(negative_slope)}


def _channel_shape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)  # (1, C, 1, 1) for (N, C, H, W)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5, *, activation=None, negative_slope=0.01):
    """Batch normalization of input (N, C, *) per channel C, as torch.nn.functional.batch_norm.

    running_mean, running_var: (C,) Tensors or None. With training=True the batch statistics
    normalize and the running estimates (when given) are updated in place; with
    training=False the running estimates normalize. weight, bias: (C,) or None.

    activation (tinygen's addition): None, "relu" or "leaky_relu" (with negative_slope)
    applied to the result in the same fused op, equal to F.relu(batch_norm(...)) or
    F.leaky_relu(batch_norm(...), negative_slope) in value and gradient."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm: input must be (N, C, *), got shape {tuple(input.shape)}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"batch_norm: activation must be None, 'relu' or 'leaky_relu', got "
                         f"{activation!r}")
    shape = _channel_shape(input)
    n = input.array.size // input.shape[1]
    if training and n == 0:   # an empty batch: an empty output, running estimates kept (as torch)
        C = input.shape[1]
        return batch_norm(input, zeros(C, dtype=input.dtype, device=input.device),
                          ones(C, dtype=input.dtype, device=input.device), weight, bias, False,
                          eps=eps, activation=activation, negative_slope=negative_slope)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: training=False needs running_mean and running_var")
        rstd = (running_var + eps) ** -0.5
        y = _affine((input - reshape(running_mean, shape)) * reshape(rstd, shape), weight, bias)
        if activation == "relu":
            return relu(y)
        return leaky_relu(y, negative_slope) if activation == "leaky_relu" else y
    if n <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                         f"training, got input of shape {tuple(input.shape)}")
    fn = BatchNorm(eps, _ACTIVATIONS[activation](negative_slope), weight is not None,
                   bias is not None)
    y = fn(input, *(t for t in (weight, bias) if t is not None))
    with grad_mode.no_grad():
        if running_mean is not None:
            running_mean.mul_(1 - momentum).add_(fn.mean, alpha=momentum)
        if running_var is not None:
            running_var.mul_(1 - momentum).add_(fn.var * (n / (n - 1)), alpha=momentum)
    return y


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing dims `normalized_shape`, as torch.nn.functional.layer_norm.

    weight, bias: Tensors of shape normalized_shape, or None."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k:]) != normalized_shape or k == 0:
        raise ValueError(f"layer_norm: input of shape {tuple(input.shape)} does not end in "
                         f"normalized_shape {normalized_shape}")
    y = Normalize(range(input.ndim - k, input.ndim), eps)(input)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d (they differ only in the input ranks allowed)."""

    ranks = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(ones(num_features, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = Parameter(zeros(num_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked",
                                 Tensor(np.zeros((), dtype=np.int64), device=device or "cpu"))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x, *, activation=None, negative_slope=0.01):
        """batch_norm of x with this module's state; activation (tinygen's addition, as in
        batch_norm): None, "relu" or "leaky_relu" applied in the same fused op."""
        if x.ndim not in self.ranks or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): expected input of "
                             f"rank {' or '.join(map(str, self.ranks))} with {self.num_features} "
                             f"channels in dim 1, got shape {tuple(x.shape)}")
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if momentum is None:  # a cumulative moving average, as torch
                momentum = 1.0 / int(self.num_batches_tracked.item())
        # batch statistics in training, and always when no running estimates are kept
        use_batch_stats = self.training or not self.track_running_stats
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          use_batch_stats, momentum, self.eps, activation=activation,
                          negative_slope=negative_slope)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs, per channel C."""

    ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, per channel C."""

    ranks = (4,)


class LayerNorm(Module):
    """Layer norm over the trailing dims normalized_shape, with an elementwise affine map."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        self.elementwise_affine = elementwise_affine
        weight = ones(self.normalized_shape, dtype=dtype, device=device)
        shift = zeros(self.normalized_shape, dtype=dtype, device=device)
        self.register_parameter("weight", Parameter(weight) if elementwise_affine else None)
        self.register_parameter("bias", Parameter(shift) if elementwise_affine and bias else None)

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


# ---- group and instance normalization --------------------------------------------------------

def _affine(y, weight, bias):
    """y * weight + bias with (C,) weight and bias broadcast along dim 1 (either may be None)."""
    shape = _channel_shape(y)
    if weight is not None:
        y = y * reshape(weight, shape)
    if bias is not None:
        y = y + reshape(bias, shape)
    return y


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize input (N, C, *) over each group of C / num_groups channels (and all positions),
    then scale and shift per channel, as torch.nn.functional.group_norm."""
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise ValueError(f"group_norm: input of shape {tuple(input.shape)} needs (N, C, *) with "
                         f"C divisible by num_groups={num_groups}")
    N = input.shape[0]
    x = reshape(input, (N, num_groups, -1))                             # (N, G, C/G * ...)
    y = reshape(Normalize((2,), eps)(x), input.shape)
    return _affine(y, weight, bias)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalize each (sample, channel) plane of input (N, C, *) over its positions, as
    torch.nn.functional.instance_norm. With use_input_stats=False the running estimates
    normalize; with True, given running estimates are updated with the batch average of the
    per-instance statistics (variance unbiased)."""
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected input (N, C, *) with positions, got "
                         f"{tuple(input.shape)}")
    axes = tuple(range(2, input.ndim))
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and running_var")
        shape = _channel_shape(input)
        y = (input - reshape(running_mean, shape)) * reshape((running_var + eps) ** -0.5, shape)
        return _affine(y, weight, bias)
    fn = Normalize(axes, eps)
    y = fn(input)
    n = input.array.size // (input.shape[0] * input.shape[1])
    with grad_mode.no_grad():
        if running_mean is not None:
            batch_mean = fn.mean.reshape(input.shape[:2]).mean(axis=0)
            running_mean.mul_(1 - momentum).add_(batch_mean, alpha=momentum)
        if running_var is not None:
            unbiased = fn.var.reshape(input.shape[:2]).mean(axis=0) * (n / max(n - 1, 1))
            running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)
    return _affine(y, weight, bias)


class GroupNorm(Module):
    """Group normalization of (N, C, *) inputs over num_groups groups of channels."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None,
                 *, bias=True):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels={num_channels} must be divisible by "
                             f"num_groups={num_groups}")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        weight = Parameter(ones(num_channels, dtype=dtype, device=device)) if affine else None
        shift = Parameter(zeros(num_channels, dtype=dtype, device=device)) if affine and bias else None
        self.register_parameter("weight", weight)
        self.register_parameter("bias", shift)

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}): expected "
                             f"input (N, {self.num_channels}, *), got {tuple(x.shape)}")
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + alpha * mean of x^2 over `size` channels around each)^beta: x (N, C, *)."""
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected input (N, C, *) of 3 dims or more, got "
                         f"{tuple(input.shape)}")
    n, c = input.shape[:2]
    squares = reshape(input * input, (n, 1, c, -1))              # (N, 1, C, positions)
    squares = pad(squares, (0, 0, size // 2, (size - 1) // 2))   # the window centred on each channel
    window_mean = reshape(avg_pool2d(squares, (size, 1), stride=1), tuple(input.shape))
    return input / (window_mean * alpha + k) ** beta


class LocalResponseNorm(Module):
    """Normalization of each channel by its `size` neighbours' energy (local_response_norm)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class _InstanceNorm(_BatchNorm):
    """Instance normalization of (N, C, *positions) (or unbatched (C, *positions)) inputs: each
    sample's channels on their own, over `positions` dims (POSITIONS). Defaults as torch: no
    affine map, no running estimates."""

    POSITIONS = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias=bias)

    def forward(self, x):
        n = len(self.POSITIONS)
        if x.ndim == n + 1:                              # unbatched (C, *positions)
            return reshape(self.forward(reshape(x, (1,) + tuple(x.shape))), x.shape)
        if x.ndim != n + 2 or x.shape[1] != self.num_features:
            layout = ", ".join((str(self.num_features),) + self.POSITIONS)
            raise ValueError(f"{type(self).__name__}({self.num_features}): expected input "
                             f"(N, {layout}) or ({layout}), got {tuple(x.shape)}")
        use_input_stats = self.training or not self.track_running_stats
        return instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                             use_input_stats, self.momentum if self.momentum is not None else 0.1,
                             self.eps)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization of (N, C, L) (or unbatched (C, L)) inputs."""
    POSITIONS = ("L",)


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of (N, C, H, W) (or unbatched (C, H, W)) inputs."""
    POSITIONS = ("H", "W")


class SyncNormalize(BatchNorm):
    """BatchNorm (standardization and affine map, no activation) with the statistics of the
    global batch: the per-channel sum, sum of squares and count are all-reduced over the
    ranks of the default process group, and backward all-reduces the two per-channel sums
    sum_A(gy) and sum_A(gy * xhat) for gx (weight and bias get this rank's own sums). Sums are float64 (the one-pass variance
    E[x^2] - E[x]^2 stays accurate for float32 inputs), and y, gx use the fused kernels'
    float64 formulas, so one rank's result rounds as one process's BatchNorm does.

    Its backward calls collectives, so it is not differentiable again (no double backward)."""

    def __init__(self, eps, has_weight, has_bias):
        super().__init__(eps, 1.0, has_weight, has_bias)

    def forward(self, x, *affine):
        from tinygen import distributed as dist
        xp = backend.array_module(self.device)
        w, b = self._affine_arrays(x, affine)
        x3 = x.reshape(x.shape[0], x.shape[1], -1).astype(xp.float64)    # (N, C, S)
        C = x.shape[1]
        local = xp.concatenate([x3.sum(axis=(0, 2)), (x3 * x3).sum(axis=(0, 2)),
                                xp.asarray([x3.shape[0] * x3.shape[2]], dtype=xp.float64)])
        stats = Tensor.wrap(local, self.device, False)
        dist.all_reduce(stats)
        self.count = float(stats.array[2 * C])
        self.mean = stats.array[:C] / self.count
        self.var = xp.maximum(stats.array[C:2 * C] / self.count - self.mean * self.mean, 0)
        self.rstd = 1 / xp.sqrt(self.var + self.eps)
        z = (x3 - self.mean[:, None]) * (self.rstd * w)[:, None] + b[:, None]
        return z.astype(x.dtype).reshape(x.shape)

    def backward(self, gy):
        from tinygen import distributed as dist
        xp = backend.array_module(self.device)
        x = self.inputs[0].array
        w, _ = self._affine_arrays(x, [t.array for t in self.inputs[1:]])
        C = x.shape[1]
        g3 = gy.array.reshape(x.shape[0], C, -1).astype(xp.float64)
        xhat = (x.reshape(g3.shape) - self.mean[:, None]) * self.rstd[:, None]
        local = xp.concatenate([g3.sum(axis=(0, 2)), (g3 * xhat).sum(axis=(0, 2))])
        sums_t = Tensor.wrap(local.copy(), self.device, False)
        dist.all_reduce(sums_t)
        mean_g, mean_gx = sums_t.array[:C] / self.count, sums_t.array[C:] / self.count
        gx = (w * self.rstd)[:, None] * (g3 - mean_g[:, None] - xhat * mean_gx[:, None])
        grads = [gx.astype(x.dtype).reshape(x.shape)]
        # weight and bias get this rank's sums (DDP averages parameter gradients over ranks)
        gb, gw = local[:C], local[C:]
        if self.has_weight:
            grads.append(gw.astype(self.inputs[1].dtype))
        if self.has_bias:
            grads.append(gb.astype(self.inputs[-1].dtype))
        return tuple(Tensor.wrap(g, self.device, False) for g in grads)


class SyncBatchNorm(_BatchNorm):
    """Batch norm whose training statistics are those of the global batch over all ranks of
    the default process group (torch.nn.SyncBatchNorm); in evaluation, or in a world of one
    process, it is BatchNorm. Inputs (N, C, *)."""

    ranks = (2, 3, 4, 5)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats,
                         device=device, dtype=dtype)
        self.process_group = process_group

    def forward(self, x):
        from tinygen import distributed as dist
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        if x.ndim not in self.ranks or x.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm({self.num_features}): expected input (N, C, *) of "
                             f"rank 2 to 5 with {self.num_features} channels in dim 1, got "
                             f"shape {tuple(x.shape)}")
        momentum = self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if momentum is None:
                momentum = 1.0 / int(self.num_batches_tracked.item())
        fn = SyncNormalize(self.eps, self.weight is not None, self.bias is not None)
        y = fn(x, *(t for t in (self.weight, self.bias) if t is not None))
        if self.track_running_stats:
            n = fn.count
            if n <= 1:
                raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel over "
                                 f"all ranks when training, got {int(n)}")
            with grad_mode.no_grad():
                mean_t = Tensor.wrap(fn.mean, x.device, False)
                var_t = Tensor.wrap(fn.var * (n / (n - 1)), x.device, False)
                self.running_mean.mul_(1 - momentum).add_(mean_t, alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(var_t, alpha=momentum)
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """module with every BatchNorm1d/2d replaced by a SyncBatchNorm holding the same
        parameters and running estimates (module itself if it is one)."""
        if isinstance(module, (BatchNorm1d, BatchNorm2d)) and not isinstance(module, cls):
            sync = cls(module.num_features, module.eps, module.momentum, module.affine,
                       module.track_running_stats, process_group)
            for name in ("weight", "bias"):
                if name in module._parameters:
                    sync._parameters[name] = module._parameters[name]
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                sync._buffers[name] = module._buffers[name]
            sync.train(module.training)
            return sync
        for name, child in list(module._modules.items()):
            if child is not None:
                module._modules[name] = cls.convert_sync_batchnorm(child, process_group)
        return module

