"""The run's checkpoint.npz as fit writes and resumes it.

    ckpt = Checkpointer(run_dir, model, optimizers, config)
    ckpt.save(step, epoch, batch, partial)      # atomically (tinygen/checkpoint.py)
    epoch, batch, step, partial = ckpt.resume() # load, apply a new lr, cut metrics back

A checkpoint holds the model, every optimizer (one torch-shaped state_dict: OptimizerSet),
the random state, the step, the epoch and, written inside an epoch (Ctrl-C, SIGTERM), the
batch and the sums of the epoch's summary so far, so the resumed epoch's summary is whole.
"""
import dataclasses
import os

from tinygen.checkpoint import load_checkpoint, save_checkpoint
from tinygen.train.guards import TrainingError
from tinygen.train.metrics import append_jsonl, truncate_metrics


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


class Checkpointer:
    """Saves and resumes the checkpoint of a run directory; `saved_step` is the step of the
    last checkpoint written or loaded (None: none yet)."""

    def __init__(self, run_dir, model, optimizers, config):
        self.path = os.path.join(run_dir, "checkpoint.npz")
        self.metrics_path = os.path.join(run_dir, "metrics.jsonl")
        self.model, self.optimizers, self.config = model, optimizers, config
        self.opt_set = OptimizerSet(optimizers)
        self.saved_step = None

    def exists(self):
        return os.path.exists(self.path)

    def save(self, step, epoch, batch=0, partial=None):
        """The checkpoint after `step`: `epoch` epochs and `batch` batches of the next done;
        partial: the epoch's {"sums", "count"} so far (inside an epoch)."""
        extra = {"batch": batch, "config": dataclasses.asdict(self.config)}
        if batch:
            extra["partial"] = partial
        save_checkpoint(self.path, self.model, self.opt_set, step=step, epoch=epoch, extra=extra)
        self.saved_step = step

    def kept(self):
        """What a stopped run keeps, in words."""
        if self.saved_step is None:
            return "no checkpoint was written"
        return f"the last good checkpoint (step {self.saved_step}) is kept in {self.path}"

    def resume(self):
        """Load the checkpoint, apply a changed lr, cut metrics back to its step; returns
        (epoch, batch, step, partial), partial the sums and count of the epoch's summary so
        far. Raises TrainingError when the run has trained config.epochs already."""
        config = self.config
        fresh_lrs = [[g["lr"] for g in o.param_groups] for o in self.optimizers.values()]
        info = load_checkpoint(self.path, self.model, self.opt_set, check_finite=True)
        epoch, step, extra = info["epoch"], info["step"], info["extra"] or {}
        batch, partial = extra.get("batch", 0), extra.get("partial") or {"sums": {}, "count": 0}
        saved = extra.get("config") or {}
        changed = {key: [saved[key], getattr(config, key)] for key in ("lr", "epochs", "device")
                   if key in saved and saved[key] != getattr(config, key)}
        if epoch >= config.epochs:
            raise TrainingError(f"the run has trained {epoch} epochs and --epochs is "
                             f"{config.epochs}: nothing to train (raise --epochs)")
        if "lr" in changed:   # the loaded optimizer state holds the old lr: apply the new one
            for opt, lrs in zip(self.optimizers.values(), fresh_lrs):
                for group, lr in zip(opt.param_groups, lrs):
                    group["lr"] = lr
        truncate_metrics(self.metrics_path, step)
        append_jsonl(self.metrics_path, {"kind": "resume", "step": step, "epoch": epoch,
                                         "batch": batch, "changed": changed})
        note = "".join(f"; {k} {old} -> {new}" for k, (old, new) in changed.items())
        print(f"resuming from {self.path}: epoch {epoch + 1}, batch {batch}, step {step}{note}")
        self.saved_step = step
        return epoch, batch, step, partial
