#!/usr/bin/env bash
# Chapter 6 on the GPU machine (one H200): throughput benchmark, a check of mamba_ssm's Triton Mamba2
# against our PyTorch block, then one part (<= 8 min) of the `gpu` sweep.  Results JSONs of finished
# runs, the benchmark and a log come back under $OUT (3 files); unpack the tarball over results/ch06.
#
# Needs: .whl/ with the mamba-ssm wheel (`bash scripts/prepare_wheelhouse.sh` builds it; install only,
# build nothing on the GPU machine).  From a session:
#   run(command="L2M_COMMIT=<sha> bash scripts/gpu_ch06_sweep.sh", carry=[".whl"], timeout_s=590)
# Later parts: the same command after unpacking and committing the previous results (finished runs
# are skipped).  CPU test with tiny sizes:
#   CH06_SMOKE=1 SKIP_INSTALL=1 PYTHON=.venv/bin/python OUT=/tmp/ch06_out bash scripts/gpu_ch06_sweep.sh
# The benchmarks (up to ~4.5 min) run only while benchmarks/results/ch06_gpu.json is not committed
# (copy $OUT/ch06_bench.json there after the first part); later parts give that time to the sweep.
# Knobs (env): CH06_BENCH (auto | 1 | 0), CH06_PART_S (start no run after this many s, default 320 with
# the benchmarks and 420 without), CH06_HARD_S (interrupt the
# run in progress, default 380 / 480), CH06_PROFILE (default gpu), CH06_RESULTS_DIR (default results/ch06),
# CH06_WORKERS (sweeps trained side by side on the device, each with its share of the missing runs:
# default 3, 2 in the CPU try-out; each interrupted run is lost, so more workers lose more at the limit),
# DEADLINE_S (the script is done this many seconds after it starts, install, checks and benchmarks
# included: default 575, for timeout_s=590; the part's two limits count from the sweep's start and are
# cut to fit it, CH06_HARD_S to DEADLINE_S less 45 s for the end of the sweep and the tarball, CH06_PART_S
# to 60 s before that; with less than 30 s to start runs in, the part trains nothing).
set -euo pipefail
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
SMOKE=${CH06_SMOKE:-0}
BENCH_DONE=benchmarks/results/ch06_gpu.json
DO_BENCH=${CH06_BENCH:-auto}
if [ "$DO_BENCH" = auto ]; then
  if [ -f "$BENCH_DONE" ] && [ "${CH06_SMOKE:-0}" != 1 ]; then DO_BENCH=0; else DO_BENCH=1; fi
fi
if [ "$DO_BENCH" = 1 ]; then PART_S=${CH06_PART_S:-320}; HARD_S=${CH06_HARD_S:-380}
else PART_S=${CH06_PART_S:-420}; HARD_S=${CH06_HARD_S:-480}; fi
RESULTS=${CH06_RESULTS_DIR:-results/ch06}
# a CPU try-out must not leave smoke results among the committed ones
[ "$SMOKE" = 1 ] && [ -z "${CH06_RESULTS_DIR:-}" ] && RESULTS=$(mktemp -d)/ch06
# several sweeps side by side: small models leave an H200 mostly idle between kernel launches
if [ "$SMOKE" = 1 ]; then WORKERS=${CH06_WORKERS:-2}; THREADS=1
else WORKERS=${CH06_WORKERS:-3}; THREADS=4; fi
if [ "$SMOKE" = 1 ]; then
  PROFILE=${CH06_PROFILE:-smoke}; DEVICE=cpu
  BENCH=(--device cpu --n-layer 1 --d-model 32 --length 16 --batch 8 --steps 2 --threads 1)
  KERNELS=()
else
  PROFILE=${CH06_PROFILE:-gpu}; DEVICE=cuda
  BENCH=(--device cuda --n-layer 8 --d-model 512 --d-state 64 --length 4096 --batch 8 --steps 10
         --precision bf16 --check-kernels)
  KERNELS=(--require-kernels)
fi

source scripts/_gpu_common.sh
DEADLINE_S=${DEADLINE_S:-575}

