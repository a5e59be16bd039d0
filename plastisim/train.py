"""The learning loop: one numbered recipe, no callback framework.

    1. place the network and the data on the device, draw the rule's fixed parts
    2. learning rate: η = lr · width (PRX mean-field) or lr; SGD with momentum on the rule's
       update directions (torch.optim.SGD with w.grad = −update + decay); cosine schedule.
       Weight decay as in the PRX code: a penalty λ · mean(w²) per weight tensor, i.e. the
       direction −2λ w / numel(w) (not torch's per-element λ w, which is numel times stronger)
    3. each epoch: shuffle, and for every batch the rule's step (forward, modulator, plasticity)
    4. stop at the first non-finite loss or weight (status "diverged", the step is named); the
       errors of that last evaluation are NaN, not numbers computed from non-finite weights
    5. evaluate (train loss, train error, test error) on a log-spaced schedule of epochs
    6. record into the monitor, report progress
    7. stop when the epoch's mean train loss falls below ``stop_loss`` (status "converged")

Other endings: ``stop()`` (e.g. ``plastisim.interrupt.Signals`` after SIGINT / SIGTERM) is read
before every step and ends the run at that step boundary (status "interrupted", the reason and
the step in the message); with ``catch=True`` an exception inside the loop ends it as "failed"
(its message and step; ``result.error`` holds it) instead of propagating. Either way the
learning curve up to there is kept.

Layerwise self-supervised rules run two phases, each with this recipe and its own optimiser:
"local" (every hidden layer and predictor on its own loss, no stopping threshold), then
"readout" (the linear readout on the frozen representation, stopping as above). Epochs are
counted per phase in messages and in ``TrainResult.phases`` (the learning curve's ``epoch``
runs on across phases); ``phase_learning_rates`` gives each phase's η and how it is made.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .diskspace import DiskFullError
from .errors import ConfigError
from .metrics import readout_fields, test_error
from .network import Network
from .rhm import RHMBatch, one_hot
from .rules.base import StepContext
from .validate import check_data, integer, nonnegative, one_of, random_seed

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> cuda when available, else cpu; a device that does not exist is a ConfigError."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    available = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if dev is None or dev.type not in ("cpu", "cuda") or (
            dev.type == "cuda" and not torch.cuda.is_available()):
        raise ConfigError(f"device={str(device)!r} is not available on this machine; "
                          f"available: {', '.join(available)}")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device={str(device)!r} does not exist: this machine has "
                          f"{torch.cuda.device_count()} CUDA device(s)")
    return dev


SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 100
    batch_size: int = 128         # larger than the data: one full batch per epoch
    seed: int = 0                 # shuffling
    stop_loss: float = 0.01       # stop when the epoch's mean train loss is below (0: never)
    schedule: str = "cosine"      # "cosine" (T_max = epochs) | "constant"
    evaluations: int = 30         # about this many log-spaced evaluation epochs

    def __post_init__(self) -> None:
        checks = {"epochs": integer(1), "batch_size": integer(1), "seed": random_seed,
                  "stop_loss": nonnegative, "schedule": one_of(*SCHEDULES),
                  "evaluations": integer(1)}
        for name, check in checks.items():
            check(f"train.{name}", getattr(self, name))


@dataclass
class TrainResult:
    history: dict[str, list] = field(default_factory=lambda: {
        k: [] for k in ("epoch", "step", "phase", "train_loss", "train_error", "test_error",
                        "lr", "elapsed")})
    status: str = "running"       # converged | max_epochs | diverged | interrupted | failed
    message: str = ""
    steps: int = 0
    samples: int = 0
    elapsed: float = 0.0
    error: BaseException | None = field(default=None, repr=False)   # of a "failed" run
    #: per phase run (joint, or local then readout): epochs and steps done, the phase's budget
    #: of epochs, its status and message
    phases: dict[str, dict] = field(default_factory=dict)

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.elapsed if self.elapsed > 0 else float("nan")

    @property
    def final(self) -> dict[str, float]:
        return {k: v[-1] for k, v in self.history.items() if v}


def evaluation_epochs(epochs: int, count: int) -> set[int]:
    """About ``count`` log-spaced epochs in 1..epochs, always including 1 and ``epochs``."""
    points = {int(round(math.exp(t * math.log(epochs) / max(count - 1, 1))))
              for t in range(count)}
    return {p for p in points if 1 <= p <= epochs} | {1, epochs}


def learning_rate(params, phase: str, width: int) -> tuple[float, str]:
    """(η, how it is made) of a phase at the start of its schedule: the readout phase uses
    η = readout_lr · width, the others η = lr · width (``lr_scale = "width"``) or η = lr
    (``"none"``): e.g. (25.6, "η = 0.1 × width 256 = 25.6 (rule.lr × width)")."""
    if phase == "readout":
        lr, key, scaled = params.readout_lr, "rule.readout_lr", True
    else:
        lr, key, scaled = params.lr, "rule.lr", getattr(params, "lr_scale", "none") == "width"
    if not scaled:
        return float(lr), f"η = {lr:g} ({key}, not scaled by width)"
    eta = lr * width
    return float(eta), f"η = {lr:g} × width {width} = {eta:g} ({key} × width)"


def phase_learning_rates(rule, net: Network) -> dict[str, tuple[float, str]]:
    """``learning_rate`` of every phase of ``rule`` on ``net`` (width: its top hidden layer)."""
    width = net.hidden[-1].channels if net.hidden else 1
    return {phase: learning_rate(rule.params, phase, width)
            for phase in getattr(rule, "phases", ("joint",))}


def _where(phase: str, epoch: int) -> str:
    """"epoch 3, joint phase", or "epoch 3 of the readout phase" (epochs count per phase)."""
    return f"epoch {epoch}, {phase} phase" if phase == "joint" else \
        f"epoch {epoch} of the {phase} phase"


def _phase_parameters(rule, net: Network, phase: str) -> dict:
    """The tensors a phase updates: all weights ("joint"), hidden weights and the rule's own
    tensors ("local"), or the readout alone ("readout")."""
    weights = net.weights()
    if phase == "readout":
        return {"readout": weights["readout"]}
    if phase == "local":
        weights = {k: w for k, w in weights.items() if k != "readout"}
        return {**weights, **rule.extra_parameters()}
    return weights


@dataclass
class _Data:
    """Training and test tensors on the device, and the RHM rows for rules that build views."""

    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    batch: RHMBatch
    rhm: object
    fields: torch.Tensor | None = None   # readout receptive fields of x (readout phase)


def train(net: Network, rule, train_set: RHMBatch, test_set: RHMBatch,
          options: TrainOptions = TrainOptions(), *, rhm=None, monitor=None,
          progress: Callable[[dict], None] | None = None,
          stop: Callable[[], str] | None = None, catch: bool = False) -> TrainResult:
    """Train ``net`` with ``rule`` on ``train_set``; evaluate on ``test_set`` (module recipe).

    Rules with ``phases = ("local", "readout")`` (layerwise self-supervised) run ``options.epochs``
    epochs of local plasticity, then ``rule.params.readout_epochs`` of readout; ``rhm`` is needed
    by rules that build synonym views. ``stop``: a reason to stop ("" to go on), read before
    every step; ``catch``: record an exception as status "failed" (module docstring).
    ``monitor`` records step n of this run as step ``monitor.last_step + n`` (epochs likewise):
    a monitor used again continues its numbering (``plastisim.monitor``).
    """
    check_data(net, train_set, "train_set")      # data of this RHM and this network
    check_data(net, test_set, "test_set")
    if hasattr(monitor, "check_network"):
        monitor.check_network(net)               # the network the monitor was made for
    monitor = continued(monitor)
    result = TrainResult()
    # 1. device, data, fixed parts of the rule
    device, dtype, v = net.device, net.dtype, net.input.channels
    data = _Data(one_hot(train_set.x, v, dtype).to(device), train_set.y.to(device),
                 one_hot(test_set.x, v, dtype).to(device), test_set.y.to(device), train_set, rhm)
    rule.prepare(net)
    start = time.perf_counter()
    try:
        phases = getattr(rule, "phases", ("joint",))
        for phase in phases:
            epochs = rule.params.readout_epochs if phase == "readout" else options.epochs
            _train_phase(net, rule, data, options, phase, epochs, result, start, monitor,
                         progress, stop)
            result.phases[phase].update(status=result.status, message=result.message)
            if result.status in ("diverged", "interrupted"):
                break
        join_phase_messages(result, phases)
    except Exception as err:
        if not catch:
            raise
        record_failure(result, err)
    result.elapsed = time.perf_counter() - start
    return result


@dataclass
class _Continued:
    """A monitor recording step n (epoch e) of this run as ``step + n`` (``epoch + e``)."""

    monitor: object
    step: int
    epoch: int

    def record(self, step_index: int, net: Network, step=None, epoch: int = 0) -> bool:
        return self.monitor.record(self.step + step_index, net, step, epoch=self.epoch + epoch)


def continued(monitor):
    """``monitor`` numbering a run's steps and epochs after its ``last_step`` and
    ``last_epoch`` (a ``Monitor`` has them; 0 otherwise), so that a monitor given to a second
    run continues where the first ended; None stays None."""
    if monitor is None:
        return None
    return _Continued(monitor, getattr(monitor, "last_step", 0),
                      getattr(monitor, "last_epoch", 0))


def decay_factors(params, tensors: dict) -> dict[str, float]:
    """2λ / numel(w) per tensor: the PRX weight decay λ · mean(w²) as a direction (recipe 2)."""
    return {k: 2 * getattr(params, "weight_decay", 0.0) / w.numel() for k, w in tensors.items()}


def join_phase_messages(result: TrainResult, phases: tuple[str, ...]) -> None:
    """A run of several phases that ended well: "local phase: ...; readout phase: ..."."""
    if len(phases) > 1 and result.status in ("converged", "max_epochs"):
        result.message = "; ".join(f"{phase} phase: {done['message']}"
                                   for phase, done in result.phases.items())


def record_failure(result: TrainResult, err: Exception) -> None:
    """Status "failed": the exception's type and first line, and the step it happened at; a
    full disk says so: "disk full (needed ~X, free Y) at step N"."""
    lines = str(err).strip().splitlines()
    result.status, result.error = "failed", err
    if isinstance(err, DiskFullError):
        result.message = f"{err.short} at step {result.steps}"
        return
    result.message = (f"{type(err).__name__}: {lines[0] if lines else ''} (at step "
                      f"{result.steps})")


def _train_phase(net, rule, data: _Data, options: TrainOptions, phase: str, epochs: int,
                 result: TrainResult, start: float, monitor, progress, stop=None) -> None:
    # 2. learning rate and optimiser
    tensors = _phase_parameters(rule, net, phase)
    params = rule.params
    width = net.hidden[-1].channels if net.hidden else 1
    optimiser = torch.optim.SGD(list(tensors.values()),
                                lr=learning_rate(params, phase, width)[0],
                                momentum=getattr(params, "momentum", 0.0))
    decay = decay_factors(params, tensors)
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
                if options.schedule == "cosine" else None)
    evaluate_at = evaluation_epochs(epochs, options.evaluations)
    # the layers below the readout are frozen in the readout phase: compute their output once
    # (unless a monitor records the rates of every step)
    data.fields = (readout_fields(net, data.x) if phase == "readout" and monitor is None
                   else None)
    shuffle = torch.Generator().manual_seed(options.seed)
    n, first_epoch = data.x.shape[0], (result.history["epoch"] or [0])[-1]
    stops = phase != "local"          # a self-supervised loss has no "learned" threshold
    done = result.phases.setdefault(phase, {"epochs": 0, "steps": 0, "budget": epochs})
    for epoch in range(1, epochs + 1):
        done["epochs"] = epoch
        # 3. one epoch of plasticity
        order = torch.randperm(n, generator=shuffle)
        losses = []
        for i in range(0, n, options.batch_size):
            reason = stop() if stop is not None else ""
            if reason:                # a step boundary: the state is that of a finished step
                result.status = "interrupted"
                result.message = f"{reason} at step {result.steps} ({_where(phase, epoch)})"
                return
            rows = order[i:i + options.batch_size]
            step = _step(rule, net, data, rows.to(data.x.device), rows, result.steps, phase)
            for name, w in tensors.items():
                w.grad = decay[name] * w - step.updates[name]
            optimiser.step()
            result.steps += 1
            done["steps"] += 1
            result.samples += rows.numel()
            losses.append(step.loss)
            # 4. divergence
            bad = _non_finite(step.loss, tensors)
            if bad:
                result.status = "diverged"
                result.message = (f"diverged at step {result.steps} ({_where(phase, epoch)}):"
                                  f" non-finite {bad}; "
                                  f"lr={optimiser.param_groups[0]['lr']:.4g}")
                break
            if monitor is not None:
                monitor.record(result.steps, net, step, epoch=first_epoch + epoch)
        lr_now = optimiser.param_groups[0]["lr"]
        if schedule is not None:
            schedule.step()
        train_loss = float(torch.stack(losses).mean())
        converged = stops and math.isfinite(train_loss) and train_loss < options.stop_loss
        # 5. evaluate
        report = {"epoch": first_epoch + epoch, "step": result.steps, "train_loss": train_loss,
                  "epochs": epochs, "phase": phase, "phase_epoch": epoch}
        if epoch in evaluate_at or converged or result.status == "diverged":
            result.elapsed = time.perf_counter() - start
            if result.status == "diverged":     # no errors computed from non-finite weights
                errors = {"train_error": math.nan, "test_error": math.nan}
            else:
                errors = {"train_error": test_error(net, data.x, data.y),
                          "test_error": test_error(net, data.x_test, data.y_test)}
            report.update(errors, lr=lr_now, elapsed=result.elapsed)
            for key, values in result.history.items():
                values.append(report[key])
        # 6. report
        if progress is not None:
            progress(report)
        if result.status == "diverged":
            return
        # 7. stop
        if converged:
            result.status = "converged"
            result.message = (f"train loss {train_loss:.4g} < {options.stop_loss} at epoch "
                              f"{epoch} of {epochs}")
            return
    result.status = "max_epochs"
    result.message = f"{epochs} epochs"


def _step(rule, net: Network, data: _Data, rows, cpu_rows, step_index: int, phase: str):
    """One plasticity step of the rule on the given rows."""
    x, y = data.x[rows], data.y[rows]
    if phase == "joint":
        return rule.step(net, x, y)
    ctx = StepContext(rhm=data.rhm, batch=data.batch[cpu_rows], step=step_index, pool=data.batch,
                      rows=cpu_rows, fields=None if data.fields is None else data.fields[rows])
    return rule.step(net, x, y, ctx, phase)


def _non_finite(loss: torch.Tensor, tensors: dict) -> str:
    """"loss" or "weight" when either is NaN or infinite, else ""."""
    if not torch.isfinite(loss):
        return "loss"
    if not all(bool(torch.isfinite(w).all()) for w in tensors.values()):
        return "weight"
    return ""
