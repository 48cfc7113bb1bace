"""Synthetic Gaussian sequences with exact mutual information.  Introduced in chapter 5.

Two families of zero-mean, unit-variance Gaussian sequences of length ``L = 4**depth`` (notes §4,
after Chen et al., arXiv:2503.04725): the *sub-volume* family, whose equal-split bipartite MI grows
like ``L**beta`` with ``beta = log_4 3``, and the *log* family, whose bipartite MI grows only like
``log L``, while the two-point MI between the two ends of a sequence is the same in both.

Construction (one reading of the notes, documented in chapter 5).  With ``gamma = sqrt(5)/4`` and
``rho = 1/4`` the 4x4 mixing matrix is ::

    M = [[ g,  g,  g, r],
         [-g,  g, -g, r],
         [-g, -g,  g, r],
         [ g, -g, -g, r]]

(unit-norm rows).  Depth 0 is one N(0, 1) variable.  Depth ``d >= 1`` takes ``k`` independent
copies of depth ``d - 1`` (length ``n`` each) as the first ``k`` columns of an ``n x 4`` array,
fills the other ``4 - k`` columns with fresh iid N(0, 1) noise, multiplies every row by ``M`` and
flattens row by row (index ``r*4 + a``).  In covariance form this is

    Sigma_d = kron(Sigma_{d-1}, G_k) + kron(I_n, N_k),
    G_k = M[:, :k] M[:, :k]^T,   N_k = M[:, k:] M[:, k:]^T.

Sub-volume family: ``k = 3``; log family: ``k = 1``.  Then the *boundary step*: for every pair of
neighbouring rows ``(a, b) = (Z_{i,4}, Z_{i+1,1})`` (0-based indices ``4i+3, 4i+4``) with current
correlation ``c`` and target

    c' = (corr(Z_{i,3}, Z_{i,4}) + corr(Z_{i+1,1}, Z_{i+1,2})) / 5 + 2/5

(correlations taken before the step), replace ``(a, b)`` by ``(alpha a + beta b, beta a + alpha b)``
with ``alpha + beta = sqrt((1 + c')/(1 + c))`` and ``alpha - beta = sqrt((1 - c')/(1 - c))``.
This keeps both variances at 1 and sets their correlation to ``c'``.  The pairs are disjoint, so
the step is one linear map ``T`` and ``Sigma <- T Sigma T^T``.

Exact quantities (float64, natural logarithms): bipartite MI from log-determinants (Cholesky),
two-point MI ``-1/2 log(1 - r^2)``, per-position conditionals of the autoregressive factorisation
(``Sigma = C C^T``: ``sigma_p(i) = C_ii``, ``mu_p = (C - diag C) z`` with ``w = C z``), conditional
entropies ``1/2 log(2 pi e sigma_p(i)^2)``.  The torch parts (sampler, KL) import torch lazily.

Memory: a dense float64 covariance at depth 7 (L = 16384) takes 2 GiB; depth 8 would take 32 GiB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from scipy.linalg import lapack

from .checks import integer, listed
from .params import torch_device

if TYPE_CHECKING:  # pragma: no cover
    import torch

GAMMA: float = math.sqrt(5.0) / 4.0
RHO: float = 0.25
FAMILIES: dict[str, int] = {"subvolume": 3, "log": 1}
MAX_DEPTH: int = 8
_CHUNK = 1024  # rows/columns processed at once by the in-place boundary step


# --------------------------------------------------------------------------------------------------
# construction
# --------------------------------------------------------------------------------------------------

def mixing_matrix() -> np.ndarray:
    """The 4x4 mixing matrix M of notes §4 (gamma = sqrt(5)/4, rho = 1/4); rows have unit norm."""
    g, r = GAMMA, RHO
    return np.array(
        [[g, g, g, r], [-g, g, -g, r], [-g, -g, g, r], [g, -g, -g, r]], dtype=np.float64
    )


def resolve_copies(family: str | int) -> int:
    """Copies of the previous layer per layer: ``"subvolume"`` -> 3, ``"log"`` -> 1, or an int 1..4."""
    if isinstance(family, str):
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}; allowed: {', '.join(FAMILIES)} or an int 1..4")
        return FAMILIES[family]
    if isinstance(family, (bool, np.bool_)) or not isinstance(family, (int, np.integer)):
        raise ValueError(f"copies per layer must be a family name or an int 1..4, got {family!r}")
    if not 1 <= int(family) <= 4:
        raise ValueError(f"copies per layer must be 1, 2, 3 or 4 (the rest of the 4 columns are noise), got {family}")
    return int(family)


def check_depth(depth: Any, max_depth: int = MAX_DEPTH) -> int:
    """Validate a depth ``l`` (sequence length ``L = 4**l``): an int with 1 <= l <= ``max_depth``."""
    integer(depth, "depth", minimum=None, why="L = 4**depth")
    if not 1 <= int(depth) <= max_depth:
        longest = f" (L = 4**depth = 4 ... {4**max_depth})" if max_depth <= 20 else ""
        raise ValueError(f"depth must satisfy 1 <= depth <= {max_depth}{longest}, got {depth}")
    return int(depth)


def layer_terms(copies_per_layer: str | int = "subvolume") -> tuple[np.ndarray, np.ndarray]:
    """``(G_k, N_k) = (M[:, :k] M[:, :k]^T, M[:, k:] M[:, k:]^T)`` of the layer recursion."""
    k = resolve_copies(copies_per_layer)
    m = mixing_matrix()
    return m[:, :k] @ m[:, :k].T, m[:, k:] @ m[:, k:].T


def boundary_coefficients(c: np.ndarray | float, c_target: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients of the symmetric 2x2 map ``(a, b) -> (alpha a + beta b, beta a + alpha b)``.

    For unit-variance ``a, b`` with correlation ``c`` it keeps unit variances and gives correlation
    ``c_target``: ``alpha^2 + beta^2 = (1 - c c')/(1 - c^2)``, ``2 alpha beta = (c' - c)/(1 - c^2)``,
    solved by ``alpha +- beta = sqrt((1 +- c')/(1 +- c))``.  Needs ``|c|, |c'| < 1``.
    """
    c = np.asarray(c, dtype=np.float64)
    ct = np.asarray(c_target, dtype=np.float64)
    for name, v in (("current correlation", c), ("target correlation", ct)):
        if not np.all(np.isfinite(v)) or np.any(np.abs(v) >= 1):
            raise ValueError(f"{name} must lie strictly between -1 and 1")
    s = np.sqrt((1 + ct) / (1 + c))
    d = np.sqrt((1 - ct) / (1 - c))
    return 0.5 * (s + d), 0.5 * (s - d)


