"""benchmarks/gpu_check.sh without a GPU (DRYRUN=1: every step on the cpu, tiny): it runs to
the end within the output rules of the GPU machine (at most 8 files, at most 2 folders deep
under $OUT, scratch elsewhere), and a SIGINT in the middle of a step leaves valid JSON."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_check.sh")


def _start(out, scratch, **env):
    env = dict(os.environ, DRYRUN="1", OUT=str(out), PYTHON=sys.executable, SCRATCH_PARENT=str(scratch),
               GPU_CHECK_MODELS="B1,B4", **env)
    env.pop("NUMBA_CACHE_DIR", None)
    return subprocess.Popen(["bash", SCRIPT], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _files(out):
    """Every path under `out`, relative, and how many folders down each lies."""
    found = []
    for folder, _, names in os.walk(out):
        for name in names:
            rel = os.path.relpath(os.path.join(folder, name), out)
            found.append((rel, rel.count(os.sep)))
    return found


def _obeys_output_rules(out, scratch):
    files = _files(out)
    assert len(files) <= 8 and all(depth <= 2 for _, depth in files), files
    assert os.listdir(scratch) == [], "the scratch folder is left behind"
    with open(out / "results.json") as f:
        return json.load(f), {name for name, _ in files}


@pytest.mark.slow
def test_dry_run_runs_every_step_within_the_output_rules(tmp_path):
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    scratch.mkdir()
    proc = _start(out, scratch)
    log = proc.communicate(timeout=150)[0]
    assert proc.returncode == 0, log
    results, names = _obeys_output_rules(out, scratch)
    assert names == {"log.txt", "status.txt", "env.txt", "results.json", "junit.xml", "profile.txt"}
    assert list(results["steps"]) == ["probe", "models", "kernels", "launch", "tests"]
    assert all(s["rc"] == 0 for s in results["steps"].values()), results["steps"]
    assert results["finished"] is True and results["interrupted"] is None
    for mid in ("B1", "B4"):   # tinygen and torch side by side, the first step apart
        row = results["models"][mid]
        assert {"first_ms", "steady_ms", "host_ms"} <= set(row["tinygen"]), row
        assert "ratio_vs_torch" in row or "failed" in row["torch"], row
    conv, = results["kernels"]["conv"]
    assert conv["of_cublas_rate"] > 0 and len(conv["gemm_mkn"]) == 3, conv
    assert results["kernels"]["sgemm_cublas"]["gflops"] > 0
    assert all(isinstance(v, float) for v in results["launch_us"].values()), results["launch_us"]
    assert "### summary" in (out / "log.txt").read_text()


@pytest.mark.slow
def test_a_sigint_mid_step_stops_the_script_and_leaves_valid_json(tmp_path):
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    scratch.mkdir()
    proc = _start(out, scratch, GPU_CHECK_HOLD_S="60")   # the models step waits after B1
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if "B1" in json.loads((out / "results.json").read_text()).get("models", {}):
                break
        except (OSError, ValueError):   # not written yet (written whole: never half)
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the models step never recorded B1: " + proc.communicate()[0])
    os.killpg(proc.pid, signal.SIGINT)   # as Ctrl-C: the script's whole process group
    log = proc.communicate(timeout=30)[0]
    assert proc.returncode == 130, log
    results, _ = _obeys_output_rules(out, scratch)
    assert results["interrupted"] == "INT" and results["finished"] is False
    assert results["steps"]["probe"]["rc"] == 0
    assert results["steps"]["models"]["rc"] == "interrupted", results["steps"]
    assert "kernels" not in results["steps"]             # nothing ran after the signal
    assert "steady_ms" in results["models"]["B1"]["tinygen"]   # what was measured is kept
