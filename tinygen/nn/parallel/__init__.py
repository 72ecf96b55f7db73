"""tinygen.nn.parallel: data parallelism over processes (DistributedDataParallel)."""
from tinygen.nn.parallel.distributed import DistributedDataParallel  # noqa: F401
