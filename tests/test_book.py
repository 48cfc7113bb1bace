"""The runner (l2m_utils.book): execution, parameters, failures, snapshots, exercises, nbval files."""

import json
import os
import re
import textwrap
from pathlib import Path

import nbformat
import pytest
from chapter_runs import MYST_HEADER, printed

from l2m_utils import book
from l2m_utils import student_notebooks as SN

HEADER = MYST_HEADER

TINY = HEADER + textwrap.dedent('''\
    # Tiny

    ```{code-cell} ipython3
    :tags: [parameters]

    profile = None
    n = None
    ```

    ```{code-cell} ipython3
    from l2m_utils.params import Knob, resolve_parameters
    P = resolve_parameters(globals(), {"n": Knob(int, "n", low=1)},
                           {"smoke": {"n": 2}, "classroom": {"n": 3}, "gpu": {"n": 4}})
    ```

    ```{code-cell} ipython3
    # NBVAL_CHECK_OUTPUT
    print("square", P.n ** 2)
    ```

    ```{exercise}
    :label: tiny-ex
    Compute the cube.
    ```

    ```{solution-start} tiny-ex
    :class: dropdown
    ```

    ```{code-cell} ipython3
    print("cube", P.n ** 3)
    ```

    ```{solution-end}
    ```

    Closing words.
    ''')


@pytest.fixture
def repo(tmp_path: Path) -> book.Layout:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_tiny.md").write_text(TINY)
    return book.Layout(tmp_path)


