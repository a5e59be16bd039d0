"""Sweep throughput with 1 vs 2 local worker processes (16 small runs), as JSON.

    python analyses/bench_sweep.py [--runs 16] [--epochs 30] [--out runs/bench_sweep.json]

Each run is a small BP training (L = 3, width 32, P = 512, about 1 s with --epochs 30 on one
core); the runs differ only by their seeds. The 1-worker sweep is the reference measured in the
same call; ``ratio_to_reference`` is the throughput ratio (ideal: 2 on two free cores).
``plastisim bench --only sweep`` runs a shorter version (10 epochs per run).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from plastisim.bench.sweep import bench_sweep
from plastisim.bench.timing import emit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=30, help="epochs per run")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    result = bench_sweep(n_runs=args.runs, epochs=args.epochs)
    emit(result, args.out)


if __name__ == "__main__":
    main()
