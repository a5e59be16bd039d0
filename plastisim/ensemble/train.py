"""The learning loop of an ensemble: ``plastisim.train``'s recipe, every member at once.

Each member follows exactly the recipe of ``plastisim.train.train`` with its own settings — its
own shuffling (``options[i].seed``), learning rate and schedule (η_i, cosine over the same
epochs), momentum buffer, divergence and stopping — while the steps of all members are one
batched computation (``Ensemble.step``). A member that diverges (non-finite loss or weight) or
converges (train loss below ``stop_loss``) stops there with its status and message: its update
is multiplied by a zero learning rate until the epoch ends, when it leaves the batched
computation (``Ensemble.retain``); the others go on unchanged. Member i's
``TrainResult`` is the one its independent run gives (``elapsed``: the ensemble's wall time).
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import torch

from ..errors import ConfigError
from ..network import Network
from ..rhm import RHMBatch, one_hot
from ..rules.base import StepResult
from ..train import (TrainOptions, TrainResult, _where, continued, decay_factors,
                     evaluation_epochs, join_phase_messages, phase_learning_rates,
                     record_failure)
from ..validate import check_data
from .members import Ensemble
from .optim import Clock, non_finite, sgd


def train_ensemble(nets: list[Network], rules: list, train_sets: list[RHMBatch],
                   test_sets: list[RHMBatch], options: list[TrainOptions], *,
                   rhms: list | None = None, monitors: list | None = None,
                   progress: Callable[[dict], None] | None = None,
                   stop: Callable[[], str] | None = None, catch: bool = False
                   ) -> list[TrainResult]:
    """Train member i = (nets[i], rules[i]) on train_sets[i] as ``train`` would, all at once.

    The members must differ only in ``MEMBER_KEYS`` (seeds, learning rates) and have training
    and test sets of the same sizes; ``options`` may differ only in ``seed``. On return nets[i]
    holds member i's weights and rules[i] its tensors. ``rhms`` is accepted for symmetry with
    ``train`` (grammar-free rules do not read it). ``monitors``: a ``Monitor`` (or None) per
    member, each recording its member as ``train``'s monitor records a run (weights, updates,
    rates, loss; its file is the member's trajectory). ``progress`` gets the report of the first
    running member with ``members`` (how many still run); ``stop`` and ``catch`` as in
    ``train``.
    """
    _check(nets, train_sets, test_sets, options)
    if monitors is not None and len(monitors) != len(nets):
        raise ConfigError(f"an ensemble of {len(nets)} members needs as many monitors (or None "
                          f"for a member), not {len(monitors)}")
    monitors = ([continued(m) for m in monitors]      # a monitor used again continues
                if monitors is not None and any(monitors) else None)
    results = [TrainResult() for _ in nets]
    device, dtype, v = nets[0].device, nets[0].dtype, nets[0].input.channels
    inputs = lambda sets: torch.stack([one_hot(s.x, v, dtype) for s in sets]).to(device)  # noqa
    labels = lambda sets: torch.stack([s.y for s in sets]).to(device)                    # noqa
    data = {"x": inputs(train_sets), "y": labels(train_sets),
            "x_test": inputs(test_sets), "y_test": labels(test_sets)}
    for net, rule in zip(nets, rules):
        rule.prepare(net)
    ensemble = Ensemble(nets, rules)
    start = time.perf_counter()
    running = [True] * len(nets)
    try:
        phases = getattr(rules[0], "phases", ("joint",))
        for phase in phases:
            epochs = rules[0].params.readout_epochs if phase == "readout" else options[0].epochs
            entered = list(running)
            _phase(ensemble, data, options, phase, epochs, results, running, start, progress,
                   stop, monitors)
            for i, result in enumerate(results):
                if entered[i]:
                    result.phases[phase].update(status=result.status, message=result.message)
                    running[i] = result.status not in ("diverged", "interrupted")
            if not any(running):
                break
        for result in results:
            join_phase_messages(result, phases)
    except Exception as err:
        if not catch:
            raise
        for result in results:
            record_failure(result, err)
    elapsed = time.perf_counter() - start
    for result in results:
        result.elapsed = elapsed
    return results


def _check(nets, train_sets, test_sets, options) -> None:
    sizes = {(len(a), len(b)) for a, b in zip(train_sets, test_sets)}
    if not len(nets) == len(train_sets) == len(test_sets) == len(options) or len(sizes) > 1:
        raise ConfigError("an ensemble needs one training set, test set and TrainOptions per "
                          "member, every set of the same size as member 0's")
    if any(dataclasses.replace(o, seed=0) != dataclasses.replace(options[0], seed=0)
           for o in options):
        raise ConfigError("ensemble members' train options may differ only in train.seed")
    for net, tr, te in zip(nets, train_sets, test_sets):
        check_data(net, tr, "train_set")
        check_data(net, te, "test_set")


class _Phase:
    """What one phase keeps per running member, in the ensemble's current order (``ens.ids``):
    data, shuffling generators, momentum buffers, receptive fields; ``retain`` drops the
    members that stopped from all of it at once (and from the ensemble)."""

    def __init__(self, ens: Ensemble, data: dict, options: list[TrainOptions], phase: str,
                 epochs: int, monitors: list | None):
        self.ens, self.data, self.phase = ens, data, phase
        params = ens.rules[0].params
        self.clock = Clock([phase_learning_rates(r, ens.nets[0])[phase][0] for r in ens.rules],
                           epochs, options[0].schedule)
        self.slot = {member: k for k, member in enumerate(ens.ids)}   # member -> clock group
        self.momentum, self.buffers = getattr(params, "momentum", 0.0), {}
        self.decay = decay_factors(params, {k: w[0] for k, w in ens.learned(phase).items()})
        self.shuffles = [torch.Generator().manual_seed(options[i].seed) for i in ens.ids]
        # frozen layers: their output once, unless a monitor records the rates of every step
        self.monitors = monitors
        self.fields = (ens.readout_fields(data["x"]) if phase == "readout" and monitors is None
                       else None)

    def rates(self) -> list[float]:
        """η of every running member now."""
        rates = self.clock.rates()
        return [rates[self.slot[member]] for member in self.ens.ids]

    def retain(self, running: list[bool]) -> None:
        keep = [p for p, member in enumerate(self.ens.ids) if running[member]]
        if len(keep) == self.ens.size or not keep:
            return
        index = torch.tensor(keep, device=self.data["x"].device)
        self.ens.retain(keep)
        self.data.update({k: v[index] for k, v in self.data.items()})
        self.buffers = {k: b[index] for k, b in self.buffers.items()}
        self.shuffles = [self.shuffles[p] for p in keep]
        self.fields = None if self.fields is None else self.fields[index]

    def step(self, rows: torch.Tensor, running: list[bool], rates: list[float]):
        """One step of every member on its rows (E, B) at its rate ``rates`` (0 for a member
        that stopped): (loss (E,), the stacked tensors it updates, their update directions)."""
        ens, fields = self.ens, self.fields
        loss, updates = ens.step(member_rows(self.data["x"], rows),
                                 member_rows(self.data["y"], rows), self.phase,
                                 None if fields is None else member_rows(fields, rows),
                                 rates=self.monitors is not None)
        tensors = ens.learned(self.phase)
        grads = {k: self.decay[k] * w - updates[k] for k, w in tensors.items()}
        eta = torch.tensor([r if running[member] else 0.0 for r, member in zip(rates, ens.ids)],
                           dtype=loss.dtype, device=loss.device)
        sgd(tensors, grads, self.buffers, self.momentum, eta)
        return loss, tensors, updates


def member_rows(data: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Every member's rows (E, B) of its data (E, n, ...) -> (E, B, ...), as
    ``data[arange(E)[:, None], rows]`` but one ``index_select`` of the flattened (E·n, ...)
    tensor (four times faster at E = 12)."""
    e, n = data.shape[:2]
    flat = (torch.arange(e, device=rows.device)[:, None] * n + rows).flatten()
    return data.flatten(0, 1).index_select(0, flat).view(rows.shape + data.shape[2:])


