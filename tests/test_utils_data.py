"""tinygen.utils.data: collate, samplers, datasets and DataLoader against torch's, parallel
loading on worker threads, and tinygen's own datasets (ImageDataset, MNIST) in the loader."""
import collections
import dataclasses
import hashlib
import threading
import time

import numpy as np
import pytest

import tinygen as tg
from tinygen.data import ImageDataset, sources
from tinygen.data.idx import idx_bytes, write_idx
from tinygen.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset,
                                IterableDataset, RandomSampler, SequentialSampler, Subset,
                                TensorDataset, default_collate, get_worker_info, random_split)

Pair = collections.namedtuple("Pair", "a b")

SAMPLES = {   # name -> a batch of samples, each kind default_collate has a rule for
    "tuple": [(np.full((2, 3), i, np.float32), i) for i in range(4)],
    "float": [0.5, 1.5, 2.5],
    "int": [1, 2, 3],
    "bool": [True, False],
    "np_int64": [np.int64(3), np.int64(4)],
    "np_float32": [np.float32(1.5), np.float32(2.5)],
    "np_float64_arrays": [np.arange(3.0), np.arange(3.0) + 1],
    "uint8_arrays": [np.arange(4, dtype=np.uint8).reshape(2, 2)] * 3,
    "dict": [{"x": np.ones(2, np.float32), "y": 1, "name": "a"},
             {"x": np.zeros(2, np.float32), "y": 2, "name": "b"}],
    "list": [[1, 2.0], [3, 4.0]],
    "nested": [{"p": (np.float32(1), [1, 2])}, {"p": (np.float32(2), [3, 4])}],
    "namedtuple": [Pair(1, 2.0), Pair(3, 4.0)],
    "strings": ["a", "b"],
}


def _compare(t_out, g_out):
    """Same structure, container types, dtypes and values."""
    import torch
    if isinstance(t_out, torch.Tensor):
        assert isinstance(g_out, tg.Tensor)
        assert str(t_out.dtype) == f"torch.{g_out.dtype}", (t_out.dtype, g_out.dtype)
        np.testing.assert_array_equal(t_out.numpy(), g_out.numpy())
    elif isinstance(t_out, dict):
        assert type(t_out) is type(g_out) and list(t_out) == list(g_out)
        for k in t_out:
            _compare(t_out[k], g_out[k])
    elif isinstance(t_out, (list, tuple)):
        assert type(t_out) is type(g_out) and len(t_out) == len(g_out)
        for a, b in zip(t_out, g_out):
            _compare(a, b)
    else:
        assert t_out == g_out


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_default_collate_matches_torch(name):
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate
    batch = SAMPLES[name]
    _compare(torch_collate(batch), default_collate(batch))


def test_default_collate_of_tensors_stacks_and_keeps_gradients():
    xs = [tg.randn(2, 3, requires_grad=True) for _ in range(3)]
    out = default_collate(xs)
    assert out.shape == (3, 2, 3)
    out.sum().backward()
    assert all(np.array_equal(x.grad.numpy(), np.ones((2, 3))) for x in xs)
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([tg.zeros(2), tg.zeros(3)])
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object()])


@pytest.mark.parametrize("n,batch_size,drop_last", [(10, 3, False), (10, 3, True), (9, 3, False),
                                                    (5, 1, False), (4, 8, False), (4, 8, True)])
def test_loader_batches_equal_torch_without_shuffle(n, batch_size, drop_last):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((n, 2, 3)).astype(np.float32), np.arange(n)
    t_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        batch_size=batch_size, drop_last=drop_last)
    for workers in (0, 2):
        g_loader = DataLoader(TensorDataset(tg.tensor(x), tg.tensor(y)), batch_size=batch_size,
                              drop_last=drop_last, num_workers=workers)
        assert len(g_loader) == len(t_loader)
        t_batches, g_batches = list(t_loader), list(g_loader)
        assert len(g_batches) == len(t_batches)
        for t_batch, g_batch in zip(t_batches, g_batches):
            _compare(t_batch, g_batch)


