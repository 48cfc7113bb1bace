"""Chapter-level parameter checks: a setting the chapter cannot honour fails in its first code cell,
with a message that names the parameter (instead of a late error or a silently different run)."""

import pytest

from l2m_utils import book

CASES = [
    ("04_bipartite_mi", {"ratios": [3.0, 4.0]}, "ratios must include 2"),
    ("04_bipartite_mi", {"max_length": 48}, "max_length must be a power of two"),
    ("04_bipartite_mi", {"max_length": 8, "ratios": [2.0, 8.0]},
     r"max_length=8 is too short for the split ratios \[2\.0, 8\.0\]: .* at least 16 "),
    ("04_bipartite_mi", {"max_length": 4}, r"'max_length'=4 is too small; allowed: int >= 8"),  # two lengths to fit
    ("04_bipartite_mi", {"vocab_size": 4096, "tokenizer": "gpt2", "estimator": "gpt2"},
     "vocab_size sets the size of the BPE trained here"),
    # training knobs with a pretrained estimator would be silently ignored
    ("04_bipartite_mi", {"tokenizer": "gpt2", "estimator": "gpt2", "train_steps": 50, "n_layer": 2},
     "n_layer, train_steps: these set how the estimator is trained here .* 'gpt2' is not trained"),
    # M^L alone exceeds the limit although M^(L-1) * max(K) does not (K < M): caught before any work
    ("04_bipartite_mi", {"dtype": "fp16"},
     r"'dtype'='fp16' is not allowed; allowed: one of 'auto', 'bfloat16', 'float16', 'float32'"),
    ("02_history_state", {"hmm_outputs": 3, "hmm_states": [1, 2], "hmm_max_length": 16},
     r"max\(hmm_outputs \*\* \(hmm_max_length - 1\) \* max\(hmm_states\), hmm_outputs \*\* hmm_max_length\) "
     r"must be <= 2\*\*25"),
    ("03_two_point_mi", {"unit": "char", "vocab_size": 64}, "vocab_size sets the vocabulary of unit 'bpe' or 'word'"),
    ("03_two_point_mi", {"max_distance": 300}, r"max_distance=300 is not a power of two: .* up to d = 256"),
    # a model name that does not parse is reported as such, not as "names one model twice"
    ("06_synthetic_l2m", {"models": ["mamba-1x16", "gpt2-1x16"]},
     r"models entry 'mamba-1x16' \(backbone must be one of \('gpt2', 'mamba2'\), got 'mamba'\) is not a model "
     r"name: write each model as 'gpt2-<layers>x<width>' or 'mamba2-<layers>x<width>-N<d_state>'(?!.*twice)"),
    ("06_synthetic_l2m", {"results_dir": ""}, "results_dir='' is empty: the run results .* need a folder of their own"),
    ("06_synthetic_l2m", {"results_dir": "."}, r"results_dir='\.' \(/.*\) is the repository root itself"),
    ("06_synthetic_l2m", {"results_dir": "results/.."}, "the repository root itself"),
]


@pytest.mark.parametrize("stem, overrides, message", CASES,
                         ids=[f"{c[0][:2]}-{'-'.join(c[1])}-{i}" for i, c in enumerate(CASES)])
def test_a_setting_the_chapter_cannot_honour_fails_first_and_says_why(stem, overrides, message, tmp_path):
    import nbformat

    failed = _fails(tmp_path, stem, overrides, rf"failed in cell \d+: ParameterError: (?s:.*){message}")
    # "first": in the cell that resolves the parameters, before anything was computed or trained
    ran = [c for c in nbformat.read(failed, as_version=4).cells if c.cell_type == "code" and c.get("execution_count")]
    assert "resolve_parameters(" in ran[-1].source, ran[-1].source[:200]


def _fails(tmp_path, stem: str, overrides: dict, pattern: str):
    """Execute chapter ``stem`` at the smoke profile with ``overrides``; it must fail with ``pattern``.
    Returns the saved notebook of the failed run (``<stem>.FAILED.ipynb``)."""
    layout = book.Layout(book.ROOT)
    with pytest.raises(book.BookError, match=pattern):
        book.execute_chapter(layout.notebooks / f"{stem}.md", tmp_path / f"{stem}.ipynb", "smoke", overrides,
                             layout.root)
    return tmp_path / f"{stem}.FAILED.ipynb"


