"""RMSprop (Hinton, Coursera lecture 6e; centered form from Graves 2013), as torch.optim.RMSprop.

For each parameter p with gradient g, per step:

    g <- -g                                         (maximize)
    g <- g + weight_decay * p                       (L2 penalty, when weight_decay > 0)
    s <- alpha * s + (1 - alpha) * g^2              (running mean of g^2;  s_0 = 0)
    a <- alpha * a + (1 - alpha) * g                (centered: running mean of g;  a_0 = 0)
    d <- sqrt(s - a^2) + eps    (centered)   or   sqrt(s) + eps
    b <- momentum * b + g / d;  p <- p - lr * b     (momentum > 0;  b_0 = 0)
    p <- p - lr * g / d                             (otherwise)
"""
from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.ops.factories import zeros_like
from tinygen.optim.optimizer import (
    Optimizer, params_with_grad, regularized_gradient, run_closure)


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, maximize=False):
        if lr < 0 or eps < 0 or weight_decay < 0 or momentum < 0 or alpha < 0:
            raise ValueError(f"RMSprop: lr, alpha, eps, weight_decay and momentum must be >= 0, "
                             f"got lr={lr}, alpha={alpha}, eps={eps}, "
                             f"weight_decay={weight_decay}, momentum={momentum}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = run_closure(closure)
        with no_grad():
            for group in self.param_groups:
                for p in params_with_grad(group):
                    self._update(p, group)
        return loss

    def _update(self, p, group):
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        momentum, centered = group["momentum"], group["centered"]
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = {"step": 0, "square_avg": zeros_like(p)}
            if momentum > 0:
                state["momentum_buffer"] = zeros_like(p)
            if centered:
                state["grad_avg"] = zeros_like(p)
        state["step"] += 1
        xp = backend.array_module(p.device)
        x, g, s = p.array, p.grad.array, state["square_avg"].array
        g = regularized_gradient(group, x, g)
        s *= alpha
        s += (1 - alpha) * g * g
        if centered:
            a = state["grad_avg"].array
            a += (1 - alpha) * (g - a)
            d = xp.sqrt(s - a * a)
        else:
            d = xp.sqrt(s)
        d += eps
        if momentum > 0:
            b = state["momentum_buffer"].array
            b *= momentum
            b += g / d
            x -= lr * b
        else:
            x -= lr * (g / d)
        p._version += 1
        for name in ("square_avg", "grad_avg", "momentum_buffer"):
            if name in state:
                state[name]._version += 1
