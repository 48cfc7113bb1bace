"""Printed results that fit the book's output column.  Introduced in chapter 2 (the L²M condition's
findings, printed as sentences).

The rendered book shows about 84 characters of a printed line (its outputs are set at 13px by
``book/_static/l2m.css``, which also wraps a longer line rather than hide its end), and a line
broken by the browser loses the layout that makes printed findings easy to scan.  The chapters print their findings as sentences through
:func:`print_wrapped`, which breaks each one at :data:`OUTPUT_WIDTH` characters with a hanging
indent, so that where one finding ends and the next begins stays visible (:func:`number` formats
the values in them without a "-0.000", :func:`with_interval` an estimate with its interval).  Tables wider than that
are displayed as Markdown tables instead (``IPython.display.Markdown``), which the book renders as
HTML tables.
"""

from __future__ import annotations

import math
import re
import textwrap
from typing import Sequence

import numpy as np

from .checks import integer

# Characters of one printed line that the rendered book shows whole: 13px monospace (l2m.css) in the
# content column of sphinx-book-theme, window widths from about 1280 px (measured in Chromium).
OUTPUT_WIDTH = 84


def wrap_lines(*lines: str, width: int = OUTPUT_WIDTH, indent: str = "    ") -> str:
    """Each of ``lines`` broken at ``width`` characters, continuation lines indented by ``indent``.

    A line that already fits is kept as it is (its own spacing too, e.g. the columns of a small
    table); a longer one is broken between words only (never inside a number or a hyphenated word).
    An embedded newline starts a new line.  Raises ``ValueError`` when ``width`` leaves no room after
    ``indent``.
    """
    width = integer(width, "width")
    if width <= len(indent) + 8:
        raise ValueError(f"width={width} leaves no room for text after an indent of {len(indent)} characters")
    out: list[str] = []
    for line in lines:
        for part in str(line).split("\n"):
            if len(part) <= width:
                out.append(part)
                continue
            out.extend(textwrap.wrap(part, width, subsequent_indent=indent, break_long_words=False,
                                     break_on_hyphens=False))
    return "\n".join(out)


def print_wrapped(*lines: str, width: int = OUTPUT_WIDTH, indent: str = "    ") -> None:
    """``print`` :func:`wrap_lines` of ``lines`` (one finding per line, long ones broken)."""
    print(wrap_lines(*lines, width=width, indent=indent))


def number(x: float, spec: str) -> str:
    """``format(x, spec)`` without a minus sign on a value that rounds to zero.

    ``number(-0.00001, ".4f")`` is ``"0.0000"`` (``format`` gives ``"-0.0000"``); with an explicit
    sign, ``number(-0.00001, "+.3f")`` is ``"+0.000"``.  Fixed-point and general formats only.
    """
    if not isinstance(x, (int, float, np.floating, np.integer)) or isinstance(x, bool):
        raise TypeError(f"number: x must be a real number, got {type(x).__name__}")
    if spec.rstrip()[-1:] not in ("f", "g", "F", "G"):
        raise ValueError(f"number: spec must be a fixed-point or general format such as '.3f', got {spec!r}")
    text = format(x, spec)
    # the value as the spec rounds it, without fill, alignment, width or grouping (a fill may be any character)
    core = re.search(r"(\.\d+)?[fFgG]$", spec.rstrip()).group(0)
    rounds_to_zero = math.isfinite(x) and float(format(x, core)) == 0
    return format(0.0, spec) if rounds_to_zero else text


def with_interval(x: float, interval: Sequence[float], spec: str) -> str:
    """``"x [lo, hi]"``, each through :func:`number` with ``spec``: an estimate and its interval, e.g.
    ``with_interval(0.71, (0.62, 0.8), ".2f")`` is ``"0.71 [0.62, 0.80]"``."""
    if isinstance(interval, str) or not hasattr(interval, "__len__") or len(interval) != 2:
        raise ValueError(f"interval must be a pair (low, high), got {interval!r}")
    lo, hi = interval
    return f"{number(x, spec)} [{number(lo, spec)}, {number(hi, spec)}]"
