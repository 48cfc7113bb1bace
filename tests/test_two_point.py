from collections import Counter
import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from l2m_utils import two_point as tp
from l2m_utils.fits import fit_power_law_offset
from l2m_utils.processes import markov_two_point_mutual_information
from l2m_utils.scoring import MarkovChainScorer


def _counter_reference(docs, d):
    c = Counter()
    for doc in docs:
        doc = [int(t) for t in doc]
        c.update(zip(doc[:-d], doc[d:]))
    return c


def _as_counter(first, second, counts):
    return Counter({(int(a), int(b)): int(n) for a, b, n in zip(first, second, counts)})


def _random_docs(seed, vocab, n_docs=7, max_len=3000):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, vocab, size=int(n)) for n in rng.integers(0, max_len, size=n_docs)]


# ---------------------------------------------------------------- counting


@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize("vocab", [5, 300, 60_000])  # histogram path, and the sort path (M² = 3.6e9)
@pytest.mark.parametrize("d", [1, 3, 64, 2500])
def test_pair_counts_match_counter(vocab, d, backend):
    docs = _random_docs(vocab + d, vocab) + [np.array([1, 2, 1]), np.array([], dtype=np.int64)]
    first, second, counts = tp.count_pairs(docs, d, vocab_size=vocab, backend=backend)
    assert _as_counter(first, second, counts) == _counter_reference(docs, d)
    keys = first * vocab + second
    assert np.all(np.diff(keys) > 0)  # sorted, distinct


@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize("n_keys", [2**32, 2**32 + 1, 3 * 2**40])  # 32-bit keys at the edge; 64-bit keys
def test_count_keys_sorts_keys_at_the_ends_of_the_range(n_keys, backend):
    # the torch backend shifts keys by 2^31 into int32 when n_keys <= 2^32: order and values must survive
    edge = np.array([0, 1, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 1, n_keys - 1], dtype=np.int64)
    rng = np.random.default_rng(n_keys % 1000)
    keys = rng.permutation(np.concatenate([edge, edge[[0, 3, 3, 5]], rng.integers(0, n_keys, 50_000)]))
    uniq, counts = tp.count_keys(keys, n_keys, backend=backend)
    ref_uniq, ref_counts = np.unique(keys, return_counts=True)
    np.testing.assert_array_equal(uniq, ref_uniq)
    np.testing.assert_array_equal(counts, ref_counts)
    assert uniq.dtype == counts.dtype == np.int64


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_count_keys_of_nothing(backend):
    for n_keys in (10, 2**30):  # histogram and sort paths
        uniq, counts = tp.count_keys(np.array([], dtype=np.int64), n_keys, backend=backend)
        assert uniq.size == counts.size == 0


def test_numpy_backend_counts_on_the_cpu_only():
    with pytest.raises(ValueError, match="numpy backend counts on the CPU only, got device 'cuda'"):
        tp.count_keys(np.array([1, 2]), 4, backend="numpy", device="cuda")


def test_torch_backend_matches_numpy():
    pytest.importorskip("torch")
    docs = _random_docs(1, 50_000)
    for d in (1, 17):
        a = tp.count_pairs(docs, d, 50_000, backend="numpy")
        b = tp.count_pairs(docs, d, 50_000, backend="torch", device="cpu")
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 6), max_size=40), min_size=1, max_size=5),
    st.integers(1, 12),
)
def test_pair_counts_property(docs, d):
    arrays = [np.array(doc, dtype=np.int64) for doc in docs]
    assume(sum(max(len(a) - d, 0) for a in arrays) > 0)  # examples with pairs (none: test_count_keys_of_nothing)
    first, second, counts = tp.count_pairs(arrays, d, vocab_size=7)
    assert _as_counter(first, second, counts) == _counter_reference(arrays, d)
    assert counts.sum() == sum(max(len(a) - d, 0) for a in arrays)


def test_pairs_do_not_cross_documents():
    docs = [np.array([0, 0, 0]), np.array([1, 1, 1])]
    first, second, counts = tp.count_pairs(docs, 1)
    assert _as_counter(first, second, counts) == Counter({(0, 0): 2, (1, 1): 2})


