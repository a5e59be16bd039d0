"""Benchmark: synapse-updates/s of the protocol engine vs a per-event Python loop (triplet STDP).

    python analyses/bench_protocols.py [--synapses 10000] [--rate 10] [--duration 10]
                                       [--loop-synapses 50] [--repeats 3]

10,000 synapses with independent Poisson pre and post trains; the Python loop runs on a subset
of the same synapses (its rate per synapse does not depend on their number) and its weights are
checked against the engine's. Prints JSON; the same figure is part of ``plastisim bench``.
"""
import argparse
import json

from plastisim.bench.protocols import bench_protocols

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synapses", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=10.0, help="Hz, pre and post")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--loop-synapses", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(bench_protocols(n_synapses=args.synapses, rate=args.rate,
                                     duration=args.duration, loop_synapses=args.loop_synapses,
                                     repeats=args.repeats), indent=2))
