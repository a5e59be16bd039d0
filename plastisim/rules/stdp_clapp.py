r"""Spiking (trace) form of the CLAPP-like three-factor rule of the RHM.

The rate rule (CLAPP: Illing, Ventura, Bellec & Gerstner 2021, NeurIPS; the ``contrastive``
family on the RHM) changes the synapse j -> i of a layer by

    Δw_ij = η · γ · d_i · f'(a_i) · x_j

pre-synaptic rate x_j, post-synaptic gate f'(a_i), dendritic prediction d_i (the predictor's
input to neuron i) and a global modulator γ: +1 for a positive pair with the hinge active, −1
for a negative pair with the hinge active, 0 when the hinge is inactive.

Spiking form (this module): x_j becomes the pre trace x̄_j (additive, tau_pre), the gate f'(a_i)
becomes the post-synaptic spike (the neuron is "on" exactly when it fires), d and γ stay
(``dendrite``, ``gamma``; or a per-stream modulator tensor from the protocol). At every post
spike, with x̄ read at t − ε:

    Δw_ij = η · γ · d_i · x̄_j(t − ε)                                   (gate = "causal")

and, with gate = "symmetric", also at every pre spike Δw_ij = η · γ · d_i · ȳ_i(t − ε) with a
post trace ȳ (tau_post). The STDP window this implies for one pairing at Δt = t_post − t_pre:

    causal:     W(Δt) = η γ d · exp(−Δt/tau_pre)  for Δt > 0,  0 for Δt <= 0
    symmetric:  adds η γ d · exp(Δt/tau_post)  for Δt < 0

so γ = +1 gives Hebbian LTP, γ = −1 anti-Hebbian LTD of the same shape, γ = 0 no change. For
independent Poisson trains the mean drift is η γ d τ_pre ν_pre ν_post (causal): the rate rule
with x_j <-> τ_pre ν_pre (the mean pre trace) and f'(a_i) <-> ν_post (gate openings per second),
i.e. η_rate = η per second of activity.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError
from ..traces import trace_increment
from ..validate import (Check, check_fields, checked, finite, is_integer, nonnegative, one_of,
                        positive)
from .registry import RuleInfo, register
from .stdp_events import EventRule, Spikes, TraceSpec, eligibility

GAMMAS = (1, -1, 0)
GATES = ("causal", "symmetric")
GAMMA = Check("+1, -1 or 0", lambda x: x in GAMMAS, is_integer)


@dataclass(frozen=True)
class ClappSpikingParams:
    """Parameters of the spiking CLAPP-like rule (module docstring); taus in seconds."""

    eta: float = checked(0.01, nonnegative)
    gamma: int = checked(1, GAMMA)  # modulator state: +1, -1 (hinge active), 0 (hinge inactive)
    dendrite: float = checked(1.0, finite)         # dendritic prediction d_i
    tau_pre: float = checked(20e-3, positive)
    tau_post: float = checked(20e-3, positive)
    gate: str = checked("causal", one_of(*GATES))  # causal | symmetric

    def __post_init__(self) -> None:
        check_fields(self, "rule.")


def clapp_update(state: dict[str, Tensor], inputs: Spikes,
                 params: ClappSpikingParams) -> tuple[Tensor, dict[str, Tensor]]:
    """Δw of one event and the traces after it (module docstring); arguments are not mutated."""
    x, y = state["x_pre"], state["y_post"]               # (batch, synapses, 1)
    e = eligibility(state, inputs, params.gate)
    # modulate: global state gamma (or per stream) times the dendritic prediction
    m = params.gamma if inputs.modulator is None else inputs.modulator
    dw = params.eta * params.dendrite * m * e
    # the spike's own traces
    return dw, {"x_pre": trace_increment(x, inputs.pre), "y_post": trace_increment(y, inputs.post)}


def check_modulator(modulator: Tensor) -> Tensor:
    """The per-stream modulator, if every value is +1, -1 or 0; else a one-line ConfigError."""
    allowed = torch.tensor(GAMMAS, dtype=modulator.dtype, device=modulator.device)
    if not torch.isin(modulator, allowed).all():
        bad = modulator[~torch.isin(modulator, allowed)].flatten()[0].item()
        raise ConfigError(f"modulator={bad!r} is impossible for rule 'clapp_spiking': need "
                          "gamma in +1, -1, 0")
    return modulator


def make_clapp_spiking(params: ClappSpikingParams) -> EventRule:
    """Build the event rule (registered as ``clapp_spiking``) from checked ``params``."""
    traces = {"x_pre": TraceSpec("pre", params.tau_pre),
              "y_post": TraceSpec("post", params.tau_post)}
    return EventRule("clapp_spiking", params, traces, clapp_update,
                     check_modulator=check_modulator)


register(RuleInfo(
    name="clapp_spiking", family="stdp", local=True,
    modifies="w of each synapse, at post (and, symmetric, pre) spikes",
    pre="pre trace x (tau_pre)", post="post spike (gate f'(a))",
    modulator="gamma in {+1, -1, 0} times dendritic prediction d", third_factor="global scalar",
    reference="Illing, Ventura, Bellec & Gerstner 2021 (CLAPP), spiking trace form",
    records=("x_pre", "y_post")), ClappSpikingParams, make_clapp_spiking)
