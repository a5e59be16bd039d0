"""Benchmark: recording all weights of the width-256, L=3 PRX CNN every 100 steps.

    python analyses/bench_record.py [--steps 100000] [--every 100] [--width 256] [--L 3]
                                    [--train-steps 1000] [--repeats 3] [--folder /tmp]

Two measurements in one process (``plastisim.bench.record.bench_record``):

- stream: ``--steps`` stand-in plasticity steps (every weight tensor += a fixed random increment,
  in place, so the recorded tensors have their real sizes and stay incompressible like real
  weights), ``Monitor.record`` after each, streaming to a netCDF4 file in ``--folder``: peak
  resident memory at steps/10 and at the end, file size, write throughput (uncompressed MB
  recorded per second spent inside ``record``);
- overhead: real ``train`` runs (bp, batch 128, ``--train-steps`` steps each) without and with
  the monitor, alternated ``--repeats`` times after a warm-up run. ``overhead_in_run`` = seconds
  inside ``Monitor.record`` / the remaining seconds of the same run (median over the runs with
  the monitor); ``overhead_ab`` = median s/step with / median s/step without − 1, which also
  carries the changes of the machine's load between runs.

Prints JSON (the figures of docs/data-format.md); ``plastisim bench --only record`` runs a short
version.
"""
import argparse
import json

from plastisim.bench.record import bench_record

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--L", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", help="where the temporary files go (default: the system's)")
    args = parser.parse_args()
    print(json.dumps(bench_record(steps=args.steps, every=args.every, width=args.width, L=args.L,
                                  train_steps=args.train_steps, repeats=args.repeats,
                                  folder=args.folder), indent=2))
