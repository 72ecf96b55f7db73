"""Do the gpu extras resolve to one consistent CUDA set each, and ".[test]" to no CUDA 13?

    python benchmarks/check_install.py            (from the repository root; needs the index)

It asks pip for its install report (`pip install --dry-run --ignore-installed --report`),
installs nothing, and checks each extra's resolved set:
  gpu   CuPy for CUDA 12 with the libraries it loads at run time (cuBLAS, cuRAND, cuSOLVER,
        NVRTC: cupy-cuda12x[ctk]), numba-cuda with cuda-bindings 12 and nvJitLink 12;
  gpu, test    no CUDA 13 package (cuda-bindings 13, *-cu13, nvidia-*==13.*): those need a
        580+ driver and would mix two CUDA majors in one process;
  gpu-cuda13  CuPy for CUDA 13 with cuda-toolkit 13's libraries (cuBLAS, cuRAND, cuSOLVER,
        NVRTC), numba-cuda with cuda-bindings 13, NVVM and nvJitLink 13, and no CUDA 12
        package (*-cu12, cupy-cuda12x, cuda-bindings 12). The libraries' own versions are
        not CUDA's (CUDA 13's cuSOLVER is 12.x), so these are told by name and by
        cuda-toolkit's version.
Prints one line per extra and exits 1 when a check fails. Network-bound, so not a unit test:
pip downloads whole wheels to read their metadata (CUDA libraries of hundreds of MB), and a
download that is cut off is tried again, then reported as "not checked" (as .ci/run's PTX
check when its wheels cannot be had); a set that does not resolve still fails.
"""
import json
import os
import subprocess
import sys
import tempfile

GPU_NEEDS = ("cupy-cuda12x", "nvidia-cublas-cu12", "nvidia-curand-cu12", "nvidia-cusolver-cu12",
             "nvidia-cuda-nvrtc-cu12", "nvidia-nvjitlink-cu12", "numba-cuda", "cuda-bindings")


# what pip prints when a download, not the resolution, failed (seen here: a 366 MB wheel cut
# off at 176 and 359 MB, "error: incomplete-download", while the machine's disk was filling up)
NETWORK_FAILURES = ("incomplete-download", "Connection", "ReadTimeout", "HTTPSConnectionPool")


def resolve(spec, tries=3):
    """name -> version of everything pip would install for `spec`, or None when pip could not
    download what it needed, `tries` times."""
    for _ in range(tries):
        with tempfile.TemporaryDirectory() as tmp:
            report = os.path.join(tmp, "report.json")
            pip = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run",
                                  "--ignore-installed", "-q", "--report", report, spec],
                                 capture_output=True, text=True)
            if pip.returncode == 0:
                with open(report) as f:
                    items = json.load(f)["install"]
                return {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"]
                        for i in items}
        said = pip.stdout + pip.stderr
        if not any(failure in said for failure in NETWORK_FAILURES):
            sys.stderr.write(said)
            raise SystemExit(f"pip could not resolve {spec} (above)")
    sys.stderr.write("\n".join([line for line in said.splitlines() if line.strip()][-4:]) + "\n")
    return None


GPU_CUDA13_NEEDS = ("cupy-cuda13x", "cuda-toolkit", "nvidia-cublas", "nvidia-curand",
                    "nvidia-cusolver", "nvidia-cuda-nvrtc", "nvidia-nvjitlink", "nvidia-nvvm",
                    "numba-cuda", "cuda-bindings")


def problems_cuda13(resolved):
    """What is wrong with the resolved set of the gpu-cuda13 extra: a list of sentences."""
    found = [f"{name} missing" for name in GPU_CUDA13_NEEDS if name not in resolved]
    for name, version in sorted(resolved.items()):
        if name.endswith("-cu12") or name == "cupy-cuda12x" or (
                name in ("cuda-bindings", "cuda-toolkit") and version.split(".")[0] != "13"):
            found.append(f"{name}=={version} is not CUDA 13 (mixes CUDA majors)")
    return found


def problems(resolved, extra):
    """What is wrong with the resolved set of `extra` ('gpu', 'gpu-cuda13' or 'test'): a list
    of sentences."""
    if extra == "gpu-cuda13":
        return problems_cuda13(resolved)
    found = []
    for name, version in sorted(resolved.items()):
        major = version.split(".")[0]
        if name.endswith("-cu13") or (name == "cuda-bindings" and major != "12") or \
                (name.startswith(("nvidia-", "cuda-toolkit")) and not name.endswith("-cu12")
                 and major == "13"):
            found.append(f"{name}=={version} is CUDA 13 (a 580+ driver; mixes CUDA majors)")
    if extra == "gpu":
        found += [f"{name} missing" for name in GPU_NEEDS if name not in resolved]
    return found


def main():
    failed = False
    for extra in ("test", "gpu", "gpu-cuda13"):
        resolved = resolve(f".[{extra}]")
        if resolved is None:
            print(f"[{extra}] not checked: pip's downloads failed (above)")
            continue
        bad = problems(resolved, extra)
        failed |= bool(bad)
        cuda = ", ".join(f"{n}=={v}" for n, v in sorted(resolved.items())
                         if n.startswith(("cupy", "cuda", "numba", "nvidia")))
        print(f"[{extra}] {'FAIL: ' + '; '.join(bad) if bad else 'ok'}  ({cuda})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
