r"""Non-contrastive layer-local rules: LPL-like and VICReg-like.

LPL, Latent Predictive Learning (Halvagal & Zenke, Nat. Neurosci. 26, 1906, 2023), with the
decorrelation term of the authors' erratum (github.com/fmi-basel/latent-predictive-learning,
ERRATUM.md: the squared off-diagonal *covariance* over the batch, not the per-sample product
d_i² d_k² printed in the article's Methods). Per stream b, neuron i and position p, with
d = z − z̄ and running traces z̄ (mean) and σ² (variance):

    ℓ = (1/BP) Σ_{b,p} [ (1/2C) Σ_i (z_i − sg(z'_i))²                       predictive
                        − (λ₁/2C) Σ_i d_i² / (σ_i² + ξ) ]                   Hebbian (variance)
        + λ₂/(P C(C−1)) Σ_p Σ_{i≠k} K_{ik,p}²,   K_p = d_pᵀ d_p / (B−1)     decorrelation

z' is the other member of the pair (the previous input of the stream: a view or a sibling),
with a stop-gradient. The traces are neuron state, z̄ ← z̄ + (1 − e^{−1/τ})(z − z̄) and
σ² ← σ² + (1 − e^{−1/τ})((z − z̄)² − σ²) after each step (τ in steps), initialised from the
first batch; they are constants for the gradient, and the rule's running state (``state.running``
"mean<l>", "var<l>": read by the step, returned new). The post-synaptic factor (B ∂ℓ/∂z) is

    G_i = [ (z_i − z'_i) − λ₁ d_i/(σ_i² + ξ) ] / (C P)  +  4λ₂ B Σ_{k≠i} d_k K_{ik} / (P C(C−1)(B−1))

— the erratum's corrected rule: the first two terms are the neuron's own, the decorrelation
term reads the covariances K over the batch of streams (population statistics, like VICReg).

VICReg-like (Bardes, Ponce & LeCun, ICLR 2022), per layer and position, statistics over the B
streams (population statistics, as LPL's decorrelation term):

    ℓ = (1/P) Σ_p [ λ_inv/(BC) Σ_{b,i} (z − z')² + (λ_var/C) Σ_i Σ_{x∈{z,z'}} max(0, γ − s_i(x))
                   + (λ_cov/C) Σ_{x∈{z,z'}} Σ_{i≠j} Cov(x)_{ij}² ],   s_i = sqrt(Var_b(x_i) + ε)

Predictor (``predictor = "linear"``; "identity", the default, is the above). The invariance /
predictive term compares a learned dendritic prediction W_p z with the target instead of z
itself: (z − z') becomes r = W_p z − z' in LPL's ½‖·‖²/C and VICReg's λ_inv/(BC) ‖·‖², with
W_p a C × C map per hidden layer ("pred1".."predL", initialised to the identity); the variance
and covariance terms stay on z and z'. The context's post-synaptic factor takes W_pᵀ r for r
(LPL: G_i = [(W_pᵀ r)_i − λ₁ d_i/(σ_i² + ξ)]/(CP) + decorrelation), and W_p learns by its own
delta rule, error × pre-synaptic rate:

    ΔW_p = −η ∂ℓ/∂W_p = η κ Σ_{b,p} (z' − W_p z) zᵀ,   κ = 1/(CBP) (LPL), 2λ_inv/(CBP) (VICReg)

Identity asks paired representations to be *equal*; a predictor only asks them to be
*predictable* from one another (docs/ssl.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..network import Network
from ..validate import checked, nonnegative, one_of, positive
from .base import RuleState
from .layerwise import LayerwiseParams, LayerwiseRule, channel_map, channel_outer
from .registry import RuleInfo, register

PREDICTORS = ("identity", "linear")


@dataclass(frozen=True)
class PredictiveParams(LayerwiseParams):
    predictor: str = checked("identity", one_of(*PREDICTORS))   # "linear": learned W_p z


@dataclass(frozen=True)
class LPLParams(PredictiveParams):
    lr: float = checked(0.05, positive)   # best readout train error of {0.05, 0.5, 5}
    lambda_hebb: float = checked(1.0, nonnegative)
    lambda_decorr: float = checked(10.0, nonnegative)
    xi: float = checked(1e-3, positive)
    tau_stats: float = checked(100.0, positive)         # steps


@dataclass(frozen=True)
class VICRegParams(PredictiveParams):
    lambda_inv: float = checked(25.0, nonnegative)
    lambda_var: float = checked(25.0, nonnegative)
    lambda_cov: float = checked(1.0, nonnegative)
    gamma: float = checked(1.0, nonnegative)          # the hinge's target standard deviation
    eps: float = checked(1e-4, positive)


def _predicted(z: Tensor, W: Tensor | None) -> Tensor:
    """W_p z, or z itself for the identity predictor (None)."""
    return z if W is None else torch.einsum("ij,bjp->bip", W, z)


def lpl_loss(z: Tensor, z2: Tensor, mean: Tensor, var: Tensor, p: LPLParams,
             W: Tensor | None = None) -> Tensor:
    """ℓ of the module docstring (z2, mean, var are constants; W: the predictor or None)."""
    B, C, P = z.shape
    d = z - mean
    pred = 0.5 * (_predicted(z, W) - z2.detach()).pow(2).sum(1) / C
    hebb = -0.5 * p.lambda_hebb * (d.pow(2) / (var + p.xi)).sum(1) / C
    decorr = p.lambda_decorr * _off_diagonal_squared(d) / (C * (C - 1) * P)
    return (pred + hebb).sum() / (B * P) + decorr


def _off_diagonal_squared(d: Tensor) -> Tensor:
    """Σ_p Σ_{i≠k} K_{ik,p}², K_p = d_pᵀ d_p/(B−1), written plainly: the reference losses'
    term, against which ``off_diagonal_covariance`` is checked by autograd."""
    cov = torch.einsum("bip,bjp->pij", d, d) / max(d.shape[0] - 1, 1)     # (P, C, C)
    return (cov - torch.diag_embed(cov.diagonal(dim1=1, dim2=2))).pow(2).sum()


def off_diagonal_covariance(d: Tensor, d_squared: Tensor | None = None
                            ) -> tuple[Tensor, Tensor]:
    """For rates d (B, C, P) already centred, with K_p = d_pᵀ d_p/(B−1) per position:
    (Σ_p Σ_{i≠k} K_{ik,p}², d·(K − diag K) of shape (B, C, P)); ``d_squared``: d², when the
    caller has it.

    When the batch is smaller than the layer (B < C) both come from the B × B Gram matrix
    G = d_p d_pᵀ: ‖dᵀd‖_F = ‖ddᵀ‖_F and d(dᵀd) = (ddᵀ)d — the same numbers at cost B²C
    instead of BC² per position.
    """
    B, C, P = d.shape
    n = max(B - 1, 1)
    var = (d.square() if d_squared is None else d_squared).sum(0) / n      # (C, P) = diag K
    if B < C:
        X = d.permute(2, 0, 1)                                              # (P, B, C)
        gram = X @ X.transpose(1, 2)                                        # (P, B, B)
        frobenius = gram.pow(2).sum() / n ** 2
        d_cov = (gram @ X).permute(1, 2, 0) / n                             # (B, C, P)
    else:
        cov = torch.einsum("bip,bjp->pij", d, d) / n                        # (P, C, C)
        frobenius = cov.pow(2).sum()
        d_cov = torch.einsum("bjp,pji->bip", d, cov)
    return frobenius - var.pow(2).sum(), d_cov.sub_(d * var)


def vicreg_loss(z: Tensor, z2: Tensor, p: VICRegParams, W: Tensor | None = None) -> Tensor:
    """ℓ of the module docstring (W: the predictor or None)."""
    B, C, P = z.shape
    inv = p.lambda_inv * (_predicted(z, W) - z2).pow(2).sum() / (B * C)
    reg = 0.0
    for x in (z, z2):
        centred = x - x.mean(0, keepdim=True)
        std = (centred.pow(2).sum(0) / (B - 1) + p.eps).sqrt()              # (C, P)
        reg = reg + p.lambda_var * torch.relu(p.gamma - std).sum() / C
        reg = reg + p.lambda_cov * _off_diagonal_squared(centred) / C
    return (inv + reg) / P


@dataclass
class PredictiveRule(LayerwiseRule):
    """A non-contrastive rule with an optional learned predictor W_p per hidden layer
    (``state.learned["pred<l>"]``, initialised to the identity)."""

    def init(self, net: Network) -> RuleState:
        super().init(net)
        return RuleState(learned={} if self.params.predictor == "identity" else {
            f"pred{l + 1}": torch.eye(group.channels, dtype=net.dtype, device=net.device)
            for l, group in enumerate(net.hidden)})

    @staticmethod
    def _predictor(l: int, state: RuleState) -> Tensor | None:
        return state.learned.get(f"pred{l + 1}")

    def _residual(self, l: int, z: Tensor, z2: Tensor, state: RuleState
                  ) -> tuple[Tensor, Tensor | None]:
        """(r = W_p z − z', W_p) — (z − z', None) for the identity predictor."""
        W = self._predictor(l, state)
        return (z - z2, None) if W is None else (channel_map(W, z).sub_(z2), W)

    @staticmethod
    def _through(W: Tensor | None, r: Tensor) -> Tensor:
        """W_pᵀ r: the context's share of the residual (r itself for the identity)."""
        return r if W is None else channel_map(W.T, r)


