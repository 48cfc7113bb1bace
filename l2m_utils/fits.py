"""Power-law fits shared by chapters 3 and 4 (two-point and bipartite MI).

* :func:`fit_power_law` -- y = A x^beta by least squares in log-log space:
  minimise sum_k (log y_k - log A - beta log x_k)^2 (closed form).
* :func:`bootstrap_power_law` -- the same fit to the mean over samples of per-sample values
  (e.g. per-sample bipartite MI at each L), with percentile bootstrap confidence intervals:
  resample the samples with replacement, average, refit.
* :func:`bootstrap_exponent_difference` -- beta_a - beta_b of two such fits to the *same* samples
  (e.g. two split ratios), with a paired bootstrap interval: each replicate draws one set of samples
  and refits both, so what the two fits share cancels in the difference.
* :func:`fit_power_law_offset` -- the paper's two-point fit y = A x^(-alpha) + C with
  0 <= C < min y, minimising sum_k (log(y_k - C) - log A + alpha log x_k)^2 (notes §3).  For a
  fixed C the problem is linear in (log A, alpha); the remaining 1-D problem in C is solved on a
  dense grid and refined with a bounded scalar minimiser.
* :func:`mean_half_width` -- z s / sqrt(n), the half-width of the normal interval of a mean (the 95%
  intervals of chapters 4, 7 and 8).
* :func:`grouped_mean_interval` and :func:`jackknife_power_law` -- a mean, and the exponent of
  :func:`bootstrap_power_law`'s fit, with an interval over another draw of the *groups* the samples
  come in when the samples of one group are correlated (the samples cut from one play): a
  delete-a-group jackknife (:func:`jackknife_se`) and Student's t with G - 1 degrees of freedom.  (A
  percentile bootstrap over a handful of groups gives intervals that are too narrow: tried with
  chapter 4's 4 classroom plays, some came out narrower than the per-sample ones.)

Bad input (NaN or infinite values, non-positive x or y where logs are taken, mismatched shapes, too
few points) raises ``ValueError`` naming the problem.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .checks import integer, is_real, seeded_rng
from numpy.typing import ArrayLike
from scipy.optimize import minimize_scalar
from scipy.stats import t as student_t


# --------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------

LOG_X_RESOLUTION = 1e-6  # x values within a factor 1 + 1e-6 of each other are one x for a log-log fit


def distinct_log_values(x: ArrayLike) -> int:
    """How many distinct values log x takes (x > 0), counting logs closer than ``LOG_X_RESOLUTION``
    as one: what a log-log fit can tell apart.  Closer x values (0.1 and 0.10000000000000002, or two
    adjacent floats) would give the fit a slope of order 1/Δlog x, all rounding error."""
    lx = np.sort(np.log(np.asarray(x, dtype=np.float64)).ravel())
    return 0 if lx.size == 0 else 1 + int(np.count_nonzero(np.diff(lx) > LOG_X_RESOLUTION))


def _check_xy(x, y, min_points: int, what: str, positive_y: bool = True) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"{what}: x and y must be 1-D arrays of the same length, got {x.shape} and {y.shape}")
    if x.size < min_points:
        raise ValueError(f"{what}: needs at least {min_points} points, got {x.size}")
    if not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)):
        raise ValueError(f"{what}: x and y must be finite (found NaN or inf)")
    if np.any(x <= 0):
        raise ValueError(f"{what}: x must be positive for a log-log fit, min is {x.min():.3g}")
    if distinct_log_values(x) < 2:
        raise ValueError(f"{what}: needs at least two distinct x values (distinct after taking logs)")
    if positive_y and np.any(y <= 0):
        bad = x[y <= 0]
        raise ValueError(
            f"{what}: y must be positive for a log-log fit; non-positive at x = {bad.tolist()}"
        )
    return x, y


def _loglog_regression(lx: np.ndarray, ly: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least squares ly = a + b lx, vectorised over the leading axes of ``ly`` [..., k].

    Returns (intercept a, slope b, residual sum of squares)."""
    mx = lx.mean()
    dx = lx - mx
    sxx = float(dx @ dx)
    my = ly.mean(axis=-1)
    b = ((ly - my[..., None]) * dx).sum(axis=-1) / sxx
    a = my - b * mx
    res = ly - a[..., None] - b[..., None] * lx
    return a, b, (res * res).sum(axis=-1)


# --------------------------------------------------------------------------------------------------
# y = A x^beta
# --------------------------------------------------------------------------------------------------