main() {
  gpu_clock_start
  gpu_install
  gpu_commit
  echo "== ch06 $(date -u '+%F %T UTC') profile=$PROFILE device=$DEVICE commit=$L2M_COMMIT"
  gpu_info
  "$PY" -c "from l2m_utils.continuous_models import load_mamba_ssm_mamba2
print('mamba_ssm Triton Mamba2:', load_mamba_ssm_mamba2() is not None)"
  gpu_monitor_start
  [ "${SKIP_GPU_CHECK:-0}" = 1 ] || [ "$DO_BENCH" = 0 ] || gpu_check "$OUT/gpu_checks.txt" 45
  local models=()
  if [ "$DEVICE" = cuda ] && ! "$PY" -c "from l2m_utils.continuous_models import load_mamba_ssm_mamba2 as f; raise SystemExit(f() is None)"; then
    echo "WARNING: mamba_ssm unusable: this part trains the GPT-2 runs only"
    models=(--models gpt2-4x256 gpt2-8x512); KERNELS=()
  fi
  if [ "$DO_BENCH" = 1 ]; then
    echo "== benchmark"
    timeout "$(gpu_limit 150 45)" "$PY" benchmarks/bench_synthetic_training.py "${BENCH[@]}" --json "$OUT/ch06_bench.json" \
      || echo "benchmark failed or timed out (exit $?)"
    echo "== chapter-5 sampler throughput (L = 4096 x 64 copies on CPU and GPU)"
    local sdepth=6; [ "$SMOKE" = 1 ] && sdepth=3
    timeout "$(gpu_limit 120 45)" "$PY" benchmarks/bench_gaussian_sequences.py --depths "$sdepth" --sampler-depth "$sdepth" \
      || echo "sampler benchmark failed or timed out (exit $?)"
  else
    echo "== benchmarks skipped (CH06_BENCH=0, or $BENCH_DONE is committed; CH06_BENCH=1 runs them)"
  fi
  gpu_monitor_report "CUDA checks and benchmarks"
  mkdir -p "$RESULTS"
  HARD_S=$(gpu_limit "$HARD_S" 45)  # both limits count from the sweep's start: what is left of DEADLINE_S
  (( PART_S > HARD_S - 60 )) && PART_S=$((HARD_S - 60))
  if (( PART_S < 30 )); then
    echo "== sweep part skipped: ${PART_S}s to start runs in (DEADLINE_S=$DEADLINE_S, $((SECONDS - GPU_T0))s spent)"
    WORKERS=0
  fi
  echo "== sweep part: $WORKERS sweeps at once, each claiming the next missing run; each starts no run" \
    "after ${PART_S}s and interrupts at ${HARD_S}s"
  local rc=0 pids=() i claims
  claims=$(mktemp -d)  # fresh for each part: a run is claimed by one sweep of this part only
  for ((i = 0; i < WORKERS; i++)); do
    OMP_NUM_THREADS=$THREADS timeout $((HARD_S + 30)) "$PY" -m l2m_utils.synthetic_training sweep \
      --profile "$PROFILE" --device "$DEVICE" --results-dir "$RESULTS" --checkpoint-dir /tmp/ch06_checkpoints \
      --time-budget-s "$PART_S" --hard-limit-s "$HARD_S" --no-progress --workers "$WORKERS" --claim-dir "$claims" \
      "${KERNELS[@]}" "${models[@]}" > >(sed -u "s/^/[w$i] /") 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { rc=$?; echo "sweep $i/$WORKERS exit $rc"; }
  done
  sleep 1  # the last lines of the prefixing sed
  echo "sweep exit $rc"
  gpu_monitor_report "sweep ($WORKERS at once)"
  "$PY" -m l2m_utils.synthetic_training list --profile "$PROFILE" --results-dir "$RESULTS" "${models[@]}" \
    | sort | uniq -c -w 7 || true
  tar czf "$OUT/ch06_results.tar.gz" -C "$(dirname "$RESULTS")" "$(basename "$RESULTS")"
  echo "== done $(date -u '+%T UTC'); $OUT: $(ls "$OUT" | tr '\n' ' ')"
}
main 2>&1 | tee "$OUT/ch06_gpu.log"
