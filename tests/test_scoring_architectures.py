"""CausalLMScorer on the architectures readers bring as estimators, not only GPT-2.

The scorer runs a model's body (``model.base_model``) and applies its LM head
(``get_output_embeddings``) in chunks, followed by the logit transforms some families add.  That is
only right if, for each family, body + head + transforms give the model's own logits.  Each case
builds a tiny randomly initialised model from its configuration (no download) and compares the
scorer with a full ``log_softmax`` of the model's own output, for equal-length and right-padded
ragged batches.  The cases cover the families' particular features: grouped-query attention and
RoPE (LLaMA, Qwen2, Qwen3, Phi-3), a sliding window shorter than the sequence (Mistral, Gemma-2),
final-logit soft-capping (Gemma-2, RecurrentGemma), logit scaling (Cohere, Granite, Falcon-H1), an LM head called ``embed_out``
(GPT-NeoX/Pythia), a projection after the decoder (OPT), ALiBi (BLOOM), parallel attention (Falcon),
and state-space bodies (Mamba, Mamba-2).
"""

import numpy as np
import pytest
import torch

from l2m_utils.scoring import CausalLMScorer

transformers = pytest.importorskip("transformers")

V, BOS, T = 64, 1, 21
SPECIAL = dict(vocab_size=V, bos_token_id=BOS, eos_token_id=2, pad_token_id=0)
ATTENTION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 max_position_embeddings=128)
GQA = dict(ATTENTION, num_key_value_heads=2)

CASES = {
    "llama": ("LlamaConfig", GQA),
    "mistral": ("MistralConfig", dict(GQA, sliding_window=8)),
    "qwen2": ("Qwen2Config", GQA),
    "qwen3": ("Qwen3Config", dict(GQA, head_dim=8)),
    "phi3": ("Phi3Config", GQA),
    "gemma2": ("Gemma2Config", dict(GQA, head_dim=8, sliding_window=8, final_logit_softcapping=3.0)),
    "cohere": ("CohereConfig", dict(GQA, logit_scale=0.5)),
    "granite": ("GraniteConfig", dict(GQA, logits_scaling=4.0)),
    "falcon_h1": ("FalconH1Config", dict(GQA, mamba_d_ssm=32, mamba_n_heads=4, mamba_d_head=8, mamba_d_state=8,
                                         mamba_n_groups=1, mamba_chunk_size=8, lm_head_multiplier=5.0)),
    "recurrent_gemma": ("RecurrentGemmaConfig", dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                                     num_attention_heads=4, num_key_value_heads=1, lru_width=32,
                                                     attention_window_size=8, logits_soft_cap=1.0, head_dim=8)),
    "gpt_neox": ("GPTNeoXConfig", ATTENTION),
    "opt": ("OPTConfig", dict(hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4,
                              max_position_embeddings=128, word_embed_proj_dim=16)),
    "bloom": ("BloomConfig", dict(hidden_size=32, n_layer=2, n_head=4)),
    "falcon": ("FalconConfig", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4)),
    "mamba": ("MambaConfig", dict(hidden_size=32, num_hidden_layers=2, state_size=8, expand=2)),
    "mamba2": ("Mamba2Config", dict(hidden_size=32, num_hidden_layers=2, state_size=8, expand=2, head_dim=8,
                                    num_heads=8, n_groups=1, chunk_size=8)),
}


def _model(case: str):
    config_class, kwargs = CASES[case]
    if not hasattr(transformers, config_class):
        pytest.skip(f"transformers {transformers.__version__} has no {config_class}")
    torch.manual_seed(0)
    return transformers.AutoModelForCausalLM.from_config(getattr(transformers, config_class)(**kwargs, **SPECIAL)).eval()


def _reference(model, tokens: np.ndarray) -> np.ndarray:
    """log q(w_t | BOS, w_<t) from the model's own logits (full log_softmax in float64)."""
    t = torch.as_tensor(tokens)
    x = torch.cat([torch.full((t.shape[0], 1), BOS), t[:, :-1]], 1)
    with torch.no_grad():
        logits = model(input_ids=x).logits.double()
    return torch.log_softmax(logits, -1).gather(2, t[:, :, None])[:, :, 0].numpy()


@pytest.mark.parametrize("case", list(CASES))
def test_scorer_matches_the_models_own_logits(case):
    model = _model(case)
    tokens = np.random.default_rng(0).integers(3, V, (3, T))
    reference = _reference(model, tokens)
    scorer = CausalLMScorer(model, batch_size=3, chunk_size=5)
    assert scorer.vocab_size == V and scorer.bos_id == BOS
    np.testing.assert_allclose(scorer.token_logprobs(tokens), reference, atol=1e-5)
    lengths = (T, 9, 14)  # one batch: the two shorter rows are right-padded, which must change no score
    ragged = scorer.token_logprobs_ragged([row[:n] for row, n in zip(tokens, lengths)])
    for row, n, ref in zip(ragged, lengths, reference):
        np.testing.assert_allclose(row, ref[:n], atol=1e-5)