def test_powers_of_two():
    assert tp.powers_of_two(4096)[-1] == 4096
    assert tp.powers_of_two(100) == [1, 2, 4, 8, 16, 32, 64]


# ---------------------------------------------------------------- the estimate and its floor


def test_markov_chain_two_point_mi():
    P = np.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.2, 0.2, 0.6]])
    docs = list(MarkovChainScorer(P).sample(8, 25_000, seed=2))
    ds = [1, 2, 4, 8]
    r = tp.two_point_mi(docs, ds, vocab_size=3)
    exact = markov_two_point_mutual_information(P, ds)
    np.testing.assert_allclose(r.mi, exact, atol=3e-3)  # the sampling noise is ~1e-3 at d = 1, 2
    # at d = 8 the MI is 5.7e-4 and the noise ~1e-4: an estimate of 0, or a bias of 3e-4, fails here
    assert abs(r.mi[-1] - exact[-1]) < 0.5 * exact[-1]
    assert np.all(r.n_pairs == 8 * (25_000 - np.array(ds)))
    np.testing.assert_allclose(r.mi, r.h_x + r.h_y - r.h_xy)


def test_iid_floor_matches_raw_estimate():
    # M = 1024, 200k tokens: M² = 1M cells ≫ N, a clearly positive bias floor
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 1024, size=50_000) for _ in range(4)]
    ds = tp.powers_of_two(256)
    r = tp.two_point_mi(docs, ds, vocab_size=1024, n_shuffles=4, seed=1)
    assert np.all(r.floor_mean > 0.05)
    # independent tokens: the raw estimate *is* a draw of the floor
    assert np.all(np.abs(r.mi - r.floor_mean) < 5 * r.floor_std + 2e-3)
    assert tp.max_supported_distance(r) is None
    assert not tp.supported_distances(r).any()
    # after subtracting the directly measured floor nothing is left
    assert np.all(np.abs(r.excess()) < 5 * r.floor_std + 2e-3)
    # the paper's fit sees a flat curve: the fitted A d^-alpha + C equals the floor at every d
    # (for a flat curve the log-space loss prefers C -> 0 and alpha -> 0: C alone cannot tell a
    # floor from a non-decaying signal; chapter 3 discusses this)
    fit = fit_power_law_offset(r.distances, r.mi)
    assert abs(fit.alpha) < 0.01
    np.testing.assert_allclose(fit(np.array(ds)), r.floor_mean, rtol=0.01)


def test_naive_floor_is_higher_than_grassberger():
    rng = np.random.default_rng(1)
    docs = [rng.integers(0, 512, size=30_000)]
    g = tp.two_point_mi(docs, [1, 2], 512, "grassberger")
    n = tp.two_point_mi(docs, [1, 2], 512, "naive")
    assert np.all(n.mi > 1.5 * g.mi)  # both biased up (N ≪ M²), the plug-in about twice as much


def test_supported_distance_for_a_dependent_source():
    P = np.array([[0.9, 0.1], [0.1, 0.9]])  # I_d decays like 0.8^(2d)
    docs = list(MarkovChainScorer(P).sample(4, 20_000, seed=3))
    r = tp.two_point_mi(docs, tp.powers_of_two(64), 2, n_shuffles=8, seed=0)
    dmax = tp.max_supported_distance(r)
    # I_16 is about 200 times its shuffled floor, the estimate at d = 32 is below the floor (exact
    # I_32 ~ 1e-6 nats): the support ends at 16 (data and shuffles seeded, so this is exact)
    assert dmax == 16
    with pytest.raises(ValueError, match="excess|no floor"):
        tp.two_point_mi(docs, [1], 2).excess()


def test_floor_threshold_exact_cases_and_limit():
    from scipy.stats import norm

    # two shuffles: t with one degree of freedom is Cauchy, whose quantile is tan(pi (p - 1/2))
    z = 3.0
    assert tp.floor_threshold(z, 2) == pytest.approx(math.tan(math.pi * (norm.cdf(z) - 0.5)) * math.sqrt(1.5), rel=1e-9)
    assert tp.floor_threshold(z, 10**6) == pytest.approx(z, abs=1e-3)  # many shuffles: back to z
    assert tp.floor_threshold(z, 3) > tp.floor_threshold(z, 8) > z
    with pytest.raises(ValueError, match="n_shuffles must be an integer >= 2"):
        tp.floor_threshold(z, 1)


