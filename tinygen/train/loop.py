"""The training loop behind `tinygen train`: epochs of model.training_step, with a live
progress bar, metrics, pictures and atomic checkpoints, resumable at any point.

A run directory holds

    lock               while a process trains (samples, evaluates) into it: its pid and host
                       (see rundir.py)
    config.json        the settings of the run (checked again on --resume)
    metrics.jsonl      one JSON line per logged step ("train_step"), per epoch ("epoch") and
                       per resume ("resume": the step and the changed settings)
    checkpoint.npz     model + optimizers + random state + epoch/batch, written atomically
    samples_eNNN.png   a grid of model.sample(64) after each epoch (a class-conditional model:
                       one row per class)
    completions_eNNN.png  (autoregressive models) test images' bottom halves completed
    curves.png         every logged term against the step
    kl_per_latent.png  (models whose terms have a per-latent 'kl') KL of each latent dimension
    pixel_nll.png      (models whose terms have a per-pixel 'log_p') mean -log p per pixel

Ctrl-C (SIGINT) and SIGTERM (what `kill`, SLURM's time limit and `docker stop` send) finish
the current step, write the checkpoint (with the position inside the epoch), print one line
and raise Stopped (exit status 128 + the signal's number: 130, 143); a second one stops at
once. `--resume` continues from there: the seeded loader replays the same epoch order,
the saved random state continues the same stream, and metrics.jsonl is cut back to the
checkpoint's step. The pictures draw from a stream of their own, so a run interrupted
anywhere (Ctrl-C, or a kill -9 that falls back to the last epoch's checkpoint) and resumed
writes bitwise the checkpoints of an uninterrupted one. On resume a new lr or epochs is
applied (and recorded in metrics.jsonl), a new lr also in the loaded optimizers.

Guards: every optimizer step first checks its gradients and then the parameters it updated;
a NaN or Inf there, or in a logged loss term, stops training with a TrainingError naming the
step and, from a replay of that step in anomaly mode, the first op that made a non-finite
value. Nothing is saved after the last good checkpoint.

Host syncs: training_step returns its logged terms as numbers or 0-d arrays, and the guard
of an optimizer step on the device is one 0-d device value (one check over every gradient and
parameter together, three kernels whatever the number of parameters: _first_non_finite); the
parameter it names is found on the host from that value once it is read. Host values are
read at once (a CPU run checks and logs every step exactly as before); device values wait,
and are copied to the host together, in one sync, every log_every steps and before a
checkpoint. On a GPU a non-finite step is thus found at the next logging step (its number is
still the step's own; the update it made is never saved), and the other steps make no sync.
"""
import contextlib
import dataclasses
import json
import os
import signal
import threading
import time

import numpy as np

from tinygen import backend, rng
from tinygen.autograd import anomaly
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor
from tinygen.checkpoint import load_checkpoint, save_checkpoint
from tinygen.data import set_epoch
from tinygen.serialization import file_mode, naming_file
from tinygen.train import plots
from tinygen.train.rundir import write_json_atomic


@dataclasses.dataclass
class TrainConfig:
    model: str = "vae"
    data: str = "mnist5k"
    data_dir: str = None
    binarize: str = "dynamic"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    device: str = "cpu"
    seed: int = 0
    variant: str = None     # pixelrnn's "row" or "diagonal" (None: the model's default)
    preset: str = None      # a size preset of pixelcnn, pixelrnn, gated-pixelcnn (None: default)
    conditional: bool = False   # gated-pixelcnn: conditioned on the class labels
    out: str = None
    log_every: int = 10