def test_chapters_follow_the_toc(repo):
    (repo.root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n- file: notebooks/01_tiny\n")
    (repo.notebooks / "02_draft.md").write_text(TINY)
    assert [p.stem for p in repo.chapters()] == ["01_tiny"]
    (repo.root / "_toc.yml").write_text("")
    with pytest.raises(book.BookError, match="not a jb-book table of contents"):
        repo.chapters()


def test_select_by_number_stem_and_unknown(repo):
    assert [p.stem for p in repo.select(["01"])] == ["01_tiny"]
    assert [p.stem for p in repo.select(["01_tiny"])] == ["01_tiny"]
    with pytest.raises(book.BookError, match="unknown chapter '07'; known: 01_tiny"):
        repo.select(["07"])


def test_parse_overrides_reads_yaml():
    assert book.parse_overrides([("n", "5"), ("x", "0.5"), ("ls", "[1, 2]"), ("s", "pg19"), ("z", "None")]) == {
        "n": 5, "x": 0.5, "ls": [1, 2], "s": "pg19", "z": None}


@pytest.mark.parametrize("raw", ["", "  "])
def test_parse_overrides_refuses_an_empty_value(raw):
    """YAML reads an empty value as None (the profile's value): a typo such as `-p results_dir "$DIR"`
    with DIR unset must stop instead."""
    with pytest.raises(book.BookError, match=r"-p results_dir: the value is empty"):
        book.parse_overrides([("n", "5"), ("results_dir", raw)])
    assert book.parse_overrides([("s", "''")]) == {"s": ""}  # quoted: an empty string on purpose


def test_parse_overrides_reads_exponents_without_a_dot_as_numbers():
    """YAML 1.1 reads "1e-3" as a string; a reader typing a learning rate means the number."""
    assert book.parse_overrides([("a", "1e-3"), ("b", "-2E5"), ("c", "3e"), ("d", "1.5e-4"), ("e", "7")]) == {
        "a": 0.001, "b": -200000.0, "c": "3e", "d": 0.00015, "e": 7}


@pytest.mark.parametrize("raw", ["12:30", "1:5:7", "190:20:30.15", "2024-01-01", "2024-01-01 10:00:00"])
def test_parse_overrides_keeps_times_and_dates_as_text(raw):
    """YAML 1.1 reads 12:30 as 750 (base 60) and 2024-01-01 as a date: no parameter means either."""
    assert book.read_override(raw) == raw
    assert book.read_override(f"[{raw}, 3]") == [raw, 3]


def test_profile_given_with_p_is_the_profile_that_is_recorded(repo, capsys):
    assert book.main(["--root", str(repo.root), "execute", "1", "-p", "profile", "gpu", "-p", "n", "3"]) == 0
    nb = nbformat.read(repo.executed / "01_tiny.ipynb", as_version=4)
    assert nb.metadata["l2m"]["profile"] == "gpu" and "square 9" in printed(nb)
    assert "(profile gpu)" in capsys.readouterr().out
    assert book.main(["--root", str(repo.root), "execute", "01", "--profile", "smoke", "-p", "profile", "gpu"]) == 1
    assert "two profiles given: --profile smoke and -p profile gpu" in capsys.readouterr().err
    assert book.main(["--root", str(repo.root), "execute", "01", "-p", "profile", "huge"]) == 1
    assert "unknown profile 'huge'" in capsys.readouterr().err


def test_a_bad_profile_in_the_environment_is_a_runner_error(repo, capsys, monkeypatch):
    monkeypatch.setenv("L2M_PROFILE", "bogus")
    assert book.main(["--root", str(repo.root), "execute", "01"]) == 1
    err = capsys.readouterr().err
    assert "[l2m-book] error: environment variable L2M_PROFILE='bogus' is not a profile" in err
    assert "Traceback" not in err


def test_execute_with_override_records_provenance(repo):
    records = book.execute_many(repo, ["01"], "smoke", {"n": 7})
    assert records[0]["parameters"] == {"profile": "smoke", "n": 7}
    nb = nbformat.read(repo.executed / "01_tiny.ipynb", as_version=4)
    assert "square 49" in printed(nb)
    assert nb.metadata["l2m"]["profile"] == "smoke" and nb.metadata["l2m"]["wall_time_s"] > 0
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "remove-cell" in injected[0].metadata["tags"]
    assert "How this page was executed" in nb.cells[-1].source
    assert "{doc}`/book/how_to_run`" in nb.cells[-1].source  # the note links the page, not just names it
    assert book.error_outputs(nb) == []


def test_unknown_parameter_is_rejected_before_execution(repo):
    with pytest.raises(book.BookError, match=r"unknown parameter\(s\) \['m'\]; allowed: profile, n"):
        book.execute_chapter(repo.notebooks / "01_tiny.md", repo.executed / "x.ipynb", "smoke", {"m": 1}, repo.root)


def test_failing_notebook_fails_the_run(repo, capsys):
    code = book.main(["--root", str(repo.root), "execute", "01", "--profile", "smoke", "-p", "n", "-1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "ParameterError" in err and "'n'=-1 is too small" in err
    assert (repo.executed / "01_tiny.FAILED.ipynb").exists()
    assert not (repo.executed / "01_tiny.ipynb").exists()


def test_a_dead_kernel_fails_its_chapter_and_the_next_one_still_runs(repo, capsys):
    """A kernel that dies (a GPU out of memory, os._exit) is a chapter failure like an exception: the
    run goes on with the next chapter and fails at the end, naming the dead one."""
    dying = TINY.replace('print("square", P.n ** 2)', 'import os\nos._exit(1)')
    (repo.notebooks / "01_tiny.md").write_text(dying)
    (repo.notebooks / "02_tiny.md").write_text(TINY)
    with pytest.raises(book.BookError, match=r"1 notebook\(s\) failed:\n01_tiny failed: DeadKernelError"):
        book.execute_many(repo, ["01", "02"], "smoke", {})
    assert "[l2m-book] 02_tiny:" in capsys.readouterr().out
    assert "square 4" in printed(nbformat.read(repo.executed / "02_tiny.ipynb", as_version=4))


def test_snapshot_is_never_overwritten_unasked(repo):
    repo.snapshots.mkdir(parents=True)
    (repo.snapshots / "01_tiny.ipynb").write_text("{}")
    with pytest.raises(book.BookError, match="exists; pass --force"):
        book.snapshot(repo, ["01"], "gpu", {}, force=False)
    assert (repo.snapshots / "01_tiny.ipynb").read_text() == "{}"


def test_from_snapshots_requires_snapshots(repo):
    (repo.root / "_config.yml").write_text("")
    (repo.root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n- file: notebooks/01_tiny\n")
    (repo.root / "book").mkdir()
    with pytest.raises(book.BookError, match=r"no committed snapshot for \['01_tiny'\]"):
        book.stage(repo, from_snapshots=True)


def test_strip_solutions_removes_solution_cells():
    nb = book.strip_solutions(_tiny_nb())
    text = "\n".join(c.source for c in nb.cells)
    assert "Compute the cube" in text and "Closing words" in text
    assert "cube" not in "".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "solution-start" not in text and "solution-end" not in text


TWO_EXERCISES = HEADER + textwrap.dedent('''\
    ```{code-cell} ipython3
    x = 2
    ```

    ## Exercises

    ```{exercise}
    :label: one
    First question.
    ```

    ```{solution-start} one
    :class: dropdown
    ```

    First answer's prose.

    ```{code-cell} ipython3
    print("first answer")
    ```

    ```{solution-end}
    ```

    ```{exercise}
    :label: two
    Second question.
    ```

    ```{solution-start} two
    :class: dropdown
    ```

    Second answer's prose.

    ```{code-cell} ipython3
    print("second answer")
    ```

    ```{solution-end}
    ```

    ```{code-cell} ipython3
    :tags: [solution]
    print("tagged answer")
    ```

    ```{solution} two
    An old-style solution block.
    ```

    Closing words.
    ''')


def test_strip_solutions_when_one_cell_ends_a_solution_and_starts_the_next():
    """Jupytext joins the Markdown between two solutions into one cell: end, next exercise, start."""
    import jupytext

    nb = jupytext.reads(TWO_EXERCISES, fmt="md:myst")
    assert any("solution-end" in c.source and "solution-start" in c.source for c in nb.cells)
    stripped = book.strip_solutions(nb)
    text = "\n".join(c.source for c in stripped.cells)
    assert [c.source for c in stripped.cells if c.cell_type == "code"] == ["x = 2"]
    for kept in ("First question.", "Second question.", "Closing words.", "## Exercises"):
        assert kept in text
    for removed in ("answer", "solution", "old-style"):
        assert removed not in text, removed


@pytest.mark.parametrize("broken, message", [
    ("```{solution-start} a\n```\n\nno end", "solution-start has no matching solution-end"),
    ("```{solution-end}\n```", "solution-end without a matching solution-start"),
    ("```{solution-start} a\n```\n\n```{solution-start} b\n```", "solution-start without a matching solution-end"),
])
def test_strip_solutions_rejects_unbalanced_markers(broken, message):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(broken)])
    with pytest.raises(book.BookError, match=message):
        book.strip_solutions(nb)


@pytest.mark.parametrize("source", sorted(book.Layout(book.ROOT).notebooks.glob("[0-9][0-9]_*.md")),
                         ids=lambda p: p.stem)
def test_student_notebooks_keep_every_exercise_and_no_solution(source):
    """Checked against the chapter's text itself: the code cells between solution-start and
    solution-end are gone, every other code cell and every exercise is kept."""
    text = source.read_text(encoding="utf-8")
    solutions = re.findall(r"^```\{solution-start\}.*?^```\{solution-end\}", text, flags=re.M | re.S)
    assert solutions, "the chapter has no solutions"
    in_solutions = sum(block.count("```{code-cell}") for block in solutions)
    stripped = book.strip_solutions(book.to_notebook(source))
    kept = "\n".join(c.source for c in stripped.cells)
    assert sum(c.cell_type == "code" for c in stripped.cells) == text.count("```{code-cell}") - in_solutions
    assert re.findall(r"^:label: (\S+-ex-\S+)", kept, flags=re.M) == re.findall(
        r"^```\{exercise\}\n:label: (\S+)", text, flags=re.M)
    assert "solution-start" not in kept and "solution-end" not in kept
    for block in solutions:  # the first line of each solution's prose is gone
        prose = [line for line in block.splitlines()[3:] if line.strip() and not line.startswith(("```", ":"))]
        assert not prose or prose[0] not in kept, prose[0]


def test_student_notebooks_number_the_exercises_give_answer_cells_and_hide_glue():
    import jupytext

    text = TWO_EXERCISES.replace("## Exercises", "## Exercises\n\nThe run gave {glue:text}`x:.2f` nats.")
    student = SN.for_students(book.strip_solutions(jupytext.reads(text, fmt="md:myst")))
    md = [c.source for c in student.cells if c.cell_type == "markdown"]
    assert not any("{exercise}" in m or "{glue" in m for m in md)
    assert any(SN.GLUE_PLACEHOLDER in m for m in md)
    kinds = [(c.cell_type, c.source.splitlines()[0] if c.source else "") for c in student.cells]
    first, second = kinds.index(("markdown", "**Exercise 1** (`one`)")), kinds.index(("markdown", "**Exercise 2** (`two`)"))
    assert kinds[first + 1] == kinds[second + 1] == ("code", SN.ANSWER_CELL.strip())
    assert "First question." in student.cells[first].source and "Second question." in student.cells[second].source
    assert "Closing words." in student.cells[-1].source  # text after the last exercise keeps its place
    assert [k for k in kinds if k[1].startswith("## Exercises")] and kinds.index(
        next(k for k in kinds if k[1].startswith("## Exercises"))) < first


def _tiny_nb():
    import jupytext

    return jupytext.reads(TINY, fmt="md:myst")


def test_exercises_are_written(repo):
    (path,) = book.write_exercises(repo)
    nb = nbformat.read(path, as_version=4)
    assert not any("P.n ** 3" in c.source for c in nb.cells)
    assert any(c.source == SN.ANSWER_CELL for c in nb.cells)  # written for students (for_students)
    # no _config.yml naming a repository: nothing to clone, so no setup cell
    assert not any(book.LAUNCH_TAG in c.metadata.get("tags", []) for c in nb.cells)


def test_nbval_prepare_needs_expected_outputs(repo):
    with pytest.raises(book.BookError, match="no expected output for a checked cell"):
        book.prepare_nbval(repo)
    repo.nbval_expected.mkdir(parents=True)
    marked = [c for c in _tiny_nb().cells if c.cell_type == "code" and c.source.startswith(book.NBVAL_MARKER)]
    ref = {"cells": [{"source": marked[0].source,
                      "outputs": [{"output_type": "stream", "name": "stdout", "text": "square 4\n"}]}]}
    (repo.nbval_expected / "01_tiny.json").write_text(json.dumps(ref))
    (path,) = book.prepare_nbval(repo)
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(book.NBVAL_MARKER))
    assert cell.outputs[0]["text"] == "square 4\n"
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_nbval_prepare_finds_the_marker_below_a_comment_and_refuses_stale_references(repo):
    """nbval checks a cell whose marker sits on any line; a reference that matches no checked cell
    would check nothing, so both must stop the preparation until `make nbval-refs` is re-run."""
    book.refresh_nbval_refs(repo)
    (repo.notebooks / "01_tiny.md").write_text(TINY.replace(
        '# NBVAL_CHECK_OUTPUT\nprint("square", P.n ** 2)', '# the square\n# NBVAL_CHECK_OUTPUT\nprint("square", P.n ** 2)'))
    with pytest.raises(book.BookError, match=r"1 expected output\(s\) in 01_tiny.json match no checked cell"):
        book.prepare_nbval(repo)
    book.refresh_nbval_refs(repo)
    (path,) = book.prepare_nbval(repo)
    cell = next(c for c in nbformat.read(path, as_version=4).cells if "square" in c.source and c.cell_type == "code")
    assert cell.execution_count == 1 and cell.outputs[0]["text"] == "square 4\n"


def test_the_nbval_marker_is_read_as_nbval_reads_it():
    cell = nbformat.v4.new_code_cell
    assert all(book._marked(cell(src)) for src in ("# NBVAL_CHECK_OUTPUT\nprint(1)", "#NBVAL_CHECK_OUTPUT\nprint(1)",
                                                   "x = 1\n##  NBVAL_CHECK_OUTPUT\nprint(x)"))
    assert not any(book._marked(cell(src)) for src in ("print('# NBVAL_CHECK_OUTPUT')", "# NBVAL_CHECK_OUTPUTS",
                                                       "# check: NBVAL_CHECK_OUTPUT"))
    assert not book._marked(nbformat.v4.new_markdown_cell("# NBVAL_CHECK_OUTPUT"))


def test_snapshot_merge_takes_new_prose_and_rejects_changed_code(repo):
    book.execute_many(repo, ["01"], "smoke", {}, out_dir=repo.snapshots)
    snap = nbformat.read(repo.snapshots / "01_tiny.ipynb", as_version=4)
    edited = _tiny_nb()
    edited.cells[0].source = "# Tiny, with better prose"
    merged = book.merge_snapshot(snap, edited, "01_tiny")
    assert merged.cells[0].source == "# Tiny, with better prose"
    assert "square 4" in printed(merged)
    assert "How this page was executed" in merged.cells[-1].source
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in merged.cells)
    # a caption (or tag) added to a code cell since the snapshot is prose: it is taken, outputs kept
    captioned = _tiny_nb()
    cell = next(c for c in captioned.cells if "square" in c.source)
    cell.metadata = {"mystnb": {"figure": {"caption": "Squares.", "name": "tiny-fig"}}, "tags": ["hide-input"]}
    merged = book.merge_snapshot(nbformat.read(repo.snapshots / "01_tiny.ipynb", as_version=4), captioned, "01_tiny")
    done = next(c for c in merged.cells if c.cell_type == "code" and "square" in c.source)
    assert done.metadata["mystnb"]["figure"]["caption"] == "Squares." and done.metadata["tags"] == ["hide-input"]
    assert "papermill" in done.metadata and "square 4" in printed(merged)
    # a snapshot written before the note linked the page gets the link when merged
    old_note = snap.cells[-1].source.replace("See {doc}`/book/how_to_run`", "See *How to run the notebooks*")
    snap.cells[-1].source = old_note
    relinked = book.merge_snapshot(snap, _tiny_nb(), "01_tiny")
    assert "See {doc}`/book/how_to_run`" in relinked.cells[-1].source and "*How to run" not in relinked.cells[-1].source
    changed = _tiny_nb()
    next(c for c in changed.cells if "square" in c.source).source += "\nprint('more')"
    with pytest.raises(book.BookError, match="snapshot of 01_tiny is stale: code cell 3 differs"):
        book.merge_snapshot(nbformat.read(repo.snapshots / "01_tiny.ipynb", as_version=4), changed, "01_tiny")


