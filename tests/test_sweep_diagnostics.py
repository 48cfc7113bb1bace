"""l2m_utils.sweep_diagnostics against hand-computed cases."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2m_utils import sweep_diagnostics as sd
from l2m_utils.fits import distinct_log_values


def test_range_relation_cases():
    assert sd.range_relation([1.0, 2.0], [2.5, 3.0]) == sd.ABOVE
    assert sd.range_relation([1.0, 2.0], [0.1, 0.9]) == sd.BELOW
    assert sd.range_relation([1.0, 2.0], [1.5, 3.0]) == sd.OVERLAP
    assert sd.range_relation([1.0, 2.0], [2.0]) == sd.OVERLAP  # touching counts as overlap
    assert sd.range_relation([1.0], [1.0 + 1e-12]) == sd.ABOVE


def test_range_relation_rejects_bad_input():
    with pytest.raises(ValueError, match="finite"):
        sd.range_relation([1.0, float("nan")], [2.0])
    with pytest.raises(ValueError, match="at least 1"):
        sd.range_relation([], [2.0])


def test_length_trend_exact_power_law():
    L = [16, 64, 256]
    vals = [[0.5 * l ** 0.25 * f for f in (0.99, 1.01)] for l in L]  # mean = 0.5 L^0.25 exactly
    t = sd.length_trend(L, vals)
    assert t.slope == pytest.approx(0.25, abs=1e-12)
    assert t.means[0] == pytest.approx(1.0)
    assert t.relation == sd.ABOVE
    text = t.describe()
    assert "L = 16" in text and "L = 256" in text and "+0.25" in text and "higher" in text
    assert text.startswith("1.00 at L = 16 to 2.00 at L = 256")  # same significant digits at both ends


def test_length_trend_flat_overlapping_and_sorted():
    t = sd.length_trend([256, 16], [[1.0, 1.2], [1.1, 0.9]])  # unsorted input
    assert t.lengths == (16, 256)
    assert t.means == pytest.approx((1.0, 1.1))
    assert t.relation == sd.OVERLAP
    assert t.slope == pytest.approx(math.log(1.1) / math.log(16))


def test_length_trend_negligible_change_is_no_trend():
    vals = [[1.000, 1.0001], [1.005, 1.0051]]  # every seed higher, but by half a per cent
    assert sd.length_trend([16, 64], vals).relation == sd.ABOVE
    t = sd.length_trend([16, 64], vals, min_relative_change=0.02)
    assert t.relation == sd.OVERLAP and t.negligible
    assert "less than 2%" in t.describe()
    assert sd.length_trend([16, 64], [[1.0], [1.03]], min_relative_change=0.02).relation == sd.ABOVE
    assert sd.length_trend([16, 64], [[1.0], [0.97]], min_relative_change=0.02).relation == sd.BELOW


def test_length_trend_rejects_bad_input():
    with pytest.raises(ValueError, match="min_relative_change"):
        sd.length_trend([16, 64], [[1.0], [2.0]], min_relative_change=-0.1)
    with pytest.raises(ValueError, match="at least 2 lengths"):
        sd.length_trend([16], [[1.0]])
    with pytest.raises(ValueError, match="2 lengths but 1"):
        sd.length_trend([16, 64], [[1.0]])
    with pytest.raises(ValueError, match="L = 64"):
        sd.length_trend([16, 64], [[1.0], [float("nan")]])
    with pytest.raises(ValueError, match="positive"):
        sd.length_trend([16, 64], [[1.0], [-1.0]])
    # lengths used to be cut to integers silently (1.5 -> 1) and reported as such
    with pytest.raises(ValueError, match="length_trend: length must be a positive integer, got 1.5"):
        sd.length_trend([1.5, 2.9], [[1.0], [2.0]])
    with pytest.raises(ValueError, match="length_trend: length must be a positive integer, got '1'"):
        sd.length_trend(["1", "2"], [[1.0], [2.0]])
    with pytest.raises(ValueError, match=r"lengths must be distinct, got \[16, 16\]"):
        sd.length_trend([16, 16], [[1.0], [2.0]])
    with pytest.raises(ValueError, match=r"min_relative_change must be a finite number in \[0, 1\), got nan"):
        sd.length_trend([16, 64], [[1.0], [2.0]], min_relative_change=float("nan"))


def test_line_scatter_hand_computed():
    # three points: log10 y = 0, 1, 0 at log10 x = 0, 1, 2 -> line y = 1/3 flat, residuals -1/3, 2/3, -1/3
    assert sd.line_scatter([1, 10, 100], [1, 10, 1]) == pytest.approx(math.sqrt((1 + 4 + 1) / 27))
    assert sd.line_scatter([1, 10, 100], [3, 30, 300]) == pytest.approx(0.0, abs=1e-12)


def test_collapse_scatter_one_curve_and_two_offset_lines():
    x = np.array([1.0, 10.0, 100.0])
    on_one = sd.collapse_scatter({"a": (x, 2 * x ** 0.5), "b": (x * 1000, 2 * (x * 1000) ** 0.5)})
    assert on_one.pooled == pytest.approx(0.0, abs=1e-12)
    assert on_one.within == pytest.approx(0.0, abs=1e-12)
    assert on_one.slope == pytest.approx(0.5)
    # the same x, y one decade apart: the pooled line runs halfway, every point half a decade off
    apart = sd.collapse_scatter({"a": (x, x), "b": (x, 10 * x)})
    assert apart.pooled == pytest.approx(0.5)
    assert apart.within == pytest.approx(0.0, abs=1e-12)
    assert (apart.n_points, apart.n_groups) == (6, 2)


def test_collapse_scatter_single_point_group_and_errors():
    c = sd.collapse_scatter({"a": ([1.0, 10.0], [1.0, 10.0]), "b": ([100.0], [100.0])})
    assert c.pooled == pytest.approx(0.0, abs=1e-12) and c.within == 0.0
    with pytest.raises(ValueError, match="at least 2 groups"):
        sd.collapse_scatter({"a": ([1.0, 2.0], [1.0, 2.0])})
    with pytest.raises(ValueError, match="'b'"):
        sd.collapse_scatter({"a": ([1.0, 2.0], [1.0, 2.0]), "b": ([1.0, 2.0], [1.0])})


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0.1, 1e3), st.floats(1e-3, 1e3)), min_size=3, max_size=8),
       st.lists(st.tuples(st.floats(0.1, 1e3), st.floats(1e-3, 1e3)), min_size=3, max_size=8))
def test_collapse_scatter_within_never_exceeds_pooled(a, b):
    xa, ya = map(np.array, zip(*a))
    xb, yb = map(np.array, zip(*b))
    if distinct_log_values(np.concatenate([xa, xb])) < 2:
        return
    c = sd.collapse_scatter({"a": (xa, ya), "b": (xb, yb)})
    assert c.within <= c.pooled + 1e-6  # rounding in groups whose x span barely exceeds LOG_X_RESOLUTION


@pytest.mark.parametrize("close", [[0.1, 0.1, 0.10000000000000002],
                                   [6.474261840126042, 6.474261840126043, 6.474261840126043]])
def test_collapse_scatter_with_x_values_one_rounding_step_apart(close):
    """Found by the property test above and by review: x values a rounding step apart have (almost)
    the same logarithm, so the group has no line of its own (it used to give within = nan, or a
    slope of 1e15 and within > pooled)."""
    c = sd.collapse_scatter({"a": ([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]), "b": (close, [1.0, 8.0, 1.0])})
    assert c.within == 0.0
    with pytest.raises(ValueError, match="distinct after taking logs"):
        sd.collapse_scatter({"a": ([0.1], [1.0]), "b": ([0.10000000000000002], [2.0])})


def test_late_change_hand_computed():
    steps = np.arange(0, 101, 10)
    values = 2.0 - steps / 100  # linear: 2 at step 0, 1 at step 100; at step 75: 1.25
    assert sd.late_change(steps, values) == pytest.approx((1.0 - 1.25) / 1.25)
    assert sd.late_change(steps, values, fraction=0.5) == pytest.approx((1.0 - 1.5) / 1.5)
    assert sd.late_change([1, 2, 3], [4.0, 4.0, 4.0]) == 0.0
    # sparse evaluation points: value interpolated between them
    # (start at 400 - 0.25 * 300 = 325, a quarter of the way from 0.4 to 0.3: 0.375)
    assert sd.late_change([100, 200, 300, 400], [1.0, 0.5, 0.4, 0.3]) == pytest.approx((0.3 - 0.375) / 0.375)


def test_late_change_smoothing_removes_alternating_noise():
    steps = np.arange(1, 401)
    noisy = 1.0 + 0.5 * (-1.0) ** steps  # 0.5, 1.5, 0.5, ... : a flat curve under noise
    assert sd.late_change(steps, noisy) == pytest.approx(0.2)  # 1.5 at step 400 against 1.25 at 300.25
    assert sd.late_change(steps, noisy, smooth=20) == pytest.approx(0.0, abs=1e-12)


def test_late_change_rejects_bad_input():
    with pytest.raises(ValueError, match="increase"):
        sd.late_change([1, 1, 2], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="fraction"):
        sd.late_change([1, 2], [1.0, 2.0], fraction=1.5)
    with pytest.raises(ValueError, match="at least 2"):
        sd.late_change([1], [1.0])
    with pytest.raises(ValueError, match="smooth"):
        sd.late_change([1, 2], [1.0, 2.0], smooth=3)
    with pytest.raises(ValueError, match="is 0"):
        sd.late_change([0, 1], [0.0, 0.0])
    with pytest.raises(ValueError, match="finite"):
        sd.late_change([0, 1], [1.0, float("inf")])


def test_value_range_and_signed_percent():
    assert sd.value_range([3, 1, 2]) == "1 to 3"
    assert sd.value_range([0.1234, 0.1231], lambda x: f"{x:.2f}") == "0.12"  # they print alike
    assert sd.value_range([1500, 40], lambda x: f"{x:,}") == "40 to 1,500"
    with pytest.raises(ValueError, match="at least one"):
        sd.value_range([])
    assert sd.signed_percent(-0.0004) == "+0.0%"
    assert sd.signed_percent(-0.0241) == "-2.4%"
    assert sd.signed_percent(0.5) == "+50.0%"
    assert sd.value_range([-0.024, -0.003], sd.signed_percent) == "-2.4% to -0.3%"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_signed_percent_refuses_non_finite(bad):
    with pytest.raises(ValueError, match=f"signed_percent: x must be finite, got {bad!r}"):
        sd.signed_percent(bad)
    with pytest.raises(ValueError, match="must be finite"):
        sd.value_range([bad], sd.signed_percent)


@pytest.mark.parametrize("values", [[math.nan, 1.0, 2.0], [1.0, math.nan, 2.0], [1.0, 2.0, np.float64("inf")]])
def test_value_range_refuses_non_finite_wherever_it_sits(values):
    """min/max of a list with a NaN depend on its position ('nan', or the NaN silently dropped)."""
    with pytest.raises(ValueError, match="value_range: values must be finite"):
        sd.value_range(values)


# backbone_contrast: values of KL/baseline per seed at the shortest and longest length
G, M4, M16 = "gpt2 1x16", "mamba2 1x16 N=4", "mamba2 1x16 N=16"
STATE = {M4: 248, M16: 536}


def _contrast(first, last, tol=0.02):
    return sd.backbone_contrast(first, last, (16, 64), {k: v for k, v in STATE.items() if k in first}, tol)


def test_backbone_contrast_tiny_changes_are_no_rise_to_compare():
    # the audit's case: rises of -0.0013 and -0.0006 of the baseline on levels near 1, seeds perfectly ordered
    text = _contrast({G: [0.9770, 0.9771], M4: [0.9760, 0.9761]}, {G: [0.9757, 0.9758], M4: [0.9754, 0.9755]})
    assert "no rise to compare" in text and "predicts" not in text and "ranges over seeds" not in text
    assert "gpt2 1x16 -0.0013 [-0.0014, -0.0012]" in text and "changes by 2% or more" in text
    # the same changes count once the tolerance is below them
    assert "no rise to compare" not in _contrast({G: [0.9770, 0.9771], M4: [0.9760, 0.9761]},
                                                 {G: [0.9757, 0.9758], M4: [0.9754, 0.9755]}, tol=1e-4)


def test_backbone_contrast_with_one_seed_claims_nothing_for_every_seed():
    text = _contrast({G: [0.50], M4: [0.50]}, {G: [0.50], M4: [0.70]})
    assert "the contrast the L²M condition predicts" in text and "by at least 0.200 of the baseline:" in text
    assert "ranges over seeds" not in text and "[" not in text and "(one seed, in units" in text
    assert text.endswith("(seeds per size and length: 1; with one seed, no ordering here is tested against the "
                         "variation between seeds)")


def test_backbone_contrast_needs_separated_seeds_and_an_effect_beyond_the_tolerance():
    first = {G: [0.50, 0.52], M4: [0.50, 0.52]}
    predicted = _contrast(first, {G: [0.50, 0.52], M4: [0.70, 0.72]})
    assert ("every Mamba-2 size's mean change is higher than every GPT-2 size's by at least 0.200 of the baseline, "
            "and their ranges over seeds do not overlap: the contrast the L²M condition predicts") in predicted
    assert predicted.endswith("(seeds per size and length: 2)")
    opposite = _contrast(first, {G: [0.70, 0.72], M4: [0.50, 0.52]})
    assert "GPT-2's KL/baseline rises more with L than Mamba-2's" in opposite
    assert "the reverse of what a binding L²M condition would produce" in opposite and "lead shrinks" not in opposite  # GPT-2 ends above
    # a faster riser that is still the better model at the last length: a shrinking lead, said so; and a
    # slower riser near the trivial predictor has little room to rise
    shrinking = _contrast({G: [0.50, 0.52], M4: [0.90, 0.91]}, {G: [0.70, 0.72], M4: [0.92, 0.93]})
    assert "the reverse of what a binding L²M condition would produce" in shrinking
    assert ("the reverse of what a binding L²M condition would produce. At L = 64 every GPT-2 size's mean KL/baseline is still below every "
            "Mamba-2 size's: GPT-2's lead shrinks, it is not overtaken. Mamba-2 starts at 0.91 of the baseline or "
            "more at L = 16, close to the trivial predictor's 1, which leaves it little room to rise") in shrinking
    assert "((" not in shrinking and ") (" not in shrinking  # sentences, not stacked parentheses
    assert "little room" not in predicted and "lead shrinks" not in predicted
    # means apart by 0.1, but the seeds overlap
    noisy = _contrast({G: [0.4, 0.6], M4: [0.4, 0.6]}, {G: [0.4, 0.6], M4: [0.4, 0.8]})
    assert "their seed ranges overlap: this run does not separate them" in noisy and "predicts" not in noisy
    # both rise clearly, by almost the same amount (0.004 apart, below 2% of 0.51): no ordering
    close = _contrast(first, {G: [0.60, 0.62], M4: [0.604, 0.624]})
    assert "not apart by more than 0.010 of the baseline" in close and "this run does not separate them" in close


def test_backbone_contrast_orders_the_mamba_state_sizes():
    first = {G: [0.5, 0.5], M4: [0.5, 0.5], M16: [0.5, 0.5]}
    text = _contrast(first, {G: [0.5, 0.5], M4: [0.8, 0.8], M16: [0.6, 0.6]})
    assert ("predicts. Among the Mamba-2 sizes, the mean change of the smallest state (mamba2 1x16 N=4) is higher "
            "than that of the largest (mamba2 1x16 N=16) by 0.200 of the baseline, and their ranges over seeds do not overlap, as "
            "predicted") in text
    # both improve: the largest state's change (-0.05) is the higher one, by 0.25 (not "changes by 0.25 more")
    improving = _contrast({G: [0.5, 0.5], M4: [0.5, 0.5], M16: [0.5, 0.5]},
                          {G: [0.49, 0.49], M4: [0.2, 0.2], M16: [0.45, 0.45]})
    assert ("the mean change of the largest state (mamba2 1x16 N=16) is higher than that of the smallest "
            "(mamba2 1x16 N=4) by 0.250 of the baseline") in improving
    against = _contrast(first, {G: [0.5, 0.5], M4: [0.6, 0.6], M16: [0.8, 0.8]})
    assert "against the prediction" in against
    flat = _contrast(first, {G: [0.8, 0.8], M4: [0.5, 0.5], M16: [0.5, 0.5]})
    assert ("Among the Mamba-2 sizes, neither the smallest state (mamba2 1x16 N=4) nor the largest "
            "(mamba2 1x16 N=16) changes") in flat
    close_sizes = _contrast(first, {G: [0.8, 0.8], M4: [0.7, 0.7], M16: [0.702, 0.702]})
    assert ("the smallest state (mamba2 1x16 N=4) and the largest (mamba2 1x16 N=16) cannot be told apart: their "
            "rises differ by 0.002 of the baseline, not more than 0.010 (2% of the largest KL/baseline at L = 16)"
            ) in close_sizes


def test_backbone_contrast_rejects_bad_input():
    with pytest.raises(ValueError, match="same labels"):
        sd.backbone_contrast({G: [1.0]}, {M4: [1.0]}, (16, 64), {}, 0.02)
    with pytest.raises(ValueError, match="min_relative_change"):
        sd.backbone_contrast({G: [1.0]}, {G: [1.0]}, (16, 64), {}, 1.5)
    with pytest.raises(ValueError, match="positive"):
        sd.backbone_contrast({G: [0.0]}, {G: [1.0]}, (16, 64), {}, 0.02)
    with pytest.raises(ValueError, match="finite"):
        sd.backbone_contrast({G: [math.nan]}, {G: [1.0]}, (16, 64), {}, 0.02)
    with pytest.raises(ValueError, match="without values"):
        sd.backbone_contrast({G: [1.0]}, {G: [1.0]}, (16, 64), {M4: 248}, 0.02)
    # a string used to be searched for labels as substrings, and one length to fail with an IndexError
    with pytest.raises(ValueError, match="fixed_state must be a mapping from model label to values, got str"):
        sd.backbone_contrast({G: [1.0]}, {G: [1.0]}, (16, 64), "ab", 0.02)
    with pytest.raises(ValueError, match=r"lengths must be \(first length, last length\), got \(4,\)"):
        sd.backbone_contrast({G: [1.0]}, {G: [1.0]}, (4,), {}, 0.02)


def test_late_window_start_counts_from_the_first_evaluation():
    # evaluations at 60..300: the last quarter of the span 60..300 starts at 240, not at 225
    assert sd.late_window_start([60, 120, 180, 240, 300]) == 240.0
    assert sd.late_window_start([0, 100], fraction=0.5) == 50.0
    with pytest.raises(ValueError, match="late_window_start: fraction"):
        sd.late_window_start([0, 100], fraction=0.0)


def test_run_failure_names_divergence_the_marginal_and_worse():
    base = 0.25
    ok = [0.25, 0.2, 0.1]
    assert sd.run_failure(0.40, ok, base, 0.992) is None  # learned something
    # the chapter-6 probe run at lr 0.081: spiked to 27,065 times the baseline, ended at the marginal
    why = sd.run_failure(0.9916, [0.25, 7258.6, 0.25], base, 0.9920)
    assert why.startswith("diverged during training (its training KL reached 2.9e+04 times the baseline)")
    assert why.endswith("the marginal predictor's value")
    assert sd.run_failure(0.9916, ok, base, 0.9920).startswith("learned nothing beyond the marginal (KL/baseline 0.992")
    assert sd.run_failure(0.9819, ok, base, 0.9920) is None  # 0.0101 below the marginal: learned a little
    assert sd.run_failure(1.2, ok, base, 0.9920).startswith("ended worse than predicting the marginal")
    assert sd.run_failure(1.2, [0.25, 0.74], base, 0.992, spike=3.0).startswith("ended worse")  # 2.96 < 3: no spike
    with pytest.raises(ValueError, match="train_kl: values must be finite"):
        sd.run_failure(0.5, [0.2, math.nan], base, 0.99)
    with pytest.raises(ValueError, match=r"marginal_ratio must be a finite number in \(0, inf\)"):
        sd.run_failure(0.5, ok, base, 0.0)


# ------------------------------------------------------------------------------ probe_rates_text

PROBE = [("gpt2 4x256", "L = 64, 2000 steps", {1e-3: 0.387, 3e-3: 0.166, 1e-2: 0.208}),
         ("gpt2 8x512", "L = 64, 1000 steps", {3e-4: 0.336, 1e-3: 0.238, 3e-3: 0.999}),
         ("mamba2 8x512 N=64", "L = 64, 1000 steps", {1e-3: 0.245})]


def test_probe_rates_text_names_best_rates_stuck_runs_and_each_profile_rate():
    text = sd.probe_rates_text(PROBE, {"gpt2 4x256": 3e-3, "gpt2 8x512": 1e-3, "mamba2 8x512 N=64": 3e-3,
                                       "mamba2 4x256 N=64": 3e-3})
    assert text == (
        "Best rate of each model probed at several: gpt2 4x256 at 0.003; gpt2 8x512 at 0.001. "
        "gpt2 8x512 at 0.003: ended at 0.95 of the baseline or above (learned almost nothing); the gpu profile "
        "trains no model at a rate at which that model learned nothing here. "
        "The gpu profile's rates: gpt2 4x256 at 0.003 (its best probed rate); gpt2 8x512 at 0.001 (its best "
        "probed rate); mamba2 8x512 N=64 at 0.003 (probed at one rate); mamba2 4x256 N=64 at 0.003 (not probed).")


def test_probe_rates_text_says_when_the_profile_trains_a_model_at_a_rate_where_it_learned_nothing():
    text = sd.probe_rates_text(PROBE, {"gpt2 8x512": 3.0000000000000001e-3 * (1 + 1e-12)}, profile="big")
    assert "(learned almost nothing); the big profile trains gpt2 8x512 at such a rate." in text
    assert text.endswith("The big profile's rates: gpt2 8x512 at 0.003 (not its best probed rate: 0.001).")


def test_probe_rates_text_tells_apart_the_rows_of_a_model_probed_twice_and_needs_no_multi_rate_row():
    rows = [("m", "L = 64", {1e-3: 0.5, 3e-3: 0.4}), ("m", "L = 256", {1e-3: 0.3, 3e-3: 0.6})]
    text = sd.probe_rates_text(rows, {"m": 3e-3})
    assert text.startswith("Best rate of each model probed at several: m (L = 64) at 0.003; m (L = 256) at 0.001. ")
    assert "Every probe run ended below 0.95 of its baseline." in text
    assert text.endswith("m at 0.003 (the best rate of 1 of its 2 probe rows).")
    single = sd.probe_rates_text([("m", "L = 64", {1e-3: 0.5})], {})
    assert single == "Every probe run ended below 0.95 of its baseline."  # no empty "best rate" sentence


@pytest.mark.parametrize("rows, rates, message", [
    ([], {}, "needs at least one probe row"),
    ([("m", "", {})], {}, "the row of 'm' has no runs"),
    ([("m", "", {1e-3: float("nan")})], {}, "the KL/baseline of 'm' at lr 0.001"),
    ([("m", "", {-1e-3: 0.5})], {}, "a learning rate of 'm'"),
    ([("m", "", {1e-3: 0.5})], {"m": 0.0}, "the gpu profile's rate of 'm'"),
])
def test_probe_rates_text_refuses_bad_input(rows, rates, message):
    with pytest.raises(ValueError, match=message):
        sd.probe_rates_text(rows, rates)
