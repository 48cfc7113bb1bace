"""Student notebooks: a chapter without its solutions, in plain Markdown.  Introduced in the
teaching page ("Teaching with this book": ``make exercises``).

:func:`for_students` turns each ```` ```{exercise} ```` block into **Exercise 2.3** (the book's
number) followed by an empty answer cell, and spells every MyST construct the chapters use (theorem and proof directives,
admonitions, labelled math, ``{cite}``, ``{prf:ref}``, ``{ref}``, ``{eq}``, ``{doc}``, ``{glue}``, ...)
as plain Markdown with the numbers and author-year citations the rendered book shows, so that the
notebooks read well in any Jupyter, Colab or VS Code.  Solutions are removed before, by
:func:`l2m_utils.book.strip_solutions`; :func:`l2m_utils.book.write_exercises` writes the files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:  # annotations only
    from nbformat import NotebookNode

from .book import BookError, Layout, toc_entries


# an exercise fenced with three or more backticks (four when it holds a code block) or colons, closed by
# the same fence
_EXERCISE_BLOCK = re.compile(r"^(?P<fence>`{3,}|:{3,})\{exercise\}[^\n]*\n(?P<options>(?::[\w-]+:[^\n]*\n)*)"
                             r"(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)
_GLUE_ROLE = re.compile(r"\{(?P<name>glue(?::\w+)?)\}`(?P<content>[^`]*)`")
#: What a student notebook shows instead of a number the rendered book fills in from the run, when
#: there is no executed notebook to take it from (or it lacks that value).
GLUE_PLACEHOLDER = "(value shown in the rendered book)"
_GLUE_MIME = "text/plain"
ANSWER_CELL = "# your answer\n"


def for_students(nb: NotebookNode, layout: Layout | None = None, source: Path | None = None,
                 book_context: _StudentContext | None = None, run: Any = None) -> NotebookNode:
    """Make a chapter without solutions readable in plain Jupyter, Colab or VS Code (for students).

    Each ```` ```{exercise} ```` block becomes a Markdown cell of its own, **Exercise 2.3** (its label; the book's number),
    followed by an empty code cell for the answer.  ``{glue}`` roles, the numbers and findings the
    book fills in from its run, read as the book formats them from ``run`` (the chapter's executed
    notebook, see :func:`glued_values`; a first cell then says which run) and as
    :data:`GLUE_PLACEHOLDER` without it or where it lacks the value.  The rest of the MyST syntax becomes plain Markdown
    (:func:`_myst_to_markdown`): theorems and definitions with the book's numbers, proofs ending in
    ∎, admonitions as quotes, citations as author and year, references as the numbers and titles the
    book shows; a code cell that draws a numbered figure (``mystnb.figure`` metadata) is followed by its
    caption, "*Figure 2.1 (drawn by the cell above):* ...".  With ``layout`` (and ``source``, the
    chapter's path) the chapter's numbers, the other chapters' labels and the bibliography are the book's; without, only the notebook's own labels
    resolve (numbered 1, 2, ...) and a citation reads as its key in brackets.  Directives and roles it
    does not know stay as written.  ``book_context`` (:func:`read_book_context` of ``layout``) saves
    reading the whole book again for each chapter.  Raises :class:`BookError` where a solution
    directive is left.
    """
    leftover = next((c.source for c in nb.cells if c.cell_type == "markdown" and "{solution" in c.source), None)
    if leftover is not None:
        raise BookError(f"strip the solutions first (strip_solutions): {leftover[:80]!r}")
    if book_context is None and layout is not None:
        book_context = read_book_context(layout)
    context = _in_chapter(book_context, source) if book_context is not None else _StudentContext(None, {}, {}, {})
    if run is not None:
        context = replace(context, glued=glued_values(run))
    # the chapter's own labels as numbered on its full source (solutions included), as in the book
    own = {label: t for label, t in context.targets.items() if context.chapter is not None and t.chapter == context.chapter}
    if not own:  # a notebook outside the book: a first pass finds what the notebook itself numbers
        numbering = _Tally(context.chapter, {}, {})
        _student_cells(nb.cells, context, numbering)
        context = replace(context, targets={**numbering.found, **context.targets})
    tally = _Tally(context.chapter, {}, {}, own)
    nb.cells = _student_cells(nb.cells, context, tally)
    if tally.pasted:
        import nbformat

        nb.cells.insert(0, nbformat.v4.new_markdown_cell(_run_note(run)))
    return nb


def glued_values(run: Any) -> dict[str, str]:
    """Name -> ``text/plain`` of each value an executed notebook ``run`` glued (``glue(name, value)``:
    a display output whose metadata names it, under papermill's MIME prefix or none)."""
    values: dict[str, str] = {}
    for cell in run.cells:
        for output in cell.get("outputs", ()):
            record = output.get("metadata", {}).get("scrapbook")
            if not record or "name" not in record:
                continue
            data = output.get("data", {})
            text = data.get(record.get("mime_prefix", "") + _GLUE_MIME, data.get(_GLUE_MIME))
            if text is not None:
                values[record["name"]] = "".join(text) if isinstance(text, list) else text
    return values


def _run_note(run) -> str:
    """The first cell of a student notebook whose text carries the values of the book's run."""
    record = run.metadata.get("l2m", {})
    about = ", ".join([f"{key} {record[key]}" for key in ("profile", "commit") if record.get(key)]
                      + ([str(record["date"])] if record.get("date") else []))
    return (f"*The numbers and findings in the text below are those of the book's run of this chapter"
            f"{' (' + about + ')' if about else ''}. Running the notebook prints those of your own run, "
            f"which match them only with the same profile and parameters.*")


def _pasted(key: str, spec: str, context: _StudentContext, tally: _Tally) -> str:
    """The run's value ``key`` as the book formats it with ``spec`` (myst-nb's rules), or
    :data:`GLUE_PLACEHOLDER`.  A value glued in another notebook (``doc::name``) is not at hand."""
    if "::" in key or key not in context.glued:
        return GLUE_PLACEHOLDER
    from myst_nb.core.variables import format_plain_text  # what the rendered book does with the value

    try:
        text = format_plain_text(context.glued[key], spec)
    except (ValueError, TypeError):
        return GLUE_PLACEHOLDER
    tally.pasted += 1
    return text


def _student_cells(cells: list, context: _StudentContext, tally: _Tally) -> list:
    """New cells for ``cells`` (left as they are): exercises split off with an answer cell, Markdown
    in plain Markdown (see :func:`for_students`)."""
    import nbformat

    out = []
    for cell in cells:
        if cell.cell_type != "markdown":
            out.append(cell)
            caption = _cell_figure(cell.get("metadata", {}), tally)
            if caption is not None:
                out.append(nbformat.v4.new_markdown_cell(
                    f"*{caption[0]} (drawn by the cell above):* {_myst_to_markdown(caption[1], context, tally)}".strip()))
            continue
        text, pos = _GLUE_ROLE.sub(lambda m: _glue_role(m, context, tally), cell.source), 0
        for block in _EXERCISE_BLOCK.finditer(text):
            before = _myst_to_markdown(text[pos:block.start()], context, tally)
            if before:
                out.append(nbformat.v4.new_markdown_cell(before))
            label = re.search(r"^:label:\s*(\S+)", block.group("options"), flags=re.M)
            label = label.group(1) if label else None
            heading = _exercise_heading(tally.number("Exercise", label), label)
            out.append(nbformat.v4.new_markdown_cell(
                f"{heading}\n\n{_myst_to_markdown(block.group('body'), context, tally)}".strip()))
            out.append(nbformat.v4.new_code_cell(ANSWER_CELL))
            pos = block.end()
        rest = _myst_to_markdown(text[pos:], context, tally)
        if rest and pos == 0:  # a cell without exercises keeps its metadata
            out.append(nbformat.from_dict({**cell, "source": rest}))
        elif rest:
            out.append(nbformat.v4.new_markdown_cell(rest))
    return out


def _glue_role(match: re.Match, context: _StudentContext, tally: _Tally) -> str:
    """One ``{glue}``/``{glue:text}`` role (:data:`_GLUE_ROLE`) as text (see :func:`_pasted`):
    ``{glue:text}`name:format``` as myst-nb splits it (format ``s`` when none is given), ``{glue}``
    as the value itself."""
    content = match["content"]
    if match["name"] == "glue:text":
        key, spec = content.rsplit(":", 1) if ":" in content else (content, "s")
        return _pasted(key, spec, context, tally)
    if match["name"] == "glue":
        return _pasted(content, "", context, tally)
    return GLUE_PLACEHOLDER


def _exercise_heading(number: str, label: str | None) -> str:
    """``**Exercise 2.3** (`label`)``: the heading of an exercise cell."""
    return f"**Exercise {number}**" + (f" (`{label}`)" if label else "")


# --- MyST in plain Markdown -------------------------------------------------------------------------

#: sphinx-proof's numbered directives (``{prf:theorem}``, ...); ``{prf:proof}`` has no number.
_PROOF_KINDS = frozenset({"axiom", "theorem", "lemma", "algorithm", "definition", "remark", "conjecture",
                          "corollary", "criterion", "example", "property", "observation", "proposition",
                          "assumption", "notation"})
#: Admonitions titled by their name; those in :data:`_TITLED_ADMONITIONS` take the title as argument.
_NAMED_ADMONITIONS = {"note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important",
                      "warning": "Warning", "caution": "Caution", "attention": "Attention", "danger": "Danger",
                      "error": "Error", "seealso": "See also"}
_TITLED_ADMONITIONS = frozenset({"admonition", "dropdown", "topic", "sidebar", "margin"})
_QUOTE_DIRECTIVES = frozenset({"epigraph", "pull-quote", "highlights"})
_CODE_DIRECTIVES = frozenset({"code", "code-block", "sourcecode", "code-cell"})
_DROPPED_DIRECTIVES = frozenset({"toctree", "tableofcontents", "bibliography"})
_TEXT_ROLES = frozenset({"term", "abbr", "dfn", "download", "title-reference", "menuselection", "guilabel"})
_CODE_ROLES = frozenset({"code", "kbd", "file", "samp", "command", "program", "envvar", "literal"})

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,}|:{3,})[ \t]*(?P<info>.*?)[ \t]*$")
_DIRECTIVE_INFO = re.compile(r"^\{(?P<name>[\w:.+-]+)\}[ \t]*(?P<arg>.*)$")
_OPTION = re.compile(r"^:(?P<key>[\w-]+):(?:[ \t]+(?P<value>.*?))?[ \t]*$")
# a role, an inline code span (kept as it is), or display math with a MyST label: ``$$ ... $$ (label)``
_INLINE = re.compile(r"(?P<role>\{(?P<name>[a-z][\w:+-]*)\}(?P<ticks>`+)(?P<content>.+?)(?P=ticks))"
                     r"|(?P<code>(?P<codeticks>`+).+?(?P=codeticks))"
                     r"|(?P<math>\$\$(?P<tex>.+?)\$\$(?:[ \t]*\((?P<label>[\w:.-]+)\))?)", re.S)
