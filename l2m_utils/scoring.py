"""Scoring token sequences with a model: per-token log-probabilities.  Introduced in chapter 4.

Every MI estimator in the book consumes per-token log-probabilities through one interface,
:class:`TokenScorer`, so an exact model of a known source (a Markov chain, an HMM) is scored by the
same code as a large language model.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .processes import _check_transition, stationary_distribution


@runtime_checkable
class TokenScorer(Protocol):
    """Anything that gives log q(w_t | BOS, w_1..w_{t-1}) for every token of a batch of sequences."""

    vocab_size: int

    def token_logprobs(self, tokens: np.ndarray) -> np.ndarray:
        """``tokens``: int array [n, T] (no BOS); returns float64 [n, T] of log-probabilities in nats,
        token t conditioned on a beginning-of-sequence marker and tokens 1..t-1."""
        ...


def check_tokens(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """Validate a batch of token ids: 2-D, integer, non-empty, ids in [0, vocab_size)."""
    arr = np.asarray(tokens)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"tokens must have shape [n, T] with n, T >= 1, got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"tokens must be integer ids, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= vocab_size:
        raise ValueError(f"token ids must lie in [0, {vocab_size}), found [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64, copy=False)


class MarkovChainScorer:
    """The exact model of a stationary first-order Markov chain.

    log q(w_1 | BOS) = log pi(w_1) (stationary start) and log q(w_t | w_<t) = log P[w_{t-1}, w_t].
    """

    def __init__(self, transition: np.ndarray):
        self.transition = _check_transition(transition)
        self.stationary = stationary_distribution(self.transition)
        self.vocab_size = self.transition.shape[0]

    def token_logprobs(self, tokens: np.ndarray) -> np.ndarray:
        t = check_tokens(tokens, self.vocab_size)
        with np.errstate(divide="ignore"):
            out = np.empty(t.shape, dtype=np.float64)
            out[:, 0] = np.log(self.stationary[t[:, 0]])
            out[:, 1:] = np.log(self.transition[t[:, :-1], t[:, 1:]])
        return out

    def sample(self, n: int, length: int, seed: int) -> np.ndarray:
        """``n`` independent stationary sequences of ``length`` tokens (vectorised over sequences)."""
        rng = np.random.default_rng(seed)
        cum = np.cumsum(self.transition, axis=1)
        out = np.empty((n, length), dtype=np.int64)
        out[:, 0] = rng.choice(self.vocab_size, size=n, p=self.stationary)
        u = rng.random((n, length))
        for t in range(1, length):  # loop over positions; all sequences advance together
            out[:, t] = (u[:, t, None] > cum[out[:, t - 1]]).sum(axis=1)
        return np.minimum(out, self.vocab_size - 1)
