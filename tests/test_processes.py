"""Worked-example processes of chapter 1: enumeration agrees with closed forms."""

import math

import mpmath
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
        ([1.5], "distance must be a positive integer, got 1.5"),
        ([1, 0], "distance must be a positive integer, got 0"),
        ([-2], "got -2"),
        ([float("nan")], "got nan"),
        ([float("inf")], "got inf"),
        ([True], "got True"),
        ([], "distances must name at least one distance"),
        (3, "distances must be a list of integers, got 3: wrap a single one as \\[3\\]"),
        (np.array([], dtype=int), "distances must name at least one distance"),
    ],
)
def test_markov_two_point_refuses_bad_distances(distances, message):
    with pytest.raises(ValueError, match=message):
        proc.markov_two_point_mutual_information(proc.binary_symmetric_chain(0.1), distances)


def test_markov_two_point_accepts_python_and_numpy_integers_but_not_floats():
    # one integer check for the whole package (checks.integer): 2.0 is refused here as everywhere
    P = proc.binary_symmetric_chain(0.1)
    expected = proc.markov_two_point_mutual_information(P, [1, 2, 3])
    np.testing.assert_array_equal(proc.markov_two_point_mutual_information(P, [1, np.int64(2), np.int32(3)]), expected)
    np.testing.assert_array_equal(proc.markov_two_point_mutual_information(P, range(1, 4)), expected)
    np.testing.assert_array_equal(proc.markov_two_point_mutual_information(P, np.arange(1, 4)), expected)
    with pytest.raises(ValueError, match="distance must be a positive integer, got 2.0"):
        proc.markov_two_point_mutual_information(P, [1, 2.0])


@pytest.mark.parametrize(
    "args, message",
    [
        ((-1, 4), "order must be a positive integer, got -1"),
        ((0, 4), "order must be a positive integer, got 0"),
        ((2.5, 4), "order must be a positive integer, got 2.5"),
        ((3, 4.5), "block length L must be an integer >= 2, got 4.5"),
        ((3, 1), "block length L must be an integer >= 2, got 1"),
        ((3, 4, 1.5), "split ell must be a positive integer, got 1.5"),
        ((3, 4, 0), "split ell must be a positive integer, got 0"),
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
    with pytest.raises(ValueError, match="length must be a positive integer, " + message):
        proc.ar1_covariance(0.5, length)
    with pytest.raises(ValueError, match="phi"):
        proc.ar1_covariance(float("nan"), 3)


# --------------------------------------------------------------------------------------------------
# two-point MI far below rounding noise (no cancellation)
# --------------------------------------------------------------------------------------------------



def _mp_stochastic(P):
    """The float matrix P as an mpmath matrix with rows rescaled to sum to 1 exactly (in floats they
    are only 1 to within rounding, which would otherwise make the reference wrong at that level)."""
    rows = [[mpmath.mpf(float(x)) for x in row] for row in np.atleast_2d(P)]
    return mpmath.matrix([[x / sum(row) for x in row] for row in rows])


def _mp_stationary(P):
    """Stationary law of the (row-normalised) float matrix P, to the working precision, in mpmath."""
    m = P.shape[0]
    Pm = _mp_stochastic(P)
    A = mpmath.matrix(m, m)
    for a in range(m):
        for b in range(m):
            A[a, b] = Pm[b, a] - (1 if a == b else 0)
    for b in range(m):
        A[m - 1, b] = 1
    rhs = mpmath.matrix([0] * (m - 1) + [1])
    return mpmath.lu_solve(A, rhs)


def _mp_markov_two_point(P, d, dps=300):
    """sum J log(J / pi pi^T) with J = diag(pi) P^d, straight from the definition, at ``dps`` digits
    (the sum cancels to the MI: the digits left are about dps + log10(MI))."""
    with mpmath.workdps(dps):
        m = P.shape[0]
        pi = _mp_stationary(P)
        Pd = _mp_stochastic(P) ** d
        total = mpmath.mpf(0)
        for a in range(m):
            for b in range(m):
                J = pi[a] * Pd[a, b]
                if J > 0:
                    total += J * mpmath.log(J / (pi[a] * pi[b]))
        return total


def _mp_bsc(flip, d, dps=100):
    """Closed form log 2 - h((1 + (1 - 2f)^d) / 2) of the binary symmetric chain, at ``dps`` digits."""
    with mpmath.workdps(dps):
        q = (1 + (1 - 2 * mpmath.mpf(flip)) ** d) / 2
        return mpmath.log(2) + q * mpmath.log(q) + (1 - q) * mpmath.log(1 - q)


def _naive_markov_two_point(P, d):
    """The textbook formula sum J log(J / pi pi^T), fine while the MI is large."""
    pi = proc.stationary_distribution(P)
    joint = pi[:, None] * np.linalg.matrix_power(P, d)
    prod = pi[:, None] * pi[None, :]
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / prod[nz])).sum())