class OptimizerSet:
    """Several named optimizers seen as one (torch-shaped) state_dict, for checkpoints.

    Parameter indices of later optimizers are offset by the earlier ones' counts, and each
    param group carries the name of its optimizer."""

    def __init__(self, optimizers):
        self.optimizers = dict(optimizers)

    def _counts(self):
        return {name: sum(len(g["params"]) for g in opt.param_groups)
                for name, opt in self.optimizers.items()}

    def state_dict(self):
        state, groups, offset = {}, [], 0
        counts = self._counts()
        for name, opt in self.optimizers.items():
            sd = opt.state_dict()
            for index, value in sd["state"].items():
                state[int(index) + offset] = value
            for group in sd["param_groups"]:
                groups.append(dict(group, optimizer=name))
            offset += counts[name]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        offset, counts = 0, self._counts()
        for name, opt in self.optimizers.items():
            n = counts[name]
            state = {int(i) - offset: v for i, v in state_dict["state"].items()
                     if offset <= int(i) < offset + n}
            groups = [{k: v for k, v in g.items() if k != "optimizer"}
                      for g in state_dict["param_groups"] if g.get("optimizer") == name]
            opt.load_state_dict({"state": state, "param_groups": groups})
            offset += n


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, gradient or update; nothing to train);
    the message is one line naming the step, and the last good checkpoint is kept."""


# ---- metrics -----------------------------------------------------------------------------

def _append_jsonl(path, record):
    with naming_file(path), open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _parse_lines(text):
    """Records of a metrics.jsonl; a line cut short by a kill (the last) is dropped."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def read_metrics(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return _parse_lines(f.read())


