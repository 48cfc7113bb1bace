"""Verdicts computed from training sweeps (introduced in chapter 6, also used by chapters 7 and 8).

The chapters state what their runs show in sentences whose numbers and verdicts are computed here,
so that a page executed with another profile (a GPU sweep, a reader's own sizes) describes its own
results rather than those of the run its prose was first written for.

* :func:`range_relation` -- does a set of values (e.g. over seeds) lie entirely above, entirely
  below, or overlapping another set?
* :func:`length_trend` -- how a per-run metric changes with the sequence length L: the slope of
  log(mean) against log L, and the relation of the seed ranges at the shortest and longest L.
* :func:`line_scatter` / :func:`collapse_scatter` -- do points of several models fall on one curve?
  The rms distance (in decades) of log10 y from one least-squares line in log10 x through all
  points, against the same with one line per model.
* :func:`late_change` -- how much a training curve still moved over the last part of training
  (which begins at :func:`late_window_start`).
* :func:`backbone_contrast` -- chapter 6's comparison of how much each backbone's error rises with L,
  with the same minimum change as :func:`length_trend`.
* :func:`value_range` / :func:`signed_percent` -- how the sentences quote a range of values.
* :func:`run_failure` -- whether a run diverged, ended worse than predicting the marginal, or learned
  nothing beyond it (its held-out KL at the marginal predictor's own value on the same batch).
* :func:`probe_rates_text` -- chapter 6's sentences on a learning-rate probe: each model's best rate,
  the runs that learned almost nothing, and whether a profile trains each model at its best rate.

Bad input (mismatched lengths, too few points, NaN, non-positive values where logs are taken) raises
``ValueError`` naming the problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .checks import integers, is_integer, is_real, real
from .fits import distinct_log_values, fit_power_law

ABOVE, OVERLAP, BELOW = 1, 0, -1


def _finite(values, what: str, min_size: int = 1) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    if a.size < min_size:
        raise ValueError(f"{what}: needs at least {min_size} value(s), got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what}: values must be finite (found NaN or inf)")
    return a


def range_relation(reference: ArrayLike, values: ArrayLike) -> int:
    """+1 if every value lies above every reference value (min values > max reference), -1 if every
    value lies below (max values < min reference), 0 if the two ranges overlap."""
    ref = _finite(reference, "range_relation reference")
    val = _finite(values, "range_relation values")
    if val.min() > ref.max():
        return ABOVE
    if val.max() < ref.min():
        return BELOW
    return OVERLAP


@dataclass(frozen=True)
class LengthTrend:
    """How a metric changes with L: ``means`` at each length, the log-log ``slope`` of the means
    against L (d log mean / d log L), and ``relation`` (+1 / 0 / -1, :func:`range_relation`) of the
    values at the longest L against those at the shortest.  ``negligible``: the mean changes by less
    than ``min_relative_change`` between the two ends, and ``relation`` is then 0 whatever the seeds
    say (a consistent but tiny change is not a trend)."""

    lengths: tuple[int, ...]
    means: tuple[float, ...]
    slope: float
    relation: int
    negligible: bool = False
    min_relative_change: float = 0.0

    def describe(self, digits: int = 3) -> str:
        """The trend as a phrase, with ``digits`` significant digits."""
        def sig(x: float) -> str:  # "#" keeps trailing zeros (0.880, not 0.88); no bare point (100, not 100.)
            return f"{x:#.{digits}g}".rstrip(".")

        ends = f"{sig(self.means[0])} at L = {self.lengths[0]} to {sig(self.means[-1])} at L = {self.lengths[-1]}"
        if self.negligible:
            how = f"a change of less than {100 * self.min_relative_change:g}%"
        else:
            how = {ABOVE: "higher at the longest L for every seed",
                   BELOW: "lower at the longest L for every seed",
                   OVERLAP: "the seed ranges at the two ends overlap"}[self.relation]
        return f"{ends}, log-log slope {self.slope:+.2f}, {how}"


def length_trend(lengths: Sequence[int], values: Sequence[Sequence[float]],
                 min_relative_change: float = 0.0) -> LengthTrend:
    """``values[k]`` holds the metric of every seed at ``lengths[k]`` (positive numbers).

    slope = least-squares slope of log(mean_k) on log L_k; relation compares the values at the
    longest length with those at the shortest (0 when |mean_last / mean_first - 1| is below
    ``min_relative_change``)."""
    lengths = integers(lengths, "length_trend: lengths", "length_trend: length")
    if len(lengths) != len(values):
        raise ValueError(f"length_trend: {len(lengths)} lengths but {len(values)} groups of values")
    if len(lengths) < 2:
        raise ValueError(f"length_trend: needs at least 2 lengths, got {len(lengths)}")
    if len(set(lengths)) != len(lengths):
        raise ValueError(f"length_trend: lengths must be distinct, got {lengths}")
    real(min_relative_change, "length_trend: min_relative_change", 0, 1, high_open=True)
    order = np.argsort(lengths)
    Ls = [lengths[i] for i in order]
    groups = [_finite(values[i], f"length_trend values at L = {lengths[i]}") for i in order]
    means = [float(g.mean()) for g in groups]
    slope = fit_power_law(Ls, means).exponent  # raises on non-positive means
    negligible = abs(means[-1] / means[0] - 1) < min_relative_change
    relation = OVERLAP if negligible else range_relation(groups[0], groups[-1])
    return LengthTrend(tuple(Ls), tuple(means), slope, relation, negligible, min_relative_change)


def line_scatter(x: ArrayLike, y: ArrayLike) -> float:
    """rms residual, in decades, of the least-squares line log10 y = a + b log10 x (>= 2 points)."""
    return fit_power_law(x, y).rms_log_residual / math.log(10)


@dataclass(frozen=True)
class CollapseScatter:
    """``pooled``: rms distance (decades) of all points from one line in log-log axes; ``within``:
    the same with a separate line per group (pooled over groups, so ``within <= pooled``); the
    pooled line's ``slope``; counts of points and groups."""

    pooled: float
    within: float
    slope: float
    n_points: int
    n_groups: int