_TARGET_LINE = re.compile(r"^[ \t]*\((?P<label>[\w:.-]+)\)=[ \t]*$")
_HEADING = re.compile(r"^[ \t]*(?P<hashes>#{1,6})[ \t]+(?P<title>.+?)[ \t#]*$")
_EXPLICIT_TITLE = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
_CITATION = re.compile(r"\s*(?:\{(?P<pre>[^{}]*)\})?(?P<keys>[^{}]*?)(?:\{(?P<post>[^{}]*)\})?\s*", re.S)
_URL = re.compile(r"^(?:https?:)?//|^data:", re.I)
# where a paragraph cannot simply go on after a bold lead-in ("**Theorem 1.** ...")
_NOT_A_PARAGRAPH = re.compile(r"^[ \t]*(?:\$\$|`{3}|~{3}|:{3}|#|>|\||[-*+][ \t]|\d+[.)][ \t]|<|\\begin)")


@dataclass(frozen=True)
class _Target:
    """What a label names, as a student notebook spells out a reference to it."""

    kind: str  # "Theorem", "Definition", ..., "Equation", "Figure", "Exercise", "chapter", "section", "page"
    number: str = ""
    chapter: int | None = None
    title: str = ""


@dataclass(frozen=True)
class _StudentContext:
    """What a student notebook needs from the rest of the book: its chapter's number, every label
    (:class:`_Target`), the pages by name (for ``{doc}``) and the bibliography (key -> authors, year)."""

    chapter: int | None
    targets: dict[str, _Target]
    documents: dict[str, _Target]
    citations: dict[str, tuple[str, str]]
    chapter_paths: dict[Path, int] = field(default_factory=dict)  # resolved path -> chapter number
    glued: dict[str, str] = field(default_factory=dict)  # the run's glued values: name -> text/plain