def truncate_metrics(path, step):
    """Keep the records of steps <= `step` (those the checkpoint at `step` has seen), so a
    resumed run logs each later step once; rewritten atomically (temporary file + rename)."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        records = _parse_lines(f.read())
    kept = [r for r in records if isinstance(r.get("step"), int) and r["step"] <= step]
    tmp = f"{path}.tmp{os.getpid()}"
    with naming_file(path), open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in kept)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, file_mode(path))         # an overwrite keeps the file's permissions
    os.replace(tmp, path)


# ---- pictures ----------------------------------------------------------------------------

PICTURE_STREAM = 1   # key of the pictures' random stream, derived from the run's seed
COMPLETIONS = 4      # completions drawn of each test image


def class_count(model):
    """The classes a class-conditional model is conditioned on (0: unconditional)."""
    return getattr(getattr(model, "config", None), "n_classes", 0)


def condition(model, y):
    """What the model's terms, sample, complete and training_step take besides x, for
    labels y: {"y": y} for a class-conditional model, else nothing."""
    return model.condition(y) if hasattr(model, "condition") else {}


def write_completions(model, x, y, path, k=COMPLETIONS, title=None):
    """k completions by model.complete of each image x (N, C, H, W) from its top half (a
    class-conditional model also gets the labels y (N,)), drawn beside the originals."""
    N, C, H, W = x.shape
    completed = model.complete(x.repeat_interleave(k, 0), known_rows=H // 2,   # (N k, C, H, W)
                               **condition(model, None if y is None else y.repeat_interleave(k, 0)))
    return plots.save_completions(x.numpy(), completed.numpy().reshape(N, k, C, H, W), H // 2,
                                  path, title=title)


def write_pictures(model, run_dir, epoch, probe, seed=0, test_batch=None):
    """Samples, completions, curves, and the per-term pictures that the model's terms allow.

    probe: a fixed batch x, or (x, y) with its labels, whose terms are pictured; test_batch:
    (x, y) test images whose bottom halves an autoregressive model completes. The random
    draws come from streams of their own, rng.derive_seed(seed, 1, epoch[, 1]), so they
    never move the training stream: a run resumed from the checkpoint written just before
    them trains on bitwise as if uninterrupted."""
    x, y = probe if isinstance(probe, (tuple, list)) else (probe, None)
    name, n_classes = type(model).__name__, class_count(model)
    samples = os.path.join(run_dir, f"samples_e{epoch:03d}.png")
    with no_grad(), rng.fork_rng(rng.derive_seed(seed, PICTURE_STREAM, epoch)):
        was_training = model.training
        model.eval()
        try:
            if test_batch is not None and hasattr(model, "complete"):
                with rng.fork_rng(rng.derive_seed(seed, PICTURE_STREAM, epoch, 1)):
                    write_completions(model, *test_batch,
                                      os.path.join(run_dir, f"completions_e{epoch:03d}.png"),
                                      title=f"{name} completions after epoch {epoch}")
            if n_classes:   # "draw a 7": a row of 8 samples for each class
                labels = np.repeat(np.arange(n_classes), 8)
                images = model.sample(len(labels), **condition(model, labels)).numpy()
                plots.save_image_grid(np.clip(images, 0, 1), samples, nrow=8,
                                      row_labels=range(n_classes),
                                      title=f"{name} samples of each class after epoch {epoch}")
            else:
                images = model.sample(64).numpy()
                plots.save_image_grid(np.clip(images, 0, 1), samples,
                                      title=f"{name} samples after epoch {epoch}")
            terms = model.terms(x, **condition(model, y)) if x is not None else None
        finally:
            model.train(was_training)
    plots.save_curves(read_metrics(run_dir), os.path.join(run_dir, "curves.png"),
                      title=f"{name} training terms")
    if terms is not None:
        if "kl" in terms and terms["kl"].ndim == 2:
            plots.save_kl_per_latent(terms["kl"].numpy().mean(axis=0),
                                     os.path.join(run_dir, "kl_per_latent.png"))
        if "log_p" in terms and terms["log_p"].ndim == 4:
            nll = -terms["log_p"].numpy().mean(axis=0).sum(axis=0)   # (H, W)
            plots.save_pixel_nll(nll, os.path.join(run_dir, "pixel_nll.png"))


# ---- guards ------------------------------------------------------------------------------

def _on_host(value):
    """Whether float(value) reads it without a device sync."""
    return isinstance(value, (int, float, np.ndarray, np.generic))


def _first_non_finite(arrays, sentinel):
    """One check over many device arrays: the flat index of their first non-finite value
    (in the order given, as if concatenated), or their total size when every value is
    finite; a 0-d device array, no sync. `sentinel`: a 1-element non-finite device array,
    put last so that argmin always finds one (three kernels in all: the concatenation (one
    for more than 8 arrays in CuPy), isfinite, argmin)."""
    xp = backend.array_module("cuda")
    flat = xp.concatenate([a.reshape(-1) for a in arrays] + [sentinel])
    return xp.argmin(xp.isfinite(flat))


def _fetch(values):
    """Python floats of `values` (numbers, 0-d host or device arrays or Tensors) with at most
    one device sync: the device ones are stacked and copied to the host together."""
    values = [v.array if isinstance(v, Tensor) else v for v in values]
    device = [i for i, v in enumerate(values) if not _on_host(v)]
    if device:
        stacked = backend.array_module("cuda").stack(
            [values[i].reshape(()).astype(np.float64) for i in device])
        for i, v in zip(device, backend.to_numpy(stacked).tolist()):
            values[i] = v
    return [float(v) for v in values]


class _NonFinite(Exception):
    def __init__(self, what):
        super().__init__(what)
        self.what = what


class _GuardedOptimizer:
    """An optimizer seen through a check (what training_step gets): step() refuses
    non-finite gradients before it changes anything and reports parameters that its
    update made non-finite. `dry`: step() changes nothing (the anomaly-mode replay).
    On the device the check would sync: instead step() makes the update, then one check over
    all its gradients and parameters (_first_non_finite), whose value and a function naming
    the culprit from it go to `flags`; the loop reads them with the step's logged terms (a
    non-finite step's update is never saved)."""

    def __init__(self, name, optimizer, names, dry=False, flags=None):
        self._name, self._optimizer, self._names, self._dry = name, optimizer, names, dry
        self._flags = flags
        self._sentinels = {}   # dtype -> a 1-element NaN device array (_first_non_finite's)

    def __getattr__(self, attr):
        return getattr(self._optimizer, attr)

    def _params(self):
        return [p for g in self._optimizer.param_groups for p in g["params"]]

    def step(self, *args, **kwargs):
        if self._dry:
            return None
        params = self._params()
        on_device = self._flags is not None and any(not _on_host(p.array) for p in params)
        if not on_device:   # host arrays: checked one by one, no sync to save
            for p in params:
                if p.grad is not None and not anomaly._all_finite(p.grad.array):
                    raise _NonFinite(self._gradient_message(p))
        out = self._optimizer.step(*args, **kwargs)
        if not on_device:
            for p in params:
                if not anomaly._all_finite(p.array):
                    raise _NonFinite(self._update_message(p))
            return out
        # the gradients first, so that a non-finite one is named before the update it spoiled
        checked = [(p, "gradient") for p in params if p.grad is not None]
        checked += [(p, "update") for p in params if p.array.dtype.kind in "fc"]
        arrays = [p.grad.array if kind == "gradient" else p.array for p, kind in checked]
        if arrays:
            index = _first_non_finite(arrays, self._sentinel(arrays[0].dtype))
            sizes = [a.size for a in arrays]   # not the arrays: a step's gradients are let go
            self._flags.append((index, lambda i, c=checked, n=sizes: self._culprit(i, c, n)))
        return out

    def _sentinel(self, dtype):
        if dtype not in self._sentinels:
            self._sentinels[dtype] = backend.array_module("cuda").full(1, np.nan, dtype=dtype)
        return self._sentinels[dtype]

    def _culprit(self, index, checked, sizes):
        """The message for _first_non_finite's `index` over arrays of `sizes` (None: all
        finite)."""
        for (p, kind), size in zip(checked, sizes):
            if index < size:
                return self._gradient_message(p) if kind == "gradient" else self._update_message(p)
            index -= size
        return None

    def _gradient_message(self, p):
        return f"non-finite gradient of {self._name_of(p)}"

    def _update_message(self, p):
        lrs = ", ".join(map(str, sorted({g.get("lr") for g in self._optimizer.param_groups})))
        return f"the {self._name} update (lr {lrs}) made {self._name_of(p)} non-finite"

    def _name_of(self, p):
        return self._names.get(id(p), "a parameter")


