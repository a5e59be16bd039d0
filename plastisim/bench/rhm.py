"""Samples per second of the Random Hierarchy Model against iid tokens (``bench_rhm``)."""
from __future__ import annotations

import torch

from ..rhm import RHM, one_hot
from .timing import machine, median_seconds


def bench_rhm(n: int = 1_000_000, repeats: int = 5, v: int = 8, m: int = 8, L: int = 3) -> dict:
    """Samples/s of ``RHM.sample(n)`` + ``one_hot`` (v = m = n_classes, s = 2).

    Reference: drawing n * s**L iid tokens with ``torch.randint`` and one-hot encoding them,
    i.e. the cost of data with no hierarchy and no distinctness guarantee.
    """
    rhm = RHM(v=v, n_classes=v, m=m, s=2, L=L, seed=0)
    seeds = iter(range(10**6))
    full = median_seconds(lambda: one_hot(rhm.sample(n, next(seeds)).x, v), repeats)
    sample_only = median_seconds(lambda: rhm.sample(n, next(seeds)), repeats)
    gen = torch.Generator().manual_seed(0)
    reference = median_seconds(
        lambda: one_hot(torch.randint(v, (n, rhm.input_size), generator=gen), v), repeats)
    return {"benchmark": "rhm_sample", "rhm": repr(rhm).split("  #")[0], "n": n,
            "repeats": repeats, "timer": "time.perf_counter, median",
            "samples_per_s": n / full, "samples_per_s_without_one_hot": n / sample_only,
            "reference": "iid torch.randint tokens + one_hot",
            "reference_samples_per_s": n / reference, "ratio_to_reference": full / reference,
            "machine": machine()}
