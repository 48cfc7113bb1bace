import math

import numpy as np
import pytest

from l2m_utils import fits

X = 2.0 ** np.arange(0, 13)  # 1 .. 4096


def test_power_law_exact():
    f = fits.fit_power_law(X, 2.27 * X**0.76)
    assert f.amplitude == pytest.approx(2.27, rel=1e-10)
    assert f.exponent == pytest.approx(0.76, abs=1e-12)
    assert f.rms_log_residual < 1e-12
    assert f(8.0) == pytest.approx(2.27 * 8**0.76)


def test_power_law_two_points_is_exact():
    f = fits.fit_power_law([2, 8], [3.0, 12.0])
    assert f.exponent == pytest.approx(1.0)
    assert f.amplitude == pytest.approx(1.5)


def test_bootstrap_ci_covers_truth():
    rng = np.random.default_rng(0)
    lengths = 2.0 ** np.arange(2, 12)
    per_sample = 3.26 * lengths**0.71 * rng.lognormal(0.0, 0.5, size=(400, lengths.size))
    per_sample /= np.exp(0.5**2 / 2)  # lognormal mean correction: E = 3.26 L^0.71
    f = fits.bootstrap_power_law(lengths, per_sample, n_boot=400, seed=1)
    lo, hi = f.exponent_ci
    assert lo < 0.71 < hi
    assert hi - lo < 0.1
    assert f.amplitude_ci[0] < 3.26 < f.amplitude_ci[1]
    assert f.n_boot == 400 and f.n_failed == 0
    # deterministic for a given seed
    g = fits.bootstrap_power_law(lengths, per_sample, n_boot=400, seed=1)
    assert g.exponent_ci == f.exponent_ci


def test_bootstrap_counts_resamples_with_non_positive_means_as_failed():
    rng = np.random.default_rng(3)
    x = np.array([1.0, 2.0, 4.0])
    vals = np.column_stack([rng.normal(0.05, 1.0, 50), rng.normal(5, 1, 50), rng.normal(10, 1, 50)])
    vals[:, 0] += 0.3 - vals[:, 0].mean()  # mean 0.3 but noisy: some resamples go negative
    f = fits.bootstrap_power_law(x, vals, n_boot=300, seed=0)
    assert 0 < f.n_failed < 150


@pytest.mark.parametrize("a,alpha,c", [(1.10, 0.91, 0.03), (1.87, 0.94, 0.6), (0.5, 0.4, 1e-3)])
def test_offset_fit_recovers_parameters(a, alpha, c):
    f = fits.fit_power_law_offset(X, a * X**-alpha + c)
    assert f.amplitude == pytest.approx(a, rel=1e-5)
    assert f.alpha == pytest.approx(alpha, abs=1e-5)
    assert f.offset == pytest.approx(c, rel=1e-4)
    assert not f.offset_at_zero
    assert f(X) == pytest.approx(a * X**-alpha + c, rel=1e-5)


def test_offset_fit_with_noise():
    rng = np.random.default_rng(7)
    y = (1.1 * X**-0.91 + 0.03) * np.exp(rng.normal(0, 0.01, X.size))
    f = fits.fit_power_law_offset(X, y)
    assert f.alpha == pytest.approx(0.91, abs=0.08)
    assert f.offset == pytest.approx(0.03, abs=0.006)


def test_offset_fit_of_pure_power_law_puts_c_at_zero():
    f = fits.fit_power_law_offset(X, 2.0 * X**-0.5)
    assert f.offset_at_zero
    assert f.offset == pytest.approx(0.0, abs=1e-8)
    assert f.alpha == pytest.approx(0.5, abs=1e-6)


