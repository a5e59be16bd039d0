"""The learning loop: one numbered recipe, no callback framework.

    1. place the network and the data on the device, draw the rule's fixed parts
    2. learning rate: η = lr · width (PRX mean-field) or lr; SGD with momentum on the rule's
       update directions (torch.optim.SGD with w.grad = −update + decay); cosine schedule.
       Weight decay as in the PRX code: a penalty λ · mean(w²) per weight tensor, i.e. the
       direction −2λ w / numel(w) (not torch's per-element λ w, which is numel times stronger)
    3. each epoch: shuffle, and for every batch the rule's step (forward, modulator, plasticity)
    4. stop at the first non-finite loss or weight (status "diverged", the step is named)
    5. evaluate (train loss, train error, test error) on a log-spaced schedule of epochs
    6. record into the monitor, report progress
    7. stop when the epoch's mean train loss falls below ``stop_loss`` (status "converged")
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .errors import ConfigError, check_int, impossible
from .metrics import test_error
from .network import Network
from .rhm import RHMBatch, one_hot

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


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 100
    batch_size: int = 128
    seed: int = 0                 # shuffling
    stop_loss: float = 0.01       # stop when the epoch's mean train loss is below (0: never)
    schedule: str = "cosine"      # "cosine" (T_max = epochs) | "constant"
    evaluations: int = 30         # about this many log-spaced evaluation epochs

    def __post_init__(self) -> None:
        check_int("train.epochs", self.epochs, 1)
        check_int("train.batch_size", self.batch_size, 1)
        check_int("train.evaluations", self.evaluations, 1)
        if self.schedule not in ("cosine", "constant"):
            raise impossible("train.schedule", self.schedule, "need 'cosine' or 'constant'")


@dataclass
class TrainResult:
    history: dict[str, list] = field(default_factory=lambda: {
        k: [] for k in ("epoch", "step", "train_loss", "train_error", "test_error", "lr",
                        "elapsed")})
    status: str = "running"       # converged | max_epochs | diverged
    message: str = ""
    steps: int = 0
    samples: int = 0
    elapsed: float = 0.0

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


def _learning_rate(rule, net: Network) -> float:
    params = rule.params
    width = net.hidden[-1].channels if net.hidden else 1
    return params.lr * (width if getattr(params, "lr_scale", "none") == "width" else 1)


def train(net: Network, rule, train_set: RHMBatch, test_set: RHMBatch,
          options: TrainOptions = TrainOptions(), *, monitor=None,
          progress: Callable[[dict], None] | None = None) -> TrainResult:
    """Train ``net`` with ``rule`` on ``train_set``; evaluate on ``test_set`` (module recipe)."""
    result = TrainResult()
    # 1. device, data, fixed parts of the rule
    device, dtype, v = net.device, net.dtype, net.input.channels
    x_train = one_hot(train_set.x, v, dtype).to(device)
    y_train = train_set.y.to(device)
    x_test, y_test = one_hot(test_set.x, v, dtype).to(device), test_set.y.to(device)
    rule.prepare(net)
    # 2. learning rate and optimiser
    weights = list(net.weights().values())
    params = rule.params
    optimiser = torch.optim.SGD(weights, lr=_learning_rate(rule, net),
                                momentum=getattr(params, "momentum", 0.0))
    decay = [2 * getattr(params, "weight_decay", 0.0) / w.numel() for w in weights]
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=options.epochs)
                if options.schedule == "cosine" else None)
    evaluate_at = evaluation_epochs(options.epochs, options.evaluations)
    shuffle = torch.Generator().manual_seed(options.seed)
    n, start = x_train.shape[0], time.perf_counter()
    for epoch in range(1, options.epochs + 1):
        # 3. one epoch of plasticity
        order = torch.randperm(n, generator=shuffle).to(device)
        losses = []
        for i in range(0, n, options.batch_size):
            rows = order[i:i + options.batch_size]
            step = rule.step(net, x_train[rows], y_train[rows])
            for w, name, lam in zip(weights, net.weights(), decay):
                w.grad = lam * w - step.updates[name]
            optimiser.step()
            result.steps += 1
            result.samples += rows.numel()
            losses.append(step.loss)
            # 4. divergence
            if not torch.isfinite(step.loss) or not all(bool(torch.isfinite(w).all())
                                                        for w in weights):
                what = "loss" if not torch.isfinite(step.loss) else "weight"
                result.status = "diverged"
                result.message = (f"diverged at step {result.steps} (epoch {epoch}): non-finite "
                                  f"{what}; lr={optimiser.param_groups[0]['lr']:.4g}")
                break
            if monitor is not None:
                monitor.record(result.steps, net, step, epoch=epoch)
        lr_now = optimiser.param_groups[0]["lr"]
        if schedule is not None:
            schedule.step()
        train_loss = float(torch.stack(losses).mean())
        converged = math.isfinite(train_loss) and train_loss < options.stop_loss
        # 5. evaluate
        report = {"epoch": epoch, "step": result.steps, "train_loss": train_loss,
                  "epochs": options.epochs}
        if epoch in evaluate_at or converged or result.status == "diverged":
            result.elapsed = time.perf_counter() - start
            report.update(train_error=test_error(net, x_train, y_train),
                          test_error=test_error(net, x_test, y_test), lr=lr_now,
                          elapsed=result.elapsed)
            for key, values in result.history.items():
                values.append(report[key])
        # 6. report
        if progress is not None:
            progress(report)
        if result.status == "diverged":
            break
        # 7. stop
        if converged:
            result.status = "converged"
            result.message = f"train loss {train_loss:.4g} < {options.stop_loss} at epoch {epoch}"
            break
    else:
        result.status = "max_epochs"
        result.message = f"{options.epochs} epochs"
    result.elapsed = time.perf_counter() - start
    return result