def _first_anomaly(model, x, optimizers, names, **labels):
    """Replay one training step in anomaly mode, updating nothing: the first op that made a
    NaN or Inf, in one line (or why none was found)."""
    dry = {k: _GuardedOptimizer(k, o, names, dry=True) for k, o in optimizers.items()}
    try:
        with anomaly.detect_anomaly():
            model.training_step(x, dry, **labels)
    except anomaly.AnomalyError as e:
        return "first non-finite value: " + str(e).splitlines()[0].rstrip(".")
    except Exception as e:  # the replay itself failing must not hide the first report
        return f"the anomaly-mode replay failed ({type(e).__name__}: {e})"
    return "not reproduced by an anomaly-mode replay of the step"


# ---- the loop ----------------------------------------------------------------------------

def _resume(model, opt_set, optimizers, config, ckpt_path, metrics_path):
    """Load the checkpoint, apply a changed lr, cut metrics back to its step; returns
    (epoch, batch, step, partial): partial holds the sums and count of the epoch's
    summary so far, when the checkpoint was written inside an epoch."""
    fresh_lrs = [[g["lr"] for g in o.param_groups] for o in optimizers.values()]
    info = load_checkpoint(ckpt_path, model, opt_set, check_finite=True)
    start_epoch, step = info["epoch"], info["step"]
    extra = info["extra"] or {}
    skip, partial = extra.get("batch", 0), extra.get("partial") or {"sums": {}, "count": 0}
    saved = extra.get("config") or {}
    changed = {key: [saved[key], getattr(config, key)] for key in ("lr", "epochs", "device")
               if key in saved and saved[key] != getattr(config, key)}
    if start_epoch >= config.epochs:
        raise TrainingError(f"the run has trained {start_epoch} epochs and --epochs is "
                            f"{config.epochs}: nothing to train (raise --epochs)")
    if "lr" in changed:   # the loaded optimizer state holds the old lr: apply the new one
        for opt, lrs in zip(optimizers.values(), fresh_lrs):
            for group, lr in zip(opt.param_groups, lrs):
                group["lr"] = lr
    truncate_metrics(metrics_path, step)
    _append_jsonl(metrics_path, {"kind": "resume", "step": step, "epoch": start_epoch,
                                 "batch": skip, "changed": changed})
    note = "".join(f"; {k} {old} -> {new}" for k, (old, new) in changed.items())
    print(f"resuming from {ckpt_path}: epoch {start_epoch + 1}, batch {skip}, step {step}{note}")
    return start_epoch, skip, step, partial


