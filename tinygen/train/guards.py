"""The loop's guards: a NaN or Inf stops training at the step that made it, named.

    with NonFiniteGuard(optimizers, names) as guard:   # step hooks on the model's optimizers
        logs = model.training_step(x, optimizers)      # NonFinite raised inside (host arrays)
        flags = guard.take_flags()                     # device checks, read with the logs

The guard watches the model's own optimizers through their step hooks
(Optimizer.register_step_pre_hook / register_step_post_hook, as torch's), so training_step
gets exactly what configure_optimizers returned. Before a step the gradients are checked
(a non-finite one stops before the update changes anything), after it the parameters it
updated.

On the device the check would sync: there the step makes the update, then one check over all
its gradients and parameters (first_non_finite: three kernels, whatever the number of
parameters) leaves a 0-d device value and a function naming the culprit from it in the
guard's flags; the loop reads them with the step's logged terms (a non-finite step's update
is never saved).

replay_in_anomaly_mode runs the failed step again under detect_anomaly with every optimizer
step undone by its post hook, so it updates nothing and names the first op that made a
non-finite value.
"""
import contextlib

import numpy as np

from tinygen import backend
from tinygen.autograd import anomaly
from tinygen.autograd.tensor import Tensor


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, gradient or update; nothing to train);
    the message is one line naming the step, and the last good checkpoint is kept."""


class NonFinite(Exception):
    """A non-finite gradient or update of one optimizer step; `what` says which, in words."""

    def __init__(self, what):
        super().__init__(what)
        self.what = what


def on_host(value):
    """Whether float(value) reads it without a device sync."""
    return isinstance(value, (int, float, np.ndarray, np.generic))


def first_non_finite(arrays, sentinel):
    """One check over many device arrays: the flat index of their first non-finite value
    (in the order given, as if concatenated), or their total size when every value is
    finite; a 0-d device array, no sync. `sentinel`: a 1-element non-finite device array,
    put last so that argmin always finds one (three kernels in all: the concatenation (one
    for more than 8 arrays in CuPy), isfinite, argmin)."""
    xp = backend.array_module("cuda")
    flat = xp.concatenate([a.reshape(-1) for a in arrays] + [sentinel])
    return xp.argmin(xp.isfinite(flat))


def fetch(values):
    """Python floats of `values` (numbers, 0-d host or device arrays or Tensors) with at most
    one device sync: the device ones are stacked and copied to the host together."""
    values = [v.array if isinstance(v, Tensor) else v for v in values]
    device = [i for i, v in enumerate(values) if not on_host(v)]
    if device:
        stacked = backend.array_module("cuda").stack(
            [values[i].reshape(()).astype(np.float64) for i in device])
        for i, v in zip(device, backend.to_numpy(stacked).tolist()):
            values[i] = v
    return [float(v) for v in values]


def _params(optimizer):
    return [p for g in optimizer.param_groups for p in g["params"]]


class NonFiniteGuard:
    """Step hooks on `optimizers` ({name: optimizer}) that check each step (see the module
    docstring); `names`: {id(parameter): its name} for the messages. A context manager: the
    hooks are on inside the with-block (and until detach())."""

    def __init__(self, optimizers, names):
        self.optimizers, self.names = dict(optimizers), names
        self.flags = []        # this step's device checks: (0-d index, culprit(index))
        self._sentinels = {}   # dtype -> a 1-element NaN device array (first_non_finite's)
        self._handles = []

    def __enter__(self):
        for name, opt in self.optimizers.items():
            self._handles.append(opt.register_step_pre_hook(
                lambda opt, args, kwargs, name=name: self._before(name, opt)))
            self._handles.append(opt.register_step_post_hook(
                lambda opt, args, kwargs, name=name: self._after(name, opt)))
        return self

    def detach(self):
        """Remove the hooks (the anomaly-mode replay steps without them)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __exit__(self, *exc):
        self.detach()
        return False

    def take_flags(self):
        """The device checks of the steps since the last call (none on the host)."""
        flags, self.flags = self.flags, []
        return flags

    def _before(self, name, opt):
        """Host arrays: refuse a non-finite gradient before the update changes anything."""
        params = _params(opt)
        if any(not on_host(p.array) for p in params):
            return
        for p in params:
            if p.grad is not None and not anomaly._all_finite(p.grad.array):
                raise NonFinite(self._gradient_message(p))

    def _after(self, name, opt):
        """Host arrays: report a parameter the update made non-finite. Device arrays: one
        check over the gradients, then the parameters, whose value goes to the flags."""
        params = _params(opt)
        if all(on_host(p.array) for p in params):
            for p in params:
                if not anomaly._all_finite(p.array):
                    raise NonFinite(self._update_message(name, opt, p))
            return
        # the gradients first, so that a non-finite one is named before the update it spoiled
        checked = [(p, "gradient") for p in params if p.grad is not None]
        checked += [(p, "update") for p in params if p.array.dtype.kind in "fc"]
        arrays = [p.grad.array if kind == "gradient" else p.array for p, kind in checked]
        if arrays:
            index = first_non_finite(arrays, self._sentinel(arrays[0].dtype))
            sizes = [a.size for a in arrays]   # not the arrays: a step's gradients are let go
            self.flags.append((index, lambda i, c=checked, n=sizes, o=opt:
                               self._culprit(i, c, n, name, o)))

    def _sentinel(self, dtype):
        if dtype not in self._sentinels:
            self._sentinels[dtype] = backend.array_module("cuda").full(1, np.nan, dtype=dtype)
        return self._sentinels[dtype]

    def _culprit(self, index, checked, sizes, name, opt):
        """The message for first_non_finite's `index` over arrays of `sizes` (None: all
        finite)."""
        for (p, kind), size in zip(checked, sizes):
            if index < size:
                return (self._gradient_message(p) if kind == "gradient"
                        else self._update_message(name, opt, p))
            index -= size
        return None

    def _gradient_message(self, p):
        return f"non-finite gradient of {self.names.get(id(p), 'a parameter')}"

    def _update_message(self, name, opt, p):
        lrs = ", ".join(map(str, sorted({g.get("lr") for g in opt.param_groups})))
        return f"the {name} update (lr {lrs}) made {self.names.get(id(p), 'a parameter')} non-finite"


