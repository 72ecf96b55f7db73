"""Real data for tinygen: IDX files, MNIST / Fashion-MNIST / mnist5k, binarization, batching.

    from tinygen.data import load_dataset, DataLoader
    train = load_dataset("mnist5k", "train", binarize="dynamic")   # works offline
    loader = DataLoader(train, batch_size=64, shuffle=True, seed=0)

Modules: idx.py (the file format), fetch.py (mirrors, SHA-256, atomic writes),
sources.py (where each dataset is found), binarize.py, dataset.py, loader.py.
"""
from tinygen.data.binarize import binarize_dynamic, binarize_fixed, binarize_threshold
from tinygen.data.dataset import ImageDataset, load_dataset
from tinygen.data.fetch import ChecksumError, DownloadError
from tinygen.data.idx import IDXError, read_idx, write_idx
from tinygen.data.loader import DataLoader
from tinygen.data.sources import (DATASETS, DatasetNotFoundError, cache_dir, dataset_path,
                                  download, list_datasets, load_arrays)

__all__ = [
    "DATASETS", "ChecksumError", "DataLoader", "DatasetNotFoundError", "DownloadError",
    "IDXError", "ImageDataset", "binarize_dynamic", "binarize_fixed", "binarize_threshold",
    "cache_dir", "dataset_path", "download", "list_datasets", "load_arrays", "load_dataset",
    "read_idx", "write_idx",
]