def test_offset_fit_keeps_a_small_positive_offset_off_zero():
    """An offset of 1e-6 (a few 1e-5 of the smallest value) is found, and not flagged as at zero."""
    f = fits.fit_power_law_offset(X, 2.0 * X**-0.5 + 1e-6)
    assert not f.offset_at_zero
    assert f.offset == pytest.approx(1e-6, rel=1e-2)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "x,y,match",
    [([1, 2, np.nan], [1, 2, 3], "finite"), ([1, 2, 3], [1, np.inf, 3], "finite"),
     ([0, 1, 2], [1, 2, 3], "x must be positive"), ([1, 2, 3], [1, -2, 3], "y must be positive"),
     ([1], [1], "at least 2"), ([1, 2], [1, 2, 3], "same length"), ([2, 2, 2], [1, 2, 3], "distinct")],
)
def test_power_law_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        fits.fit_power_law(x, y)


def test_offset_fit_bad_input():
    with pytest.raises(ValueError, match="at least 3"):
        fits.fit_power_law_offset([1, 2], [1, 0.5])
    with pytest.raises(ValueError, match="y must be positive"):
        fits.fit_power_law_offset([1, 2, 4], [1, 0.5, -0.1])
    with pytest.raises(ValueError, match="finite"):
        fits.fit_power_law_offset([1, 2, 4], [1, np.nan, 0.1])


