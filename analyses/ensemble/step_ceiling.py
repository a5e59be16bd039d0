"""How fast can an ensemble step be on this CPU? A hand-written batched bp step, no framework.

    python analyses/ensemble/step_ceiling.py [--sizes 1 2 4 8 12 16] [--threads 1]
        [--compile] [--out analyses/results/ensemble/step_ceiling.json]

The bp step of the width-64 PRX CNN on v = n_c = 8, m = 4, s = 2, L = 3 (batch 128) for E
members as plain batched products and elementwise operations — forward (drive, scale, ReLU),
error e = softmax(z) − onehot(y), backward (W^T δ, gate, outer products) — without plastisim's
objects, vmap or the optimiser: the least an eager PyTorch step of E members costs. Its time per
member against E shows where batching stops paying (the members' activations outgrow the
core's L2 cache and every elementwise pass goes to L3), which bounds what
``train`` of E members can gain over E sequential runs (docs/ensembles.md). ``--compile`` also
times the same step under ``torch.compile`` (inductor fuses the elementwise passes; it takes
tens of seconds to compile).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from plastisim.bench.timing import emit

B, WIDTH, V, N_CLASSES = 128, 64, 8, 8


def make_step(e: int, weights: dict | None = None, x: torch.Tensor | None = None,
              y: torch.Tensor | None = None):
    """The batched bp step of e members: a function returning (loss (E,), dL/dw of w1, w2, w3,
    readout). ``weights`` {w1, w2, w3, readout} (E, *w.shape) in plastisim's fan-in order,
    ``x`` (E, B, S, v) one-hot inputs positions-major, ``y`` (E, B): drawn when not given."""
    gen = torch.Generator().manual_seed(0)
    if weights is None:
        weights = {name: torch.randn(e, rows, k, generator=gen) for name, rows, k in (
            ("w1", WIDTH, 2 * V), ("w2", WIDTH, 2 * WIDTH), ("w3", WIDTH, 2 * WIDTH),
            ("readout", N_CLASSES, WIDTH))}
    if x is None:
        x = torch.zeros(e, B, 8, V)
        x[..., 0] = 1
    if y is None:
        y = torch.randint(0, N_CLASSES, (e, B), generator=gen)
    w1, w2, w3, wr = (weights[k] for k in ("w1", "w2", "w3", "readout"))
    b = x.shape[1]
    c1, c2, cr = (2 * V) ** -0.5, (2 * WIDTH) ** -0.5, 1 / WIDTH

    def step():
        u1 = x.reshape(e, b * 4, 2 * V)                               # receptive fields
        r1 = torch.relu(torch.bmm(u1, w1.transpose(1, 2)).mul_(c1))  # (E, B·4, W)
        u2 = r1.view(e, b * 2, 2 * WIDTH)
        r2 = torch.relu(torch.bmm(u2, w2.transpose(1, 2)).mul_(c2))
        u3 = r2.view(e, b, 2 * WIDTH)
        r3 = torch.relu(torch.bmm(u3, w3.transpose(1, 2)).mul_(c2))  # (E, B, W): one position
        z = torch.bmm(r3, wr.transpose(1, 2)).mul_(cr)
        log_p = torch.log_softmax(z, -1)
        onehot = torch.nn.functional.one_hot(y, N_CLASSES).to(z.dtype)
        err = log_p.exp() - onehot
        loss = -(log_p * onehot).sum(-1).mean(-1)
        g_r = torch.bmm(err.transpose(1, 2), r3).div_(b).mul_(cr)
        p3 = r3.sign() * torch.bmm(err, wr).mul_(cr)
        g3 = torch.bmm(p3.transpose(1, 2), u3).div_(b).mul_(c2)
        p2 = r2.sign() * torch.bmm(p3, w3).mul_(c2).view(e, b * 2, WIDTH)
        g2 = torch.bmm(p2.transpose(1, 2), u2).div_(b).mul_(c2)
        p1 = r1.sign() * torch.bmm(p2, w2).mul_(c2).view(e, b * 4, WIDTH)
        g1 = torch.bmm(p1.transpose(1, 2), u1).div_(b).mul_(c1)
        return loss, g1, g2, g3, g_r
    return step


def seconds_per_call(fn, repeats: int = 200) -> float:
    for _ in range(20):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 2, 4, 8, 12, 16])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for e in args.sizes:
        step = make_step(e)
        row = {"members": e, "eager_ms_per_step": 1e3 * seconds_per_call(step)}
        if args.compile:
            start = time.perf_counter()
            compiled = torch.compile(step)
            compiled()
            row["compile_s"] = time.perf_counter() - start
            row["compiled_ms_per_step"] = 1e3 * seconds_per_call(compiled)
        row.update({k.replace("_step", "_member_step"): v / e for k, v in list(row.items())
                    if k.endswith("ms_per_step")})
        rows.append(row)
    emit({"benchmark": "hand-written batched bp step (no framework, no optimiser)",
          "rhm": "v=8, n_classes=8, m=4, s=2, L=3", "width": WIDTH, "batch_size": B,
          "threads": args.threads, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
