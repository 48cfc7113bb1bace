"""Benchmark for l2m_utils.scoring.CausalLMScorer (chapter 4).  Not a test.

Compares, on the same randomly initialised GPT-2 and the same batch of tokens,

* **bare**: one forward pass ``model(input_ids).logits`` (full ``[batch, T, vocab]`` logits, no
  log-softmax) -- the least any scorer must do;
* **scorer**: ``CausalLMScorer.token_logprobs`` (body once, then per chunk of positions the LM head and
  a float32 log-softmax/NLL of the targets; results to float64 numpy); on CUDA its float32 head runs
  in TF32 on the tensor cores (the default with a bfloat16 body);
* **ieee** (CUDA only): the same scorer with ``head_tf32=False``, the head in full float32 on the CUDA
  cores (what the scorer did before TF32; its ratio to **scorer** is what TF32 saves);
* **naive**: ``log_softmax`` of the full float32 logits then ``gather`` (what the scorer avoids).

and reports median times over ``--reps`` runs, the overhead ratio scorer / bare (target <= 1.3)
and tokens per second.  Sizes default to a CPU-friendly model; on CUDA the body runs in bfloat16
autocast as in the chapter.

Usage:  python benchmarks/bench_scoring.py [--threads 2] [--layers 4] [--width 256] [--vocab 4096 32000]
                                            [--batch 8] [--length 512] [--reps 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: library default)")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--vocab", type=int, nargs="+", default=[4096, 32000])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--length", type=int, default=512)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    args = ap.parse_args()
    from _threads import limit_threads  # benchmarks/_threads.py, before numpy/torch

    limit_threads(args.threads)

    import numpy as np  # noqa: E402  (after the thread settings)
    import torch  # noqa: E402

    from l2m_utils.language_model import GPTShape, build_gpt2, count_parameters  # noqa: E402
    from l2m_utils.scoring import CausalLMScorer  # noqa: E402

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    autocast_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def timed(fn):
        fn()  # warm-up
        sync()
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, device={device}, "
          f"threads={torch.get_num_threads()}, batch={args.batch}, T={args.length}")
    cuda = device.type == "cuda"
    print(f"{'vocab':>6} {'params':>8} {'bare s':>8} {'scorer s':>9} {'naive s':>8} {'scorer/bare':>11} "
          f"{'naive/bare':>10} {'scorer tok/s':>12} {'max|scorer-naive|':>17}"
          + (f" {'ieee s':>8} {'ieee/bare':>9} {'max|scorer-ieee|':>16}" if cuda else ""))
    for vocab in args.vocab:
        shape = GPTShape(n_layer=args.layers, n_embd=args.width, n_head=args.heads, n_ctx=args.length)
        model = build_gpt2(vocab, 0, shape, seed=0).to(device).eval()
        tokens = np.random.default_rng(0).integers(1, vocab, (args.batch, args.length))
        x = torch.as_tensor(np.concatenate([np.zeros((args.batch, 1), int), tokens[:, :-1]], 1), device=device)
        t = torch.as_tensor(tokens, device=device)
        scorer = CausalLMScorer(model, batch_size=args.batch, device=device)

        def autocast():
            return torch.autocast(device_type=device.type, dtype=autocast_dtype, enabled=device.type == "cuda")

        def bare():
            with torch.inference_mode(), autocast():
                return model(input_ids=x).logits

        def naive():
            with torch.inference_mode(), autocast():
                logits = model(input_ids=x).logits.float()
                return torch.log_softmax(logits, -1).gather(2, t[:, :, None])[:, :, 0].double().cpu().numpy()

        def score():
            return scorer.token_logprobs(tokens)

        tb, ts, tn = timed(bare), timed(score), timed(naive)
        diff = float(np.abs(score() - naive()).max())
        n_tok = args.batch * args.length
        line = (f"{vocab:>6} {count_parameters(model) / 1e6:>7.2f}M {tb:>8.3f} {ts:>9.3f} {tn:>8.3f} "
                f"{ts / tb:>11.2f} {tn / tb:>10.2f} {n_tok / ts:>12,.0f} {diff:>17.2e}")
        if cuda:
            ieee = CausalLMScorer(model, batch_size=args.batch, device=device, head_tf32=False)
            assert scorer.head_tf32 and not ieee.head_tf32
            ti = timed(lambda: ieee.token_logprobs(tokens))
            gap = float(np.abs(score() - ieee.token_logprobs(tokens)).max())
            line += f" {ti:>8.3f} {ti / tb:>9.2f} {gap:>16.2e}"
        print(line)


if __name__ == "__main__":
    main()
