"""Image datasets in memory: uint8 pixels stored, float32 images in [0, 1] served.

    ds = load_dataset("mnist", "train", binarize="dynamic")
    x, y = ds[0:128]          # x (128, 1, 28, 28) float32 in {0, 1}, y (128,) int64
    len(ds)                   # 60000

An ImageDataset is a tinygen.utils.data.Dataset: ds[i] is one (x (C, H, W) float32 array,
y int64) sample, so DataLoader(ds, batch_size=64) batches it with default_collate (its
__getitems__ serves a whole batch of indices with one vectorized read).

Pixels are kept as uint8 (N, 1, H, W) (47 MB for MNIST's 60,000 images instead of 188 MB
of float32) and scaled x = pixels / 255 per batch. Binarization (see binarize.py):
'dynamic' draws a fresh Bernoulli(x) on every access, 'fixed' draws once at construction
(seeded) and stores the bits, 'threshold' is x > 0.5, None serves the gray values.
"""
import numpy as np

from tinygen import rng as tg_rng
from tinygen.data import sources
from tinygen.data.binarize import binarize_dynamic, binarize_threshold, check_mode, fixed_bits
from tinygen.utils.data import Dataset


class ImageDataset(Dataset):
    """Images and labels with an explicit binarization.

    pixels: (N, H, W) or (N, C, H, W) uint8 in 0..255; labels: (N,) integers.
    binarize: None | 'dynamic' | 'fixed' | 'threshold'; seed: the seed of the 'fixed' draw.
    """

    def __init__(self, pixels, labels, binarize=None, seed=0, name="images", classes=None):
        pixels = np.asarray(pixels)
        if pixels.dtype != np.uint8:
            raise TypeError(f"pixels must be uint8 (0..255), got {pixels.dtype}")
        if pixels.ndim == 3:
            pixels = pixels[:, None]  # (N, H, W) -> (N, 1, H, W)
        if pixels.ndim != 4:
            raise ValueError(f"pixels must be (N, H, W) or (N, C, H, W), got {pixels.shape}")
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(pixels),):
            raise ValueError(f"{len(pixels)} images but labels of shape {labels.shape}")
        self.pixels, self.labels = pixels, labels      # (N, C, H, W) uint8, (N,) int64
        self.binarize, self.seed = check_mode(binarize), seed
        self.name, self.classes = name, classes
        self.fixed_bits = None
        if self.binarize == "fixed":
            self.fixed_bits = fixed_bits(self.pixels, seed)

    def __len__(self):
        return len(self.pixels)

    @property
    def shape(self):
        """(C, H, W) of one image."""
        return self.pixels.shape[1:]

    def gray(self, index):
        """Gray images pixels[index] / 255 as float32 in [0, 1]: (B, C, H, W)."""
        return self.pixels[index].astype(np.float32) / np.float32(255)

    def images(self, index, rng=None):
        """The images served for `index` (int, slice or index array), binarized as set.

        rng: the Generator for 'dynamic' draws (default: tinygen's cpu generator).
        """
        if self.binarize == "fixed":
            return self.fixed_bits[index].astype(np.float32)
        x = self.gray(index)
        if self.binarize == "dynamic":
            return binarize_dynamic(x, rng if rng is not None else tg_rng.generator("cpu"))
        if self.binarize == "threshold":
            return binarize_threshold(x)
        return x

    def batch(self, index, rng=None):
        """(x, y) for `index`: x (B, C, H, W) float32, y (B,) int64."""
        return self.images(index, rng), self.labels[index]

    def batch_uint8(self, index, rng=None):
        """batch(index, rng) with x as (uint8 array u, divisor d): x = u.astype(float32) / d
        (bitwise), drawn alike; a quarter of float32's bytes to copy to a GPU."""
        if self.binarize is None:
            return (self.pixels[index], 255), self.labels[index]
        if self.binarize == "fixed":
            return (self.fixed_bits[index], 1), self.labels[index]
        return (self.images(index, rng).astype(np.uint8), 1), self.labels[index]   # 0/1 bits

    def __getitem__(self, index):
        return self.batch(index)

    def __getitems__(self, indices):
        """[(x_i, y_i) for i in indices] from one vectorized read (DataLoader's fast path)."""
        x, y = self.batch(np.asarray(indices, dtype=np.int64))
        return list(zip(x, y))

    def __repr__(self):
        return (f"ImageDataset({self.name!r}, n={len(self)}, shape={self.shape}, "
                f"binarize={self.binarize!r})")


def load_dataset(name="mnist5k", split="train", data_dir=None, binarize=None, seed=0,
                 validation=False, download=True, verify=True):
    """Load a dataset split as an ImageDataset (see sources.py for where files are found).

    name: 'mnist5k' (offline default) | 'mnist' | 'fashion-mnist'.
    split: 'train' | 'test' | 'valid' (with validation=True: MNIST's 60,000 training images
    split into the first 50,000 'train' and the last 10,000 'valid').
    binarize: None | 'dynamic' | 'fixed' | 'threshold'; seed: the 'fixed' draw's seed.
    download: fetch missing files from the public mirrors; verify: check content SHA-256.
    """
    pixels, labels = sources.load_arrays(name, split, data_dir=data_dir, validation=validation,
                                         download=download, verify=verify)
    classes = sources.IDX_SOURCES[name].classes if name in sources.IDX_SOURCES else \
        tuple(str(d) for d in range(10))
    return ImageDataset(pixels, labels, binarize=binarize, seed=seed, name=f"{name}/{split}",
                        classes=classes)
