"""The teaching guide (book/teaching.md) stays in step with the chapters' exercises."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "teaching.md"
KINDS = {"derive", "compute", "re-run"}
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))


def _exercise_labels(chapter: Path) -> list[str]:
    """The labels of the chapter's exercises, in order."""
    return re.findall(r"^```\{exercise\}\n:label: (\S+)", chapter.read_text(encoding="utf-8"), flags=re.M)


def _page_sections() -> dict[str, list[tuple[str, list[str]]]]:
    """Chapter stem -> [(exercise label, kinds)] as listed under that chapter's heading on the page."""
    sections: dict[str, list[tuple[str, list[str]]]] = {}
    current = None
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        # a plain heading (the page's contents list shows it as it is), then a line linking the chapter
        heading = re.fullmatch(r"### Chapter (\d+): ([^{}`]+)", line)
        link = re.fullmatch(r"The chapter: \{doc\}`\.\./notebooks/(\d\d_\w+)`\.", line)
        if heading:
            number, current = int(heading.group(1)), None
        elif link:
            assert link.group(1).startswith(f"{number:02d}_"), line
            current = link.group(1)
            sections[current] = []
        elif line.startswith("## "):
            current = None
        item = re.fullmatch(r"\* \{ref\}`[^`<]+ <([\w-]+)>` \(([^)]+)\)", line)
        if item:
            assert current, f"exercise listed outside a chapter section: {line}"
            sections[current].append((item.group(1), [k.strip() for k in item.group(2).split(",")]))
        else:
            assert "-ex-" not in line, f"exercise line not in the form '* {{ref}}`title <label>` (kinds)': {line}"
    return sections


def test_the_page_is_in_the_toc_and_covers_every_chapter():
    assert "file: book/teaching" in (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert list(_page_sections()) == [c.stem for c in CHAPTERS]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_each_chapter_lists_its_exercises_in_order_with_a_kind(chapter):
    listed = _page_sections()[chapter.stem]
    assert [label for label, _ in listed] == _exercise_labels(chapter)
    for label, kinds in listed:
        assert kinds and set(kinds) <= KINDS, f"{label}: kinds {kinds} not among {sorted(KINDS)}"


def test_re_run_examples_name_real_parameters():
    """The shell example on the page executes a chapter with a parameter that chapter has."""
    text = PAGE.read_text(encoding="utf-8")
    examples = re.findall(r"l2m_utils\.book execute (\d\d) -p (\w+)", text)
    assert examples, "the page shows no `l2m_utils.book execute NN -p name value` example"
    for number, name in examples:
        (chapter,) = [c for c in CHAPTERS if c.name.startswith(number)]
        assert re.search(rf"^{name} = None\b", chapter.read_text(encoding="utf-8"), flags=re.M), (chapter.stem, name)


def test_the_page_counts_chapter6s_committed_runs():
    """"18 + 18 runs": the classroom sweep's runs (the runs of ``profile_configs("classroom")``) and the
    longer or learning-rate-probe runs (the other committed runs made on a CPU), as committed in
    results/ch06.  The runs made on the GPU machine (the `gpu` sweep's, committed there as GPU sessions
    make them) are not the page's: it is about the classroom profile."""
    import json

    from l2m_utils.synthetic_training import profile_configs

    classroom = {cfg.key() for cfg in profile_configs("classroom")}
    records = [json.loads(f.read_text(encoding="utf-8")) for f in (ROOT / "results" / "ch06").glob("*.json")]
    sweep = sum(r["key"] in classroom for r in records)
    assert sweep == len(classroom), f"{len(classroom) - sweep} of the classroom sweep's runs are not committed"
    extra = sum(r["key"] not in classroom and r["provenance"]["device"].startswith("CPU") for r in records)
    text = PAGE.read_text(encoding="utf-8")
    table = re.search(r"\| (\d+) \+ (\d+) runs, committed \|", text)
    assert table and (int(table.group(1)), int(table.group(2))) == (sweep, extra)
    prose = re.search(r"the (\d+) runs of\s+its sweep, which the Results page counts, and (\d+) longer", text)
    assert prose and prose.groups() == table.groups()