@contextlib.contextmanager
def _steps_undone(optimizers):
    """Within the block each step of `optimizers` is undone by its post hook (parameters and
    optimizer state as before it): a replay that updates nothing."""
    saved, handles = {}, []

    def before(opt, args, kwargs):
        saved[id(opt)] = ([p.array.copy() for p in _params(opt)],
                          {p: {k: Tensor.wrap(v.array.copy(), v.device) if isinstance(v, Tensor)
                               else v for k, v in s.items()} for p, s in opt.state.items()})

    def after(opt, args, kwargs):
        arrays, state = saved.pop(id(opt))
        for p, array in zip(_params(opt), arrays):
            p.array[...] = array
        opt.state.clear()
        opt.state.update(state)

    for opt in optimizers.values():
        handles += [opt.register_step_pre_hook(before), opt.register_step_post_hook(after)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def replay_in_anomaly_mode(model, x, optimizers, **condition):
    """Replay one training step in anomaly mode, updating nothing: the first op that made a
    NaN or Inf, in one line (or why none was found)."""
    try:
        with _steps_undone(optimizers), anomaly.detect_anomaly():
            model.training_step(x, optimizers, **condition)
    except anomaly.AnomalyError as e:
        return "first non-finite value: " + str(e).splitlines()[0].rstrip(".")
    except Exception as e:  # the replay itself failing must not hide the first report
        return f"the anomaly-mode replay failed ({type(e).__name__}: {e})"
    return "not reproduced by an anomaly-mode replay of the step"