def test_loader_over_plain_samples_equals_torch():
    torch = pytest.importorskip("torch")

    class Samples:   # a map-style dataset that is neither tinygen's nor torch's class
        def __getitem__(self, i):
            return {"x": np.full(2, i, np.float64), "label": i % 3, "w": 0.5 * i}

        def __len__(self):
            return 7

    for batch_size in (None, 3):
        t_out = list(torch.utils.data.DataLoader(Samples(), batch_size=batch_size))
        g_out = list(DataLoader(Samples(), batch_size=batch_size))
        _compare(t_out, g_out)


def test_argument_errors_match_torch():
    torch = pytest.importorskip("torch")
    ds = [1, 2, 3]
    cases = [dict(batch_sampler=[[0]], batch_size=2), dict(sampler=[0], shuffle=True),
             dict(batch_size=None, drop_last=True), dict(num_workers=-1),
             dict(prefetch_factor=2), dict(persistent_workers=True), dict(timeout=-1)]
    for kw in cases:
        with pytest.raises(ValueError) as t_err:
            torch.utils.data.DataLoader(ds, **kw)
        with pytest.raises(ValueError) as g_err:
            DataLoader(ds, **kw)
        assert str(g_err.value).split()[:5] == str(t_err.value).split()[:5], kw


def test_shuffle_is_a_fresh_seeded_permutation_each_epoch():
    ds = TensorDataset(tg.arange(20))
    loader = DataLoader(ds, batch_size=6, shuffle=True)
    tg.manual_seed(1)
    first = [np.concatenate([b[0].numpy() for b in loader]) for _ in range(2)]
    tg.manual_seed(1)
    again = [np.concatenate([b[0].numpy() for b in loader]) for _ in range(2)]
    assert all(sorted(e.tolist()) == list(range(20)) for e in first)
    assert not np.array_equal(first[0], first[1])
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    tg.manual_seed(1)
    threaded = np.concatenate([b[0].numpy() for b in DataLoader(ds, batch_size=6, shuffle=True,
                                                                num_workers=3)])
    assert np.array_equal(threaded, first[0])   # workers do not change the order
    g = tg.Generator().manual_seed(7)
    a = [b[0].tolist() for b in DataLoader(ds, batch_size=20, shuffle=True, generator=g)]
    g.manual_seed(7)
    assert a == [b[0].tolist() for b in DataLoader(ds, batch_size=20, shuffle=True, generator=g)]


def test_reachable_as_torch_spells_it():
    assert tg.utils.data.DataLoader is DataLoader and tg.utils.data.TensorDataset is TensorDataset
    assert tg.data.MNIST.__mro__[1:3] == (tg.data.ImageDataset, Dataset)   # one image dataset


def test_samplers():
    ds = list(range(7))
    assert list(SequentialSampler(ds)) == ds
    tg.manual_seed(0)
    order = list(RandomSampler(ds))
    assert sorted(order) == ds and all(type(i) is int for i in order)
    assert len(list(RandomSampler(ds, num_samples=10))) == 10
    assert all(0 <= i < 7 for i in RandomSampler(ds, replacement=True, num_samples=30))
    assert list(BatchSampler(SequentialSampler(ds), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(SequentialSampler(ds), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(ds, 3, False)) == 3 and len(BatchSampler(ds, 3, True)) == 2
    loader = DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 4, False))
    assert [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6]] and len(loader) == 2
    assert [b.tolist() for b in DataLoader(ds, sampler=[6, 0], batch_size=2)] == [[6, 0]]


