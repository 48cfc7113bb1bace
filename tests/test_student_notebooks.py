"""The student notebooks (`make exercises`: chapters without their solutions) run from top to bottom:
no cell after an exercise may need a name that only a removed solution defines."""

import pytest
from chapter_runs import execute_smoke

from l2m_utils import book

CHAPTERS = [p.stem for p in book.Layout(book.ROOT).select(())]


@pytest.mark.slow
@pytest.mark.parametrize("stem", CHAPTERS)
def test_the_student_notebook_runs_without_the_solutions(stem, tmp_path, monkeypatch):
    full = book.to_notebook(book.Layout(book.ROOT).notebooks / f"{stem}.md")
    # exactly what `make exercises` writes: solutions stripped, exercises as cells with answer cells
    student = book.for_students(book.strip_solutions(book.to_notebook(book.Layout(book.ROOT).notebooks / f"{stem}.md")))
    assert sum(c.source == book.ANSWER_CELL for c in student.cells) >= 3, "an answer cell after each exercise"
    real = book.to_notebook
    monkeypatch.setattr(book, "to_notebook", lambda source: book.for_students(book.strip_solutions(real(source))))
    solution_code = ({c.source for c in full.cells if c.cell_type == "code"}
                     - {c.source for c in student.cells if c.cell_type == "code"})
    assert solution_code, "the chapter has solutions to remove"
    nb, _ = execute_smoke(stem, {}, tmp_path)  # asserts that no cell has an error output
    assert not any("solution-start" in c.source for c in nb.cells if c.cell_type == "markdown")
    assert not solution_code & {c.source for c in nb.cells if c.cell_type == "code"}  # the student's version ran
