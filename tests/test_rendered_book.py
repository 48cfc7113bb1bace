"""Build the whole book (smoke profile) in a scratch copy and check the HTML, also in a real browser.

Slow (about a minute or two): it executes every chapter and runs Jupyter Book and headless Chromium.
"""

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from l2m_utils.book import toc_entries

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _toc_files(toc_path: Path) -> list[str]:
    return toc_entries(toc_path)


def _chapters() -> list[str]:
    return [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))]


def _pasted(page: str) -> list[str]:
    """The texts that ``{glue:text}`` roles pasted into an HTML page, in page order."""
    return re.findall(r'<span class="pasted-text">([^<]*)</span>', page)


def _says_nothing(text: str) -> bool:
    """A pasted value that is empty, or a number that did not come out (nan, inf, None)."""
    return not text.strip() or bool(re.fullmatch(r"\s*(None|[-+]?inf|[-+]?nan)\s*", text, flags=re.I)
                                    or re.search(r"\b(nan|NaN)\b", text))


def _assert_glued_values(stem: str, page: str) -> None:
    """Every sentence or number the chapter's prose pastes from its run is on ``page`` and says something."""
    roles = re.findall(r"\{glue:text\}`(\w+)", (ROOT / "notebooks" / f"{stem}.md").read_text())
    pasted = _pasted(page)
    assert len(pasted) == len(roles), f"{stem}: {len(roles)} glue roles, {len(pasted)} values pasted"
    empty = [(name, text) for name, text in zip(roles, pasted) if _says_nothing(text)]
    assert not empty, f"{stem}: glued values pasted empty or not a number: {empty}"


def _profile_in_note(page: str) -> str | None:
    """The profile named by the page's "How this page was executed" note."""
    m = re.search(r"How this page was executed.*?Profile <strong><code[^>]*>(?:<span[^>]*>)?(\w+)<", page, flags=re.S)
    return m.group(1) if m else None


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("book")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, root / name)
    for name in ("book", "notebooks"):
        shutil.copytree(ROOT / name, root / name)
    proc = subprocess.run(
        [sys.executable, "-m", "l2m_utils.book", "--root", str(root), "build", "--profile", "smoke"],
        capture_output=True, text=True, env={**os.environ, "L2M_PROFILE": "smoke"},
    )
    assert proc.returncode == 0, f"book build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return root, proc.stdout


@pytest.fixture(scope="module")
def published(built, tmp_path_factory):
    """The book as it is published (make book-from-snapshots): the committed snapshots rendered, and
    the chapters without one from the smoke execution above (re-rendered only, not re-executed)."""
    smoke_root, _ = built
    root = tmp_path_factory.mktemp("published")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(smoke_root / name, root / name)
    for name in ("book", "notebooks", "_build/executed"):
        shutil.copytree(smoke_root / name, root / name)
    proc = subprocess.run(
        [sys.executable, "-m", "l2m_utils.book", "--root", str(root), "html", "--from-snapshots",
         "--allow-missing-snapshots"], capture_output=True, text=True,
    )
    assert proc.returncode == 0, f"rendering from the snapshots failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return root


def test_build_reports_each_wall_time(built):
    _, stdout = built
    for stem in _chapters():
        assert re.search(rf"{stem}: \d+\.\d s", stdout), stdout


def test_every_toc_page_exists(built):
    root, _ = built
    html = root / "_build" / "html"
    for entry in _toc_files(root / "_toc.yml"):
        assert (html / f"{entry}.html").exists(), entry
    for stem in _chapters():
        assert f"notebooks/{stem}" in _toc_files(root / "_toc.yml"), f"{stem} is not in _toc.yml"


