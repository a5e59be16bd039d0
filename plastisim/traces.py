r"""Exponential traces used by neurons and synapses.

A trace low-pass filters an event or rate signal x(t) with time constant tau (seconds in spiking
protocols, steps in discrete-time learning; the caller states which and writes it to its output):

    additive      x̄ <- x̄ · exp(-dt/tau) + x
    saturating    x̄ <- x̄ · exp(-dt/tau) + x · (1 - x̄ · exp(-dt/tau))      (x̄ stays <= 1)
    nearest       x̄ <- 1 where x > 0, else x̄ · exp(-dt/tau)                 (nearest-spike reset)

Pfister & Gerstner (2006) use ``additive`` (all-to-all) and ``nearest`` (nearest-spike) traces.
A trace with ``tau = 0`` is the signal itself (x̄ = x), the limit used by rate rules on the RHM.

Event-driven protocols split one step into its two halves, so that a rule can read the trace at
t − ε (decayed, before the current spike's own increment): ``trace_decay`` then
``trace_increment``; ``trace_step`` is their composition. ``dt`` may be a float or a tensor that
broadcasts against the trace (one interval per stream), so streams with different event times
advance in lock-step with exact exponential decay.
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


def decay_factor(dt: float | Tensor, tau: float) -> float | Tensor:
    """exp(-dt/tau); 0 for tau = 0 (no memory). A tensor ``dt`` gives a tensor of factors."""
    if isinstance(dt, Tensor):
        return torch.exp(dt * (-1.0 / tau)) if tau > 0 else torch.zeros_like(dt)
    return math.exp(-dt / tau) if tau > 0 else 0.0


def trace_decay(value: Tensor, dt: float | Tensor, tau: float) -> Tensor:
    """x̄ · exp(-dt/tau): the trace just before an event after an interval dt (no input)."""
    return value * decay_factor(dt, tau)


def trace_increment(decayed: Tensor, x: Tensor, kind: TraceKind = "additive") -> Tensor:
    """The jump of the trace equation (module docstring) applied to an already decayed trace."""
    if kind == "additive":
        return decayed + x
    if kind == "saturating":
        return decayed + x * (1 - decayed)
    if kind == "nearest":
        return torch.where(x > 0, torch.ones_like(decayed), decayed)
    raise ConfigError(f"trace kind '{kind}' is unknown; available: {', '.join(TRACE_KINDS)}")


def trace_step(value: Tensor, x: Tensor, dt: float | Tensor, tau: float,
               kind: TraceKind = "additive") -> Tensor:
    """One step of the trace equation of the module docstring; returns the new trace."""
    return trace_increment(trace_decay(value, dt, tau), x, kind)


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

    def step(self, x: Tensor, dt: float | Tensor = 1.0) -> Tensor:
        """Advance by dt with input x (events or rates); returns the new value."""
        if self.value is None or self.value.shape != x.shape:
            self.reset(x)
        self.value = trace_step(self.value, x, dt, self.tau, self.kind)
        return self.value

    def decay(self, dt: float | Tensor) -> Tensor:
        """Decay the (already initialised) value over dt without input; returns x̄(t − ε)."""
        if self.value is None:
            raise ConfigError("Trace.decay before the trace has a value: call reset(like) first")
        self.value = trace_decay(self.value, dt, self.tau)
        return self.value
