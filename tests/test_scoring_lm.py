"""CausalLMScorer against a naive full log-softmax; padding invariance; the resumable score cache."""

import copy

import numpy as np
import pytest
import torch
import transformers

from l2m_utils import scoring as S
from l2m_utils.language_model import GPTShape, build_gpt2
from l2m_utils.scoring import CachedScorer, CausalLMScorer, MarkovChainScorer, TokenScorer

V, BOS = 40, 3


@pytest.fixture(scope="module")
def model():
    return build_gpt2(V, BOS, GPTShape(n_layer=2, n_embd=32, n_head=4, n_ctx=64), seed=0).eval()


def naive(model, tokens):
    """log_softmax over the full [n, T, V] logits (float64), BOS prepended."""
    t = torch.as_tensor(tokens)
    x = torch.cat([torch.full((t.shape[0], 1), BOS), t[:, :-1]], 1)
    with torch.no_grad():
        logits = model(input_ids=x).logits.double()
    return torch.log_softmax(logits, -1).gather(2, t[:, :, None])[:, :, 0].numpy()


def tokens(n, T, seed=0):
    return np.random.default_rng(seed).integers(0, V, (n, T))


@pytest.mark.parametrize("batch_size, chunk_size", [(1, None), (3, 7), (16, 1000)])
def test_matches_naive_log_softmax(model, batch_size, chunk_size):
    t = tokens(5, 33)
    scorer = CausalLMScorer(model, batch_size=batch_size, chunk_size=chunk_size)
    assert isinstance(scorer, TokenScorer) and scorer.vocab_size == V and scorer.bos_id == BOS
    lp = scorer.token_logprobs(t)
    assert lp.shape == (5, 33) and lp.dtype == np.float64
    np.testing.assert_allclose(lp, naive(model, t), atol=1e-5)


def test_head_only_ever_sees_one_chunk(model, monkeypatch):
    real_linear = torch.nn.functional.linear
    rows = []

    def spy(x, w, b=None):
        if w.shape[0] == V:
            rows.append(x.shape[0])
        return real_linear(x, w, b)

    scorer = CausalLMScorer(model, batch_size=4, chunk_size=10)  # its construction probe runs the full head
    monkeypatch.setattr(torch.nn.functional, "linear", spy)
    scorer.token_logprobs(tokens(4, 30))
    assert rows and max(rows) <= 10 and sum(rows) == 4 * 30


def test_padding_does_not_change_results(model):
    t = tokens(6, 25, seed=1)
    full = CausalLMScorer(model, batch_size=2).token_logprobs(t)
    lengths = [25, 3, 17, 1, 25, 9]
    seqs = [t[i, :k] for i, k in enumerate(lengths)]
    ragged = CausalLMScorer(model, batch_size=4, chunk_size=5).token_logprobs_ragged(seqs)
    for i, k in enumerate(lengths):
        assert ragged[i].shape == (k,)
        np.testing.assert_allclose(ragged[i], full[i, :k], atol=1e-5)
    # batch composition does not matter either
    alone = CausalLMScorer(model, batch_size=1).token_logprobs(t[2:3])
    np.testing.assert_allclose(alone, full[2:3], atol=1e-5)


def test_prefix_property(model):
    """Causal: the scores of a prefix do not depend on what follows it."""
    t = tokens(3, 20, seed=2)
    scorer = CausalLMScorer(model)
    np.testing.assert_allclose(scorer.token_logprobs(t[:, :8]), scorer.token_logprobs(t)[:, :8], atol=1e-5)


class _CappedGPT2(transformers.GPT2LMHeadModel):
    """GPT-2 whose forward soft-caps its logits, as Gemma-2 does (``final_logit_softcapping``)."""

    def forward(self, *args, **kwargs):
        out = super().forward(*args, **kwargs)
        c = self.config.final_logit_softcapping
        out.logits = torch.tanh(out.logits / c) * c
        return out