@dataclass
class _Tally:
    """Numbers what the book numbers, in order of appearance (one count per kind, "2.3" in chapter
    2, exercises included), and remembers the labels.  A label in ``known`` (the chapter's labels
    numbered on its full source, solutions included, as the book numbers them) keeps that number."""

    chapter: int | None
    counts: dict[str, int]
    found: dict[str, _Target]
    known: dict[str, _Target] = field(default_factory=dict)
    pasted: int = 0  # glued values of the run spelled out

    def number(self, kind: str, label: str | None = None, title: str = "") -> str:
        """The next number of ``kind`` here ("2.3" in chapter 2, "3" without a chapter)."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        number = str(self.counts[kind])
        if self.chapter is not None:
            number = f"{self.chapter}.{number}"
        if label in self.known and self.known[label].kind == kind:
            number = self.known[label].number
        if label:
            self.found[label] = _Target(kind, number, self.chapter, title)
        return number


def _myst_to_markdown(text: str, context: _StudentContext, tally: _Tally) -> str:
    """``text`` (MyST Markdown) as plain Markdown: directives and roles spelled out, ``(label)=``
    targets and ``%`` comments dropped, code blocks and inline code left as they are."""
    parts = []
    for opening, inner, written in _blocks(text):
        part = _plain_text(inner, context, tally) if opening is None else _fenced(opening, inner, written,
                                                                                  context, tally)
        if part is not None:
            parts.append(part)
    return "\n".join(parts).strip()


def _blocks(text: str) -> Iterator[tuple[re.Match | None, str, str]]:
    """Split Markdown into fenced blocks and the text between them: (the opening fence, or None for
    text; the block's inner lines less the fence's indentation, or the text; the block as written)."""
    lines, start, i = text.split("\n"), 0, 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening or ("`" in opening["info"] if opening["fence"][0] == "`" else
                           opening["fence"][0] == ":" and not opening["info"].startswith("{")):
            i += 1
            continue
        if i > start:
            chunk = "\n".join(lines[start:i])
            yield None, chunk, chunk
        closing = re.compile(rf"^[ \t]*{re.escape(opening['fence'][0])}{{{len(opening['fence'])},}}[ \t]*$")
        end = next((k for k in range(i + 1, len(lines)) if closing.match(lines[k])), len(lines))
        indent = opening["indent"]
        inner = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1:end]]
        yield opening, "\n".join(inner), "\n".join(lines[i:end + 1])
        start = i = end + 1
    if start < len(lines):
        chunk = "\n".join(lines[start:])
        yield None, chunk, chunk


def _plain_text(text: str, context: _StudentContext, tally: _Tally) -> str:
    """Text outside fenced blocks: targets (remembered when a heading follows) and comments dropped,
    roles and labelled display math spelled out."""
    lines, kept = text.split("\n"), []
    for i, line in enumerate(lines):
        target = _TARGET_LINE.match(line)
        if target:
            _remember_heading(target["label"], lines[i + 1:], context, tally)
        elif not line.lstrip().startswith("%"):
            kept.append(line)
    return _spell_inline(re.sub(r"\n{3,}", "\n\n", "\n".join(kept)), context, tally)


def _spell_inline(text: str, context: _StudentContext, tally: _Tally) -> str:
    return _INLINE.sub(lambda match: _inline(match, context, tally), text)


def _remember_heading(label: str, following: list[str], context: _StudentContext, tally: _Tally) -> None:
    """A ``(label)=`` target names the heading right after it: the chapter's title or a section's."""
    line = next((line for line in following if line.strip()), "")
    heading = _HEADING.match(line)
    if heading:
        title = _spell_inline(heading["title"], context, tally)
        chapter = len(heading["hashes"]) == 1
        tally.found[label] = _Target("chapter" if chapter else "section",
                                     str(context.chapter) if chapter and context.chapter else "",
                                     context.chapter, title)


def _inline(match: re.Match, context: _StudentContext, tally: _Tally) -> str:
    if match["code"]:
        return match["code"]
    if match["math"]:
        if not match["label"]:
            return match["math"]
        return _display_math(match["tex"].strip(), tally.number("Equation", match["label"]))
    spelled = _role(match["name"], match["content"], context)
    return match["role"] if spelled is None else spelled


def _role(name: str, content: str, context: _StudentContext) -> str | None:
    """A role's plain text, or None for a role this does not know."""
    if name == "cite" or name.startswith(("cite:", "footcite")):
        return _citation(name, content, context.citations)
    if name in ("prf:ref", "ref", "numref", "eq", "doc"):
        return _reference(name, content, context)
    if name == "math":
        return f"${content}$"
    if name.startswith("glue"):
        return GLUE_PLACEHOLDER
    if name in ("sub", "sup"):
        return f"<{name}>{content}</{name}>"
    explicit = _EXPLICIT_TITLE.match(content)
    if name in _TEXT_ROLES:
        return explicit["text"] if explicit else content
    if name in _CODE_ROLES:
        return f"`{content}`"
    return None


