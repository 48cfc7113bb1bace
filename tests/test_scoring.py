"""The scoring interface and the exact Markov-chain scorer."""

import numpy as np
import pytest

from l2m_utils import processes as proc
from l2m_utils.information import check_tokens
from l2m_utils.scoring import MarkovChainScorer, TokenScorer


def test_markov_scorer_matches_joint_probabilities():
    P = np.array([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]])
    scorer = MarkovChainScorer(P)
    assert isinstance(scorer, TokenScorer)
    joint = proc.markov_joint(P, 4)
    seqs = np.array([[0, 1, 2, 0], [2, 2, 1, 1]])
    logp = scorer.token_logprobs(seqs).sum(axis=1)
    np.testing.assert_allclose(logp, np.log([joint[tuple(s)] for s in seqs]), rtol=1e-12)


def test_markov_sampler_has_the_stationary_pair_statistics():
    P = proc.binary_symmetric_chain(0.2)
    seqs = MarkovChainScorer(P).sample(4000, 50, seed=0)
    assert seqs.shape == (4000, 50)
    flips = np.mean(seqs[:, 1:] != seqs[:, :-1])
    assert flips == pytest.approx(0.2, abs=0.01)


def test_markov_sampler_starts_from_the_stationary_law_of_an_asymmetric_chain():
    """The exact-MI checks assume stationary samples: first token ~ pi, first pair ~ diag(pi) P."""
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5]])
    pi = proc.stationary_distribution(P)
    assert not np.allclose(pi, 1 / 3)  # a uniform start would not pass
    seqs = MarkovChainScorer(P).sample(20_000, 2, seed=1)
    np.testing.assert_allclose(np.bincount(seqs[:, 0], minlength=3) / len(seqs), pi, atol=0.01)
    pairs = np.zeros((3, 3))
    np.add.at(pairs, (seqs[:, 0], seqs[:, 1]), 1)
    np.testing.assert_allclose(pairs / len(seqs), np.diag(pi) @ P, atol=0.01)


@pytest.mark.parametrize("bad, message", [
    (np.array([0, 1]), "shape"),
    (np.array([[0.5, 1.0]]), "integer"),
    (np.array([[0, 3]]), "lie in"),
    (np.zeros((0, 3), dtype=int), "shape"),
])
def test_bad_tokens_raise(bad, message):
    with pytest.raises(ValueError, match=message):
        check_tokens(bad, 3)


@pytest.mark.parametrize("n, length, message", [
    (3, 0, "length must be a positive integer, got 0"),
    (-1, 4, "n must be a positive integer, got -1"),
    (0, 4, "n must be a positive integer, got 0"),
    (2.0, 4, "n must be a positive integer, got 2.0"),
    (2, 4.5, "length must be a positive integer, got 4.5"),
    (True, 4, "n must be a positive integer, got True"),
])
def test_markov_sampler_refuses_bad_sizes(n, length, message):
    with pytest.raises(ValueError, match=message):
        MarkovChainScorer(proc.binary_symmetric_chain(0.2)).sample(n, length, seed=0)


def test_markov_sampler_accepts_numpy_integers_and_length_one():
    scorer = MarkovChainScorer(proc.binary_symmetric_chain(0.2))
    np.testing.assert_array_equal(scorer.sample(np.int64(3), np.int32(5), seed=1), scorer.sample(3, 5, seed=1))
    assert scorer.sample(2, 1, seed=0).shape == (2, 1)