def test_committed_snapshots_are_current():
    layout = book.Layout(book.ROOT)
    snaps = sorted(layout.snapshots.glob("*.ipynb"))
    assert snaps, f"no snapshots found in {layout.snapshots}"
    for snap in snaps:
        source = layout.notebooks / f"{snap.stem}.md"
        assert source.exists(), f"snapshot {snap.name} has no chapter"
        reason = book.snapshot_code_mismatch(nbformat.read(snap, as_version=4), book.to_notebook(source))
        assert reason is None, f"{snap.name} is stale: {reason}"


# Printed lines of committed snapshots known to exceed the output column, by chapter: they print lists
# of block lengths that reach 2048 only at the `gpu` profile.  The fix is a code change (print_wrapped),
# which makes the snapshot stale, so it waits for the chapter's next re-make on the GPU machine; this
# list must then shrink (the test fails while it names a line that is no longer there).
KNOWN_LONG_SNAPSHOT_LINES = {
    "04_bipartite_mi": ("device: cuda, estimator in bfloat16; block lengths L = ", "L/ell = 2: ell = ",
                        "L/ell = 3: ell = ", "L/ell = 4: ell = "),
}


def test_committed_snapshots_fit_the_output_column():
    """The rendered-book test checks printed lines at the smoke profile; a snapshot's lines are the
    `gpu` profile's, longer lists and larger numbers, and the published page shows them.  Every printed
    line of a committed snapshot fits :data:`l2m_utils.printing.OUTPUT_WIDTH`, except the known ones
    above, each of which must still be there (remove it from the list once its chapter is re-made)."""
    from l2m_utils.printing import OUTPUT_WIDTH

    for snap in sorted(book.Layout(book.ROOT).snapshots.glob("*.ipynb")):
        nb = nbformat.read(snap, as_version=4)
        # a cell's stdout may be stored in several stream outputs (one per flush), splitting a line:
        # join them first (printed text only; a displayed value is rendered, not printed)
        printed = ["".join(out.get("text", "") for out in cell.get("outputs", [])
                           if out.get("output_type") == "stream" and out.get("name") == "stdout")
                   for cell in nb.cells if cell.cell_type == "code"]
        long = [line for text in printed for line in text.splitlines() if len(line) > OUTPUT_WIDTH]
        known = KNOWN_LONG_SNAPSHOT_LINES.get(snap.stem, ())
        unexpected = [line for line in long if not line.startswith(known or "\0")]
        assert not unexpected, f"{snap.name}: printed lines over {OUTPUT_WIDTH} characters: {unexpected[:2]}"
        gone = [prefix for prefix in known if not any(line.startswith(prefix) for line in long)]
        assert not gone, f"{snap.name}: no longer prints a long line starting {gone}: remove it from the list"