@dataclass
class PowerLawFit:
    """y = amplitude · x^exponent, fitted in log-log space.

    ``amplitude_ci`` / ``exponent_ci`` are (low, high) bootstrap percentile intervals at ``level``
    (``None`` without a bootstrap); ``n_failed`` bootstrap resamples had a non-positive mean and no
    fit: they count against both ends of the interval (:func:`percentile_interval`).
    """

    amplitude: float
    exponent: float
    rms_log_residual: float
    n_points: int
    amplitude_ci: tuple[float, float] | None = None
    exponent_ci: tuple[float, float] | None = None
    level: float | None = None
    n_boot: int = 0
    n_failed: int = 0

    def __call__(self, x) -> np.ndarray:
        return self.amplitude * np.asarray(x, dtype=np.float64) ** self.exponent

    def label(self, var: str = "L") -> str:
        """The fit as text, ``A·var^beta`` with the exponent's interval when there is one."""
        text = f"{self.amplitude:.3g}·{var}^{self.exponent:.3f}"
        if self.exponent_ci is not None:
            text += f" (β in [{self.exponent_ci[0]:.3f}, {self.exponent_ci[1]:.3f}])"
        return text


def fit_power_law(x: ArrayLike, y: ArrayLike) -> PowerLawFit:
    """Least-squares fit of log y = log A + beta log x (at least 2 points, x and y positive)."""
    x, y = _check_xy(x, y, 2, "power-law fit")
    a, b, rss = _loglog_regression(np.log(x), np.log(y))
    return PowerLawFit(float(np.exp(a)), float(b), float(np.sqrt(rss / x.size)), int(x.size))


def _check_per_sample(x, per_sample, what: str = "per_sample") -> tuple[np.ndarray, np.ndarray]:
    vals = np.asarray(per_sample, dtype=np.float64)
    xs = np.asarray(x, dtype=np.float64)
    if vals.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array [n_samples, n_x], got shape {vals.shape}")
    if xs.ndim != 1:
        raise ValueError(f"x must be a 1-D array of the n_x points, got shape {xs.shape}")
    if vals.shape[1] != xs.size:
        raise ValueError(f"{what} has {vals.shape[1]} columns but x has {xs.size} values")
    if vals.shape[0] < 2:
        raise ValueError(f"a bootstrap needs at least 2 samples, got {vals.shape[0]}")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return xs, vals


def _check_level(level: float) -> None:
    if not (is_real(level) and 0 < level < 1):  # also refuses NaN
        raise ValueError(f"level must lie in (0, 1), got {level!r}")


def _check_bootstrap_settings(n_boot: int, level: float, chunk: int = 1) -> None:
    integer(n_boot, "n_boot")
    integer(chunk, "chunk")
    _check_level(level)


