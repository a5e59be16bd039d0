"""Optimisation of an ensemble: one learning rate per member, and each member's divergence.

``plastisim.train`` applies ``torch.optim.SGD`` (momentum, no dampening) with a cosine
schedule to one network; here every tensor carries the member axis E and every member its own
rate η_i(epoch), computed by the same scheduler (``Clock``), so that member i's weights follow
its run alone.
"""
from __future__ import annotations

import torch


class Clock:
    """Every member's learning rate through the epochs: one parameter group per member in a
    torch optimiser that updates nothing, so that each η_i(epoch) is computed exactly as the
    member's own run computes it (``torch.optim.lr_scheduler.CosineAnnealingLR``)."""

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


def sgd(tensors: dict, grads: dict, buffers: dict, momentum: float, rates: torch.Tensor
         ) -> None:
    """torch.optim.SGD's update (no dampening, no Nesterov) with one rate per member (E,):
    b ← g (first step) or μ b + g;  w ← w − η_i b. The last is ``addcmul_``, which rounds as
    SGD's ``w.add_(b, alpha=-η)`` (one fused multiply-add), so that a float32 member's weights
    are bit for bit those of its run alone."""
    for name, w in tensors.items():
        g = grads[name]
        if momentum:
            if name not in buffers:
                buffers[name] = g.clone()
            else:
                buffers[name].mul_(momentum).add_(g)
            g = buffers[name]
        w.addcmul_(g, -rates.view((-1,) + (1,) * (w.ndim - 1)))


def non_finite(loss: torch.Tensor, tensors: dict) -> list[str]:
    """Per member: "loss" or "weight" when either is NaN or infinite, else "". A member's weights
    are all finite iff their max and min are (amax and amin propagate NaN): two reductions,
    some ten times faster than ``isfinite(w).all()`` on (E, ...) tensors."""
    weights_ok = torch.stack([torch.isfinite(w.flatten(1).amax(1)) &
                              torch.isfinite(w.flatten(1).amin(1)) for w in tensors.values()]
                             ).all(0)
    loss_ok = torch.isfinite(loss)
    return ["" if ok_l and ok_w else ("loss" if not ok_l else "weight")
            for ok_l, ok_w in zip(loss_ok.tolist(), weights_ok.tolist())]
