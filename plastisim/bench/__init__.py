"""Throughput benchmarks, reported as JSON with ratios to a reference measured in the same run.

One module per benchmark, each importing the part of the core it measures (the core never
imports ``plastisim.bench``):

    timing.py     ``median_seconds``, ``machine``: what every benchmark reports with its figures
    rhm.py        ``bench_rhm``: RHM samples/s against iid tokens
    train.py      ``bench_train``, ``bench_local_rules``: training steps against hand-written torch
    protocols.py  ``bench_protocols``: protocol engine against a per-event Python loop
    record.py     ``bench_record``: streaming all weights with ``Monitor``, and its overhead
    sweep.py      ``bench_sweep``: a sweep on 1 and on 2 local processes
    ensemble.py   ``bench_ensemble``: E networks in one batched pass against E sequential runs
    engine.py     ``bench_engine``: the training loop eager and compiled, against hand-written
                  torch and another checkout of plastisim
    fingerprint.py ``bench_fingerprint``: the fingerprint of a width-128 run against its training

``plastisim bench [NAME ...]`` (or ``--only NAME ...``) runs ``BENCHMARKS`` by name, each with
the options it takes (``--device``, ``--sizes``, ``--widths``, ``--rules``, ``--repeats``: its
keyword arguments, ``benchmark_options``); ``analyses/bench_*.py`` run one with its full
settings. Timings are medians over repeats (``time.perf_counter``); they are never asserted in
tests.
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

from ..errors import ConfigError, unknown
from .rhm import bench_rhm
from .timing import machine, median_seconds

__all__ = ["BENCHMARKS", "benchmark_options", "run_benchmark", "machine", "median_seconds",
           "bench_rhm"]

#: name -> "module:function" of every benchmark, imported only when run
BENCHMARKS: dict[str, str] = {
    "rhm": "plastisim.bench.rhm:bench_rhm",
    "train": "plastisim.bench.train:bench_train",
    "local_rules": "plastisim.bench.train:bench_local_rules",
    "protocols": "plastisim.bench.protocols:bench_protocols",
    "record": "plastisim.bench.record:bench_record",
    "sweep": "plastisim.bench.sweep:bench_sweep",
    "ensemble": "plastisim.bench.ensemble:bench_ensemble",
    "engine": "plastisim.bench.engine:bench_engine",
    "fingerprint": "plastisim.bench.fingerprint:bench_fingerprint",
}


def _function(name: str) -> Callable[..., dict]:
    if name not in BENCHMARKS:
        raise unknown("benchmark", name, BENCHMARKS)
    module, function = BENCHMARKS[name].split(":")
    return getattr(importlib.import_module(module), function)


def benchmark_options(name: str) -> tuple[str, ...]:
    """The keyword arguments benchmark ``name`` takes (e.g. ``device``, ``sizes``)."""
    return tuple(inspect.signature(_function(name)).parameters)


def run_benchmark(name: str, **options) -> dict:
    """Run benchmark ``name`` of ``BENCHMARKS`` with ``options`` (its keyword arguments) and
    return its JSON-able result."""
    function = _function(name)
    accepted = benchmark_options(name)
    for key in options:
        if key not in accepted:
            raise ConfigError(f"benchmark '{name}' has no option {key!r}; available: "
                              f"{', '.join(accepted) or 'none'}")
    return function(**options)
