"""Transformer vs Mamba-2 language models on real text: training and position-wise loss.  Chapter 7.

The L²M paper's PG19 experiment (notes §5, Fig. 4) trains GPT-2 and Mamba models of matched sizes
from scratch on the same text and compares their **position-wise conditional NLL**: the mean loss
at each token position of held-out samples that begin at a sentence start,

    NLL(t) = -(1/n_t) Σ_i log q(w_{i,t} | BOS, w_{i,<t}),      t = 1, ..., T,

where ``n_t`` is the number of samples that have a token at position ``t`` (padding is excluded).
The paper finds that a fixed-state model's (Mamba's) NLL(t) flattens at late positions while the
transformer's keeps falling.  The history-state bound does not imply that per position: it limits
only the summed gain over a block (chapter 7, proposition ch7-prop-plateau).

Pieces:

* :func:`text_spec` -- a :class:`~l2m_utils.continuous_models.ModelSpec` (chapter 6) for a token
  model; its ``history_state(position)`` uses the chapter-2 calculator;
* :func:`build_text_lm` -- ``"gpt2"``: :func:`l2m_utils.language_model.build_gpt2` (tied
  embeddings, learned positions); ``"mamba2"``: :class:`Mamba2LM`, a token embedding, chapter 6's
  pre-norm stack of Mamba-2 mixers (mamba_ssm's Triton ``Mamba2`` on CUDA when it imports, else
  :class:`~l2m_utils.mamba2_torch.Mamba2Torch`), a final RMSNorm and the tied head -- the layout of
  mamba_ssm's ``MambaLMHeadModel`` without MLPs;
* :func:`matched_mamba2` -- the Mamba-2 depth whose parameter count is closest to a GPT-2's (a
  Mamba-2 layer has about ``6 d²`` parameters, a GPT-2 layer ``12 d²``: twice the layers);
* :func:`train_text_lm` -- :func:`l2m_utils.language_model.train_causal_lm`, the training loop
  of :func:`l2m_utils.language_model.train_lm`, for either architecture: windows
  ``BOS + n_ctx`` tokens (every position trained) at uniformly random positions drawn from
  ``numpy.random.default_rng(seed)`` (so two models with the same seed, context and batch size
  see **the same data in the same order**), AdamW with warm-up and cosine decay, checkpoints that resume
  exactly, and the cross-entropy on the training and the held-out stream measured the same way
  (overfitting shows as their gap);
* :func:`positionwise_nll` -- per-token NLL of held-out samples (cached batch by batch, so an
  interrupted evaluation resumes), :func:`positionwise_stats` (mean, standard error, count per
  position), :func:`log_bins` / :func:`binned` (per-sample means over log-spaced position bins, the
  unit for confidence bands), :func:`mean_band`.
"""

from __future__ import annotations

import math
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn as nn

from . import history_state as hs
from . import language_model as LM
from .checks import integer, integers
from .params import torch_device
from .fits import check_z
from .language_model import lm_loss  # introduced with chapter 4's estimator; one loss for both backbones
from .continuous_models import Mamba2Backbone, ModelSpec, load_mamba_ssm_mamba2
from .mamba2_torch import Mamba2Torch
from .scoring import CachedScorer, CausalLMScorer

__all__ = [
    "ARCHITECTURES", "text_spec", "Mamba2LM", "select_mixer", "build_text_lm", "count_text_lm_parameters",
    "matched_mamba2", "lm_loss", "TextTrainRecord", "train_text_lm", "positionwise_nll", "pad_rows",
    "positionwise_stats", "log_bins", "binned", "mean_band",
]

ARCHITECTURES = ("gpt2", "mamba2")


# --------------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------------