def _pair_update(
    a: np.ndarray, b: np.ndarray, alpha: np.ndarray, beta: np.ndarray, tmp: np.ndarray, tmp2: np.ndarray
) -> None:
    """In place: ``a, b <- alpha a + beta b, beta a + alpha b`` using the scratch buffers ``tmp, tmp2``."""
    np.copyto(tmp, a)
    np.multiply(a, alpha, out=a)
    np.multiply(b, beta, out=tmp2)
    a += tmp2
    np.multiply(b, alpha, out=b)
    np.multiply(tmp, beta, out=tmp2)
    b += tmp2


def _check_layer_covariance(cov: np.ndarray) -> None:
    """Refuse what the boundary step cannot use: not square, a length not divisible by 4, a variance
    that is not positive and finite (a correlation would be NaN), or an asymmetric matrix (checked on
    eight spread-out rows against the matching columns: O(L), not O(L^2))."""
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] % 4:
        raise ValueError(f"boundary step needs a square covariance of length divisible by 4, got {cov.shape}")
    var = np.diagonal(cov)
    bad = np.flatnonzero(~(np.isfinite(var) & (var > 0)))
    if bad.size:
        raise ValueError(f"a covariance needs positive, finite variances: position {int(bad[0])} has "
                         f"variance {float(var[bad[0]])!r}")
    rows = np.unique(np.linspace(0, cov.shape[0] - 1, 8).astype(int))
    scale = float(var.max())
    if not np.allclose(cov[rows], cov[:, rows].T, rtol=1e-9, atol=1e-12 * scale):
        raise ValueError("the covariance is not symmetric (cov[i, j] != cov[j, i] for some i, j)")


