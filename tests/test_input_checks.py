"""Bad input across the package: every refusal names the argument, and nothing is silently read
another way (a string as characters, 1.7 as 1, ``seed=None`` as fresh OS entropy)."""

import math
import pickle

import numpy as np
import pytest

from l2m_utils import bipartite as BP
from l2m_utils import calibration_sources as CS
from l2m_utils import continuous_models as CM
from l2m_utils import corpus as C
from l2m_utils import entropy_estimators as EE
from l2m_utils import fits as FT
from l2m_utils import gaussian_sequences as gs
from l2m_utils import hmm as H
from l2m_utils import history_state as HS
from l2m_utils import information as I
from l2m_utils import language_model as LM
from l2m_utils import printing as PRINT
from l2m_utils import processes as PR
from l2m_utils import sweep_diagnostics as SD
from l2m_utils import synthetic_training as ST
from l2m_utils import text_architectures as TA
from l2m_utils import tokenization as T
from l2m_utils import two_point as TP
from l2m_utils.checks import is_real
from l2m_utils.language_model import TrainSettings
from l2m_utils.scoring import MarkovChainScorer

P2 = np.array([[0.9, 0.1], [0.2, 0.8]])
SPREAD = np.array([[1.0, 2.0, 3.0], [2.0, 3.0, 5.0], [4.0, 5.0, 9.0]])  # samples that differ: resampling matters


def _weights(model) -> np.ndarray:
    """All parameters of a model as one float64 vector (comparable and picklable)."""
    return np.concatenate([p.detach().double().cpu().numpy().ravel() for p in model.parameters()])
DOCS = [C.Document("a", "One two three. Four five six seven. Eight nine."),
        C.Document("b", "Ten eleven. Twelve thirteen fourteen.")]


@pytest.fixture(scope="module")
def tokenizer():
    return T.train_bpe(["the cat sat on the mat. " * 20, "a dog ran in the fog. " * 20], 300, cache=False)


@pytest.mark.parametrize("value", [2, 2.5, np.float32(2), np.int64(3), -1.0, math.inf])
def test_is_real_takes_numbers(value):
    assert is_real(value)


@pytest.mark.parametrize("value", ["2", True, np.bool_(True), None, [2.0], b"2"])
def test_is_real_refuses_strings_bools_and_containers(value):
    assert not is_real(value)


# every seed of the package must be an explicit non-negative integer: None would draw fresh OS
# entropy (a different result on every run), 1.7 would silently be seed 1
SEEDED = [
    ("MarkovChainScorer.sample", lambda s: MarkovChainScorer(P2).sample(2, 3, s)),
    ("derangement", lambda s: BP.derangement(4, s)),
    ("two_point_mi", lambda s: TP.two_point_mi([np.array([0, 1, 0, 1, 1, 0])], [1], n_shuffles=1, seed=s)),
    ("bootstrap_power_law", lambda s: FT.bootstrap_power_law([1, 2, 4], SPREAD, n_boot=4, seed=s)),
    ("bootstrap_exponent_difference",
     lambda s: FT.bootstrap_exponent_difference([1, 2, 4], SPREAD, [1, 2, 4], SPREAD[::-1], n_boot=4, seed=s)),
    ("split_documents", lambda s: C.split_documents(DOCS, 0.5, seed=s)),
    ("random_hmm", lambda s: H.random_hmm(2, 2, s)),
    ("ErasureChain.sample", lambda s: CS.ErasureChain(P2, 0.5).sample(2, 3, s)),
    ("FactorialErasureSource.sample",
     lambda s: CS.FactorialErasureSource([CS.ErasureChain(P2, 0.5)]).sample(2, 3, s)),
    # model builders: seed=None used to leave the weights to the global torch RNG
    ("build_gpt2", lambda s: _weights(LM.build_gpt2(11, 0, LM.GPTShape(n_layer=1, n_embd=8, n_head=2, n_ctx=8),
                                                    seed=s))),
    ("build_text_lm", lambda s: _weights(TA.build_text_lm(TA.text_spec("mamba2", 1, 16, 8), 11, 0, s))),
    ("continuous build_model", lambda s: _weights(CM.build_model("gpt2", 1, 16, copies=2, max_length=8, seed=s))),
]


