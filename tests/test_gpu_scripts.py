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
