r"""The contract of a rate rule: pure functions of tensors under a thin object.

A rate rule of the RHM is an object holding its parameters (a frozen dataclass, ``params``),
the phases it trains in (``phases``) and, between runs, its tensors (``state``). Its maths are
three methods that read and write nothing but their arguments:

    init(net)                               -> RuleState    its own tensors, drawn once
    draw(ctx)                               -> draws        the random numbers of one step
    step(net, weights, state, batch, draws, phase) -> StepResult

``net`` is read for its structure only (connectivity, scales, sizes), never for its tensors:
the weights come in ``weights`` ({projection: w}), so that the same step runs for one network,
for E networks mapped over a leading member axis (``torch.func.vmap``) and under
``torch.compile``. Random numbers are drawn outside the step from the member's own generator
(``draw``), so that member k's stream does not depend on how many members train with it.

``StepResult.updates[name]`` is the update *direction* of every tensor the phase trains — the
three-factor product M · post · pre, reduced over the batch (mean) and positions (sum, when
shared) — and the training loop applies Δw = η · updates[name] through SGD (momentum, weight
decay). For a rule derived from a loss, ``loss(...)`` is that loss as a differentiable function
of the same arguments, and updates = −∇ loss (checked against autograd in the tests:
``plastisim.testing.assert_rule_matches_autograd``).

Phases: ``("joint",)`` (every projection at once: bp and the feedback family) or
``("local", "readout")`` (the layerwise rules: hidden layers and the rule's learned tensors on
their own losses, then the readout on the frozen representation).
"""
from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

LR_SCALES = ("width", "none")     # η = lr · width (the PRX mean-field scaling) or η = lr


class RuleState(NamedTuple):
    """A rule's own tensors (a pytree: stacked along the member axis for an ensemble)."""

    learned: dict[str, Tensor] = {}    # trained with the weights in the local phase (predictors)
    fixed: dict[str, Tensor] = {}      # drawn once, never changed (random feedback B, D_l)
    running: dict[str, Tensor] = {}    # returned new by every step (running statistics)


class Batch(NamedTuple):
    """The tensors one step reads: inputs, labels, and the readout's receptive fields."""

    x: Tensor                          # (B, v, S) one-hot inputs (positions-major)
    y: Tensor                          # (B,) labels
    fields: Tensor | None = None       # (B, 1, C) h̄_L of x, when the layers below are frozen


class StepResult(NamedTuple):
    loss: Tensor                              # scalar
    updates: dict[str, Tensor]                # update direction per trained tensor (shape of w)
    running: dict[str, Tensor] = {}           # the rule's new running state
    signals: dict[str, Tensor] = {}           # recordable extras: "logits", "rate:<group>",
    #                                           the factors "M:<s>", "post:<s>", ... (below)


class DrawContext(NamedTuple):
    """What ``draw`` may read, on the host: the batch's size and rows, the training set and
    the RHM (for rules that build synonym views: an oracle pairing), the device and dtype, and
    how far the phase has gone (the fraction of its epochs done before this step's epoch: a
    schedule over layers reads it)."""

    batch_size: int
    device: torch.device
    dtype: torch.dtype
    rows: Tensor | None = None     # indices of the batch's rows in ``pool``
    pool: Any = None               # the training set (RHMBatch)
    rhm: Any = None
    progress: float | None = None  # (epoch − 1) / epochs of the phase, in [0, 1)


class Rule(Protocol):
    """A rate rule (module docstring). ``state`` is what ``prepare`` drew, and after training
    the member's final tensors (written back by the training loop)."""

    params: Any
    phases: tuple[str, ...]
    state: RuleState

    def init(self, net) -> RuleState: ...

    def draw(self, ctx: DrawContext) -> dict[str, Tensor]: ...

    def step(self, net, weights: dict[str, Tensor], state: RuleState, batch: Batch,
             draws: dict[str, Tensor], phase: str) -> StepResult: ...


def cross_entropy_error(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """(mean cross-entropy, e = softmax(z) − onehot(y)) from one log-softmax; e (B, n_c) is the
    readout's modulator (the gradient of the per-sample loss with respect to the logits)."""
    log_p = torch.log_softmax(logits, dim=1)
    onehot = F.one_hot(y, logits.shape[1]).to(logits.dtype)
    return -(log_p * onehot).sum(1).mean(), log_p.exp() - onehot


def factor_signals(name: str, paths: list[tuple[Tensor, Tensor, Tensor, Tensor]],
                   gamma: list[Tensor] | None = None) -> dict[str, Tensor]:
    r"""The three factors of projection ``name`` as recordable signals, one entry per data
    path, every tensor rows (B, P, ·) stacked along a leading path axis:

        "M:<name>"     M      (paths, B, P, C_post)   the modulator, sign and scale folded in
        "post:<name>"  post   (paths, B, P, C_post)   the post-synaptic term f'(a)
        "pre:<name>"   pre    (paths, B, P, K)        the pre-synaptic term, the receptive field u
        "postrate:<name>" f(a) (paths, B, P, C_post)  the post-synaptic rate
        "gamma:<name>" γ      (paths, B, P)           a global scalar modulator (optional)

    such that the step's update is Δ_{ik} = (1/B) Σ_{path, b, [p]} M_i · post_i · pre_k
    (``Synapses.outer_rows``: positions summed when the kernel is shared)."""
    def stack(ts: list[Tensor]) -> Tensor:
        return ts[0].unsqueeze(0) if len(ts) == 1 else torch.stack(ts)

    out = {f"{key}:{name}": stack([p[i] for p in paths])
           for i, key in enumerate(("M", "post", "pre", "postrate"))}
    if gamma is not None:
        out[f"gamma:{name}"] = stack(gamma)
    return out


def trained_names(net, state: RuleState, phase: str) -> list[str]:
    """The tensors a phase trains: every projection ("joint"), the hidden projections and the
    rule's learned tensors ("local"), or the readout alone ("readout")."""
    names = list(net.synapses)
    if phase == "readout":
        return ["readout"]
    if phase == "local":
        return [n for n in names if n != "readout"] + list(state.learned)
    return names


class RuleObject:
    """The thin object every rate rule of plastisim is (mix in with a dataclass holding
    ``params``): ``prepare(net)`` draws the state with ``init``; no random draws by default."""

    phases: tuple[str, ...] = ("joint",)
    state: RuleState = RuleState()

    def prepare(self, net) -> RuleState:
        """``state = init(net)``: the rule's own tensors for this network, drawn afresh."""
        self.state = self.init(net)
        return self.state

    def init(self, net) -> RuleState:
        return RuleState()

    def draw(self, ctx: DrawContext) -> dict[str, Tensor]:
        return {}