@pytest.mark.parametrize("seed, shown", [(None, "None"), (1.7, "1.7"), (-1, "-1"), ("3", "'3'")])
@pytest.mark.parametrize("name, call", SEEDED, ids=[n for n, _ in SEEDED])
def test_every_seed_must_be_an_explicit_non_negative_integer(name, call, seed, shown):
    with pytest.raises(ValueError, match=rf"seed must be an integer >= 0, got {shown}$"):
        call(seed)
    call(np.int64(3))  # numpy integers are integers


@pytest.mark.parametrize("name, call", SEEDED, ids=[n for n, _ in SEEDED])
def test_a_seed_gives_the_same_result_twice(name, call):
    assert pickle.dumps(call(5)) == pickle.dumps(call(5))


@pytest.mark.parametrize("name, call", SEEDED, ids=[n for n, _ in SEEDED])
def test_the_seed_is_used(name, call):
    """Different seeds give different results (a function that ignored its seed would pass the test above)."""
    assert len({pickle.dumps(call(seed)) for seed in range(4)}) > 1


def test_a_single_string_is_refused_not_read_as_characters(tokenizer):
    for call in (lambda: T.tokenize_samples("hello world", tokenizer, 1),
                 lambda: T.encode_stream("hello world", tokenizer),
                 lambda: T.train_bpe("hello world", 300, cache=False)):
        with pytest.raises(ValueError, match=r"must be a list of strings, got 'hello world': wrap a single one"):
            call()


def test_encode_stream_concatenates_with_and_without_separators(tokenizer):
    a, b = "the cat", "a dog ran"
    ea, eb = tokenizer.encode([a, b])
    bos = [tokenizer.bos_id]
    np.testing.assert_array_equal(T.encode_stream([a, b], tokenizer), np.concatenate([bos, ea, bos, eb]))
    np.testing.assert_array_equal(T.encode_stream([a, b], tokenizer, separator=False), np.concatenate([ea, eb]))
    no_bos = T.Tokenizer("plain", tokenizer.vocab_size, None, tokenizer._encode_batch, tokenizer._decode)
    with pytest.raises(ValueError, match="has no BOS id to separate the texts with: pass separator=False"):
        T.encode_stream([a], no_bos)
    np.testing.assert_array_equal(T.encode_stream([a], no_bos, separator=False), ea)


@pytest.mark.parametrize("kwargs, message", [
    ({"vocab_size": 300.5}, r"vocab_size must be an integer >= 257 \(256 bytes \+ <bos>\), got 300.5"),
    ({"vocab_size": "300"}, r"vocab_size must be an integer >= 257 \(256 bytes \+ <bos>\), got '300'"),
    ({"vocab_size": 100}, r"vocab_size must be an integer >= 257 \(256 bytes \+ <bos>\), got 100"),
    ({"min_frequency": -1}, "min_frequency must be an integer >= 0, got -1"),
])
def test_train_bpe_checks_its_integers(kwargs, message):
    with pytest.raises(ValueError, match=message):
        T.train_bpe(["some text here"], **{"vocab_size": 300, **kwargs}, cache=False)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_samples": 0}, "max_samples must be a positive integer, got 0"),
    ({"max_samples": -1}, "max_samples must be a positive integer, got -1"),
    ({"max_samples": 1.5}, "max_samples must be a positive integer, got 1.5"),
    ({"min_samples": -3}, "min_samples must be an integer >= 0, got -3"),
])
def test_make_samples_checks_its_counts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        C.make_samples(DOCS, 2, **kwargs)


def test_make_samples_max_samples_caps_exactly():
    assert len(C.make_samples(DOCS, 2, max_samples=1)) == 1
    assert len(C.make_samples(DOCS, 2, max_samples=2)) == 2


