"""Benchmark: RHM samples/s (v = m = n_classes = 8, s = 2, L = 3, n = 1e6, one-hot included).

    python analyses/bench_rhm.py [--n 1000000] [--repeats 5]

Prints JSON; the same figure is part of ``plastisim bench``.
"""
import argparse
import json

from plastisim.bench.rhm import bench_rhm

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(bench_rhm(n=args.n, repeats=args.repeats), indent=2))
