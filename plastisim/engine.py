"""The training step of E members as one function: the rule's step, then SGD, mapped over the
member axis and, when asked, compiled.

    stepper = Stepper(net, rule, phase, names, decay, momentum, members=E, compile=False)
    weights, state, buffers, out = stepper(weights, state, buffers, batch, draws, lr)

One member's step is a pure function of tensors (``member_step``): the rule's
``step(net, weights, state, batch, draws, phase)`` (``plastisim.rules.base``), then
``optim.sgd`` on every tensor the phase trains, and the finiteness of the loss and of those
tensors as 0-d flags, so that nothing in the step waits for the host. With E > 1 members the
tensors carry a leading member axis and the step is ``torch.func.vmap``-ped over it (the drive,
transpose and outer product become batched products); with one member it runs on the tensors
as they are.

Compilation (``compile``: "auto" on CUDA only, True, False): ``torch.compile`` of that
function, with ``mode="reduce-overhead"`` (CUDA graphs) on CUDA. It compiles at the first call
(seconds to tens of seconds on a CPU, less with inductor's cache warm) and once more for a
smaller last batch; a failure, then or later, falls back to the eager step with a one-line
warning and the run goes on.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor
from torch.func import vmap

from .optim import all_finite, sgd
from .rules.base import Batch, RuleState


class CompileWarning(UserWarning):
    """``torch.compile`` failed: the run goes on with the eager step."""


class StepOut(NamedTuple):
    loss: Tensor                      # the rule's loss, (E,) (a 0-d tensor for one member)
    loss_ok: Tensor                   # finite loss
    weights_ok: Tensor                # finite trained tensors after the update
    updates: dict[str, Tensor]        # the update directions (only when recording)
    signals: dict[str, Tensor]        # the rule's signals (only when recording)


def member_step(net, rule, phase: str, names: list[str], decay: dict[str, float],
                momentum: float, record: bool) -> Callable:
    """The step of one member as a pure function (module docstring):
    (weights, state, buffers, batch, draws, lr) -> (weights, state, buffers, StepOut)."""

    def step(weights: dict, state: RuleState, buffers: dict, batch: Batch, draws: dict,
             lr: Tensor):
        out = rule.step(net, weights, state, batch, draws, phase)
        weights, learned, new_buffers = dict(weights), dict(state.learned), {}
        for name in names:
            where = weights if name in weights else learned
            where[name], new_buffers[name] = sgd(where[name], out.updates[name],
                                                 buffers.get(name), lr, decay[name], momentum)
        trained = [weights[n] if n in weights else learned[n] for n in names]
        flags = StepOut(out.loss, torch.isfinite(out.loss), all_finite(trained),
                        out.updates if record else {}, out.signals if record else {})
        new_state = RuleState(learned, state.fixed, {**state.running, **out.running})
        return weights, new_state, new_buffers if momentum else buffers, flags
    return step


def wants_compile(compile: str | bool, device: torch.device) -> bool:
    """"auto": compile on CUDA (where a step's launches cost most), not on a CPU."""
    return device.type == "cuda" if compile == "auto" else bool(compile)


class Stepper:
    """The step of E members (vmapped when E > 1), compiled or eager (module docstring)."""

    def __init__(self, net, rule, phase: str, names: list[str], decay: dict[str, float],
                 momentum: float, *, members: int, compile: str | bool = False,
                 record: bool = False):
        self.fn = member_step(net, rule, phase, names, decay, momentum, record)
        self.mapped = members > 1
        self.device = net.device
        self.compile = wants_compile(compile, self.device)
        self.variants: dict[bool, tuple[Callable, Callable | None]] = {}

    def _variant(self, fields: bool) -> tuple[Callable, Callable | None]:
        """(eager, compiled) step for batches with or without the readout's fields."""
        if fields not in self.variants:
            fn = self.fn
            if self.mapped:       # every argument has the member axis; absent fields: None
                batch_dims = Batch(0, 0, 0 if fields else None)
                fn = vmap(fn, in_dims=(0, 0, 0, batch_dims, 0, 0), randomness="error")
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            compiled = torch.compile(fn, dynamic=False, mode=mode) if self.compile else None
            self.variants[fields] = (fn, compiled)
        return self.variants[fields]

    def __call__(self, weights, state, buffers, batch: Batch, draws, lr):
        args = (weights, state, buffers, batch, draws, lr)
        eager, compiled = self._variant(batch.fields is not None)
        if compiled is not None:
            try:
                if self.device.type == "cuda":
                    torch.compiler.cudagraph_mark_step_begin()
                return compiled(*args)
            except Exception as err:          # noqa: BLE001 — any compiler failure
                lines = str(err).strip().splitlines()
                warnings.warn(f"torch.compile failed ({type(err).__name__}: "
                              f"{lines[0] if lines else ''}); the run goes on eagerly",
                              CompileWarning, stacklevel=2)
                self.compile = False
                self.variants = {k: (e, None) for k, (e, _) in self.variants.items()}
        return eager(*args)
