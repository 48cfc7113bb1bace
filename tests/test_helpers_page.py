"""The book's map of l2m_utils (book/helpers.md) stays in step with the package and the chapters."""

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "helpers.md"


def _modules() -> list[str]:
    return sorted(p.stem for p in (ROOT / "l2m_utils").glob("*.py") if p.stem != "__init__")


def _rows() -> dict[str, list[str]]:
    """Module name -> [module, introduced in, imported by, what it holds, start with], read from its
    table row ``| `name` | introduced in X; imported by Y | holds; start with Z |``."""
    rows = {}
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"\| `(\w+)` \| introduced in (.+); imported by (.+) \| (.+); start with (.+) \|", line)
        if m:
            rows[m.group(1)] = [m.group(1), *m.groups()[1:]]
        else:
            assert not line.startswith("| `"), f"table row not in the expected form: {line}"
    return rows


def _introduced_in(module: str) -> str:
    """'preface', 'teaching' (the teaching page) or the chapter number that the module's docstring
    names first."""
    doc = ast.get_docstring(ast.parse((ROOT / "l2m_utils" / f"{module}.py").read_text(encoding="utf-8"))) or ""
    m = re.search(r"\b(preface|teaching page|chapters? (\d))", doc, flags=re.I)
    assert m, f"the docstring of l2m_utils.{module} names no chapter that introduces it"
    return m.group(2) or m.group(1).lower().split()[0]


def _imported_by(module: str) -> list[str]:
    """The chapter numbers whose notebooks import the module in an import statement (a module that a
    chapter only names in prose, or reaches through another module, does not count)."""
    pattern = re.compile(rf"^\s*(from l2m_utils\.{module} import |import l2m_utils\.{module}\b"
                         rf"|from l2m_utils import [^\n]*\b{module}\b)", flags=re.M)
    return [p.name[:2].lstrip("0") for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))
            if pattern.search(p.read_text(encoding="utf-8"))]


def test_every_module_has_one_row_and_the_page_is_in_the_toc():
    assert sorted(_rows()) == _modules()
    assert "file: book/helpers" in (ROOT / "_toc.yml").read_text()


@pytest.mark.parametrize("module", _modules())
def test_row_matches_the_docstring_the_chapters_and_the_code(module):
    _, introduced, imported, holds, start = _rows()[module]
    expected = _introduced_in(module)
    if expected == "preface":
        assert introduced == "{doc}`How to run <how_to_run>`"
    elif expected == "teaching":
        assert introduced == "{doc}`Teaching with this book <teaching>`"
    else:
        assert re.fullmatch(rf"\{{doc\}}`{expected} <\.\./notebooks/0{expected}_\w+>`", introduced), introduced
        target = re.search(r"<(.+)>", introduced).group(1)
        assert (PAGE.parent / f"{target}.md").exists(), target
    chapters = _imported_by(module)
    assert imported == (", ".join(chapters) if chapters else "none")
    assert holds
    mod = importlib.import_module(f"l2m_utils.{module}")
    names = re.findall(r"`(\w+)`", start)
    assert names, f"no entry point named for {module}"
    for name in names:
        assert hasattr(mod, name), f"l2m_utils.{module} has no {name}"


@pytest.mark.parametrize("module", _modules())
def test_every_public_function_and_class_has_a_docstring(module):
    """The page promises a short docstring on each public function (and class) of every module."""
    tree = ast.parse((ROOT / "l2m_utils" / f"{module}.py").read_text(encoding="utf-8"))
    missing = [node.name for node in tree.body
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
               and not node.name.startswith("_") and not ast.get_docstring(node)]
    assert missing == [], f"l2m_utils.{module}: no docstring on {missing}"
