"""Stop `make install` before it downloads PyPI's CUDA build of torch in place of the CPU build.

`make install` asks pip for ``torch==<version>`` with PyTorch's CPU index as an extra index. Where
that index cannot be reached (a network that lets only PyPI through) or has no wheel for this Python,
pip silently takes PyPI's Linux wheel, the CUDA build, with its CUDA packages (several GB). The
Makefile therefore first lets pip plan the install (``pip install --dry-run --no-deps --report
PLAN``) and runs this file on the plan: it exits with a message that says what happened and what to
do when the torch wheel pip chose requires CUDA packages (``nvidia-*``) on this platform.

Run by path (``python scripts/check_torch_plan.py PLAN INDEX``): it needs only the standard library
and pip, so it works before anything else is installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def cuda_requirements(report: dict, environment: dict[str, str] | None = None) -> tuple[dict, list[str]] | None:
    """The torch item of a pip installation report and the CUDA packages it requires here.

    ``report``: the JSON of ``pip install --report`` (its ``install`` list; torch is absent from it
    when it is installed already). A requirement counts when its name starts with ``nvidia-`` and its
    environment marker holds for ``environment`` (default: this interpreter and platform; ``extra``
    is empty, so optional extras do not count). Returns None when the plan installs no torch.
    """
    from pip._vendor.packaging.requirements import Requirement  # pip is in every venv

    env = {"extra": "", **(environment or {})}
    for item in report.get("install", []):
        meta = item.get("metadata", {})
        if meta.get("name", "").lower() != "torch":
            continue
        needed = []
        for line in meta.get("requires_dist", []) or []:
            req = Requirement(line)
            if req.name.lower().startswith("nvidia-") and (req.marker is None or req.marker.evaluate(env)):
                needed.append(req.name)
        return item, needed
    return None


def problem(report: dict, index: str, environment: dict[str, str] | None = None) -> str | None:
    """What is wrong with the plan (a message for the user), or None when it installs no CUDA torch."""
    found = cuda_requirements(report, environment)
    if found is None or not found[1]:
        return None
    item, needed = found
    version = item["metadata"].get("version", "?")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (
        f"make install: pip would install torch {version} from {item.get('download_info', {}).get('url', '?')},\n"
        f"  a CUDA build: it requires {', '.join(sorted(needed)[:3])}{', ...' if len(needed) > 3 else ''}\n"
        "  (several GB of CUDA libraries with their dependencies),\n"
        f"  because the CPU build was not found on {index} for Python {python} on this platform\n"
        "  (that index could not be reached, or it has no wheel for this Python). What to do:\n"
        "  * let pip reach that index (or name a mirror of it: make install TORCH_INDEX=<url>), or\n"
        "  * use a Python for which it has a CPU wheel, e.g. make install PYTHON=python3.12, or\n"
        "  * accept the CUDA build (it also runs on a CPU): make install TORCH_INDEX="
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: check_torch_plan.py PLAN.json INDEX_URL", file=sys.stderr)
        return 2
    message = problem(json.loads(Path(argv[0]).read_text(encoding="utf-8")), argv[1])
    if message:
        print(message, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