def fit(model, loader, config, run_dir, probe=None, progress=True, step_stream=None,
        any_rank=None, test_batch=None):
    """Train `model` on `loader` for config.epochs; returns the summary of the last epoch.

    probe: a fixed batch x (Tensor), or (x, y), whose terms are pictured after each epoch;
    test_batch: (x, y) test images that an autoregressive model completes in the pictures
    (a class-conditional model trains on the loader's labels too). step_stream:
    None (the steps draw from the global stream), or step -> a context whose draws the step
    (0-based) makes (each rank's own stream under mpirun: train/distributed.py). any_rank:
    None, or flag -> whether any rank's flag is set (a collective), so that all ranks stop
    at the same step on a Ctrl-C that reaches each of them at its own moment, or on a
    non-finite loss term of one rank's shard (not replayed in anomaly mode then). Raises
    TrainingError (one line) when a step goes non-finite or there is nothing to train."""
    from tqdm import tqdm

    if len(loader) == 0:
        raise TrainingError(f"an epoch has 0 steps: {len(loader.dataset)} training images "
                            f"make no full batch of {loader.sampler.batch_size}")
    os.makedirs(run_dir, exist_ok=True)
    ckpt_path = os.path.join(run_dir, "checkpoint.npz")
    metrics_path = os.path.join(run_dir, "metrics.jsonl")
    optimizers = model.configure_optimizers(config.lr)
    opt_set = OptimizerSet(optimizers)
    names = {id(p): name for name, p in model.named_parameters()}
    flags = []   # the guards' device checks of the running step: (0-d index, culprit(index))
    guarded = {k: _GuardedOptimizer(k, o, names, flags=flags) for k, o in optimizers.items()}
    start_epoch, skip, step, saved_step = 0, 0, 0, None
    partial = {"sums": {}, "count": 0}
    if os.path.exists(ckpt_path):
        start_epoch, skip, step, partial = _resume(model, opt_set, optimizers, config,
                                                   ckpt_path, metrics_path)
        saved_step = step
        if skip == 0 and start_epoch > 0 and not os.path.exists(
                os.path.join(run_dir, f"samples_e{start_epoch:03d}.png")):
            write_pictures(model, run_dir, start_epoch, probe, config.seed,  # cut off by a kill
                           test_batch)
    else:
        truncate_metrics(metrics_path, 0)   # a fresh start: no records of an earlier attempt
    write_json_atomic(os.path.join(run_dir, "config.json"), dataclasses.asdict(config))

    def save(epoch, batch, sums=None, count=0):
        nonlocal saved_step
        extra = {"batch": batch, "config": dataclasses.asdict(config)}
        if batch:   # inside an epoch: the summary so far, so the resumed epoch's is whole
            extra["partial"] = {"sums": sums, "count": count}
        save_checkpoint(ckpt_path, model, opt_set, step=step, epoch=epoch, extra=extra)
        saved_step = step

    def stop_non_finite(what, x, y, at):
        """Stop at step `at` (1-based), replaying it on its batch x (labels y)."""
        kept = (f"the last good checkpoint (step {saved_step}) is kept in {ckpt_path}"
                if saved_step is not None else "no checkpoint was written")
        if any_rank is not None:   # one rank's replay would run collectives the others don't
            cause = "not replayed in anomaly mode under mpirun (replay it in one process)"
        else:
            with in_stream(at - 1):
                cause = _first_anomaly(model, x, optimizers, names, **condition(model, y))
        raise TrainingError(f"step {at}: {what}; {cause}; training stopped, {kept}")

    def read_back(pending, sums):
        """Check, sum, show and log the trained steps in `pending` (step, x, y, logs, flags),
        their device values copied to the host in one sync; empties `pending`."""
        values = iter(_fetch([v for _, _, _, logs, fl in pending
                              for v in (*(ok for ok, _ in fl), *logs.values())]))
        for at, x, y, logs, fl in pending:
            for (_, culprit), index in zip(fl, values):
                what = culprit(int(index))
                if what is not None:
                    bar.close()
                    stop_non_finite(what, x, y, at)
            logs = {k: next(values) for k in logs}
            bad = [k for k, v in logs.items() if not np.isfinite(v)]
            elsewhere = any_rank is not None and any_rank(bool(bad)) and not bad
            if bad:
                bar.close()
                stop_non_finite(f"non-finite {', '.join(bad)} ({logs[bad[0]]})", x, y, at)
            if elsewhere:   # every rank stops at this step (its shard's terms were finite)
                bar.close()
                stop_non_finite("a non-finite loss term on another rank", x, y, at)
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
            if at % config.log_every == 0:
                _append_jsonl(metrics_path, {"kind": "train_step", "step": at, "epoch": epoch,
                                             **logs})
        pending.clear()

    def in_stream(step):
        return step_stream(step) if step_stream is not None else contextlib.nullcontext()

    def stopping():   # read in the same order on every rank: a collective under mpirun
        if any_rank is None:
            return stop.requested
        if any_rank(stop.requested) and not stop.requested:
            stop.signum = signal.SIGINT      # another rank's signal: stop as on Ctrl-C
        return stop.requested

    summary = {}
    epoch, done = start_epoch, skip          # done: batches of this epoch already trained
    with _StopOnSignal() as stop:
        for epoch in range(start_epoch, config.epochs):
            set_epoch(loader, epoch)     # its order and binarization (data.image_loader)
            sums, count, t0 = dict(partial["sums"]), partial["count"], time.time()
            partial = {"sums": {}, "count": 0}
            bar = tqdm(total=len(loader), initial=skip, desc=f"epoch {epoch + 1}/{config.epochs}",
                       disable=not progress, dynamic_ncols=True)
            model.train()
            pending = []                          # trained steps whose values are on the device
            for batch, (x, y) in enumerate(loader):
                if batch < skip:
                    continue                      # replaying a resumed epoch's done batches
                if stopping():
                    break
                try:
                    with in_stream(step):
                        logs = model.training_step(x, guarded, **condition(model, y))
                except _NonFinite as e:
                    bar.close()
                    stop_non_finite(e.what, x, y, step + 1)
                step += 1
                count += 1
                step_flags = list(flags)          # the guards' device flags of this step
                flags.clear()
                pending.append((step, x, y, logs, step_flags))
                bar.update(1)
                done = batch + 1
                on_host = all(map(_on_host, (*logs.values(), *(ok for ok, _ in step_flags))))
                if on_host or step % config.log_every == 0:   # host values: read at once
                    read_back(pending, sums)
            read_back(pending, sums)              # before the epoch's summary or a checkpoint
            bar.close()
            if stopping() and done < len(loader):
                save(epoch, done, sums, count)
                print(f"\n{stop.what}: checkpoint saved to {ckpt_path} (epoch {epoch + 1}, "
                      f"after batch {done}); continue with --resume")
                raise Stopped(stop.signum)
            skip, done = 0, 0
            summary = {k: v / max(count, 1) for k, v in sums.items()}
            _append_jsonl(metrics_path, {"kind": "epoch", "epoch": epoch + 1, "step": step,
                                         "seconds": time.time() - t0, **summary})
            save(epoch + 1, 0)
            write_pictures(model, run_dir, epoch + 1, probe, config.seed, test_batch)
            if stopping():
                print(f"\n{stop.what}: checkpoint saved to {ckpt_path} (end of epoch "
                      f"{epoch + 1}); continue with --resume")
                raise Stopped(stop.signum)
    return summary


class Stopped(KeyboardInterrupt):
    """Training stopped by a signal after writing the checkpoint; `signum` names the signal
    (the CLI exits with 128 + signum). A KeyboardInterrupt, so code catching Ctrl-C catches it."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _StopOnSignal:
    """Turn the first SIGINT or SIGTERM into a request to stop after the current step (a
    second one stops at once: KeyboardInterrupt, or Stopped(SIGTERM))."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    signum = None            # the signal that asked to stop, or None

    @property
    def requested(self):
        return self.signum is not None

    @property
    def what(self):          # how the line saying so starts
        return "interrupted" if self.signum == signal.SIGINT else "terminated (SIGTERM)"

    def __enter__(self):
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt if signum == signal.SIGINT else Stopped(signum)
        self.signum = signum

    def __exit__(self, *exc):
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)
        return False


def seed_everything(seed):
    rng.manual_seed(seed)
