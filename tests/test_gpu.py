"""CUDA-only checks of the GPU code paths (skipped without a GPU).

Every GPU script runs this file first (``scripts/_gpu_common.sh``: ``gpu_check``), so that a session
learns within a minute whether the CUDA paths of every chapter work, before spending its budget on
one chapter.  Each test compares a CUDA path with its CPU reference on the same weights or data.
``L2M_GPU_TEST_DEVICE=cpu`` runs the same checks on the CPU (float32), to test the tests themselves.
"""

import math
import os

import numpy as np
import pytest
import torch

CUDA = os.environ.get("L2M_GPU_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(CUDA == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device")
PRECISION = "bf16" if CUDA == "cuda" else "fp32"


def test_pair_counting_on_cuda_equals_numpy():
    from l2m_utils.two_point import corpus_on_device, count_pairs, two_point_mi

    rng = np.random.default_rng(0)
    docs = [rng.zipf(1.3, size=n).clip(max=50_256).astype(np.int64) for n in (50_000, 70_000, 80_000)]
    small = [(doc % 512).astype(np.int64) for doc in docs]  # M² = 262,144 keys: the histogram path
    on_gpu = {50_257: corpus_on_device(docs, CUDA, 50_257), 512: corpus_on_device(small, CUDA, 512)}
    assert on_gpu[512].device.type == torch.device(CUDA).type
    for corpus, m in ((docs, 50_257), (small, 512)):
        for d in (1, 64, 4096):
            a = count_pairs(corpus, d, vocab_size=m, backend="numpy")
            b = count_pairs(corpus, d, vocab_size=m, backend="torch", device=CUDA)
            c = count_pairs(on_gpu[m], d)  # the device-resident corpus
            for x, y, z in zip(a, b, c):
                np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
                np.testing.assert_array_equal(np.asarray(x), np.asarray(z))
    # the estimate and its shuffled floors are bit-identical to the CPU's (permutations drawn on the host)
    cpu = two_point_mi(docs, [1, 64], 50_257, n_shuffles=2, seed=3, backend="numpy")
    gpu = two_point_mi(on_gpu[50_257], [1, 64], n_shuffles=2, seed=3)
    for name in ("mi", "n_pairs", "floor_samples"):
        np.testing.assert_array_equal(getattr(gpu, name), getattr(cpu, name), err_msg=name)


def test_bf16_scoring_on_cuda_matches_float32_on_cpu():
    from l2m_utils import language_model as LM
    from l2m_utils.scoring import CausalLMScorer

    shape = LM.GPTShape(n_layer=2, n_embd=64, n_head=2, n_ctx=128)
    model = LM.build_gpt2(500, 0, shape, seed=0).eval()
    tokens = np.random.default_rng(1).integers(1, 500, size=(6, 100))
    ref = CausalLMScorer(model, batch_size=4, device="cpu", bos_id=0).token_logprobs(tokens)
    gpu = CausalLMScorer(model.to(CUDA), batch_size=4, device=CUDA, bos_id=0).token_logprobs(tokens)
    assert gpu.shape == ref.shape and np.isfinite(gpu).all()
    assert np.abs(gpu - ref).mean() < 0.02  # bfloat16 body, float32 log-softmax
    ragged = CausalLMScorer(model, batch_size=4, device=CUDA, bos_id=0).token_logprobs_ragged(
        [tokens[0, :37], tokens[1]])
    np.testing.assert_allclose(ragged[1], gpu[1], atol=0.05)
    np.testing.assert_allclose(ragged[0], gpu[0, :37], atol=0.05)


def test_shifted_positions_on_cuda_match_the_cpu():
    """position_offset (chapters 4, 7 and 8) on CUDA: bf16 body with sdpa and the explicit attention mask
    against float32 on the CPU."""
    from l2m_utils import language_model as LM
    from l2m_utils.scoring import CausalLMScorer

    shape = LM.GPTShape(n_layer=2, n_embd=64, n_head=2, n_ctx=128)
    model = LM.build_gpt2(500, 0, shape, seed=0).eval()
    tokens = np.random.default_rng(3).integers(1, 500, size=(6, 60))
    ref = CausalLMScorer(model, batch_size=4, device="cpu", bos_id=0, position_offset=60).token_logprobs(tokens)
    gpu = CausalLMScorer(model.to(CUDA), batch_size=4, device=CUDA, bos_id=0, position_offset=60).token_logprobs(tokens)
    assert np.isfinite(gpu).all() and np.abs(gpu - ref).mean() < 0.02
    plain = CausalLMScorer(model, batch_size=4, device=CUDA, bos_id=0).token_logprobs(tokens)
    assert np.abs(gpu - plain).mean() > 0.02  # the shift did change the scores