def text_spec(arch: str, n_layer: int, d_model: int, n_ctx: int, *, n_head: int | None = None, d_state: int = 16,
              head_dim: int | None = None, expand: int = 2, d_conv: int = 4, ngroups: int = 1,
              chunk_size: int = 64) -> ModelSpec:
    """A chapter-6 :class:`ModelSpec` for a token LM (``max_length = n_ctx``; ``copies`` is unused).

    GPT-2: ``n_head`` defaults to head size 64; Mamba-2: ``head_dim`` defaults to
    ``min(64, expand d_model / 4)``, ``d_state`` (the SSM state per head and channel) to 16.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}")
    integer(n_ctx, "n_ctx", minimum=2, why="BOS + one token")
    return ModelSpec(backbone=arch, n_layer=n_layer, d_model=d_model, max_length=n_ctx, n_head=n_head,
                     d_state=d_state, head_dim=head_dim, expand=expand, d_conv=d_conv, ngroups=ngroups,
                     chunk_size=chunk_size)


def select_mixer(device: torch.device | str, prefer_kernels: bool = True,
                 require_kernels: bool = False) -> tuple[type, str]:
    """``(mixer class, kernel name)``: mamba_ssm's Triton ``Mamba2`` on CUDA when it imports
    (chapter 6's placeholder trick), else the pure-PyTorch block; ``require_kernels`` raises
    ``RuntimeError`` when the Triton path is unavailable."""
    device = torch_device(device)
    if prefer_kernels and device.type == "cuda":
        found = load_mamba_ssm_mamba2()
        if found is not None:
            return found, "mamba_ssm"
    if require_kernels:
        raise RuntimeError("require_kernels: mamba_ssm's Triton Mamba2 is not usable here "
                           f"(device {device}, prefer_kernels={prefer_kernels}); install the mamba-ssm wheel")
    return Mamba2Torch, "torch"


class _Mamba2Body(nn.Module):
    """Token embedding + chapter 6's Mamba-2 backbone; called like a Hugging Face base model."""

    def __init__(self, spec: ModelSpec, vocab_size: int, mixer_cls, kernel: str):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, spec.d_model)
        self.backbone = Mamba2Backbone(spec, mixer_cls, kernel)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                use_cache: bool = False) -> tuple[torch.Tensor]:
        # causal model: right padding (the only padding the scorers use) cannot reach earlier tokens,
        # so the mask is not needed
        return (self.backbone(self.wte(input_ids)),)


