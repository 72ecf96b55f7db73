"""Module and Parameter: the containers that hold a model's learnable state.

A Module owns three ordered tables, filled by plain attribute assignment:

    self.weight = Parameter(...)       -> _parameters   (learned; optimizers update them)
    self.register_buffer("mean", t)    -> _buffers      (state that is not learned: running stats)
    self.encoder = Linear(...)         -> _modules      (sub-modules, walked recursively)

Everything else (state_dict, parameters, to, train/eval, zero_grad, repr) walks these
tables, so a model is just a tree of Modules whose leaves are Tensors. Names are dotted
paths through the tree: "encoder.0.weight".

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 400)
            self.fc2 = nn.Linear(400, 10)

        def forward(self, x):                      # x (N, 784)
            return self.fc2(F.relu(self.fc1(x)))   # (N, 10)

As in PyTorch, moving or casting a module (`.to("cuda")`, `.double()`) changes its
Parameters in place: the Parameter objects stay the same, so an optimizer built before
the move still holds them.
"""
from collections import OrderedDict, namedtuple

import numpy as np

from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor, as_dtype


class Parameter(Tensor):
    """A leaf Tensor that a Module registers as learnable (requires_grad=True by default).

    Parameter(data) shares data's array (a Tensor or an array); isinstance(p, Tensor) holds,
    and every op on a Parameter returns a plain Tensor."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            super().__init__(data.array, device=data.device)
        else:
            super().__init__(data)  # arrays are kept as they are; lists become float32
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """load_state_dict's result: (missing_keys, unexpected_keys), printed as torch prints it."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


IncompatibleKeys = _IncompatibleKeys


class RemovableHandle:
    """What register_*_hook returns: handle.remove() unregisters the hook (also on `with` exit)."""

    _next_id = [0]

    def __init__(self, hooks):
        self.hooks_dict_ref = hooks
        self.id = RemovableHandle._next_id[0]
        RemovableHandle._next_id[0] += 1

    def remove(self):
        self.hooks_dict_ref.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _as_device_and_dtype(args, device, dtype):
    """Sort .to()'s positional arguments: device names go to device, the rest to dtype."""
    for a in args:
        if isinstance(a, str) and a.split(":")[0] in backend.DEVICES:
            device = a
        else:
            dtype = a
    return (None if device is None else backend.normalize_device(device),
            None if dtype is None else np.dtype(as_dtype(dtype)))