def test_softcapping_is_applied(model):
    capped = build_gpt2(V, BOS, GPTShape(n_layer=1, n_embd=16, n_head=2, n_ctx=16), seed=1).eval()
    capped.config.final_logit_softcapping = 0.5
    capped.__class__ = _CappedGPT2
    t = tokens(2, 6)
    lp = CausalLMScorer(capped).token_logprobs(t)
    x = torch.cat([torch.full((2, 1), BOS), torch.as_tensor(t)[:, :-1]], 1)
    with torch.no_grad():
        z = capped(input_ids=x).logits.double()  # capped by the model itself
    assert z.abs().max() < 0.5
    ref = torch.log_softmax(z, -1).gather(2, torch.as_tensor(t)[:, :, None])[:, :, 0].numpy()
    np.testing.assert_allclose(lp, ref, atol=1e-5)


def test_a_logit_transform_the_scorer_does_not_know_is_refused():
    # the config says "soft-cap" but this model's forward does not (and vice versa for unknown
    # families): the construction probe sees the scorer's log-probabilities differ from the model's
    odd = build_gpt2(V, BOS, GPTShape(n_layer=1, n_embd=16, n_head=2, n_ctx=16), seed=1).eval()
    assert CausalLMScorer(odd).check_against_model() < 1e-4
    odd.config.final_logit_softcapping = 0.5
    with pytest.raises(ValueError, match="does not reproduce GPT2LMHeadModel's own logits"):
        CausalLMScorer(odd)


def test_scorer_bad_inputs(model):
    with pytest.raises(ValueError, match="lie in"):
        CausalLMScorer(model).token_logprobs(np.array([[0, V]]))
    with pytest.raises(ValueError, match="batch_size"):
        CausalLMScorer(model, batch_size=0)
    with pytest.raises(ValueError, match="bos_id"):
        CausalLMScorer(model, bos_id=V)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        CausalLMScorer(model).token_logprobs_ragged([np.array([1, 2]), np.array([], dtype=int)])
    with pytest.raises(ValueError, match="no sequences"):
        CausalLMScorer(model).token_logprobs_ragged([])


class CountingScorer:
    """Wraps a scorer; counts batches and can crash after ``fail_after`` of them."""

    def __init__(self, inner, fail_after=None):
        self.inner, self.vocab_size = inner, inner.vocab_size
        self.calls, self.fail_after = 0, fail_after

    def token_logprobs(self, tokens):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.calls += 1
        return self.inner.token_logprobs(tokens)


