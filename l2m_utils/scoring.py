"""Scoring token sequences with a model: per-token log-probabilities.  Introduced in chapter 4.

Every MI estimator in the book consumes per-token log-probabilities through one interface,
:class:`TokenScorer`, so an exact model of a known source (a Markov chain, an HMM) is scored by the
same code as a large language model.

* :class:`MarkovChainScorer` -- the exact model of a Markov chain (chapter 4's sanity check);
* :class:`CausalLMScorer` -- any Hugging Face causal LM, BOS prepended, batched, with the LM head
  applied in float32 (TF32 tensor cores on a GPU, :func:`float32_matmul_precision`) in chunks, so that no
  ``[n, T, vocab]`` log-softmax is ever materialised;
* :class:`CachedScorer` / :func:`score_cached` -- per-batch results stored atomically on disk, so an
  interrupted scoring run resumes without recomputing finished batches;
* :func:`body_dtype` -- the precision a model's body runs in (bfloat16 on CUDA, float32 on CPU, unless named).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from .checks import integer, seeded_rng
from .params import torch_device
from .information import check_tokens
from .processes import _check_transition, stationary_distribution
from .progress import progress_bar

if TYPE_CHECKING:  # annotations only: torch is imported where it is used
    import torch


BODY_DTYPES = ("bfloat16", "float16", "float32")  # the precisions a model's body may run in, by name


def body_dtype(dtype: "str | torch.dtype | None", device: "str | torch.device") -> "torch.dtype":
    """The dtype a causal LM's body runs in on ``device``: a ``torch.dtype`` as given, one of
    :data:`BODY_DTYPES` by name, or ``None`` / ``"auto"``: bfloat16 on CUDA, float32 elsewhere.
    Raises ``ValueError`` naming an unknown dtype."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if torch_device(device, check_available=False).type == "cuda" else torch.float32
    if dtype not in BODY_DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use 'auto', {', '.join(map(repr, BODY_DTYPES))}")
    return getattr(torch, dtype)


@runtime_checkable
class TokenScorer(Protocol):
    """Anything that gives log q(w_t | BOS, w_1..w_{t-1}) for every token of a batch of sequences."""

    vocab_size: int

    def token_logprobs(self, tokens: np.ndarray) -> np.ndarray:
        """``tokens``: int array [n, T] (no BOS); returns float64 [n, T] of log-probabilities in nats,
        token t conditioned on a beginning-of-sequence marker and tokens 1..t-1."""
        ...


class MarkovChainScorer:
    """The exact model of a stationary first-order Markov chain.

    log q(w_1 | BOS) = log pi(w_1) (stationary start) and log q(w_t | w_<t) = log P[w_{t-1}, w_t].
    """

    def __init__(self, transition: np.ndarray):
        self.transition = _check_transition(transition)
        self.stationary = stationary_distribution(self.transition)
        self.vocab_size = self.transition.shape[0]

    def cache_identity(self) -> dict:
        """What determines this scorer's numbers (for :class:`CachedScorer`): its transition matrix."""
        return {"scorer": "MarkovChainScorer", "transition": self.transition}

    def token_logprobs(self, tokens: np.ndarray) -> np.ndarray:
        """log p(w_t | w_<t) of a stationary Markov chain: log pi(w_1), then log P[w_{t-1}, w_t] (nats)."""
        t = check_tokens(tokens, self.vocab_size)
        with np.errstate(divide="ignore"):
            out = np.empty(t.shape, dtype=np.float64)
            out[:, 0] = np.log(self.stationary[t[:, 0]])
            out[:, 1:] = np.log(self.transition[t[:, :-1], t[:, 1:]])
        return out

    def sample(self, n: int, length: int, seed: int) -> np.ndarray:
        """``n`` independent stationary sequences of ``length`` tokens (vectorised over sequences)."""
        n, length = integer(n, "n"), integer(length, "length")
        rng = seeded_rng(seed)
        cum = np.cumsum(self.transition, axis=1)
        out = np.empty((n, length), dtype=np.int64)
        out[:, 0] = rng.choice(self.vocab_size, size=n, p=self.stationary)
        u = rng.random((n, length))
        for t in range(1, length):  # loop over positions; all sequences advance together
            out[:, t] = (u[:, t, None] > cum[out[:, t - 1]]).sum(axis=1)
        return np.minimum(out, self.vocab_size - 1)


