"""Benchmark: training samples/s of the explicit-object path vs hand-written torch.

    python analyses/bench_train.py [--widths 64 256 1024] [--rules bp dfa] [--repeats 5]
    python analyses/bench_train.py --local     # every local rule at width 256 against bp

Prints JSON (plastisim.bench.train.bench_train; also `plastisim bench --only train`).
"""
import argparse
import json

from plastisim.bench.train import bench_local_rules, bench_train

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", nargs="+", type=int, default=[64, 256, 1024])
    parser.add_argument("--rules", nargs="+", default=["bp", "dfa"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--local", action="store_true", help="all local rules at width 256")
    args = parser.parse_args()
    result = (bench_local_rules() if args.local else
              bench_train(tuple(args.widths), tuple(args.rules), repeats=args.repeats))
    print(json.dumps(result, indent=2))
