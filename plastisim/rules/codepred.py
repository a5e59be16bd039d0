r"""Predicting the sibling's input code, the prediction passed up: ``codepred`` (non-contrastive).

On a network built with ``network.predictions = true`` (network.hierarchy) every hidden ReLU
layer h_l = f(c_l W_l u_l) is followed by a linear group q_l = c_p W_p h_l of K = s·C_{l−1}
units at the same positions, and the next layer reads q_l. The rule trains the prediction
synapses W_p only, by the delta rule: the q_l of a position predicts the *input code* of its
sibling, u_l at the partner position (the one-hot tuple at layer 1, the predictions q_{l−1}
of the sibling's children above), a target that does not depend on W_p:

    ℓ_l = (1/2BPK) Σ_{b, pairs} [ ‖q_l(c) − sg u_l(t)‖² + ‖q_l(t) − sg u_l(c)‖² ]
    ΔW_p = −η c_p (1/B) Σ_{b,p} e_{b,p} ⊗ h_{b,p},      e = B ∂ℓ/∂q = (q − u_partner)/(PK)

(P the number of pairs of an input, K = s·C_{l−1}; with ``standardize``, the default, every
target unit k is standardised, u → (u_k − μ_k)/σ_k with running μ_k, σ²_k over τ =
``tau_stats`` steps (a homeostatic trace, constant for the gradient), so that q_l is of order
one at every depth)

(``rules/layerwise.py``'s encoder update with a linear gate: post-synaptic factor the
prediction error e of the q unit, pre-synaptic factor the rate h of the ReLU unit; no
modulator). The ReLU layers W_l keep their random initial weights ("features"): a random
expansion of the tuple.

What it learns. The least-squares predictor of the sibling's code from a tuple is the
conditional mean E[u(sibling) | tuple]. On the RHM the sibling and the parent depend on a
tuple only through its latent symbol (a synonym is drawn after the parent's production), so
at the minimum q_l is the same for the m synonyms of a symbol, and different for symbols whose
siblings differ: a synonym-invariant code that the layer above reads. The target is fixed for
the layer, so collapse is not a minimum. What it cannot: the conditional mean is estimated
from the pairs seen, tuple by tuple (the random features do not share statistics between
synonyms), so a tuple seen rarely has a noisy code; a symbol whose sibling distribution
equals another's is merged with it.

The idea is Korchinski, Favero & Wyart's latent prediction (arXiv 2605.27734: predicting a
neighbour from one's own tuple needs about v·m³ samples at every level); the prediction as
the representation passed up is plastisim's construction.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError
from ..network import Network
from ..validate import checked, flag, one_of, positive
from .base import RuleState
from .layerwise import LayerwiseParams, LayerwiseRule, running_average
from .pairings import Pair, layer_kinds, positional_pair
from .registry import RuleInfo, register


@dataclass(frozen=True)
class CodePredParams(LayerwiseParams):
    pairs: str = checked("siblings", one_of("siblings", "cpc"))
    standardize: bool = checked(True, flag)       # targets (u − μ)/σ, running per input unit
    tau_stats: float = checked(100.0, positive)   # steps of those running μ and σ²


@dataclass
class CodePredRule(LayerwiseRule):
    """The delta rule of the prediction synapses (module docstring)."""

    params: CodePredParams

    def init(self, net: Network) -> RuleState:
        """Each prediction synapse ``p<l>`` learns where its layer has a partner position
        (else it is frozen, as every ReLU layer ``w<l>``); a network without prediction
        groups is a one-line ConfigError."""
        state = super().init(net)
        hidden = list(net.synapses.values())[:-1]
        if not any(syn.name.startswith("p") for syn in hidden):
            raise ConfigError("rule 'codepred' needs prediction groups after the layers: set "
                              "network.predictions = true")
        paired = layer_kinds(self.params.pairs, "frozen", self.params.cpc_offset,
                             [syn.post.positions for syn in hidden])
        self.kinds = tuple(kind if syn.name.startswith("p") else "frozen"
                           for syn, kind in zip(hidden, paired))
        return state

    def _pairs(self, net: Network, weights: dict[str, Tensor], fwd: list,
               draws: dict[str, Tensor], detach: bool) -> list[Pair | None]:
        """A prediction layer's pair: its rates at the two positions, and as ``code`` the
        input code u of the ReLU layer below it (the previous projection's fields)."""
        out = []
        for i, ((u, a, h), kind) in enumerate(zip(fwd, self.kinds)):
            if kind == "frozen":
                out.append(None)
                continue
            code = fwd[i - 1][0].transpose(1, 2).detach()          # (B, K, P)
            pair = positional_pair(kind, u, a, h, self.params.cpc_offset)
            out.append(pair._replace(code=code, linear=True))
        return out

    def layer_inputs(self, pair: Pair) -> tuple[Tensor, ...]:
        """(q_c, q_t, u_c, u_t): the predictions and the input codes of both positions."""
        c, t = pair.rates()
        return c, t, pair.code[..., pair.context], pair.code[..., pair.target]

    def _targets(self, l: int, uc: Tensor, ut: Tensor, state: RuleState
                 ) -> tuple[Tensor, Tensor, dict]:
        """The targets (u_c, u_t), standardised by each input unit's running mean μ and
        variance σ² before this step (initialised from this batch; constants) when
        ``standardize``, and the new running state."""
        if not self.params.standardize:
            return uc, ut, {}
        both = torch.cat([uc, ut], -1)
        tau = self.params.tau_stats
        mu, new_mu = running_average(state.running, f"mean{l + 1}",
                                     both.mean((0, 2))[None, :, None], tau)
        var, new_var = running_average(state.running, f"var{l + 1}",
                                       (both - mu).square().mean((0, 2))[None, :, None], tau)
        scale = (var + 1e-6).rsqrt()
        return ((uc - mu) * scale, (ut - mu) * scale,
                {f"mean{l + 1}": new_mu, f"var{l + 1}": new_var})

    def layer_signals(self, l: int, c: Tensor, t: Tensor, uc: Tensor, ut: Tensor,
                      state: RuleState, draws: dict[str, Tensor]):
        B, K, P = c.shape
        uc, ut, running = self._targets(l, uc, ut, state)
        e_c, e_t = c - ut, t - uc                                  # prediction errors
        loss = (e_c.square().sum() + e_t.square().sum()) / (2 * B * P * K)
        return loss.detach(), e_c / (P * K), e_t / (P * K), {}, running

    def layer_loss(self, l: int, c: Tensor, t: Tensor, uc: Tensor, ut: Tensor,
                   state: RuleState, draws: dict[str, Tensor]) -> Tensor:
        B, K, P = c.shape
        uc, ut, _ = self._targets(l, uc, ut, state)
        return ((c - ut).square().sum() + (t - uc).square().sum()) / (2 * B * P * K)


register(RuleInfo(name="codepred", family="noncontrastive", local=True,
                  modifies="p1..pL (the prediction synapses; w1..wL keep their random "
                           "weights); then readout (delta rule)",
                  pre="rate h of the ReLU unit",
                  post="prediction error q − u(sibling) of the linear unit",
                  modulator="none: the target is the sibling's input code, fixed for W_p",
                  third_factor="none",
                  reference="Korchinski, Favero & Wyart 2026 (latent prediction on the RHM); "
                            "the delta rule (Widrow & Hoff 1960)",
                  records=("loss",)),
         CodePredParams, lambda p: CodePredRule(p))
