"""Stochastic gradient descent with momentum (Polyak; Nesterov optional), as torch.optim.SGD.

For each parameter p with gradient g, per step:

    g <- -g                                              (maximize)
    g <- g + weight_decay * p                            (L2 penalty, when weight_decay > 0)
    b <- g                                    first step  (momentum buffer, when momentum > 0)
    b <- momentum * b + (1 - dampening) * g   later steps
    g <- g + momentum * b   (nesterov)   or   g <- b
    p <- p - lr * g
"""
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor
from tinygen.optim.optimizer import Optimizer, params_with_grad, run_closure


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got lr={lr}, "
                             f"momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = run_closure(closure)
        with no_grad():
            for group in self.param_groups:
                lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
                nesterov, weight_decay = group["nesterov"], group["weight_decay"]
                for p in params_with_grad(group):
                    g = -p.grad.array if group.get("maximize", False) else p.grad.array
                    if weight_decay != 0:
                        g = g + weight_decay * p.array
                    if momentum != 0:
                        state = self.state.setdefault(p, {})
                        buf = state.get("momentum_buffer")
                        if buf is None:
                            buf = state["momentum_buffer"] = Tensor._make(g.copy(), p.device, False)
                        else:
                            buf.mul_(momentum).add_(g, alpha=1 - dampening)
                        g = g + momentum * buf.array if nesterov else buf.array
                    p.sub_(g, alpha=lr)
        return loss
