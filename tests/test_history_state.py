"""Tests for l2m_utils.history_state (chapter 2): hand-computed state sizes and the power law."""

from __future__ import annotations

import math

import numpy as np
import pytest
import transformers as tf

from l2m_utils.history_state import (
    PAPER_FITS,
    PG19_DIRECT,
    PG19_VCLUB,
    PUBLISHED_ARCHITECTURES,
    WIKIPEDIA_DIRECT,
    WIKIPEDIA_VCLUB,
    HistoryState,
    bipartite_mi_power_law,
    crossing_length,
    history_state,
    history_state_table,
    kabatjanskii_levenshtein_rate,
    l2m_margin,
    mamba2_state,
    mamba_state,
    published_config,
    state_capacity,
)

# --------------------------------------------------------------------------------------------------
# hand-computed sizes, one per family
# --------------------------------------------------------------------------------------------------


def test_gpt2_small_at_1024():
    hs = history_state(published_config("gpt2-small"), 1024)
    assert hs.total == 2 * 12 * 768 * 1024 == 18_874_368
    assert hs.per_layer == (2 * 768 * 1024,) * 12
    assert hs.kind == "kv-cache"


def test_gpt2_config_built_by_hand_grows_linearly():
    cfg = tf.GPT2Config(n_layer=2, n_embd=8, n_head=2)
    assert [history_state(cfg, p).total for p in (0, 1, 5)] == [0, 2 * 2 * 8, 2 * 2 * 8 * 5]


@pytest.mark.parametrize("ell", [1, 4096, 131072])
def test_llama31_8b_gqa(ell):
    hs = history_state(published_config("llama-3.1-8b"), ell)
    assert hs.total == 2 * 32 * 8 * 128 * ell
    assert hs.n_layer == 32


def test_llama_405b_and_70b():
    assert history_state("llama-3.1-70b", 10).total == 2 * 80 * 8 * 128 * 10
    assert history_state("llama-3.1-405b", 10).total == 2 * 126 * 8 * 128 * 10


def test_llama_head_dim_defaults_to_hidden_over_heads():
    cfg = tf.LlamaConfig(num_hidden_layers=3, hidden_size=96, num_attention_heads=6, num_key_value_heads=2)
    assert history_state(cfg, 7).total == 2 * 3 * 2 * (96 // 6) * 7


def test_llama_explicit_head_dim_wins():
    cfg = tf.LlamaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=4,
                         head_dim=32)
    assert history_state(cfg, 3).total == 2 * 2 * 4 * 32 * 3


def test_mistral_sliding_window_saturates():
    cfg = published_config("mistral-7b-v0.1")
    per_token = 2 * 32 * 8 * 128
    assert history_state(cfg, 100).total == per_token * 100
    assert history_state(cfg, 4096).total == per_token * 4096
    assert history_state(cfg, 4097).total == per_token * 4096
    assert history_state(cfg, 10**6).total == per_token * 4096
    assert history_state(cfg, 10**6).kind == "sliding-window kv-cache"


def test_mistral_without_window_is_full_attention():
    cfg = tf.MistralConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                           head_dim=16, sliding_window=None)
    assert history_state(cfg, 50).total == 2 * 2 * 2 * 16 * 50


def test_mamba_130m_hand_computed_and_constant():
    # d_inner = 2 * 768 = 1536; SSM 1536 * 16 = 24576; conv 1536 * 3 = 4608 -> 29184 per layer, 24 layers
    cfg = published_config("mamba-130m")
    per_layer = 1536 * 16 + 1536 * 3
    assert per_layer == 29184
    for ell in (0, 1, 4096, 10**6):
        hs = history_state(cfg, ell)
        assert hs.total == 24 * per_layer == 700_416
        assert hs.kind == "recurrent"


def test_mamba_2_8b():
    assert history_state("mamba-2.8b", 5).total == 64 * (5120 * 16 + 5120 * 3)


def test_mamba2_2_7b_hand_computed_and_constant():
    # d_inner = 5120 = 80 heads x 64; SSM 80*64*128 = 655360; conv (5120 + 2*1*128) * 3 = 16128
    cfg = published_config("mamba2-2.7b")
    per_layer = 80 * 64 * 128 + (5120 + 2 * 128) * 3
    assert per_layer == 671_488
    assert history_state(cfg, 1).total == history_state(cfg, 10**6).total == 64 * per_layer