def test_tf32_head_on_cuda_matches_the_float32_head():
    """The default TF32 head (bf16 body) against the full-float32 head on the same weights: only the
    rounding of the head's two factors to 11 significant bits separates them."""
    from l2m_utils import language_model as LM
    from l2m_utils.scoring import CausalLMScorer

    shape = LM.GPTShape(n_layer=2, n_embd=256, n_head=4, n_ctx=256)
    model = LM.build_gpt2(32_000, 0, shape, seed=0).eval().to(CUDA)
    tokens = np.random.default_rng(2).integers(1, 32_000, size=(4, 256))
    tf32 = CausalLMScorer(model, batch_size=4, device=CUDA, bos_id=0)
    ieee = CausalLMScorer(model, batch_size=4, device=CUDA, bos_id=0, head_tf32=False)
    assert tf32.head_tf32 == (CUDA == "cuda") and not ieee.head_tf32
    a, b = tf32.token_logprobs(tokens), ieee.token_logprobs(tokens)
    if CUDA == "cuda":
        assert not np.array_equal(a, b)  # the TF32 product did run (GPT-2's final LayerNorm is float32)
    assert np.abs(a - b).max() < 5e-3
    assert abs((a - b).sum(axis=1)).max() < 0.05  # a block's total, as the estimators sum it


def test_device_mapped_model_on_cuda_with_an_offloaded_head(tmp_path):
    """A hub model loaded with device_map: body on the GPU, LM head offloaded to the CPU (accelerate
    runs it on the GPU through its hook).  Scores must match the whole model on the GPU."""
    if CUDA != "cuda":
        pytest.skip("device maps with a GPU need CUDA")
    pytest.importorskip("accelerate")
    import transformers

    from l2m_utils.language_model import load_pretrained
    from l2m_utils.scoring import CausalLMScorer, spread_over_devices

    config = transformers.GPT2Config(vocab_size=500, n_positions=128, n_embd=64, n_layer=2, n_head=2,
                                     bos_token_id=0, tie_word_embeddings=False)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path / "m")
    whole = load_pretrained(str(tmp_path / "m"), dtype="float32", device="cuda")
    mapped = load_pretrained(str(tmp_path / "m"), dtype="float32", device_map={"transformer": 0, "lm_head": "cpu"})
    assert spread_over_devices(mapped)
    tokens = np.random.default_rng(1).integers(1, 500, size=(6, 100))
    for dtype in (torch.float32, None):  # None: the default bfloat16 body; the head stays float32
        ref = CausalLMScorer(whole, batch_size=4, dtype=dtype).token_logprobs(tokens)
        got = CausalLMScorer(mapped, batch_size=4, dtype=dtype).token_logprobs(tokens)
        np.testing.assert_allclose(got, ref, atol=1e-3, err_msg=str(dtype))
        ragged = CausalLMScorer(mapped, batch_size=4, dtype=dtype).token_logprobs_ragged([tokens[0, :37], tokens[1]])
        np.testing.assert_allclose(ragged[0], ref[0, :37], atol=1e-3)


def test_training_on_cuda_reduces_the_loss(tmp_path):
    from l2m_utils import language_model as LM

    rng = np.random.default_rng(0)
    stream = (np.arange(20_000) % 40 + 1).astype(np.int64)
    noise = rng.random(stream.size) < 0.1
    stream[noise] = rng.integers(1, 41, noise.sum())
    settings = LM.TrainSettings(steps=60, batch_size=16, lr=3e-3, warmup_steps=5, checkpoint_every=30,
                                valid_every=20, valid_tokens=2000)
    model, rec = LM.train_lm(stream, stream[:3000], 41, 0, LM.GPTShape(n_layer=2, n_embd=64, n_head=2, n_ctx=64),
                             settings, device=CUDA, root=tmp_path, progress=False, eval_tokens=2000,
                             valid_stream=stream[-3000:])
    assert next(model.parameters()).device.type == CUDA
    assert np.mean(rec.train_loss[-5:]) < np.mean(rec.train_loss[:5]) - 1.0
    assert rec.heldout_cross_entropy < math.log(41) and len(rec.valid_curve) == 3


