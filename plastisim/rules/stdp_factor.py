r"""Spiking (trace) forms of the trained rate rules: any three-factor rule, and Hebbian LPL.

Every rate rule that learns the RHM changes the synapse k -> i of a layer by a three-factor
product (``registry.py``; the recorded factors of ``Monitor(factors="all")``)

    Δw_ik = η · M_i · f'(a_i) · x_k

modulator M_i (bp: the backpropagated error; DFA: D e; CLAPP: γ × the dendritic prediction; the
layerwise rules: −∂l/∂z_i), post-synaptic gate f'(a_i) and pre-synaptic rate x_k.

``three_factor_spiking``: x_k becomes the pre trace x̄ (additive, tau_pre), the gate f'(a_i)
becomes the post-synaptic spike, M stays: a number m, the rule's ``modulator`` or the engine's
per-stream / per-synapse ``modulator`` tensor (any finite value). At every post spike, with the
traces read at t − ε,

    Δw = η · m · x̄(t − ε)                                              (gate = "causal")

and, with gate = "symmetric", also at every pre spike Δw = η · m · ȳ(t − ε), ȳ the post trace
(tau_post). The STDP window this implies for one pairing at Δt = t_post − t_pre:

    causal:     W(Δt) = η m · exp(−Δt/tau_pre)  for Δt > 0,  0 for Δt <= 0
    symmetric:  adds η m · exp(Δt/tau_post)  for Δt < 0

so the sign and size of the window are those of m; the window's shape is the rule's, the
same for every rate rule. For independent Poisson trains the mean drift is η m τ_pre ν_pre ν_post
(causal), the rate rule with x <-> τ_pre ν_pre and f'(a) <-> ν_post. ``clapp_spiking`` is this
rule with m = γ d restricted to γ in {+1, −1, 0}.

``lpl_spiking``: the Hebbian and predictive parts of latent predictive learning (Halvagal &
Zenke 2023, Nat. Neurosci. 26:1906; Methods Eq. 18 with the authors' erratum) reduced to traces.
The paper's rule is

    dw_ik/dt = η α * (ε * S_k · f'(U_i)) · [α * ( −(S_i(t) − S_i(t − Δt))
                                                  + λ/(σ_i² + ξ) · (S_i(t) − S̄_i(t)) + δ )]

with spike trains S, a surrogate derivative f'(U_i) of the membrane potential, PSP and α
kernels ε, α, the running mean rate S̄_i and variance σ_i² of neuron i. Here, at every post
spike, with the traces read at t − ε:

    Δw = η · x̄(t − ε) · [ m + λ · (ȳ(t − ε)/tau_post − ν̄) / (σ² + ξ) ]

where m stands for the predictive term (a number: the rule's ``modulator`` or the engine's
tensor, e.g. drawn from a trained network's recorded modulators), ȳ/tau_post (Hz) is the post
rate estimated by the post trace, ν̄ (``mean_rate``, Hz) and σ² (``rate_var``, Hz²) are the
neuron's running mean rate and variance, held fixed during a protocol (they are set from the
trained network's recorded rates). Simplified relative to the paper: no membrane potential, so
no surrogate derivative f'(U): the gate is the post spike; the PSP kernel ε is the exponential
pre trace and the α kernels are dropped; the predictive term −(S_i(t) − S_i(t − Δt)) is not
computed from the spikes but is the number m; the Hebbian term uses the post trace as the rate
instead of the spike train; no transmitter-triggered term δ, no RMSprop scaling, no decorrelation
term, no weight bounds. The Hebbian term grows with the post rate: for a pairing protocol at
frequency f (one post spike per pairing) ȳ/tau_post = 1/(tau_post (exp(1/(f tau_post)) − 1)),
about f for f · tau_post >> 1 and about 0 for f · tau_post << 1, so it turns from
depression (ȳ < ν̄) at low frequency to potentiation at high frequency.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError
from ..traces import trace_increment
from ..validate import check_fields, checked, finite, nonnegative, one_of, positive
from .registry import RuleInfo, register
from .stdp_events import EventRule, Spikes, TraceSpec, eligibility

GATES = ("causal", "symmetric")


@dataclass(frozen=True)
class FactorSpikingParams:
    """Parameters of ``three_factor_spiking`` (module docstring); taus in seconds."""

    eta: float = checked(0.01, nonnegative)
    modulator: float = checked(1.0, finite)       # m, when the engine gives no tensor
    tau_pre: float = checked(20e-3, positive)
    tau_post: float = checked(20e-3, positive)
    gate: str = checked("causal", one_of(*GATES))  # causal | symmetric

    def __post_init__(self) -> None:
        check_fields(self, "rule.")


@dataclass(frozen=True)
class LPLSpikingParams:
    """Parameters of ``lpl_spiking`` (module docstring); taus in s, rates in Hz."""

    eta: float = checked(0.01, nonnegative)
    modulator: float = checked(0.0, finite)       # m (predictive term), when no tensor
    lambda_hebb: float = checked(1.0, nonnegative)
    mean_rate: float = checked(5.0, nonnegative)  # ν̄ (Hz)
    rate_var: float = checked(25.0, nonnegative)  # σ² (Hz²)
    xi: float = checked(1e-3, positive)           # ξ (Hz²)
    tau_pre: float = checked(20e-3, positive)
    tau_post: float = checked(100e-3, positive)

    def __post_init__(self) -> None:
        check_fields(self, "rule.")


def _modulator(inputs: Spikes, default: float) -> Tensor | float:
    return default if inputs.modulator is None else inputs.modulator


def factor_update(state: dict[str, Tensor], inputs: Spikes,
                  params: FactorSpikingParams) -> tuple[Tensor, dict[str, Tensor]]:
    """Δw of one event and the traces after it (module docstring); arguments are not mutated."""
    x, y = state["x_pre"], state["y_post"]               # (batch, synapses, 1)
    dw = params.eta * _modulator(inputs, params.modulator) * eligibility(state, inputs,
                                                                         params.gate)
    return dw, {"x_pre": trace_increment(x, inputs.pre), "y_post": trace_increment(y, inputs.post)}


def lpl_update(state: dict[str, Tensor], inputs: Spikes,
               params: LPLSpikingParams) -> tuple[Tensor, dict[str, Tensor]]:
    """Δw of one event and the traces after it (module docstring); arguments are not mutated."""
    x, y = state["x_pre"], state["y_post"]               # (batch, synapses, 1)
    # Hebbian term: post rate (Hz, from the trace) against the running mean, over the variance
    hebb = params.lambda_hebb * (y / params.tau_post - params.mean_rate) / (
        params.rate_var + params.xi)
    dw = params.eta * inputs.post * x * (_modulator(inputs, params.modulator) + hebb)
    return dw, {"x_pre": trace_increment(x, inputs.pre), "y_post": trace_increment(y, inputs.post)}


def check_finite(modulator: Tensor) -> Tensor:
    """The per-stream modulator, if every value is finite; else a one-line ConfigError."""
    bad = ~torch.isfinite(modulator)
    if bad.any():
        raise ConfigError(f"modulator={modulator[bad].flatten()[0].item()!r} is impossible: "
                          "need finite values")
    return modulator


def _traces(params: FactorSpikingParams | LPLSpikingParams) -> dict[str, TraceSpec]:
    return {"x_pre": TraceSpec("pre", params.tau_pre),
            "y_post": TraceSpec("post", params.tau_post)}


def make_factor_spiking(params: FactorSpikingParams) -> EventRule:
    """Build the event rule (registered as ``three_factor_spiking``) from checked ``params``."""
    return EventRule("three_factor_spiking", params, _traces(params), factor_update,
                     check_modulator=check_finite)


def make_lpl_spiking(params: LPLSpikingParams) -> EventRule:
    """Build the event rule (registered as ``lpl_spiking``) from checked ``params``."""
    return EventRule("lpl_spiking", params, _traces(params), lpl_update,
                     check_modulator=check_finite)


register(RuleInfo(
    name="three_factor_spiking", family="stdp", local=True,
    modifies="w of each synapse, at post (and, symmetric, pre) spikes",
    pre="pre trace x (tau_pre)", post="post spike (gate f'(a))",
    modulator="m: any rate rule's M (e.g. drawn from a trained network's recorded factors)",
    third_factor="per-neuron",
    reference="spiking trace form of Δw = η M f'(a) x (this package)",
    records=("x_pre", "y_post")), FactorSpikingParams, make_factor_spiking)

register(RuleInfo(
    name="lpl_spiking", family="stdp", local=True, modifies="w of each synapse, at post spikes",
    pre="pre trace x (tau_pre)",
    post="post spike (gate) times m + λ (post rate − mean)/(variance + ξ)",
    modulator="m: predictive term (number); Hebbian term from the post trace",
    third_factor="per-neuron",
    reference="Halvagal & Zenke 2023 (LPL), spiking form reduced to traces",
    records=("x_pre", "y_post")), LPLSpikingParams, make_lpl_spiking)
