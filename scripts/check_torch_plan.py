"""Stop `make install` before it downloads PyPI's CUDA build of torch in place of the CPU build.

`make install` asks pip for ``torch==<version>`` with PyTorch's CPU index as an extra index. Where
that index cannot be reached (a network that lets only PyPI through) or has no wheel for this Python,
pip silently takes PyPI's Linux wheel, the CUDA build, with its CUDA packages (several GB). The
Makefile therefore first lets pip plan the install (``pip install --dry-run --no-deps --report
PLAN``) and runs this file on the plan: it exits with a message that says what happened and what to
do when the torch wheel pip chose requires CUDA packages (``nvidia-*``) on this platform.

Before that, ``python scripts/check_torch_plan.py --index-args INDEX`` probes the index once and
prints the pip options that name it (``--extra-index-url INDEX``), or nothing when no connection to
it can be made at all (its name does not resolve, the connection is refused or times out): pip would
otherwise retry an unreachable index five times for every package it installs, about 75 s on a
machine without it, and with a local wheel or mirror of the CPU build it does not need it. The plan
check still stops an install that would then fetch the CUDA build.

Run by path (``python scripts/check_torch_plan.py PLAN INDEX``): it needs only the standard library
and pip, so it works before anything else is installed.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import urllib.error
import urllib.request
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


def unreachable(index: str, timeout: float = 5.0) -> str | None:
    """Why no connection to the package index ``index`` can be made (a short reason), or None.

    Sends one ``HEAD`` request for the index's ``torch/`` page, through the proxy variables pip also
    reads (``HTTPS_PROXY``, ...). Only a failure to connect counts: a name that does not resolve, a
    refused connection, an unreachable network or no answer within ``timeout`` seconds. Any answer
    of the server (an error status included), a TLS failure and a scheme other than http(s) count
    as reachable: pip then decides itself, as without the probe.
    """
    if not index.startswith(("http://", "https://")):
        return None
    request = urllib.request.Request(index.rstrip("/") + "/torch/", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # the server answered
    except urllib.error.URLError as error:
        reason = error.reason
    except OSError as error:  # e.g. a timeout while reading the answer
        reason = error
    if isinstance(reason, ssl.SSLError) or not isinstance(reason, OSError):  # certificate errors included
        return None
    if isinstance(reason, socket.gaierror):
        return f"its host name does not resolve ({reason})"
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s"
    return f"no connection ({reason})"


def index_args(index: str, timeout: float = 5.0) -> tuple[list[str], str | None]:
    """pip's options for the extra index ``index`` (none when it is empty or unreachable), and a note.

    The note (None when there is nothing to say) tells the user that the index is left out and why.
    """
    if not index:
        return [], None
    reason = unreachable(index, timeout)
    if reason is None:
        return ["--extra-index-url", index], None
    then = ("its CPU build must then come from a local wheel or mirror (the plan check\n"
            "  stops the install if pip finds only the CUDA build)." if "/cpu" in index else
            "it then comes from a local wheel, a mirror or PyPI.")
    return [], (f"make install: {index} cannot be reached: {reason}.\n"
                f"  pip would retry it five times for every package, so torch is asked for without it:\n  {then}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--index-args"] and len(argv) <= 2:
        args, note = index_args(argv[1] if len(argv) == 2 else "")
        if note:
            print(note, file=sys.stderr)
        print(" ".join(args))
        return 0
    if len(argv) != 2:
        print("usage: check_torch_plan.py PLAN.json INDEX_URL\n"
              "       check_torch_plan.py --index-args [INDEX_URL]", file=sys.stderr)
        return 2
    message = problem(json.loads(Path(argv[0]).read_text(encoding="utf-8")), argv[1])
    if message:
        print(message, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
