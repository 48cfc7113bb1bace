"""Worked-example processes of chapter 1: enumeration agrees with closed forms."""

import math

import numpy as np
import pytest

from l2m_utils import information as info
from l2m_utils import processes as proc


def test_stationary_distribution():
    P = np.array([[0.9, 0.1], [0.3, 0.7]])
    pi = proc.stationary_distribution(P)
    np.testing.assert_allclose(pi, [0.75, 0.25])
    np.testing.assert_allclose(pi @ P, pi)


def test_reducible_chain_raises():
    with pytest.raises(ValueError, match="reducible"):
        proc.stationary_distribution(np.eye(2))


@pytest.mark.parametrize("flip", [0.05, 0.3, 0.5])
def test_markov_two_point_closed_form(flip):
    P = proc.binary_symmetric_chain(flip)
    lam = 1 - 2 * flip
    for d in (1, 2, 5):
        q = (1 + lam**d) / 2
        h = -sum(x * math.log(x) for x in (q, 1 - q) if x > 0)
        expected = math.log(2) - h
        assert proc.markov_two_point_mutual_information(P, [d])[0] == pytest.approx(expected, abs=1e-12)


def test_markov_bipartite_constant_and_matches_enumeration():
    P = np.array([[0.8, 0.15, 0.05], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5]])
    expected = proc.markov_bipartite_mutual_information(P)
    for L in (2, 3, 5, 7):
        joint = proc.markov_joint(P, L)
        for ell in range(1, L):
            assert info.bipartite_mutual_information(joint, ell) == pytest.approx(expected, abs=1e-12)
    joint = proc.markov_joint(P, 6)
    for d in range(1, 6):
        assert info.two_point_mutual_information(joint, 0, d) == pytest.approx(
            proc.markov_two_point_mutual_information(P, [d])[0], abs=1e-12)


def test_identical_tokens():
    for M, L in [(2, 5), (3, 4), (5, 3)]:
        p = proc.identical_tokens_joint(M, L)
        assert info.bipartite_mutual_information(p) == pytest.approx(math.log(M))
        assert info.two_point_mutual_information(p, 0, L - 1) == pytest.approx(math.log(M))
        terms = info.chain_rule_terms(p)
        assert terms[0, 0] == pytest.approx(math.log(M))
        assert terms.sum() == pytest.approx(math.log(M))


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_parity_pairwise_independent_blockwise_dependent(k):
    L = 2 * k + 2
    p = proc.parity_joint(k, L)
    for d in range(1, min(L, 2**k - 1)):  # pairs closer than the period are independent
        assert info.two_point_mutual_information(p, 0, d) == pytest.approx(0, abs=1e-12)
    for ell in range(1, L):
        assert info.bipartite_mutual_information(p, ell) == pytest.approx(
            proc.parity_bipartite_mutual_information(k, L, ell), abs=1e-12)
    assert info.bipartite_mutual_information(p) == pytest.approx(k * math.log(2))


@pytest.mark.parametrize("k", sorted(proc.PRIMITIVE_TAPS))
def test_parity_taps_have_maximal_period(k):
    seqs = proc.parity_sequences(k, 2**k - 1 + k)
    start = seqs[1]  # a non-zero initial state
    period = next(p for p in range(1, 2**k) if np.array_equal(start[p:p + k], start[:k]))
    assert period == 2**k - 1


def test_ar1_covariance_and_mi():
    cov = proc.ar1_covariance(0.5, 4)
    assert cov[0, 3] == pytest.approx(0.125)
    assert info.gaussian_mutual_information(cov, [0, 1], [2, 3]) == pytest.approx(-0.5 * math.log(0.75))


def test_bad_process_parameters_raise():
    with pytest.raises(ValueError, match="rows must sum to 1"):
        proc.markov_joint(np.array([[0.5, 0.6], [0.5, 0.5]]), 3)
    with pytest.raises(ValueError, match="square"):
        proc.stationary_distribution(np.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match="flip probability"):
        proc.binary_symmetric_chain(1.5)
    with pytest.raises(ValueError, match="distance"):
        proc.markov_two_point_mutual_information(proc.binary_symmetric_chain(0.1), [0])
    with pytest.raises(ValueError, match="no default taps"):
        proc.parity_sequences(40, 50)
    with pytest.raises(ValueError, match="phi"):
        proc.ar1_covariance(1.0, 3)
    with pytest.raises(ValueError, match="more than the limit"):
        proc.markov_joint(proc.binary_symmetric_chain(0.1), 40)


@pytest.mark.parametrize(
    "distances, message",
    [
        ([1.5], "distance must be a whole number >= 1, got 1.5"),
        ([1, 0], "distance must be a whole number >= 1, got 0"),
        ([-2], "got -2"),
        ([float("nan")], "got nan"),
        ([float("inf")], "got inf"),
        ([True], "got True"),
        ([], "distances must name at least one distance"),
        (np.array([], dtype=int), "distances must name at least one distance"),
    ],
)
def test_markov_two_point_refuses_bad_distances(distances, message):
    with pytest.raises(ValueError, match=message):
        proc.markov_two_point_mutual_information(proc.binary_symmetric_chain(0.1), distances)


def test_markov_two_point_accepts_whole_numbers_of_any_type():
    P = proc.binary_symmetric_chain(0.1)
    expected = proc.markov_two_point_mutual_information(P, [1, 2, 3])
    np.testing.assert_array_equal(proc.markov_two_point_mutual_information(P, [1.0, np.int64(2), 3.0]), expected)
    np.testing.assert_array_equal(proc.markov_two_point_mutual_information(P, range(1, 4)), expected)


@pytest.mark.parametrize(
    "args, message",
    [
        ((-1, 4), "order must be a whole number >= 1, got -1"),
        ((0, 4), "order must be a whole number >= 1, got 0"),
        ((2.5, 4), "order must be a whole number >= 1, got 2.5"),
        ((3, 4.5), "block length L must be a whole number >= 2, got 4.5"),
        ((3, 1), "block length L must be a whole number >= 2, got 1"),
        ((3, 4, 1.5), "split ell must be a whole number >= 1, got 1.5"),
        ((3, 4, 0), "split ell must be a whole number >= 1, got 0"),
        ((3, 4, 4), "split ell=4 must satisfy"),
    ],
)
def test_parity_closed_form_refuses_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        proc.parity_bipartite_mutual_information(*args)


def test_parity_closed_form_any_order():
    # the closed form holds for any primitive feedback polynomial; order 1 (x + 1) is the
    # identical-bits process, with bipartite MI log 2 for every split
    for ell in range(1, 5):
        assert proc.parity_bipartite_mutual_information(1, 5, ell) == pytest.approx(
            info.bipartite_mutual_information(proc.parity_joint(1, 5, taps=(1,)), ell), abs=1e-12)
    assert proc.parity_bipartite_mutual_information(40, 100) == pytest.approx(40 * math.log(2))
    assert proc.parity_bipartite_mutual_information(np.int64(3), np.int64(6)) == pytest.approx(3 * math.log(2))


@pytest.mark.parametrize("length, message", [(3.5, "got 3.5"), (0, "got 0"), (-1, "got -1"), (float("nan"), "got nan")])
def test_ar1_covariance_refuses_bad_lengths(length, message):
    with pytest.raises(ValueError, match="length must be a whole number >= 1, " + message):
        proc.ar1_covariance(0.5, length)
    with pytest.raises(ValueError, match="phi"):
        proc.ar1_covariance(float("nan"), 3)