def test_results_page_pastes_every_value_from_the_chapters(built):
    """book/results.md names no number itself: each glue role must resolve to the chapter's value."""
    root, _ = built
    source = (root / "book" / "results.md").read_text()
    roles = re.findall(r"\{glue:text\}`\.\./notebooks/(\w+)\.ipynb::(\w+):[^`]*`", source)
    assert len(roles) >= 20 and {stem for stem, _ in roles} == {c for c in _chapters() if c[:2] >= "03"}
    page = (root / "_build" / "html" / "book" / "results.html").read_text()
    pasted = _pasted(page)
    assert len(pasted) == len(roles), f"{len(roles)} glue roles, {len(pasted)} values pasted"
    assert "smoke" in pasted[0] and not [p for p in pasted if _says_nothing(p)]


def test_teaching_page_links_every_exercise(built):
    """Each exercise named on the teaching guide links to its anchor on its chapter's page."""
    root, _ = built
    html = root / "_build" / "html"
    page = (html / "book" / "teaching.html").read_text()
    labels = re.findall(r"<(ch\d-ex-[\w-]+)>`", (root / "book" / "teaching.md").read_text())
    assert len(labels) >= 24
    for label in labels:
        link = re.search(rf'href="\.\./(notebooks/\d\d_\w+\.html)#{label}"', page)
        assert link, f"no link to {label}"
        assert f'id="{label}"' in (html / link.group(1)).read_text(), f"{link.group(1)} has no anchor {label}"


@pytest.mark.parametrize("stem", _chapters())
def test_chapter_page_content(built, stem):
    root, _ = built
    html_dir = root / "_build" / "html"
    page = (html_dir / "notebooks" / f"{stem}.html").read_text()
    images = re.findall(r'<img[^>]+src="([^"]*_images/[^"]+)"', page)
    assert images, f"{stem}: no figures"
    for src in images:
        assert (html_dir / "notebooks" / src).resolve().exists(), src
    assert "Traceback (most recent call last)" not in page
    _assert_glued_values(stem, page)
    assert not re.search(r'class="[^"]*output (traceback|error)', page)
    assert _profile_in_note(page) == "smoke", f"{stem}: the execution note names profile {_profile_in_note(page)}"
    assert re.search(r'How this page was executed.*?href="[^"]*how_to_run\.html', page, flags=re.S), \
        "the execution note links the how-to-run page"
    assert "mathjax/tex-chtml.js" in page and "cdn.jsdelivr.net/npm/mathjax" not in page
    assert "Exercise" in page and "dropdown" in page, "exercises with hidden solutions"
    assert f"blob/ipynb/notebooks/{stem}.ipynb" in page, "launch button must point at the .ipynb branch"
    assert (root / "_build" / "book-src" / "notebooks" / f"{stem}.ipynb").exists()


@pytest.mark.parametrize("stem", _chapters())
def test_every_drawn_figure_is_numbered_with_its_caption_and_alt_text(built, stem):
    """Each plot of a chapter is a numbered figure ("Fig. 4.2") with the caption and the alt text of
    its cell's metadata, and each ``{numref}`` resolves to a number (see ``tests/test_figures.py``)."""
    root, _ = built
    chapter = int(stem[:2])
    page = (root / "_build" / "html" / "notebooks" / f"{stem}.html").read_text()
    nb = nbformat.read(root / "_build" / "book-src" / "notebooks" / f"{stem}.ipynb", as_version=4)
    drawn = [c for c in nb.cells if c.cell_type == "code"
             and any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]
    figures = re.findall(r"<figure\b.*?</figure>", page, flags=re.S)
    assert drawn and len(figures) == len(drawn), f"{stem}: {len(drawn)} plots, {len(figures)} figures"
    for cell, figure in zip(drawn, figures):
        meta = cell.metadata["mystnb"]
        assert re.search(rf'<span class="caption-number">Fig\. {chapter}\.\d+ </span>', figure), figure[:300]
        assert f'id="{meta["figure"]["name"]}"' in figure
        alt = re.search(r'<img alt="([^"]*)"', figure)
        assert alt and html.unescape(alt.group(1)) == meta["image"]["alt"].strip()
    references = re.findall(r'<span class="std std-numref">([^<]*)</span>', page)
    assert all(re.fullmatch(r"(Fig\.|Exercise) \d+\.\d+", r) for r in references), references


