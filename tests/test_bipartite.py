import dataclasses
import math

import numpy as np
import pytest

from l2m_utils import bipartite as bp
from l2m_utils.processes import markov_bipartite_mutual_information, stationary_distribution
from l2m_utils.scoring import MarkovChainScorer, TokenScorer

P = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5]])  # all transitions positive
LENGTHS = [4, 8, 16, 32]


@pytest.fixture(scope="module")
def chain():
    scorer = MarkovChainScorer(P)
    return scorer, scorer.sample(3000, 32, seed=11)


class CountingScorer:
    """Wraps a scorer and records the shape of every call."""

    def __init__(self, inner):
        self.inner, self.vocab_size, self.calls = inner, inner.vocab_size, []

    def token_logprobs(self, tokens):
        self.calls.append(tokens.shape)
        return self.inner.token_logprobs(tokens)


class FakeScorer:
    def __init__(self, fn, vocab_size=3):
        self.fn, self.vocab_size = fn, vocab_size

    def token_logprobs(self, tokens):
        return self.fn(tokens)


def _vclub_expectation():
    """I + sum_x pi_x KL(pi || P[x]) for the first-order chain (exact q = p)."""
    pi = stationary_distribution(P)
    kl = sum(pi[a] * np.sum(pi * np.log(pi / P[a])) for a in range(len(pi)))
    return markov_bipartite_mutual_information(P) + kl


# ---------------------------------------------------------------- recovering exact values


def test_direct_recovers_exact_markov_mi(chain):
    scorer, samples = chain
    assert isinstance(scorer, TokenScorer)
    exact = markov_bipartite_mutual_information(P)
    res = bp.bipartite_sweep(scorer, samples, LENGTHS, ratios=(2, 3, 4), estimators=("direct",))
    for ratio in (2.0, 3.0, 4.0):
        est = res[("direct", ratio)]
        assert est.per_sample.shape == (3000, len(LENGTHS))
        assert np.all(np.abs(est.mean - exact) < 4 * est.se), (ratio, est.mean, est.se)
        assert np.all(est.se < 0.02)


EULER_GAMMA = 0.5772156649015329


def test_bigram_entropy_is_the_grassberger_estimate_of_adjacent_pairs_within_documents():
    """Hand-computed: H_G = log N − (1/N) Σ n_i G(n_i), with G(1) = −γ − log 2 and G(2) = 2 − γ − log 2."""
    g1, g2 = -EULER_GAMMA - math.log(2), 2 - EULER_GAMMA - math.log(2)
    # pairs (0,1) twice and (1,0) once (the plug-in estimate would be 0.6365 nats)
    assert bp.bigram_entropy([np.array([0, 1, 0, 1])], 2) == pytest.approx(math.log(3) - (2 * g2 + g1) / 3, rel=1e-12)
    # two documents: the pair (1, 1) across their boundary is not counted, so two singletons, N = 2
    assert bp.bigram_entropy([np.array([0, 1]), np.array([1, 0])], 2) == pytest.approx(
        2 * math.log(2) + EULER_GAMMA, rel=1e-12)


def test_direct_with_bos_correction_and_exact_model(chain):
    # an exact stationary model has no BOS mismatch: with H_G(Y1Y2) from a long sample the
    # correction is ≈ 0 and the estimate still recovers the exact value
    scorer, samples = chain
    corpus = [scorer.sample(1, 300_000, seed=5)[0]]
    h12 = bp.bigram_entropy(corpus, 3)
    exact = markov_bipartite_mutual_information(P)
    est = bp.bipartite_sweep(scorer, samples, LENGTHS, (2,), ("direct",), bos_correction=True,
                             bigram_entropy_nats=h12)[("direct", 2.0)]
    assert est.bos_corrected
    assert np.all(np.abs(est.mean - exact) < 4 * est.se)
    # the shift is exactly -(4/5)(mean CE12 - H_G) relative to the uncorrected estimate
    plain = bp.bipartite_sweep(scorer, samples, LENGTHS, (2,), ("direct",))[("direct", 2.0)]
    for k, ell in enumerate(est.ells):  # per sample and at every length, with that split's own CE12
        lp = scorer.token_logprobs(samples[:, ell:ell + 2])
        shift = -0.8 * (-(lp[:, 0] + lp[:, 1]) - h12)
        np.testing.assert_allclose(est.per_sample[:, k] - plain.per_sample[:, k], shift, atol=1e-10)


