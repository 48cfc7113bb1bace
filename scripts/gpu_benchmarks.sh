#!/usr/bin/env bash
# Issue 4's two GPU benchmarks and the CUDA checks of what they time, on the lent GPU machine:
# pair counting with the corpus resident on the GPU (benchmarks/bench_pair_counting.py) and the
# scorer's TF32 head (benchmarks/bench_scoring.py at 8x512, T = 2048, batch 16), then
# tests/test_gpu.py's pair-counting and TF32 checks.  Returns under $OUT three text files
# (bench_pair_counting.txt, bench_scoring.txt, gpu_checks_bench.txt); about 1.5 minutes with the install.
#
# Prepare here: bash scripts/prepare_wheelhouse.sh
# Run there (device tool):
#   run(command="L2M_COMMIT=<.venv/bin/python -m l2m_utils.book commit> bash scripts/gpu_benchmarks.sh",
#       carry=[".whl"], timeout_s=240)
# Then put the numbers into benchmarks/README.md (the H200 section) and commit.
# DEADLINE_S (default 225, for timeout_s=240): the script is done this many seconds after it starts,
# install included; each step's limit (100, 60 and 60 s) is cut to what is left before it.
# CPU try-out (tiny sizes, no install):
#   BENCH_SMALL=1 SKIP_INSTALL=1 PYTHON=.venv/bin/python OUT=/tmp/bench_out bash scripts/gpu_benchmarks.sh
set -euo pipefail
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/_build/gpu-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
source scripts/_gpu_common.sh
DEADLINE_S=${DEADLINE_S:-225}
gpu_clock_start
gpu_install
gpu_commit
echo "commit $L2M_COMMIT"
gpu_preflight numpy torch transformers pytest
gpu_info
gpu_monitor_start
if [ "${BENCH_SMALL:-0}" = 1 ]; then
  counting=(--tokens 100000 --repeats 2)
  scoring=(--layers 2 --width 64 --heads 2 --length 128 --batch 2 --reps 2)
else
  counting=()
  scoring=(--device cuda --layers 8 --width 512 --heads 8 --length 2048 --batch 16)
fi
status=0
{ echo "commit $L2M_COMMIT"; timeout "$(gpu_limit 100 60)" "$PY" benchmarks/bench_pair_counting.py ${counting[@]+"${counting[@]}"}; } 2>&1 \
  | tee "$OUT/bench_pair_counting.txt" || status=$?
{ echo "commit $L2M_COMMIT"; timeout "$(gpu_limit 60 30)" "$PY" benchmarks/bench_scoring.py ${scoring[@]+"${scoring[@]}"}; } 2>&1 \
  | tee "$OUT/bench_scoring.txt" || status=$?
timeout "$(gpu_limit 60)" "$PY" -m pytest -q -p no:cacheprovider tests/test_gpu.py -k "pair_counting or tf32" 2>&1 | tail -40 \
  | tee "$OUT/gpu_checks_bench.txt" || status=$?
gpu_monitor_report "benchmarks and checks"
ls -la "$OUT"
exit $status