@pytest.mark.parametrize("source", sorted(book.Layout(book.ROOT).notebooks.glob("[0-9][0-9]_*.md")), ids=lambda p: p.stem)
def test_papermill_sees_every_parameter_of_each_chapter(source, tmp_path):
    """papermill silently skips a parameters line it cannot parse (an '=' inside the comment does
    it), and the knob then cannot be set from the command line.  Every assignment must be seen,
    and every parameter must be a knob of the chapter."""
    import ast

    nb = book.to_notebook(source)
    i, cell = next((i, c) for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    assigned = [t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign) for t in node.targets]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    assert book.declared_parameters(path) == assigned
    knobs = set(re.findall(r'^\s+"(\w+)": (?:Knob|device_knob)\(', nb.cells[i + 1].source, re.M))
    assert set(assigned) - {"profile"} == knobs


def test_parse_overrides_makes_the_shells_relative_paths_absolute(tmp_path, monkeypatch):
    """Chapters run in notebooks/, so a path typed relative to the shell must be made absolute."""
    (tmp_path / "books").mkdir()
    (tmp_path / "runs" / "gpt2").mkdir(parents=True)
    (tmp_path / "bpe").mkdir()  # a folder that happens to share a knob value's name
    monkeypatch.setenv("HOME", str(tmp_path))
    got = book.parse_overrides([("dataset", "local:books"), ("tokenizer", "./runs/gpt2"), ("estimator", "runs/gpt2"),
                                ("a", "meta-llama/Llama-3.2-1B"), ("b", "bpe"), ("c", "~/books"),
                                ("d", "local:missing"), ("e", "local:/abs/path"), ("n", "3")], cwd=tmp_path)
    assert got == {"dataset": f"local:{tmp_path / 'books'}", "tokenizer": str(tmp_path / "runs" / "gpt2"),
                   "estimator": str(tmp_path / "runs" / "gpt2"), "a": "meta-llama/Llama-3.2-1B", "b": "bpe",
                   "c": str(tmp_path / "books"), "d": f"local:{tmp_path / 'missing'}", "e": "local:/abs/path", "n": 3}


