"""Entropy estimators from counts: naive plug-in and Grassberger.  Introduced in chapter 3.

Given the counts n_1, ..., n_K of K observed symbols in a sample of N = sum_k n_k draws, estimate
the entropy H = -sum_x p(x) log p(x) (nats) of the distribution the sample came from.

* **Naive (plug-in, maximum likelihood).**  H_naive = log N - (1/N) sum_k n_k log n_k, the entropy
  of the empirical distribution.  Biased low: to first order by (K - 1) / (2N) (Miller-Madow).
* **Grassberger** {cite}`grassberger2003entropy` (the estimator of the L²M paper, notes §3):

      H_G = log N - (1/N) sum_k n_k G(n_k),
      G(n) = psi(n) + ½ (-1)^n [psi((n+1)/2) - psi(n/2)],

  psi the digamma function.  G(1) = -gamma - log 2, G(2) = 2 - gamma - log 2, G(n) ~ log n for large n.
  Still biased low, but much less than the plug-in estimator when many symbols are seen only a few
  times.

Zero counts are dropped before the sum: they contribute nothing to either estimator, and G(0) is
undefined (psi(0) = -inf gives NaN).  Everything is vectorised over the count array and works in
float64 on int64 counts, so N up to 10^8 and beyond neither overflows nor loses precision.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

from .checks import is_real


def check_counts(counts: np.ndarray, name: str = "counts") -> np.ndarray:
    """Return the positive counts of ``counts`` as int64 (zeros dropped), after validation.

    ``counts`` of any shape are the cells of one distribution: a 2-D table of pair counts n(x, y) gives
    the joint entropy H(X, Y), exactly as its flattened copy does.  Raises ``ValueError`` for an empty
    array, NaN/inf, negative or non-integer entries, or an all-zero array.
    """
    arr = np.asarray(counts)
    if arr.size == 0:
        raise ValueError(f"{name} is empty: an entropy estimate needs at least one observation")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must be a numeric array of counts, got dtype {arr.dtype}")
    arr = arr.ravel()
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite entries")
        if np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold whole numbers (counts), found a fractional entry")
        if np.any(np.abs(arr) >= 2.0**62):
            raise ValueError(f"{name} has entries too large to be int64 counts")
    if np.any(arr < 0):
        raise ValueError(f"{name} has negative entries (min {arr.min()})")
    if arr.dtype.kind == "u" and np.any(arr >= 2**62):
        raise ValueError(f"{name} has entries too large to be int64 counts")
    out = arr.astype(np.int64, copy=False)
    out = out[out > 0]
    if out.size == 0:
        raise ValueError(f"{name} are all zero: an entropy estimate needs at least one observation")
    return out


def grassberger_G(n: np.ndarray) -> np.ndarray:
    """G(n) = psi(n) + ½ (-1)^n [psi((n+1)/2) - psi(n/2)] for integer n >= 1 (float64 array).

    ``n`` must be positive integers; G(0) is undefined and raises ``ValueError``.
    """
    n = np.asarray(n)
    if n.dtype == np.bool_ or n.dtype == object:
        raise ValueError(f"G(n) needs whole numbers n >= 1, got an array of dtype {n.dtype}")
    if n.size and (not np.issubdtype(n.dtype, np.integer)):
        if not np.all(np.isfinite(n)) or np.any(n != np.round(n)):
            raise ValueError("G(n) is defined for whole numbers n >= 1 only")
    if n.size and np.any(n < 1):
        raise ValueError("G(n) is defined for n >= 1 only (G(0) is undefined: psi(0) = -inf)")
    nf = n.astype(np.float64)
    sign = np.where(n.astype(np.int64) % 2 == 0, 1.0, -1.0)
    return digamma(nf) + 0.5 * sign * (digamma((nf + 1.0) / 2.0) - digamma(nf / 2.0))


def _sum_n_f(counts: np.ndarray, f) -> float:
    """sum_k n_k f(n_k).  Counts repeat a lot (most symbols are rare), so when the largest count is
    small f is evaluated once per count value through a histogram of the counts."""
    top = int(counts.max())
    if top <= 4 * counts.size + 1024:
        multiplicity = np.bincount(counts, minlength=top + 1)[1:]
        values = np.arange(1, top + 1, dtype=np.int64)
        used = multiplicity > 0
        values, multiplicity = values[used], multiplicity[used]
    else:
        values, multiplicity = counts, np.ones(counts.size, dtype=np.int64)
    return float(np.dot(values.astype(np.float64) * multiplicity, f(values)))


def naive_entropy(counts: np.ndarray) -> float:
    """Plug-in estimate H_naive = log N - (1/N) sum_k n_k log n_k (nats); zeros dropped."""
    c = check_counts(counts)
    total = float(c.sum(dtype=np.int64))
    return float(np.log(total) - _sum_n_f(c, lambda v: np.log(v.astype(np.float64))) / total)


def miller_madow_entropy(counts: np.ndarray) -> float:
    """Miller-Madow correction: H_naive + (K - 1) / (2N), K = number of observed symbols."""
    c = check_counts(counts)
    return naive_entropy(c) + (c.size - 1) / (2.0 * float(c.sum(dtype=np.int64)))


def grassberger_entropy(counts: np.ndarray) -> float:
    """Grassberger estimate H_G = log N - (1/N) sum_k n_k G(n_k) (nats); zeros dropped."""
    c = check_counts(counts)
    total = float(c.sum(dtype=np.int64))
    return float(np.log(total) - _sum_n_f(c, grassberger_G) / total)


def poisson_plugin_bias(expected_counts: np.ndarray, n_total: float,
                        multiplicity: np.ndarray | None = None) -> float:
    """Expected shortfall of the plug-in entropy when cell counts are independent Poisson draws.

    With cell counts n_k ~ Poisson(lambda_k) and N = n_total, the plug-in estimate
    log N - (1/N) sum_k n_k log n_k falls short of log N - (1/N) sum_k lambda_k log lambda_k by

        b = (1/N) sum_k ( E[n_k log n_k] - lambda_k log lambda_k )   (nats),

    computed cell by cell, also for cells with expected counts of order 1 or less, where the
    Miller-Madow term (K - 1) / (2N) (one half per *observed* cell) fails.  For lambda > 60 the
    asymptotic series E[n log n] = lambda log lambda + 1/2 + 1/(12 lambda) + 1/(12 lambda^2) is used
    (error ~1e-6); below, the Poisson sum over k = 1..199.  Cells with lambda = 0 contribute nothing.
    ``multiplicity[k]`` (optional, same shape) counts the cells that share ``lambda_k``: the sum then
    weighs each distinct mean by it, e.g. the K_X K_Y cells n p_x q_y of two marginals from their
    distinct counts only (chapter 3's exercise).  Introduced in chapter 3 (the naive estimator's floor).
    """
    lam = np.asarray(expected_counts, dtype=np.float64).ravel()
    if lam.size == 0:
        raise ValueError("expected_counts is empty: the bias needs at least one cell")
    if not np.all(np.isfinite(lam)) or np.any(lam < 0):
        raise ValueError("expected_counts must be finite and non-negative (Poisson means)")
    if not is_real(n_total) or not np.isfinite(n_total) or n_total <= 0:
        raise ValueError(f"n_total must be one positive number of draws, got {n_total!r}")
    if multiplicity is None:
        weight = np.ones_like(lam)
    else:
        weight = np.asarray(multiplicity, dtype=np.float64).ravel()
        if np.shape(multiplicity) != np.shape(expected_counts):
            raise ValueError(f"multiplicity has shape {np.shape(multiplicity)}, expected_counts "
                             f"{np.shape(expected_counts)}: give one count of cells per mean")
        if not np.all(np.isfinite(weight)) or np.any(weight < 0):
            raise ValueError("multiplicity must be finite and non-negative (numbers of cells)")
    weight = weight[lam > 0]
    lam = lam[lam > 0]
    e_nlogn = np.empty_like(lam)
    big = lam > 60
    lb = lam[big]
    e_nlogn[big] = lb * np.log(lb) + 0.5 + 1 / (12 * lb) + 1 / (12 * lb**2)
    ks = np.arange(1, 200, dtype=np.float64)
    klogk, log_kfact = ks * np.log(ks), np.cumsum(np.log(ks))
    small = lam[~big]
    out = np.empty_like(small)
    for start in range(0, small.size, 20_000):  # chunks bound the [cells, 199] pmf table to ~32 MB
        ls = small[start:start + 20_000, None]
        out[start:start + 20_000] = np.exp(ks * np.log(ls) - ls - log_kfact) @ klogk
    e_nlogn[~big] = out
    return float(weight @ (e_nlogn - lam * np.log(lam)) / n_total)


ESTIMATORS = {
    "grassberger": grassberger_entropy,
    "naive": naive_entropy,
    "miller_madow": miller_madow_entropy,
}


def entropy_from_counts(counts: np.ndarray, estimator: str = "grassberger") -> float:
    """Dispatch to one of :data:`ESTIMATORS` by name."""
    try:
        fn = ESTIMATORS[estimator]
    except (KeyError, TypeError):  # TypeError: an unhashable value such as a list
        raise ValueError(f"unknown entropy estimator {estimator!r}; known: {', '.join(ESTIMATORS)}") from None
    return fn(counts)
