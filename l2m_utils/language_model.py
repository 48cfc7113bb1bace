"""Causal language models as density estimators: train a small GPT-2, load a pretrained one, evaluate.

Introduced in chapter 4 (bipartite MI in text), where a model q of the text is needed to estimate
cross-entropies.  Three pieces:

* :func:`train_causal_lm` is the one training loop (chapter 7's
  :func:`~l2m_utils.text_architectures.train_text_lm` uses it too); :func:`train_lm` builds a GPT-2-style decoder :cite:`radford2019language` from scratch
  (``transformers.GPT2LMHeadModel``, ``attn_implementation="sdpa"``) and trains it on the token
  stream of the training split.  Each step draws ``batch_size`` windows at uniformly random
  positions of the stream; each window is ``BOS`` followed by ``n_ctx`` consecutive tokens, so
  the model learns q(· | BOS) for text that starts anywhere, not only at a document start.  The
  model reads BOS and the first ``n_ctx - 1`` tokens and predicts all ``n_ctx``: every one of its
  ``n_ctx`` positions is trained, so it can score ``n_ctx`` tokens (a window of ``n_ctx`` columns
  whose last output is dropped never trains the last position, whose embedding then stays random).
  The loss is the mean next-token cross-entropy (nats); AdamW (β = (0.9, 0.95), weight decay on
  matrices only) with linear warm-up and cosine decay to ``min_lr_ratio · lr``; gradient clipping;
  bfloat16 autocast on CUDA, float32 on CPU.  All randomness comes from ``seed``.
  With ``valid_every > 0`` the cross-entropy of a *validation* stream (text held out from training
  and distinct from the held-out text the estimates use) is measured every ``valid_every`` steps; the
  weights with the lowest validation cross-entropy are kept and returned, and training stops once
  ``patience`` validations in a row have not improved on the best (early stopping).  A small corpus
  overfits long before a fixed step budget ends; this picks the step without looking at held-out text.
  Checkpoints (model, optimizer, scheduler, RNG states, step, loss history, wall time) are written
  atomically every ``checkpoint_every`` steps to a cache directory keyed by every setting and a
  hash of the training tokens: an interrupted training resumes from the last checkpoint (and
  continues exactly as the uninterrupted run would), a finished one is loaded instead of retrained.
* :func:`load_pretrained` loads any causal LM of the Hugging Face hub by name (needs internet on
  first use, or a local path).
* :func:`heldout_cross_entropy` evaluates a model on held-out tokens:
  CE = −(1/N) Σ log q(w_t | BOS, w_<t) over windows of the held-out stream, perplexity = exp(CE).
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .cache import atomic_torch_save, atomic_write_json, cache_dir, settings_key
from .checks import integer, is_real, real, token_stream
from .corpus import load_from_hub, local_pretrained_folder
from .params import resolve_device, torch_device
from .scoring import CausalLMScorer, body_dtype
from .progress import progress_bar

CHECKPOINT_FORMAT = 2  # 2: windows of BOS + n_ctx tokens (format 1 never trained the last position)


@dataclass(frozen=True)
class GPTShape:
    """Architecture knobs of the GPT-2-style estimator (``n_embd`` divisible by ``n_head``)."""

    n_layer: int = 4
    n_embd: int = 256
    n_head: int = 4
    n_ctx: int = 512
    dropout: float = 0.0  # residual, embedding and attention dropout (training only)

    def __post_init__(self):
        for name in ("n_layer", "n_embd", "n_head"):
            integer(getattr(self, name), name)
        integer(self.n_ctx, "n_ctx", minimum=2, why="BOS + one token")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if not (is_real(self.dropout) and 0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation knobs of :func:`train_lm`."""

    steps: int = 1000
    batch_size: int = 16
    lr: float = 1e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 250
    valid_every: int = 0  # validate every this many steps (0: no validation, the last weights are kept)
    patience: int = 0  # stop after this many validations without a new best (0: never stop early)
    valid_tokens: int = 65_536  # tokens of the validation stream per validation

    def __post_init__(self):
        for name in ("steps", "batch_size", "checkpoint_every", "valid_tokens"):
            integer(getattr(self, name), f"TrainSettings.{name}")
        for name in ("seed", "valid_every", "patience"):
            integer(getattr(self, name), f"TrainSettings.{name}", minimum=0)
        integer(self.warmup_steps, "TrainSettings.warmup_steps", minimum=0, maximum=self.steps,
                why=f"warm-up within the {self.steps} steps, or the peak learning rate is never reached")
        real(self.lr, "TrainSettings.lr", 0, None, low_open=True)
        real(self.min_lr_ratio, "TrainSettings.min_lr_ratio", 0, 1)
        real(self.weight_decay, "TrainSettings.weight_decay", 0, 1, high_open=True)
        real(self.grad_clip, "TrainSettings.grad_clip", 0, None, why="a gradient-norm bound; 0: no clipping")
        if self.patience and not self.valid_every:
            raise ValueError("patience (early stopping) needs validation: set valid_every > 0")

    def key_dict(self) -> dict[str, Any]:
        """The settings as they enter a cache key; without validation, exactly the fields of the
        earlier format (so models trained before validation existed keep their keys)."""
        d = asdict(self)
        if not self.valid_every:
            for name in ("valid_every", "patience", "valid_tokens"):
                d.pop(name)
        return d


