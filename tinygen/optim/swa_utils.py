"""Weight averaging, as torch.optim.swa_utils: stochastic weight averaging (Izmailov et al.
2018) and the exponential moving average of weights that GAN and diffusion code keeps of
its generator.

    ema = AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(0.999))
    ...  opt.step(); ema.update_parameters(G)        # ema_p <- lerp(ema_p, p, 1 - 0.999)
    samples = ema(z)                                 # the averaged copy runs like G

    swa = AveragedModel(model)                       # equal-weight average:
    swa.update_parameters(model)                     # swa_p <- swa_p + (p - swa_p) / (n + 1)
    update_bn(loader, swa)                           # BatchNorm statistics for the averaged weights

AveragedModel holds a deep copy of the model under .module (state_dict keys 'module.*')
and the count of averaged models in the buffer n_averaged. SWALR anneals each group's lr to
swa_lr over anneal_epochs (cosine or linear), then holds it.
"""
import copy
import itertools
import math

from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor
from tinygen.nn.module import Module
from tinygen.optim.lr_scheduler import LRScheduler, _per_group


def _lerp_(a, b, weight):
    """a <- a + weight (b - a) in place (Tensors), with torch's two-sided formula (exact at
    weight 1)."""
    x, y = a.array, b.array
    if weight < 0.5:
        x += weight * (y - x)
    else:
        x[...] = y - (y - x) * (1 - weight)
    a._version += 1


def get_ema_multi_avg_fn(decay=0.999):
    """ema_p <- decay ema_p + (1 - decay) p for lists of parameters (floating ones by lerp)."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in "
                         f"[0,1] range.")

    def ema_update(ema_param_list, current_param_list, _):
        with no_grad():
            for p_ema, p_model in zip(ema_param_list, current_param_list):
                if p_ema.dtype.kind == "f":
                    _lerp_(p_ema, p_model, 1 - decay)
                else:
                    p_ema.copy_(p_ema * decay + p_model * (1 - decay))
    return ema_update


def get_swa_multi_avg_fn():
    """swa_p <- swa_p + (p - swa_p) / (n + 1) for lists of parameters."""
    def swa_update(averaged_param_list, current_param_list, num_averaged):
        n = int(num_averaged.item()) if isinstance(num_averaged, Tensor) else num_averaged
        with no_grad():
            for p_avg, p_model in zip(averaged_param_list, current_param_list):
                _lerp_(p_avg, p_model, 1 / (n + 1))
    return swa_update


def get_ema_avg_fn(decay=0.999):
    """One parameter: returns decay ema_p + (1 - decay) p."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in "
                         f"[0,1] range.")

    def ema_update(ema_param, current_param, num_averaged):
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param
    return ema_update


def get_swa_avg_fn():
    """One parameter: returns swa_p + (p - swa_p) / (n + 1)."""
    def swa_update(averaged_param, current_param, num_averaged):
        with no_grad():
            return averaged_param + (current_param - averaged_param) / (num_averaged + 1)
    return swa_update


class AveragedModel(Module):
    """A running average of a model's parameters (SWA by default, EMA with
    multi_avg_fn=get_ema_multi_avg_fn(decay)); with use_buffers, buffers are averaged too,
    otherwise they are copied from the model at each update."""

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: give avg_fn or multi_avg_fn, not both")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", Tensor(backend.array_module(
            device or "cpu").asarray(0, dtype="int64"), device=device or "cpu"))
        self.avg_fn, self.multi_avg_fn, self.use_buffers = avg_fn, multi_avg_fn, use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _averaged(self, module):
        if self.use_buffers:
            return [t for t in itertools.chain(module.parameters(), module.buffers())
                    if t is not None]
        return list(module.parameters())

    def update_parameters(self, model):
        """Fold model's current parameters into the average (the first call copies them)."""
        ours, theirs = self._averaged(self.module), self._averaged(model)
        theirs = [t.detach().to(p.device) for p, t in zip(ours, theirs)]
        n = int(self.n_averaged.item())
        with no_grad():
            if n == 0:
                for p, t in zip(ours, theirs):
                    p.copy_(t)
            elif self.avg_fn is not None:
                for p, t in zip(ours, theirs):
                    p.copy_(self.avg_fn(p.detach(), t, n))
            else:
                (self.multi_avg_fn or get_swa_multi_avg_fn())(ours, theirs, self.n_averaged)
            if not self.use_buffers:  # buffers (BatchNorm statistics) follow the model
                for b_avg, b_model in zip(self.module.buffers(), model.buffers()):
                    if b_avg is not None:
                        b_avg.copy_(b_model.detach().to(b_avg.device))
            self.n_averaged.add_(1)


def update_bn(loader, model, device=None):
    """Recompute every BatchNorm's running statistics with one pass over loader (the cumulative
    average over its batches, as torch); the first element of a (list, tuple) batch is the
    input. A BatchNorm is a module with running statistics to reset (nn/normalization.py's
    _BatchNorm and its subclasses), recognized by reset_running_stats: optim reads no private
    name of nn."""
    momenta = {}
    for module in model.modules():
        if callable(getattr(module, "reset_running_stats", None)):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    with no_grad():
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            if device is not None:
                batch = batch.to(device)
            model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr to swa_lr over anneal_epochs ('cos' or 'linear'), then hold."""

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos",
                 last_epoch=-1):
        for lr, group in zip(_per_group("swa_lr", optimizer, swa_lr), optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got "
                             f"{anneal_strategy}")
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got "
                             f"{anneal_epochs}")
        self.anneal_strategy, self.anneal_epochs = anneal_strategy, anneal_epochs
        super().__init__(optimizer, last_epoch)

    def anneal_func(self, t):
        return (1 - math.cos(math.pi * t)) / 2 if self.anneal_strategy == "cos" else t

    def get_lr(self):
        # the lr the schedule started from, recovered from the current one (chainable)
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        prev_lrs = [group["swa_lr"] if prev_alpha == 1 else
                    (group["lr"] - prev_alpha * group["swa_lr"]) / (1 - prev_alpha)
                    for group in self.optimizer.param_groups]
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [group["swa_lr"] * alpha + lr * (1 - alpha)
                for group, lr in zip(self.optimizer.param_groups, prev_lrs)]
