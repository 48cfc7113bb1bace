"""Discrete sources with exact bipartite MI at every length, and their exact scorers.  Introduced in chapter 8.

Chapter 8 calibrates the LLM-based MI estimators of chapter 4 against ground truth.  That needs
sources whose bipartite MI is known *exactly* for block lengths in the hundreds or thousands, where
enumerating the ``M**L`` blocks (:mod:`l2m_utils.hmm`) is hopeless.  The sources here are hidden
Markov models with a special emission, the **erasure channel**, which makes the posterior of the
hidden state depend on a finite summary of the past:

* :class:`ErasureChain` -- a stationary Markov chain ``S_t`` on K states, observed through an erasure
  channel: ``W_t = S_t`` with probability ``1 - e`` and ``W_t = ?`` (symbol ``K``) with probability
  ``e``, independently of everything else.  It is an HMM with K states and M = K + 1 symbols.
  Given the past ``W_{1:l}``, the state ``S_l`` is distributed as row ``s`` of ``T^g`` where ``s``
  was the last revealed state, ``g`` steps ago (or as pi if nothing was revealed).  Hence the closed
  forms (``J(d) = I(S_0; S_d)``, ``R(d) = H(S_d | S_0)``)

      I(W_{1:l}; W_{l+1:L}) = (1-e)^2 sum_{g=0}^{l-1} sum_{h=0}^{L-l-1} e^(g+h) J(g+h+1),
      I(W_i; W_{i+d})       = (1-e)^2 J(d),
      H(W_t | W_{<t})       = h_2(e) + (1-e) [ sum_{g=0}^{t-2} (1-e) e^g R(g+1) + e^(t-1) H(pi) ],

  with ``h_2`` the binary entropy.  J(d) is summed from the deviation ``T^d - 1 pi^T`` without
  cancellation (see :meth:`ErasureChain.state_mutual_information`), so I^TP stays exact far below
  1e-15.  The bipartite MI increases with L and saturates below
  ``H(pi) <= log K``: source (a) of the chapter.
* :class:`FactorialErasureSource` -- m independent erasure chains emitting *one* token, the tuple
  of their symbols (mixed radix, chain 0 the least significant digit; vocabulary ``prod (K_j + 1)``).
  Independent components make every information quantity additive, so I^BP, I^TP and the entropy
  rate are sums of the per-chain closed forms.  With chains of timescales that grow by a factor
  of four (chapter 8: memories 16, 64, 256, 1024, revealed every 2, 8, 32, 128 steps) the sum
  keeps growing over the tested range of L (about a constant per factor of four in L, i.e. like
  log L): source (b).  It is also an HMM (the product chain, ``prod K_j`` states), so everything
  can be checked against the dense forward algorithm of :mod:`l2m_utils.hmm` for small L.
* :class:`HMMScorer` -- the exact model of any HMM as a :class:`~l2m_utils.scoring.TokenScorer`:
  the normalised forward algorithm, vectorised over the batch,
  ``log p(w_t | w_<t) = log sum_s' [alpha_{t-1} T]_{s'} E[s', w_t]``.
* :func:`chapter8_sources` -- the chapter's sources (a) and (b), by name.
* :func:`z_scores` and :func:`compare_errors` -- how chapter 8 measures estimates against the exact
  values: deviations in standard errors (none where every sample gave the same estimate), and which
  of two estimators on the same samples has the larger error, with a tolerance for "comparable".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from .checks import integer, integers, is_real, seeded_rng
from .hmm import HMM
from .processes import _check_transition, _mi_from_deviation, stationary_distribution
from .information import check_tokens

#: Largest product state space :meth:`FactorialErasureSource.hmm` builds.
MAX_PRODUCT_STATES = 4096


def _entropy_rows(P: np.ndarray) -> np.ndarray:
    """-sum_j P[i, j] log P[i, j] for every row (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(P > 0, -P * np.log(np.where(P > 0, P, 1.0)), 0.0)
    return np.maximum(terms.sum(axis=-1), 0.0)


def _check_length(length, what: str = "block length", low: int = 1) -> int:
    return integer(length, what, minimum=low)


def _check_split(length: int, ell) -> int:
    ell = length // 2 if ell is None else ell
    return integer(ell, "split ell", minimum=1, maximum=length - 1, why="1 <= ell <= L-1")


def _check_distances(distances) -> np.ndarray:
    return np.array(integers(distances, "distances", "distance"), dtype=np.int64)


def sticky_transition(n_states: int, stay: float) -> np.ndarray:
    """``T = stay * I + (1 - stay) / K * ones``: keep the state, else jump uniformly.

    Correlations decay as ``stay**d``: the chain's timescale is ``1 / (1 - stay)`` steps.
    """
    n_states = integer(n_states, "n_states", minimum=2)
    if not (is_real(stay) and 0.0 <= stay < 1.0):
        raise ValueError(f"stay must lie in [0, 1) (1 freezes the chain), got {stay!r}")
    K = int(n_states)
    return stay * np.eye(K) + (1.0 - stay) / K * np.ones((K, K))


# --------------------------------------------------------------------------------------------------
# one erasure chain
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ErasureChain:
    """A stationary K-state Markov chain seen through an erasure channel (module docstring).

    Symbols ``0..K-1`` reveal the state; symbol ``K`` is the erasure ``?``.  ``erasure`` = e in [0, 1).
    """

    transition: np.ndarray
    erasure: float

    def __post_init__(self) -> None:
        T = _check_transition(np.array(self.transition, dtype=np.float64))
        if T.shape[0] < 2:
            raise ValueError("an erasure chain needs at least 2 hidden states")
        e = self.erasure
        if isinstance(e, bool) or not isinstance(e, (int, float, np.floating)) or not 0.0 <= float(e) < 1.0:
            raise ValueError(f"erasure probability must lie in [0, 1) (1 reveals nothing), got {e!r}")
        pi = stationary_distribution(T)  # raises for a reducible chain
        T.setflags(write=False)
        pi.setflags(write=False)
        object.__setattr__(self, "transition", T)
        object.__setattr__(self, "erasure", float(e))
        object.__setattr__(self, "stationary", pi)

    @classmethod
    def sticky(cls, n_states: int, stay: float, erasure: float) -> "ErasureChain":
        """An erasure chain with :func:`sticky_transition` dynamics."""
        return cls(sticky_transition(n_states, stay), erasure)

    @property
    def n_states(self) -> int:
        """K, the number of hidden states."""
        return self.transition.shape[0]

    @property
    def n_outputs(self) -> int:
        """K + 1 symbols (the last one is the erasure)."""
        return self.n_states + 1

    @property
    def emission(self) -> np.ndarray:
        """(K, K+1): state s emits s with probability 1 - e and the erasure K with probability e."""
        K, e = self.n_states, self.erasure
        E = np.zeros((K, K + 1))
        E[:, :K] = (1.0 - e) * np.eye(K)
        E[:, K] = e
        return E

    def hmm(self) -> HMM:
        """The same process as an :class:`~l2m_utils.hmm.HMM` (stationary start)."""
        return HMM(self.transition, self.emission)

    # -- state-chain information ------------------------------------------------------------------
    def _powers(self, max_d: int, matrix: np.ndarray | None = None) -> np.ndarray:
        """A^d for d = 1..max_d, shape (max_d, K, K); A is T unless ``matrix`` is given."""
        A = self.transition if matrix is None else matrix
        out = np.empty((max_d, self.n_states, self.n_states))
        cur = np.eye(self.n_states)
        for d in range(max_d):
            cur = cur @ A
            out[d] = cur
        return out

    def state_conditional_entropy(self, max_d: int) -> np.ndarray:
        """R(d) = H(S_d | S_0) = sum_s pi(s) H(T^d[s, :]) for d = 1..max_d (nats)."""
        max_d = _check_length(max_d, "max_d")
        return _entropy_rows(self._powers(max_d)) @ self.stationary

    def state_mutual_information(self, max_d: int) -> np.ndarray:
        """J(d) = I(S_0; S_d) = H(pi) - R(d) for d = 1..max_d (nats), computed without cancellation.

        H(pi) - R(d) subtracts two O(1) numbers and bottoms out at ~1e-16 while J(d) keeps decaying.
        Instead, with C = T - 1 pi^T (so C^d = T^d - 1 pi^T, the deviation of the joint
        diag(pi) T^d from pi pi^T, decaying like |lambda_2|^d),

            J(d) = sum_{a,b} pi_a pi_b phi(C^d[a, b] / pi_b),   phi(r) = (1 + r) log(1 + r) - r >= 0

        (entries with pi_a pi_b = 0 left out): a sum of non-negative terms, accurate relative to J(d).
        """
        max_d = _check_length(max_d, "max_d")
        pi = self.stationary
        deltas = self._powers(max_d, self.transition - pi[None, :])
        deltas *= pi[:, None]  # diag(pi) C^d = diag(pi) T^d - pi pi^T (joint minus product)
        return _mi_from_deviation(pi, pi, deltas)

    # -- exact information quantities -------------------------------------------------------------
    def bipartite_mutual_information(self, length: int, ell: int | None = None) -> float:
        """Exact I(W_{1:l}; W_{l+1:L}) by the closed form (nats); ``ell`` defaults to L // 2."""
        length = _check_length(length, "block length L", low=2)
        ell = _check_split(length, ell)
        e = self.erasure
        J = self.state_mutual_information(length - 1)  # J(d), d = 1..L-1
        d = np.arange(1, length)
        g_lo = np.maximum(0, d - 1 - (length - ell - 1))  # g + h = d - 1, 0 <= g < l, 0 <= h < L - l
        g_hi = np.minimum(ell - 1, d - 1)
        count = np.maximum(g_hi - g_lo + 1, 0)
        return float((1.0 - e) ** 2 * np.sum(count * e ** (d - 1.0) * J))

    def two_point_mutual_information(self, distances: Sequence[int]) -> np.ndarray:
        """Exact I(W_i; W_{i+d}) = (1 - e)^2 J(d) for each distance (nats)."""
        d = _check_distances(distances)
        J = self.state_mutual_information(int(d.max()))
        return (1.0 - self.erasure) ** 2 * J[d - 1]

    def conditional_entropies(self, length: int) -> np.ndarray:
        """Exact H(W_t | W_{<t}) for t = 1..L (nats); they decrease to the entropy rate."""
        length = _check_length(length)
        e = self.erasure
        h_e = float(_entropy_rows(np.array([[e, 1.0 - e]]))[0])
        h_pi = float(_entropy_rows(self.stationary[None, :])[0])
        out = np.empty(length)
        out[0] = h_e + (1.0 - e) * h_pi
        if length > 1:
            R = self.state_conditional_entropy(length - 1)  # R(g+1), g = 0..L-2
            weights = (1.0 - e) * e ** np.arange(length - 1.0)
            partial = np.cumsum(weights * R)  # sum_{g=0}^{t-2}
            t = np.arange(2, length + 1)
            out[1:] = h_e + (1.0 - e) * (partial + e ** (t - 1.0) * h_pi)
        return out

    def block_entropies(self, length: int) -> np.ndarray:
        """Exact H(W_{1:t}) for t = 1..L (nats): cumulative sums of :meth:`conditional_entropies`."""
        return np.cumsum(self.conditional_entropies(length))

    def entropy_rate(self) -> float:
        """lim H(W_t | W_<t) = h_2(e) + (1-e)^2 sum_{g>=0} e^g R(g+1) (nats per token)."""
        e = self.erasure
        h_e = float(_entropy_rows(np.array([[e, 1.0 - e]]))[0])
        n = 64
        while e ** n > 1e-17 and n < 1 << 20:
            n *= 2
        R = self.state_conditional_entropy(n)
        return h_e + (1.0 - e) ** 2 * float(np.sum(e ** np.arange(n, dtype=np.float64) * R))

    # -- sampling ---------------------------------------------------------------------------------
    def sample_states(self, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """n stationary state paths of ``length`` steps, int [n, length]."""
        n, length = _check_length(n, "n"), _check_length(length)
        K = self.n_states
        cum = np.cumsum(self.transition, axis=1)
        s = np.empty((n, length), dtype=np.int64)
        s[:, 0] = rng.choice(K, size=n, p=self.stationary)
        u = rng.random((n, length))
        for t in range(1, length):
            s[:, t] = (u[:, t, None] > cum[s[:, t - 1]]).sum(axis=1)
        return np.minimum(s, K - 1)

    def sample(self, n: int, length: int, seed: int) -> np.ndarray:
        """n independent stationary token sequences of ``length`` tokens, int64 [n, length]."""
        n, length = _check_length(n, "n"), _check_length(length)
        rng = seeded_rng(seed)
        s = self.sample_states(n, length, rng)
        return np.where(rng.random((n, length)) < self.erasure, self.n_states, s)


# --------------------------------------------------------------------------------------------------
# independent chains emitting one token
# --------------------------------------------------------------------------------------------------

class FactorialErasureSource:
    """m independent :class:`ErasureChain` s whose symbols form one token (module docstring).

    Token id = sum_j w_j * prod_{i<j} (K_i + 1): chain 0 is the least significant digit.
    Every information quantity is the sum over chains.
    """

    def __init__(self, chains: Sequence[ErasureChain]):
        chains = tuple(chains)
        if not chains:
            raise ValueError("a factorial source needs at least one chain")
        for j, c in enumerate(chains):
            if not isinstance(c, ErasureChain):
                raise ValueError(f"chain {j} is a {type(c).__name__}, not an ErasureChain")
        self.chains = chains
        vocab_size = math.prod(c.n_outputs for c in chains)  # Python ints: no silent int64 wrap-around
        if vocab_size > np.iinfo(np.int64).max + 1:  # token ids 0 .. vocab_size - 1 must be int64
            raise ValueError(f"the product of the chains' alphabets, {vocab_size}, does not fit a token id (int64)")
        radices = np.array([c.n_outputs for c in chains], dtype=np.int64)
        self.radices = radices
        self.place = np.concatenate([[1], np.cumprod(radices)[:-1]]).astype(np.int64)
        self.vocab_size = int(vocab_size)

    @classmethod
    def sticky(cls, timescales: Sequence[float], n_states: int = 2, erasure: float | Sequence[float] = 0.5,
               ) -> "FactorialErasureSource":
        """Sticky chains with ``stay = 1 - 1/tau`` for each timescale tau >= 1 (and erasures)."""
        taus = list(timescales)
        if not taus:
            raise ValueError("give at least one timescale")
        es = list(erasure) if isinstance(erasure, (list, tuple, np.ndarray)) else [erasure] * len(taus)
        if len(es) != len(taus):
            raise ValueError(f"{len(es)} erasure probabilities for {len(taus)} timescales")
        for tau in taus:
            if not (is_real(tau) and 1 <= tau < math.inf):
                raise ValueError(f"timescales must be >= 1, got {tau!r}")
        return cls([ErasureChain.sticky(n_states, 1.0 - 1.0 / tau, e) for tau, e in zip(taus, es)])

    def __repr__(self) -> str:
        parts = [f"(K={c.n_states}, e={c.erasure:g})" for c in self.chains]
        chains = f"{len(self.chains)} chain{'s' if len(self.chains) != 1 else ''}"
        return f"FactorialErasureSource({chains} {' '.join(parts)}, vocab {self.vocab_size})"

    @property
    def n_states(self) -> int:
        """prod_j K_j, the states of the product chain."""
        return int(np.prod([c.n_states for c in self.chains]))

    # -- tokens -----------------------------------------------------------------------------------
    def encode(self, symbols: np.ndarray) -> np.ndarray:
        """Per-chain symbols [..., m] -> token ids [...]."""
        sym = np.asarray(symbols)
        if sym.size and not np.issubdtype(sym.dtype, np.integer):
            raise ValueError(f"symbols must be integers, got dtype {sym.dtype}")
        if sym.ndim == 0 or sym.shape[-1] != len(self.chains) or np.any(sym < 0) or np.any(sym >= self.radices):
            raise ValueError(f"symbols must have a last axis of {len(self.chains)} digits "
                             f"below {self.radices.tolist()}")
        return (sym * self.place).sum(axis=-1)

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        """Token ids [...] -> per-chain symbols [..., m]."""
        t = np.asarray(tokens)
        if t.size and not np.issubdtype(t.dtype, np.integer):
            raise ValueError(f"token ids must be integers, got dtype {t.dtype}")
        t = t.astype(np.int64)
        if np.any(t < 0) or np.any(t >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size})")
        return (t[..., None] // self.place) % self.radices

    def sample(self, n: int, length: int, seed: int) -> np.ndarray:
        """n independent stationary token sequences, int64 [n, length] (chain j uses seed stream j)."""
        n, length = _check_length(n, "n"), _check_length(length)
        seeds = np.random.SeedSequence(integer(seed, "seed", minimum=0)).spawn(len(self.chains))
        out = np.zeros((n, length), dtype=np.int64)
        for c, ss, place in zip(self.chains, seeds, self.place):
            rng = np.random.default_rng(ss)
            s = c.sample_states(n, length, rng)
            out += place * np.where(rng.random((n, length)) < c.erasure, c.n_states, s)
        return out

    # -- exact information quantities (sums over chains) ------------------------------------------
    def bipartite_mutual_information(self, length: int, ell: int | None = None) -> float:
        """Exact I(W_{1:l}; W_{l+1:L}) (nats): the sum of the chains' closed forms."""
        return float(sum(c.bipartite_mutual_information(length, ell) for c in self.chains))

    def bipartite_curve(self, lengths: Sequence[int], ratio: float = 2.0) -> np.ndarray:
        """Exact I^BP at each L, split at ell = round(L / ratio) (as :func:`bipartite.split_point`)."""
        from .bipartite import split_point

        lengths = integers(lengths, "lengths", "length")
        return np.array([self.bipartite_mutual_information(L, split_point(L, ratio)) for L in lengths])

    def two_point_mutual_information(self, distances: Sequence[int]) -> np.ndarray:
        """Exact I(W_i; W_{i+d}) (nats) for each distance."""
        return np.sum([c.two_point_mutual_information(distances) for c in self.chains], axis=0)

    def conditional_entropies(self, length: int) -> np.ndarray:
        """Exact H(W_t | W_<t), t = 1..L (nats)."""
        return np.sum([c.conditional_entropies(length) for c in self.chains], axis=0)

    def block_entropies(self, length: int) -> np.ndarray:
        """Exact H(W_{1:t}), t = 1..L (nats)."""
        return np.cumsum(self.conditional_entropies(length))

    def entropy_rate(self) -> float:
        """Exact entropy rate (nats per token)."""
        return float(sum(c.entropy_rate() for c in self.chains))

    def mi_upper_bound(self) -> float:
        """sum_j H(pi_j) (<= sum_j log K_j): an upper bound on the bipartite MI at every L.

        The MI of each chain is at most I(S_ell; S_{ell+1}) <= H(pi_j); when a chain can leave its
        state (stay < 1) the MI saturates strictly below the bound as L grows.
        """
        return float(sum(_entropy_rows(c.stationary[None, :])[0] for c in self.chains))

    # -- as one HMM -------------------------------------------------------------------------------
    def hmm(self) -> HMM:
        """The product HMM: prod K_j states, kron of the transitions and emissions (exact, same ids)."""
        if self.n_states > MAX_PRODUCT_STATES:
            raise ValueError(f"the product chain has {self.n_states} states, more than {MAX_PRODUCT_STATES}")
        T, E = np.ones((1, 1)), np.ones((1, 1))
        for c in self.chains:  # kron(A, B): A is the more significant digit -> prepend later chains
            T, E = np.kron(c.transition, T), np.kron(c.emission, E)
        return HMM(T, E)

    def scorer(self) -> "HMMScorer":
        """The exact model as a :class:`~l2m_utils.scoring.TokenScorer`."""
        return HMMScorer(self.hmm())


def chapter8_sources() -> dict[str, FactorialErasureSource]:
    """Chapter 8's two sources by name: (a) one sticky 4-state chain (memory 64, erasure 0.8), whose MI
    saturates; (b) four binary chains with memories 16, 64, 256, 1024 revealed every 2, 8, 32, 128 steps
    (erasure ``1 - 1/r``), whose MI keeps growing with L."""
    return {
        "(a) 4-state HMM": FactorialErasureSource.sticky([64], n_states=4, erasure=0.8),
        "(b) factorial, 4 chains": FactorialErasureSource.sticky([16, 64, 256, 1024], n_states=2,
                                                                 erasure=[1 - 1 / r for r in (2, 8, 32, 128)]),
    }


# --------------------------------------------------------------------------------------------------
# the exact scorer
# --------------------------------------------------------------------------------------------------

class HMMScorer:
    """Exact per-token log-probabilities of an HMM (a :class:`~l2m_utils.scoring.TokenScorer`).

    BOS means "the process starts here": S_1 ~ ``hmm.initial``.  The normalised forward algorithm
    runs over positions; every step handles the whole batch at once:

        pred_t = alpha_{t-1} T  (pred_1 = initial),   p_t = sum_s pred_t[s] E[s, w_t],
        log q(w_t | w_<t) = log p_t,                   alpha_t = pred_t * E[:, w_t] / p_t.

    A token of probability 0 gets log-probability -inf (the sequence cannot occur).
    """

    def __init__(self, hmm: HMM):
        if not isinstance(hmm, HMM):
            raise ValueError(f"HMMScorer needs an l2m_utils.hmm.HMM, got {type(hmm).__name__}")
        self.hmm = hmm
        self.vocab_size = hmm.n_outputs

    def cache_identity(self) -> dict:
        """What determines this scorer's numbers (for :class:`~l2m_utils.scoring.CachedScorer`): the HMM."""
        return {"scorer": "HMMScorer", "initial": self.hmm.initial, "transition": self.hmm.transition,
                "emission": self.hmm.emission}

    def token_logprobs(self, tokens: np.ndarray) -> np.ndarray:
        """log p(w_t | w_<t) of every token of ``tokens`` [n, T], by the normalised forward algorithm (nats)."""
        t = check_tokens(tokens, self.vocab_size)
        T, Et = self.hmm.transition, self.hmm.emission.T  # Et: (M, K)
        n, length = t.shape
        out = np.empty((n, length))
        pred = np.broadcast_to(self.hmm.initial, (n, self.hmm.n_states))
        for k in range(length):
            joint = pred * Et[t[:, k]]  # (n, K): p(w_t, S_t = s | w_<t)
            p = joint.sum(axis=1)
            with np.errstate(divide="ignore"):
                out[:, k] = np.log(p)
            ok = p > 0
            alpha = np.where(ok[:, None], joint / np.where(ok, p, 1.0)[:, None], pred)
            pred = alpha @ T
        return out


# --------------------------------------------------------------------------------------------------
# comparing estimates with the exact values
# --------------------------------------------------------------------------------------------------

#: Two estimators' errors count as comparable when they differ by less than this fraction of the
#: larger one (chapter 8: -100.2% against -97.3% of the exact MI is "comparable", not "more biased").
COMPARABLE_REL_TOL = 0.1


def z_scores(mean: ArrayLike, se: ArrayLike, exact: ArrayLike) -> np.ndarray:
    """(mean - exact) / se per length; NaN (no z, and no warning) where se is 0 up to rounding
    (se <= 1e-12 * max(|mean|, |exact|, 1)), i.e. where every sample gave the same estimate and there
    is no standard error to measure the deviation in.  (Sums of the same log-probabilities in another
    order differ in the last bits, so such a "standard error" is 1e-17, not 0, on some machines.)"""
    mean, se, exact = (np.asarray(x, dtype=np.float64) for x in (mean, se, exact))
    if not mean.shape == se.shape == exact.shape:
        raise ValueError(f"mean, se and exact must have one shape, got {mean.shape}, {se.shape}, {exact.shape}")
    if np.any(se < 0) or not np.all(np.isfinite(se)):
        raise ValueError(f"standard errors must be finite and >= 0, got {se.tolist()}")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(exact))):
        raise ValueError(f"estimates and exact values must be finite, got mean {mean.tolist()} and exact "
                         f"{exact.tolist()}")
    out = np.full(mean.shape, np.nan)
    rounding = 1e-12 * np.maximum(np.maximum(np.abs(mean), np.abs(exact)), 1.0)
    np.divide(mean - exact, se, out=out, where=se > rounding)
    return out