def test_vclub_is_an_upper_bound_for_the_exact_model(chain):
    scorer, samples = chain
    exact = markov_bipartite_mutual_information(P)
    expected = _vclub_expectation()
    assert expected > exact
    res = bp.bipartite_sweep(scorer, samples, LENGTHS, ratios=(2, 4), estimators=("vclub",), seed=3)
    for est in res.values():
        assert np.all(est.mean > exact)
        assert np.all(np.abs(est.mean - expected) < 4 * est.se)


def test_vclub_values_are_grouped_by_future_block(chain):
    # v_j = log q(Y_j|X_j) - log q(Y_j|X_sigma^-1(j)), computed here by scoring each pair on its own
    scorer, samples = chain
    x = samples[:5, :8]
    sigma = bp.derangement(5, seed=7)
    got = bp.vclub_estimate(scorer, x, 8, seed=7).per_sample[:, 0]

    def log_q_future(past, future):
        return scorer.token_logprobs(np.concatenate([past, future])[None])[0, 4:].sum()

    for j in range(5):
        other = int(np.flatnonzero(sigma == j)[0])  # the sample whose past was paired with Y_j
        want = log_q_future(x[j, :4], x[j, 4:]) - log_q_future(x[other, :4], x[j, 4:])
        assert got[j] == pytest.approx(want, abs=1e-10)


def test_vclub_of_a_context_free_model_is_zero_sample_by_sample():
    # q(Y|X) = q(Y): every v_j compares the same Y_j with itself, so all vanish (and so does the SE)
    rng = np.random.default_rng(0)
    logp = np.log(np.array([0.5, 0.3, 0.2]))
    unigram = FakeScorer(lambda t: logp[t])
    samples = rng.integers(0, 3, size=(50, 16))
    est = bp.vclub_estimate(unigram, samples, 16, seed=1)
    np.testing.assert_allclose(est.per_sample, 0.0, atol=1e-10)
    assert est.se[0] < 1e-10


def test_vclub_standard_error_matches_the_spread_over_repeats():
    # the reported SE must describe the sampling noise of the mean: over 60 independent repeats the
    # mean SE and the SD of the means agree (pairing by past block made the SE about 3x too large)
    scorer = MarkovChainScorer(P)
    means, ses = [], []
    for rep in range(60):
        samples = scorer.sample(200, 16, seed=100 + rep)
        est = bp.vclub_estimate(scorer, samples, 16, seed=rep)
        means.append(est.mean[0])
        ses.append(est.se[0])
    ratio = np.mean(ses) / np.std(means, ddof=1)
    assert 0.7 < ratio < 1.4, ratio


def test_prefix_reuse_equals_separate_scoring(chain):
    scorer, samples = chain
    sweep = bp.bipartite_sweep(scorer, samples, LENGTHS, (2,), seed=4)
    for k, length in enumerate(LENGTHS):
        alone = bp.direct_estimate(scorer, samples[:, :length], length)
        np.testing.assert_allclose(sweep[("direct", 2.0)].per_sample[:, k], alone.per_sample[:, 0], atol=1e-12)
        vc = bp.vclub_estimate(scorer, samples[:, :length], length, seed=4)
        np.testing.assert_allclose(sweep[("vclub", 2.0)].per_sample[:, k], vc.per_sample[:, 0], atol=1e-12)


def test_number_of_scoring_passes(chain):
    scorer, samples = chain
    counting = CountingScorer(scorer)
    bp.bipartite_sweep(counting, samples[:64], LENGTHS, ratios=(2, 4), batch_size=64)
    # ℓ = 2, 4, 8, 16 (ratio 2) and 1, 2, 4, 8 (ratio 4): 5 distinct split points
    assert len(counting.calls) == 1 + 5 + 5
    assert counting.calls[0] == (64, 32)
    y_passes = counting.calls[1:6]
    assert (64, 32 - 16) in y_passes and (64, 32 - 8) in y_passes  # ℓ = 8 serves L = 16 and L = 32
    counting.calls.clear()
    bp.bipartite_sweep(counting, samples[:64], LENGTHS, (2,), ("direct",), batch_size=16)
    assert len(counting.calls) == 4 * (1 + 4)


def test_fit_through_estimate(chain):
    scorer, samples = chain
    est = bp.direct_estimate(scorer, samples, 8)
    with pytest.raises(ValueError, match="at least 2 points"):
        est.fit(n_boot=10)
    est = bp.bipartite_sweep(scorer, samples, LENGTHS, (2,), ("direct",))[("direct", 2.0)]
    fit = est.fit(n_boot=200, seed=0)
    assert abs(fit.exponent) < 0.1  # a Markov chain's bipartite MI does not grow
    assert fit.exponent_ci[0] < 0 < fit.exponent_ci[1]


