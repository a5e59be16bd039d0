"""One phase of the training recipe (``plastisim.train``) for E members at once.

``Run`` holds what a training keeps from phase to phase: the members' tensors
(``members.Members``), their data on the device, every member's result and whether it still
runs. ``Phase`` runs recipe steps 2–7 of one phase for every running member: the learning-rate
clock, the shuffles, the draws, the batched step (``engine.Stepper``), the divergence flags
read outside the step, evaluations, recording and progress.
"""
from __future__ import annotations

import math
import time

import torch

from .engine import Stepper
from .members import Members, member_rows
from .optim import Clock, decay_factors
from .options import (Status, _where, evaluation_epochs, join_phase_messages,
                      phase_learning_rates, record_failure)
from .rhm import one_hot
from .rules.base import Batch, DrawContext, StepResult, trained_names

#: steps between two reads of the divergence flags (always at the end of an epoch)
CHECK_EVERY = 64


class Run:
    """One training of E members: the data, the members' tensors and every member's result."""

    def __init__(self, nets, rules, train_sets, test_sets, options, rhms, monitors, results,
                 progress, stop, multiple: bool):
        # 1. device, data, the rule's tensors
        self.members = m = Members(nets, rules)
        net = nets[0]
        self.device, self.dtype = net.device, net.dtype
        v = net.input.channels

        def inputs(sets):       # one-hot, positions-major (as the rates: synapses.py)
            x = [one_hot(s.x, v, self.dtype).transpose(1, 2) for s in sets]
            return m.stack(x).to(self.device).transpose(-1, -2)
        self.data = {"x": inputs(train_sets), "y": m.stack([s.y for s in train_sets]),
                     "x_test": inputs(test_sets), "y_test": m.stack([s.y for s in test_sets])}
        self.data = {k: t.to(self.device) for k, t in self.data.items()}
        self.train_sets, self.options, self.rhms = train_sets, options, rhms
        self.monitors = monitors if any(monitors) else None
        self.results, self.progress, self.stop = results, progress, stop
        self.running = [True] * len(nets)
        self.multiple = multiple

    def go(self, catch: bool) -> None:
        start = time.perf_counter()
        results, phases = self.results, self.members.rules[0].phases
        try:
            for phase in phases:
                entered = list(self.running)
                epochs = (self.members.rules[0].params.readout_epochs if phase == "readout"
                          else self.options[0].epochs)
                Phase(self, phase, epochs, start).go()
                for i, result in enumerate(results):
                    if entered[i]:
                        result.phases[phase].update(status=result.status,
                                                    message=result.message)
                        self.running[i] = result.status not in (Status.DIVERGED,
                                                                Status.INTERRUPTED)
                if not any(self.running):
                    break
            for result in results:
                join_phase_messages(result, phases)
        except Exception as err:
            if not catch:
                raise
            for result in results:
                record_failure(result, err)
        finally:
            self.members.share()
        for result in results:
            result.elapsed = time.perf_counter() - start


