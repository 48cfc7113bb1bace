"""Exact mutual information of hidden Markov model outputs.  Introduced in chapter 2.

An HMM with ``K`` hidden states and ``M`` output symbols is the simplest process whose history is
carried by a *discrete* state, the setting of the first proof of Theorem 5.2: the hidden state at the
cut separates past and future, ``X = W_{1:l} -> S_l -> Y = W_{l+1:L}``, so by data processing

    I(W_{1:l}; W_{l+1:L}) <= I(X; S_l) <= H(S_l) <= log K.

The process: ``S_1 ~ initial`` (default: the stationary distribution pi of ``transition``),
``S_{t+1} | S_t ~ transition[S_t]``, ``W_t | S_t ~ emission[S_t]``.

Everything here is exact.  :func:`block_entropies` runs the forward algorithm over a *prefix tree*:
``alpha_t`` is an array of shape ``(M**t, K)`` whose row for the prefix ``x_{1:t}`` (in lexicographic,
row-major order) is ``alpha_t[x, s] = p(x_{1:t}, S_t = s)``.  One step extends every prefix by every
symbol at once,

    alpha_{t+1}[(x, w), s'] = sum_s alpha_t[x, s] T[s, s'] E[s', w],

so ``p(x_{1:t}) = sum_s alpha_t[x, s]`` is exact for every block and every t; the only Python loop is
over positions.  Block entropies ``H_t = H(W_{1:t})`` then give the bipartite MI of a stationary HMM
for every length and split at once: ``I(W_{1:l}; W_{l+1:L}) = H_l + H_{L-l} - H_L`` (stationarity:
the second block has the law of a length-(L-l) block started from pi).

Two-point MI has a closed form: ``p(W_i = a, W_{i+d} = b) = sum_{s,s'} pi_i(s) E[s,a] (T^d)[s,s'] E[s',b]``;
:func:`hmm_two_point_mutual_information` sums it from the deviation from independence, without
cancellation, so the exponential decay is resolved far below 1e-15.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .checks import integer, integers, is_real, seeded_rng
from .information import check_distribution
from .processes import _mi_from_deviation, stationary_distribution

#: Largest number of forward-array entries ``M**t * K`` :func:`block_entropies` will allocate.
MAX_FORWARD_ENTRIES = 2**25


@dataclass(frozen=True, eq=False)
class HMM:
    """A hidden Markov model: ``transition`` (K, K) row-stochastic, ``emission`` (K, M) row-stochastic.

    ``initial`` (K,) defaults to the stationary distribution of ``transition`` (then the output
    process is stationary).  Arrays are validated and stored as float64 copies.
    """

    transition: np.ndarray
    emission: np.ndarray
    initial: np.ndarray | None = None
    stationary: bool = field(init=False)

    def __post_init__(self) -> None:
        T = np.array(self.transition, dtype=np.float64)
        E = np.array(self.emission, dtype=np.float64)
        if T.ndim != 2 or T.shape[0] != T.shape[1] or T.shape[0] == 0:
            raise ValueError(f"transition must be a square (K, K) matrix, got shape {T.shape}")
        if E.ndim != 2 or E.shape[0] != T.shape[0] or E.shape[1] == 0:
            raise ValueError(f"emission must have shape (K={T.shape[0]}, M), got {E.shape}")
        for name, A in (("transition", T), ("emission", E)):
            if not np.all(np.isfinite(A)) or np.any(A < 0):
                raise ValueError(f"{name} must have finite, non-negative entries")
            if not np.allclose(A.sum(axis=1), 1.0, atol=1e-10):
                raise ValueError(f"{name} rows must sum to 1, got {A.sum(axis=1)}")
        pi = stationary_distribution(T)  # raises if the hidden chain is reducible
        if self.initial is None:
            init, stationary = pi, True
        else:
            init = check_distribution(self.initial, "initial").copy()
            if init.shape != (T.shape[0],):
                raise ValueError(f"initial distribution must have shape ({T.shape[0]},), got {init.shape}")
            stationary = bool(np.allclose(init @ T, init, rtol=0.0, atol=1e-12))
        for name, value in (("transition", T), ("emission", E), ("initial", init), ("stationary", stationary)):
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def n_states(self) -> int:
        """K, the number of hidden states."""
        return self.transition.shape[0]

    @property
    def n_outputs(self) -> int:
        """M, the number of output symbols."""
        return self.emission.shape[1]

    def state_distribution(self, t: int) -> np.ndarray:
        """Law of the hidden state S_t (1-based t): ``initial @ T^(t-1)``."""
        t = integer(t, "time t")
        return self.initial @ np.linalg.matrix_power(self.transition, t - 1)


def random_hmm(
    n_states: int, n_outputs: int, seed: int, stay: float = 0.0, concentration: float = 1.0
) -> HMM:
    """A random HMM (stationary start) from an explicit ``seed``.

    Transition rows: ``stay * I + (1 - stay) * Dirichlet(1)``, so ``stay`` close to 1 gives a
    "sticky" chain that keeps its state for ~1/(1 - stay) steps (long memory: the bipartite MI keeps
    growing with L before it saturates).  Emission rows: ``Dirichlet(concentration)``; a small
    concentration makes the states' output distributions more distinct.
    """
    n_states = integer(n_states, "n_states")
    n_outputs = integer(n_outputs, "n_outputs")
    if not (is_real(stay) and 0.0 <= stay < 1.0):
        raise ValueError(f"stay must lie in [0, 1) (1 would freeze the hidden state), got {stay!r}")
    if not (is_real(concentration) and 0 < concentration < np.inf):
        raise ValueError(f"concentration must be > 0, got {concentration!r}")
    rng = seeded_rng(seed)
    K, M = int(n_states), int(n_outputs)
    T = stay * np.eye(K) + (1.0 - stay) * rng.dirichlet(np.ones(K), size=K)
    E = rng.dirichlet(np.full(M, float(concentration)), size=K)
    return HMM(T, E)


def sticky_copy_hmm(n_states: int, n_outputs: int, stay: float, noise: float) -> HMM:
    """A structured sticky HMM (no randomness): state k tends to emit symbol k.

    ``T = stay * I + (1 - stay) * (1/K)`` (keep the state, else jump uniformly) and
    ``E[k] = (1 - noise) * onehot(k) + noise * uniform(M)``; needs ``K <= M``.  With small ``noise``
    a few tokens reveal the state, and the bipartite MI climbs towards a limit below ``H(S) = log K``
    (strictly below when ``noise > 0`` and ``stay < 1``: the past never pins the state down).
    """
    n_states = integer(n_states, "n_states")
    n_outputs = integer(n_outputs, "n_outputs", minimum=n_states, why=f"n_outputs >= n_states = {n_states}")
    if not (is_real(stay) and 0.0 <= stay < 1.0):
        raise ValueError(f"stay must lie in [0, 1) (1 would freeze the hidden state), got {stay!r}")
    if not (is_real(noise) and 0.0 <= noise <= 1.0):
        raise ValueError(f"noise must lie in [0, 1], got {noise!r}")
    K, M = int(n_states), int(n_outputs)
    T = stay * np.eye(K) + (1.0 - stay) / K * np.ones((K, K))
    E = (1.0 - noise) * np.eye(K, M) + noise / M
    return HMM(T, E)


def _plogp(p: np.ndarray) -> float:
    """-sum p log p with 0 log 0 = 0 (never -0.0)."""
    nz = p[p > 0]
    return max(0.0, float(-(nz * np.log(nz)).sum()))


def forward_entries(length: int, n_outputs: int, n_states: int) -> float:
    """Largest array the exact forward enumeration holds: max(M^(L-1) K, M^L) entries.

    The last forward step, alpha_{L-1} @ T, has M^(L-1) rows of K states; the block probabilities it
    returns have M^L entries.  Compare with :data:`MAX_FORWARD_ENTRIES` before choosing a length.
    """
    return max(float(n_outputs) ** (length - 1) * n_states, float(n_outputs) ** length)


def _check_length(length: int, n_outputs: int, n_states: int, keep_states: bool = False) -> int:
    """``length`` after checking the memory of the enumeration: :func:`forward_entries`, or
    M^L K entries with ``keep_states`` (every block with its last state, as :func:`block_probabilities` holds)."""
    length = integer(length, "block length")
    entries = float(n_outputs) ** length * n_states if keep_states else forward_entries(length, n_outputs, n_states)
    if entries > MAX_FORWARD_ENTRIES:
        raise ValueError(
            f"exact enumeration of M={n_outputs} symbols over L={length} tokens needs {entries:.3g} "
            f"forward entries, more than the limit {MAX_FORWARD_ENTRIES}; use a shorter block"
        )
    return length


def block_entropies(hmm: HMM, max_length: int, start: np.ndarray | None = None) -> np.ndarray:
    """Exact ``H(W_{1:t})`` for t = 1..max_length (nats), by the prefix-tree forward algorithm.

    ``start`` is the law of S_1 (default ``hmm.initial``).  Returns an array of length ``max_length``
    (index t-1 holds H_t).  Memory: ``M**(max_length-1) * K`` floats (guarded by
    :data:`MAX_FORWARD_ENTRIES`).
    """
    T, E = hmm.transition, hmm.emission
    K, M = hmm.n_states, hmm.n_outputs
    max_length = _check_length(max_length, M, K)
    s1 = hmm.initial if start is None else check_distribution(start, "start")
    if s1.shape != (K,):
        raise ValueError(f"start distribution must have shape ({K},), got {s1.shape}")
    out = np.empty(max_length)
    alpha = s1[None, :] * E.T  # (M, K): p(x_1, S_1 = s)
    out[0] = _plogp(alpha.sum(axis=1))
    for t in range(1, max_length):
        pred = alpha @ T  # (M^t, K): p(x_{1:t}, S_{t+1} = s')
        if t == max_length - 1:  # last step: only the block probabilities are needed
            out[t] = _plogp(pred @ E)  # (M^t, M) -> p(x_{1:t+1})
            break
        alpha = (pred[:, None, :] * E.T[None, :, :]).reshape(-1, K)  # rows (x_{1:t}, w) in row-major order
        out[t] = _plogp(alpha.sum(axis=1))
    return out


def block_probabilities(hmm: HMM, length: int) -> np.ndarray:
    """Exact ``p(x_{1:L})`` for all M**L blocks, as a dense array of shape (M,)*L (small cases; the last
    step holds M^L K entries, guarded by :data:`MAX_FORWARD_ENTRIES`)."""
    T, E = hmm.transition, hmm.emission
    K, M = hmm.n_states, hmm.n_outputs
    length = _check_length(length, M, K, keep_states=True)
    alpha = hmm.initial[None, :] * E.T
    for _ in range(1, length):
        alpha = ((alpha @ T)[:, None, :] * E.T[None, :, :]).reshape(-1, K)
    return alpha.sum(axis=1).reshape((M,) * length)


def hmm_bipartite_mutual_information(hmm: HMM, length: int, ell: int | None = None) -> float:
    """Exact ``I(W_{1:l}; W_{l+1:L}) = H(X) + H(Y) - H(X, Y)`` (nats); ``ell`` defaults to L // 2.

    H(Y) is the entropy of a length-(L-l) block started from the law of S_{l+1}; for a stationary
    HMM that is the same forward pass as H(X) and H(X, Y).
    """
    length = _check_length(length, hmm.n_outputs, hmm.n_states)
    if length < 2:
        raise ValueError(f"a bipartite split needs a block of at least 2 tokens, got L={length}")
    ell = length // 2 if ell is None else ell
    ell = integer(ell, "split ell", minimum=1, maximum=length - 1, why="1 <= ell <= L-1")
    H = block_entropies(hmm, length)
    if hmm.stationary:
        h_y = H[length - ell - 1]
    else:
        h_y = block_entropies(hmm, length - ell, start=hmm.state_distribution(ell + 1))[-1]
    value = H[ell - 1] + h_y - H[length - 1]
    return max(value, 0.0) if value > -1e-10 else value


def equal_split_mi_curve(hmm: HMM, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-split bipartite MI for every even L = 2, 4, ..., max_length from one forward pass.

    Needs a stationary HMM (``initial=None``).  Returns ``(lengths, mi)``; uses
    ``I(L) = 2 H_{L/2} - H_L``.
    """
    if not hmm.stationary:
        raise ValueError("equal_split_mi_curve needs a stationary HMM (initial = stationary distribution)")
    max_length = _check_length(max_length, hmm.n_outputs, hmm.n_states)
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")
    H = block_entropies(hmm, max_length)
    lengths = np.arange(2, max_length + 1, 2)
    mi = 2 * H[lengths // 2 - 1] - H[lengths - 1]
    return lengths, np.where(mi > -1e-10, np.maximum(mi, 0.0), mi)


def hmm_two_point_mutual_information(hmm: HMM, distances: Sequence[int], i: int = 1) -> np.ndarray:
    """Exact ``I(W_i; W_{i+d})`` for each d in ``distances`` (1-based i; stationary HMMs: any i).

    Joint ``J = E^T diag(pi_i) T^d E`` with ``pi_i`` the law of S_i, marginals ``p_a = E^T pi_i`` and
    ``p_b = E^T (T^d)^T pi_i`` (the law of S_{i+d} pushed through E); MI = sum J log(J / (p_a p_b)).

    Evaluated without cancellation (the naive sum bottoms out at ~1e-15 of rounding noise while the
    true value keeps decaying).  The deviation from independence is

        Delta = J - p_a p_b^T = E^T (diag(pi_i) - pi_i pi_i^T) C^d E,   C = T - 1 pi^T,

    with pi the stationary law of T (unique: :class:`HMM` refuses a reducible chain; were it not, T^d
    itself would be used, still exact but with the old rounding floor).  Replacing T^d
    by C^d = T^d - 1 pi^T is exact because the rows of diag(pi_i) - pi_i pi_i^T sum to 0; it holds for
    any start pi_i (stationary or not) and for periodic T (where C^d does not decay).  Then, with
    r = Delta / (p_a p_b) on the entries with p_a p_b > 0 (elsewhere J = 0),

        I = sum_{a,b} p_a p_b phi(r_ab),   phi(r) = (1 + r) log(1 + r) - r >= 0,

    equal to sum J log(J / (p_a p_b)) since sum Delta = 0: every term is >= 0 and the result is
    accurate relative to the MI itself.  Powers are built incrementally over the sorted distances.
    """
    T, E = hmm.transition, hmm.emission
    pi_i = hmm.state_distribution(integer(i, "position i", why="1-based"))
    ds = integers(distances, "distances", "distance")
    try:
        C = T - stationary_distribution(T)[None, :]
    except ValueError:  # several stationary laws (HMM refuses this); T^d is still exact, less accurate
        C = T
    left = E.T @ (np.diag(pi_i) - np.outer(pi_i, pi_i))  # (M, K); its rows' K entries sum to 0
    pa = E.T @ pi_i
    values: dict[int, float] = {}
    power, law, at = np.eye(hmm.n_states), pi_i, 0
    for d in sorted(set(ds)):
        power = power @ np.linalg.matrix_power(C, d - at)
        law = law @ np.linalg.matrix_power(T, d - at)  # law of S_{i+d}
        at = d
        values[d] = float(_mi_from_deviation(pa, law @ E, left @ power @ E))
    return np.array([values[d] for d in ds])


def state_entropy_bound(hmm: HMM, ell: int | None = None) -> float:
    """``H(S_l)`` in nats: the data-processing bound on the bipartite MI at cut ``l`` (<= log K).

    For a stationary HMM it is H(pi) for every l, and ``ell`` may be left out; a non-stationary one
    needs it (the law of S_l changes with l).
    """
    if ell is not None:
        integer(ell, "cut ell")
    if hmm.stationary:
        return _plogp(hmm.initial)
    if ell is None:
        raise ValueError("a non-stationary HMM's state entropy depends on the cut: pass ell")
    return _plogp(hmm.state_distribution(int(ell)))
