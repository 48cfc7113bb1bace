"""A Mamba-2 block in plain PyTorch (CPU tests, classroom runs).  Introduced in chapter 6.

``Mamba2Torch`` mirrors ``mamba_ssm.modules.mamba2.Mamba2`` (Dao & Gu 2024, "Transformers are SSMs",
the SSD layer) with the same parameter names and shapes, so that a state dict moves between the two
and the history state is the same:

* ``in_proj``: ``d_model -> 2 d_inner + 2 ngroups d_state + nheads``, split as ``[z, xBC, dt]``;
* ``conv1d``: depthwise causal convolution (kernel ``d_conv``) over ``xBC``, then SiLU;
  ``xBC`` splits into ``x`` (``nheads`` heads of ``headdim``), ``B`` and ``C`` (``ngroups x d_state``);
* ``dt_bias``, ``A_log``, ``D``: one scalar per head; ``dt = softplus(dt_raw + dt_bias)``,
  ``A = -exp(A_log)``;
* the SSD recurrence, per head ``h`` (state ``S`` is ``headdim x d_state``)::

      S_t = exp(dt_t A) S_{t-1} + dt_t x_t B_t^T,      y_t = S_t C_t + D x_t;

* ``norm``: gated RMSNorm, ``rmsnorm(y * silu(z)) * weight`` per group (``norm_before_gate=False``);
* ``out_proj``: ``d_inner -> d_model``.

The recurrence is computed either step by step (:func:`ssd_sequential`, the reference) or in chunks
(:func:`ssd_chunked`, the "minimal SSD" algorithm: quadratic attention-like form inside a chunk of
``chunk_size`` steps, the recurrence between chunks), which is what the Triton kernels of
``mamba_ssm`` also compute.  Both run in float32 (inputs are upcast, autocast is switched off).

Per layer the history state is ``nheads * headdim * d_state`` SSM numbers plus the last
``d_conv - 1`` inputs of the convolution, ``(d_inner + 2 ngroups d_state) (d_conv - 1)``
(``l2m_utils.history_state.mamba2_state``).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import integer

__all__ = ["RMSNormGated", "Mamba2Torch", "ssd_chunked", "ssd_sequential", "segsum"]


class RMSNormGated(nn.Module):
    """Gated RMSNorm of ``mamba_ssm.ops.triton.layernorm_gated.RMSNorm`` (parameter ``weight``).

    ``norm_before_gate=False``: ``out = (x * silu(z)) / rms_g(x * silu(z)) * weight``, with the RMS
    taken over groups of ``group_size`` channels; ``True``: ``x / rms_g(x) * weight * silu(z)``.
    """

    def __init__(self, hidden_size: int, eps: float = 1e-5, group_size: int | None = None,
                 norm_before_gate: bool = False, device=None, dtype=None):
        super().__init__()
        self.eps = eps
        self.group_size = hidden_size if group_size is None else group_size
        if hidden_size % self.group_size:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by group_size {self.group_size}")
        self.norm_before_gate = norm_before_gate
        self.weight = nn.Parameter(torch.ones(hidden_size, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """The gated RMS norm of the class docstring, computed in float32 (x alone when z is None)."""
        dtype = x.dtype
        x = x.float()
        if z is not None and not self.norm_before_gate:
            x = x * F.silu(z.float())
        xg = x.unflatten(-1, (-1, self.group_size))
        xg = xg * torch.rsqrt(xg.square().mean(dim=-1, keepdim=True) + self.eps)
        out = xg.flatten(-2) * self.weight.float()
        if z is not None and self.norm_before_gate:
            out = out * F.silu(z.float())
        return out.to(dtype)


def _check_ssd_inputs(x, dt, A, B, C):
    if x.dim() != 4:
        raise ValueError(f"x must be [batch, length, nheads, headdim], got {tuple(x.shape)}")
    b, l, h, _ = x.shape
    if dt.shape != (b, l, h):
        raise ValueError(f"dt must be [batch, length, nheads] = {(b, l, h)}, got {tuple(dt.shape)}")
    if A.shape != (h,):
        raise ValueError(f"A must have one entry per head ({h}), got {tuple(A.shape)}")
    if B.dim() != 4 or B.shape[:2] != (b, l) or C.shape != B.shape:
        raise ValueError(f"B and C must be [batch, length, ngroups, d_state] alike, got {tuple(B.shape)}, "
                         f"{tuple(C.shape)}")
    if h % B.shape[2]:
        raise ValueError(f"nheads {h} is not divisible by ngroups {B.shape[2]}")


def _heads(t: torch.Tensor, nheads: int) -> torch.Tensor:
    """Expand [b, l, g, n] group tensors to [b, l, nheads, n] (head i uses group i // (nheads/g))."""
    g = t.shape[2]
    return t if g == nheads else t.repeat_interleave(nheads // g, dim=2)


def ssd_sequential(
    x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
    D: torch.Tensor | None = None, initial_state: torch.Tensor | None = None, return_final_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Reference SSD scan, one step at a time (float32).

    ``x`` [b, l, h, p], ``dt`` [b, l, h] (already positive, i.e. after softplus), ``A`` [h] (negative),
    ``B``, ``C`` [b, l, g, n], ``D`` [h].  ``S_t = exp(dt_t A) S_{t-1} + dt_t x_t B_t^T`` (per head,
    ``S`` is p x n), ``y_t = S_t C_t + D x_t``.  Returns ``y`` [b, l, h, p] (and the final state
    [b, h, p, n] if asked).
    """
    _check_ssd_inputs(x, dt, A, B, C)
    with torch.autocast(device_type=x.device.type, enabled=False):
        b, l, h, p = x.shape
        xf, dtf, Af = x.float(), dt.float(), A.float()
        Bh, Ch = _heads(B.float(), h), _heads(C.float(), h)
        S = (x.new_zeros(b, h, p, B.shape[-1], dtype=torch.float32) if initial_state is None
             else initial_state.float().clone())
        ys = []
        for t in range(l):
            decay = torch.exp(dtf[:, t] * Af)  # [b, h]
            S = S * decay[:, :, None, None] + (dtf[:, t, :, None] * xf[:, t])[..., None] * Bh[:, t, :, None, :]
            ys.append(torch.einsum("bhpn,bhn->bhp", S, Ch[:, t]))
        y = torch.stack(ys, dim=1) if ys else xf.new_zeros(b, 0, h, p)
        if D is not None:
            y = y + xf * D.float()[None, None, :, None]
    return (y, S) if return_final_state else y


def segsum(a: torch.Tensor) -> torch.Tensor:
    """``out[..., i, j] = sum_{j < k <= i} a[..., k]`` for ``j <= i`` and ``-inf`` above the diagonal.

    ``exp(segsum(A dt))`` is the matrix of decays from step ``j`` to step ``i`` inside a chunk
    (computed by masked cumulative sums, which avoids subtracting large cumulative sums).
    """
    T = a.shape[-1]
    x = a[..., None].expand(*a.shape, T)  # x[..., k, j] = a[..., k]
    strict = torch.tril(torch.ones(T, T, dtype=torch.bool, device=a.device), diagonal=-1)
    x = x.masked_fill(~strict, 0.0)
    out = torch.cumsum(x, dim=-2)
    lower = torch.tril(torch.ones(T, T, dtype=torch.bool, device=a.device), diagonal=0)
    return out.masked_fill(~lower, -math.inf)


def ssd_chunked(
    x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
    chunk_size: int = 64, D: torch.Tensor | None = None, initial_state: torch.Tensor | None = None,
    return_final_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The same scan as :func:`ssd_sequential`, computed chunk by chunk (float32).

    Inside a chunk of ``Q = chunk_size`` steps: ``y_diag = (C B^T ∘ exp(segsum(A dt))) (dt x)``
    (a masked, attention-like product); each chunk's end state ``sum_s exp(sum_{k>s} A dt_k) dt_s x_s B_s^T``
    is passed to the next chunks through the chunk-level decays, and its read-out
    ``y_off = exp(cumsum A dt) C S_prev`` is added.  The length is padded with ``dt = 0`` (no decay,
    no input), which changes nothing before the padding.
    """
    _check_ssd_inputs(x, dt, A, B, C)
    chunk_size = integer(chunk_size, "chunk_size")
    with torch.autocast(device_type=x.device.type, enabled=False):
        b, l, h, p = x.shape
        g, n = B.shape[2], B.shape[3]
        chunk_size = max(1, min(chunk_size, l))  # one chunk covers a short sequence: no padding work
        xf, dtf, Af, Bf, Cf = x.float(), dt.float(), A.float(), B.float(), C.float()
        pad = (-l) % chunk_size
        if pad:
            xf = F.pad(xf, (0, 0, 0, 0, 0, pad))
            dtf = F.pad(dtf, (0, 0, 0, pad))
            Bf = F.pad(Bf, (0, 0, 0, 0, 0, pad))
            Cf = F.pad(Cf, (0, 0, 0, 0, 0, pad))
        c, q = (l + pad) // chunk_size, chunk_size
        X = (xf * dtf[..., None]).reshape(b, c, q, h, p)
        a = (dtf * Af).reshape(b, c, q, h).permute(0, 3, 1, 2)  # [b, h, c, q]
        Bc, Cc = Bf.reshape(b, c, q, g, n), Cf.reshape(b, c, q, g, n)
        a_cum = torch.cumsum(a, dim=-1)  # [b, h, c, q]
        # 1. within chunks
        decay = torch.exp(segsum(a))  # [b, h, c, q(l), q(s)]
        cb = torch.einsum("bclgn,bcsgn->bgcls", Cc, Bc)
        cb = cb.repeat_interleave(h // g, dim=1) if g != h else cb  # [b, h, c, l, s]
        y_diag = torch.einsum("bhcls,bcshp->bclhp", cb * decay, X)
        # 2. state at the end of each chunk (from its own inputs)
        decay_to_end = torch.exp(a_cum[..., -1:] - a_cum)  # [b, h, c, q]
        Bh = _heads(Bc.reshape(b, c * q, g, n), h).reshape(b, c, q, h, n)
        states = torch.einsum("bclhn,bhcl,bclhp->bchpn", Bh, decay_to_end, X)
        # 3. pass states between chunks
        init = (xf.new_zeros(b, 1, h, p, n) if initial_state is None else initial_state.float()[:, None])
        states = torch.cat([init, states], dim=1)  # [b, c+1, h, p, n]
        chunk_decay = torch.exp(segsum(F.pad(a_cum[..., -1], (1, 0))))  # [b, h, c+1, c+1]
        states = torch.einsum("bhzc,bchpn->bzhpn", chunk_decay, states)
        prev, final = states[:, :-1], states[:, -1]
        # 4. read the carried-in state out inside each chunk
        Ch = _heads(Cc.reshape(b, c * q, g, n), h).reshape(b, c, q, h, n)
        y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", Ch, prev, torch.exp(a_cum))
        y = (y_diag + y_off).reshape(b, c * q, h, p)[:, :l]
        if D is not None:
            y = y + xf[:, :l] * D.float()[None, None, :, None]
    return (y, final) if return_final_state else y


class Mamba2Torch(nn.Module):
    """Pure-PyTorch ``Mamba2`` mixer: ``forward(u)`` maps [batch, length, d_model] to the same shape.

    Arguments, defaults and initialisation follow ``mamba_ssm.modules.mamba2.Mamba2`` (``ngroups``
    groups of B/C, scalar ``A`` per head, ``D`` per head, ``rmsnorm`` gated, no biases in the
    projections, conv bias on).  ``scan`` chooses ``"chunked"`` (default) or ``"sequential"``.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 128,
        d_conv: int = 4,
        expand: int = 2,
        headdim: int = 64,
        ngroups: int = 1,
        A_init_range: tuple[float, float] = (1.0, 16.0),
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        bias: bool = False,
        conv_bias: bool = True,
        chunk_size: int = 64,
        layer_idx: int | None = None,
        scan: str = "chunked",
        device=None,
        dtype=None,
    ):
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        for name, v in (("d_model", d_model), ("d_state", d_state), ("d_conv", d_conv), ("expand", expand),
                        ("headdim", headdim), ("ngroups", ngroups), ("chunk_size", chunk_size)):
            integer(v, f"Mamba2Torch: {name}")
        if scan not in ("chunked", "sequential"):
            raise ValueError(f"Mamba2Torch: scan must be 'chunked' or 'sequential', got {scan!r}")
        self.d_model, self.d_state, self.d_conv, self.expand = d_model, d_state, d_conv, expand
        self.d_inner = expand * d_model
        self.headdim, self.ngroups, self.chunk_size, self.layer_idx, self.scan = (
            headdim, ngroups, chunk_size, layer_idx, scan)
        if self.d_inner % headdim:
            raise ValueError(f"Mamba2Torch: d_inner = expand*d_model = {self.d_inner} is not divisible by "
                             f"headdim {headdim}")
        self.nheads = self.d_inner // headdim
        if self.nheads % ngroups:
            raise ValueError(f"Mamba2Torch: nheads {self.nheads} is not divisible by ngroups {ngroups}")
        d_in_proj = 2 * self.d_inner + 2 * ngroups * d_state + self.nheads  # [z, x, B, C, dt]
        self.in_proj = nn.Linear(d_model, d_in_proj, bias=bias, **fk)
        conv_dim = self.d_inner + 2 * ngroups * d_state
        self.conv1d = nn.Conv1d(conv_dim, conv_dim, kernel_size=d_conv, groups=conv_dim,
                                padding=d_conv - 1, bias=conv_bias, **fk)
        self.act = nn.SiLU()
        dt = torch.exp(torch.rand(self.nheads, device=device) * (math.log(dt_max) - math.log(dt_min))
                       + math.log(dt_min)).clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter((dt + torch.log(-torch.expm1(-dt))).to(dtype or torch.float32))
        if not (0 < A_init_range[0] <= A_init_range[1]):
            raise ValueError(f"Mamba2Torch: A_init_range must satisfy 0 < lo <= hi, got {A_init_range}")
        A = torch.empty(self.nheads, dtype=torch.float32, device=device).uniform_(*A_init_range)
        self.A_log = nn.Parameter(torch.log(A).to(dtype or torch.float32))
        self.D = nn.Parameter(torch.ones(self.nheads, device=device))
        for p in (self.dt_bias, self.A_log, self.D):
            p._no_weight_decay = True
        self.norm = RMSNormGated(self.d_inner, eps=1e-5, group_size=self.d_inner // ngroups,
                                 norm_before_gate=False, **fk)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **fk)

    def state_per_layer(self) -> tuple[int, int]:
        """(SSM state, conv state) scalars held per sequence: ``nheads*headdim*d_state`` and
        ``(d_inner + 2 ngroups d_state) (d_conv - 1)``."""
        return (self.nheads * self.headdim * self.d_state,
                (self.d_inner + 2 * self.ngroups * self.d_state) * (self.d_conv - 1))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """The mixer on u [batch, length, d_model]: in-projection, causal convolution, the SSD scan
        (``scan``), gated norm, out-projection."""
        if u.dim() != 3 or u.shape[-1] != self.d_model:
            raise ValueError(f"Mamba2Torch expects [batch, length, {self.d_model}], got {tuple(u.shape)}")
        b, l, _ = u.shape
        zxbcdt = self.in_proj(u)
        z, xBC, dt = torch.split(zxbcdt, [self.d_inner, self.d_inner + 2 * self.ngroups * self.d_state,
                                          self.nheads], dim=-1)
        xBC = self.act(self.conv1d(xBC.transpose(1, 2))[..., :l].transpose(1, 2))  # causal: drop the tail
        x, B, C = torch.split(xBC, [self.d_inner, self.ngroups * self.d_state, self.ngroups * self.d_state],
                              dim=-1)
        A = -torch.exp(self.A_log.float())
        dt = F.softplus(dt.float() + self.dt_bias.float())
        args = (x.reshape(b, l, self.nheads, self.headdim), dt, A,
                B.reshape(b, l, self.ngroups, self.d_state), C.reshape(b, l, self.ngroups, self.d_state))
        if self.scan == "chunked":
            y = ssd_chunked(*args, chunk_size=self.chunk_size, D=self.D)
        else:
            y = ssd_sequential(*args, D=self.D)
        y = self.norm(y.reshape(b, l, self.d_inner).to(u.dtype), z)
        return self.out_proj(y)
