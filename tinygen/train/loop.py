"""The training loop behind `tinygen train`: epochs of model.training_step, with a live
progress bar, metrics, pictures and atomic checkpoints, resumable at any point.

    summary = fit(model, loader, config, run_dir, probe=x)

The model keeps the contract of tinygen/models/base.py (configure_optimizers,
training_step, condition; terms and sample for the pictures). A run directory holds

    lock               while a process trains (samples, evaluates) into it: its pid and host
                       (see rundir.py)
    config.json        the settings of the run (checked again on --resume: config.py)
    metrics.jsonl      the logged steps, epochs and resumes (metrics.py)
    checkpoint.npz     model + optimizers + random state + epoch/batch, written atomically
                       (checkpointing.py)
    samples_eNNN.png, completions_eNNN.png, curves.png, kl_per_latent.png, pixel_nll.png
                       the pictures after each epoch (pictures.py)

Ctrl-C (SIGINT) and SIGTERM (what `kill`, SLURM's time limit and `docker stop` send) finish
the current step, write the checkpoint (with the position inside the epoch), print one line
and raise Stopped (exit status 128 + the signal's number: 130, 143); a second one stops at
once. `--resume` continues from there: the seeded loader replays the same epoch order and
binarization (data.image_loader: set_epoch seeds its sampler and each image's dynamic bits
from the epoch), the saved random state continues the same stream, and metrics.jsonl is cut
back to the checkpoint's step. The pictures draw from a stream of their own, so a run
interrupted anywhere (Ctrl-C, or a kill -9 that falls back to the last epoch's checkpoint)
and resumed writes bitwise the checkpoints of an uninterrupted one. On resume a new lr or
epochs is applied (and recorded in metrics.jsonl), a new lr also in the loaded optimizers.
A signal ignored when training begins stays ignored, as Python leaves it: a run that a script
starts in the background (`tinygen train vae &`: a shell without job control starts it with
SIGINT ignored) is not stopped by a Ctrl-C meant for the script.

Guards (guards.py): every optimizer step first checks its gradients and then the parameters
it updated; a NaN or Inf there, or in a logged loss term, stops training with a
TrainingError naming the step and, from a replay of that step in anomaly mode, the first op
that made a non-finite value. Nothing is saved after the last good checkpoint.

Host syncs: training_step returns its logged terms as numbers or 0-d arrays, and the guard
of an optimizer step on the device is one 0-d device value. Host values are read at once
(a CPU run checks and logs every step); device values wait, and are copied to the host
together, in one sync, every log_every steps and before a checkpoint. On a GPU a non-finite
step is thus found at the next logging step (its number is still the step's own; the update
it made is never saved), and the other steps make no sync.
"""
import contextlib
import dataclasses
import os
import signal
import threading
import time

import numpy as np

from tinygen import rng
from tinygen.data import set_epoch
from tinygen.train.checkpointing import Checkpointer
from tinygen.train.guards import (NonFinite, NonFiniteGuard, TrainingError, fetch, on_host,
                                  replay_in_anomaly_mode)
from tinygen.train.metrics import append_jsonl, truncate_metrics
from tinygen.train.pictures import write_pictures
from tinygen.train.rundir import write_json_atomic


def fit(model, loader, config, run_dir, probe=None, progress=True, step_stream=None,
        any_rank=None, test_batch=None, pictures=True):
    """Train `model` on `loader` for config.epochs; returns the summary of the last epoch.

    config: a TrainConfig (config.py; lr, epochs, seed and log_every are read). probe: a
    fixed batch x (Tensor), or (x, y), whose terms are pictured after each epoch;
    test_batch: (x, y) test images that a model with complete() completes in the pictures
    (a class-conditional model trains on the loader's labels too); pictures=False: none.
    step_stream: None (the steps draw from the global stream), or step -> a context whose
    draws the step (0-based) makes (each rank's own stream under mpirun:
    train/distributed.py). any_rank: None, or flag -> whether any rank's flag is set (a
    collective), so that all ranks stop at the same step on a Ctrl-C that reaches each of
    them at its own moment, or on a non-finite loss term of one rank's shard (not replayed
    in anomaly mode then). Raises TrainingError (one line) when a step goes non-finite or
    there is nothing to train."""
    if len(loader) == 0:
        raise TrainingError(f"an epoch has 0 steps: {len(loader.dataset)} training images "
                            f"make no full batch of {loader.sampler.batch_size}")
    os.makedirs(run_dir, exist_ok=True)
    draw = (lambda epoch: write_pictures(model, run_dir, epoch, probe, config.seed, test_batch))
    return _Training(model, loader, config, run_dir, progress, step_stream, any_rank,
                     draw if pictures else None).run()


