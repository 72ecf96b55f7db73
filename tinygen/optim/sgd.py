"""Stochastic gradient descent with momentum (Polyak; Nesterov optional), as torch.optim.SGD.

For each parameter p with gradient g, per step:

    g <- g + weight_decay * p                            (L2 penalty, when weight_decay > 0)
    b <- g                                    first step  (momentum buffer, when momentum > 0)
    b <- momentum * b + (1 - dampening) * g   later steps
    g <- g + momentum * b   (nesterov)   or   g <- b
    p <- p - lr * g
"""
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor
from tinygen.optim.optimizer import Optimizer, params_with_grad


class SGD(Optimizer):
    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got lr={lr}, "
                             f"momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      nesterov=nesterov, weight_decay=weight_decay))

    def step(self):
        """One update of every parameter that has a gradient."""
        with no_grad():
            for group in self.param_groups:
                lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
                nesterov, weight_decay = group["nesterov"], group["weight_decay"]
                for p in params_with_grad(group):
                    g = p.grad.data
                    if weight_decay != 0:
                        g = g + weight_decay * p.data
                    if momentum != 0:
                        state = self.state.setdefault(p, {})
                        buf = state.get("momentum_buffer")
                        if buf is None:
                            buf = state["momentum_buffer"] = Tensor._make(g.copy(), p.device, False)
                        else:
                            buf.mul_(momentum).add_(g, alpha=1 - dampening)
                        g = g + momentum * buf.data if nesterov else buf.data
                    p.sub_(g, alpha=lr)
