"""Training-step throughput of the explicit-object path against hand-written torch.

For a rule and a width, samples/s of the rule's step (``rule.draw`` on the host, then the pure
``rule.step(net, weights, state, batch, draws, phase)``) + SGD (``torch.optim.SGD`` on the
update directions) on the PRX CNN (v = 8, s = 2, L = 3, batch 128), eager, and in the same run
the same network and update written by hand in plain torch:

* ``bp``: forward by ``F.conv1d`` (stride = filter = s) or by reshape + matmul, autograd of the
  cross-entropy, ``torch.optim.SGD`` with momentum — the faster of the two is the reference;
* ``dfa`` and the local rules: the explicit path is compared with hand-written bp
  (``ratio_to_bp``), and ``dfa`` also with a hand-written DFA update (plain tensors).

The batch is the first ``batch_size`` rows of a training set of P = 4 n_c·m^L inputs, and
the rules draw from the context of ``plastisim.train`` (``DrawContext``: the training set as
``pool``, the batch's ``rows`` in it, the RHM), so that a layerwise rule draws its partners as
in training.
On CUDA (``device="cuda"``) the clock waits for the device. Repeats are interleaved
(explicit, reference, explicit, ...) so that load on the machine affects both alike; the
figure is the median. Each row also gives the step's arithmetic — the
floating-point operations of its matrix products (mm, bmm, conv), counted by torch's
``FlopCounterMode``, elementwise work not included — and its ratio to bp's, the part of a
time ratio that no implementation can remove.
"""
from __future__ import annotations

import statistics
import time
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from .. import rules
from ..network import hierarchy
from ..rhm import RHM, RHMBatch, one_hot
from ..rules.base import Batch, DrawContext
from ..train import resolve_device
from .timing import machine


class StepData(NamedTuple):
    """What one step of ``plastisim.train`` reads: the RHM, the training set (``pool``), the
    batch's rows in it and the batch itself."""

    rhm: RHM
    pool: RHMBatch
    rows: torch.Tensor
    batch: RHMBatch

    def draw_context(self, device, dtype: torch.dtype = torch.float32) -> DrawContext:
        """The ``DrawContext`` of this batch, as the training loop builds it."""
        return DrawContext(len(self.rows), torch.device(device), dtype, self.rows, self.pool,
                           self.rhm)


def step_context(rhm: RHM, batch_size: int, n_train: int | None = None) -> StepData:
    """The data of one step as ``plastisim.train`` reads them: a training set of ``n_train``
    inputs (default 4 n_c·m^L) as ``pool``, the batch its first rows."""
    pool = rhm.sample(n_train or max(4 * rhm.n_star, batch_size), seed=0)
    rows = torch.arange(batch_size)
    return StepData(rhm, pool, rows, pool[rows])


def _explicit_step(rule_name: str, rhm: RHM, width: int, ctx: StepData, x, y):
    """One training step of ``rule_name`` as a callable: the rule's draws (host), its pure
    step on the network's weights and state, SGD with momentum on the update directions of
    the tensors its first phase trains (the weights and ``state.learned``)."""
    net = hierarchy(rhm, width, seed=0, device=x.device)
    rule = rules.get(rule_name)
    rule.prepare(net)
    phase, weights = rule.phases[0], net.weights()
    tensors = {**weights, **rule.state.learned}        # SGD updates them in place
    opt = torch.optim.SGD(list(tensors.values()), lr=1e-3, momentum=0.9)
    batch, context = Batch(x, y), ctx.draw_context(x.device, x.dtype)

    def step():
        state = rule.state
        out = rule.step(net, weights, state, batch, rule.draw(context), phase)
        rule.state = state._replace(running={**state.running, **out.running})
        for name, w in tensors.items():
            if name in out.updates:
                w.grad = -out.updates[name]
        opt.step()
    return step


