"""Adam (Kingma & Ba 2015), exactly as torch.optim.Adam (amsgrad off).

For each parameter p with gradient g, at step t = 1, 2, ...:

    g <- g + weight_decay * p                        (L2 penalty, when weight_decay > 0)
    m <- beta1 * m + (1 - beta1) * g                 (first moment;  m_0 = 0)
    v <- beta2 * v + (1 - beta2) * g^2               (second moment; v_0 = 0)
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

that is p - lr * m_hat / (sqrt(v_hat) + eps) with the bias-corrected m_hat, v_hat.

Adam is on the hot path of every training step, so the update is one fused kernel per
parameter (tinygen/kernels/fused_*.py: a parallel numba loop on the cpu, a numba.cuda kernel
on the GPU) that reads p, g, m, v once, in the order torch computes (m by lerp:
m + (1 - beta1) (g - m)). With the kernel setting 'reference', the same formula runs as
plain array expressions (fused_numpy.adam_update).
"""
from tinygen import kernels
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
        x, g = p.data, p.grad.data
        m, v = state["exp_avg"].data, state["exp_avg_sq"].data
        impl = kernels.implementation("fused", p.device)
        if not (x.flags.c_contiguous and m.flags.c_contiguous and v.flags.c_contiguous):
            impl = kernels.implementation("fused", p.device, mode="reference")
        impl.adam_update(x, g, m, v, lr, beta1, beta2, eps, weight_decay, t)
        p._version += 1
        state["exp_avg"]._version += 1
        state["exp_avg_sq"]._version += 1
