"""Benchmark: counting token pairs at distance d (chapter 3) versus a plain ``collections.Counter`` loop.

Run:  python benchmarks/bench_pair_counting.py [--tokens 1000000] [--vocab 1024 50257] [--distances 1 64 4096]

For each vocabulary size, the same random corpus (split into documents) is counted three ways:

* ``Counter``: ``Counter(zip(doc[:-d], doc[d:]))`` over Python lists, document by document;
* ``numpy``: :func:`l2m_utils.two_point.count_pairs` with ``backend="numpy"`` on the concatenated
  corpus (:func:`~l2m_utils.two_point.concatenate_documents`; int64 keys a·M + b; histogram for small
  M, ``np.sort`` of 32-bit keys for large M);
* ``torch/cpu``: the same function with its default ``backend="torch"`` on the corpus as CPU tensors
  (:func:`~l2m_utils.two_point.corpus_on_device`; histogram, or ``torch.unique`` of 32-bit keys) —
  what the chapters use on a CPU;
* ``torch/cuda``: the same with the corpus copied to the GPU once, when a GPU is present (timed after
  a warm-up call): the pairs are selected, keyed and counted on the GPU, and the timed call includes
  copying the distinct pairs and their counts back to the host.

Each way gets the corpus in the form it counts from, prepared once per corpus and not timed (as
chapter 3 does for its distances and shuffles): Python lists for the Counter loop, the concatenated
arrays for numpy, tensors on the device for torch.  The one-off preparation times are printed
(``prepare`` lines).  Counts are checked to be identical.  Targets: ≥ 8× the Counter loop on one
CPU core, CUDA ≥ 50×.  Set OMP_NUM_THREADS=1 for a one-core number (torch then uses one thread too;
the header says).
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import Counter

import numpy as np

from l2m_utils.two_point import concatenate_documents, corpus_on_device, count_pairs


def counter_loop(docs_as_lists: list[list[int]], d: int) -> Counter:
    c: Counter = Counter()
    for doc in docs_as_lists:
        c.update(zip(doc[:-d], doc[d:]))
    return c


def best_of(fn, repeats: int) -> tuple[float, object]:
    """Best wall time of ``repeats`` calls, with Python's cyclic garbage collector off while timing
    (as :mod:`timeit` does): the Counter loop leaves ~10⁶ tuples behind, and a collection of them
    must not land inside whichever call happens to come next."""
    best, out = float("inf"), None
    for _ in range(repeats):
        out = None
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - t0)
        finally:
            gc.enable()
    return best, out


def zipf_corpus(n_tokens: int, vocab: int, n_docs: int, seed: int) -> list[np.ndarray]:
    """Tokens drawn from a Zipf-like unigram distribution (like text), split into documents."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    tokens = rng.choice(vocab, size=n_tokens, p=p)
    cuts = np.sort(rng.choice(np.arange(1, n_tokens), size=n_docs - 1, replace=False))
    return np.split(tokens, cuts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--vocab", type=int, nargs="+", default=[1024, 50_257])
    ap.add_argument("--distances", type=int, nargs="+", default=[1, 64, 4096])
    ap.add_argument("--documents", type=int, default=38)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-check", action="store_true", help="skip comparing the counts")
    args = ap.parse_args()

    try:
        import torch
        cuda = torch.cuda.is_available()
    except ImportError:
        torch, cuda = None, False

    threads = f"; torch on {torch.get_num_threads()} CPU thread(s)" if torch is not None else ""
    print(f"{args.tokens:,} tokens in {args.documents} documents; best of {args.repeats}{threads}")
    header = f"{'vocab':>7} {'d':>5} {'Counter s':>10} {'numpy s':>9} {'speed-up':>9}"
    if torch is not None:
        header += f" {'torch/cpu s':>11} {'speed-up':>9}"
    if cuda:
        header += f" {'cuda s':>9} {'speed-up':>9}"
    print(header)
    for vocab in args.vocab:
        docs = zipf_corpus(args.tokens, vocab, args.documents, seed=0)
        t_lists, lists = best_of(lambda: [d.tolist() for d in docs], 1)
        t_cat, corpus = best_of(lambda: concatenate_documents(docs, vocab), 1)
        prepared = f"prepare (once per corpus, not timed below): lists {t_lists:.3f} s, numpy {t_cat:.4f} s"
        on = {}
        if torch is not None:
            t_on, on["cpu"] = best_of(lambda: corpus_on_device(corpus, "cpu"), 1)
            prepared += f", torch/cpu {t_on:.4f} s"
        if cuda:
            def to_gpu():
                tensors = corpus_on_device(corpus, "cuda")
                torch.cuda.synchronize()
                return tensors

            to_gpu()  # warm-up (CUDA context)
            t_on, on["cuda"] = best_of(to_gpu, 1)
            prepared += f", torch/cuda {t_on:.4f} s (host to GPU)"
        print(f"{vocab:>7} {prepared}")
        for d in args.distances:
            t_ref, ref = best_of(lambda: counter_loop(lists, d), max(1, args.repeats - 1))
            t_np, (a, b, n) = best_of(lambda: count_pairs(corpus, d, backend="numpy"), args.repeats)
            if not args.no_check:
                mine = Counter({(int(x), int(y)): int(c) for x, y, c in zip(a, b, n)})
                assert mine == ref, f"counts differ at vocab={vocab}, d={d}"
            line = f"{vocab:>7} {d:>5} {t_ref:>10.3f} {t_np:>9.4f} {t_ref / t_np:>8.1f}×"
            for device, tensors in on.items():
                count_pairs(tensors, d)  # warm-up
                if device == "cuda":
                    torch.cuda.synchronize()
                t_dev, (ca, cb, cn) = best_of(lambda: count_pairs(tensors, d), args.repeats)
                assert np.array_equal(ca, a) and np.array_equal(cb, b) and np.array_equal(cn, n)
                width = 11 if device == "cpu" else 9
                line += f" {t_dev:>{width}.4f} {t_ref / t_dev:>8.1f}×"
            print(line, flush=True)


if __name__ == "__main__":
    main()
