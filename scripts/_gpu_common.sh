# Shared by the gpu_*.sh scripts (sourced, not run).  Expects PY (the python to use) to be set.
#
# gpu_install: install the carried wheelhouse .whl/ into /tmp/site (no index, no dependencies, no
#   compilation) unless SKIP_INSTALL=1, and put it and the repository on PYTHONPATH.
# gpu_preflight MODULE...: stop within seconds, naming what is missing, when a module cannot be found
#   (a session must not spend minutes before discovering that the wheelhouse lacks a package).
# gpu_info: versions and the device, for the log.
# gpu_clock_start / gpu_limit WANT [RESERVE]: the script's own clock.  DEADLINE_S (env, each script
#   sets a default that fits the timeout_s its header gives) is how many seconds after gpu_clock_start
#   the script must be done, so that it writes what it brings back before the device call's timeout_s
#   kills it; gpu_limit prints WANT cut to the seconds left before DEADLINE_S less RESERVE (the time a
#   later step needs), at least 1.  Every `timeout` of a script takes its limit from gpu_limit.
# gpu_commit: refuse to start when L2M_COMMIT is unset or names uncommitted code ("+dirty"): the machine
#   has no git, so the id every result records comes from L2M_COMMIT alone (compute it here with
#   `.venv/bin/python -m l2m_utils.book commit`).  ALLOW_DIRTY=1 lets a try-out run anyway.

gpu_commit() {  # after gpu_install (l2m_utils importable)
  if [ -z "${L2M_COMMIT:-}" ]; then  # a local try-out in a clone: git answers; on the machine: "unknown"
    L2M_COMMIT=$("$PY" -m l2m_utils.book --root "$PWD" commit 2>/dev/null || echo unknown)
  fi
  export L2M_COMMIT
  case "$L2M_COMMIT" in
    "" | unknown)
      if [ "${ALLOW_DIRTY:-0}" != 1 ]; then
        echo "L2M_COMMIT is not set: pass L2M_COMMIT=\$(.venv/bin/python -m l2m_utils.book commit) (the machine has no git)" >&2
        exit 2
      fi ;;
    *+dirty)
      if [ "${ALLOW_DIRTY:-0}" != 1 ]; then
        echo "L2M_COMMIT=$L2M_COMMIT: commit first, published results must name the code that made them" >&2
        exit 2
      fi ;;
  esac
}

gpu_clock_start() {
  GPU_T0=$SECONDS
}

gpu_limit() {
  local want=$1 reserve=${2:-0} left
  left=$(( ${DEADLINE_S:?DEADLINE_S is not set} - (SECONDS - ${GPU_T0:?call gpu_clock_start first}) - reserve ))
  (( left < want )) && want=$left
  (( want < 1 )) && want=1
  echo "$want"
}

gpu_install() {
  if [ "${SKIP_INSTALL:-0}" != 1 ] && compgen -G ".whl/*.whl" >/dev/null; then
    rm -rf /tmp/site
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
  else
    echo "no install (SKIP_INSTALL=1 or no .whl/): using what is importable"
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
  fi
}

gpu_preflight() {
  "$PY" - "$@" <<'PY'
import importlib.util
import sys

missing = [m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"preflight: cannot import {', '.join(missing)}; build the wheelhouse with "
             "scripts/prepare_wheelhouse.sh and carry .whl")
print("preflight: found", " ".join(sys.argv[1:]))
PY
}

gpu_info() {
  { command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv; } \
    || echo "no nvidia-smi"
  "$PY" - <<'PY'
import torch, transformers
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "transformers", transformers.__version__)
PY
}

# gpu_check [LOG [RESERVE]]: the CUDA checks of every chapter (tests/test_gpu.py: its first 8 tests
#   took 178 s on the H200; at most GPU_CHECK_S, default 240, and never into the RESERVE seconds before
#   DEADLINE_S that the script's own step needs; skipped, saying so, when less than a minute is left for
#   them); the result is logged (and written to LOG), never fatal: a failing check says which chapter's
#   GPU path to fix before its own session.
gpu_check() {
  local log=${1:-/dev/null} limit
  limit=$(gpu_limit "${GPU_CHECK_S:-240}" "${2:-0}")
  if (( limit < 60 )); then
    echo "== CUDA checks skipped: ${limit} s left for them before DEADLINE_S=$DEADLINE_S less the ${2:-0} s" \
      "the script's own step needs (raise DEADLINE_S with the call's timeout_s, or lower that step's budget)" | tee "$log"
    return 0
  fi
  echo "== CUDA checks (tests/test_gpu.py, limit ${limit} s)"
  if ! "$PY" -c "import pytest" 2>/dev/null; then echo "no pytest here: checks skipped" | tee "$log"; return 0; fi
  timeout "$limit" "$PY" -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tail -40 | tee "$log" || true
}

# gpu_monitor_start / gpu_monitor_report LABEL: sample the GPU's utilization (share of time a kernel
#   ran) and memory every second in the background, and print one line for the samples since the
#   last report.  It tells a later session whether the GPU sat idle between kernel launches (room for
#   work side by side) or was busy.  Without nvidia-smi (a CPU try-out) both do nothing.  One
#   nvidia-smi call per sample (not its -l mode), so every line is written whole when it is taken.
gpu_monitor_start() {
  command -v nvidia-smi >/dev/null || return 0
  GPU_MON=$(mktemp)
  GPU_MON_SEEN=0
  while sleep 1; do
    nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits 2>/dev/null | head -n 1 || true
  done </dev/null >>"$GPU_MON" 2>/dev/null &
  GPU_MON_PID=$!
  trap 'kill "$GPU_MON_PID" 2>/dev/null || true' EXIT  # never outlive the script (the device call waits)
}

gpu_monitor_report() {
  [ -n "${GPU_MON_PID:-}" ] || return 0
  local out
  # one awk over the file: the count of lines read and the summary of the new ones (never fails the script)
  out=$(awk -F', *' -v seen="$GPU_MON_SEEN" -v label="$1" '
    NR > seen && $1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ { u += $1; n++; if ($1 > mu) mu = $1; if ($2 > mm) mm = $2 }
    END { print NR
          if (n) printf "GPU monitor, %s: utilization mean %.0f%%, max %d%% over %d s; memory used up to %d MiB\n",
                        label, u / n, mu, n, mm }' "$GPU_MON" 2>/dev/null) || return 0
  GPU_MON_SEEN=${out%%$'\n'*}
  [ "$out" = "$GPU_MON_SEEN" ] || printf '%s\n' "${out#*$'\n'}"
}