def test_fit_keeps_only_the_lengths_from_min_length(chain):
    """fit(min_length=...) fits the lengths from min_length on (chapter 4 starts its fits there)."""
    from l2m_utils.fits import fit_power_law

    scorer, samples = chain
    est = bp.bipartite_sweep(scorer, samples, [2, 4, 8, 16, 32], (2,), ("direct",))[("direct", 2.0)]
    kinked = est.per_sample * np.where(est.lengths < 16, 5.0, 1.0)  # the short lengths off any power law
    est = dataclasses.replace(est, per_sample=kinked)
    keep = est.lengths >= 16
    got = est.fit(n_boot=50, seed=0, min_length=16)
    assert got.exponent == pytest.approx(fit_power_law(est.lengths[keep], est.mean[keep]).exponent, rel=1e-12)
    assert got.exponent != pytest.approx(est.fit(n_boot=50, seed=0).exponent, rel=1e-3)


def test_split_points_and_derangement():
    assert [bp.split_point(L, 2) for L in (4, 8, 2048)] == [2, 4, 1024]
    assert [bp.split_point(L, 3) for L in (4, 8, 16, 2048)] == [1, 3, 5, 683]
    assert [bp.split_point(L, 4) for L in (4, 8)] == [1, 2]
    with pytest.raises(ValueError, match="block length L must be an integer, got 7.9"):
        bp.split_point(7.9, 2)  # not read as L = 7
    with pytest.raises(ValueError, match="block length L must be an integer, got True"):
        bp.split_point(True, 2)
    assert bp.split_point(6, 4) == 2 and bp.split_point(10, 4) == 3  # halves round up (1.5, 2.5)
    for L in (2, 3):  # round(L / 1.2) = L: no future block
        with pytest.raises(ValueError, match="too short"):
            bp.split_point(L, 1.2)
    sigma = bp.derangement(50, seed=1)
    assert sorted(sigma.tolist()) == list(range(50))
    assert np.all(sigma != np.arange(50))
    np.testing.assert_array_equal(sigma, bp.derangement(50, seed=1))
    assert bp.default_lengths(2048) == [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]



def _estimate(lengths, ratio):
    lengths = np.asarray(lengths)
    ells = np.array([bp.split_point(L, ratio) for L in lengths])
    return bp.BipartiteEstimate("direct", ratio, lengths, ells, np.ones((2, lengths.size)))


def test_faithful_start_skips_the_coarse_splits_of_short_blocks():
    lengths = [4, 8, 16, 32, 64, 128, 256]
    # r = 3: realised L/l = 4, 2.67, 3.2, 2.91, 3.05, 2.98, 3.01 -> within 10% from L = 16 (3.2 is 6.7% off)
    assert _estimate(lengths, 3).faithful_start(0.1) == 16
    assert _estimate(lengths, 3).faithful_start(0.05) == 32  # 2.91 is 3% off, 3.2 is not within 5%
    assert _estimate(lengths, 2).faithful_start() == 4  # exact at every L
    assert _estimate(lengths, 4).faithful_start() == 4
    assert _estimate([4, 8], 3).faithful_start(0.05) is None  # the longest block misses the ratio
    # a run that is faithful, then not, then faithful again starts after the last miss
    est = bp.BipartiteEstimate("direct", 3.0, np.array([3, 4, 6]), np.array([1, 1, 2]), np.ones((2, 3)))
    assert est.faithful_start(0.1) == 6
    with pytest.raises(ValueError, match="rel_tol"):
        est.faithful_start(0.0)
    unsorted = bp.BipartiteEstimate("direct", 2.0, np.array([8, 4]), np.array([4, 2]), np.ones((2, 2)))
    with pytest.raises(ValueError, match="increasing"):
        unsorted.faithful_start()


# ---------------------------------------------------------------- bad input


def test_nan_and_zero_probability_logprobs(chain):
    _, samples = chain
    nan = FakeScorer(lambda t: np.full(t.shape, np.nan))
    with pytest.raises(ValueError, match="NaN"):
        bp.bipartite_sweep(nan, samples[:10], [4])
    zero = FakeScorer(lambda t: np.full(t.shape, -np.inf))
    with pytest.raises(ValueError, match="probability 0"):
        bp.bipartite_sweep(zero, samples[:10], [4])
    positive = FakeScorer(lambda t: np.full(t.shape, 0.5))
    with pytest.raises(ValueError, match="<= 0"):
        bp.bipartite_sweep(positive, samples[:10], [4])
    wrong = FakeScorer(lambda t: np.zeros((t.shape[0], t.shape[1] + 1)) - 1.0)
    with pytest.raises(ValueError, match="shape"):
        bp.bipartite_sweep(wrong, samples[:10], [4])