class Mamba2LM(nn.Module):
    """A Mamba-2 language model: ``forward(input_ids [b, T]) -> logits [b, T, vocab]`` (row t predicts
    token t+1).  Exposes ``base_model``, ``get_output_embeddings()`` and ``config.bos_token_id`` like a
    Hugging Face causal LM, so :class:`~l2m_utils.scoring.CausalLMScorer` scores it.

    Initialisation as mamba_ssm's ``MambaLMHeadModel``: embedding N(0, 0.02²), the mixers' default
    initialisation with ``out_proj`` scaled by ``1/sqrt(n_layer)``; the head is tied to the embedding.
    """

    def __init__(self, spec: ModelSpec, vocab_size: int, bos_id: int, mixer_cls=Mamba2Torch, kernel: str = "torch"):
        super().__init__()
        if spec.backbone != "mamba2":
            raise ValueError(f"Mamba2LM needs a mamba2 spec, got {spec.backbone!r}")
        vocab_size, bos_id = LM.vocabulary_ids(vocab_size, bos_id)
        self.spec = spec
        self.config = types.SimpleNamespace(bos_token_id=int(bos_id), vocab_size=int(vocab_size),
                                            model_type="l2m-mamba2", n_ctx=spec.max_length)
        self.model = _Mamba2Body(spec, vocab_size, mixer_cls, kernel)
        self.lm_head = nn.Linear(spec.d_model, vocab_size, bias=False)
        self.lm_head.weight = self.model.wte.weight
        with torch.no_grad():
            nn.init.normal_(self.model.wte.weight, std=0.02)
            for layer in self.model.backbone.layers:
                layer.mixer.out_proj.weight /= math.sqrt(spec.n_layer)

    @property
    def base_model(self) -> nn.Module:
        """The body (embedding and Mamba-2 blocks), as ``transformers`` models name it."""
        return self.model

    @property
    def kernel(self) -> str:
        """Which Mamba-2 implementation runs: ``mamba_ssm`` (Triton) or ``torch``."""
        return self.model.backbone.kernel

    def get_output_embeddings(self) -> nn.Linear:
        """The LM head (tied to the input embedding)."""
        return self.lm_head

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Next-token logits [batch, length, vocab] of ``input_ids`` [batch, length]."""
        if input_ids.shape[-1] > self.spec.max_length:
            raise ValueError(f"sequence length {input_ids.shape[-1]} exceeds n_ctx {self.spec.max_length}")
        return self.lm_head(self.model(input_ids)[0])

    def history_state_size(self, position: int) -> hs.HistoryState:
        """The history state at ``position`` (chapter 2's calculator): fixed for Mamba-2."""
        return self.spec.history_state(position)


def build_text_lm(spec: ModelSpec, vocab_size: int, bos_id: int, seed: int = 0, device: Any = "cpu",
                  prefer_kernels: bool = True, require_kernels: bool = False) -> nn.Module:
    """A freshly initialised token LM of ``spec`` on ``device`` (seeded in a forked RNG: the global
    torch RNG is untouched; ``seed`` must be an explicit integer >= 0).  GPT-2:
    ``transformers.GPT2LMHeadModel`` (no dropout); Mamba-2: :class:`Mamba2LM`."""
    seed = integer(seed, "seed", minimum=0)
    device = torch_device(device)
    if spec.backbone == "gpt2":
        shape = LM.GPTShape(n_layer=spec.n_layer, n_embd=spec.d_model, n_head=spec.n_head, n_ctx=spec.max_length)
        return LM.build_gpt2(vocab_size, bos_id, shape, seed=seed).to(device)
    mixer_cls, kernel = select_mixer(device, prefer_kernels, require_kernels)
    with LM.seeded_torch_rng(seed):
        model = Mamba2LM(spec, vocab_size, bos_id, mixer_cls, kernel)
    return model.to(device)


def count_text_lm_parameters(spec: ModelSpec, vocab_size: int) -> int:
    """Parameters of :func:`build_text_lm`'s model (tied weights once), counted on the meta device."""
    with torch.device("meta"):
        if spec.backbone == "gpt2":
            shape = LM.GPTShape(n_layer=spec.n_layer, n_embd=spec.d_model, n_head=spec.n_head, n_ctx=spec.max_length)
            model = LM.build_gpt2(vocab_size, 0, shape)
        else:
            model = Mamba2LM(spec, vocab_size, 0)
    return LM.count_parameters(model)


def matched_mamba2(gpt: ModelSpec, vocab_size: int, d_state: int = 16, max_layers: int = 128,
                   **mamba_kwargs: Any) -> tuple[ModelSpec, float]:
    """The Mamba-2 spec of the same width and context as the GPT-2 ``gpt`` whose parameter count is
    closest to it; returns ``(spec, relative difference (P_mamba - P_gpt) / P_gpt)``."""
    if gpt.backbone != "gpt2":
        raise ValueError(f"matched_mamba2 takes a gpt2 spec, got {gpt.backbone!r}")
    max_layers = integer(max_layers, "max_layers")
    target = count_text_lm_parameters(gpt, vocab_size)
    best: tuple[float, ModelSpec] | None = None
    for n_layer in range(1, max_layers + 1):
        spec = text_spec("mamba2", n_layer, gpt.d_model, gpt.max_length, d_state=d_state, **mamba_kwargs)
        rel = (count_text_lm_parameters(spec, vocab_size) - target) / target
        if best is None or abs(rel) < abs(best[0]):
            best = (rel, spec)
        if rel > 0:
            break
    assert best is not None
    return best[1], float(best[0])


# --------------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------------

@dataclass
class TextTrainRecord:
    """What :func:`train_text_lm` did (losses in nats per token)."""

    label: str
    steps: int
    train_loss: list[float]
    train_cross_entropy: float | None
    heldout_cross_entropy: float | None
    eval_tokens: int
    wall_time_s: float
    tokens_per_s: float
    n_parameters: int
    kernel: str
    resumed_from_step: int
    loaded_from_cache: bool
    directory: str
    settings: dict[str, Any] = field(default_factory=dict)
    valid_curve: list[tuple[int, float]] = field(default_factory=list)  # (step, validation CE)
    best_step: int | None = None  # the step whose weights were kept (validation only)
    stopped_early: bool = False

    def summary(self) -> str:
        """One line: size, steps, training and held-out cross-entropy, time, throughput."""
        f = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        kept = ""
        if self.valid_curve:
            kept = f", weights of step {self.best_step} kept" + (" (stopped early)" if self.stopped_early else "")
        return (f"{self.label}: {self.n_parameters:,} parameters, {self.steps} steps{kept}, cross-entropy "
                f"train {f(self.train_cross_entropy)} / held-out {f(self.heldout_cross_entropy)} nats/token, "
                f"{self.wall_time_s:.0f} s, {self.tokens_per_s:,.0f} tokens/s ({self.kernel})"
                + (" [loaded from cache]" if self.loaded_from_cache else ""))


def train_text_lm(
    spec: ModelSpec,
    train_stream: np.ndarray,
    vocab_size: int,
    bos_id: int,
    train: LM.TrainSettings = LM.TrainSettings(),
    heldout_stream: np.ndarray | None = None,
    device: Any = None,
    description: dict[str, Any] | None = None,
    cache: bool = True,
    root: str | Path | None = None,
    progress: bool = True,
    eval_tokens: int = 100_000,
    eval_batch_size: int = 16,
    callback: Callable[[int, float], None] | None = None,
    prefer_kernels: bool = True,
    require_kernels: bool = False,
    valid_stream: np.ndarray | None = None,
) -> tuple[nn.Module, TextTrainRecord]:
    """Train (or resume, or load) the token LM ``spec`` on ``train_stream`` (see the module docstring).

    Checkpoints go to ``root/<key>`` (default ``cache_dir("text_models")``) every
    ``train.checkpoint_every`` steps; the key covers every setting, the kernel and a hash of the
    training tokens.  ``callback(step, loss)`` runs after every step.  Afterwards the model's
    cross-entropy is measured on up to ``eval_tokens`` tokens of evenly spaced windows of the
    training stream and of ``heldout_stream`` (:func:`l2m_utils.language_model.heldout_cross_entropy`).
    ``valid_stream``: validation tokens for early stopping when ``train.valid_every > 0`` (the best
    validated weights are returned).  Returns ``(model in eval mode, record)``.
    """

    def record(run: LM.TrainRecord) -> TextTrainRecord:
        return TextTrainRecord(
            label=spec.label(), steps=run.steps, train_loss=run.train_loss, train_cross_entropy=run.train_cross_entropy,
            heldout_cross_entropy=run.heldout_cross_entropy, eval_tokens=run.heldout_tokens,
            wall_time_s=run.wall_time_s, tokens_per_s=run.tokens_per_s, n_parameters=run.n_parameters, kernel=run.settings["kernel"],
            resumed_from_step=run.resumed_from_step, loaded_from_cache=run.loaded_from_cache, directory=run.directory,
            settings=run.settings, valid_curve=run.valid_curve, best_step=run.best_step, stopped_early=run.stopped_early)

    return LM.train_causal_lm(
        lambda dev: build_text_lm(spec, vocab_size, bos_id, train.seed, dev, prefer_kernels, require_kernels),
        lambda model: {"spec": spec.to_dict(), "kernel": getattr(model, "kernel", "sdpa")},
        train_stream, heldout_stream, vocab_size, bos_id, spec.max_length, train, valid_stream=valid_stream,
        device=device, loss_fn=lambda model, x: lm_loss(model, x),  # looked up per call (tests spy on it)
        description=description, cache=cache, root=root, cache_subdir="text_models", progress=progress,
        label=f"training {spec.label()}", eval_tokens=eval_tokens, eval_batch_size=eval_batch_size, eval_train=True,
        callback=callback, make_record=record,
    )


# --------------------------------------------------------------------------------------------------
# position-wise evaluation
# --------------------------------------------------------------------------------------------------

def pad_rows(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Rows of different lengths -> float64 [n, max length], right-padded with NaN."""
    if len(rows) == 0:
        raise ValueError("no rows to pad")
    arrays = [np.asarray(r, dtype=np.float64) for r in rows]
    flat = [i for i, a in enumerate(arrays) if a.ndim != 1]
    if flat:
        raise ValueError(f"rows must be 1-D arrays; row {flat[0]} has shape {arrays[flat[0]].shape}")
    out = np.full((len(arrays), max(a.size for a in arrays)), np.nan)
    for i, a in enumerate(arrays):
        out[i, :a.size] = a
    return out


def positionwise_nll(model: nn.Module, samples: np.ndarray | Sequence[np.ndarray], bos_id: int,
                     batch_size: int = 16, device: Any = None, cache_key: Any = None, root: str | Path | None = None,
                     progress: bool = False, position_offset: int = 0) -> np.ndarray:
    """``-log q(w_{i,t} | BOS, w_{i,<t})`` for every token of every sample (nats), float64 [n, T].

    ``samples``: an int array [n, T] (no BOS), or a list of 1-D arrays of different lengths (the
    result is NaN-padded on the right: :func:`positionwise_stats` skips the padding).  With a
    ``cache_key`` (anything JSON-serialisable that identifies the model), equal-length samples are
    scored through :class:`~l2m_utils.scoring.CachedScorer`: every batch is stored on disk, so an
    interrupted evaluation resumes and a finished one is loaded.  ``position_offset`` k reads the
    samples at the positions they would have after k tokens of context (GPT-2 only; see
    :class:`~l2m_utils.scoring.CausalLMScorer`).
    """
    scorer = CausalLMScorer(model, batch_size=batch_size, device=device, bos_id=bos_id, progress=progress,
                            position_offset=position_offset)
    if isinstance(samples, np.ndarray) and samples.ndim == 2:
        if cache_key is not None:
            lp = CachedScorer(scorer, cache_key, batch_size=batch_size, root=root, progress=progress).token_logprobs(samples)
        else:
            lp = scorer.token_logprobs(samples)
        return -lp
    rows = [np.asarray(s) for s in samples]
    if any(r.ndim != 1 for r in rows):
        raise ValueError("samples must be an [n, T] array or a list of 1-D token arrays")
    return -pad_rows(scorer.token_logprobs_ragged(rows))


def positionwise_stats(nll: np.ndarray) -> dict[str, np.ndarray]:
    """Per position t (0-based column): ``mean`` = (1/n_t) Σ_i nll[i, t] over the samples that have a
    token there (NaN = padding), ``sem`` = sample standard deviation / sqrt(n_t) (NaN when n_t < 2),
    ``count`` = n_t.  Infinite entries raise ``ValueError`` (NaN is the padding marker)."""
    a = np.asarray(nll, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"nll must be a non-empty [n, T] array, got shape {a.shape}")
    if np.isinf(a).any():
        rows, cols = np.nonzero(np.isinf(a))
        raise ValueError(f"nll has {rows.size} infinite entries (first at sample {rows[0]}, position {cols[0]}); "
                         "only NaN (padding) may be non-finite")
    valid = ~np.isnan(a)
    count = valid.sum(axis=0)
    if (count == 0).any():
        raise ValueError(f"positions {np.flatnonzero(count == 0).tolist()[:5]} have no token in any sample")
    filled = np.where(valid, a, 0.0)
    mean = filled.sum(axis=0) / count
    sq = np.where(valid, (a - mean) ** 2, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sem = np.where(count > 1, np.sqrt(sq / np.maximum(count - 1, 1)) / np.sqrt(count), np.nan)
    return {"mean": mean, "sem": sem, "count": count}


def log_bins(length: int, per_octave: int = 4) -> np.ndarray:
    """Integer edges ``0 = e_0 < e_1 < ... < e_B = length`` of position bins [e_k, e_{k+1}) (0-based
    columns) about ``per_octave`` bins per factor 2 of position; the first bins hold one position."""
    integer(length, "length")
    integer(per_octave, "per_octave")
    raw = np.unique(np.round(np.geomspace(1, length + 1, int(np.ceil(per_octave * np.log2(length + 1))) + 1)))
    edges = np.unique(np.concatenate([[0], raw.astype(np.int64) - 1, [length]]))
    return edges[(edges >= 0) & (edges <= length)]


def binned(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample means over position bins: ``values`` [n, T] -> ([n, B] means, [B] bin centres as
    1-based positions, geometric mean of the bin's first and last position)."""
    v = np.asarray(values, dtype=np.float64)
    e = np.asarray(integers(edges, "edges", "bin edge", minimum=0), dtype=np.int64)
    if v.ndim != 2:
        raise ValueError(f"values must have shape [n, T] (samples x positions), got {v.shape}")
    if len(e) < 2 or e[-1] > v.shape[1] or np.any(np.diff(e) < 1):
        raise ValueError(f"edges {e.tolist()[:6]}... must increase strictly within [0, {v.shape[1]}] for values {v.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-padding bin of one sample gives NaN
        means = np.stack([np.nanmean(v[:, a:b], axis=1) for a, b in zip(e[:-1], e[1:])], axis=1)
    centres = np.sqrt((e[:-1] + 1) * e[1:].astype(np.float64))
    return means, centres


def mean_band(values: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column means of ``values`` [n, B] (NaN skipped) with a normal-approximation band
    ``mean ± z · sd / sqrt(n)``; returns ``(mean, low, high)``.  Where a column has fewer than 2
    values the band is undefined: ``low`` and ``high`` are NaN there (``fill_between`` leaves a gap)."""
    check_z(z)
    stats = positionwise_stats(values)
    half = z * stats["sem"]
    return stats["mean"], stats["mean"] - half, stats["mean"] + half
