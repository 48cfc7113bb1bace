"""Two-point mutual information of token sequences, estimated from pair counts.  Introduced in chapter 3.

For a distance d, the **pair sample** of a corpus is every ordered pair (x, y) = (w_i, w_{i+d}) of
tokens d apart *within one document* (pairs never straddle two documents).  With N_d pairs, the
counts of X (first token), Y (second token) and XY (the pair) give

    I_d = H_G(X) + H_G(Y) - H_G(XY)                                   (notes §3)

with H_G the Grassberger estimator of :mod:`l2m_utils.entropy_estimators` (or the naive one).
X and Y are the marginals *of the pair sample at that d*, so all three entropies use the same N_d.

Counting is vectorised: the documents are concatenated once, a pair at position i is kept when
positions i and i + d belong to the same document, and each pair becomes one int64 key a·M + b
(M = vocabulary size).  Keys are counted with a histogram (``bincount``) when M² is small, else by
sorting them (``torch.unique`` on 32-bit keys, on the CPU or a GPU; the ``numpy`` backend sorts with
``np.sort``, about half as fast on one CPU core).  With torch, the concatenated tokens are copied to
the device once (:func:`corpus_on_device`); the pairs are selected, keyed and counted there, and only
the counts come back (the floor's permutations, below, are drawn on the host).  No M × M array is ever allocated for a large
vocabulary, so M = 50k+ (M² = 2.5·10^9 possible pairs) is fine.

The MI estimate is biased *upward*: with M² possible pairs and N_d ≪ M² the joint entropy is
underestimated more than the marginals, so I_d sits on a positive **bias floor** even
for independent tokens (notes §8).  Two ways to deal with it:

* the paper's fit I_d = A d^(-alpha) + C (:func:`~l2m_utils.fits.fit_power_law_offset` on the
  distances and estimates of a :class:`TwoPointResult`), C absorbing the floor;
* a direct estimate of the floor (:func:`two_point_mi` with ``n_shuffles``, its ``floor_mean`` and
  ``floor_std``): the same estimator on the pair sample with the second tokens permuted at random,
  which keeps N_d and both marginal count vectors exactly and destroys the dependence.
  :func:`supported_distances` then says up to which d the measured I_d is significantly above that
  floor.

Above the floor, :func:`local_exponents` gives the local decay exponent of e(d) = I_d - floor between
successive distances, and :func:`jackknife_local_exponents` its standard error from a delete-a-group
jackknife over documents (each replicate recounts without one group and subtracts its own floor).
"""

from __future__ import annotations

import math
import re
from collections import Counter as _Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .checks import integer, integers, is_real, seeded_rng, strings, token_stream
from .fits import jackknife_se
from .params import torch_device
from .entropy_estimators import entropy_from_counts
from .progress import progress_bar

if TYPE_CHECKING:  # annotations only: torch is imported where it is used
    import torch

BINCOUNT_MAX_KEYS = 1 << 24  # histogram counting when M² is at most this (128 MiB of int64 at most)


# --------------------------------------------------------------------------------------------------
# documents and pair samples
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Corpus:
    """Documents concatenated into one array; ``doc_id[i]`` says which document token i is from."""

    tokens: np.ndarray  # int64 [n_tokens]
    doc_id: np.ndarray  # int32/int64 [n_tokens]
    vocab_size: int
    n_documents: int


def concatenate_documents(documents: Sequence[np.ndarray], vocab_size: int | None = None) -> Corpus:
    """Validate a list of 1-D integer token arrays and concatenate them (see :class:`Corpus`).

    ``vocab_size`` defaults to max id + 1.  Raises ``ValueError`` for an empty list, a corpus
    without tokens, arrays that are not 1-D integer arrays, or ids outside [0, vocab_size).
    """
    if isinstance(documents, np.ndarray) and documents.ndim == 1 and documents.dtype != object:
        documents = [documents]  # a single document
    docs = []
    for k, doc in enumerate(documents):  # 1-D integer ids; the range is checked once, on the whole corpus
        docs.append(token_stream(doc, f"document {k}", min_length=0))
    if not docs:
        raise ValueError("the corpus is empty: pass a non-empty list of token arrays")
    tokens = np.concatenate(docs)
    if tokens.size == 0:
        raise ValueError("the corpus has no tokens (every document is empty)")
    lo, hi = int(tokens.min()), int(tokens.max())
    if vocab_size is None:
        vocab_size = hi + 1
    vocab_size = integer(vocab_size, "vocab_size", why="or None: max id + 1")
    if lo < 0 or hi >= vocab_size:
        raise ValueError(f"token ids must lie in [0, {vocab_size}), found [{lo}, {hi}]")
    if vocab_size > 3_037_000_499:  # M² must fit in int64
        raise ValueError(f"vocab_size {vocab_size} is too large for int64 pair keys")
    lengths = np.array([d.size for d in docs], dtype=np.int64)
    dtype = np.int32 if len(docs) < 2**31 else np.int64
    doc_id = np.repeat(np.arange(len(docs), dtype=dtype), lengths)
    return Corpus(tokens=tokens, doc_id=doc_id, vocab_size=vocab_size, n_documents=len(docs))


