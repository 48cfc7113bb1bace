#!/usr/bin/env bash
# Execute chapters with the `gpu` profile on the lent GPU machine and bring the snapshots back.
#
# Prepare here (once per session; see ../shared/device/GPU_NOTES.md):
#   echo /.whl/ >> .git/info/exclude
#   ../shared/device/wheelhouse.sh papermill jupytext nbformat nbclient ipykernel myst-nb
# Run there (device tool), e.g. with a 9-minute limit for chapters 3 and 4:
#   run(command="L2M_COMMIT=<git rev-parse --short HEAD> BUDGET_S=500 bash scripts/gpu_snapshots.sh 03 04",
#       carry=[".whl"], timeout_s=560)
# Then copy the returned NN_*.ipynb into book/snapshots/, check them (`make test` runs
# tests/test_book.py::test_committed_snapshots_are_current) and commit.
#
# Environment: BUDGET_S (hard limit for all chapters, default 480), PROFILE (default gpu),
# SKIP_INSTALL=1 (the notebook stack is already importable, e.g. when trying this on a CPU).
set -euo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-$PWD/_build/gpu-out}
mkdir -p "$OUT"
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
export L2M_CACHE=${L2M_CACHE:-/tmp/l2m-cache}
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv; } || echo "no nvidia-smi"
python3 - <<'PY'
import torch, transformers
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "transformers", transformers.__version__)
PY
status=0
timeout "${BUDGET_S:-480}" python3 -m l2m_utils.book snapshot "$@" --profile "${PROFILE:-gpu}" --force \
  2>&1 | tee "$OUT/snapshots.log" || status=$?
for chapter in "$@"; do  # only the chapters asked for (at most 8 files come back)
  cp book/snapshots/"${chapter%%_*}"_*.ipynb "$OUT"/ 2>/dev/null || true
done
rm -f "$OUT"/*.input.ipynb
ls -la "$OUT"
exit $status
