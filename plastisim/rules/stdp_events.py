r"""What an event-driven (spike-timing) rule of the ``stdp`` family is, and its helpers.

The rate rules of the RHM (``base.py``) see one batch of rates per step. Cortical protocols are
sequences of spikes instead, so an ``EventRule`` is called once per spike *event* by
``plastisim.protocols`` with

    state   the rule's traces read at t − ε: decayed to the event time, before the event's own
            increment (``traces.trace_decay``), a dict name -> tensor (batch, synapses, 1)
    inputs  ``Spikes``: which streams have a pre / post spike at this event, the weights, an
            optional per-stream modulator

and its pure ``update(state, inputs, params) -> (dw, new_state)`` returns the weight change and
the traces after the spike's own increment (``traces.trace_increment``: all-to-all adds 1,
nearest-spike sets 1). Trace decay between events is done by the ``Trace`` objects the engine
builds from ``EventRule.traces``. Time constants are in seconds.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from torch import Tensor

from ..errors import ConfigError, impossible
from ..traces import TraceKind, trace_increment

Side = Literal["pre", "post"]
INTERACTIONS: dict[str, TraceKind] = {"all_to_all": "additive", "nearest_spike": "nearest"}


@dataclass(frozen=True)
class TraceSpec:
    """A trace a rule needs: on which side it counts spikes, its tau (s) and its kind."""

    side: Side
    tau: float
    kind: TraceKind = "additive"


@dataclass(frozen=True)
class Spikes:
    """The inputs of one event; every tensor is (batch, synapses, 1) and broadcasts."""

    pre: Tensor                  # 1.0 where the pre-synaptic neuron spikes at this event
    post: Tensor                 # 1.0 where the post-synaptic neuron spikes at this event
    w: Tensor                    # weights just before the event
    modulator: Tensor | None = None   # third factor per stream (None: the rule's own)


Update = Callable[[dict[str, Tensor], Spikes, Any], tuple[Tensor, dict[str, Tensor]]]


@dataclass(frozen=True)
class EventRule:
    """A registered spike-timing rule: its resolved params, traces, update and weight bounds."""

    name: str
    params: Any
    traces: dict[str, TraceSpec]
    update: Update
    w_min: float = -math.inf
    w_max: float = math.inf
    check_modulator: Callable[[Tensor], Tensor] | None = None   # None: any finite modulator

    def __call__(self, state: dict[str, Tensor], inputs: Spikes) -> tuple[Tensor, dict]:
        return self.update(state, inputs, self.params)


def eligibility(state: dict[str, Tensor], inputs: Spikes, gate: str) -> Tensor:
    """The pre trace at post spikes ("causal"), plus the post trace at pre spikes
    ("symmetric"): the eligibility of the trace forms of a three-factor rule, read at t − ε
    from the traces ``x_pre`` and ``y_post``."""
    e = inputs.post * state["x_pre"]
    if gate == "symmetric":
        e = e + inputs.pre * state["y_post"]
    return e


def increment(state: dict[str, Tensor], inputs: Spikes,
              specs: dict[str, TraceSpec]) -> dict[str, Tensor]:
    """The traces after the event's own spikes (a new dict; ``state`` is not modified)."""
    return {name: trace_increment(state[name], getattr(inputs, spec.side), spec.kind)
            for name, spec in specs.items()}


def interaction_kind(interaction: str) -> TraceKind:
    """The trace kind of a spike interaction (``all_to_all`` or ``nearest_spike``)."""
    if interaction not in INTERACTIONS:
        raise ConfigError(f"interaction '{interaction}' is unknown; available: "
                          f"{', '.join(INTERACTIONS)}")
    return INTERACTIONS[interaction]


def check_nonnegative(field: str, value: Any) -> float:
    """``value`` as a float if it is a finite number >= 0; else a one-line ConfigError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise impossible(field, value, "need a number >= 0") from None
    if isinstance(value, bool) or not 0 <= number < math.inf:
        raise impossible(field, value, "need a finite number >= 0")
    return number
