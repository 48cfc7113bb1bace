"""The shell helpers of the GPU scripts (scripts/_gpu_common.sh) that can run without a GPU."""

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bash(script, path):
    """Run ``script`` after sourcing the helpers, under the scripts' own ``set -euo pipefail``."""
    env = dict(os.environ, PATH=path, PY="true")
    return subprocess.run(["bash", "-c", f"set -euo pipefail\nsource scripts/_gpu_common.sh\n{script}"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def quiet_nvidia_smi(tmp_path):
    """An ``nvidia-smi`` that answers nothing: the test writes the samples into the monitor's file."""
    tool = tmp_path / "bin" / "nvidia-smi"
    tool.parent.mkdir()
    tool.write_text("#!/usr/bin/env bash\nexit 0\n")
    tool.chmod(0o755)
    return f"{tool.parent}:{os.environ['PATH']}"


def test_the_gpu_monitor_summarises_each_phase_once(quiet_nvidia_smi):
    done = _bash("""
        gpu_monitor_start
        echo "pid $GPU_MON_PID"
        printf '10, 1000\\n20, 1003\\n' >>"$GPU_MON"
        gpu_monitor_report one
        gpu_monitor_report nothing-new
        printf '90, 1500\\nnot a sample\\n40, 900\\n' >>"$GPU_MON"
        gpu_monitor_report two
        """, quiet_nvidia_smi)
    assert done.returncode == 0, done.stderr
    pid_line, *report = done.stdout.splitlines()
    assert report == [
        "GPU monitor, one: utilization mean 15%, max 20% over 2 s; memory used up to 1003 MiB",
        "GPU monitor, two: utilization mean 65%, max 90% over 2 s; memory used up to 1500 MiB",
    ]
    assert _stopped(int(pid_line.split()[1]))  # the EXIT trap stopped the sampler


def test_the_gpu_monitor_samples_nvidia_smi_every_second(tmp_path):
    tool = tmp_path / "bin" / "nvidia-smi"
    tool.parent.mkdir()
    tool.write_text("#!/usr/bin/env bash\necho '50, 2048'\n")
    tool.chmod(0o755)
    done = _bash("gpu_monitor_start; sleep 3.5; gpu_monitor_report run", f"{tool.parent}:{os.environ['PATH']}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("GPU monitor, run: utilization mean 50%, max 50% over ")
    assert done.stdout.rstrip().endswith("s; memory used up to 2048 MiB")


def test_the_gpu_monitor_does_nothing_without_nvidia_smi(tmp_path):
    if any((Path(d) / "nvidia-smi").exists() for d in ("/usr/bin", "/bin")):
        pytest.skip("this machine has nvidia-smi")
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _bash("gpu_monitor_start; gpu_monitor_report x; echo ok", f"{empty}:/usr/bin:/bin")
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def _stopped(pid, wait_s=5.0):
    """Whether process ``pid`` is gone (or a zombie) within ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text():
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


PENDING = ROOT / "scripts" / "pending"


@pytest.mark.parametrize("patch", sorted(PENDING.glob("*.patch")), ids=lambda p: p.name)
def test_pending_chapter_patches_still_apply(patch):
    """A chapter with a GPU snapshot cannot change its code until the snapshot is re-made on a GPU; the
    change waits in scripts/pending/ (scripts/README.md).  It must still apply to the chapter as it is,
    and the helpers its added lines call must exist."""
    import importlib
    import re

    done = subprocess.run(["git", "apply", "--check", str(patch)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"{patch.name} no longer applies: {done.stderr}"
    aliases = {"FT": "fits", "C": "corpus", "T": "tokenization", "BP": "bipartite"}
    added = "\n".join(line[1:] for line in patch.read_text().splitlines() if line.startswith("+") and
                      not line.startswith("+++"))
    for alias, name in re.findall(r"\b(FT|C|T|BP)\.([a-z_]\w*)\(", added):
        module = importlib.import_module(f"l2m_utils.{aliases[alias]}")
        assert hasattr(module, name), f"{patch.name} calls {alias}.{name}, which l2m_utils.{aliases[alias]} lacks"


def test_gpu_limit_cuts_a_step_to_the_time_left_before_the_deadline():
    done = _bash("""
        DEADLINE_S=100; gpu_clock_start
        echo "$(gpu_limit 240) $(gpu_limit 50) $(gpu_limit 240 30) $(gpu_limit 10 200)"
        GPU_T0=$((SECONDS - 60)); echo "$(gpu_limit 240) $(gpu_limit 30) $(gpu_limit 240 45)"
        """, os.environ["PATH"])
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == "100 50 70 1"  # the floor is 1 s: `timeout 0` would mean no limit at all
    assert second == "40 30 1"


def test_gpu_limit_refuses_to_guess_a_missing_deadline():
    done = _bash("gpu_clock_start; gpu_limit 60", os.environ["PATH"])
    assert done.returncode != 0 and "DEADLINE_S is not set" in done.stderr


GPU_SCRIPTS = sorted((ROOT / "scripts").glob("gpu_*.sh"))


@pytest.mark.parametrize("script", GPU_SCRIPTS, ids=lambda p: p.name)
def test_a_gpu_script_finishes_before_the_device_call_that_its_header_gives_kills_it(script):
    """The device tool kills a call at its timeout_s and brings back only what is under $OUT by then:
    each script's default DEADLINE_S must leave it 15 s, and no step may have a fixed limit of its own
    (a `timeout` with a number), which would not shrink with the time left."""
    import re

    text = script.read_text()
    deadline = re.search(r"DEADLINE_S=\$\{DEADLINE_S:-(\d+)\}", text)
    assert deadline, f"{script.name} sets no default DEADLINE_S"
    timeouts = {int(t) for t in re.findall(r"timeout_s=(\d+)", text.split("\nset -euo pipefail")[0])}
    assert timeouts, f"{script.name}'s header gives no timeout_s for its device call"
    assert int(deadline.group(1)) + 15 <= min(timeouts)
    assert "gpu_clock_start" in text
    assert not re.findall(r"\btimeout [0-9]", text), f"{script.name} has a step with a fixed time limit"


def test_a_sweep_part_with_no_time_left_trains_nothing_and_still_returns_its_results(tmp_path):
    """gpu_ch06_sweep.sh cuts the part's limits to DEADLINE_S: with none left it starts no run, and
    still writes the tarball of the results folder and its log."""
    import sys

    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CH06_", "DEADLINE_S", "BUDGET_S"))}
    env.update(CH06_SMOKE="1", CH06_BENCH="0", SKIP_INSTALL="1", PYTHON=sys.executable, OUT=str(out),
               DEADLINE_S="20", CH06_RESULTS_DIR=str(tmp_path / "results" / "ch06"), ALLOW_DIRTY="1",
               L2M_COMMIT="test")
    done = subprocess.run(["bash", "scripts/gpu_ch06_sweep.sh"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "== sweep part skipped" in done.stdout
    assert "[w0]" not in done.stdout  # no sweep started
    assert sorted(p.name for p in out.iterdir()) == ["ch06_gpu.log", "ch06_results.tar.gz"]


def test_the_cuda_checks_are_skipped_not_cut_to_seconds_when_the_step_after_them_needs_the_time(tmp_path):
    log = tmp_path / "checks.txt"
    done = _bash(f"DEADLINE_S=500; gpu_clock_start; gpu_check {log} 480", os.environ["PATH"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("== CUDA checks skipped: 20 s left for them before DEADLINE_S=500 less the 480 s")
    assert log.read_text() == done.stdout
