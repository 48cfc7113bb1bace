"""Benchmark: chapter 3's shuffled floors, ``two_point_mi(..., n_shuffles=8)``, on a text-sized corpus.

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_floors.py [--tokens 1800000] [--vocab 1024] [--device cpu]

A Zipf corpus of ``--tokens`` tokens in 40 documents (chapter 3's main unit has 1.8M BPE tokens,
M = 1024) is estimated at d = 1 and 64 with 8 shuffles each (18 joint counts, 16 permutations of
the pair sample).  Prints the best of ``--repeats`` wall times and the floors (which a change of
speed must leave bit-identical: compare the printed values between versions).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from l2m_utils.two_point import two_point_mi


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=1_800_000)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n_docs = 40
    docs = [rng.zipf(1.3, size=args.tokens // n_docs).clip(max=args.vocab - 1).astype(np.int64)
            for _ in range(n_docs)]
    best, result = float("inf"), None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        result = two_point_mi(docs, [1, 64], args.vocab, n_shuffles=8, seed=0, device=args.device)
        best = min(best, time.perf_counter() - t0)
    print(f"{args.tokens:,} tokens, M = {args.vocab}, device {args.device}: best of {args.repeats} {best:.3f} s")
    print("floors:", " ".join(f"{v:.15g}" for v in result.floor_mean), " I_d:", " ".join(f"{v:.15g}" for v in result.mi))


if __name__ == "__main__":
    main()
