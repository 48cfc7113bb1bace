"""Tokenizers: a byte-level BPE trained on the corpus, or any Hugging Face tokenizer by name.

Introduced in chapter 3 (two-point MI counts token pairs) and used in chapter 4 (the estimator LM
reads tokens).  Both backends are wrapped by :class:`Tokenizer`, which offers

* ``encode(texts) -> list[np.ndarray]`` (int64 ids, no special tokens added),
* ``decode(ids) -> str``, ``vocab_size`` and ``bos_id`` (the beginning-of-sequence id the scorers
  prepend; ``None`` for a tokenizer loaded with ``needs_bos=False``, which only counts tokens).

:func:`train_bpe` trains a byte-level BPE :cite:`radford2019language` (the GPT-2 scheme: text is
mapped to bytes, so every string is encodable and ``decode(encode(s)) == s``) with the
``tokenizers`` library, with one special token ``<bos>`` (id 0).  The trained tokenizer is cached
as JSON under ``cache_dir("tokenizers")``, keyed by :func:`~l2m_utils.cache.settings_key` of the
vocabulary size, the training options, a SHA-256 of the training texts, the ``tokenizers`` version
(another version may learn another merge list from the same texts) and any caller-supplied
description (corpus, split); it is written atomically, so the second call with the same settings
loads it instead of retraining.

:func:`load_hf_tokenizer` wraps ``transformers.AutoTokenizer.from_pretrained(name)`` (needs the
hub on first use).  :func:`tokenize_samples` turns text samples into a fixed-length id matrix.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .cache import atomic_path, cache_dir, settings_key
from .checks import integer, strings
from .corpus import load_from_hub, local_pretrained_folder

BOS_TOKEN = "<bos>"


class Tokenizer:
    """A tokenizer with a fixed vocabulary and a BOS id (see the module docstring)."""

    def __init__(
        self,
        name: str,
        vocab_size: int,
        bos_id: int | None,
        encode_batch: Callable[[list[str]], list[list[int]]],
        decode: Callable[[list[int]], str],
        backend: Any = None,
        path: Path | None = None,
    ):
        self.name = name
        self.vocab_size = int(vocab_size)
        self.bos_id = None if bos_id is None else int(bos_id)
        self._encode_batch = encode_batch
        self._decode = decode
        self.backend = backend
        self.path = path
        if self.bos_id is not None and not 0 <= self.bos_id < self.vocab_size:
            raise ValueError(f"bos_id {bos_id} outside the vocabulary [0, {vocab_size})")

    def encode(self, texts: str | Sequence[str]) -> list[np.ndarray]:
        """Token ids of each text (int64 arrays; no BOS added).  A single string gives a 1-list."""
        if isinstance(texts, str):
            texts = [texts]
        return [np.asarray(ids, dtype=np.int64) for ids in self._encode_batch(strings(texts, "texts"))]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The text of token ids (integers in ``[0, vocab_size)``; anything else is refused, not dropped
        or truncated)."""
        arr = np.asarray(ids).ravel()
        if arr.size and not (np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_):
            raise ValueError(f"decode needs integer token ids, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}) for {self.name!r}, "
                             f"found [{arr.min()}, {arr.max()}]")
        return self._decode([int(i) for i in arr])

    def __repr__(self) -> str:
        return f"Tokenizer({self.name!r}, vocab_size={self.vocab_size}, bos_id={self.bos_id})"