def _reference(name: str, content: str, context: _StudentContext) -> str:
    """``{prf:ref}``, ``{ref}``, ``{numref}``, ``{eq}`` and ``{doc}`` as the text the book shows, without
    the link; an explicit title (``text <label>``) as it is; an unknown label in brackets."""
    explicit = _EXPLICIT_TITLE.match(content)
    label = (explicit["target"] if explicit else content).strip()
    target = (context.documents.get(Path(label).stem) if name == "doc" else context.targets.get(label))
    if explicit:
        text = explicit["text"]
        if name == "numref" and target:
            text = text.replace("%s", target.number).replace("{number}", target.number)
        return text
    if target is None:
        return f"({label})" if name == "eq" else f"[{label}]"
    if name == "eq":
        return f"({target.number})"
    return _target_text(target, context.chapter)


def _target_text(target: _Target, here: int | None) -> str:
    """How a reference to ``target`` reads in chapter ``here``."""
    elsewhere = target.chapter is not None and target.chapter != here
    if target.kind == "chapter":
        if here is not None and target.chapter == here:
            return "this chapter"
        return f"chapter {target.number} (*{target.title}*)" if target.number else f"*{target.title}*"
    if target.kind in ("page", "section"):
        return f"*{target.title}*" + (f" in chapter {target.chapter}" if elsewhere else "")
    if target.kind == "Equation":
        return f"Equation ({target.number})"
    if target.number:
        return f"{target.kind} {target.number}"
    return f"{target.kind} ({target.title})" if target.title else target.kind