def test_load_corpus_refuses_a_non_string_name_and_a_path_it_would_ignore(tmp_path):
    with pytest.raises(ValueError, match=r"the corpus name must be a string \(known: shakespeare, .*\), got None"):
        C.load_corpus(None)
    with pytest.raises(ValueError, match=r"corpus 'shakespeare' at '/nonexistent': path= applies to the 'local' "
                                         r"corpus only"):
        C.load_corpus("shakespeare", path="/nonexistent")
    with pytest.raises(ValueError, match="path= applies to the 'local' corpus only"):
        C.load_corpus("pg19", path=tmp_path)


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 10}, r"TrainSettings.warmup_steps must be an integer in \[0, 10\] \(warm-up within the 10 steps, "
                    r"or the peak learning rate is never reached\), got 100"),
    ({"steps": 10, "warmup_steps": 11}, r"warmup_steps must be an integer in \[0, 10\]"),
    ({"seed": 1.5}, "TrainSettings.seed must be an integer >= 0, got 1.5"),
])
def test_train_settings_refuse_a_warmup_longer_than_the_run(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainSettings(**kwargs)
    TrainSettings(steps=10, warmup_steps=10)  # the whole run warming up is allowed (steps = 1 needs it)


@pytest.mark.parametrize("call, message", [
    (lambda: TP.two_point_mi([np.array([0, 1, 0, 1])], [1], vocab_size=2.7),
     r"vocab_size must be a positive integer \(or None: max id \+ 1\), got 2.7"),
    (lambda: TP.two_point_mi([np.array([0, 1, 0, 1])], [1], vocab_size="5"), "vocab_size must be a positive integer"),
    (lambda: TP.two_point_mi([np.array([0, 1, 0, 1])], [1], min_pairs=2.5), "min_pairs must be an integer >= 0, got 2.5"),
    (lambda: TP.document_groups([1.5, 2.0, 3.0], 2), "document length must be an integer >= 0, got 1.5"),
    (lambda: TP.document_groups([3, -1, 4], 2), "document length must be an integer >= 0, got -1"),
    (lambda: TA.binned(np.zeros((2, 4)), [0, 1.5, 4]), "bin edge must be an integer >= 0, got 1.5"),
    (lambda: gs.apply_boundary_step(gs.sequence_covariance(2), skip=[0.7]), "a skip entry must be an integer, got 0.7"),
    (lambda: gs.apply_boundary_step(gs.sequence_covariance(2), skip=1), r"skip must be a list of boundary pair indices"),
])
def test_integer_arguments_are_checked_not_truncated(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.fixture(scope="module")
def chain_samples():
    return MarkovChainScorer(P2), MarkovChainScorer(P2).sample(6, 8, 0)


def test_bipartite_inputs(chain_samples):
    scorer, samples = chain_samples
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 2.5"):
        BP.score_batched(scorer, samples, 2.5)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 2.5"):
        BP.bipartite_sweep(scorer, samples, [4], batch_size=2.5)
    # a list of rows is an array of rows
    np.testing.assert_array_equal(BP.score_batched(scorer, samples.tolist(), 2), BP.score_batched(scorer, samples, 4))
    with pytest.raises(ValueError, match=r"bos_correction applies to the direct estimator only, and "
                                         r"estimators=\('vclub',\) does not include it"):
        BP.bipartite_sweep(scorer, samples, [4], estimators=("vclub",), bos_correction=True, bigram_entropy_nats=1.0)
    # a bigram entropy without the correction used to be ignored: the uncorrected estimate came back
    with pytest.raises(ValueError, match="bigram_entropy_nats is used only by the BOS correction: pass bos_correction"):
        BP.bipartite_sweep(scorer, samples, [4], bigram_entropy_nats=1.0)
    with pytest.raises(ValueError, match=r"bos_correction needs bigram_entropy_nats = H_G\(Y1Y2\) > 0"):
        BP.bipartite_sweep(scorer, samples, [4], bos_correction=True, bigram_entropy_nats="1.0")
    with pytest.raises(ValueError, match="block length must be a positive integer, got 4.0"):
        BP.bipartite_sweep(scorer, samples, [4.0])
    with pytest.raises(ValueError, match=r"split ratios L/ell must be finite and > 1, got \['2'\]"):
        BP.bipartite_sweep(scorer, samples, [4], ratios=["2"])
    with pytest.raises(ValueError, match=r"ratios must be a list of split ratios L/ell, got 2: wrap a single one"):
        BP.shortest_length(2)
    with pytest.raises(ValueError, match=r"split ratios L/ell must be finite and > 1, got \['2'\]"):
        BP.shortest_length(["2"])
    with pytest.raises(ValueError, match=r"split ratio L/ell must be > 1 and finite, got '2'"):
        BP.split_point(4, "2")
    assert BP.check_ratios([2, np.float32(3.0)]) == (2.0, 3.0)


@pytest.mark.parametrize("call, message", [
    (lambda: FT.mean_half_width([1.0, 2.0], z="2"), "z must be a positive finite number of standard errors, got '2'"),
    (lambda: TA.mean_band(np.ones((3, 2)), z=math.nan), "z must be a positive finite number of standard errors, got nan"),
    (lambda: TA.mean_band(np.ones((3, 2)), z=-1.0), "z must be a positive finite number"),
    (lambda: FT.bootstrap_power_law([[1, 2, 4]], np.ones((3, 3))), r"x must be a 1-D array of the n_x points, got shape \(1, 3\)"),
    (lambda: I.gaussian_mutual_information(np.eye(4), [[0, 1]], [[2, 3]]), r"x must be integer variable indices, got \[0, 1\]"),
    (lambda: I.gaussian_mutual_information(np.eye(4), 0, [2]), r"x must be a list of variable indices, got 0: wrap"),
    (lambda: TA.pad_rows([np.ones((2, 2))]), r"rows must be 1-D arrays; row 0 has shape \(2, 2\)"),
    (lambda: EE.grassberger_G(np.array([True])), "G\\(n\\) needs whole numbers n >= 1, got an array of dtype bool"),
])
def test_unclear_errors_now_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_count_table_is_one_distribution():
    table = np.array([[3, 1], [0, 2]])
    assert EE.grassberger_entropy(table) == EE.grassberger_entropy(table.ravel())
    assert EE.naive_entropy(table) == pytest.approx(-sum(p * math.log(p) for p in (3 / 6, 1 / 6, 2 / 6)), abs=1e-15)


def test_block_probabilities_guards_the_states_it_holds():
    hmm = H.random_hmm(64, 2, seed=0)
    assert H.forward_entries(20, 2, 64) <= H.MAX_FORWARD_ENTRIES < 2.0**20 * 64
    with pytest.raises(ValueError, match="more than the limit"):
        H.block_probabilities(hmm, 20)
    small = H.random_hmm(3, 2, seed=1)
    p = H.block_probabilities(small, 4)
    assert p.shape == (2,) * 4 and p.sum() == pytest.approx(1.0, abs=1e-14)


def test_hmm_scorers_have_a_cache_identity_that_tells_hmms_apart():
    a, b = H.random_hmm(3, 2, seed=1), H.random_hmm(3, 2, seed=2)
    from l2m_utils.cache import settings_key

    ka, kb = (settings_key(CS.HMMScorer(h).cache_identity()) for h in (a, b))
    assert ka != kb and ka == settings_key(CS.HMMScorer(a).cache_identity())


def test_factorial_source_repr_counts_chains_in_words():
    one = CS.FactorialErasureSource([CS.ErasureChain(P2, 0.5)])
    two = CS.FactorialErasureSource([CS.ErasureChain(P2, 0.5), CS.ErasureChain(P2, 0.25)])
    assert repr(one).startswith("FactorialErasureSource(1 chain (K=2, e=0.5)")
    assert repr(two).startswith("FactorialErasureSource(2 chains (K=2, e=0.5) (K=2, e=0.25)")


@pytest.mark.parametrize("call, message", [
    # a bare index used to fail with "'int' object is not iterable"
    (lambda: I.mutual_information(np.full((2, 2), 0.25), 0, [1]), r"x must be a list of variable indices, got 0"),
    (lambda: I.marginal(np.full((2, 2), 0.25), 1), r"axes must be a list of variable indices, got 1: wrap"),
    # messages that named the wrong argument
    (lambda: I.two_point_mutual_information(np.full((2, 2), 0.25), 0, 5),
     r"position j = 5 is out of range for a joint of 2 variables"),
    (lambda: H.hmm_two_point_mutual_information(H.random_hmm(2, 2, 0), [1], i=0),
     r"position i must be a positive integer \(1-based\), got 0"),
    (lambda: gs.bipartite_mi(np.eye(1)), r"needs a sequence of at least 2 tokens, got a 1x1 covariance"),
    (lambda: TA.count_text_lm_parameters(TA.text_spec("gpt2", 1, 16, 8), 0), "vocab_size must be a positive integer"),
    (lambda: LM.build_gpt2(10.5, 0, LM.GPTShape(n_layer=1, n_embd=8, n_head=2, n_ctx=8)),
     "vocab_size must be a positive integer, got 10.5"),
    (lambda: LM.build_gpt2(11, 1.5, LM.GPTShape(n_layer=1, n_embd=8, n_head=2, n_ctx=8)),
     r"bos_id must be an integer in \[0, 10\] \(an id of the vocabulary of 11 tokens\), got 1.5"),
    (lambda: TA.build_text_lm(TA.text_spec("mamba2", 1, 16, 8), 11, 1.5, 0), "bos_id must be an integer in"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_numpy_scalars_are_valid_values():
    from l2m_utils.params import Knob

    assert Knob(int, "a size").check("n", np.int64(3)) == 3
    assert Knob(float, "a rate").check("lr", np.float32(0.5)) == 0.5
    spec = CM.ModelSpec(backbone="gpt2", n_layer=1, d_model=16, sigma_floor=np.float64(0.01))
    assert spec.sigma_floor == 0.01 and type(spec.sigma_floor) is float


@pytest.mark.parametrize("call, message", [
    # real-valued arguments given as a string, None or infinity used to fail inside a comparison with TypeError
    (lambda: PR.binary_symmetric_chain("0.1"), r"flip probability must lie in \[0, 1\], got '0.1'"),
    (lambda: PR.ar1_covariance(None, 4), r"phi must lie in \(-1, 1\), got None"),
    (lambda: H.random_hmm(2, 2, 0, stay="0.5"), r"stay must lie in \[0, 1\) .*got '0.5'"),
    (lambda: H.random_hmm(2, 2, 0, concentration=float("inf")), "concentration must be > 0, got inf"),
    (lambda: H.sticky_copy_hmm(2, 2, 0.9, noise="0.1"), r"noise must lie in \[0, 1\], got '0.1'"),
    (lambda: CS.sticky_transition(2, None), r"stay must lie in \[0, 1\) \(1 freezes the chain\), got None"),
    (lambda: CS.FactorialErasureSource.sticky([float("inf")]), "timescales must be >= 1, got inf"),
    (lambda: C.split_documents(DOCS, "0.5", seed=0), r"must lie in \[0, 1\), got '0.5'"),
    (lambda: EE.poisson_plugin_bias(np.ones(3), True), "n_total must be one positive number of draws, got True"),
    (lambda: HS.state_capacity("1", 1.0), "state_size must be finite and >= 0, got '1'"),
    (lambda: HS.state_capacity(1.0, None), "nats_per_scalar must be positive and finite, got None"),
    (lambda: HS.kabatjanskii_levenshtein_rate(None), r"overlap eps must lie in \(0, 1\), got None"),
    (lambda: SD.late_window_start([1, 2, 3], "0.5"), r"fraction must lie in \(0, 1\), got '0.5'"),
    (lambda: TP.floor_threshold("3", 4), "z must be >= 0, got '3'"),
    (lambda: FT.bootstrap_power_law([1, 2, 4], SPREAD, level="0.9"), r"level must lie in \(0, 1\), got '0.9'"),
    (lambda: LM.GPTShape(dropout="0.1"), r"dropout must lie in \[0, 1\), got '0.1'"),
    (lambda: CS.compare_errors([1.0, 2.0], [1.0, 2.0], "1"), "exact must be a positive number, got '1'"),
    (lambda: CS.compare_errors([1.0, 2.0], [1.0, 2.0], 1.0, z=float("inf")), "z must be positive, got inf"),
])
def test_real_arguments_must_be_numbers(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_texts_and_documents_of_the_wrong_type_are_named(tokenizer):
    """None among texts used to fail inside the tokenizers library; a string among documents with an
    AttributeError; a number as a local path with 'object is not iterable'."""
    for call in (lambda: T.train_bpe(["a text", None], 300, cache=False),
                 lambda: T.encode_stream(["a text", None], tokenizer),
                 lambda: tokenizer.encode(["a text", None])):
        with pytest.raises(ValueError, match="texts must be strings, got NoneType at position 1"):
            call()
    with pytest.raises(ValueError, match="samples must be strings, got int at position 0"):
        T.tokenize_samples([3], tokenizer, 2)
    with pytest.raises(ValueError, match=r"docs must be Document objects \(from load_corpus\), got str at position 0"):
        C.make_samples(["a string"], 5)
    with pytest.raises(ValueError, match="docs must be a list of Document .*got Document: wrap a single one as"):
        C.corpus_statistics(DOCS[0])
    with pytest.raises(ValueError, match="docs must be a list of Document"):
        C.split_documents("one text", 0.5, seed=0)
    with pytest.raises(ValueError, match="the 'local' corpus needs path= as a .txt file, a folder, .*got 5"):
        C.load_local(5)
    with pytest.raises(ValueError, match="the 'local' corpus needs path= as .*got \\['a.txt', 5\\]"):
        C.load_local(["a.txt", 5])


@pytest.mark.parametrize("call, message", [
    # each used to fail deep inside numpy, torch or transformers (IndexError, TypeError, unpacking)
    (lambda: TA.binned(np.zeros(8), [0, 4, 8]), r"values must have shape \[n, T\] \(samples x positions\), got \(8,\)"),
    (lambda: PRINT.with_interval(0.5, (0.1, 0.2, 0.3), ".2f"), r"interval must be a pair \(low, high\)"),
    (lambda: SD.late_change([1, 2, 3, 4], [4.0, 3.0, 2.0, 1.0], smooth=2.5), r"smooth must lie in \[1, 4\], got 2.5"),
    (lambda: EE.entropy_from_counts([1, 2], estimator=["naive"]), r"unknown entropy estimator \['naive'\]"),
    (lambda: ST.profile_configs(["smoke"]), r"unknown sweep profile \['smoke'\]"),
    (lambda: BP.PairFrequencies.from_documents([np.array([0, 1, 1])], None), "vocab_size must be a positive integer"),
    (lambda: BP.bigram_entropy([np.array([0]), np.array([1])], 2), "the documents hold no adjacent pair"),
    (lambda: TP.concatenate_documents([np.array([1, 2**63 + 5], dtype=np.uint64)]), "beyond int64"),
])
def test_deep_errors_are_caught_on_entry(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_continuous_model_refuses_empty_or_integer_tokens():
    import torch

    model = CM.build_model("gpt2", 1, 16, copies=2, max_length=8, seed=0)
    with pytest.raises(ValueError, match=r"with batch, length >= 1, got \(1, 0, 2\)"):
        model(torch.zeros(1, 0, 2))
    with pytest.raises(ValueError, match="tokens must be a floating-point tensor .*got torch.int64"):
        model(torch.zeros(1, 4, 2, dtype=torch.int64))
    mu, sigma = model(torch.zeros(1, 4, 2))
    assert mu.shape == sigma.shape == (1, 4, 2)


def test_device_arguments_are_checked_by_one_function():
    import torch

    from l2m_utils.params import torch_device

    assert torch_device("cpu") == torch.device("cpu") and torch_device(torch.device("cpu")).type == "cpu"
    assert torch_device(0, check_available=False) == torch.device("cuda", 0)  # an index, as torch.device(0)
    assert torch_device("cuda:1", check_available=False) == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=r"device 'gpu' is not a torch device \(e.g. 'cpu', 'cuda', 'cuda:1'\)"):
        torch_device("gpu")
    for bad in (True, -1, 2.0, None):
        with pytest.raises(ValueError, match="device must be a torch.device, a string such as 'cpu' or 'cuda', or"):
            torch_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="device 'cuda' was requested but no CUDA device is available"):
            torch_device("cuda")
        # the helpers' device arguments go through it
        with pytest.raises(RuntimeError, match="no CUDA device is available"):
            TP.corpus_on_device([np.array([0, 1, 1])], "cuda")
        with pytest.raises(ValueError, match="is not a torch device"):
            CM.build_model("gpt2", 1, 16, copies=2, max_length=8, device="gpu")