def _as_corpus(documents, vocab_size: int | None) -> Corpus:
    if isinstance(documents, Corpus):
        if vocab_size is not None and integer(vocab_size, "vocab_size") != documents.vocab_size:
            raise ValueError(f"vocab_size {vocab_size} differs from the corpus's {documents.vocab_size}")
        return documents
    return concatenate_documents(documents, vocab_size)


def pair_sample(corpus: Corpus, distance: int) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs (w_i, w_{i+d}) with both tokens in the same document: arrays (x, y)."""
    d = integer(distance, "distance")
    if d >= corpus.tokens.size:
        return corpus.tokens[:0], corpus.tokens[:0]
    same = corpus.doc_id[:-d] == corpus.doc_id[d:]
    return corpus.tokens[:-d][same], corpus.tokens[d:][same]


def _use_histogram(n_keys: int, n: int, bins_per_key: int) -> bool:
    """A histogram of n_keys bins beats sorting n keys when it is small and has at most about
    ``bins_per_key`` bins per key (8 against ``np.sort``, 4 against the faster ``torch.unique``;
    measured on a CPU core at 0.2–3 M keys)."""
    return n_keys <= BINCOUNT_MAX_KEYS and n_keys <= bins_per_key * n + 4096


def _count_keys_numpy(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys (sorted) and their counts."""
    if _use_histogram(n_keys, keys.size, bins_per_key=8):
        hist = np.bincount(keys, minlength=n_keys)
        present = np.flatnonzero(hist)
        return present.astype(np.int64), hist[present].astype(np.int64)
    if n_keys <= 2**32:  # M <= 65536: 32-bit keys halve the memory traffic of the sort
        keys = keys.astype(np.uint32)
    srt = np.sort(keys)
    if srt.size == 0:
        return srt.astype(np.int64), srt.astype(np.int64)
    first = np.empty(srt.size, dtype=bool)  # True where a run of equal keys starts (no concatenation)
    first[0] = True
    np.not_equal(srt[1:], srt[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(starts, append=srt.size)
    return srt[starts].astype(np.int64), counts.astype(np.int64)


_INT32_SHIFT = 2**31  # k - 2^31 maps [0, 2^32) onto the int32 range, keeping the order


def _count_keys_tensor(keys: "torch.Tensor", n_keys: int) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Distinct int64 keys (sorted) and their int64 counts, computed where ``keys`` lives.

    A histogram (``torch.bincount``) when n_keys is small; else ``torch.unique`` of the keys, shifted
    into int32 when n_keys <= 2^32 (M <= 65,536): a 32-bit sort is about twice as fast as a 64-bit one.
    """
    import torch

    if _use_histogram(n_keys, keys.numel(), bins_per_key=4):
        hist = torch.bincount(keys, minlength=n_keys)
        present = torch.nonzero(hist).squeeze(1)
        return present, hist[present]
    if n_keys <= 2**32:
        uniq, counts = torch.unique((keys - _INT32_SHIFT).to(torch.int32), sorted=True, return_counts=True)
        return uniq.to(torch.int64) + _INT32_SHIFT, counts
    return torch.unique(keys, sorted=True, return_counts=True)


def count_keys(
    keys: np.ndarray, n_keys: int, backend: str = "torch", device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Count int64 keys in [0, n_keys): returns (distinct keys sorted ascending, counts).

    Both backends use a histogram when n_keys is small, else sort.  ``backend="torch"`` (default)
    runs on ``device`` (``"cpu"`` or ``"cuda"``) and sorts 32-bit keys with ``torch.unique``;
    ``backend="numpy"`` is the torch-free reference (``np.sort``, CPU only).
    """
    n_keys = integer(n_keys, "n_keys")
    keys = np.asarray(keys)
    if keys.ndim != 1:
        raise ValueError(f"keys must be a 1-D array, got shape {keys.shape}")
    if keys.size and not np.issubdtype(keys.dtype, np.integer):
        raise ValueError(f"keys must be integers, got dtype {keys.dtype}")
    keys = keys.astype(np.int64, copy=False)
    if keys.size and (int(keys.min()) < 0 or int(keys.max()) >= n_keys):
        raise ValueError(f"keys must lie in [0, n_keys={n_keys}), found [{int(keys.min())}, {int(keys.max())}]")
    _check_backend(backend, device)
    if backend == "numpy":
        return _count_keys_numpy(keys, int(n_keys))
    import torch

    target = torch_device(device) if device is not None else torch.device("cpu")  # names a bad device clearly
    uniq, counts = _count_keys_tensor(torch.from_numpy(np.ascontiguousarray(keys)).to(target), int(n_keys))
    return uniq.cpu().numpy(), counts.cpu().numpy()


def _check_backend(backend: str, device) -> None:
    if backend not in ("torch", "numpy"):
        raise ValueError(f"unknown counting backend {backend!r}; use 'torch' or 'numpy'")
    if backend == "numpy" and device is not None and str(device).split(":")[0] != "cpu":
        raise ValueError(f"the numpy backend counts on the CPU only, got device {device!r}; use backend='torch'")


@dataclass(frozen=True, eq=False)  # tensors have no single truth value to compare
class DeviceCorpus:
    """A :class:`Corpus` held as torch tensors on one device (a GPU, or the CPU), made by
    :func:`corpus_on_device`: :func:`count_pairs` and :func:`two_point_mi` then select the pairs, build
    their keys and count them where the tokens are, and only the counts come back to the host."""

    tokens: "torch.Tensor"  # int64 [n_tokens]
    doc_id: "torch.Tensor"  # int32/int64 [n_tokens]
    vocab_size: int
    n_documents: int

    @property
    def device(self) -> "torch.device":
        return self.tokens.device


def corpus_on_device(documents, device=None, vocab_size: int | None = None) -> DeviceCorpus:
    """The documents (token arrays, a :class:`Corpus` or a :class:`DeviceCorpus`) concatenated and
    copied once to ``device`` (default: the CPU, or where a :class:`DeviceCorpus` already is).

    Counting pairs many times in one corpus (distances, shuffles, benchmarks) then moves no tokens
    between host and device; on the CPU the tensors share the arrays' memory."""
    import torch

    if isinstance(documents, DeviceCorpus):
        if vocab_size is not None and integer(vocab_size, "vocab_size") != documents.vocab_size:
            raise ValueError(f"vocab_size {vocab_size} differs from the corpus's {documents.vocab_size}")
        if device is None or torch_device(device) == documents.device:
            return documents
        return DeviceCorpus(documents.tokens.to(device), documents.doc_id.to(device), documents.vocab_size,
                            documents.n_documents)
    corpus = _as_corpus(documents, vocab_size)
    target = torch_device(device) if device is not None else torch.device("cpu")
    return DeviceCorpus(torch.from_numpy(corpus.tokens).to(target), torch.from_numpy(corpus.doc_id).to(target),
                        corpus.vocab_size, corpus.n_documents)


def _on_cpu(t: "torch.Tensor", torch_ops: bool | None) -> bool:
    """Whether to compute with numpy on ``t``'s memory: on a CPU, unless ``torch_ops`` (tests of the GPU
    branch on a CPU) says otherwise."""
    return t.device.type == "cpu" if torch_ops is None else not torch_ops


def _times(x: "torch.Tensor", m: int, torch_ops: bool | None = None) -> "torch.Tensor":
    """x·m as a new int64 tensor where x lives (on a CPU through numpy on the same memory: torch's own
    int64 arithmetic is several times slower on one core)."""
    import torch

    if _on_cpu(x, torch_ops):
        return torch.from_numpy(x.numpy() * m)
    return x * m


def _plus(a: "torch.Tensor", b: "torch.Tensor", torch_ops: bool | None = None) -> "torch.Tensor":
    """a + b as a new int64 tensor where a lives (on a CPU through numpy, as :func:`_times`)."""
    import torch

    if _on_cpu(a, torch_ops):
        return torch.from_numpy(a.numpy() + b.numpy())
    return a + b.long()


def _device_pairs(corpus: DeviceCorpus, d: int, torch_ops: bool | None = None) -> tuple["torch.Tensor", "torch.Tensor"]:
    """:func:`pair_sample` on the corpus's device: (x, y) tensors of the pairs within documents."""
    import torch

    n = corpus.tokens.numel()
    if d >= n:
        return corpus.tokens[:0], corpus.tokens[:0]
    if _on_cpu(corpus.tokens, torch_ops):  # numpy's boolean indexing, on the same memory: ~2x torch's on a core
        tokens, doc_id = corpus.tokens.numpy(), corpus.doc_id.numpy()
        same = doc_id[:-d] == doc_id[d:]
        return torch.from_numpy(tokens[:-d][same]), torch.from_numpy(tokens[d:][same])
    same = corpus.doc_id[:-d] == corpus.doc_id[d:]
    return torch.masked_select(corpus.tokens[:-d], same), torch.masked_select(corpus.tokens[d:], same)


def count_pairs(
    documents, distance: int, vocab_size: int | None = None, backend: str = "torch", device=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of ordered token pairs at ``distance`` within documents.

    Returns ``(first, second, counts)``: the distinct pairs (sorted by first, then second token) and
    how often each occurs.  ``documents`` is a list of 1-D token arrays, a :class:`Corpus` or, to
    count many times without copying tokens again, a :class:`DeviceCorpus`.  ``backend="torch"``
    (default) selects the pairs and counts their keys with torch on ``device`` (default: the CPU, or
    where a :class:`DeviceCorpus` is), so on a GPU only the distinct pairs and counts are copied
    back; ``backend="numpy"`` is the CPU reference (:func:`count_keys`).
    """
    d = integer(distance, "distance")
    counter = _pair_counter(documents, vocab_size, backend, device)
    return counter.distinct_pairs(*counter.pairs(d))


def _pair_counter(documents, vocab_size: int | None, backend: str, device) -> "_HostPairs":
    """The pair sampler and counter of ``backend``: numpy on host arrays, or torch where the corpus is
    (:func:`corpus_on_device`)."""
    _check_backend(backend, device)
    if backend == "torch":
        return _TorchPairs(corpus_on_device(documents, device, vocab_size))
    if isinstance(documents, DeviceCorpus):
        raise ValueError("the numpy backend counts host arrays: pass the documents or a Corpus, not a DeviceCorpus")
    return _HostPairs(_as_corpus(documents, vocab_size))


class _HostPairs:
    """Pair samples and their counts with numpy on the CPU (the ``numpy`` backend of :func:`two_point_mi`)."""

    def __init__(self, corpus: Corpus):
        self.corpus, self.m = corpus, corpus.vocab_size

    def pairs(self, d: int):
        return pair_sample(self.corpus, d)

    def marginal_counts(self, v) -> np.ndarray:
        return np.bincount(v, minlength=self.m)

    def first_keys(self, x):
        """x·M, the first token's part of the pair keys (computed once per distance)."""
        return x * self.m

    def joint_counts(self, xm, y) -> np.ndarray:
        """Counts of the pair keys xm + y (xm from :meth:`first_keys`)."""
        return _count_keys_numpy(xm + y, self.m * self.m)[1]

    def distinct_pairs(self, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first, second, counts) of the distinct pairs, sorted (:func:`count_pairs`)."""
        keys, counts = _count_keys_numpy(x * self.m + y, self.m * self.m)
        return keys // self.m, keys % self.m, counts

    def to_host(self, v) -> np.ndarray:
        return v

    def from_host(self, a: np.ndarray):
        return a


class _TorchPairs(_HostPairs):
    """The same with torch where a :class:`DeviceCorpus` lives: only counts cross to the host, except
    for the floor's shuffles, whose second tokens go to the host and come back permuted."""

    def __init__(self, corpus: DeviceCorpus):
        self.corpus, self.m = corpus, corpus.vocab_size

    def pairs(self, d: int):
        return _device_pairs(self.corpus, d)

    def marginal_counts(self, v) -> np.ndarray:
        import torch

        return torch.bincount(v, minlength=self.m).cpu().numpy()

    def first_keys(self, x):
        return _times(x, self.m)

    def joint_counts(self, xm, y) -> np.ndarray:
        return _count_keys_tensor(_plus(xm, y), self.m * self.m)[1].cpu().numpy()

    def distinct_pairs(self, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import torch

        m = self.m
        keys, counts = _count_keys_tensor(_plus(_times(x, m), y), m * m)
        if keys.device.type == "cpu":  # numpy's divmod is about 3x faster than torch's int64 division on a core
            first, second = np.divmod(keys.numpy(), m)
            return first, second, counts.numpy()
        first = keys // m
        table = torch.stack([first, keys - first * m, counts]).cpu().numpy()  # one copy back
        return table[0], table[1], table[2]

    def to_host(self, v) -> np.ndarray:
        return v.cpu().numpy()

    def from_host(self, a: np.ndarray):
        import torch

        return torch.from_numpy(a).to(self.corpus.device)


# --------------------------------------------------------------------------------------------------
# alternative units: characters and words
# --------------------------------------------------------------------------------------------------

# a word: letters with inner apostrophes (king's), or digits; any other non-space character alone
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*|\d+|[^\w\s]|_")


def _text_list(texts: Sequence[str]) -> list[str]:
    """``texts`` as a non-empty list of strings (a single string is refused: it would be read as one
    text per character)."""
    texts = strings(texts, "texts")
    if not texts:
        raise ValueError("no texts to encode")
    return texts


def character_ids(texts: Sequence[str]) -> tuple[list[np.ndarray], list[str]]:
    """Each text as an array of character ids; ids index the returned alphabet (sorted by code point).

    Characters are Unicode code points; the alphabet holds only the characters that occur.
    """
    texts = _text_list(texts)
    codes = [np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32) for t in texts]
    alphabet, inverse = np.unique(np.concatenate(codes), return_inverse=True)
    bounds = np.cumsum([c.size for c in codes])[:-1]
    return [a.astype(np.int64) for a in np.split(inverse, bounds)], [chr(int(c)) for c in alphabet]


def word_ids(
    texts: Sequence[str], vocab_size: int, lowercase: bool = True
) -> tuple[list[np.ndarray], list[str]]:
    """Each text as an array of word ids with a capped vocabulary.

    Words are runs of letters (with apostrophes) or of digits, and every other non-space character
    is a token of its own (punctuation).  The ``vocab_size - 1`` most frequent words (ties broken
    alphabetically) get ids 0, 1, ...; all others share the last id, ``"<other>"``.
    """
    integer(vocab_size, "vocab_size", minimum=2, why="one word and <other>")
    texts = _text_list(texts)
    words = [_WORD.findall(t.lower() if lowercase else t) for t in texts]
    # a hash count and a dict lookup per word: on the plays (0.9M words) about twice as fast as
    # np.unique over a string array, which sorts (words are strings here, not yet integer ids)
    freq = _Counter(w for ws in words for w in ws)
    ranked = sorted(freq, key=lambda w: (-freq[w], w))[: vocab_size - 1]
    index = {w: i for i, w in enumerate(ranked)}
    other = len(ranked)
    docs = [np.fromiter((index.get(w, other) for w in ws), dtype=np.int64, count=len(ws)) for ws in words]
    return docs, ranked + ["<other>"]


# --------------------------------------------------------------------------------------------------
# the estimate, its bias floor and the fit
# --------------------------------------------------------------------------------------------------

@dataclass
class TwoPointResult:
    """Two-point MI estimates at several distances (nats).

    ``mi[k]`` = H(X) + H(Y) - H(XY) at ``distances[k]`` from ``n_pairs[k]`` pairs; when the floor
    was estimated, ``floor_mean``/``floor_std`` are the mean and standard deviation of the same
    estimator over ``n_shuffles`` shuffles of the second tokens.
    """

    distances: np.ndarray
    mi: np.ndarray
    n_pairs: np.ndarray
    h_x: np.ndarray
    h_y: np.ndarray
    h_xy: np.ndarray
    vocab_size: int
    estimator: str
    floor_mean: np.ndarray | None = None
    floor_std: np.ndarray | None = None
    n_shuffles: int = 0
    floor_samples: np.ndarray | None = field(default=None, repr=False)

    def excess(self) -> np.ndarray:
        """mi - floor_mean: the estimate with the directly measured bias floor subtracted."""
        if self.floor_mean is None:
            raise ValueError("no floor was estimated: call two_point_mi with n_shuffles >= 1")
        return self.mi - self.floor_mean


def _check_distances(distances: Sequence[int]) -> np.ndarray:
    d = np.array(integers(distances, "distances", "distance"), dtype=np.int64)
    if np.unique(d).size != d.size:
        raise ValueError(f"distances repeat: {d.tolist()}")
    return d


def powers_of_two(max_distance: int) -> list[int]:
    """1, 2, 4, ... up to ``max_distance`` (inclusive)."""
    integer(max_distance, "max_distance")
    return [1 << k for k in range(int(max_distance).bit_length()) if (1 << k) <= max_distance]


def two_point_mi(
    documents: Sequence[np.ndarray],
    distances: Sequence[int],
    vocab_size: int | None = None,
    estimator: str = "grassberger",
    n_shuffles: int = 0,
    seed: int = 0,
    backend: str = "torch",
    device=None,
    min_pairs: int = 1,
) -> TwoPointResult:
    """Estimate I(W_i; W_{i+d}) at each distance from pair counts within documents.

    ``estimator``: ``"grassberger"`` (default), ``"naive"`` or ``"miller_madow"``.
    ``n_shuffles`` > 0 also estimates the bias floor at each d: the estimator on the pair sample
    with its second tokens randomly permuted (same N_d, same marginal counts), repeated with
    independent permutations drawn from ``seed``.  Distances with fewer than ``min_pairs`` pairs
    raise ``ValueError`` (the data do not reach them).  ``backend`` and ``device``: as in
    :func:`count_keys`.
    """
    ds = _check_distances(distances)
    integer(n_shuffles, "n_shuffles", minimum=0)
    min_pairs = max(integer(min_pairs, "min_pairs", minimum=0), 1)
    counter = _pair_counter(documents, vocab_size, backend, device)
    m = counter.m
    rng = seeded_rng(seed)
    out = {k: np.empty(ds.size) for k in ("mi", "h_x", "h_y", "h_xy")}
    n_pairs = np.empty(ds.size, dtype=np.int64)
    floors = np.empty((ds.size, n_shuffles))
    for k, d in enumerate(ds):
        x, y = counter.pairs(int(d))
        n = int(x.shape[0])
        if n < min_pairs:
            raise ValueError(
                f"distance {d} leaves {n} pairs (fewer than min_pairs={min_pairs}); "
                "the documents are too short for it"
            )
        n_pairs[k] = n
        hx = entropy_from_counts(counter.marginal_counts(x), estimator)
        hy = entropy_from_counts(counter.marginal_counts(y), estimator)
        xm = counter.first_keys(x)
        hxy = entropy_from_counts(counter.joint_counts(xm, y), estimator)
        out["h_x"][k], out["h_y"][k], out["h_xy"][k] = hx, hy, hxy
        out["mi"][k] = hx + hy - hxy
        if not n_shuffles:
            continue
        # the permutations are drawn on the host by numpy, so that every device gives the same floors.
        # Permuting the tokens themselves, as int32 (M < 2^31), draws the same permutations as
        # y[rng.permutation(y.size)] (one Fisher-Yates pass, same random swaps) and moves half the bytes
        y_host = counter.to_host(y)
        y_small = y_host.astype(np.int32) if m <= np.iinfo(np.int32).max else y_host
        for s in range(n_shuffles):
            y_perm = counter.from_host(rng.permutation(y_small))
            floors[k, s] = hx + hy - entropy_from_counts(counter.joint_counts(xm, y_perm), estimator)
    result = TwoPointResult(
        distances=ds, n_pairs=n_pairs, vocab_size=m, estimator=estimator, n_shuffles=n_shuffles, **out
    )
    if n_shuffles:
        result.floor_samples = floors
        result.floor_mean = floors.mean(axis=1)
        result.floor_std = floors.std(axis=1, ddof=1) if n_shuffles > 1 else np.zeros(ds.size)
    return result


def support_tests(
    result: TwoPointResult, z: float = 3.0, min_ratio: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """The two conditions of :func:`supported_distances`, per distance: (the excess mi - floor_mean
    clears :func:`floor_threshold` ``(z, n_shuffles)`` floor standard deviations, the excess clears
    ``min_ratio`` times the floor)."""
    if result.floor_mean is None or result.floor_std is None:
        raise ValueError("the result has no floor: estimate it with two_point_mi(..., n_shuffles >= 2)")
    if result.n_shuffles < 2:
        raise ValueError("significance needs the spread of the floor: use n_shuffles >= 2")
    if not (is_real(z) and is_real(min_ratio) and z >= 0 and min_ratio >= 0):  # also refuses NaN
        raise ValueError(f"z and min_ratio must be >= 0, got z={z}, min_ratio={min_ratio}")
    excess = result.mi - result.floor_mean
    threshold = floor_threshold(z, result.n_shuffles) * result.floor_std
    return excess > threshold, excess > min_ratio * np.abs(result.floor_mean)


def supported_distances(
    result: TwoPointResult, z: float = 3.0, min_ratio: float = 0.1
) -> np.ndarray:
    """Boolean mask: is ``mi`` at each distance significantly above the shuffled floor?

    A distance counts when the excess mi - floor_mean is both larger than
    :func:`floor_threshold` ``(z, n_shuffles)`` times the spread of the floor over shuffles (the
    shuffles are draws of the estimator under independence) *and* larger than ``min_ratio`` times
    the floor itself (:func:`support_tests` gives the two separately).  The second condition is a
    margin for what the shuffles cannot see: the bias of the estimator for the real, dependent pair
    distribution is not exactly the bias for the shuffled, independent one.
    """
    above_shuffles, above_margin = support_tests(result, z, min_ratio)
    return above_shuffles & above_margin


def floor_threshold(z: float, n_shuffles: int) -> float:
    """How many floor standard deviations an estimate must clear for a one-sided level of ``z``
    standard normal deviations (z = 3: 0.13%), when the floor's mean and standard deviation come
    from ``n`` shuffles.

    For a normal floor, a new draw x compared with the mean m and standard deviation s of n draws
    gives (x - m) / (s sqrt(1 + 1/n)) ~ Student t with n - 1 degrees of freedom, so the threshold is
    ``t_{n-1}^{-1}(Phi(z)) * sqrt(1 + 1/n)`` (computed from the upper tails, so that a large z does not
    round Phi(z) to 1 and the threshold to infinity): 4.8 for n = 8, 22 for n = 3 (the plain z = 3 would be
    wrong 6% of the time with 3 shuffles and 12% with 2).  It tends to z as n grows.
    """
    from scipy import stats

    integer(n_shuffles, "n_shuffles", minimum=2, why="a floor threshold needs a spread of floors")
    if not (is_real(z) and z >= 0):  # also refuses NaN
        raise ValueError(f"z must be >= 0, got {z!r}")
    n = int(n_shuffles)
    return float(stats.t.isf(stats.norm.sf(z), df=n - 1) * math.sqrt(1 + 1 / n))


def max_supported_distance(result: TwoPointResult, z: float = 3.0, min_ratio: float = 0.1) -> int | None:
    """The largest d such that *every* distance up to it is significantly above the floor
    (:func:`supported_distances`); ``None`` if not even the smallest one is."""
    ok = supported_distances(result, z, min_ratio)
    order = np.argsort(result.distances)
    best = None
    for k in order:
        if not ok[k]:
            break
        best = int(result.distances[k])
    return best


# --------------------------------------------------------------------------------------------------
# local decay exponents above the floor, with a jackknife over documents
# --------------------------------------------------------------------------------------------------

def local_exponents(distances: ArrayLike, excess: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d_lo, d_hi, lambda): the local decay exponent of e(d) between successive distances,
    lambda_k = -(log e_{k+1} - log e_k) / (log d_{k+1} - log d_k)  (e = A d^-alpha gives alpha).

    ``ValueError`` unless distances increase and every excess is positive and finite.  Fewer than two
    distances give three empty arrays (no segment to measure), which chapter 3 reports as such."""
    d = np.asarray(distances, dtype=np.float64)
    e = np.asarray(excess, dtype=np.float64)
    if d.ndim != 1 or e.shape != d.shape:
        raise ValueError(f"distances and excess must be 1-D arrays of one length, got {d.shape} and {e.shape}")
    if d.size and (not np.all(np.isfinite(d)) or np.any(d <= 0) or np.any(np.diff(d) <= 0)):
        raise ValueError(f"distances must be finite, positive and increasing, got {d.tolist()}")
    if not np.all(np.isfinite(e)) or np.any(e <= 0):
        raise ValueError("the excess over the floor must be positive and finite at every distance "
                         f"(a log is taken), got {e.tolist()}")
    return d[:-1], d[1:], -np.diff(np.log(e)) / np.diff(np.log(d))


@dataclass
class LocalExponents:
    """Local decay exponents of I_d - floor between successive distances, with jackknife errors.

    ``se[k]`` is NaN when some replicate's excess was not positive at d_lo[k] or d_hi[k] (no log);
    ``n_groups`` documents groups were left out in turn."""

    d_lo: np.ndarray
    d_hi: np.ndarray
    exponent: np.ndarray
    se: np.ndarray
    n_groups: int
    replicates: np.ndarray = field(repr=False)  # [n_groups, n_segments], NaN where undefined

    def difference_se(self, i: int, j: int) -> float:
        """Jackknife standard error of exponent[i] - exponent[j], from the same replicates (the two
        exponents share the documents, so their errors are correlated)."""
        return float(jackknife_se(self.replicates[:, i] - self.replicates[:, j]))


MAX_GROUP_IMBALANCE = 1.5  # the largest jackknife group may hold at most 1.5x the tokens of the smallest


def document_groups(lengths: Sequence[int], n_groups: int) -> np.ndarray:
    """Group index of each document, ``n_groups`` groups of nearly equal token counts (longest document
    first, each to the group with the fewest tokens so far; ties to the lowest index).  Deterministic.
    Empty documents get group -1 (they hold no pairs).  ``ValueError`` when fewer non-empty documents
    than groups, or when the groups cannot be balanced within :data:`MAX_GROUP_IMBALANCE` (one document
    dominates): the delete-a-group jackknife assumes groups of about equal size."""
    lengths = np.asarray(integers(lengths, "lengths", "document length", minimum=0), dtype=np.int64)
    integer(n_groups, "n_groups", minimum=2, why="a jackknife needs at least 2 groups")
    filled = np.flatnonzero(lengths > 0)
    if filled.size < n_groups:
        raise ValueError(f"{filled.size} non-empty documents cannot form {n_groups} groups: use n_groups <= {filled.size}")
    group = np.full(lengths.size, -1, dtype=np.int64)
    totals = np.zeros(n_groups, dtype=np.int64)
    for k in filled[np.argsort(-lengths[filled], kind="stable")]:  # a loop over documents, not tokens
        g = int(np.argmin(totals))
        group[k] = g
        totals[g] += lengths[k]
    if totals.max() > MAX_GROUP_IMBALANCE * totals.min():
        raise ValueError(f"the documents cannot be split into {n_groups} groups of similar size (largest "
                         f"{int(totals.max())} tokens, smallest {int(totals.min())}): use fewer groups or more, "
                         "shorter documents")
    return group


def jackknife_local_exponents(
    result: TwoPointResult,
    documents: Sequence[np.ndarray],
    distances: Sequence[int],
    n_groups: int = 8,
    n_shuffles: int = 16,
    seed: int = 0,
    backend: str = "torch",
    device=None,
    progress: bool = False,
) -> LocalExponents:
    """Local decay exponents of I_d - floor at ``distances`` (from ``result``, which must hold them and
    a floor) and their delete-a-group jackknife standard errors over documents.

    The documents are split into ``n_groups`` groups of about equal size (:func:`document_groups`).
    Replicate g recounts the pairs without group g (same estimator as ``result``), subtracts its own
    shuffled floor (``n_shuffles`` permutations: the floor depends on the number of pairs) and
    computes the exponents; SE = sqrt((G-1)/G * sum_g (lambda_g - mean_g lambda_g)^2).  Pairs within
    one document are dependent, so whole documents are left out, not pairs.  The replicates' floors
    are independent estimates, and their noise enters the scatter about G - 1 times: the SE is
    somewhat conservative, less so with more shuffles (16 by default).
    """
    if result.floor_mean is None:
        raise ValueError("result has no floor: compute it with two_point_mi(..., n_shuffles >= 1)")
    integer(n_shuffles, "n_shuffles", why="each replicate needs its own floor")
    seed = integer(seed, "seed", minimum=0)
    ds = _check_distances(distances)
    index = {int(d): k for k, d in enumerate(result.distances)}
    missing = [int(d) for d in ds if int(d) not in index]
    if missing:
        raise ValueError(f"distances {missing} are not in the result (it has {result.distances.tolist()})")
    rows = np.array([index[int(d)] for d in ds])
    d_lo, d_hi, lam = local_exponents(ds, result.excess()[rows])
    if isinstance(documents, DeviceCorpus):
        device = documents.device if device is None else device  # the replicates count where it lives
        documents = Corpus(documents.tokens.cpu().numpy(), documents.doc_id.cpu().numpy(), documents.vocab_size,
                           documents.n_documents)
    if isinstance(documents, Corpus):  # back to its documents (pairs never straddle two of them)
        cuts = np.flatnonzero(np.diff(documents.doc_id)) + 1
        docs = np.split(documents.tokens, cuts)
    else:
        docs = [np.asarray(doc) for doc in (documents if not isinstance(documents, np.ndarray) or documents.dtype == object
                                            else [documents])]
    d0 = int(result.distances[0])
    check = two_point_mi(docs, [d0], result.vocab_size, result.estimator, backend=backend, device=device)
    if int(check.n_pairs[0]) != int(result.n_pairs[0]) or not np.isclose(check.mi[0], result.mi[0], rtol=1e-9, atol=0):
        raise ValueError(f"these documents give another estimate at d = {d0} than the result ({check.mi[0]:.6g} "
                         f"nats from {int(check.n_pairs[0])} pairs, not {result.mi[0]:.6g} from "
                         f"{int(result.n_pairs[0])}): pass the documents the result was computed from")
    group = document_groups([doc.size for doc in docs], n_groups)
    reps = np.full((n_groups, lam.size), np.nan)
    groups = range(n_groups)
    if progress:
        groups = progress_bar(groups, desc="jackknife over document groups")
    for g in groups:
        kept = [doc for doc, gg in zip(docs, group) if gg != g]
        try:
            r = two_point_mi(kept, ds, result.vocab_size, result.estimator, n_shuffles, seed + 1 + g, backend, device)
        except ValueError as err:
            raise ValueError(f"jackknife replicate {g} (documents of group {g} left out): {err}") from err
        e = r.excess()
        with np.errstate(divide="ignore", invalid="ignore"):
            le = np.where(e > 0, np.log(np.where(e > 0, e, 1.0)), np.nan)
        reps[g] = -np.diff(le) / np.diff(np.log(ds.astype(np.float64)))
    return LocalExponents(d_lo, d_hi, lam, jackknife_se(reps), n_groups, reps)
