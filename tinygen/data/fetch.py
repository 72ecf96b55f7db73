"""Fetch a file from a list of mirrors, check its SHA-256, write it atomically.

A download streams into a temporary file in the destination's directory while hashing;
only when the SHA-256 matches the published one is the file fsynced and renamed onto its
final name (`os.replace`, atomic on POSIX), so an interrupted or corrupted download never
leaves a file that looks complete. The opener is a parameter (default
`urllib.request.urlopen`): tests pass `file://` URLs or a fake, and never touch the network.
"""
import hashlib
import http.client
import os
import tempfile
import urllib.request

from tqdm import tqdm

from tinygen.serialization import file_mode

CHUNK = 1 << 16


class ChecksumError(ValueError):
    """Downloaded or local bytes whose SHA-256 differs from the published one."""


class DownloadError(OSError):
    """No mirror gave the file; the message lists every URL tried and why it failed."""


def sha256_file(path):
    """The hex SHA-256 of the file at `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _content_length(response):
    headers = getattr(response, "headers", None)
    try:
        return int(headers.get("Content-Length")) if headers is not None else None
    except (TypeError, ValueError):
        return None


def fetch_url(url, dest, sha256, opener=None, progress=True, timeout=60):
    """Download `url` to `dest`, atomically, if its SHA-256 is `sha256`.

    opener(url, timeout=...) returns a readable response (urllib's urlopen by default).
    Raises ChecksumError on a hash mismatch (nothing is written), OSError on I/O failure.
    """
    opener = opener or urllib.request.urlopen
    dest = os.fspath(dest)
    directory = os.path.dirname(os.path.abspath(dest))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(dest)}.", suffix=".part")
    try:
        os.fchmod(fd, file_mode(dest))      # the umask's mode, not mkstemp's 0600
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as f, opener(url, timeout=timeout) as response:
            bar = tqdm(total=_content_length(response), unit="B", unit_scale=True,
                       unit_divisor=1024, desc=os.path.basename(dest), disable=not progress,
                       leave=False)
            with bar:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    f.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            f.flush()
            os.fsync(f.fileno())
        got = digest.hexdigest()
        if got != sha256:
            raise ChecksumError(f"{url}: SHA-256 {got} differs from the published {sha256}")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def fetch(urls, dest, sha256, opener=None, progress=True, timeout=60):
    """Download the first of `urls` that answers with the expected bytes; see fetch_url."""
    failures = []
    for url in urls:
        try:
            return fetch_url(url, dest, sha256, opener=opener, progress=progress, timeout=timeout)
        except (OSError, ValueError, http.client.HTTPException) as e:  # try the next mirror
            failures.append(f"  {url}: {e}")
    name = os.path.basename(os.fspath(dest))
    raise DownloadError(f"could not download {name} from any of {len(failures)} mirrors "
                        f"({failures[0].strip() if failures else 'no URL given'}):\n"
                        + "\n".join(failures))
