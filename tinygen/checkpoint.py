"""Checkpoints: model, optimizer, random state and progress in one tg.save file.

    save_checkpoint("run/ckpt.npz", model, optimizer, step=1000, epoch=3, extra={"loss": 88.1})
    info = load_checkpoint("run/ckpt.npz", model, optimizer)   # info["step"] == 1000

A checkpoint is the dict a torch user saves with torch.save, written by tg.save (so the
file is atomic, pickle-free and bitwise; see serialization.py) and opened by tg.load:

    ckpt = tg.load("run/ckpt.npz")
    ckpt["model"]          model.state_dict(): name -> Tensor, bitwise as saved
    ckpt["optimizer"]      optimizer.state_dict(): {"state": {int: {...}}, "param_groups": [...]}
    ckpt["rng"]            tinygen.rng.get_state(), so a resumed run draws the same stream
    ckpt["step"], ckpt["epoch"], ckpt["extra"]    progress, and whatever the caller adds
    ckpt["format"], ckpt["version"]               "tinygen-checkpoint", 2

save_checkpoint writes that dict; read_checkpoint reads it back and checks it (a damaged,
foreign or older file raises CheckpointError in one line naming the file); load_checkpoint
also puts it into a model and optimizer.

Loading compares the saved model keys with model.state_dict() and reports, by name, the
missing keys (in the model, not in the file), the unexpected ones (in the file, not in the
model) and the mis-shaped ones; strict=True makes any of them an error, strict=False loads
the matching entries and returns the lists. Models and optimizers are duck-typed: anything
with state_dict() and load_state_dict(state_dict, strict=...) / load_state_dict(state_dict).
"""
import os
import zipfile

import numpy as np

from tinygen import backend
from tinygen import rng as tg_rng
from tinygen import serialization

FORMAT = "tinygen-checkpoint"
VERSION = 2    # 1: the .npz of tinygen's own layout, before checkpoints were tg.save files


class CheckpointError(ValueError):
    """An unreadable checkpoint, or one that does not fit the model (keys listed by name)."""


def save_checkpoint(path, model=None, optimizer=None, step=0, epoch=0, extra=None):
    """Save model and optimizer state, tinygen's random state, step, epoch and `extra`
    (numbers, strings, arrays and containers of them) to `path` with tg.save, atomically.
    Returns `path`."""
    checkpoint = {"format": FORMAT, "version": VERSION, "step": int(step), "epoch": int(epoch),
                  "extra": extra,
                  "model": None if model is None else model.state_dict(),
                  "optimizer": None if optimizer is None else optimizer.state_dict(),
                  "rng": tg_rng.get_state()}
    serialization.save(checkpoint, path)
    return path


# ---------------------------------------------------------------------------- reading
# what each entry must hold: a checkpoint is data from a file, checked before it is used
ENTRIES = {"version": int, "step": int, "epoch": int, "model": (dict, type(None)),
           "optimizer": (dict, type(None)), "rng": dict}


