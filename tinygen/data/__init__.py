"""Real data for tinygen: IDX files, MNIST / Fashion-MNIST / mnist5k, binarization.

    from tinygen.data import load_dataset, image_loader
    train = load_dataset("mnist5k", "train", binarize="dynamic")   # works offline
    loader = image_loader(train, batch_size=64, seed=0)            # the training loop's

The DataLoader is torch's, tinygen.utils.data.DataLoader: the one dataset here, ImageDataset
(and its subclasses MNIST and FashionMNIST, in torchvision's shape), is a Dataset it loads,
and image_loader builds the training loop's seeded one (dataset.py).

Modules: idx.py (the file format), fetch.py (mirrors, SHA-256, atomic writes),
sources.py (where each dataset is found), binarize.py, dataset.py.
"""
from tinygen.data.binarize import binarize_dynamic, binarize_fixed, binarize_threshold
from tinygen.data.dataset import (MNIST, FashionMNIST, ImageBatches, ImageDataset,
                                  image_loader, load_dataset, set_epoch)
from tinygen.data.fetch import ChecksumError, DownloadError
from tinygen.data.idx import IDXError, read_idx, write_idx
from tinygen.data.sources import (DATASETS, DatasetNotFoundError, cache_dir, dataset_path,
                                  download, list_datasets, load_arrays)

__all__ = [
    "DATASETS", "ChecksumError", "DatasetNotFoundError", "DownloadError",
    "FashionMNIST", "MNIST",
    "IDXError", "ImageBatches", "ImageDataset", "image_loader", "binarize_dynamic", "binarize_fixed", "binarize_threshold",
    "cache_dir", "dataset_path", "download", "list_datasets", "load_arrays", "load_dataset",
    "read_idx", "set_epoch", "write_idx",
]