# --------------------------------------------------------------------------------------------------
# causal language models (chapter 4)
# --------------------------------------------------------------------------------------------------

def _head_postprocess(config) -> "Callable[[Any], Any]":
    """Logit transforms some architectures apply after the LM head (identity for GPT-2/LLaMA).

    Gemma-2/3 soft-cap logits (``final_logit_softcapping``: c·tanh(z/c)), RecurrentGemma likewise
    (``logits_soft_cap``), Cohere multiplies by ``logit_scale``, Falcon-H1 by ``lm_head_multiplier``,
    Granite divides by ``logits_scaling``.  Families not listed here are caught by
    :meth:`CausalLMScorer.check_against_model`, which the scorer runs when it is built.
    """
    cap = getattr(config, "final_logit_softcapping", None)
    if cap is None:
        cap = getattr(config, "logits_soft_cap", None)
    scale = getattr(config, "logit_scale", None)
    multiplier = getattr(config, "lm_head_multiplier", None)
    divide = getattr(config, "logits_scaling", None)

    def post(z):
        if scale is not None:
            z = z * scale
        if multiplier is not None:
            z = z * multiplier
        if divide is not None:
            z = z / divide
        if cap is not None:
            import torch

            z = torch.tanh(z / cap) * cap
        return z

    return post


POSITION_LIMIT_ATTRIBUTES = ("n_positions", "max_position_embeddings", "n_ctx")


def declared_positions(config: Any) -> tuple[int, str] | None:
    """How many positions a model's configuration declares, and the attribute that says so.

    The first of ``n_positions`` (GPT-2), ``max_position_embeddings`` (LLaMA, OPT, ...) and ``n_ctx``
    that is set; ``None`` for models that declare none (Mamba, BLOOM).  Beyond it a model with learned
    position embeddings fails with an index error and a rotary one runs outside the context it was
    trained on.  Some models declare a number they could exceed (RWKV, Falcon with ALiBi, a rotary
    model whose ``rope_scaling`` extends the declared value): raise the attribute to score longer.
    """
    for name in POSITION_LIMIT_ATTRIBUTES:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value, name
    return None


def position_offset_problem(model) -> str | None:
    """Why ``CausalLMScorer(model, position_offset=k)`` with k > 0 is refused, or ``None``: the body of
    ``model`` (``base_model``) must accept ``position_ids``."""
    import inspect

    body = getattr(model, "base_model", None)
    try:
        takes = body is not None and "position_ids" in inspect.signature(body.forward).parameters
    except (TypeError, ValueError):
        takes = False
    if takes:
        return None
    return (f"position_offset needs a model whose body takes position_ids; {type(model).__name__} has none "
            "(a recurrent model such as Mamba-2 has no positions to shift)")


