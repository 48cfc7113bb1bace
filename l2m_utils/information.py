"""Exact entropies and mutual informations (nats).  Introduced in chapter 1.

Two representations, both exact (no sampling):

* a discrete joint distribution of ``n`` variables as a dense array ``p`` of shape
  ``(M_1, ..., M_n)``: axis ``k`` is variable ``k``;
* a jointly Gaussian vector given by its covariance matrix.

Natural logarithms throughout.  Bad input (NaNs, negative or unnormalised probabilities, variable
indices that are not integers, out of range or repeated, a split that leaves one side empty, a
covariance that is not symmetric positive definite) raises ``ValueError`` with a message that names
the problem.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from scipy.linalg import solve_triangular

from .checks import integer, is_integer, listed

_NORMALISATION_TOL = 1e-9


# --------------------------------------------------------------------------------------------------
# discrete distributions
# --------------------------------------------------------------------------------------------------

def check_distribution(p: np.ndarray, name: str = "p") -> np.ndarray:
    """Return ``p`` as a float64 array after checking it is a probability distribution."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 0 or p.size == 0:
        raise ValueError(f"{name} must be a non-empty array of probabilities, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    if np.any(p < 0):
        raise ValueError(f"{name} has negative entries (min {p.min():.3g})")
    total = p.sum()
    if abs(total - 1.0) > _NORMALISATION_TOL * max(1.0, p.size ** 0.5):
        raise ValueError(f"{name} must sum to 1, sums to {total:.12g}")
    return p


def _index_list(given: list, name: str) -> list[int]:
    """``given`` as ints, refusing an item that is not an integer (0.7 would silently be variable 0, a
    nested list would be a fancy index)."""
    for a in given:
        if not is_integer(a):
            raise ValueError(f"{name} must be integer variable indices, got {a!r}")
    return [int(a) for a in given]


def _axes(p: np.ndarray, axes: Iterable[int], what: str, name: str | None = None) -> tuple[int, ...]:
    """Validated variable indices ``axes`` of the joint ``p``; ``name`` (default ``what``) is the argument."""
    out = tuple(_index_list(listed(axes, name or what, "variable indices"), name or what))
    for a in out:
        if not 0 <= a < p.ndim:
            raise ValueError(f"{what} axis {a} is out of range for a joint of {p.ndim} variables")
    if len(set(out)) != len(out):
        raise ValueError(f"{what} axes {out} repeat a variable")
    return out


def _plogp_sum(q: np.ndarray) -> float:
    """-sum q log q with 0 log 0 = 0."""
    nz = q[q > 0]
    return float(-(nz * np.log(nz)).sum())


def entropy(p: np.ndarray) -> float:
    """Shannon entropy H(p) = -sum_x p(x) log p(x) of a (joint) distribution, in nats."""
    return _plogp_sum(check_distribution(p))


def marginal(p: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Marginal distribution of the variables ``axes`` (kept in the order given)."""
    p = check_distribution(p)
    keep = _axes(p, axes, "marginal", "axes")
    drop = tuple(a for a in range(p.ndim) if a not in keep)
    m = p.sum(axis=drop) if drop else p
    order = np.argsort(np.argsort(keep))  # position of each kept axis in sorted order
    return np.transpose(m, order) if m.ndim > 1 else m


def _block_entropy(p: np.ndarray, axes: tuple[int, ...]) -> float:
    """H of the variables ``axes`` (0 for the empty set); ``p`` already checked."""
    if not axes:
        return 0.0
    drop = tuple(a for a in range(p.ndim) if a not in axes)
    return _plogp_sum(p.sum(axis=drop) if drop else p)


def conditional_entropy(p: np.ndarray, target: Sequence[int], given: Sequence[int]) -> float:
    """H(A | B) = H(A, B) - H(B) for variable groups A = ``target`` and B = ``given``."""
    p = check_distribution(p)
    a, b = _axes(p, target, "target"), _axes(p, given, "given")
    if set(a) & set(b):
        raise ValueError(f"target {a} and given {b} share variables")
    return _block_entropy(p, tuple(sorted(a + b))) - _block_entropy(p, tuple(sorted(b)))


def conditional_mutual_information(
    p: np.ndarray, x: Sequence[int], y: Sequence[int], z: Sequence[int] = ()
) -> float:
    """I(X; Y | Z) = H(X,Z) + H(Y,Z) - H(X,Y,Z) - H(Z); with empty ``z`` it is I(X; Y)."""
    p = check_distribution(p)
    xa, ya, za = _axes(p, x, "x"), _axes(p, y, "y"), _axes(p, z, "z")
    if not xa or not ya:
        raise ValueError("x and y must each name at least one variable")
    if set(xa) & set(ya) or set(xa) & set(za) or set(ya) & set(za):
        raise ValueError(f"variable groups x={xa}, y={ya}, z={za} must be disjoint")
    srt = lambda t: tuple(sorted(t))  # noqa: E731
    value = (
        _block_entropy(p, srt(xa + za))
        + _block_entropy(p, srt(ya + za))
        - _block_entropy(p, srt(xa + ya + za))
        - _block_entropy(p, srt(za))
    )
    return max(value, 0.0) if value > -1e-12 else value


def mutual_information(p: np.ndarray, x: Sequence[int], y: Sequence[int]) -> float:
    """I(X; Y) = H(X) + H(Y) - H(X, Y) between two disjoint groups of variables of the joint ``p``."""
    return conditional_mutual_information(p, x, y, ())


def _check_split(length: int, ell: int) -> None:
    if not is_integer(ell):
        raise ValueError(f"split ell must be an integer, got {ell!r}")
    if length < 2:
        raise ValueError(f"a bipartite split needs a block of at least 2 tokens, got L={length}")
    if not 1 <= ell <= length - 1:
        raise ValueError(f"split ell={ell} must satisfy 1 <= ell <= L-1 = {length - 1}")


def bipartite_mutual_information(p: np.ndarray, ell: int | None = None) -> float:
    """Bipartite MI I(W_{1:ell}; W_{ell+1:L}) of a block joint ``p`` over L tokens (chapter 1's definition).

    ``ell`` defaults to the equal split L // 2.
    """
    p = check_distribution(p)
    length = p.ndim
    ell = length // 2 if ell is None else ell
    _check_split(length, ell)
    ell = int(ell)
    return mutual_information(p, range(ell), range(ell, length))


def two_point_mutual_information(p: np.ndarray, i: int, j: int) -> float:
    """Two-point MI I(W_i; W_j) between single tokens of a block joint (0-based i, j)."""
    for name, v in (("i", i), ("j", j)):
        if not is_integer(v):
            raise ValueError(f"{name} must be an integer position, got {v!r}")
    if i == j:
        raise ValueError(f"two-point MI needs two different positions, got i = j = {i}")
    for name, v in (("i", i), ("j", j)):
        if not 0 <= v < np.ndim(p):
            raise ValueError(f"position {name} = {v} is out of range for a joint of {np.ndim(p)} variables")
    return mutual_information(p, (i,), (j,))


def chain_rule_terms(p: np.ndarray, ell: int | None = None) -> np.ndarray:
    """Terms of the chain-rule decomposition of the bipartite MI (notes §1).

    Returns ``T`` of shape ``(ell, L - ell)`` with
    ``T[i, j] = I(X_i; Y_j | X_{<i}, Y_{<j})`` where X = W_{1:ell}, Y = W_{ell+1:L};
    ``T.sum()`` equals :func:`bipartite_mutual_information` ``(p, ell)``.
    """
    p = check_distribution(p)
    length = p.ndim
    ell = length // 2 if ell is None else ell
    _check_split(length, ell)
    ell = int(ell)
    terms = np.empty((ell, length - ell))
    for i in range(ell):
        for j in range(length - ell):
            terms[i, j] = conditional_mutual_information(
                p, (i,), (ell + j,), tuple(range(i)) + tuple(range(ell, ell + j))
            )
    return terms


def check_tokens(tokens: np.ndarray, vocab_size: int, name: str = "tokens") -> np.ndarray:
    """Validate a batch of token sequences: shape [n, T] with n, T >= 1, integer ids in [0, vocab_size).

    Returns it as int64.
    """
    integer(vocab_size, "vocab_size")
    arr = np.asarray(tokens)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have shape [n, T] with n, T >= 1, got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer token ids, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= vocab_size:
        raise ValueError(f"token ids must lie in [0, {vocab_size}), found [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64, copy=False)


def joint_from_sequences(
    sequences: np.ndarray, alphabet_size: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Dense joint distribution of a process given by its support.

    ``sequences`` has shape (n, L) with integer tokens in [0, alphabet_size); ``weights`` (default
    uniform) are their probabilities.  Repeated sequences add up.  Returns shape (M,)*L.
    """
    seqs = check_tokens(sequences, alphabet_size, "sequences")
    n, length = seqs.shape
    _check_size(alphabet_size, length)
    w = np.full(n, 1.0 / n) if weights is None else check_distribution(weights, "weights")
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {w.shape}")
    flat = np.ravel_multi_index(seqs.T, (alphabet_size,) * length)
    joint = np.bincount(flat, weights=w, minlength=alphabet_size**length)
    return joint.reshape((alphabet_size,) * length)


MAX_JOINT_ENTRIES = 2**25


def _check_size(alphabet_size: int, length: int) -> None:
    integer(alphabet_size, "alphabet size")
    integer(length, "block length")
    if float(alphabet_size) ** length > MAX_JOINT_ENTRIES:
        raise ValueError(
            f"a dense joint of M={alphabet_size} symbols over L={length} tokens has "
            f"{float(alphabet_size) ** length:.3g} entries, more than the limit {MAX_JOINT_ENTRIES}; "
            "use a shorter block or a closed form"
        )


# --------------------------------------------------------------------------------------------------
# Gaussian vectors
# --------------------------------------------------------------------------------------------------

def logdet_spd(cov: np.ndarray, name: str = "covariance") -> float:
    """log det of a symmetric positive-definite matrix via Cholesky: 2 sum_i log L_ii."""
    c = np.asarray(cov, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    scale = max(1.0, float(np.abs(c).max()))
    if not np.allclose(c, c.T, atol=1e-10 * scale, rtol=0):
        raise ValueError(f"{name} is not symmetric")
    try:
        chol = np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} is not positive definite") from None
    return float(2.0 * np.log(np.diag(chol)).sum())


def gaussian_entropy(cov: np.ndarray) -> float:
    """Differential entropy of N(mu, cov): ½ log det(2 pi e cov) = ½ (n log(2 pi e) + log det cov)."""
    c = np.asarray(cov, dtype=np.float64)
    logdet = logdet_spd(c)  # validates the shape first (a scalar has no c.shape[0])
    return 0.5 * (c.shape[0] * np.log(2 * np.pi * np.e) + logdet)


def gaussian_mutual_information(cov: np.ndarray, x: Sequence[int], y: Sequence[int]) -> float:
    """I(X; Y) = ½ (log det Σ_X + log det Σ_Y - log det Σ_XY) = -½ Σ_i log(1 - ρ_i²) for jointly Gaussian
    blocks of ``cov``, where the canonical correlations ρ_i are the singular values of L_X⁻¹ Σ_{X,Y} L_Y⁻ᵀ
    (Cholesky factors Σ_X = L_X L_Xᵀ, Σ_Y = L_Y L_Yᵀ).

    Computed in the second form, so a small MI keeps its relative accuracy (the three log-determinants
    each carry an absolute rounding error of about 1e-16 for entries of order one, more for large blocks)
    and blocks with Σ_{X,Y} = 0 give exactly 0."""
    c = np.asarray(cov, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
        raise ValueError(f"covariance must be a non-empty square matrix, got shape {c.shape}")
    picked = []
    for what, given in (("x", x), ("y", y)):
        items = _index_list(listed(given, what, "variable indices"), what)
        if not items:
            raise ValueError("x and y must each name at least one variable")
        picked.append(np.asarray(items, dtype=np.int64))
    xi, yi = picked
    for what, idx in (("x", xi), ("y", yi)):
        if idx.min() < 0 or idx.max() >= c.shape[0]:
            raise ValueError(f"{what} index out of range for a {c.shape[0]}-variable covariance")
    for what, idx in (("x", xi), ("y", yi)):
        if np.unique(idx).size != idx.size:
            raise ValueError(f"{what} repeats a variable: {what}={idx.tolist()}")
    if np.intersect1d(xi, yi).size:
        raise ValueError("x and y must be disjoint")
    xy = np.concatenate([xi, yi])
    # only the (X, Y) block matters; logdet_spd validates it (symmetric, finite, positive definite), so the
    # marginal blocks, principal submatrices of it, are positive definite too
    logdet_joint = logdet_spd(c[np.ix_(xy, xy)])
    lx, ly = np.linalg.cholesky(c[np.ix_(xi, xi)]), np.linalg.cholesky(c[np.ix_(yi, yi)])
    whitened = solve_triangular(ly, solve_triangular(lx, c[np.ix_(xi, yi)], lower=True).T, lower=True)
    rho = np.linalg.svd(whitened, compute_uv=False)
    if rho.max() >= 1.0:  # rounding, at a joint block that is nearly singular: the log-determinant form is finite
        return max(0.0, float(np.log(np.diag(lx)).sum() * 2 + np.log(np.diag(ly)).sum() * 2 - logdet_joint) / 2)
    return float(-0.5 * np.log1p(-rho * rho).sum()) + 0.0  # + 0.0: 0, not -0.0, for independent blocks