def test_cache_resumes_after_an_interruption(tmp_path, model):
    t = tokens(10, 12, seed=4)
    ref = CausalLMScorer(model).token_logprobs(t)
    crashing = CountingScorer(CausalLMScorer(model), fail_after=3)
    cached = CachedScorer(crashing, cache_key={"model": "tiny"}, batch_size=3, root=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        cached.token_logprobs(t)
    folder = cached.directory(t)
    assert sorted(p.name for p in folder.iterdir()) == [f"batch-{i:06d}.npz" for i in range(3)]  # no temp files

    counting = CountingScorer(CausalLMScorer(model))
    resumed = CachedScorer(counting, cache_key={"model": "tiny"}, batch_size=3, root=tmp_path)
    out = resumed.token_logprobs(t)
    assert counting.calls == 1 and resumed.computed == 1 and resumed.loaded == 3  # only the last batch
    np.testing.assert_allclose(out, ref, atol=1e-12)
    again = resumed.token_logprobs(t)
    assert counting.calls == 1 and resumed.loaded == 4
    np.testing.assert_array_equal(again, out)


def test_cache_key_separates_models_and_inputs(tmp_path, model):
    chain = MarkovChainScorer(np.full((V, V), 1.0 / V))
    a = CachedScorer(chain, "a", root=tmp_path)
    b = CachedScorer(chain, "b", root=tmp_path)
    t, t2 = tokens(2, 5), tokens(2, 5, seed=1)  # t2: other tokens of the same shape
    assert not np.array_equal(t, t2)
    # four different keys: another model, another shape, other tokens of the same shape
    assert len({a.directory(t), b.directory(t), a.directory(t[:1]), a.directory(t2)}) == 4
    np.testing.assert_allclose(S.score_cached(chain, t, "a", root=tmp_path), np.log(1.0 / V))
    # a chain whose scores depend on the tokens: same key, other tokens -> computed, not loaded
    rng = np.random.default_rng(2)
    P = rng.random((V, V)) + 0.1
    skewed = MarkovChainScorer(P / P.sum(axis=1, keepdims=True))
    cached = CachedScorer(skewed, "skewed", root=tmp_path)
    np.testing.assert_allclose(cached.token_logprobs(t), skewed.token_logprobs(t), atol=1e-12)
    out2 = cached.token_logprobs(t2)
    assert cached.computed >= 1 and cached.loaded == 0
    np.testing.assert_allclose(out2, skewed.token_logprobs(t2), atol=1e-12)
    assert S.model_fingerprint(model) == S.model_fingerprint(model)
    other = build_gpt2(V, BOS, GPTShape(n_layer=2, n_embd=32, n_head=4, n_ctx=64), seed=1)
    assert S.model_fingerprint(model) != S.model_fingerprint(other)


def test_cache_uses_the_cache_root_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("L2M_CACHE", str(tmp_path))
    chain = MarkovChainScorer(np.full((V, V), 1.0 / V))
    cached = CachedScorer(chain, "x", batch_size=1)
    cached.token_logprobs(tokens(2, 4))
    assert cached.directory(tokens(2, 4)).parent == tmp_path / "scores"
    with pytest.raises(ValueError, match="batch_size"):
        CachedScorer(chain, "x", batch_size=0)


# --- models loaded with a device_map (large hub models spread over GPUs or offloaded) ----------------

def test_spread_over_devices_and_the_input_device():
    class M:
        pass

    m = M()
    assert not S.spread_over_devices(m)
    m.hf_device_map = {"": "cpu"}
    assert not S.spread_over_devices(m)
    m.hf_device_map = {"model.embed": 0, "model.layers": 1, "lm_head": "cpu"}
    assert S.spread_over_devices(m)
    assert S._first_compute_device(m.hf_device_map) == torch.device("cuda:0")
    assert S._first_compute_device({"a": "disk", "b": "cuda:1", "c": 0}) == torch.device("cuda:1")
    assert S._first_compute_device({"a": "cpu", "b": "disk"}) == torch.device("cpu")


@pytest.mark.parametrize("device_map", [
    {"transformer": "cpu", "lm_head": "disk"},                   # offloaded head
    {"transformer.wte": "disk", "transformer.wpe": "cpu", "transformer.h": "cpu", "transformer.ln_f": "cpu",
     "lm_head": "cpu"},                                           # offloaded input embedding
], ids=["head-on-disk", "embedding-on-disk"])
def test_device_mapped_model_scores_like_the_whole_model(tmp_path, device_map):
    """With accelerate, offloaded weights live on the meta device and only a module's hook can load
    them; the scorer must neither move such a model nor read the head's weight directly."""
    pytest.importorskip("accelerate")
    import transformers

    from l2m_utils.language_model import load_pretrained

    config = transformers.GPT2Config(vocab_size=V, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                     bos_token_id=BOS, tie_word_embeddings=False)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path / "m")
    whole = load_pretrained(str(tmp_path / "m"), dtype="float32")
    mapped = load_pretrained(str(tmp_path / "m"), dtype="float32", device_map=device_map,
                             offload_folder=str(tmp_path / "offload"))
    assert S.spread_over_devices(mapped)
    t = tokens(4, 21, seed=3)
    for dtype in (torch.float32, torch.bfloat16):  # bfloat16 body (the GPU default): the head stays float32
        expected = CausalLMScorer(whole, batch_size=3, dtype=dtype).token_logprobs(t)
        got = CausalLMScorer(mapped, batch_size=3, chunk_size=16, dtype=dtype).token_logprobs(t)
        np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=str(dtype))
        ragged = CausalLMScorer(mapped, batch_size=2, dtype=dtype).token_logprobs_ragged([t[0, :5], t[1], t[2, :1]])
        for row, k, r in zip((0, 1, 2), (5, 21, 1), ragged):
            np.testing.assert_allclose(r, expected[row, :k], atol=1e-5, err_msg=f"{dtype} row {row}")
    assert S.model_fingerprint(mapped)  # offloaded (meta) weights are skipped: reading them would raise


def test_device_map_without_accelerate_is_named(monkeypatch):
    import importlib.util

    from l2m_utils import language_model as LM

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "accelerate" else real(name, *a))
    with pytest.raises(RuntimeError, match="needs the `accelerate` package"):
        LM.load_pretrained("anything", device_map="auto")