def test_mamba2_groups_enter_conv_state():
    cfg = tf.Mamba2Config(num_hidden_layers=2, hidden_size=32, expand=2, num_heads=4, head_dim=16, state_size=8,
                          n_groups=2, conv_kernel=4)
    assert history_state(cfg, 3).per_layer == (4 * 16 * 8 + (64 + 2 * 2 * 8) * 3,) * 2


# Hand-computed from each model's published hyperparameters, at position 4096:
# attention: 2 (keys, values) x layers x kv_heads x head_dim x tokens;
# Mamba: layers x d_inner x (d_state + d_conv - 1), d_inner = 2 d_model, d_state 16, d_conv 4;
# Mamba-2: layers x [heads x 64 x 128 + (d_inner + 2 x 128) x 3], heads = d_inner / 64.
_PUBLISHED_TOTALS_AT_4096 = {
    "gpt2-small": 2 * 12 * 768 * 4096,
    "gpt2-medium": 2 * 24 * 1024 * 4096,
    "gpt2-large": 2 * 36 * 1280 * 4096,
    "gpt2-xl": 2 * 48 * 1600 * 4096,
    "llama-3.1-8b": 2 * 32 * 8 * 128 * 4096,
    "llama-3.1-70b": 2 * 80 * 8 * 128 * 4096,
    "llama-3.1-405b": 2 * 126 * 8 * 128 * 4096,
    "mistral-7b-v0.1": 2 * 32 * 8 * 128 * 4096,  # sliding window 4096: full at this position
    "mamba-130m": 24 * 1536 * (16 + 3),
    "mamba-370m": 48 * 2048 * (16 + 3),
    "mamba-790m": 48 * 3072 * (16 + 3),
    "mamba-1.4b": 48 * 4096 * (16 + 3),
    "mamba-2.8b": 64 * 5120 * (16 + 3),
    "mamba2-130m": 24 * (24 * 64 * 128 + (1536 + 256) * 3),
    "mamba2-370m": 48 * (32 * 64 * 128 + (2048 + 256) * 3),
    "mamba2-780m": 48 * (48 * 64 * 128 + (3072 + 256) * 3),
    "mamba2-1.3b": 48 * (64 * 64 * 128 + (4096 + 256) * 3),
    "mamba2-2.7b": 64 * (80 * 64 * 128 + (5120 + 256) * 3),
}


def test_every_published_name_matches_its_hand_computed_state():
    assert set(_PUBLISHED_TOTALS_AT_4096) == set(PUBLISHED_ARCHITECTURES)
    for name, total in _PUBLISHED_TOTALS_AT_4096.items():
        assert history_state(published_config(name), 4096).total == total, name
    assert published_config("GPT2-Small").n_layer == 12  # case-insensitive


def test_table_rows():
    rows = history_state_table(["gpt2-small", "mamba-130m"], [1024, 2048])
    assert rows[0][1024] == 2 * 12 * 768 * 1024 and rows[0][2048] == 2 * rows[0][1024]
    assert rows[1][1024] == rows[1][2048] == 700_416


# --------------------------------------------------------------------------------------------------
# generic protocol and dict specs
# --------------------------------------------------------------------------------------------------


class _Toy:
    def history_state_size(self, position: int) -> HistoryState:
        return HistoryState(3 * position, (position, 2 * position), "kv-cache", "toy")


def test_protocol_object():
    assert history_state(_Toy(), 5).total == 15


def test_protocol_must_return_history_state():
    class Bad:
        def history_state_size(self, position):
            return 3

    with pytest.raises(TypeError, match="Bad.history_state_size"):
        history_state(Bad(), 1)


def test_dict_specs():
    att = {"kind": "attention", "n_layer": 2, "n_kv_heads": 3, "head_dim": 4, "window": 10}
    assert history_state(att, 5).total == 2 * 2 * 3 * 4 * 5
    assert history_state(att, 50).total == 2 * 2 * 3 * 4 * 10
    rec = {"kind": "recurrent", "n_layer": 4, "state_per_layer": 100}
    assert history_state(rec, 123).total == 400


