"""Image datasets in memory: uint8 pixels stored, float32 images in [0, 1] served.

    ds = load_dataset("mnist", "train", binarize="dynamic")
    x, y = ds[0:128]          # x (128, 1, 28, 28) float32 in {0, 1}, y (128,) int64
    len(ds)                   # 60000
    train = MNIST("data", train=True, download=True)   # the same, in torchvision's shape

One class, ImageDataset, holds the images of every dataset; MNIST and FashionMNIST (at the
end) are its subclasses in torchvision's shape, for code ported from torch.

An ImageDataset is a tinygen.utils.data.Dataset: ds[i] is one (x (C, H, W) float32 array,
y int64) sample, so DataLoader(ds, batch_size=64) batches it with default_collate (its
__getitems__ serves a whole batch of indices with one vectorized read). For training,
image_loader(ds, batch_size, seed) is torch's DataLoader over ImageBatches(ds) (whole batches,
as Tensors on a device) with a seeded DistributedSampler: epoch e's order and its dynamic
binarization are functions of the seed and e alone, whatever the number of ranks, so a
resumed run replays them bitwise (set_epoch(loader, e) before each epoch).

Pixels are kept as uint8 (N, 1, H, W) (47 MB for MNIST's 60,000 images instead of 188 MB
of float32) and scaled x = pixels / 255 per batch. Binarization (see binarize.py):
'dynamic' draws a fresh Bernoulli(x) on every access, 'fixed' draws once at construction
(seeded) and stores the bits, 'threshold' is x > 0.5, None serves the gray values.
'dynamic' draws come from tinygen's random state, or, after set_epoch(e), image i's from a
stream of its own, seeded with (seed, e, i): the same bits in whatever batch, order, worker or
rank the image is read.
"""
import numpy as np

from tinygen import backend
from tinygen import rng as tg_rng
from tinygen.autograd.tensor import Tensor, tensor
from tinygen.data import sources
from tinygen.data.binarize import binarize_dynamic, binarize_threshold, check_mode, fixed_bits
from tinygen.utils.data import BatchSampler, DataLoader, Dataset, DistributedSampler


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
        self.epoch = None      # set_epoch's: None draws 'dynamic' bits from tinygen's stream
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

    def set_epoch(self, epoch):
        """Draw the 'dynamic' bits of epoch `epoch`: image i's from default_rng([seed, epoch,
        i]), so they do not depend on which batch, worker or rank reads it, or when."""
        self.epoch = int(epoch)

    def _epoch_bits(self, index, x):
        """Bernoulli(x) bits of the images `index` (gray x), each from its (seed, epoch, i)."""
        rows = np.arange(len(self))[index]
        if np.ndim(rows) == 0:
            return binarize_dynamic(x, np.random.default_rng([self.seed, self.epoch, int(rows)]))
        bits = np.empty_like(x)
        for k, i in enumerate(rows.tolist()):
            bits[k] = binarize_dynamic(x[k], np.random.default_rng([self.seed, self.epoch, i]))
        return bits

    def images(self, index, rng=None):
        """The images served for `index` (int, slice or index array), binarized as set.

        rng: the Generator for 'dynamic' draws (default: the epoch's streams after set_epoch,
        else tinygen's cpu generator).
        """
        if self.binarize == "fixed":
            return self.fixed_bits[index].astype(np.float32)
        x = self.gray(index)
        if self.binarize == "dynamic":
            if rng is None and self.epoch is not None:
                return self._epoch_bits(index, x)
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


class ImageBatches(Dataset):
    """Whole batches of an ImageDataset as Tensors on `device`: batches[indices] -> (x, y).

    For torch's way to read batches that are cheaper to read together, a sampler of index
    lists and no automatic batching: DataLoader(ImageBatches(ds), sampler=BatchSampler(...),
    batch_size=None). On a GPU the images travel as uint8 (dataset.batch_uint8), one copy a
    batch, and become float32 there, bitwise the cpu's images; labels=False serves y None
    (nothing copied for it: the training loop's unconditional models)."""

    def __init__(self, dataset, device="cpu", labels=True):
        self.dataset, self.device, self.labels = dataset, device, labels

    def __len__(self):
        return len(self.dataset)

    def set_epoch(self, epoch):
        self.dataset.set_epoch(epoch)

    def __getitem__(self, indices):
        index = np.asarray(indices, dtype=np.int64)
        if self.device == "cpu":
            x, y = self.dataset.batch(index)
            x = tensor(x)
        else:
            (u8, divisor), y = self.dataset.batch_uint8(index)
            x = backend.to_device(u8, self.device).astype(np.float32)     # (B, C, H, W)
            if divisor != 1:
                x /= np.float32(divisor)
            x = Tensor.wrap(x, backend.normalize_device(self.device), False)
        return x, tensor(y, device=self.device) if self.labels else None