class Module:
    """Base class of every layer and model: subclasses set attributes in __init__ (after
    calling super().__init__()) and define forward(*inputs)."""

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    def __call__(self, *inputs, **kwargs):
        d = self.__dict__
        if not d.get("_forward_pre_hooks") and not d.get("_forward_hooks"):
            return self.forward(*inputs, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, inputs)          # None keeps the inputs; else replaces them
            if result is not None:
                inputs = result if isinstance(result, tuple) else (result,)
        output = self.forward(*inputs, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, inputs, output)  # None keeps the output; else replaces it
            if result is not None:
                output = result
        return output

    # ---- hooks (as torch: handles with .remove(); prepend=True runs a hook first) ---------

    def _add_hook(self, table, hook, prepend):
        hooks = self.__dict__[table]
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_pre_hook(self, hook, *, prepend=False):
        """hook(module, args) -> None or new args, called before every forward."""
        return self._add_hook("_forward_pre_hooks", hook, prepend)

    def register_forward_hook(self, hook, *, prepend=False):
        """hook(module, args, output) -> None or a new output, called after every forward."""
        return self._add_hook("_forward_hooks", hook, prepend)

    # ---- registration ------------------------------------------------------------------

    def _check_initialized(self, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before {type(self).__name__}.__init__ "
                                 f"has called super().__init__()")

    def __setattr__(self, name, value):
        if isinstance(value, (Parameter, Module)):
            self._check_initialized(name)
            table = self._parameters if isinstance(value, Parameter) else self._modules
            self._forget(name, keep=table)
            table[name] = value
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to parameter {name!r} "
                                f"of {type(self).__name__} (a Parameter or None expected)")
            self._parameters[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} to buffer {name!r} "
                                f"of {type(self).__name__} (a Tensor or None expected)")
            self._buffers[name] = value
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to sub-module {name!r} "
                                f"of {type(self).__name__} (a Module or None expected)")
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name, keep):
        """Remove `name` from the instance dict and every table but `keep`, the one it is about
        to be registered in (where it keeps its place in the order, as in torch)."""
        self.__dict__.pop(name, None)
        for table in (self._parameters, self._buffers, self._modules):
            if table is not keep:
                table.pop(name, None)
        self._non_persistent.discard(name)

    def __getattr__(self, name):
        # only called when normal lookup fails: look in the three tables
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for table in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(table, ()):
                del self.__dict__[table][name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register `param` (a Parameter, or None for an absent one) as `name`."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): a Parameter or None expected, got "
                            f"{type(param).__name__}")
        self._check_initialized(name)
        self._forget(name, keep=self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register a Tensor that is state but not learned (running statistics, masks).

        Buffers move with .to() and, when persistent, are saved in state_dict()."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer({name!r}): a Tensor or None expected, got "
                            f"{type(tensor).__name__}")
        self._check_initialized(name)
        self._forget(name, keep=self._buffers)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): a Module or None expected, got "
                            f"{type(module).__name__}")
        self._check_initialized(name)
        self._forget(name, keep=self._modules)
        self._modules[name] = module

    register_module = add_module

    # ---- walking the tree --------------------------------------------------------------

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(dotted name, module) for this module and every descendant, each module once
        (unless remove_duplicate=False). Arguments in torch's order."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                               remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def _named_members(self, table, prefix, recurse):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, t in getattr(module, table).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))  # a shared (tied) parameter is listed once
                yield (f"{module_name}.{name}" if module_name else name), t

    def named_parameters(self, prefix="", recurse=True):
        yield from self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target):
        """The module at dotted path `target` ("" is self); AttributeError naming the step that fails."""
        module = self
        if target == "":
            return module
        for step in target.split("."):
            if step not in module._modules or module._modules[step] is None:
                raise AttributeError(f"{type(module).__name__} has no attribute `{step}` "
                                     f"(looking up submodule {target!r})")
            module = module._modules[step]
        return module

    def _get_member(self, target, table, kind):
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in getattr(module, table):
            raise AttributeError(f"{type(module).__name__} has no {kind} `{name}` "
                                 f"(looking up {target!r})")
        return getattr(module, table)[name]

    def get_parameter(self, target):
        """The Parameter at dotted path `target`, e.g. "encoder.0.weight"."""
        return self._get_member(target, "_parameters", "parameter")

    def get_buffer(self, target):
        """The buffer at dotted path `target`, e.g. "bn.running_mean"."""
        return self._get_member(target, "_buffers", "buffer")

    def apply(self, fn):
        """Call fn(module) on every descendant, then on self (as torch); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ---- modes ---------------------------------------------------------------------------

    def train(self, mode=True):
        """Set training mode (dropout drops, batch norm uses batch statistics); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode: train(False)."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Clear every parameter's .grad: None (default, as torch) or zeros."""
        for p in self.parameters():
            _zero_grad(p, set_to_none)

    # ---- device and dtype --------------------------------------------------------------

    def to(self, *args, device=None, dtype=None):
        """Move (device) and/or cast (floating dtype) every parameter and buffer in place.

        m.to("cuda"), m.to(tg.float64), m.to(device="cpu", dtype="float32"); returns self."""
        device, dtype = _as_device_and_dtype(args, device, dtype)
        for t in list(self.parameters()) + list(self.buffers()):
            _move(t, device, dtype)
            if t.grad is not None:
                _move(t.grad, device, dtype)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def double(self):
        return self.to(dtype=np.float64)

    def float(self):
        return self.to(dtype=np.float32)

    # ---- saving and loading ----------------------------------------------------------

    def state_dict(self, prefix="", keep_vars=False):
        """Ordered {dotted name: Tensor} of every parameter and persistent buffer.

        The Tensors share memory with the module's (as torch): copy them to keep a snapshot.
        keep_vars=True returns the Parameters themselves instead of detached Tensors."""
        out = OrderedDict()
        self._save_to(out, prefix, keep_vars)
        return out

    def _save_to(self, out, prefix, keep_vars):
        # a module used twice is saved under both names (as torch), unlike parameters()
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                out[prefix + name] = b if keep_vars else b.detach()
        for name, child in self._modules.items():
            if child is not None:
                child._save_to(out, f"{prefix}{name}.", keep_vars)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy values (Tensors or arrays) into this module's parameters and persistent buffers
        (assign=True: make the state_dict's tensors the module's, as torch's assign).

        As torch: keys of the module absent from state_dict are `missing`, keys of state_dict
        the module lacks are `unexpected`; with strict=True either is an error, and a shape
        mismatch always is. The error lists every problem in torch's words. Unlike torch,
        nothing is copied when there is an error (torch copies the keys that fit first).
        Returns _IncompatibleKeys(missing_keys, unexpected_keys)."""
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and missing:
            errors.append("Missing key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in missing) + ". ")
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in unexpected) + ". ")
        for k, v in state_dict.items():
            if k in own:
                given, expected = tuple(_array_of(v).shape), tuple(own[k].shape)
                if given != expected:
                    errors.append(f"size mismatch for {k}: copying a param with shape {given} "
                                  f"from checkpoint, the shape in current model is {expected}.")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        if assign:
            for k, t in own.items():
                if k in state_dict:
                    self._assign(k, t, state_dict[k])
            return _IncompatibleKeys(missing, unexpected)
        with no_grad():
            for k, t in own.items():
                if k in state_dict:
                    value = backend.to_device(_array_of(state_dict[k]), t.device)
                    t.copy_(value.astype(t.dtype, copy=False))
        return _IncompatibleKeys(missing, unexpected)

    def _assign(self, key, old, value):
        """load_state_dict(assign=True) for one key: the value itself becomes the tensor."""
        path, _, name = key.rpartition(".")
        owner = self.get_submodule(path)
        value = value if isinstance(value, Tensor) else Tensor(_array_of(value))
        if name in owner._parameters:
            owner._parameters[name] = Parameter(value, requires_grad=old.requires_grad)
        else:
            owner._buffers[name] = value

    # ---- printing --------------------------------------------------------------------

    def extra_repr(self):
        """The text inside this module's parentheses in repr (its constructor arguments)."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        # torch's layout: one line for a leaf with a one-line extra_repr, else one line per
        # extra_repr line and per child "(name): repr", indented by two spaces
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        n_extra = len(lines)
        for name, child in self._modules.items():
            lines.append(f"({name}): " + repr(child).replace("\n", "\n  "))
        if not lines:
            return f"{self._get_name()}()"
        if n_extra == 1 and not self._modules:
            return f"{self._get_name()}({lines[0]})"
        return f"{self._get_name()}(\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))


def _array_of(value):
    """The array inside a Tensor, or the value itself (an array, or a number)."""
    return value.array if isinstance(value, Tensor) else np.asarray(value) \
        if not hasattr(value, "__cuda_array_interface__") else value


def _move(t, device, dtype):
    """Change a Tensor's device and/or floating dtype in place (the object stays the same)."""
    array = t.array
    if dtype is not None and array.dtype.kind == "f" and array.dtype != dtype:
        array = array.astype(dtype)
    if device is not None and device != t.device:
        array = backend.to_device(array, device)
        t.device = device
    if array is not t.array:
        t.array = array
        t._version += 1


def _zero_grad(p, set_to_none):
    if p.grad is None:
        return
    if set_to_none:
        p.grad = None
    else:
        xp = backend.array_module(p.device)
        p.grad = Tensor.wrap(xp.zeros_like(p.grad.array), p.device, False)
