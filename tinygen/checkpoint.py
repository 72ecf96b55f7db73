"""Checkpoints: model, optimizer, random state and progress in one .npz file.

    save_checkpoint("run/ckpt.npz", model, optimizer, step=1000, epoch=3, extra={"loss": 88.1})
    info = load_checkpoint("run/ckpt.npz", model, optimizer)   # info["step"] == 1000

The file is a plain NumPy .npz (a zip of .npy arrays, no pickles; `np.load` opens it):

    meta                  JSON (as uint8 bytes): format name and version, step, epoch,
                          extra, the model's keys, the optimizer's structure
    rng                   JSON: tinygen.rng.get_state(), so a resumed run draws the same stream
    model/<name>          one array per model.state_dict() entry, bitwise as saved
    optimizer/<i>/<key>   one array per array-valued entry of optimizer.state_dict()["state"]

The optimizer's state_dict is torch's shape, {"state": {int: {key: value}}, "param_groups":
[dict]}: values may be Tensors, arrays or numbers; the groups hold numbers, tuples, lists.
Numbers and groups travel in the JSON (tuples tagged so they come back as tuples), arrays
and Tensors as arrays, each restored as the kind it was saved.

Writing is atomic: the arrays go to a temporary file in the same directory, which is flushed,
fsynced and renamed onto `path` with os.replace, so a crash or kill midway leaves the previous
checkpoint whole (and, at worst, a stray `.<name>.*.tmp` file beside it). The file gets the
permissions a plain open(path, "wb") would leave (file_mode: an overwritten file's own, a new
one's from the umask, as torch.save and np.savez), not mkstemp's private 0600.

Loading compares the saved model keys with model.state_dict() and reports, by name, the
missing keys (in the model, not in the file), the unexpected ones (in the file, not in the
model) and the mis-shaped ones; strict=True makes any of them an error, strict=False loads
the matching entries and returns the lists. Models and optimizers are duck-typed: anything
with state_dict() and load_state_dict(state_dict, strict=...) / load_state_dict(state_dict).
"""
import contextlib
import json
import numbers
import os
import tempfile

import numpy as np

from tinygen import backend
from tinygen import rng as tg_rng