def _bootstrap_fits(lx: np.ndarray, vals: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-log fits of the means of rows ``idx`` [n_rep, n] of ``vals``: (amplitude, exponent), each
    [n_rep], NaN where a replicate's mean is non-positive at some x (no log-log fit)."""
    means = vals[idx].mean(axis=1)  # [n_rep, n_x]
    good = np.all(means > 0, axis=1)
    amp = np.full(idx.shape[0], np.nan)
    exp = np.full(idx.shape[0], np.nan)
    if good.any():
        a, b, _ = _loglog_regression(lx, np.log(means[good]))
        amp[good], exp[good] = np.exp(a), b
    return amp, exp


def _left_out_means(vals: np.ndarray, groups: ArrayLike) -> np.ndarray:
    """Row g [G, n_x]: the mean of the rows of ``vals`` [n, n_x] outside group g, (T - T_g) / (n - n_g)."""
    codes, n_groups = group_codes(groups, vals.shape[0])
    totals = np.zeros((n_groups, vals.shape[1]))
    np.add.at(totals, codes, vals)
    sizes = np.bincount(codes, minlength=n_groups).astype(np.float64)
    return (totals.sum(axis=0) - totals) / (vals.shape[0] - sizes)[:, None]


def _t_half_width(se, level: float, n_groups: int):
    """t_{(1+level)/2, G-1} · se: Student's t on one degree of freedom fewer than groups."""
    return float(student_t.ppf((1 + level) / 2, n_groups - 1)) * se


def check_z(z: float) -> float:
    """``z`` (standard errors of a normal-approximation interval) after checking it is a positive finite number."""
    if not (is_real(z) and np.isfinite(z) and z > 0):
        raise ValueError(f"z must be a positive finite number of standard errors, got {z!r}")
    return float(z)


def mean_half_width(values: ArrayLike, z: float = 1.96) -> float:
    """Half-width of the normal-approximation interval of a mean, z s / sqrt(n) with s the sample
    standard deviation (ddof = 1) of the n values: 1.96 standard errors give the 95% interval.
    ``ValueError`` for fewer than 2 values, a value that is not finite, or a ``z`` that is not a
    positive finite number."""
    check_z(z)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"a standard error needs a 1-D array of at least 2 values, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"values must be finite, found {int((~np.isfinite(v)).sum())} NaN or infinite")
    return float(z * v.std(ddof=1) / math.sqrt(v.size))


def jackknife_se(replicates: ArrayLike) -> np.ndarray:
    """Delete-a-group jackknife standard error over axis 0 of ``replicates`` [G, ...] (replicate g: the
    statistic without group g): sqrt((G-1)/G * sum_g (theta_g - mean_g theta_g)^2); NaN where a
    replicate is NaN.  For independent groups of equal size its variance is biased upward on average
    (Efron and Stein, 1981); with few or unequal groups an interval built on it can still be too narrow."""
    reps = np.asarray(replicates, dtype=np.float64)
    if reps.ndim == 0 or reps.shape[0] < 2:
        raise ValueError(f"a jackknife needs replicates from at least 2 groups (axis 0), got shape {reps.shape}")
    g = reps.shape[0]
    with np.errstate(invalid="ignore"):
        return np.sqrt((g - 1) / g * ((reps - reps.mean(axis=0)) ** 2).sum(axis=0))


def _label_kind(value: Any) -> str | None:
    """"str" or "number" for a label ``group_codes`` accepts (NaN is a number here; it is refused later)."""
    if isinstance(value, (str, np.str_)):
        return "str"
    if isinstance(value, (bool, np.bool_, numbers.Integral, numbers.Real)):
        return "number"
    return None


def group_codes(groups: ArrayLike, n: int, what: str = "groups") -> tuple[np.ndarray, int]:
    """Codes 0..G-1 of ``groups`` (one integer or string label per sample; equal labels, one group) and
    the number G of distinct groups.  ``ValueError`` when ``groups`` is not 1-D of length ``n``, holds
    NaN, None or labels that are neither numbers nor strings, mixes numbers with strings (1 and "1"
    would be one group), or has fewer than 2 groups (a spread between groups needs two)."""
    g = np.asarray(groups, dtype=object) if isinstance(groups, (list, tuple)) else np.asarray(groups)
    if g.ndim != 1 or g.size != n:
        raise ValueError(f"{what} must be a 1-D array with one label per sample ({n}), got shape {g.shape}")
    if g.dtype == object:  # Python labels: check their kinds before numpy turns 1 and "1" into one string
        labels = g.tolist()
        kinds = {_label_kind(v) for v in labels}
        if None in kinds:
            bad = next(v for v in labels if _label_kind(v) is None)
            raise ValueError(f"{what} must hold integer or string labels, got {bad!r}")
        if len(kinds) > 1:
            raise ValueError(f"{what} mixes numbers and strings (1 and '1' would be one group): use one kind of label")
        g = np.asarray(labels)
    if g.dtype.kind == "f" and np.isnan(g).any():
        raise ValueError(f"{what} contains NaN labels")
    if g.dtype.kind not in "iufUSb":
        raise ValueError(f"{what} must hold integer or string labels, got dtype {g.dtype}")
    _, codes = np.unique(g, return_inverse=True)
    n_groups = int(codes.max()) + 1 if codes.size else 0
    if n_groups < 2:
        raise ValueError(f"{what} has {n_groups} distinct label(s); an interval over groups needs at least 2")
    return codes.reshape(-1).astype(np.int64), n_groups


@dataclass
class GroupedInterval:
    """Mean of per-sample values with an interval over groups: ``mean ± half_width`` at ``level``, with
    ``half_width = t_{(1+level)/2, G-1} · se`` over ``n_groups`` groups (arrays over the values'
    columns, or floats for 1-D values)."""

    mean: np.ndarray | float
    se: np.ndarray | float
    half_width: np.ndarray | float
    n_groups: int
    level: float

    @property
    def low(self) -> np.ndarray | float:
        return self.mean - self.half_width

    @property
    def high(self) -> np.ndarray | float:
        return self.mean + self.half_width


def grouped_mean_interval(values: ArrayLike, groups: ArrayLike, level: float = 0.95) -> GroupedInterval:
    """Mean of ``values`` ([n] or [n, B], one row per sample) with an interval over another draw of the
    *groups* the samples come in, whose samples may be correlated (e.g. consecutive samples of one play).

    A delete-a-group jackknife, as :func:`jackknife_power_law` does for an exponent: with group totals
    T_g = sum_{i in g} y_i and sizes n_g, replicate g is the mean without group g,
    (T - T_g) / (n - n_g); ``se`` is :func:`jackknife_se` of the G replicates and the half-width is
    t_{(1+level)/2, G-1} · se (Student's t with G - 1 degrees of freedom: with few groups the normal
    1.96 would be too narrow).  Groups of one sample each give s / sqrt(n) exactly (the textbook
    standard error), copies of a sample inside its group add nothing, and for groups of equal size it
    equals the cluster-robust (CR1) standard error.  It assumes independent groups; with few or very
    unequal groups the interval is rough and can be too narrow.  ``ValueError`` for NaN or infinite
    values, mismatched ``groups`` or fewer than 2 groups.
    """
    vals = np.asarray(values, dtype=np.float64)
    if vals.ndim not in (1, 2) or vals.shape[0] < 2:
        raise ValueError(f"values must be [n] or [n, B] with n >= 2 samples, got shape {vals.shape}")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"values contain {int((~np.isfinite(vals)).sum())} NaN or infinite entries")
    _check_level(level)
    if groups is None:
        raise ValueError("groups must give one label per sample (for independent samples use mean_half_width)")
    cols = vals.reshape(vals.shape[0], -1)
    left_out = _left_out_means(cols, groups)  # replicate g: group g left out
    n_groups, mean = left_out.shape[0], cols.mean(axis=0)
    se = jackknife_se(left_out)
    half = _t_half_width(se, level, n_groups)
    if vals.ndim == 1:
        return GroupedInterval(float(mean[0]), float(se[0]), float(half[0]), n_groups, float(level))
    return GroupedInterval(mean, se, half, n_groups, float(level))