def test_floor_threshold_stays_finite_where_phi_of_z_rounds_to_one():
    """Phi(z) is exactly 1.0 in float64 from z of about 8.3: the threshold must come from the upper tails.
    Two shuffles (Cauchy): the upper-tail quantile is cot(pi p) for the tail probability p = 1 - Phi(z)."""
    from scipy.stats import norm

    for z in (8.0, 8.3, 10.0, 20.0):
        expected = math.sqrt(1.5) / math.tan(math.pi * norm.sf(z))
        assert tp.floor_threshold(z, 2) == pytest.approx(expected, rel=1e-9)
    assert math.isfinite(tp.floor_threshold(20.0, 16)) and tp.floor_threshold(10.0, 16) > tp.floor_threshold(8.3, 16)


def test_count_keys_names_a_bad_device():
    with pytest.raises(ValueError, match="device 'gpu' is not a torch device"):
        tp.count_keys(np.array([1, 2]), 4, device="gpu")


@pytest.mark.parametrize("n", [3, 8])
def test_floor_threshold_has_the_stated_false_positive_rate(n):
    # a normal floor: n shuffles give mean and sd, one more independent draw plays the estimate
    rng = np.random.default_rng(n)
    z = 2.0  # one-sided 2.3%, frequent enough to count
    draws = rng.normal(size=(400_000, n + 1))
    floor, x = draws[:, :n], draws[:, n]
    excess = (x - floor.mean(1)) / floor.std(1, ddof=1)
    rate = np.mean(excess > tp.floor_threshold(z, n))
    assert rate == pytest.approx(0.02275, abs=0.0015)
    assert np.mean(excess > z) > 2 * rate  # the plain z threshold is far too permissive with few shuffles


def test_floor_shuffles_are_the_documented_permutations():
    """The floor at d is the estimator on (x, y[pi]) for the permutations pi = rng.permutation(N_d)
    drawn in turn from default_rng(seed), distance by distance (the code permutes the tokens as int32,
    which must draw the same permutations)."""
    from l2m_utils.entropy_estimators import grassberger_entropy

    docs = _random_docs(3, 300)
    r = tp.two_point_mi(docs, [1, 5], 300, n_shuffles=3, seed=11, backend="numpy")
    rng = np.random.default_rng(11)
    corpus = tp.concatenate_documents(docs, 300)
    for k, d in enumerate([1, 5]):
        x, y = tp.pair_sample(corpus, d)
        for s in range(3):
            yp = y[rng.permutation(y.size)]
            joint = Counter(zip(x.tolist(), yp.tolist()))
            floor = r.h_x[k] + r.h_y[k] - grassberger_entropy(np.array(list(joint.values())))
            assert r.floor_samples[k, s] == pytest.approx(floor, abs=1e-12)


# M = 30: the histograms of both backends; 300: torch sorts int32-shifted keys, numpy histograms;
# 70,000: both sort, torch 64-bit keys (M² > 2^32)
@pytest.mark.parametrize("vocab", [30, 300, 70_000])
def test_torch_backend_gives_the_numpy_estimate_exactly(vocab):
    """The torch path (pairs selected, keyed and counted on the device, permutations drawn by numpy on
    the host) gives bit-identical estimates and floors, from documents or from a DeviceCorpus."""
    docs = _random_docs(5, vocab)
    a = tp.two_point_mi(docs, [1, 8], vocab, n_shuffles=3, seed=4, backend="numpy")
    b = tp.two_point_mi(docs, [1, 8], vocab, n_shuffles=3, seed=4)
    c = tp.two_point_mi(tp.corpus_on_device(docs, "cpu", vocab), [1, 8], n_shuffles=3, seed=4)
    for r in (b, c):
        for name in ("mi", "h_x", "h_y", "h_xy", "n_pairs", "floor_samples"):
            np.testing.assert_array_equal(getattr(r, name), getattr(a, name), err_msg=name)


