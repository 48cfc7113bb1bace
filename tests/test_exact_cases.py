"""Hand-computed answers for helpers whose other tests check only shapes, sums or properties, and
clear errors for bad input that used to be rounded, split into characters or hung.

Each expected value is written out with the formula it comes from, so that a wrong implementation
that keeps the invariants (a reversed index, a bound of log K, a fingerprint of the object's id)
fails here.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from l2m_utils import bipartite as BP
from l2m_utils import cache, fits, printing
from l2m_utils import entropy_estimators as ee
from l2m_utils import history_state as hs
from l2m_utils import information as info
from l2m_utils import processes as proc
from l2m_utils import two_point as tp
from l2m_utils.calibration_sources import ErasureChain, FactorialErasureSource
from l2m_utils.hmm import HMM, state_entropy_bound
from l2m_utils.scoring import MarkovChainScorer

EULER_GAMMA = 0.5772156649015329


def _h(p: float) -> float:
    """Binary entropy in nats."""
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


# ---------------------------------------------------------------- two-point MI by hand


def test_two_point_mi_of_a_three_token_document_is_zero_with_the_plug_in():
    # pairs at d = 1: (0,0), (0,1). X = {0,0}: H = 0; Y = {0,1}: ln 2; XY has two distinct pairs: ln 2
    r = tp.two_point_mi([np.array([0, 0, 1])], [1], 2, estimator="naive")
    np.testing.assert_allclose(r.mi, [0.0], atol=1e-15)
    np.testing.assert_allclose([r.h_x[0], r.h_y[0], r.h_xy[0]], [0.0, math.log(2), math.log(2)], atol=1e-15)


def test_two_point_mi_of_an_alternating_document_with_grassberger():
    # pairs (0,1), (1,0), (0,1), (1,0): X, Y and XY all have counts [2, 2], so
    # I = H_G([2, 2]) = ln 4 - G(2), with G(2) = psi(2) + (psi(3/2) - psi(1))/2 = 2 - gamma - ln 2
    r = tp.two_point_mi([np.array([0, 1, 0, 1, 0])], [1], 2)
    np.testing.assert_allclose(r.mi, [3 * math.log(2) - 2 + EULER_GAMMA], rtol=1e-12)


# ---------------------------------------------------------------- chain-rule terms


def test_chain_rule_terms_of_a_binary_symmetric_chain():
    # flip 0.1, L = 4, cut 2: X = (W1, W2), Y = (W3, W4).  Only W2 - W3 couple the halves (Markov):
    # T[1, 0] = I(W2; W3 | W1) = I(W2; W3) = ln 2 - h(0.1), T[0, 0] = I(W1; W3) ... by the chain rule
    # I(W1; W3) = ln 2 - h(0.18) (two flips), and I(W2; W3) = I(W1; W3) + I(W2; W3 | W1), so
    # T[0, 0] = ln 2 - h(0.18), T[1, 0] = h(0.18) - h(0.1); nothing is left for Y's second token.
    p = proc.markov_joint(np.array([[0.9, 0.1], [0.1, 0.9]]), 4)
    terms = info.chain_rule_terms(p, 2)
    assert terms.shape == (2, 2)
    np.testing.assert_allclose(terms[0, 0], math.log(2) - _h(0.18), rtol=1e-10)
    np.testing.assert_allclose(terms[1, 0], _h(0.18) - _h(0.1), rtol=1e-10)
    np.testing.assert_allclose(terms[:, 1], 0.0, atol=1e-12)
    np.testing.assert_allclose(terms[0, 0], 0.2217536937, rtol=1e-9)
    np.testing.assert_allclose(terms[1, 0], 0.1463105134, rtol=1e-9)


# ---------------------------------------------------------------- entropies and bounds


def test_miller_madow_drops_empty_bins():
    # plug-in over the 3 non-empty bins of N = 9 draws, plus (K - 1)/(2N) = 2/18
    expected = math.log(9) - (3 * math.log(3) + 5 * math.log(5)) / 9 + 1 / 9
    assert ee.miller_madow_entropy(np.array([3, 0, 5, 0, 1])) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(1.0479994187, rel=1e-9)


def test_state_entropy_bound_is_the_stationary_entropy_not_log_k():
    hmm = HMM(np.array([[0.9, 0.1], [0.3, 0.7]]), np.eye(2))  # stationary (3/4, 1/4)
    assert state_entropy_bound(hmm) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)), rel=1e-12)
    assert state_entropy_bound(hmm) == pytest.approx(0.5623351446, rel=1e-9)


def test_factorial_source_bound_is_the_stationary_entropy_of_its_chain():
    chain = ErasureChain(np.array([[0.5, 0.5], [0.9, 0.1]]), 0.5)  # stationary (9/14, 5/14)
    source = FactorialErasureSource([chain])
    pi = np.array([9 / 14, 5 / 14])
    assert source.mi_upper_bound() == pytest.approx(float(-(pi * np.log(pi)).sum()), rel=1e-12)
    assert source.mi_upper_bound() == pytest.approx(0.6517565612, rel=1e-9)


# ---------------------------------------------------------------- scorers and cache keys


def test_markov_scorer_prefix_sums_are_the_exact_log_joint():
    P = np.array([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.25, 0.25, 0.5]])
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 3, size=(5, 6))
    lp = MarkovChainScorer(P).token_logprobs(tokens)
    for t in range(1, 7):
        joint = proc.markov_joint(P, t)
        expected = np.log([joint[tuple(row[:t])] for row in tokens])
        np.testing.assert_allclose(lp[:, :t].sum(axis=1), expected, rtol=1e-12)


def test_settings_key_is_pinned():
    # cache keys live on disk: the same settings must give the same key in every process and version
    assert cache.settings_key({"model": "gpt2", "L": 64}) == "9eacaaf4bb60bb15"
    assert cache.settings_key({"L": 64, "model": "gpt2"}) == "9eacaaf4bb60bb15"


def test_model_fingerprint_depends_on_the_weights_not_on_the_object():
    pytest.importorskip("torch")
    from l2m_utils.language_model import GPTShape, build_gpt2
    from l2m_utils.scoring import model_fingerprint

    shape = GPTShape(n_layer=1, n_embd=16, n_head=2, n_ctx=16)
    a, b = build_gpt2(20, 19, shape, seed=0), build_gpt2(20, 19, shape, seed=0)
    assert a is not b and model_fingerprint(a) == model_fingerprint(b) == model_fingerprint(copy.deepcopy(a))
    assert model_fingerprint(build_gpt2(20, 19, shape, seed=1)) != model_fingerprint(a)
    # a change far from the start of a tensor (beyond a prefix sample), e.g. one fine-tuned row
    import torch

    with torch.no_grad():
        b.lm_head.weight[-1, -1] += 1e-3
    assert model_fingerprint(b) != model_fingerprint(a)


# ---------------------------------------------------------------- the pure-PyTorch Mamba-2 block


def test_rms_norm_gated_by_hand():
    torch = pytest.importorskip("torch")
    from l2m_utils.mamba2_torch import RMSNormGated

    x = torch.tensor([[3.0, 4.0]])
    with torch.no_grad():
        # rms([3, 4]) = sqrt(12.5): [3, 4] / sqrt(12.5)
        np.testing.assert_allclose(RMSNormGated(2)(x).numpy(), [[3 / 12.5**0.5, 4 / 12.5**0.5]], rtol=1e-5)
        # groups of one channel: each entry divided by its own |value|
        np.testing.assert_allclose(RMSNormGated(2, group_size=1)(torch.tensor([[3.0, -4.0]])).numpy(), [[1, -1]],
                                   rtol=1e-5)
        # gate before the norm: x * silu(z) = [0, 4 silu(1)], RMS-normalised [0, sqrt 2] (up to eps = 1e-5)
        np.testing.assert_allclose(RMSNormGated(2)(x, torch.tensor([[0.0, 1.0]])).numpy(), [[0, 2**0.5]],
                                   atol=1e-5)


def test_mamba2_torch_matches_the_transformers_reference_mixer():
    """Same parameters loaded into ``transformers``' Mamba2Mixer (its pure-PyTorch path on a CPU):
    an independent implementation of the block, so the CPU path has a reference without mamba_ssm."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from transformers import Mamba2Config
    from transformers.models.mamba2.modeling_mamba2 import Mamba2Mixer

    from l2m_utils.mamba2_torch import Mamba2Torch

    torch.manual_seed(0)
    ours = Mamba2Torch(16, d_state=4, headdim=8, ngroups=2, chunk_size=4)
    with torch.no_grad():
        for p in ours.parameters():  # move every parameter off its initial value
            p.add_(0.1 * torch.randn_like(p))
    config = Mamba2Config(hidden_size=16, num_heads=4, head_dim=8, state_size=4, n_groups=2, expand=2,
                          conv_kernel=4, chunk_size=4, time_step_limit=(0.0, float("inf")))
    reference = Mamba2Mixer(config, layer_idx=0)
    reference.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 11, 16)  # 11 positions: chunks of 4 with a ragged last one
    with torch.no_grad():
        a, b = ours(x), reference(x)
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
        ours.norm.weight.mul_(1.01)  # the comparison notices a 1% change of one parameter
        assert float((ours(x) - b).abs().max()) > 1e-3