class NonPositiveMeansError(ValueError):
    """So many bootstrap resamples have a non-positive mean at some x that the interval's ends are not
    determined: the values are too noisy for a log-log fit (a caller may treat this as "no fit"; other
    ValueErrors are bad input)."""


def percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """The ``level`` percentile interval of bootstrap replicates ``values``, where NaN marks a replicate
    that could not be fitted.

    Without NaN: the (1-level)/2 and (1+level)/2 percentiles (linear interpolation).  A failed replicate
    is a value we do not know, so it counts as -inf for the low end and +inf for the high end (the
    empirical quantiles, no interpolation); keeping only the replicates that could be fitted would
    shift the interval towards them (it can then exclude the point estimate).  When the failures
    reach into either tail the interval is not determined: :class:`NonPositiveMeansError`.
    """
    values = np.asarray(values, dtype=np.float64)
    _check_level(level)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"bootstrap replicates must be a non-empty 1-D array, got shape {values.shape}")
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    failed = np.isnan(values)
    if not failed.any():
        return tuple(float(v) for v in np.percentile(values, q))
    low = float(np.percentile(np.where(failed, -np.inf, values), q[0], method="inverted_cdf"))
    high = float(np.percentile(np.where(failed, np.inf, values), q[1], method="inverted_cdf"))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise NonPositiveMeansError(
            f"{int(failed.sum())} of {values.size} bootstrap resamples have a non-positive mean at some x, "
            f"more than the {q[0]:g}% in each tail of the {level:.0%} interval: the values are too noisy for a "
            "log-log fit"
        )
    return low, high


def bootstrap_power_law(
    x: ArrayLike, per_sample: ArrayLike, n_boot: int = 1000, seed: int = 0, level: float = 0.95, chunk: int = 256
) -> PowerLawFit:
    """Fit A x^beta to the sample mean of ``per_sample`` [n_samples, len(x)], with bootstrap CIs.

    Each bootstrap replicate draws n_samples rows with replacement (whole samples, so correlations
    between the values of one sample at different x are kept), averages them and refits.  Samples
    that come in correlated groups (the samples of one play) need :func:`jackknife_power_law`
    instead.  Replicates whose mean is non-positive at some x cannot be fitted in log space; they
    are counted in ``n_failed`` and against both ends of the interval (:func:`percentile_interval`,
    which raises :class:`NonPositiveMeansError` when they leave an end undetermined).
    """
    xs, vals = _check_per_sample(x, per_sample)
    _check_bootstrap_settings(n_boot, level, chunk)
    fit = fit_power_law(xs, vals.mean(axis=0))
    rng = seeded_rng(seed)
    n = vals.shape[0]
    lx = np.log(xs)
    amps, exps = [], []
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        amp, exp = _bootstrap_fits(lx, vals, rng.integers(0, n, size=(size, n)))
        amps.append(amp)
        exps.append(exp)
    amps_arr, exps_arr = np.concatenate(amps), np.concatenate(exps)
    fit.amplitude_ci = percentile_interval(amps_arr, level)
    fit.exponent_ci = percentile_interval(exps_arr, level)
    fit.level, fit.n_boot, fit.n_failed = level, n_boot, int(np.isnan(exps_arr).sum())
    return fit


