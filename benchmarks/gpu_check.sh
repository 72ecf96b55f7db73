#!/usr/bin/env bash
# gpu_check.sh: tinygen on a real NVIDIA GPU, on a machine as it comes: nothing installed.
#
#   cd <tinygen checkout> && OUT=/some/dir bash benchmarks/gpu_check.sh
#   DRYRUN=1 OUT=/some/dir bash benchmarks/gpu_check.sh     (no GPU: every step on the cpu, tiny)
#
# Needs: a python3 that imports cupy and numba.cuda (the first of $PYTHON, python3,
# /opt/torch/.venv/bin/python3, python that does; torch with CUDA beside them for the
# reference columns; pytest, and pytest-timeout if there). It installs nothing and reaches
# no network: this checkout is put first on PYTHONPATH.
#
# Steps, in this order, each under `timeout` with its own budget (about 7 minutes in all):
#   probe     versions, the device, the driver, tg.cuda.why_unavailable(), gpu_probe's checks
#   models    B1-B4 training steps: tinygen and torch on CUDA side by side, first step apart
#   kernels   cuBLAS sgemm, tinygen's conv kernels against cuBLAS on the same GEMM shapes
#   launch    host cost of one kernel launch (numba.cuda via tinygen, CuPy, torch)
#   tests     the cuda/gpu tests, simulator off, each test under --timeout
# (benchmarks/gpu_bench.py holds the Python of the middle three.) The steps' budgets add up to
# BUDGET=420 s; with start-up and the summary the script ends within 8 minutes: give its
# command 9 (its files are complete whenever it is stopped).
#
# What comes back is at most 6 files, all directly in $OUT:
#   log.txt        everything printed          status.txt   NAME RC SECONDS per step
#   env.txt        machine, driver, packages   results.json every measurement, rewritten
#   junit.xml      the tests                                after each one (valid JSON always)
#   profile.txt    where B3's host time goes
# Scratch (caches, TMPDIR, pytest's basetemp) lives in a folder outside $OUT, removed at the
# end. On exit, SIGINT or SIGTERM a trap stops the running step and writes the summary
# (status of every step, "interrupted", "finished") into results.json.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
DRYRUN=${DRYRUN:-0}
OUT=${OUT:-$ROOT/gpu_out}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 2
export OUT DRYRUN
# the log: tee ignores SIGINT/SIGTERM, so what the trap prints still reaches it
exec > >(trap '' INT TERM; exec tee -a "$OUT/log.txt") 2>&1