def texts_sha256(texts: Iterable[str]) -> str:
    """SHA-256 of texts (length-prefixed, so ``["ab", "c"]`` and ``["a", "bc"]`` differ)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _wrap_bpe(tok, name: str, path: Path | None) -> Tokenizer:
    """Wrap a trained ``tokenizers`` BPE; ``name`` is ``bpe-<asked size>``, renamed to
    ``bpe-<size> (of <asked> asked)`` when the corpus was too small for the vocabulary asked for."""
    bos = tok.token_to_id(BOS_TOKEN)
    if bos is None:
        raise ValueError(f"tokenizer {name!r} has no {BOS_TOKEN} token")
    size = tok.get_vocab_size()
    asked = name.removeprefix("bpe-")
    if asked.isdigit() and int(asked) != size:
        name = f"bpe-{size} (of {asked} asked)"
    return Tokenizer(
        name=name,
        vocab_size=size,
        bos_id=bos,
        encode_batch=lambda texts: [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)],
        decode=lambda ids: tok.decode(ids, skip_special_tokens=False),
        backend=tok,
        path=path,
    )


def train_bpe(
    texts: Sequence[str],
    vocab_size: int = 4096,
    min_frequency: int = 2,
    description: dict[str, Any] | None = None,
    cache: bool = True,
) -> Tokenizer:
    """Train (or load from the cache) a byte-level BPE with ``vocab_size`` ids, ``<bos>`` = id 0.

    ``description`` (e.g. ``{"corpus": "shakespeare", "split": "train"}``) is added to the cache key
    together with a hash of ``texts`` and the ``tokenizers`` version; it documents what the tokenizer
    was trained on.
    """
    import tokenizers
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    texts = strings(texts, "texts")
    if not texts or not any(t.strip() for t in texts):
        raise ValueError("cannot train a tokenizer on empty text")
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab_size = integer(vocab_size, "vocab_size", minimum=len(alphabet) + 1, why="256 bytes + <bos>")
    min_frequency = integer(min_frequency, "min_frequency", minimum=0)
    settings = {
        "kind": "byte-level-bpe",
        "vocab_size": vocab_size,
        "min_frequency": min_frequency,
        "texts_sha256": texts_sha256(texts),
        "tokenizers_version": tokenizers.__version__,  # the trainer's merges may change between versions
        "description": description or {},
    }
    key = settings_key(settings)
    target = cache_dir("tokenizers") / f"bpe-{vocab_size}-{key}.json"
    name = f"bpe-{vocab_size}"
    if cache and target.exists():
        return _wrap_bpe(HFTokenizer.from_file(str(target)), name, target)

    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[BOS_TOKEN],
        initial_alphabet=alphabet,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    if cache:
        with atomic_path(target, suffix=".json") as tmp:
            tok.save(str(tmp))
        return _wrap_bpe(tok, name, target)
    return _wrap_bpe(tok, name, None)


# What a folder written with save_pretrained must hold: (what, in words; file name patterns, one of which must match).
TOKENIZER_FILES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tokenizer files (tokenizer.json, tokenizer_config.json, vocab.* with merges.txt, or a *.model)",
     ("tokenizer.json", "tokenizer_config.json", "vocab*", "merges.txt", "*.model", "*.tiktoken")),
)
def load_hf_tokenizer(
    name: str, *, hint: str = "Check the name and the network (a folder saved with save_pretrained works offline)",
    needs_bos: bool = True, **kwargs: Any,
) -> Tokenizer:
    """A Hugging Face tokenizer by name or folder (``transformers.AutoTokenizer``; a name needs the hub
    on first use).

    The BOS id is the tokenizer's ``bos_token_id``, else its ``eos_token_id`` (GPT-2 style
    ``<|endoftext|>``); a tokenizer with neither raises ``ValueError`` unless ``needs_bos`` is false
    (counting tokens needs no BOS; scoring prepends one), and then ``bos_id`` is ``None``.  Whole
    documents are encoded, so the library's warning about inputs longer than ``model_max_length``
    (meant for feeding a model) is silenced: blocks are cut afterwards.  A name that is a path (:func:`local_pretrained_folder`: ``./x``, ``/x``, ``~/x``,
    an existing folder) is read from that folder, which must exist and hold tokenizer files; otherwise
    it is a hub name.  When the hub cannot be reached (:func:`~l2m_utils.corpus.hub_unreachable`), only
    the local cache is read, at once.  Raises ``RuntimeError`` naming the tokenizer when it cannot be
    loaded; ``hint`` ends that message (a chapter names its own parameters there).
    """
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:  # pragma: no cover - transformers is a core dependency
        raise RuntimeError("Hugging Face tokenizers need the `transformers` package: pip install transformers") from exc
    folder = local_pretrained_folder(name, f"the tokenizer {name!r}", hint, TOKENIZER_FILES)
    source, what = ((str(folder), f"the tokenizer {name!r} from the folder {str(folder)!r}") if folder is not None
                    else (name, f"the tokenizer {name!r} from the Hugging Face hub"))
    tok = load_from_hub(AutoTokenizer.from_pretrained, source, what, hint, **kwargs)
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    if bos is None and needs_bos:
        raise ValueError(f"tokenizer {name!r} has neither a BOS nor an EOS token, and scoring starts every sequence "
                         "with one: use a tokenizer that has one (causal LM tokenizers do), or add it and save the "
                         "folder again (tok.add_special_tokens({'bos_token': '<bos>'}); tok.save_pretrained(folder))")
    return Tokenizer(
        name=name,
        vocab_size=len(tok),
        bos_id=bos,
        encode_batch=lambda texts: tok(texts, add_special_tokens=False, verbose=False)["input_ids"],
        decode=lambda ids: tok.decode(ids),
        backend=tok,
    )


def get_tokenizer(
    name: str = "bpe",
    train_texts: Sequence[str] | None = None,
    vocab_size: int = 4096,
    description: dict[str, Any] | None = None,
) -> Tokenizer:
    """``"bpe"``: :func:`train_bpe` on ``train_texts``; anything else: :func:`load_hf_tokenizer`."""
    if name == "bpe":
        if train_texts is None:
            raise ValueError("tokenizer 'bpe' is trained on the corpus: pass train_texts")
        return train_bpe(train_texts, vocab_size=vocab_size, description=description)
    return load_hf_tokenizer(name)


def encode_stream(texts: Sequence[str], tokenizer: Tokenizer, separator: bool = True) -> np.ndarray:
    """All texts encoded and concatenated into one int64 stream, each text preceded by BOS when
    ``separator`` is true (documents are then delimited as in GPT-2 pre-training)."""
    texts = strings(texts, "texts")
    if separator and tokenizer.bos_id is None:
        raise ValueError(f"{tokenizer!r} has no BOS id to separate the texts with: pass separator=False")
    parts: list[np.ndarray] = []
    bos = np.array([tokenizer.bos_id], dtype=np.int64) if separator else None
    for ids in tokenizer.encode(texts):
        if separator:
            parts.append(bos)
        parts.append(ids)
    if not parts:
        raise ValueError("no texts to encode")
    return np.concatenate(parts)


def tokenize_samples(samples: Sequence[str], tokenizer: Tokenizer, length: int,
                     return_kept: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Encode ``samples`` and keep those with at least ``length`` tokens, truncated to ``length``.

    Returns int64 ``[n_kept, length]`` (no BOS; the scorer adds it); with ``return_kept`` also the
    int64 positions in ``samples`` of the rows kept (to carry labels such as a sample's document
    along).  Raises ``ValueError`` saying how long the longest sample was when none qualifies.
    """
    integer(length, "length")
    samples = strings(samples, "samples")
    if len(samples) == 0:
        raise ValueError("no samples to tokenize")
    encoded = tokenizer.encode(samples)
    kept_at = [i for i, ids in enumerate(encoded) if len(ids) >= length]
    kept = [encoded[i][:length] for i in kept_at]
    if not kept:
        longest = max(len(ids) for ids in encoded)
        raise ValueError(
            f"none of the {len(samples)} samples has at least {length} tokens (the longest has {longest}); "
            "make longer samples (min_words) or use a shorter length"
        )
    ids = np.stack(kept).astype(np.int64)
    return (ids, np.asarray(kept_at, dtype=np.int64)) if return_kept else ids