def test_datasets_subset_concat_random_split():
    torch = pytest.importorskip("torch")
    a, b = TensorDataset(tg.arange(5)), TensorDataset(tg.arange(5, 8))
    both = a + b
    assert isinstance(both, ConcatDataset) and len(both) == 8
    assert [int(both[i][0]) for i in range(8)] == list(range(8)) and int(both[-1][0]) == 7
    sub = Subset(both, [7, 0, 3])
    assert [int(sub[i][0]) for i in range(3)] == [7, 0, 3] and len(sub) == 3
    for lengths in ([0.5, 0.5], [0.3, 0.3, 0.4], [0.1, 0.9], [3, 5]):
        g_parts = random_split(both, lengths, generator=tg.Generator().manual_seed(0))
        t_parts = torch.utils.data.random_split(range(8), lengths)
        assert [len(p) for p in g_parts] == [len(p) for p in t_parts]
        seen = sorted(int(p[i][0]) for p in g_parts for i in range(len(p)))
        assert seen == list(range(8))
    with pytest.raises(ValueError, match="sum to"):
        random_split(both, [3, 3])
    with pytest.raises(ValueError, match="first dimension"):
        TensorDataset(tg.zeros(2), tg.zeros(3))
    with pytest.raises(NotImplementedError):
        Dataset()[0]


class BarrierDataset(Dataset):
    """Each __getitem__ waits until `parties` calls are inside at once: it can only finish
    when that many run in parallel (else the barrier times out)."""

    def __init__(self, n, parties):
        self.n, self.barrier = n, threading.Barrier(parties, timeout=10)
        self.threads = set()

    def __getitem__(self, i):
        self.threads.add(threading.current_thread().name)
        self.barrier.wait()
        return np.float32(i)

    def __len__(self):
        return self.n


def test_workers_really_run_in_parallel_and_keep_order():
    ds = BarrierDataset(8, parties=4)
    loader = DataLoader(ds, batch_size=1, num_workers=4)
    assert [b.tolist() for b in loader] == [[float(i)] for i in range(8)]
    assert len(ds.threads) == 4


def test_worker_init_fn_worker_info_timeout_and_errors():
    seen = []

    class Info(Dataset):
        def __getitem__(self, i):
            info = get_worker_info()
            return info.id, info.num_workers

        def __len__(self):
            return 6

    out = list(DataLoader(Info(), batch_size=2, num_workers=2,
                          worker_init_fn=lambda wid: seen.append(wid)))
    assert sorted(seen) == [0, 1] and all(b[1].tolist() == [2, 2] for b in out)
    assert get_worker_info() is None

    class Slow(Dataset):
        def __getitem__(self, i):
            time.sleep(0.5)
            return i

        def __len__(self):
            return 2

    with pytest.raises(RuntimeError, match="timed out after 0.05 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.05))

    class Broken(Dataset):
        def __getitem__(self, i):
            raise KeyError(f"bad sample {i}")

        def __len__(self):
            return 3

    with pytest.raises(KeyError, match="bad sample 0"):
        list(DataLoader(Broken(), num_workers=2))


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))

    def __len__(self):
        return self.n


def test_iterable_dataset():
    torch = pytest.importorskip("torch")

    class TorchStream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(7))

    t_out = [b.tolist() for b in torch.utils.data.DataLoader(TorchStream(), batch_size=3)]
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=3)] == t_out
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=3, drop_last=True)] == t_out[:2]
    assert len(DataLoader(Stream(7), batch_size=3)) == 3
    # two workers, each its own shard (even, odd), batches taken in turn as torch does
    out = [b.tolist() for b in DataLoader(Stream(10), batch_size=2, num_workers=2)]
    assert out == [[0, 2], [1, 3], [4, 6], [5, 7], [8], [9]]
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(3), shuffle=True)


