"""Small exactly solvable sequence processes.  Introduced in chapter 1.

Each function returns either the dense joint distribution of a block of L tokens (for the exact
helpers in :mod:`l2m_utils.information`) or a closed-form quantity used to check them.

* stationary first-order Markov chains (two-point MI decays exponentially, bipartite MI saturates; a
  higher-order chain is a first-order chain on tuples of tokens);
* the all-tokens-identical process (two-point MI = log M at every distance, bipartite MI = log M);
* a binary linear-feedback ("parity") process: every token is the parity (XOR) of a fixed subset of
  the previous ``k`` tokens, started from a uniformly random state.  With a primitive feedback
  polynomial every pair of tokens closer than the period 2^k - 1 is independent (two-point MI 0),
  yet any k consecutive tokens determine everything that follows (bipartite MI 0 for L <= k, then
  growing linearly to k log 2 at L = 2k);
* a stationary Gaussian AR(1) process (covariance matrix), a bridge to chapter 5.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .checks import integer, integers, is_integer, is_real, listed
from .information import _check_size, check_distribution, joint_from_sequences


def _check_transition(P: np.ndarray) -> np.ndarray:
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != P.shape[1] or P.shape[0] == 0:
        raise ValueError(f"transition matrix must be square (M, M), got shape {P.shape}")
    if not np.all(np.isfinite(P)) or np.any(P < 0):
        raise ValueError("transition matrix must have finite, non-negative entries")
    if not np.allclose(P.sum(axis=1), 1.0, atol=1e-10):
        raise ValueError(f"transition matrix rows must sum to 1, got {P.sum(axis=1)}")
    return P


def stationary_distribution(P: np.ndarray) -> np.ndarray:
    """Stationary distribution pi of a row-stochastic matrix: pi P = pi, sum pi = 1.

    Raises ``ValueError`` if it is not unique (reducible chain).
    """
    P = _check_transition(P)
    m = P.shape[0]
    # Solve (P^T - I) pi = 0 with the normalisation replacing one equation (least squares).
    A = np.vstack([P.T - np.eye(m), np.ones((1, m))])
    b = np.zeros(m + 1)
    b[-1] = 1.0
    pi, _, rank, _ = np.linalg.lstsq(A, b, rcond=None)
    if rank < m:
        raise ValueError("the chain has more than one stationary distribution (it is reducible)")
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def binary_symmetric_chain(flip: float) -> np.ndarray:
    """Two-state chain that flips its state with probability ``flip``: [[1-f, f], [f, 1-f]]."""
    if not (is_real(flip) and 0.0 <= flip <= 1.0):
        raise ValueError(f"flip probability must lie in [0, 1], got {flip!r}")
    return np.array([[1 - flip, flip], [flip, 1 - flip]])


def markov_joint(P: np.ndarray, length: int, initial: np.ndarray | None = None) -> np.ndarray:
    """Joint distribution p(w_1..w_L) = pi(w_1) prod_t P[w_{t-1}, w_t] of a first-order chain.

    ``initial`` defaults to the stationary distribution.  Returns shape (M,)*L.
    """
    P = _check_transition(P)
    m = P.shape[0]
    _check_size(m, length)
    joint = stationary_distribution(P) if initial is None else check_distribution(initial, "initial")
    if joint.shape != (m,):
        raise ValueError(f"initial distribution must have shape ({m},), got {joint.shape}")
    for _ in range(1, length):
        # p(w_1..w_t) = p(w_1..w_{t-1}) P[w_{t-1}, w_t]; broadcast over all earlier tokens at once
        joint = joint[..., None] * P
    return joint


#: Below this |r| :func:`_phi` sums its Taylor series instead of evaluating (1 + r) log1p(r) - r,
#: whose two terms cancel to O(r^2) (relative error ~ 2 eps / |r| there).
_PHI_SERIES_BELOW = 1e-2
#: Coefficients (-1)^n / (n (n - 1)) of r^n, n = 2..11, in phi(r) = sum_{n>=2} (-1)^n r^n / (n (n-1)).
_PHI_SERIES = tuple((-1) ** n / (n * (n - 1)) for n in range(2, 12))


def _phi(r: np.ndarray) -> np.ndarray:
    """phi(r) = (1 + r) log(1 + r) - r >= 0 elementwise, for r >= -1 (phi(-1) = 1), without cancellation.

    For |r| < :data:`_PHI_SERIES_BELOW` the series sum_{n=2}^{11} (-1)^n r^n / (n (n-1)) (truncation
    error below 1e-20 relative); elsewhere ``(1 + r) * log1p(r) - r``.  Rounding that pushes r below -1
    is clipped to -1.
    """
    r = np.maximum(np.asarray(r, dtype=np.float64), -1.0)
    out = np.empty_like(r)
    small = np.abs(r) < _PHI_SERIES_BELOW
    x = r[small]
    acc = np.zeros_like(x)
    for c in reversed(_PHI_SERIES):  # Horner: sum_n c_n x^(n-2)
        acc = c + x * acc
    out[small] = x * x * acc
    y = r[~small]
    out[~small] = (1.0 + y) * np.log1p(np.where(y > -1.0, y, 0.0)) - y  # r = -1: 0 * 0 + 1
    return out


def _mi_from_deviation(pa: np.ndarray, pb: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Mutual information of the joint ``J = pa pb^T + delta`` from its deviation from independence.

    ``delta`` has shape (..., Ma, Mb) and must satisfy sum(delta) = 0 (J has marginals pa, pb).  Returns
    sum_{ab} p_a p_b phi(r_ab) over the last two axes, r = delta / (p_a p_b) on the entries with
    p_a p_b > 0 (where p_a p_b = 0, J = 0 too), phi(r) = (1 + r) log(1 + r) - r.  This equals
    sum J log(J / (p_a p_b)) exactly (the extra -sum delta is 0), every term is >= 0, and nothing of
    size O(1) is subtracted: the accuracy is relative to the MI, however small it is.  Where r
    overflows (p_a p_b subnormal) the term is J (log J - log p_a p_b) - delta.
    """
    prod = pa[:, None] * pb[None, :]
    nz = prod > 0
    w = prod[nz]
    dev = delta[..., nz]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        r = dev / w
        terms = w * _phi(np.where(np.isfinite(r), r, 0.0))
        big = ~np.isfinite(r) | ~np.isfinite(terms)
        if np.any(big):
            J = np.broadcast_to(w, dev.shape) + dev
            direct = np.where(J > 0, J * (np.log(np.where(J > 0, J, 1.0)) - np.log(w)), 0.0) - dev
            terms = np.where(big, direct, terms)
    return terms.sum(axis=-1)