# ---------------------------------------------------------------- clear errors for bad input


@pytest.mark.parametrize("call, message", [
    (lambda: BP.default_lengths(float("inf")), "max_length must be an integer, got inf"),
    (lambda: BP.shortest_length([2], min_future=float("inf")), "min_future must be a positive integer"),
    (lambda: printing.wrap_lines("word " * 40, width=float("nan")), "width must be a positive integer, got nan"),
    (lambda: tp.pair_sample(tp.concatenate_documents([np.arange(5)]), 2.7), "distance must be a positive integer"),
    (lambda: tp.count_pairs([np.arange(5)], 1.9), "distance must be a positive integer, got 1.9"),
    (lambda: tp.character_ids("hello"), "texts must be a list of strings, got 'hello'"),
    (lambda: tp.word_ids("hello world", 10), "texts must be a list of strings"),
    (lambda: tp.word_ids([b"bytes"], 10), "texts must be strings, got bytes"),
    (lambda: tp.two_point_mi([np.arange(10)], 1), "distances must be a list of integers, got 1"),
    (lambda: fits.mean_half_width([1, 2, 3], z=-1.96), "z must be a positive finite number"),
    (lambda: fits.mean_half_width([1, 2, 3], z=float("nan")), "z must be a positive finite number"),
    (lambda: hs.history_state_table("gpt2-small", [1]), "names must be a list of model names"),
    (lambda: hs.history_state_table(["gpt2-small"], 7), "positions must be a list of integers"),
    (lambda: hs.history_state_table(["gpt2-small"], []), "positions must name at least one position, got none"),
    (lambda: hs.history_state_table([], [16]), "names must name at least one published model, got none"),
    (lambda: hs.history_state_table(["gpt2-small"], [1.5]), "position must be an integer >= 0, got 1.5"),
])
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_bipartite_sweep_refuses_a_single_estimator_or_ratio():
    scorer = MarkovChainScorer(np.array([[0.9, 0.1], [0.1, 0.9]]))
    tokens = np.random.default_rng(0).integers(0, 2, size=(8, 16))
    with pytest.raises(ValueError, match="estimators must be a list of estimator names, got 'direct'"):
        BP.bipartite_sweep(scorer, tokens, [4, 8], estimators="direct")
    with pytest.raises(ValueError, match="ratios must be a list of split ratios"):
        BP.bipartite_sweep(scorer, tokens, [4, 8], ratios=2)