FORMAT = "tinygen-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """An unreadable checkpoint, or one that does not fit the model (keys listed by name)."""


# ---------------------------------------------------------------------------- encoding
def _to_numpy(value):
    """A NumPy array of a Tensor (its .array, copied off a GPU) or an array."""
    return backend.to_numpy(value.array if _is_tensor(value) else value)


def _is_device_array(value):
    """A raw CuPy array (it has .device too, but is no Tensor)."""
    return hasattr(value, "__cuda_array_interface__") and not isinstance(value, np.ndarray)


def _is_tensor(value):
    return (not isinstance(value, (np.ndarray, np.generic)) and not _is_device_array(value)
            and hasattr(value, "array")
            and hasattr(value, "device"))


def _json_bytes(obj):
    return np.frombuffer(json.dumps(obj).encode("utf-8"), dtype=np.uint8)


def _json_value(array):
    return json.loads(array.tobytes().decode("utf-8"), object_hook=_untag)


def _tag(obj):
    """JSON-ready copy of obj: tuples tagged {"__tuple__": [...]}, arrays {"__array__": [...],
    "dtype": ...}, NumPy scalars as numbers."""
    if isinstance(obj, tuple):
        return {"__tuple__": [_tag(v) for v in obj]}
    if isinstance(obj, list):
        return [_tag(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): _tag(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return {"__array__": obj.tolist(), "dtype": obj.dtype.str}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, numbers.Number, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} {obj!r} in a checkpoint's JSON "
                    "(numbers, strings, lists, tuples and dicts only)")


def _untag(d):
    if set(d) == {"__tuple__"}:
        return tuple(d["__tuple__"])
    if set(d) == {"__array__", "dtype"}:
        return np.array(d["__array__"], dtype=d["dtype"])
    return d


def _encode_optimizer(state_dict, arrays):
    """The JSON manifest of an optimizer state_dict; its arrays go into `arrays`."""
    state = {}
    for index, entries in state_dict.get("state", {}).items():
        state[str(index)] = {}
        for key, value in entries.items():
            if _is_tensor(value) or _is_device_array(value) or \
                    isinstance(value, (np.ndarray, np.generic)):
                arrays[f"optimizer/{index}/{key}"] = _to_numpy(value)
                kind = "tensor" if _is_tensor(value) else "device_array" if \
                    _is_device_array(value) else "array" if isinstance(value, np.ndarray) \
                    else "numpy_scalar"
                entry = {"kind": kind}
                if kind == "tensor":
                    entry["device"] = str(value.device)
            else:
                entry = {"kind": "value", "value": _tag(value)}
            state[str(index)][key] = entry
    return {"state": state, "param_groups": _tag(list(state_dict.get("param_groups", [])))}


def _decode_optimizer(manifest, arrays, map_location):
    state = {}
    for index, entries in manifest["state"].items():
        state[int(index)] = {}
        for key, entry in entries.items():
            if entry["kind"] == "value":
                value = entry["value"]
            else:
                array = arrays[f"optimizer/{index}/{key}"]
                if entry["kind"] == "tensor":
                    from tinygen.autograd.tensor import tensor  # only needed to rebuild Tensors
                    value = tensor(array, device=map_location or entry["device"])
                elif entry["kind"] == "device_array":   # a raw CuPy array comes back as one
                    value = backend.to_device(array, map_location or backend.CUDA)
                elif entry["kind"] == "numpy_scalar":
                    value = array[()]
                else:
                    value = array
            state[int(index)][key] = value
    return {"state": state, "param_groups": manifest["param_groups"]}


# ---------------------------------------------------------------------------- writing
def _fsync_directory(directory):
    """Make the rename itself durable (POSIX; a no-op where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask():
    """The process's umask, read without changing it (os.umask can only read it by setting
    it, which another thread creating a file at that moment would see)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)    # no /proc (not Linux): the only other way to read it
    os.umask(mask)
    return mask


def file_mode(path):
    """The permission bits an atomic write to `path` gives its temporary file before the rename:
    the existing file's (an overwrite keeps them, as open(path, "w") does), else 0o666 less the
    umask (what open gives a new file; mkstemp's 0600 would hide a shared run from its group)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


@contextlib.contextmanager
def naming_file(path):
    """Give an OSError raised inside without a file name (a write into an open file: ENOSPC,
    EDQUOT, EIO) `path` as its file name, so its one line says which file was not written."""
    try:
        yield
    except OSError as e:
        if e.filename is None and e.errno is not None:
            raise OSError(e.errno, e.strerror or os.strerror(e.errno), os.fspath(path)) from e
        raise


def write_npz_atomic(path, arrays):
    """np.savez(`path`, **arrays) via a temporary file in the same directory + os.replace."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with naming_file(path):
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        try:
            os.fchmod(fd, file_mode(path))
            with os.fdopen(fd, "wb") as f:
                np.savez(f, allow_pickle=False, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
    _fsync_directory(directory)


def save_checkpoint(path, model=None, optimizer=None, step=0, epoch=0, extra=None):
    """Save model and optimizer state, tinygen's random state, step, epoch and `extra`
    (JSON-able) to the .npz file `path`, atomically. Returns `path`."""
    arrays = {}
    model_keys = None
    if model is not None:
        model_keys = []
        for name, value in model.state_dict().items():
            arrays[f"model/{name}"] = _to_numpy(value)
            model_keys.append(name)
    optimizer_manifest = None
    if optimizer is not None:
        optimizer_manifest = _encode_optimizer(optimizer.state_dict(), arrays)
    meta = {"format": FORMAT, "version": VERSION, "step": int(step), "epoch": int(epoch),
            "extra": _tag(extra), "model": model_keys, "optimizer": optimizer_manifest}
    arrays["meta"] = _json_bytes(meta)
    arrays["rng"] = _json_bytes(_tag(tg_rng.get_state()))
    write_npz_atomic(path, arrays)
    return path


# ---------------------------------------------------------------------------- reading
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")   # a zip's first member, or an empty zip


def _open_arrays(path):
    """name -> array of the .npz at `path`; CheckpointError for anything but a readable zip."""
    with open(path, "rb") as f:   # FileNotFoundError passes through, as for np.load
        head = f.read(4)
    if not head:
        raise CheckpointError(f"{path}: not a readable checkpoint (the file is empty)")
    if head not in ZIP_MAGICS:
        raise CheckpointError(f"{path}: not a readable checkpoint (not a .npz zip archive: "
                              f"starts with 0x{head.hex()})")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except Exception as e:  # BadZipFile, a bad CRC, truncated members, ...
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from None


def _parse(path, arrays, map_location):
    meta = _json_value(arrays["meta"])
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{path}: format {got!r}, expected {FORMAT!r}")
    if meta["version"] > VERSION:
        raise CheckpointError(f"{path}: format version {meta['version']} is newer than this "
                              f"tinygen reads ({VERSION}); upgrade tinygen")
    model = None if meta["model"] is None else {
        name: arrays[f"model/{name}"] for name in meta["model"]}
    optimizer = None if meta["optimizer"] is None else \
        _decode_optimizer(meta["optimizer"], arrays, map_location)
    return {"path": path, "version": meta["version"], "step": int(meta["step"]),
            "epoch": int(meta["epoch"]), "extra": meta["extra"], "model": model,
            "optimizer": optimizer, "rng": _json_value(arrays["rng"])}


def read_checkpoint(path, map_location=None):
    """Everything in a checkpoint, without applying it: a dict with keys version, step, epoch,
    extra, model (name -> array, or None), optimizer (a state_dict, or None) and rng.

    A file that is not a checkpoint, or one whose entries are malformed (a damaged or
    hand-made file), raises CheckpointError naming the file; a missing one FileNotFoundError."""
    path = os.fspath(path)
    arrays = _open_arrays(path)
    if "meta" not in arrays:
        raise CheckpointError(f"{path}: not a tinygen checkpoint (no 'meta' entry)")
    try:
        return _parse(path, arrays, map_location)
    except CheckpointError:
        raise
    except KeyError as e:
        raise CheckpointError(f"{path}: malformed checkpoint (missing entry {e})") from None
    except (ValueError, TypeError, AttributeError) as e:  # UnicodeDecodeError and JSON errors too
        raise CheckpointError(
            f"{path}: malformed checkpoint ({type(e).__name__}: {e})") from None


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
    for name, array in saved.items():
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
    are loaded and the lists returned. map_location: device for the optimizer's Tensors
    (default: the device they were saved from).
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