def _citation(name: str, content: str, citations: dict[str, tuple[str, str]]) -> str:
    """A ``{cite}`` role in the book's author-year style: ``[Chen et al., 2025; Shannon, 1948]``,
    ``{cite:t}`` as ``Bialek et al. [2001]``; a key not in the bibliography as ``[key]``."""
    parts = _CITATION.fullmatch(content)
    keys = [key.strip() for key in parts["keys"].split(",") if key.strip()]
    variant = (name.split(":", 1)[1] if ":" in name else "p").removesuffix("s")  # plural: all authors
    variant = {"ct": "t", "cauthor": "author"}.get(variant, variant)  # capitalised: the same here
    known = [key for key in keys if key in citations]
    unknown = " ".join(f"[{key}]" for key in keys if key not in citations)
    if variant == "t":
        cited = ", ".join(f"{citations[key][0]} [{citations[key][1]}]" for key in known)
    elif variant == "author":
        cited = ", ".join(citations[key][0] for key in known)
    elif variant in ("year", "yearpar"):
        cited = ", ".join(citations[key][1] for key in known)
        cited = f"[{cited}]" if variant == "yearpar" and cited else cited
    elif variant in ("label", "labelpar", "empty"):
        return "" if variant == "empty" else " ".join(f"[{key}]" for key in keys)
    else:  # parenthetical (cite, cite:p, cite:alp, cite:al, footcite)
        items = "; ".join(f"{citations[key][0]}, {citations[key][1]}" for key in known)
        if items:
            items = " ".join(filter(None, [parts["pre"], items])) + (f", {parts['post']}" if parts["post"] else "")
        cited = items if variant == "al" or not items else f"[{items}]"
    return " ".join(filter(None, [cited, unknown]))


