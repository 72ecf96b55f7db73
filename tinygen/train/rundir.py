"""Ownership of a run directory: one process at a time writes into it.

    with RunLock(run_dir, "train"):      # RunLockedError (one line) names the holder
        ...                              # train, sample or eval into run_dir
    write_json_atomic(path, obj)         # config.json, eval.json: never half-written

The lock is the file RUN/lock, one line of JSON {pid, host, command, started}, held with an
exclusive flock(2) on that file for as long as the owner runs. The kernel drops a flock when
its process dies, however it dies (SIGKILL included), so a lock file left behind by a dead
process is stale by construction: the next owner takes it over and says whose it was. The
owner removes the file when it is done. (Where flock is missing, on Windows, msvcrt's byte
lock plays its part.)
"""
import datetime
import json
import os
import socket
import sys

from tinygen.serialization import file_mode, naming_file

LOCK_NAME = "lock"


def write_json_atomic(path, obj):
    """json.dump to a temporary file beside `path`, fsync, then rename onto `path`."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with naming_file(path), open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode(path))     # an overwrite keeps the file's permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class RunLockedError(RuntimeError):
    """The run directory is held by another process (named in the message)."""


def _try_lock(fd):
    """Take an exclusive lock on fd without waiting; False when another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    return True


def _describe(record):
    if not record:
        return "another process (it has not written its name yet)"
    return (f"pid {record.get('pid')} on {record.get('host')} "
            f"(tinygen {record.get('command')}, since {record.get('started')})")


def _read_record(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode("utf-8", "replace").strip()
    try:
        record = json.loads(text) if text else None
    except ValueError:
        return {"pid": "?", "host": "?", "command": "?", "started": f"unreadable: {text[:40]!r}"}
    return record if isinstance(record, dict) else None


class RunLock:
    """Hold run directory `run_dir` for `command` ('train', 'sample', 'eval') while in the
    with-block. Raises RunLockedError when a live process holds it; takes over (with a
    message on `stream`) a lock left by a dead one."""

    def __init__(self, run_dir, command, stream=None):
        self.run_dir, self.command = os.fspath(run_dir), command
        self.path = os.path.join(self.run_dir, LOCK_NAME)
        self.stream = stream if stream is not None else sys.stderr
        self.fd = None
        self.previous = None   # the record of a stale lock taken over

    def acquire(self):
        for _ in range(100):   # retried only when the file is replaced while we lock it
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                holder = _describe(_read_record(fd))
                os.close(fd)
                raise RunLockedError(f"{self.run_dir} is in use by {holder}; wait for it to "
                                     "finish, or use another directory")
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:   # the owner removed the file between our open and our lock
                os.close(fd)
                continue
            self.previous = _read_record(fd)
            if self.previous is not None:
                print(f"taking over the stale lock of {self.run_dir}: {_describe(self.previous)} "
                      "is no longer running", file=self.stream)
            record = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                      "started": datetime.datetime.now().isoformat(timespec="seconds")}
            try:
                with naming_file(self.path):      # a full disk: the line names the lock file
                    os.ftruncate(fd, 0)
                    os.lseek(fd, 0, os.SEEK_SET)
                    os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
            except OSError:
                os.close(fd)
                raise
            self.fd = fd
            return self
        raise RunLockedError(f"{self.run_dir}: could not take the lock (it keeps changing)")

    def release(self):
        if self.fd is None:
            return
        try:
            os.remove(self.path)   # while still locked: a waiter then sees a new inode
        except FileNotFoundError:
            pass
        os.close(self.fd)          # drops the flock
        self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False