def test_training_on_cuda_resumes_and_loads_its_checkpoint(tmp_path):
    """An interrupted run resumes on the GPU, and a finished one loads from its checkpoint (the saved RNG
    states must come back as CPU tensors: torch.set_rng_state refuses CUDA ones)."""
    from l2m_utils import language_model as LM

    class Interrupt(Exception):
        pass

    def stop_at_7(step, loss):
        if step == 7:
            raise Interrupt

    stream = (np.arange(4000) % 40 + 1).astype(np.int64)
    shape = LM.GPTShape(n_layer=1, n_embd=32, n_head=2, n_ctx=32, dropout=0.1)  # dropout: the torch RNG matters
    settings = LM.TrainSettings(steps=10, batch_size=4, lr=3e-3, warmup_steps=2, checkpoint_every=5)

    def run(**kwargs):
        return LM.train_lm(stream, None, 41, 0, shape, settings, device=CUDA, root=tmp_path, progress=False, **kwargs)

    with pytest.raises(Interrupt):
        run(callback=stop_at_7)
    model, rec = run()
    assert rec.resumed_from_step == 5 and rec.steps == 10 and len(rec.train_loss) == 10
    assert next(model.parameters()).device.type == CUDA
    model, again = run()
    assert again.loaded_from_cache and again.train_loss == rec.train_loss


def test_gaussian_sampler_on_cuda():
    from l2m_utils import gaussian_sequences as gs

    s = gs.GaussianSequenceSampler(4, copies=64, device=CUDA)
    b = s.sample(64, seed=0)
    assert b.tokens.device.type == CUDA and b.tokens.shape == (64, 257, 64)
    w = b.tokens[:, 1:].float()
    # unit marginal variances; the residual w - mu has the exact conditional std sigma
    assert abs(float(w.var()) - 1.0) < 0.02
    resid = (w - b.mu) / b.sigma[None, :, None]
    assert abs(float(resid.std()) - 1.0) < 0.02 and abs(float(resid.mean())) < 0.01
    # a seeded batch is the same on every device (chapter 6 scores runs from any machine on one held-out batch)
    ref = gs.GaussianSequenceSampler(4, copies=64).sample(64, seed=0)
    torch.testing.assert_close(b.tokens.cpu(), ref.tokens, rtol=1e-2, atol=1e-2)  # loose: TF32 matmuls


def _mamba_kernels():
    from l2m_utils.continuous_models import load_mamba_ssm_mamba2

    if load_mamba_ssm_mamba2() is None:
        pytest.skip("mamba_ssm's Triton Mamba2 is not importable here")


def test_triton_mamba2_matches_the_pytorch_block_in_the_continuous_model():
    _mamba_kernels()
    from l2m_utils.continuous_models import build_model

    fast = build_model("mamba2", 2, 128, d_state=16, device=CUDA, require_kernels=True, seed=0, chunk_size=64)
    slow = build_model("mamba2", 2, 128, d_state=16, device=CUDA, prefer_kernels=False, seed=0, chunk_size=64)
    assert fast.kernel == "mamba_ssm" and slow.kernel == "torch"
    slow.load_state_dict(fast.state_dict())
    x = torch.randn(2, 257, 64, device=CUDA)
    with torch.no_grad():
        (mf, sf), (ms, ss) = fast(x), slow(x)
    assert float((mf - ms).norm() / ms.norm().clamp_min(1e-12)) < 1e-3
    assert float((sf - ss).norm() / ss.norm()) < 1e-3


def test_synthetic_training_run_on_cuda(tmp_path):
    from l2m_utils import synthetic_training as st
    from l2m_utils.continuous_models import ModelSpec

    for backbone in ("gpt2", "mamba2"):
        spec = ModelSpec(backbone=backbone, n_layer=2, d_model=64, d_state=16, max_length=256, chunk_size=64)
        cfg = st.RunConfig(model=spec, depth=3, steps=30, batch=8, warmup=3, precision=PRECISION, eval_every=15,
                           eval_sequences=8)
        out = st.train_run(cfg, CUDA, results_dir=tmp_path, progress=False)
        assert out.status == "finished"
        kl = out.result["metrics"]["kl"]
        assert math.isfinite(kl) and 0 < out.result["metrics"]["kl_over_baseline"] < 1.5


def test_text_mamba2_lm_on_cuda_matches_the_pytorch_block():
    _mamba_kernels()
    from l2m_utils import text_architectures as TA

    spec = TA.text_spec("mamba2", 2, 128, 512, d_state=16, chunk_size=128)
    fast = TA.build_text_lm(spec, 300, 0, seed=0, device=CUDA, require_kernels=True).eval()
    slow = TA.Mamba2LM(spec, 300, 0).to(CUDA).eval()
    slow.load_state_dict(fast.state_dict())
    samples = np.random.default_rng(0).integers(1, 300, size=(4, 300))
    a = TA.positionwise_nll(fast, samples, 0, batch_size=4, device=CUDA)
    b = TA.positionwise_nll(slow, samples, 0, batch_size=4, device=CUDA)
    assert np.isfinite(a).all() and np.abs(a - b).mean() < 0.02
