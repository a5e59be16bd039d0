"""Ensemble throughput: E networks in one batched pass against E runs one after another.

For a rule, a width and an ensemble size E, ``bench_ensemble`` measures in the same call

* ``plastisim.train.train`` of E members (lists: one batched step of all members), and
* the reference: the same E members trained one after another by ``train`` of one network,

where member i has its own network seed i, data seed i, shuffling seed i, rule seeds i
(``feedback_seed``, ``seed``) and learning rate lr · (1 + 0.01 i) (the rule's default lr;
members may differ in ``plastisim.members.MEMBER_KEYS``), on the PRX CNN for the RHM
v = n_c = 8, m = 4, s = 2, L = 3, batch 128, one epoch of ``steps`` batches. ``clapp`` and
``vicreg`` pair siblings (``pairs = "siblings"``: grammar-free pairs, drawn from the input
alone); for these layerwise rules the local phase is timed (one readout epoch follows,
untimed). Every run uses ``TrainOptions``' default ``compile = "auto"`` (compiled on CUDA,
eager on a CPU).

The figure is member-samples per second of the plasticity steps: the time from the start of
step ``warmup + 1`` to the start of the last step, read by the ``stop`` callable that both
loops call before every step (set-up, ``rule.prepare``, the first ``warmup`` steps and the
evaluations are not in it; ``wall_s`` gives whole calls). ``speedup`` is the ensemble's
member-samples/s over the reference's; repeats are interleaved (ensemble, reference, ...)
and every figure is the median over them, after one untimed call of each per rule.

Memory per member: on CUDA the peak of ``torch.cuda.max_memory_allocated`` over a whole call
(building the members, training, evaluations), less what was allocated before it, divided by
E (the reference: the largest of its runs); on CPU the same with the process's peak resident
memory (VmHWM, reset through ``/proc/self/clear_refs`` after glibc's ``malloc_trim``; Linux
only, approximate, None elsewhere).
``state_bytes_per_member`` counts the tensors a member's optimiser updates, with one momentum
buffer each (exact, the same on any device).

For ``bp`` each row also gives the arithmetic of a step (``bp_flops_per_sample``) and the FLOP/s
that the ensemble reached with it.
"""
from __future__ import annotations

import ctypes
import gc
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import rules as registry
from ..network import hierarchy
from ..rhm import RHM, RHMBatch
from ..train import TrainOptions, resolve_device, train
from .timing import machine, resident_bytes

RHM_PARAMS = {"v": 8, "n_classes": 8, "m": 4, "s": 2, "L": 3}
#: rule parameters of the benchmark beyond the defaults (grammar-free pairs for the SSL rules)
RULE_PARAMS = {"clapp": {"pairs": "siblings", "readout_epochs": 1},
               "vicreg": {"pairs": "siblings", "readout_epochs": 1}}
N_TEST = 512


def bp_flops_per_sample(rhm: RHM, width: int) -> int:
    """Floating-point operations of the matrix products of one bp step, per sample.

    With M_l the multiply-adds of layer l's forward drive (positions_l · width · s · C_{l-1},
    the readout width · n_c), a bp step computes the forward drives (2 Σ M_l), the weight
    gradients (2 Σ M_l) and the signals sent down (2 Σ_{l≥2} M_l, none to the input):
    6 Σ_l M_l − 2 M_1 (torch's ``FlopCounterMode`` gives the same count).
    """
    macs, channels, positions = [], rhm.v, rhm.input_size
    for _ in range(rhm.L):
        positions //= rhm.s
        macs.append(positions * width * rhm.s * channels)
        channels = width
    macs.append(width * rhm.n_classes)
    return 6 * sum(macs) - 2 * macs[0]


class _Clock:
    """A ``stop`` callable that notes the time before every step and never stops a run."""

    def __init__(self, device: torch.device):
        self.times: list[float] = []
        self.cuda = device.type == "cuda"

    def __call__(self) -> str:
        if self.cuda:                 # the steps before have finished on the device
            torch.cuda.synchronize()
        self.times.append(time.perf_counter())
        return ""

    def window(self, first: int, last: int) -> float:
        """Seconds from the start of step ``first + 1`` to the start of step ``last + 1``."""
        if len(self.times) <= last:
            raise RuntimeError(f"the run stopped before step {last + 1} (it stepped "
                               f"{len(self.times)} times): a member diverged or failed")
        return self.times[last] - self.times[first]


