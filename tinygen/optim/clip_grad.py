"""clip_grad_norm_: rescale gradients so that their joint norm is at most max_norm (as torch).

    total = || (||g_1||, ||g_2||, ...) ||          (the norm of all gradients as one vector)
    g_i  <- g_i * max_norm / (total + 1e-6)        only when that factor is below 1
"""
import math

from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Clip the gradients of `parameters` in place; returns their total norm (a 0-d Tensor)."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    norm_type = float(norm_type)
    norms = []
    for g in grads:
        xp = backend.array_module(g.device)
        a = xp.abs(g.data)
        norms.append(float(a.max()) if norm_type == math.inf else
                     float((a ** norm_type).sum()) ** (1 / norm_type))
    if norm_type == math.inf:
        total = max(norms)
    else:
        total = sum(n ** norm_type for n in norms) ** (1 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of the gradients is {total}; "
                           f"pass error_if_nonfinite=False to clip anyway")
    clip_coef = max_norm / (total + 1e-6)
    if clip_coef < 1:
        with no_grad():
            for g in grads:
                g.mul_(clip_coef)
    return Tensor(total, dtype=grads[0].dtype)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of `parameters` to [-clip_value, clip_value], in place (as torch)."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    clip_value = float(clip_value)
    with no_grad():
        for p in params:
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)
