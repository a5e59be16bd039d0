"""Throughput benchmarks, reported as JSON with ratios to a reference measured in the same run.

One module per benchmark, each importing the part of the core it measures (the core never
imports ``plastisim.bench``):

    timing.py     ``median_seconds``, ``machine``: what every benchmark reports with its figures
    rhm.py        ``bench_rhm``: RHM samples/s against iid tokens
    train.py      ``bench_train``, ``bench_local_rules``: training steps against hand-written torch
    protocols.py  ``bench_protocols``: protocol engine against a per-event Python loop
    record.py     ``bench_record``: streaming all weights with ``Monitor``, and its overhead
    sweep.py      ``bench_sweep``: a sweep on 1 and on 2 local processes

``plastisim bench [--only NAME ...]`` runs ``BENCHMARKS`` by name; ``analyses/bench_*.py`` run
one with its full settings. Timings are medians over repeats (``time.perf_counter``); they are
never asserted in tests.
"""
from __future__ import annotations

from ..errors import unknown
from .rhm import bench_rhm
from .timing import machine, median_seconds

__all__ = ["BENCHMARKS", "run_benchmark", "machine", "median_seconds", "bench_rhm"]

#: name -> "module:function" of every benchmark, imported only when run
BENCHMARKS: dict[str, str] = {
    "rhm": "plastisim.bench.rhm:bench_rhm",
    "train": "plastisim.bench.train:bench_train",
    "local_rules": "plastisim.bench.train:bench_local_rules",
    "protocols": "plastisim.bench.protocols:bench_protocols",
    "record": "plastisim.bench.record:bench_record",
    "sweep": "plastisim.bench.sweep:bench_sweep",
}


def run_benchmark(name: str) -> dict:
    """Run benchmark ``name`` of ``BENCHMARKS`` and return its JSON-able result."""
    import importlib

    if name not in BENCHMARKS:
        raise unknown("benchmark", name, BENCHMARKS)
    module, function = BENCHMARKS[name].split(":")
    return getattr(importlib.import_module(module), function)()
