"""What a training run is given and what it gives back: options, result, status, rates.

``TrainOptions`` are the loop's settings (the ``[train]`` section of a model file less the data
sizes); ``TrainResult`` the learning curve, the status and the counts of one run (one member);
``learning_rate`` the η of each phase and how it is made (recipe 2 of ``plastisim.train``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

import torch

from .diskspace import DiskFullError
from .errors import ConfigError
from .validate import AUTO_OR_FLAG, integer, nonnegative, one_of, random_seed

DTYPES = {"float32": torch.float32, "float64": torch.float64}
SCHEDULES = ("cosine", "constant")
COMPILE = ("auto", True, False)    # torch.compile the step: on CUDA only, always, never


class Status(str, Enum):
    """How a run ended (its value is the word written to files and printed)."""

    RUNNING = "running"
    CONVERGED = "converged"          # train loss below stop_loss
    MAX_EPOCHS = "max_epochs"        # the epoch budget ran out
    DIVERGED = "diverged"            # a non-finite loss or weight
    INTERRUPTED = "interrupted"      # stop() asked (a signal)
    FAILED = "failed"                # an exception, caught

    def __str__(self) -> str:
        return self.value


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


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 100
    batch_size: int = 128         # larger than the data: one full batch per epoch
    seed: int = 0                 # shuffling
    stop_loss: float = 0.01       # stop when the epoch's mean train loss is below (0: never)
    schedule: str = "cosine"      # "cosine" (T_max = epochs) | "constant"
    evaluations: int = 30         # about this many log-spaced evaluation epochs
    compile: str | bool = "auto"  # torch.compile the step: "auto" (on CUDA), True, False

    def __post_init__(self) -> None:
        checks = {"epochs": integer(1), "batch_size": integer(1), "seed": random_seed,
                  "stop_loss": nonnegative, "schedule": one_of(*SCHEDULES),
                  "evaluations": integer(1), "compile": AUTO_OR_FLAG}
        for name, check in checks.items():
            check(f"train.{name}", getattr(self, name))
        object.__setattr__(self, "compile", AUTO_OR_FLAG("train.compile", self.compile))


@dataclass
class TrainResult:
    history: dict[str, list] = field(default_factory=lambda: {
        k: [] for k in ("epoch", "step", "phase", "train_loss", "train_error", "test_error",
                        "lr", "elapsed")})
    status: Status = Status.RUNNING
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


def phase_learning_rates(rule, net) -> dict[str, tuple[float, str]]:
    """``learning_rate`` of every phase of ``rule`` on ``net`` (width: its top hidden layer)."""
    width = net.hidden[-1].channels if net.hidden else 1
    return {phase: learning_rate(rule.params, phase, width)
            for phase in getattr(rule, "phases", ("joint",))}


def _where(phase: str, epoch: int) -> str:
    """"epoch 3, joint phase", or "epoch 3 of the readout phase" (epochs count per phase)."""
    return f"epoch {epoch}, {phase} phase" if phase == "joint" else \
        f"epoch {epoch} of the {phase} phase"


def join_phase_messages(result: TrainResult, phases: tuple[str, ...]) -> None:
    """A run of several phases that ended well: "local phase: ...; readout phase: ..."."""
    if len(phases) > 1 and result.status in (Status.CONVERGED, Status.MAX_EPOCHS):
        result.message = "; ".join(f"{phase} phase: {done['message']}"
                                   for phase, done in result.phases.items())


def record_failure(result: TrainResult, err: Exception) -> None:
    """Status "failed": the exception's type and first line, and the step it happened at; a
    full disk says so: "disk full (needed ~X, free Y) at step N"."""
    lines = str(err).strip().splitlines()
    result.status, result.error = Status.FAILED, err
    if isinstance(err, DiskFullError):
        result.message = f"{err.short} at step {result.steps}"
        return
    result.message = (f"{type(err).__name__}: {lines[0] if lines else ''} (at step "
                      f"{result.steps})")