def test_device_corpus_counts_like_the_documents():
    docs = _random_docs(8, 60_000)  # M² > 2^31: the int32-shifted sort path
    on_cpu = tp.corpus_on_device(docs, vocab_size=60_000)
    assert on_cpu.device.type == "cpu" and on_cpu.n_documents == len(docs) and on_cpu.vocab_size == 60_000
    assert tp.corpus_on_device(on_cpu) is on_cpu and tp.corpus_on_device(on_cpu, "cpu") is on_cpu
    for d in (1, 100):
        ref = tp.count_pairs(docs, d, 60_000, backend="numpy")
        for got in (tp.count_pairs(on_cpu, d), tp.count_pairs(tp.concatenate_documents(docs, 60_000), d)):
            for u, v in zip(ref, got):
                np.testing.assert_array_equal(u, v)
                assert v.dtype == np.int64
    big = 2 * sum(doc.size for doc in docs)
    assert [a.size for a in tp.count_pairs(on_cpu, big)] == [0, 0, 0]


def test_numpy_backend_takes_any_name_of_the_cpu():
    import torch

    docs = _random_docs(2, 50)
    ref = tp.count_keys(np.arange(10)[::-1], 2**30)  # a reversed view (negative stride) is fine too
    np.testing.assert_array_equal(ref[0], np.arange(10))
    for device in ("cpu", "cpu:0", torch.device("cpu")):
        assert tp.two_point_mi(docs, [1], 50, backend="numpy", device=device).mi.shape == (1,)


@pytest.mark.parametrize("torch_ops", [True, False])
def test_both_branches_of_the_device_helpers_select_and_key_the_same_pairs(torch_ops):
    """On a CPU the helpers compute with numpy on the tensors' memory; on a GPU with torch: the torch
    branch, run here on CPU tensors, must give the same pairs and keys as the numpy reference."""
    docs = _random_docs(11, 700) + [np.array([5]), np.array([], dtype=np.int64)]
    corpus = tp.concatenate_documents(docs, 700)
    on = tp.corpus_on_device(corpus)
    for d in (1, 7, 2999, 10**6):
        x_ref, y_ref = tp.pair_sample(corpus, d)
        x, y = tp._device_pairs(on, d, torch_ops=torch_ops)
        np.testing.assert_array_equal(x.numpy(), x_ref)
        np.testing.assert_array_equal(y.numpy(), y_ref)
        keys = tp._plus(tp._times(x, 700, torch_ops), y.to(torch.int32) if torch_ops else y, torch_ops)
        assert keys.dtype == torch.int64
        np.testing.assert_array_equal(keys.numpy(), x_ref * 700 + y_ref)


def test_device_corpus_refusals():
    docs = _random_docs(2, 50)
    on_cpu = tp.corpus_on_device(docs, vocab_size=50)
    with pytest.raises(ValueError, match="vocab_size 60 differs from the corpus's 50"):
        tp.corpus_on_device(on_cpu, vocab_size=60)
    with pytest.raises(ValueError, match="numpy backend counts host arrays"):
        tp.count_pairs(on_cpu, 1, backend="numpy")
    with pytest.raises(ValueError, match="numpy backend counts host arrays"):
        tp.two_point_mi(on_cpu, [1], backend="numpy")
    with pytest.raises(ValueError, match="numpy backend counts on the CPU only"):
        tp.two_point_mi(docs, [1], backend="numpy", device="cuda")
    # the jackknife takes a DeviceCorpus too (its replicates need the documents back)
    chain = MarkovChainScorer(np.array([[0.9, 0.1], [0.2, 0.8]])).sample(4, 3000, seed=1)
    markov = tp.corpus_on_device(list(chain), vocab_size=2)
    r = tp.two_point_mi(markov, [1, 2], n_shuffles=2)
    jk = tp.jackknife_local_exponents(r, markov, [1, 2], n_groups=2, n_shuffles=2)
    ref = tp.jackknife_local_exponents(r, list(chain), [1, 2], n_groups=2, n_shuffles=2)
    np.testing.assert_array_equal(jk.replicates, ref.replicates)


