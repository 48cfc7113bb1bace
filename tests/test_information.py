"""Exact information-theoretic helpers (chapter 1) against hand-computed values and invariants."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from l2m_utils import information as info

LOG2 = math.log(2)


def test_entropy_known_values():
    assert info.entropy([0.5, 0.5]) == pytest.approx(LOG2, abs=1e-15)
    assert info.entropy([1.0, 0.0, 0.0]) == 0.0
    assert info.entropy(np.full(8, 1 / 8)) == pytest.approx(3 * LOG2)
    p = np.array([0.25, 0.75])
    assert info.entropy(p) == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))


def test_mutual_information_independent_and_copied():
    assert info.mutual_information(np.full((2, 3), 1 / 6), [0], [1]) == pytest.approx(0, abs=1e-15)
    copied = np.diag(np.full(4, 0.25))
    assert info.mutual_information(copied, [0], [1]) == pytest.approx(math.log(4))


def test_hand_computed_binary_symmetric_channel():
    # X fair, Y = X flipped with prob 0.1: I = log 2 - h(0.1)
    e = 0.1
    p = 0.5 * np.array([[1 - e, e], [e, 1 - e]])
    h = -(e * math.log(e) + (1 - e) * math.log(1 - e))
    assert info.mutual_information(p, [0], [1]) == pytest.approx(LOG2 - h, abs=1e-14)
    assert info.conditional_entropy(p, [1], [0]) == pytest.approx(h, abs=1e-14)


def test_marginal_keeps_axis_order():
    rng = np.random.default_rng(0)
    p = rng.random((2, 3, 4))
    p /= p.sum()
    m = info.marginal(p, [2, 0])
    assert m.shape == (4, 2)
    np.testing.assert_allclose(m, p.sum(axis=1).T)


def test_conditional_mutual_information_xor():
    # Z = X xor Y with X, Y fair independent bits: I(X;Y) = 0 but I(X;Y|Z) = log 2
    p = np.zeros((2, 2, 2))
    for x in range(2):
        for y in range(2):
            p[x, y, x ^ y] = 0.25
    assert info.mutual_information(p, [0], [1]) == pytest.approx(0, abs=1e-15)
    assert info.conditional_mutual_information(p, [0], [1], [2]) == pytest.approx(LOG2)


def test_bipartite_and_chain_rule_sum():
    rng = np.random.default_rng(1)
    p = rng.random((2,) * 6)
    p /= p.sum()
    for ell in range(1, 6):
        terms = info.chain_rule_terms(p, ell)
        assert terms.shape == (ell, 6 - ell)
        assert terms.sum() == pytest.approx(info.bipartite_mutual_information(p, ell), abs=1e-12)


def test_joint_from_sequences_counts_weights():
    seqs = np.array([[0, 1], [0, 1], [1, 0]])
    p = info.joint_from_sequences(seqs, 2)
    np.testing.assert_allclose(p, [[0, 2 / 3], [1 / 3, 0]])


def test_gaussian_mutual_information_bivariate():
    for rho in (-0.9, -0.3, 0.0, 0.5, 0.99):
        cov = np.array([[1.0, rho], [rho, 1.0]])
        assert info.gaussian_mutual_information(cov, [0], [1]) == pytest.approx(-0.5 * math.log(1 - rho**2), abs=1e-12)


def test_gaussian_mutual_information_scaling_invariant_and_entropy():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(5, 5))
    cov = a @ a.T + 0.5 * np.eye(5)
    d = np.diag([1.0, 3.0, 0.5, 2.0, 7.0])
    i1 = info.gaussian_mutual_information(cov, [0, 1], [2, 3, 4])
    i2 = info.gaussian_mutual_information(d @ cov @ d, [0, 1], [2, 3, 4])
    assert i1 == pytest.approx(i2, rel=1e-10)
    assert info.gaussian_entropy(np.eye(3)) == pytest.approx(1.5 * math.log(2 * math.pi * math.e))
    assert info.logdet_spd(np.diag([2.0, 3.0])) == pytest.approx(math.log(6))


def _log_determinant_form(cov: np.ndarray, x: list[int], y: list[int]) -> float:
    """½ (log det Σ_X + log det Σ_Y - log det Σ_XY): the textbook form, to compare with."""
    return 0.5 * (info.logdet_spd(cov[np.ix_(x, x)]) + info.logdet_spd(cov[np.ix_(y, y)])
                  - info.logdet_spd(cov[np.ix_(x + y, x + y)]))


def test_gaussian_mutual_information_keeps_tiny_values_and_exact_zeros():
    """Canonical correlations, not three cancelling log-determinants: an AR(1) two-point MI of 1e-37
    nats matches the closed form, and independent, badly scaled blocks give exactly 0."""
    from l2m_utils import processes as proc

    phi = 0.5
    cov = proc.ar1_covariance(phi, 80)
    for d in (1, 10, 30, 60):
        assert info.gaussian_mutual_information(cov, [0], [d]) == pytest.approx(-0.5 * math.log1p(-phi ** (2 * d)), rel=1e-12)
    blocks = np.zeros((4, 4))
    blocks[:2, :2], blocks[2:, 2:] = np.diag([1e5, 1e-5]), np.diag([3e4, 2e-6])
    assert info.gaussian_mutual_information(blocks, [0, 1], [2, 3]) == 0.0
    # a joint block so nearly singular that a canonical correlation rounds to 1: the log-determinant form
    b = np.random.default_rng(0).normal(size=(5, 4))
    c = b @ b.T + 1e-16 * np.eye(5)
    x, y = [0, 1, 2], [3, 4]
    assert info.gaussian_mutual_information(c, x, y) == pytest.approx(_log_determinant_form(c, x, y), rel=1e-12)
    nearly_one = 1 - 1e-13  # a nearly singular joint block: still finite and right
    assert info.gaussian_mutual_information(np.array([[1, nearly_one], [nearly_one, 1]]), [0], [1]) == pytest.approx(
        -0.5 * math.log(1 - nearly_one**2), rel=1e-3)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 4), st.integers(1, 4))
def test_gaussian_mutual_information_equals_the_log_determinant_form(seed, nx, ny):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(nx + ny, nx + ny))
    cov = a @ a.T + 0.1 * np.eye(nx + ny)
    x, y = list(range(nx)), list(range(nx, nx + ny))
    got = info.gaussian_mutual_information(cov, x, y)
    assert got >= 0 and got == pytest.approx(_log_determinant_form(cov, x, y), rel=1e-8, abs=1e-10)


@st.composite
def joint_distributions(draw, max_vars=4):
    n = draw(st.integers(2, max_vars))
    shape = tuple(draw(st.integers(1, 3)) for _ in range(n))
    w = draw(arrays(np.float64, shape, elements=st.floats(0, 1, allow_nan=False)))
    if w.sum() <= 1e-6:
        w = np.ones(shape)
    return w / w.sum()


@settings(max_examples=150, deadline=None)
@given(joint_distributions())
def test_mi_invariants(p):
    n = p.ndim
    x, y = [0], list(range(1, n))
    i_xy = info.mutual_information(p, x, y)
    i_yx = info.mutual_information(p, y, x)
    h_x, h_y = info.entropy(info.marginal(p, x)), info.entropy(info.marginal(p, y))
    assert i_xy >= 0
    assert i_xy == pytest.approx(i_yx, abs=1e-12)
    assert i_xy <= min(h_x, h_y) + 1e-12
    assert info.conditional_entropy(p, y, x) >= -1e-12
    assert info.entropy(p) <= h_x + h_y + 1e-12


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([0.5, 0.6]), "sum to 1"),
        (np.array([1.5, -0.5]), "negative"),
        (np.array([np.nan, 1.0]), "NaN"),
        (np.array([]), "non-empty"),
    ],
)
def test_bad_distributions_raise(bad, message):
    with pytest.raises(ValueError, match=message):
        info.entropy(bad)


def test_gaussian_mutual_information_refuses_fractional_indices():
    cov = np.array([[1.0, 0.5], [0.5, 1.0]])
    with pytest.raises(ValueError, match="x must be integer variable indices"):
        info.gaussian_mutual_information(cov, [0.7], [1])  # would silently be variable 0


def test_bad_axes_and_splits_raise():
    p = np.full((2, 2, 2), 1 / 8)
    with pytest.raises(ValueError, match="out of range"):
        info.mutual_information(p, [0], [3])
    with pytest.raises(ValueError, match="disjoint"):
        info.mutual_information(p, [0, 1], [1])
    with pytest.raises(ValueError, match="split ell=3"):
        info.bipartite_mutual_information(p, 3)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        info.bipartite_mutual_information(np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="two different positions"):
        info.two_point_mutual_information(p, 1, 1)


def test_bad_sequences_and_sizes_raise():
    with pytest.raises(ValueError, match="shape"):
        info.joint_from_sequences(np.array([0, 1]), 2)
    with pytest.raises(ValueError, match="lie in"):
        info.joint_from_sequences(np.array([[0, 2]]), 2)
    with pytest.raises(ValueError, match="more than the limit"):
        info.joint_from_sequences(np.zeros((1, 40), dtype=int), 2)


def test_bad_covariances_raise():
    with pytest.raises(ValueError, match="not symmetric"):
        info.gaussian_mutual_information(np.array([[1.0, 0.5], [0.0, 1.0]]), [0], [1])
    with pytest.raises(ValueError, match="not positive definite"):
        info.gaussian_mutual_information(np.array([[1.0, 2.0], [2.0, 1.0]]), [0], [1])
    with pytest.raises(ValueError, match="NaN"):
        info.logdet_spd(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="square"):
        info.logdet_spd(np.ones((2, 3)))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: info.mutual_information(p, [0.0], [1.9]), "x must be integer variable indices, got 0.0"),
        (lambda p: info.mutual_information(p, [0], [1.9]), "y must be integer variable indices, got 1.9"),
        (lambda p: info.mutual_information(p, [True], [1]), "x must be integer variable indices, got True"),
        (lambda p: info.conditional_mutual_information(p, [0], [1], [2.5]), "z must be integer variable indices"),
        (lambda p: info.conditional_entropy(p, [0], [1.0]), "given must be integer variable indices, got 1.0"),
        (lambda p: info.marginal(p, [0.5]), "axes must be integer variable indices, got 0.5"),
        (lambda p: info.two_point_mutual_information(p, 0.2, 1), "i must be an integer position, got 0.2"),
        (lambda p: info.two_point_mutual_information(p, 0, 2.0), "j must be an integer position, got 2.0"),
        (lambda p: info.bipartite_mutual_information(p, 1.5), "split ell must be an integer, got 1.5"),
        (lambda p: info.chain_rule_terms(p, 1.0), "split ell must be an integer, got 1.0"),
    ],
)
def test_non_integer_variable_indices_raise(call, message):
    # like gaussian_mutual_information: no silent truncation (0.0 -> 0, 1.9 -> 1); integral floats too
    with pytest.raises(ValueError, match=message):
        call(np.full((2, 2, 2), 1 / 8))


def test_numpy_integer_indices_are_accepted():
    p = np.diag([0.5, 0.5])
    assert info.mutual_information(p, np.array([0]), [np.int64(1)]) == pytest.approx(math.log(2))
    assert info.two_point_mutual_information(p, np.int32(0), np.int64(1)) == pytest.approx(math.log(2))
    assert info.bipartite_mutual_information(p, np.int64(1)) == pytest.approx(math.log(2))


def test_gaussian_entropy_validates_before_reading_the_shape():
    with pytest.raises(ValueError, match=r"covariance must be a non-empty square matrix, got shape \(\)"):
        info.gaussian_entropy(2.0)
    with pytest.raises(ValueError, match=r"got shape \(3,\)"):
        info.gaussian_entropy(np.ones(3))


def test_gaussian_mutual_information_refuses_repeated_indices():
    cov = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.5], [0.2, 0.5, 1.0]])
    with pytest.raises(ValueError, match=r"x repeats a variable: x=\[0, 0\]"):
        info.gaussian_mutual_information(cov, [0, 0], [1])
    with pytest.raises(ValueError, match=r"y repeats a variable: y=\[2, 1, 2\]"):
        info.gaussian_mutual_information(cov, [0], [2, 1, 2])
    with pytest.raises(ValueError, match="x and y must be disjoint"):
        info.gaussian_mutual_information(cov, [0, 1], [1, 2])


# ---- cases a mutation audit found missing: each fails on a plausible slip that the tests above let through ----


def test_conditional_entropy_of_an_asymmetric_channel_by_hand():
    p = np.array([[0.5, 0.0], [0.25, 0.25]])  # X fair; Y=0 if X=0, fair coin if X=1
    assert info.conditional_entropy(p, [1], [0]) == pytest.approx(0.5 * math.log(2), abs=1e-14)
    h_y = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert info.conditional_entropy(p, [0], [1]) == pytest.approx(1.5 * math.log(2) - h_y, abs=1e-14)


def test_the_default_split_of_an_odd_block_is_its_first_half():
    p = np.zeros((2, 2, 2)); p[0, 0, :] = 0.25; p[1, 1, :] = 0.25  # W1 = W2, W3 independent
    assert info.bipartite_mutual_information(p) == pytest.approx(math.log(2), abs=1e-14)  # ell = 1
    assert info.chain_rule_terms(p).shape == (1, 2)


def test_marginal_keeps_the_order_of_three_axes():
    rng = np.random.default_rng(0); p = rng.random((2, 3, 4)); p /= p.sum()
    np.testing.assert_allclose(info.marginal(p, [2, 0, 1]), np.transpose(p, (2, 0, 1)))


def test_check_tokens_needs_an_integer_vocabulary():
    assert info.check_tokens(np.array([[0, 2]]), np.int64(3)).dtype == np.int64
    for bad in (math.nan, 2.5, 0, True):
        with pytest.raises(ValueError, match="vocab_size must be a positive integer"):
            info.check_tokens(np.array([[0, 1]]), bad)