def test_lengths_too_short_for_the_split(chain):
    scorer, samples = chain
    with pytest.raises(ValueError, match="too short for split ratio 4"):
        bp.bipartite_sweep(scorer, samples[:10], [2, 4], ratios=(4,))
    with pytest.raises(ValueError, match="too short"):
        bp.split_point(1, 2)
    with pytest.raises(ValueError, match="must be > 1"):
        bp.split_point(8, 1)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        bp.bipartite_sweep(scorer, samples[:10], [4], ratios=(4 / 3,), bos_correction=True,
                           bigram_entropy_nats=2.0)


def test_bad_samples_and_options(chain):
    scorer, samples = chain
    with pytest.raises(ValueError, match="exceeds"):
        bp.bipartite_sweep(scorer, samples[:10], [64])
    with pytest.raises(ValueError, match="2-D"):
        bp.bipartite_sweep(scorer, samples[0], [4])
    with pytest.raises(ValueError, match="at least 2 samples"):
        bp.bipartite_sweep(scorer, samples[:1], [4])
    with pytest.raises(ValueError, match="integer"):
        bp.bipartite_sweep(scorer, samples[:10].astype(float), [4])
    with pytest.raises(ValueError, match="must lie in"):
        bp.bipartite_sweep(scorer, samples[:10] + 5, [4])
    with pytest.raises(ValueError, match="unknown estimator"):
        bp.bipartite_sweep(scorer, samples[:10], [4], estimators=("club",))
    with pytest.raises(ValueError, match="bigram_entropy_nats"):
        bp.bipartite_sweep(scorer, samples[:10], [4], bos_correction=True)
    with pytest.raises(ValueError, match="repeat"):
        bp.bipartite_sweep(scorer, samples[:10], [4, 4])
    with pytest.raises(ValueError, match="lengths must name at least one block length, got none"):
        bp.bipartite_sweep(scorer, samples[:10], [])
    with pytest.raises(ValueError, match="batch_size"):
        bp.bipartite_sweep(scorer, samples[:10], [4], batch_size=0)
    with pytest.raises(ValueError, match="derangement"):
        bp.derangement(1, 0)
    with pytest.raises(ValueError, match="empty"):
        bp.bigram_entropy([])


@pytest.mark.parametrize("ratios, min_future, expected", [
    ([2.0, 3.0, 4.0], 2, 4),   # ell = 2, 1, 1 at L = 4
    ([1.5], 2, 8),             # L = 4: ell = 3 leaves Y of 1 token; L = 8: ell = 5, Y of 3
    ([1.5], 1, 4),
    ([8.0], 2, 8),             # L must reach the ratio
    ([16.0, 2.0], 2, 16),
    ([1.1], 2, 32),            # ell = round(L / 1.1): 4 (invalid), 7, 15 (Y of 1), 29 (Y of 3)
])
def test_shortest_length(ratios, min_future, expected):
    L = bp.shortest_length(ratios, min_future)
    assert L == expected
    assert all(L - bp.split_point(L, r) >= min_future for r in ratios)


def test_shortest_length_rejects_ratios_of_one_or_less_and_infinite_ones():
    with pytest.raises(ValueError, match=r"split ratios L/ell must be finite and > 1, got \[1.0\]"):
        bp.shortest_length([2.0, 1.0])
    with pytest.raises(ValueError, match=r"got \[inf, nan\]"):
        bp.shortest_length([float("inf"), float("nan")])


@pytest.mark.parametrize("call, match", [
    (lambda: bp.default_lengths(10, 0), "min_length must be a positive integer"),
    (lambda: bp.default_lengths(10, -4), "min_length must be a positive integer"),
    (lambda: bp.shortest_length([2.0], start=0), "start must be a positive integer"),
    (lambda: bp.split_point(8, float("nan")), "> 1 and finite"),
    (lambda: bp.split_point(8, float("inf")), "> 1 and finite"),
    (lambda: bp.derangement(2.5, 0), "must be an integer"),
])
def test_helpers_refuse_values_that_would_loop_or_mislead(call, match):
    """default_lengths(10, 0) and shortest_length(start=0) used to loop forever (0 doubles to 0)."""
    with pytest.raises(ValueError, match=match):
        call()


# ---- cases a mutation audit found missing: each fails on a plausible slip that the tests above let through ----


def test_standard_error_by_hand():
    est = bp.BipartiteEstimate("direct", 2.0, np.array([4]), np.array([2]), np.array([[1.0], [3.0]]))
    assert est.se[0] == pytest.approx(1.0)


