"""Tests for l2m_utils.hmm (chapter 2): exact HMM mutual information against brute force."""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2m_utils import information
from l2m_utils.hmm import (
    HMM,
    MAX_FORWARD_ENTRIES,
    block_entropies,
    block_probabilities,
    equal_split_mi_curve,
    forward_entries,
    hmm_bipartite_mutual_information,
    hmm_two_point_mutual_information,
    random_hmm,
    state_entropy_bound,
    sticky_copy_hmm,
)
from l2m_utils.processes import (
    binary_symmetric_chain,
    markov_bipartite_mutual_information,
    markov_two_point_mutual_information,
    stationary_distribution,
)


def brute_force_joint(hmm: HMM, length: int) -> np.ndarray:
    """p(x_{1:L}) = sum over all hidden paths, by explicit enumeration (independent of the forward pass)."""
    K, M = hmm.n_states, hmm.n_outputs
    T, E, pi = hmm.transition, hmm.emission, hmm.initial
    joint = np.zeros((M,) * length)
    for x in itertools.product(range(M), repeat=length):
        total = 0.0
        for s in itertools.product(range(K), repeat=length):
            p = pi[s[0]] * E[s[0], x[0]]
            for t in range(1, length):
                p *= T[s[t - 1], s[t]] * E[s[t], x[t]]
            total += p
        joint[x] = total
    return joint


@pytest.mark.parametrize("K,M,L,seed", [(2, 2, 4, 0), (3, 2, 5, 1), (2, 3, 4, 2)])
def test_matches_dense_enumeration(K, M, L, seed):
    hmm = random_hmm(K, M, seed=seed, stay=0.5)
    dense = brute_force_joint(hmm, L)
    np.testing.assert_allclose(block_probabilities(hmm, L), dense, atol=1e-14)
    for ell in range(1, L):
        expected = information.bipartite_mutual_information(dense, ell)
        assert hmm_bipartite_mutual_information(hmm, L, ell) == pytest.approx(expected, abs=1e-12)
    H = block_entropies(hmm, L)
    for t in range(1, L + 1):
        assert H[t - 1] == pytest.approx(information.entropy(brute_force_joint(hmm, t)), abs=1e-12)


def test_a_start_off_stationary_by_1e_6_is_not_called_stationary():
    hmm = random_hmm(3, 2, seed=5, stay=0.3)
    init = stationary_distribution(hmm.transition) + np.array([1e-6, -1e-6, 0.0])
    near = HMM(hmm.transition, hmm.emission, initial=init)
    assert not near.stationary
    dense = brute_force_joint(near, 5)
    assert hmm_bipartite_mutual_information(near, 5, 2) == pytest.approx(
        information.bipartite_mutual_information(dense, 2), abs=1e-12)


def test_nonstationary_start_matches_dense():
    hmm = random_hmm(3, 2, seed=5, stay=0.3)
    hmm_ns = HMM(hmm.transition, hmm.emission, initial=[1.0, 0.0, 0.0])
    assert not hmm_ns.stationary
    dense = brute_force_joint(hmm_ns, 5)
    for ell in (1, 2, 3, 4):
        assert hmm_bipartite_mutual_information(hmm_ns, 5, ell) == pytest.approx(
            information.bipartite_mutual_information(dense, ell), abs=1e-12
        )


def test_two_point_matches_dense():
    hmm = random_hmm(3, 3, seed=3, stay=0.6)
    dense = brute_force_joint(hmm, 4)
    expected = [information.two_point_mutual_information(dense, 0, d) for d in (1, 2, 3)]
    np.testing.assert_allclose(hmm_two_point_mutual_information(hmm, [1, 2, 3]), expected, atol=1e-12)
    expected_i2 = information.two_point_mutual_information(dense, 1, 3)
    assert hmm_two_point_mutual_information(hmm, [2], i=2)[0] == pytest.approx(expected_i2, abs=1e-12)


def test_equal_split_curve_matches_single_calls():
    hmm = random_hmm(3, 2, seed=7, stay=0.8)
    lengths, mi = equal_split_mi_curve(hmm, 10)
    assert list(lengths) == [2, 4, 6, 8, 10]
    for L, v in zip(lengths, mi):
        assert v == pytest.approx(hmm_bipartite_mutual_information(hmm, int(L)), abs=1e-12)


def test_markov_chain_as_hmm():
    # identity emission: the output is the chain itself, bipartite MI = I(W_l; W_{l+1}) for every L
    P = binary_symmetric_chain(0.2)
    hmm = HMM(P, np.eye(2))
    expected = markov_bipartite_mutual_information(P)
    for L in (2, 5, 9):
        assert hmm_bipartite_mutual_information(hmm, L) == pytest.approx(expected, abs=1e-12)


