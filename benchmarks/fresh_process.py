"""Each framework in a fresh process of its own, started with the user's environment: the
plumbing the benchmarks that time PyTorch share.

Importing this module records os.environ as it is then, so a benchmark imports it before
anything else runs. Every child gets exactly that environment: no variable the parent set
after starting reaches it, and no thread limit (tinygen's set_num_threads, threadpoolctl's
BLAS limits) or allocator setting can, since those live in the parent process alone. PyTorch
then runs as the user would run it, and tinygen as a plain script.

    torch_available()      whether a fresh process can import torch
    json_from_child(argv)  run argv in a fresh process: the JSON on the last line it printed
"""
import json
import os
import subprocess
import sys

USER_ENV = dict(os.environ)   # what every child process gets


def torch_available():
    """Whether torch imports in a fresh process (without importing it in this one)."""
    probe = [sys.executable, "-c", "import torch"]
    return subprocess.run(probe, env=USER_ENV, capture_output=True).returncode == 0


def json_from_child(argv):
    """Run `argv` in a fresh process with USER_ENV; the JSON value on the last line of its
    output. A failed child raises RuntimeError with the end of its stderr."""
    done = subprocess.run(argv, env=USER_ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
