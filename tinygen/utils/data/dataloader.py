"""DataLoader with torch's signature and behaviour: samplers choose indices, the dataset
returns samples, collate_fn makes batches.

    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, num_workers=2)
    for xb, yb in loader:       # xb (64, ...) Tensor, yb (64,) Tensor
        ...

Shuffling draws from `generator` (a tg.Generator) or else tinygen's random state, so
`tg.manual_seed(s)` makes the order reproducible.

num_workers > 0 loads batches in parallel on a pool of worker *threads*, not processes:
tinygen's datasets live in memory and their work (NumPy slicing, IDX decoding, casts) runs
outside the GIL; threads need no pickling of the dataset, no fork of a process that holds
numba's thread pool or a CUDA context, and they share tinygen's seeded random state. As in
torch the batches come out in sampler order whatever order the workers finish in, with at
most prefetch_factor * num_workers batches in flight. Randomness drawn inside a dataset's
__getitem__ (e.g. dynamic binarization) is then drawn in the order the threads run: use
num_workers=0 where such draws must be bitwise reproducible. pin_memory is accepted and
does nothing (there is no pinned memory to use); timeout limits the wait for one batch.
"""
import concurrent.futures
import itertools
import queue
import threading

from tinygen.utils.data.collate import default_collate, default_convert
from tinygen.utils.data.dataset import IterableDataset
from tinygen.utils.data.sampler import BatchSampler, RandomSampler, SequentialSampler


class WorkerInfo:
    """What get_worker_info() returns inside a worker: id, num_workers, seed, dataset."""

    def __init__(self, id, num_workers, seed, dataset):
        self.id, self.num_workers, self.seed, self.dataset = id, num_workers, seed, dataset

    def __repr__(self):
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed})"


_worker = threading.local()


def get_worker_info():
    """The WorkerInfo of the calling worker thread, or None in the main thread."""
    return getattr(_worker, "info", None)


class DataLoader:
    """Batches of `dataset` (map-style or iterable) as torch.utils.data.DataLoader."""

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, generator=None, prefetch_factor=None,
                 persistent_workers=False):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in "
                             "multiprocessing.let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None.")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if isinstance(dataset, IterableDataset):
            if shuffle:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 "sampler and batch_sampler options")
        elif sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.num_workers, self.timeout, self.pin_memory = num_workers, timeout, pin_memory
        self.worker_init_fn, self.generator = worker_init_fn, generator
        self.prefetch_factor = (2 if prefetch_factor is None else prefetch_factor) \
            if num_workers > 0 else None
        self.persistent_workers = persistent_workers
        self._iterable = isinstance(dataset, IterableDataset)
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else \
                SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        auto_batching = batch_sampler is not None or (self._iterable and batch_size is not None)
        self.collate_fn = collate_fn or (default_collate if auto_batching else default_convert)
        self._auto_batching = auto_batching
        self._pool = None

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)   # a TypeError when the stream has no length, as torch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    # ---- fetching one batch ---------------------------------------------------------

    def _fetch(self, indices):
        """The collated batch of `indices` (a list), or of one index without auto-batching."""
        if not self._auto_batching:
            return self.collate_fn(self.dataset[indices])
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(indices) if getitems else [self.dataset[i] for i in indices]
        return self.collate_fn(samples)

    def _stream_batches(self, stream):
        """Batches collated from an iterator of samples (an IterableDataset)."""
        if not self._auto_batching:
            for sample in stream:
                yield self.collate_fn(sample)
            return
        while True:
            batch = list(itertools.islice(stream, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield self.collate_fn(batch)

    # ---- iteration ------------------------------------------------------------------

    def __iter__(self):
        if self.num_workers == 0:
            if self._iterable:
                return self._stream_batches(iter(self.dataset))
            return (self._fetch(i) for i in
                    (self.batch_sampler if self._auto_batching else self.sampler))
        if self._iterable:
            return self._iter_stream_workers()
        return self._iter_map_workers()

    def _worker_infos(self):
        from tinygen import rng
        base_seed = int(rng.numpy_generator(self.generator).integers(2**62))
        return [WorkerInfo(i, self.num_workers, base_seed + i, self.dataset)
                for i in range(self.num_workers)]

    def _get_pool(self, infos):
        if self._pool is not None:
            return self._pool
        free = queue.SimpleQueue()   # each worker thread takes one WorkerInfo when it starts
        for info in infos:
            free.put(info)

        def start_worker():
            _worker.info = free.get()
            if self.worker_init_fn is not None:
                self.worker_init_fn(_worker.info.id)

        pool = concurrent.futures.ThreadPoolExecutor(self.num_workers, "tinygen-loader",
                                                     initializer=start_worker)
        if self.persistent_workers:
            self._pool = pool
        return pool

    def _result(self, future):
        try:
            return future.result(timeout=self.timeout or None)
        except concurrent.futures.TimeoutError:
            raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds") from None

    def _iter_map_workers(self):
        order = iter(self.batch_sampler if self._auto_batching else self.sampler)
        # the first batches' indices are drawn before the workers' seeds, so a seeded shuffle
        # gives the same order as with num_workers=0
        first = list(itertools.islice(order, self.prefetch_factor * self.num_workers))
        pool = self._get_pool(self._worker_infos())
        in_flight = []    # futures in sampler order: yielded first-in, first-out
        try:
            for indices in first:
                in_flight.append(pool.submit(self._fetch, indices))
            while in_flight:
                batch = self._result(in_flight.pop(0))
                for indices in itertools.islice(order, 1):
                    in_flight.append(pool.submit(self._fetch, indices))
                yield batch
        finally:
            for future in in_flight:
                future.cancel()
            if pool is not self._pool:
                pool.shutdown(wait=False, cancel_futures=True)

    def _iter_stream_workers(self):
        """Each worker iterates its own copy of the IterableDataset (split the work with
        get_worker_info()); batches are taken from the workers in turn, as torch."""
        infos = self._worker_infos()
        queues = [queue.Queue(self.prefetch_factor) for _ in infos]
        stop = threading.Event()
        done = object()

        def work(info, out):
            _worker.info = info
            try:
                if self.worker_init_fn is not None:
                    self.worker_init_fn(info.id)
                for batch in self._stream_batches(iter(self.dataset)):
                    while not stop.is_set():
                        try:
                            out.put((batch, None), timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                out.put((done, None))
            except BaseException as e:  # handed to the main thread, raised there
                out.put((None, e))

        threads = [threading.Thread(target=work, args=(info, q), daemon=True,
                                    name=f"tinygen-loader-{info.id}")
                   for info, q in zip(infos, queues)]
        for t in threads:
            t.start()
        try:
            live = list(range(len(queues)))
            while live:
                for w in list(live):
                    try:
                        batch, error = queues[w].get(timeout=self.timeout or None)
                    except queue.Empty:
                        raise RuntimeError(f"DataLoader timed out after {self.timeout} "
                                           f"seconds") from None
                    if error is not None:
                        raise error
                    if batch is done:
                        live.remove(w)
                    else:
                        yield batch
        finally:
            stop.set()

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