def _patches(h):
    """Hand-written receptive fields: rates (B, C, P) -> patches of 2 (B, P/2, 2C)."""
    b, c, p = h.shape
    return h.reshape(b, c, p // 2, 2).permute(0, 2, 1, 3).reshape(b, p // 2, c * 2)


def _hand_bp_step(width: int, x, y, conv: bool):
    gen = torch.Generator().manual_seed(0)
    shapes = [(width, 8, 2), (width, width, 2), (width, width, 2)]
    ws = [torch.randn(s, generator=gen).to(x.device).requires_grad_(True) for s in shapes]
    beta = torch.randn(width, 8, generator=gen).to(x.device).requires_grad_(True)
    opt = torch.optim.SGD(ws + [beta], lr=1e-3, momentum=0.9)

    def forward(h):
        for w in ws:
            if conv:
                h = F.conv1d(h, w / (w[0].numel() ** 0.5), stride=2).relu()
            else:
                u = _patches(h)
                h = (u @ w.reshape(w.shape[0], -1).T / u.shape[-1] ** 0.5).relu().transpose(1, 2)
        return h.mean(-1) @ beta / width

    def step():
        opt.zero_grad()
        F.cross_entropy(forward(x), y).backward()
        opt.step()
    return step


def _hand_dfa_step(width: int, x, y):
    gen = torch.Generator().manual_seed(0)
    ws = [torch.randn(width, 16, generator=gen), torch.randn(width, 2 * width, generator=gen),
          torch.randn(width, 2 * width, generator=gen)]
    beta = torch.randn(8, width, generator=gen)
    feedback = [torch.randn(width, p, 8, generator=gen) / width for p in (4, 2, 1)]
    ws, beta = [w.to(x.device) for w in ws], beta.to(x.device)
    feedback = [d.to(x.device) for d in feedback]
    moments = [torch.zeros_like(w) for w in ws + [beta]]

    def step():
        h, cache = x, []
        for w in ws:
            u = _patches(h)
            a = torch.einsum("ik,bpk->bip", w, u) / u.shape[-1] ** 0.5
            h = a.relu()
            cache.append((u, a))
        hbar = h.mean(-1)
        e = torch.softmax(hbar @ beta.T / width, 1) - F.one_hot(y, 8).to(x.dtype)
        grads = [torch.einsum("bip,bpk->ik", torch.einsum("ipk,bk->bip", d, e) * (a > 0), u)
                 / (len(y) * u.shape[-1] ** 0.5) for d, (u, a) in zip(feedback, cache)]
        grads.append(e.T @ hbar / (len(y) * width))
        for w, g, mom in zip(ws + [beta], grads, moments):
            mom.mul_(0.9).add_(g)
            w.sub_(1e-3 * mom)
    return step


def _matmul_flops(step) -> int:
    """Floating-point operations of the matrix products of one call of ``step``."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def _interleaved(steps: dict, repeats: int, inner: int, sync=lambda: None) -> dict[str, float]:
    """Median seconds per step of each callable, repeats interleaved; ``sync()`` waits for the
    device before a clock is read."""
    times = {name: [] for name in steps}
    for fn in steps.values():
        fn()
    for _ in range(repeats):
        for name, fn in steps.items():
            sync()
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            sync()
            times[name].append((time.perf_counter() - start) / inner)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_train(widths=(64, 256, 1024), rule_names=("bp", "dfa"), batch_size: int = 128,
                repeats: int = 5, inner: int = 5, device: str = "cpu") -> dict:
    """Samples/s per rule and width, with ratios to the hand-written references (docstring);
    on ``device`` ("cpu", "cuda"; the clock waits for the device)."""
    dev = resolve_device(device)
    rhm = RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
    ctx = step_context(rhm, batch_size)
    x, y = one_hot(ctx.batch.x, rhm.v).to(dev), ctx.batch.y.to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    rows = []
    for width in widths:
        steps = {f"hand_bp_conv1d": _hand_bp_step(width, x, y, conv=True),
                 f"hand_bp_matmul": _hand_bp_step(width, x, y, conv=False),
                 "hand_dfa": _hand_dfa_step(width, x, y)}
        steps.update({name: _explicit_step(name, rhm, width, ctx, x, y) for name in rule_names})
        flops = {name: _matmul_flops(steps[name]) for name in rule_names}
        secs = _interleaved(steps, repeats, inner, sync)
        hand_bp = min(secs["hand_bp_conv1d"], secs["hand_bp_matmul"])
        for name in rule_names:
            row = {"rule": name, "width": width, "samples_per_s": batch_size / secs[name],
                   "ratio_to_hand_bp": secs[name] / hand_bp,
                   "ratio_to_bp": secs[name] / secs["bp"] if "bp" in secs else None,
                   "matmul_flops_per_sample": flops[name] / batch_size,
                   "flops_ratio_to_bp": flops[name] / flops["bp"] if "bp" in flops else None}
            if name == "bp":
                row["ratio_to_hand_written"] = secs[name] / hand_bp
            if name == "dfa":
                row["ratio_to_hand_written"] = secs[name] / secs["hand_dfa"]
            rows.append(row)
        rows.append({"reference": "hand-written", "width": width,
                     **{f"{k}_samples_per_s": batch_size / v for k, v in secs.items()
                        if k.startswith("hand")}})
    return {"benchmark": "train_step", "device": str(dev),
            "rhm": "v=8, n_classes=8, m=4, s=2, L=3",
            "batch_size": batch_size, "repeats": repeats, "inner": inner,
            "timer": "time.perf_counter, median of interleaved repeats",
            "note": "ratio = seconds per step of the row / of the reference (lower is faster); "
                    "flops: matrix products only (torch FlopCounterMode)",
            "rows": rows, "machine": machine()}


def bench_local_rules() -> dict:
    """The self-supervised study's timing: every local rule at width 256 against bp, same run."""
    names = ["bp", "dfa", "clapp", "clapp_s", "infonce", "lpl", "vicreg"]
    return bench_train(widths=(256,), rule_names=tuple(names), repeats=3, inner=3)
