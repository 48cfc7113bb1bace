"""Every figure of the book is a numbered figure: a name to refer to it, a caption and an alt text.

A code cell that draws (``plt.show()``) carries MyST-NB metadata ``mystnb.figure`` (``name``,
``caption``) and ``mystnb.image.alt``; the rendered pages are checked in ``test_rendered_book.py``.
"""

import re
from pathlib import Path

import pytest

from l2m_utils import book

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))


def _figure_cells(source: Path) -> list:
    nb = book.to_notebook(source)
    return [c for c in nb.cells if c.cell_type == "code" and "plt.show()" in c.source]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_figure_has_a_name_a_caption_and_an_alt_text(source):
    chapter = int(source.stem[:2])
    cells = _figure_cells(source)
    assert cells, f"{source.stem} draws no figure"
    for cell in cells:
        where = f"{source.stem}, cell starting {cell.source.splitlines()[0]!r}"
        assert cell.source.count("plt.show()") == 1, f"{where}: one figure per captioned cell"
        # MyST-NB makes every displayed output of the cell a figure with the same name: a table shown
        # with display() there would be a second target of that name (a build error)
        assert "display(" not in cell.source, f"{where}: display() other outputs in a cell of their own"
        meta = cell.metadata.get("mystnb", {})
        figure, image = meta.get("figure", {}), meta.get("image", {})
        assert re.fullmatch(rf"ch{chapter}-fig-[a-z0-9]+(-[a-z0-9]+)*", figure.get("name", "")), \
            f"{where}: mystnb.figure.name must be ch{chapter}-fig-<words>, got {figure.get('name')!r}"
        caption = figure.get("caption", "").strip()
        assert len(caption) >= 60 and caption.endswith("."), f"{where}: caption too short or unfinished: {caption!r}"
        alt = image.get("alt", "").strip()
        assert len(alt) >= 40 and "$" not in alt and "{" not in alt, \
            f"{where}: alt text must describe the picture in plain words (no math markup): {alt!r}"


def test_figure_names_are_unique_and_each_is_referred_to():
    """Names are unique; the prose refers (``{numref}``) to every figure that is always drawn.

    A figure drawn only under a condition (``plt.show()`` indented: e.g. no training curve for a hub
    estimator) is described in words instead: a reference to a figure that is absent fails the build.
    """
    cells = [c for s in SOURCES for c in _figure_cells(s)]
    names = [c.metadata["mystnb"]["figure"]["name"] for c in cells]
    assert len(names) == len(set(names)), f"duplicate figure names: {sorted(n for n in names if names.count(n) > 1)}"
    text = "\n".join(s.read_text(encoding="utf-8") for s in SOURCES)
    always = [c.metadata["mystnb"]["figure"]["name"] for c in cells if "\nplt.show()" in "\n" + c.source]
    unreferred = [n for n in always if f"<{n}>`" not in text and f"`{n}`" not in text]
    assert not unreferred, f"figures the prose never refers to ({{numref}}): {unreferred}"
    conditional = [n for n in names if n not in always]
    referred = [n for n in conditional if f"<{n}>`" in text or f"`{n}`" in text]
    assert not referred, f"conditionally drawn figures must not be referred to by {{numref}}: {referred}"
