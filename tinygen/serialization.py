"""tg.save / tg.load: state dicts (and any nest of Tensors, arrays and plain values) in one
file, without pickle.

    tg.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3}, "ckpt.pt")
    state = tg.load("ckpt.pt", map_location="cpu")
    model.load_state_dict(state["model"])

The file is a NumPy .npz (a zip of .npy arrays; `np.load` opens it):

    manifest   JSON as uint8 bytes: {"format": "tinygen-save", "version": 1, "object": ...}
    a<i>       the i-th array of the object, bitwise as saved (dtype, shape, byte order)

The manifest's object mirrors the saved one with every container tagged, so that what comes
back has the same types: {"dict": [[key, value], ...]} (keys may be str, int, float, bool,
None or tuples of them; order kept; "odict" for an OrderedDict), {"tuple": [...]},
{"list": [...]}, {"tensor": i, "device": ..., "requires_grad": ..., "parameter": ...},
{"ndarray": i}, {"scalar": i} (a NumPy scalar), {"device_array": i, "device": "cuda"} (a raw
CuPy array, as optimizers keep some buffers), and bare JSON for str, int, float, bool, None.
Nothing else can be saved (a Module is refused: save its state_dict()), so loading runs no
code: weights_only=True is what every load does. Two Tensors that shared memory are saved as
two arrays (torch keeps the sharing).

Writing to a path is atomic (write_npz_atomic): the arrays go to a temporary file in the same
directory, which is flushed, fsynced and renamed onto the path with os.replace, so a crash or
kill midway leaves the previous file whole (and, at worst, a stray `.<name>.*.tmp` beside it).
The file gets the permissions a plain open(path, "wb") would leave (file_mode: an overwritten
file's own, a new one's from the umask, as torch.save), not mkstemp's private 0600. Writing
to an open binary file object writes there. A truncated file, a file that is not
tinygen's (a torch.save zip included) or one from a newer tinygen raises SerializationError
naming the file and what is wrong.
"""
import collections
import contextlib
import json
import os
import tempfile

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor

FORMAT = "tinygen-save"
VERSION = 1


class SerializationError(RuntimeError):
    """A file tg.load cannot read: truncated, not tinygen's, or of a newer format version."""


# ---------------------------------------------------------------------------- encoding
# containers inside containers: each is two levels of the JSON manifest, whose reader and
# writer recurse (Python's limit: 1000 frames), so a deeper object is refused by name
MAX_DEPTH = 200


