"""Optimizer: the base class of every optimizer (parameter groups, per-parameter state, saving).

    opt = optim.Adam(model.parameters(), lr=1e-3)
    opt = optim.SGD([{"params": enc.parameters()}, {"params": dec.parameters(), "lr": 0.1}],
                    lr=0.01, momentum=0.9)              # groups override the defaults
    loss.backward(); opt.step(); opt.zero_grad()

A step changes each parameter in place (its .array, under no_grad) and bumps its version
counter, so a graph recorded before the step refuses to backward through the old values.

state_dict() has torch's shape: {"state": {index: {name: Tensor | number}},
"param_groups": [{hyperparameters..., "params": [index, ...]}]}, where a parameter's index
is its position when all groups' parameters are listed in order. load_state_dict() maps the
indices back onto this optimizer's own parameters (which must be laid out alike).

    handle = opt.register_step_pre_hook(hook)    # hook(opt, args, kwargs) before each step()
    handle = opt.register_step_post_hook(hook)   # ... and after it; handle.remove() undoes

as torch's: the training loop's guards (tinygen/train/guards.py) watch the steps of the
model's own optimizers this way.
"""
import functools
from collections import defaultdict

import numpy as np

from tinygen import backend
from tinygen.autograd.grad_mode import enable_grad
from tinygen.autograd.tensor import Tensor


class Optimizer:
    """Base class: subclasses set `defaults` and define `step()` (which runs the step hooks
    around it: __init_subclass__ wraps it)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _running_step_hooks(cls.__dict__["step"])

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        # parameter -> {name: Tensor | number}; a defaultdict(dict) as torch's, so a
        # subclass's step() may write `state = self.state[p]; if len(state) == 0: ...`
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors (or of dicts), got a Tensor; "
                            "wrap it in a list")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict {"params": [...], hyperparameter: value, ...}; missing ones take the defaults."""
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            if p.creator is not None:
                raise ValueError("can't optimize a non-leaf Tensor (one made by an op)")
            if id(p) in seen:
                raise ValueError("a parameter appears twice in the optimizer's parameter groups")
            seen.add(id(p))
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        group["params"] = params
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Clear every parameter's .grad: None (default, as torch) or zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    xp = backend.array_module(p.device)
                    p.grad = Tensor.wrap(xp.zeros_like(p.grad.array), p.device, False)

    def step(self):
        raise NotImplementedError(f"{type(self).__name__} defines no step()")

    def register_step_pre_hook(self, hook):
        """hook(optimizer, args, kwargs) runs before each step(); it may return new
        (args, kwargs) for the step. Returns a handle whose remove() unregisters it."""
        return _add_hook(self.__dict__.setdefault("_step_pre_hooks", {}), hook)

    def register_step_post_hook(self, hook):
        """hook(optimizer, args, kwargs) runs after each step(). Returns a handle whose
        remove() unregisters it."""
        return _add_hook(self.__dict__.setdefault("_step_post_hooks", {}), hook)

    # ---- saving and loading ----------------------------------------------------------

    def state_dict(self):
        """{"state": {index: {...}}, "param_groups": [...]}; the Tensors are shared, not copied."""
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore state and hyperparameters saved by state_dict() (values are copied)."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state_dict has {len(saved_groups)} parameter groups, this "
                             f"optimizer has {len(self.param_groups)}")
        params_of = {}
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"parameter group {i}: loaded state_dict has "
                                 f"{len(saved['params'])} parameters, this optimizer "
                                 f"{len(group['params'])}")
            params_of.update(zip((int(k) for k in saved["params"]), group["params"]))
        state = {}
        for index, entries in state_dict["state"].items():
            if int(index) not in params_of:
                raise ValueError(f"loaded state_dict has state for parameter {index}, which no "
                                 f"parameter group lists")
            p = params_of[int(index)]
            state[p] = {key: _state_value(value, p, f"state[{index}][{key!r}]", key)
                        for key, value in entries.items()}
        self.state = defaultdict(dict, state)
        for saved, group in zip(saved_groups, self.param_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})

    def __setstate__(self, state):
        """Unpickling and copy.deepcopy restore the attributes (subclasses written for torch
        call super().__setstate__(state) from their own)."""
        self.__dict__.update(state)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        return "\n".join(lines + [")"])


