"""Training continuous-token models on the exact Gaussian sequences.  Introduced in chapter 6.

One *run* trains one model (``l2m_utils.continuous_models``) at one length ``L = 4**depth`` with one
seed.  Every step draws ``batch`` fresh sequences from the exact sampler of chapter 5 (never
reused) and minimises the exact KL divergence to the true conditionals, averaged over positions and
the ``copies`` dimensions of each token (notes §5):

    KL_i = (1/copies) sum_j [ log(sigma_q/sigma_p) + (sigma_p^2 + (mu_q - mu_p)^2) / (2 sigma_q^2) - 1/2 ]

(``gaussian_sequences.exact_kl``).  AdamW with linear warmup and cosine decay to ``min_lr_ratio *
lr``; fp32, or bf16 autocast on CUDA.  A fixed held-out batch (seed :data:`EVAL_SEED`, the same for
every model at a given L) is evaluated every ``eval_every`` steps.

Reported per run (one small JSON, ``<results_dir>/<key>.json``, written atomically): mean and
position-wise KL (nats per dimension), NLL_i = KL_i + H_p(W_i | W_<i), the trivial baseline KL
``-mean_i log sigma_p(i)`` and KL/baseline, the exact bipartite MI of the data at that L (all
``copies`` together), the model's history-state size at L/2, tokens/s, training curves and
provenance.  Checkpoints (model, optimizer, scheduler, data-generator state, step, curves) are written
atomically, so an interrupted run resumes where it stopped and continues exactly as it would have.

A *sweep* is a list of runs; :func:`run_sweep` loads the runs whose results file exists and trains
only the missing ones, within ``max_runs`` / ``time_budget_s`` (it stops cleanly between runs), so
results produced in parts, on different machines, accumulate; a :class:`SweepBudget` holds these
limits across several sweeps (chapter 6's main sweep and its longer runs share one).  :data:`SWEEP_PROFILES` holds the
``smoke``, ``classroom`` and ``gpu`` sweeps; ``python -m l2m_utils.synthetic_training sweep --profile
gpu`` runs one from the command line.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from . import gaussian_sequences as gs
from .checks import integer, integers, is_real, listed
from .params import torch_device
from .cache import atomic_torch_save, atomic_write_json, cache_dir, settings_key
from .continuous_models import ContinuousARModel, ModelSpec, build_model
from .language_model import lr_factor
from .progress import progress_bar

ROOT = Path(__file__).resolve().parents[1]
EVAL_SEED = 20250306
PRECISIONS = ("fp32", "bf16")
RESULTS_FORMAT = 1

# --------------------------------------------------------------------------------------------------
# the loss
# --------------------------------------------------------------------------------------------------


def kl_per_position(mu_q: torch.Tensor, sigma_q: torch.Tensor, mu_p: torch.Tensor,
                    sigma_p: torch.Tensor) -> torch.Tensor:
    """The formula of :func:`gaussian_sequences.exact_kl` without its input checks ([b, L]).

    The checks synchronise the GPU several times per call; the training loop uses this twin and
    checks the loss for NaN at every evaluation instead (the tests assert the two agree).
    """
    sp = sigma_p[None, :, None] if sigma_p.dim() == 1 else sigma_p
    return gs.kl_elements(mu_q, sigma_q, mu_p, sp).mean(dim=-1)


# --------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------


def parse_model(text: str, copies: int = 64, max_length: int = 4096) -> ModelSpec:
    """``"gpt2-4x256"`` or ``"mamba2-4x256-N16"`` (``N`` = d_state; optional ``-P32`` head_dim,
    ``-E2`` expand, ``-H4`` GPT-2 heads) -> :class:`ModelSpec`."""
    parts = str(text).strip().split("-")
    try:
        backbone, size = parts[0], parts[1]
        n_layer, d_model = (int(v) for v in size.lower().split("x"))
        extra: dict[str, int] = {}
        names = {"N": "d_state", "P": "head_dim", "E": "expand", "H": "n_head"}
        for p in parts[2:]:
            if p[:1] not in names:
                raise ValueError
            extra[names[p[:1]]] = int(p[1:])
    except (ValueError, IndexError):
        raise ValueError(f"model {text!r} is not like 'gpt2-4x256' or 'mamba2-4x256-N16' "
                         "(optional -P<head_dim> -E<expand> -H<n_head>)") from None
    if backbone == "gpt2" and {"d_state", "head_dim", "expand"} & set(extra):
        raise ValueError(f"model {text!r}: N/P/E are Mamba-2 settings")
    if backbone == "mamba2" and "n_head" in extra:
        raise ValueError(f"model {text!r}: H is a GPT-2 setting")
    return ModelSpec(backbone=backbone, n_layer=n_layer, d_model=d_model, copies=copies, max_length=max_length,
                     **extra)


#: The form of the model names :func:`parse_model` accepts, for messages.
MODEL_FORM = ("'gpt2-<layers>x<width>' or 'mamba2-<layers>x<width>-N<d_state>', such as 'gpt2-4x256' or "
              "'mamba2-4x256-N16' (optional -P<head_dim> -E<expand> for Mamba-2, -H<n_head> for GPT-2)")


def model_name_problem(text: str) -> str | None:
    """Why :func:`parse_model` rejects ``text`` (its error message), or ``None`` when ``text`` names a model."""
    try:
        parse_model(text)
    except ValueError as err:
        return str(err)
    return None


def models_problem(models: Sequence[str]) -> str | None:
    """What is wrong with a ``models`` parameter (names :func:`parse_model` rejects, then a model named
    twice, whose second copy would count as another seed), or ``None``."""
    try:
        models = listed(models, "models", "model names")
    except ValueError as err:
        return str(err)
    if not models:
        return "models must name at least one model, got none"
    bad = [f"{t!r} ({why})" for t, why in ((t, model_name_problem(t)) for t in models) if why]
    if bad:
        return ((f"models entry {bad[0]} is not a model name" if len(bad) == 1 else
                 f"models entries {' and '.join(bad)} are not model names") + ": write each model as " + MODEL_FORM)
    if len({parse_model(t) for t in models}) != len(models):
        return (f"models {list(models)} name one model twice (e.g. 'mamba2-2x64' and 'mamba2-2x64-N64' are the "
                "same model): its second copy would count as another seed")
    return None


def lr_by_model_problem(lr_by_model: Any) -> str | None:
    """What is wrong with a per-model table of peak learning rates ``{model: lr}`` (a key that is not a
    model name, two keys naming one model, a rate outside (0, 1)), or ``None``."""
    if not isinstance(lr_by_model, Mapping):
        return f"lr_by_model must be a dict {{model: peak learning rate}}, got {lr_by_model!r}"
    bad = [f"{k!r} ({model_name_problem(k) if isinstance(k, str) else 'not a string'})" for k in lr_by_model
           if not isinstance(k, str) or model_name_problem(k)]
    if bad:
        return f"lr_by_model key {bad[0]} is not a model name: write each model as {MODEL_FORM}"
    if len({parse_model(k) for k in lr_by_model}) != len(lr_by_model):
        return f"lr_by_model {dict(lr_by_model)} names one model twice"
    off = [f"{k!r}: {v!r}" for k, v in lr_by_model.items() if not (is_real(v) and 0 < v < 1)]
    if off:
        return f"lr_by_model rates must lie in (0, 1), got {', '.join(off)}"
    return None


def model_lr(model: str, lr: float, lr_by_model: Mapping[str, float] | None = None) -> float:
    """The peak learning rate of ``model`` in a sweep: its entry in ``lr_by_model`` (keys compared as
    models, so ``"mamba2-2x64"`` and ``"mamba2-2x64-N64"`` are one), else the sweep's ``lr``."""
    if lr_by_model:
        spec = parse_model(model)
        for key, value in lr_by_model.items():
            if parse_model(key) == spec:
                return float(value)
    return lr


