"""The learning loop of an ensemble: ``plastisim.train``'s recipe, every member at once.

Each member follows exactly the recipe of ``plastisim.train.train`` with its own settings — its
own shuffling (``options[i].seed``), learning rate and schedule (η_i, cosine over the same
epochs), momentum buffer, divergence and stopping — while the steps of all members are one
batched computation (``Ensemble.step``). A member that diverges (non-finite loss or weight) or
converges (train loss below ``stop_loss``) stops there with its status and message; its update
is then multiplied by a zero learning rate, so that the others go on unchanged. Member i's
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
from ..train import TrainOptions, TrainResult, _where, evaluation_epochs, learning_rate
from ..validate import check_data
from .members import Ensemble


def train_ensemble(nets: list[Network], rules: list, train_sets: list[RHMBatch],
                   test_sets: list[RHMBatch], options: list[TrainOptions], *,
                   rhms: list | None = None, progress: Callable[[dict], None] | None = None,
                   stop: Callable[[], str] | None = None, catch: bool = False
                   ) -> list[TrainResult]:
    """Train member i = (nets[i], rules[i]) on train_sets[i] as ``train`` would, all at once.

    The members must differ only in ``MEMBER_KEYS`` (seeds, learning rates) and have training
    and test sets of the same sizes; ``options`` may differ only in ``seed``. On return nets[i]
    holds member i's weights and rules[i] its tensors. ``rhms`` is accepted for symmetry with
    ``train`` (grammar-free rules do not read it). ``progress`` gets the report of the first
    running member with ``members`` (how many still run); ``stop`` and ``catch`` as in
    ``train``.
    """
    _check(nets, train_sets, test_sets, options)
    results = [TrainResult() for _ in nets]
    device, dtype, v = nets[0].device, nets[0].dtype, nets[0].input.channels
    stack = lambda sets, key: torch.stack([getattr(s, key) for s in sets]).to(device)  # noqa
    data = {"x": torch.stack([one_hot(s.x, v, dtype) for s in train_sets]).to(device),
            "y": stack(train_sets, "y"), "y_test": stack(test_sets, "y"),
            "x_test": torch.stack([one_hot(s.x, v, dtype) for s in test_sets]).to(device)}
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
                   stop)
            for i, result in enumerate(results):
                if entered[i]:
                    result.phases[phase].update(status=result.status, message=result.message)
                    running[i] = result.status not in ("diverged", "interrupted")
            if not any(running):
                break
        for result in results:
            if len(phases) > 1 and result.status in ("converged", "max_epochs"):
                result.message = "; ".join(f"{phase} phase: {done['message']}"
                                           for phase, done in result.phases.items())
    except Exception as err:
        if not catch:
            raise
        lines = str(err).strip().splitlines()
        for result in results:
            result.status, result.error = "failed", err
            result.message = (f"{type(err).__name__}: {lines[0] if lines else ''} (at step "
                              f"{result.steps})")
    for result in results:
        result.elapsed = time.perf_counter() - start
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


class _Clock:
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


def _sgd(tensors: dict, grads: dict, buffers: dict, momentum: float, rates: torch.Tensor
         ) -> None:
    """torch.optim.SGD's update (no dampening, no Nesterov) with one rate per member (E,):
    b ← g (first step) or μ b + g;  w ← w − η_i b."""
    for name, w in tensors.items():
        g = grads[name]
        if momentum:
            if name not in buffers:
                buffers[name] = g.clone()
            else:
                buffers[name].mul_(momentum).add_(g)
            g = buffers[name]
        w.sub_(g * rates.view((-1,) + (1,) * (w.ndim - 1)))


def _non_finite(loss: torch.Tensor, tensors: dict) -> list[str]:
    """Per member: "loss" or "weight" when either is NaN or infinite, else ""."""
    weights_ok = torch.stack([torch.isfinite(w).flatten(1).all(1) for w in tensors.values()]
                             ).all(0)
    loss_ok = torch.isfinite(loss)
    return ["" if ok_l and ok_w else ("loss" if not ok_l else "weight")
            for ok_l, ok_w in zip(loss_ok.tolist(), weights_ok.tolist())]


def _phase(ens: Ensemble, data: dict, options: list[TrainOptions], phase: str, epochs: int,
           results: list[TrainResult], running: list[bool], start: float, progress, stop
           ) -> None:
    """One phase of ``train._train_phase`` for every running member (that function's steps)."""
    size, opts = ens.size, options[0]
    tensors = ens.learned(phase)
    width = ens.nets[0].hidden[-1].channels if ens.nets[0].hidden else 1
    params = ens.rules[0].params
    clock = _Clock([learning_rate(r.params, phase, width)[0] for r in ens.rules], epochs,
                   opts.schedule)
    momentum, buffers = getattr(params, "momentum", 0.0), {}
    decay = {k: 2 * getattr(params, "weight_decay", 0.0) / w[0].numel()
             for k, w in tensors.items()}
    evaluate_at = evaluation_epochs(epochs, opts.evaluations)
    fields = ens.readout_fields(data["x"]) if phase == "readout" else None
    shuffles = [torch.Generator().manual_seed(o.seed) for o in options]
    n, stops = data["x"].shape[1], phase != "local"
    members = torch.arange(size, device=data["x"].device)[:, None]
    first_epoch = [(r.history["epoch"] or [0])[-1] for r in results]
    done = [r.phases.setdefault(phase, {"epochs": 0, "steps": 0, "budget": epochs}) if running[i]
            else None for i, r in enumerate(results)]
    for epoch in range(1, epochs + 1):
        active = list(running)            # members in this epoch
        for i in range(size):
            if active[i]:
                done[i]["epochs"] = epoch
        orders = torch.stack([torch.randperm(n, generator=g) for g in shuffles])
        losses, counted = [], [0] * size     # loss (E,) of every step; steps per member
        for start_row in range(0, n, opts.batch_size):
            reason = stop() if stop is not None else ""
            if reason:
                for i in range(size):
                    if running[i]:
                        results[i].status = "interrupted"
                        results[i].message = (f"{reason} at step {results[i].steps} "
                                              f"({_where(phase, epoch)})")
                return
            rows = orders[:, start_row:start_row + opts.batch_size].to(data["x"].device)
            loss, updates = ens.step(data["x"][members, rows], data["y"][members, rows], phase,
                                     None if fields is None else fields[members, rows])
            grads = {k: decay[k] * w - updates[k] for k, w in tensors.items()}
            gate = torch.tensor(running, dtype=loss.dtype, device=loss.device)
            rates = torch.tensor(clock.rates(), dtype=loss.dtype, device=loss.device) * gate
            _sgd(tensors, grads, buffers, momentum, rates)
            bad = _non_finite(loss, tensors)
            losses.append(loss)
            for i in range(size):
                if not running[i]:
                    continue
                result = results[i]
                result.steps += 1
                done[i]["steps"] += 1
                result.samples += rows.shape[1]
                counted[i] += 1
                if bad[i]:
                    result.status = "diverged"
                    result.message = (f"diverged at step {result.steps} ({_where(phase, epoch)})"
                                      f": non-finite {bad[i]}; lr={clock.rates()[i]:.4g}")
                    running[i] = False
            if not any(running):
                break
        lr_now = clock.rates()
        clock.step()
        _end_of_epoch(ens, data, opts, phase, epoch, epochs, results, running, active,
                      torch.stack(losses), counted, lr_now, evaluate_at, first_epoch, stops, start, progress)
        if not any(running):
            return
    for i in range(size):
        if running[i]:
            results[i].status, results[i].message = "max_epochs", f"{epochs} epochs"


def _end_of_epoch(ens, data, opts, phase, epoch, epochs, results, running, active, losses,
                  counted, lr_now, evaluate_at, first_epoch, stops, start, progress) -> None:
    """Steps 5–7 of the recipe for every member that took part in this epoch."""
    train_loss = [float(losses[:counted[i], i].contiguous().mean()) if active[i] else math.nan
                  for i in range(ens.size)]       # (steps, E): member i's first counted[i]
    converged = [active[i] and running[i] and stops and math.isfinite(train_loss[i])
                 and train_loss[i] < opts.stop_loss for i in range(ens.size)]
    evaluate = [active[i] and (epoch in evaluate_at or converged[i] or not running[i])
                for i in range(ens.size)]
    errors = None
    if any(e and running[i] for i, e in enumerate(evaluate)):
        errors = (ens.errors(data["x"], data["y"]).tolist(),
                  ens.errors(data["x_test"], data["y_test"]).tolist())
    reports = {}
    for i, result in enumerate(results):
        if not active[i]:
            continue
        report = {"epoch": first_epoch[i] + epoch, "step": result.steps,
                  "train_loss": train_loss[i], "epochs": epochs, "phase": phase,
                  "phase_epoch": epoch}
        if evaluate[i]:
            result.elapsed = time.perf_counter() - start
            diverged = result.status == "diverged" and not running[i]
            report.update(train_error=math.nan if diverged else errors[0][i],
                          test_error=math.nan if diverged else errors[1][i],
                          lr=lr_now[i], elapsed=result.elapsed)
            for key, values in result.history.items():
                values.append(report[key])
        reports[i] = report
        if converged[i]:
            result.status = "converged"
            result.message = (f"train loss {train_loss[i]:.4g} < {opts.stop_loss} at epoch "
                              f"{epoch} of {epochs}")
            running[i] = False
    if progress is not None and reports:
        first = next(iter(reports))
        progress({**reports[first], "members": sum(running)})