def _fenced(opening: re.Match, inner: str, written: str, context: _StudentContext, tally: _Tally) -> str | None:
    """A fenced block: a code block as written; a directive spelled out (None: dropped), or as written
    where it is not known."""
    directive = _DIRECTIVE_INFO.match(opening["info"])
    if not directive:
        return written
    if directive["name"] == "code-cell":  # a code cell that draws a numbered figure takes its number
        _cell_figure(_yaml_options(inner.split("\n")) or {}, tally)
    options, body = _directive_parts(inner)
    spelled = _directive(directive["name"], directive["arg"].strip(), options, body, context, tally)
    if spelled is None:
        return written
    indent = opening["indent"]
    return "\n".join(indent + line if line.strip() else line for line in spelled.split("\n")) if spelled else None


def _directive_parts(inner: str) -> tuple[dict[str, str], str]:
    """A directive's options (``:key: value`` lines or a ``---`` YAML block) and its body."""
    lines = inner.split("\n")
    options = _yaml_options(lines)
    if options is not None:
        end = next(k for k in range(1, len(lines)) if lines[k].strip() == "---")
        return ({str(k): "" if v is None else str(v) for k, v in options.items()},
                "\n".join(lines[end + 1:]).strip("\n"))
    options, k = {}, 0
    while k < len(lines) and (option := _OPTION.match(lines[k])):
        options[option["key"]] = option["value"] or ""
        k += 1
    return options, "\n".join(lines[k:]).strip("\n")


def _yaml_options(lines: list[str]) -> dict | None:
    """The ``---`` YAML block that opens a directive's ``lines`` as parsed (None: there is none)."""
    import yaml

    if not lines or lines[0].strip() != "---":
        return None
    end = next((k for k in range(1, len(lines)) if lines[k].strip() == "---"), None)
    if end is None:
        return None
    try:
        options = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError:
        return None
    return options if isinstance(options, dict) else None


def _cell_figure(metadata: dict, tally: _Tally) -> tuple[str, str] | None:
    """A code cell whose metadata (``mystnb.figure``: ``name``, ``caption``) makes its plot a numbered
    figure: ("Figure 2.1", its caption), the number taken as the book takes it; None otherwise."""
    mystnb = metadata.get("mystnb") if isinstance(metadata, dict) else None
    figure = mystnb.get("figure") if isinstance(mystnb, dict) else None
    caption = str(figure.get("caption") or "").strip() if isinstance(figure, dict) else ""
    if not caption:  # Sphinx numbers only figures with a caption
        return None
    return f"Figure {tally.number('Figure', figure.get('name') or None, caption)}", caption


def _directive(name: str, arg: str, options: dict[str, str], body: str, context: _StudentContext,
               tally: _Tally) -> str | None:
    """A directive in plain Markdown ("" to drop it), or None where this does not know it."""
    label = options.get("label") or options.get("name") or None
    if name.startswith("prf:"):
        return _proof_block(name[len("prf:"):], arg, options, body, context, tally)
    if name in _NAMED_ADMONITIONS or name in _TITLED_ADMONITIONS:
        return _admonition(name, arg, body, context, tally)
    if name == "math":
        return _math_block(body, label, tally)
    if name in ("figure", "glue:figure"):
        return _figure(arg if name == "figure" else "", options, body, context, tally)
    if name == "image":
        return _image(arg, options.get("alt", ""))
    if name.startswith("glue"):
        return GLUE_PLACEHOLDER
    if name in _CODE_DIRECTIVES:
        language = {"ipython3": "python", "ipython": "python"}.get(arg.split(" ")[0], arg.split(" ")[0])
        fence = "`" * max([3, *(len(run) + 1 for run in re.findall(r"`{3,}", body))])
        return f"{fence}{language}\n{body}\n{fence}"
    if name in _QUOTE_DIRECTIVES:
        return _quoted(None, _myst_to_markdown(body, context, tally))
    if name == "exercise":
        heading = _exercise_heading(tally.number("Exercise", label), label)
        return f"{heading}\n\n{_myst_to_markdown(body, context, tally)}".strip()
    if name in _DROPPED_DIRECTIVES:
        return ""
    return None


