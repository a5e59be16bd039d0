r"""Triplet STDP (Pfister & Gerstner 2006, J. Neurosci. 26:9673).

Two pre-synaptic traces r1 (tau_plus), r2 (tau_x) and two post-synaptic traces o1 (tau_minus),
o2 (tau_y). Every update reads the traces at t − ε, i.e. before the current spike's own
increment, so a spike never pairs with itself:

    pre spike:    Δw = − o1(t − ε) · (A2_minus + A3_minus · r2(t − ε))
    post spike:   Δw = + r1(t − ε) · (A2_plus  + A3_plus  · o2(t − ε))

then the spike's own traces are incremented: all-to-all interaction r, o <- r, o + 1;
nearest-spike interaction r, o <- 1 (``traces.py``). Updates are additive and not weight
dependent; amplitudes are per-spike weight changes in units of the initial weight w0, so the
relative change after a protocol is the sum of the updates when the protocol starts at w = 1.

Parameters come from a named set of Table 4 of the paper (``params``; the sets are
``plastisim.data.load("triplet_params")``); any number given explicitly overrides the set's.
Minimal sets have no pre-synaptic triplet term (A3_minus = 0, no tau_x): tau_x = 0 there.

BCM limit (paper, eq. 6): for independent Poisson trains at rates rho_x, rho_y, the all-to-all
minimal model drifts at  <dw/dt> = rho_x rho_y (A3_plus tau_plus tau_y rho_y − A2_minus tau_minus).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from torch import Tensor

from ..data import TRIPLET_NUMBERS, triplet_parameter_sets
from ..errors import unknown
from ..traces import trace_increment
from ..validate import check_fields, checked, nonnegative, one_of, optional, text
from .registry import RuleInfo, register
from .stdp_events import (INTERACTIONS, EventRule, Spikes, TraceSpec, check_nonnegative,
                          interaction_kind)


@dataclass(frozen=True)
class TripletParams:
    """A named parameter set, with optional overrides (None: the set's value; taus in s)."""

    params: str = checked("visual_nearest_full", text)   # a name of parameter_sets()
    tau_plus: float | None = checked(None, optional(nonnegative))
    tau_minus: float | None = checked(None, optional(nonnegative))
    tau_x: float | None = checked(None, optional(nonnegative))
    tau_y: float | None = checked(None, optional(nonnegative))
    A2_plus: float | None = checked(None, optional(nonnegative))
    A3_plus: float | None = checked(None, optional(nonnegative))
    A2_minus: float | None = checked(None, optional(nonnegative))
    A3_minus: float | None = checked(None, optional(nonnegative))
    interaction: str | None = checked(None, optional(one_of(*INTERACTIONS)))  # or nearest_spike

    def __post_init__(self) -> None:
        check_fields(self, "rule.")


def parameter_sets() -> list[str]:
    """The names ``TripletParams.params`` accepts."""
    return list(triplet_parameter_sets())


def resolve(params: TripletParams) -> TripletParams:
    """Every field filled from the named set (overrides kept) and checked."""
    sets = triplet_parameter_sets()
    if params.params not in sets:
        raise unknown("triplet parameter set", params.params, sets)
    base = sets[params.params]
    filled = {k: base[k] if getattr(params, k) is None else getattr(params, k)
              for k in (*TRIPLET_NUMBERS, "interaction")}
    if math.isnan(filled["tau_x"]):      # minimal model: no pre-synaptic triplet term
        filled["tau_x"] = 0.0
    for k in TRIPLET_NUMBERS:
        filled[k] = check_nonnegative(f"rule.{k}", filled[k])
    interaction_kind(filled["interaction"])
    return dataclasses.replace(params, **filled)


def triplet_update(state: dict[str, Tensor], inputs: Spikes,
                   params: TripletParams) -> tuple[Tensor, dict[str, Tensor]]:
    """Δw of one event and the traces after it (module docstring); arguments are not mutated.

    ``params`` must be resolved (``resolve``)."""
    r1, r2, o1, o2 = state["r1"], state["r2"], state["o1"], state["o2"]   # (batch, syn, 1)
    # depression at pre spikes, potentiation at post spikes (traces at t - eps)
    ltd = inputs.pre * o1 * (params.A2_minus + params.A3_minus * r2)
    ltp = inputs.post * r1 * (params.A2_plus + params.A3_plus * o2)
    # the spike's own traces
    kind = interaction_kind(params.interaction)
    new = {"r1": trace_increment(r1, inputs.pre, kind),
           "r2": trace_increment(r2, inputs.pre, kind),
           "o1": trace_increment(o1, inputs.post, kind),
           "o2": trace_increment(o2, inputs.post, kind)}
    return ltp - ltd, new


def make_triplet(params: TripletParams) -> EventRule:
    """Resolve ``params`` and build the event rule (registered as ``triplet``)."""
    p = resolve(params)
    kind = interaction_kind(p.interaction)
    traces = {"r1": TraceSpec("pre", p.tau_plus, kind), "r2": TraceSpec("pre", p.tau_x, kind),
              "o1": TraceSpec("post", p.tau_minus, kind), "o2": TraceSpec("post", p.tau_y, kind)}
    return EventRule("triplet", p, traces, triplet_update)


register(RuleInfo(
    name="triplet", family="stdp", local=True, modifies="w of each synapse, at every spike",
    pre="pre traces r1 (tau_plus), r2 (tau_x)", post="post traces o1 (tau_minus), o2 (tau_y)",
    modulator="none", third_factor="none", reference="Pfister & Gerstner 2006",
    records=("r1", "r2", "o1", "o2")), TripletParams, make_triplet)
