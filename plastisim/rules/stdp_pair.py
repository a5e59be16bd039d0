r"""Pair-based STDP, additive or multiplicative (weight-dependent).

Each synapse keeps a pre-synaptic trace r1 (time constant tau_plus) and a post-synaptic trace o1
(tau_minus), both incremented by the spikes of their side (all-to-all: +1; nearest-spike: set
to 1; ``traces.py``). With r1, o1 read at t − ε (before the current spike's own increment):

    post spike:   Δw = + A_plus  · f₊(w) · r1(t − ε)
    pre spike:    Δw = − A_minus · f₋(w) · o1(t − ε)

so one pre spike at t_pre and one post spike at t_post = t_pre + Δt give the window
W(Δt) = A_plus · exp(−Δt/tau_plus) for Δt > 0 and −A_minus · exp(Δt/tau_minus) for Δt < 0
(Bi & Poo 1998; Song, Miller & Abbott 2000, Nat. Neurosci. 3:919). Simultaneous spikes read
only earlier spikes' traces (W(0) = 0 for a single pairing).

Weight dependence (``mode``): ``additive`` f₊ = f₋ = 1 (no bounds); ``multiplicative``
f₊ = (w_max − w)^mu, f₋ = w^mu with w kept in [0, w_max] (van Rossum, Bi & Turrigiano 2000,
J. Neurosci. 20:8812; Gütig et al. 2003, J. Neurosci. 23:3697; mu = 1 is the van Rossum form).

Defaults: tau_plus, tau_minus are Bi & Poo's fits (``plastisim.data.load("bipoo1998")``); the
amplitudes (A_minus / A_plus = 1.05, Song et al. 2000) are illustrative, not fitted data.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..data import bipoo1998_window
from ..traces import trace_increment
from ..validate import check_fields, checked, nonnegative, one_of
from .registry import RuleInfo, register
from .stdp_events import INTERACTIONS, EventRule, Spikes, TraceSpec, interaction_kind

_BIPOO = bipoo1998_window()
MODES = ("additive", "multiplicative")


@dataclass(frozen=True)
class PairParams:
    """Parameters of pair STDP (module docstring); taus in seconds, amplitudes per spike pair."""

    A_plus: float = checked(0.01, nonnegative)
    A_minus: float = checked(0.0105, nonnegative)
    tau_plus: float = checked(_BIPOO["tau_plus"], nonnegative)
    tau_minus: float = checked(_BIPOO["tau_minus"], nonnegative)
    interaction: str = checked("all_to_all", one_of(*INTERACTIONS))  # all_to_all | nearest_spike
    mode: str = checked("additive", one_of(*MODES))    # additive | multiplicative
    mu: float = checked(1.0, nonnegative)    # exponent of the weight dependence (multiplicative)
    w_max: float = checked(2.0, nonnegative)  # upper bound (multiplicative), in units of w at start

    def __post_init__(self) -> None:
        check_fields(self, "rule.")


def pair_update(state: dict[str, Tensor], inputs: Spikes,
                params: PairParams) -> tuple[Tensor, dict[str, Tensor]]:
    """Δw of one event and the traces after it (module docstring); arguments are not mutated."""
    r1, o1, w = state["r1"], state["o1"], inputs.w        # (batch, synapses, 1)
    # weight dependence
    if params.mode == "multiplicative":
        f_plus = (params.w_max - w).clamp(min=0) ** params.mu
        f_minus = w.clamp(min=0) ** params.mu
    else:
        f_plus = f_minus = torch.ones_like(w)
    # potentiation at post spikes, depression at pre spikes (traces at t - eps)
    dw = (inputs.post * params.A_plus * f_plus * r1
          - inputs.pre * params.A_minus * f_minus * o1)
    # the spike's own traces
    kind = interaction_kind(params.interaction)
    return dw, {"r1": trace_increment(r1, inputs.pre, kind),
                "o1": trace_increment(o1, inputs.post, kind)}


def make_pair(params: PairParams) -> EventRule:
    """Build the event rule (registered as ``pair``) from checked ``params``."""
    kind = interaction_kind(params.interaction)
    bounds = (0.0, params.w_max) if params.mode == "multiplicative" else (-float("inf"),
                                                                         float("inf"))
    traces = {"r1": TraceSpec("pre", params.tau_plus, kind),
              "o1": TraceSpec("post", params.tau_minus, kind)}
    return EventRule("pair", params, traces, pair_update, *bounds)


register(RuleInfo(
    name="pair", family="stdp", local=True, modifies="w of each synapse, at every spike",
    pre="pre trace r1 (tau_plus)", post="post trace o1 (tau_minus)", modulator="none",
    third_factor="none",
    reference="Bi & Poo 1998; Song, Miller & Abbott 2000; van Rossum et al. 2000",
    records=("r1", "o1")), PairParams, make_pair)
