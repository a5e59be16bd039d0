r"""Throughput of the protocol engine against a straightforward per-event Python loop.

A *synapse-update* is one event (a pre or a post spike, or both) processed for one synapse:
decay its traces, apply the rule, increment the traces. The engine processes all synapses of a
batch in lock-step; the reference (``triplet_loop``) walks one synapse's merged spike list in
plain Python with ``math.exp``, as a first implementation would. The loop runs on a subset of
the synapses and its rate (updates per second) is compared with the engine's: per-synapse cost
does not depend on how many other synapses exist, so the subset's rate is the loop's rate.
The loop's weights are also checked against the engine's on that subset.
"""
from __future__ import annotations

import math

import torch

from ..protocols.engine import event_rule, run
from ..protocols.trains import merge, poisson
from ..rules.stdp_triplet import TripletParams
from .timing import machine, median_seconds


def triplet_loop(pre: list[float], post: list[float], p: TripletParams,
                 w_init: float = 1.0) -> float:
    """Final weight of one synapse under triplet STDP (``rules/stdp_triplet.py``), event by
    event in plain Python. ``p`` must be resolved; a pre and a post spike at the same time
    are one event (both read the traces before either increment)."""
    nearest = p.interaction == "nearest_spike"
    times = sorted(set(pre) | set(post))
    pre_set, post_set = set(pre), set(post)
    r1 = r2 = o1 = o2 = 0.0
    w, last = w_init, 0.0
    for t in times:
        # decay traces (tau = 0: no memory)
        dt, last = t - last, t
        r1 *= math.exp(-dt / p.tau_plus) if p.tau_plus > 0 else 0.0
        r2 *= math.exp(-dt / p.tau_x) if p.tau_x > 0 else 0.0
        o1 *= math.exp(-dt / p.tau_minus) if p.tau_minus > 0 else 0.0
        o2 *= math.exp(-dt / p.tau_y) if p.tau_y > 0 else 0.0
        is_pre, is_post = t in pre_set, t in post_set
        # update with traces at t - eps
        if is_pre:
            w -= o1 * (p.A2_minus + p.A3_minus * r2)
        if is_post:
            w += r1 * (p.A2_plus + p.A3_plus * o2)
        # the spike's own traces
        if is_pre:
            r1, r2 = (1.0, 1.0) if nearest else (r1 + 1, r2 + 1)
        if is_post:
            o1, o2 = (1.0, 1.0) if nearest else (o1 + 1, o2 + 1)
    return w


def bench_protocols(n_synapses: int = 10_000, rate: float = 10.0, duration: float = 10.0,
                    loop_synapses: int = 50, repeats: int = 3,
                    params: str = "visual_all_to_all_full") -> dict:
    """Synapse-updates/s of the engine (triplet STDP, Poisson pre and post at ``rate``) and of
    the per-event Python loop on ``loop_synapses`` of the same synapses; their ratio."""
    rule = event_rule("triplet", params=params)
    gen = torch.Generator().manual_seed(0)
    trains = poisson(torch.tensor([rate]), torch.tensor([rate]), duration, n_synapses, gen)
    events = merge(trains)
    n_updates = int(events.valid.sum())
    t_merge = median_seconds(lambda: merge(trains), repeats)
    t_engine = median_seconds(lambda: run(rule, events), repeats)
    t_engine32 = median_seconds(lambda: run(rule, events, dtype=torch.float32), repeats)
    w = run(rule, events)                                            # (1, n_synapses)
    # the reference loop on a subset of the same synapses
    lists = [([t for t in trains.pre[0, i].tolist() if t < math.inf],
              [t for t in trains.post[0, i].tolist() if t < math.inf])
             for i in range(loop_synapses)]
    loop_updates = sum(len(set(a) | set(b)) for a, b in lists)
    t_loop = median_seconds(lambda: [triplet_loop(a, b, rule.params) for a, b in lists],
                            repeats, warmup=0)
    w_loop = torch.tensor([triplet_loop(a, b, rule.params) for a, b in lists],
                          dtype=torch.float64)
    engine_rate, loop_rate = n_updates / t_engine, loop_updates / t_loop
    return {"benchmark": "protocols", "rule": f"triplet ({params})", "input": (
                f"independent Poisson pre and post trains at {rate:g} Hz for {duration:g} s"),
            "n_synapses": n_synapses, "events": events.n_events, "synapse_updates": n_updates,
            "repeats": repeats, "timer": "time.perf_counter, median",
            "dtype": "float64 (engine and loop); float32 also reported for the engine",
            "engine_synapse_updates_per_s": engine_rate,
            "engine_with_merge_synapse_updates_per_s": n_updates / (t_engine + t_merge),
            "engine_float32_synapse_updates_per_s": n_updates / t_engine32,
            "reference": (f"per-event Python loop (math.exp) on {loop_synapses} of the synapses; "
                          "its updates/s is per synapse, independent of n_synapses"),
            "reference_synapse_updates_per_s": loop_rate,
            "ratio_to_reference": engine_rate / loop_rate,
            "max_abs_weight_difference_on_subset": float(
                (w[0, :loop_synapses] - w_loop).abs().max()),
            "machine": machine()}
