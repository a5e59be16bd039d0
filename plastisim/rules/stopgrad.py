r"""Non-contrastive prediction with a detached target: ``stopgrad`` and ``inputpred``.

BYOL / SimSiam in a layer (Grill et al. 2020; Chen & He 2021), with the predictor of DirectPred
(Tian, Chen & Ganguli, ICML 2021). A layer's context c = z (B, C, P) predicts its partner
t = z' through a predictor W_p (the dendritic input), and the partner is a *target*: it gets no
update from this prediction (a stop-gradient, sg). Both members of the pair predict each other,
each as a context, never as a target of itself:

    ℓ = (1/BP) Σ_{b,p} [ (1 − n(W_p c̃)·n(sg t̃)) + (1 − n(W_p t̃)·n(sg c̃)) ],
    n(x) = x / sqrt(‖x‖² + ε)          (divisive normalisation over the layer's C neurons)

with c̃ = c − μ, t̃ = t − μ, μ each neuron's running mean rate (``center``, a homeostatic
trace: μ ← μ + (1 − e^{−1/τ})(mean rate − μ), constant for the gradient; without it,
c̃ = c). Centred, a code that is the same for every input is a zero vector that predicts
nothing, instead of a perfect prediction of itself.

The post-synaptic factor of a context neuron is a dendritic prediction error, normalised:

    G_c = W_pᵀ g / P,    g = −(n(sg t) − n(W_p c) (n(W_p c)·n(sg t))) / sqrt(‖W_p c‖² + ε)

(and G_t likewise from the second term); then Δw = −η c_l Σ_paths (G ⊙ f'(a)) ⊗ u
(rules/layerwise.py). No term asks for variance or decorrelation: the target cannot move toward
the prediction, which is what makes a collapsed (constant) code unstable rather than optimal
in BYOL's analysis. What it can learn: the best prediction of the sibling from a tuple is
E[f(sibling) | tuple], the same for synonyms (they share the parent whose other child the
sibling is), so the layer is pushed toward a synonym-invariant code (docs/ssl.md).

``inputpred`` predicts the partner's *input code* instead of its rates: the receptive field
u' of the partner (the rates of the layer below at the partner's children; the one-hot tuple
at layer 1), a target that does not depend on the layer's weights at all, so that no code of
the layer can make the loss vanish:

    ℓ = (1/2BPK) Σ_{b,p} [ ‖W_p c − sg(u_t)‖² + ‖W_p t − sg(u_c)‖² ],    W_p (K × C), learned

with the post-synaptic factor G_c = W_pᵀ (W_p c − u_t)/(PK) (a dendritic prediction error of
the partner's input) and the predictor's delta rule ΔW_p = −η Σ (W_p c − u_t) cᵀ /(BPK)
(initialised at zero: the predictor learns first, then the layer). The layer is pushed to keep
what its own tuple says about the partner's tuple — for siblings, the parent symbol.

Predictor of ``stopgrad`` (``predictor``):

* ``"directpred"`` (default): W_p = U diag((s/s_max)^α + ε_p) Uᵀ from the running correlation
  F = E[z zᵀ] of the layer's rates (F ← F + (1 − e^{−1/τ})(mean_{b,p} z zᵀ − F), a neuron
  state like LPL's traces; F, U, s constant for the gradient): no predictor learning at all.
* ``"delta"``: W_p learned by the delta rule of the same loss, ΔW_p = −η ∂ℓ/∂W_p
  = −η (1/BP) Σ (g cᵀ + g' tᵀ), initialised to the identity.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..network import Network
from ..validate import checked, flag, nonnegative, one_of, positive
from .base import RuleState
from .layerwise import (LayerwiseParams, LayerwiseRule, channel_map, channel_outer,
                        running_average)
from .pairings import PAIRS
from .registry import RuleInfo, register

PREDICTORS = ("directpred", "delta")


@dataclass(frozen=True)
class StopGradParams(LayerwiseParams):
    pairs: str = checked("siblings", one_of(*PAIRS))
    predictor: str = checked("directpred", one_of(*PREDICTORS))
    alpha: float = checked(0.5, nonnegative)       # DirectPred's exponent (0.5: IsoLoss's)
    pred_eps: float = checked(0.1, nonnegative)    # ε_p added to the normalised eigenvalues
    tau_corr: float = checked(100.0, positive)     # steps of the running correlation F
    eps: float = checked(1e-6, positive)           # ε of the normalisation n(x)
    center: bool = checked(True, flag)             # subtract each neuron's running mean μ


def _normalised(x: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """(n(x), sqrt(‖x‖² + ε)) over the channels of x (B, C, P)."""
    r = (x.square().sum(1, keepdim=True) + eps).sqrt()
    return x / r, r


def _error(p: Tensor, target: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """(Σ (1 − n(p)·n(target)) over streams and positions, ∂/∂p of it) for p, target
    (B, C, P); the target is a constant."""
    n_p, r = _normalised(p, eps)
    n_t, _ = _normalised(target, eps)
    cos = (n_p * n_t).sum(1, keepdim=True)
    return (1 - cos).sum(), -(n_t - n_p * cos) / r


def directpred(F: Tensor, alpha: float, eps: float) -> Tensor:
    """W_p = U diag((s/s_max)^α + ε) Uᵀ of the correlation F = U diag(s) Uᵀ."""
    s, U = torch.linalg.eigh(F)
    s = s.clamp_min(0)
    scaled = (s / s.amax().clamp_min(1e-12)).pow(alpha) + eps
    return (U * scaled) @ U.T


@dataclass
class StopGradRule(LayerwiseRule):
    """Sibling prediction with a stop-gradient target (module docstring)."""

    params: StopGradParams

    def init(self, net: Network) -> RuleState:
        state = super().init(net)
        if self.params.predictor == "directpred":
            return state
        return RuleState(learned={
            f"pred{l + 1}": torch.eye(g.channels, dtype=net.dtype, device=net.device)
            for l, g in enumerate(net.hidden)})

    def _predictor(self, l: int, z: Tensor, state: RuleState) -> tuple[Tensor, dict]:
        """(W_p of layer l, the new running state): DirectPred's from the correlation before
        this step (initialised from this batch), or the learned one."""
        if self.params.predictor == "delta":
            return state.learned[f"pred{l + 1}"], {}
        B, C, P = z.shape
        batch_corr = torch.einsum("bip,bjp->ij", z, z).detach() / (B * P)
        F, new = running_average(state.running, f"corr{l + 1}", batch_corr,
                                 self.params.tau_corr)
        return directpred(F, self.params.alpha, self.params.pred_eps), {f"corr{l + 1}": new}

    def _centred(self, l: int, c: Tensor, t: Tensor, state: RuleState
                  ) -> tuple[Tensor, Tensor, dict]:
        """(c − μ, t − μ, the new running mean) with μ each neuron's running mean rate before
        this step (initialised from this batch; a constant for the gradient), or (c, t, {})."""
        if not self.params.center:
            return c, t, {}
        batch_mean = torch.cat([c, t], -1).detach().mean((0, 2))[None, :, None]   # (1, C, 1)
        mu, new = running_average(state.running, f"mean{l + 1}", batch_mean,
                                  self.params.tau_corr)
        return c - mu, t - mu, {f"mean{l + 1}": new}

    def layer_signals(self, l: int, c: Tensor, t: Tensor, state: RuleState,
                      draws: dict[str, Tensor]):
        p = self.params
        B, C, P = c.shape
        c, t, centred = self._centred(l, c, t, state)
        W, running = self._predictor(l, torch.cat([c, t], -1), state)
        running = {**running, **centred}
        loss_c, g_c = _error(channel_map(W, c), t, p.eps)          # c predicts sg(t)
        loss_t, g_t = _error(channel_map(W, t), c, p.eps)          # t predicts sg(c)
        G_c = channel_map(W.T, g_c) / P
        G_t = channel_map(W.T, g_t) / P
        learned = {}
        if p.predictor == "delta":
            learned[f"pred{l + 1}"] = -(channel_outer(g_c, c) + channel_outer(g_t, t)) / (B * P)
        return ((loss_c + loss_t) / (B * P)).detach(), G_c, G_t, learned, running

    def layer_loss(self, l: int, c: Tensor, t: Tensor, state: RuleState,
                   draws: dict[str, Tensor]) -> Tensor:
        p = self.params
        B, C, P = c.shape
        c, t, _ = self._centred(l, c, t, state)
        W, _ = self._predictor(l, torch.cat([c, t], -1).detach(), state)
        total = 0
        for x, target in ((c, t), (t, c)):
            n_p, _ = _normalised(torch.einsum("ij,bjp->bip", W, x), p.eps)
            n_t, _ = _normalised(target.detach(), p.eps)
            total = total + (1 - (n_p * n_t).sum(1)).sum()
        return total / (B * P)


register(RuleInfo(name="stopgrad", family="noncontrastive", local=True,
                  modifies="w1..wL (pred1..predL if predictor = 'delta'); then readout (delta "
                           "rule)",
                  pre="pre-synaptic rate u",
                  post="gate f'(a) × W_pᵀ (normalised prediction error of the partner)",
                  modulator="none: the partner is a target (stop-gradient); W_p from the "
                            "neurons' running correlation (DirectPred) or a delta rule",
                  third_factor="none",
                  reference="Grill et al. 2020 (BYOL); Tian, Chen & Ganguli 2021 (DirectPred)",
                  records=("loss",)),
         StopGradParams, lambda p: StopGradRule(p))


@dataclass(frozen=True)
class InputPredictionParams(LayerwiseParams):
    pairs: str = checked("siblings", one_of(*PAIRS))


@dataclass
class InputPredictionRule(LayerwiseRule):
    """Prediction of the partner's input code (module docstring)."""

    params: InputPredictionParams

    def init(self, net: Network) -> RuleState:
        super().init(net)
        hidden = list(net.synapses.values())[:-1]
        return RuleState(learned={
            f"pred{l + 1}": torch.zeros(syn.fan_in, syn.post.channels, dtype=net.dtype,
                                        device=net.device) for l, syn in enumerate(hidden)})

    def layer_inputs(self, pair) -> tuple[Tensor, ...]:
        """(c, t, u_c, u_t): the rates and the input codes (B, K, P') of both members."""
        c, t = pair.rates()
        if pair.context is None:
            uc, ut = pair.u, pair.u2
        else:
            uc, ut = pair.u[:, pair.context], pair.u2[:, pair.target]
        return c, t, uc.transpose(1, 2).detach(), ut.transpose(1, 2).detach()

    def layer_signals(self, l: int, c: Tensor, t: Tensor, uc: Tensor, ut: Tensor,
                      state: RuleState, draws: dict[str, Tensor]):
        W = state.learned[f"pred{l + 1}"]                         # (K, C)
        B, C, P = c.shape
        K = W.shape[0]
        r_c = torch.einsum("kc,bcp->bkp", W, c) - ut              # c predicts u_t
        r_t = torch.einsum("kc,bcp->bkp", W, t) - uc              # t predicts u_c
        loss = (r_c.square().sum() + r_t.square().sum()) / (2 * B * P * K)
        G_c = torch.einsum("kc,bkp->bcp", W, r_c) / (P * K)
        G_t = torch.einsum("kc,bkp->bcp", W, r_t) / (P * K)
        dW = -(torch.einsum("bkp,bcp->kc", r_c, c) + torch.einsum("bkp,bcp->kc", r_t, t)) \
            / (B * P * K)
        return loss.detach(), G_c, G_t, {f"pred{l + 1}": dW}, {}

    def layer_loss(self, l: int, c: Tensor, t: Tensor, uc: Tensor, ut: Tensor,
                   state: RuleState, draws: dict[str, Tensor]) -> Tensor:
        W = state.learned[f"pred{l + 1}"]
        B, C, P = c.shape
        K = W.shape[0]
        r_c = torch.einsum("kc,bcp->bkp", W, c) - ut
        r_t = torch.einsum("kc,bcp->bkp", W, t) - uc
        return (r_c.square().sum() + r_t.square().sum()) / (2 * B * P * K)


register(RuleInfo(name="inputpred", family="noncontrastive", local=True,
                  modifies="w1..wL, pred1..predL; then readout (delta rule)",
                  pre="pre-synaptic rate u",
                  post="gate f'(a) × W_pᵀ (prediction error of the partner's input code)",
                  modulator="none: the target is the partner's input, fixed for the layer",
                  third_factor="none",
                  reference="prediction of a neighbour's input; Korchinski, Favero & Wyart "
                            "2026 (latent prediction on the RHM)",
                  records=("loss",)),
         InputPredictionParams, lambda p: InputPredictionRule(p))