def test_dict_spec_errors():
    with pytest.raises(ValueError, match="kind"):
        history_state({"kind": "lstm"}, 1)
    with pytest.raises(ValueError, match="missing keys"):
        history_state({"kind": "recurrent", "n_layer": 2}, 1)
    with pytest.raises(ValueError, match="unknown keys"):
        history_state({"kind": "recurrent", "n_layer": 2, "state_per_layer": 3, "colour": 1}, 1)


# --------------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------------


def test_unsupported_config_names_class():
    with pytest.raises(TypeError, match="BertConfig"):
        history_state(tf.BertConfig(), 10)
    with pytest.raises(TypeError, match="object"):
        history_state(object(), 10)


@pytest.mark.parametrize("bad", [-1, 1.5, 2.0, "10", None, True])
def test_bad_positions(bad):
    with pytest.raises(ValueError, match="position"):
        history_state(published_config("gpt2-small"), bad)


def test_numpy_int_position_ok():
    assert history_state("gpt2-small", np.int64(2)).total == 2 * 12 * 768 * 2


def test_unknown_published_name_lists_known():
    with pytest.raises(ValueError, match="gpt2-small.*mamba2-2.7b"):
        published_config("gpt5")


def test_nbytes():
    hs = history_state("gpt2-small", 1024)
    assert hs.nbytes("bfloat16") == 2 * hs.total and hs.nbytes("float32") == 4 * hs.total
    with pytest.raises(ValueError, match="dtype"):
        hs.nbytes("float12")


def test_history_state_validates_total():
    with pytest.raises(ValueError, match="sum"):
        HistoryState(5, (1, 2), "recurrent", "x")


# --------------------------------------------------------------------------------------------------
# power law and crossing
# --------------------------------------------------------------------------------------------------


def test_paper_fits_constants():
    assert (PG19_DIRECT.A, PG19_DIRECT.beta) == (2.27, 0.76)
    assert (PG19_VCLUB.A, PG19_VCLUB.beta) == (3.26, 0.71)
    assert (WIKIPEDIA_DIRECT.A, WIKIPEDIA_DIRECT.beta) == (4.50, 0.66)
    assert (WIKIPEDIA_VCLUB.A, WIKIPEDIA_VCLUB.beta) == (7.01, 0.60)
    assert all("approximate" in fit.note for fit in PAPER_FITS.values())


def test_power_law_values():
    assert bipartite_mi_power_law(1.0, 2.27, 0.76) == pytest.approx(2.27)
    assert PG19_DIRECT(1e6) == pytest.approx(2.27 * 1e6**0.76)
    assert PG19_DIRECT(1e6) > 60_000  # the paper's extrapolation
    np.testing.assert_allclose(bipartite_mi_power_law([1, 16], 2.0, 0.5), [2.0, 8.0])


def test_power_law_errors():
    with pytest.raises(ValueError, match="positive"):
        bipartite_mi_power_law(0, 1.0, 0.5)
    with pytest.raises(ValueError, match="beta"):
        bipartite_mi_power_law(10, 1.0, -0.5)
    with pytest.raises(ValueError, match="prefactor"):
        bipartite_mi_power_law(10, 0.0, 0.5)


def test_crossing_length_inverts_law():
    s, c, logm = 1000, 0.5, math.log(50257)
    L = crossing_length(s, 2.27, 0.76, c, logm)
    assert bipartite_mi_power_law(L, 2.27, 0.76) == pytest.approx(state_capacity(s, c, logm))
    assert crossing_length(s, 2.0, 0.5, 1.0) == pytest.approx((1000 / 2.0) ** 2)


def test_crossing_length_errors():
    with pytest.raises(ValueError, match="nats_per_scalar"):
        crossing_length(10, 2.0, 0.5, 0.0)
    with pytest.raises(ValueError, match="log_vocab"):
        crossing_length(10, 2.0, 0.5, 1.0, -1.0)


def test_l2m_margin_signs():
    # a transformer's KV cache at L/2 beats the law; a tiny recurrent state loses at long L
    assert l2m_margin("gpt2-small", 10**6, 2.27, 0.76, 0.01) > 0
    tiny = {"kind": "recurrent", "n_layer": 1, "state_per_layer": 10}
    assert l2m_margin(tiny, 10**6, 2.27, 0.76, 1.0) < 0
    assert l2m_margin(tiny, 2, 2.27, 0.76, 1.0) > 0
    with pytest.raises(ValueError, match="block length"):
        l2m_margin(tiny, 1, 2.27, 0.76, 1.0)


