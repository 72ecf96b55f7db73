"""clip_grad_norm_: rescale gradients so that their joint norm is at most max_norm (as torch).

    total = || (||g_1||, ||g_2||, ...) ||          (the norm of all gradients as one vector)
    g_i  <- g_i * max_norm / (total + 1e-6)        only when that factor is below 1

All on the gradients' device: the factor is min(max_norm / (total + 1e-6), 1) as an array
(multiplying by 1 changes nothing), so clipping makes no host sync (error_if_nonfinite: one).
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
    device = grads[0].device
    xp = backend.array_module(device)
    norms = []   # one float64 0-d array per gradient, on grads[0]'s device: no host sync
    for g in grads:
        a = backend.array_module(g.device).abs(g.array)
        n = a.max() if norm_type == math.inf else (a ** norm_type).sum() ** (1 / norm_type)
        norms.append(backend.to_device(n.astype("float64"), device))
    norms = xp.stack(norms)
    total = norms.max() if norm_type == math.inf else (norms ** norm_type).sum() ** (1 / norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):   # the one sync, when asked
        raise RuntimeError(f"clip_grad_norm_: the total norm of the gradients is {float(total)}; "
                           f"pass error_if_nonfinite=False to clip anyway")
    clip_coef = xp.minimum(max_norm / (total + 1e-6), 1.0)   # x * 1.0 == x: no change when below
    with no_grad():
        for g in grads:
            coef = backend.array_module(g.device).asarray(backend.to_device(clip_coef, g.device),
                                                          dtype=g.dtype)
            g.mul_(Tensor.wrap(coef, g.device, False))
    return Tensor.wrap(xp.asarray(total, dtype=grads[0].dtype), device, False)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of `parameters` to [-clip_value, clip_value], in place (as torch)."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    clip_value = float(clip_value)
    with no_grad():
        for p in params:
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)