def _proof_block(kind: str, title: str, options: dict[str, str], body: str, context: _StudentContext,
                 tally: _Tally) -> str | None:
    """``{prf:theorem} Title`` as **Theorem 2.1 (Title).** and its statement; ``{prf:proof}`` as
    *Proof.* ... ∎."""
    if kind == "proof":
        return _lead_in(f"*Proof ({title}).*" if title else "*Proof.*",
                        _end_of_proof(_myst_to_markdown(body, context, tally)))
    if kind not in _PROOF_KINDS:
        return None
    name = kind.title()
    number = "" if "nonumber" in options else tally.number(name, options.get("label"), title)
    if "nonumber" in options and options.get("label"):
        tally.found[options["label"]] = _Target(name, "", context.chapter, title)
    heading = " ".join(filter(None, [name, number]))
    if title:
        heading += f" ({_spell_inline(title, context, tally)})"
    return _lead_in(f"**{heading}.**", _myst_to_markdown(body, context, tally))


def _lead_in(heading: str, body: str) -> str:
    """``heading`` run into the body's first paragraph, or a paragraph of its own before a display,
    a list or a table."""
    if not body:
        return heading
    return f"{heading} {body}" if not _NOT_A_PARAGRAPH.match(body) else f"{heading}\n\n{body}"


def _end_of_proof(text: str) -> str:
    """∎ at the end of the proof's last paragraph, or after its last display, code block or table."""
    last = text.rstrip().split("\n")[-1].strip() if text else ""
    if not last or last.endswith("$$") or last.startswith(("```", "~~~", "|", ">")):
        return f"{text}\n\n∎".strip()
    return f"{text} ∎"


def _admonition(name: str, arg: str, body: str, context: _StudentContext, tally: _Tally) -> str:
    """A note, tip, warning, ... or ``{admonition} Title`` as a quote with its title in bold."""
    if name in _NAMED_ADMONITIONS:
        title, body = _NAMED_ADMONITIONS[name], "\n".join(filter(None, [arg, body]))
    else:
        title = _spell_inline(arg, context, tally) if arg else name.title()
    return _quoted(f"**{title}**", _myst_to_markdown(body, context, tally))


def _quoted(heading: str | None, text: str) -> str:
    """``heading`` and ``text`` as a block quote, or as plain paragraphs where a quote would break the
    math (display math, or inline math over several lines, would take the ``>`` into the formula)."""
    paragraphs = "\n\n".join(filter(None, [heading, text]))
    unsafe = "$$" in text or any(len(re.findall(r"(?<!\\)\$", line)) % 2 for line in text.split("\n"))
    if unsafe:
        return paragraphs
    return "\n".join(f"> {line}" if line.strip() else ">" for line in paragraphs.split("\n"))


def _math_block(body: str, label: str | None, tally: _Tally) -> str:
    """``{math}``: display math, its equations aligned where it has several (as Sphinx shows them),
    numbered with ``\\tag`` where it has a label."""
    equations = [part.strip() for part in re.split(r"\n[ \t]*\n", body) if part.strip()]
    tex = equations[0] if len(equations) == 1 else (
        "\\begin{aligned}\n" + " \\\\\n".join(equations) + "\n\\end{aligned}")
    return _display_math(tex, tally.number("Equation", label) if label else None)


def _display_math(tex: str, number: str | None) -> str:
    return f"$$\n{tex}" + (f"\n\\tag{{{number}}}" if number else "") + "\n$$"


def _figure(path: str, options: dict[str, str], body: str, context: _StudentContext, tally: _Tally) -> str:
    """A figure: the image where its path is a URL (a file of the book is not next to the student
    notebook), then its caption, numbered as in the book."""
    label = options.get("name") or options.get("label")
    number = tally.number("Figure", label) if body.strip() else ""
    caption = _myst_to_markdown(body, context, tally)
    heading = " ".join(filter(None, ["Figure", number]))
    if _URL.match(path):
        image = f"![{options.get('alt') or heading}]({path})"
        return f"{image}\n\n*{heading}:* {caption}" if caption else image
    return f"*{heading} (shown in the rendered book):* {caption}".strip()


def _image(path: str, alt: str) -> str:
    if _URL.match(path):
        return f"![{alt}]({path})"
    return f"*(an image{': ' + alt if alt else ''}; shown in the rendered book)*"


