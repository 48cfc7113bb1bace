"""Tests for l2m_utils.gaussian_sequences (chapter 5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from l2m_utils import gaussian_sequences as gs
from l2m_utils.fits import fit_power_law
from l2m_utils.information import gaussian_entropy, gaussian_mutual_information, logdet_spd

LOG4_3 = math.log(3) / math.log(4)


# --------------------------------------------------------------------------------------------------
# a slow, literal implementation of the construction, to check the fast one against
# --------------------------------------------------------------------------------------------------

def literal_covariance(depth: int, k: int, boundary: bool) -> np.ndarray:
    """Build the covariance as T T^T with T the explicit linear map from iid noise (loops)."""
    m = gs.mixing_matrix()
    cov = np.ones((1, 1))
    for level in range(1, depth + 1):
        n = cov.shape[0]
        a = np.linalg.cholesky(cov)  # previous layer = a @ (iid), one fresh iid block per copy
        t = np.zeros((4 * n, 4 * n))
        for r in range(n):
            for row in range(4):
                for col in range(4):
                    if col < k:  # copy `col` of the previous layer, entry r
                        t[4 * r + row, col * n : (col + 1) * n] += m[row, col] * a[r]
                    else:  # fresh noise entry r of column `col`
                        t[4 * r + row, col * n + r] += m[row, col]
        cov = t @ t.T
        if boundary and level >= 2:
            for i in range(n - 1):  # one pair at a time
                p, q = 4 * i + 3, 4 * i + 4
                target = (cov[4 * i + 2, p] + cov[q, 4 * i + 5]) / 5 + 2 / 5
                alpha, beta = gs.boundary_coefficients(cov[p, q], target)
                tb = np.eye(4 * n)
                tb[p, p] = tb[q, q] = alpha
                tb[p, q] = tb[q, p] = beta
                cov = tb @ cov @ tb.T
    return cov


@pytest.fixture(scope="module")
def covs() -> dict[tuple[str, int], np.ndarray]:
    """Covariances of both families at depths 1..6 (built once)."""
    return {(fam, d): gs.sequence_covariance(d, fam) for fam in ("subvolume", "log") for d in range(1, 7)}


@pytest.fixture(scope="module")
def mi_by_depth() -> np.ndarray:
    """Exact equal-split MI of the sub-volume family at depths 1..7 (cut recursion; < 1 s)."""
    return gs.equal_split_mi_by_depth(7, "subvolume")


# --------------------------------------------------------------------------------------------------
# construction
# --------------------------------------------------------------------------------------------------

def test_mixing_matrix_rows_unit_norm_and_gram():
    m = gs.mixing_matrix()
    gram = m @ m.T
    np.testing.assert_allclose(np.diag(gram), 1.0, atol=1e-15)
    off = gram[~np.eye(4, dtype=bool)]
    np.testing.assert_allclose(off, -0.25, atol=1e-15)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_layer_terms_sum_to_gram(k):
    g, noise = gs.layer_terms(k)
    m = gs.mixing_matrix()
    np.testing.assert_allclose(g + noise, m @ m.T, atol=1e-15)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("boundary", [False, True])
def test_fast_construction_matches_literal(k, depth, boundary):
    np.testing.assert_allclose(
        gs.sequence_covariance(depth, k, boundary), literal_covariance(depth, k, boundary), atol=1e-13
    )


@pytest.mark.parametrize("fam", ["subvolume", "log"])
def test_unit_diagonal_symmetric_positive_definite(covs, fam):
    for d in range(1, 7):
        c = covs[(fam, d)]
        assert c.shape == (4**d, 4**d)
        np.testing.assert_allclose(np.diag(c), 1.0, atol=1e-12)
        assert np.max(np.abs(c - c.T)) < 1e-13
        assert np.all(np.isfinite(c))
        sig = gs.conditional_sigmas(c)  # Cholesky succeeds <=> positive definite
        assert np.all(sig > 0)
        if d <= 5:  # a second route; at d = 6 (4096 x 4096, ~8 s each) the Cholesky above is the check
            assert np.linalg.eigvalsh(c).min() > 0.1  # smallest eigenvalue 0.17-0.25 for d <= 6


@pytest.mark.parametrize("fam", ["subvolume", "log"])
def test_reversal_symmetry(covs, fam):
    c = covs[(fam, 5)]
    np.testing.assert_allclose(c, c[::-1, ::-1], atol=1e-13)


@pytest.mark.parametrize("fam", ["subvolume", "log"])
def test_boundary_step_sets_target_correlation(fam):
    for d in range(2, 5):
        cov = gs.sequence_covariance(d, fam, boundary_step=False)
        if d >= 3:  # lower layers with the boundary step, top layer without
            g, noise = gs.layer_terms(fam)
            cov = gs._mix_layer(gs.sequence_covariance(d - 1, fam), g, noise)
        c_before, target = gs.boundary_targets(cov)
        after = gs.apply_boundary_step(cov.copy())
        n = after.shape[0] // 4
        i = np.arange(n - 1)
        np.testing.assert_allclose(after[4 * i + 3, 4 * i + 4], target, atol=1e-14)
        np.testing.assert_allclose(np.diag(after), 1.0, atol=1e-14)
        # notes' reading: within-row correlations are -1/4, so the target is -1/10 + 2/5 = 0.3
        np.testing.assert_allclose(target, 0.3, atol=1e-14)
        assert np.max(np.abs(after - gs.sequence_covariance(d, fam))) < 1e-14
        assert not np.allclose(c_before, 0.3)


@settings(max_examples=200, deadline=None)
@given(st.floats(-0.95, 0.95), st.floats(-0.95, 0.95))
def test_boundary_coefficients_property(c, c_target):
    alpha, beta = gs.boundary_coefficients(c, c_target)
    var = alpha**2 + beta**2 + 2 * alpha * beta * c
    cov = 2 * alpha * beta + (alpha**2 + beta**2) * c
    assert abs(var - 1) < 1e-12
    assert abs(cov - c_target) < 1e-12
    if abs(c - c_target) < 1e-15:
        assert abs(alpha - 1) < 1e-12 and abs(beta) < 1e-12


@pytest.mark.parametrize("c", [0.3, -0.5, 0.0])
def test_boundary_coefficients_leave_a_pair_already_on_target_alone(c):
    """The property test above reaches c == c_target only by chance: the step is the identity there."""
    assert gs.boundary_coefficients(c, c) == (1.0, 0.0)


def test_layer_covariances_lengths():
    covs_ = gs.layer_covariances(3)
    assert [c.shape[0] for c in covs_] == [4, 16, 64]


# --------------------------------------------------------------------------------------------------
# exact MI
# --------------------------------------------------------------------------------------------------

def test_depth_one_closed_form():
    # Sigma = 5/4 I - 1/4 11^T; equal split 2|2: I = log det S_XX - 1/2 log det S
    i_exact = 0.5 * (2 * math.log(1 - 1 / 16) - math.log((5 / 4) ** 3 * (1 / 4)))
    assert abs(gs.equal_split_mi(1) - i_exact) < 1e-14


@pytest.mark.parametrize("fam", ["subvolume", "log"])
def test_bipartite_mi_matches_generic_helper(covs, fam):
    for d in (2, 3, 4):
        c = covs[(fam, d)]
        L = c.shape[0]
        for ell in (1, L // 4, L // 2, L - 1):
            ref = gaussian_mutual_information(c, range(ell), range(ell, L))
            assert abs(gs.bipartite_mi(c, ell) - ref) < 1e-10
        prof = gs.bipartite_mi_profile(c)
        assert prof.shape == (L - 1,)
        assert abs(prof[L // 2 - 1] - gs.bipartite_mi(c)) < 1e-10
        assert abs(prof[L // 4 - 1] - gaussian_mutual_information(c, range(L // 4), range(L // 4, L))) < 1e-10


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 12), st.integers(0, 2**31 - 1), st.data())
def test_bipartite_mi_random_spd(n, seed, data):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    c = a @ a.T + 0.1 * np.eye(n)
    ell = data.draw(st.integers(1, n - 1))
    ref = gaussian_mutual_information(c, range(ell), range(ell, n))
    assert abs(gs.bipartite_mi(c, ell) - ref) < 1e-8 * max(1.0, ref)
    assert abs(gs.bipartite_mi_profile(c)[ell - 1] - ref) < 1e-8 * max(1.0, ref)


def test_equal_split_mi_in_place_does_not_change_value(covs):
    c = covs[("subvolume", 4)]
    assert abs(gs.bipartite_mi(c.copy(), overwrite=True) - gs.bipartite_mi(c)) < 1e-12
    assert abs(gs.equal_split_mi(4) - gs.bipartite_mi(c)) < 1e-12


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("boundary", [True, False])
def test_cut_recursion_matches_dense(k, boundary):
    rec = gs.equal_split_mi_by_depth(5, k, boundary)
    dense = np.array([gs.equal_split_mi(d, k, boundary) for d in range(1, 6)])
    np.testing.assert_allclose(rec, dense, rtol=1e-11, atol=1e-12)


def test_cut_recursion_matches_dense_depth6(covs):
    assert abs(gs.equal_split_mi_by_depth(6)[-1] - gs.bipartite_mi(covs[("subvolume", 6)])) < 1e-9


def test_depth7_matches_dense_reference(mi_by_depth):
    # dense value at L = 16384 from benchmarks/bench_gaussian_sequences.py (full 16384^2 Cholesky)
    assert abs(mi_by_depth[6] - 234.358848297262) < 1e-9


@pytest.mark.parametrize("k", [1, 3])
def test_leading_block_is_exact(covs, k):
    fam = "log" if k == 1 else "subvolume"
    g, noise = gs.layer_terms(k)
    for size in (5, 33, 128, 129, 700):
        np.testing.assert_allclose(gs._leading_block(5, size, g, noise, True), covs[(fam, 5)][:size, :size],
                                   atol=1e-14)


def test_mi_triples_asymptotically(mi_by_depth):
    ratios = mi_by_depth[1:] / mi_by_depth[:-1]
    assert np.all(np.diff(ratios) < 0)  # the ratio falls monotonically towards 3
    assert abs(ratios[-1] - 3) < 0.002  # I(16384) / I(4096)
    assert abs(ratios[-2] - 3) < 0.005


def test_fitted_exponent_close_to_log4_3(mi_by_depth):
    lengths = 4.0 ** np.arange(3, 8)
    beta = fit_power_law(lengths, mi_by_depth[2:]).exponent
    assert abs(beta - LOG4_3) < 0.02


def test_64_copy_values_match_notes(mi_by_depth):
    # notes §4: "≈ 183, 554, 1665, 4998, 15000 nats at L = 64 ... 16384 (our reconstruction)"
    np.testing.assert_allclose(64 * mi_by_depth[2:], [183, 554, 1665, 4998, 15000], rtol=2e-3)


def test_log_family_grows_logarithmically(covs):
    mi = gs.equal_split_mi_by_depth(7, "log")
    assert abs(mi[5] - gs.bipartite_mi(covs[("log", 6)])) < 1e-10
    steps = np.diff(mi)[2:]  # increments per factor 4 in L become constant
    assert np.all(steps > 0.04) and np.ptp(steps) < 1e-3
    no_boundary = gs.equal_split_mi_by_depth(6, "log", boundary_step=False)
    np.testing.assert_allclose(no_boundary, no_boundary[0], atol=1e-12)  # a tree: constant


def test_antipodal_two_point_mi_agrees_between_families(covs):
    for d in range(1, 7):
        L = 4**d
        sub = gaussian_mutual_information(covs[("subvolume", d)], [0], [L - 1])
        log = gaussian_mutual_information(covs[("log", d)], [0], [L - 1])
        assert abs(sub - log) < 1e-10
        assert abs(sub - gs.antipodal_two_point_mi(d, "subvolume")) < 1e-12
        assert abs(log - gs.antipodal_two_point_mi(d, "log")) < 1e-12


# --------------------------------------------------------------------------------------------------
# exact conditionals, sampler, KL
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fam", ["subvolume", "log"])
def test_conditionals_whiten_the_sequence(covs, fam):
    c = covs[(fam, 3)]
    coef, sigma = gs.exact_conditionals(c)
    assert np.all(np.triu(coef) == 0)
    eye = np.eye(c.shape[0])
    # innovations w - A w are independent with variances sigma^2
    np.testing.assert_allclose((eye - coef) @ c @ (eye - coef).T, np.diag(sigma**2), atol=1e-12)
    # Schur complement of the leading block at position i
    i = 37
    s = c[i, i] - c[i, :i] @ np.linalg.solve(c[:i, :i], c[:i, i])
    assert abs(sigma[i] ** 2 - s) < 1e-12


@pytest.mark.parametrize("fam", ["subvolume", "log"])
def test_conditional_entropies_sum_to_joint_entropy(covs, fam):
    for d in (2, 4):
        c = covs[(fam, d)]
        assert abs(gs.conditional_entropies(c).sum() - gaussian_entropy(c)) < 1e-9
        assert abs(2 * np.log(gs.conditional_sigmas(c)).sum() - logdet_spd(c)) < 1e-9


def test_sampler_shapes_bos_and_reproducibility():
    s = gs.GaussianSequenceSampler(2, copies=8)
    b = s.sample(3, seed=1)
    assert b.tokens.shape == (3, 17, 8) and b.mu.shape == (3, 16, 8) and b.sigma.shape == (16,)
    assert b.tokens.dtype == torch.float32
    assert torch.all(b.tokens[:, 0] == 0)
    assert torch.equal(b.tokens, s.sample(3, seed=1).tokens)
    assert not torch.equal(b.tokens, s.sample(3, seed=2).tokens)
    g = torch.Generator().manual_seed(1)
    assert torch.equal(b.tokens, s.sample(3, generator=g).tokens)
    b64 = gs.sample_batch(1, 2, seed=0, copies=5)
    assert b64.tokens.shape == (2, 5, 5)


def test_sampler_reproduces_covariance_and_conditional_means():
    cov = gs.sequence_covariance(2)
    s = gs.GaussianSequenceSampler(2, copies=1000, dtype=torch.float64)
    b = s.sample(100, seed=0)  # 10^5 sequences of length 16
    w = b.tokens[:, 1:].permute(0, 2, 1).reshape(-1, 16).numpy()
    emp = w.T @ w / w.shape[0]
    assert np.max(np.abs(emp - cov)) < 0.02  # entries have sd ~ 1/sqrt(10^5) ~ 0.003
    coef, sigma = gs.exact_conditionals(cov)
    mu = b.mu.permute(0, 2, 1).reshape(-1, 16).numpy()
    np.testing.assert_allclose(mu, w @ coef.T, atol=1e-12)
    np.testing.assert_allclose(b.sigma.numpy(), sigma, atol=1e-14)
    resid = (w - mu) / sigma
    assert abs(resid.var() - 1) < 0.01
    # trivial baseline: predicting N(0, 1) costs -mean log sigma on average
    ones = torch.ones_like(b.mu)
    kl0 = gs.exact_kl(torch.zeros_like(b.mu), ones, b.mu, b.sigma).mean().item()
    assert abs(kl0 - gs.trivial_baseline_kl(sigma)) < 0.005


def test_trivial_baseline_matches_notes():
    got = [gs.trivial_baseline_kl(gs.conditional_sigmas(gs.sequence_covariance(d))) for d in (2, 3, 4)]
    np.testing.assert_allclose(got, [0.165, 0.224, 0.268], atol=6e-4)


def test_kl_of_exact_conditionals_is_zero_and_differentiable():
    b = gs.GaussianSequenceSampler(2, copies=4).sample(2, seed=3)
    sig_full = b.sigma[None, :, None].expand_as(b.mu).clone()
    assert torch.all(gs.exact_kl(b.mu, sig_full, b.mu, b.sigma) == 0)
    assert torch.all(gs.exact_kl(b.mu, sig_full, b.mu, sig_full) == 0)
    mu_q = b.mu.clone().requires_grad_(True)
    sig_q = (1.5 * sig_full).requires_grad_(True)
    kl = gs.exact_kl(mu_q, sig_q, b.mu, b.sigma)
    assert kl.shape == (2, 16)
    assert torch.all(kl > 0)
    kl.sum().backward()
    assert torch.all(sig_q.grad > 0)  # sigma_q too large: the gradient pushes it down
    assert torch.allclose(mu_q.grad, torch.zeros_like(mu_q.grad))


def test_kl_closed_form():
    mu_q, s_q = torch.tensor([[[0.5, -1.0]]]), torch.tensor([[[2.0, 0.5]]])
    mu_p, s_p = torch.tensor([[[0.0, 0.0]]]), torch.tensor([1.0])
    expect = np.mean([
        math.log(2.0) + (1 + 0.25) / 8 - 0.5,
        math.log(0.5) + (1 + 1.0) / 0.5 - 0.5,
    ])
    assert abs(gs.exact_kl(mu_q, s_q, mu_p, s_p).item() - expect) < 1e-6


def test_kl_keeps_its_digits_in_float32_near_a_perfect_fit():
    # sigma_q = sigma_p (1 + eps), mu_q = mu_p + eps sigma_p: KL = 3 eps^2/2 (1 + O(eps)) per element;
    # the textbook form cancels O(1) terms and in float32 at eps = 1e-4 returns 0 or garbage
    gen = torch.Generator().manual_seed(0)
    s_p = 0.3 + torch.rand(1, 8, 16, generator=gen, dtype=torch.float64)
    mu_p = torch.randn(1, 8, 16, generator=gen, dtype=torch.float64)
    for eps in (1e-2, 1e-3, 1e-4):
        s_q, mu_q = s_p * (1 + eps), mu_p + eps * s_p
        want = gs.exact_kl(mu_q, s_q, mu_p, s_p)  # float64 reference
        got = gs.exact_kl(mu_q.float(), s_q.float(), mu_p.float(), s_p.float()).double()
        assert torch.allclose(got, want, rtol=1e-2, atol=0), eps
        assert torch.allclose(want, torch.full_like(want, 1.5 * eps**2), rtol=3 * eps)  # eps^2/2 (mean) + eps^2 (sigma)


# --------------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [0, -1, 9, 2.5, True, "3", None])
def test_invalid_depth(depth):
    with pytest.raises(ValueError, match="depth"):
        gs.sequence_covariance(depth)


@pytest.mark.parametrize("fam", ["tree", 0, 5, 2.0, True])
def test_invalid_family(fam):
    with pytest.raises(ValueError, match="family|copies per layer"):
        gs.sequence_covariance(2, fam)


def test_invalid_depth_elsewhere():
    for f in (lambda: gs.equal_split_mi(0), lambda: gs.equal_split_mi_by_depth(9),
              lambda: gs.GaussianSequenceSampler(0), lambda: gs.antipodal_two_point_mi(0)):
        with pytest.raises(ValueError, match="depth"):
            f()


def test_boundary_coefficients_reject_bad_correlations():
    with pytest.raises(ValueError, match="current correlation"):
        gs.boundary_coefficients(1.0, 0.3)
    with pytest.raises(ValueError, match="target correlation"):
        gs.boundary_coefficients(0.2, float("nan"))


def test_boundary_step_rejects_bad_arrays():
    with pytest.raises(ValueError, match="divisible by 4"):
        gs.apply_boundary_step(np.eye(6))
    with pytest.raises(ValueError, match="C-contiguous float64"):
        gs.apply_boundary_step(np.eye(8, dtype=np.float32))


def test_mi_rejects_bad_covariances():
    with pytest.raises(ValueError, match="not symmetric"):
        gs.bipartite_mi(np.array([[1.0, 0.5], [0.2, 1.0]]))
    with pytest.raises(ValueError, match="not positive definite"):
        gs.bipartite_mi(np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="NaN"):
        gs.bipartite_mi(np.array([[1.0, np.nan], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        gs.bipartite_mi(np.ones((2, 3)))
    for ell in (0, 4, 1.5):
        with pytest.raises(ValueError, match="split"):
            gs.bipartite_mi(np.eye(4), ell)
    with pytest.raises(ValueError, match="at least 2"):
        gs.bipartite_mi_profile(np.eye(1))


def test_kl_rejects_bad_input():
    mu = torch.zeros(2, 4, 3)
    sig = torch.ones(2, 4, 3)
    with pytest.raises(ValueError, match=r"mu_q must have shape \[batch, L, copies\]"):
        gs.exact_kl(mu[0], sig[0], mu[0], torch.ones(4))
    with pytest.raises(ValueError, match="sigma_q has shape"):
        gs.exact_kl(mu, sig[:, :3], mu, torch.ones(4))
    with pytest.raises(ValueError, match="mu_p has shape"):
        gs.exact_kl(mu, sig, mu[:1], torch.ones(4))
    with pytest.raises(ValueError, match="sigma_p has shape"):
        gs.exact_kl(mu, sig, mu, torch.ones(5))
    with pytest.raises(ValueError, match=r"each at least 1, got \(2, 4, 0\)"):  # zero copies: used to give NaN
        gs.exact_kl(mu[..., :0], sig[..., :0], mu[..., :0], torch.ones(4))
    bad = mu.clone()
    bad[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="mu_q contains NaN"):
        gs.exact_kl(bad, sig, mu, torch.ones(4))
    with pytest.raises(ValueError, match="sigma_p contains NaN"):
        gs.exact_kl(mu, sig, mu, torch.tensor([1.0, float("nan"), 1.0, 1.0]))
    with pytest.raises(ValueError, match="sigma_q must be strictly positive"):
        gs.exact_kl(mu, -sig, mu, torch.ones(4))
    with pytest.raises(ValueError, match="must be a torch.Tensor"):
        gs.exact_kl(mu.numpy(), sig, mu, torch.ones(4))
    with pytest.raises(ValueError, match="floating-point"):
        gs.exact_kl(mu.long(), sig, mu, torch.ones(4))


def test_sampler_rejects_bad_input():
    s = gs.GaussianSequenceSampler(1, copies=2)
    with pytest.raises(ValueError, match="explicit seed"):
        s.sample(2)
    with pytest.raises(ValueError, match="either generator or seed"):
        s.sample(2, generator=torch.Generator(), seed=1)
    with pytest.raises(ValueError, match="batch"):
        s.sample(0, seed=1)
    with pytest.raises(ValueError, match="copies"):
        gs.GaussianSequenceSampler(1, copies=0)


def test_baseline_and_fit_reject_bad_input():
    with pytest.raises(ValueError, match="sigma_p"):
        gs.trivial_baseline_kl(np.array([0.5, -1.0]))
    with pytest.raises(ValueError, match="power-law fit"):
        fit_power_law([4, 16], [1.0, 0.0])
    with pytest.raises(ValueError, match="same length"):
        fit_power_law([4, 16, 64], [1.0, 2.0])


def test_blocked_cholesky_matches_lapack(covs, monkeypatch):
    # the blocked path (used above L = 8192) on a small matrix with small blocks
    monkeypatch.setattr(gs, "_BLOCKED_CHOLESKY_ABOVE", 100)
    monkeypatch.setattr(gs, "_CHOLESKY_BLOCK", 37)
    c = covs[("subvolume", 4)]
    ref = np.linalg.cholesky(c)
    np.testing.assert_allclose(gs.cholesky_lower(c), ref, atol=1e-13)  # upper triangle cleared
    np.testing.assert_allclose(np.tril(gs.cholesky_lower(c.copy(), overwrite=True)), ref, atol=1e-13)
    assert abs(gs.bipartite_mi(c) - gaussian_mutual_information(c, range(128), range(128, 256))) < 1e-10
    with pytest.raises(ValueError, match="not positive definite"):
        gs.cholesky_lower(c - 2 * np.eye(256))


@pytest.mark.parametrize("skip", [[-1], [3], [0, 7]])
def test_boundary_step_refuses_pairs_that_do_not_exist(skip):
    cov = np.eye(16)  # L = 16: boundary pairs 0, 1, 2
    with pytest.raises(ValueError, match=r"skip lists boundary pairs, numbered 0\.\.2 at L = 16"):
        gs.apply_boundary_step(cov, skip=skip)
    assert np.array_equal(cov, np.eye(16))  # refused before any change


def test_boundary_targets_and_step_refuse_degenerate_or_asymmetric_covariances():
    good = np.eye(8) + 0.1 * (np.ones((8, 8)) - np.eye(8))
    c, target = gs.boundary_targets(good)  # the well-formed case still works
    assert np.isfinite(c).all() and np.isfinite(target).all()
    zero_var = good.copy()
    zero_var[5, :] = zero_var[:, 5] = 0.0
    with pytest.raises(ValueError, match="position 5 has variance 0.0"):
        gs.boundary_targets(zero_var)
    with pytest.raises(ValueError, match="position 5 has variance 0.0"):
        gs.apply_boundary_step(zero_var.copy())
    nan_var = good.copy()
    nan_var[2, 2] = np.nan
    with pytest.raises(ValueError, match="position 2 has variance nan"):
        gs.boundary_targets(nan_var)
    asym = good.copy()
    asym[0, 7] = 0.5  # row 0 and column 7 are among the checked ones
    with pytest.raises(ValueError, match="covariance is not symmetric"):
        gs.apply_boundary_step(asym)
    with pytest.raises(ValueError, match="covariance is not symmetric"):
        gs.apply_boundary_step(np.triu(good[:4, :4]) + np.eye(4))  # n = 1: nothing to step, still checked
    with pytest.raises(ValueError, match="divisible by 4"):
        gs.boundary_targets(np.eye(6))


def test_layer_covariances_are_the_sequence_covariances_of_each_depth():
    for family in ("subvolume", "log"):
        layers = gs.layer_covariances(3, family)
        assert len(layers) == 3
        for d, c in enumerate(layers, start=1):
            np.testing.assert_array_equal(c, gs.sequence_covariance(d, family))
    plain = gs.layer_covariances(2, boundary_step=False)
    np.testing.assert_array_equal(plain[1], gs.sequence_covariance(2, boundary_step=False))