class _Training:
    """One call of fit: its state (the step, the progress bar, the guard, the signal) and
    its parts, each a method: start, epoch, batches, train_step, read_back, stop."""

    def __init__(self, model, loader, config, run_dir, progress, step_stream, any_rank,
                 pictures):
        self.model, self.loader, self.config, self.run_dir = model, loader, config, run_dir
        self.progress, self.step_stream, self.any_rank = progress, step_stream, any_rank
        self.optimizers = model.configure_optimizers(config.lr)
        self.names = {id(p): name for name, p in model.named_parameters()}
        self.checkpoint = Checkpointer(run_dir, model, self.optimizers, config)
        self.metrics_path = os.path.join(run_dir, "metrics.jsonl")
        self.step, self.bar, self.guard, self.signal = 0, None, None, None
        self.pictures = pictures   # epoch -> write the pictures, or None

    def run(self):
        start_epoch, skip, partial = self.start()
        summary = {}
        with _StopOnSignal() as self.signal, \
                NonFiniteGuard(self.optimizers, self.names) as self.guard:
            for epoch in range(start_epoch, self.config.epochs):
                summary = self.epoch(epoch, skip, partial)
                skip, partial = 0, {"sums": {}, "count": 0}
        return summary

    def start(self):
        """Resume from the run's checkpoint, or start afresh; then write config.json.
        Returns (epoch, batches of it done, the partial sums of its summary)."""
        epoch, skip, partial = 0, 0, {"sums": {}, "count": 0}
        if self.checkpoint.exists():
            epoch, skip, self.step, partial = self.checkpoint.resume()
            samples = os.path.join(self.run_dir, f"samples_e{epoch:03d}.png")
            if skip == 0 and epoch > 0 and not os.path.exists(samples) and self.pictures:
                self.pictures(epoch)                 # cut off by a kill
        else:
            truncate_metrics(self.metrics_path, 0)   # a fresh start: no records of an earlier attempt
        write_json_atomic(os.path.join(self.run_dir, "config.json"),
                          dataclasses.asdict(self.config))
        return epoch, skip, partial

    def epoch(self, epoch, skip, partial):
        """Train epoch `epoch` from batch `skip` on, then log its summary, write the
        checkpoint and the pictures; a signal saves where it stopped and raises Stopped."""
        from tqdm import tqdm
        set_epoch(self.loader, epoch)     # its order and binarization (data.image_loader)
        sums, t0 = dict(partial["sums"]), time.time()
        self.bar = tqdm(total=len(self.loader), initial=skip, disable=not self.progress,
                        desc=f"epoch {epoch + 1}/{self.config.epochs}", dynamic_ncols=True)
        self.model.train()
        done, count = self.batches(epoch, skip, sums, partial["count"])
        self.bar.close()
        if self.stopping() and done < len(self.loader):
            self.checkpoint.save(self.step, epoch, done, {"sums": sums, "count": count})
            self.stop(f"(epoch {epoch + 1}, after batch {done})")
        summary = {k: v / max(count, 1) for k, v in sums.items()}
        append_jsonl(self.metrics_path, {"kind": "epoch", "epoch": epoch + 1, "step": self.step,
                                         "seconds": time.time() - t0, **summary})
        self.checkpoint.save(self.step, epoch + 1)
        if self.pictures:
            self.pictures(epoch + 1)
        if self.stopping():
            self.stop(f"(end of epoch {epoch + 1})")
        return summary

    def batches(self, epoch, skip, sums, count):
        """Train the epoch's batches from `skip` on, until its end or a signal; their logged
        terms are added to `sums`. Returns (batches of the epoch done, steps summed)."""
        pending, done = [], skip   # pending: trained steps whose values are on the device
        for batch, (x, y) in enumerate(self.loader):
            if batch < skip:
                continue                      # replaying a resumed epoch's done batches
            if self.stopping():
                break
            logs, flags = self.train_step(x, y)
            pending.append((self.step, x, y, logs, flags))
            count, done = count + 1, batch + 1
            self.bar.update(1)
            host = all(map(on_host, (*logs.values(), *(index for index, _ in flags))))
            if host or self.step % self.config.log_every == 0:   # host values: read at once
                self.read_back(pending, sums, epoch)
        self.read_back(pending, sums, epoch)  # before the epoch's summary or a checkpoint
        return done, count

    def in_stream(self, step):
        return self.step_stream(step) if self.step_stream is not None else contextlib.nullcontext()

    def train_step(self, x, y):
        """One model.training_step on batch x (labels y); returns its logged terms and the
        guard's device checks of it."""
        try:
            with self.in_stream(self.step):
                logs = self.model.training_step(x, self.optimizers, **self.model.condition(y))
        except NonFinite as e:
            self.stop_non_finite(e.what, x, y, self.step + 1)
        self.step += 1
        return logs, self.guard.take_flags()

    def read_back(self, pending, sums, epoch):
        """Check, sum, show and log the trained steps in `pending` (step, x, y, logs, flags),
        their device values copied to the host in one sync; empties `pending`."""
        values = iter(fetch([v for _, _, _, logs, flags in pending
                             for v in (*(index for index, _ in flags), *logs.values())]))
        for at, x, y, logs, flags in pending:
            for (_, culprit), index in zip(flags, values):
                what = culprit(int(index))
                if what is not None:
                    self.stop_non_finite(what, x, y, at)
            logs = {k: next(values) for k in logs}
            self.check_logs(logs, x, y, at)
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
            if at % self.config.log_every == 0:
                append_jsonl(self.metrics_path, {"kind": "train_step", "step": at,
                                                 "epoch": epoch, **logs})
        pending.clear()

    def check_logs(self, logs, x, y, at):
        """A non-finite logged term (here, or under mpirun on any rank) stops the run."""
        bad = [k for k, v in logs.items() if not np.isfinite(v)]
        elsewhere = self.any_rank is not None and self.any_rank(bool(bad)) and not bad
        if bad:
            self.stop_non_finite(f"non-finite {', '.join(bad)} ({logs[bad[0]]})", x, y, at)
        if elsewhere:   # every rank stops at this step (its shard's terms were finite)
            self.stop_non_finite("a non-finite loss term on another rank", x, y, at)

    def stop_non_finite(self, what, x, y, at):
        """Stop at step `at` (1-based), replaying it on its batch x (labels y)."""
        self.bar.close()
        self.guard.detach()
        if self.any_rank is not None:   # one rank's replay would run collectives the others don't
            cause = "not replayed in anomaly mode under mpirun (replay it in one process)"
        else:
            with self.in_stream(at - 1):
                cause = replay_in_anomaly_mode(self.model, x, self.optimizers,
                                               **self.model.condition(y))
        raise TrainingError(f"step {at}: {what}; {cause}; training stopped, "
                            f"{self.checkpoint.kept()}")

    def stopping(self):
        """Whether a signal asked to stop; read in the same order on every rank (a
        collective under mpirun: another rank's signal stops this one as Ctrl-C)."""
        if self.any_rank is not None and self.any_rank(self.signal.requested) \
                and not self.signal.requested:
            self.signal.signum = signal.SIGINT
        return self.signal.requested

    def stop(self, where):
        print(f"\n{self.signal.what}: checkpoint saved to {self.checkpoint.path} {where}; "
              "continue with --resume")
        raise Stopped(self.signal.signum)


