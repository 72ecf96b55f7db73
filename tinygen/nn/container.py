"""Containers: Sequential (call the modules in order), ModuleList and ModuleDict (registered
collections of modules), ParameterList and ParameterDict (registered collections of Parameters).

Each registers its members under their index or key, so state_dict keys read "0.weight",
"encoder.bias" (modules) or "0", "scale" (parameters), as in torch.
"""
from collections import OrderedDict

from tinygen.autograd.tensor import Tensor
from tinygen.nn.activation import LeakyReLU, ReLU
from tinygen.nn.module import Module, Parameter
from tinygen.nn.normalization import BatchNorm1d, BatchNorm2d


class Sequential(Module):
    """Sequential(m0, m1, ...) or Sequential(OrderedDict(name=m)); forward(x) = ...m1(m0(x)).

    Sub-modules are named "0", "1", ... (or by the dict's keys), so state_dict keys read
    "0.weight", "2.bias".

    One fusion, by design: a BatchNorm1d/BatchNorm2d directly followed by a ReLU or LeakyReLU
    (neither with hooks) runs as one call, bn(x, activation="relu" | "leaky_relu"), the fused
    batch norm + activation op (nn/normalization.py). It equals the two modules in value and
    gradient, and takes two passes over memory each way instead of four; the graph shows one
    BatchNorm node where the activation's node would follow it."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        modules = list(self._modules.values())
        i = 0
        while i < len(modules):
            activation = _fusable_activation(modules, i)
            if activation is not None:          # modules[i] is a BatchNorm, modules[i + 1] its act
                x = modules[i](x, activation=activation[0], negative_slope=activation[1])
                i += 2
            else:
                x = modules[i](x)
                i += 1
        return x

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[index][1]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def _key(self, index):
        keys = list(self._modules)
        if not -len(keys) <= index < len(keys):
            raise IndexError(f"Sequential index {index} out of range for length {len(keys)}")
        return keys[index]

    def __setitem__(self, index, module):
        self.add_module(self._key(index), module)

    def __delitem__(self, index):
        keys = list(self._modules)[index] if isinstance(index, slice) else [self._key(index)]
        for key in keys:
            del self._modules[key]
        # renumber, as torch: the remaining modules are "0", "1", ... again
        self._modules = OrderedDict((str(i), m) for i, m in enumerate(self._modules.values()))

    def pop(self, index):
        module = self[index]
        del self[index]
        return module

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules = OrderedDict((str(i), m) for i, m in enumerate(items))
        return self


def _fusable_activation(modules, i):
    """(activation, negative_slope) if modules[i] is a BatchNorm1d/2d and modules[i + 1] a
    ReLU or LeakyReLU that it can run fused (exactly those classes, no hooks on either), else None."""
    if i + 1 >= len(modules) or type(modules[i]) not in (BatchNorm1d, BatchNorm2d):
        return None
    act = modules[i + 1]
    if type(act) not in (ReLU, LeakyReLU) or _has_hooks(modules[i]) or _has_hooks(act):
        return None
    return ("relu", 0.0) if type(act) is ReLU else ("leaky_relu", act.negative_slope)


def _has_hooks(module):
    d = module.__dict__
    return bool(d.get("_forward_pre_hooks") or d.get("_forward_hooks"))


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain list's would not be).

    Sub-modules are named "0", "1", ...; no forward: the owner decides how to call them."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, i):
        n = len(self._modules)
        if not -n <= i < n:
            raise IndexError(f"ModuleList index {i} out of range for length {n}")
        return str(i % n)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[self._index(index)]

    def __setitem__(self, index, module):
        self.add_module(self._index(index), module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(items):
            self.add_module(str(i), m)

    def __repr__(self):
        # torch's ModuleList repr: runs of equal entries compressed to "(i-j): n x repr"
        reprs = [repr(m) for m in self]
        if not reprs:
            return f"{self._get_name()}()"
        runs = []                                      # [start, end, repr]
        for i, r in enumerate(reprs):
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        lines = [(f"({a}): {r}" if a == b else f"({a}-{b}): {b - a + 1} x {r}").replace("\n", "\n  ")
                 for a, b, r in runs]
        return f"{self._get_name()}(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """An ordered dict of modules whose parameters are registered (keys are the names)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def pop(self, key):
        module = self._modules[key]
        del self._modules[key]
        return module

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for key, module in items:
            self[key] = module


_TYPENAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
              "int32": "IntTensor", "bool": "BoolTensor"}


def _parameter_line(key, p, typename=False):
    """torch's one-line description of a member of ParameterList (its dtype, "tinygen.float32")
    or ParameterDict (its type name, "tinygen.FloatTensor")."""
    if not isinstance(p, Tensor):
        return f"  ({key}): Object of type: {type(p).__name__}"
    kind = "Parameter" if isinstance(p, Parameter) else "Tensor"
    device = f" ({p.device})" if p.device != "cpu" else ""
    size = "x".join(str(n) for n in p.shape)
    name = _TYPENAMES.get(p.dtype.name, p.dtype.name) if typename else p.dtype.name
    return f"  ({key}): {kind} containing: [tinygen.{name} of size {size}{device}]"


def _as_parameter(value):
    """Tensors become Parameters (as torch's ParameterList does); Parameters stay themselves."""
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value, requires_grad=value.requires_grad or value.is_leaf)
    return value


class ParameterList(Module):
    """A list of Parameters, registered as "0", "1", ... (a plain list's would not be)."""

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def _key(self, i):
        n = len(self._parameters)
        if not -n <= i < n:
            raise IndexError(f"ParameterList index {i} out of range for length {n}")
        return str(i % n)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ParameterList(list(self._parameters.values())[index])
        return self._parameters[self._key(index)]

    def __setitem__(self, index, value):
        self.register_parameter(self._key(index), _as_parameter(value))

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def append(self, value):
        self.register_parameter(str(len(self._parameters)), _as_parameter(value))
        return self

    def extend(self, values):
        for v in values:
            self.append(v)
        return self

    def extra_repr(self):
        return "\n".join(_parameter_line(i, p) for i, p in enumerate(self))


class ParameterDict(Module):
    """An ordered dict of Parameters, registered under their keys."""

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        return self._parameters[key]

    def __setitem__(self, key, value):
        self.register_parameter(key, _as_parameter(value))

    def __delitem__(self, key):
        del self._parameters[key]

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def __contains__(self, key):
        return key in self._parameters

    def keys(self):
        return self._parameters.keys()

    def items(self):
        return self._parameters.items()

    def values(self):
        return self._parameters.values()

    def pop(self, key):
        p = self._parameters[key]
        del self._parameters[key]
        return p

    def update(self, parameters):
        items = parameters.items() if hasattr(parameters, "items") else parameters
        for key, value in items:
            self[key] = value

    def extra_repr(self):
        return "\n".join(_parameter_line(k, p, typename=True) for k, p in self.items())
