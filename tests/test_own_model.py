"""A reader's own text, Hugging Face tokenizer and model drive chapters 3 and 4 (offline).

Readers with internet re-execute chapter 4 with ``estimator=<hub name>`` and
``tokenizer=<hub name>``, and chapter 3 with ``unit="hf"``.  The hub is unreachable here, so the same code path is exercised with a
tiny GPT-2 and a byte-level BPE tokenizer saved by ``save_pretrained`` into a local folder, which
``from_pretrained`` loads exactly as it loads a downloaded model.
"""

import re
from pathlib import Path

import pytest
from chapter_runs import execute_smoke, printed

from l2m_utils import book
from l2m_utils import corpus as C

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")


def _save_tiny_model(folder: Path) -> int:
    """Save a 2-layer GPT-2 and a 500-token BPE trained on two plays; return the BOS id."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = [d.text for d in C.load_corpus("shakespeare", max_documents=2, cache=False)]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=500, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|endoftext|>",
                                                eos_token="<|endoftext|>")
    fast.save_pretrained(folder)
    config = transformers.GPT2Config(vocab_size=len(fast), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                     bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    return fast.bos_token_id


@pytest.fixture(scope="module")
def own_model(tmp_path_factory) -> tuple[Path, int]:
    folder = tmp_path_factory.mktemp("own") / "my-model"
    return folder, _save_tiny_model(folder)


def _execute(stem: str, overrides: dict, tmp_path: Path) -> str:
    """Execute a chapter (smoke) with ``overrides``; return its printed output."""
    nb, record = execute_smoke(stem, overrides, tmp_path)
    assert {k: record["parameters"][k] for k in overrides} == overrides
    return printed(nb)


def test_chapter3_runs_on_local_text_files_with_a_pretrained_tokenizer(own_model, tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    folder, _ = own_model
    books = tmp_path / "books"
    books.mkdir()
    for i, doc in enumerate(C.load_corpus("shakespeare", max_documents=3, cache=False)):
        (books / f"book{i}.txt").write_text(doc.text)
    text = _execute("03_two_point_mi", {"dataset": f"local:{books}", "unit": "hf", "tokenizer": str(folder)},
                    tmp_path)
    assert f"local:{books}: 3 documents" in text
    assert re.search(re.escape(f"main unit: {folder} tokens (M = 500)") + r", [0-9,]+ tokens", text)
    # the pretrained unit is in the unit table (after the sweep's closing line; its progress bar says "unit sweep" too)
    assert f"{folder} tokens (M = 500)" in re.split(r"unit sweep: [0-9.]+ s", text)[1]


def test_chapter4_runs_with_a_local_hugging_face_model(own_model, tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    folder, bos = own_model
    # device_map "auto" goes through accelerate (here: everything on the CPU; "auto" is the device it needs);
    # the model is loaded and scored in bfloat16 (dtype), its LM head's log-softmax stays float32
    text = _execute("04_bipartite_mi", {"estimator": str(folder), "tokenizer": str(folder), "device_map": "auto",
                                        "device": "auto", "dtype": "bfloat16"}, tmp_path)
    assert f"Tokenizer('{folder}', vocab_size=500, bos_id={bos})" in text
    assert "device: cpu, estimator in bfloat16; block lengths" in text
    # the model was loaded, not trained: its size and held-out perplexity are reported, no ladder is run
    loaded = re.search(re.escape(str(folder)) + r": [0-9,]+ parameters in bfloat16, held-out cross-entropy "
                       r"([0-9.]+) nats/token \(perplexity ([0-9.]+)\)", text)
    assert loaded, "the loaded model's size and held-out perplexity are not reported"
    assert "no ladder was run" in text
    # an untrained model's held-out perplexity is close to the vocabulary size (uniform guessing)
    assert 300 < float(loaded.group(2)) < 900


@pytest.mark.parametrize("stem", ["03_two_point_mi", "04_bipartite_mi", "07_text_architectures"])
def test_a_wrong_dataset_name_stops_the_chapter_in_its_parameters_cell(stem, tmp_path):
    layout = book.Layout(book.ROOT)
    with pytest.raises(book.BookError, match=re.escape("dataset must be 'shakespeare', 'pg19[@<split>]', "
                                                       "'wikipedia[@<split>]', 'local:<.txt file or folder>' or "
                                                       "'hf:<dataset name>")):
        book.execute_chapter(layout.notebooks / f"{stem}.md", tmp_path / "x.ipynb", "smoke",
                             {"dataset": "books.txt"}, layout.root)
    with pytest.raises(book.BookError, match="hub datasets are streamed: set max_documents"):
        book.execute_chapter(layout.notebooks / f"{stem}.md", tmp_path / "x.ipynb", "smoke",
                             {"dataset": "hf:someone/novels", "max_documents": 0}, layout.root)


def test_chapter3_reads_a_hub_dataset_through_the_datasets_package(tmp_path, monkeypatch):
    """The whole hub path of a chapter (``hf:<name>:<config>@<split>``, ``text_column``,
    ``max_documents``, the corpus cache) through the real `datasets` package, which reads a local
    Parquet mirror with two configs exactly as it reads a hub repository."""
    datasets = pytest.importorskip("datasets")
    import shutil

    mirror = tmp_path / "plays-mirror"
    plays = C.load_corpus("shakespeare", max_documents=6, cache=False)
    (mirror / "v2").mkdir(parents=True)
    for split, part in (("train", plays[:3]), ("validation", plays[3:])):
        datasets.Dataset.from_dict({"body": [d.text for d in part], "name": [d.title for d in part]}).to_parquet(
            str(mirror / "v2" / f"{split}-00000-of-00001.parquet"))
    (mirror / "README.md").write_text("---\nconfigs:\n- config_name: v2\n  data_files:\n"
                                      "  - split: train\n    path: v2/train-*\n"
                                      "  - split: validation\n    path: v2/validation-*\n---\n")
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the kernel must never reach for the network here
    overrides = {"dataset": f"hf:{mirror}:v2", "text_column": "body", "max_documents": 3}
    text = _execute("03_two_point_mi", overrides, tmp_path)
    assert f"hf:{mirror}:v2: 3 documents" in text
    shutil.move(mirror, tmp_path / "moved")  # without the mirror, only the corpus cache can serve the second run
    assert f"hf:{mirror}:v2: 3 documents" in _execute("03_two_point_mi", overrides, tmp_path)
    # a pinned revision is a different corpus: the unpinned cache entry must not serve it
    with pytest.raises(book.BookError, match="plays-mirror"):
        _execute("03_two_point_mi", {**overrides, "dataset_revision": "v1.0"}, tmp_path)
    shutil.move(tmp_path / "moved", mirror)
    # (a local mirror has no revisions: `datasets` reads it whatever the revision; the hub applies it)
    text = _execute("03_two_point_mi", {**overrides, "dataset": f"hf:{mirror}:v2@validation",
                                        "dataset_revision": "v1.0"}, tmp_path)
    assert f"hf:{mirror}:v2@validation (revision v1.0): 3 documents" in text


def test_device_map_auto_needs_a_gpu_capable_device(own_model, tmp_path):
    folder, _ = own_model
    layout = book.Layout(book.ROOT)
    with pytest.raises(book.BookError, match="device_map 'auto' spreads the estimator over the GPUs"):
        book.execute_chapter(layout.notebooks / "04_bipartite_mi.md", tmp_path / "x.ipynb", "smoke",
                             {"estimator": str(folder), "tokenizer": str(folder), "device_map": "auto",
                              "device": "cpu"}, layout.root)


def test_chapter4_refuses_blocks_longer_than_the_loaded_models_positions(own_model, tmp_path, monkeypatch):
    """The tiny model declares 64 positions; max_length = 128 must stop with a message that says so."""
    monkeypatch.setenv("L2M_CACHE", str(tmp_path / "cache"))
    folder, _ = own_model
    layout = book.Layout(book.ROOT)
    with pytest.raises(book.BookError, match=r"longer than the 64 positions that GPT2LMHeadModel declares"):
        book.execute_chapter(layout.notebooks / "04_bipartite_mi.md", tmp_path / "x.ipynb", "smoke",
                             {"estimator": str(folder), "tokenizer": str(folder), "max_length": 128}, layout.root)


def test_a_model_path_is_loaded_from_its_folder_or_named_as_missing(own_model, tmp_path, monkeypatch):
    from l2m_utils import language_model as LM
    from l2m_utils import tokenization as T

    folder, bos = own_model
    monkeypatch.setattr("l2m_utils.corpus.hub_unreachable", lambda: "offline")
    monkeypatch.setenv("HOME", str(folder.parent))
    model = LM.load_pretrained("~/my-model")  # '~' is expanded: the folder, not a hub name
    assert model.config.n_layer == 2 and T.load_hf_tokenizer("~/my-model").bos_id == bos
    monkeypatch.chdir(tmp_path)
    missing = re.escape(repr(str(tmp_path / "my-model")))
    with pytest.raises(RuntimeError, match=rf"^could not load the causal LM './my-model': the folder {missing} does "
                                           r"not exist .*use estimator 'train'"):
        LM.load_pretrained("./my-model")
    (tmp_path / "my-model").mkdir()
    with pytest.raises(RuntimeError, match=r"my-model' holds no config\.json and no model weights"):
        LM.load_pretrained("./my-model")
    (tmp_path / "my-model" / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(RuntimeError, match=r"my-model' holds no model weights \(model\.safetensors"):
        LM.load_pretrained("my-model")  # an existing folder, named without './'
