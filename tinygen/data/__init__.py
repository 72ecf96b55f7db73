"""Real data for tinygen: IDX files, MNIST / Fashion-MNIST / mnist5k, binarization, batching.

    from tinygen.data import load_dataset, DataLoader
    train = load_dataset("mnist5k", "train", binarize="dynamic")   # works offline
    loader = DataLoader(train, batch_size=64, shuffle=True, seed=0)

tinygen.data.DataLoader is the training loop's seeded (x, y) batcher; torch's general
DataLoader is tinygen.utils.data.DataLoader, and every dataset here (ImageDataset, and
MNIST / FashionMNIST in torchvision's shape, see mnist.py) is a Dataset it can load.

Modules: idx.py (the file format), fetch.py (mirrors, SHA-256, atomic writes),
sources.py (where each dataset is found), binarize.py, dataset.py, loader.py.
"""
from tinygen.data.binarize import binarize_dynamic, binarize_fixed, binarize_threshold
from tinygen.data.dataset import ImageDataset, load_dataset
from tinygen.data.fetch import ChecksumError, DownloadError
from tinygen.data.idx import IDXError, read_idx, write_idx
from tinygen.data.loader import DataLoader
from tinygen.data.mnist import MNIST, FashionMNIST
from tinygen.data.sources import (DATASETS, DatasetNotFoundError, cache_dir, dataset_path,
                                  download, list_datasets, load_arrays)

__all__ = [
    "DATASETS", "ChecksumError", "DataLoader", "DatasetNotFoundError", "DownloadError",
    "FashionMNIST", "MNIST",
    "IDXError", "ImageDataset", "binarize_dynamic", "binarize_fixed", "binarize_threshold",
    "cache_dir", "dataset_path", "download", "list_datasets", "load_arrays", "load_dataset",
    "read_idx", "write_idx",
]
