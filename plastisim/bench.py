"""Throughput benchmarks, reported as JSON with ratios to a reference measured in the same run.

Timings are medians over repeats (``time.perf_counter``); they are never asserted in tests.
"""
from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable

import torch

from .errors import unknown
from .rhm import RHM, one_hot


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine() -> dict:
    """What the figures were measured on."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(), "python": platform.python_version()}


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


#: name -> "module:function" of every benchmark, imported only when run
BENCHMARKS: dict[str, str] = {
    "rhm": "plastisim.bench:bench_rhm",
    "train": "plastisim.bench_train:bench_train",
    "local_rules": "plastisim.bench_train:bench_local_rules",
    "protocols": "plastisim.protocols.bench:bench_protocols",
    "record": "plastisim.monitor:bench_record",
    "sweep": "plastisim.sweep.bench:bench_sweep",
}


def run_benchmark(name: str) -> dict:
    """Run benchmark ``name`` of ``BENCHMARKS`` and return its JSON-able result."""
    import importlib

    if name not in BENCHMARKS:
        raise unknown("benchmark", name, BENCHMARKS)
    module, function = BENCHMARKS[name].split(":")
    return getattr(importlib.import_module(module), function)()
