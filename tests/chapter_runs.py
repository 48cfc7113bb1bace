"""Executing a chapter from a test and reading what it printed and glued (shared by the test files)."""

import re
import textwrap
from pathlib import Path

import nbformat

from l2m_utils import book

#: The Jupytext front matter of a chapter, for tests that write small chapters of their own.
MYST_HEADER = textwrap.dedent("""\
    ---
    jupytext:
      text_representation: {extension: .md, format_name: myst, format_version: 0.13}
    kernelspec: {display_name: Python 3, language: python, name: python3}
    ---
    """)


def execute_smoke(stem: str, overrides: dict, tmp_path: Path):
    """Execute chapter ``stem`` with the smoke profile and ``overrides``; return (notebook, run record)."""
    layout = book.Layout(book.ROOT)
    output = tmp_path / f"{stem}.ipynb"
    record = book.execute_chapter(layout.notebooks / f"{stem}.md", output, "smoke", overrides, layout.root)
    nb = nbformat.read(output, as_version=4)
    assert book.error_outputs(nb) == []
    return nb, record


def printed(nb, sep: str = "") -> str:
    """The stream outputs of the code cells, joined by ``sep`` ("\\n" keeps each output's lines anchored
    for ``re.M`` patterns: a progress bar leaves its output without a final newline)."""
    return sep.join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def glued(nb) -> dict[str, str]:
    """name -> text of every value the chapter glued (myst-nb's scrapbook outputs)."""
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                out[name] = o["data"]["application/papermill.record/text/plain"].strip("'\"")
    return out


def unwrapped(text: str) -> str:
    """Printed output with one finding per line again: ``print_wrapped`` continues a long finding on
    lines indented by four spaces."""
    return re.sub(r"\n    (?=\S)", " ", text)
