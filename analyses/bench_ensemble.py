"""Benchmark: E networks in one batched pass (train of lists) vs E sequential train runs.

    python analyses/bench_ensemble.py [--sizes 1 4 16 64] [--rules bp dfa clapp vicreg]
        [--widths 64 256] [--steps 30] [--repeats 3] [--device cpu] [--out runs/ensemble.json]

Prints JSON (plastisim.bench.ensemble.bench_ensemble; also `plastisim bench ensemble`) and, with
--out, writes it there. The full benchmark takes 10–20 minutes on two CPU cores (most of
it the sequential reference of E = 64); analyses/gpu_check.sh runs it on device="cuda".
"""
from __future__ import annotations

import argparse
from pathlib import Path

from plastisim.bench.ensemble import bench_ensemble
from plastisim.bench.timing import emit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 4, 16, 64])
    parser.add_argument("--rules", nargs="+", default=["bp", "dfa", "clapp", "vicreg"])
    parser.add_argument("--widths", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--steps", type=int, default=30, help="steps per run (one epoch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    result = bench_ensemble(tuple(args.sizes), tuple(args.rules), tuple(args.widths),
                            steps=args.steps, repeats=args.repeats, device=args.device)
    emit(result, args.out)


if __name__ == "__main__":
    main()
