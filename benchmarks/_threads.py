"""Thread limits for the benchmarks: call before numpy/torch are imported."""

import os


def limit_threads(n: int | None) -> None:
    """Set the BLAS/OpenMP thread variables to ``n`` (no-op for None) and, if torch is importable,
    torch's intra-op threads too."""
    if not n:
        return
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)