def test_sequences_longer_than_the_declared_positions_are_refused():
    """GPT-2 reads BOS + T − 1 tokens; beyond n_positions it would fail deep inside torch."""
    short = build_gpt2(V, BOS, GPTShape(n_layer=1, n_embd=16, n_head=2, n_ctx=16), seed=0).eval()
    scorer = CausalLMScorer(short)
    assert scorer.declared_positions == (16, "n_positions")
    assert scorer.token_logprobs(tokens(2, 16)).shape == (2, 16)  # exactly the declared positions
    message = r"sequences of 17 tokens are longer than the 16 positions that GPT2LMHeadModel declares \(config.n_positions"
    with pytest.raises(ValueError, match=message):
        scorer.token_logprobs(tokens(2, 17))
    with pytest.raises(ValueError, match=message):
        scorer.token_logprobs_ragged([tokens(1, 5)[0], tokens(1, 17)[0]])


def test_declared_positions_of_configurations():
    from types import SimpleNamespace as NS

    assert S.declared_positions(NS(n_positions=1024, max_position_embeddings=7)) == (1024, "n_positions")
    assert S.declared_positions(NS(max_position_embeddings=131072)) == (131072, "max_position_embeddings")
    assert S.declared_positions(NS(n_ctx=512)) == (512, "n_ctx")
    assert S.declared_positions(NS(max_position_embeddings=None, hidden_size=8)) is None  # e.g. Mamba


def test_cache_key_includes_the_scorers_own_settings(tmp_path, model):
    # the caller's key names the model; BOS id and dtypes change the numbers too, so they join the key
    t = tokens(2, 6)
    plain = CachedScorer(CausalLMScorer(model), {"model": "tiny"}, root=tmp_path)
    other_bos = CachedScorer(CausalLMScorer(model, bos_id=5), {"model": "tiny"}, root=tmp_path)
    bf16 = CachedScorer(CausalLMScorer(model, dtype=torch.bfloat16), {"model": "tiny"}, root=tmp_path)
    assert len({plain.directory(t), other_bos.directory(t), bf16.directory(t)}) == 3
    a = plain.token_logprobs(t)
    b = other_bos.token_logprobs(t)
    assert other_bos.computed == 1 and other_bos.loaded == 0
    np.testing.assert_allclose(b, CausalLMScorer(model, bos_id=5).token_logprobs(t), atol=1e-12)
    assert np.abs(a - b).max() > 1e-3
    # a Markov scorer is identified by its matrix
    p = np.full((V, V), 1.0 / V)
    q = p.copy()
    q[0] = np.r_[0.5, np.full(V - 1, 0.5 / (V - 1))]
    assert (CachedScorer(MarkovChainScorer(p), "m", root=tmp_path).directory(t)
            != CachedScorer(MarkovChainScorer(q), "m", root=tmp_path).directory(t))


def test_cache_key_includes_the_scorers_device_type(tmp_path, model):
    # one dtype rounds differently under CPU and CUDA autocast: scores cached on one device are not the other's
    t = tokens(2, 6)
    on_cpu = CausalLMScorer(model, dtype=torch.bfloat16)
    on_cuda = CausalLMScorer(model, dtype=torch.bfloat16)
    on_cuda.device = torch.device("cuda")  # only the key is formed here: no GPU needed
    assert (CachedScorer(on_cpu, {"model": "tiny"}, root=tmp_path).directory(t)
            != CachedScorer(on_cuda, {"model": "tiny"}, root=tmp_path).directory(t))


def test_body_dtype_names_defaults_and_errors():
    assert S.body_dtype(None, "cpu") is S.body_dtype("auto", torch.device("cpu")) is torch.float32
    assert S.body_dtype("auto", "cuda") is S.body_dtype(None, "cuda:1") is torch.bfloat16  # no GPU needed to ask
    assert [S.body_dtype(name, "cpu") for name in S.BODY_DTYPES] == [torch.bfloat16, torch.float16, torch.float32]
    assert S.body_dtype(torch.float64, "cuda") is torch.float64  # a torch dtype is taken as given
    for bad in ("float7", "half", "fp32", ""):
        with pytest.raises(ValueError, match=f"unknown dtype '{bad}'; use 'auto', 'bfloat16'"):
            S.body_dtype(bad, "cpu")


