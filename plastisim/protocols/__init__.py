"""Cortical plasticity protocols: spike trains, the event-driven engine, named experiments.

    trains.py       pairing and Poisson spike trains; ``merge`` into lock-step ``Events``
    engine.py       ``run(rule, events)``: exact trace decay between events, all streams at once
    experiments.py  ``sjostrom2001``, ``stdp_window``, ``poisson_drift`` -> xarray Datasets

Its benchmark (synapse-updates per second against a per-event Python loop) is
``plastisim.bench.protocols``.

Depends only on the core (traces, neurons, rules, errors, data); xarray is imported by the
experiments that build Datasets. See ``docs/protocols.md``.
"""
from .engine import STAGES, event_rule, run
from .experiments import PROTOCOLS, compare, fit_lobe, poisson_drift, sjostrom2001, stdp_window
from .trains import Events, SpikeTrains, merge, pairing, poisson

__all__ = [
    # trains
    "SpikeTrains", "Events", "merge", "pairing", "poisson",
    # engine
    "STAGES", "event_rule", "run",
    # experiments
    "PROTOCOLS", "compare", "fit_lobe", "poisson_drift", "sjostrom2001", "stdp_window",
]
