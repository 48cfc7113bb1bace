import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import digamma

from l2m_utils import entropy_estimators as ee

EULER_GAMMA = 0.5772156649015329


def _true_entropy(p):
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


# ---------------------------------------------------------------- exact values


def test_G_closed_forms():
    g = ee.grassberger_G(np.array([1, 2, 3, 4, 5]))
    assert g[0] == pytest.approx(-EULER_GAMMA - math.log(2), abs=1e-12)
    assert g[1] == pytest.approx(2 - EULER_GAMMA - math.log(2), abs=1e-12)
    assert g[2] == pytest.approx(g[1], abs=1e-12)  # G(2k) = G(2k+1)
    assert g[4] == pytest.approx(g[3], abs=1e-12)
    # the formula term by term at n = 4
    assert g[3] == pytest.approx(digamma(4) + 0.5 * (digamma(2.5) - digamma(2)), abs=1e-12)


def test_G_follows_grassbergers_recursion():
    """G(2k+1) = G(2k) and G(2k+2) = G(2k) + 2/(2k+1) (Grassberger 2003), from G(2) = 2 - gamma - log 2:
    exact values for every n up to 201 without digamma, so a slip in the alternating term shows."""
    g = ee.grassberger_G(np.arange(1, 202))  # g[n - 1] = G(n)
    expected = {2: 2 - EULER_GAMMA - math.log(2)}
    for k in range(1, 100):
        expected[2 * k + 1] = expected[2 * k]
        expected[2 * k + 2] = expected[2 * k] + 2 / (2 * k + 1)
    for n, value in expected.items():
        assert g[n - 1] == pytest.approx(value, abs=1e-12), n


def test_G_approaches_log_n():
    n = np.array([10**4, 10**6, 10**8, 10**12])
    assert np.allclose(ee.grassberger_G(n), np.log(n.astype(float)), atol=1e-3)


def test_hand_computed_estimates():
    assert ee.naive_entropy([2, 2]) == pytest.approx(math.log(2))
    assert ee.naive_entropy([5]) == pytest.approx(0.0)
    assert ee.naive_entropy([1, 2, 1]) == pytest.approx(1.5 * math.log(2))
    # two singletons: log 2 - G(1)
    assert ee.grassberger_entropy([1, 1]) == pytest.approx(math.log(2) + EULER_GAMMA + math.log(2))
    assert ee.miller_madow_entropy([2, 2]) == pytest.approx(math.log(2) + 1 / 8)


def test_zero_counts_are_dropped():
    c = np.array([3, 0, 5, 0, 1])
    assert ee.grassberger_entropy(c) == ee.grassberger_entropy(c[c > 0])
    assert ee.naive_entropy(c) == ee.naive_entropy(c[c > 0])


def test_huge_counts_do_not_overflow():
    # N = 10^9 (int64 sum), also given as floats
    c = np.full(10, 10**8, dtype=np.int64)
    assert ee.grassberger_entropy(c) == pytest.approx(math.log(10), abs=1e-7)
    assert ee.naive_entropy(c.astype(float)) == pytest.approx(math.log(10), abs=1e-12)
    # many distinct large counts (the histogram shortcut is not taken)
    c = np.arange(10**6, 10**6 + 1000, dtype=np.int64) * 100
    p = c / c.sum()
    assert ee.grassberger_entropy(c) == pytest.approx(_true_entropy(p), abs=1e-6)


def test_histogram_shortcut_matches_direct_sum():
    rng = np.random.default_rng(0)
    c = rng.integers(1, 50, size=5000)
    direct = math.log(c.sum()) - float((c * ee.grassberger_G(c)).sum()) / c.sum()
    assert ee.grassberger_entropy(c) == pytest.approx(direct, abs=1e-10)


# ---------------------------------------------------------------- bias


@pytest.mark.parametrize(
    "kind,k,n",
    [("uniform", 100, 50), ("uniform", 100, 300), ("uniform", 1000, 2000),
     ("zipf", 1000, 300), ("zipf", 1000, 3000), ("zipf", 5000, 20000)],
)
def test_grassberger_less_biased_than_naive(kind, k, n):
    if kind == "uniform":
        p = np.full(k, 1.0 / k)
    else:
        p = 1.0 / np.arange(1, k + 1)
        p /= p.sum()
    h = _true_entropy(p)
    rng = np.random.default_rng(123)
    g_err, n_err = [], []
    for _ in range(30):
        counts = rng.multinomial(n, p)
        g_err.append(ee.grassberger_entropy(counts) - h)
        n_err.append(ee.naive_entropy(counts) - h)
    g_bias, n_bias = np.mean(g_err), np.mean(n_err)
    assert n_bias < 0  # plug-in is biased low
    assert abs(g_bias) < 0.6 * abs(n_bias)


# ---------------------------------------------------------------- properties


counts_strategy = st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=60).filter(
    lambda c: sum(c) > 0
)


