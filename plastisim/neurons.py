r"""Populations of rate units.

A ``NeuronGroup`` has a spatial layout (channels, positions) and a leading batch dimension: each
batch row is an independent stream (an "animal" or trial) with its own inputs. Its state:

    drive     a      somatic input (pre-activation), (batch, channels, positions)
    rate      f(a)   the activity seen by outgoing synapses
    dendrite  d      optional apical / predictive input (used by CLAPP-like rules)
    traces           named ``Trace`` objects declared by rules

The post-synaptic factor of most rules is the gate f'(a) (the ReLU derivative).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .errors import check_int, unknown
from .traces import Trace

#: (f, f'): f(a) and f'(a) given (a, f(a))
Activation = tuple[Callable[[Tensor], Tensor], Callable[[Tensor, Tensor], Tensor]]

ACTIVATIONS: dict[str, Activation] = {
    # relu' = H(a) (H(0) = 0) = sign(relu(a)): one pass over the rate, several times faster
    # than (a > 0).to(dtype), whose bool -> float conversion dominated the gate
    "relu": (torch.relu, lambda a, rate: rate.sign()),
    "linear": (lambda a: a, lambda a, rate: torch.ones_like(a)),
}


def activation(name: str) -> Activation:
    """(f, f') of a named activation function; f' takes the drive a and the rate f(a)."""
    if name not in ACTIVATIONS:
        raise unknown("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]


class NeuronGroup:
    """A population of ``channels`` x ``positions`` rate units; state set by ``integrate``."""

    def __init__(self, name: str, channels: int, positions: int = 1, activation: str = "relu"):
        self.name = name
        self.channels = check_int(f"{name}.channels", channels, 1)
        self.positions = check_int(f"{name}.positions", positions, 1)
        self.activation = activation
        self._f, self._df = globals()["activation"](activation)
        self.drive: Tensor | None = None
        self.rate: Tensor | None = None
        self.dendrite: Tensor | None = None
        self.traces: dict[str, Trace] = {}
        self._gate: Tensor | None = None

    def __repr__(self) -> str:
        return (f"NeuronGroup({self.name!r}, channels={self.channels}, "
                f"positions={self.positions}, activation={self.activation!r})")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.channels, self.positions)

    def activate(self, drive: Tensor) -> Tensor:
        """f(a): the rate of a drive (pure; the group's state is not touched)."""
        return self._f(drive)

    def integrate(self, drive: Tensor, rate: Tensor | None = None) -> Tensor:
        """Set the drive a and the rate f(a) (``rate``, when the caller has computed it);
        returns the rate."""
        self.drive = drive
        self.rate = self._f(drive) if rate is None else rate
        self._gate = None
        return self.rate

    def clamp(self, rate: Tensor) -> Tensor:
        """Impose the rate (input populations): drive = rate."""
        self.drive = self.rate = rate
        self._gate = None
        return rate

    def gate(self) -> Tensor:
        """f'(a), the post-synaptic gate of the last drive (computed once per drive)."""
        if self._gate is None:
            self._gate = self._df(self.drive, self.rate)
        return self._gate

    def reset(self) -> None:
        self.drive = self.rate = self.dendrite = self._gate = None
        self.traces = {}