def test_the_scorer_runs_its_body_in_the_dtype_asked_for(model):
    t = np.random.default_rng(0).integers(0, model.config.vocab_size, size=(3, 12))
    full = CausalLMScorer(model, dtype="float32").token_logprobs(t)
    half = CausalLMScorer(model, dtype="bfloat16")
    assert half.dtype is torch.bfloat16 and half.head_dtype is torch.float32
    lp = half.token_logprobs(t)
    assert not np.array_equal(lp, full)  # bfloat16 rounding reached the scores...
    np.testing.assert_allclose(lp, full, atol=0.1)  # ...and only rounding


def test_float32_matmul_precision_holds_only_inside_the_block():
    before = torch.get_float32_matmul_precision()
    matmul = torch.backends.cuda.matmul  # the flags exist without a GPU
    for inside, tf32 in (("high", True), ("highest", False)):
        with S.float32_matmul_precision(inside):
            assert torch.get_float32_matmul_precision() == inside
            assert matmul.allow_tf32 is tf32  # torch's old flag agrees (reading a mixture would raise)
        assert torch.get_float32_matmul_precision() == before
    with pytest.raises(RuntimeError, match="boom"):
        with S.float32_matmul_precision("high"):
            raise RuntimeError("boom")
    assert torch.get_float32_matmul_precision() == before
    with pytest.raises(ValueError, match="unknown float32 matmul precision 'tf32'"):
        with S.float32_matmul_precision("tf32"):
            pass


def test_head_tf32_setting(tmp_path, model):
    # TF32 is a CUDA matter: on the CPU the head is float32 whatever is asked, and the default is off
    assert not CausalLMScorer(model).head_tf32 and not CausalLMScorer(model, head_tf32=True).head_tf32
    with pytest.raises(ValueError, match="head_tf32 must be True, False or None"):
        CausalLMScorer(model, head_tf32="yes")
    on_cuda = CausalLMScorer(model, dtype=torch.bfloat16)
    on_cuda.device = torch.device("cuda")  # only the identity is formed here: no GPU needed
    ieee = copy.copy(on_cuda)
    on_cuda.head_tf32, ieee.head_tf32 = True, False
    # named only when on: caches made before TF32 existed (full float32 heads) keep their keys
    assert on_cuda.cache_identity()["head_tf32"] is True and "head_tf32" not in ieee.cache_identity()
    t = tokens(2, 8)
    assert (CachedScorer(on_cuda, {"model": "tiny"}, root=tmp_path).directory(t)
            != CachedScorer(ieee, {"model": "tiny"}, root=tmp_path).directory(t))


def test_model_fingerprint_includes_the_weights_dtype(model):
    # bfloat16 weights upcast to float32 keep their values but not their numbers: two fingerprints
    half = copy.deepcopy(model).to(torch.bfloat16)
    upcast = copy.deepcopy(half).float()
    assert S.model_fingerprint(half) != S.model_fingerprint(upcast)