def test_pair_surprisal_hand_computed_and_plug_in_entropy():
    docs = [np.array([0, 1, 0, 1]), np.array([2, 2])]  # pairs (0,1) x2, (1,0), (2,2): N = 4
    freq = bp.PairFrequencies.from_documents(docs, 3)
    assert freq.total == 4
    s = freq.surprisal(np.array([[0, 1], [1, 0], [2, 2], [1, 2]]))
    # (1, 2) never occurs (and does not straddle the documents): count 1/2
    np.testing.assert_allclose(s.nats, [np.log(4 / 2), np.log(4), np.log(4), np.log(4 / 0.5)], rtol=0, atol=1e-12)
    assert s.seen.tolist() == [True, True, True, False]
    # the mean over a corpus's own pairs is its plug-in 2-gram entropy
    rng = np.random.default_rng(3)
    doc = rng.integers(0, 5, 2000)
    pairs = np.column_stack([doc[:-1], doc[1:]])
    _, counts = np.unique(pairs[:, 0] * 5 + pairs[:, 1], return_counts=True)
    q = counts / counts.sum()
    own = bp.PairFrequencies.from_documents([doc], 5).surprisal(pairs)
    assert own.seen.all()
    assert own.nats.mean() == pytest.approx(-(q * np.log(q)).sum(), abs=1e-12)


def test_pair_surprisal_rejects_bad_input():
    freq = bp.PairFrequencies.from_documents([np.array([0, 1, 0])], 2)
    with pytest.raises(ValueError, match=r"shape \[n, 2\]"):
        freq.surprisal(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        freq.surprisal(np.array([[0, 2]]))
    with pytest.raises(ValueError, match="shape"):
        freq.surprisal(np.zeros((0, 2), dtype=int))
    with pytest.raises(ValueError, match="no adjacent pair"):
        bp.PairFrequencies.from_documents([np.array([0]), np.array([1])], 2)


def test_lengths_ratios_and_token_shapes_are_checked():
    with pytest.raises(ValueError, match="max_length must be an integer, got nan"):
        bp.default_lengths(math.nan)
    with pytest.raises(ValueError, match="no split ratio given"):
        bp.shortest_length([])
    scorer = MarkovChainScorer(np.array([[0.9, 0.1], [0.2, 0.8]]))
    with pytest.raises(ValueError, match=r"tokens must be a 2-D array \[n_sequences, length\], got shape \(5,\)"):
        bp.score_batched(scorer, np.zeros(5, dtype=int))



def test_direct_split_adds_up_to_the_sweeps_direct_estimate(chain):
    """Parts sum to the direct estimate, which is bipartite_sweep's per sample; a scorer without positions
    (the exact Markov chain) reads Y late exactly as from the start: position part 0."""
    scorer, samples = chain
    parts = bp.direct_split(scorer, lambda ell: scorer, samples[:50], [8, 16, 32], ratio=2)
    sweep = bp.bipartite_sweep(scorer, samples[:50], [8, 16, 32], [2.0], ("direct",))[("direct", 2.0)]
    for k, L in enumerate([8, 16, 32]):
        np.testing.assert_allclose(parts[L].direct, sweep.per_sample[:, k], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(parts[L].position, 0.0)
        np.testing.assert_allclose(parts[L].position + parts[L].context, parts[L].direct, atol=1e-12)


def test_direct_split_reads_y_late_through_the_shifted_scorer():
    from l2m_utils.language_model import GPTShape, build_gpt2
    from l2m_utils.scoring import CausalLMScorer

    model = build_gpt2(12, 0, GPTShape(n_layer=1, n_embd=16, n_head=2, n_ctx=32), seed=0).eval()
    samples = np.random.default_rng(0).integers(1, 12, (4, 16))
    plain = CausalLMScorer(model, bos_id=0)
    seen = []

    def shifted(ell):
        seen.append(ell)
        return CausalLMScorer(model, bos_id=0, position_offset=ell)

    part = bp.direct_split(plain, shifted, samples, [16], ratio=4)[16]
    assert seen == [4]
    y = samples[:, 4:16]
    late = CausalLMScorer(model, bos_id=0, position_offset=4).token_logprobs(y).sum(1)
    np.testing.assert_allclose(part.position, late - plain.token_logprobs(y).sum(1), atol=1e-9)
    np.testing.assert_allclose(part.context, plain.token_logprobs(samples)[:, 4:].sum(1) - late, atol=1e-9)
    assert np.abs(part.position).max() > 1e-4
    with pytest.raises(ValueError, match="longest block length 32 exceeds the samples' 16 tokens"):
        bp.direct_split(plain, shifted, samples, [32])