def _trim() -> None:
    """Give the memory glibc holds free back to the system (``malloc_trim``), so that what a
    measured call allocates shows in the resident size; nothing where there is no glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _Peak:
    """Peak memory of the block above what it started with (module docstring), in bytes;
    ``bytes`` is None where it cannot be measured."""

    def __init__(self, device: torch.device):
        self.device, self.bytes = device, None

    def __enter__(self) -> _Peak:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
        else:
            try:
                _trim()                                          # freed memory back to the OS
                Path("/proc/self/clear_refs").write_text("5")    # VmHWM := VmRSS
                self.base = resident_bytes()[0]
            except OSError:
                self.base = None
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.bytes = torch.cuda.max_memory_allocated(self.device) - self.base
        elif self.base is not None:
            self.bytes = resident_bytes()[1] - self.base


def _rule(name: str, member: int):
    """Member ``member``'s rule: its own learning rate and rule seeds (feedback, pairs), and the
    benchmark's ``RULE_PARAMS``."""
    defaults = vars(registry.make_params(name))
    seeds = {key: member for key in ("seed", "feedback_seed") if key in defaults}
    return registry.get(name, lr=defaults["lr"] * (1 + 0.01 * member), **seeds,
                        **RULE_PARAMS.get(name, {}))


def state_bytes(net, rule) -> int:
    """Bytes of the tensors a run's optimiser updates (weights and the rule's learned tensors,
    ``rule.state.learned``), with one momentum buffer each; ``rule`` prepared for ``net``."""
    tensors = {**net.weights(), **rule.state.learned}
    return 2 * sum(t.numel() * t.element_size() for t in tensors.values())


@dataclass(frozen=True)
class _Setup:
    """What the rows of one rule and width share; ``data``: (train_set, test_set) per member."""

    rule: str
    width: int
    rhm: RHM
    data: list[tuple[RHMBatch, RHMBatch]]
    batch_size: int
    steps: int
    warmup: int
    device: torch.device

    def member(self, i: int) -> tuple:
        """(net, rule, train_set, test_set, options) of member i (module docstring)."""
        options = TrainOptions(epochs=1, batch_size=self.batch_size, seed=i, stop_loss=0.0,
                               evaluations=1)
        return (hierarchy(self.rhm, self.width, seed=i, device=self.device),
                _rule(self.rule, i), *self.data[i], options)

    def timed(self, clock: _Clock) -> tuple[int, float]:
        """(samples, seconds) of a run's timed steps, from its clock."""
        return (self.batch_size * (self.steps - 1 - self.warmup),
                clock.window(self.warmup, self.steps - 1))


def _run_ensemble(setup: _Setup, size: int) -> dict:
    """One ``train`` call of members 0..size-1 (lists: one batched step)."""
    with _Peak(setup.device) as peak:
        members = [setup.member(i) for i in range(size)]
        nets, rules, train_sets, test_sets, options = (list(c) for c in zip(*members))
        clock, start = _Clock(setup.device), time.perf_counter()
        results = train(nets, rules, train_sets, test_sets, options, rhm=setup.rhm,
                        stop=clock)
        wall = time.perf_counter() - start
    samples, seconds = setup.timed(clock)
    return {"rate": size * samples / seconds, "wall": wall,
            "peak": None if peak.bytes is None else peak.bytes / size,
            "statuses": Counter(str(r.status) for r in results)}