@dataclass
class TrainRecord:
    """What :func:`train_causal_lm` (and so :func:`train_lm`) did (losses in nats per token)."""

    steps: int
    train_loss: list[float]
    heldout_cross_entropy: float | None
    heldout_perplexity: float | None
    heldout_tokens: int
    wall_time_s: float
    tokens_per_s: float
    n_parameters: int
    resumed_from_step: int
    loaded_from_cache: bool
    directory: str
    settings: dict[str, Any] = field(default_factory=dict)
    train_cross_entropy: float | None = None  # measured only with ``eval_train``
    valid_curve: list[tuple[int, float]] = field(default_factory=list)  # (step, validation CE)
    best_step: int | None = None  # the step whose weights were kept (validation only)
    stopped_early: bool = False

    def summary(self) -> str:
        """One line: size, steps, final training loss, held-out cross-entropy and perplexity, time, throughput."""
        ppl = "n/a" if self.heldout_perplexity is None else f"{self.heldout_perplexity:.2f}"
        ce = "n/a" if self.heldout_cross_entropy is None else f"{self.heldout_cross_entropy:.3f}"
        valid = ""
        if self.valid_curve:
            best = min(v for _, v in self.valid_curve)
            valid = (f"; weights of step {self.best_step} kept (validation cross-entropy {best:.3f}"
                     + (", stopped early" if self.stopped_early else "") + ")")
        return (
            f"{self.n_parameters / 1e6:.2f}M parameters, {self.steps} steps, final train loss "
            f"{np.mean(self.train_loss[-20:]):.3f} nats/token, held-out cross-entropy {ce} nats/token "
            f"(perplexity {ppl}, {self.heldout_tokens} tokens), {self.wall_time_s:.0f} s, "
            f"{self.tokens_per_s:,.0f} tokens/s" + valid
            + (" [loaded from cache]" if self.loaded_from_cache else "")
        )


def count_parameters(model: Any) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def vocabulary_ids(vocab_size: Any, bos_id: Any) -> tuple[int, int]:
    """``(vocab_size, bos_id)`` as ints after checking that both are integers and BOS is an id of the
    vocabulary, ``0 <= bos_id < vocab_size`` (a float such as 10.5 is refused, never truncated)."""
    vocab_size = integer(vocab_size, "vocab_size")
    bos_id = integer(bos_id, "bos_id", minimum=0, maximum=vocab_size - 1,
                     why=f"an id of the vocabulary of {vocab_size} tokens")
    return vocab_size, bos_id