def _phase(ens: Ensemble, data: dict, options: list[TrainOptions], phase: str, epochs: int,
           results: list[TrainResult], running: list[bool], start: float, progress, stop,
           monitors: list | None = None) -> None:
    """One phase of ``train._train_phase`` for every running member (that function's steps);
    ``running`` and ``results`` are indexed by member, the ensemble's positions by ``ens.ids``."""
    opts = options[0]
    state = _Phase(ens, data, options, phase, epochs, monitors)
    state.retain(running)                 # members that stopped in an earlier phase
    evaluate_at = evaluation_epochs(epochs, opts.evaluations)
    n, stops = data["x"].shape[1], phase != "local"
    first_epoch = [(r.history["epoch"] or [0])[-1] for r in results]
    done = {i: results[i].phases.setdefault(phase, {"epochs": 0, "steps": 0, "budget": epochs})
            for i in ens.ids}
    for epoch in range(1, epochs + 1):
        ids = list(ens.ids)               # members in this epoch
        for i in ids:
            done[i]["epochs"] = epoch
        orders = torch.stack([torch.randperm(n, generator=g) for g in state.shuffles])
        losses, counted = [], [0] * len(ids)    # loss (E,) of every step; steps per position
        for start_row in range(0, n, opts.batch_size):
            reason = stop() if stop is not None else ""
            if reason:
                for i in ids:
                    if running[i]:
                        results[i].status = "interrupted"
                        results[i].message = (f"{reason} at step {results[i].steps} "
                                              f"({_where(phase, epoch)})")
                return
            rows = orders[:, start_row:start_row + opts.batch_size].to(data["x"].device)
            rates = state.rates()
            loss, tensors, updates = state.step(rows, running, rates)
            bad = non_finite(loss, tensors)
            losses.append(loss)
            for p, i in enumerate(ids):
                if not running[i]:
                    continue
                result = results[i]
                result.steps += 1
                done[i]["steps"] += 1
                result.samples += rows.shape[1]
                counted[p] += 1
                if bad[p]:
                    result.status = "diverged"
                    result.message = (f"diverged at step {result.steps} ({_where(phase, epoch)})"
                                      f": non-finite {bad[p]}; lr={rates[p]:.4g}")
                    running[i] = False
            if monitors is not None:
                _record(ens, monitors, results, running, ids, loss, updates, first_epoch,
                        epoch)
            if not any(running[i] for i in ids):
                break
        lr_now = state.rates()
        state.clock.step()
        _end_of_epoch(ens, state.data, opts, phase, epoch, epochs, results, running, ids,
                      torch.stack(losses), counted, lr_now, evaluate_at, first_epoch, stops,
                      start, progress)
        if not any(running[i] for i in ids):
            return
        state.retain(running)
    for i in ens.ids:
        if running[i]:
            results[i].status, results[i].message = "max_epochs", f"{epochs} epochs"


