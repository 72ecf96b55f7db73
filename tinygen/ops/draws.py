"""torch's random functions beside the factories: normal, multinomial, and the seed and state
functions (seed, initial_seed, get_rng_state, set_rng_state) over tinygen.rng, the one random
state behind every draw."""
import secrets

import numpy as np

from tinygen import backend, rng
from tinygen.autograd.tensor import DEFAULT_DTYPE, Tensor, as_dtype, as_tensor


def normal(mean, std=1.0, size=None, *, dtype=None, device=None, requires_grad=False):
    """Draws from N(mean, std^2): elementwise for tensor mean and/or std (broadcast together),
    or `size` draws for number mean and std. No gradient flows to mean and std (as torch;
    use distributions.Normal.rsample for that)."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        m, s = as_tensor(mean, like=(ref,)), as_tensor(std, like=(ref,))
        shape = np.broadcast_shapes(m.shape, s.shape)
        draw = rng.normal(rng.generator(ref.device), shape, ref.dtype)
        xp = backend.array_module(ref.device)
        out = m.array + s.array * xp.asarray(draw, dtype=ref.dtype)
        return Tensor.wrap(out.astype(ref.dtype, copy=False), ref.device, False)
    if size is None:
        raise TypeError("normal: with number mean and std, give size")
    device = backend.normalize_device(device)
    dtype = as_dtype(dtype) or DEFAULT_DTYPE
    draw = rng.normal(rng.generator(device), tuple(size), dtype, mean, std)
    array = backend.array_module(device).asarray(draw, dtype=dtype)
    t = Tensor.wrap(array, device, False)
    return t.requires_grad_(True) if requires_grad else t


def multinomial(input, num_samples, replacement=False):
    """Category indices drawn with probabilities proportional to the rows of input (K,) or
    (N, K); int64 of shape (num_samples,) or (N, num_samples)."""
    p = backend.to_numpy(input.array).astype(np.float64)
    rows = p.reshape(-1, p.shape[-1]) if p.ndim else None
    if rows is None or p.ndim > 2 or (rows < 0).any() or not np.isfinite(rows).all():
        raise RuntimeError(f"multinomial: expects non-negative finite weights of shape (K,) or "
                           f"(N, K), got shape {tuple(input.shape)}")
    if not replacement and num_samples > rows.shape[1]:
        raise RuntimeError(f"multinomial: cannot draw {num_samples} of {rows.shape[1]} categories "
                           f"without replacement")
    g = rng.generator("cpu")
    out = np.stack([g.choice(rows.shape[1], num_samples, replace=replacement, p=r / r.sum()) for r in rows])
    out = out.reshape(p.shape[:-1] + (num_samples,)).astype(np.int64)
    return Tensor.wrap(backend.to_device(out, input.device), input.device, False)


def seed():
    """Seed every draw with a fresh non-deterministic seed, and return it."""
    return rng.manual_seed(secrets.randbits(63))


def initial_seed():
    """The seed last given to manual_seed or seed (tinygen starts unseeded, from OS entropy,
    so before any seeding this is an error rather than a made-up number)."""
    if rng._state["seed"] is None:
        raise RuntimeError("initial_seed: no seed set yet; call tg.manual_seed(s) or tg.seed()")
    return rng._state["seed"]


def get_rng_state():
    """A snapshot of the random state (tinygen.rng.get_state()'s dict, not torch's byte
    tensor); set_rng_state restores it."""
    return rng.get_state()


def set_rng_state(new_state):
    rng.set_state(new_state)