def test_iid_k1_gives_zero():
    hmm = HMM([[1.0]], [[0.2, 0.3, 0.5]])
    _, mi = equal_split_mi_curve(hmm, 8)
    np.testing.assert_allclose(mi, 0.0, atol=1e-12)
    H = block_entropies(hmm, 4)
    h1 = -np.sum(np.array([0.2, 0.3, 0.5]) * np.log([0.2, 0.3, 0.5]))
    np.testing.assert_allclose(H, h1 * np.arange(1, 5), rtol=1e-12)
    assert hmm_two_point_mutual_information(hmm, [1, 5])[0] == pytest.approx(0.0, abs=1e-15)


def test_saturates_and_is_monotone():
    hmm = random_hmm(3, 2, seed=11, stay=0.2)  # fast mixing: saturates quickly
    _, mi = equal_split_mi_curve(hmm, 20)
    assert np.all(np.diff(mi) >= -1e-12)  # stationary: I(L) non-decreasing in L
    assert mi[-1] - mi[-3] < 1e-4
    assert mi[-1] <= state_entropy_bound(hmm) <= math.log(3) + 1e-12


def test_sticky_copy_approaches_log_k():
    hmm = sticky_copy_hmm(2, 2, stay=0.99, noise=0.0)  # outputs reveal the state exactly
    _, mi = equal_split_mi_curve(hmm, 16)
    # I(X;Y) = I(S_l; S_{l+1}) here; close to log 2 for a very sticky chain
    assert mi[-1] == pytest.approx(markov_bipartite_mutual_information(hmm.transition), abs=1e-10)
    assert 0.6 < mi[-1] < math.log(2)


def test_noisy_sticky_copy_stays_strictly_below_its_hidden_chain():
    # past -> S_l -> S_{l+1} -> future: I(X;Y) <= I(S_l;S_{l+1}) < log K, strictly once noise > 0
    clean = markov_bipartite_mutual_information(sticky_copy_hmm(3, 3, stay=0.95, noise=0.0).transition)
    _, mi = equal_split_mi_curve(sticky_copy_hmm(3, 3, stay=0.95, noise=0.3), 12)
    assert np.all(np.diff(mi) >= -1e-12)  # the equal-split curve never decreases
    assert mi[-1] < clean - 0.01 and clean < math.log(3)
    assert mi[-1] > mi[0] + 0.05  # more tokens do reveal more of the state


@settings(max_examples=40, deadline=None)
@given(
    K=st.integers(1, 4),
    M=st.integers(2, 3),
    L=st.integers(2, 7),
    seed=st.integers(0, 2**31 - 1),
    stay=st.floats(0.0, 0.99),
    conc=st.floats(0.1, 3.0),
)
def test_mi_between_zero_and_log_k(K, M, L, seed, stay, conc):
    hmm = random_hmm(K, M, seed=seed, stay=stay, concentration=conc)
    for ell in range(1, L):
        mi = hmm_bipartite_mutual_information(hmm, L, ell)
        assert mi >= 0.0
        assert mi <= state_entropy_bound(hmm) + 1e-9
        assert mi <= math.log(K) + 1e-9
        assert mi <= min(ell, L - ell) * math.log(M) + 1e-9


def test_random_hmm_is_reproducible():
    a, b = random_hmm(3, 2, seed=4, stay=0.9), random_hmm(3, 2, seed=4, stay=0.9)
    np.testing.assert_array_equal(a.transition, b.transition)
    np.testing.assert_array_equal(a.emission, b.emission)
    assert not np.array_equal(a.emission, random_hmm(3, 2, seed=5, stay=0.9).emission)


# --------------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------------


def test_size_guard():
    hmm = random_hmm(2, 4, seed=0)
    with pytest.raises(ValueError, match="limit"):
        block_entropies(hmm, 30)


def test_forward_entries_counts_the_largest_array_and_the_guard_uses_it():
    # K < M: the block probabilities (M^L) outgrow the last forward step (M^(L-1) K)
    assert forward_entries(5, 3, 2) == 3.0**5
    # K = M: equal; K > M cannot occur for the structured HMMs but is counted too
    assert forward_entries(5, 3, 3) == 3.0**5
    assert forward_entries(5, 2, 8) == 2.0**4 * 8
    # the guard refuses exactly the first length whose largest array passes the limit: 3^16 > 2^25 >= 3^15
    assert forward_entries(15, 3, 2) <= MAX_FORWARD_ENTRIES < forward_entries(16, 3, 2)
    with pytest.raises(ValueError, match="M=3 symbols over L=16 tokens needs 4.3e"):
        block_entropies(random_hmm(2, 3, seed=0), 16)