def _record(ens, monitors, results, running, ids, loss, updates, first_epoch, epoch) -> None:
    """Step 6 for every member with a monitor that is still running after this step (as in
    ``train``, the step a member diverges at is not recorded): its net (weights, the step's
    rates), its loss and updates."""
    for p, i in enumerate(ids):
        if monitors[i] is not None and running[i]:
            step = StepResult(loss=loss[p], updates={k: u[p] for k, u in updates.items()})
            monitors[i].record(results[i].steps, ens.nets[p], step,
                               epoch=first_epoch[i] + epoch)


def _end_of_epoch(ens, data, opts, phase, epoch, epochs, results, running, ids, losses,
                  counted, lr_now, evaluate_at, first_epoch, stops, start, progress) -> None:
    """Steps 5–7 of the recipe for every member of this epoch (``ids``, by position)."""
    train_loss = [float(losses[:counted[p], p].contiguous().mean())
                  for p in range(len(ids))]       # (steps, E): position p's first counted[p]
    converged = [running[i] and stops and math.isfinite(train_loss[p])
                 and train_loss[p] < opts.stop_loss for p, i in enumerate(ids)]
    evaluate = [epoch in evaluate_at or converged[p] or not running[i]
                for p, i in enumerate(ids)]
    errors = None
    if any(e and running[i] for e, i in zip(evaluate, ids)):
        errors = (ens.errors(data["x"], data["y"]).tolist(),
                  ens.errors(data["x_test"], data["y_test"]).tolist())
    reports = {}
    for p, i in enumerate(ids):
        result = results[i]
        report = {"epoch": first_epoch[i] + epoch, "step": result.steps,
                  "train_loss": train_loss[p], "epochs": epochs, "phase": phase,
                  "phase_epoch": epoch}
        if evaluate[p]:
            result.elapsed = time.perf_counter() - start
            diverged = not running[i] and result.status == "diverged"
            report.update(train_error=math.nan if diverged else errors[0][p],
                          test_error=math.nan if diverged else errors[1][p],
                          lr=lr_now[p], elapsed=result.elapsed)
            for key, values in result.history.items():
                values.append(report[key])
        reports[i] = report
        if converged[p]:
            result.status = "converged"
            result.message = (f"train loss {train_loss[p]:.4g} < {opts.stop_loss} at epoch "
                              f"{epoch} of {epochs}")
            running[i] = False
    if progress is not None and reports:
        first = next(iter(reports))
        progress({**reports[first], "members": sum(running)})
