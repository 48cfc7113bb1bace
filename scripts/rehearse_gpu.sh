#!/usr/bin/env bash
# Rehearse the GPU scripts on this CPU machine before a device session is spent on them.
#
# In a scratch clone of HEAD, with a Python that has only what the GPU image has (Python 3.12, torch,
# transformers, numpy, ... but no notebook stack, no corpus package, no mamba-ssm; see
# ../shared/device/wheelhouse.sh), build the wheelhouse with scripts/prepare_wheelhouse.sh, then run
# every gpu_*.sh script at smoke sizes exactly as on the device (each installs .whl/ into /tmp/site
# itself), and issue 4's two benchmarks (scripts/gpu_benchmarks.sh) at tiny sizes.  Prints one line per
# step (exit status, seconds) and exits non-zero if any failed.  Only committed work is rehearsed
# (a device run also carries uncommitted files: commit first).
#
# Usage:  bash scripts/rehearse_gpu.sh        (about 5 minutes; the first time also a few minutes and
#                                              ~7 GB for the image-like virtual environment, kept for reuse)
# Environment: WORK (default /tmp/l2m-gpu-rehearsal), PY312 (a Python 3.12; default: python3.12 or a
# pyenv 3.12), WHEELHOUSE_SH (default ../shared/device/wheelhouse.sh of this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=${WORK:-/tmp/l2m-gpu-rehearsal}
WHEELHOUSE_SH=$(realpath -m "${WHEELHOUSE_SH:-../shared/device/wheelhouse.sh}")
[ -f "$WHEELHOUSE_SH" ] || { echo "no $WHEELHOUSE_SH (the device notes' wheelhouse script)"; exit 1; }
mkdir -p "$WORK"
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "warning: uncommitted changes are not rehearsed (the scratch clone is of HEAD)"
fi

# 1. a Python with the GPU image's packages only (what the notebooks and l2m_utils need of them);
#    torch and transformers pinned to the device's versions (GPU_NOTES: torch 2.11+cu130, transformers
#    5.17; PyPI's torch 2.11 is a CUDA build, several GB with its nvidia libraries, that runs on a CPU)
IMAGE_PACKAGES="torch==2.11.0 | transformers==5.17.0 tokenizers accelerate numpy scipy matplotlib pandas seaborn
  pyarrow einops triton tqdm huggingface-hub pytest hypothesis attrs jinja2 markupsafe pygments
  markdown-it-py mdurl psutil click requests rich tabulate pyyaml python-dateutil six typing-extensions
  filelock sortedcontainers packaging cloudpickle"
