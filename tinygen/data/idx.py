"""The IDX file format of MNIST and Fashion-MNIST: a reader and a writer.

An IDX file is a header followed by one dense big-endian array in C order:

    bytes 0-1   0x00 0x00                   magic, always zero
    byte  2     dtype code                  0x08 uint8, 0x09 int8, 0x0B int16,
                                            0x0C int32, 0x0D float32, 0x0E float64
    byte  3     rank r                      number of dimensions (>= 1)
    4 .. 4+4r   r dimensions                each a big-endian uint32
    then        prod(dims) * itemsize bytes the data, big-endian

MNIST's images are `idx3-ubyte` (rank 3, uint8: N x 28 x 28) and its labels `idx1-ubyte`
(rank 1, uint8: N). Files are often gzipped; the reader detects gzip by its magic bytes
(1f 8b), not by the name, so `train-images-idx3-ubyte` and `...ubyte.gz` both work.
Everything that can be wrong with a file (bad magic, unknown dtype code, truncation, extra
bytes, a broken gzip stream) raises `IDXError`, a ValueError that names the file.

    >>> write_idx("x.idx.gz", np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> read_idx("x.idx.gz")
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
"""
import gzip
import os
import struct
import zlib

import numpy as np

from tinygen.serialization import file_mode, naming_file

GZIP_MAGIC = b"\x1f\x8b"

# IDX dtype code -> big-endian NumPy dtype, as in LeCun's description of the format
DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
CODES = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}


class IDXError(ValueError):
    """A file that is not a valid IDX file; the message names the file and the fault."""

    def __init__(self, path, problem):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


def is_gzip(data):
    """True when `data` (bytes) starts with the gzip magic number."""
    return data[:2] == GZIP_MAGIC


def parse_idx(data, name="<bytes>"):
    """Decode the bytes of an (uncompressed) IDX file into a native-endian array."""
    if len(data) < 4:
        raise IDXError(name, f"truncated: {len(data)} bytes, shorter than the 4-byte magic number")
    zero, code, rank = struct.unpack(">HBB", data[:4])
    if zero != 0:
        raise IDXError(name, f"bad magic number 0x{data[:4].hex()}: not an IDX file "
                             "(the first two bytes must be zero)")
    if code not in DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in DTYPES)
        raise IDXError(name, f"bad magic number 0x{data[:4].hex()}: unknown dtype code "
                             f"0x{code:02X} (known: {known})")
    if rank == 0:
        raise IDXError(name, "bad magic number: rank 0 (an IDX array has at least one dimension)")
    header = 4 + 4 * rank
    if len(data) < header:
        raise IDXError(name, f"truncated header: rank {rank} needs {header} bytes, "
                             f"the file has {len(data)}")
    shape = struct.unpack(f">{rank}I", data[4:header])
    dtype = DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found < expected:
        raise IDXError(name, f"truncated: shape {shape} of {dtype.newbyteorder('=').name} "
                             f"needs {expected} data bytes, the file has {found}")
    if found > expected:
        raise IDXError(name, f"corrupt: {found - expected} unexpected bytes after the data "
                             f"of shape {shape}")
    x = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return x.astype(dtype.newbyteorder("="))  # a writable native-endian copy


def read_idx_bytes(path):
    """The uncompressed bytes of the IDX file at `path` (gunzipped if it is gzip)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if not is_gzip(data):
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as e:  # EOFError: a truncated gzip stream
        raise IDXError(path, f"corrupt or truncated gzip stream ({e})") from None


def read_idx(path, ndim=None, dtype=None):
    """Read an IDX file, gzipped or not, into a NumPy array (native byte order).

    ndim, dtype: optional expectations; a file that differs raises IDXError.
    """
    path = os.fspath(path)
    x = parse_idx(read_idx_bytes(path), name=path)
    if ndim is not None and x.ndim != ndim:
        raise IDXError(path, f"expected rank {ndim}, the file has rank {x.ndim} (shape {x.shape})")
    if dtype is not None and x.dtype != np.dtype(dtype):
        raise IDXError(path, f"expected dtype {np.dtype(dtype).name}, "
                             f"the file holds {x.dtype.name}")
    return x


def idx_bytes(x):
    """Encode array `x` (rank >= 1, a dtype IDX knows) as the bytes of an IDX file."""
    x = np.asarray(x)
    native = x.dtype.newbyteorder("=")
    if native not in CODES:
        raise TypeError(f"IDX cannot store dtype {x.dtype}: use one of "
                        f"{', '.join(d.name for d in CODES)}")
    if x.ndim == 0 or x.ndim > 255:
        raise ValueError(f"IDX stores arrays of rank 1 to 255, got rank {x.ndim}")
    if any(n >= 2**32 for n in x.shape):
        raise ValueError(f"IDX dimensions are uint32, shape {x.shape} does not fit")
    header = struct.pack(f">HBB{x.ndim}I", 0, CODES[native], x.ndim, *x.shape)
    return header + np.ascontiguousarray(x, dtype=native.newbyteorder(">")).tobytes()


def write_idx(path, x, compress=None):
    """Write array `x` as an IDX file at `path`, gzipped when `compress` (default: the
    name ends in .gz). The file is written whole to a temporary name, then renamed."""
    path = os.fspath(path)
    if compress is None:
        compress = path.endswith(".gz")
    data = idx_bytes(x)
    if compress:
        data = gzip.compress(data, mtime=0)  # mtime=0: the same array gives the same bytes
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with naming_file(path), open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, file_mode(path))     # an overwrite keeps the file's permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
