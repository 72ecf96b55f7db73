"""Training for a wall-clock budget, resumable: the loop the eval_* scripts share.

    before = resume(ckpt, model, optimizer, loader) if args.resume else NOTHING_DONE
    done = train_for(model, opts, loader, minutes=15)          # steps, seen, seconds, last
    total = save(ckpt, model, optimizer, before, done, len(train_set))

The checkpoint's `extra` records the steps, images and seconds of training so far, so a
resumed run reports totals. A checkpoint without optimizer state resumes with fresh Adam
moments, and says so.

train_for(..., start_step=before["steps"]) continues the loader's stream of batches exactly
where the run stopped (same epoch, same next batch), so a run resumed any number of times sees
the batches of an uninterrupted one; without it a resumed run starts a fresh epoch.
clock=time.process_time measures the budget in CPU time (fair on a shared machine at one
thread); max_steps stops at a total number of steps (a twin run matching another's steps).
"""
import itertools
import time

import numpy as np

from tinygen.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from tinygen.data import set_epoch

NOTHING_DONE = {"steps": 0, "seen": 0, "seconds": 0.0}


def train_for(model, opts, loader, minutes, log_every=50, clock=time.time, start_step=None,
              max_steps=None):
    """model.training_step over the loader's epochs until `minutes` of `clock` are spent (or
    the run's total steps reach max_steps).

    start_step: the steps done before (resuming): continue the loader's batches exactly there.
    Prints the mean of every logged term over the last `log_every` steps; returns
    {"steps", "seen", "seconds", "last"} (last: those means at the end)."""
    budget, t0, steps, seen = 60.0 * minutes, clock(), 0, 0
    first = start_step or 0
    limit = float("inf") if max_steps is None else max_steps - first
    recent = []
    batches = _batches_from(loader, first) if start_step is not None else _epochs(loader)
    for x, _ in batches:
        if clock() - t0 >= budget or steps >= limit:
            break
        recent.append(model.training_step(x, opts))
        steps += 1
        seen += x.shape[0]
        if steps % log_every == 0:
            print(f"step {first + steps:6d}  {clock() - t0:7.1f} s  " + "  ".join(
                f"{k} {v:.3f}" for k, v in _means(recent[-log_every:]).items()), flush=True)
    return {"steps": steps, "seen": seen, "seconds": clock() - t0,
            "last": _means(recent[-log_every:])}


def _epochs(loader):
    """The loader's batches (an image_loader), epoch after epoch from its sampler's, without
    end."""
    for epoch in itertools.count(loader.sampler.sampler.epoch):
        set_epoch(loader, epoch)
        yield from loader


def _batches_from(loader, step):
    """The loader's batches from batch `step` of its seeded stream (epoch step // len(loader),
    then the rest of that epoch and the next epochs). The skipped batches are still drawn, so
    the epoch's Generator reaches the same state."""
    epoch, skip = divmod(step, len(loader))
    set_epoch(loader, epoch)
    stream = _epochs(loader)
    for _ in range(skip):
        next(stream)
    yield from stream


def _means(logs):
    return {k: float(np.mean([log[k] for log in logs])) for k in logs[-1]} if logs else {}


def resume(ckpt, model, optimizer, loader):
    """Load the model (and the optimizer's state, when the file has it) from `ckpt`; returns
    the steps, images and seconds of training done before."""
    has_optimizer = read_checkpoint(ckpt)["optimizer"] is not None
    info = load_checkpoint(ckpt, model, optimizer if has_optimizer else None)
    set_epoch(loader, info["epoch"] + 1)                      # fresh shuffles, not a replay
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