def collapse_scatter(groups: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> CollapseScatter:
    """Do the groups' points (x, y) fall on one power law?

    pooled = sqrt(mean_k r_k^2) with r_k the residuals of one line log10 y = a + b log10 x through
    all points; within = the same with one line per group (a group whose x values have fewer than two
    distinct logarithms, e.g. a single point, has residual 0)."""
    if len(groups) < 2:
        raise ValueError(f"collapse_scatter: needs at least 2 groups, got {len(groups)}")
    xs, ys, sq_within = [], [], 0.0
    for name, (x, y) in groups.items():
        x = _finite(x, f"collapse_scatter x of {name!r}")
        y = _finite(y, f"collapse_scatter y of {name!r}")
        if x.shape != y.shape:
            raise ValueError(f"collapse_scatter: x and y of {name!r} differ in length ({x.size} and {y.size})")
        if np.all(x > 0) and distinct_log_values(x) >= 2:  # else the pooled fit names the problem
            sq_within += x.size * line_scatter(x, y) ** 2
        xs.append(x)
        ys.append(y)
    x, y = np.concatenate(xs), np.concatenate(ys)
    fit = fit_power_law(x, y)
    return CollapseScatter(pooled=fit.rms_log_residual / math.log(10), within=math.sqrt(sq_within / x.size),
                           slope=fit.exponent, n_points=int(x.size), n_groups=len(groups))


def late_window_start(steps: Sequence[float], fraction: float = 0.25) -> float:
    """Where the last ``fraction`` of a curve's evaluated span begins:
    step_last - fraction (step_last - step_first) (the span runs from the first evaluation, not step 0)."""
    s = _finite(steps, "late_window_start steps", 2)
    if not (is_real(fraction) and 0 < fraction < 1):
        raise ValueError(f"late_window_start: fraction must lie in (0, 1), got {fraction!r}")
    if np.any(np.diff(s) <= 0):
        raise ValueError("late_window_start: steps must increase strictly")
    return float(s[-1] - fraction * (s[-1] - s[0]))


def late_change(steps: Sequence[float], values: Sequence[float], fraction: float = 0.25,
                smooth: int = 1) -> float:
    """Relative change of a training curve over the last ``fraction`` of its steps.

    (v_end - v_start) / |v_start|, where v_end is the (moving-average of ``smooth`` points) value at
    the last step and v_start the same curve linearly interpolated at :func:`late_window_start`
    (held at its first smoothed value before that).  Negative: the curve still falls."""
    start = late_window_start(steps, fraction)
    s = np.asarray(steps, dtype=float).ravel()
    v = _finite(values, "late_change values", 2)
    if s.shape != v.shape:
        raise ValueError(f"late_change: {s.size} steps but {v.size} values")
    if not (is_integer(smooth) and 1 <= smooth <= s.size):
        raise ValueError(f"late_change: smooth must lie in [1, {s.size}], got {smooth}")
    if smooth > 1:  # trailing moving average, placed at the last step of each window
        v = np.convolve(v, np.ones(smooth) / smooth, mode="valid")
        s = s[smooth - 1:]
    v_start = float(np.interp(start, s, v))
    if v_start == 0:
        raise ValueError("late_change: the curve is 0 where the last part begins (relative change undefined)")
    return (float(v[-1]) - v_start) / abs(v_start)


def run_failure(kl_over_baseline: float, train_kl: Sequence[float], baseline_kl: float, marginal_ratio: float,
                tol: float = 0.01, spike: float = 3.0) -> str | None:
    """Why a run of chapter 6 is not a result about its architecture, or ``None`` when it is one.

    ``kl_over_baseline``: the run's final held-out KL / baseline; ``train_kl``: its training-curve KL
    values; ``marginal_ratio``: the KL / baseline of predicting the marginal N(0, 1) on the same
    held-out batch (:func:`~l2m_utils.synthetic_training.heldout_marginal_ratio`, near but not exactly
    1).  In order: the training KL rose above ``spike`` times the baseline (the run diverged, even if
    it recovered); the run ends worse than the marginal predictor (by more than ``tol``); it ends within
    ``tol`` of it (it learned nothing beyond the marginal)."""
    r = real(kl_over_baseline, "run_failure: kl_over_baseline", 0, None)
    base = real(baseline_kl, "run_failure: baseline_kl", 0, None, low_open=True)
    m = real(marginal_ratio, "run_failure: marginal_ratio", 0, None, low_open=True)
    real(tol, "run_failure: tol", 0, 1, high_open=True)
    real(spike, "run_failure: spike", 1, None, low_open=True)
    curve = _finite(train_kl, "run_failure: train_kl", 1)
    peak = float(curve.max()) / base
    at_marginal = abs(r - m) <= tol
    if peak > spike:
        return (f"diverged during training (its training KL reached {peak:.3g} times the baseline) and ended at "
                f"KL/baseline {r:.3f}" + (", the marginal predictor's value" if at_marginal else ""))
    if r > m + tol:
        return f"ended worse than predicting the marginal (KL/baseline {r:.3f}, the marginal predictor {m:.3f})"
    if at_marginal:
        return (f"learned nothing beyond the marginal (KL/baseline {r:.3f}; predicting the marginal scores {m:.3f} "
                "on the same held-out batch)")
    return None


def value_range(values: Sequence, fmt: Callable[[Any], str] = str) -> str:
    """``fmt(min)`` when the smallest and largest value print alike, else ``"fmt(min) to fmt(max)"``."""
    if len(values) == 0:
        raise ValueError("value_range: needs at least one value")
    bad = [v for v in values if isinstance(v, (float, np.floating)) and not math.isfinite(v)]
    if bad:  # min/max of a list with NaN depend on where the NaN sits
        raise ValueError(f"value_range: values must be finite, got {bad}")
    lo, hi = fmt(min(values)), fmt(max(values))
    return lo if lo == hi else f"{lo} to {hi}"


def signed_percent(x: float) -> str:
    """A fraction as a signed percentage with one decimal, ``-0.0%`` printed as ``+0.0%``."""
    if not math.isfinite(x):
        raise ValueError(f"signed_percent: x must be finite, got {x!r}")
    return f"{round(100 * x, 1) + 0.0:+.1f}%"


def _small(x: float, sign: str = "") -> str:
    """Three decimals, or two significant digits below 0.01 (so that 0.0013 does not print as 0.001)."""
    return f"{x:{sign}.3f}" if abs(x) >= 0.01 or x == 0 else f"{x:{sign}.2g}"


def _rise_order(rise: Mapping[str, tuple[float, float, float]], level: Mapping[str, float], up: Sequence[str],
                down: Sequence[str], seeded: bool, tol: float) -> tuple[int | str, float, float]:
    """(verdict, gap, tolerance) for "every ``up`` label rises by more than every ``down`` label".

    verdict: ABOVE / BELOW when the means are ordered by more than the tolerance (``tol`` times the
    largest level at the first length, in the same units as the rises) and, when ``seeded``, the seed
    ranges are ordered too; ``"close"`` when the means are not that far apart; ``"seeds"`` when the
    means are but the seed ranges overlap."""
    tolerance = tol * max(level[lab] for lab in (*up, *down))
    gap_up = min(rise[u][0] for u in up) - max(rise[d][0] for d in down)
    gap_down = min(rise[d][0] for d in down) - max(rise[u][0] for u in up)
    direction, gap = (ABOVE, gap_up) if gap_up > tolerance else (BELOW, gap_down) if gap_down > tolerance else (0, 0.0)
    if direction == 0:
        return "close", max(gap_up, gap_down), tolerance
    seed_range = lambda labels: [x for lab in labels for x in rise[lab][1:]]  # noqa: E731
    if seeded and range_relation(seed_range(down), seed_range(up)) != direction:
        return "seeds", gap, tolerance
    return direction, gap, tolerance


#: A KL/baseline at or above this is close to the trivial predictor (1): little room is left to rise.
NEAR_BASELINE = 0.85


def _level_context(last: Mapping[str, np.ndarray], first: Mapping[str, np.ndarray], riser: list[str],
                   other: list[str], riser_name: str, other_name: str, lengths: tuple[int, int]) -> str:
    """What the levels add to an ordering of rises: whether the faster riser is still the better model
    at the last length (a shrinking lead, not an overtaking), and whether the slower one started so
    close to the baseline that it had little room to rise."""
    out = ""
    if max(float(last[lab].mean()) for lab in riser) < min(float(last[lab].mean()) for lab in other):
        out += (f". At L = {lengths[1]} every {riser_name} size's mean KL/baseline is still below every "
                f"{other_name} size's: {riser_name}'s lead shrinks, it is not overtaken")
    start = min(float(first[lab].mean()) for lab in other)
    if start >= NEAR_BASELINE:
        out += (f". {other_name} starts at {start:.2f} of the baseline or more at L = {lengths[0]}, close to the "
                "trivial predictor's 1, which leaves it little room to rise: a model that has learned this little "
                "says nothing yet about whether its state limits it")
    return out


def backbone_contrast(first: Mapping[str, Sequence[float]], last: Mapping[str, Sequence[float]],
                      lengths: tuple[int, int], fixed_state: Mapping[str, float], min_relative_change: float,
                      names: tuple[str, str] = ("GPT-2", "Mamba-2")) -> str:
    """The sentence comparing how KL/baseline rises from ``lengths[0]`` to ``lengths[1]`` per backbone.

    ``first[label]`` / ``last[label]``: the value of every seed at the two lengths.  Labels in
    ``fixed_state`` (label -> history-state size) are the fixed-state models (``names[1]``), the others
    the growing-state ones (``names[0]``).  A rise is the change of the mean, in units of the baseline,
    with the range over seeds (every seed at the last length minus every seed at the first).  As in
    :func:`length_trend`, a label whose mean changes by less than ``min_relative_change`` (relative) does
    not count as moving (when no label moves, the sentence says so), but every label's rise enters the
    comparison as measured; two sets of rises are ordered only if their means differ by more than
    ``min_relative_change`` times the largest mean at the first length and, with at least two seeds
    everywhere, their seed ranges do not overlap.  With one seed the sentence says so."""
    for what, value in (("first", first), ("last", last), ("fixed_state", fixed_state)):
        if not isinstance(value, Mapping):
            raise ValueError(f"backbone_contrast: {what} must be a mapping from model label to values, "
                             f"got {type(value).__name__}")
    if isinstance(lengths, str) or len(lengths) != 2:
        raise ValueError(f"backbone_contrast: lengths must be (first length, last length), got {lengths!r}")
    labels = list(first)
    if not labels or sorted(labels) != sorted(last):
        raise ValueError(f"backbone_contrast: first and last must hold the same labels, got {sorted(first)} "
                         f"and {sorted(last)}")
    real(min_relative_change, "backbone_contrast: min_relative_change", 0, 1, high_open=True)
    unknown = sorted(set(fixed_state) - set(labels))
    if unknown:
        raise ValueError(f"backbone_contrast: fixed_state names labels without values: {unknown}")
    a = {lab: _finite(first[lab], f"backbone_contrast values of {lab!r} at L = {lengths[0]}") for lab in labels}
    b = {lab: _finite(last[lab], f"backbone_contrast values of {lab!r} at L = {lengths[1]}") for lab in labels}
    level = {lab: float(a[lab].mean()) for lab in labels}
    bad = [lab for lab, v in level.items() if v <= 0]
    if bad:
        raise ValueError(f"backbone_contrast: the mean at L = {lengths[0]} must be positive, not for {bad}")
    rise = {lab: (float(b[lab].mean() - a[lab].mean()), float(b[lab].min() - a[lab].max()),
                  float(b[lab].max() - a[lab].min())) for lab in labels}
    moving = [lab for lab in labels if abs(b[lab].mean() / level[lab] - 1) >= min_relative_change]
    n_seeds = sorted({len(v) for v in (*a.values(), *b.values())})
    seeded = n_seeds[0] >= 2
    pct = f"{100 * min_relative_change:g}%"

    def fmt(lab: str) -> str:
        m, lo, hi = rise[lab]
        return f"{lab} {_small(m, '+')}" + (f" [{_small(lo, '+')}, {_small(hi, '+')}]"
                                           if len(a[lab]) + len(b[lab]) > 2 else "")

    how = "mean over seeds [range over seeds]" if max(n_seeds) >= 2 else "one seed"
    text = (f"From L = {lengths[0]} to L = {lengths[1]}, KL/baseline changes by ({how}, in units of the baseline) "
            + "; ".join(fmt(lab) for lab in labels))
    note = (f" (seeds per size and length: {', '.join(map(str, n_seeds))}"
            + ("" if seeded else f"; with one seed{' for some sizes or lengths' if max(n_seeds) >= 2 else ''}, no "
               "ordering here is tested against the variation between seeds")
            + ")")
    if not moving:
        return text + (f". No size's KL/baseline changes by {pct} or more of its value at L = {lengths[0]}, so "
                       "there is no rise to compare") + note
    growing = [lab for lab in labels if lab not in fixed_state]
    fixed = [lab for lab in labels if lab in fixed_state]
    g_name, f_name = names
    every = ", and their ranges over seeds do not overlap" if seeded else ""
    if growing and fixed:
        verdict, gap, tolerance = _rise_order(rise, level, fixed, growing, seeded, min_relative_change)
        if verdict == ABOVE:
            text += (f". {f_name}'s KL/baseline rises more with L than {g_name}'s: every {f_name} size's mean change "
                     f"is higher than every {g_name} size's by at least {_small(gap)} of the baseline{every}: the "
                     "contrast the L²M condition predicts")
            text += _level_context(b, a, fixed, growing, f_name, g_name, lengths)
        elif verdict == BELOW:
            text += (f". {g_name}'s KL/baseline rises more with L than {f_name}'s: every {g_name} size's mean change "
                     f"is higher than every {f_name} size's by at least {_small(gap)} of the baseline{every}: the "
                     "reverse of what a binding L²M condition would produce")
            text += _level_context(b, a, growing, fixed, g_name, f_name, lengths)
        elif verdict == "seeds":
            text += (f". The mean changes of the two backbones are apart by at least {_small(gap)} of the "
                     "baseline, but their seed ranges overlap: this run does not separate them")
        else:
            text += (f". The rises of the two backbones are not apart by more than {_small(tolerance)} of the baseline "
                     f"({pct} of the largest KL/baseline at L = {lengths[0]}): this run does not separate them")
    if len(fixed) >= 2:
        by_state = sorted(fixed, key=lambda lab: fixed_state[lab])
        small, large = by_state[0], by_state[-1]
        if small not in moving and large not in moving:
            text += (f". Among the {f_name} sizes, neither the smallest state ({small}) nor the largest ({large}) "
                     f"changes by {pct} or more")
        else:
            verdict, gap, tolerance = _rise_order(rise, level, [small], [large], seeded, min_relative_change)
            among = f". Among the {f_name} sizes, "
            text += among + {
                ABOVE: f"the mean change of the smallest state ({small}) is higher than that of the largest "
                       f"({large}) by {_small(gap)} of the baseline{every}, as predicted",
                BELOW: f"the mean change of the largest state ({large}) is higher than that of the smallest "
                       f"({small}) by {_small(gap)} of the baseline{every}, against the prediction",
                "seeds": f"the smallest state ({small}) and the largest ({large}) differ by {_small(gap)} of the "
                         "baseline, but their seed ranges overlap, so they cannot be told apart",
                "close": f"the smallest state ({small}) and the largest ({large}) cannot be told apart: their rises "
                         f"differ by {_small(abs(rise[small][0] - rise[large][0]))} of the baseline, not more than "
                         f"{_small(tolerance)} ({pct} of the largest KL/baseline at L = {lengths[0]})"}[verdict]
    return text + note


def _same_rate(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9)


def probe_rates_text(rows: Sequence[tuple[str, str, Mapping[float, float]]], profile_rates: Mapping[str, float],
                     profile: str = "gpu", stuck: float = 0.95) -> str:
    """Sentences on a learning-rate probe and the rate a sweep profile gives each model (chapter 6).

    ``rows``: ``(model label, what the row holds, e.g. "L = 64, 2000 steps", {peak lr: KL/baseline at the
    end})``, one per probed setting; ``profile_rates``: model label -> the rate ``profile`` trains it at.
    Says each model's best rate (rows with two rates or more; the row's text where a model has several
    rows), the runs that ended at ``stuck`` of the baseline or above (learned almost nothing) and whether
    the profile trains that model at that rate, then each profile model's rate and whether it is the
    best rate of every probe row of that model, of some of them, of none, or was not probed (or only at
    one rate).  Rates compare with a relative tolerance of 1e-9."""
    if len(rows) == 0:
        raise ValueError("probe_rates_text: needs at least one probe row")
    real(stuck, "probe_rates_text: stuck", 0, None, low_open=True)
    for label, _, kl_by_lr in rows:
        if len(kl_by_lr) == 0:
            raise ValueError(f"probe_rates_text: the row of {label!r} has no runs")
        for lr, r in kl_by_lr.items():
            real(lr, f"probe_rates_text: a learning rate of {label!r}", 0, None, low_open=True)
            real(r, f"probe_rates_text: the KL/baseline of {label!r} at lr {lr:g}", 0, None)
    for label, lr in profile_rates.items():
        real(lr, f"probe_rates_text: the {profile} profile's rate of {label!r}", 0, None, low_open=True)
    repeated = {label for label in (row[0] for row in rows) if sum(row[0] == label for row in rows) > 1}
    name = lambda label, detail: f"{label} ({detail})" if label in repeated else label  # noqa: E731
    best = [(label, detail, min(kl_by_lr, key=kl_by_lr.get)) for label, detail, kl_by_lr in rows if len(kl_by_lr) > 1]
    parts = []
    if best:
        parts.append("Best rate of each model probed at several: "
                     + "; ".join(f"{name(label, detail)} at {lr:g}" for label, detail, lr in best) + ".")
    stuck_runs = [(label, detail, lr) for label, detail, kl_by_lr in rows for lr in sorted(kl_by_lr)
                  if kl_by_lr[lr] >= stuck]
    if stuck_runs:
        hit = sorted({label for label, _, lr in stuck_runs
                      if label in profile_rates and _same_rate(profile_rates[label], lr)})
        parts.append("; ".join(f"{name(label, detail)} at {lr:g}" for label, detail, lr in stuck_runs)
                     + f": ended at {stuck:g} of the baseline or above (learned almost nothing); "
                     + (f"the {profile} profile trains {' and '.join(hit)} at such a rate." if hit else
                        f"the {profile} profile trains no model at a rate at which that model learned nothing here."))
    else:
        parts.append(f"Every probe run ended below {stuck:g} of its baseline.")
    described = []
    for label, lr in profile_rates.items():
        own = [b for lab, _, b in best if lab == label]
        if not any(row[0] == label for row in rows):
            how = "not probed"
        elif not own:
            how = "probed at one rate"
        elif all(_same_rate(lr, b) for b in own):
            how = "its best probed rate"
        elif any(_same_rate(lr, b) for b in own):
            how = f"the best rate of {sum(_same_rate(lr, b) for b in own)} of its {len(own)} probe rows"
        else:
            how = "not its best probed rate: " + " and ".join(f"{b:g}" for b in sorted(set(own)))
        described.append(f"{label} at {lr:g} ({how})")
    if described:
        parts.append(f"The {profile} profile's rates: " + "; ".join(described) + ".")
    return " ".join(parts)
