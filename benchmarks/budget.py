"""Training for a wall-clock budget, resumable: the loop the eval_* scripts share.

    before = resume(ckpt, model, optimizer, loader) if args.resume else NOTHING_DONE
    done = train_for(model, opts, loader, minutes=15)          # steps, seen, seconds, last
    total = save(ckpt, model, optimizer, before, done, len(train_set))

The checkpoint's `extra` records the steps, images and seconds of training so far, so a
resumed run reports totals. A checkpoint without optimizer state resumes with fresh Adam
moments, and says so.
"""
import time

import numpy as np

from tinygen.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint

NOTHING_DONE = {"steps": 0, "seen": 0, "seconds": 0.0}


def train_for(model, opts, loader, minutes, log_every=50):
    """model.training_step over the loader's epochs until `minutes` are spent.

    Prints the mean of every logged term over the last `log_every` steps; returns
    {"steps", "seen", "seconds", "last"} (last: those means at the end)."""
    budget, t0, steps, seen = 60.0 * minutes, time.time(), 0, 0
    recent = []
    while time.time() - t0 < budget:
        for x, _ in loader:
            if time.time() - t0 >= budget:
                break
            recent.append(model.training_step(x, opts))
            steps += 1
            seen += x.shape[0]
            if steps % log_every == 0:
                print(f"step {steps:6d}  {time.time() - t0:7.1f} s  " + "  ".join(
                    f"{k} {v:.3f}" for k, v in _means(recent[-log_every:]).items()), flush=True)
    return {"steps": steps, "seen": seen, "seconds": time.time() - t0,
            "last": _means(recent[-log_every:])}


def _means(logs):
    return {k: float(np.mean([log[k] for log in logs])) for k in logs[-1]} if logs else {}


def resume(ckpt, model, optimizer, loader):
    """Load the model (and the optimizer's state, when the file has it) from `ckpt`; returns
    the steps, images and seconds of training done before."""
    has_optimizer = read_checkpoint(ckpt)["optimizer"] is not None
    info = load_checkpoint(ckpt, model, optimizer if has_optimizer else None)
    loader.set_epoch(info["epoch"] + 1)                      # fresh shuffles, not a replay
    before = info["extra"] or {}
    if "seconds" not in before:
        raise SystemExit(f"{ckpt} does not record its training time; cannot resume it")
    print(f"resumed from {ckpt}: {before['steps']} steps, {before['seconds'] / 60:.1f} min"
          + ("" if has_optimizer else "; no optimizer state in it: fresh Adam moments"))
    return before


def save(ckpt, model, optimizer, before, done, n_train):
    """Write the checkpoint (atomically) with the running totals; returns the totals."""
    total = {k: before[k] + done[k] for k in ("steps", "seen", "seconds")}
    save_checkpoint(ckpt, model, optimizer, step=total["steps"],
                    epoch=int(total["seen"] // n_train), extra=total)
    return total