def test_several_failing_checks_are_reported_together(tmp_path):
    _fails(tmp_path, "04_bipartite_mi", {"ratios": [3.0], "max_length": 48},
           r"\(2 of \d+ checks failed\)(?s:.*)ratios must include 2(?s:.*)power of two")


def _short_documents(folder, n_docs: int, text: str):
    """A local corpus of ``n_docs`` files, each holding ``text`` with its number: far shorter than a sample."""
    folder.mkdir()
    for i in range(n_docs):
        (folder / f"doc{i}.txt").write_text(text.format(i=i))
    return folder


def test_too_little_held_out_text_fails_before_the_estimator_is_trained(tmp_path):
    import nbformat

    # three one-sentence documents: one is held out, far shorter than max_length words
    corpus = _short_documents(tmp_path / "corpus", 3, "Document {i} says very little here.\n")
    failed = _fails(tmp_path, "04_bipartite_mi",
                    {"dataset": f"local:{corpus}", "max_documents": 0, "heldout_fraction": 0.34},
                    r"ValueError: the estimators need at least 2 held-out samples of max_length tokens \(use a "
                    r"smaller max_length, a larger heldout_fraction, or more text\): found 0 sample")
    nb = nbformat.read(failed, as_version=4)
    ran = [c.source for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    assert "C.make_samples(held_docs" in ran[-1]  # the corpus cell failed ...
    assert not any("train_lm(" in src for src in ran)  # ... and no training had started


def test_chapter7_too_little_held_out_text_names_the_contexts(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    # two short documents: the held-out one is far shorter than a context
    corpus = _short_documents(tmp_path / "corpus", 2, "Document {i} says very little here. It has two sentences.\n")
    _fails(tmp_path, "07_text_architectures", {"dataset": f"local:{corpus}", "valid_every": 0, "patience": 0},
           r"ValueError: the position-wise intervals need at least 4 held-out samples of each context length "
           r"\(use shorter contexts, a larger heldout_fraction, .*\): for context \d+, found 0 sample")


def test_chapter7_needs_four_held_out_samples_before_it_trains(tmp_path, monkeypatch):
    """Two or three held-out samples used to pass this check and crash after training: the "rises
    again" test picks a bin on the even samples and takes a standard deviation over the odd ones."""
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    sentence = " ".join(["Word{i}"] + ["and the sea was calm"] * 12) + ".\n"
    corpus = _short_documents(tmp_path / "corpus", 4, sentence * 3)  # 3 sentences of 61 words each
    _fails(tmp_path, "07_text_architectures",
           {"dataset": f"local:{corpus}", "max_documents": 0, "heldout_fraction": 0.25, "valid_every": 0,
            "patience": 0},
           r"ValueError: the position-wise intervals need at least 4 held-out samples of each context length "
           r".*: for context 32, (found 3 sample|only 3 of the 3 held-out samples)")


def test_chapter3_on_a_text_with_fewer_distances_than_the_fit_needs(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    text = tmp_path / "hi.txt"
    text.write_text("Hi there.\n")
    _fails(tmp_path, "03_two_point_mi", {"dataset": f"local:{text}", "unit": "word"},
           r"RuntimeError: only \d distance\(s\) fit in the longest document \(\d+ tokens\) for the paper's "
           r"three-parameter fit, which needs 3")


@pytest.mark.parametrize("where", ["home", "absolute"])
def test_chapter6_results_dir_expands_the_home_folder_and_takes_absolute_paths(where, tmp_path, monkeypatch):
    """``~`` is the home folder, not a folder named ``~`` in the repository; an absolute path is used as it is."""
    import nbformat
    from chapter_runs import printed

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    value, folder = ("~/ch06runs", home / "ch06runs") if where == "home" else (str(tmp_path / "abs"), tmp_path / "abs")
    layout = book.Layout(book.ROOT)
    # max_runs 0 trains nothing: the chapter stops in its training cell, after printing where results live
    with pytest.raises(book.BookError, match="no finished run to show"):
        book.execute_chapter(layout.notebooks / "06_synthetic_l2m.md", tmp_path / "06.ipynb", "smoke",
                             {"results_dir": value, "max_runs": 0}, layout.root)
    text = printed(nbformat.read(tmp_path / "06.FAILED.ipynb", as_version=4))
    assert f"results in {folder.resolve()}\n" in text, text
    assert not (book.ROOT / "~").exists() and not (book.ROOT / "notebooks" / "~").exists()