def test_bad_matrices():
    with pytest.raises(ValueError, match="square"):
        HMM(np.ones((2, 3)) / 3, np.ones((2, 2)) / 2)
    with pytest.raises(ValueError, match="emission must have shape"):
        HMM(np.eye(2), np.ones((3, 2)) / 2)
    with pytest.raises(ValueError, match="rows must sum to 1"):
        HMM([[0.5, 0.6], [0.5, 0.5]], np.ones((2, 2)) / 2)
    with pytest.raises(ValueError, match="reducible"):
        HMM(np.eye(2), np.ones((2, 2)) / 2)
    with pytest.raises(ValueError, match="initial"):
        HMM(binary_symmetric_chain(0.1), np.eye(2), initial=[1.0, 0.0, 0.0])


def test_bad_arguments():
    hmm = random_hmm(2, 2, seed=0)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        hmm_bipartite_mutual_information(hmm, 1)
    with pytest.raises(ValueError, match="split"):
        hmm_bipartite_mutual_information(hmm, 6, 6)
    with pytest.raises(ValueError, match=r"split ell must be an integer in \[1, 5\] \(1 <= ell <= L-1\), got 2.9"):
        hmm_bipartite_mutual_information(hmm, 6, 2.9)  # not read as ell = 2
    with pytest.raises(ValueError, match=r"split ell must be an integer in \[1, 3\] \(1 <= ell <= L-1\), got True"):
        hmm_bipartite_mutual_information(hmm, 4, True)
    for bad in (2.9, 2.0, True, 0):
        with pytest.raises(ValueError, match="cut ell must be a positive integer"):
            state_entropy_bound(hmm, bad)
    # a non-stationary HMM's bound H(S_l) depends on the cut: no default for it
    started = HMM(hmm.transition, hmm.emission, initial=[1.0, 0.0])
    with pytest.raises(ValueError, match="pass ell"):
        state_entropy_bound(started)
    assert state_entropy_bound(started, 1) == 0.0  # S_1 is known
    # the default split is L // 2; a stationary chain cannot show it (I at l equals I at L - l there)
    h3 = random_hmm(3, 2, seed=5, stay=0.3)
    ns = HMM(h3.transition, h3.emission, initial=[1.0, 0.0, 0.0])
    assert hmm_bipartite_mutual_information(ns, 5) == hmm_bipartite_mutual_information(ns, 5, 2)
    assert hmm_bipartite_mutual_information(ns, 5, 2) != pytest.approx(hmm_bipartite_mutual_information(ns, 5, 3))
    assert state_entropy_bound(hmm) == state_entropy_bound(hmm, 5)  # stationary: every cut alike
    with pytest.raises(ValueError, match="block length"):
        block_entropies(hmm, 0)
    with pytest.raises(ValueError, match="distance"):
        hmm_two_point_mutual_information(hmm, [0])
    with pytest.raises(ValueError, match="stay"):
        random_hmm(2, 2, seed=0, stay=1.0)
    with pytest.raises(ValueError, match="n_outputs"):
        sticky_copy_hmm(3, 2, stay=0.5, noise=0.1)
    with pytest.raises(ValueError, match="stationary"):
        equal_split_mi_curve(HMM(hmm.transition, hmm.emission, initial=[1.0, 0.0]), 4)


# --------------------------------------------------------------------------------------------------
# two-point MI far below rounding noise (no cancellation)
# --------------------------------------------------------------------------------------------------



def _mp_rows(A):
    """A float matrix (or vector) in mpmath with rows rescaled to sum to 1 exactly."""
    rows = [[mpmath.mpf(float(x)) for x in row] for row in np.atleast_2d(A)]
    return [[x / sum(row) for x in row] for row in rows]


def _mp_hmm_two_point(hmm: HMM, d: int, i: int = 1, dps: int = 300) -> float:
    """I(W_i; W_{i+d}) by brute force in mpmath: J_ab = sum_{s,s'} pi_i(s) E[s,a] (T^d)[s,s'] E[s',b],
    then sum J log(J / (p_a p_b)) from the definition, at ``dps`` digits."""
    with mpmath.workdps(dps):
        K, M = hmm.n_states, hmm.n_outputs
        T, E = mpmath.matrix(_mp_rows(hmm.transition)), mpmath.matrix(_mp_rows(hmm.emission))
        start = mpmath.matrix(_mp_rows(hmm.initial))  # (1, K)
        pi_i = start * T ** (i - 1)
        Td = T ** d
        J = [[mpmath.fsum(pi_i[0, s] * E[s, a] * Td[s, t] * E[t, b] for s in range(K) for t in range(K))
              for b in range(M)] for a in range(M)]
        pa = [mpmath.fsum(J[a]) for a in range(M)]
        pb = [mpmath.fsum(J[a][b] for a in range(M)) for b in range(M)]
        return float(mpmath.fsum(J[a][b] * mpmath.log(J[a][b] / (pa[a] * pb[b]))
                                 for a in range(M) for b in range(M) if J[a][b] > 0))