def test_l2m_margin_by_hand():
    # one layer, one head of size 1: the KV cache after p tokens holds 2p scalars.  At L = 10 the
    # theorem's z_5 is built from 4 tokens (8 scalars) and log M pays for x_5
    spec = {"kind": "attention", "n_layer": 1, "n_kv_heads": 1, "head_dim": 1}
    want = 0.5 * 8 + math.log(7) - 2.0 * 10**0.5
    assert l2m_margin(spec, 10, 2.0, 0.5, 0.5, math.log(7)) == pytest.approx(want, abs=1e-12)


def test_kabatjanskii_levenshtein_rate():
    # eps = 0.5 is the angle of 60 degrees of the kissing-number problem: the published bound is
    # 2^(0.401 d) (Kabatjanskii & Levenshtein 1978), here in nats per dimension
    assert kabatjanskii_levenshtein_rate(0.5) == pytest.approx(0.2782386677, rel=1e-9)
    assert kabatjanskii_levenshtein_rate(0.5) / math.log(2) == pytest.approx(0.401, abs=5e-4)
    # small eps: f -> 0 like (eps^2 / 4) log(4 e / eps^2)
    assert kabatjanskii_levenshtein_rate(0.01) == pytest.approx(2.8994e-4, rel=1e-4)
    assert kabatjanskii_levenshtein_rate(0.01) == pytest.approx(1e-4 / 4 * math.log(4 * math.e / 1e-4), rel=1e-3)
    rates = [kabatjanskii_levenshtein_rate(e) for e in (0.01, 0.1, 0.3, 0.9)]
    assert 0 < rates[0] < rates[1] < rates[2] < rates[3]
    with pytest.raises(ValueError, match="overlap"):
        kabatjanskii_levenshtein_rate(0.0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1, -0.5])
def test_state_size_must_be_finite_and_non_negative(bad):
    with pytest.raises(ValueError, match=f"state_size must be finite and >= 0, got {bad!r}"):
        state_capacity(bad, 1.0)
    with pytest.raises(ValueError, match="state_size must be finite"):
        crossing_length(bad, 2.0, 0.5, 1.0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_capacity_constants_must_be_finite(bad):
    with pytest.raises(ValueError, match="nats_per_scalar must be positive and finite"):
        state_capacity(10, bad)
    with pytest.raises(ValueError, match="log_vocab must be >= 0"):
        crossing_length(10, 2.0, 0.5, 1.0, bad)
    with pytest.raises(ValueError, match="prefactor A"):
        crossing_length(10, bad, 0.5, 1.0)
    with pytest.raises(ValueError, match="exponent beta"):
        crossing_length(10, 2.0, bad, 1.0)


def test_mamba_state_by_hand_and_d_conv_one():
    assert mamba_state(2, 4, 4, 4).per_layer == (4 * 4 + 4 * 3,) * 2
    assert mamba_state(2, 4, 4, 1).per_layer == (16, 16)  # d_conv = 1: no convolution state
    assert mamba2_state(2, 2, 4, 8, 1, 1).per_layer == (2 * 4 * 8,) * 2
    assert mamba_state(np.int64(2), 4, 4, 4).total == 56


@pytest.mark.parametrize("field", ["n_layer", "d_inner", "d_state", "d_conv"])
@pytest.mark.parametrize("bad", [0, -1, 2.0, True, None])
def test_mamba_state_refuses_non_positive_integers(field, bad):
    args = dict(n_layer=2, d_inner=4, d_state=4, d_conv=4)
    with pytest.raises(ValueError, match=f"mamba: {field} must be a positive integer, got {bad!r}"):
        mamba_state(**{**args, field: bad})


@pytest.mark.parametrize("field", ["n_layer", "n_heads", "head_dim", "d_state", "n_groups", "d_conv"])
@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_mamba2_state_refuses_non_positive_integers(field, bad):
    args = dict(n_layer=2, n_heads=2, head_dim=4, d_state=8, n_groups=1, d_conv=4)
    with pytest.raises(ValueError, match=f"mamba2: {field} must be a positive integer, got {bad!r}"):
        mamba2_state(**{**args, field: bad})
