"""Adamax (Kingma & Ba 2015, section 7.1): Adam with the infinity norm, as torch.optim.Adamax.

For each parameter p with gradient g, at step t = 1, 2, ...:

    g <- -g                                          (maximize)
    g <- g + weight_decay * p                        (L2 penalty, when weight_decay > 0)
    m <- beta1 * m + (1 - beta1) * g                 (m_0 = 0)
    u <- max(beta2 * u, |g| + eps)                   (u_0 = 0)
    p <- p - lr / (1 - beta1^t) * m / u
"""
from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.ops.factories import zeros_like
from tinygen.optim.optimizer import (
    Optimizer, params_with_grad, regularized_gradient, run_closure)


class Adamax(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *,
                 maximize=False):
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"Adamax: lr, eps and weight_decay must be >= 0, got lr={lr}, "
                             f"eps={eps}, weight_decay={weight_decay}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Adamax: betas must lie in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = run_closure(closure)
        with no_grad():
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                for p in params_with_grad(group):
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {"step": 0, "exp_avg": zeros_like(p),
                                                 "exp_inf": zeros_like(p)}
                    state["step"] += 1
                    xp = backend.array_module(p.device)
                    x, g = p.array, p.grad.array
                    m, u = state["exp_avg"].array, state["exp_inf"].array
                    g = regularized_gradient(group, x, g)
                    m += (1 - beta1) * (g - m)
                    u *= beta2
                    xp.maximum(u, xp.abs(g) + group["eps"], out=u)
                    x -= group["lr"] / (1 - beta1 ** state["step"]) * (m / u)
                    for t in (p, state["exp_avg"], state["exp_inf"]):
                        t._version += 1
        return loss
