"""The shell helpers of the GPU scripts (scripts/_gpu_common.sh) that can run without a GPU."""

import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_nvidia_smi(tmp_path):
    """An ``nvidia-smi`` that prints utilization 0, 10, 20, ... % and memory 1000, 1001, ... MiB once a
    second in its ``-l 1`` mode, as the real one does with the monitor's query."""
    tool = tmp_path / "bin" / "nvidia-smi"
    tool.parent.mkdir()
    tool.write_text(textwrap.dedent("""\
        #!/usr/bin/env bash
        i=0
        while true; do echo "$(( (i * 10) % 100 )), $((1000 + i))"; i=$((i + 1)); sleep 1 & wait $!; done
        """))
    tool.chmod(0o755)
    return tool.parent


def _bash(script, path_prefix):
    env = dict(os.environ, PATH=f"{path_prefix}:{os.environ['PATH']}", PY="true")
    return subprocess.run(["bash", "-c", f"source scripts/_gpu_common.sh\n{script}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_gpu_monitor_reports_each_phase_and_stops_with_the_script(fake_nvidia_smi):
    done = _bash("gpu_monitor_start; echo pid $GPU_MON_PID; sleep 3.5; gpu_monitor_report one;"
                 " sleep 2.2; gpu_monitor_report two; gpu_monitor_report three", fake_nvidia_smi)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    pid = int(lines[0].split()[1])
    one, two = lines[1:]  # nothing new for "three": no line
    # the first samples are 0, 10, 20, (30): a mean of 10-15 %, max 20-30 %
    assert one.startswith("GPU monitor, one: utilization mean 1") and "memory used up to 100" in one
    assert two.startswith("GPU monitor, two: utilization mean") and "over 2 s" in two
    assert _stopped(pid)  # the EXIT trap stopped the sampler


def _stopped(pid, wait_s=5.0):
    """Whether process ``pid`` is gone (or a zombie) within ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status")
        try:
            if "\nState:\tZ" in status.read_text():
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_the_gpu_monitor_does_nothing_without_nvidia_smi(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    done = subprocess.run(["bash", "-c", "source scripts/_gpu_common.sh; gpu_monitor_start; gpu_monitor_report x;"
                           " echo ok"], cwd=ROOT, env={"PATH": f"{empty}:/usr/bin:/bin", "PY": "true"},
                          capture_output=True, text=True, timeout=30)
    if Path("/usr/bin/nvidia-smi").exists():
        pytest.skip("this machine has nvidia-smi")
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr
