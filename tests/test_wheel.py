"""Packaging: the wheel carries every package, and a non-editable install trains.

The slow test builds the wheel from a copy of the source tree, installs it (no dependencies,
no index) into a fresh venv that sees this interpreter's installed packages through a .pth
file (nothing is downloaded), and runs the installed `tinygen train vae --epochs 1` in a
temporary directory, away from the source tree, so only the installed copy can be imported.
"""
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _package_dirs():
    return sorted({p.parent for p in (ROOT / "tinygen").rglob("*.py")
                   if "__pycache__" not in p.parts})


def test_every_directory_with_python_files_is_a_package():
    missing = [str(d.relative_to(ROOT)) for d in _package_dirs() if not (d / "__init__.py").exists()]
    assert not missing, f"directories without __init__.py (left out of the wheel): {missing}"


def test_setup_finds_every_package():
    from setuptools import find_packages
    found = set(find_packages(str(ROOT), include=["tinygen", "tinygen.*"]))
    wanted = {".".join(d.relative_to(ROOT).parts) for d in _package_dirs()}
    assert wanted <= found, f"packages setup.py leaves out: {sorted(wanted - found)}"


def _run(cmd, cwd, env, timeout=600):
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_wheel_installs_and_trains(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", "runs", ".pytest_cache"))
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)]
    try:   # offline: build with the setuptools already installed
        _run(build[:4] + ["--no-build-isolation"] + build[4:], tmp_path, env)
    except AssertionError:
        _run(build, tmp_path, env)   # no setuptools here: pip fetches the build backend
    (wheel,) = wheels.glob("tinygen-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        tmp_path, env).strip())
    # the venv sees this interpreter's packages (numpy, numba, matplotlib, ...) after its own
    ours = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if os.path.isdir(p)]
    (purelib / "outer-packages.pth").write_text("\n".join(dict.fromkeys(ours)) + "\n")
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
         tmp_path, env)

    work = tmp_path / "work"
    work.mkdir()
    where = _run([str(python), "-c", "import tinygen, tinygen.train, tinygen.utils.data; "
                  "print(tinygen.__file__)"], work, env)
    assert Path(where.strip()).is_relative_to(venv), f"imported from {where}, not the install"
    _run([str(venv / "bin" / "tinygen"), "train", "vae", "--epochs", "1", "--no-progress",
          "--out", "run"], work, env)
    run = work / "run"
    for name in ("config.json", "metrics.jsonl", "checkpoint.npz", "samples_e001.png"):
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("kind") == "train_step" for r in records)
    assert json.loads((run / "config.json").read_text())["model"] == "vae"
