"""Benchmark: chapter 3's shuffled floors, ``two_point_mi(..., n_shuffles=8)``, on a text-sized corpus.

Run:  python benchmarks/bench_floors.py [--threads 1] [--tokens 1800000] [--vocab 1024] [--device cpu]

A Zipf corpus of ``--tokens`` tokens in 40 documents (chapter 3's main unit has 1.8M BPE tokens,
M = 1024) is estimated at d = 1 and 64 with 8 shuffles each (18 joint counts, 16 permutations of
the pair sample).  Prints the best of ``--repeats`` wall times (timed as in
``bench_pair_counting.best_of``) and the floors, which a change of speed must leave bit-identical:
compare the printed values between versions.
"""

from __future__ import annotations

import argparse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=None, help="torch/BLAS threads (default: library default)")
    ap.add_argument("--tokens", type=int, default=1_800_000)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from _threads import limit_threads  # benchmarks/_threads.py, before numpy/torch

    limit_threads(args.threads)

    import numpy as np  # noqa: E402  (after the thread settings)
    from bench_pair_counting import best_of  # noqa: E402

    from l2m_utils.two_point import two_point_mi  # noqa: E402

    rng = np.random.default_rng(0)
    n_docs = 40
    docs = [rng.zipf(1.3, size=args.tokens // n_docs).clip(max=args.vocab - 1).astype(np.int64)
            for _ in range(n_docs)]
    best, result = best_of(lambda: two_point_mi(docs, [1, 64], args.vocab, n_shuffles=8, seed=0, device=args.device),
                           args.repeats)
    print(f"{args.tokens:,} tokens, M = {args.vocab}, device {args.device}: best of {args.repeats} {best:.3f} s")
    print("floors:", " ".join(f"{v:.15g}" for v in result.floor_mean), " I_d:", " ".join(f"{v:.15g}" for v in result.mi))


if __name__ == "__main__":
    main()