@settings(max_examples=60, deadline=None)
@given(counts_strategy, st.randoms(use_true_random=False))
def test_permutation_invariance(counts, rnd):
    shuffled = list(counts)
    rnd.shuffle(shuffled)
    for name in ee.ESTIMATORS:
        assert ee.entropy_from_counts(shuffled, name) == pytest.approx(ee.entropy_from_counts(counts, name), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(counts_strategy, st.integers(min_value=2, max_value=50))
def test_naive_bounds_and_scale_invariance(counts, scale):
    c = np.array(counts)
    h = ee.naive_entropy(c)
    assert -1e-12 <= h <= math.log((c > 0).sum()) + 1e-9
    assert ee.naive_entropy(c * scale) == pytest.approx(h, abs=1e-9)
    assert np.isfinite(ee.grassberger_entropy(c))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "bad,match",
    [([], "empty"), ([0, 0], "all zero"), ([1, -2], "negative"), ([1.5, 2], "whole numbers"),
     ([np.nan, 1], "NaN"), ([np.inf], "NaN or infinite"), (np.array(["a"]), "numeric"),
     (np.array([1, 2**63 + 5], dtype=np.uint64), "too large")],  # would wrap negative as int64
)
def test_bad_counts(bad, match):
    with pytest.raises(ValueError, match=match):
        ee.grassberger_entropy(bad)
    with pytest.raises(ValueError, match=match):
        ee.naive_entropy(bad)


def test_G_of_zero_is_an_error():
    with pytest.raises(ValueError, match="G\\(0\\) is undefined"):
        ee.grassberger_G(np.array([0, 1]))


def test_unknown_estimator():
    with pytest.raises(ValueError, match="unknown entropy estimator"):
        ee.entropy_from_counts([1, 2], "bogus")


def _poisson_e_nlogn(lam: float) -> float:
    """E[n log n] for n ~ Poisson(lam), by direct summation far into the tail."""
    from scipy.stats import poisson

    k = np.arange(1, int(lam + 40 * math.sqrt(lam) + 200))
    return float(np.sum(poisson.pmf(k, lam) * k * np.log(k)))


@pytest.mark.parametrize("lam", [0.01, 0.5, 1.0, 3.0, 20.0, 59.0, 60.5, 200.0])
def test_poisson_plugin_bias_matches_direct_summation(lam):
    # both branches (series below 60, asymptotic above) against the exact Poisson expectation
    exact = _poisson_e_nlogn(lam) - lam * math.log(lam)
    assert ee.poisson_plugin_bias(np.array([lam]), 1.0) == pytest.approx(exact, rel=1e-5, abs=1e-9)


def test_poisson_plugin_bias_limits_and_additivity():
    n = 1000.0
    # well-filled cells: one half per cell, the Miller-Madow term
    assert ee.poisson_plugin_bias(np.full(10, 5000.0), n) == pytest.approx(10 * 0.5 / n, rel=1e-3)
    # rare cells: about (lam/N) log(1/lam), far more than the lam/(2N) Miller-Madow credits them with
    lam = 1e-3
    b = ee.poisson_plugin_bias(np.array([lam]), n)
    assert b == pytest.approx(lam * math.log(1 / lam) / n, rel=0.05)
    assert b > 10 * lam / (2 * n)
    # zero cells contribute nothing; cells add up
    cells = np.array([0.0, 0.3, 7.0, 80.0])
    assert ee.poisson_plugin_bias(cells, n) == pytest.approx(
        sum(ee.poisson_plugin_bias(np.array([c]), n) for c in cells[1:]))


@pytest.mark.parametrize("lam, n_total, match", [
    (np.array([]), 1.0, "empty"),
    (np.array([1.0, -0.5]), 1.0, "non-negative"),
    (np.array([1.0, np.nan]), 1.0, "finite"),
    (np.array([1.0]), 0.0, "n_total"),
    (np.array([1.0]), np.array([5.0, 6.0]), "one positive number"),
])
def test_poisson_plugin_bias_bad_input(lam, n_total, match):
    with pytest.raises(ValueError, match=match):
        ee.poisson_plugin_bias(lam, n_total)


def test_poisson_plugin_bias_multiplicity_equals_repeated_cells():
    # the K_X K_Y cells of two marginals, once cell by cell and once from their distinct counts
    rng = np.random.default_rng(0)
    cx, cy = rng.integers(0, 6, size=40), rng.integers(1, 9, size=30)
    n = float(cx.sum())
    full = ee.poisson_plugin_bias(np.outer(cx, cy) / n, n)
    ux, mx = np.unique(cx, return_counts=True)
    uy, my = np.unique(cy, return_counts=True)
    grouped = ee.poisson_plugin_bias(np.outer(ux, uy) / n, n, multiplicity=np.outer(mx, my))
    assert grouped == pytest.approx(full, rel=1e-12)
    assert ee.poisson_plugin_bias(np.array([2.0, 0.0]), n, multiplicity=np.array([3, 5])) == pytest.approx(
        3 * ee.poisson_plugin_bias(np.array([2.0]), n))


@pytest.mark.parametrize("mult, match", [
    (np.array([1, 2, 3]), "multiplicity has shape"),
    (np.array([1, -1]), "non-negative"),
    (np.array([1, np.inf]), "finite"),
])
def test_poisson_plugin_bias_bad_multiplicity(mult, match):
    with pytest.raises(ValueError, match=match):
        ee.poisson_plugin_bias(np.array([1.0, 2.0]), 10.0, multiplicity=mult)