def test_a_bare_name_that_is_also_a_folder_here_stays_a_name_with_a_note(tmp_path, capsys):
    (tmp_path / "my-tok").mkdir()
    assert book.parse_overrides([("tokenizer", "my-tok"), ("estimator", "gpt2")], cwd=tmp_path) == {
        "tokenizer": "my-tok", "estimator": "gpt2"}
    err = capsys.readouterr().err
    assert err == ("[l2m-book] note: -p tokenizer my-tok is read as the name 'my-tok', not as the folder my-tok/ "
                   "here (the chapters run in notebooks/); write ./my-tok for the folder\n")
    book.parse_overrides([("tokenizer", "./my-tok")], cwd=tmp_path)
    assert capsys.readouterr().err == ""


def test_commit_is_dirty_for_changed_code_but_not_for_changed_outputs(tmp_path, monkeypatch, capsys):
    """A snapshot of several chapters writes book/snapshots/ before the next chapter runs, and a sweep
    writes results/: neither makes the recorded commit "+dirty"; a changed code file does."""
    import subprocess

    monkeypatch.delenv("L2M_COMMIT", raising=False)

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    for rel in ("l2m_utils/x.py", "book/snapshots/01_a.ipynb", "results/ch06/run.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("v1\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    clean = book.git_commit(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{7,}", clean)
    (tmp_path / "book/snapshots/01_a.ipynb").write_text("v2\n")
    (tmp_path / "results/ch06/run.json").write_text("v2\n")
    assert book.git_commit(tmp_path) == clean
    (tmp_path / "l2m_utils/x.py").write_text("v2\n")
    assert book.git_commit(tmp_path) == clean + "+dirty"
    monkeypatch.setenv("L2M_COMMIT", "abc1234")
    assert book.git_commit(tmp_path) == "abc1234"
    # the runner's `commit` command prints the same id (what the GPU scripts are given as L2M_COMMIT)
    monkeypatch.delenv("L2M_COMMIT")
    assert book.main(["--root", str(tmp_path), "commit"]) == 0
    assert capsys.readouterr().out.strip() == clean + "+dirty"


def test_committed_results_name_committed_code():
    """Every committed result (chapter 6's runs, the snapshots' provenance) must name a commit, not
    uncommitted code: a "+dirty" or "unknown" id cannot be traced back to the code that made it."""
    root = Path(__file__).resolve().parents[1]
    bad = []
    recorded = [(path, json.loads(path.read_text()).get("provenance", {}).get("git_commit"))
                for path in sorted((root / "results").rglob("*.json"))]
    recorded += [(path, json.loads(path.read_text())["metadata"].get("l2m", {}).get("commit"))
                 for path in sorted((root / "book" / "snapshots").glob("*.ipynb"))]
    assert recorded
    for path, commit in recorded:
        if commit is None or not re.fullmatch(r"[0-9a-f]{7,40}", commit):
            bad.append(f"{path.relative_to(root)}: {commit!r}")
    assert not bad, "results that do not name a clean commit (re-make them from a commit):\n" + "\n".join(bad)


@pytest.mark.parametrize("commit, allow, refused", [
    ("", "0", True), ("unknown", "0", True), ("abc1234+dirty", "0", True),
    ("abc1234", "0", False), ("abc1234+dirty", "1", False),
])
def test_gpu_scripts_refuse_an_unknown_or_dirty_commit(commit, allow, refused, tmp_path):
    """The GPU machine has no git: every result there records L2M_COMMIT, so the scripts refuse to
    start without one, or with uncommitted code (+dirty), unless ALLOW_DIRTY=1 (a try-out)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "L2M_COMMIT": commit, "ALLOW_DIRTY": allow, "PY": sys.executable}
    done = subprocess.run(["bash", "-c", f"source {root}/scripts/_gpu_common.sh; cd {tmp_path}; gpu_commit; "
                           'echo "ok $L2M_COMMIT"'], env=env, capture_output=True, text=True, timeout=60)
    if refused:
        assert done.returncode == 2 and "L2M_COMMIT" in done.stderr, done
    else:
        assert done.returncode == 0 and done.stdout.strip() == f"ok {commit}", done


def test_overrides_are_checked_against_every_chapter_before_any_runs(repo, capsys):
    (repo.notebooks / "02_other.md").write_text(TINY.replace("n = None", "n = None\nm = None").replace(
        '{"n": Knob(int, "n", low=1)}', '{"n": Knob(int, "n", low=1), "m": Knob(int, "m", low=1)}').replace(
        '{"n": 2}', '{"n": 2, "m": 1}').replace('{"n": 3}', '{"n": 3, "m": 1}').replace('{"n": 4}', '{"n": 4, "m": 1}'))
    assert book.main(["--root", str(repo.root), "execute", "-p", "m", "2"]) == 1
    err = capsys.readouterr().err
    assert "01_tiny: unknown parameter(s) ['m']; allowed: profile, n" in err and "nothing was executed" in err
    assert not (repo.executed / "02_other.ipynb").exists()
    assert book.main(["--root", str(repo.root), "execute", "02", "-p", "m", "2", "-p", "profile", "None"]) == 0


def test_unrecognised_solution_directives_are_refused_not_leaked():
    for written in (":::{solution-start} a\n:::\n\nsecret\n\n:::{solution-end}\n:::",
                    "  ```{solution-start} a\n  ```\n\nsecret\n\n  ```{solution-end}\n  ```"):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(written)])
        with pytest.raises(book.BookError, match="solution directive the stripper does not recognise"):
            book.strip_solutions(nb)


def test_quoted_values_stay_strings():
    assert book.parse_overrides([("a", "'1e5'"), ("b", "'08'"), ("c", "1e5")]) == {"a": "1e5", "b": "08", "c": 100000.0}


def test_digits_are_decimal_and_only_true_false_are_booleans():
    # YAML 1.1 (PyYAML) reads 012 as octal 10 and yes/on/off/no as booleans: a seed or a name would change silently
    got = book.parse_overrides([("a", "012"), ("b", "08"), ("c", "-7"), ("d", "yes"), ("e", "On"), ("f", "no"),
                                ("g", "true"), ("h", "False")])
    assert got == {"a": 12, "b": 8, "c": -7, "d": "yes", "e": "On", "f": "no", "g": True, "h": False}


def test_list_items_follow_the_same_rules_as_single_values():
    """YAML 1.1 inside a list would read 1e-2 as a string, 012 as octal 10 and yes/no as booleans."""
    got = book.parse_overrides([("a", "[1, 1e-2, 1e-3, 1.5e4]"), ("b", "[012, 3, -08]"), ("c", "[yes, no, On, true]"),
                                ("d", "[None, null, ~, '1e5', '012']"), ("e", "[[012, 1e-3], {k: 08, v: [off, 2e3]}]")])
    assert got == {"a": [1, 0.01, 0.001, 15000.0], "b": [12, 3, -8], "c": ["yes", "no", "On", True],
                   "d": [None, None, None, "1e5", "012"], "e": [[12, 0.001], {"k": 8, "v": ["off", 2000.0]}]}
    assert [type(v) for v in got["a"]] == [int, float, float, float]


def test_one_reader_for_single_values_and_list_items():
    for raw in ("012", "08", "-7", "yes", "on", "true", "False", "1e-3", "-2E5", "3e", "1.5e-4", "0.5", "None",
                "null", "~", "'1e5'", "pg19", "0x1F", "1_000", "-.5"):
        single = book.parse_overrides([("x", raw)])["x"]
        assert book.parse_overrides([("x", f"[{raw}]")])["x"] == [single], raw
    assert book.parse_overrides([("x", "[1,")]) == {"x": "[1,"}  # not YAML: the text (an empty value: refused)


def test_only_top_level_strings_are_made_absolute_paths(tmp_path):
    (tmp_path / "runs").mkdir()
    got = book.parse_overrides([("a", "./runs"), ("b", "[./runs, local:runs]")], cwd=tmp_path)
    assert got == {"a": str(tmp_path / "runs"), "b": ["./runs", "local:runs"]}


@pytest.mark.parametrize("page", ["book/how_to_run.md", "README.md"])
def test_how_to_run_lists_the_committed_snapshots(page):
    """The page says which chapters the published book shows from a snapshot: the list must follow
    book/snapshots/ (a GPU session that commits a snapshot updates the sentence, or this fails)."""
    root = Path(__file__).resolve().parents[1]
    text = " ".join((root / page).read_text().split())
    # "At present chapters 1, 2 and 5 have snapshots[; chapter(s) 4 (and 6) (is|are) shown at the `classroom` profile ...]"
    m = re.search(r"At present (?:every chapter has a snapshot|chapters? ([\d, and]+) (?:has a snapshot|have snapshots))"
                  r"(?:; chapters? ([\d, and]+) (?:is|are) shown at the `classroom` profile)?", text)
    assert m, f"{page} no longer says which chapters have snapshots"
    chapters = {int(p.name[:2]) for p in (root / "notebooks").glob("[0-9][0-9]_*.md")}
    listed = {int(n) for n in re.findall(r"\d+", m.group(1))} if m.group(1) else set(chapters)
    waiting = {int(n) for n in re.findall(r"\d+", m.group(2) or "")}
    committed = {int(p.name[:2]) for p in (root / "book" / "snapshots").glob("[0-9][0-9]_*.ipynb")}
    assert listed == committed
    assert waiting == chapters - committed


def test_cpu_model_reads_cpuinfo_and_falls_back(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Example CPU 9000 @ 3.00GHz\n"
                    "processor\t: 1\nmodel name\t: Example CPU 9000 @ 3.00GHz\n")
    assert book.cpu_model(info) == "Example CPU 9000 @ 3.00GHz"
    import platform

    assert book.cpu_model(tmp_path / "missing") == (platform.processor() or platform.machine())


def test_device_description_without_a_gpu(monkeypatch):
    monkeypatch.setattr(book.shutil, "which", lambda name: None)  # no nvidia-smi
    text = book.device_description()
    assert text.startswith("CPU: ") and text.endswith("cores (no GPU)")
    assert f", {__import__('os').cpu_count()} cores" in text


def test_device_description_names_the_gpus(monkeypatch):
    monkeypatch.setattr(book.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    result = type("R", (), {"stdout": "NVIDIA H200\nNVIDIA H200\n"})()
    monkeypatch.setattr(book.subprocess, "run", lambda *a, **k: result)
    assert book.device_description() == "GPU: 2 × NVIDIA H200"


def test_refresh_nbval_refs_stores_the_marked_cells_smoke_outputs(repo):
    book.refresh_nbval_refs(repo)
    ref = json.loads((repo.nbval_expected / "01_tiny.json").read_text())
    assert ref["notebook"] == "01_tiny" and ref["profile"] == "smoke"
    (cell,) = ref["cells"]  # only the marked cell
    assert cell["source"].startswith("# NBVAL_CHECK_OUTPUT")
    assert cell["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "square 4\n"}]  # smoke: n = 2


def test_nbval_references_merge_the_chunks_of_one_stream():
    """How the kernel splits a printout into stream chunks varies between runs; the reference keeps one."""
    outputs = [{"output_type": "stream", "name": "stdout", "text": "a\n"},
               {"output_type": "stream", "name": "stdout", "text": "b\n"},
               {"output_type": "stream", "name": "stderr", "text": "w\n"},
               {"output_type": "stream", "name": "stdout", "text": "c\n"}]
    assert book._clean_outputs(outputs) == [{"output_type": "stream", "name": "stdout", "text": "a\nb\n"},
                                            {"output_type": "stream", "name": "stderr", "text": "w\n"},
                                            {"output_type": "stream", "name": "stdout", "text": "c\n"}]
    assert outputs[0]["text"] == "a\n"  # the executed notebook's outputs are not changed
