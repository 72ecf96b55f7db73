"""Binarization of gray images in [0, 1]: the three conventions of the literature.

Binary models (Bernoulli likelihoods, PixelCNN on binary pixels) need x in {0, 1}. How the
gray MNIST is turned binary changes reported likelihoods by several nats, so it is explicit:

    dynamic    b ~ Bernoulli(x), drawn afresh each time an image is used
               (Salakhutdinov & Murray 2008; the usual choice for VAE/IWAE training)
    fixed      one draw b ~ Bernoulli(x) with a given seed, stored and reused
               (a fixed binarized MNIST, the same images in every epoch)
    threshold  b = [x > 0.5], deterministic

A Bernoulli draw is b = [u < x] with u ~ Uniform[0, 1): P(b = 1) = x exactly, and pixels
0 and 1 stay 0 and 1.
"""
import numpy as np

MODES = ("dynamic", "fixed", "threshold")


def binarize_dynamic(x, rng):
    """A fresh Bernoulli(x) draw (float32, same shape as x) from Generator `rng`."""
    u = rng.random(x.shape, dtype=np.float32)
    return (u < x).astype(np.float32)


def binarize_fixed(x, seed=0):
    """One Bernoulli(x) draw from a Generator seeded with `seed`: the same seed, the same bits."""
    return binarize_dynamic(x, np.random.default_rng(seed))


def fixed_bits(pixels, seed=0, chunk=4096):
    """binarize_fixed(pixels / 255, seed) of uint8 pixels (N, ...) as uint8 bits, drawn chunk
    by chunk from one Generator (the same bits as one draw) so that the float32 images never
    all exist at once."""
    rng = np.random.default_rng(seed)
    bits = np.empty(pixels.shape, dtype=np.uint8)
    for start in range(0, len(pixels), chunk):
        part = slice(start, start + chunk)
        bits[part] = binarize_dynamic(pixels[part].astype(np.float32) / np.float32(255), rng)
    return bits


def binarize_threshold(x, threshold=0.5):
    """[x > threshold] as float32."""
    return (x > threshold).astype(np.float32)


def check_mode(mode):
    """None (gray images) or one of MODES; anything else is a ValueError."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"unknown binarization {mode!r}: expected None or one of {MODES}")
    return mode
