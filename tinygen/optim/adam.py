"""Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), exactly as torch.optim.

For each parameter p with gradient g, at step t = 1, 2, ...:

    g <- -g                                          (maximize)
    p <- p * (1 - lr * weight_decay)                 (AdamW: decoupled weight decay)
    g <- g + weight_decay * p                        (Adam: L2 penalty, when weight_decay > 0)
    m <- beta1 * m + (1 - beta1) * g                 (first moment;  m_0 = 0)
    v <- beta2 * v + (1 - beta2) * g^2               (second moment; v_0 = 0)
    v_max <- max(v_max, v)                           (amsgrad: the denominator never shrinks)
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v or v_max) / sqrt(1 - beta2^t) + eps)

that is p - lr * m_hat / (sqrt(v_hat) + eps) with the bias-corrected m_hat, v_hat.

Adam is on the hot path of every training step, so the plain update (amsgrad off) of a whole
parameter group is one fused call (tinygen/kernels/fused_*.py adam_step, as torch's
foreach/fused steps): the parameters that share a device, dtype and step count go in as
lists, and the kernel reads p, g, m, v once per element, in the order torch computes (m by
lerp: m + (1 - beta1) (g - m)): one numba call split over tinygen's worker threads on the
cpu, one numba.cuda launch per 16 tensors on the GPU. foreach=False makes one call per
parameter (the same values). With the kernel setting 'reference' (and, inside the fast
kernels, for a parameter or state that is not contiguous) or with amsgrad, the same formula
runs as plain array expressions.
"""
import math

from tinygen import backend, kernels
from tinygen.autograd.grad_mode import no_grad
from tinygen.ops.factories import zeros_like
from tinygen.optim.optimizer import (Optimizer, bump_versions, check_foreach_fused,
                                     fused_batches, params_with_grad, run_closure)


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, foreach=None, maximize=False, fused=None,
                 decoupled_weight_decay=False):
        name = type(self).__name__
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"{name}: lr, eps and weight_decay must be >= 0, got lr={lr}, "
                             f"eps={eps}, weight_decay={weight_decay}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"{name}: betas must lie in [0, 1), got {betas}")
        check_foreach_fused(name, foreach, fused)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      foreach=foreach, maximize=maximize, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = run_closure(closure)
        with no_grad():
            for group in self.param_groups:
                params = params_with_grad(group)
                for p in params:
                    self._state(p, group)["step"] += 1
                if group.get("amsgrad", False):
                    for p in params:
                        self._amsgrad_update(p, group)
                else:
                    self._update(params, group)
        return loss

    def _state(self, p, group):
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = {"step": 0, "exp_avg": zeros_like(p), "exp_avg_sq": zeros_like(p)}
            if group.get("amsgrad", False):
                state["max_exp_avg_sq"] = zeros_like(p)
        return state

    def _update(self, params, group):
        """The fused update: one adam_step per list of parameters alike (fused_batches)."""
        beta1, beta2 = group["betas"]
        state = self.state
        for (device, _, step), batch in fused_batches(
                group, params, lambda p: (p.device, p.array.dtype, state[p]["step"])):
            ms = [state[p]["exp_avg"] for p in batch]
            vs = [state[p]["exp_avg_sq"] for p in batch]
            kernels.implementation("fused", device).adam_step(
                [p.array for p in batch], [p.grad.array for p in batch], [m.array for m in ms],
                [v.array for v in vs], group["lr"], beta1, beta2, group["eps"],
                group["weight_decay"], step, group.get("decoupled_weight_decay", False),
                group.get("maximize", False))
            bump_versions(batch + ms + vs)

    def _amsgrad_update(self, p, group):
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        state = self.state[p]
        x, g = p.array, p.grad.array
        if group.get("maximize", False):
            g = -g
        if weight_decay != 0 and group.get("decoupled_weight_decay", False):
            x *= 1 - lr * weight_decay
            weight_decay = 0.0
        xp = backend.array_module(p.device)
        _amsgrad_update(xp, x, g, state["exp_avg"].array, state["exp_avg_sq"].array,
                        state["max_exp_avg_sq"].array, lr, beta1, beta2, eps, weight_decay,
                        state["step"])
        bump_versions((p, state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"]))


def _amsgrad_update(xp, x, g, m, v, v_max, lr, beta1, beta2, eps, weight_decay, step):
    """Adam with the running maximum of v in the denominator; x, m, v, v_max in place."""
    if weight_decay != 0:
        g = g + weight_decay * x
    m += (1 - beta1) * (g - m)
    v *= beta2
    v += (1 - beta2) * g * g
    xp.maximum(v_max, v, out=v_max)
    denom = xp.sqrt(v_max) / math.sqrt(1 - beta2 ** step) + eps
    x -= (lr / (1 - beta1 ** step)) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay: p shrinks by lr * weight_decay before the Adam step
    (the decay is not fed through m and v, as an L2 term in g would be)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, fused=fused, decoupled_weight_decay=True)
