#!/usr/bin/env bash
# gpu_check.sh: tinygen on a real NVIDIA GPU (CuPy + numba-cuda, no simulator).
#
#   cd <tinygen checkout> && OUT=/tmp/gpu_out bash benchmarks/gpu_check.sh
#
# Needs: one GPU, a CUDA 12 driver, python3, and PyPI (or WHEELHOUSE=<dir of wheels> for an
# offline machine; or USE_CURRENT_PYTHON=1 to use the python on PATH as it is, no install).
# WITH_TORCH=1 also installs torch==2.13.0. The Python parts are benchmarks/gpu_probe.py
# (one line per GPU library, tg.cuda.is_available()'s probe, tinygen's draws on cuda) and
# benchmarks/gpu_bench.py (DRYRUN=1 checks it without a GPU); benchmarks/ptx_check.py counts
# float64 and 64-bit integer division instructions in every kernel's PTX.
# Steps: venv + `pip install -e ".[test,gpu]"`, nvidia-smi and versions, a probe of every GPU
# library tinygen needs (with two fallbacks that are findings when they fire), the `gpu`-marked
# tests, the rest of the suite's cuda tests, a short benchmark (cuBLAS sgemm n=4096, every conv
# layer of benchmarks/bench_kernels.py on the cuda kernels, one training step of B1-B4 on device
# 'cuda', median of 20; the steps again with NUMBA_CUDA_ARRAY_INTERFACE_SYNC=0), and last the
# cpu-only rest of the suite (what CI's simulator run covers already) in the time that is left.
# Everything is written under $OUT (default ./gpu_out): log.txt (all output), status.txt (one
# line per step), junit_*.xml, bench_*.json, profile_B3.txt. Each step runs under `timeout`,
# cut to what is left of a 470 s budget, so the script ends within 8 minutes.
set -uo pipefail
[[ -f setup.py && -d tinygen ]] || { echo "run from the tinygen repository root" >&2; exit 2; }
OUT=${OUT:-./gpu_out}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) && export OUT
exec > >(tee -a "$OUT/log.txt") 2>&1
BUDGET=${BUDGET:-470}
START=$SECONDS

left() { echo $((BUDGET - (SECONDS - START))); }
run() {  # run NAME MAX_SECONDS CMD...: CMD under timeout, never past the budget; rc to status.txt
  local name=$1 max=$2 t rc
  shift 2
  t=$(left); ((t > max)) && t=$max
  if ((t < 10)); then echo "### $name: skipped, budget spent"; echo "$name skipped" >>"$OUT/status.txt"; return 124; fi
  echo "### $name (timeout ${t}s, at $((SECONDS - START))s)"
  timeout -k 5 "$t" "$@"; rc=$?
  ((rc == 124 || rc == 137)) && echo && rc="$rc (timed out)"
  echo "### $name: rc=$rc"; echo "$name rc=$rc" >>"$OUT/status.txt"
  [[ $rc == 0 ]]
}

# Caches and temporary files under $OUT too; the real GPU, never the simulator.
export PIP_CACHE_DIR=$OUT/cache/pip TMPDIR=$OUT/tmp NUMBA_CACHE_DIR=$OUT/cache/numba \
  CUPY_CACHE_DIR=$OUT/cache/cupy MPLCONFIGDIR=$OUT/cache/mpl PYTHONDONTWRITEBYTECODE=1 \
  PIP_DISABLE_PIP_VERSION_CHECK=1 TINYGEN_REAL_GPU=1 CI=true HYPOTHESIS_PROFILE=ci
unset NUMBA_ENABLE_CUDASIM
mkdir -p "$TMPDIR"
: >"$OUT/status.txt"

# ---- the machine -------------------------------------------------------------------------
run nvidia-smi 20 bash -c 'nvidia-smi; nvidia-smi --format=csv \
  --query-gpu=name,driver_version,compute_cap,memory.total,compute_mode,clocks.max.sm'
DRIVER_CUDA=$(timeout 20 nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -1)
echo "driver supports CUDA ${DRIVER_CUDA:-unknown}"

