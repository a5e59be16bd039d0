r"""The event-driven protocol engine: every stream advanced in lock-step over the event index.

One step per event index e, for all streams (batch = conditions, channels = synapses) at once:

    input       the pre / post groups are clamped to this event's spikes (0/1)
    traces      every trace decays exactly over the stream's own interval dt_e:
                x̄ <- x̄ · exp(−dt_e/tau)   (``Trace.decay`` with a tensor dt; x̄(t − ε))
    plasticity  dw, traces' = rule.update(x̄(t − ε), spikes, params)   (the rule increments)
    bound       w <- clip(w + dw, w_min, w_max); updates before ``plastic_from`` are dropped

``STAGES`` names that order. Traces live on two ``NeuronGroup`` objects ("pre", "post"; one
channel per synapse), as the rules declare them. Weights are kept per stream, (batch,
synapses): each condition is its own experiment, so there is no batch reduction here (unlike
``Synapses``, whose weights are shared by the streams of a batch).

Threads: the per-event tensors are small (one value per stream), so torch's intra-op threads
cost more than they give; ``run`` uses ``threads=1`` during the loop by default and restores
the previous setting (on a loaded 2-core machine one parallel ``exp`` of 6,000 values took
~8 ms with 2 threads against ~13 µs with 1). Parallelism comes from the batch of streams.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from ..errors import ConfigError, unknown
from ..neurons import NeuronGroup
from ..rules import get as get_rule
from ..rules import names as rule_names
from ..rules.stdp_events import EventRule, Spikes
from ..traces import Trace
from .trains import Events

STAGES: tuple[str, ...] = ("input", "traces", "plasticity", "bound")


def event_rule(name: str, **params) -> EventRule:
    """The registered ``stdp``-family rule ``name`` built with ``params``."""
    if name not in rule_names("stdp"):
        raise unknown("stdp rule", name, rule_names("stdp"))
    return get_rule(name, **params)


def _groups(rule: EventRule, like: Tensor) -> tuple[NeuronGroup, NeuronGroup, dict[str, Trace]]:
    """The pre / post groups with the rule's traces, zeroed with the shape of ``like``."""
    n = like.shape[1]
    groups = {"pre": NeuronGroup("pre", n, activation="linear"),
              "post": NeuronGroup("post", n, activation="linear")}
    traces = {}
    for name, spec in rule.traces.items():
        trace = Trace(spec.tau, spec.kind)
        trace.reset(like)
        groups[spec.side].traces[name] = traces[name] = trace
    return groups["pre"], groups["post"], traces


@contextmanager
def intra_op_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)`` (None: unchanged), then restore."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run(rule: EventRule, events: Events, *, w_init: float = 1.0,
        modulator: Tensor | None = None, plastic_from: float = 0.0,
        on_step: Callable[[int, int], None] | None = None,
        dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
        threads: int | None = 1) -> Tensor:
    """Drive ``rule`` through ``events``; returns the final weights (batch, synapses).

    ``w_init`` is the weight at the start (1.0: weights in units of w0). ``modulator``
    (broadcast to (batch, synapses)) is the rule's per-stream third factor, if any.
    ``on_step(e, E)`` is called after every event (progress bars). ``threads``: torch
    intra-op threads during the loop (module docstring; None leaves torch's setting)."""
    with intra_op_threads(threads):
        return _run(rule, events, w_init, modulator, plastic_from, on_step, dtype, device)


def _run(rule: EventRule, events: Events, w_init: float, modulator: Tensor | None,
         plastic_from: float, on_step: Callable[[int, int], None] | None,
         dtype: torch.dtype, device: torch.device | str | None) -> Tensor:
    if not isinstance(rule, EventRule):
        raise ConfigError(f"rule {getattr(rule, 'name', rule)!r} is not a spike-timing rule: "
                          f"protocols need one of {', '.join(rule_names('stdp'))}")
    b, n = events.streams
    ev = [x.to(device=device, dtype=dtype) for x in (events.dt, events.pre, events.post)]
    plastic = None
    if plastic_from > 0:                                   # event times start at t = 0
        plastic = (events.t >= plastic_from).to(device=device, dtype=dtype)   # (E, B, N, 1)
    like = torch.zeros(b, n, 1, dtype=dtype, device=device)
    pre, post, traces = _groups(rule, like)
    w = torch.full_like(like, float(w_init))                               # (B, N, 1)
    if modulator is not None:
        modulator = torch.as_tensor(modulator, dtype=dtype, device=device)
        modulator = modulator.broadcast_to((b, n)).unsqueeze(-1)
        if rule.check_modulator is not None:
            rule.check_modulator(modulator)
    bounded = rule.w_min > -float("inf") or rule.w_max < float("inf")
    for e in range(events.n_events):
        # input
        pre.clamp(ev[1][e])
        post.clamp(ev[2][e])
        # traces: decay to t - eps
        state = {name: trace.decay(ev[0][e]) for name, trace in traces.items()}
        # plasticity (the rule also returns the traces after the spike's own increment)
        dw, state = rule(state, Spikes(pre.rate, post.rate, w, modulator))
        for name, trace in traces.items():
            trace.value = state[name]
        # bound
        w = w + (dw if plastic is None else dw * plastic[e])
        if bounded:
            w = w.clamp(rule.w_min, rule.w_max)
        if on_step is not None:
            on_step(e + 1, events.n_events)
    return w.squeeze(-1)