def image_loader(dataset, batch_size, seed=0, device="cpu", labels=True, shuffle=True,
                 drop_last=True, rank=0, world_size=1):
    """torch's DataLoader of (x, y) batches (ImageBatches) of an ImageDataset, for training.

    Epoch e's order is DistributedSampler's (a permutation seeded with seed + e; rank `rank`
    of `world_size` reads every world_size-th image of it, batch_size // world_size a batch,
    so the images of each global step do not depend on world_size), and its 'dynamic' bits
    ImageDataset.set_epoch's. Call set_epoch(loader, e) before each epoch (as torch's
    DistributedSampler asks): a resumed run then replays epoch e's batches bitwise."""
    if batch_size % world_size:
        raise ValueError(f"--batch-size {batch_size} does not split over {world_size} ranks: "
                         f"give a multiple of {world_size}")
    order = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle,
                               seed=seed, drop_last=True)
    return DataLoader(ImageBatches(dataset, device, labels), batch_size=None,
                      sampler=BatchSampler(order, batch_size // world_size, drop_last))


def set_epoch(loader, epoch):
    """Make the next pass over an image_loader epoch `epoch`: its sampler's order (the
    DistributedSampler inside its BatchSampler) and its dataset's dynamic binarization."""
    loader.sampler.sampler.set_epoch(epoch)
    loader.dataset.set_epoch(epoch)


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


class MNIST(ImageDataset):
    """LeCun et al.'s handwritten digits in torchvision's shape: 60,000 train or 10,000 test
    (image, label) pairs, an ImageDataset of gray images.

        train = MNIST("data", train=True, download=True)
        image, label = train[0]    # image (1, 28, 28) float32 Tensor in [0, 1], label an int
        loader = DataLoader(train, batch_size=64, shuffle=True)

    torchvision hands a PIL image to `transform`, and users write transforms.ToTensor()
    first. tinygen has no PIL and no torchvision, so the image it serves, and hands to
    `transform`, is already what ToTensor() would make: a float32 Tensor (1, 28, 28) =
    pixels / 255. A ported `Compose([ToTensor(), Normalize((0.1307,), (0.3081,))])` becomes
    `transform=lambda x: (x - 0.1307) / 0.3081`. `.data` (N, 28, 28) uint8 and `.targets`
    (N,) int64 are Tensors over the pixels and labels, and `.classes` the class names, as
    torchvision's. The files are found, downloaded and checked by tinygen.data.sources (root
    is the data directory: files directly in it, in root/<name>/, or in torchvision's
    root/MNIST/raw/)."""

    source = "mnist"   # the dataset's name in tinygen.data.sources

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        split = "train" if train else "test"
        pixels, labels = sources.load_arrays(self.source, split, data_dir=root,
                                             download=download)
        super().__init__(pixels, labels, name=f"{self.source}/{split}",
                         classes=list(sources.IDX_SOURCES[self.source].classes))
        self.root, self.train = root, train
        self.transform, self.target_transform = transform, target_transform

    @property
    def data(self):
        """The images (N, H, W) as a uint8 Tensor sharing the pixels."""
        return Tensor(self.pixels[:, 0])

    @data.setter
    def data(self, images):
        self.pixels = np.asarray(getattr(images, "array", images))[:, None]

    @property
    def targets(self):
        """The labels (N,) as an int64 Tensor sharing them."""
        return Tensor(self.labels)

    @targets.setter
    def targets(self, labels):
        self.labels = np.asarray(getattr(labels, "array", labels), dtype=np.int64)

    def __getitem__(self, index):
        image, target = self.batch(index)
        image, target = Tensor(image), int(target)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __getitems__(self, indices):
        """[self[i] for i in indices]: each sample through the transforms, as torchvision."""
        return [self[i] for i in indices]

    def __repr__(self):
        return (f"Dataset {type(self).__name__}\n    Number of datapoints: {len(self)}\n"
                f"    Root location: {self.root}\n    Split: {'Train' if self.train else 'Test'}")


class FashionMNIST(MNIST):
    """Xiao et al.'s clothing images, in MNIST's layout: ten classes, same sizes."""

    source = "fashion-mnist"
