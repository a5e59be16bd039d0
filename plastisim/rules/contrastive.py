r"""Contrastive layer-local rules: CLAPP (and CLAPP-s), layerwise InfoNCE, supervised contrast.

CLAPP (Illing, Ventura, Bellec & Gerstner, NeurIPS 2021). A layer's context c = z (B, C, P)
predicts its target t = z' through a learned predictor W (the dendritic input):

    u = tᵀ W c / C,    ℓ = (1/BP) Σ_{b,p} [ max(0, 1 − u⁺) + max(0, 1 + u⁻) ]

with u⁺ for the target of the same stream and u⁻ for the target of another stream (the batch
rolled by one). With ``negatives = K`` (K < the batch size) the negative term is the mean over
the targets of the K streams before it in the batch (rolled by 1..K), and with a
false-negative prior ``false_negatives`` = τ⁺ > 0 it is debiased (Chuang et al. 2020,
NeurIPS, for a hinge): another stream's target shares the sibling's latent with probability
τ⁺ (1/v for a uniform symbol), so the term of the true negatives is estimated by

    ℓ⁻ = [ (1/K) Σ_k max(0, 1 + u⁻_k) − τ⁺ max(0, 1 + u⁺) ] / (1 − τ⁺)

which adds a push of the positive pair (modulator +τ⁺/(1 − τ⁺)) to every negative draw. Neither
reads anything but the batch; τ⁺ is a number the user gives (``v`` is visible in the inputs).
The gradient is a three-factor product with the global modulator

    γ = +1 (positive pair, hinge active), −1 (negative pair, hinge active), 0 (inactive)
    (for K, τ⁺: −1/(K(1 − τ⁺)) per active negative, +τ⁺/(1 − τ⁺) on the positive target):
    G_t = −γ (W c)/(C P)        dendritic prediction × modulator        (post of target neurons)
    G_c = −γ (Wᵀ t)/(C P)       retrodiction × modulator                (post of context neurons)
    ΔW  = η γ t cᵀ/(C B P)      Hebbian predictor update gated by γ

(then Δw = −η c_l (G ⊙ f'(a)) ⊗ u, rules/layerwise.py). ``clapp`` draws, per stream and step,
either a positive or a negative pair (probability 1/2), as CLAPP's alternation (``draw``: a
sign ±1 per stream and trained layer, ``"sign<l>"``); ``clapp_s`` uses both every step. The
predictors W are the rule's learned tensors (``state.learned["pred<l>"]``).

Layerwise InfoNCE (Oord et al. 2018; Löwe et al. 2019, Greedy InfoMax): scores
S_{bk} = t_bᵀ W c_k / (C τ) over every context k of the batch, ℓ = −(1/BP) Σ log softmax_k S_{bk}
at k = b. Its modulator D = softmax(S) − I mixes all negatives: less local than CLAPP (one
scalar per stream), which the rule table says. ``supcon``: the same loss on views re-drawn
below the class (level 0) — supervised contrastive learning, a baseline, never reported as
self-supervised.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..network import Network
from ..errors import impossible
from ..validate import checked, fraction, integer, nonnegative, positive
from .base import DrawContext, RuleState
from .layerwise import LayerwiseParams, LayerwiseRule, channel_map, channel_outer
from .registry import RuleInfo, register


@dataclass(frozen=True)
class ContrastiveParams(LayerwiseParams):
    temperature: float = checked(0.1, positive)       # InfoNCE only
    pred_init_std: float = checked(0.1, nonnegative)  # predictor W entries N(0, std^2); 0: zeros
    negatives: int = checked(1, integer(1))          # CLAPP: negatives per context (streams)
    false_negatives: float = checked(0.0, fraction)  # CLAPP: τ⁺, the false-negative prior


def clapp_loss(c: Tensor, t: Tensor, W: Tensor, sign: Tensor | None, negatives: int = 1,
               false_negatives: float = 0.0) -> Tensor:
    """ℓ of the module docstring; ``sign`` (B,) = ±1 picks one pair per stream (None: both)."""
    C, B, P = W.shape[0], c.shape[0], c.shape[-1]
    u_pos = torch.einsum("bip,ij,bjp->bp", t, W, c) / C
    hinge_pos = torch.relu(1 - u_pos)
    hinge_neg = sum(torch.relu(1 + torch.einsum("bip,ij,bjp->bp", t.roll(k, 0), W, c) / C)
                    for k in range(1, negatives + 1)) / negatives
    if false_negatives:
        tau = false_negatives
        hinge_neg = (hinge_neg - tau * torch.relu(1 + u_pos)) / (1 - tau)
    if sign is not None:
        pick = (sign > 0).to(c.dtype)[:, None]
        return ((pick * hinge_pos + (1 - pick) * hinge_neg).sum()) / (B * P)
    return (hinge_pos + hinge_neg).sum() / (B * P)


def infonce_loss(c: Tensor, t: Tensor, W: Tensor, tau: float) -> Tensor:
    """Layerwise InfoNCE of the module docstring."""
    C, B, P = W.shape[0], c.shape[0], c.shape[-1]
    scores = torch.einsum("bip,ij,kjp->pbk", t, W, c) / (C * tau)      # (P, B, B)
    return -torch.log_softmax(scores, -1).diagonal(dim1=1, dim2=2).sum() / (B * P)


@dataclass
class ContrastiveRule(LayerwiseRule):
    """CLAPP, CLAPP-s or InfoNCE (``kind``) with one predictor per hidden layer, learned:
    ``state.learned["pred<l>"]``. CLAPP draws its pair signs (``draws["sign<l>"]``)."""

    kind: str = "clapp"

    def init(self, net: Network) -> RuleState:
        """The predictors W (C × C per hidden layer, N(0, pred_init_std²)), drawn from the
        rule's generator after seeding it."""
        super().init(net)
        for name, default in (("negatives", 1), ("false_negatives", 0.0)):
            if self.kind == "infonce" and getattr(self.params, name) != default:
                raise impossible(f"rule.{name}", getattr(self.params, name),
                                 "for InfoNCE, which contrasts every other stream of the batch")
        learned = {}
        for l, group in enumerate(net.hidden):
            W = self.params.pred_init_std * torch.randn(group.channels, group.channels,
                                                        generator=self.generator,
                                                        dtype=torch.float64)
            learned[f"pred{l + 1}"] = W.to(device=net.device, dtype=net.dtype)
        return RuleState(learned=learned)

    def rule_draws(self, ctx: DrawContext) -> dict[str, Tensor]:
        """CLAPP: +1 (positive) or −1 (negative) per stream, (B,) for every trained layer in
        order (``"sign<l>"``); none for CLAPP-s and InfoNCE."""
        if self.kind != "clapp":
            return {}
        return {f"sign{l + 1}": (torch.randint(2, (ctx.batch_size,), generator=self.generator)
                                 .to(ctx.device) * 2 - 1)
                for l, kind in enumerate(self.kinds) if kind != "frozen"}

    def _sign(self, l: int, draws: dict[str, Tensor]) -> Tensor | None:
        return draws[f"sign{l + 1}"] if self.kind == "clapp" else None

    def layer_signals(self, l: int, c: Tensor, t: Tensor, state: RuleState,
                      draws: dict[str, Tensor]):
        W = state.learned[f"pred{l + 1}"]
        C, B, P = W.shape[0], c.shape[0], c.shape[-1]
        if self.kind == "infonce":
            return self._infonce(l, c, t, W)
        # modulator γ per stream, position and pair kind (hinge active or not)
        pred = channel_map(W, c)                                            # (B, C, P)
        K, tau = self.params.negatives, self.params.false_negatives
        t_negs = [t.roll(k, 0) for k in range(1, K + 1)]      # the K streams before: targets b − k
        u_pos = (t * pred).sum(1) / C                                       # (B, P)
        u_negs = [(t_neg * pred).sum(1) / C for t_neg in t_negs]
        hinge_pos = torch.relu(1 - u_pos)
        hinge_neg = sum(torch.relu(1 + u) for u in u_negs) / K
        g_pos = (u_pos < 1).to(c.dtype)
        g_negs = [-(u > -1).to(c.dtype) / (K * (1 - tau)) for u in u_negs]
        if tau:
            hinge_neg = (hinge_neg - tau * torch.relu(1 + u_pos)) / (1 - tau)
        sign = self._sign(l, draws)
        if sign is not None:       # one pair per stream: positive or negative
            pick = (sign > 0).to(c.dtype)[:, None]
            g_pos, g_negs = g_pos * pick, [g * (1 - pick) for g in g_negs]
            hinge_pos, hinge_neg = hinge_pos * pick, hinge_neg * (1 - pick)
        if tau:                    # the debiased negatives push the positive target of a
            g_fn = (u_pos > -1).to(c.dtype) * (tau / (1 - tau))     # negative draw
            g_pos = g_pos + (g_fn if sign is None else g_fn * (1 - pick))
        loss = (hinge_pos + hinge_neg).sum() / (B * P)
        # dendritic prediction and retrodiction, gated by the modulator
        G_t = -(g_pos[:, None] * pred) / (C * P)
        gated_t = g_pos[:, None] * t                                 # γ-gated targets
        for k, (g_neg, t_neg) in enumerate(zip(g_negs, t_negs), 1):  # negatives: their own row
            G_t = G_t - (g_neg[:, None] * pred).roll(-k, 0) / (C * P)
            gated_t = gated_t + g_neg[:, None] * t_neg
        G_c = channel_map(W.T, gated_t).mul_(-1 / (C * P))
        dW = channel_outer(gated_t, c).div_(C * B * P)
        # the global modulator γ of each stream's pair (+1, −1, 0), recorded with the factors
        extras = {} if sign is None else {"gamma": g_pos + sum(g_negs)}
        return loss.detach(), G_c, G_t, {f"pred{l + 1}": dW}, {}, extras

    def layer_loss(self, l: int, c: Tensor, t: Tensor, state: RuleState,
                   draws: dict[str, Tensor]) -> Tensor:
        W = state.learned[f"pred{l + 1}"]
        if self.kind == "infonce":
            return infonce_loss(c, t, W, self.params.temperature)
        return clapp_loss(c, t, W, self._sign(l, draws), self.params.negatives,
                          self.params.false_negatives)

    def _infonce(self, l: int, c: Tensor, t: Tensor, W: Tensor):
        C, B, P = W.shape[0], c.shape[0], c.shape[-1]
        tau = self.params.temperature
        scores = torch.einsum("bip,ij,kjp->pbk", t, W, c) / (C * tau)       # (P, B, B)
        eye = torch.eye(B, dtype=c.dtype, device=c.device)
        D = (torch.softmax(scores, -1) - eye) / (P * C * tau)               # B ∂ℓ/∂S · C τ / B
        loss = -torch.log_softmax(scores, -1).diagonal(dim1=1, dim2=2).sum() / (B * P)
        # predictions first: a three-operand einsum would build a (P, B, B, C, C) tensor
        G_t = torch.einsum("pbk,kip->bip", D, torch.einsum("ij,kjp->kip", W, c))
        G_c = torch.einsum("pbk,bjp->kjp", D, torch.einsum("ij,bip->bjp", W, t))
        dW = -torch.einsum("pbk,bip,kjp->ij", D, t, c) / B
        return loss.detach(), G_c, G_t, {f"pred{l + 1}": dW}, {}


