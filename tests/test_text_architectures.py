"""Chapter 7: token-level GPT-2 / Mamba-2 LMs, matched sizes, training resume, position-wise NLL."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from l2m_utils import language_model as LM
from l2m_utils import text_architectures as TA
from l2m_utils.language_model import TrainSettings
from l2m_utils.scoring import CausalLMScorer

V = 24
CTX = 16


def stream(n=3000, seed=0):
    """A learnable stream: a noisy cycle 1, ..., V-1 (0 is BOS)."""
    rng = np.random.default_rng(seed)
    s = (np.arange(n) % (V - 1)) + 1
    noise = rng.random(n) < 0.1
    s[noise] = rng.integers(1, V, noise.sum())
    return s.astype(np.int64)


def spec(arch, n_layer=1):
    return TA.text_spec(arch, n_layer, 16, CTX, d_state=4, chunk_size=8) if arch == "mamba2" else \
        TA.text_spec(arch, n_layer, 16, CTX)


def model(arch, seed=0):
    return TA.build_text_lm(spec(arch), V, 0, seed=seed).eval()


# -- position-wise statistics -------------------------------------------------------------------------

def test_positionwise_stats_hand_computed_with_padding():
    nll = TA.pad_rows([np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0])])
    assert np.isnan(nll[1, 2])
    st = TA.positionwise_stats(nll)
    np.testing.assert_allclose(st["mean"], [2.5, 3.5, 3.0])
    np.testing.assert_array_equal(st["count"], [2, 2, 1])
    np.testing.assert_allclose(st["sem"][:2], [1.5, 1.5])  # sd([1, 4]) = 3/sqrt(2), / sqrt(2)
    assert np.isnan(st["sem"][2])


@pytest.mark.parametrize("arch", TA.ARCHITECTURES)
def test_positionwise_nll_matches_a_hand_computed_log_softmax(arch):
    m = model(arch)
    rng = np.random.default_rng(3)
    tokens = rng.integers(1, V, size=(3, 10))
    nll = TA.positionwise_nll(m, tokens, bos_id=0)
    with torch.no_grad():
        x = torch.cat([torch.zeros(3, 1, dtype=torch.long), torch.as_tensor(tokens)], dim=1)
        logits = m.get_output_embeddings()(m.base_model(input_ids=x)[0]).double()
        ref = -torch.log_softmax(logits[:, :-1], -1).gather(-1, torch.as_tensor(tokens)[..., None])[..., 0]
    np.testing.assert_allclose(nll, ref.numpy(), atol=1e-5)
    # ragged input: right padding changes no score, and padded positions are NaN
    rows = [tokens[0, :4], tokens[1], tokens[2, :7]]
    ragged = TA.positionwise_nll(m, rows, bos_id=0)
    assert ragged.shape == (3, 10) and np.isnan(ragged[0, 4:]).all() and np.isnan(ragged[2, 7:]).all()
    for i, r in enumerate(rows):
        np.testing.assert_allclose(ragged[i, :len(r)], nll[i, :len(r)], atol=1e-5)
    st = TA.positionwise_stats(ragged)
    np.testing.assert_array_equal(st["count"], [3] * 4 + [2] * 3 + [1] * 3)
    np.testing.assert_allclose(st["mean"][5], (nll[1, 5] + nll[2, 5]) / 2, atol=1e-5)


def test_lm_loss_equals_the_gpt2_loss_and_the_scorer():
    m = model("gpt2")
    x = torch.as_tensor(np.concatenate([[0], stream(CTX - 1)]))[None]
    with torch.no_grad():
        assert TA.lm_loss(m, x).item() == pytest.approx(m(input_ids=x, labels=x).loss.item(), abs=1e-5)
        m2 = model("mamba2")
        lp = CausalLMScorer(m2, bos_id=0).token_logprobs(x[:, 1:].numpy())
        assert TA.lm_loss(m2, x).item() == pytest.approx(-lp.mean(), abs=1e-5)


def test_mamba2_lm_is_causal():
    m = model("mamba2")
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.integers(0, V, size=(2, CTX)))
    k = 9
    y = x.clone()
    y[:, k] = (y[:, k] + 1) % V
    with torch.no_grad():
        a, b = m(x), m(y)
    torch.testing.assert_close(a[:, :k], b[:, :k], rtol=0, atol=1e-6)
    assert (a[:, k:] - b[:, k:]).abs().amax() > 1e-4


def test_log_bins_and_binned_means():
    for L in (1, 2, 7, 64, 4096):
        e = TA.log_bins(L, per_octave=3)
        assert e[0] == 0 and e[-1] == L and np.all(np.diff(e) >= 1)
    values = np.arange(12, dtype=float).reshape(2, 6)
    means, centres = TA.binned(values, np.array([0, 1, 3, 6]))
    np.testing.assert_allclose(means, [[0, 1.5, 4], [6, 7.5, 10]])
    np.testing.assert_allclose(centres, [1, math.sqrt(6), math.sqrt(24)])
    mean, lo, hi = TA.mean_band(means)
    np.testing.assert_allclose(mean, [3, 4.5, 7])
    np.testing.assert_allclose(hi - mean, 1.96 * 3.0)  # sd of two values 6 apart / sqrt(2) = 3


def test_mean_band_is_undefined_where_one_sample_remains():
    values = TA.pad_rows([np.array([1.0, 2.0, 3.0]), np.array([5.0, 6.0])])  # column 2: one sample
    mean, lo, hi = TA.mean_band(values, z=2.0)
    np.testing.assert_allclose(mean, [3.0, 4.0, 3.0])
    np.testing.assert_allclose((hi - lo)[:2], 2 * 2.0 * 2.0)  # sd of two values 4 apart / sqrt(2) = 2
    assert np.isnan(lo[2]) and np.isnan(hi[2])  # no zero-width band at the single sample
    mean, lo, hi = TA.mean_band(np.array([[1.0, 2.0]]))  # one sample everywhere: no band at all
    np.testing.assert_allclose(mean, [1.0, 2.0])
    assert np.isnan(lo).all() and np.isnan(hi).all()


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_positionwise_stats_refuses_infinite_nll(bad):
    nll = np.array([[1.0, 2.0, np.nan], [3.0, bad, 4.0]])  # the NaN is padding and allowed
    with pytest.raises(ValueError, match=r"nll has 1 infinite entries \(first at sample 1, position 1\)"):
        TA.positionwise_stats(nll)
    with pytest.raises(ValueError, match="infinite entries"):
        TA.mean_band(nll)


# -- sizes and states ------------------------------------------------------------------------------------

@pytest.mark.parametrize("vocab, ctx, sizes", [(1024, 256, [(1, 64), (2, 64)]), (8192, 4096, [(4, 256), (8, 512)])])
def test_matched_pairs_are_within_ten_percent(vocab, ctx, sizes):
    for n_layer, d in sizes:
        g = TA.text_spec("gpt2", n_layer, d, ctx)
        m, rel = TA.matched_mamba2(g, vocab)
        pg, pm = TA.count_text_lm_parameters(g, vocab), TA.count_text_lm_parameters(m, vocab)
        assert abs(rel) < 0.10 and rel == pytest.approx((pm - pg) / pg)
        assert m.backbone == "mamba2" and m.d_model == d and m.max_length == ctx
        # the closest depth, not merely one within 10%: one layer more or fewer is no closer
        for n in (m.n_layer - 1, m.n_layer + 1):
            if n >= 1:
                other = TA.count_text_lm_parameters(TA.text_spec("mamba2", n, d, ctx, d_state=m.d_state), vocab)
                assert abs(rel) <= abs((other - pg) / pg)


def test_parameter_count_matches_the_built_model():
    for arch in TA.ARCHITECTURES:
        from l2m_utils.language_model import count_parameters

        assert TA.count_text_lm_parameters(spec(arch), V) == count_parameters(model(arch))


def test_history_states():
    g, m = TA.text_spec("gpt2", 2, 64, 256), TA.text_spec("mamba2", 4, 64, 256, d_state=16)
    assert g.history_state(100).total == 2 * 2 * 64 * 100
    # 4 layers x (4 heads x 32 head_dim x 16 + (128 + 2*16) x 3)
    assert m.history_state(1).total == m.history_state(256).total == 4 * (4 * 32 * 16 + 160 * 3)


# -- training ----------------------------------------------------------------------------------------------

class Interrupt(Exception):
    pass


def train(tmp_path, arch, name, steps=10, every=5, **kwargs):
    settings = TrainSettings(steps=steps, batch_size=4, lr=3e-3, warmup_steps=2, seed=1, checkpoint_every=every)
    return TA.train_text_lm(spec(arch), stream(), V, 0, settings, stream(600, seed=9), device="cpu",
                            root=tmp_path / name, progress=False, eval_tokens=150, **kwargs)


@pytest.mark.parametrize("arch", TA.ARCHITECTURES)
def test_training_resumes_identically_and_loads_when_finished(tmp_path, arch):
    ref_model, ref = train(tmp_path, arch, "uninterrupted")
    assert ref.train_loss[-1] < ref.train_loss[0] and ref.heldout_cross_entropy < math.log(V)
    assert ref.train_cross_entropy is not None and not ref.loaded_from_cache

    def stop(step, loss):
        if step == 7:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(tmp_path, arch, "cut", callback=stop)
    seen = []
    m, rec = train(tmp_path, arch, "cut", callback=lambda step, loss: seen.append(step))
    assert seen == list(range(6, 11)) and rec.resumed_from_step == 5
    assert rec.train_loss == ref.train_loss
    assert rec.heldout_cross_entropy == ref.heldout_cross_entropy
    for (k, a), (_, b) in zip(ref_model.state_dict().items(), m.state_dict().items()):
        assert torch.equal(a, b), k
    again, rec2 = train(tmp_path, arch, "cut", callback=lambda *a: pytest.fail("retrained"))
    assert rec2.loaded_from_cache and rec2.train_cross_entropy == ref.train_cross_entropy


@pytest.mark.parametrize("arch", TA.ARCHITECTURES)
def test_validation_keeps_the_best_weights(tmp_path, arch):
    settings = TrainSettings(steps=12, batch_size=4, lr=3e-3, warmup_steps=2, seed=1, checkpoint_every=6,
                             valid_every=3, patience=0, valid_tokens=100)
    valid = stream(400, seed=4)
    model, rec = TA.train_text_lm(spec(arch), stream(), V, 0, settings, stream(600, seed=9), device="cpu",
                                  root=tmp_path / "v", progress=False, eval_tokens=150, valid_stream=valid)
    assert [s for s, _ in rec.valid_curve] == [3, 6, 9, 12]
    best = min(rec.valid_curve, key=lambda sc: sc[1])
    assert rec.best_step == best[0] and "kept" in rec.summary()
    again = LM.heldout_cross_entropy(model, valid, spec(arch).max_length, 0, 100, 16, "cpu")["cross_entropy"]
    assert again == pytest.approx(best[1], abs=1e-6)


def test_both_architectures_see_the_same_windows(tmp_path, monkeypatch):
    seen = {}
    real = TA.lm_loss

    def spy(m, x):
        seen.setdefault(type(m).__name__, []).append(x.clone())
        return real(m, x)

    monkeypatch.setattr(TA, "lm_loss", spy)
    for arch in TA.ARCHITECTURES:
        train(tmp_path, arch, arch, steps=3, cache=False)
    a, b = seen["GPT2LMHeadModel"], seen["Mamba2LM"]
    assert len(a) == len(b) == 3 and all(torch.equal(x, y) for x, y in zip(a, b))
    assert (a[0][:, 0] == 0).all()  # every window starts with BOS
    assert a[0].shape[1] == spec("gpt2").max_length + 1  # BOS + n_ctx tokens: every position predicts


def test_evaluation_resumes_from_cached_batches(tmp_path, monkeypatch):
    m = model("mamba2")
    tokens = np.random.default_rng(0).integers(1, V, size=(6, 12))
    ref = TA.positionwise_nll(m, tokens, 0, batch_size=2)
    calls = []
    real = CausalLMScorer.token_logprobs

    def flaky(self, t):
        calls.append(len(t))
        if len(calls) == 2:
            raise Interrupt
        return real(self, t)

    monkeypatch.setattr(CausalLMScorer, "token_logprobs", flaky)
    with pytest.raises(Interrupt):
        TA.positionwise_nll(m, tokens, 0, batch_size=2, cache_key={"m": 1}, root=tmp_path)
    out = TA.positionwise_nll(m, tokens, 0, batch_size=2, cache_key={"m": 1}, root=tmp_path)
    assert len(calls) == 4  # one batch before the interruption, two after it: the first is loaded
    np.testing.assert_array_equal(out, ref)
    TA.positionwise_nll(m, tokens, 0, batch_size=2, cache_key={"m": 1}, root=tmp_path)
    assert len(calls) == 4  # all loaded


# -- bad input ----------------------------------------------------------------------------------------------

def test_bad_input():
    with pytest.raises(ValueError, match="arch must be one of"):
        TA.text_spec("lstm", 1, 16, 16)
    with pytest.raises(ValueError, match="n_ctx must be an integer >= 2"):
        TA.text_spec("gpt2", 1, 16, 1)
    with pytest.raises(ValueError, match="takes a gpt2 spec"):
        TA.matched_mamba2(spec("mamba2"), V)
    with pytest.raises(ValueError, match="needs a mamba2 spec"):
        TA.Mamba2LM(spec("gpt2"), V, 0)
    with pytest.raises(ValueError, match="bos_id"):
        TA.Mamba2LM(spec("mamba2"), V, V)
    with pytest.raises(ValueError, match="exceeds n_ctx"):
        model("mamba2")(torch.zeros(1, CTX + 1, dtype=torch.long))
    with pytest.raises(RuntimeError, match="require_kernels"):
        TA.select_mixer("cpu", require_kernels=True)
    with pytest.raises(ValueError, match="non-empty"):
        TA.positionwise_stats(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="no token in any sample"):
        TA.positionwise_stats(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="no rows"):
        TA.pad_rows([])
    with pytest.raises(ValueError, match="length must be a positive integer, got 0"):
        TA.log_bins(0)
    with pytest.raises(ValueError, match="must increase strictly"):
        TA.binned(np.zeros((2, 4)), np.array([0, 2, 2, 4]))
    with pytest.raises(ValueError, match="1-D token arrays"):
        TA.positionwise_nll(model("gpt2"), [np.zeros((2, 2), dtype=np.int64)], 0)
    settings = TrainSettings(steps=1, batch_size=1, warmup_steps=0)
    with pytest.raises(ValueError, match=r"train_stream of 5 tokens is shorter than \d+ tokens \(one window"):
        TA.train_text_lm(spec("gpt2"), stream(5), V, 0, settings, device="cpu", cache=False)
    with pytest.raises(ValueError, match=r"train_stream ids must lie in \[0, "):
        TA.train_text_lm(spec("gpt2"), stream() + V, V, 0, settings, device="cpu", cache=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(0, 20), min_size=1, max_size=6), min_size=1, max_size=5))
def test_positionwise_stats_agree_with_nanmean(rows):
    nll = TA.pad_rows([np.array(r) for r in rows])
    if np.isnan(nll).all(axis=0).any():
        return
    st_ = TA.positionwise_stats(nll)
    np.testing.assert_allclose(st_["mean"], np.nanmean(nll, axis=0), atol=1e-12)
    np.testing.assert_array_equal(st_["count"], [sum(len(r) > t for r in rows) for t in range(nll.shape[1])])


def test_the_scorer_keeps_a_mamba2_lm_within_its_context():
    spec = TA.text_spec("mamba2", 1, 16, 8, d_state=4)
    scorer = CausalLMScorer(TA.build_text_lm(spec, 20, 0), bos_id=0)
    assert scorer.declared_positions == (8, "n_ctx")
    assert scorer.token_logprobs(np.ones((1, 8), dtype=np.int64)).shape == (1, 8)
    with pytest.raises(ValueError, match="longer than the 8 positions that Mamba2LM declares"):
        scorer.token_logprobs(np.ones((1, 9), dtype=np.int64))


def test_log_bins_exact_edges():
    # geomspace(1, 101, 8) rounds to 1, 2, 4, 7, 14, 27, 52, 101: one bin per octave, edges minus one
    np.testing.assert_array_equal(TA.log_bins(100, 1), [0, 1, 3, 6, 13, 26, 51, 100])
    # four per octave over 8 positions: single positions first, then wider bins
    np.testing.assert_array_equal(TA.log_bins(8, 4), [0, 1, 2, 3, 4, 5, 7, 8])
    np.testing.assert_array_equal(TA.log_bins(1, 4), [0, 1])


def test_positionwise_nll_shifts_positions_of_gpt2_only():
    tokens = np.random.default_rng(2).integers(1, V, (2, CTX // 2))
    g = model("gpt2")
    plain = TA.positionwise_nll(g, tokens, 0)
    shifted = TA.positionwise_nll(g, tokens, 0, position_offset=CTX // 2)
    assert shifted.shape == plain.shape and np.abs(shifted - plain).max() > 1e-4
    np.testing.assert_array_equal(shifted[:, 0], plain[:, 0])  # the first token is read at BOS, position 0
    with pytest.raises(ValueError, match="Mamba2LM has none"):
        TA.positionwise_nll(model("mamba2"), tokens, 0, position_offset=4)
