"""NAdam (Dozat 2016): Adam with Nesterov momentum, as torch.optim.NAdam.

For each parameter p with gradient g, at step t = 1, 2, ...:

    g <- -g;  g <- g + weight_decay * p  (or p <- p (1 - lr weight_decay), decoupled)
    mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay))    (the momentum schedule)
    M_t  = mu_1 mu_2 ... mu_t
    m <- beta1 m + (1 - beta1) g;   v <- beta2 v + (1 - beta2) g^2
    d  = sqrt(v / (1 - beta2^t)) + eps
    p <- p - lr (1 - mu_t) / (1 - M_t) * g / d - lr mu_{t+1} / (1 - M_t mu_{t+1}) * m / d
"""
import numpy as np

from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.ops.factories import zeros_like
from tinygen.optim.optimizer import (
    Optimizer, params_with_grad, regularized_gradient, run_closure)


class NAdam(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, maximize=False):
        if lr < 0 or eps < 0 or weight_decay < 0 or momentum_decay < 0:
            raise ValueError(f"NAdam: lr, eps, weight_decay and momentum_decay must be >= 0, "
                             f"got lr={lr}, eps={eps}, weight_decay={weight_decay}, "
                             f"momentum_decay={momentum_decay}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"NAdam: betas must lie in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = run_closure(closure)
        with no_grad():
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                lr, psi = group["lr"], group["momentum_decay"]
                for p in params_with_grad(group):
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {"step": 0, "mu_product": 1.0,
                                                 "exp_avg": zeros_like(p),
                                                 "exp_avg_sq": zeros_like(p)}
                    state["step"] += 1
                    t = state["step"]
                    xp = backend.array_module(p.device)
                    x, g = p.array, p.grad.array
                    m, v = state["exp_avg"].array, state["exp_avg_sq"].array
                    g = regularized_gradient(group, x, g)
                    mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
                    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
                    # torch keeps M_t as a float32 scalar (its default scalar dtype), even
                    # for float64 parameters; rounding alike keeps the two runs equal
                    state["mu_product"] = float(np.float32(state["mu_product"]) * np.float32(mu))
                    mu_product = state["mu_product"]
                    m += (1 - beta1) * (g - m)
                    v *= beta2
                    v += (1 - beta2) * g * g
                    d = xp.sqrt(v / (1 - beta2 ** t)) + group["eps"]
                    x += (-lr * (1.0 - mu) / (1.0 - mu_product)) * (g / d)
                    x += (-lr * mu_next / (1.0 - mu_product * mu_next)) * (m / d)
                    for tensor in (p, state["exp_avg"], state["exp_avg_sq"]):
                        tensor._version += 1
        return loss