@pytest.mark.parametrize("stem", _chapters())
def test_printed_markdown_tables_render_as_tables(built, stem):
    """Tables a chapter prints with ``display(Markdown(...))`` must become HTML tables, not pipe text."""
    root, _ = built
    nb = nbformat.read(root / "_build" / "book-src" / "notebooks" / f"{stem}.ipynb", as_version=4)
    printed = sum(  # one separator row per table, however many tables one output holds
        len(re.findall(r"^\|[-| :]+\|$", out.get("data", {}).get("text/markdown", ""), flags=re.M))
        for cell in nb.cells if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    # and the prose's own tables (Markdown cells, exercises included): together, every table on the page
    prose = sum(len(re.findall(r"^\s*\|?\s*:?-{3,}:?\s*\|", cell.source, flags=re.M))
                for cell in nb.cells if cell.cell_type == "markdown")
    page = (root / "_build" / "html" / "notebooks" / f"{stem}.html").read_text()
    assert page.count("<table") == printed + prose, \
        f"{stem}: {printed} printed and {prose} prose tables, {page.count('<table')} rendered"


@pytest.mark.parametrize("stem", _chapters())
def test_printed_lines_fit_the_books_output_column(built, stem):
    """The page shows about 84 characters of a printed line and scrolls the rest out of sight: every
    line a chapter prints fits :data:`l2m_utils.printing.OUTPUT_WIDTH` (findings go through
    ``print_wrapped``, wide tables are displayed as Markdown)."""
    from l2m_utils.printing import OUTPUT_WIDTH

    root, _ = built
    nb = nbformat.read(root / "_build" / "book-src" / "notebooks" / f"{stem}.ipynb", as_version=4)
    long = [line for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
            if out.get("output_type") == "stream" and out.get("name") == "stdout"
            for line in out.get("text", "").splitlines() if len(line) > OUTPUT_WIDTH]
    assert not long, f"{stem}: {len(long)} printed lines over {OUTPUT_WIDTH} characters, e.g. {long[0]!r}"


@pytest.mark.parametrize("stem", _chapters())
def test_the_published_book_renders_each_chapter_from_its_snapshot(published, stem):
    """What `make book-from-snapshots` publishes: a chapter with a committed snapshot shows that run
    (its profile in the execution note, its figures, every glued value); the others the smoke run."""
    snapshot = ROOT / "book" / "snapshots" / f"{stem}.ipynb"
    expected = nbformat.read(snapshot, as_version=4).metadata["l2m"]["profile"] if snapshot.exists() else "smoke"
    page = (published / "_build" / "html" / "notebooks" / f"{stem}.html").read_text()
    assert _profile_in_note(page) == expected, f"{stem}: note names {_profile_in_note(page)}, expected {expected}"
    assert "Traceback (most recent call last)" not in page
    assert re.findall(r'<img[^>]+src="([^"]*_images/[^"]+)"', page), f"{stem}: no figures"
    _assert_glued_values(stem, page)


def test_the_published_results_page_pastes_the_snapshots_values(published):
    page = (published / "_build" / "html" / "book" / "results.html").read_text()
    pasted = _pasted(page)
    assert pasted and not [p for p in pasted if _says_nothing(p)]


def _stderr_lines(nb) -> list[str]:
    """What a notebook's cells wrote to stderr, less progress bars (tqdm's lines with "NN%|")."""
    return [line for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
            if out.get("output_type") == "stream" and out.get("name") == "stderr"
            for line in re.split(r"[\r\n]+", out.get("text", "")) if line.strip() and not re.search(r"\d+%\|", line)]


@pytest.mark.parametrize("stem", _chapters())
def test_chapters_write_nothing_but_progress_bars_to_stderr(built, stem):
    """A warning (RuntimeWarning, a deprecation, a caught exception printed) shows up on the page as a
    red block; none belongs in the book."""
    root, _ = built
    nb = nbformat.read(root / "_build" / "book-src" / "notebooks" / f"{stem}.ipynb", as_version=4)
    assert not _stderr_lines(nb), f"{stem} wrote to stderr: {_stderr_lines(nb)[:3]}"


@pytest.mark.parametrize("snapshot", sorted((ROOT / "book" / "snapshots").glob("*.ipynb")), ids=lambda p: p.stem)
def test_snapshots_write_nothing_but_progress_bars_to_stderr(snapshot):
    nb = nbformat.read(snapshot, as_version=4)
    assert not _stderr_lines(nb), f"{snapshot.stem} wrote to stderr: {_stderr_lines(nb)[:3]}"


def test_bibliography_and_theorems(built):
    root, _ = built
    html = root / "_build" / "html"
    refs = (html / "book" / "references.html").read_text()
    assert "mutual information scaling law for long-context language modeling" in refs
    ch1 = (html / "notebooks" / "01_mutual_information.html").read_text()
    assert "Definition" in ch1 and "Proposition" in ch1 and "Proof" in ch1


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.fail("headless Chromium is required (make test installs the Debian package `chromium`)")


def test_browser_renders_math_and_images_offline(built, tmp_path):
    root, _ = built
    page = root / "_build" / "html" / "notebooks" / "01_mutual_information.html"
    probe = page.with_name("_browser_probe.html")
    script = """<script>
window.addEventListener('load', function () {
  setTimeout(function () {
    var imgs = Array.from(document.images).filter(function (i) { return i.src.indexOf('_images') >= 0; });
    var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
    document.body.setAttribute('data-l2m-images', ok + '/' + imgs.length);
  }, 3000);
});
</script></body>"""
    probe.write_text(page.read_text().replace("</body>", script))
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'profile'}",
           "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    dom = proc.stdout
    assert "<mjx-container" in dom, "MathJax did not render (served offline from _static/mathjax)"
    match = re.search(r'data-l2m-images="(\d+)/(\d+)"', dom)
    assert match, "the image probe did not run"
    loaded, total = map(int, match.groups())
    assert total > 0 and loaded == total, f"only {loaded} of {total} figures loaded"


