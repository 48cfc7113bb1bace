"""Benchmark for chapter 6's training step (l2m_utils.synthetic_training).  Not a test.

Times full training steps -- draw fresh sequences from the exact sampler, forward, exact-KL loss,
backward, AdamW -- and reports tokens/s (token = one 64-dimensional position) per backbone on the
available device, plus peak GPU memory.  With ``--check-kernels`` on CUDA it also compares
mamba_ssm's Triton ``Mamba2`` with the pure-PyTorch ``Mamba2Torch`` on the same weights.

Usage:
  python benchmarks/bench_synthetic_training.py                                   # defaults by device
  python benchmarks/bench_synthetic_training.py --n-layer 8 --d-model 512 --length 4096 --batch 8 \
      --precision bf16 --check-kernels --json bench.json                            # the GPU comparison
Reference (GPU notes, H200, bf16, 8x512): GPT-2 740k tok/s at L=2048, 490k at 8192; mamba_ssm
Mamba2 450-570k tok/s.  Target here: at least half of those.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bench_one(backbone: str, args, device, torch, st, gs) -> dict:
    from l2m_utils.continuous_models import build_model

    depth = int(round(math.log(args.length, 4)))
    sampler = gs.GaussianSequenceSampler(depth, device=device)
    model = build_model(backbone, args.n_layer, args.d_model, d_state=args.d_state, max_length=args.length,
                        device=device, prefer_kernels=not args.no_kernels, seed=0,
                        chunk_size=args.chunk_size)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **({"fused": True} if device.type == "cuda" else {}))
    gen = torch.Generator(device=device).manual_seed(0)
    autocast = (torch.autocast(device_type="cuda", dtype=torch.bfloat16) if args.precision == "bf16"
                else torch.autocast(device_type=device.type, enabled=False))
    L = args.length

    def step():
        batch = sampler.sample(args.batch, generator=gen)
        with autocast:
            mu, sig = model(batch.tokens[:, :L])
        loss = st.kl_per_position(mu, sig, batch.mu, batch.sigma).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step()
    sync()
    t1 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    sync()
    t2 = time.perf_counter()
    tps = args.steps * args.batch * L / (t2 - t1)
    return {
        "backbone": backbone, "kernel": model.kernel, "n_layer": args.n_layer, "d_model": args.d_model,
        "d_state": args.d_state if backbone == "mamba2" else None, "L": L, "batch": args.batch,
        "precision": args.precision, "n_params": model.n_params(), "tokens_per_s": round(tps, 1),
        "ms_per_step": round(1000 * (t2 - t1) / args.steps, 2), "warmup_s": round(t1 - t0, 2),
        "peak_mem_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None,
        "loss": float(loss.detach()),
    }


def check_kernels(args, device, torch) -> dict:
    """Same weights in mamba_ssm's Mamba2 and Mamba2Torch: relative difference of outputs and grads."""
    from l2m_utils.continuous_models import load_mamba_ssm_mamba2
    from l2m_utils.mamba2_torch import Mamba2Torch

    cls = load_mamba_ssm_mamba2()
    if cls is None:
        return {"available": False}
    torch.manual_seed(0)
    d, n = min(args.d_model, 256), min(args.d_state, 64)
    ref = cls(d, d_state=n, headdim=64 if 2 * d >= 256 else 2 * d // 4, chunk_size=64,
              use_mem_eff_path=False).to(device)
    ours = Mamba2Torch(d, d_state=n, headdim=ref.headdim, chunk_size=64).to(device)
    ours.load_state_dict(ref.state_dict())
    u = torch.randn(2, 1024, d, device=device)
    u1, u2 = u.clone().requires_grad_(True), u.clone().requires_grad_(True)
    y1, y2 = ref(u1), ours(u2)
    y1.square().mean().backward()
    y2.square().mean().backward()
    rel = lambda a, b: float((a - b).norm() / b.norm())  # noqa: E731
    return {"available": True, "rel_out": rel(y2, y1), "rel_grad_input": rel(u2.grad, u1.grad),
            "rel_grad_A_log": rel(ours.A_log.grad, ref.A_log.grad), "d_model": d, "d_state": n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--backbones", nargs="+", default=["gpt2", "mamba2"])
    ap.add_argument("--n-layer", type=int, default=None)
    ap.add_argument("--d-model", type=int, default=None)
    ap.add_argument("--d-state", type=int, default=64)
    ap.add_argument("--length", type=int, default=None, help="L, a power of 4")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--chunk-size", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-kernels", action="store_true", help="force the pure-PyTorch Mamba2 on CUDA")
    ap.add_argument("--check-kernels", action="store_true")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    from _threads import limit_threads  # benchmarks/_threads.py, before numpy/torch

    limit_threads(args.threads)
    import torch

    from l2m_utils import gaussian_sequences as gs
    from l2m_utils import synthetic_training as st

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = device.type == "cuda"
    defaults = dict(n_layer=8 if gpu else 2, d_model=512 if gpu else 64, length=4096 if gpu else 64,
                    batch=8 if gpu else 16, steps=10 if gpu else 5, precision="bf16" if gpu else "fp32",
                    chunk_size=256 if gpu else 64)
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    print(f"torch {torch.__version__}, device {st.device_label(device)}, threads {torch.get_num_threads()}",
          flush=True)
    rows = []
    for backbone in args.backbones:
        try:
            row = bench_one(backbone, args, device, torch, st, gs)
        except Exception as err:  # noqa: BLE001 - report and go on with the other backbone
            row = {"backbone": backbone, "error": f"{type(err).__name__}: {err}"}
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {"device": st.device_label(device), "torch": torch.__version__, "runs": rows}
    if args.check_kernels and gpu:
        try:
            report["kernel_check"] = check_kernels(args, device, torch)
        except Exception as err:  # noqa: BLE001
            report["kernel_check"] = {"error": f"{type(err).__name__}: {err}"}
        print("kernel check:", json.dumps(report["kernel_check"]), flush=True)
    print(f"{'backbone':>8} {'kernel':>10} {'size':>8} {'L':>6} {'batch':>5} {'tok/s':>12} {'ms/step':>8} {'GiB':>6}")
    for r in rows:
        if "error" in r:
            print(f"{r['backbone']:>8} ERROR {r['error']}")
            continue
        print(f"{r['backbone']:>8} {r['kernel']:>10} {r['n_layer']}x{r['d_model']:<5} {r['L']:>6} {r['batch']:>5} "
              f"{r['tokens_per_s']:>12,.0f} {r['ms_per_step']:>8.1f} {str(r['peak_mem_gib']):>6}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
