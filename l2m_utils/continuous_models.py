"""Autoregressive models of continuous tokens: GPT-2 and Mamba-2 backbones.  Introduced in chapter 6.

The synthetic experiment of the L²M paper (notes §5) replaces the token embedding by a 2-layer MLP
and the vocabulary head by a 2-layer MLP that outputs, for every one of the ``copies`` = 64
dimensions of the next token, a conditional mean ``mu_q`` and a standard deviation ``sigma_q``:

    h_t   = backbone(embed(w_0), ..., embed(w_t))          (causal)
    mu_q, s = split(head(h_t)),   sigma_q = softplus(s) + sigma_floor   (or exp(s) + sigma_floor)

predicting ``w_{t+1}`` (``w_0`` is the all-zero BOS token).  Backbones:

* ``"gpt2"``: ``transformers.GPT2Model`` fed through ``inputs_embeds`` (learned positions, sdpa
  attention, no dropout); history state = the KV cache, ``2 n_layer n_embd`` numbers per token;
* ``"mamba2"``: pre-norm residual stack of Mamba-2 mixers.  On CUDA, when ``mamba_ssm`` imports, its
  Triton ``Mamba2`` (``use_mem_eff_path=False``, which needs no compiled ``causal_conv1d``); otherwise
  :class:`l2m_utils.mamba2_torch.Mamba2Torch`, the same block in plain PyTorch.  History state
  per layer ``nheads headdim d_state + (d_inner + 2 ngroups d_state)(d_conv - 1)``.

``mamba_ssm`` imports its Mamba-1 CUDA extension ``selective_scan_cuda`` unconditionally; a wheel
built without CUDA lacks it, so :func:`load_mamba_ssm_mamba2` registers an empty placeholder module
under that name first (Mamba-1 then stays unusable; Mamba-2 works), as measured in the project's
GPU notes.

Every model has ``history_state_size(position)`` and so plugs into
``l2m_utils.history_state.history_state``.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import types
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import history_state as hs
from .checks import integer, real
from .params import torch_device
from .language_model import seeded_torch_rng
from .mamba2_torch import Mamba2Torch

__all__ = ["ModelSpec", "ContinuousARModel", "build_model", "load_mamba_ssm_mamba2", "BACKBONES"]

BACKBONES = ("gpt2", "mamba2")


@dataclass(frozen=True)
class ModelSpec:
    """All the numbers that define a model (JSON-serialisable; part of a run's key).

    ``n_head`` (GPT-2) defaults to ``d_model // min(64, d_model)`` (head size 64, one head below 64);
    ``head_dim`` (Mamba-2) defaults to ``min(64, expand*d_model // 4)``.
    """

    backbone: str
    n_layer: int
    d_model: int
    copies: int = 64
    max_length: int = 4096
    n_head: int | None = None
    d_state: int = 64
    head_dim: int | None = None
    expand: int = 2
    d_conv: int = 4
    ngroups: int = 1
    chunk_size: int = 64
    sigma_param: str = "softplus"
    sigma_floor: float = 1e-3

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        for name in ("n_layer", "d_model", "copies", "max_length", "d_state", "expand", "d_conv", "ngroups",
                     "chunk_size"):
            integer(getattr(self, name), name)
        if self.sigma_param not in ("softplus", "exp"):
            raise ValueError(f"sigma_param must be 'softplus' or 'exp', got {self.sigma_param!r}")
        object.__setattr__(self, "sigma_floor",  # a numpy float is accepted and stored as a float
                           real(self.sigma_floor, "sigma_floor", 0, 1, low_open=True, high_open=True))
        if self.n_head is None:
            object.__setattr__(self, "n_head", self.d_model // min(64, self.d_model))
        if self.head_dim is None:
            object.__setattr__(self, "head_dim", max(1, min(64, self.expand * self.d_model // 4)))
        integer(self.n_head, "n_head")
        integer(self.head_dim, "head_dim")
        if self.backbone == "gpt2" and self.d_model % self.n_head:
            raise ValueError(f"gpt2: d_model {self.d_model} is not divisible by n_head {self.n_head}")
        if self.backbone == "mamba2":
            d_inner = self.expand * self.d_model
            if d_inner % self.head_dim:
                raise ValueError(f"mamba2: d_inner = expand*d_model = {d_inner} is not divisible by "
                                 f"head_dim {self.head_dim}")
            if (d_inner // self.head_dim) % self.ngroups:
                raise ValueError(f"mamba2: nheads {d_inner // self.head_dim} not divisible by ngroups {self.ngroups}")

    @property
    def d_inner(self) -> int:
        """Mamba-2's inner width, expand x d_model."""
        return self.expand * self.d_model

    @property
    def n_heads_ssm(self) -> int:
        """Mamba-2's number of SSM heads, d_inner / head_dim."""
        return self.d_inner // self.head_dim

    def label(self) -> str:
        """Short name: ``gpt2 4x256`` or ``mamba2 4x256 N=16``."""
        base = f"{self.backbone} {self.n_layer}x{self.d_model}"
        return base + (f" N={self.d_state}" if self.backbone == "mamba2" else "")

    def history_state(self, position: int) -> hs.HistoryState:
        """History-state size after ``position`` tokens, with the chapter-2 calculator's formulas."""
        hs._check_position(position)  # a fixed state too: a negative position is a mistake, not a size
        if self.backbone == "gpt2":
            return hs.history_state(self.gpt2_config(), position)
        return hs.mamba2_state(self.n_layer, self.n_heads_ssm, self.head_dim, self.d_state, self.ngroups,
                               self.d_conv, name=f"mamba2 {self.n_layer}x{self.d_model}")

    def history_state_size(self, position: int) -> hs.HistoryState:
        """Same as :meth:`history_state`: lets ``hs.history_state(spec, position)`` take a spec."""
        return self.history_state(position)

    def gpt2_config(self) -> Any:
        """The ``transformers.GPT2Config`` of the GPT-2 backbone (no vocabulary: ``vocab_size=1``)."""
        from transformers import GPT2Config

        return GPT2Config(
            n_layer=self.n_layer, n_embd=self.d_model, n_head=self.n_head, n_positions=self.max_length,
            vocab_size=1, bos_token_id=None, eos_token_id=None, resid_pdrop=0.0, embd_pdrop=0.0,
            attn_pdrop=0.0, use_cache=False, attn_implementation="sdpa",
        )

    def to_dict(self) -> dict[str, Any]:
        """The spec as a JSON-ready dict (results files, cache keys)."""
        return asdict(self)


def load_mamba_ssm_mamba2() -> type | None:
    """``mamba_ssm.modules.mamba2.Mamba2`` or ``None`` when ``mamba_ssm`` (or Triton) is unusable.

    Registers an empty placeholder for the Mamba-1 extension ``selective_scan_cuda`` if it cannot be
    found, because ``mamba_ssm/__init__`` imports it unconditionally (GPU notes).  Does nothing
    without a CUDA device.
    """
    if not torch.cuda.is_available():
        return None
    if importlib.util.find_spec("mamba_ssm") is None:
        return None
    if "selective_scan_cuda" not in sys.modules and importlib.util.find_spec("selective_scan_cuda") is None:
        placeholder = types.ModuleType("selective_scan_cuda")
        placeholder.__doc__ = "placeholder registered by l2m_utils (Mamba-1 CUDA scan not built)"
        sys.modules["selective_scan_cuda"] = placeholder
    try:
        module = importlib.import_module("mamba_ssm.modules.mamba2")
        return module.Mamba2
    except Exception:  # noqa: BLE001 - any import failure means: use the PyTorch path
        return None


class _ResidualBlock(nn.Module):
    """Pre-norm residual block ``h + mixer(RMSNorm(h))`` (as mamba_ssm's ``Block`` without MLP)."""

    def __init__(self, mixer: nn.Module, d_model: int):
        super().__init__()
        self.norm = nn.RMSNorm(d_model, eps=1e-5)
        self.mixer = mixer

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.mixer(self.norm(h))


class Mamba2Backbone(nn.Module):
    """``spec.n_layer`` pre-norm residual Mamba-2 mixers (``mixer_cls``: mamba_ssm's Triton ``Mamba2`` or
    :class:`~l2m_utils.mamba2_torch.Mamba2Torch`, named by ``kernel``) and a final RMSNorm: [b, L, d] -> [b, L, d]."""

    def __init__(self, spec: ModelSpec, mixer_cls, kernel: str):
        super().__init__()
        self.kernel = kernel
        kwargs = dict(d_state=spec.d_state, d_conv=spec.d_conv, expand=spec.expand, headdim=spec.head_dim,
                      ngroups=spec.ngroups, chunk_size=spec.chunk_size)
        if kernel == "mamba_ssm":
            kwargs["use_mem_eff_path"] = False  # the fused path needs the compiled causal_conv1d
        self.layers = nn.ModuleList(
            [_ResidualBlock(mixer_cls(spec.d_model, layer_idx=i, **kwargs), spec.d_model) for i in range(spec.n_layer)]
        )
        self.norm_f = nn.RMSNorm(spec.d_model, eps=1e-5)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden states [batch, length, d_model] through the residual Mamba-2 blocks."""
        for layer in self.layers:
            h = layer(h)
        return self.norm_f(h)


class GPT2Backbone(nn.Module):
    """The transformer body of Hugging Face's GPT-2 (causal attention, sdpa, learned positions) on input
    embeddings: [b, L, d] -> [b, L, d]."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        from transformers import GPT2Model

        self.kernel = "sdpa"
        self.config = spec.gpt2_config()
        self.model = GPT2Model(self.config)
        self.model.wte.weight.requires_grad_(False)  # unused: inputs come through inputs_embeds

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden states [batch, length, d_model] of GPT-2 (causal attention) on input embeddings ``h``."""
        return self.model(inputs_embeds=h, use_cache=False).last_hidden_state


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_out))


class ContinuousARModel(nn.Module):
    """``forward(tokens [b, T, copies]) -> (mu_q, sigma_q)``, each [b, T, copies]; row t predicts token t+1.

    Initialisation puts the model at the trivial prediction N(0, 1): the last layer of the head
    starts with zero weights, its mean bias at 0 and its scale bias at the value giving sigma_q = 1.
    """

    def __init__(self, spec: ModelSpec, backbone: nn.Module):
        super().__init__()
        self.spec = spec
        self.embed = _mlp(spec.copies, spec.d_model, spec.d_model)
        self.backbone = backbone
        self.head = _mlp(spec.d_model, spec.d_model, 2 * spec.copies)
        with torch.no_grad():
            last = self.head[-1]
            last.weight.zero_()
            last.bias.zero_()
            one = 1.0 - spec.sigma_floor
            s0 = math.log(math.expm1(one)) if spec.sigma_param == "softplus" else math.log(one)
            last.bias[spec.copies:] = s0

    @property
    def kernel(self) -> str:
        """Which implementation runs the backbone: ``sdpa``, ``mamba_ssm`` (Triton) or ``torch``."""
        return self.backbone.kernel

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu_q, sigma_q), each [batch, length, copies]: row t is the Gaussian prediction of token t+1."""
        if not isinstance(tokens, torch.Tensor) or not torch.is_floating_point(tokens):
            raise ValueError("tokens must be a floating-point tensor (continuous tokens), got "
                             + (str(tokens.dtype) if isinstance(tokens, torch.Tensor) else type(tokens).__name__))
        if tokens.dim() != 3 or tokens.shape[-1] != self.spec.copies or 0 in tokens.shape:
            raise ValueError(f"tokens must be [batch, length, {self.spec.copies}] with batch, length >= 1, "
                             f"got {tuple(tokens.shape)}")
        if tokens.shape[1] > self.spec.max_length:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_length {self.spec.max_length}")
        out = self.head(self.backbone(self.embed(tokens))).float()
        mu, s = out.split(self.spec.copies, dim=-1)
        sigma = (F.softplus(s) if self.spec.sigma_param == "softplus" else torch.exp(s)) + self.spec.sigma_floor
        return mu, sigma

    def history_state_size(self, position: int) -> hs.HistoryState:
        """History state after ``position`` tokens (``l2m_utils.history_state`` conventions)."""
        return self.spec.history_state(position)

    def n_params(self, trainable_only: bool = True) -> int:
        """Number of parameters (trainable ones only by default)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)


def build_model(
    backbone: str = "gpt2",
    n_layer: int = 2,
    d_model: int = 64,
    *,
    d_state: int = 64,
    head_dim: int | None = None,
    expand: int = 2,
    n_head: int | None = None,
    d_conv: int = 4,
    ngroups: int = 1,
    chunk_size: int = 64,
    copies: int = 64,
    max_length: int = 4096,
    sigma_param: str = "softplus",
    sigma_floor: float = 1e-3,
    device: str | torch.device = "cpu",
    prefer_kernels: bool = True,
    require_kernels: bool = False,
    seed: int = 0,
    spec: ModelSpec | None = None,
) -> ContinuousARModel:
    """Build a continuous-token AR model on ``device``.

    ``backbone`` is ``"gpt2"`` or ``"mamba2"``; ``n_layer`` x ``d_model`` the depth and width;
    ``d_state``, ``head_dim``, ``expand``, ``ngroups``, ``d_conv``, ``chunk_size`` configure Mamba-2,
    ``n_head`` GPT-2.  With ``prefer_kernels`` and a CUDA device, Mamba-2 uses mamba_ssm's Triton
    kernels when they import (``require_kernels=True`` raises ``RuntimeError`` when they do not);
    otherwise the pure-PyTorch block.  ``seed`` sets the initialisation, without touching the global
    RNG (``torch.random.fork_rng``; an explicit integer >= 0).  ``spec`` overrides all size arguments.
    """
    seed = integer(seed, "seed", minimum=0)
    if spec is None:
        spec = ModelSpec(backbone=backbone, n_layer=n_layer, d_model=d_model, copies=copies, max_length=max_length,
                         n_head=n_head, d_state=d_state, head_dim=head_dim, expand=expand, d_conv=d_conv,
                         ngroups=ngroups, chunk_size=chunk_size, sigma_param=sigma_param, sigma_floor=sigma_floor)
    device = torch_device(device)
    mixer_cls, kernel = Mamba2Torch, "torch"
    if spec.backbone == "mamba2" and prefer_kernels and device.type == "cuda":
        found = load_mamba_ssm_mamba2()
        if found is not None:
            mixer_cls, kernel = found, "mamba_ssm"
    if spec.backbone == "mamba2" and require_kernels and kernel != "mamba_ssm":
        raise RuntimeError("require_kernels: mamba_ssm's Triton Mamba2 is not usable here "
                           f"(device {device}, prefer_kernels={prefer_kernels}); install the mamba-ssm wheel")

    def make() -> ContinuousARModel:
        bb = GPT2Backbone(spec) if spec.backbone == "gpt2" else Mamba2Backbone(spec, mixer_cls, kernel)
        return ContinuousARModel(spec, bb)

    with seeded_torch_rng(seed):
        model = make()
    return model.to(device)