IMG=$WORK/image-venv
if [ "$(cat "$IMG/.complete" 2>/dev/null)" != "$IMAGE_PACKAGES" ]; then  # (re)built when the list changed
  PY312=${PY312:-}
  if [ -z "$PY312" ]; then
    for cand in python3.12 "$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python 2>/dev/null | head -1)"; do
      if [ -n "$cand" ] && "$cand" --version >/dev/null 2>&1; then PY312=$cand; break; fi
    done
  fi
  [ -n "$PY312" ] || { echo "no Python 3.12 found (the GPU image's version): set PY312"; exit 1; }
  rm -rf "$IMG"
  "$PY312" -m venv "$IMG"
  pip_quiet() {  # pip's output only when it fails (the local index config warns about every package)
    local log; log=$(mktemp)
    if ! "$IMG/bin/pip" install -q "$@" >"$log" 2>&1; then grep -v "is ignored" "$log"; rm -f "$log"; return 1; fi
    rm -f "$log"
  }
  pip_quiet ${IMAGE_PACKAGES%%|*}   # torch first, so that nothing else picks another version
  pip_quiet ${IMAGE_PACKAGES#*|}
  printf '%s' "$IMAGE_PACKAGES" >"$IMG/.complete"  # written only after every install succeeded
fi
"$IMG/bin/python" -c "import sys, torch, transformers; print('image-like python', sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__)"

# 2. a scratch clone of HEAD and its wheelhouse, built with that Python
CLONE=$WORK/clone
rm -rf "$CLONE" "$WORK"/out-* "$WORK"/cache-*
git clone -q "$REPO" "$CLONE"
cd "$CLONE"
SHA=$(git rev-parse --short HEAD)
if ! WHEELHOUSE_SH=$WHEELHOUSE_SH PYTHON=$IMG/bin/python bash scripts/prepare_wheelhouse.sh >"$WORK/wheelhouse.log" 2>&1; then
  grep -v "is ignored" "$WORK/wheelhouse.log" | tail -20
  echo "building the wheelhouse failed (log $WORK/wheelhouse.log)"
  exit 1
fi
tail -1 "$WORK/wheelhouse.log"

# 3. every GPU script at smoke sizes, as the device would run it (install from .whl/ included), with
#    none of the caller's settings leaking in
failed=0
rehearse() {  # NAME VAR=VALUE... -- COMMAND...
  local name=$1; shift
  local settings=()
  while [ "$1" != -- ]; do settings+=("$1"); shift; done; shift
  local out=$WORK/out-$name start=$SECONDS status=0
  mkdir -p "$out"
  env -u PROFILE -u SKIP_INSTALL -u SKIP_GPU_CHECK -u GPU_CHECK -u GPU_CHECK_S -u BUDGET_S -u DEADLINE_S -u ALLOW_DIRTY -u CH06_PROFILE -u CH06_RESULTS_DIR \
    -u CH06_BENCH -u CH06_PART_S -u CH06_HARD_S -u CH07_SMOKE -u CH06_SMOKE -u CH06_WORKERS -u BENCH_SMALL -u PYTHONPATH \
    "${settings[@]}" PYTHON="$IMG/bin/python" OUT="$out" L2M_CACHE="$WORK/cache-$name" L2M_COMMIT="$SHA" \
    "$@" >"$WORK/$name.log" 2>&1 || status=$?
  printf '%-28s exit %d  %4d s  files: %s  (log %s)\n' "$name" "$status" $((SECONDS - start)) \
    "$(ls "$out" | tr '\n' ' ')" "$WORK/$name.log"
  [ "$status" = 0 ] || failed=1
}
# the session plan's scripts: chapter 4 (here with chapter 8, step 3) as step 1 ran it, issue 4's
# benchmarks (step 1b), then chapter 3 without reinstalling, on the wheelhouse /tmp/site already holds
rehearse snapshots-04-08 PROFILE=smoke BUDGET_S=900 DEADLINE_S=1200 -- bash -c 'set -e; bash scripts/gpu_snapshots.sh 04 08
  ls "$OUT"/04_*.ipynb "$OUT"/08_*.ipynb >/dev/null'
rehearse benchmarks BENCH_SMALL=1 -- bash scripts/gpu_benchmarks.sh
rehearse snapshots-03 PROFILE=smoke SKIP_INSTALL=1 SKIP_GPU_CHECK=1 -- bash -c 'set -e; export PYTHONPATH=/tmp/site:$PWD
  BUDGET_S=$((575 - SECONDS > 20 ? 575 - SECONDS : 20)) bash scripts/gpu_snapshots.sh 03
  ls "$OUT"/03_*.ipynb >/dev/null'
rehearse ch07 CH07_SMOKE=1 -- bash scripts/gpu_ch07.sh
rehearse ch06-sweep CH06_SMOKE=1 -- bash scripts/gpu_ch06_sweep.sh
rehearse snapshots-06 PROFILE=smoke SKIP_GPU_CHECK=1 BUDGET_S=600 DEADLINE_S=620 -- bash scripts/gpu_snapshots.sh 06
echo "rehearsed commit $SHA: $([ $failed = 0 ] && echo 'all steps passed' || echo 'SOME STEPS FAILED')"
exit $failed