def test_text_model_helpers_refuse_bad_sizes():
    pytest.importorskip("torch")
    from l2m_utils import text_architectures as TA

    gpt = TA.text_spec("gpt2", 1, 16, 32)
    with pytest.raises(ValueError, match="max_layers must be a positive integer, got 0"):
        TA.matched_mamba2(gpt, 50, max_layers=0)


def test_scorer_refuses_bad_settings():
    torch = pytest.importorskip("torch")
    from l2m_utils.language_model import GPTShape, build_gpt2
    from l2m_utils.scoring import CausalLMScorer

    model = build_gpt2(20, 19, GPTShape(n_layer=1, n_embd=16, n_head=2, n_ctx=16), seed=0)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got -5"):
        CausalLMScorer(model, chunk_size=-5)
    with pytest.raises(ValueError, match="head_dtype must be a torch dtype"):
        CausalLMScorer(model, head_dtype="float32")
    with pytest.raises(ValueError, match="bos_id must be an integer >= 0, got 2.5"):
        CausalLMScorer(model, bos_id=2.5)
    with pytest.raises(ValueError, match="tolerance must be a finite number of nats"):
        CausalLMScorer(model).check_against_model(tolerance=float("nan"))
    assert CausalLMScorer(model, head_dtype=torch.float32).head_dtype == torch.float32


@pytest.mark.parametrize("call, message", [
    (lambda: proc.identical_tokens_joint(2, 2.5), "block length must be a positive integer, got 2.5"),
    (lambda: proc.markov_joint(np.array([[0.5, 0.5], [0.5, 0.5]]), 2.5), "block length must be a positive integer"),
    (lambda: proc.parity_sequences(2.0, 4), "order must be a positive integer, got 2.0"),
    (lambda: proc.parity_sequences(2, 4, taps=(1.5, 2)), "taps .* must be whole distances"),
    (lambda: proc.parity_sequences(2, 4, taps=(1, 1, 2)), "repeat a distance"),
    (lambda: HMM(np.array([[0.9, 0.1], [0.3, 0.7]]), np.eye(2)).state_distribution(2.5),
     "time t must be a positive integer, got 2.5"),
    (lambda: FactorialErasureSource([ErasureChain(np.eye(2) * 0.8 + 0.1, 0.5)] * 2).encode([1.7, 2.2]),
     "symbols must be integers, got dtype float64"),
    (lambda: FactorialErasureSource([ErasureChain(np.eye(2) * 0.8 + 0.1, 0.5)] * 2).encode(3),
     "symbols must have a last axis of 2 digits"),
    (lambda: FactorialErasureSource([ErasureChain(np.eye(2) * 0.8 + 0.1, 0.5)]).decode([2.7]),
     "token ids must be integers, got dtype float64"),
    (lambda: FactorialErasureSource([ErasureChain(np.eye(2) * 0.8 + 0.1, 0.5)]).bipartite_curve([8.7]),
     "length must be a positive integer, got 8.7"),
])
def test_bad_sizes_and_ids_of_the_exact_sources(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_gaussian_sampler_refuses_a_fractional_seed():
    pytest.importorskip("torch")
    from l2m_utils.gaussian_sequences import GaussianSequenceSampler

    import torch

    sampler = GaussianSequenceSampler(2, copies=2)
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got 1.7"):
        sampler.sample(2, seed=1.7)
    for bad in ("float32", torch.int64):
        with pytest.raises(ValueError, match="dtype must be a floating-point torch dtype"):
            GaussianSequenceSampler(1, dtype=bad)