@dataclass
class SupConRule(ContrastiveRule):
    """InfoNCE on views that share only the class: supervised contrastive (a baseline)."""

    def levels(self, L: int, depth: int) -> list[int]:
        return [0] * depth


_INFO = {
    "clapp": ("contrastive", True, "global scalar",
              "γ ∈ {+1, −1, 0} (one pair per stream, hinge active) × dendritic prediction W c",
              "Illing, Ventura, Bellec & Gerstner 2021 (CLAPP)"),
    "clapp_s": ("contrastive", True, "global scalar",
                "γ⁺ and γ⁻ every step × dendritic prediction W c",
                "Illing et al. 2021 (CLAPP-s)"),
    "infonce": ("contrastive", False, "per-neuron",
                "softmax-weighted predictions Σ_k (softmax − I) W c_k (all negatives)",
                "Oord et al. 2018; Löwe et al. 2019 (Greedy InfoMax)"),
    "supcon": ("supervised-baseline", False, "per-neuron",
               "InfoNCE on views sharing only the class (label leak: supervised)",
               "Khosla et al. 2020 (supervised contrastive)"),
}

for _name, (_fam, _local, _third, _mod, _ref) in _INFO.items():
    _kind = "infonce" if _name in ("infonce", "supcon") else _name
    _cls = SupConRule if _name == "supcon" else ContrastiveRule
    register(RuleInfo(name=_name, family=_fam, local=_local, modifies="w1..wL, pred1..predL; "
                      "then readout (delta rule)", pre="pre-synaptic rate u",
                      post="gate f'(a) × (prediction or retrodiction)", modulator=_mod,
                      third_factor=_third, reference=_ref, records=("loss", "modulator")),
             ContrastiveParams,
             lambda p, _kind=_kind, _cls=_cls: _cls(p, kind=_kind))