def _naive_hmm_two_point(hmm: HMM, d: int, i: int = 1) -> float:
    """The textbook sum J log(J / (p_a p_b)), accurate while the MI is large."""
    T, E = hmm.transition, hmm.emission
    joint = E.T @ (hmm.state_distribution(i)[:, None] * np.linalg.matrix_power(T, d)) @ E
    prod = joint.sum(axis=1)[:, None] * joint.sum(axis=0)[None, :]
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / prod[nz])).sum())


def test_two_point_identity_emission_equals_the_markov_chain_far_below_rounding_noise():
    # identity emissions: the outputs are the chain, I(40) = 8.93e-19, I(60) = 1.19e-27 (the naive sum
    # gave 0 after clamping its rounding noise)
    P = binary_symmetric_chain(0.2)
    got = hmm_two_point_mutual_information(HMM(P, np.eye(2)), [40, 60])
    with mpmath.workdps(100):
        for d, value in zip((40, 60), got):
            q = (1 + (1 - 2 * mpmath.mpf(0.2)) ** d) / 2
            exact = float(mpmath.log(2) + q * mpmath.log(q) + (1 - q) * mpmath.log(1 - q))
            assert abs(value - exact) <= 1e-6 * exact, (d, value, exact)
    np.testing.assert_allclose(got, markov_two_point_mutual_information(P, [40, 60]), rtol=1e-10)


def test_two_point_sticky_copy_matches_mpmath_brute_force():
    hmm = sticky_copy_hmm(3, 3, stay=0.9, noise=0.3)
    ds = [1, 100, 200, 300]
    got = hmm_two_point_mutual_information(hmm, ds)
    for d, value in zip(ds, got):
        exact = _mp_hmm_two_point(hmm, d)
        assert abs(value - exact) <= 1e-6 * exact, (d, value, exact)
    assert got[2] < 1e-18  # the naive sum gave 4e-15 of rounding noise here


@pytest.mark.parametrize("i", [2, 4])
def test_two_point_nonstationary_start_matches_mpmath_brute_force(i):
    base = random_hmm(3, 2, seed=5, stay=0.3)
    hmm = HMM(base.transition, base.emission, initial=[1.0, 0.0, 0.0])
    assert not hmm.stationary
    # i = 1: S_1 is known, so W_1 is independent of everything after it: exactly 0, not rounding noise
    assert hmm_two_point_mutual_information(hmm, [1, 30]).tolist() == [0.0, 0.0]
    ds = [2, 20, 40, 60]
    got = hmm_two_point_mutual_information(hmm, ds, i=i)
    for d, value in zip(ds, got):
        exact = _mp_hmm_two_point(hmm, d, i=i)
        assert abs(value - exact) <= 1e-6 * exact, (d, value, exact)


@pytest.mark.parametrize("K,M,seed,stay,start", [(2, 2, 0, 0.5, None), (3, 2, 1, 0.7, None), (3, 3, 2, 0.2, None),
                                                 (4, 3, 3, 0.4, [0.7, 0.1, 0.1, 0.1]), (3, 4, 4, 0.5, [0.0, 0.0, 1.0])])
def test_two_point_agrees_with_naive_where_large_and_is_positive(K, M, seed, stay, start):
    base = random_hmm(K, M, seed=seed, stay=stay)
    hmm = base if start is None else HMM(base.transition, base.emission, initial=start)
    ds = list(range(1, 61))
    got = hmm_two_point_mutual_information(hmm, ds, i=2)
    for d in (1, 2, 3):
        assert got[d - 1] == pytest.approx(_naive_hmm_two_point(hmm, d, i=2), abs=1e-12)
    assert np.all(got > 0), got
    assert got[-1] < 1e-16
    for d in (30, 60):
        exact = _mp_hmm_two_point(hmm, d, i=2)
        assert abs(got[d - 1] - exact) <= 1e-6 * exact, (d, got[d - 1], exact)


def test_two_point_any_order_of_distances_and_empty():
    hmm = random_hmm(3, 3, seed=3, stay=0.6)
    ds = [40, 2, 40, np.int64(1), 7]
    np.testing.assert_allclose(hmm_two_point_mutual_information(hmm, ds),
                               [hmm_two_point_mutual_information(hmm, [d])[0] for d in ds], rtol=1e-12)
    with pytest.raises(ValueError, match="distance must be a positive integer, got 1.0"):
        hmm_two_point_mutual_information(hmm, [2, 1.0])  # a float is refused, as everywhere in l2m_utils
    with pytest.raises(ValueError, match="distances must name at least one distance, got none"):
        hmm_two_point_mutual_information(hmm, [])  # as the Markov-chain version: one check for both
    assert hmm_two_point_mutual_information(HMM([[1.0]], [[0.2, 0.3, 0.5]]), [1, 50]).tolist() == [0.0, 0.0]
