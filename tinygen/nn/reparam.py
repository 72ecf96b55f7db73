"""Weight reparametrizations applied to a layer before each forward (torch.nn.utils's
weight_norm and spectral_norm, the hook-based forms).

    weight_norm    w = g v / ||v||       norm over every dim but `dim` (Salimans & Kingma 2016)
                   learned: weight_g (the norms, shape (C_out, 1, ...) for dim 0) and weight_v
    spectral_norm  w = w_orig / sigma    sigma ~ the largest singular value of w_orig seen as a
                   (size(dim), rest) matrix, by power iteration (Miyato et al. 2018):
                       v <- normalize(W^T u),  u <- normalize(W v),  sigma = u . W v
                   u, v are buffers, updated (outside the graph) at each forward in training;
                   in eval, sigma uses them as they are.

Each attaches a forward pre-hook that recomputes module.<name> as a differentiable function
of the learned tensors, so gradients reach weight_g/weight_v or weight_orig. The state_dict
keys are torch's ("weight_g", "weight_v"; "weight_orig", "weight_u", "weight_v").
"""
from tinygen import rng
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor
from tinygen.nn.module import Parameter
from tinygen.ops.linalg import matmul
from tinygen.ops.reduce import sum
from tinygen.ops.shape import permute, reshape
from tinygen.ops.norms import norm
from tinygen.ops.similarity import normalize


def _norm_except_dim(v, dim):
    """||v|| over every dim but `dim` (kept as size-1 dims), or over all of v for dim=None/-1."""
    if dim is None or dim == -1:
        return norm(reshape(v, -1), 2, 0, False)
    dim = dim % v.ndim
    return norm(v, 2, tuple(d for d in range(v.ndim) if d != dim), True)


class WeightNorm:
    """The forward pre-hook of weight_norm: module.<name> = g v / ||v||."""

    def __init__(self, name, dim):
        self.name, self.dim = name, dim

    def compute_weight(self, module):
        g, v = getattr(module, self.name + "_g"), getattr(module, self.name + "_v")
        return v * (g / _norm_except_dim(v, self.dim))

    def __call__(self, module, inputs):
        object.__setattr__(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Reparametrize module.<name> as g v / ||v|| (learned weight_g and weight_v); returns module."""
    weight = module._parameters.get(name)
    if weight is None:
        raise ValueError(f"weight_norm: {type(module).__name__} has no parameter {name!r}")
    fn = WeightNorm(name, dim)
    del module._parameters[name]
    with no_grad():
        g = _norm_except_dim(weight, dim)
    module.register_parameter(name + "_g", Parameter(g.detach()))
    module.register_parameter(name + "_v", Parameter(weight.array))
    fn(module, None)
    module.register_forward_pre_hook(fn)
    return module


class SpectralNorm:
    """The forward pre-hook of spectral_norm: module.<name> = weight_orig / sigma."""

    def __init__(self, name, n_power_iterations, dim, eps):
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps

    def matrix(self, weight):
        """weight as the (size(dim), rest) matrix whose top singular value is sigma."""
        if self.dim != 0:
            weight = permute(weight, (self.dim,) + tuple(d for d in range(weight.ndim) if d != self.dim))
        return reshape(weight, (weight.shape[0], -1))

    def compute_weight(self, module, do_power_iteration):
        weight = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        w = self.matrix(weight)                                       # (h, w)
        if do_power_iteration and self.n_power_iterations > 0:
            with no_grad():
                for _ in range(self.n_power_iterations):
                    v.copy_(normalize(matmul(u, w), dim=0, eps=self.eps).array)       # W^T u
                    u.copy_(normalize(matmul(w, v), dim=0, eps=self.eps).array)       # W v
        u_, v_ = u.detach(), v.detach()
        sigma = sum(u_ * matmul(w, v_))
        return weight / sigma

    def __call__(self, module, inputs):
        object.__setattr__(module, self.name, self.compute_weight(module, module.training))


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Divide module.<name> by its spectral norm before each forward; returns module.

    dim defaults to 0, or 1 for the transposed convolutions (their output channels)."""
    weight = module._parameters.get(name)
    if weight is None:
        raise ValueError(f"spectral_norm: {type(module).__name__} has no parameter {name!r}")
    if n_power_iterations <= 0:
        raise ValueError(f"spectral_norm: n_power_iterations must be positive, got {n_power_iterations}")
    if dim is None:
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    fn = SpectralNorm(name, n_power_iterations, dim, eps)
    h, w = fn.matrix(weight).shape
    g = rng.generator(weight.device)
    with no_grad():
        u = normalize(Tensor(rng.normal(g, (h,), weight.dtype), device=weight.device), dim=0, eps=eps)
        v = normalize(Tensor(rng.normal(g, (w,), weight.dtype), device=weight.device), dim=0, eps=eps)
    del module._parameters[name]
    module.register_parameter(name + "_orig", weight)
    object.__setattr__(module, name, weight.detach())
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    module.register_forward_pre_hook(fn)
    return module


def _remove(module, name, kind, restore):
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, kind) and hook.name == name:
            weight = hook.compute_weight(module, False) if kind is SpectralNorm else hook.compute_weight(module)
            del module._forward_pre_hooks[key]
            restore(module)
            module.__dict__.pop(name, None)
            module.register_parameter(name, Parameter(weight.detach()))
            return module
    raise ValueError(f"{kind.__name__.lower()} of {name!r} not found in {type(module).__name__}")


def remove_weight_norm(module, name="weight"):
    """Undo weight_norm: module.<name> becomes a plain Parameter holding g v / ||v||."""
    def restore(m):
        del m._parameters[name + "_g"], m._parameters[name + "_v"]
    return _remove(module, name, WeightNorm, restore)


def remove_spectral_norm(module, name="weight"):
    """Undo spectral_norm: module.<name> becomes a plain Parameter holding weight_orig / sigma."""
    def restore(m):
        del m._parameters[name + "_orig"], m._buffers[name + "_u"], m._buffers[name + "_v"]
    return _remove(module, name, SpectralNorm, restore)