#: The ``results_dir`` value that means a fresh folder, removed afterwards.
TEMPORARY_RESULTS = "temporary"


def results_folder(name: str, root: Path | None = None) -> Path:
    """The folder a ``results_dir`` parameter names: ``~`` expanded, a relative path taken from the
    repository root ``root`` (default :data:`ROOT`)."""
    path = Path(name).expanduser()
    return (path if path.is_absolute() else (root or ROOT) / path).resolve()


def results_dir_problem(name: str, root: Path | None = None) -> str | None:
    """What is wrong with a ``results_dir`` parameter (empty, the repository root or a folder holding
    it: the run results need a folder of their own), or ``None``; :data:`TEMPORARY_RESULTS` is fine."""
    if name == TEMPORARY_RESULTS:
        return None
    repo = (root or ROOT).resolve()
    if not name.strip():
        why = "is empty"
    else:
        folder = results_folder(name, root)
        if folder not in (repo, *repo.parents):
            return None
        shown = "" if str(folder) == name else f"({folder}) "
        why = shown + ("is the repository root itself" if folder == repo else "is a folder that holds the whole repository")
    return (f"results_dir={name!r} {why}: the run results (one JSON file per run) need a folder of their own, such "
            f"as results/ch06 (relative to the repository; an absolute path or ~/... also works), or "
            f"{TEMPORARY_RESULTS!r} for a fresh folder removed afterwards")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one run's result (its key hashes all of it)."""

    model: ModelSpec
    depth: int
    seed: int = 0
    steps: int = 1000
    batch: int = 8
    lr: float = 1e-3
    warmup: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    precision: str = "fp32"
    eval_every: int = 100
    eval_sequences: int = 64
    family: str = "subvolume"

    def __post_init__(self) -> None:
        gs.check_depth(self.depth, max_depth=7)
        for name in ("steps", "batch", "eval_every", "eval_sequences"):
            integer(getattr(self, name), f"RunConfig.{name}")
        integer(self.seed, "RunConfig.seed", minimum=0)
        integer(self.warmup, "RunConfig.warmup", minimum=0, maximum=self.steps - 1, why="0 <= warmup < steps")
        if not (0 < self.lr < 1):
            raise ValueError(f"RunConfig.lr must lie in (0, 1), got {self.lr!r}")
        if not (0 <= self.min_lr_ratio <= 1):
            raise ValueError(f"RunConfig.min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio!r}")
        if not (0 <= self.weight_decay < 1):
            raise ValueError(f"RunConfig.weight_decay must lie in [0, 1), got {self.weight_decay!r}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"RunConfig.betas must be two numbers in [0, 1) (AdamW), got {self.betas!r}")
        if not (0 <= self.grad_clip < math.inf):
            raise ValueError(f"RunConfig.grad_clip must be a finite norm >= 0 (0: no clipping), got {self.grad_clip!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"RunConfig.precision must be one of {PRECISIONS}, got {self.precision!r}")
        gs.resolve_copies(self.family)
        if self.model.max_length < self.length:
            raise ValueError(f"model max_length {self.model.max_length} < L = {self.length}")

    @property
    def length(self) -> int:
        """The sequence length L = 4^depth."""
        return 4**self.depth

    def to_dict(self) -> dict[str, Any]:
        """The run as a JSON-ready dict (the results file's ``config``)."""
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        """The run of a results file's ``config`` (inverse of :meth:`to_dict`)."""
        d = dict(d)
        d["model"] = ModelSpec(**d["model"])
        d["betas"] = tuple(d["betas"])
        return cls(**d)

    def key(self) -> str:
        """Readable prefix plus a hash of every setting: ``mamba2-4x256-N16-L256-s0-3000st-<hash8>``."""
        m = self.model
        name = f"{m.backbone}-{m.n_layer}x{m.d_model}" + (f"-N{m.d_state}" if m.backbone == "mamba2" else "")
        return f"{name}-L{self.length}-s{self.seed}-{self.steps}st-{settings_key(self.to_dict(), 8)}"


# --------------------------------------------------------------------------------------------------
# the data at one length
# --------------------------------------------------------------------------------------------------


@dataclass
class TaskData:
    """The exact sampler and the exact information quantities of the data at one length."""

    depth: int
    family: str
    copies: int
    sampler: gs.GaussianSequenceSampler
    sigma_p: np.ndarray  # [L] exact conditional standard deviations
    entropies: np.ndarray  # [L] H_p(W_i | W_<i) per dimension (nats)
    baseline_kl: float  # KL/dimension of predicting N(0, 1) everywhere
    bipartite_mi: float  # I^BP_{L/2;L} of the whole token sequence (all copies), nats

    @classmethod
    def build(cls, depth: int, family: str = "subvolume", copies: int = 64, device: str | torch.device = "cpu"):
        """The exact sampler, conditional entropies, baseline KL and bipartite MI of the data at depth ``depth``."""
        sampler = gs.GaussianSequenceSampler(depth, family, copies, device)
        sigma = sampler.sigma.double().cpu().numpy()
        ent = 0.5 * np.log(2 * np.pi * np.e) + np.log(sigma)
        mi = float(gs.equal_split_mi_by_depth(depth, family)[-1]) * copies
        return cls(depth, family, copies, sampler, sigma, ent, gs.trivial_baseline_kl(sigma), mi)

    @property
    def length(self) -> int:
        """The sequence length L = 4^depth."""
        return 4**self.depth

    def heldout_marginal_kl(self, eval_sequences: int) -> float:
        """KL/dimension of predicting the marginal N(0, 1) everywhere, measured on the fixed held-out
        batch of ``eval_sequences`` sequences that every run at this length is evaluated on (seed
        :data:`EVAL_SEED`, as in :func:`train_run`).  Its expectation is ``baseline_kl``; on one batch it
        differs by the batch's sampling noise (under 1% at the book's sizes: 0.5-0.8% in the classroom sweep), so a run whose
        held-out KL/baseline lies that close to this value's ratio has learned nothing beyond the marginal."""
        batch = self.sampler.sample(integer(eval_sequences, "eval_sequences"), seed=EVAL_SEED)
        mu = batch.mu.double()
        kl = gs.exact_kl(torch.zeros_like(mu), torch.ones_like(mu), mu, batch.sigma.double())
        return float(kl.mean())


def heldout_marginal_ratio(cfg: RunConfig, data_cache: dict | None = None) -> float:
    """:meth:`TaskData.heldout_marginal_kl` of ``cfg``'s held-out batch divided by ``baseline_kl``: the
    KL/baseline of a model that learned nothing beyond the marginal, as ``cfg``'s run measures it
    (computed on the CPU; the batch is drawn there on every device)."""
    data = _task(data_cache, cfg, torch.device("cpu"))
    return data.heldout_marginal_kl(cfg.eval_sequences) / data.baseline_kl


def _task(cache: dict | None, cfg: RunConfig, device: torch.device) -> TaskData:
    key = (cfg.depth, cfg.family, cfg.model.copies, str(device))
    if cache is not None and key in cache:
        return cache[key]
    data = TaskData.build(cfg.depth, cfg.family, cfg.model.copies, device)
    if cache is not None:
        cache[key] = data
    return data


# --------------------------------------------------------------------------------------------------
# one run
# --------------------------------------------------------------------------------------------------


def device_label(device: torch.device) -> str:
    """The device in words: GPU name, or the CPU model and core count."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    from .book import cpu_model

    # the wording is fixed: stored results are matched on it (_estimate_s), so "1 torch threads" stays
    return f"CPU: {cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def git_commit() -> str:
    """The repository's commit (``$L2M_COMMIT`` on machines without the git history)."""
    from .book import git_commit as _git

    return _git(ROOT)


def _autocast(cfg: RunConfig, device: torch.device):
    if cfg.precision == "bf16":
        if device.type != "cuda":
            raise ValueError("precision 'bf16' (autocast) is for CUDA devices; use 'fp32' on the CPU")
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.dim() < 2 or getattr(p, "_no_weight_decay", False) else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def predict(model: ContinuousARModel, tokens: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's conditionals for w_1..w_L from ``tokens`` [b, L+1, copies] (BOS, w_1..w_L): it reads
    ``tokens[:, :L]`` (BOS, w_1..w_{L-1}), so output row i has seen w_1..w_i and predicts w_{i+1}.
    Training and evaluation both call this, so they cannot disagree on the shift."""
    return model(tokens[:, :length])


@torch.no_grad()
def evaluate(model: ContinuousARModel, tokens: torch.Tensor, mu_p: torch.Tensor, sigma_p: torch.Tensor,
             micro_batch: int, autocast) -> np.ndarray:
    """Position-wise KL [L] (float64, averaged over sequences) on a fixed batch, in micro-batches."""
    was_training = model.training
    model.eval()
    L = mu_p.shape[1]
    total = torch.zeros(L, dtype=torch.float64, device=tokens.device)
    for i in range(0, tokens.shape[0], micro_batch):
        with autocast:
            mu, sig = predict(model, tokens[i:i + micro_batch], L)
        total += gs.exact_kl(mu, sig, mu_p[i:i + micro_batch], sigma_p).double().sum(dim=0)
    model.train(was_training)
    return (total / tokens.shape[0]).cpu().numpy()


def position_bins(length: int, n_bins: int = 32) -> list[tuple[int, int]]:
    """Log-spaced bins ``[start, end)`` of 1-based positions 1..L (single positions at the start)."""
    length, n_bins = integer(length, "length"), integer(n_bins, "n_bins")
    edges = np.unique(np.round(np.geomspace(1, length + 1, min(length, n_bins) + 1)).astype(int))
    edges[0], edges[-1] = 1, length + 1
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _binned(values: np.ndarray, bins: Sequence[tuple[int, int]]) -> list[float]:
    return [float(np.mean(values[a - 1:b - 1])) for a, b in bins]


@dataclass
class RunOutcome:
    """``status`` is ``"finished"`` (``result`` holds the results record) or ``"interrupted"``."""

    status: str
    key: str
    step: int
    result: dict | None = None


def checkpoint_path(checkpoint_dir: Path, cfg: RunConfig) -> Path:
    """Where the run ``cfg`` keeps its training checkpoint: ``<checkpoint_dir>/<cfg.key()>.pt``."""
    return Path(checkpoint_dir) / f"{cfg.key()}.pt"


def results_path(results_dir: Path, cfg: RunConfig) -> Path:
    """Where the finished run ``cfg`` writes its result: ``<results_dir>/<cfg.key()>.json``."""
    return Path(results_dir) / f"{cfg.key()}.json"


def train_run(
    cfg: RunConfig,
    device: str | torch.device = "cpu",
    *,
    checkpoint_dir: str | Path | None = None,
    results_dir: str | Path | None = None,
    data_cache: dict | None = None,
    deadline: float | None = None,
    stop_after_steps: int | None = None,
    checkpoint_every_steps: int | None = None,
    checkpoint_every_s: float = 300.0,
    keep_checkpoint: bool = False,
    prefer_kernels: bool = True,
    require_kernels: bool = False,
    progress: bool = True,
    sweep_workers: int = 1,
) -> RunOutcome:
    """Train (or resume) one run; write its results JSON when it finishes.

    ``deadline`` (a ``time.monotonic()`` value) or ``stop_after_steps`` interrupt the run cleanly: a
    checkpoint is written (needs ``checkpoint_dir``) and ``status == "interrupted"`` is returned; a
    later call with the same config resumes from it and reproduces the uninterrupted run (same
    device and thread count).  Checkpoints are also written every ``checkpoint_every_steps`` steps or
    ``checkpoint_every_s`` seconds, and removed when the run finishes unless ``keep_checkpoint``.
    ``sweep_workers``: how many sweep processes shared the device (:func:`claim_run`); recorded in
    the provenance, since a run's tokens/s is then its own share of the device.
    """
    device = torch_device(device)
    integer(sweep_workers, "sweep_workers")
    if (deadline is not None or stop_after_steps is not None) and checkpoint_dir is None:
        raise ValueError("an interruptible run (deadline or stop_after_steps) needs a checkpoint_dir")
    wall_start = time.monotonic()
    autocast = _autocast(cfg, device)
    data = _task(data_cache, cfg, device)
    L, key = cfg.length, cfg.key()
    model = build_model(spec=cfg.model, device=device, prefer_kernels=prefer_kernels,
                        require_kernels=require_kernels, seed=cfg.seed)
    opt_kwargs = {"fused": True} if device.type == "cuda" else {}
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas, **opt_kwargs)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, cfg.steps, cfg.warmup, cfg.min_lr_ratio))
    gen = torch.Generator(device=device).manual_seed(1_000_003 * cfg.seed + 7919 * cfg.depth + 1)
    state: dict[str, Any] = {"step": 0, "curve": {"step": [], "lr": [], "train_kl": [], "eval_kl": []},
                             "acc": 0.0, "acc_n": 0, "train_time_s": 0.0, "tokens": 0, "wall_s": 0.0,
                             "resumed_from": [], "started": _now()}
    ckpt = checkpoint_path(checkpoint_dir, cfg) if checkpoint_dir is not None else None
    if ckpt is not None and ckpt.exists():
        blob = torch.load(ckpt, map_location=device, weights_only=True)
        if blob["config"] != cfg.to_dict():
            raise ValueError(f"checkpoint {ckpt} belongs to a different configuration")
        # checkpoints written before the device type was recorded: the data generator's state tells it
        # (CUDA's Philox state is 16 bytes, the CPU's Mersenne Twister state about 5 kB)
        saved_on = blob.get("device_type", "cuda" if blob["generator"].numel() <= 16 else "cpu")
        if saved_on != device.type:  # the data generator's state is device-specific
            raise ValueError(
                f"checkpoint {ckpt} was written by a run on {saved_on}: its random-number state cannot continue "
                f"on {device.type}; resume it on {saved_on}, or delete the checkpoint to train the run anew")
        model.load_state_dict(blob["model"])
        opt.load_state_dict(blob["optimizer"])
        sched.load_state_dict(blob["scheduler"])
        gen.set_state(blob["generator"].cpu())
        state = blob["state"]
        state["resumed_from"].append(state["step"])
    # the kernels the run's sessions used, in order (a resume on another machine may switch between the
    # Triton and the PyTorch Mamba-2 path; the record then names both)
    kernels = state.setdefault("kernels", [])
    if model.kernel not in kernels:
        kernels.append(model.kernel)

    def save_checkpoint() -> None:
        if ckpt is None:
            return
        if not math.isfinite(state["acc"]):  # never checkpoint a diverged run
            raise FloatingPointError(f"{key}: training loss is {state['acc']} at or before step {state['step']}")
        state["wall_s"] += time.monotonic() - session_start[0]
        session_start[0] = time.monotonic()
        atomic_torch_save({"config": cfg.to_dict(), "model": model.state_dict(), "optimizer": opt.state_dict(),
                           "scheduler": sched.state_dict(), "generator": gen.get_state(), "device_type": device.type,
                           "state": state}, ckpt)

    eval_batch = data.sampler.sample(cfg.eval_sequences, seed=EVAL_SEED)
    micro = max(1, cfg.batch)
    session_start = [wall_start]
    last_ckpt = time.monotonic()
    acc = torch.tensor(state["acc"], dtype=torch.float32, device=device)
    acc_n = state["acc_n"]
    bar = _progress(cfg, state["step"], enabled=progress)
    model.train()
    t_train = time.monotonic()
    step = state["step"]
    try:
        while step < cfg.steps:
            if (stop_after_steps is not None and step >= stop_after_steps) or (
                    deadline is not None and time.monotonic() >= deadline):
                state.update(step=step, acc=float(acc), acc_n=acc_n)
                state["train_time_s"] += time.monotonic() - t_train
                save_checkpoint()
                return RunOutcome("interrupted", key, step)
            batch = data.sampler.sample(cfg.batch, generator=gen)
            with autocast:
                mu, sig = predict(model, batch.tokens, L)
            loss = kl_per_position(mu, sig, batch.mu, batch.sigma).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            acc += loss.detach()
            acc_n += 1
            step += 1
            state["tokens"] += cfg.batch * L
            bar.update(1)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                train_kl = float(acc) / acc_n
                if not math.isfinite(train_kl):
                    raise FloatingPointError(f"{key}: training loss is {train_kl} at step {step}")
                state["train_time_s"] += time.monotonic() - t_train
                kl_pos = evaluate(model, eval_batch.tokens, eval_batch.mu, eval_batch.sigma, micro, autocast)
                t_train = time.monotonic()
                c = state["curve"]
                c["step"].append(step)
                c["lr"].append(float(sched.get_last_lr()[0]))
                c["train_kl"].append(train_kl)
                c["eval_kl"].append(float(kl_pos.mean()))
                acc.zero_()
                acc_n = 0
                state["final_kl_position"] = kl_pos.tolist()
                bar.set_postfix(kl=f"{c['eval_kl'][-1]:.4f}", base=f"{data.baseline_kl:.3f}", refresh=False)
            due_steps = checkpoint_every_steps is not None and step % checkpoint_every_steps == 0
            due_time = ckpt is not None and time.monotonic() - last_ckpt >= checkpoint_every_s
            if ckpt is not None and step < cfg.steps and (due_steps or due_time):
                state.update(step=step, acc=float(acc), acc_n=acc_n)
                state["train_time_s"] += time.monotonic() - t_train
                save_checkpoint()
                t_train = last_ckpt = time.monotonic()
    finally:
        bar.close()
    state["train_time_s"] += time.monotonic() - t_train
    state["step"] = step
    state["wall_s"] += time.monotonic() - session_start[0]
    result = _result_record(cfg, model, data, state, device, sweep_workers)
    if results_dir is not None:
        atomic_write_json(results_path(results_dir, cfg), result)
    if ckpt is not None and not keep_checkpoint:
        ckpt.unlink(missing_ok=True)
    return RunOutcome("finished", key, step, result)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _progress(cfg: RunConfig, initial: int, enabled: bool):
    return progress_bar(total=cfg.steps, initial=initial, desc=cfg.key()[:-9], disable=not enabled, leave=False,
                mininterval=2.0)


def _round(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


def _result_record(cfg: RunConfig, model: ContinuousARModel, data: TaskData, state: dict,
                   device: torch.device, sweep_workers: int = 1) -> dict:
    L = cfg.length
    kl_pos = np.asarray(state["final_kl_position"], dtype=np.float64)
    nll_pos = kl_pos + data.entropies
    bins = position_bins(L)
    hs_half = model.history_state_size(L // 2)
    kl = float(kl_pos.mean())
    sessions_tokens = state["tokens"]
    return {
        "format": RESULTS_FORMAT,
        "key": cfg.key(),
        "status": "finished",
        "config": cfg.to_dict(),
        "label": cfg.model.label(),
        "metrics": {
            "kl": _round(kl),
            "kl_over_baseline": _round(kl / data.baseline_kl),
            "baseline_kl": _round(data.baseline_kl),
            "nll": _round(float(nll_pos.mean())),
            "entropy": _round(float(data.entropies.mean())),
            "kl_last_position": _round(float(kl_pos[-1])),
            "kl_second_half": _round(float(kl_pos[L // 2:].mean())),
            "kl_position_bins": {"start": [a for a, _ in bins], "end": [b for _, b in bins],
                                 "kl": [_round(v) for v in _binned(kl_pos, bins)],
                                 "nll": [_round(v) for v in _binned(nll_pos, bins)],
                                 "baseline": [_round(v) for v in _binned(-np.log(data.sigma_p), bins)]},
        },
        "data": {"L": L, "family": cfg.family, "copies": cfg.model.copies,
                 "bipartite_mi": _round(data.bipartite_mi), "eval_seed": EVAL_SEED,
                 "eval_sequences": cfg.eval_sequences},
        "model": {"backbone": cfg.model.backbone, "kernel": "+".join(state.get("kernels") or [model.kernel]),
                  "n_params": model.n_params(),
                  "history_state_half": int(hs_half.total), "history_state_kind": hs_half.kind,
                  "history_state_detail": hs_half.detail, "hidden_x_layers": cfg.model.d_model * cfg.model.n_layer},
        "curve": {k: [(_round(v) if isinstance(v, float) else v) for v in vals] for k, vals in state["curve"].items()},
        "provenance": {
            "device": device_label(device), "torch": torch.__version__, "python": platform.python_version(),
            "git_commit": git_commit(), "date": _now(), "started": state["started"],
            "wall_time_s": round(state["wall_s"], 2), "train_time_s": round(state["train_time_s"], 2),
            "steps": state["step"], "tokens": sessions_tokens,
            "tokens_per_s": round(sessions_tokens / max(state["train_time_s"], 1e-9), 1),
            "resumed_from_steps": state["resumed_from"],
            "sweep_workers": sweep_workers,
        },
    }


# --------------------------------------------------------------------------------------------------
# sweeps
# --------------------------------------------------------------------------------------------------

#: The sweeps of chapter 6 (also the notebook's knob values).  ``tokens_per_step`` fixes the batch:
#: ``batch = max(min_batch, tokens_per_step // L)`` sequences.
SWEEP_PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(models=["gpt2-1x16", "mamba2-1x16-N4"], lengths=[16], seeds=[0], steps=30,
                  tokens_per_step=256, lr=3e-3, lr_by_model={}, warmup=5, precision="fp32", eval_points=3, eval_tokens=512, chunk_size=64),
    "classroom": dict(models=["gpt2-2x64", "mamba2-2x64-N4", "mamba2-2x64-N16"], lengths=[16, 64, 256],
                      seeds=[0, 1], steps=300, tokens_per_step=512, lr=3e-3, lr_by_model={}, warmup=30, precision="fp32",
                      eval_points=5, eval_tokens=2048, chunk_size=64),
    # 50-60 min of one H200 one run at a time (from the first runs: 69 s for gpt2-4x256-L64), less with several
    # sweeps at once (--workers), run in parts of <= 8 min.  Each model at the best peak rate of a CPU proxy
    # (scripts/probe_ch06_lr.py, results/ch06_lr_probe/): 3e-3, but GPT-2 8x512 learns nothing at 3e-3 and
    # does best at 1e-3 (of 3e-4, 1e-3, 3e-3); mamba2-4x256-N64 was not probed (its N16 twin does best at 3e-3)
    "gpu": dict(models=["gpt2-4x256", "gpt2-8x512", "mamba2-4x256-N16", "mamba2-4x256-N64", "mamba2-8x512-N64"],
                lengths=[64, 256, 1024, 4096], seeds=[0, 1], steps=4000, tokens_per_step=8192, lr=3e-3,
                lr_by_model={"gpt2-8x512": 1e-3}, warmup=400, precision="bf16", eval_points=10, eval_tokens=32768, chunk_size=256),
}


def sweep_configs(
    models: Sequence[str],
    lengths: Sequence[int],
    seeds: Sequence[int],
    steps: int,
    tokens_per_step: int,
    lr: float,
    warmup: int,
    precision: str = "fp32",
    eval_points: int = 10,
    eval_tokens: int = 4096,
    family: str = "subvolume",
    copies: int = 64,
    min_batch: int = 2,
    chunk_size: int = 64,
    lr_by_model: Mapping[str, float] | None = None,
) -> list[RunConfig]:
    """The runs of a sweep, seed-major, then by length, then by model (so a partial sweep holds
    complete pictures for the first seed and the short lengths first).  Each model trains at its peak
    rate in ``lr_by_model`` where it has one (:func:`model_lr`), else at ``lr``."""
    integer(tokens_per_step, "tokens_per_step")
    integer(min_batch, "min_batch")
    integer(eval_points, "eval_points")
    integer(eval_tokens, "eval_tokens")
    problem = models_problem(models) or lr_by_model_problem({} if lr_by_model is None else lr_by_model)
    if problem:
        raise ValueError(problem)
    lengths = integers(lengths, "lengths", "length")
    seeds = integers(seeds, "seeds", "seed", minimum=0)
    for values, what in ((lengths, "lengths"), (seeds, "seeds")):
        if len(set(values)) != len(values):  # a repeated one would train the same run twice
            raise ValueError(f"{what} must be distinct, got {values}")
    rates = {text: model_lr(text, lr, lr_by_model) for text in models}  # once per model, not per run
    out = []
    for L in lengths:
        depth = int(round(math.log(L, 4)))
        if L < 4 or 4**depth != L:
            raise ValueError(f"lengths must be powers of 4 (L = 4^l), got {L!r}")
    for seed in seeds:
        for L in lengths:
            depth = int(round(math.log(L, 4)))
            batch = max(min_batch, tokens_per_step // L)
            for text in models:
                spec = replace(parse_model(text, copies=copies, max_length=L), chunk_size=chunk_size)
                out.append(RunConfig(
                    model=spec, depth=depth, seed=seed, steps=steps, batch=batch, lr=rates[text],
                    warmup=warmup,
                    precision=precision, eval_every=max(1, steps // eval_points),
                    eval_sequences=max(min_batch, eval_tokens // L), family=family))
    return out


def profile_configs(profile: str, **overrides: Any) -> list[RunConfig]:
    """:func:`sweep_configs` of one of :data:`SWEEP_PROFILES`, with keyword overrides."""
    if not isinstance(profile, str) or profile not in SWEEP_PROFILES:
        raise ValueError(f"unknown sweep profile {profile!r}; allowed: {', '.join(SWEEP_PROFILES)}")
    return sweep_configs(**{**SWEEP_PROFILES[profile], **overrides})


def load_result(results_dir: str | Path, cfg: RunConfig) -> dict | None:
    """The finished results record of ``cfg`` in ``results_dir``, or ``None``."""
    path = results_path(results_dir, cfg)
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if rec.get("key") != cfg.key() or rec.get("status") != "finished":
        return None
    return rec


def claim_run(claim_dir: str | Path, key: str) -> bool:
    """Claim run ``key`` for this process: atomically create ``<claim_dir>/<key>.claim`` (holding the
    process id); ``False`` when another process made it first.  Sweeps that share a device and a
    claim folder (made fresh for each part) thus never train the same run, and each takes the next
    unclaimed run when it is free, so a worker with short runs does not wait on one with long runs."""
    path = Path(claim_dir) / f"{key}.claim"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()}\n")
    return True


@dataclass
class SweepReport:
    """What :func:`run_sweep` did: the finished results and the labels of the runs trained, loaded,
    interrupted or left for a later part."""

    results: list[dict] = field(default_factory=list)  # finished runs (loaded or trained), in sweep order
    trained: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)  # left for a later part (budget, max_runs)
    elsewhere: list[str] = field(default_factory=list)  # claimed by another sweep sharing the device
    elapsed_s: float = 0.0

    def summary(self) -> str:
        """One line: how many runs finished, were loaded, trained, interrupted or left; the time taken."""
        return (f"{len(self.results)} finished ({len(self.loaded)} loaded, {len(self.trained)} trained now), "
                f"{len(self.interrupted)} interrupted, {len(self.not_run)} left for later"
                + (f", {len(self.elsewhere)} taken by other sweeps" if self.elsewhere else "")
                + f"; {self.elapsed_s:.0f} s")


@dataclass
class SweepBudget:
    """Limits shared by several :func:`run_sweep` calls: at most ``max_runs`` runs trained (finished or
    interrupted) in all, and no run started ``time_budget_s`` seconds or more after the budget was
    made (``None``: no limit).  ``runs_used`` counts the runs charged so far; ``records`` holds the
    finished runs every call has seen, from which a run's duration is estimated (a later call's first
    run is estimated from an earlier call's runs of the same model)."""

    max_runs: int | None = None
    time_budget_s: float | None = None
    runs_used: int = 0
    started: float = field(default_factory=time.monotonic)
    records: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.max_runs is not None:
            integer(self.max_runs, "SweepBudget.max_runs", minimum=0, why="or None: no limit")
        if self.time_budget_s is not None and not (is_real(self.time_budget_s) and self.time_budget_s >= 0):
            raise ValueError(f"SweepBudget.time_budget_s must be None or >= 0, got {self.time_budget_s!r}")

    def elapsed_s(self) -> float:
        """Seconds since the budget was made."""
        return time.monotonic() - self.started

    def runs_left(self) -> int | None:
        """Runs that may still be trained (``None``: no limit)."""
        return None if self.max_runs is None else max(0, self.max_runs - self.runs_used)


def _estimate_s(cfg: RunConfig, done: Iterable[dict], device: str, sweep_workers: int = 1) -> float | None:
    """Seconds a run will take, from the tokens/s of a finished run of the same model on the same
    device (same L preferred; another L counts 1.5x as long, a margin for attention's cost).  A run
    made with fewer sweeps sharing the device than ``sweep_workers`` is scaled up by their ratio (as
    if the device were busy: the worst case)."""
    best = None
    model = {k: v for k, v in cfg.model.to_dict().items() if k != "max_length"}
    for rec in done:
        c = rec["config"]
        if {k: v for k, v in c["model"].items() if k != "max_length"} != model or rec["provenance"]["device"] != device:
            continue
        rank = abs(c["depth"] - cfg.depth)
        if best is None or rank < best[0]:
            best = (rank, rec["provenance"]["tokens_per_s"], rec["provenance"].get("sweep_workers", 1))
    if best is None:
        return None
    margin = (1.1 if best[0] == 0 else 1.5) * max(1.0, sweep_workers / best[2])
    return cfg.steps * cfg.batch * cfg.length / max(best[1], 1e-9) * margin + 5.0


def run_sweep(
    configs: Sequence[RunConfig],
    results_dir: str | Path,
    checkpoint_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    *,
    max_runs: int | None = None,
    time_budget_s: float | None = None,
    budget: SweepBudget | None = None,
    hard_limit_s: float | None = None,
    retrain: bool = False,
    prefer_kernels: bool = True,
    require_kernels: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    name: str = "sweep",
    claim_dir: str | Path | None = None,
    sweep_workers: int = 1,
) -> SweepReport:
    """Load finished runs from ``results_dir``; train the missing ones in order.

    ``max_runs``: train at most this many runs now.  ``time_budget_s``: start no run after this many
    seconds, and skip a run whose estimated duration (from finished runs of the same model on this
    device) exceeds what is left -- it stays for a later part.  ``budget``: a :class:`SweepBudget`
    instead of ``max_runs`` / ``time_budget_s``, so that several calls share one limit (its clock
    runs from its creation, and this call charges its runs to it).  ``hard_limit_s``: interrupt the
    run in progress at this many seconds of this call (checkpointed, resumable).  ``retrain``: ignore
    existing results.  ``name`` labels the closing summary line (several sweeps in one notebook).
    ``claim_dir``: a folder shared with other sweeps run at the same time on the same device (made
    fresh for each part): a missing run is trained only by the sweep that claims it first
    (:func:`claim_run`), the others pass over it.  ``sweep_workers``: how many such sweeps share the
    device (recorded with each run, and used to scale the duration estimates).
    """
    integer(sweep_workers, "sweep_workers")
    if sweep_workers > 1 and claim_dir is None:
        raise ValueError("several sweeps sharing a device need a claim_dir, or they would train the same runs")
    if budget is not None and (max_runs is not None or time_budget_s is not None):
        raise ValueError("run_sweep: give either budget or max_runs / time_budget_s, not both")
    if budget is None:
        budget = SweepBudget(max_runs=max_runs, time_budget_s=time_budget_s)
    device = torch_device(device)
    label = device_label(device)
    if checkpoint_dir is None:
        checkpoint_dir = cache_dir("ch06", "checkpoints")
    t0 = time.monotonic()
    report = SweepReport()
    data_cache: dict = {}
    say = log or (lambda s: None)
    for cfg in configs:
        key = cfg.key()
        rec = None if retrain else load_result(results_dir, cfg)
        if rec is not None:
            report.results.append(rec)
            budget.records.append(rec)
            report.loaded.append(key)
            continue
        if budget.runs_left() == 0:
            report.not_run.append(key)
            continue
        if budget.time_budget_s is not None:
            elapsed = budget.elapsed_s()
            est = _estimate_s(cfg, budget.records, label, sweep_workers)
            if elapsed >= budget.time_budget_s or (est is not None and elapsed + est > budget.time_budget_s):
                report.not_run.append(key)
                continue
        if claim_dir is not None and not claim_run(claim_dir, key):
            report.elsewhere.append(key)
            continue
        deadline = t0 + hard_limit_s if hard_limit_s is not None else None
        out = train_run(cfg, device, checkpoint_dir=checkpoint_dir, results_dir=results_dir, data_cache=data_cache,
                        deadline=deadline, prefer_kernels=prefer_kernels, require_kernels=require_kernels,
                        progress=progress, sweep_workers=sweep_workers)
        budget.runs_used += 1  # finished or interrupted (a run that raised is not charged)
        if out.status == "finished":
            r = out.result
            report.results.append(r)
            budget.records.append(r)
            report.trained.append(key)
            say(f"[ch06] {key}: KL {r['metrics']['kl']:.4g} ({r['metrics']['kl_over_baseline']:.3f} x baseline), "
                f"{r['provenance']['tokens_per_s']:.0f} tok/s, {r['provenance']['wall_time_s']:.1f} s, "
                f"kernel {r['model']['kernel']}")
        else:
            report.interrupted.append(key)
            say(f"[ch06] {key}: interrupted at step {out.step} (checkpoint kept)")
        data_cache = {k: v for k, v in data_cache.items() if k[0] == cfg.depth}  # keep one length's sampler
    report.elapsed_s = time.monotonic() - t0
    say(f"[ch06] {name}: {report.summary()}")
    return report


def results_table(records: Sequence[dict]) -> list[dict]:
    """One row per finished run: label, L, seed, KL, KL/baseline, baseline, MI, state, tokens/s, device."""
    rows = []
    for r in records:
        rows.append({
            "model": r["label"], "backbone": r["model"]["backbone"], "L": r["data"]["L"],
            "seed": r["config"]["seed"], "kl": r["metrics"]["kl"], "kl_over_baseline": r["metrics"]["kl_over_baseline"],
            "baseline_kl": r["metrics"]["baseline_kl"], "bipartite_mi": r["data"]["bipartite_mi"],
            "history_state": r["model"]["history_state_half"], "hidden_x_layers": r["model"]["hidden_x_layers"],
            "tokens_per_s": r["provenance"]["tokens_per_s"], "wall_time_s": r["provenance"]["wall_time_s"],
            "device": r["provenance"]["device"], "steps": r["provenance"]["steps"],
        })
    return rows


# --------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m l2m_utils.synthetic_training``: list a profile's runs or train the missing ones (exit status)."""
    ap = argparse.ArgumentParser(prog="python -m l2m_utils.synthetic_training",
                                 description="Chapter 6 sweeps: train the missing runs of a profile.")
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("sweep", "list"):
        p = sub.add_parser(name)
        p.add_argument("--profile", default="classroom", choices=sorted(SWEEP_PROFILES))
        p.add_argument("--results-dir", default=str(ROOT / "results" / "ch06"))
        p.add_argument("--models", nargs="+", default=None, help="override the profile's models")
        p.add_argument("--lengths", nargs="+", type=int, default=None)
        p.add_argument("--seeds", nargs="+", type=int, default=None)
        p.add_argument("--steps", type=int, default=None)
    s = sub.choices["sweep"]
    s.add_argument("--checkpoint-dir", default=None)
    s.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    s.add_argument("--max-runs", type=int, default=None)
    s.add_argument("--time-budget-s", type=float, default=None)
    s.add_argument("--hard-limit-s", type=float, default=None)
    s.add_argument("--precision", choices=PRECISIONS, default=None)
    s.add_argument("--require-kernels", action="store_true")
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("--workers", type=int, default=1,
                   help="this sweep is one of WORKERS run at once on the device (needs --claim-dir)")
    s.add_argument("--claim-dir", default=None,
                   help="folder (fresh for each part) in which sweeps sharing the device claim their runs")
    args = ap.parse_args(argv)
    overrides = {k: getattr(args, k) for k in ("models", "lengths", "seeds", "steps") if getattr(args, k)}
    if getattr(args, "precision", None):
        overrides["precision"] = args.precision
    configs = profile_configs(args.profile, **overrides)
    if args.command == "list":
        for cfg in configs:
            done = load_result(args.results_dir, cfg) is not None
            print(f"{'done   ' if done else 'missing'} {cfg.key()}  batch={cfg.batch} lr={cfg.lr:g}")
        return 0
    if torch.device(args.device).type != "cuda" and any(c.precision == "bf16" for c in configs):
        configs = [replace(c, precision="fp32") for c in configs]
        print("[ch06] not on CUDA: precision fp32 instead of bf16 (the run keys change accordingly)")
    if args.workers > 1 and args.claim_dir is None:
        ap.error("--workers above 1 needs --claim-dir (a folder shared by the sweeps of one part)")
    print(f"[ch06] profile {args.profile}: {len(configs)} runs on {device_label(torch.device(args.device))}"
          + (f" (one of {args.workers} sweeps at once, process {os.getpid()})" if args.workers > 1 else ""),
          flush=True)
    report = run_sweep(configs, args.results_dir, args.checkpoint_dir, args.device, max_runs=args.max_runs,
                       time_budget_s=args.time_budget_s, hard_limit_s=args.hard_limit_s,
                       require_kernels=args.require_kernels, progress=not args.no_progress,
                       name=f"sweep {os.getpid()}" if args.workers > 1 else "sweep", claim_dir=args.claim_dir,
                       sweep_workers=args.workers)
    return 0 if not report.interrupted else 3


if __name__ == "__main__":
    sys.exit(main())
