"""RAdam (Liu et al. 2020): Adam with the variance of its adaptive lr rectified, as
torch.optim.RAdam. Early steps, while the second-moment estimate is too noisy
(rho_t <= 5), are plain momentum SGD.

For each parameter p with gradient g, at step t = 1, 2, ...:

    g <- -g;  g <- g + weight_decay * p  (or p <- p (1 - lr weight_decay), decoupled)
    m <- beta1 m + (1 - beta1) g;   v <- beta2 v + (1 - beta2) g^2
    rho_inf = 2 / (1 - beta2) - 1;   rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
    p <- p - lr m / (1 - beta1^t) * r_t sqrt(1 - beta2^t) / (sqrt(v) + eps)   (rho_t > 5)
    p <- p - lr m / (1 - beta1^t)                                              (otherwise)
"""
from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.ops.factories import zeros_like
from tinygen.optim.optimizer import (
    Optimizer, params_with_grad, regularized_gradient, run_closure)


class RAdam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, maximize=False):
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"RAdam: lr, eps and weight_decay must be >= 0, got lr={lr}, "
                             f"eps={eps}, weight_decay={weight_decay}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"RAdam: betas must lie in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = run_closure(closure)
        with no_grad():
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                lr = group["lr"]
                for p in params_with_grad(group):
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {"step": 0, "exp_avg": zeros_like(p),
                                                 "exp_avg_sq": zeros_like(p)}
                    state["step"] += 1
                    t = state["step"]
                    xp = backend.array_module(p.device)
                    x, g = p.array, p.grad.array
                    m, v = state["exp_avg"].array, state["exp_avg_sq"].array
                    g = regularized_gradient(group, x, g)
                    m += (1 - beta1) * (g - m)
                    v *= beta2
                    v += (1 - beta2) * g * g
                    bias_correction1 = 1 - beta1 ** t
                    bias_correction2 = 1 - beta2 ** t
                    m_hat = m / bias_correction1
                    rho_inf = 2 / (1 - beta2) - 1
                    rho_t = rho_inf - 2 * t * (beta2 ** t) / bias_correction2
                    if rho_t > 5.0:
                        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                                / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                        adaptive = bias_correction2 ** 0.5 / (xp.sqrt(v) + group["eps"])
                        x -= m_hat * lr * adaptive * rect
                    else:
                        x -= m_hat * lr
                    for tensor in (p, state["exp_avg"], state["exp_avg_sq"]):
                        tensor._version += 1
        return loss