@dataclass(frozen=True)
class ErrorComparison:
    """Estimate a against estimate b (same samples) as errors relative to one exact value.

    ``difference`` = |error_a| - |error_b| (a fraction of the exact value), ``se`` its standard error
    over the samples; ``verdict`` says whether a's error is "larger", "smaller" or "comparable".
    """

    error_a: float
    error_b: float
    difference: float
    se: float
    verdict: str


def compare_errors(a: ArrayLike, b: ArrayLike, exact: float, rel_tol: float = COMPARABLE_REL_TOL,
                   z: float = 1.96) -> ErrorComparison:
    """Is the error of estimate a (per-sample values ``a``) larger than that of b on the same samples?

    The errors are e = mean / exact - 1.  With s = sign(e) (+1 at 0), |e_a| - |e_b| is the mean of the
    per-sample d_i = [s_a (a_i - exact) - s_b (b_i - exact)] / exact, whose spread gives its standard
    error (pairing removes the noise the two estimates share).  The verdict is "comparable" when the
    difference is within ``z`` standard errors (sampling noise) or below ``rel_tol`` times the larger
    |error| (a difference too small to matter); otherwise "larger" or "smaller".
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size < 2:
        raise ValueError(f"a and b must be per-sample values of one length >= 2, got shapes {a.shape}, {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("a and b must be finite")
    if not (is_real(exact) and math.isfinite(exact) and exact > 0):
        raise ValueError(f"exact must be a positive number, got {exact!r}")
    if not (is_real(rel_tol) and 0 <= rel_tol < 1):
        raise ValueError(f"rel_tol must be in [0, 1), got {rel_tol!r}")
    if not (is_real(z) and 0 < z < math.inf):
        raise ValueError(f"z must be positive, got {z!r}")
    e_a, e_b = float(a.mean() / exact - 1), float(b.mean() / exact - 1)
    s_a, s_b = (1.0 if e >= 0 else -1.0 for e in (e_a, e_b))
    d = (s_a * (a - exact) - s_b * (b - exact)) / exact
    diff, se = abs(e_a) - abs(e_b), float(d.std(ddof=1) / math.sqrt(d.size))
    if abs(diff) <= z * se or abs(diff) < rel_tol * max(abs(e_a), abs(e_b)):
        verdict = "comparable"
    else:
        verdict = "larger" if diff > 0 else "smaller"
    return ErrorComparison(e_a, e_b, diff, se, verdict)