class Stopped(KeyboardInterrupt):
    """Training stopped by a signal after writing the checkpoint; `signum` names the signal
    (the CLI exits with 128 + signum). A KeyboardInterrupt, so code catching Ctrl-C catches it."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _take_signal(signum, handler):
    """Install handler for signum and return the handler it replaces; None, changing nothing,
    off the main thread (Python allows handlers there only) or where signum is ignored (as
    Python leaves an ignored signal: see the top of this file)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signum) is signal.SIG_IGN):
        return None
    return signal.signal(signum, handler)


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
        taken = {signum: _take_signal(signum, self._handle) for signum in self.SIGNALS}
        self.previous = {signum: h for signum, h in taken.items() if h is not None}
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt if signum == signal.SIGINT else Stopped(signum)
        self.signum = signum

    def __exit__(self, *exc):
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)
        return False


class TerminateAsInterrupt:
    """While a command runs, SIGTERM raises Stopped(SIGTERM) (a KeyboardInterrupt) in the main
    thread, as Ctrl-C raises KeyboardInterrupt, so it ends in one line (fit handles both
    itself, to finish the step first); the previous handler comes back at the end. An
    ignored SIGTERM stays ignored."""

    def __enter__(self):
        self.previous = _take_signal(signal.SIGTERM, self._handle)
        return self

    @staticmethod
    def _handle(signum, frame):
        raise Stopped(signum)

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def seed_everything(seed):
    rng.manual_seed(seed)