def _written_by_version_1(path):
    """Whether `path` is a checkpoint of tinygen's first layout (an .npz with a 'meta' entry)."""
    try:
        with zipfile.ZipFile(path) as z:
            return "meta.npy" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def _check(path, checkpoint):
    """CheckpointError unless `checkpoint` (what tg.load read) is a checkpoint this tinygen
    can use: the format, a version it knows, and entries of the right types."""
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        what = (f"format {checkpoint.get('format')!r}" if isinstance(checkpoint, dict)
                else type(checkpoint).__name__)
        raise CheckpointError(f"{path}: not a tinygen checkpoint (a tg.save file holding "
                              f"{what}, expected a dict of format {FORMAT!r})")
    for key, kind in ENTRIES.items():
        if key not in checkpoint:
            raise CheckpointError(f"{path}: malformed checkpoint (missing entry {key!r})")
        value = checkpoint[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise CheckpointError(f"{path}: malformed checkpoint ({key} is "
                                  f"{type(value).__name__} {value!r:.40})")
    if checkpoint["version"] > VERSION:
        raise CheckpointError(f"{path}: format version {checkpoint['version']} is newer than "
                              f"this tinygen reads ({VERSION}); upgrade tinygen")
    if checkpoint["version"] < VERSION:
        raise CheckpointError(f"{path}: format version {checkpoint['version']} is older than "
                              f"this tinygen reads ({VERSION})")
    optimizer = checkpoint["optimizer"]
    if optimizer is not None and not (isinstance(optimizer.get("state"), dict)
                                      and isinstance(optimizer.get("param_groups"), list)):
        raise CheckpointError(f"{path}: malformed checkpoint (the optimizer state is not "
                              "{'state': dict, 'param_groups': list})")
    model = checkpoint["model"] or {}
    for name, value in model.items():
        if not hasattr(value, "shape"):
            raise CheckpointError(f"{path}: malformed checkpoint (model entry {name!r} is "
                                  f"{type(value).__name__}, not a tensor)")


def read_checkpoint(path, map_location=None):
    """The checkpoint at `path` (tg.load's dict, checked), without applying it: keys format,
    version, step, epoch, extra, model (name -> Tensor, or None), optimizer (a state_dict,
    or None), rng, and path. map_location: as tg.load's (default: where each was saved).

    A file that is not a checkpoint (truncated, damaged, hand-made, or written by tinygen
    before checkpoints were tg.save files) raises CheckpointError naming the file; a missing
    one FileNotFoundError."""
    path = os.fspath(path)
    try:
        checkpoint = serialization.load(path, map_location=map_location)
    except serialization.SerializationError as e:
        if _written_by_version_1(path):
            raise CheckpointError(f"{path}: a checkpoint of an older tinygen (format version "
                                  f"1, before checkpoints were tg.save files), which this "
                                  f"tinygen cannot read: train again") from None
        raise CheckpointError(str(e)) from None
    _check(path, checkpoint)
    return dict(checkpoint, path=path)


def compare_state(saved, current):
    """(missing, unexpected, mismatched) between saved arrays and a model's state_dict:
    names in `current` only, names in `saved` only, and (name, saved shape, model shape)."""
    missing = [name for name in current if name not in saved]
    unexpected = [name for name in saved if name not in current]
    mismatched = [(name, tuple(saved[name].shape), tuple(current[name].shape))
                  for name in saved if name in current
                  and tuple(saved[name].shape) != tuple(current[name].shape)]
    return missing, unexpected, mismatched


def _mismatch_message(path, missing, unexpected, mismatched):
    lines = [f"{path}: the checkpoint does not fit the model:"]
    if missing:
        lines.append(f"  missing keys (in the model, not in the checkpoint): {', '.join(missing)}")
    if unexpected:
        lines.append(f"  unexpected keys (in the checkpoint, not in the model): "
                     f"{', '.join(unexpected)}")
    for name, saved, current in mismatched:
        lines.append(f"  shape mismatch for {name}: checkpoint {saved}, model {current}")
    lines.append("  (load_checkpoint(..., strict=False) loads the matching entries)")
    return "\n".join(lines)


def _check_values(path, saved, current, check_finite):
    """Refuse values that the model could not hold as saved: finite values that its (narrower)
    dtype would turn into +-inf, and, with check_finite, NaN or Inf anywhere."""
    for name, value in saved.items():
        array = backend.to_numpy(value.array if hasattr(value, "array") else value)
        if array.dtype.kind != "f" or not array.size:
            continue
        finite = np.isfinite(array)
        if check_finite and not finite.all():
            raise CheckpointError(f"{path}: {name} holds {int((~finite).sum())} non-finite "
                                  f"values (NaN or Inf) of {array.size}: the run diverged or "
                                  "the file is damaged")
        # the raw array's dtype (numpy's, also for cupy), whatever Tensor.dtype returns
        target = getattr(getattr(current.get(name), "array", None), "dtype", array.dtype)
        if target.kind == "f" and target.itemsize < array.dtype.itemsize:
            big = np.abs(array[finite]).max(initial=0)
            if big > np.finfo(target).max:
                raise CheckpointError(f"{path}: {name} holds {array.dtype} values up to "
                                      f"{big:.3g}, beyond {target}'s range (they would become "
                                      "inf in the model)")


def load_checkpoint(path, model=None, optimizer=None, strict=True, restore_rng=True,
                    map_location=None, check_finite=False):
    """Load a checkpoint into `model` and `optimizer` and restore tinygen's random state.

    strict: any missing, unexpected or mis-shaped model key raises CheckpointError (listing
    them all by name) before anything is changed; with strict=False the matching entries
    are loaded and the lists returned. map_location: as tg.load's, where the saved Tensors
    are loaded before they are copied in (default: the device they were saved from).
    Returns a dict: step, epoch, extra, version, path, missing, unexpected, mismatched.
    """
    ckpt = read_checkpoint(path, map_location=map_location)
    missing, unexpected, mismatched = [], [], []
    if model is not None:
        if ckpt["model"] is None:
            raise CheckpointError(f"{ckpt['path']}: the checkpoint holds no model state")
        current = model.state_dict()
        missing, unexpected, mismatched = compare_state(ckpt["model"], current)
        if strict and (missing or unexpected or mismatched):
            raise CheckpointError(_mismatch_message(ckpt["path"], missing, unexpected, mismatched))
        bad = set(unexpected) | {name for name, _, _ in mismatched}
        _check_values(ckpt["path"], {k: v for k, v in ckpt["model"].items() if k not in bad},
                      current, check_finite)
        state = {name: array for name, array in ckpt["model"].items() if name not in bad}
        model.load_state_dict(state, strict=strict)
    if optimizer is not None:
        if ckpt["optimizer"] is None:
            raise CheckpointError(f"{ckpt['path']}: the checkpoint holds no optimizer state")
        optimizer.load_state_dict(ckpt["optimizer"])
    if restore_rng:
        tg_rng.set_state(ckpt["rng"])
    return {key: ckpt[key] for key in ("path", "version", "step", "epoch", "extra")} | {
        "missing": missing, "unexpected": unexpected, "mismatched": mismatched}
