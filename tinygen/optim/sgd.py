"""Stochastic gradient descent with momentum (Polyak; Nesterov optional), as torch.optim.SGD.

For each parameter p with gradient g, per step:

    g <- -g                                              (maximize)
    g <- g + weight_decay * p                            (L2 penalty, when weight_decay > 0)
    b <- g                                    first step  (momentum buffer, when momentum > 0)
    b <- momentum * b + (1 - dampening) * g   later steps
    g <- g + momentum * b   (nesterov)   or   g <- b
    p <- p - lr * g

A group's parameters that share a device and dtype (and whether their buffer is new) are
updated by one fused call, as Adam's are (tinygen/kernels/fused_*.py sgd_step; foreach=False:
one call per parameter).
"""
from tinygen import kernels
from tinygen.autograd.grad_mode import no_grad
from tinygen.ops.factories import zeros_like
from tinygen.optim.optimizer import (Optimizer, bump_versions, check_foreach_fused,
                                     fused_batches, params_with_grad, run_closure)


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, foreach=None, fused=None):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got lr={lr}, "
                             f"momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        check_foreach_fused("SGD", foreach, fused)
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, foreach=foreach, fused=fused))

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = run_closure(closure)
        with no_grad():
            for group in self.param_groups:
                self._update(params_with_grad(group), group)
        return loss

    def _update(self, params, group):
        momentum = group["momentum"]
        new = set()                  # ids of the parameters whose buffer starts now (b <- g)
        buffers = {}
        if momentum != 0:
            for p in params:
                state = self.state.setdefault(p, {})
                if state.get("momentum_buffer") is None:
                    state["momentum_buffer"] = zeros_like(p)
                    new.add(id(p))
                buffers[id(p)] = state["momentum_buffer"]

        for (device, _, first), batch in fused_batches(
                group, params, lambda p: (p.device, p.array.dtype, id(p) in new)):
            bufs = [buffers[id(p)] for p in batch] if momentum != 0 else []
            kernels.implementation("fused", device).sgd_step(
                [p.array for p in batch], [p.grad.array for p in batch],
                [b.array for b in bufs] or None, group["lr"], momentum, group["dampening"],
                group["weight_decay"], group["nesterov"], group.get("maximize", False), first)
            bump_versions(batch + bufs)