@dataclass
class JackknifeExponent:
    """The exponent of a power-law fit to sample means with a delete-a-group jackknife interval:
    ``exponent ± t_{(1+level)/2, G-1} · se`` (``ci``); ``replicates[g]`` is the exponent without group g."""

    exponent: float
    se: float
    ci: tuple[float, float]
    level: float
    n_groups: int
    replicates: np.ndarray = field(repr=False)


def jackknife_power_law(x: ArrayLike, per_sample: ArrayLike, groups: ArrayLike,
                        level: float = 0.95) -> JackknifeExponent:
    """beta of A x^beta fitted to the mean of ``per_sample`` [n, len(x)], with an interval over another
    draw of the *groups* the samples come in (``groups``: one label per sample, e.g. its play).

    Replicate g refits the mean of the samples outside group g, (T - T_g) / (n - n_g) at each x (T
    the total, T_g and n_g group g's total and size); the standard error is :func:`jackknife_se` of
    the G replicates, and the interval uses Student's t with G - 1 degrees of freedom (with few
    groups the normal 1.96 would be too narrow).  It assumes independent groups; with few or very
    unequal groups the interval is rough and can be too narrow.  :class:`NonPositiveMeansError` when leaving out some group leaves a mean
    that is not positive (no log-log fit); ``ValueError`` for bad input or fewer than 2 groups.
    """
    xs, vals = _check_per_sample(x, per_sample)
    _check_level(level)
    means = _left_out_means(vals, groups)  # [G, n_x], group g left out
    fit = fit_power_law(xs, vals.mean(axis=0))
    n_groups = means.shape[0]
    bad = np.flatnonzero(~np.all(means > 0, axis=1))
    if bad.size:
        raise NonPositiveMeansError(f"leaving out group(s) {bad.tolist()[:5]} of {n_groups} leaves a mean that is "
                                    "not positive at some x: no log-log fit")
    reps = _loglog_regression(np.log(xs), np.log(means))[1]
    se = float(jackknife_se(reps))
    half = _t_half_width(se, level, n_groups)
    return JackknifeExponent(fit.exponent, se, (fit.exponent - half, fit.exponent + half), float(level), n_groups,
                             reps)


@dataclass
class ExponentDifference:
    """beta_a - beta_b of two power-law fits to the same samples, with a paired bootstrap interval.

    ``n_failed`` replicates had a non-positive mean for either fit; they count against both ends of
    the interval (:func:`percentile_interval`).
    """

    difference: float
    ci: tuple[float, float]
    level: float
    n_boot: int
    n_failed: int

    def excludes_zero(self) -> bool:
        """True when the interval lies entirely on one side of 0 (the exponents differ at ``level``)."""
        return self.ci[0] > 0 or self.ci[1] < 0


def bootstrap_exponent_difference(
    x_a: ArrayLike, per_sample_a: ArrayLike, x_b: ArrayLike, per_sample_b: ArrayLike, n_boot: int = 1000,
    seed: int = 0, level: float = 0.95,
    chunk: int = 256,
) -> ExponentDifference:
    """beta_a - beta_b for y_a = A_a x_a^beta_a and y_b = A_b x_b^beta_b fitted to sample means, with a
    paired percentile bootstrap interval.

    Row i of ``per_sample_a`` [n, len(x_a)] and of ``per_sample_b`` [n, len(x_b)] must be the same
    sample (e.g. one text block at two split ratios).  Each replicate draws one set of n rows with
    replacement and refits *both* power laws to it, so noise the two estimates share (a sample that
    is easy at every ratio) cancels in the difference instead of widening it, as it would if two
    marginal intervals were compared.  Replicates in which either mean is non-positive at some x
    count against both ends of the interval (``n_failed``; :func:`percentile_interval`).
    """
    xa, va = _check_per_sample(x_a, per_sample_a, "per_sample_a")
    xb, vb = _check_per_sample(x_b, per_sample_b, "per_sample_b")
    if va.shape[0] != vb.shape[0]:
        raise ValueError(
            f"a paired bootstrap needs the same samples in both: per_sample_a has {va.shape[0]} rows, "
            f"per_sample_b has {vb.shape[0]}"
        )
    _check_bootstrap_settings(n_boot, level, chunk)
    difference = fit_power_law(xa, va.mean(axis=0)).exponent - fit_power_law(xb, vb.mean(axis=0)).exponent
    rng = seeded_rng(seed)
    n = va.shape[0]
    lxa, lxb = np.log(xa), np.log(xb)
    diffs = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        diffs.append(_bootstrap_fits(lxa, va, idx)[1] - _bootstrap_fits(lxb, vb, idx)[1])
    d = np.concatenate(diffs)
    return ExponentDifference(float(difference), percentile_interval(d, level), level, n_boot,
                              int(np.isnan(d).sum()))