# --- what a chapter refers to: the other chapters, the pages, the bibliography ------------------------

def _student_context(layout: Layout, source: Path | None = None) -> _StudentContext:
    """:func:`read_book_context` of ``layout`` for the chapter ``source`` (its number prefixes the numbers
    it shows)."""
    return _in_chapter(read_book_context(layout), source)


def _in_chapter(context: _StudentContext, source: Path | None) -> _StudentContext:
    """``context`` for the chapter at ``source`` (``None``, or a path outside the book: no number)."""
    return replace(context, chapter=None if source is None else context.chapter_paths.get(Path(source).resolve()))


def read_book_context(layout: Layout) -> _StudentContext:
    """Every chapter's labels and numbers, the pages' titles and the bibliography of the book at
    ``layout`` (no chapter at hand: see :func:`_in_chapter`)."""
    try:
        chapters = layout.chapters()
    except BookError:  # a folder with no chapters
        chapters = []
    targets, documents = {}, {}
    for number, chapter in enumerate(chapters, 1):
        text = _without_front_matter(chapter.read_text(encoding="utf-8"))
        tally = _Tally(number, {}, {})
        _myst_to_markdown(text, _StudentContext(number, {}, {}, {}), tally)
        targets.update(tally.found)
        documents[chapter.stem] = _Target("chapter", str(number), number, _page_title(text, chapter.stem))
    for page in _toc_pages(layout):
        documents.setdefault(page.stem, _Target("page", title=_page_title(
            _without_front_matter(page.read_text(encoding="utf-8")), page.stem)))
    return _StudentContext(None, targets, documents, _citations(layout),
                           {chapter.resolve(): n for n, chapter in enumerate(chapters, 1)})


def _without_front_matter(text: str) -> str:
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        return text[end + len("\n---\n"):] if end >= 0 else text
    return text


def _page_title(text: str, default: str) -> str:
    """The first ``#`` heading outside fenced blocks."""
    for opening, inner, _ in _blocks(text):
        heading = re.search(r"^# (.+?)[ \t#]*$", inner, re.M) if opening is None else None
        if heading:
            return heading.group(1)
    return default


def _toc_pages(layout: Layout) -> list[Path]:
    toc = layout.root / "_toc.yml"
    if not toc.exists():
        return []
    try:
        entries = toc_entries(toc)
    except BookError:
        return []
    return [path for path in (layout.root / f"{entry}.md" for entry in entries) if path.exists()]


def _citations(layout: Layout) -> dict[str, tuple[str, str]]:
    """The bibliography: the ``bibtex_bibfiles`` of ``_config.yml`` (default ``book/references.bib``)."""
    import yaml

    config_path = layout.root / "_config.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path.exists() else None
    files = (config or {}).get("bibtex_bibfiles") or ["book/references.bib"]
    citations = {}
    for name in files:
        path = layout.root / name
        if path.exists():
            citations.update(_read_bib(path.read_text(encoding="utf-8")))
    return citations


def _read_bib(text: str) -> dict[str, tuple[str, str]]:
    """key -> (authors as cited, year) of each entry of a BibTeX file, read with pybtex (the parser
    behind sphinxcontrib-bibtex, so names split as in the book: "van den Oord", {Braced Teams})."""
    try:
        from pybtex.database import parse_string
        from pybtex.richtext import Text
    except ImportError as exc:  # pragma: no cover - installed with sphinxcontrib-bibtex (the book extra)
        raise BookError("reading the bibliography needs pybtex: pip install -e '.[book]'") from exc

    def plain(latex: str) -> str:
        return Text.from_latex(latex).render_as("text").strip()

    entries = {}
    for key, entry in parse_string(text, "bibtex").entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [plain(" ".join(p.prelast_names + p.last_names)) for p in people]
        others = len(names) > 1 and names[-1].lower() == "others"
        if not names:
            cited = key
        elif len(names) == 1:
            cited = names[0]
        elif len(names) == 2 and not others:
            cited = f"{names[0]} and {names[1]}"
        else:
            cited = f"{names[0]} et al."
        year = entry.fields.get("year") or entry.fields.get("date", "")[:4]
        entries[key] = (cited, plain(year) if year else "n.d.")
    return entries