def test_persistent_workers_reuse_the_pool():
    """With persistent_workers the second epoch is served by the first one's workers (their
    worker_init_fn runs once each); without, each epoch starts workers of its own."""
    for persistent, starts in ((True, 2), (False, 4)):
        started, served = [], set()

        class Items(Dataset):
            def __len__(self):
                return 6

            def __getitem__(self, i):
                served.add(threading.get_ident())
                time.sleep(0.01)               # so that both workers take a share
                return i
        loader = DataLoader(Items(), batch_size=2, num_workers=2, persistent_workers=persistent,
                            worker_init_fn=started.append)
        for _ in range(2):
            assert [b.tolist() for b in loader] == [[0, 1], [2, 3], [4, 5]]
        assert len(started) == starts and sorted(started) == sorted([0, 1] * (starts // 2))
        if persistent:
            assert len(served) <= 2


def test_image_dataset_in_the_loader():
    pixels = np.arange(5 * 4, dtype=np.uint8).reshape(5, 2, 2)
    ds = ImageDataset(pixels, np.arange(5) % 3)
    assert isinstance(ds, Dataset)
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 1, 2, 2) and x.dtype == tg.float32 and y.dtype == tg.int64
    np.testing.assert_array_equal(x.numpy(), pixels[:4, None] / np.float32(255))
    assert y.tolist() == [0, 1, 2, 0]
    x1, y1 = ds[2]
    assert x1.shape == (1, 2, 2) and int(y1) == 2


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Tiny IDX files in torchvision's layout root/MNIST/raw, accepted by verify=True."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    hashes = {}
    for split, n in (("train", 6), ("t10k", 3)):
        images = (np.arange(n * 28 * 28) % 256).astype(np.uint8).reshape(n, 28, 28)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for stem, x in ((f"{split}-images-idx3-ubyte", images), (f"{split}-labels-idx1-ubyte", labels)):
            write_idx(raw / (stem + ".gz"), x)
            hashes[stem] = hashlib.sha256(idx_bytes(x)).hexdigest()
    monkeypatch.setitem(sources.IDX_SOURCES, "mnist",
                        dataclasses.replace(sources.IDX_SOURCES["mnist"], raw_sha256=hashes))
    return tmp_path


def test_mnist_in_torchvisions_shape(fake_mnist):
    train, test = tg.data.MNIST(fake_mnist), tg.data.MNIST(fake_mnist, train=False)
    assert len(train) == 6 and len(test) == 3 and train.classes[3] == "3"
    image, label = train[1]
    assert image.shape == (1, 28, 28) and image.dtype == tg.float32 and label == 1
    assert type(label) is int and 0 <= image.numpy().min() and image.numpy().max() <= 1
    np.testing.assert_array_equal(image.numpy()[0] * 255, train.data.numpy()[1])
    assert train.data.dtype == tg.uint8 and train.targets.dtype == tg.int64
    norm = tg.data.MNIST(fake_mnist, transform=lambda x: (x - 0.5) / 0.5,
                         target_transform=lambda y: y + 10)
    image2, label2 = norm[1]
    np.testing.assert_allclose(image2.numpy(), (image.numpy() - 0.5) / 0.5)
    assert label2 == 11
    x, y = next(iter(DataLoader(train, batch_size=4, shuffle=True)))
    assert x.shape == (4, 1, 28, 28) and y.dtype == tg.int64
    train.data, train.targets = train.data[2:], train.targets[2:]   # torchvision's subset idiom
    assert len(train) == 4 and train[1][1] == 3
    xb, yb = next(iter(tg.data.image_loader(train, 2, shuffle=False)))   # an ImageDataset too
    np.testing.assert_array_equal(xb.numpy(), train.data.numpy()[:2, None] / np.float32(255))
    assert yb.tolist() == [2, 3]
    with pytest.raises(FileNotFoundError):
        tg.data.FashionMNIST(fake_mnist / "nowhere", download=False)


def test_tensor_dataset_rows_are_views_or_differentiable():
    x = tg.zeros(3, 2)
    row = TensorDataset(x)[1][0]
    x[1] = 5.0                                    # a view sees the change, as torch's
    assert row.tolist() == [5.0, 5.0] and row._version == x._version
    w = tg.ones(3, 2, requires_grad=True)
    (batch,) = next(iter(DataLoader(TensorDataset(w), batch_size=2)))
    batch.sum().backward()
    assert w.grad.tolist() == [[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]]