class CausalLMScorer:
    """Per-token log-probabilities from a Hugging Face causal LM, without a ``[n, T, vocab]`` tensor.

    For a batch of sequences ``w_1..w_T`` the model reads ``BOS, w_1..w_{T-1}`` once; its body
    (``model.base_model``) gives hidden states ``h_t``, and the LM head is applied to chunks of
    ``chunk_size`` positions at a time, in ``head_dtype`` (float32 by default):

        log q(w_t | BOS, w_<t) = z_t[w_t] − logsumexp_v z_t[v],   z_t = head(h_t).

    Only one chunk of logits (``chunk_size × vocab`` floats) exists at any time, so long inputs with
    large vocabularies fit in memory, and the logits and log-softmax are float32 even when the body
    runs in bfloat16 (whose rounding, 0.06 at a logit of 20, would otherwise enter every score).
    ``dtype`` is the autocast dtype of the body (:func:`body_dtype`: ``None`` means bfloat16 on CUDA
    and float32 on CPU).  ``head_tf32``: whether a float32 head's matrix product on CUDA runs on the
    tensor cores in TF32 (both factors rounded to 11 significant bits, a relative 2^-11, with float32
    sums) or in full float32 (``False``).  ``None`` (default) chooses TF32 when the body runs in
    bfloat16 or float16, whose own rounding (2^-8 for bfloat16) is larger; the product then costs
    about a seventh of float32 on the CUDA cores (an H200: ~495 against 67 TFLOP/s).  Either choice
    holds only around the head's product (:func:`float32_matmul_precision`); on a CPU it is moot.
    ``bos_id`` defaults to ``model.config.bos_token_id``.
    Sequences of different lengths go through :meth:`token_logprobs_ragged` (right padding with an
    attention mask; padding does not change the scores of real tokens).
    ``position_offset`` k > 0 reads the tokens at the positions they would have after k tokens of
    context, without that context: BOS at position 0 and ``w_t`` at position k + t (position ids
    0, k+1, ..., k+T-1 instead of 0, 1, ..., T-1).  For a model with learned or rotary positions
    (GPT-2: ``wpe``) this splits the direct estimate into a position part and a context part
    (chapters 7 and 8 score the second half of a sample alone, shifted, and in context); the shifted
    reading is off the training distribution, where a late position always follows a long past.  For
    rotary positions the shift changes only the distance between BOS and the tokens; a model that
    accepts ``position_ids`` and ignores them (ALiBi) gives a position part of 0.  A model whose body
    takes no ``position_ids`` (Mamba-2) has no positions to shift and is refused.
    The scorer takes the model over: it switches it to eval mode (a training loop that scores in
    between switches it back, as :func:`l2m_utils.language_model.heldout_cross_entropy` does) and moves it
    to ``device`` unless it was loaded with a ``device_map`` spanning several
    devices (:func:`spread_over_devices`); such a model stays where it is (``device`` is ignored),
    inputs go to the first accelerator of its map, the hidden states are used where the last block
    leaves them, and the head's weight is read where it lives -- or, when accelerate offloaded it,
    brought to the head's execution device for each chunk -- always in ``head_dtype``.
    """

    def __init__(
        self,
        model,
        batch_size: int = 8,
        device=None,
        dtype=None,
        bos_id: int | None = None,
        chunk_size: int | None = None,
        head_dtype=None,
        head_tf32: bool | None = None,
        progress: bool = False,
        position_offset: int = 0,
    ):
        import torch

        self.model = model.eval()
        self.position_offset = integer(position_offset, "position_offset", minimum=0)
        if self.position_offset and (problem := position_offset_problem(model)):
            raise ValueError(problem)
        if spread_over_devices(model):
            # loaded with a device_map (accelerate): the model is never moved; accelerate's hooks
            # move activations between devices and load offloaded weights when a module runs
            self.device = _first_compute_device(model.hf_device_map)
        else:
            self.device = torch_device(device) if device is not None else next(model.parameters()).device
            if self.device != next(model.parameters()).device:
                self.model = self.model.to(self.device)
        self.dtype = body_dtype(dtype, self.device)
        if head_dtype is not None and not isinstance(head_dtype, torch.dtype):
            raise ValueError(f"head_dtype must be a torch dtype (e.g. torch.float32), got {head_dtype!r}")
        self.head_dtype = torch.float32 if head_dtype is None else head_dtype
        if head_tf32 is not None and not isinstance(head_tf32, bool):
            raise ValueError(f"head_tf32 must be True, False or None (automatic), got {head_tf32!r}")
        if head_tf32 is None:
            head_tf32 = self.dtype in (torch.bfloat16, torch.float16)
        # TF32 only concerns float32 products on CUDA
        self.head_tf32 = head_tf32 and self.head_dtype == torch.float32 and self.device.type == "cuda"
        bos = bos_id if bos_id is not None else getattr(model.config, "bos_token_id", None)
        if bos is None:
            raise ValueError("no BOS id: pass bos_id= (the model config has no bos_token_id)")
        head = model.get_output_embeddings()
        if head is None:
            raise ValueError(f"{type(model).__name__} has no output embeddings (LM head); is it a causal LM?")
        self.vocab_size = int(head.weight.shape[0])
        bos = integer(bos, "bos_id", minimum=0)
        if not bos < self.vocab_size:
            raise ValueError(f"bos_id {bos} outside the model vocabulary [0, {self.vocab_size})")
        self.bos_id = bos
        self.batch_size = integer(batch_size, "batch_size")
        # rows of logits per chunk: about 2^26 floats (256 MB in float32)
        self.chunk_size = (integer(chunk_size, "chunk_size") if chunk_size is not None
                           else max(16, (1 << 26) // self.vocab_size))
        self.progress = progress
        self._post = _head_postprocess(model.config)
        self.declared_positions = declared_positions(model.config)
        self._head_weight = None
        self._head_bias = None
        self._head_source = None  # (data pointer, version) of the head weight the kept copy was made from
        self.check_against_model()

    def cache_identity(self) -> dict:
        """The scorer's settings that change its numbers (for :class:`CachedScorer`): the BOS id, the
        dtypes of the body and the head, and the device type (CPU and CUDA autocast round differently).
        The model's weights are not in it: the caller's ``cache_key`` names the model (e.g.
        :func:`model_fingerprint`)."""
        identity = {"scorer": "CausalLMScorer", "model": type(self.model).__name__, "bos_id": self.bos_id,
                    "dtype": str(self.dtype), "head_dtype": str(self.head_dtype), "device": self.device.type}
        if self.head_tf32:  # named only when on, so that caches of full-float32 heads keep their keys
            identity["head_tf32"] = True
        if self.position_offset:  # likewise: unshifted scores keep their keys
            identity["position_offset"] = self.position_offset
            identity["bos_position"] = 0  # the convention: BOS stays at position 0
        return identity

    def check_against_model(self, length: int = 8, tolerance: float = 1e-2) -> float | None:
        """Compare body + head + known transforms with the model's own logits on a short probe.

        Both sides run without autocast and apply the head in its own dtype, so they differ only by
        rounding; a family whose wrapper transforms the logits in a way :func:`_head_postprocess`
        does not know (a scale, a soft cap) differs by far more, and would make every score wrong.
        Raises ``ValueError`` when the largest difference of the log-softmaxes exceeds ``tolerance``
        nats; returns that difference (``None`` when skipped: the head is offloaded by accelerate,
        or the model is spread over devices, where a probe would move weights around).
        """
        import torch

        if not (np.isfinite(tolerance) and tolerance >= 0):
            raise ValueError(f"tolerance must be a finite number of nats >= 0, got {tolerance}")
        head = self.model.get_output_embeddings()
        if spread_over_devices(self.model) or head.weight.device.type == "meta":
            return None
        n = max(2, min(length, self.declared_positions[0] if self.declared_positions else length))
        probe = torch.tensor([[self.bos_id] + [(self.bos_id + 1 + 7 * k) % self.vocab_size for k in range(n - 1)]],
                             device=self.device)
        with torch.no_grad():
            out = self.model(input_ids=probe)
            own = getattr(out, "logits", out[0] if isinstance(out, tuple) else out)
            hidden = self._body(probe)
            bias = getattr(head, "bias", None)
            ours = self._post(torch.nn.functional.linear(hidden.to(head.weight.dtype), head.weight, bias))
            diff = float((torch.log_softmax(own.float(), -1) - torch.log_softmax(ours.float(), -1)).abs().max())
            own_finite = bool(torch.isfinite(own).all())
        if not own_finite:
            raise ValueError(f"{type(self.model).__name__} outputs NaN or infinite logits on a probe of {n} tokens: "
                             "its weights are not finite (a diverged training run?); it cannot be scored")
        if not diff <= tolerance:
            raise ValueError(
                f"CausalLMScorer does not reproduce {type(self.model).__name__}'s own logits: its log-probabilities "
                f"differ by {diff:.3g} nats on a probe of {n} tokens. The model's forward transforms the LM head's "
                "output in a way the scorer does not know (see l2m_utils.scoring._head_postprocess); scoring it "
                "would give wrong numbers")
        return diff

    # -- internals ---------------------------------------------------------------------------------
    def _head_params(self):
        """The LM head's weight and bias in ``head_dtype`` (kept); ``(None, None)`` when accelerate
        offloaded the head (its weight lives on the meta device until its hook loads it)."""
        head = self.model.get_output_embeddings()
        if head.weight.device.type == "meta":
            return None, None
        bias = getattr(head, "bias", None)
        # a copy (head_dtype differs from the weights' dtype) is remade when the weights change
        source = tuple((p.data_ptr(), p._version) for p in (head.weight, bias) if p is not None)
        if self._head_weight is None or source != self._head_source:
            self._head_weight = head.weight.detach().to(self.head_dtype)
            self._head_bias = None if bias is None else bias.detach().to(self.head_dtype)
            self._head_source = source
        return self._head_weight, self._head_bias

    @contextlib.contextmanager
    def _head(self):
        """The LM head's ``(weight, bias)`` in ``head_dtype`` for one scoring call: the kept copy, or,
        for a head that accelerate offloaded, its weights loaded once onto the hook's execution
        device for the duration of the call (not once per chunk)."""
        weight, bias = self._head_params()
        if weight is not None:
            yield weight, bias
            return
        try:  # an offloaded head implies accelerate
            from accelerate.utils import align_module_device
        except ImportError as exc:
            raise RuntimeError("scoring a model with an offloaded LM head needs accelerate >= 1.1") from exc
        head = self.model.get_output_embeddings()
        with align_module_device(head):
            b = getattr(head, "bias", None)
            yield head.weight.detach().to(self.head_dtype), None if b is None else b.detach().to(self.head_dtype)

    def _head_precision(self):
        """TF32 or full float32 for the head's product on CUDA (:func:`float32_matmul_precision`)."""
        if self.device.type != "cuda":
            return contextlib.nullcontext()
        return float32_matmul_precision("high" if self.head_tf32 else "highest")

    def _autocast(self):
        import torch

        if self.dtype != torch.float32 and self.device.type in ("cuda", "cpu"):
            return torch.autocast(device_type=self.device.type, dtype=self.dtype)
        return contextlib.nullcontext()

    def _body(self, inputs, mask=None, positions=None):
        """Hidden states of the model's body (``base_model``), in the current autocast context
        (``positions``: position ids, only with a ``position_offset``)."""
        import torch

        extra = {}
        if positions is not None:
            extra["position_ids"] = positions
            if mask is None:  # without a mask, transformers reads a jump in position ids as the start of
                mask = torch.ones_like(inputs)  # another packed sequence and would hide BOS from the tokens
        out = self.model.base_model(input_ids=inputs, attention_mask=mask, use_cache=False, **extra)
        return out[0] if isinstance(out, tuple) else out.last_hidden_state

    def _positions(self, n: int, T: int):
        """Position ids [n, T] of BOS + T - 1 tokens read ``position_offset`` places late (None without one)."""
        import torch

        if not self.position_offset:
            return None
        ids = torch.arange(T, device=self.device) + self.position_offset
        ids[0] = 0  # BOS stays where training put it
        return ids.expand(n, T)

    def _hidden(self, inputs, mask):
        with self._autocast():
            return self._body(inputs, mask, self._positions(*inputs.shape))

    def _chunked_logprobs(self, hidden, targets):
        """hidden [N, H], targets [N] -> float64 numpy [N], one chunk of logits at a time."""
        import torch

        parts = []
        with self._head() as (weight, bias), self._head_precision():
            for a in range(0, targets.shape[0], self.chunk_size):
                b = min(a + self.chunk_size, targets.shape[0])
                # the head's device differs from hidden.device only for a model spread over devices
                z = torch.nn.functional.linear(hidden[a:b].to(weight.device, self.head_dtype), weight, bias)
                z = self._post(z).float()
                # z[target] - logsumexp(z), computed by the fused log-softmax + NLL kernel
                nll = torch.nn.functional.cross_entropy(z, targets[a:b].to(z.device), reduction="none")
                parts.append(-nll.double())
                del z
        if not parts:
            return np.empty(0, dtype=np.float64)
        # copied after the loop, so the GPU is not made to wait after every chunk
        return torch.cat([part.cpu() for part in parts]).numpy()

    def _check_length(self, T: int) -> None:
        """The model reads BOS + the first T − 1 tokens: T positions (the last at T − 1 + position_offset),
        within what it declares."""
        if self.declared_positions is not None and T + self.position_offset > self.declared_positions[0]:
            limit, name = self.declared_positions
            if self.position_offset:
                raise ValueError(
                    f"sequences of {T} tokens read {self.position_offset} places late reach position "
                    f"{T - 1 + self.position_offset}, beyond the {limit} positions that {type(self.model).__name__} "
                    f"declares (config.{name})")
            raise ValueError(
                f"sequences of {T} tokens are longer than the {limit} positions that {type(self.model).__name__} "
                f"declares (config.{name}; the model reads BOS and the first {T - 1} tokens): score shorter "
                f"blocks (a smaller max_length), or raise config.{name} if you mean to go beyond the context "
                "the model was trained on")

    def _batches(self, n: int):
        starts = range(0, n, self.batch_size)
        if self.progress:
            return progress_bar(starts, desc="scoring", unit="batch", leave=False)
        return starts

    # -- public ------------------------------------------------------------------------------------
    def token_logprobs(self, tokens: np.ndarray) -> np.ndarray:
        """``tokens`` int [n, T] (no BOS) -> float64 [n, T]: log q(w_t | BOS, w_<t) in nats."""
        import torch

        t = check_tokens(tokens, self.vocab_size)
        n, T = t.shape
        self._check_length(T)
        out = np.empty((n, T), dtype=np.float64)
        with torch.inference_mode():
            for a in self._batches(n):
                batch = torch.as_tensor(t[a:a + self.batch_size], device=self.device)
                bos = torch.full((batch.shape[0], 1), self.bos_id, dtype=batch.dtype, device=self.device)
                inputs = torch.cat([bos, batch[:, :-1]], dim=1)
                hidden = self._hidden(inputs, None)
                lp = self._chunked_logprobs(hidden.reshape(-1, hidden.shape[-1]), batch.reshape(-1))
                out[a:a + batch.shape[0]] = lp.reshape(batch.shape[0], T)
        return out

    def token_logprobs_ragged(self, sequences: "Sequence[np.ndarray]") -> list[np.ndarray]:
        """Sequences of different lengths (each 1-D, non-empty) -> list of float64 arrays.

        Sequences are sorted by length, batched, right-padded and masked; the head is applied only
        to real positions.
        """
        import torch

        seqs = [np.asarray(s) for s in sequences]
        if not seqs:
            raise ValueError("no sequences to score")
        for i, s in enumerate(seqs):
            if s.ndim != 1 or s.size == 0:
                raise ValueError(f"sequence {i} must be a non-empty 1-D array, got shape {s.shape}")
            check_tokens(s[None, :], self.vocab_size)
        self._check_length(max(len(s) for s in seqs))
        order = np.argsort([-len(s) for s in seqs], kind="stable")
        results: list[np.ndarray | None] = [None] * len(seqs)
        with torch.inference_mode():
            for a in self._batches(len(seqs)):
                idx = order[a:a + self.batch_size]
                lengths = [len(seqs[i]) for i in idx]
                T = max(lengths)
                inputs = np.full((len(idx), T), self.bos_id, dtype=np.int64)
                targets = np.zeros((len(idx), T), dtype=np.int64)
                mask = np.zeros((len(idx), T), dtype=np.int64)
                for r, i in enumerate(idx):
                    s = seqs[i].astype(np.int64)
                    inputs[r, 1:len(s)] = s[:-1]
                    targets[r, :len(s)] = s
                    mask[r, :len(s)] = 1
                m = torch.as_tensor(mask, device=self.device)
                hidden = self._hidden(torch.as_tensor(inputs, device=self.device), m)
                # a model spread over GPUs leaves the hidden states on its last block's device
                valid = m.bool().to(hidden.device)
                lp = self._chunked_logprobs(hidden[valid], torch.as_tensor(targets, device=hidden.device)[valid])
                pos = 0
                for r, i in enumerate(idx):
                    results[i] = lp[pos:pos + lengths[r]]
                    pos += lengths[r]
        return results  # type: ignore[return-value]


@contextlib.contextmanager
def float32_matmul_precision(precision: str):
    """Run the ``with`` block under ``torch.set_float32_matmul_precision(precision)`` and restore the
    previous setting after it (also after an error).

    ``"high"`` lets float32 matrix products on CUDA use TF32 tensor cores (both factors rounded to 11
    significant bits, sums in float32); ``"highest"`` keeps them in full float32.  This setter keeps
    torch's old (``allow_tf32``) and new (``fp32_precision``) flags consistent, so code that reads
    either inside the block works."""
    import torch

    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"unknown float32 matmul precision {precision!r}; use 'highest', 'high' or 'medium'")
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def spread_over_devices(model: Any) -> bool:
    """Whether ``model`` was loaded with a ``device_map`` that places it on more than one device
    (several GPUs, or parts offloaded to ``"cpu"``/``"disk"``)."""
    device_map = getattr(model, "hf_device_map", None) or {}
    return len({str(d) for d in device_map.values()}) > 1


def _first_compute_device(device_map: dict) -> "torch.device":
    """Where a device-mapped model's inputs go: its first accelerator in the map, else the CPU
    (``"cpu"``/``"disk"`` entries of a map with GPUs are offloaded weights, run on the GPU)."""
    import torch

    for d in device_map.values():
        if str(d) not in ("cpu", "disk", "meta"):
            return torch.device(f"cuda:{d}" if isinstance(d, int) else d)
    return torch.device("cpu")


def model_fingerprint(model: Any) -> str:
    """A short key for a torch model: its class, config and, for every parameter tensor, its dtype,
    shape, 256 values spread evenly over it, and its sum and sum of squares (float64, 12 significant
    digits, so that a change anywhere in the weights shows; one pass over the weights, less than a
    forward pass).  Used in score-cache keys."""
    import hashlib

    import torch

    h = hashlib.sha256(type(model).__name__.encode())
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_json_string"):
        h.update(config.to_json_string(use_diff=False).encode())
    with torch.no_grad():
        for name, p in model.named_parameters():
            h.update(name.encode())
            h.update(f"{p.dtype}{tuple(p.shape)}".encode())  # dtype: upcast weights hold the same values
            if p.device.type == "meta":  # offloaded by accelerate: name, shape and config identify it
                continue
            flat = p.detach().reshape(-1)
            h.update(flat[:: max(1, flat.numel() // 256)][:256].float().cpu().numpy().tobytes())
            total = squares = 0.0
            for chunk in flat.split(1 << 22):  # float64 copies of 4M values at a time, not of the whole tensor
                c = chunk.double()
                total, squares = total + c.sum().item(), squares + c.square().sum().item()
            h.update(f"{total:.12e} {squares:.12e}".encode())
    return h.hexdigest()[:16]


def _load_batch(path, shape: tuple[int, int]) -> np.ndarray | None:
    """A cached batch of log-probabilities, or ``None`` (with a warning) when the file is unreadable
    or holds another shape; the caller then recomputes and overwrites it."""
    import warnings
    import zipfile

    try:
        with np.load(path) as data:
            kept = np.asarray(data["logprobs"], dtype=np.float64)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        warnings.warn(f"cached scores {path} are unreadable ({type(exc).__name__}: {exc}); recomputing them",
                      stacklevel=3)
        return None
    if kept.shape != shape:
        warnings.warn(f"cached scores {path} have shape {kept.shape}, expected {shape}; recomputing them",
                      stacklevel=3)
        return None
    return kept


class CachedScorer:
    """Wrap a :class:`TokenScorer` so that its results are kept on disk batch by batch.

    ``token_logprobs(tokens)`` splits ``tokens`` into batches of ``batch_size`` rows; each batch's
    result is written atomically (:func:`~l2m_utils.cache.atomic_save_npz`) to
    ``<directory>/batch-NNNNNN.npz``, where the directory is keyed by ``cache_key`` (what the scorer
    is: e.g. the model's settings or :func:`model_fingerprint`), the wrapped scorer's own settings
    (its ``cache_identity()``, when it has one: BOS id, dtypes and device type of a
    :class:`CausalLMScorer`, the matrix of a :class:`MarkovChainScorer`, the matrices of an
    :class:`~l2m_utils.calibration_sources.HMMScorer`), a SHA-256 of the token
    array and the batch size.
    Batches already on disk are loaded instead of recomputed, so an interrupted run resumes where it
    stopped and finished batches are never lost; an unreadable batch file or one of the wrong shape
    is recomputed, with a warning.  ``computed`` / ``loaded`` count the batches of the last call.
    """

    def __init__(self, scorer: TokenScorer, cache_key, batch_size: int = 64, root=None, progress: bool = False):
        integer(batch_size, "batch_size")
        self.scorer = scorer
        self.vocab_size = scorer.vocab_size
        self.cache_key = cache_key
        self.batch_size = int(batch_size)
        self.root = root
        self.progress = progress
        self.computed = 0
        self.loaded = 0

    def directory(self, tokens: np.ndarray):
        """The cache folder of ``tokens``: keyed by the cache key, the scorer's identity, a SHA-256 of the
        tokens and the batch size."""
        import hashlib
        from pathlib import Path

        from .cache import cache_dir, settings_key

        t = np.ascontiguousarray(tokens, dtype=np.int64)
        identity = getattr(self.scorer, "cache_identity", None)
        key = settings_key({
            "scorer": self.cache_key,
            "scorer_settings": identity() if callable(identity) else None,
            "tokens_sha256": hashlib.sha256(t.tobytes()).hexdigest(),
            "shape": list(t.shape),
            "batch_size": self.batch_size,
        })
        if self.root is not None:
            path = Path(self.root) / key
            path.mkdir(parents=True, exist_ok=True)
            return path
        return cache_dir("scores", key)

    def token_logprobs(self, tokens: np.ndarray) -> np.ndarray:
        """The wrapped scorer's log-probabilities of ``tokens``, batch by batch, loading the batches already
        on disk."""
        from .cache import atomic_save_npz

        t = check_tokens(tokens, self.vocab_size)
        folder = self.directory(t)
        n = t.shape[0]
        out = np.empty(t.shape, dtype=np.float64)
        self.computed = self.loaded = 0
        starts = range(0, n, self.batch_size)
        if self.progress:
            starts = progress_bar(starts, desc="scoring (cached)", unit="batch", leave=False)
        for start in starts:
            stop = min(start + self.batch_size, n)
            target = folder / f"batch-{start // self.batch_size:06d}.npz"
            if target.exists():
                kept = _load_batch(target, (stop - start, t.shape[1]))
                if kept is not None:
                    out[start:stop] = kept
                    self.loaded += 1
                    continue
            lp = np.asarray(self.scorer.token_logprobs(t[start:stop]), dtype=np.float64)
            if lp.shape != (stop - start, t.shape[1]):
                raise ValueError(f"scorer returned shape {lp.shape} for a batch of shape {(stop - start, t.shape[1])}")
            atomic_save_npz(target, logprobs=lp)
            out[start:stop] = lp
            self.computed += 1
        return out


def score_cached(scorer: TokenScorer, tokens: np.ndarray, cache_key: Any, batch_size: int = 64, root: Any = None,
                 progress: bool = False) -> np.ndarray:
    """``CachedScorer(scorer, cache_key, batch_size, root).token_logprobs(tokens)``."""
    return CachedScorer(scorer, cache_key, batch_size, root, progress).token_logprobs(tokens)
