"""Check ``l2m_utils.mamba2_torch.Mamba2Torch`` against the real ``mamba_ssm`` ``Mamba2`` module, on a CPU.

mamba_ssm's Triton kernels need a GPU, but the package ships plain-PyTorch references of what they
compute: ``selective_scan_ref`` (the SSM recurrence) and ``rms_norm_ref`` (the gated RMSNorm).  This
script builds mamba_ssm's ``Mamba2`` (``use_mem_eff_path=False``, the path chapter 6 uses), routes its
two kernel calls to those references, loads the same state dict into ``Mamba2Torch`` and compares
outputs and gradients.  It checks parameter names and shapes, the [z, xBC, dt] split, the causal
convolution, dt/A/D handling and the gated norm; the GPU scripts then compare the Triton kernels
themselves (``benchmarks/bench_synthetic_training.py --check-kernels``).

Needs mamba_ssm, triton and einops importable (CPU is enough), e.g.::

    bash scripts/prepare_wheelhouse.sh          # builds .whl/mamba_ssm-*.whl among others
    .venv/bin/pip install --target /tmp/mref triton einops .whl/mamba_ssm-*.whl --no-deps
    PYTHONPATH=/tmp/mref:. .venv/bin/python scripts/check_mamba2_reference.py

Exit status 1 when a relative difference exceeds ``--tol``.
"""

from __future__ import annotations

import argparse
import sys
import types


def reference_mamba2():
    """mamba_ssm's ``Mamba2`` class with its kernel calls replaced by mamba_ssm's own references."""
    sys.modules.setdefault("selective_scan_cuda", types.ModuleType("selective_scan_cuda"))  # Mamba-1 ext.
    try:
        import mamba_ssm.modules.mamba2 as m2
        from einops import rearrange, repeat
        from mamba_ssm.ops.selective_scan_interface import selective_scan_ref
        from mamba_ssm.ops.triton.layernorm_gated import rms_norm_ref
    except ImportError as err:
        raise SystemExit(f"cannot import mamba_ssm's references ({err}); see this script's docstring") from err

    def chunk_scan_ref(x, dt, A, B, C, chunk_size, D=None, z=None, dt_bias=None, dt_softplus=False, **_):
        # x [b, l, h, p]; dt [b, l, h]; A, D, dt_bias [h]; B, C [b, l, g, n] (the Triton kernel's signature)
        p, n = x.shape[-1], B.shape[-1]
        out = selective_scan_ref(
            rearrange(x, "b l h p -> b (h p) l"),
            rearrange(repeat(dt, "b l h -> b l h p", p=p), "b l h p -> b (h p) l"),
            repeat(A, "h -> (h p) n", p=p, n=n).float(),
            rearrange(B, "b l g n -> b g n l"), rearrange(C, "b l g n -> b g n l"),
            D=repeat(D, "h -> (h p)", p=p), z=None,
            delta_bias=rearrange(repeat(dt_bias, "h -> h p", p=p), "h p -> (h p)"),
            delta_softplus=dt_softplus,
        )
        return rearrange(out, "b (h p) l -> b l h p", p=p)

    def norm_ref(self, x, z=None):
        return rms_norm_ref(x, self.weight, self.bias, z=z, eps=self.eps, group_size=self.group_size,
                            norm_before_gate=self.norm_before_gate)

    m2.mamba_chunk_scan_combined = chunk_scan_ref
    m2.RMSNormGated.forward = norm_ref
    m2.causal_conv1d_fn = None  # the module's own nn.Conv1d path
    return m2.Mamba2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--length", type=int, default=70)
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    import torch

    from l2m_utils.mamba2_torch import Mamba2Torch

    ref_cls = reference_mamba2()
    rel = lambda a, b: float((a - b).norm() / b.norm())  # noqa: E731
    worst = 0.0
    torch.manual_seed(0)
    for d, n, headdim, ngroups in [(64, 16, 32, 1), (128, 64, 64, 1), (96, 8, 16, 2)]:
        ref = ref_cls(d, d_state=n, headdim=headdim, ngroups=ngroups, chunk_size=16, use_mem_eff_path=False)
        ours = Mamba2Torch(d, d_state=n, headdim=headdim, ngroups=ngroups, chunk_size=16)
        ours.load_state_dict(ref.state_dict(), strict=True)
        u = torch.randn(2, args.length, d)
        u1, u2 = u.clone().requires_grad_(True), u.clone().requires_grad_(True)
        y1, y2 = ref(u1), ours(u2)
        y1.square().mean().backward()
        y2.square().mean().backward()
        diffs = {"output": rel(y2.detach(), y1.detach()), "grad input": rel(u2.grad, u1.grad),
                 "grad A_log": rel(ours.A_log.grad, ref.A_log.grad),
                 "grad in_proj": rel(ours.in_proj.weight.grad, ref.in_proj.weight.grad),
                 "grad conv1d": rel(ours.conv1d.weight.grad, ref.conv1d.weight.grad)}
        worst = max(worst, *diffs.values())
        print(f"d_model={d} d_state={n} headdim={headdim} ngroups={ngroups}: "
              + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
    import mamba_ssm

    ok = worst <= args.tol
    print(f"mamba_ssm {mamba_ssm.__version__}: largest relative difference {worst:.1e} "
          f"({'OK' if ok else 'FAILED'}, tolerance {args.tol:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