def _add_hook(hooks, hook):
    from tinygen.nn.module import RemovableHandle
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


def _running_step_hooks(step):
    """`step` of an Optimizer subclass, run between its pre and post hooks."""
    @functools.wraps(step)
    def hooked_step(self, *args, **kwargs):
        for hook in list(self.__dict__.get("_step_pre_hooks", {}).values()):
            changed = hook(self, args, kwargs)
            if changed is not None:
                args, kwargs = changed
        out = step(self, *args, **kwargs)
        for hook in list(self.__dict__.get("_step_post_hooks", {}).values()):
            hook(self, args, kwargs)
        return out
    return hooked_step


# state entries that are one number per parameter (torch saves them as 0-d tensors)
SCALAR_STATE = {"step", "mu_product"}


def _state_value(value, p, name, key=None):
    """A copy of a saved state entry for parameter p: arrays and Tensors become Tensors on
    p's device (floating ones in p's dtype, as torch); numbers (and the scalar entries, such
    as step, saved as 0-d arrays) stay numbers."""
    if isinstance(value, np.generic):
        return value.item()
    if key in SCALAR_STATE and not isinstance(value, (int, float)):
        number = value.item() if isinstance(value, Tensor) else float(value)
        return int(number) if key == "step" else number
    if isinstance(value, (Tensor, np.ndarray)) or hasattr(value, "__cuda_array_interface__"):
        array = value.array if isinstance(value, Tensor) else value
        if array.dtype.kind == "f":
            if tuple(array.shape) != tuple(p.shape):
                raise ValueError(f"loaded optimizer {name} has shape {tuple(array.shape)}, its "
                                 f"parameter {tuple(p.shape)}")
            array = array.astype(p.dtype)  # a copy
        else:
            array = array.copy()
        return Tensor.wrap(backend.to_device(array, p.device), p.device, False)
    return value


def run_closure(closure):
    """closure() with gradients on (it recomputes the loss and calls backward), or None."""
    if closure is None:
        return None
    with enable_grad():
        return closure()


def params_with_grad(group):
    """The parameters of a group that have a gradient (the ones a step changes)."""
    return [p for p in group["params"] if p.grad is not None]


def fused_batches(group, params, key):
    """[(key, [p, ...])]: the parameters split into the lists that one fused update takes,
    those with equal key(p) (device, dtype, ...) in order; one parameter per list when the
    group says foreach=False (torch's per-parameter loop, kept for comparison)."""
    if group.get("foreach") is False:
        return [(key(p), [p]) for p in params]
    batches = {}
    for p in params:
        batches.setdefault(key(p), []).append(p)
    return list(batches.items())


def check_foreach_fused(name, foreach, fused):
    """torch's rule for the two switches. tinygen updates a group in one fused call unless
    foreach=False (a call per parameter); fused=True asks for what it does anyway."""
    if foreach and fused:
        raise RuntimeError(f"{name}: `fused` and `foreach` cannot be `True` together.")


def bump_versions(tensors):
    """One more in-place change of each tensor (its version counter, Tensor._version)."""
    for t in tensors:
        t._vc[0] += 1


def regularized_gradient(group, x, g):
    """The gradient g of parameter array x as an update uses it: negated under maximize, plus
    weight_decay * x (the L2 penalty); with decoupled_weight_decay (AdamW's form) x itself is
    shrunk by lr * weight_decay instead, in place, and g left as it is."""
    if group["maximize"]:
        g = -g
    wd = group["weight_decay"]
    if wd != 0:
        if group.get("decoupled_weight_decay", False):
            x *= 1 - group["lr"] * wd
        else:
            g = g + wd * x
    return g
