"""Tokenizers: the cached byte-level BPE, the Hugging Face wrapper's error path, fixed-length samples."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2m_utils import corpus
from l2m_utils import tokenization as T
from l2m_utils.corpus import load_corpus, make_samples

TEXTS = [
    "To be, or not to be, that is the question: Whether 'tis nobler in the mind to suffer "
    "The slings and arrows of outrageous fortune, Or to take arms against a sea of troubles.",
    "Now is the winter of our discontent Made glorious summer by this sun of York.",
] * 20


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture
def tok(cache):
    return T.train_bpe(TEXTS, vocab_size=300, description={"corpus": "test"})


def test_bpe_basics(tok):
    assert tok.vocab_size == 300
    assert tok.bos_id == 0
    ids = tok.encode(TEXTS[:2])
    assert len(ids) == 2 and all(a.dtype == np.int64 for a in ids)
    assert all((a > 0).all() and (a < 300).all() for a in ids)  # <bos> never produced by text
    assert len(ids[0]) < len(TEXTS[0])  # merges were learned
    assert tok.decode(ids[0]) == TEXTS[0]


def test_decode_refuses_ids_it_cannot_read(tok):
    """Out-of-range ids used to decode to '' and floats to be truncated."""
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 300\) for 'bpe-300', found \[5, 300\]"):
        tok.decode([5, 300])
    with pytest.raises(ValueError, match=r"found \[-1, 5\]"):
        tok.decode([-1, 5])
    with pytest.raises(ValueError, match="decode needs integer token ids, got dtype float64"):
        tok.decode([1.7])
    assert tok.decode([]) == ""


def test_a_vocabulary_the_corpus_cannot_fill_is_named_by_its_real_size(cache):
    assert T.train_bpe(TEXTS, vocab_size=300).name == "bpe-300"
    small = T.train_bpe(TEXTS, vocab_size=50_000)  # these few sentences hold far fewer merges
    assert small.vocab_size < 50_000 and small.name == f"bpe-{small.vocab_size} (of 50000 asked)"
    assert T.train_bpe(TEXTS, vocab_size=50_000).name == small.name  # the cached copy too


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=80))
def test_round_trip_any_unicode(text):
    tok = T.train_bpe(TEXTS, vocab_size=300, cache=False)
    assert tok.decode(tok.encode(text)[0]) == text


def test_second_call_hits_the_cache(cache, tok, monkeypatch):
    files = list((cache / "tokenizers").glob("*.json"))
    assert len(files) == 1 and tok.path == files[0]
    assert not list((cache / "tokenizers").glob(".*tmp"))  # atomic write left nothing behind

    import tokenizers

    real_train = tokenizers.Tokenizer.train_from_iterator

    def no_training(*args, **kwargs):
        raise AssertionError("retrained although cached")

    monkeypatch.setattr(tokenizers.Tokenizer, "train_from_iterator", no_training, raising=False)
    again = T.train_bpe(TEXTS, vocab_size=300, description={"corpus": "test"})
    assert again.path == tok.path
    assert [a.tolist() for a in again.encode(TEXTS[:3])] == [a.tolist() for a in tok.encode(TEXTS[:3])]
    monkeypatch.setattr(tokenizers.Tokenizer, "train_from_iterator", real_train)
    # other settings: trained again, into another file
    T.train_bpe(TEXTS[:5], vocab_size=290, cache=True)
    assert len(list((cache / "tokenizers").glob("*.json"))) == 2


def test_cache_key_depends_on_texts_and_description(cache):
    a = T.train_bpe(TEXTS, vocab_size=280, description={"split": "train"})
    b = T.train_bpe(TEXTS, vocab_size=280, description={"split": "all"})
    c = T.train_bpe(TEXTS[::-1], vocab_size=280, description={"split": "train"})
    assert len({a.path, b.path, c.path}) == 3
    assert T.texts_sha256(["ab", "c"]) != T.texts_sha256(["a", "bc"])


def test_cache_key_depends_on_the_tokenizers_version(cache, monkeypatch):
    # another tokenizers release may learn other merges from the same texts: it must not load this file
    import tokenizers

    a = T.train_bpe(TEXTS, vocab_size=280)
    monkeypatch.setattr(tokenizers, "__version__", "0.0.0-other")
    b = T.train_bpe(TEXTS, vocab_size=280)
    assert a.path != b.path and b.path.exists()


def test_tokenize_samples(tok):
    out = T.tokenize_samples(["short", TEXTS[0], TEXTS[1]], tok, length=12)
    assert out.shape == (2, 12) and out.dtype == np.int64
    np.testing.assert_array_equal(out[0], tok.encode(TEXTS[0])[0][:12])


def test_tokenize_samples_none_long_enough(tok):
    with pytest.raises(ValueError, match=r"none of the 2 samples has at least 1000 tokens \(the longest has \d+\)"):
        T.tokenize_samples(TEXTS[:2], tok, 1000)
    with pytest.raises(ValueError, match="no samples"):
        T.tokenize_samples([], tok, 10)
    with pytest.raises(ValueError, match="length"):
        T.tokenize_samples(TEXTS[:2], tok, 0)


def test_encode_stream_separates_documents_with_bos(tok):
    stream = T.encode_stream(TEXTS[:3], tok)
    assert stream[0] == tok.bos_id and (stream == tok.bos_id).sum() == 3
    assert len(stream) == 3 + sum(len(a) for a in tok.encode(TEXTS[:3]))


def test_bad_inputs(cache):
    with pytest.raises(ValueError, match=r"vocab_size must be an integer >= 257 \(256 bytes \+ <bos>\), got 100"):
        T.train_bpe(TEXTS, vocab_size=100)
    with pytest.raises(ValueError, match="empty text"):
        T.train_bpe(["", "  "], vocab_size=300)
    with pytest.raises(ValueError, match="train_texts"):
        T.get_tokenizer("bpe")


def test_hf_tokenizer_unreachable_names_the_model(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # the hub library reads the variable at import time: set its constant too, so no network retries
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(RuntimeError, match="could not load the tokenizer 'no-such-org/no-such-model'") as err:
        T.load_hf_tokenizer("no-such-org/no-such-model")
    assert str(err.value).endswith("a folder saved with save_pretrained works offline).")
    assert ".." not in str(err.value)
    # a chapter names its own parameters in the hint
    with pytest.raises(RuntimeError, match=r"\. Or use unit 'bpe'\.$"):
        T.load_hf_tokenizer("no-such-org/no-such-model", hint="Or use unit 'bpe'.")


def test_shakespeare_samples_tokenize(cache):
    plays = load_corpus("shakespeare")[:2]
    tok = T.train_bpe([d.text for d in plays], vocab_size=512)
    samples = make_samples(plays, 200)
    x = T.tokenize_samples(samples, tok, 128)
    assert x.shape[1] == 128 and x.shape[0] >= len(samples) - 2


def test_an_unreachable_hub_loads_from_the_local_cache_only(monkeypatch, tmp_path):
    import transformers

    calls = []

    def from_pretrained(name, **kwargs):
        calls.append(kwargs)
        raise OSError("not in the cache")

    monkeypatch.setattr("l2m_utils.corpus.hub_unreachable", lambda: "the host name huggingface.co does not resolve")
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", from_pretrained)
    with pytest.raises(RuntimeError, match=r"could not load the tokenizer 'gpt2' from the Hugging Face hub: the hub "
                                           r"cannot be reached \(the host name huggingface.co does not resolve\) "
                                           r"and it is not in the local cache\. Use unit 'bpe'\.$"):
        T.load_hf_tokenizer("gpt2", hint="Use unit 'bpe'")
    assert calls == [{"local_files_only": True}]  # at once, from the cache (a tokenizer downloaded earlier loads)
    (tmp_path / "my-tokenizer").mkdir()  # a folder is read as it is, without asking about the hub
    (tmp_path / "my-tokenizer" / "tokenizer_config.json").write_text("{}")
    with pytest.raises(RuntimeError, match="OSError: not in the cache"):
        T.load_hf_tokenizer(str(tmp_path / "my-tokenizer"))
    assert calls[-1] == {}


@pytest.mark.parametrize("name, local", [
    ("gpt2", False), ("openai-community/gpt2", False), ("meta-llama/Llama-3.2-1B", False),
    ("./my-model", True), ("../my-model", True), ("/abs/my-model", True), ("~/my-model", True), ("~", True),
    ("runs/gpt2/final", True), ("runs/../gpt2", True),
])
def test_a_path_is_told_from_a_hub_name(name, local):
    assert corpus._is_local_name(name) is local


def test_a_tokenizer_path_that_is_no_tokenizer_folder_is_named_without_asking_the_hub(monkeypatch, tmp_path):
    import transformers

    def no_hub(*_, **__):
        raise AssertionError("the hub was asked about a path")

    monkeypatch.setattr("l2m_utils.corpus.hub_unreachable", no_hub)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", no_hub)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match=r"^could not load the tokenizer './my-model': the folder "
                                           + re.escape(repr(str(tmp_path / "my-model"))) + r" does not exist "
                                           r".*\. Use unit 'bpe'\.$"):
        T.load_hf_tokenizer("./my-model", hint="Use unit 'bpe'")
    (tmp_path / "my-model").mkdir()
    (tmp_path / "my-model" / "config.json").write_text("{}")  # a model without its tokenizer
    for name in ("./my-model", "my-model", str(tmp_path / "my-model")):  # an existing folder is a path too
        with pytest.raises(RuntimeError, match=r"the folder .*my-model' holds no tokenizer files \(tokenizer\.json"):
            T.get_tokenizer(name)
    (tmp_path / "file").write_text("x")
    with pytest.raises(RuntimeError, match=r"file' is a file, not a folder"):
        T.load_hf_tokenizer("./file")


def test_a_tokenizer_folder_loads_by_a_home_relative_path(monkeypatch, tmp_path, cache):
    import transformers

    bpe = T.train_bpe(TEXTS, vocab_size=300, cache=False)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe.backend, bos_token=T.BOS_TOKEN)
    fast.save_pretrained(tmp_path / "home" / "tok")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr("l2m_utils.corpus.hub_unreachable", lambda: "offline")
    tok = T.load_hf_tokenizer("~/tok")
    assert tok.vocab_size == 300 and tok.bos_id == 0
    assert tok.decode(tok.encode("To be, or not to be")[0]) == "To be, or not to be"


def test_a_tokenizer_without_bos_serves_counting_only(tmp_path, cache, capfd):
    """Counting (chapter 3) needs no BOS; scoring does, and the error says how to add one.  Whole
    documents longer than the tokenizer's ``model_max_length`` encode without the library's warning
    about indexing errors (blocks are cut afterwards)."""
    import transformers

    bpe = T.train_bpe(TEXTS, vocab_size=300, cache=False)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe.backend, model_max_length=4)
    fast.save_pretrained(tmp_path / "tok")
    with pytest.raises(ValueError, match=r"has neither a BOS nor an EOS token, and scoring starts every sequence "
                                         r"with one: .*add_special_tokens\(\{'bos_token'"):
        T.load_hf_tokenizer(str(tmp_path / "tok"))
    tok = T.load_hf_tokenizer(str(tmp_path / "tok"), needs_bos=False)
    assert tok.bos_id is None and tok.vocab_size == 300
    ids = tok.encode("To be, or not to be, that is the question")[0]
    assert len(ids) > 4 and tok.decode(ids) == "To be, or not to be, that is the question"
    captured = capfd.readouterr()
    assert "longer than the specified maximum sequence length" not in captured.out + captured.err


def test_tokenize_samples_returns_the_positions_it_kept(tok):
    samples = ["short", TEXTS[0], "tiny", TEXTS[1]]
    out, kept = T.tokenize_samples(samples, tok, length=12, return_kept=True)
    assert kept.tolist() == [1, 3] and kept.dtype == np.int64
    np.testing.assert_array_equal(out, T.tokenize_samples(samples, tok, length=12))