# ---------------------------------------------------------------- bad input


def test_empty_corpus():
    with pytest.raises(ValueError, match="empty"):
        tp.count_pairs([], 1)
    with pytest.raises(ValueError, match="no tokens"):
        tp.count_pairs([np.array([], dtype=np.int64)], 1)


@pytest.mark.parametrize(
    "docs,kwargs,match",
    [([np.array([0.5, 1.0])], {}, "integer"), ([np.zeros((2, 2), dtype=int)], {}, "1-D"),
     ([np.array([0, -1])], {}, "must lie in"), ([np.array([0, 5])], {"vocab_size": 3}, "must lie in")],
)
def test_bad_documents(docs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tp.count_pairs(docs, 1, **kwargs)


def test_bad_distances_and_options():
    docs = [np.arange(10)]
    with pytest.raises(ValueError, match="distance must be a positive integer, got 0"):
        tp.count_pairs(docs, 0)
    with pytest.raises(ValueError, match="distance must be a positive integer, got 2.7"):
        tp.count_pairs(docs, 2.7)
    with pytest.raises(ValueError, match="distance must be a positive integer, got 0"):
        tp.two_point_mi(docs, [0, 1])
    with pytest.raises(ValueError, match="distance must be a positive integer, got 1.0"):
        tp.two_point_mi(docs, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="distances must name at least one distance, got none"):
        tp.two_point_mi(docs, [])
    with pytest.raises(ValueError, match="repeat"):
        tp.two_point_mi(docs, [1, 1])
    with pytest.raises(ValueError, match="too short"):
        tp.two_point_mi(docs, [1, 10])
    with pytest.raises(ValueError, match="backend"):
        tp.count_pairs(docs, 1, backend="cupy")
    with pytest.raises(ValueError, match="n_shuffles"):
        tp.two_point_mi(docs, [1], n_shuffles=-1)
    with pytest.raises(ValueError, match="n_shuffles >= 2"):
        tp.supported_distances(tp.two_point_mi(docs, [1], n_shuffles=1))
    with pytest.raises(ValueError, match="no floor"):
        tp.max_supported_distance(tp.two_point_mi(docs, [1]))


# ---------------------------------------------------------------- alternative units


def test_character_ids_round_trip():
    texts = ["héllo wörld", "ab\nc", ""]
    docs, alphabet = tp.character_ids(texts)
    assert ["".join(alphabet[i] for i in d) for d in docs] == texts
    assert alphabet == sorted(alphabet)
    with pytest.raises(ValueError, match="no texts"):
        tp.character_ids([])


def test_word_ids_vocabulary_cap():
    docs, vocab = tp.word_ids(["Thou art, I'm sure, the king's man.", "thou THOU art"], vocab_size=4)
    assert vocab == ["thou", ",", "art", "<other>"]  # "," and "art" tie (2 each): alphabetical
    assert docs[1].tolist() == [0, 0, 2]
    assert docs[0].tolist() == [0, 2, 1, 3, 3, 1, 3, 3, 3, 3]
    with pytest.raises(ValueError, match="vocab_size"):
        tp.word_ids(["a"], 1)


# ---------------------------------------------------------------- local exponents and their jackknife


def test_local_exponents_of_an_exact_power_law():
    d = np.array([1, 2, 4, 8, 16])
    lo, hi, lam = tp.local_exponents(d, 0.3 * d ** -0.85)
    np.testing.assert_array_equal(lo, [1, 2, 4, 8])
    np.testing.assert_array_equal(hi, [2, 4, 8, 16])
    np.testing.assert_allclose(lam, 0.85, atol=1e-12)
    # two regimes: alpha 2 up to d = 4, then 0.5
    e = np.array([1.0, 1 / 4, 1 / 16, 1 / 16 / 2**0.5])
    np.testing.assert_allclose(tp.local_exponents([1, 2, 4, 8], e)[2], [2.0, 2.0, 0.5], atol=1e-12)
    # one distance or none: no segment, three empty arrays (chapter 3 reports "no local exponent")
    for one in ([4], []):
        assert [a.size for a in tp.local_exponents(one, [0.1] * len(one))] == [0, 0, 0]


@pytest.mark.parametrize("d, e, match", [
    ([1, 2, 4], [0.1, 0.0, 0.01], "positive"),
    ([1, 2, 4], [0.1, np.nan, 0.01], "positive and finite"),
    ([1, 4, 2], [0.1, 0.05, 0.01], "increasing"),
    ([1, 2], [0.1, 0.05, 0.01], "one length"),
])
def test_local_exponents_bad_input(d, e, match):
    with pytest.raises(ValueError, match=match):
        tp.local_exponents(d, e)


def test_document_groups_are_balanced_and_deterministic():
    lengths = [100, 90, 80, 10, 10, 5, 5, 1]
    g = tp.document_groups(lengths, 3)
    totals = np.bincount(g, weights=lengths, minlength=3)
    assert sorted(totals.tolist()) == [100.0, 100.0, 101.0]
    np.testing.assert_array_equal(g, tp.document_groups(lengths, 3))
    with pytest.raises(ValueError, match="3 non-empty documents cannot form 4 groups"):
        tp.document_groups([1, 2, 3, 0, 0], 4)
    with pytest.raises(ValueError, match=r"n_groups must be an integer >= 2"
                       r" \(a jackknife needs at least 2 groups\), got 1"):
        tp.document_groups([1, 2, 3], 1)
    # empty documents hold no pairs: group -1, and they do not count as documents
    np.testing.assert_array_equal(tp.document_groups([5, 0, 5, 0], 2), [0, -1, 1, -1])
    # one document dominating: no balanced groups, a clear error instead of a misleading jackknife
    with pytest.raises(ValueError, match=r"cannot be split into 4 groups of similar size \(largest 30000"):
        tp.document_groups([30000] + [50] * 20, 4)
    # the limit itself: 1.5 times the smallest group's tokens is allowed, 2 times is not
    np.testing.assert_array_equal(np.sort(tp.document_groups([150, 100], 2)), [0, 1])
    with pytest.raises(ValueError, match="cannot be split into 2 groups of similar size"):
        tp.document_groups([200, 100], 2)


def _markov_documents(n_docs, length, flip, seed):
    """Documents of a symmetric 2-state Markov chain: x_t = x_0 XOR (number of flips up to t) mod 2."""
    rng = np.random.default_rng(seed)
    flips = rng.random((n_docs, length)) < flip
    flips[:, 0] = rng.random(n_docs) < 0.5  # a uniform first state
    return list(np.cumsum(flips, axis=1) % 2)


def test_jackknife_covers_the_exact_local_exponents_of_a_markov_chain():
    """I_d = log 2 - h((1 + lam^d)/2) for the symmetric chain (chapter 1): its local exponents are known."""
    flip, ds = 0.15, [1, 2, 4, 8]
    docs = _markov_documents(40, 5000, flip, seed=3)
    result = tp.two_point_mi(docs, ds, 2, n_shuffles=4, seed=0)
    le = tp.jackknife_local_exponents(result, docs, ds, n_groups=8, n_shuffles=2)
    exact = tp.local_exponents(ds, markov_two_point_mutual_information(np.array([[1 - flip, flip], [flip, 1 - flip]]),
                                                                      np.array(ds)))[2]
    assert np.all(np.isfinite(le.se)) and np.all(le.se > 0)
    assert np.all(np.abs(le.exponent - exact) < 3 * le.se), (le.exponent, exact, le.se)
    assert le.replicates.shape == (8, 3) and le.n_groups == 8
    # four times the documents: the standard errors shrink, roughly by half
    more = _markov_documents(160, 5000, flip, seed=4)
    le4 = tp.jackknife_local_exponents(tp.two_point_mi(more, ds, 2, n_shuffles=4, seed=0), more, ds, n_groups=8)
    assert np.all(le4.se < le.se)
    assert 0.25 < np.median(le4.se / le.se) < 0.8


def test_jackknife_bad_input():
    docs = _markov_documents(6, 400, 0.2, seed=5)
    no_floor = tp.two_point_mi(docs, [1, 2], 2)
    with pytest.raises(ValueError, match="no floor"):
        tp.jackknife_local_exponents(no_floor, docs, [1, 2])
    result = tp.two_point_mi(docs, [1, 2, 64], 2, n_shuffles=2)
    with pytest.raises(ValueError, match=r"distances \[4\] are not in the result"):
        tp.jackknife_local_exponents(result, docs, [1, 4])
    with pytest.raises(ValueError, match=r"n_shuffles must be a positive integer"
                       r" \(each replicate needs its own floor\), got 0"):
        tp.jackknife_local_exponents(result, docs, [1, 2], n_shuffles=0)
    with pytest.raises(ValueError, match="6 non-empty documents cannot form 8 groups"):
        tp.jackknife_local_exponents(result, docs, [1, 2], n_groups=8)
    with pytest.raises(ValueError, match="another estimate at d = 1"):
        tp.jackknife_local_exponents(result, docs[:5], [1, 2], n_groups=2)
    other = _markov_documents(6, 400, 0.2, seed=6)  # same lengths, other tokens
    with pytest.raises(ValueError, match="pass the documents the result was computed from"):
        tp.jackknife_local_exponents(result, other, [1, 2], n_groups=2)
    # a Corpus is split back into its documents: the same replicates as the list
    from_corpus = tp.jackknife_local_exponents(result, tp.concatenate_documents(docs, 2), [1, 2], n_groups=3)
    from_list = tp.jackknife_local_exponents(result, docs, [1, 2], n_groups=3)
    np.testing.assert_array_equal(from_corpus.replicates, from_list.replicates)
    # an excess that is not positive at some distance (the floor above the estimate): no log, a clear error
    for bad in (-1, 1.5, None):  # a negative seed used to run group 0 with seed 0, silently
        with pytest.raises(ValueError, match="seed must be an integer >= 0"):
            tp.jackknife_local_exponents(result, docs, [1, 2], n_groups=2, seed=bad)
    below = dataclasses.replace(result, floor_mean=result.mi + np.array([-0.01, -0.01, 1e-3]))
    with pytest.raises(ValueError, match="excess over the floor must be positive"):
        tp.jackknife_local_exponents(below, docs, [1, 2, 64], n_groups=2)


@pytest.mark.parametrize("call, match", [
    (lambda: tp.count_keys(np.array([0, 5]), 4), r"keys must lie in \[0, n_keys=4\)"),
    (lambda: tp.count_keys(np.array([-1, 2]), 4), r"keys must lie in"),
    (lambda: tp.count_keys(np.array([0, 4]), 4), r"keys must lie in \[0, n_keys=4\), found \[0, 4\]"),
    (lambda: tp.count_keys(np.array([1.7, 1.2, 2.9]), 5), "keys must be integers, got dtype float64"),
    (lambda: tp.count_keys(np.array([1, 2]), 2.9), "n_keys must be a positive integer, got 2.9"),
    (lambda: tp.count_keys(np.array([1, 2]), "5"), "n_keys must be a positive integer, got '5'"),
    (lambda: tp.count_keys(np.array([[1, 2]]), 5), r"keys must be a 1-D array, got shape \(1, 2\)"),
    (lambda: tp.powers_of_two(2.5), "max_distance must be a positive integer, got 2.5"),
    (lambda: tp.word_ids(["a b"], 2.5), "vocab_size must be an integer"),
    (lambda: tp.two_point_mi([np.arange(5)], [1], n_shuffles=1.5), "n_shuffles must be an integer"),
    (lambda: tp.floor_threshold(float("nan"), 4), "z must be >= 0"),
])
def test_counting_helpers_refuse_bad_values(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_support_tests_refuse_a_nan_threshold():
    """z = NaN used to make every comparison False: 'nothing supported', silently."""
    docs = _markov_documents(4, 500, 0.2, seed=1)
    r = tp.two_point_mi(docs, [1, 2], 2, n_shuffles=3)
    with pytest.raises(ValueError, match="z and min_ratio must be >= 0"):
        tp.support_tests(r, z=float("nan"))


def test_jackknife_se_exact_case():
    # G = 2 replicates 1 and 3: sqrt(1/2 * ((1 - 2)^2 + (3 - 2)^2)) = 1; NaN propagates
    np.testing.assert_allclose(tp.jackknife_se(np.array([[1.0, 0.0], [3.0, np.nan]])), [1.0, np.nan])


# ---- cases a mutation audit found missing: each fails on a plausible slip that the tests above let through ----


def _audit_docs():
    rng = np.random.default_rng(1)
    return [rng.integers(0, 4, size=300) for _ in range(3)]


def test_floor_std_is_the_sample_std_of_the_shuffles():
    r = tp.two_point_mi(_audit_docs(), [1, 2], 4, n_shuffles=2, seed=0)
    f = r.floor_samples
    np.testing.assert_allclose(r.floor_std, np.abs(f[:, 0] - f[:, 1]) / math.sqrt(2), rtol=1e-12)


def _audit_result(mi, fm, fs, n=8):
    k = len(mi)
    z = np.zeros(k)
    return tp.TwoPointResult(distances=np.array([1, 2, 4][:k]), mi=np.array(mi), n_pairs=np.full(k, 100),
                             h_x=z, h_y=z, h_xy=z, vocab_size=2, estimator="grassberger",
                             floor_mean=np.array(fm), floor_std=np.array(fs), n_shuffles=n)


def test_max_supported_distance_stops_at_the_first_gap():
    r = _audit_result([1.0, 0.1, 1.0], [0.1] * 3, [0.01] * 3)
    assert tp.supported_distances(r).tolist() == [True, False, True]
    assert tp.max_supported_distance(r) == 1


def test_a_distance_above_the_shuffles_but_within_the_margin_is_not_supported():
    r = _audit_result([0.105], [0.1], [1e-4])
    above_shuffles, above_margin = tp.support_tests(r)
    assert above_shuffles.tolist() == [True] and above_margin.tolist() == [False]
    assert not tp.supported_distances(r).any()


def test_each_jackknife_replicate_leaves_out_its_group():
    rng = np.random.default_rng(5)
    flips = rng.random((6, 400)) < 0.2
    docs = list(np.cumsum(flips, axis=1) % 2)
    res = tp.two_point_mi(docs, [1, 2], 2, n_shuffles=2)
    le = tp.jackknife_local_exponents(res, docs, [1, 2], n_groups=3, n_shuffles=2, seed=0)
    group = tp.document_groups([d.size for d in docs], 3)
    for g in range(3):
        kept = [d for d, gg in zip(docs, group) if gg != g]
        e = tp.two_point_mi(kept, [1, 2], 2, "grassberger", 2, 1 + g).excess()
        assert le.replicates[g, 0] == pytest.approx(-math.log(e[1] / e[0]) / math.log(2), abs=1e-12)


def test_difference_se_is_the_jackknife_of_the_paired_replicates():
    """Hand-computed: replicates of exponents 0 and 1 differ by -1, -2, 0 over G = 3 groups; the jackknife
    variance is (G-1)/G * sum (x - mean)^2 = 2/3 * 2."""
    reps = np.array([[1.0, 2.0], [3.0, 5.0], [2.0, 2.0]])
    le = tp.LocalExponents(np.array([1.0]), np.array([2.0]), np.zeros(2), tp.jackknife_se(reps), 3, reps)
    assert le.difference_se(0, 1) == pytest.approx(math.sqrt(4 / 3))
    assert le.difference_se(0, 0) == 0.0


def test_bad_inputs_of_the_local_exponents_and_the_jackknife_are_named():
    with pytest.raises(ValueError, match="distances must be finite, positive and increasing"):
        tp.local_exponents([1.0, math.nan, 4.0], [1.0, 0.5, 0.2])
    for reps in (np.empty((0, 3)), np.ones((1, 3)), np.float64(2.0)):
        with pytest.raises(ValueError, match="at least 2 groups"):
            tp.jackknife_se(reps)
    with pytest.raises(ValueError, match=r"n_shuffles must be an integer >= 2"
                       r" \(a floor threshold needs a spread of floors\), got 2.5"):
        tp.floor_threshold(3.0, 2.5)
    with pytest.raises(ValueError, match=r"document length must be an integer >= 0, got -1"):
        tp.document_groups([-1, 5, 6], 2)
