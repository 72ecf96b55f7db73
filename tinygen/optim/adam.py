"""Adam (Kingma & Ba 2015), exactly as torch.optim.Adam (amsgrad off).

For each parameter p with gradient g, at step t = 1, 2, ...:

    g <- g + weight_decay * p                        (L2 penalty, when weight_decay > 0)
    m <- beta1 * m + (1 - beta1) * g                 (first moment;  m_0 = 0)
    v <- beta2 * v + (1 - beta2) * g^2               (second moment; v_0 = 0)
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

that is p - lr * m_hat / (sqrt(v_hat) + eps) with the bias-corrected m_hat, v_hat.

Adam is on the hot path of every training step, so the update runs as in-place array
operations (NumPy or CuPy ufuncs with out=) through one scratch array per parameter,
in the order torch computes them (m by lerp: m + (1 - beta1) (g - m)).
"""
import math

from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.ops.factories import zeros_like
from tinygen.optim.optimizer import Optimizer, params_with_grad


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"Adam: lr, eps and weight_decay must be >= 0, got lr={lr}, "
                             f"eps={eps}, weight_decay={weight_decay}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Adam: betas must lie in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))

    def step(self):
        """One update of every parameter that has a gradient."""
        with no_grad():
            for group in self.param_groups:
                for p in params_with_grad(group):
                    self._update(p, group)

    def _update(self, p, group):
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = {"step": 0, "exp_avg": zeros_like(p), "exp_avg_sq": zeros_like(p)}
        state["step"] += 1
        t = state["step"]
        xp = backend.array_module(p.device)
        x, g = p.data, p.grad.data
        m, v = state["exp_avg"].data, state["exp_avg_sq"].data
        if weight_decay != 0:
            g = g + weight_decay * x
        tmp = xp.empty_like(x)
        xp.subtract(g, m, out=tmp)               # m <- m + (1 - beta1) (g - m)
        tmp *= 1 - beta1
        m += tmp
        xp.multiply(g, 1 - beta2, out=tmp)       # v <- beta2 v + (1 - beta2) g g
        tmp *= g
        v *= beta2
        v += tmp
        xp.sqrt(v, out=tmp)                      # denom = sqrt(v) / sqrt(1 - beta2^t) + eps
        tmp /= math.sqrt(1 - beta2 ** t)
        tmp += eps
        xp.divide(m, tmp, out=tmp)               # p <- p - lr / (1 - beta1^t) * m / denom
        tmp *= lr / (1 - beta1 ** t)
        x -= tmp
        p._version += 1
        state["exp_avg"]._version += 1
        state["exp_avg_sq"]._version += 1