def build_gpt2(vocab_size: int, bos_id: int, shape: GPTShape = GPTShape(), seed: int = 0) -> Any:
    """A freshly initialised ``GPT2LMHeadModel`` (SDPA attention, tied embeddings, ``shape.dropout``).

    Initialisation uses ``seed`` (an explicit integer >= 0) inside a forked RNG, so the global torch RNG
    is left untouched.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    vocab_size, bos_id = vocabulary_ids(vocab_size, bos_id)
    seed = integer(seed, "seed", minimum=0)
    config = GPT2Config(
        vocab_size=int(vocab_size),
        n_positions=shape.n_ctx,
        n_embd=shape.n_embd,
        n_layer=shape.n_layer,
        n_head=shape.n_head,
        resid_pdrop=shape.dropout,
        embd_pdrop=shape.dropout,
        attn_pdrop=shape.dropout,
        bos_token_id=int(bos_id),
        eos_token_id=int(bos_id),
        attn_implementation="sdpa",
    )
    with seeded_torch_rng(seed):
        model = GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"  # the standard shifted next-token cross-entropy (silences a warning)
    return model


@contextlib.contextmanager
def seeded_torch_rng(seed: int | None, cuda: bool = False):
    """Run a block in a forked torch RNG seeded with ``seed`` (``None``: not reseeded, e.g. to restore a
    checkpoint's state inside); the caller's generators are restored on exit.

    Without ``cuda`` (building a model: the weights are drawn on the CPU and moved afterwards) only the
    CPU generator is forked and seeded, and CUDA is not touched (not even initialised).  With ``cuda``
    (dropout on a GPU) the fork covers the CPU and every visible CUDA device, and ``torch.manual_seed``
    seeds them all, so no device's generator is left changed."""
    import torch

    devices = list(range(torch.cuda.device_count())) if cuda and torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        if seed is not None:
            seed = integer(seed, "seed", minimum=0)
            if devices:
                torch.manual_seed(seed)
            else:
                torch.default_generator.manual_seed(seed)  # torch.manual_seed would also queue CUDA seeds
        yield


def lr_factor(step: int, steps: int, warmup_steps: int, min_lr_ratio: float) -> float:
    """Learning-rate multiplier: linear warm-up to 1 over ``warmup_steps``, then cosine decay to
    ``min_lr_ratio`` at ``steps``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _stream_sha(stream: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(stream, dtype=np.int64).tobytes()).hexdigest()


def heldout_cross_entropy(
    model: Any,
    stream: np.ndarray,
    n_ctx: int,
    bos_id: int,
    max_tokens: int = 200_000,
    batch_size: int = 16,
    device: Any = None,
    dtype: Any = None,
) -> dict[str, float]:
    """Mean −log q per token over evenly spaced, non-overlapping windows of ``stream``.

    Each window is ``n_ctx`` tokens scored after BOS (a model with ``n_ctx`` positions reads BOS and
    the first ``n_ctx − 1``); at most ``max_tokens`` tokens are used, but always at least one window.
    ``dtype``: the precision of the model's body (:func:`~l2m_utils.scoring.body_dtype`; ``None``:
    bfloat16 on CUDA, float32 on CPU).
    Returns ``{"cross_entropy", "perplexity", "tokens"}`` (nats per token; perplexity = exp CE).
    """
    width = integer(n_ctx, "n_ctx")
    integer(max_tokens, "max_tokens")
    stream = token_stream(stream, "held-out stream", min_length=width, why=f"one window of n_ctx = {width}")
    n_windows = min(len(stream) // width, max(1, max_tokens // width))
    starts = np.linspace(0, len(stream) - width, n_windows).astype(np.int64)
    windows = stream[starts[:, None] + np.arange(width)]
    was_training = model.training
    scorer = CausalLMScorer(model, batch_size=batch_size, device=device, dtype=dtype, bos_id=bos_id)
    lp = scorer.token_logprobs(windows)
    model.train(was_training)
    ce = float(-lp.mean())
    return {"cross_entropy": ce, "perplexity": float(math.exp(ce)), "tokens": int(lp.size)}


def _rng_state() -> dict[str, Any]:
    import torch

    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"].cpu())  # CPU byte tensors only, wherever the checkpoint was loaded
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def lm_loss(model: Any, x: Any) -> Any:
    """Mean next-token cross-entropy (nats) of a window batch ``x`` [b, n_ctx + 1] (``x[:, 0]`` is BOS):
    -(1 / (b n_ctx)) sum_{i,t} log q(x[i, t+1] | x[i, :t+1]).

    The body (``model.base_model``, without a KV cache) reads ``x[:, :-1]``, so all ``n_ctx``
    positions are trained; the head (``get_output_embeddings()``) gives logits that are upcast to
    float32 before the log-softmax, as the Hugging Face loss does.  The same for every architecture
    the book trains (GPT-2 here, Mamba-2 in chapter 7).
    """
    import torch.nn.functional as F

    hidden = model.base_model(input_ids=x[:, :-1], use_cache=False)[0]
    logits = model.get_output_embeddings()(hidden).float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))


# Its name in training cache keys: the name it had before the GPT-2 and text-architecture copies were
# merged; for GPT-2 the merged loss is bitwise the same, so estimators trained earlier stay valid.
lm_loss.cache_id = "l2m_utils.language_model.hf_causal_loss"


def _loss_id(loss_fn: Callable[[Any, Any], Any]) -> str:
    """The name of a training loss in cache keys: its ``cache_id`` if it has one, else module.qualname."""
    return getattr(loss_fn, "cache_id", None) or (
        f"{getattr(loss_fn, '__module__', '')}.{getattr(loss_fn, '__qualname__', type(loss_fn).__name__)}")


def _finite_losses(pending: list[Any], step: int, lr: float) -> list[float]:
    """The losses of the last steps as floats; ``FloatingPointError`` if one is NaN or infinite, so
    that a diverged run is never checkpointed (the last checkpoint, if any, stays as it was)."""
    import torch

    values = torch.stack(pending).float().cpu().tolist()
    if not all(math.isfinite(v) for v in values):
        raise FloatingPointError(
            f"the training loss became non-finite ({values[-1]}) at or before step {step}: the run diverged; "
            f"lower the learning rate (now {lr:g}) or train in float32. Nothing of these steps was saved")
    return values


def _check_stream(stream: Any, name: str, n_ctx: int, vocab_size: int) -> np.ndarray:
    """``stream`` as int64 after :func:`~l2m_utils.checks.token_stream`: 1-D integer ids in
    ``[0, vocab_size)``, at least one window of ``n_ctx`` tokens."""
    return token_stream(stream, name, vocab_size, min_length=n_ctx, why=f"one window of n_ctx = {n_ctx}")


def train_causal_lm(
    build_model: Callable[[Any], Any],
    model_settings: dict[str, Any],
    train_stream: np.ndarray,
    heldout_stream: np.ndarray | None,
    vocab_size: int,
    bos_id: int,
    n_ctx: int,
    train: TrainSettings = TrainSettings(),
    *,
    valid_stream: np.ndarray | None = None,
    device: Any = None,
    loss_fn: Callable[[Any, Any], Any] = lm_loss,
    description: dict[str, Any] | None = None,
    cache: bool = True,
    root: str | Path | None = None,
    cache_subdir: str = "models",
    progress: bool = True,
    label: str = "training",
    eval_tokens: int = 200_000,
    eval_batch_size: int = 16,
    eval_train: bool = False,
    eval_dtype: Any = None,
    callback: Callable[[int, float], None] | None = None,
    make_record: Callable[[TrainRecord], Any] | None = None,
) -> tuple[Any, Any]:
    """The one training loop of every causal LM of the book (see the module docstring).

    ``build_model(device)`` returns the freshly initialised model (seeded by ``train.seed``) on
    ``device``; it is built before the cache key is formed, and ``model_settings`` may be a dict or a
    function of that model returning a dict (architecture, shape or spec, kernel...): the cache key
    of ``root/<key>`` (default ``cache_dir(cache_subdir)``) covers those settings, ``train``, the
    vocabulary, ``device.type``, ``description`` and a hash of the training tokens.
    ``loss_fn(model, x)`` is the mean next-token cross-entropy of a batch ``x`` [b, n_ctx + 1] whose
    first column is BOS: the model reads ``x[:, :-1]`` and predicts ``x[:, 1:]``.  ``valid_stream`` (needed when ``train.valid_every > 0``) is the validation text
    of the early stopping described in the module docstring.  ``callback(step, loss)`` runs after
    every step (step counted from 1).  Afterwards
    the cross-entropy of up to ``eval_tokens`` tokens of evenly spaced windows of ``heldout_stream``
    (and of the training stream when ``eval_train``) is measured by :func:`heldout_cross_entropy`, with
    the model's body in ``eval_dtype`` (:func:`~l2m_utils.scoring.body_dtype`; ``None``: bfloat16 on CUDA,
    float32 on CPU; a loaded run is re-evaluated when it was evaluated in another dtype).
    Returns ``(model in eval mode, make_record(run))`` with ``run`` a :class:`TrainRecord` (default:
    ``run`` itself); ``record.json`` holds that record without its loss history.
    """
    import torch

    n_ctx = integer(n_ctx, "n_ctx")
    vocab_size, bos_id = vocabulary_ids(vocab_size, bos_id)
    integer(eval_tokens, "eval_tokens")  # checked before training, not at the evaluation after it
    integer(eval_batch_size, "eval_batch_size")
    # every stream is checked here, before any training, so that a bad held-out stream never wastes a run
    stream = _check_stream(train_stream, "train_stream", n_ctx, vocab_size)
    if heldout_stream is not None:
        heldout_stream = _check_stream(heldout_stream, "heldout_stream", n_ctx, vocab_size)
    valid = None
    if train.valid_every:
        if valid_stream is None:
            raise ValueError("valid_every > 0 needs a validation stream: pass valid_stream")
        valid = _check_stream(valid_stream, "valid_stream", n_ctx, vocab_size)
    device = torch_device(device) if device is not None else resolve_device("auto")
    model = build_model(device)
    specific = model_settings(model) if callable(model_settings) else model_settings
    settings = {
        "format": CHECKPOINT_FORMAT,
        **specific,
        "train": train.key_dict(),
        "n_ctx": int(n_ctx),
        "loss": _loss_id(loss_fn),
        "vocab_size": int(vocab_size),
        "bos_id": int(bos_id),
        "train_tokens_sha256": _stream_sha(stream),
        "train_tokens": int(len(stream)),
        "device_type": device.type,
        "description": description or {},
    }
    if valid is not None:
        settings["valid_tokens_sha256"] = _stream_sha(valid)
    key = settings_key(settings)
    # the folder exists only when caching: cache=False writes nothing
    folder = (Path(root) / key) if root is not None else (cache_dir(cache_subdir) if cache else Path(cache_subdir)) / key
    ckpt_path = folder / "checkpoint.pt"
    if cache:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / "settings.json", settings)

    # weight decay on matrices only (and never on parameters marked ``_no_weight_decay``)
    decay = [p for p in model.parameters() if p.dim() >= 2 and not getattr(p, "_no_weight_decay", False)]
    ids = {id(p) for p in decay}
    no_decay = [p for p in model.parameters() if id(p) not in ids]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": train.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=train.lr, betas=(0.9, 0.95), eps=1e-8,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, train.steps, train.warmup_steps, train.min_lr_ratio)
    )
    rng = np.random.default_rng(train.seed)
    losses: list[float] = []
    step = 0
    wall_before = 0.0
    previous_record: dict[str, Any] = {}
    torch_rng: dict[str, Any] | None = None  # torch RNG state (dropout) to resume from
    valid_curve: list[tuple[int, float]] = []
    best: dict[str, Any] = {"step": None, "ce": math.inf, "state": None, "bad": 0}
    stopped = False
    if cache and ckpt_path.exists():
        # onto the CPU: the RNG states must stay CPU byte tensors (torch.set_rng_state refuses CUDA ones);
        # load_state_dict copies the weights, and the optimizer its state, to the model's device
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["numpy_rng"]
        torch_rng = state["torch_rng"]
        losses = list(state["train_loss"])
        step = int(state["step"])
        wall_before = float(state["wall_time_s"])
        previous_record = dict(state.get("record", {}))
        valid_curve = [(int(a), float(b)) for a, b in state.get("valid_curve", [])]
        best = dict(state.get("best", best))
        stopped = bool(state.get("stopped_early", False))
    resumed_from = step
    loaded = step >= train.steps or stopped

    def save(current_step: int, wall: float, record: dict[str, Any] | None = None) -> None:
        if not cache:
            return
        atomic_torch_save(
            {
                "format": CHECKPOINT_FORMAT,
                "settings": settings,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "numpy_rng": rng.bit_generator.state,
                "torch_rng": _rng_state(),
                "step": current_step,
                "train_loss": losses,
                "wall_time_s": wall,
                "record": record or {},
                "valid_curve": valid_curve,
                "best": best,
                "stopped_early": stopped,
            },
            ckpt_path,
        )

    def validate(current_step: int) -> None:
        """Validation cross-entropy now; keep the weights if they are the best so far."""
        nonlocal stopped
        ce = heldout_cross_entropy(model, valid, n_ctx, bos_id, train.valid_tokens, eval_batch_size,
                                   device)["cross_entropy"]
        valid_curve.append((current_step, ce))
        if ce < best["ce"]:
            state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            best.update(step=current_step, ce=ce, state=state, bad=0)
        else:
            best["bad"] += 1
            stopped = bool(train.patience) and best["bad"] >= train.patience

    stream_t = torch.as_tensor(stream, device=device)
    offsets = torch.arange(n_ctx, device=device)
    bos_col = torch.full((train.batch_size, 1), bos_id, dtype=torch.long, device=device)
    autocast = (
        torch.autocast(device_type="cuda", dtype=torch.bfloat16) if device.type == "cuda" else None
    )
    session_start = time.perf_counter()
    session_steps = 0
    # the loop runs inside a forked torch RNG (dropout), seeded from ``seed`` or restored from the
    # checkpoint: the caller's global RNG is untouched and a resume continues exactly
    with seeded_torch_rng(train.seed + 1 if torch_rng is None else None, cuda=device.type == "cuda"):
        if torch_rng is not None:
            _set_rng_state(torch_rng)
        if not loaded:
            model.train()
            bar = progress_bar(total=train.steps, initial=step, desc=label, unit="step", disable=not progress,
                       mininterval=5.0)  # few updates: text progress bars in executed notebooks stay short
            pending: list[Any] = []
            high = len(stream) - n_ctx + 1
            while step < train.steps and not stopped:
                starts = torch.as_tensor(rng.integers(0, high, size=train.batch_size), device=device)
                x = torch.cat([bos_col, stream_t[starts[:, None] + offsets]], dim=1)
                if autocast is not None:
                    with autocast:
                        loss = loss_fn(model, x)
                else:
                    loss = loss_fn(model, x)
                loss.backward()
                if train.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                step += 1
                session_steps += 1
                pending.append(loss.detach())
                if callback is not None:
                    callback(step, float(loss.detach()))
                if step % 10 == 0 or step % train.checkpoint_every == 0 or step == train.steps:
                    losses.extend(_finite_losses(pending, step, train.lr))
                    pending = []
                    bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}")
                bar.update(1)
                if train.valid_every and (step % train.valid_every == 0 or step == train.steps):
                    validate(step)
                    bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}" if losses else "-",
                                    valid=f"{valid_curve[-1][1]:.3f}")
                if step % train.checkpoint_every == 0 or step == train.steps or stopped:
                    if pending:
                        losses.extend(_finite_losses(pending, step, train.lr))
                        pending = []
                    save(step, wall_before + time.perf_counter() - session_start)
            bar.close()
            if device.type == "cuda":
                torch.cuda.synchronize()
    session_wall = time.perf_counter() - session_start
    if best["state"] is not None:  # early stopping: continue with the best weights
        model.load_state_dict(best["state"])
    model.eval()

    # evaluation, reused from the checkpoint when a finished run is loaded with the same evaluation data
    heldout_sha = None if heldout_stream is None else _stream_sha(heldout_stream)
    eval_dtype = body_dtype(eval_dtype, device)
    stored = previous_record.get("eval")
    if (loaded and stored is not None and previous_record.get("heldout_sha256") == heldout_sha
            and previous_record.get("eval_tokens") == eval_tokens
            # records written before the dtype was stored were evaluated in the device's default
            and previous_record.get("eval_dtype", str(body_dtype(None, device))) == str(eval_dtype)
            and (stored.get("train") is not None or not eval_train)):
        evaluation = stored
    else:
        evaluation = {"train": None, "heldout": None, "tokens": 0}
        if eval_train:
            evaluation["train"] = heldout_cross_entropy(model, stream, n_ctx, bos_id, eval_tokens,
                                                        eval_batch_size, device, eval_dtype)["cross_entropy"]
        if heldout_stream is not None:
            ev = heldout_cross_entropy(model, heldout_stream, n_ctx, bos_id, eval_tokens, eval_batch_size, device,
                                       eval_dtype)
            evaluation.update(heldout=ev["cross_entropy"], tokens=ev["tokens"])

    if loaded:
        wall = wall_before
        tokens_per_s = float(previous_record.get("tokens_per_s", float("nan")))
    else:
        wall = wall_before + session_wall
        tokens_per_s = session_steps * train.batch_size * n_ctx / max(session_wall, 1e-9)
    run = TrainRecord(
        steps=step,
        train_loss=losses,
        heldout_cross_entropy=evaluation["heldout"],
        heldout_perplexity=None if evaluation["heldout"] is None else float(math.exp(evaluation["heldout"])),
        heldout_tokens=int(evaluation["tokens"]),
        wall_time_s=wall,
        tokens_per_s=tokens_per_s,
        n_parameters=count_parameters(model),
        resumed_from_step=step if loaded else resumed_from,
        loaded_from_cache=loaded,
        directory=str(folder),
        settings=settings,
        train_cross_entropy=evaluation["train"],
        valid_curve=list(valid_curve),
        best_step=best["step"],
        stopped_early=stopped,
    )
    record = run if make_record is None else make_record(run)
    new_record = {"heldout_sha256": heldout_sha, "eval_tokens": eval_tokens, "eval_dtype": str(eval_dtype),
                  "eval": evaluation, "tokens_per_s": tokens_per_s}
    if cache and (not loaded or previous_record != new_record):
        save(step, wall, new_record)
        atomic_write_json(folder / "record.json", {k: v for k, v in asdict(record).items() if k != "train_loss"})
    return model, record


def train_lm(
    train_stream: np.ndarray,
    heldout_stream: np.ndarray | None,
    vocab_size: int,
    bos_id: int,
    shape: GPTShape = GPTShape(),
    train: TrainSettings = TrainSettings(),
    device: Any = None,
    description: dict[str, Any] | None = None,
    cache: bool = True,
    root: str | Path | None = None,
    progress: bool = True,
    eval_tokens: int = 200_000,
    callback: Callable[[int, float], None] | None = None,
    valid_stream: np.ndarray | None = None,
    eval_dtype: Any = None,
) -> tuple[Any, TrainRecord]:
    """Train (or resume, or load) a GPT-2-style LM on ``train_stream``; evaluate on ``heldout_stream``.

    ``train_stream``: 1-D token ids (documents separated by BOS, see
    :func:`~l2m_utils.tokenization.encode_stream`).  ``description`` (corpus, tokenizer...) joins the
    cache key.  ``root`` overrides the cache folder (default ``cache_dir("models")``).
    ``callback(step, loss)`` is called after every step (step counted from 1).  ``valid_stream``:
    validation tokens for early stopping (``train.valid_every > 0``).  ``eval_dtype``: the precision of
    the held-out evaluation (:func:`~l2m_utils.scoring.body_dtype`).  Returns ``(model, record)``
    with the model in eval mode on ``device``.  The loop is :func:`train_causal_lm`.
    """
    return train_causal_lm(
        lambda dev: build_gpt2(vocab_size, bos_id, shape, seed=train.seed).to(dev),
        {"architecture": "gpt2", "shape": asdict(shape)},
        train_stream, heldout_stream, vocab_size, bos_id, shape.n_ctx, train, valid_stream=valid_stream,
        device=device, loss_fn=lm_loss, description=description, cache=cache, root=root,
        cache_subdir="models", progress=progress, label="training", eval_tokens=eval_tokens,
        eval_dtype=eval_dtype, callback=callback,
    )


# Heads of models that are not causal LMs (``config.architectures`` as saved by ``save_pretrained``):
# AutoModelForCausalLM still loads e.g. a BERT checkpoint into ``BertLMHeadModel``, reading it wrongly.
_NOT_CAUSAL = ("ForMaskedLM", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering",
               "ForMultipleChoice", "ForPreTraining", "ForNextSentencePrediction")


def load_pretrained(name: str, dtype: Any = "auto", device: Any = None, device_map: Any = None, **kwargs: Any) -> Any:
    """Any causal LM of the Hugging Face hub by name or local path, in eval mode.

    ``dtype``: ``"auto"`` (the checkpoint's), a ``torch.dtype``, or ``"bfloat16"``, ``"float16"``,
    ``"float32"`` (``None``: bfloat16 on CUDA, float32 elsewhere, as :func:`~l2m_utils.scoring.body_dtype`);
    ``device_map`` (e.g. ``"auto"``, needs ``accelerate``) spreads a large model over the GPUs (and
    offloads what does not fit to the CPU or, with ``offload_folder=``, to disk), otherwise the
    model is moved to ``device``.  :class:`~l2m_utils.scoring.CausalLMScorer` scores either kind.  A name
    that is a path (``./x``, ``/x``, ``~/x``, an existing folder:
    :func:`~l2m_utils.corpus.local_pretrained_folder`) must be a folder with ``config.json`` and
    weights; the hub is not asked about it.  When the hub cannot be reached
    (:func:`~l2m_utils.corpus.hub_unreachable`), only the local cache is read, at once.  Raises
    ``RuntimeError`` naming the model when it cannot be loaded (offline, wrong name, gated model
    without a token, a missing or incomplete folder).
    """
    from transformers import AutoModelForCausalLM

    if dtype != "auto":
        dtype = body_dtype(dtype, device if device is not None else "cpu")
    options = dict(kwargs)
    options["dtype"] = dtype
    if device_map is not None:
        if importlib.util.find_spec("accelerate") is None:
            raise RuntimeError(f"device_map={device_map!r} needs the `accelerate` package: pip install accelerate")
        options["device_map"] = device_map
    needs = [("config.json", ("config.json", "adapter_config.json")),  # a PEFT adapter has its own config
             ("model weights (model.safetensors, pytorch_model.bin or a sharded *.index.json)",
              ("*.safetensors", "*.bin", "*.index.json", "*.h5", "*.msgpack"))]
    local_hint = "Give a folder written with save_pretrained, or use estimator 'train' to train a small model locally"
    folder = local_pretrained_folder(name, f"the causal LM {name!r}", local_hint,
                                     [] if "gguf_file" in options else needs)  # a GGUF file holds both
    if folder is not None:
        source, what, hint = str(folder), f"the causal LM {name!r} from the folder {str(folder)!r}", local_hint
    else:
        source, what = name, f"the causal LM {name!r}"
        hint = ("Loading by name needs the Hugging Face hub (internet, and a token for gated models); "
                "use estimator 'train' to train a small model locally instead")
    model = load_from_hub(AutoModelForCausalLM.from_pretrained, source, what, hint, **options)
    saved_as = [a for a in (getattr(model.config, "architectures", None) or []) if a.endswith(_NOT_CAUSAL)]
    if saved_as and not getattr(model.config, "is_decoder", False):
        raise RuntimeError(f"{what} was saved as {saved_as[0]}, which is not a causal (left-to-right) language model: "
                           "the estimators need q(x_t | x_<t), which a masked or classification model does not give. "
                           f"{hint.rstrip('.')}.")
    if device_map is None and device is not None:
        model = model.to(device)
    return model.eval()


def output_vocabulary(model: Any) -> int:
    """How many tokens ``model`` predicts: the rows of its output embedding (else ``config.vocab_size``)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    weight = getattr(head, "weight", None)
    return int(weight.shape[0]) if weight is not None else int(model.config.vocab_size)


def check_vocabulary(model: Any, tokenizer_size: int, tokenizer: str, estimator: str) -> None:
    """Raise ``ValueError`` naming both when the tokenizer's ids ``[0, tokenizer_size)`` do not all lie
    in the ``V`` tokens ``model`` predicts (:func:`output_vocabulary`); ``V`` larger is fine (padded
    embeddings).  The two were then not saved together, and every score would be meaningless."""
    predicted = output_vocabulary(model)
    if tokenizer_size > predicted:
        raise ValueError(f"the tokenizer {tokenizer!r} has {tokenizer_size:,} tokens, but the estimator {estimator!r} "
                         f"predicts only {predicted:,}: they were not trained together. Use the tokenizer saved "
                         "with the model (save both into one folder and give it as tokenizer and estimator)")