# --------------------------------------------------------------------------------------------------
# y = A x^(-alpha) + C   (two-point MI with a bias offset)
# --------------------------------------------------------------------------------------------------

@dataclass
class OffsetPowerLawFit:
    """y = amplitude · x^(-alpha) + offset with 0 <= offset < min y (the paper's two-point fit).

    ``loss`` is the minimised sum of squared log residuals; ``offset_at_zero`` flags a fit whose
    best offset is at the lower boundary (no positive offset helps: a pure power law).
    """

    amplitude: float
    alpha: float
    offset: float
    loss: float
    n_points: int
    offset_at_zero: bool

    def __call__(self, x) -> np.ndarray:
        return self.amplitude * np.asarray(x, dtype=np.float64) ** (-self.alpha) + self.offset

    def label(self, var: str = "d") -> str:
        """``A·d^-α + C`` as text; a negative α (a value that grows with d) prints as ``d^+|α|``."""
        sign = "-" if self.alpha >= 0 else "+"
        return f"{self.amplitude:.3g}·{var}^{sign}{abs(self.alpha):.3f} + {self.offset:.3g}"


def _offset_loss(c: np.ndarray, lx: np.ndarray, y: np.ndarray) -> np.ndarray:
    ly = np.log(y[None, :] - np.asarray(c, dtype=np.float64).reshape(-1, 1))
    return _loglog_regression(lx, ly)[2]


def fit_power_law_offset(x: ArrayLike, y: ArrayLike, n_grid: int = 4000) -> OffsetPowerLawFit:
    """Fit y = A x^(-alpha) + C, 0 <= C < min y, in log space (at least 3 points, y positive).

    Minimises sum_k (log(y_k - C) - log A + alpha log x_k)^2: a grid over C (dense near both ends of
    [0, min y), since the loss diverges as C -> min y), then a bounded scalar refinement.  The paper
    asks for 0 < C; the grid includes C = 0 (the plain power law), and a fit there is flagged by
    ``offset_at_zero``.
    """
    x, y = _check_xy(x, y, 3, "offset power-law fit")
    n_grid = integer(n_grid, "n_grid", minimum=10)
    lx = np.log(x)
    ymin = float(y.min())
    t = np.unique(np.concatenate([
        [0.0],
        np.linspace(0.0, 1.0, n_grid // 2, endpoint=False),
        np.logspace(-9, 0, n_grid // 4, endpoint=False),
        1.0 - np.logspace(-9, 0, n_grid // 4, endpoint=False)[1:],
    ]))
    t = t[(t >= 0) & (t < 1)]
    losses = _offset_loss(t * ymin, lx, y)
    k = int(np.nanargmin(losses))
    lo = t[k - 1] if k > 0 else 0.0
    hi = t[k + 1] if k + 1 < t.size else t[k]
    best_t, best_loss = t[k], float(losses[k])
    if hi > lo:
        res = minimize_scalar(
            lambda u: float(_offset_loss(np.array([u * ymin]), lx, y)[0]),
            bounds=(lo, hi), method="bounded", options={"xatol": 1e-12},
        )
        if res.success and res.fun < best_loss:
            best_t, best_loss = float(res.x), float(res.fun)
    c = best_t * ymin
    a, b, _ = _loglog_regression(lx, np.log(y - c))
    return OffsetPowerLawFit(
        amplitude=float(np.exp(a)), alpha=float(-b), offset=float(c), loss=best_loss,
        n_points=int(x.size), offset_at_zero=bool(best_t <= 1e-9),
    )
