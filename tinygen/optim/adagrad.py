"""Adagrad (Duchi, Hazan & Singer 2011), as torch.optim.Adagrad.

For each parameter p with gradient g, at step t = 1, 2, ...:

    g <- -g                                          (maximize)
    g <- g + weight_decay * p                        (L2 penalty, when weight_decay > 0)
    s <- s + g^2                                     (s_0 = initial_accumulator_value)
    p <- p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)
"""
from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.ops.factories import full_like
from tinygen.optim.optimizer import (
    Optimizer, params_with_grad, regularized_gradient, run_closure)


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, *, maximize=False):
        if lr < 0 or lr_decay < 0 or weight_decay < 0 or initial_accumulator_value < 0 or eps < 0:
            raise ValueError(f"Adagrad: lr, lr_decay, weight_decay, initial_accumulator_value "
                             f"and eps must be >= 0, got lr={lr}, lr_decay={lr_decay}, "
                             f"weight_decay={weight_decay}, "
                             f"initial_accumulator_value={initial_accumulator_value}, eps={eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))
        # as torch: the accumulators exist from the start (state_dict shows them before a step)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p, group):
        self.state[p] = {"step": 0, "sum": full_like(p, group["initial_accumulator_value"])}
        return self.state[p]

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = run_closure(closure)
        with no_grad():
            for group in self.param_groups:
                for p in params_with_grad(group):
                    state = self.state.get(p) or self._init_state(p, group)
                    state["step"] += 1
                    xp = backend.array_module(p.device)
                    x, g, s = p.array, p.grad.array, state["sum"].array
                    g = regularized_gradient(group, x, g)
                    clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
                    s += g * g
                    x -= clr * (g / (xp.sqrt(s) + group["eps"]))
                    p._version += 1
                    state["sum"]._version += 1
        return loss
