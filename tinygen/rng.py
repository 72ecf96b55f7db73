"""The random state behind every draw tinygen makes.

One NumPy Generator (PCG64) for the cpu device (and the simulated cuda device), one CuPy
generator for a real GPU. `tg.manual_seed(s)` reseeds both, so a seeded run is reproducible
bitwise on the same machine. Checkpoints store `get_state()` and restore it with
`set_state()`, so a resumed run continues the same stream.

CuPy's Generator is not NumPy's: it has random, standard_normal, integers,
standard_exponential (with a dtype), but no normal, uniform or permutation, and its state
cannot be read. So draws go through uniform/normal/exponential/permutation below, which use
only those methods on a GPU (drawing in the target dtype, float32 for float32 tensors), and
the GPU stream is (seed, generation): get_state() records it and moves the live stream to
the next generation, a fresh generator seeded from both, which set_state() recreates, so a
run and its resume draw the same numbers from a checkpoint on.

The stream is the process's, as torch's default generator: threads that draw from it (a
Dropout in two training threads) take turns in whatever order they run, so for bitwise
repeatable threads give each its own tg.Generator where the op takes one, or draw nothing.
"""
import contextlib

import numpy as np

from tinygen import backend

_state = {"cpu": np.random.default_rng(), "cuda": None, "seed": None, "cuda_seed": None,
          "cuda_generation": 0}


def manual_seed(seed):
    """Seed every random draw of tinygen (cpu and cuda)."""
    seed = int(seed)
    _state["seed"] = seed
    _state["cpu"] = np.random.default_rng(seed)
    _state["cuda"] = None  # recreated lazily from the seed
    _state["cuda_seed"], _state["cuda_generation"] = seed, 0
    return seed


def generator(device="cpu"):
    """The Generator that draws for `device` (numpy's, or cupy's on a real GPU)."""
    xp = backend.array_module(device)
    if xp is np:
        return _state["cpu"]
    if _state["cuda"] is None:
        if _state["cuda_seed"] is None:
            _state["cuda_seed"] = int(_state["cpu"].integers(2**63))
        seed, gen = _state["cuda_seed"], _state["cuda_generation"]
        _state["cuda"] = xp.random.default_rng(seed if gen == 0 else derive_seed(seed, gen))
    return _state["cuda"]


def get_state():
    """A picklable/JSON-able snapshot of the random state: the cpu generator, the seed and
    the GPU stream's (seed, generation). A GPU generator that has drawn is retired (its
    state cannot be read): the stream goes on from the next generation, as set_state() will."""
    if _state["cuda"] is not None:
        _state["cuda"] = None
        _state["cuda_generation"] += 1
    return {"seed": _state["seed"], "cpu": _state["cpu"].bit_generator.state,
            "cuda": {"seed": _state["cuda_seed"], "generation": _state["cuda_generation"]}}


def set_state(state):
    """Restore a snapshot taken by `get_state()`."""
    gen = np.random.default_rng()
    gen.bit_generator.state = state["cpu"]
    _state["cpu"] = gen
    _state["seed"] = state.get("seed")
    _state["cuda"] = None
    cuda = state.get("cuda") or {"seed": state.get("seed"), "generation": 0}  # older snapshots
    _state["cuda_seed"], _state["cuda_generation"] = cuda["seed"], int(cuda["generation"])


# ---- draws that work on NumPy's and CuPy's generators ------------------------------------
def _on_host(g):
    return isinstance(g, np.random.Generator)


def _float(dtype):
    """The dtype a generator can draw in for a `dtype` tensor (both draw float32 and float64)."""
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def random(g, shape, dtype):
    """U[0, 1) draws to compare with probabilities (dropout, bernoulli): float64 from NumPy
    (as always), dtype's float from CuPy (no float64 draw on the device)."""
    return g.random(shape) if _on_host(g) else g.random(shape, dtype=_float(dtype))


def uniform(g, shape, dtype, low=0.0, high=1.0):
    """U(low, high) draws of `shape` as `dtype`. NumPy: drawn in float64 and cast (the cpu
    stream as it always was); CuPy: drawn in dtype on the device."""
    if _on_host(g):
        return g.uniform(low, high, shape).astype(dtype, copy=False)
    u = g.random(shape, dtype=_float(dtype))
    return (u if (low, high) == (0.0, 1.0) else u * (high - low) + low).astype(dtype, copy=False)


def normal(g, shape, dtype, mean=0.0, std=1.0):
    """N(mean, std^2) draws of `shape` as `dtype` (see uniform)."""
    if _on_host(g):
        return g.normal(mean, std, shape).astype(dtype, copy=False)
    z = g.standard_normal(shape, dtype=_float(dtype))
    return (z if (mean, std) == (0.0, 1.0) else z * std + mean).astype(dtype, copy=False)


def exponential(g, shape, dtype, scale=1.0):
    """Exponential draws with mean `scale`, of `shape` as `dtype` (see uniform)."""
    if _on_host(g):
        return g.exponential(scale, shape).astype(dtype, copy=False)
    return (g.standard_exponential(shape, dtype=_float(dtype)) * scale).astype(dtype, copy=False)


def permutation(g, n):
    """A random permutation of 0..n-1 (int64). CuPy's Generator has no permutation: the
    order that sorts n uniform float64 keys (ties have probability ~n^2 / 2^53)."""
    if _on_host(g):
        return g.permutation(n)
    return g.random(n, dtype=np.float64).argsort().astype(np.int64)


@contextlib.contextmanager
def fork_rng(seed):
    """Draws inside the block come from generators freshly seeded with `seed`; afterwards
    the outer stream continues exactly where it was, as if the block had drawn nothing
    (torch.random.fork_rng followed by manual_seed). The training loop draws its pictures
    this way, so they never shift the training stream that a checkpoint saves."""
    saved = dict(_state)
    manual_seed(seed)
    try:
        yield
    finally:
        _state.clear()
        _state.update(saved)


def derive_seed(seed, *keys):
    """A 63-bit seed for a separate stream named by integer `keys`, derived from `seed`
    (NumPy's SeedSequence: independent of the stream that `seed` itself starts)."""
    words = np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(2, np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


class Generator:
    """A private random stream, as torch.Generator: `tg.Generator().manual_seed(42)` for
    random_split, DataLoader(generator=...) and randperm(generator=...). Draws from it leave
    tinygen's global stream untouched. Unseeded, it starts from fresh OS entropy."""

    def __init__(self, device="cpu"):
        self.device = backend.normalize_device(device)
        self._seed = int(np.random.SeedSequence().entropy % 2**63)
        self.numpy = np.random.default_rng(self._seed)   # the NumPy Generator that draws

    def manual_seed(self, seed):
        self._seed = int(seed)
        self.numpy = np.random.default_rng(self._seed)
        return self

    def seed(self):
        """Reseed from OS entropy; returns the new seed."""
        return self.manual_seed(int(np.random.SeedSequence().entropy % 2**63))._seed

    def initial_seed(self):
        return self._seed

    def get_state(self):
        return self.numpy.bit_generator.state

    def set_state(self, state):
        self.numpy.bit_generator.state = state
        return self


def numpy_generator(generator=None):
    """The NumPy Generator behind `generator` (a tg.Generator or a NumPy Generator), or
    tinygen's global cpu stream when it is None."""
    if generator is None:
        return _state["cpu"]
    return getattr(generator, "numpy", generator)
