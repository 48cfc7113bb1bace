"""Hub corpora read through the real ``datasets`` package, from local mirrors laid out like the hub.

``test_corpus.py`` checks our logic against a stand-in ``datasets`` module.  These tests check the
same logic against the real package (streamed and not, presets, configs, splits, columns, errors,
the on-disk cache) without a network: for ``datasets.load_dataset`` a folder of Parquet files with
an optional ``README.md`` that declares its configs is a dataset exactly as a hub repository is.  The
mirrors copy the column layout of the hub datasets the presets name (``emozilla/pg19``:
``short_book_title``, ``publication_date``, ``url``, ``text``; ``wikimedia/wikipedia``: ``id``,
``url``, ``title``, ``text``, one config per dump and language).  What stays untested here is the
download itself.
"""

import json
import shutil

import pytest

from l2m_utils import corpus as C

datasets = pytest.importorskip("datasets")

WIKI_README = """---
configs:
- config_name: 20231101.en
  data_files:
  - split: train
    path: 20231101.en/train-*
- config_name: 20231101.fr
  data_files:
  - split: train
    path: 20231101.fr/train-*
---
"""


def book_text(split: str, i: int, sentences: int = 30) -> str:
    return " ".join(f"This is sentence {k} of the {split} book number {i}." for k in range(sentences))


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network, and every cache (ours and datasets') under tmp_path."""
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "l2m-cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):  # the name changed over datasets' versions
        monkeypatch.setattr(datasets.config, name, True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets")


def write_parquet(path, columns: dict[str, list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(columns).to_parquet(str(path))


@pytest.fixture
def pg19_mirror(tmp_path, monkeypatch, offline):
    """A PG19 mirror (train: 5 books, the third one empty; test: 2 books) behind the ``pg19`` preset."""
    root = tmp_path / "pg19"
    for split, n in (("train", 5), ("test", 2)):
        texts = [book_text(split, i) for i in range(n)]
        if split == "train":
            texts[2] = "   "  # an empty book is skipped
        write_parquet(root / "data" / f"{split}-00000-of-00001.parquet", {
            "short_book_title": [f"{split} title {i}" for i in range(n)],
            "publication_date": [1900 + i for i in range(n)],
            "url": [f"https://www.gutenberg.org/ebooks/{i}" for i in range(n)],
            "text": texts,
        })
    preset = C.HF_CORPORA["pg19"]
    monkeypatch.setitem(C.HF_CORPORA, "pg19", (str(root),) + preset[1:])
    return root


@pytest.fixture
def wiki_mirror(tmp_path, monkeypatch, offline):
    """A Wikipedia mirror with two configs (``20231101.en``, ``20231101.fr``) behind the preset."""
    root = tmp_path / "wikipedia"
    for lang in ("en", "fr"):
        write_parquet(root / f"20231101.{lang}" / "train-00000-of-00001.parquet", {
            "id": ["12", "25"], "url": ["u12", "u25"], "title": [f"{lang} Anarchism", f"{lang} Autism"],
            "text": [f"{lang} article one. It is short.", f"{lang} article two. It is short too."],
        })
    (root / "README.md").write_text(WIKI_README, encoding="utf-8")
    preset = C.HF_CORPORA["wikipedia"]
    monkeypatch.setitem(C.HF_CORPORA, "wikipedia", (str(root),) + preset[1:])
    return root


@pytest.mark.parametrize("streaming", [True, False, None])
def test_pg19_preset_reads_titles_and_text_streamed_or_not(pg19_mirror, streaming):
    docs = C.load_corpus("pg19", max_documents=3, streaming=streaming, cache=False)
    assert [d.title for d in docs] == ["train title 0", "train title 1", "train title 3"]  # book 2 is empty
    assert [d.text for d in docs] == [book_text("train", i) for i in (0, 1, 3)]


def test_pg19_split_in_the_name(pg19_mirror):
    docs = C.load_corpus("pg19@test", max_documents=10, cache=False)
    assert [d.title for d in docs] == ["test title 0", "test title 1"]
    with pytest.raises(C.CorpusUnavailableError, match=r"split='validation'.*validation"):
        C.load_corpus("pg19@validation", max_documents=10, cache=False)


def test_samples_from_a_hub_corpus(pg19_mirror):
    """The chapters' path after loading: split by document, then samples at sentence starts."""
    docs = C.load_corpus("pg19", max_documents=10, cache=False)
    train, heldout = C.split_documents(docs, heldout_fraction=0.25, seed=0)
    assert sorted(d.title for d in train + heldout) == sorted(d.title for d in docs)
    samples = C.make_samples(train, min_words=40)
    assert samples and all(s.startswith("This is sentence") and len(s.split()) >= 40 for s in samples)


def test_wikipedia_preset_config_default_and_override(wiki_mirror):
    assert [d.title for d in C.load_corpus("wikipedia", max_documents=5, cache=False)] == ["en Anarchism", "en Autism"]
    french = C.load_corpus("wikipedia", config="20231101.fr", max_documents=1, cache=False)
    assert french == [C.Document("fr Anarchism", "fr article one. It is short.")]
    assert C.load_corpus(f"hf:{wiki_mirror}:20231101.fr", title_column="title", max_documents=1, cache=False) == french
    with pytest.raises(C.CorpusUnavailableError, match=r"config='20231101.de'.*20231101.de"):
        C.load_corpus("wikipedia", config="20231101.de", max_documents=1, cache=False)


@pytest.mark.parametrize("streaming", [True, False])
def test_a_missing_text_column_is_named(pg19_mirror, streaming):
    with pytest.raises(ValueError, match=r"no text column 'body'.*short_book_title"):
        C.load_corpus(f"hf:{pg19_mirror}", text_column="body", max_documents=2, streaming=streaming, cache=False)


def test_a_missing_dataset_is_reported(offline, tmp_path):
    with pytest.raises(C.CorpusUnavailableError, match=r"could not load the Hugging Face dataset .*nowhere.*the name right"):
        C.load_corpus(f"hf:{tmp_path / 'nowhere'}", max_documents=2, cache=False)


def test_a_capped_read_is_cached_on_disk(pg19_mirror):
    docs = C.load_corpus("pg19", max_documents=2)
    shutil.rmtree(pg19_mirror)  # the second read must not touch the dataset
    assert C.load_corpus("pg19", max_documents=2) == docs
    with pytest.raises(C.CorpusUnavailableError):  # other settings are another cache entry
        C.load_corpus("pg19", max_documents=3)


def test_a_pinned_revision_is_its_own_cache_entry(pg19_mirror):
    """The real ``load_dataset`` takes the revision (a local folder has none and ignores it); each
    revision is its own cache entry, whose file records what fetched it."""
    docs = C.load_corpus("pg19", max_documents=2, revision="v1", streaming=False)
    shutil.rmtree(pg19_mirror)  # the second read must not touch the dataset
    assert C.load_corpus("pg19", max_documents=2, revision="v1") == docs
    for other in ("v2", None):  # another revision, or none, is another cache entry
        with pytest.raises(C.CorpusUnavailableError):
            C.load_corpus("pg19", max_documents=2, revision=other)
    (entry,) = (pg19_mirror.parent / "l2m-cache" / "corpora").glob("*.json")
    source = json.loads(entry.read_text(encoding="utf-8"))["source"]
    assert source["revision"] == "v1" and source["datasets_version"] == datasets.__version__
    assert source["dataset_version"] and source["fingerprint"]  # a downloaded dataset has a fingerprint