def markov_two_point_mutual_information(P: np.ndarray, distances: Sequence[int]) -> np.ndarray:
    """Exact I(W_t; W_{t+d}) of a stationary first-order chain: joint J = diag(pi) P^d.

    ``distances``: a non-empty list of positive integers.

    Computed without cancellation (the naive sum J log(J / pi pi^T) bottoms out at ~1e-15 of
    rounding noise while the true value keeps decaying).  With C = P - 1 pi^T, C^d = P^d - 1 pi^T
    (pi P = pi, P 1 = 1: the cross terms collapse), so the deviation from independence

        Delta = J - pi pi^T = diag(pi) C^d

    comes from powers of C, which decay like |lambda_2|^d, and

        I(d) = sum_{a,b} pi_a pi_b phi(C^d[a, b] / pi_b),   phi(r) = (1 + r) log(1 + r) - r >= 0

    (entries with pi_a pi_b = 0 left out), equal to sum J log(J / pi pi^T) because sum Delta = 0.
    The identity needs only a unique stationary law: for a periodic chain C^d does not decay and
    the formula stays exact; a chain with several stationary laws raises ``ValueError`` (from
    :func:`stationary_distribution`), as before.  Powers are built incrementally over the sorted
    distinct distances.
    """
    P = _check_transition(P)
    pi = stationary_distribution(P)
    ds = integers(distances, "distances", "distance")
    C = P - pi[None, :]
    values: dict[int, float] = {}
    power, at = np.eye(P.shape[0]), 0
    for d in sorted(set(ds)):
        power = power @ np.linalg.matrix_power(C, d - at)
        at = d
        values[d] = float(_mi_from_deviation(pi, pi, pi[:, None] * power))
    return np.array([values[d] for d in ds])


