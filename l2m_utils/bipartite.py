"""Bipartite mutual information of text measured with a model of it.  Introduced in chapter 4.

Samples are blocks of tokens w_1..w_T (no BOS; the scorer adds its own).  For a block length L and
a split ratio r = L/ℓ the past is X = w_{1:ℓ} and the future Y = w_{ℓ+1:L}, with ℓ = round(L / r).
All estimators consume per-token log-probabilities from any
:class:`~l2m_utils.scoring.TokenScorer` (log q(w_t | BOS, w_<t), nats):

* **direct** (notes §3): I_direct = E[log q(Y|X) - log q(Y)].  log q(Y|X) is the sum of the
  log-probabilities of Y's tokens when the whole sequence X+Y is scored; log q(Y) sums those of Y
  scored alone after BOS.  With q = p it is exactly I(X;Y) in expectation; with an imperfect q it
  is I + D_KL(p_Y‖q_Y) - D_KL(p_Y|X‖q_Y|X): not a bound.
* **BOS correction** (notes §3, optional).  Our reading: q(Y) is really q(Y | BOS), and a model
  treats the first tokens after BOS as the start of a text, which Y is not; its cross-entropy on
  the first two tokens of Y, CE12 = -log q(y_1 y_2 | BOS), is therefore too large and inflates
  I_direct.  The paper replaces CE12, in the cross-entropy H(p_Y, q_Y), by
  CE12/5 + 4 H_G(Y1Y2)/5, where H_G(Y1Y2) is the Grassberger estimate of the entropy of the
  corpus's 2-grams (adjacent pairs, the distribution of two consecutive tokens at a random place in
  a text).  The weights 1/5 and 4/5 are the paper's; we apply the replacement per sample:
  I_i <- I_i - (4/5) (CE12_i - H_G(Y1Y2)), which shifts the mean by -(4/5)(mean CE12 - H_G).
* **vCLUB** (notes §3; {cite}`cheng2020club`): I_vCLUB = E_{p_XY}[log q(Y|X)] - E_{p_X⊗p_Y}[log q(Y|X)].
  The second term scores X of sample i followed by Y of sample sigma(i), sigma a derangement drawn
  from ``seed`` (a random cyclic order: no sample is paired with itself).  With q = p it is an upper
  bound: I + E_x D_KL(p_Y ‖ p_Y|X=x).  Its per-sample values are grouped by *future block*:
  v_j = log q(Y_j|X_j) - log q(Y_j|X_{sigma^-1(j)}), the same Y under its own past and under another.
  Their mean is the estimate (the same sum, reordered); grouped by past block instead, each value
  would carry log q(Y_j) - log q(Y_sigma(j)), a difference between two texts that cancels in the mean
  but would inflate the standard error and the bootstrap intervals several-fold.

* **position / context split** (:func:`direct_split`, chapters 4, 7 and 8).  Reading Y alone once
  more at the positions it has after X (``shifted(ℓ)``: a scorer such as
  ``CausalLMScorer(position_offset=ℓ)``) splits I_direct per sample into a position part,
  log q(Y read late) - log q(Y), and a context part, log q(Y|X) - log q(Y read late).  The shifted
  reading is off a model's training distribution (a late position always follows a long past), so
  the split tells how far I_direct lies from the context part, not which is right.

Per-sample values are kept, so means come with standard errors (std / sqrt(n)) and the power-law
fit of :mod:`l2m_utils.fits` can bootstrap over samples.

**Reusing work in a length sweep.**  The samples for a shorter L are prefixes of those for the
longest L, and for a causal model the log-probabilities of a prefix do not depend on what follows
it.  So log q(Y|X) for *every* (L, ℓ) comes from one scoring pass over the longest block.  log q(Y)
needs Y scored alone: one pass per distinct split point ℓ, over w_{ℓ+1:L'} with L' the largest L
using that ℓ (shorter L with the same ℓ read prefixes of it).  vCLUB likewise needs one pass per
distinct ℓ over the mismatched sequences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple, Sequence

import numpy as np

from .checks import integer, integers, is_real, listed, seeded_rng
from .entropy_estimators import grassberger_entropy
from .fits import PowerLawFit, bootstrap_power_law
from .information import check_tokens
from .scoring import TokenScorer
from .two_point import count_pairs
from .progress import progress_bar

ESTIMATOR_NAMES = ("direct", "vclub")
BOS_WEIGHT_MODEL = 1.0 / 5.0  # weight of the model's cross-entropy on (Y1, Y2) in the correction
BOS_WEIGHT_COUNTS = 4.0 / 5.0  # weight of the count-based 2-gram entropy


@dataclass
class BipartiteEstimate:
    """One estimator at one split ratio over a sweep of block lengths (nats).

    ``per_sample[i, k]`` is sample i's value at ``lengths[k]`` (split at ``ells[k]``).
    """

    estimator: str
    ratio: float
    lengths: np.ndarray
    ells: np.ndarray
    per_sample: np.ndarray
    bos_corrected: bool = False

    @property
    def mean(self) -> np.ndarray:
        """Mean over samples at each block length: the estimate (nats)."""
        return self.per_sample.mean(axis=0)

    @property
    def se(self) -> np.ndarray:
        """Standard error of the mean over samples: std(ddof=1) / sqrt(n)."""
        n = self.per_sample.shape[0]
        return self.per_sample.std(axis=0, ddof=1) / np.sqrt(n)

    def faithful_start(self, rel_tol: float = 0.1) -> int | None:
        """Shortest L from which every longer block's realised split ratio L/ℓ lies within ``rel_tol``
        of the nominal ``ratio`` (None when the longest block misses it).

        ℓ = round(L/r) is coarse at small L: at r = 3, L = 4 gives ℓ = 1 (a 4:1 split) and L = 16 gives
        ℓ = 5 (3.2:1), so the shortest blocks of a sweep measure other splits than the nominal one.
        """
        if not (is_real(rel_tol) and rel_tol > 0):
            raise ValueError(f"rel_tol must be positive, got {rel_tol!r}")
        if self.lengths.size == 0 or np.any(np.diff(self.lengths) <= 0):
            raise ValueError(f"lengths must be non-empty and increasing, got {self.lengths.tolist()}")
        ok = np.abs(self.lengths / self.ells - self.ratio) <= rel_tol * self.ratio
        if not ok[-1]:
            return None
        first = 0 if ok.all() else len(ok) - int(np.argmin(ok[::-1]))
        return int(self.lengths[first])

    def fit(self, n_boot: int = 1000, seed: int = 0, level: float = 0.95, min_length: int = 1) -> PowerLawFit:
        """Power law A L^beta through the means at L >= ``min_length``, bootstrapping over samples."""
        keep = self.lengths >= min_length
        return bootstrap_power_law(self.lengths[keep], self.per_sample[:, keep], n_boot, seed, level)


# --------------------------------------------------------------------------------------------------
# validation and small helpers
# --------------------------------------------------------------------------------------------------

def _is_ratio(r) -> bool:
    """A split ratio L/ell: a finite number > 1 (not a string)."""
    return is_real(r) and np.isfinite(r) and r > 1


def check_ratios(ratios: Sequence[float]) -> tuple[float, ...]:
    """The split ratios L/ell as floats; ``ValueError`` for none, or for one that is not a finite number > 1."""
    ratios = listed(ratios, "ratios", "split ratios L/ell")
    if len(ratios) == 0:
        raise ValueError("no split ratio given: pass at least one ratio L/ell > 1")
    bad = [r for r in ratios if not _is_ratio(r)]
    if bad:
        raise ValueError(f"split ratios L/ell must be finite and > 1, got {bad}")
    return tuple(float(r) for r in ratios)


def split_point(length: int, ratio: float) -> int:
    """ℓ = round(L / ratio) (halves round up); ``ValueError`` unless L >= ratio and
    1 <= ℓ <= L - 1 (L too short for the split)."""
    if not _is_ratio(ratio):
        raise ValueError(f"split ratio L/ell must be > 1 and finite, got {ratio!r}")
    length = integer(length, "block length L", minimum=None)
    ell = int(np.floor(length / ratio + 0.5))
    if length < 2 or length < ratio or not 1 <= ell <= length - 1:
        raise ValueError(
            f"block length L={length} is too short for split ratio {ratio}: "
            f"need L >= ratio and ell = round(L/ratio) = {ell} in [1, L-1]"
        )
    return ell


def derangement(n: int, seed: int) -> np.ndarray:
    """A random permutation sigma of range(n) with sigma[i] != i (one random n-cycle); n >= 2."""
    n = integer(n, "the number of samples", minimum=None)
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 samples, got {n}")
    order = seeded_rng(seed).permutation(n)
    sigma = np.empty(n, dtype=np.int64)
    sigma[order] = np.roll(order, -1)  # order[k] -> order[k+1]
    return sigma


def _check_samples(samples: np.ndarray, vocab_size: int) -> np.ndarray:
    arr = np.asarray(samples)
    if arr.ndim != 2:
        raise ValueError(f"samples must be a 2-D array [n_samples, T], got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError(f"need at least 2 samples (standard errors, vCLUB pairing), got {arr.shape[0]}")
    if arr.shape[1] < 2:
        raise ValueError(f"samples must have at least 2 tokens, got T={arr.shape[1]}")
    return check_tokens(arr, vocab_size)


def score_batched(scorer: TokenScorer, tokens: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """``scorer.token_logprobs`` over batches of rows; checks shape and values of the result.

    Raises ``ValueError`` if the scorer returns the wrong shape, NaN, +inf or positive values
    (log-probabilities must be <= 0), or -inf (zero probability for an observed token: every
    cross-entropy is infinite and no estimate exists).
    """
    batch_size = integer(batch_size, "batch_size")
    tokens = np.asarray(tokens)
    if np.ndim(tokens) != 2:
        raise ValueError(f"tokens must be a 2-D array [n_sequences, length], got shape {np.shape(tokens)}")
    n, t = tokens.shape
    out = np.empty((n, t), dtype=np.float64)
    for start in range(0, n, batch_size):
        chunk = tokens[start:start + batch_size]
        lp = np.asarray(scorer.token_logprobs(chunk), dtype=np.float64)
        if lp.shape != chunk.shape:
            raise ValueError(f"scorer returned shape {lp.shape} for tokens of shape {chunk.shape}")
        out[start:start + len(chunk)] = lp
    if np.isnan(out).any():
        raise ValueError("the scorer returned NaN log-probabilities")
    if np.isneginf(out).any():
        raise ValueError("the scorer gives probability 0 (log-prob -inf) to an observed token; "
                         "cross-entropies are infinite")
    if np.isposinf(out).any() or (out > 1e-6).any():
        raise ValueError(f"log-probabilities must be <= 0, the scorer returned up to {out.max():.3g}")
    return out


def _prefix_sums(logp: np.ndarray) -> np.ndarray:
    """cs[:, t] = sum of logp[:, :t] (cs[:, 0] = 0)."""
    cs = np.zeros((logp.shape[0], logp.shape[1] + 1))
    np.cumsum(logp, axis=1, out=cs[:, 1:])
    return cs


def bigram_entropy(documents: Sequence[np.ndarray], vocab_size: int | None = None) -> float:
    """H_G(Y1Y2): Grassberger estimate of the entropy of adjacent token pairs (2-grams) of a corpus,
    pairs taken within documents (for the BOS correction).  ``ValueError`` for documents without a pair."""
    return grassberger_entropy(_adjacent_pair_counts(documents, vocab_size)[2])


def _adjacent_pair_counts(documents: Sequence[np.ndarray], vocab_size: int | None) -> tuple[np.ndarray, ...]:
    """:func:`~l2m_utils.two_point.count_pairs` at distance 1; ``ValueError`` when there is no pair."""
    first, second, counts = count_pairs(documents, 1, vocab_size)
    if counts.sum() == 0:
        raise ValueError("the documents hold no adjacent pair (empty, or every document has one token)")
    return first, second, counts


class PairSurprisal(NamedTuple):
    """Per-pair result of :meth:`PairFrequencies.surprisal`."""

    nats: np.ndarray  # -log p̂(a, b)
    seen: np.ndarray  # bool: the pair occurs in the counted documents (False: its count was taken as 1/2)


@dataclass(frozen=True)
class PairFrequencies:
    """Counts of the adjacent token pairs within a set of documents, counted once and queried often.

    Chapter 4 uses it to ask, without a model, how unusual the first pair Y₁Y₂ of a future block is.
    """

    keys: np.ndarray  # a * vocab_size + b of every distinct pair (a, b), sorted
    counts: np.ndarray  # n(a, b)
    total: int  # N, the number of adjacent pairs
    vocab_size: int

    @classmethod
    def from_documents(cls, documents: Sequence[np.ndarray], vocab_size: int) -> "PairFrequencies":
        """Count the adjacent pairs within ``documents`` (as :func:`bigram_entropy` does).
        ``ValueError`` for documents without a pair."""
        vocab_size = integer(vocab_size, "vocab_size")
        first, second, counts = _adjacent_pair_counts(documents, vocab_size)
        return cls(first * vocab_size + second, counts, int(counts.sum()), vocab_size)

    def surprisal(self, pairs: np.ndarray) -> PairSurprisal:
        """Plug-in surprisal -log p̂(a, b) (nats) of each pair (a, b), the rows of ``pairs``.

        p̂(a, b) = n(a, b) / N; a pair that never occurs in the counted documents is given the count
        1/2, so that every surprisal is finite, and is marked unseen.  The mean over the counted
        documents' own pairs is their plug-in 2-gram entropy.  ``ValueError`` for pairs not of shape
        [n, 2] (n >= 1) or ids outside [0, vocab_size).
        """
        arr = np.asarray(pairs)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f"pairs must have shape [n, 2], got {arr.shape}")
        arr = check_tokens(arr, self.vocab_size, "pairs")
        query = arr[:, 0] * self.vocab_size + arr[:, 1]
        at = np.minimum(np.searchsorted(self.keys, query), self.keys.size - 1)
        seen = self.keys[at] == query
        n_ab = np.where(seen, self.counts[at], 0.5)
        return PairSurprisal(np.log(self.total) - np.log(n_ab), seen)


def default_lengths(max_length: int, min_length: int = 4) -> list[int]:
    """L = 4, 8, ..., up to ``max_length`` (powers of two)."""
    min_length = integer(min_length, "min_length")
    max_length = integer(max_length, "max_length", minimum=None)
    if max_length < min_length:
        raise ValueError(f"max_length {max_length} is below the smallest length {min_length}")
    out, length = [], min_length
    while length <= max_length:
        out.append(length)
        length *= 2
    return out


def shortest_length(ratios: Sequence[float], min_future: int = 2, start: int = 4) -> int:
    """The smallest L = start·2^k at which every split ratio r gives a valid split,
    ℓ = round(L/r) in [1, L−1], with a future block of L − ℓ >= ``min_future`` tokens (the BOS
    correction scores the pair Y₁Y₂, so it needs 2).  ``ValueError`` for a ratio that is <= 1 or
    not finite."""
    ratios = check_ratios(ratios)
    length = integer(start, "start")
    min_future = integer(min_future, "min_future")
    while True:
        try:
            if all(length - split_point(length, r) >= min_future for r in ratios):
                return length
        except ValueError:  # L shorter than a ratio allows
            pass
        length *= 2


# --------------------------------------------------------------------------------------------------
# the sweep
# --------------------------------------------------------------------------------------------------

def bipartite_sweep(
    scorer: TokenScorer,
    samples: np.ndarray,
    lengths: Sequence[int],
    ratios: Iterable[float] = (2,),
    estimators: Iterable[str] = ESTIMATOR_NAMES,
    bos_correction: bool = False,
    bigram_entropy_nats: float | None = None,
    seed: int = 0,
    batch_size: int = 64,
    progress: bool = False,
) -> dict[tuple[str, float], BipartiteEstimate]:
    """Direct and/or vCLUB bipartite MI at every (L, ratio), reusing scoring passes (module docs).

    ``samples``: int [n, T] with T >= max(lengths).  Returns ``{(estimator, ratio): estimate}``.
    With ``bos_correction`` the direct estimator uses the BOS correction with
    ``bigram_entropy_nats`` = H_G(Y1Y2) (see :func:`bigram_entropy`); every Y must then have at
    least 2 tokens.  Scoring passes: 1 + (number of distinct ℓ) for direct (the pass over
    the whole block is shared), plus one more per distinct ℓ for vCLUB.
    """
    samples = _check_samples(samples, int(scorer.vocab_size))
    estimators = tuple(listed(estimators, "estimators", "estimator names"))
    for e in estimators:
        if e not in ESTIMATOR_NAMES:
            raise ValueError(f"unknown estimator {e!r}; known: {', '.join(ESTIMATOR_NAMES)}")
    if not estimators:
        raise ValueError("no estimator requested")
    ratios = check_ratios(ratios)
    lens = np.asarray(integers(lengths, "lengths", "block length"), dtype=np.int64)
    if np.unique(lens).size != lens.size:
        raise ValueError(f"lengths repeat: {lens.tolist()}")
    lens = np.sort(lens)
    n, t_avail = samples.shape
    if lens[-1] > t_avail:
        raise ValueError(f"the longest block length {lens[-1]} exceeds the samples' {t_avail} tokens")
    ells = {r: np.array([split_point(length, r) for length in lens]) for r in ratios}
    if bos_correction and "direct" not in estimators:
        raise ValueError(f"bos_correction applies to the direct estimator only, and estimators={estimators} "
                         "does not include it")
    if not bos_correction and bigram_entropy_nats is not None:  # it would be ignored without a word
        raise ValueError("bigram_entropy_nats is used only by the BOS correction: pass bos_correction=True with it, "
                         "or leave it out")
    if bos_correction:
        if not is_real(bigram_entropy_nats) or not np.isfinite(bigram_entropy_nats) or bigram_entropy_nats <= 0:
            raise ValueError("bos_correction needs bigram_entropy_nats = H_G(Y1Y2) > 0 (see bigram_entropy)")
        for r in ratios:
            short = lens[(lens - ells[r]) < 2]
            if short.size:
                raise ValueError(f"the BOS correction needs Y of at least 2 tokens; L={short.tolist()} "
                                 f"at ratio {r} leaves fewer")

    # longest L for each distinct split point: one pass each over Y alone / mismatched sequences
    reach: dict[int, int] = {}
    for r in ratios:
        for length, ell in zip(lens, ells[r]):
            reach[int(ell)] = max(reach.get(int(ell), 0), int(length))

    tasks = ["full"] + (["y:" + str(e) for e in sorted(reach)] if "direct" in estimators else []) \
        + (["mis:" + str(e) for e in sorted(reach)] if "vclub" in estimators else [])
    bar = None
    if progress:
        bar = progress_bar(total=len(tasks), desc="scoring passes")

    def tick():
        if bar is not None:
            bar.update(1)

    cs_full = _prefix_sums(score_batched(scorer, samples[:, :lens[-1]], batch_size))
    tick()
    cs_y: dict[int, np.ndarray] = {}
    ce12: dict[int, np.ndarray] = {}
    cs_mis: dict[int, np.ndarray] = {}
    if "direct" in estimators:
        for ell, top in sorted(reach.items()):
            lp = score_batched(scorer, samples[:, ell:top], batch_size)
            cs_y[ell] = _prefix_sums(lp)
            if lp.shape[1] >= 2:
                ce12[ell] = -(lp[:, 0] + lp[:, 1])
            tick()
    if "vclub" in estimators:
        sigma = derangement(n, seed)
        sigma_inv = np.argsort(sigma)  # the past that sample j's future Y_j was paired with
        for ell, top in sorted(reach.items()):
            mixed = np.concatenate([samples[:, :ell], samples[sigma, ell:top]], axis=1)
            cs_mis[ell] = _prefix_sums(score_batched(scorer, mixed, batch_size))
            tick()
    if bar is not None:
        bar.close()

    out: dict[tuple[str, float], BipartiteEstimate] = {}
    for r in ratios:
        cols_direct, cols_vclub = [], []
        for length, ell in zip(lens, ells[r]):
            ell, length = int(ell), int(length)
            log_q_y_given_x = cs_full[:, length] - cs_full[:, ell]
            if "direct" in estimators:
                log_q_y = cs_y[ell][:, length - ell]
                value = log_q_y_given_x - log_q_y
                if bos_correction:
                    value = value - BOS_WEIGHT_COUNTS * (ce12[ell] - bigram_entropy_nats)
                cols_direct.append(value)
            if "vclub" in estimators:
                # row i of the mixed pass is log q(Y_sigma(i) | X_i); reorder so row j holds Y_j's
                log_q_y_given_other_x = (cs_mis[ell][:, length] - cs_mis[ell][:, ell])[sigma_inv]
                cols_vclub.append(log_q_y_given_x - log_q_y_given_other_x)
        if "direct" in estimators:
            out[("direct", r)] = BipartiteEstimate("direct", r, lens.copy(), ells[r].copy(),
                                                   np.stack(cols_direct, axis=1), bool(bos_correction))
        if "vclub" in estimators:
            out[("vclub", r)] = BipartiteEstimate("vclub", r, lens.copy(), ells[r].copy(),
                                                  np.stack(cols_vclub, axis=1), False)
    return out


class DirectSplit(NamedTuple):
    """Per-sample parts (nats) of the direct estimate at one block length: ``direct`` =
    ``position`` + ``context`` (module docs)."""

    direct: np.ndarray
    position: np.ndarray
    context: np.ndarray


def direct_split(scorer: TokenScorer, shifted: Callable[[int], TokenScorer], samples: np.ndarray,
                 lengths: Sequence[int], ratio: float = 2, batch_size: int = 64) -> dict[int, DirectSplit]:
    """The direct estimate at each L of ``lengths`` (split ``ratio``), per sample, split into a position
    part and a context part (module docs): ``{L: DirectSplit}``.

    ``shifted(ℓ)`` returns a scorer that reads a sequence at the positions it would have after ℓ
    tokens of context.  log q(Y|X) comes from one pass over the longest block (a causal model's
    scores of a prefix do not depend on what follows it); Y alone and Y read late take one pass each
    per L.  The ``direct`` part equals :func:`bipartite_sweep`'s per-sample direct estimate.
    """
    samples = _check_samples(samples, int(scorer.vocab_size))
    lens = sorted(set(integers(lengths, "lengths", "block length")))
    if lens[-1] > samples.shape[1]:
        raise ValueError(f"the longest block length {lens[-1]} exceeds the samples' {samples.shape[1]} tokens")
    (ratio,) = check_ratios([ratio])
    after_x = score_batched(scorer, samples[:, :lens[-1]], batch_size)
    out = {}
    for length in lens:
        ell = split_point(length, ratio)
        y = samples[:, ell:length]
        alone = score_batched(scorer, y, batch_size).sum(1)
        late = score_batched(shifted(ell), y, batch_size).sum(1)
        with_x = after_x[:, ell:length].sum(1)
        out[length] = DirectSplit(with_x - alone, late - alone, with_x - late)
    return out


def direct_estimate(scorer: TokenScorer, samples: np.ndarray, length: int, ratio: float = 2,
                    **kwargs: Any) -> BipartiteEstimate:
    """The direct estimator at a single block length (a one-point :func:`bipartite_sweep`)."""
    return bipartite_sweep(scorer, samples, [length], [ratio], ("direct",), **kwargs)[("direct", float(ratio))]


def vclub_estimate(scorer: TokenScorer, samples: np.ndarray, length: int, ratio: float = 2,
                   **kwargs: Any) -> BipartiteEstimate:
    """The vCLUB estimator at a single block length (a one-point :func:`bipartite_sweep`)."""
    return bipartite_sweep(scorer, samples, [length], [ratio], ("vclub",), **kwargs)[("vclub", float(ratio))]