def _encode(obj, arrays, where, depth=0):
    """The JSON tag of `obj`; its arrays are appended to `arrays`. `where` names the place
    inside the saved object for error messages (obj['model']['fc.weight'])."""
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if depth > MAX_DEPTH:
        shown = where if len(where) < 80 else f"{where[:40]}...{where[-30:]}"
        raise ValueError(f"tg.save: the object is nested more than {MAX_DEPTH} containers deep "
                         f"(at {shown}); tinygen saves at most {MAX_DEPTH} levels of "
                         f"dicts/lists/tuples")
    if isinstance(obj, Tensor):
        arrays.append(backend.to_numpy(obj.array))
        return {"tensor": len(arrays) - 1, "device": str(obj.device),
                "requires_grad": bool(obj.requires_grad),
                "parameter": type(obj).__name__ == "Parameter"}
    if backend.get_array_module(obj) is not np:   # a raw CuPy array (an optimizer's buffer)
        arrays.append(backend.to_numpy(obj))
        return {"device_array": len(arrays) - 1, "device": backend.CUDA}
    if isinstance(obj, (np.ndarray, np.generic)) and obj.dtype.hasobject:
        raise TypeError(f"tg.save: cannot store an array of dtype {obj.dtype} at {where}: its "
                        f"elements are Python objects, which only pickle could store (tinygen "
                        f"saves no pickles); convert it to a numeric or string dtype first")
    if isinstance(obj, np.ndarray):
        arrays.append(obj)
        return {"ndarray": len(arrays) - 1}
    if isinstance(obj, np.generic):
        arrays.append(np.asarray(obj))
        return {"scalar": len(arrays) - 1}
    for plain in (str, bool, int, float):  # subclasses (tg.device, an IntEnum) as the plain value
        if isinstance(obj, plain):
            return plain(obj)
    if isinstance(obj, dict):
        kind = "odict" if isinstance(obj, collections.OrderedDict) else "dict"
        return {kind: [[_encode_key(k, where), _encode(v, arrays, f"{where}[{k!r}]", depth + 1)]
                       for k, v in obj.items()]}
    if isinstance(obj, (tuple, list)):
        kind = "tuple" if isinstance(obj, tuple) else "list"
        return {kind: [_encode(v, arrays, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]}
    hint = " (save its state_dict() instead)" if hasattr(obj, "state_dict") else ""
    raise TypeError(f"tg.save: cannot store {type(obj).__name__} at {where}{hint}; tinygen "
                    f"saves Tensors, arrays, numbers, strings, None and dicts/lists/tuples "
                    f"of them (no pickle)")


def _encode_key(key, where):
    if isinstance(key, tuple):
        return {"tuple": [_encode_key(k, where) for k in key]}
    if key is None or isinstance(key, (bool, int, float, str)):
        return key
    raise TypeError(f"tg.save: cannot store the dict key {key!r} ({type(key).__name__}) in "
                    f"{where}; keys must be str, int, float, bool, None or tuples of them")


def _decode(tag, arrays, map_location):
    if not isinstance(tag, dict):
        return tag
    (kind, value), *rest = tag.items()
    if kind == "tensor":
        t = _placed(arrays[value], tag["device"], map_location)
        if tag["parameter"]:
            from tinygen.nn import Parameter  # only a saved Parameter needs tinygen.nn
            return Parameter(t, requires_grad=tag["requires_grad"])
        return t.requires_grad_(True) if tag["requires_grad"] else t
    if kind == "device_array":   # comes back a raw array of the device it is mapped to
        return _placed(arrays[value], tag["device"], map_location).array
    if kind == "ndarray":
        return arrays[value]
    if kind == "scalar":
        return arrays[value][()]
    if kind in ("dict", "odict"):
        pairs = [(_decode(k, arrays, map_location), _decode(v, arrays, map_location))
                 for k, v in value]
        return collections.OrderedDict(pairs) if kind == "odict" else dict(pairs)
    if kind == "tuple":
        return tuple(_decode(v, arrays, map_location) for v in value)
    if kind == "list":
        return [_decode(v, arrays, map_location) for v in value]
    raise SerializationError(f"unknown tag {kind!r} in the manifest")


def _placed(array, device, map_location):
    """A Tensor of `array`, saved on `device`, where map_location puts it."""
    if callable(map_location):   # torch's map_location(storage, location), e.g.
        t = map_location(Tensor(array), device)   # lambda storage, loc: storage
        return t if isinstance(t, Tensor) else Tensor(array)
    return Tensor(array, device=backend.normalize_device(_mapped(device, map_location)))


def _mapped(device, map_location):
    """Where a tensor saved on `device` is loaded: map_location None (where it was), a device
    name or tg.device (everything there), or a dict {saved: new}."""
    if map_location is None:
        return device
    if isinstance(map_location, dict):
        return map_location.get(device, device)
    if isinstance(map_location, str):
        return map_location
    raise TypeError(f"tg.load: map_location must be None, a device, a dict of devices or a "
                    f"callable, got {type(map_location).__name__}")


# ---------------------------------------------------------------------------- atomic writes
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



# ---------------------------------------------------------------------------- save / load
def save(obj, f):
    """Save `obj` (a state dict, or any nest of Tensors, arrays and plain values) to `f`, a
    path (written atomically) or a binary file object."""
    arrays = []
    manifest = {"format": FORMAT, "version": VERSION, "object": _encode(obj, arrays, "obj")}
    entries = {"manifest": np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)}
    entries.update((f"a{i}", a) for i, a in enumerate(arrays))
    if isinstance(f, (str, os.PathLike)):
        write_npz_atomic(f, entries)
    else:
        np.savez(f, allow_pickle=False, **entries)


def load(f, map_location=None, weights_only=True, mmap=None):
    """What tg.save wrote to `f` (a path or a binary file object), with the same types.

    map_location: None (each tensor where it was saved), 'cpu' | 'cuda' | tg.device (all
    there), a dict {'cuda': 'cpu'}, or torch's callable f(cpu_tensor, saved_device) -> tensor. weights_only: accepted for torch's signature; every
    load is weights-only here (the format holds data, never code)."""
    name = os.fspath(f) if isinstance(f, (str, os.PathLike)) else getattr(f, "name", repr(f))
    try:
        with np.load(f, allow_pickle=False) as npz:
            files = set(npz.files)
            if "manifest" not in files:
                torch_zip = any(n.endswith("data.pkl") for n in npz.zip.namelist())
                raise SerializationError(
                    f"{name}: not a tinygen file (no manifest)"
                    + ("; it looks like a torch.save file, which tinygen cannot read (it holds "
                       "pickles): save the state dict's arrays from torch with numpy instead"
                       if torch_zip else ""))
            arrays = {key: npz[key] for key in files}
    except SerializationError:
        raise
    except FileNotFoundError:
        raise
    except Exception as e:  # not a zip, a truncated zip, a damaged member, ...
        raise SerializationError(f"{name}: not a readable tinygen file, truncated or damaged "
                                 f"({type(e).__name__}: {e})") from None
    try:
        manifest = json.loads(arrays.pop("manifest").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SerializationError(f"{name}: the manifest is not JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SerializationError(f"{name}: not a tinygen file (format "
                                 f"{manifest.get('format') if isinstance(manifest, dict) else None!r}, "
                                 f"expected {FORMAT!r})")
    if manifest.get("version", 0) > VERSION:
        raise SerializationError(f"{name}: format version {manifest['version']} is newer than "
                                 f"this tinygen reads ({VERSION}); upgrade tinygen")
    try:
        arrays = [arrays[f"a{i}"] for i in range(len(arrays))]
        return _decode(manifest["object"], arrays, map_location)
    except SerializationError as e:   # an unknown tag
        raise SerializationError(f"{name}: {e}") from None
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        raise SerializationError(f"{name}: the manifest does not match the arrays stored "
                                 f"({type(e).__name__}: {e})") from None


__all__ = ["SerializationError", "load", "save"]
