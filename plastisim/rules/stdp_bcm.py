r"""BCM in spiking trace form: post-spike-triggered Hebbian update with a sliding threshold.

Bienenstock, Cooper & Munro (1982, J. Neurosci. 2:32) write dw/dt = η' · x · y · (y − θ) with
a threshold θ that slides with the mean post-synaptic activity. In trace form (cf. Izhikevich &
Desai 2003, Neural Comput. 15:1511; Pfister & Gerstner 2006 for the triplet route to BCM) each
synapse keeps a pre trace x̄ (tau_x), a post trace ȳ (tau_y) and a slow post trace ȳ_θ
(tau_theta), all additive; at every post-synaptic spike, with traces read at t − ε,

    Δw = η · x̄ · (ȳ / tau_y − θ),     θ = (ȳ_θ / tau_theta)² / y0

ȳ/tau_y and ȳ_θ/tau_theta estimate the post rate (Hz) over short and long windows, so
θ = <ν_y>²/y0 is the BCM threshold in its <y>²/y0 form (Intrator & Cooper 1992 use <y²>/y0).
For independent Poisson trains (rates ν_x, ν_y) the mean drift is
η · tau_x · ν_x · ν_y · (ν_y − θ): potentiation above the threshold, depression below it.
Nothing happens at pre spikes except the trace increment.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from ..traces import trace_increment
from ..validate import check_fields, checked, positive
from .registry import RuleInfo, register
from .stdp_events import EventRule, Spikes, TraceSpec


@dataclass(frozen=True)
class BCMParams:
    """Parameters of spiking BCM (module docstring); taus in s, y0 in Hz, eta in s per spike."""

    eta: float = checked(1e-4, positive)
    tau_x: float = checked(16.8e-3, positive)
    tau_y: float = checked(33.7e-3, positive)
    tau_theta: float = checked(10.0, positive)
    y0: float = checked(10.0, positive)

    def __post_init__(self) -> None:
        check_fields(self, "rule.")


def bcm_update(state: dict[str, Tensor], inputs: Spikes,
               params: BCMParams) -> tuple[Tensor, dict[str, Tensor]]:
    """Δw of one event and the traces after it (module docstring); arguments are not mutated."""
    x, y, y_slow = state["x"], state["y"], state["y_theta"]      # (batch, synapses, 1)
    # sliding threshold from the slow post rate (Hz)
    theta = (y_slow / params.tau_theta) ** 2 / params.y0
    # Hebbian term at post spikes: pre trace x (fast post rate - threshold)
    dw = params.eta * inputs.post * x * (y / params.tau_y - theta)
    # the spike's own traces
    return dw, {"x": trace_increment(x, inputs.pre), "y": trace_increment(y, inputs.post),
                "y_theta": trace_increment(y_slow, inputs.post)}


def make_bcm(params: BCMParams) -> EventRule:
    """Build the event rule (registered as ``bcm``) from checked ``params``."""
    traces = {"x": TraceSpec("pre", params.tau_x), "y": TraceSpec("post", params.tau_y),
              "y_theta": TraceSpec("post", params.tau_theta)}
    return EventRule("bcm", params, traces, bcm_update)


register(RuleInfo(
    name="bcm", family="stdp", local=True, modifies="w of each synapse, at post spikes",
    pre="pre trace x (tau_x)", post="post rate y/tau_y minus sliding threshold theta",
    modulator="none", third_factor="none",
    reference="Bienenstock, Cooper & Munro 1982; Izhikevich & Desai 2003",
    records=("x", "y", "y_theta")), BCMParams, make_bcm)
