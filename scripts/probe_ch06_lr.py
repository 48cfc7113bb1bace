"""A CPU proxy for the learning rates of chapter 6's ``gpu`` sweep.

The ``gpu`` profile trains each model at one peak learning rate (``lr``, or its entry in
``lr_by_model``).  Probing the rates on the GPU costs device time that sessions rarely have, so this
script trains the profile's models at a short length on the CPU with a smaller batch and fewer steps,
at several peak learning rates, and prints each run's held-out KL relative to the marginal baseline
(lower is better); the profile takes each probed model's best rate.  The runs are ordinary chapter-6 runs
(:func:`l2m_utils.synthetic_training.train_run`): each finished run is a results file in
``--results-dir`` and is loaded, not retrained, when the script runs again; an interrupted run
resumes from its checkpoint.

It is a proxy: the batch is smaller than the ``gpu`` profile's (1,024 positions per step by default
against 8,192) and the precision is fp32, not bf16.  A larger batch usually tolerates a larger peak
rate, so a rate that wins here is, if anything, a low estimate of the best rate there.

The runs committed in ``results/ch06_lr_probe/`` (2026-12-05, 2 cores; 4-5 minutes per 4x256 run of
2,000 steps, 12-13 minutes per 8x512 run of 1,000 steps, 18 with other jobs on the cores)::

    .venv/bin/python scripts/probe_ch06_lr.py --models gpt2-4x256 mamba2-4x256-N16 --lrs 1e-3 3e-3 1e-2
    .venv/bin/python scripts/probe_ch06_lr.py --models gpt2-8x512 --lrs 3e-4 1e-3 3e-3 --steps 1000
    .venv/bin/python scripts/probe_ch06_lr.py --models mamba2-8x512-N64 --lrs 1e-3 3e-3 --steps 1000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from l2m_utils import synthetic_training as st  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["gpt2-4x256", "mamba2-4x256-N16"])
    ap.add_argument("--lrs", nargs="+", type=float, default=[1e-3, 3e-3, 1e-2])
    ap.add_argument("--length", type=int, default=64, help="sequence length L (a power of 4)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--tokens-per-step", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--results-dir", default=str(ROOT / "results" / "ch06_lr_probe"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    results_dir = Path(args.results_dir)
    rows = []
    for model in args.models:
        for lr in args.lrs:
            cfg = st.sweep_configs([model], [args.length], [args.seed], steps=args.steps,
                                   tokens_per_step=args.tokens_per_step, lr=lr, warmup=args.steps // 10,
                                   precision="fp32", eval_points=5, eval_tokens=8192, chunk_size=64)[0]
            record = st.load_result(results_dir, cfg)
            if record is None:
                st.train_run(cfg, "cpu", results_dir=results_dir, checkpoint_dir=results_dir / "checkpoints",
                             checkpoint_every_s=60.0)
                record = st.load_result(results_dir, cfg)
            curve = record["curve"]
            baseline = record["metrics"]["baseline_kl"]
            rows.append((model, lr, [kl / baseline for kl in curve["eval_kl"]], curve["step"],
                         record["provenance"]["wall_time_s"]))
    print(f"held-out KL / baseline at L = {args.length}, {args.tokens_per_step} positions per step, fp32, CPU "
          f"(evaluations at steps {rows[0][3]}):")
    for model, lr, ratios, _, wall in rows:
        print(f"  {model:<18} lr {lr:<8g} " + " ".join(f"{r:.3f}" for r in ratios) + f"   ({wall:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
