"""Adadelta (Zeiler 2012), as torch.optim.Adadelta.

For each parameter p with gradient g, per step:

    g <- -g                                          (maximize)
    g <- g + weight_decay * p                        (L2 penalty, when weight_decay > 0)
    s <- rho * s + (1 - rho) * g^2                   (running mean of g^2;       s_0 = 0)
    d <- sqrt(u + eps) / sqrt(s + eps) * g           (the step, in p's units)
    u <- rho * u + (1 - rho) * d^2                   (running mean of d^2;       u_0 = 0)
    p <- p - lr * d
"""
from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.ops.factories import zeros_like
from tinygen.optim.optimizer import (
    Optimizer, params_with_grad, regularized_gradient, run_closure)


class Adadelta(Optimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *, maximize=False):
        if lr < 0 or eps < 0 or weight_decay < 0 or not 0 <= rho <= 1:
            raise ValueError(f"Adadelta: lr, eps and weight_decay must be >= 0 and rho in "
                             f"[0, 1], got lr={lr}, rho={rho}, eps={eps}, "
                             f"weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = run_closure(closure)
        with no_grad():
            for group in self.param_groups:
                rho, eps = group["rho"], group["eps"]
                for p in params_with_grad(group):
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {"step": 0, "square_avg": zeros_like(p),
                                                 "acc_delta": zeros_like(p)}
                    state["step"] += 1
                    xp = backend.array_module(p.device)
                    x, g = p.array, p.grad.array
                    s, u = state["square_avg"].array, state["acc_delta"].array
                    g = regularized_gradient(group, x, g)
                    s *= rho
                    s += (1 - rho) * g * g
                    d = xp.sqrt(u + eps) / xp.sqrt(s + eps) * g
                    u *= rho
                    u += (1 - rho) * d * d
                    x -= group["lr"] * d
                    for t in (p, state["square_avg"], state["acc_delta"]):
                        t._version += 1
        return loss
