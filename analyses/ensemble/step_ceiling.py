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

from plastisim.bench.engine import hand_bp_step
from plastisim.bench.timing import emit

B, WIDTH, V, N_CLASSES = 128, 64, 8, 8


def make_step(e: int, weights: dict | None = None, x: torch.Tensor | None = None,
              y: torch.Tensor | None = None):
    """The batched bp step of e members at width 64 (``plastisim.bench.engine.hand_bp_step``:
    (loss (E,), dL/dw of w1, w2, w3, readout))."""
    return hand_bp_step(e, weights, x, y, width=WIDTH, v=V, n_classes=N_CLASSES, batch_size=B)


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