def markov_bipartite_mutual_information(P: np.ndarray) -> float:
    """Exact bipartite MI of a stationary first-order chain for any L >= 2 and any split.

    By the Markov property I(W_{1:l}; W_{l+1:L}) = I(W_l; W_{l+1}), the d = 1 two-point MI.
    """
    return float(markov_two_point_mutual_information(P, [1])[0])


def identical_tokens_joint(alphabet_size: int, length: int) -> np.ndarray:
    """p(w_1..w_L) = 1(w_1 = ... = w_L) / M: one uniformly random token repeated L times."""
    _check_size(alphabet_size, length)
    seqs = np.repeat(np.arange(alphabet_size)[:, None], length, axis=1)
    return joint_from_sequences(seqs, alphabet_size)


# Primitive feedback polynomials over GF(2): taps j such that w_t = XOR_{j in taps} w_{t-j}.
# x^k + x^{k-j} + ... ; each gives a maximal period 2^k - 1.
PRIMITIVE_TAPS: dict[int, tuple[int, ...]] = {
    2: (1, 2),
    3: (2, 3),
    4: (3, 4),
    5: (3, 5),
    6: (5, 6),
    7: (6, 7),
    8: (4, 5, 6, 8),
    9: (5, 9),
    10: (7, 10),
}


def parity_sequences(order: int, length: int, taps: Sequence[int] | None = None) -> np.ndarray:
    """All 2^order equally likely sequences of the parity process, shape (2^order, L).

    w_1..w_k are uniform random bits (k = ``order``); then w_t = XOR_{j in taps} w_{t-j}.
    ``taps`` defaults to :data:`PRIMITIVE_TAPS`\\[order\\].
    """
    order, length = integer(order, "order"), integer(length, "block length")
    if order not in PRIMITIVE_TAPS and taps is None:
        raise ValueError(f"no default taps for order {order}; known orders: {sorted(PRIMITIVE_TAPS)}")
    taps = tuple(PRIMITIVE_TAPS[order] if taps is None else listed(taps, "taps", "distances"))
    if not taps or not all(map(is_integer, taps)) or min(taps) < 1 or max(taps) != order:
        raise ValueError(f"taps {taps} must be whole distances in [1, order={order}] and include order")
    if len(set(taps)) != len(taps):
        raise ValueError(f"taps {taps} repeat a distance (a repeated tap cancels itself in the XOR)")
    states = (np.arange(2**order)[:, None] >> np.arange(order)[None, :]) & 1  # every initial state
    seqs = np.zeros((2**order, max(length, order)), dtype=np.int64)
    seqs[:, :order] = states
    for t in range(order, length):  # loop over positions; all 2^k sequences advance together
        seqs[:, t] = np.bitwise_xor.reduce(seqs[:, [t - j for j in taps]], axis=1)
    return seqs[:, :length]


def parity_joint(order: int, length: int, taps: Sequence[int] | None = None) -> np.ndarray:
    """Dense joint distribution of a block of the parity process (shape (2,)*L)."""
    return joint_from_sequences(parity_sequences(order, length, taps), 2)


def parity_bipartite_mutual_information(order: int, length: int, ell: int | None = None) -> float:
    """Closed form for a primitive parity process: (min(ell,k) + min(L-ell,k) - min(L,k)) · log 2.

    Any m <= order consecutive bits are uniform (m log 2 of entropy) and ``order`` of them fix the
    rest, so H(X) = min(ell, k) log 2, H(Y) = min(L-ell, k) log 2, H(X,Y) = min(L, k) log 2.
    """
    k = integer(order, "order")
    length = integer(length, "block length L", 2)
    ell = length // 2 if ell is None else integer(ell, "split ell")
    if not 1 <= ell < length:
        raise ValueError(f"split ell={ell} must satisfy 1 <= ell <= L-1 = {length - 1}")
    return float((min(ell, k) + min(length - ell, k) - min(length, k)) * np.log(2))


def ar1_covariance(phi: float, length: int) -> np.ndarray:
    """Covariance of a stationary Gaussian AR(1) process with unit variance: C_ij = phi^|i-j|."""
    if not (is_real(phi) and -1.0 < phi < 1.0):
        raise ValueError(f"AR(1) coefficient phi must lie in (-1, 1), got {phi!r}")
    integer(length, "length")
    idx = np.arange(length)
    return phi ** np.abs(idx[:, None] - idx[None, :]).astype(np.float64)
