"""What every rate rule of the RHM returns from one step, and the interface it follows.

A rule is an object with

    prepare(net)            draw what it keeps fixed (random feedback, predictors...)
    step(net, x, y) -> StepResult

``StepResult.updates[name]`` is the update *direction* of projection ``name`` — the three-factor
product M · post · pre, already reduced over the batch (mean) and positions (sum, when shared) —
so that the training loop applies Δw = η · updates[name] through SGD (momentum, weight decay).
For a rule derived from a loss, updates = −∇_w loss (checked against autograd in the tests).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

LR_SCALES = ("width", "none")     # η = lr · width (the PRX mean-field scaling) or η = lr


@dataclass
class StepResult:
    loss: Tensor                              # scalar, detached
    updates: dict[str, Tensor]                # update direction per projection (shape of w)
    logits: Tensor | None = None              # (B, n_c) when the rule runs the readout
    signals: dict[str, Tensor] = field(default_factory=dict)   # recordable extras


def cross_entropy_error(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """(mean cross-entropy, e = softmax(z) − onehot(y)) from one log-softmax; e (B, n_c) is the
    readout's modulator (the gradient of the per-sample loss with respect to the logits)."""
    log_p = torch.log_softmax(logits, dim=1)
    onehot = F.one_hot(y, logits.shape[1]).to(logits.dtype)
    return -(log_p * onehot).sum(1).mean(), log_p.exp() - onehot


@dataclass
class StepContext:
    """What a rule may know besides (x, y): the RHM and the batch's rows, to build views."""

    rhm: object = None
    batch: object = None            # RHMBatch of the rows of x
    step: int = 0
    pool: object = None             # the whole training set (RHMBatch)
    rows: object = None             # indices of the rows of x in ``pool``
    fields: Tensor | None = None    # the readout's receptive fields of x (frozen layers below)


class Rule(Protocol):
    params: object

    def prepare(self, net) -> None: ...

    def step(self, net, x: Tensor, y: Tensor) -> StepResult: ...
