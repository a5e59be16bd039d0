r"""Exponential traces used by neurons and synapses.

A trace low-pass filters an event or rate signal x(t) with time constant tau (seconds in spiking
protocols, steps in discrete-time learning; the caller states which and writes it to its output):

    additive      x̄ <- x̄ · exp(-dt/tau) + x
    saturating    x̄ <- x̄ · exp(-dt/tau) + x · (1 - x̄ · exp(-dt/tau))      (x̄ stays <= 1)
    nearest       x̄ <- 1 where x > 0, else x̄ · exp(-dt/tau)                 (nearest-spike reset)

Pfister & Gerstner (2006) use ``additive`` (all-to-all) and ``nearest`` (nearest-spike) traces.
A trace with ``tau = 0`` is the signal itself (x̄ = x), the limit used by rate rules on the RHM.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from .errors import ConfigError

TraceKind = Literal["additive", "saturating", "nearest"]
TRACE_KINDS: tuple[str, ...] = ("additive", "saturating", "nearest")


def decay_factor(dt: float, tau: float) -> float:
    """exp(-dt/tau); 0 for tau = 0 (no memory)."""
    return math.exp(-dt / tau) if tau > 0 else 0.0


def trace_step(value: Tensor, x: Tensor, dt: float, tau: float,
               kind: TraceKind = "additive") -> Tensor:
    """One step of the trace equation of the module docstring; returns the new trace."""
    decayed = value * decay_factor(dt, tau)
    if kind == "additive":
        return decayed + x
    if kind == "saturating":
        return decayed + x * (1 - decayed)
    if kind == "nearest":
        return torch.where(x > 0, torch.ones_like(decayed), decayed)
    raise ConfigError(f"trace kind '{kind}' is unknown; available: {', '.join(TRACE_KINDS)}")


@dataclass
class Trace:
    """A named trace with its state tensor; ``step`` applies ``trace_step`` in place of state."""

    tau: float
    kind: TraceKind = "additive"
    units: str = "s"
    value: Tensor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.tau >= 0:
            raise ConfigError(f"tau={self.tau!r} is impossible: need tau >= 0 ({self.units})")
        if self.kind not in TRACE_KINDS:
            raise ConfigError(f"trace kind '{self.kind}' is unknown; available: "
                              f"{', '.join(TRACE_KINDS)}")

    def reset(self, like: Tensor) -> None:
        """Zero the trace with the shape, dtype and device of ``like``."""
        self.value = torch.zeros_like(like)

    def step(self, x: Tensor, dt: float = 1.0) -> Tensor:
        """Advance by dt with input x (events or rates); returns the new value."""
        if self.value is None or self.value.shape != x.shape:
            self.reset(x)
        self.value = trace_step(self.value, x, dt, self.tau, self.kind)
        return self.value
