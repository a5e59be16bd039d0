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
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..network import Network
from ..validate import (check_fields, checked, fraction, nonnegative, one_of, positive,
                        random_seed)
from .base import LR_SCALES, StepResult, cross_entropy_error
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
class FeedbackRule:
    """One cell of the feedback family (module docstring): pathway × masks × error signal."""

    params: FeedbackParams
    pathway: Pathway = "true"
    masks: bool = True
    error: ErrorKind = "error"
    feedback: dict[str, Tensor] = field(default_factory=dict, repr=False)

    # --- set-up: fixed random feedback -------------------------------------------------------
    def prepare(self, net: Network) -> None:
        """Draw the fixed feedback matrices B (pathway "random") or D_l ("direct")."""
        gen = torch.Generator().manual_seed(self.params.feedback_seed)
        readout = net.synapses["readout"]
        top_positions = readout.pre.positions
        self.feedback = {}
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
            self.feedback[name] = b.to(device=syn.w.device, dtype=syn.w.dtype)

    # --- factors ------------------------------------------------------------------------------
    def modulators(self, net: Network, e: Tensor, y: Tensor) -> dict[str, Tensor]:
        """M_l (B, C_l, P_l) for every projection, readout included (its M is e)."""
        return self._factors(net, e, y)[0]

    def _factors(self, net: Network, e: Tensor, y: Tensor) -> tuple[dict, dict]:
        """(M_l, post_l = f'(a_l) ⊙ M_l) for every projection (the readout's post is e).

        With masks, post_l is also the signal sent further down: it is computed once.
        """
        syns = list(net.synapses.values())
        mods = {"readout": e.unsqueeze(-1)}                          # (B, n_c, 1)
        posts = dict(mods)
        if self.pathway == "direct":
            signal = {"error": e, "sign": torch.sign(e),
                      "target": -F.one_hot(y, e.shape[1]).to(e.dtype)}[self.error]
            for syn in syns[:-1]:
                D = self.feedback[syn.name]                         # (C, P, n_c)
                # (n_c, P·C), a contiguous view of D_l alone; contiguous() keeps it so for a
                # member of an ensemble, whose stacked D_l is (C, P, n_c)-major: with P = 1 the
                # reshape would be a transposed view there, which some BLAS kernels round
                # differently from the single network's product
                m = signal @ D.permute(2, 1, 0).reshape(D.shape[2], -1).contiguous()  # (B, P·C)
                mods[syn.name] = m.view(-1, D.shape[1], D.shape[0]).transpose(1, 2)
                posts[syn.name] = syn.post.gate() * mods[syn.name]
            return mods, posts
        delta = mods["readout"]
        for upper, lower in zip(syns[::-1], syns[-2::-1]):          # top-down
            down = upper.transpose(delta, self.feedback.get(upper.name))   # (B, C_l, P_l)
            mods[lower.name] = down
            posts[lower.name] = lower.post.gate() * down
            delta = posts[lower.name] if self.masks else down
        return mods, posts

    def step(self, net: Network, x: Tensor, y: Tensor) -> StepResult:
        """Forward, modulators, and the three-factor update direction of every projection."""
        logits = net.forward(x)
        loss, e = cross_entropy_error(logits, y)
        _, posts = self._factors(net, e, y)
        updates = {name: syn.outer(posts[name], syn.fields).mul_(-syn.scale)
                   for name, syn in net.synapses.items()}
        return StepResult(loss=loss.detach(), updates=updates, logits=logits.detach())


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
