"""The random state behind every draw tinygen makes.

One NumPy Generator (PCG64) for the cpu device (and the simulated cuda device), one CuPy
generator for a real GPU. `tg.manual_seed(s)` reseeds both, so a seeded run is reproducible
bitwise on the same machine. Checkpoints store `get_state()` and restore it with
`set_state()`, so a resumed run continues the same stream.
"""
import numpy as np

from tinygen import backend

_state = {"cpu": np.random.default_rng(), "cuda": None, "seed": None}


def manual_seed(seed):
    """Seed every random draw of tinygen (cpu and cuda)."""
    seed = int(seed)
    _state["seed"] = seed
    _state["cpu"] = np.random.default_rng(seed)
    _state["cuda"] = None  # recreated lazily from the seed
    return seed


def generator(device="cpu"):
    """The Generator that draws for `device` (numpy's, or cupy's on a real GPU)."""
    xp = backend.array_module(device)
    if xp is np:
        return _state["cpu"]
    if _state["cuda"] is None:
        seed = _state["seed"]
        if seed is None:
            seed = int(_state["cpu"].integers(2**63))
        _state["cuda"] = xp.random.default_rng(seed)
    return _state["cuda"]


def get_state():
    """A picklable/JSON-able snapshot of the cpu generator (and the seed)."""
    return {"seed": _state["seed"], "cpu": _state["cpu"].bit_generator.state}


def set_state(state):
    """Restore a snapshot taken by `get_state()`."""
    gen = np.random.default_rng()
    gen.bit_generator.state = state["cpu"]
    _state["cpu"] = gen
    _state["seed"] = state.get("seed")
    _state["cuda"] = None


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
