r"""Backpropagation and the direct-feedback family, as three-factor updates.

For a hidden projection l (pre rates u_{l-1}, post drive a_l, scale c_l) every rule of this
module updates

    Δw_l = −η · c_l · (1/B) Σ_{b,p}  M_l ⊙ f'(a_l)  ⊗  u_{l-1}            (modulator · post · pre)

and the readout learns by the local delta rule Δβ = −η · c_out · e ⊗ h̄_L with the output error
e = softmax(z) − onehot(y) (the gradient of the cross-entropy). The rules differ only in the
modulator M_l, the signal that reaches layer l (Delrocq, Wu, Bellec & Gerstner 2026):

    bp         M_l = W_{l+1}^T [f'(a_{l+1}) ⊙ M_{l+1}],   M_L = β^T e      true weights, masks
    fa         M_l = B_{l+1}^T [f'(a_{l+1}) ⊙ M_{l+1}],   M_L = B_β^T e    random,  masks
    bp_nomask  M_l = W_{l+1}^T M_{l+1}                                       true weights, no masks
    dfa        M_l = D_l e                                                    random,  no masks
    sdfa       M_l = D_l sign(e)                  (Crafton et al. 2019)
    drtp       M_l = D_l (−onehot(y))             (Frenkel et al. 2021: the target's error sign)

B has the shape of the weight it replaces (fixed, N(0, 1), same scale c). D_l maps the n_c
outputs to every unit of layer l (C_l · P_l, not shared) with entries N(0, σ_l²),
σ_l = c_out / sqrt(P_L · P_l): the size of the transposed-weight signal at initialisation, so
that dfa and fa coincide at the top layer. "Masks" are the downstream gates f'(a_k), k > l: the
input-specific masking that direct feedback lacks. bp_nomask and dfa form the 2×2 ablation
{true, random} × {masks kept, removed} with bp and fa.

η = lr · width with ``lr_scale = "width"`` (the PRX mean-field scaling); SGD with momentum and
weight decay is applied by the training loop.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..network import Network, layer_rows, logits
from ..validate import (check_fields, checked, fraction, nonnegative, one_of, positive,
                        random_seed)
from .base import (LR_SCALES, Batch, RuleObject, RuleState, StepResult,
                   cross_entropy_error, factor_signals)
from .registry import RuleInfo, register


@dataclass(frozen=True)
class FeedbackParams:
    lr: float = checked(0.1, positive)
    lr_scale: str = checked("width", one_of(*LR_SCALES))   # "width": η = lr · width (PRX)
    momentum: float = checked(0.9, fraction)
    weight_decay: float = checked(5e-4, nonnegative)
    feedback_seed: int = checked(0, random_seed)     # seed of the fixed random feedback B / D

    def __post_init__(self) -> None:
        check_fields(self, "rule.")


Pathway = Literal["true", "random", "direct"]
ErrorKind = Literal["error", "sign", "target"]


@dataclass
class FeedbackRule(RuleObject):
    """One cell of the feedback family (module docstring): pathway × masks × error signal.
    Its fixed random feedback (B or D_l) is ``state.fixed``."""

    params: FeedbackParams
    pathway: Pathway = "true"
    masks: bool = True
    error: ErrorKind = "error"

    def init(self, net: Network) -> RuleState:
        """The fixed feedback matrices B (pathway "random") or D_l ("direct")."""
        gen = torch.Generator().manual_seed(self.params.feedback_seed)
        readout = net.synapses["readout"]
        top_positions = readout.pre.positions
        fixed = {}
        for name, syn in net.synapses.items():
            if self.pathway == "random":      # drawn in the weights' kernel order
                b = torch.randn(syn.w.shape, generator=gen, dtype=torch.float64)
                b = syn.connectivity.arrange(b, syn.pre).contiguous()
            elif self.pathway == "direct" and name != "readout":
                sigma = readout.scale / math.sqrt(top_positions * syn.post.positions)
                b = sigma * torch.randn(syn.post.channels, syn.post.positions,
                                        net.output.channels, generator=gen, dtype=torch.float64)
                # D_l (C, P, n_c) stored as (n_c, P, C): D_l e comes out positions-major
                b = b.permute(2, 1, 0).contiguous().permute(2, 1, 0)
            else:
                continue
            fixed[name] = b.to(device=syn.w.device, dtype=syn.w.dtype)
        return RuleState(fixed=fixed)

    # --- factors ------------------------------------------------------------------------------
    def factors(self, net: Network, weights: dict[str, Tensor], feedback: dict[str, Tensor],
                fwd: list, e: Tensor, y: Tensor) -> tuple[dict, dict]:
        """(M_l, post_l = f'(a_l) ⊙ M_l) of every projection as rows (B, P_l, C_l) (the
        readout's M and post are e), from the forward pass ``fwd`` (``network.layer_rows``).
        With masks, post_l is also the signal sent further down: it is computed once."""
        syns = list(net.synapses.values())
        mods = {"readout": e.unsqueeze(1)}                           # (B, 1, n_c)
        posts = dict(mods)
        gates = {syn.name: h.sign() for syn, (_, _, h) in zip(syns[:-1], fwd)}  # relu' = H(a)
        if self.pathway == "direct":
            signal = {"error": e, "sign": torch.sign(e),
                      "target": -F.one_hot(y, e.shape[1]).to(e.dtype)}[self.error]
            for syn in syns[:-1]:
                D = feedback[syn.name]                              # (C, P, n_c)
                # (n_c, P·C), a contiguous view of D_l alone; contiguous() keeps it so for a
                # member of an ensemble, whose stacked D_l is (C, P, n_c)-major: with P = 1 the
                # reshape would be a transposed view there, which some BLAS kernels round
                # differently from the single network's product
                m = signal @ D.permute(2, 1, 0).reshape(D.shape[2], -1).contiguous()  # (B, P·C)
                mods[syn.name] = m.view(-1, D.shape[1], D.shape[0])                 # rows
                posts[syn.name] = gates[syn.name] * mods[syn.name]
            return mods, posts
        delta = mods["readout"]
        for upper, lower in zip(syns[::-1], syns[-2::-1]):          # top-down
            back = feedback[upper.name] if self.pathway == "random" else weights[upper.name]
            down = upper.transpose_rows(delta, back)                # (B, P_l, C_l)
            mods[lower.name] = down
            posts[lower.name] = gates[lower.name] * down
            delta = posts[lower.name] if self.masks else down
        return mods, posts

    def step(self, net: Network, weights: dict[str, Tensor], state: RuleState, batch: Batch,
             draws: dict[str, Tensor], phase: str = "joint") -> StepResult:
        """Forward, modulators, and the three-factor update direction of every projection."""
        fwd = layer_rows(net, weights, batch.x.transpose(1, 2))
        logits = fwd[-1][1].reshape(batch.x.shape[0], -1)
        loss, e = cross_entropy_error(logits, batch.y)
        mods, posts = self.factors(net, weights, state.fixed, fwd, e, batch.y)
        syns = net.synapses.values()
        updates = {syn.name: syn.outer_rows(posts[syn.name], u).mul_(-syn.scale)
                   for syn, (u, _, _) in zip(syns, fwd)}
        signals = {"logits": logits.detach()}
        for syn, (u, _, h) in zip(syns, fwd):
            readout = syn.name == "readout"
            signals[f"rate:{syn.post.name}"] = h.transpose(1, 2)
            signals.update(factor_signals(syn.name, [(
                mods[syn.name] * -syn.scale,
                torch.ones_like(h) if readout else h.sign(), u, h.detach())]))
        return StepResult(loss=loss.detach(), updates=updates, signals=signals)

    def loss(self, net: Network, weights: dict[str, Tensor], state: RuleState, batch: Batch,
             draws: dict[str, Tensor], phase: str = "joint") -> Tensor:
        """The cross-entropy of the network's logits: the loss whose −∇ the step of ``bp``
        (true weights, masks kept) equals; the other rules of the family follow no loss."""
        return cross_entropy_error(logits(net, weights, batch.x), batch.y)[0]


_FAMILY = {
    # name: (pathway, masks, error, family, local, modulator text, reference)
    "bp": ("true", True, "error", "backprop", False, "W^T-propagated error, gated by f'(a_k>l)",
           "Rumelhart et al. 1986; PRX CNN of Cagnetta et al. 2024"),
    "fa": ("random", True, "error", "feedback", True, "B^T-propagated error, gated by f'(a_k>l)",
           "Lillicrap et al. 2016"),
    "bp_nomask": ("true", False, "error", "feedback", False, "W^T-propagated error, no gates",
                  "masking ablation (Delrocq et al. 2026)"),
    "dfa": ("direct", False, "error", "feedback", True, "D_l e (random projection of the error)",
            "Nøkland 2016"),
    "sdfa": ("direct", False, "sign", "feedback", True, "D_l sign(e)", "Crafton et al. 2019"),
    "drtp": ("direct", False, "target", "feedback", True, "D_l (−onehot(y))",
             "Frenkel, Lefebvre & Bol 2021"),
}

for _name, (_path, _masks, _err, _fam, _local, _mod, _ref) in _FAMILY.items():
    register(RuleInfo(name=_name, family=_fam, local=_local, modifies="w1..wL, readout",
                      pre="pre-synaptic rate u (receptive field)", post="gate f'(a)",
                      modulator=_mod, third_factor="per-neuron", reference=_ref,
                      records=("loss", "modulator")),
             FeedbackParams,
             lambda p, _path=_path, _masks=_masks, _err=_err: FeedbackRule(p, _path, _masks, _err))