def test_unreadable_or_misshapen_cached_batches_are_recomputed(tmp_path, model):
    t = tokens(4, 5)
    ref = CausalLMScorer(model).token_logprobs(t)
    cached = CachedScorer(CausalLMScorer(model), {"model": "tiny"}, batch_size=2, root=tmp_path)
    cached.token_logprobs(t)
    folder = cached.directory(t)
    (folder / "batch-000000.npz").write_bytes(b"not an npz file")
    np.savez(folder / "batch-000001.npz", logprobs=np.zeros((1, 5)))  # broadcastable, wrong shape
    with pytest.warns(UserWarning, match="recomputing") as caught:
        out = cached.token_logprobs(t)
    assert len(caught) == 2 and cached.computed == 2 and cached.loaded == 0
    np.testing.assert_allclose(out, ref, atol=1e-12)
    again = CachedScorer(CausalLMScorer(model), {"model": "tiny"}, batch_size=2, root=tmp_path)
    np.testing.assert_array_equal(again.token_logprobs(t), out)
    assert again.loaded == 2


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_kept_scorer_follows_weight_updates_of_the_head(dtype):
    # a bfloat16 model's head is copied to float32 once; the copy must follow later weight changes
    m = build_gpt2(V, BOS, GPTShape(n_layer=1, n_embd=32, n_head=4, n_ctx=64), seed=0).to(dtype).eval()
    scorer = CausalLMScorer(m)
    t = tokens(2, 8)
    before = scorer.token_logprobs(t)
    opt = torch.optim.SGD(m.parameters(), lr=1.0)
    m.train()
    loss = -torch.log_softmax(m(input_ids=torch.as_tensor(t)).logits.float(), -1)[..., 0].mean()
    loss.backward()
    opt.step()
    m.eval()
    after = scorer.token_logprobs(t)
    np.testing.assert_array_equal(after, CausalLMScorer(m).token_logprobs(t))
    assert np.abs(after - before).max() > 1e-3
    with torch.no_grad():  # load_state_dict copies in place as well
        m.load_state_dict(build_gpt2(V, BOS, GPTShape(n_layer=1, n_embd=32, n_head=4, n_ctx=64), seed=7)
                          .to(dtype).state_dict())
    np.testing.assert_array_equal(scorer.token_logprobs(t), CausalLMScorer(m).token_logprobs(t))


def test_a_model_with_nan_weights_is_named_as_such():
    m = build_gpt2(V, BOS, GPTShape(n_layer=1, n_embd=32, n_head=4, n_ctx=64), seed=0).eval()
    with torch.no_grad():
        m.transformer.h[0].mlp.c_fc.weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN or infinite logits.*diverged"):
        CausalLMScorer(m)


def test_a_position_offset_reads_the_tokens_at_later_positions(model):
    """position_offset k: BOS at position 0 and w_t at k + t, checked against the model's own logits
    with those position ids; k = 0 is the plain scorer."""
    t = tokens(3, 12, seed=4)
    x = torch.cat([torch.full((3, 1), BOS), torch.as_tensor(t)[:, :-1]], 1)
    positions = torch.cat([torch.zeros(1, dtype=torch.long), torch.arange(21, 32)])[None].expand(3, 12)
    with torch.no_grad():
        # an explicit mask: without one transformers reads the jump 0 -> 21 as a second packed sequence
        logits = model(input_ids=x, position_ids=positions, attention_mask=torch.ones_like(x)).logits.double()
    by_hand = torch.log_softmax(logits, -1).gather(2, torch.as_tensor(t)[:, :, None])[:, :, 0].numpy()
    shifted = CausalLMScorer(model, position_offset=20)
    np.testing.assert_allclose(shifted.token_logprobs(t), by_hand, atol=1e-5)
    assert np.abs(shifted.token_logprobs(t) - CausalLMScorer(model).token_logprobs(t)).max() > 1e-3
    np.testing.assert_array_equal(CausalLMScorer(model, position_offset=0).token_logprobs(t),
                                  CausalLMScorer(model).token_logprobs(t))
    ragged = shifted.token_logprobs_ragged([t[0], t[1, :5]])
    np.testing.assert_allclose(ragged[0], by_hand[0], atol=1e-5)
    np.testing.assert_allclose(ragged[1], by_hand[1, :5], atol=1e-5)


def test_without_position_embeddings_an_offset_changes_nothing(model):
    flat = copy.deepcopy(model)
    with torch.no_grad():
        flat.transformer.wpe.weight.zero_()
    t = tokens(2, 16, seed=5)
    np.testing.assert_allclose(CausalLMScorer(flat, position_offset=30).token_logprobs(t),
                               CausalLMScorer(flat).token_logprobs(t), atol=1e-6)


def test_a_position_offset_is_checked(model):
    with pytest.raises(ValueError, match="reach position 64, beyond the 64 positions"):
        CausalLMScorer(model, position_offset=33).token_logprobs(tokens(1, 32))
    CausalLMScorer(model, position_offset=32).token_logprobs(tokens(1, 32))  # positions up to 63: allowed
    with pytest.raises(ValueError, match="position_offset must be an integer >= 0"):
        CausalLMScorer(model, position_offset=-1)
    assert CausalLMScorer(model, position_offset=5).cache_identity()["position_offset"] == 5
    assert "position_offset" not in CausalLMScorer(model).cache_identity()
