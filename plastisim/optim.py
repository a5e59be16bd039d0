"""Optimisation of E members at once: one learning rate per member, SGD as a pure function.

Recipe 2 of ``plastisim.train``: η_i(epoch) of member i from its own rate and the shared
schedule (``Clock``, torch's own scheduler, so that every η_i is the number the member's run
alone gets), and SGD with momentum on the rule's update directions with the PRX weight decay
(``sgd``), written as a function of tensors so that the whole step can be mapped over members
and compiled.
"""
from __future__ import annotations

import torch
from torch import Tensor


class Clock:
    """Every member's learning rate through the epochs: one parameter group per member in a
    torch optimiser that updates nothing, so that each η_i(epoch) is computed exactly as
    ``torch.optim.lr_scheduler.CosineAnnealingLR`` computes it for one network."""

    def __init__(self, rates: list[float], epochs: int, schedule: str):
        groups = [{"params": [torch.zeros(0)], "lr": rate} for rate in rates]
        self.optimiser = torch.optim.SGD(groups, lr=rates[0])
        self.schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(self.optimiser, T_max=epochs)
                         if schedule == "cosine" else None)

    def rates(self) -> list[float]:
        return [group["lr"] for group in self.optimiser.param_groups]

    def step(self) -> None:
        if self.schedule is not None:
            self.optimiser.step()         # nothing to update; keeps the scheduler's order
            self.schedule.step()


def decay_factors(params, tensors: dict) -> dict[str, float]:
    """2λ / numel(w) per tensor: the PRX weight decay λ · mean(w²) as a direction (not torch's
    per-element λ w, which is numel times stronger)."""
    return {k: 2 * getattr(params, "weight_decay", 0.0) / w.numel() for k, w in tensors.items()}


def sgd(w: Tensor, direction: Tensor, buffer: Tensor | None, lr: Tensor, decay: float,
        momentum: float) -> tuple[Tensor, Tensor | None]:
    """One step of ``torch.optim.SGD`` (no dampening, no Nesterov) on the direction Δ:

        g = (2λ/numel) w − Δ,    b ← μ b + g   (b = 0 before the first step),    w ← w − η b

    returning (w, b), new tensors. ``addcmul`` rounds as SGD's ``w.add_(b, alpha=−η)`` (one
    fused multiply-add), so that a float32 run's weights equal torch.optim.SGD's bit for bit;
    ``lr`` is a 0-d tensor (a different rate needs no new compiled step)."""
    if decay:
        g = decay * w - direction
        if momentum:
            buffer = buffer * momentum + g
            g = buffer
    elif momentum:            # the same numbers with one pass less: μb + (0·w − Δ) = μb − Δ
        g = buffer = buffer * momentum - direction
    else:
        g = -direction
    return torch.addcmul(w, g, -lr), buffer


def all_finite(tensors) -> Tensor:
    """Whether every entry of every tensor is finite, as a 0-d bool tensor (no host
    synchronisation): their max and min are (both propagate NaN), one ``aminmax`` each."""
    return torch.isfinite(torch.stack([v for t in tensors for v in torch.aminmax(t)])).all()
