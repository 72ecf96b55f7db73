"""The training loop behind `tinygen train`: epochs of model.training_step, with a live
progress bar, metrics, pictures and atomic checkpoints, resumable at any point.

A run directory holds

    config.json        the settings of the run (checked again on --resume)
    metrics.jsonl      one JSON line per logged step ("train_step") and per epoch ("epoch")
    checkpoint.npz     model + optimizers + random state + epoch/batch, written atomically
    samples_eNNN.png   a grid of model.sample(64) after each epoch
    curves.png         every logged term against the step
    kl_per_latent.png  (models whose terms have a per-latent 'kl') KL of each latent dimension
    pixel_nll.png      (models whose terms have a per-pixel 'log_p') mean -log p per pixel

Ctrl-C finishes the current step, writes the checkpoint (with the position inside the epoch)
and returns; `--resume` continues from there: the seeded loader replays the same epoch order,
the saved random state continues the same stream.
"""
import dataclasses
import json
import os
import signal
import threading
import time

import numpy as np

from tinygen import rng
from tinygen.autograd.grad_mode import no_grad
from tinygen.checkpoint import load_checkpoint, save_checkpoint
from tinygen.train import plots


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


def _append_jsonl(path, record):
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_pictures(model, run_dir, epoch, probe):
    """Samples, curves, and the per-term pictures that the model's terms allow."""
    with no_grad():
        was_training = model.training
        model.eval()
        try:
            images = model.sample(64).numpy()
            plots.save_image_grid(np.clip(images, 0, 1), os.path.join(run_dir, f"samples_e{epoch:03d}.png"),
                                  title=f"{type(model).__name__} samples after epoch {epoch}")
            terms = model.terms(probe) if probe is not None else None
        finally:
            model.train(was_training)
    plots.save_curves(read_metrics(run_dir), os.path.join(run_dir, "curves.png"),
                      title=f"{type(model).__name__} training terms")
    if terms is not None:
        if "kl" in terms and terms["kl"].ndim == 2:
            plots.save_kl_per_latent(terms["kl"].numpy().mean(axis=0),
                                     os.path.join(run_dir, "kl_per_latent.png"))
        if "log_p" in terms and terms["log_p"].ndim == 4:
            nll = -terms["log_p"].numpy().mean(axis=0).sum(axis=0)   # (H, W)
            plots.save_pixel_nll(nll, os.path.join(run_dir, "pixel_nll.png"))


def fit(model, loader, config, run_dir, probe=None, progress=True):
    """Train `model` on `loader` for config.epochs; returns the summary of the last epoch.

    probe: a fixed batch (Tensor) whose terms are pictured after each epoch."""
    from tqdm import tqdm

    os.makedirs(run_dir, exist_ok=True)
    ckpt_path = os.path.join(run_dir, "checkpoint.npz")
    metrics_path = os.path.join(run_dir, "metrics.jsonl")
    optimizers = model.configure_optimizers(config.lr)
    opt_set = OptimizerSet(optimizers)
    start_epoch, skip, step = 0, 0, 0
    if os.path.exists(ckpt_path):
        info = load_checkpoint(ckpt_path, model, opt_set)
        start_epoch, step = info["epoch"], info["step"]
        skip = (info["extra"] or {}).get("batch", 0)
        print(f"resuming from {ckpt_path}: epoch {start_epoch + 1}, batch {skip}, step {step}")

    def save(epoch, batch):
        save_checkpoint(ckpt_path, model, opt_set, step=step, epoch=epoch,
                        extra={"batch": batch, "config": dataclasses.asdict(config)})

    summary = {}
    epoch, done = start_epoch, skip          # done: batches of this epoch already trained
    with _StopOnInterrupt() as stop:
        for epoch in range(start_epoch, config.epochs):
            loader.set_epoch(epoch)
            sums, count, t0 = {}, 0, time.time()
            bar = tqdm(total=len(loader), initial=skip, desc=f"epoch {epoch + 1}/{config.epochs}",
                       disable=not progress, dynamic_ncols=True)
            model.train()
            for batch, (x, _) in enumerate(loader):
                if batch < skip:
                    continue                      # replaying a resumed epoch's done batches
                if stop.requested:
                    break
                logs = model.training_step(x, optimizers)
                step += 1
                count += 1
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
                bar.update(1)
                done = batch + 1
                if step % config.log_every == 0:
                    _append_jsonl(metrics_path, {"kind": "train_step", "step": step, "epoch": epoch,
                                                 **{k: float(v) for k, v in logs.items()}})
            bar.close()
            if stop.requested and done < len(loader):
                save(epoch, done)
                print(f"\ninterrupted: checkpoint saved to {ckpt_path} (epoch {epoch + 1}, "
                      f"after batch {done}); continue with --resume")
                raise KeyboardInterrupt
            skip, done = 0, 0
            summary = {k: v / max(count, 1) for k, v in sums.items()}
            _append_jsonl(metrics_path, {"kind": "epoch", "epoch": epoch + 1, "step": step,
                                         "seconds": time.time() - t0, **summary})
            save(epoch + 1, 0)
            write_pictures(model, run_dir, epoch + 1, probe)
            if stop.requested:
                print(f"\ninterrupted: checkpoint saved to {ckpt_path} (end of epoch "
                      f"{epoch + 1}); continue with --resume")
                raise KeyboardInterrupt
    return summary


class _StopOnInterrupt:
    """Turn the first Ctrl-C into a request to stop after the current step (a second one
    interrupts at once)."""

    requested = False

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def seed_everything(seed):
    rng.manual_seed(seed)
