"""The one JSON file of benchmarks/gpu_check.sh: results merged in as they are measured.

    python benchmarks/gpu_record.py steps OUT_DIR              (after every step)
    python benchmarks/gpu_record.py summary OUT_DIR [SIGNAL]   (the script's exit trap)

results.json is rewritten whole after every measurement (a temporary file in the same folder,
then os.replace), so a step cut off by `timeout`, SIGINT or SIGTERM leaves the file as it
was after the last measurement: valid JSON, never half written. Only the standard library
here: the exit trap runs this while the step's Python may still be dying.

    record(out_dir, key, value)    results[key] = value, the file rewritten
    record_steps(out_dir)          status.txt's step lines into results["steps"]
    summary(out_dir, signal=None)  the same, "finished" and "interrupted" set, one line per
                                   step printed
"""
import json
import os
import sys

RESULTS = "results.json"
STATUS = "status.txt"


def _path(out_dir, name):
    return os.path.join(out_dir, name)


def load(out_dir):
    """The results so far ({} when there are none, or when the file is unreadable)."""
    try:
        with open(_path(out_dir, RESULTS)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _write(out_dir, results):
    tmp = _path(out_dir, "." + RESULTS + ".tmp")
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, _path(out_dir, RESULTS))


def record(out_dir, key, value):
    """results[key] = value in OUT_DIR/results.json (read, merged, rewritten whole)."""
    results = load(out_dir)
    results[key] = value
    _write(out_dir, results)


def read_status(out_dir):
    """status.txt's lines `NAME RC SECONDS` as {name: {"rc": rc, "seconds": s}}, in order;
    rc is a number, or 'skipped', 'timed out', 'interrupted'."""
    steps = {}
    try:
        with open(_path(out_dir, STATUS)) as f:
            lines = f.read().splitlines()
    except OSError:
        return steps
    for line in lines:
        name, _, rest = line.partition(" ")
        rc, _, seconds = rest.partition(" ")
        steps[name] = {"rc": int(rc) if rc.lstrip("-").isdigit() else rc.replace("_", " "),
                       "seconds": float(seconds) if seconds else None}
    return steps


def record_steps(out_dir):
    """results["steps"] from status.txt, so that the JSON alone tells how far the script got."""
    record(out_dir, "steps", read_status(out_dir))


def summary(out_dir, signal=None):
    """Close the record: the steps' status, whether every step ran and passed, the signal
    that stopped the script (if one did). Returns the results."""
    results = load(out_dir)
    steps = read_status(out_dir)
    results["steps"] = steps
    results["interrupted"] = signal
    results["finished"] = signal is None and bool(steps) and all(
        s["rc"] == 0 for s in steps.values())
    _write(out_dir, results)
    print("### summary:" + (f" interrupted by SIG{signal}" if signal else "") +
          (" (DRYRUN: the cpu stands in for the GPU, NumPy for CuPy and cuBLAS)"
           if (results.get("probe") or {}).get("dryrun") else ""))
    for name, s in steps.items():
        print(f"  {name:<10} rc={s['rc']}  {s['seconds']}s")
    for model, row in (results.get("models") or {}).items():
        if isinstance(row, dict) and "ratio_vs_torch" in row:
            print(f"  {model}: tinygen {row['tinygen']['steady_ms']:.2f} ms/step (first "
                  f"{row['tinygen']['first_ms']:.0f} ms), torch {row['torch']['steady_ms']:.2f} "
                  f"ms/step: {row['ratio_vs_torch']:.2f}x")
    kernels = results.get("kernels") or {}
    if "gflops" in kernels.get("sgemm_cublas", {}):
        print(f"  cuBLAS sgemm: {kernels['sgemm_cublas']['gflops']:.0f} GFLOP/s")
    for row in kernels.get("conv", []):
        if "of_cublas_rate" in row:
            print(f"  {row['model']} {row['layer']}: {row['of_cublas_rate']:.0%} of cuBLAS's rate "
                  f"on the same GEMMs")
    for name, us in (results.get("launch_us") or {}).items():
        print(f"  launch: {name}: " + (f"{us:.1f} us" if isinstance(us, float) else str(us)))
    return results


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("steps", "summary"):
        sys.exit(__doc__)
    if sys.argv[1] == "steps":
        record_steps(sys.argv[2])
    else:
        summary(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None)
