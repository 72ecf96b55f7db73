"""tinygen.utils.data: torch.utils.data's datasets, samplers, collate and DataLoader.

    from tinygen.utils.data import DataLoader, TensorDataset, random_split
"""
from tinygen.utils.data.collate import default_collate, default_convert
from tinygen.utils.data.dataloader import DataLoader, WorkerInfo, get_worker_info
from tinygen.utils.data.distributed import DistributedSampler
from tinygen.utils.data.dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset,
                                        Subset, TensorDataset, random_split)
from tinygen.utils.data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                                        SubsetRandomSampler, WeightedRandomSampler)

__all__ = [
    "BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset",
    "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler",
    "TensorDataset", "WeightedRandomSampler", "WorkerInfo", "default_collate", "default_convert",
    "get_worker_info", "random_split",
    "DistributedSampler",
]
