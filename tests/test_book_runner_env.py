"""The runner executes a chapter with the l2m_utils of the root it is given (`--root`), and says so."""

import os
import textwrap
from pathlib import Path

import nbformat
import pytest
from chapter_runs import MYST_HEADER, printed

from l2m_utils import book

PROBE_CHAPTER = MYST_HEADER + textwrap.dedent("""\

    ```{code-cell} ipython3
    :tags: [parameters]

    profile = None
    ```

    ```{code-cell} ipython3
    import l2m_utils
    print("imported", l2m_utils.__file__)
    ```
    """)


@pytest.fixture
def other_checkout(tmp_path: Path) -> Path:
    """A root with its own (fake) l2m_utils and one chapter that prints where l2m_utils came from."""
    (tmp_path / "l2m_utils").mkdir()
    (tmp_path / "l2m_utils" / "__init__.py").write_text('__version__ = "9.9-other-checkout"\n')
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_probe.md").write_text(PROBE_CHAPTER)
    return tmp_path


def test_the_kernel_imports_l2m_utils_from_the_root_and_the_record_says_so(other_checkout, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    output = other_checkout / "_build" / "executed" / "01_probe.ipynb"
    record = book.execute_chapter(other_checkout / "notebooks" / "01_probe.md", output, "smoke", {}, other_checkout)
    nb = nbformat.read(output, as_version=4)
    assert f"imported {other_checkout / 'l2m_utils' / '__init__.py'}" in printed(nb)
    assert not any(str(other_checkout) in str(v) for v in record.values())  # committed records hold no paths
    assert record["l2m_utils"] == "9.9-other-checkout" and nb.metadata["l2m"] == record
    assert not any(book.PROBE_TAG in c.metadata.get("tags", []) for c in nb.cells)  # the probe is gone
    assert os.environ["PYTHONPATH"] == "/somewhere/else"  # restored


@pytest.mark.parametrize("before", [None, "", "/a" + os.pathsep + "/b"])
def test_kernel_imports_from_puts_the_root_first_and_restores(before, tmp_path, monkeypatch):
    if before is None:
        monkeypatch.delenv("PYTHONPATH", raising=False)
    else:
        monkeypatch.setenv("PYTHONPATH", before)
    with pytest.raises(RuntimeError, match="boom"):
        with book.kernel_imports_from(tmp_path):
            assert os.environ["PYTHONPATH"] == os.pathsep.join([str(tmp_path.resolve()), *filter(None, [before])])
            raise RuntimeError("boom")
    assert os.environ.get("PYTHONPATH") == before


def test_a_kernel_that_imported_another_l2m_utils_is_a_problem(tmp_path):
    assert book.kernel_import_problem(None, tmp_path) is None  # the chapter imported none
    assert book.kernel_import_problem("/else/l2m_utils/__init__.py", tmp_path) is None  # no package here
    (tmp_path / "l2m_utils").mkdir()
    (tmp_path / "l2m_utils" / "__init__.py").write_text("")
    assert book.kernel_import_problem(str(tmp_path / "l2m_utils" / "__init__.py"), tmp_path) is None
    problem = book.kernel_import_problem("/else/l2m_utils/__init__.py", tmp_path)
    assert problem.startswith(f"the kernel imported l2m_utils from /else/l2m_utils, not from the root being "
                              f"executed ({tmp_path / 'l2m_utils'})")


def test_take_probe_removes_the_cell_and_reads_what_it_printed():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    probe = nbformat.v4.new_code_cell(book.PROBE_SOURCE, metadata={"tags": [book.PROBE_TAG]})
    probe.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                            text='{"__file__": "/r/l2m_utils/__init__.py", "__version__": "1"}\n')]
    nb.cells.append(probe)
    assert book.take_probe(nb) == {"__file__": "/r/l2m_utils/__init__.py", "__version__": "1"}
    assert [c.source for c in nb.cells] == ["x = 1"]
    assert book.take_probe(nb) == {"__file__": None, "__version__": None}  # no probe, nothing known