def test_bootstrap_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        fits.bootstrap_power_law([1, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match="columns"):
        fits.bootstrap_power_law([1, 2, 3], np.ones((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        fits.bootstrap_power_law([1, 2], np.array([[1.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="at least 2 samples"):
        fits.bootstrap_power_law([1, 2], np.ones((1, 2)))
    with pytest.raises(ValueError, match="n_boot"):
        fits.bootstrap_power_law([1, 2], np.ones((3, 2)), n_boot=0)
    with pytest.raises(ValueError, match="y must be positive for a log-log fit; non-positive at x"):
        fits.bootstrap_power_law([1, 2], -np.ones((3, 2)))


def test_x_values_with_one_logarithm_are_one_value():
    """0.1 and 0.10000000000000002 differ as floats but not as logarithms: a log-log fit cannot use them."""
    assert fits.distinct_log_values([0.1, 0.10000000000000002, 1.0]) == 2
    assert fits.distinct_log_values([6.474261840126042, 6.474261840126043]) == 1  # logs one step apart
    assert fits.distinct_log_values([1.0, 1.0 + 2e-6, 4.0]) == 3 and fits.distinct_log_values([]) == 0
    with pytest.raises(ValueError, match="two distinct x values"):
        fits.fit_power_law([0.1, 0.10000000000000002], [1.0, 2.0])


def _noisy_power_law(rng, n, x, beta, sigma=0.5):
    return x**beta * rng.lognormal(0.0, sigma, size=(n, x.size))


def test_exponent_difference_exact_cases():
    rng = np.random.default_rng(11)
    x = 2.0 ** np.arange(2, 10)
    a = _noisy_power_law(rng, 60, x, 0.7)
    # a constant factor changes only the amplitude: the difference is 0 in every replicate
    same = fits.bootstrap_exponent_difference(x, a, x, 3.0 * a, n_boot=200, seed=0)
    assert same.difference == pytest.approx(0.0, abs=1e-12)
    assert same.ci == pytest.approx((0.0, 0.0), abs=1e-12)
    assert same.n_failed == 0 and not same.excludes_zero()
    # a factor x^0.25 per column shifts every replicate's exponent by exactly 0.25
    shifted = fits.bootstrap_exponent_difference(x, a * x**0.25, x, a, n_boot=200, seed=0)
    assert shifted.difference == pytest.approx(0.25, abs=1e-12)
    assert shifted.ci == pytest.approx((0.25, 0.25), abs=1e-12)
    assert shifted.excludes_zero()


def test_exponent_difference_is_the_difference_of_the_fits_and_reproducible():
    rng = np.random.default_rng(12)
    x = 2.0 ** np.arange(2, 9)
    a, b = _noisy_power_law(rng, 80, x, 0.6), _noisy_power_law(rng, 80, x[1:], 0.4)
    d = fits.bootstrap_exponent_difference(x, a, x[1:], b, n_boot=300, seed=5)
    expected = fits.fit_power_law(x, a.mean(0)).exponent - fits.fit_power_law(x[1:], b.mean(0)).exponent
    assert d.difference == pytest.approx(expected, abs=1e-12)
    assert d.ci[0] <= d.difference <= d.ci[1]
    assert d == fits.bootstrap_exponent_difference(x, a, x[1:], b, n_boot=300, seed=5)


def test_paired_interval_is_narrower_than_marginal_ones_for_shared_noise():
    """Per-sample noise shared by both estimates (a hard sample is hard at both ratios) cancels in the
    paired difference; the marginal intervals stay wide and overlap."""
    rng = np.random.default_rng(13)
    x = 2.0 ** np.arange(2, 10)
    shared = rng.lognormal(0.0, 0.6, size=(200, 1)) ** np.log(x) / 2  # sample-level slope noise
    a = x**0.70 * shared * rng.lognormal(0.0, 0.05, size=(200, x.size))
    b = x**0.62 * shared * rng.lognormal(0.0, 0.05, size=(200, x.size))
    d = fits.bootstrap_exponent_difference(x, a, x, b, n_boot=400, seed=0)
    fa = fits.bootstrap_power_law(x, a, n_boot=400, seed=0)
    fb = fits.bootstrap_power_law(x, b, n_boot=400, seed=0)
    paired_width = d.ci[1] - d.ci[0]
    assert paired_width < 0.25 * min(fa.exponent_ci[1] - fa.exponent_ci[0], fb.exponent_ci[1] - fb.exponent_ci[0])
    assert fa.exponent_ci[0] <= fb.exponent_ci[1]  # the marginal intervals overlap ...
    assert d.excludes_zero() and abs(d.difference - 0.08) < 0.01  # ... the paired one finds the difference


def test_exponent_difference_bad_input():
    x = np.array([1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="same samples.*5 rows.*4"):
        fits.bootstrap_exponent_difference(x, np.ones((5, 3)), x, np.ones((4, 3)))
    with pytest.raises(ValueError, match="per_sample_b has 2 columns"):
        fits.bootstrap_exponent_difference(x, np.ones((5, 3)), x, np.ones((5, 2)))
    with pytest.raises(ValueError, match="per_sample_a contains NaN"):
        fits.bootstrap_exponent_difference(x, np.full((5, 3), np.nan), x, np.ones((5, 3)))
    with pytest.raises(ValueError, match="level"):
        fits.bootstrap_exponent_difference(x, np.ones((5, 3)), x, np.ones((5, 3)), level=1.0)
    with pytest.raises(ValueError, match="y must be positive for a log-log fit; non-positive at x"):
        fits.bootstrap_exponent_difference(x, np.ones((5, 3)), x, -np.ones((5, 3)))


@pytest.mark.parametrize("call, match", [
    (lambda: fits.bootstrap_power_law([1, 2], np.ones((3, 2)), chunk=0), "chunk must be a positive integer, got 0"),
    (lambda: fits.bootstrap_power_law([1, 2], np.ones((3, 2)), n_boot=2.5), "n_boot must be a positive integer, got 2.5"),
    (lambda: fits.bootstrap_exponent_difference([1, 2], np.ones((3, 2)), [1, 2], np.ones((3, 2)), chunk=0),
     "chunk must be a positive integer"),
    (lambda: fits.fit_power_law_offset([1, 2, 4], [1.0, 0.5, 0.3], n_grid=10.5), "n_grid must be an integer"),
])
def test_fit_settings_must_be_whole_numbers(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_offset_fit_label_prints_the_sign_of_the_exponent():
    decaying = fits.OffsetPowerLawFit(2.5, 0.25, 0.01, 0.0, 5, False)
    assert decaying.label() == "2.5·d^-0.250 + 0.01"
    rising = fits.OffsetPowerLawFit(2.61, -0.016, 0.0, 0.0, 5, True)
    assert rising.label("L") == "2.61·L^+0.016 + 0"
    assert "--" not in rising.label()


# ---- cases a mutation audit found missing: each fails on a plausible slip that the tests above let through ----


def test_rms_log_residual_by_hand():
    f = fits.fit_power_law([1, 2, 4], [1, 4, 8])
    assert f.exponent == pytest.approx(1.5) and f.amplitude == pytest.approx(2 ** (1 / 6))
    assert f.rms_log_residual == pytest.approx(math.log(2) / math.sqrt(18), rel=1e-12)


def test_bootstrap_interval_is_the_2_5_and_97_5_percentiles_of_all_rows():
    x = np.array([1.0, 2.0, 4.0])
    rows = np.array([np.ones(3), np.sqrt(x), x])  # exponents 0, 0.5, 1; all-one-row resamples 1/27 each
    f = fits.bootstrap_power_law(x, rows, n_boot=20000, seed=0)
    assert f.exponent_ci == pytest.approx((0.0, 1.0), abs=1e-12)


def test_offset_fit_loss_is_the_sum_of_squared_log_residuals():
    X = 2.0 ** np.arange(0, 13)
    rng = np.random.default_rng(7)
    y = (1.1 * X**-0.91 + 0.03) * np.exp(rng.normal(0, 0.01, X.size))
    f = fits.fit_power_law_offset(X, y)
    res = np.log(y - f.offset) - np.log(f.amplitude) + f.alpha * np.log(X)
    assert f.loss == pytest.approx(float(res @ res), rel=1e-9)


def test_failing_resamples_that_reach_a_tail_of_the_interval_raise():
    vals = np.full((50, 2), -1.0); vals[0, 0] = vals[1, 1] = 50.0  # means 0.02 > 0, ~60% resamples fail
    with pytest.raises(fits.NonPositiveMeansError, match="593 of 1000 bootstrap resamples"):
        fits.bootstrap_power_law([1.0, 2.0], vals, n_boot=1000, seed=0)
    # the paired difference of two exponents counts its failed resamples by the same rule
    ok = 1 + np.arange(50)[:, None] * 0.01 * np.ones((1, 2))
    with pytest.raises(fits.NonPositiveMeansError, match="593 of 1000 bootstrap resamples"):
        fits.bootstrap_exponent_difference([1.0, 2.0], ok, [1.0, 2.0], vals, n_boot=1000, seed=0)


def test_the_bootstrap_intervals_count_failed_replicates_against_both_ends():
    rng = np.random.default_rng(3)
    x = np.array([1.0, 2.0, 4.0])
    vals = np.column_stack([rng.normal(0.05, 1.0, 50), rng.normal(5, 1, 50), rng.normal(10, 1, 50)])
    vals[:, 0] += 0.3 - vals[:, 0].mean()  # mean 0.3 but noisy: a few resamples have a mean <= 0 at x = 1
    f = fits.bootstrap_power_law(x, vals, n_boot=300, seed=0, chunk=300)
    idx = np.random.default_rng(0).integers(0, 50, size=(300, 50))  # the replicates the fit draws
    assert f.n_failed == int(np.sum(np.any(vals[idx].mean(axis=1) <= 0, axis=1))) == 7  # 2.3%: determined
    amps, exps = fits._bootstrap_fits(np.log(x), vals, idx)
    # the replicate fits themselves, computed independently (np.polyfit per replicate, NaN where failed)
    means = vals[idx].mean(axis=1)
    for k in range(len(idx)):
        if np.all(means[k] > 0):
            slope, intercept = np.polyfit(np.log(x), np.log(means[k]), 1)
            assert exps[k] == pytest.approx(slope, abs=1e-10) and amps[k] == pytest.approx(np.exp(intercept), rel=1e-10)
        else:
            assert np.isnan(exps[k]) and np.isnan(amps[k])
    assert f.amplitude_ci == fits.percentile_interval(amps, 0.95)
    assert f.exponent_ci == fits.percentile_interval(exps, 0.95)
    assert f.exponent_ci[0] < np.nanpercentile(exps, 2.5) and f.exponent_ci[1] > np.nanpercentile(exps, 97.5)
    # the paired difference against a curve whose exponent is exactly 1 in every replicate
    ok = x * (1 + 0.01 * np.arange(50))[:, None]
    d = fits.bootstrap_exponent_difference(x, vals, x, ok, n_boot=300, seed=0)
    assert d.n_failed == 7
    assert d.ci == pytest.approx((f.exponent_ci[0] - 1, f.exponent_ci[1] - 1), abs=1e-12)
    half = fits.bootstrap_exponent_difference(x, vals, x, ok, n_boot=300, seed=0, level=0.5)
    assert half.ci == pytest.approx(fits.percentile_interval(exps - 1, 0.5), abs=1e-12)


def test_percentile_interval_counts_a_failed_replicate_against_both_ends():
    values = np.arange(1.0, 101.0)  # 100 replicates 1..100
    assert fits.percentile_interval(values, 0.9) == pytest.approx(tuple(np.percentile(values, [5, 95])))
    # two failures (NaN) of 100: the low end is the 5th smallest of (-inf, -inf, 1, 2, ...) = 3, the high
    # end the 95th smallest of (1, ..., 98, +inf, +inf) = 95 (dropping them would give about 5.8 and 93.2)
    two_failed = np.r_[np.arange(1.0, 99.0), np.nan, np.nan]
    assert fits.percentile_interval(two_failed, 0.9) == (3.0, 95.0)
    lo_drop, hi_drop = np.nanpercentile(two_failed, [5, 95])
    assert 3.0 < lo_drop and hi_drop < 95.0  # wider than the interval of the replicates that could be fitted
    # five failures fill the 5% tail: the low end would be -inf, so the interval is not determined
    with pytest.raises(fits.NonPositiveMeansError, match="5 of 100 bootstrap resamples .* more than the 5% in each "
                                                         "tail of the 90% interval"):
        fits.percentile_interval(np.r_[np.arange(1.0, 96.0), [np.nan] * 5], 0.9)
    assert fits.percentile_interval(np.r_[np.arange(1.0, 97.0), [np.nan] * 4], 0.9) == (1.0, 95.0)


def test_percentile_interval_checks_its_level_and_replicates():
    assert fits.percentile_interval(np.arange(101.0), 0.9) == pytest.approx((5.0, 95.0))
    for level in (0.0, 1.0, 95, math.nan):
        with pytest.raises(ValueError, match="level must lie in"):
            fits.percentile_interval(np.arange(10.0), level)
    with pytest.raises(ValueError, match="non-empty 1-D array"):
        fits.percentile_interval(np.array([]), 0.95)


def test_mean_half_width_is_z_standard_errors():
    # hand-computed: values 1, 2, 3, 6 have mean 3, s^2 = (4 + 1 + 0 + 9) / 3 = 14/3, n = 4
    assert fits.mean_half_width([1.0, 2.0, 3.0, 6.0]) == pytest.approx(1.96 * math.sqrt(14 / 3) / 2)
    assert fits.mean_half_width(np.array([1.0, 2.0, 3.0, 6.0]), z=1.0) == pytest.approx(math.sqrt(14 / 3) / 2)
    assert fits.mean_half_width([5.0, 5.0]) == 0.0
    for bad in ([1.0], [], [[1.0, 2.0]]):
        with pytest.raises(ValueError, match="at least 2 values"):
            fits.mean_half_width(bad)
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        fits.mean_half_width([1.0, math.nan, 2.0])


@pytest.mark.parametrize("seed", range(8))
def test_fit_power_law_recovers_any_amplitude_and_exponent_in_any_order(seed):
    # property: exact data A x^beta, with A over four decades, beta of either sign and the points
    # in random order, give back A and beta
    rng = np.random.default_rng(seed)
    A, beta = 10 ** rng.uniform(-2, 2), rng.uniform(-2, 2)
    x = rng.permutation(2.0 ** np.arange(1, 8 + seed % 4))
    fit = fits.fit_power_law(x, A * x**beta)
    assert fit.amplitude == pytest.approx(A, rel=1e-10) and fit.exponent == pytest.approx(beta, abs=1e-10)


# --------------------------------------------------------------------------------------------------
# samples in correlated groups (the samples of one play): jackknife intervals over the groups
# --------------------------------------------------------------------------------------------------

def test_grouped_interval_by_hand():
    # groups a = {1, 2}, b = {3, 10}: without a the mean is 6.5, without b 1.5; the replicates' mean is 4,
    # se = sqrt(1/2 * (2.5^2 + 2.5^2)) = 2.5, half-width t_{0.975, 1} * 2.5 = 12.7062047 * 2.5
    gi = fits.grouped_mean_interval([1.0, 2.0, 3.0, 10.0], ["a", "a", "b", "b"])
    assert gi.mean == 4.0 and gi.n_groups == 2 and gi.level == 0.95 and gi.se == pytest.approx(2.5, rel=1e-12)
    assert gi.half_width == pytest.approx(12.706204736174707 * 2.5, rel=1e-12)
    assert (gi.low, gi.high) == pytest.approx((4.0 - gi.half_width, 4.0 + gi.half_width))


def test_grouped_interval_of_unequal_groups_by_hand():
    # a = {1, 2, 3} (total 6), b = {10, 4} (14), c = {6} (6); n = 6, mean 26/6.  Without a: 20/3, without b:
    # 12/4 = 3, without c: 20/5 = 4 (means of the samples left, not of the group means: 6.5 without a)
    gi = fits.grouped_mean_interval([1.0, 2.0, 3.0, 10.0, 4.0, 6.0], ["a", "a", "a", "b", "b", "c"])
    reps = np.array([20 / 3, 3.0, 4.0])
    se = math.sqrt(2 / 3 * ((reps - reps.mean()) ** 2).sum())
    assert gi.mean == pytest.approx(26 / 6, rel=1e-12) and gi.se == pytest.approx(se, rel=1e-12)
    assert gi.half_width == pytest.approx(4.302652729911275 * se, rel=1e-10)  # t_{0.975, 2}


def test_grouped_interval_of_equal_groups_is_the_cluster_robust_one():
    # for groups of equal size the jackknife variance equals CR1: G/(G-1) * sum_g (T_g - n_g ybar)^2 / n^2
    rng = np.random.default_rng(8)
    v, groups = rng.normal(size=(35, 2)), np.repeat(np.arange(5), 7)
    totals = np.array([v[groups == g].sum(axis=0) for g in range(5)])
    cr1 = np.sqrt(5 / 4 * ((totals - 7 * v.mean(axis=0)) ** 2).sum(axis=0) / 35**2)
    np.testing.assert_allclose(fits.grouped_mean_interval(v, groups).se, cr1, rtol=1e-12)


def test_grouped_interval_with_one_sample_per_group_is_the_t_interval():
    v = np.random.default_rng(0).normal(size=(9, 3))
    gi = fits.grouped_mean_interval(v, np.arange(9), level=0.9)
    # t_{0.95, 8} = 1.8595480375228424
    np.testing.assert_allclose(gi.se, v.std(axis=0, ddof=1) / 3, rtol=1e-12)
    np.testing.assert_allclose(gi.half_width, 1.8595480375228424 * v.std(axis=0, ddof=1) / 3, rtol=1e-10)
    np.testing.assert_allclose(gi.mean, v.mean(axis=0), rtol=1e-12)


def test_copies_of_a_sample_inside_its_group_add_nothing():
    # the same 6 values, each repeated 5 times inside its own group: the grouped interval is that of the
    # 6 values; the interval that treats the 30 rows as independent shrinks by about sqrt(5)
    v = np.array([0.3, 1.1, -0.4, 2.0, 0.9, 1.7])
    once = fits.grouped_mean_interval(v, np.arange(6))
    rep = fits.grouped_mean_interval(np.repeat(v, 5), np.repeat(np.arange(6), 5))
    assert rep.mean == pytest.approx(once.mean) and rep.half_width == pytest.approx(once.half_width, rel=1e-12)
    assert fits.mean_half_width(np.repeat(v, 5)) < 0.5 * fits.mean_half_width(v)


def test_grouped_interval_ignores_the_order_and_names_of_groups():
    rng = np.random.default_rng(3)
    v, g = rng.normal(size=40), rng.integers(0, 7, 40)
    a = fits.grouped_mean_interval(v, g)
    perm = rng.permutation(40)
    b = fits.grouped_mean_interval(v[perm], np.array([f"play {k}" for k in g[perm]]))
    assert (b.mean, b.half_width, b.n_groups) == pytest.approx((a.mean, a.half_width, a.n_groups), rel=1e-12)


def test_grouped_interval_covers_when_samples_of_a_group_share_an_effect():
    # 8 groups of 10 samples, each group shifted by its own N(0, 1) effect, noise N(0, 0.5^2): the 95%
    # grouped interval should cover the true mean 0 about 95% of the time; the interval that treats the 80
    # samples as independent covers far less often (its standard error ignores the shared effects)
    rng = np.random.default_rng(11)
    groups = np.repeat(np.arange(8), 10)
    cover_grouped = cover_naive = 0
    n_rep = 2000
    for _ in range(n_rep):
        y = rng.normal(size=8)[groups] + 0.5 * rng.normal(size=80)
        gi = fits.grouped_mean_interval(y, groups)
        cover_grouped += abs(gi.mean) <= gi.half_width
        cover_naive += abs(y.mean()) <= fits.mean_half_width(y)
    assert 0.93 <= cover_grouped / n_rep <= 0.97
    assert cover_naive / n_rep < 0.6


@pytest.mark.parametrize("values, groups, match", [
    (np.ones(4), [0, 0, 0, 0], r"groups has 1 distinct label\(s\); an interval over groups needs at least 2"),
    (np.ones(4), [0, 1, 1], r"one label per sample \(4\), got shape \(3,\)"),
    (np.ones(4), [0.0, np.nan, 1.0, 1.0], "NaN labels"),
    (np.ones(4), None, "groups must give one label per sample"),
    ([1.0, np.nan, 2.0, 3.0], [0, 0, 1, 1], "1 NaN or infinite"),
    (np.ones(1), [0], r"n >= 2 samples, got shape \(1,\)"),
    (np.ones((2, 2, 2)), [0, 1], "values must be"),
])
def test_grouped_interval_bad_input(values, groups, match):
    with pytest.raises(ValueError, match=match):
        fits.grouped_mean_interval(values, groups)
    with pytest.raises(ValueError, match="level"):
        fits.grouped_mean_interval(np.ones(4), [0, 0, 1, 1], level=1.0)


def _power_law_samples(n=30, seed=5):
    x = np.array([4.0, 8.0, 16.0, 32.0, 64.0])
    return x, np.random.default_rng(seed).gamma(3.0, 1.0, (n, x.size)) * x**0.6


def _correlated_power_law_samples(seed=5, sizes=(3, 5, 8, 8, 10, 14)):
    """Samples whose values share their group's exponent (as samples of one play share its words), in
    groups of the given sizes."""
    rng = np.random.default_rng(seed)
    x = np.array([4.0, 8.0, 16.0, 32.0, 64.0])
    n_groups = len(sizes)
    groups = np.repeat(np.arange(n_groups), sizes)
    slope = 0.6 + 0.15 * rng.normal(size=n_groups)[groups]  # each group its own exponent
    return x, rng.gamma(20.0, 0.05, (groups.size, x.size)) * x ** slope[:, None], groups


def test_jackknife_exponent_by_its_definition():
    x, v, groups = _correlated_power_law_samples()
    jk = fits.jackknife_power_law(x, v, groups, level=0.9)
    # replicate g: the log-log slope of the mean over the samples outside group g, fitted one by one
    reps = np.array([np.polyfit(np.log(x), np.log(v[groups != g].mean(axis=0)), 1)[0] for g in range(6)])
    np.testing.assert_allclose(jk.replicates, reps, rtol=1e-10)
    se = math.sqrt(5 / 6 * ((reps - reps.mean()) ** 2).sum())
    assert jk.se == pytest.approx(se, rel=1e-10)
    assert jk.exponent == pytest.approx(np.polyfit(np.log(x), np.log(v.mean(axis=0)), 1)[0], rel=1e-12)
    # t_{0.95, 5} = 2.015048372669157
    assert jk.ci == pytest.approx((jk.exponent - 2.015048372669157 * se, jk.exponent + 2.015048372669157 * se),
                                  rel=1e-9)
    assert (jk.n_groups, jk.level) == (6, 0.9)


def test_jackknife_of_copied_samples_is_the_jackknife_of_the_originals():
    x, v, groups = _correlated_power_law_samples()
    a = fits.jackknife_power_law(x, v, groups)
    b = fits.jackknife_power_law(x, np.repeat(v, 3, axis=0), np.repeat(groups, 3))
    assert (b.exponent, b.se) == pytest.approx((a.exponent, a.se), rel=1e-10)


def test_intervals_over_groups_are_wider_than_over_samples_when_groups_differ():
    # each group has its own exponent: the per-sample bootstrap sees only the noise inside the groups
    x, v, groups = _correlated_power_law_samples(sizes=(20,) * 6)
    over_samples = fits.bootstrap_power_law(x, v, n_boot=500, seed=0)
    over_groups = fits.jackknife_power_law(x, v, groups)
    assert np.diff(over_groups.ci)[0] > 2 * np.diff(over_samples.exponent_ci)[0]
    assert over_groups.exponent == pytest.approx(over_samples.exponent, rel=1e-12)


def test_jackknife_bad_input():
    x, v, groups = _correlated_power_law_samples()
    with pytest.raises(ValueError, match=r"one label per sample \(48\)"):
        fits.jackknife_power_law(x, v, groups[:5])
    with pytest.raises(ValueError, match="1 distinct label"):
        fits.jackknife_power_law(x, v, np.zeros(48))
    assert len(groups) == 48
    with pytest.raises(ValueError, match="level"):
        fits.jackknife_power_law(x, v, groups, level=0.0)
    w = v.copy()
    w[groups != 2, 0] = -1.0  # positive only thanks to group 2
    w[groups == 2, 0] = 20.0
    with pytest.raises(fits.NonPositiveMeansError, match=r"leaving out group\(s\) \[2\] of 6"):
        fits.jackknife_power_law(x, w, groups)


@pytest.mark.parametrize("groups, match", [
    ([0.0, math.nan, math.nan, 1, 1], "NaN labels"),
    ([1, "a", 1, "a", "1"], "mixes numbers and strings"),
    ([None, 1, 1, 2, 2], "integer or string labels, got None"),
    ([(1, 2), (1, 2), (3, 4), (3, 4), (3, 4)], r"one label per sample \(5\), got shape \(5, 2\)"),
    ("aabbb", r"one label per sample \(5\), got shape \(\)"),
])
def test_group_labels_must_be_integers_or_strings(groups, match):
    with pytest.raises(ValueError, match=match):
        fits.group_codes(groups, 5)


def test_group_labels_of_every_accepted_kind():
    for groups in ([3, 1, 3, 1, 3], np.array([3, 1, 3, 1, 3]), ["x", "a", "x", "a", "x"],
                   np.array(["x", "a", "x", "a", "x"], dtype=object), [True, False, True, False, True], [2.5, 0.5, 2.5, 0.5, 2.5]):
        codes, n_groups = fits.group_codes(groups, 5)
        assert codes.tolist() == [1, 0, 1, 0, 1] and n_groups == 2 and codes.dtype == np.int64