def boundary_targets(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Current and target correlations of the boundary pairs ``(4i+3, 4i+4)`` of a layer.

    ``cov`` is the covariance right after row mixing (L = 4n).  Returns ``(c, c')`` of length n-1,
    ``c' = (corr(4i+2, 4i+3) + corr(4i+4, 4i+5)) / 5 + 2/5``.  ``ValueError`` unless ``cov`` is a
    square, symmetric matrix of length divisible by 4 with positive, finite variances.
    """
    _check_layer_covariance(cov)
    n = cov.shape[0] // 4
    i = np.arange(n - 1)
    d = np.sqrt(np.diagonal(cov))

    def corr(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        return cov[p, q] / (d[p] * d[q])

    c = corr(4 * i + 3, 4 * i + 4)
    target = (corr(4 * i + 2, 4 * i + 3) + corr(4 * i + 4, 4 * i + 5)) / 5.0 + 2.0 / 5.0
    return c, target


def apply_boundary_step(cov: np.ndarray, skip: Sequence[int] = ()) -> np.ndarray:
    """Boundary step of notes §4, in place on a C-contiguous float64 covariance of length L = 4n.

    Applies ``Sigma <- T Sigma T^T`` where ``T`` acts as the 2x2 map of
    :func:`boundary_coefficients` on every pair ``(4i+3, 4i+4)``, i = 0..n-2, except the pairs
    listed in ``skip`` (vectorised; rows first, then columns, in chunks of ``_CHUNK`` columns/rows
    with preallocated scratch buffers to bound memory).  Targets are computed before the step; as the
    pairs are disjoint and the target of pair i only involves variables that no other pair touches,
    applying the pairs one by one would give the same matrix.  Returns ``cov``.
    """
    _check_layer_covariance(cov)
    if not cov.flags.c_contiguous or cov.dtype != np.float64:
        raise ValueError("boundary step works in place on a C-contiguous float64 array")
    L = cov.shape[0]
    n = L // 4
    if n < 2:
        return cov
    c, target = boundary_targets(cov)
    alpha, beta = boundary_coefficients(c, target)
    skip = np.asarray([integer(s, "a skip entry", minimum=None) for s in listed(skip, "skip", "boundary pair indices")],
                      dtype=int)
    if skip.size and (skip.min() < 0 or skip.max() > n - 2):
        raise ValueError(f"skip lists boundary pairs, numbered 0..{n - 2} at L = {L}; got {skip.tolist()}")
    alpha[skip], beta[skip] = 1.0, 0.0
    chunk = min(_CHUNK, L)
    tmp, tmp2 = np.empty((n - 1, chunk)), np.empty((n - 1, chunk))
    rows = cov.reshape(n, 4, L)
    for j0 in range(0, L, chunk):
        w = min(L, j0 + chunk) - j0
        _pair_update(rows[:-1, 3, j0 : j0 + w], rows[1:, 0, j0 : j0 + w], alpha[:, None], beta[:, None],
                     tmp[:, :w], tmp2[:, :w])
    tmp, tmp2 = tmp.reshape(chunk, n - 1), tmp2.reshape(chunk, n - 1)
    cols = cov.reshape(L, n, 4)
    for j0 in range(0, L, chunk):
        w = min(L, j0 + chunk) - j0
        _pair_update(cols[j0 : j0 + w, :-1, 3], cols[j0 : j0 + w, 1:, 0], alpha[None, :], beta[None, :],
                     tmp[:w], tmp2[:w])
    return cov


def _mix_layer(prev: np.ndarray, g: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """``kron(prev, g) + kron(I_n, noise)`` written straight into one new (4n, 4n) array.

    Row ``4r + a`` of the result is ``repeat(prev[r], 4) * tile(g[a], n)``: long contiguous
    multiplications, done in row chunks so that the temporary stays small.
    """
    n = prev.shape[0]
    out = np.empty((n, 4, 4 * n), dtype=np.float64)
    tiles = [np.tile(g[a], n) for a in range(4)]
    step = max(1, (1 << 22) // (4 * n))  # ~32 MiB of repeated rows at a time
    for r0 in range(0, n, step):
        rep = np.repeat(prev[r0 : r0 + step], 4, axis=1)
        for a in range(4):
            np.multiply(rep, tiles[a], out=out[r0 : r0 + step, a, :])
    out4 = out.reshape(n, 4, n, 4)
    s = out4.strides
    diag_blocks = np.lib.stride_tricks.as_strided(out4, shape=(n, 4, 4), strides=(s[0] + s[2], s[1], s[3]))
    diag_blocks += noise
    return out.reshape(4 * n, 4 * n)


def sequence_covariance(
    depth: int, copies_per_layer: str | int = "subvolume", boundary_step: bool = True
) -> np.ndarray:
    """Covariance (L x L, L = 4**depth, float64) of the sub-volume (k=3) or log (k=1) family.

    Built by the layer recursion ``Sigma_d = kron(Sigma_{d-1}, G_k) + kron(I, N_k)`` followed by
    :func:`apply_boundary_step` at every layer d >= 2 (skipped when ``boundary_step`` is False,
    which gives the tree-structured variant).  Unit diagonal, symmetric positive definite.
    """
    depth = check_depth(depth)
    g, noise = layer_terms(copies_per_layer)
    cov = np.ones((1, 1))
    for level in range(1, depth + 1):
        cov = _mix_layer(cov, g, noise)
        if boundary_step and level >= 2:
            apply_boundary_step(cov)
    return cov


def layer_covariances(
    depth: int, copies_per_layer: str | int = "subvolume", boundary_step: bool = True
) -> list[np.ndarray]:
    """The covariances of depths 1..``depth`` (for pictures of the construction)."""
    depth = check_depth(depth)
    return [sequence_covariance(d, copies_per_layer, boundary_step) for d in range(1, depth + 1)]


def antipodal_correlation(depth: int, copies_per_layer: str | int = "subvolume") -> float:
    """Closed form of corr(W_1, W_L): ``(M M^T)_{14} * (G_k)_{14}**(depth-1)``.

    The boundary step never touches the first or last variable of a sequence, so the corner entry
    follows the plain recursion ``Sigma_d[0, L-1] = Sigma_{d-1}[0, n-1] * G_k[0, 3]``.
    """
    depth = check_depth(depth, max_depth=64)
    g, noise = layer_terms(copies_per_layer)
    return float((g[0, 3] + noise[0, 3]) * g[0, 3] ** (depth - 1))


# --------------------------------------------------------------------------------------------------
# exact information quantities
# --------------------------------------------------------------------------------------------------

def check_covariance(cov: np.ndarray, name: str = "covariance", tol: float = 1e-10) -> np.ndarray:
    """Return ``cov`` as float64 after checking it is square, finite and symmetric.

    Works tile by tile (no full-size temporaries), so it is cheap even at L = 16384.
    """
    c = np.asarray(cov, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {c.shape}")
    L, t = c.shape[0], 512
    for i0 in range(0, L, t):
        for j0 in range(i0, L, t):
            upper, lower = c[i0 : i0 + t, j0 : j0 + t], c[j0 : j0 + t, i0 : i0 + t]
            if not (np.all(np.isfinite(upper)) and np.all(np.isfinite(lower))):
                raise ValueError(f"{name} contains NaN or infinite entries")
            if np.max(np.abs(upper - lower.T)) > tol * max(1.0, float(np.abs(upper).max())):
                raise ValueError(f"{name} is not symmetric")
    return c


_BLOCKED_CHOLESKY_ABOVE = 8192
_CHOLESKY_BLOCK = 4096


def _blocked_cholesky(c: np.ndarray, clean: bool, name: str) -> np.ndarray:
    """Right-looking blocked Cholesky, in place on the lower triangle of ``c`` (returns ``c``).

    Used for L > 8192.  scipy's bundled (32-bit index) OpenBLAS crashed with a segmentation fault
    in multithreaded ``dpotrf`` on a 16384 x 16384 matrix (2 GiB, 2^31 bytes) on our machine, so
    LAPACK only ever sees diagonal blocks of size <= ``_CHOLESKY_BLOCK`` and panels below 2 GiB;
    the trailing updates are numpy matrix products.  Same flop count as ``dpotrf``.
    """
    from scipy.linalg import solve_triangular

    n, b = c.shape[0], _CHOLESKY_BLOCK
    for k in range(0, n, b):
        e = min(n, k + b)
        diag, info = lapack.dpotrf(np.array(c[k:e, k:e], order="F"), lower=1, clean=1, overwrite_a=1)
        if info > 0:
            raise ValueError(f"{name} is not positive definite (Cholesky failed at pivot {k + info})")
        c[k:e, k:e] = diag
        if e == n:
            break
        c[e:, k:e] = solve_triangular(diag, c[e:, k:e].T, lower=True, check_finite=False).T
        for j in range(e, n, b):
            je = min(n, j + b)
            c[j:, j:je] -= c[j:, k:e] @ c[j:je, k:e].T
    if clean:
        for k in range(0, n, b):
            c[k : k + b, k + b :] = 0.0
    return c


def cholesky_lower(
    cov: np.ndarray, overwrite: bool = False, name: str = "covariance", _checked: bool = False
) -> np.ndarray:
    """Lower Cholesky factor C (Sigma = C C^T) via LAPACK dpotrf.

    With ``overwrite=True`` and a C-contiguous float64 input, the factor is computed in the input's
    memory (no copy) and the returned array is a view of it; the input is destroyed.  Only the lower
    triangle of the result is meaningful when ``overwrite`` is used (the upper one is not cleared).
    """
    c = cov if _checked else check_covariance(cov, name)
    if not overwrite or not c.flags.c_contiguous:
        c = np.array(c, dtype=np.float64, order="C", copy=True)
        clean = 1
    else:
        clean = 0
    if c.shape[0] > _BLOCKED_CHOLESKY_ABOVE:
        return _blocked_cholesky(c, clean=bool(clean), name=name)
    # c.T is Fortran-ordered; dpotrf(lower) of c.T == Sigma writes C into it.
    fac, info = lapack.dpotrf(c.T, lower=1, clean=clean, overwrite_a=1)
    if info > 0:
        raise ValueError(f"{name} is not positive definite (Cholesky failed at pivot {info})")
    if info < 0:  # pragma: no cover - LAPACK argument error
        raise RuntimeError(f"dpotrf argument error {info}")
    return fac  # fac[i, j] with i >= j is C_ij (Fortran-ordered view of the buffer)


def _log_diag_cholesky(cov: np.ndarray, overwrite: bool, _checked: bool = False) -> np.ndarray:
    fac = cholesky_lower(cov, overwrite=overwrite, _checked=_checked)
    return np.log(np.diagonal(fac).copy())


def logdet_prefixes(cov: np.ndarray, overwrite: bool = False, _checked: bool = False) -> np.ndarray:
    """``P[m] = log det Sigma[:m, :m]`` for m = 0..L (P[0] = 0), from one Cholesky: 2 sum_{i<m} log C_ii."""
    return np.concatenate([[0.0], np.cumsum(2.0 * _log_diag_cholesky(cov, overwrite, _checked))])


def bipartite_mi_profile(cov: np.ndarray) -> np.ndarray:
    """Exact bipartite MI ``I(W_{1:l}; W_{l+1:L})`` for every split l = 1..L-1 (array of length L-1).

    ``I = 1/2 (log det Sigma_X + log det Sigma_Y - log det Sigma)``; prefix log-determinants come from
    the Cholesky factor of Sigma, suffix ones from the Cholesky factor of the reversed matrix.
    """
    c = check_covariance(cov)
    L = c.shape[0]
    if L < 2:
        raise ValueError(f"a bipartite split needs at least 2 variables, got L={L}")
    pre = logdet_prefixes(c, _checked=True)
    suf = logdet_prefixes(np.array(c[::-1, ::-1], order="C"), overwrite=True, _checked=True)  # last m
    ell = np.arange(1, L)
    return 0.5 * (pre[ell] + suf[L - ell] - pre[L])


def bipartite_mi(cov: np.ndarray, ell: int | None = None, overwrite: bool = False) -> float:
    """Exact bipartite MI ``I(W_{1:ell}; W_{ell+1:L}) = 1/2 (log det S_X + log det S_Y - log det S)``.

    ``ell`` defaults to the equal split L // 2.  Costs one Cholesky of Sigma plus one of the
    trailing (L - ell) block.  ``overwrite=True`` lets it destroy ``cov`` (saves a 2 GiB copy at
    L = 16384).
    """
    c = check_covariance(cov)
    L = c.shape[0]
    if L < 2:
        raise ValueError(f"a bipartite split needs a sequence of at least 2 tokens, got a {L}x{L} covariance")
    ell = L // 2 if ell is None else ell
    ell = integer(ell, "split ell", minimum=1, maximum=L - 1, why="1 <= ell <= L-1")
    logdet_y = 2.0 * _log_diag_cholesky(np.array(c[ell:, ell:], order="C"), True, _checked=True).sum()
    logd = 2.0 * _log_diag_cholesky(c, overwrite=overwrite, _checked=True)
    value = 0.5 * (logdet_y - logd[ell:].sum())  # log det S_X cancels against the leading part
    return max(value, 0.0) if value > -1e-10 else value


def equal_split_mi(depth: int, copies_per_layer: str | int = "subvolume", boundary_step: bool = True) -> float:
    """Exact equal-split bipartite MI (nats, one copy of the sequence) at ``L = 4**depth``.

    Builds the covariance and factorises it in place (peak memory ~1.25x one L x L float64 matrix).
    Multiply by the number of stacked independent copies (e.g. 64) for the training tokens.
    """
    cov = sequence_covariance(depth, copies_per_layer, boundary_step)
    return bipartite_mi(cov, overwrite=True)


def _leading_block(
    depth: int, size: int, g: np.ndarray, noise: np.ndarray, boundary_step: bool
) -> np.ndarray:
    """The leading ``size x size`` block of the depth-``depth`` covariance, without building the rest.

    Rows ``0 .. size//4`` of the previous layer determine the first ``4 (size//4 + 1) > size``
    variables of this layer; every boundary pair that touches a variable before ``size`` lies inside
    them, so the block is exact.
    """
    if depth == 0:
        return np.ones((1, 1))
    rows = min(size // 4 + 1, 4 ** (depth - 1))
    blk = _mix_layer(_leading_block(depth - 1, rows, g, noise, boundary_step), g, noise)
    if boundary_step and depth >= 2:
        apply_boundary_step(blk)
    return np.ascontiguousarray(blk[:size, :size])


def _cut_side_correction(
    block: np.ndarray, m: np.ndarray, k: int, alpha: float, beta: float
) -> float:
    """``log Var(alpha a + beta b | X^-) - log Var(a | X^-)`` for one side of the cut.

    ``block`` is the leading ``(h+1) x (h+1)`` block of Sigma_{d-1} (the copy's first h = n/2
    entries plus the next one), ``m`` the mixing matrix of this side (``J M`` for the reversed right
    side), ``a`` the last variable of the side, ``b`` the first one across the cut.  With
    ``C = chol(block)``, ``u = M^{-1}[:, 3]`` and copies in columns ``< k``:

    * ``1/Var(a|X^-) = (Sigma_X^{-1})_{aa} = sum_{j<k} u_j^2 / C_{h-1,h-1}^2 + sum_{j>=k} u_j^2``
      (X is an invertible, row-wise function of the copies' halves and the noise);
    * ``Var(b|X) = sum_{j<k} M_{0j}^2 C_{hh}^2 + sum_{j>=k} M_{0j}^2``;
    * the coefficient of ``a`` in ``E[b|X]`` is ``kappa = sum_{j<k} M_{0j} u_j C_{h,h-1}/C_{h-1,h-1}``.

    They give the conditional covariance of (a, b) given X^-.
    """
    h = block.shape[0] - 1
    fac = cholesky_lower(block, _checked=True)
    c11, c21, c22 = fac[h - 1, h - 1], fac[h, h - 1], fac[h, h]
    u = np.linalg.inv(m)[:, 3]
    copy, fresh = slice(0, k), slice(k, 4)
    var_a = 1.0 / (np.sum(u[copy] ** 2) / c11**2 + np.sum(u[fresh] ** 2))
    var_b_given_x = np.sum(m[0, copy] ** 2) * c22**2 + np.sum(m[0, fresh] ** 2)
    kappa = np.sum(m[0, copy] * u[copy]) * c21 / c11
    cov_ab, var_b = kappa * var_a, var_b_given_x + kappa**2 * var_a
    var_new = alpha * alpha * var_a + 2 * alpha * beta * cov_ab + beta * beta * var_b
    return float(np.log(var_new) - np.log(var_a))


def equal_split_mi_by_depth(
    max_depth: int, copies_per_layer: str | int = "subvolume", boundary_step: bool = True
) -> np.ndarray:
    """Exact equal-split bipartite MI at depths 1..``max_depth`` by the cut recursion (one copy, nats).

    Before the boundary step on the pair ``(a, b) = (W_{L/2}, W_{L/2+1})`` that straddles the cut,
    each half is an invertible function of the halves of the ``k`` independent copies and of
    independent noise, so the MI is exactly ``k * I_{d-1}``.  The cut pair's map ``T`` (determinant
    ``alpha^2 - beta^2``) changes one variable on each side, hence

        I_d = k I_{d-1} + 1/2 [log Var(a'|X^-) - log Var(a|X^-)]
                        + 1/2 [log Var(b'|Y^-) - log Var(b|Y^-)] - log|alpha^2 - beta^2|,

    with X^-, Y^- the halves without a, b (see :func:`_cut_side_correction`).  The right side is the
    left side of the reversed sequence, which is the same construction with ``J M`` (rows of M
    reversed) in place of ``M``.  Only (n/2 + 1)-blocks of Sigma_{d-1} are needed, n = L/4: depth 7
    (L = 16384) costs two Cholesky factorisations of size 2049, depth 8 two of size 8193.
    Agrees with the dense :func:`equal_split_mi` to ~1e-13 (tests).
    """
    depth = check_depth(max_depth)
    k = resolve_copies(copies_per_layer)
    m = mixing_matrix()
    sides = []
    for mm in (m, m[::-1]):
        sides.append((mm, mm[:, :k] @ mm[:, :k].T, mm[:, k:] @ mm[:, k:].T))
    g, noise = sides[0][1], sides[0][2]
    out = [bipartite_mi(g + noise)]
    for level in range(2, depth + 1):
        n = 4 ** (level - 1)
        h = n // 2  # the cut pair is (row h-1, slot 3) -- (row h, slot 0) of the top layer
        value = k * out[-1]
        if boundary_step:
            blocks = [_leading_block(level - 1, h + 1, gg, nn, True) for _, gg, nn in sides]
            left = blocks[0]
            s_a, s_b = left[h - 1, h - 1], left[h, h]

            def within(sv: float, p: int, q: int) -> float:
                cov_pq = sv * g[p, q] + noise[p, q]
                return cov_pq / math.sqrt((sv * g[p, p] + noise[p, p]) * (sv * g[q, q] + noise[q, q]))

            c = g[3, 0] * left[h - 1, h] / math.sqrt((s_a * g[3, 3] + noise[3, 3]) * (s_b * g[0, 0] + noise[0, 0]))
            target = (within(s_a, 2, 3) + within(s_b, 0, 1)) / 5.0 + 2.0 / 5.0
            alpha, beta = (float(v) for v in boundary_coefficients(c, target))
            for (mm, _, _), blk in zip(sides, blocks):
                value += 0.5 * _cut_side_correction(blk, mm, k, alpha, beta)
            value -= math.log(abs(alpha * alpha - beta * beta))
        out.append(value)
    return np.asarray(out)


def antipodal_two_point_mi(depth: int, copies_per_layer: str | int = "subvolume") -> float:
    """Closed-form two-point MI between the first and last positions, ``-1/2 log(1 - r^2)``."""
    r = antipodal_correlation(depth, copies_per_layer)
    return float(-0.5 * np.log1p(-r * r))


def exact_conditionals(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact conditionals of the autoregressive factorisation ``p(w_i | w_<i) = N(a_i . w_<i, sigma_i^2)``.

    Returns ``(A, sigma)``: ``A`` strictly lower triangular (L x L) with ``mu = A w``, and
    ``sigma_i = C_ii`` from ``Sigma = C C^T``.  Since ``z = C^{-1} w``, ``mu = w - diag(C) z`` gives
    ``A = I - diag(C) C^{-1}`` (equivalently the Schur complements of the leading blocks).
    """
    from scipy.linalg import solve_triangular

    fac = np.tril(cholesky_lower(cov))
    L = fac.shape[0]
    sigma = np.diagonal(fac).copy()
    cinv = solve_triangular(fac, np.eye(L), lower=True, check_finite=False)
    coef = np.eye(L) - sigma[:, None] * cinv
    coef[np.triu_indices(L)] = 0.0
    return coef, sigma


def conditional_sigmas(cov: np.ndarray, overwrite: bool = False) -> np.ndarray:
    """``sigma_p(i) = sqrt(Var(W_i | W_<i)) = C_ii`` for every position (length L)."""
    fac = cholesky_lower(cov, overwrite=overwrite)
    return np.diagonal(fac).copy()


def conditional_entropies(cov: np.ndarray) -> np.ndarray:
    """Exact ``H_p(W_i | W_<i) = 1/2 log(2 pi e sigma_p(i)^2)`` (nats); they sum to the joint entropy."""
    s = conditional_sigmas(cov)
    return 0.5 * np.log(2 * np.pi * np.e) + np.log(s)


def trivial_baseline_kl(sigma_p: np.ndarray) -> float:
    """KL/token of predicting the marginal N(0, 1) everywhere: ``-mean_i log sigma_p(i)``.

    Per position ``E_p KL(N(mu_p, s^2) || N(0, 1)) = -log s + (s^2 + E mu_p^2)/2 - 1/2 = -log s``
    because ``E mu_p^2 = 1 - s^2``.
    """
    s = np.asarray(sigma_p, dtype=np.float64)
    if s.ndim != 1 or s.size == 0 or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError("sigma_p must be a non-empty 1-D array of finite positive numbers")
    return float(-np.mean(np.log(s)))


# --------------------------------------------------------------------------------------------------
# torch: sampler and exact KL
# --------------------------------------------------------------------------------------------------

@dataclass
class GaussianBatch:
    """One batch of training data.

    ``tokens``: [batch, L+1, copies], zero BOS at position 0, then w_1..w_L.
    ``mu``: [batch, L, copies], exact conditional mean of w_i given w_<i (row i-1 of the model's
    output, which sees ``tokens[:, :i]``).  ``sigma``: [L], the exact conditional std (the same for
    every sample and copy; broadcast as ``sigma[None, :, None]``).
    """

    tokens: "torch.Tensor"
    mu: "torch.Tensor"
    sigma: "torch.Tensor"


class GaussianSequenceSampler:
    """Draws batches of ``copies`` independent sequences per position, with exact conditionals.

    With ``Sigma = C C^T`` and ``z ~ N(0, I)``: ``mu = (C - diag C) z`` (one triangular matmul) and
    ``w = mu + diag(C) z``; ``mu_i`` is exactly E[w_i | w_<i] and ``sigma_i = C_ii``.  The factor is
    computed once in float64 on the CPU and stored on ``device`` in ``dtype``.
    """

    def __init__(
        self,
        depth: int,
        copies_per_layer: str | int = "subvolume",
        copies: int = 64,
        device: "str | torch.device" = "cpu",
        dtype: "torch.dtype | None" = None,
    ):
        import torch

        self.depth = check_depth(depth)
        self.copies_per_layer = resolve_copies(copies_per_layer)
        self.copies = integer(copies, "copies")
        self.length = 4**self.depth
        self.device = torch_device(device)
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"dtype must be a floating-point torch dtype (e.g. torch.float32), got {dtype!r}")
        self.dtype = torch.float32 if dtype is None else dtype
        fac = cholesky_lower(sequence_covariance(self.depth, self.copies_per_layer), overwrite=True)
        sigma = np.diagonal(fac).copy()
        strict = np.tril(fac, k=-1)  # C - diag C (copies fac in C order)
        del fac
        self.sigma = torch.as_tensor(sigma, dtype=self.dtype, device=self.device)
        self.strict_lower = torch.as_tensor(strict, dtype=self.dtype, device=self.device)

    def sample(self, batch: int, generator: "torch.Generator | None" = None, seed: int | None = None) -> GaussianBatch:
        """Draw ``batch`` sequences.  Give either a ``torch.Generator`` on ``self.device`` or an int ``seed``.

        With a ``seed`` the standard normals are drawn on the CPU and moved to ``self.device``, so a
        seeded batch (e.g. chapter 6's held-out batch) is the same on every device: CPU and CUDA
        generators give different numbers for one seed.  A generator draws on its own device (fast).
        """
        import torch

        integer(batch, "batch")
        if generator is not None and seed is not None:
            raise ValueError("give either generator or seed, not both")
        if generator is None and seed is None:
            raise ValueError("pass an explicit seed or torch.Generator (no hidden global RNG state)")
        L, k = self.length, self.copies
        if generator is None:
            cpu = torch.Generator(device="cpu").manual_seed(integer(seed, "seed", minimum=0))
            z = torch.randn(L, batch * k, generator=cpu, dtype=self.dtype).to(self.device)
        else:
            z = torch.randn(L, batch * k, generator=generator, device=self.device, dtype=self.dtype)
        mu = self.strict_lower @ z
        w = torch.addcmul(mu, self.sigma[:, None], z)
        tokens = torch.zeros(batch, L + 1, k, device=self.device, dtype=self.dtype)
        tokens[:, 1:] = w.reshape(L, batch, k).permute(1, 0, 2)
        return GaussianBatch(tokens=tokens, mu=mu.reshape(L, batch, k).permute(1, 0, 2).contiguous(), sigma=self.sigma)


def sample_batch(
    depth: int,
    batch: int,
    seed: int,
    copies_per_layer: str | int = "subvolume",
    copies: int = 64,
    device: "str | torch.device" = "cpu",
) -> GaussianBatch:
    """Convenience: build a :class:`GaussianSequenceSampler` and draw one batch (seeded)."""
    return GaussianSequenceSampler(depth, copies_per_layer, copies, device).sample(batch, seed=seed)


def exact_kl(mu_q: "torch.Tensor", sigma_q: "torch.Tensor", mu_p: "torch.Tensor", sigma_p: "torch.Tensor") -> "torch.Tensor":
    """Per-position KL(p || q) between the true conditional and a diagonal-Gaussian prediction.

    ``KL_i = (1/copies) sum_j [log(sigma_q/sigma_p) + (sigma_p^2 + (mu_q - mu_p)^2)/(2 sigma_q^2) - 1/2]``

    ``mu_q``, ``sigma_q``, ``mu_p``: [batch, L, copies]; ``sigma_p``: [L] or [batch, L, copies].
    Returns [batch, L] (average over batch for the E_p of the notes).  Differentiable in all inputs.
    Raises ``ValueError`` on mismatched shapes, NaN/inf or non-positive standard deviations.
    """
    import torch

    tensors = {"mu_q": mu_q, "sigma_q": sigma_q, "mu_p": mu_p, "sigma_p": sigma_p}
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not torch.is_floating_point(t):
            raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if mu_q.dim() != 3 or 0 in mu_q.shape:
        raise ValueError(f"mu_q must have shape [batch, L, copies], each at least 1, got {tuple(mu_q.shape)}")
    shape = mu_q.shape
    for name in ("sigma_q", "mu_p"):
        if tensors[name].shape != shape:
            raise ValueError(f"{name} has shape {tuple(tensors[name].shape)}, expected {tuple(shape)} like mu_q")
    if sigma_p.shape == (shape[1],):
        sp = sigma_p[None, :, None]
    elif sigma_p.shape == shape:
        sp = sigma_p
    else:
        raise ValueError(f"sigma_p has shape {tuple(sigma_p.shape)}, expected ({shape[1]},) or {tuple(shape)}")
    for name, t in tensors.items():
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or infinite entries")
    for name in ("sigma_q", "sigma_p"):
        if bool((tensors[name] <= 0).any()):
            raise ValueError(f"{name} must be strictly positive")
    return kl_elements(mu_q, sigma_q, mu_p, sp).mean(dim=-1)


def kl_elements(mu_q: "torch.Tensor", sigma_q: "torch.Tensor", mu_p: "torch.Tensor", sigma_p: "torch.Tensor") -> "torch.Tensor":
    """Elementwise KL(N(mu_p, sigma_p^2) || N(mu_q, sigma_q^2)), unchecked, broadcasting (nats).

    Written as ``(r - 1 - log r)/2 + (mu_q - mu_p)^2 / (2 sigma_q^2)`` with ``r = (sigma_p/sigma_q)^2``,
    the same value as the textbook form above.  The textbook form adds terms of order one that cancel
    to the KL; in float32 near a perfect fit (KL ~ 1e-8) it loses every digit, this form keeps four.
    """
    import torch

    r = (sigma_p / sigma_q) ** 2
    return 0.5 * (r - 1 - torch.log(r)) + (mu_q - mu_p) ** 2 / (2 * sigma_q * sigma_q)