def test_reexecuting_with_a_parameter_changes_the_output(built):
    root, _ = built
    default = nbformat.read(root / "_build" / "executed" / "01_mutual_information.ipynb", as_version=4)
    proc = subprocess.run(
        [sys.executable, "-m", "l2m_utils.book", "--root", str(root), "execute", "01",
         "--profile", "smoke", "-p", "max_block_length", "12"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    changed = nbformat.read(root / "_build" / "executed" / "01_mutual_information.ipynb", as_version=4)

    def text(nb):
        return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))

    assert "at L = 10" in text(default) and "at L = 12" in text(changed)
    assert changed.metadata["l2m"]["parameters"]["max_block_length"] == 12


def test_glued_findings_are_set_in_the_weight_of_the_text(built, tmp_path):
    """myst-nb sets glued text in bold; book/_static/l2m.css (html_css_files) sets it back, so that a
    glued sentence on the Results page reads as text.  Checked with the browser's computed style."""
    root, _ = built
    page = root / "_build" / "html" / "book" / "results.html"
    assert "l2m.css" in page.read_text()
    probe = page.with_name("_weight_probe.html")
    script = """<script>
window.addEventListener('load', function () {
  var span = document.querySelector('span.pasted-text');
  var para = span.closest('p');
  document.body.setAttribute('data-l2m-weights', getComputedStyle(span).fontWeight + '/' +
                             getComputedStyle(para).fontWeight);
});
</script></body>"""
    probe.write_text(page.read_text().replace("</body>", script))
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'profile'}",
           "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=180).stdout
    match = re.search(r'data-l2m-weights="(\d+)/(\d+)"', dom)
    assert match, "the style probe did not run"
    assert match.group(1) == match.group(2) == "400", f"glued text weight / paragraph weight: {match.groups()}"