def _random_primitive_chain(m, seed):
    rng = np.random.default_rng(seed)
    return 0.5 * np.eye(m) + 0.5 * rng.dirichlet(np.ones(m), size=m)  # all entries > 0: primitive


def test_markov_two_point_resolves_the_decay_below_rounding_noise():
    # flip 0.2: I(40) = 8.93e-19, I(60) = 1.19e-27; the naive sum gave ~3e-15 at both
    P = proc.binary_symmetric_chain(0.2)
    got = proc.markov_two_point_mutual_information(P, [40, 60])
    for d, value in zip((40, 60), got):
        exact = _mp_bsc(0.2, d)
        assert abs(value - float(exact)) <= 1e-6 * float(exact), (d, value, exact)
    assert got[0] == pytest.approx(8.9345e-19, rel=1e-4) and got[1] == pytest.approx(1.19432e-27, rel=1e-4)


def test_markov_two_point_matches_mpmath_for_an_asymmetric_chain():
    P = np.array([[0.8, 0.15, 0.05], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5]])
    ds = [1, 7, 30, 60, 100]
    got = proc.markov_two_point_mutual_information(P, ds)
    for d, value in zip(ds, got):
        exact = float(_mp_markov_two_point(P, d))
        assert abs(value - exact) <= 1e-6 * exact, (d, value, exact)


def test_markov_two_point_any_order_of_distances():
    P = np.array([[0.8, 0.15, 0.05], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5]])
    ds = [60, 3, 40, 3, 1]
    got = proc.markov_two_point_mutual_information(P, ds)
    np.testing.assert_allclose(got, [proc.markov_two_point_mutual_information(P, [d])[0] for d in ds], rtol=1e-12)


def test_markov_two_point_periodic_chain_is_exact():
    # period 2: P^d alternates, C^d = P^d - 1 pi^T does not decay; I = log 2 at every distance
    P = np.array([[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(proc.markov_two_point_mutual_information(P, [1, 2, 51, 100]), math.log(2), rtol=1e-14)


@pytest.mark.parametrize("m,seed", [(2, 0), (3, 1), (3, 2), (4, 3), (5, 4)])
def test_markov_two_point_new_agrees_with_naive_and_is_positive_and_non_increasing(m, seed):
    P = _random_primitive_chain(m, seed)
    ds = list(range(1, 81))
    got = proc.markov_two_point_mutual_information(P, ds)
    # where the MI is large the naive formula is accurate: the two agree to rounding
    for d in range(1, 5):
        assert got[d - 1] == pytest.approx(_naive_markov_two_point(P, d), abs=1e-12)
    # strictly positive and non-increasing (data processing) far below 1e-15, where the naive sum
    # is rounding noise
    assert np.all(got > 0), got
    assert np.all(got[1:] <= got[:-1] * (1 + 1e-9)), got
    assert got[-1] < 1e-20
    for d in (40, 80):
        exact = float(_mp_markov_two_point(P, d))
        assert abs(got[d - 1] - exact) <= 1e-6 * exact, (d, got[d - 1], exact)


def test_phi_is_accurate_and_non_negative():
    rs = np.array([-1.0, -0.5, -1e-2, -3e-3, -1e-9, 0.0, 1e-12, 1e-5, 9.99e-3, 1e-2, 0.3, 5.0, 1e6])
    got = proc._phi(rs)
    assert np.all(got >= 0) and got[5] == 0.0
    with mpmath.workdps(60):
        for r, value in zip(rs, got):
            x = mpmath.mpf(float(r))
            exact = 1 if r == -1 else (1 + x) * mpmath.log1p(x) - x
            assert abs(value - float(exact)) <= 1e-13 * float(exact) + 1e-300, (r, value, exact)


@pytest.mark.parametrize("seed", range(6))
def test_markov_bipartite_matches_enumeration_for_random_chains(seed):
    # property: for any transition matrix (3 or 4 states, some near-deterministic rows) the closed
    # form I(W_l; W_{l+1}) equals the bipartite MI of the enumerated joint at every split
    rng = np.random.default_rng(seed)
    M = 3 + seed % 2
    P = rng.dirichlet(np.full(M, 0.3 if seed % 3 else 2.0), size=M)
    expected = proc.markov_bipartite_mutual_information(P)
    joint = proc.markov_joint(P, 5)
    for ell in range(1, 5):
        assert info.bipartite_mutual_information(joint, ell) == pytest.approx(expected, abs=1e-11)