def _run_sequential(setup: _Setup, size: int) -> dict:
    """Members 0..size-1 trained one after another by ``train``; the peak of the largest."""
    samples = seconds = wall = 0.0
    peaks, statuses = [], Counter()
    for i in range(size):
        with _Peak(setup.device) as peak:
            net, rule, train_set, test_set, options = setup.member(i)
            clock, start = _Clock(setup.device), time.perf_counter()
            result = train(net, rule, train_set, test_set, options, rhm=setup.rhm, stop=clock)
            wall += time.perf_counter() - start
        n, t = setup.timed(clock)
        samples, seconds = samples + n, seconds + t
        peaks.append(peak.bytes)
        statuses[str(result.status)] += 1   # plain words in the JSON rows
    return {"rate": samples / seconds, "wall": wall,
            "peak": None if None in peaks else max(peaks), "statuses": statuses}


def _row(setup: _Setup, size: int, repeats: int) -> dict:
    """One row: the ensemble of ``size`` members and its reference, repeats interleaved."""
    runs = {"ensemble": [], "sequential": []}
    for _ in range(repeats):
        runs["ensemble"].append(_run_ensemble(setup, size))
        runs["sequential"].append(_run_sequential(setup, size))
    out: dict = {"rule": setup.rule, "width": setup.width, "members": size}
    for kind, measured in runs.items():
        peaks = [m["peak"] for m in measured]
        out[f"{kind}_member_samples_per_s"] = statistics.median(m["rate"] for m in measured)
        out[f"{kind}_wall_s"] = statistics.median(m["wall"] for m in measured)
        out[f"{kind}_peak_bytes_per_member"] = None if None in peaks else max(peaks)
        out[f"{kind}_statuses"] = dict(sum((m["statuses"] for m in measured), Counter()))
    out["speedup"] = out["ensemble_member_samples_per_s"] / out["sequential_member_samples_per_s"]
    net, rule = hierarchy(setup.rhm, setup.width, seed=0), _rule(setup.rule, 0)
    rule.prepare(net)
    out["state_bytes_per_member"] = state_bytes(net, rule)
    if setup.rule == "bp":
        out["bp_flops_per_sample"] = flops = bp_flops_per_sample(setup.rhm, setup.width)
        out["ensemble_flop_per_s"] = flops * out["ensemble_member_samples_per_s"]
    return out


def bench_ensemble(sizes=(1, 4, 16, 64), rules=("bp", "dfa", "clapp", "vicreg"),
                   widths=(64, 256), *, batch_size: int = 128, steps: int = 30,
                   warmup: int = 5, repeats: int = 3, device: str = "cpu") -> dict:
    """Member-samples/s of ``train`` of E members against E sequential ``train`` runs
    (docstring)."""
    if steps < warmup + 2:
        raise ValueError(f"steps={steps} must be at least warmup + 2 = {warmup + 2}")
    dev = resolve_device(device)
    rhm = RHM(**RHM_PARAMS, seed=0)
    data = [rhm.split(steps * batch_size, N_TEST, seed=i) for i in range(max(sizes))]
    rows = []
    for name in rules:
        for i, width in enumerate(widths):
            setup = _Setup(name, width, rhm, data, batch_size, steps, warmup, dev)
            if i == 0:            # imports and first calls, outside every figure
                _run_ensemble(setup, 1), _run_sequential(setup, 1)
            rows += [_row(setup, size, repeats) for size in sizes]
    result = {
        "benchmark": "ensemble", "device": str(dev),
        "rhm": ", ".join(f"{k}={v}" for k, v in RHM_PARAMS.items()),
        "batch_size": batch_size, "steps": steps, "warmup": warmup, "repeats": repeats,
        "members": "member i: network, data, shuffling and rule seeds i; "
                   "lr = default × (1 + 0.01 i)",
        "rule_params": {k: v for k, v in RULE_PARAMS.items() if k in rules},
        "timer": "time.perf_counter before every step (stop callable), steps warmup+1 to the "
                 "last; median of interleaved repeats",
        "memory": ("torch.cuda.max_memory_allocated" if dev.type == "cuda" else
                   "peak resident memory (VmHWM after /proc/self/clear_refs), approximate"),
        "note": "speedup = ensemble member-samples/s / sequential member-samples/s (higher is "
                "faster); sequential = the same members trained one after another by train()",
        "rows": rows, "machine": machine()}
    if dev.type == "cuda":
        result["machine"]["gpu"] = torch.cuda.get_device_name(dev)
        result["machine"]["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
    return result