# ---- scratch outside $OUT ---------------------------------------------------------------------
SCRATCH=$(mktemp -d "${SCRATCH_PARENT:-/tmp}/tinygen_gpu_check.XXXXXX") || exit 2
case "$SCRATCH/" in "$OUT"/*) echo "scratch $SCRATCH is inside OUT=$OUT"; exit 2 ;; esac
trap 'rm -rf "$SCRATCH"' EXIT   # until finish() below takes over
mkdir -p "$SCRATCH/tmp"
# numba's on-disk cache stays where numba keeps it (beside the sources, in this checkout)
# unless it was pointed into $OUT
case "${NUMBA_CACHE_DIR:-}/" in "$OUT"/*) export NUMBA_CACHE_DIR=$SCRATCH/numba ;; esac
export TMPDIR=$SCRATCH/tmp CUPY_CACHE_DIR=$SCRATCH/cupy \
  CUDA_CACHE_PATH=$SCRATCH/nv MPLCONFIGDIR=$SCRATCH/mpl XDG_CACHE_HOME=$SCRATCH/xdg \
  TRITON_CACHE_DIR=$SCRATCH/triton TORCHINDUCTOR_CACHE_DIR=$SCRATCH/inductor \
  PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_INDEX=1 \
  PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH} CI=true HYPOTHESIS_PROFILE=ci
if [[ $DRYRUN == 1 ]]; then
  export TINYGEN_REAL_GPU=0 NUMBA_ENABLE_CUDASIM=1
else
  export TINYGEN_REAL_GPU=1   # tests/conftest.py: the real GPU, never the simulator
  unset NUMBA_ENABLE_CUDASIM
fi

# ---- the python that has the GPU libraries --------------------------------------------------
PY=
for candidate in ${PYTHON:-} python3 /opt/torch/.venv/bin/python3 python; do
  command -v "$candidate" >/dev/null 2>&1 || continue
  if [[ $DRYRUN == 1 ]] || timeout 60 "$candidate" -c 'import cupy, numba.cuda' 2>/dev/null; then
    PY=$(command -v "$candidate"); break
  fi
done
if [[ -z $PY ]]; then
  echo "no python here imports cupy and numba.cuda: nothing to check"
  echo '{"error": "no python here imports cupy and numba.cuda", "finished": false}' >"$OUT/results.json"
  exit 3
fi

BUDGET=${BUDGET:-420}
START=$SECONDS
CHILD=
: >"$OUT/status.txt"

finish() {   # the EXIT trap: close the record (idempotent), remove the scratch
  local rc=$?
  trap - EXIT INT TERM
  "$PY" "$ROOT/benchmarks/gpu_record.py" summary "$OUT" "${SIGNAL:-}" || true
  rm -rf "$SCRATCH"
  echo "### done in $((SECONDS - START))s (rc $rc)"
  exit "$rc"
}
stop_child() {   # SIGINT to the step (timeout passes it on: pytest still writes its junit,
  # Python's KeyboardInterrupt), SIGKILL after 10 s
  local i
  kill -INT "$CHILD" 2>/dev/null
  for ((i = 0; i < 100; i++)); do kill -0 "$CHILD" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$CHILD" 2>/dev/null
  wait "$CHILD" 2>/dev/null
}
on_signal() {   # stop the running step, note it, exit through finish
  SIGNAL=$1
  echo; echo "### SIG$1 at $((SECONDS - START))s: stopping ${STEP:-}"
  [[ -n $CHILD ]] && stop_child
  [[ -n ${STEP:-} ]] && echo "$STEP interrupted $((SECONDS - STEP_START))" >>"$OUT/status.txt"
  STEP=
  [[ $1 == INT ]] && exit 130 || exit 143
}
trap finish EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM

run() {   # run NAME MAX_SECONDS CMD...: CMD under timeout, never past the budget
  local name=$1 max=$2 t rc
  shift 2
  t=$((BUDGET - (SECONDS - START)))
  ((t > max)) && t=$max
  if ((t < 10)); then
    echo "### $name: skipped, budget spent"; echo "$name skipped 0" >>"$OUT/status.txt"; return 0
  fi
  echo "### $name (timeout ${t}s, at $((SECONDS - START))s)"
  STEP=$name STEP_START=$SECONDS
  # in the background and waited for: a trapped signal interrupts `wait` at once. At the
  # budget, SIGINT first (pytest then writes its junit; Python stops), SIGKILL 10 s later
  timeout -s INT -k 10 "$t" "$@" &
  CHILD=$!
  wait "$CHILD"; rc=$?
  CHILD=
  if ((rc == 124 || rc == 137)); then rc=timed_out; fi   # 124: timeout sent its signal
  echo "### $name: rc=$rc ($((SECONDS - STEP_START))s)"
  echo "$name $rc $((SECONDS - STEP_START))" >>"$OUT/status.txt"
  STEP=
  "$PY" "$ROOT/benchmarks/gpu_record.py" steps "$OUT"
}

# ---- the machine, to env.txt ------------------------------------------------------------------
{
  echo "date: $(date -u +%FT%TZ)  host: $(uname -a)"
  echo "checkout: $(git -C "$ROOT" log -1 --oneline 2>/dev/null || echo 'not a git checkout')"
  echo "python: $PY ($("$PY" --version 2>&1))  DRYRUN=$DRYRUN"
  timeout 20 nvidia-smi 2>&1 || echo "nvidia-smi: not there or failing"
  timeout 20 nvidia-smi --format=csv \
    --query-gpu=name,driver_version,compute_cap,memory.total,clocks.max.sm 2>/dev/null
  timeout 60 "$PY" -m pip list 2>/dev/null |
    grep -iE '^(numpy|numba|cupy|cuda|nvidia|torch|pytest|hypothesis)' || true
} >"$OUT/env.txt" 2>&1
echo "### env.txt written (python $PY)"

PYSTEP=("$PY" "$ROOT/benchmarks/gpu_bench.py")
run probe 30 "${PYSTEP[@]}" probe
run models 150 "${PYSTEP[@]}" models
run kernels 90 "${PYSTEP[@]}" kernels
run launch 30 "${PYSTEP[@]}" launch

# ---- the GPU tests, simulator off (the dry run: one simulator test, for the junit) -------------
# the GPU's own files first (pytest drops the duplicates of `tests`): they fit the budget first
# (not test_gpu_check.py: it is this script's dry run)
TESTS=(-k "(cuda or gpu) and not gpu_check" --durations=15 tests/test_kernels.py tests/test_cuda_path.py
       tests/test_ops_gradcheck.py tests)
[[ $DRYRUN == 1 ]] && TESTS=(tests/test_cuda_path.py -k "why_unavailable")
TIMEOUT=()
timeout 30 "$PY" -c 'import pytest_timeout' 2>/dev/null && TIMEOUT=(--timeout 60) ||
  echo "pytest-timeout missing: tests run without --timeout"
run tests 120 "$PY" -m pytest -p no:cacheprovider -q -rfE --basetemp "$SCRATCH/pytest" \
  --junitxml "$OUT/junit.xml" -o junit_family=xunit2 ${TIMEOUT[@]+"${TIMEOUT[@]}"} "${TESTS[@]}"