class Phase:
    """One phase of the recipe for every running member (steps 2–7)."""

    def __init__(self, run: Run, phase: str, epochs: int, start: float):
        self.run, self.phase, self.epochs, self.start = run, phase, epochs, start
        m = self.members = run.members
        self._retain()                                # members that stopped in a phase before
        net, rule = m.nets[0], m.rules[0]
        # 2. learning rates and the optimiser's tensors
        self.names = trained_names(net, rule.state, phase)
        tensors = {**net.weights(), **rule.state.learned}
        decay = decay_factors(rule.params, {n: tensors[n] for n in self.names})
        momentum = getattr(rule.params, "momentum", 0.0)
        self.clock = Clock([phase_learning_rates(r, net)[phase][0] for r in m.rules], epochs,
                           run.options[0].schedule)
        self.slot = {member: k for k, member in enumerate(m.ids)}   # member -> clock group
        self.shuffles = {i: torch.Generator().manual_seed(run.options[i].seed) for i in m.ids}
        trained = {**m.weights, **m.state.learned}
        self.buffers = {n: torch.zeros_like(trained[n]) for n in self.names} if momentum else {}
        # the layers below the readout are frozen in the readout phase: their output once
        # (unless a monitor records the rates of every step)
        self.record = run.monitors is not None
        self.fields = (m.readout_fields(run.data["x"]) if phase == "readout" and not self.record
                       else None)
        self.stepper = Stepper(net, rule, phase, self.names, decay, momentum,
                               members=m.size if m.stacked else 1,
                               compile=run.options[0].compile, record=self.record)
        self.done = {i: run.results[i].phases.setdefault(
            phase, {"epochs": 0, "steps": 0, "budget": epochs}) for i in m.ids}
        self.first_epoch = {i: (run.results[i].history["epoch"] or [0])[-1] for i in m.ids}

    def _retain(self) -> None:
        """Only the running members stay in the batched computation (stacked members)."""
        m, running = self.members, self.run.running
        keep = [p for p, i in enumerate(m.ids) if running[i]]
        if not m.stacked or len(keep) == m.size or not keep:
            return
        m.retain(keep)
        run = self.run
        run.data = m.take(run.data, keep)
        for name in ("buffers", "fields"):
            if getattr(self, name, None) is not None:
                setattr(self, name, m.take(getattr(self, name), keep))

    def _epoch_data(self, orders: list[torch.Tensor]) -> list:
        """x, y (and the readout's fields) of the epoch's order, each member its own."""
        tensors = [self.run.data["x"], self.run.data["y"]] + (
            [self.fields] if self.fields is not None else [])
        if not self.members.stacked:
            rows = orders[0].to(self.device)
            return [t[rows] for t in tensors]
        rows = torch.stack(orders).to(self.device)
        return [member_rows(t, rows) for t in tensors]

    @property
    def device(self):
        return self.run.device

    def go(self) -> None:
        run, m, phase = self.run, self.members, self.phase
        opts, running, results = run.options[0], run.running, run.results
        evaluate_at = evaluation_epochs(self.epochs, opts.evaluations)
        n = run.train_sets[0].x.shape[0]
        for epoch in range(1, self.epochs + 1):
            ids = list(m.ids)                 # members in this epoch, by position
            for i in ids:
                self.done[i]["epochs"] = epoch
            orders = [torch.randperm(n, generator=self.shuffles[i]) for i in ids]
            epoch_data = self._epoch_data(orders)
            rates = self.clock.rates()
            lr_now = [rates[self.slot[i]] for i in ids]
            self._set_lr(ids, lr_now)
            self.losses, self.pending, self.counted = [], [], [0] * len(ids)
            for row in range(0, n, opts.batch_size):
                reason = run.stop() if run.stop is not None else ""
                if reason:        # a step boundary: the state is that of a finished step
                    self._read_flags(ids, lr_now, epoch)
                    for i in ids:
                        if running[i]:
                            results[i].status = Status.INTERRUPTED
                            results[i].message = (f"{reason} at step {results[i].steps} "
                                                  f"({_where(phase, epoch)})")
                    return
                rows = slice(row, row + opts.batch_size)
                self._step(ids, orders, epoch_data, rows, lr_now, epoch)
                if not any(running[i] for i in ids):
                    break
            self._read_flags(ids, lr_now, epoch)
            self.clock.step()
            self._end_of_epoch(ids, epoch, lr_now, evaluate_at)
            if not any(running[i] for i in ids):
                return
            self._retain()
        for i in m.ids:
            if running[i]:
                results[i].status, results[i].message = Status.MAX_EPOCHS, f"{self.epochs} epochs"

    def _step(self, ids, orders, epoch_data, rows: slice, lr_now, epoch) -> None:
        """Step 3 for every member of this epoch: draws on the host, one batched step."""
        run, m, running = self.run, self.members, self.run.running
        stacked = m.stacked
        part = [t[:, rows] if stacked else t[rows] for t in epoch_data]
        batch = Batch(*part[:2], part[2] if len(part) > 2 else None)
        size = part[1].shape[-1]
        draws = {}
        if self.phase != "readout":
            progress = (epoch - 1) / self.epochs
            draws = m.stack([rule.draw(DrawContext(size, self.device, run.dtype, orders[p][rows],
                                                   run.train_sets[i], run.rhms[i], progress))
                             for p, (i, rule) in enumerate(zip(ids, m.rules))])
        m.weights, m.state, self.buffers, out = self.stepper(
            m.weights, m.state, self.buffers, batch, draws, self.lr)
        self.losses.append(out.loss)
        self.pending.append((out.loss_ok, out.weights_ok, size))
        for p, i in enumerate(ids):
            if running[i]:
                run.results[i].steps += 1
                self.done[i]["steps"] += 1
                run.results[i].samples += size
                self.counted[p] += 1
        if self.record or len(self.pending) >= CHECK_EVERY:
            self._read_flags(ids, lr_now, epoch)
        if self.record:
            self._record(ids, out, batch, epoch)

    def _set_lr(self, ids, lr_now) -> None:
        """The step's learning rates: η of every member this epoch, 0 for one that stopped
        ((E,), or 0-d for one member); made when they change, not at every step."""
        lr = torch.tensor([r if self.run.running[i] else 0.0 for r, i in zip(lr_now, ids)],
                          dtype=self.run.dtype, device=self.device)
        self.lr = lr if self.members.stacked else lr[0]

    def _read_flags(self, ids, lr_now, epoch) -> None:
        """Step 4: the divergence flags of the steps since the last read, in one transfer; a
        member that diverged goes back to the step it diverged at."""
        if not self.pending:
            return
        run = self.run
        flags = torch.stack([torch.stack([a, b]) for a, b, _ in self.pending]).cpu()
        flags = flags.reshape(len(self.pending), 2, -1)          # (steps, loss|weights, E)
        sizes = [size for _, _, size in self.pending]
        for p, i in enumerate(ids):
            ok = flags[:, 0, p] & flags[:, 1, p]
            if not run.running[i] or bool(ok.all()):
                continue
            j = int((~ok).nonzero()[0])
            after = len(sizes) - 1 - j             # steps counted after the diverged one
            result = run.results[i]
            result.steps -= after
            self.done[i]["steps"] -= after
            result.samples -= sum(sizes[j + 1:])
            self.counted[p] -= after
            bad = "loss" if not bool(flags[j, 0, p]) else "weight"
            result.status = Status.DIVERGED
            result.message = (f"diverged at step {result.steps} ({_where(self.phase, epoch)}):"
                              f" non-finite {bad}; lr={lr_now[p]:.4g}")
            run.running[i] = False
            self._set_lr(ids, lr_now)
        self.pending = []

    def _record(self, ids, out, batch: Batch, epoch) -> None:
        """Step 6 for every member with a monitor still running after this step (the step a
        member diverges at is not recorded): its net (weights, this step's rates), loss and
        updates."""
        run, m = self.run, self.members
        m.share()
        for p, i in enumerate(ids):
            monitor = run.monitors[i]
            if monitor is None or not run.running[i]:
                continue
            signals = m.member(out.signals, p)
            net = m.nets[p]
            net.input.rate = m.member(batch.x, p)
            for key, rate in signals.items():
                if key.startswith("rate:") and key[5:] in net.groups:
                    net.groups[key[5:]].rate = rate
            step = StepResult(loss=m.member(out.loss, p), updates=m.member(out.updates, p),
                              signals=signals)
            monitor.record(run.results[i].steps, net, step,
                           epoch=self.first_epoch[i] + epoch)

    def _end_of_epoch(self, ids, epoch, lr_now, evaluate_at) -> None:
        """Steps 5–7 for every member of this epoch (``ids``, by position)."""
        run, opts, running, results = self.run, self.run.options[0], self.run.running, \
            self.run.results
        losses = torch.stack(self.losses).reshape(len(self.losses), -1)     # (steps, E)
        train_loss = [float(losses[:self.counted[p], p].contiguous().mean())
                      for p in range(len(ids))]
        stops = self.phase != "local"       # a self-supervised loss has no "learned" threshold
        converged = [running[i] and stops and math.isfinite(train_loss[p])
                     and train_loss[p] < opts.stop_loss for p, i in enumerate(ids)]
        evaluate = [epoch in evaluate_at or converged[p] or not running[i]
                    for p, i in enumerate(ids)]
        errors = None
        if any(e and running[i] for e, i in zip(evaluate, ids)):
            errors = (self.members.errors(run.data["x"], run.data["y"]),
                      self.members.errors(run.data["x_test"], run.data["y_test"]))
        reports = {}
        for p, i in enumerate(ids):
            result = results[i]
            report = {"epoch": self.first_epoch[i] + epoch, "step": result.steps,
                      "train_loss": train_loss[p], "epochs": self.epochs, "phase": self.phase,
                      "phase_epoch": epoch}
            if evaluate[p]:
                result.elapsed = time.perf_counter() - self.start
                diverged = result.status == Status.DIVERGED
                report.update(train_error=math.nan if diverged else errors[0][p],
                              test_error=math.nan if diverged else errors[1][p],
                              lr=lr_now[p], elapsed=result.elapsed)
                for key, values in result.history.items():
                    values.append(report[key])
            reports[i] = report
            if converged[p]:
                result.status = Status.CONVERGED
                result.message = (f"train loss {train_loss[p]:.4g} < {opts.stop_loss} at "
                                  f"epoch {epoch} of {self.epochs}")
                running[i] = False
        if run.progress is not None and reports:
            first = next(iter(reports))
            extra = {"members": sum(running)} if run.multiple else {}
            run.progress({**reports[first], **extra})
