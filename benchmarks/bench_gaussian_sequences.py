"""Benchmark for l2m_utils.gaussian_sequences (chapter 5).  Not a test.

Times, for L = 4**depth:
  * building the dense covariance (layer recursion + vectorised boundary step),
  * the dense exact equal-split bipartite MI (in-place Cholesky of Sigma and of the trailing half),
  * the cut recursion ``equal_split_mi_by_depth`` (exact, (L/8)-sized blocks only),
and the sampler's throughput (sequences of length L x ``copies`` per second) on CPU and, if
available, on CUDA.

Usage:  python benchmarks/bench_gaussian_sequences.py [--threads 1] [--depths 5 6 7] [--sampler-depth 6]
``--threads`` sets OPENBLAS/OMP/MKL thread counts and torch's before numpy is imported.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=None, help="BLAS/torch threads (default: library default)")
    ap.add_argument("--depths", type=int, nargs="+", default=[5, 6, 7], help="depths to time (L = 4**depth)")
    ap.add_argument("--sampler-depth", type=int, default=6, help="sampler depth (6: L = 4096)")
    ap.add_argument("--copies", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    from _threads import limit_threads  # benchmarks/_threads.py, before numpy/torch

    limit_threads(args.threads)

    import numpy as np  # noqa: E402  (after the thread settings)
    import torch  # noqa: E402

    from l2m_utils import gaussian_sequences as gs  # noqa: E402

    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, torch {torch.__version__}, "
          f"threads={args.threads or 'default'}, cpus={os.cpu_count()}")
    print(f"{'L':>6} {'build s':>8} {'dense MI s':>10} {'total s':>8} {'recursion s':>11} "
          f"{'I (1 copy)':>14} {'I x64':>10} {'|dense-rec|':>11}")
    for depth in args.depths:
        L = 4**depth
        t0 = time.perf_counter()
        cov = gs.sequence_covariance(depth)
        t1 = time.perf_counter()
        dense = gs.bipartite_mi(cov, overwrite=True)
        t2 = time.perf_counter()
        del cov
        rec = gs.equal_split_mi_by_depth(depth)[-1]
        t3 = time.perf_counter()
        print(f"{L:>6} {t1 - t0:>8.2f} {t2 - t1:>10.2f} {t2 - t0:>8.2f} {t3 - t2:>11.3f} "
              f"{dense:>14.9f} {64 * dense:>10.2f} {abs(dense - rec):>11.2e}", flush=True)

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        sampler = gs.GaussianSequenceSampler(args.sampler_depth, copies=args.copies, device=device)
        gen = torch.Generator(device=device).manual_seed(0)
        sampler.sample(args.batch, generator=gen)  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.reps):
            sampler.sample(args.batch, generator=gen)
        if device == "cuda":
            torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / args.reps
        print(f"sampler {device}: L={sampler.length} x {args.copies} copies, batch {args.batch}: "
              f"{dt * 1e3:.1f} ms/batch = {args.batch / dt:.1f} sequences/s "
              f"({args.batch * sampler.length / dt:.3g} tokens/s)", flush=True)


if __name__ == "__main__":
    main()