@dataclass
class LPLRule(PredictiveRule):
    """LPL with per-stream running mean and variance (neuron traces: ``state.running``,
    "mean<l>" and "var<l>", (B, C, P) per trained layer) and the erratum's decorrelation over
    the batch.

    The traces are initialised from the first batch (absent from the state) and from any batch
    larger than the stored one; a smaller batch (the last of an epoch) uses and updates the
    first B streams' traces and leaves the others as they were."""

    def layer_signals(self, l: int, z: Tensor, z2: Tensor, state: RuleState,
                      draws: dict[str, Tensor]):
        p, (B, C, P) = self.params, z.shape
        mean, var = self._statistics(l, z, state.running)
        (diff, W), d = self._residual(l, z, z2, state), z - mean
        scaled = d / (var + p.xi)                                           # d_i / (σ_i² + ξ)
        d_squared = d.square()
        off_squared, d_off = off_diagonal_covariance(d, d_squared)
        pred = 0.5 * diff.square().sum() / C
        hebb = -0.5 * p.lambda_hebb * (d * scaled).sum() / C
        loss = (pred + hebb) / (B * P) + p.lambda_decorr * off_squared / (C * (C - 1) * P)
        # the predictor's delta rule: error × pre-synaptic rate
        extra = {} if W is None else {f"pred{l + 1}": channel_outer(diff, z).div_(-C * B * P)}
        G = (self._through(W, diff).sub_(scaled, alpha=p.lambda_hebb).div_(C * P)
             .add_(d_off, alpha=4 * p.lambda_decorr * B / (P * C * (C - 1) * max(B - 1, 1))))
        # decay traces toward this step's activity (new tensors: the state is not written)
        rate = 1 - math.exp(-1 / p.tau_stats)
        running = {f"mean{l + 1}": torch.add(mean, d, alpha=rate),
                   f"var{l + 1}": torch.add(var, d_squared - var, alpha=rate)}
        for key, new in running.items():
            stored = state.running.get(key)
            if stored is not None and stored.shape[0] > B:     # a smaller batch: the other
                running[key] = stored.slice_scatter(new, 0, 0, B)   # streams keep their traces
        return loss.detach(), G, None, extra, running

    def layer_loss(self, l: int, z: Tensor, z2: Tensor, state: RuleState,
                   draws: dict[str, Tensor]) -> Tensor:
        mean, var = self._statistics(l, z.detach(), state.running)
        return lpl_loss(z, z2, mean, var, self.params, self._predictor(l, state))

    @staticmethod
    def _statistics(l: int, z: Tensor, running: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(z̄, σ²) of layer l for the B streams of z: the stored traces' first B rows, or
        the batch's mean and variance when none are stored or too few."""
        mean, var = running.get(f"mean{l + 1}"), running.get(f"var{l + 1}")
        if mean is None or var is None or mean.shape[0] < z.shape[0]:
            # per-stream traces in the rates' memory layout (elementwise ops stay contiguous)
            mean = torch.empty_like(z).copy_(z.mean(0, keepdim=True))
            var = torch.empty_like(z).copy_(z.var(0, keepdim=True))
            return mean, var
        return mean[:z.shape[0]], var[:z.shape[0]]


@dataclass
class VICRegRule(PredictiveRule):
    """VICReg-like with statistics over the streams of the batch."""

    def layer_signals(self, l: int, z: Tensor, z2: Tensor, state: RuleState,
                      draws: dict[str, Tensor]):
        p, (B, C, P) = self.params, z.shape
        reg, grad = self._regulariser(z)
        reg2, grad2 = self._regulariser(z2)
        diff, W = self._residual(l, z, z2, state)
        loss = (p.lambda_inv * diff.square().sum() / (B * C) + reg + reg2) / P
        inv = diff.mul_(2 * p.lambda_inv / C)
        # the predictor's delta rule: error × pre-synaptic rate
        extra = {} if W is None else {f"pred{l + 1}": channel_outer(inv, z).div_(-B * P)}
        grad = grad.add_(self._through(W, inv)).div_(P)
        return loss.detach(), grad, grad2.sub_(inv).div_(P), extra, {}

    def layer_loss(self, l: int, z: Tensor, z2: Tensor, state: RuleState,
                   draws: dict[str, Tensor]) -> Tensor:
        return vicreg_loss(z, z2, self.params, self._predictor(l, state))

    def _regulariser(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Variance and covariance terms of one branch: (their value summed over positions,
        B ∂/∂x of it); the covariance part by ``off_diagonal_covariance``."""
        p, (B, C, P) = self.params, x.shape
        centred = x - x.mean(0, keepdim=True)
        squared = centred.square()
        std = (squared.sum(0) / (B - 1) + p.eps).sqrt()                     # (C, P)
        # the hinge's per-neuron factor, on the (C, P) statistics
        hinge = (std < p.gamma).to(x.dtype) * (-p.lambda_var * B / ((B - 1) * C)) / std
        off_squared, x_off = off_diagonal_covariance(centred, squared)
        value = (p.lambda_var * torch.relu(p.gamma - std).sum() + p.lambda_cov * off_squared) / C
        return value, x_off.mul_(4 * p.lambda_cov * B / ((B - 1) * C)).add_(centred * hinge)


_COMMON = dict(modifies="w1..wL (pred1..predL if predictor = 'linear'); then readout (delta "
               "rule)", pre="pre-synaptic rate u", third_factor="none", records=("loss",))
register(RuleInfo(name="lpl", family="noncontrastive", local=False,
                  post="gate f'(a) × [(z − z') − λ₁ d/σ² + decorrelation]",
                  modulator="none (mean, variance: the neuron's own traces); non-local: the "
                            "decorrelation term reads covariances over the batch of streams",
                  reference="Halvagal & Zenke 2023 (LPL)", **_COMMON),
         LPLParams, lambda p: LPLRule(p))
register(RuleInfo(name="vicreg", family="noncontrastive", local=False,
                  post="gate f'(a) × [invariance + variance hinge + covariance]",
                  modulator="none (statistics over the batch of streams: non-local)",
                  reference="Bardes, Ponce & LeCun 2022 (VICReg), layerwise", **_COMMON),
         VICRegParams, lambda p: VICRegRule(p))