# ---- install -------------------------------------------------------------------------------
# the gpu extra is one CUDA 12 set: cupy-cuda12x[ctk] (cuBLAS, cuRAND, cuSOLVER, NVRTC),
# numba-cuda[cu12] (cuda-bindings 12, nvJitLink 12); benchmarks/check_install.py checks it
PIP_SRC=(); [[ -n ${WHEELHOUSE:-} ]] && PIP_SRC=(--no-index --find-links "$WHEELHOUSE")
if [[ ${USE_CURRENT_PYTHON:-0} != 1 ]]; then
  run venv 60 python3 -m venv "$OUT/venv" || { echo "venv failed (Debian: apt-get install python3-venv)"; exit 1; }
  set +u; . "$OUT/venv/bin/activate"; set -u
  [[ -z ${WHEELHOUSE:-} ]] && run pip-upgrade 30 python -m pip install -q --upgrade pip
  run install 240 python -m pip install -q ${PIP_SRC[@]+"${PIP_SRC[@]}"} -e ".[test,gpu]" pytest-xdist || exit 1
  [[ ${WITH_TORCH:-0} == 1 ]] && run torch 150 python -m pip install -q ${PIP_SRC[@]+"${PIP_SRC[@]}"} torch==2.13.0
fi
run is-available 60 python -c "import tinygen as tg
print('tg.cuda.is_available():', tg.cuda.is_available(), '| why not:', tg.cuda.why_unavailable())"
run versions 40 bash -c 'git log -1 --oneline 2>/dev/null; python --version
  python -m pip list 2>/dev/null | grep -iE "^(numpy|numba|cupy|cuda|nvidia|torch|pytest)"
  python -m numba -s 2>&1 | sed -n "/__CUDA Information__/,/__NumPy Information__/p" | head -30
  python -c "import cupy; cupy.show_config()"'

# ---- probe: every GPU library tinygen uses, one line each ---------------------------------
run probe 90 python benchmarks/gpu_probe.py | tee "$OUT/probe.txt"
NEED=$(sed -n 's/^NEED=//p' "$OUT/probe.txt")
if [[ $NEED == *ctk* ]]; then   # the gpu extra lacks CuPy's CUDA libraries (no system toolkit)
  echo "FINDING: cupy-cuda12x without [ctk] is missing CUDA libraries here; installing cupy-cuda12x[ctk]"
  run install-ctk 180 python -m pip install -q ${PIP_SRC[@]+"${PIP_SRC[@]}"} "cupy-cuda12x[ctk]"
fi
if [[ $NEED == *ptx* && -n ${DRIVER_CUDA:-} ]]; then   # NVVM must not be newer than the driver
  echo "FINDING: numba-cuda's NVVM emits PTX newer than driver CUDA $DRIVER_CUDA; pinning NVVM to it"
  run install-nvvm 120 python -m pip install -q ${PIP_SRC[@]+"${PIP_SRC[@]}"} --no-deps "nvidia-cuda-nvcc-cu12==$DRIVER_CUDA.*"
fi
[[ -n $NEED ]] && run probe-again 90 python benchmarks/gpu_probe.py

# ---- PTX of every kernel (NVVM from the gpu extra; no GPU needed): float64 in float32 kernels
run ptx-check 60 python benchmarks/ptx_check.py

# ---- tests on the real GPU (TINYGEN_REAL_GPU=1: conftest leaves the simulator off) ---------
echo "import os, hypothesis.configuration as c; c.set_hypothesis_home_dir(os.environ['OUT'] + '/hypothesis')" >"$OUT/hypothesis_home.py"
PYTEST=(env PYTHONPATH="$OUT" python -m pytest -p hypothesis_home -p no:cacheprovider -q -rfE --basetemp "$OUT/pytest-tmp")
XDIST=""; timeout 30 python -c "import xdist" 2>/dev/null && XDIST="-n 4"
run tests-gpu-marked 120 "${PYTEST[@]}" -m gpu --junitxml "$OUT/junit_gpu.xml"
run tests-cuda $(($(left) - 140)) "${PYTEST[@]}" -m "not gpu" -k "cuda or gpu" \
  --durations=10 --junitxml "$OUT/junit_cuda.xml"      # 140 s stay for the benchmark

# ---- benchmark ---------------------------------------------------------------------------
run bench 90 python benchmarks/gpu_bench.py all default
run bench-cai-nosync 50 env NUMBA_CUDA_ARRAY_INTERFACE_SYNC=0 python benchmarks/gpu_bench.py models cai_nosync

# ---- the rest of the suite (no cuda in it), in the time that is left ---------------------
# shellcheck disable=SC2086  # $XDIST is empty or "-n 4": split on purpose
run tests-rest 400 "${PYTEST[@]}" $XDIST -m "not gpu" -k "not (cuda or gpu)" \
  --junitxml "$OUT/junit_rest.xml"

echo "### done in $((SECONDS - START))s. Step status:"
cat "$OUT/status.txt"
echo "### Summary (details above and in $OUT):"
grep -hE '^  FAIL|^FINDING|^FAILED |: FAILED |^(cuBLAS|==>|per call|B[1-4] )|(passed|failed).* in [0-9.]+s' "$OUT/log.txt"
