"""Do two-thread ensembles give the same numbers in every process? With and without MKL's dynamic
threading (plastisim.threads).

    python analyses/ensemble/two_thread_repeats.py [--repeats 10]
        [--out analyses/results/ensemble/two_thread_repeats.json]

Trains a 12-member bp ensemble (width 64, v = n_c = 8, m = 4, L = 3, 8 epochs of 16 steps) on
two torch threads in ``--repeats`` fresh processes, each beside a Python thread that keeps a
core busy half of the time (as a sweep worker's watchdog and the machine's other work do, more
so), once with ``MKL_DYNAMIC`` unset (MKL's default: dynamic) and once with
``MKL_DYNAMIC=FALSE`` (what ``plastisim.threads.set_threads`` sets), and counts the distinct
final weights (sha256 of all members' weights) of each condition.
"""
from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
from pathlib import Path

from plastisim.bench.timing import emit

ENSEMBLE = """
import hashlib, threading, time
import torch
torch.set_num_threads(2)
import plastisim as ps
def busy():
    while True:
        start = time.perf_counter()
        while time.perf_counter() - start < 0.05:
            pass
        time.sleep(0.05)
threading.Thread(target=busy, daemon=True).start()
E = 12
rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
splits = [rhm.split(n_train=2048, n_test=100, seed=i) for i in range(E)]
nets = [ps.hierarchy(rhm, width=64, seed=i) for i in range(E)]
rules = [ps.rules.get("bp", lr=0.25 * (1 + 0.1 * i)) for i in range(E)]
options = [ps.TrainOptions(epochs=8, seed=i, stop_loss=0.0) for i in range(E)]
ps.train(nets, rules, [s[0] for s in splits], [s[1] for s in splits], options)
weights = torch.cat([n.synapses[k].w.flatten() for n in nets for k in n.synapses])
print(hashlib.sha256(weights.numpy().tobytes()).hexdigest()[:16])
"""


def digests(repeats: int, mkl_dynamic: str | None) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_DYNAMIC", "OMP_NUM_THREADS")}
    if mkl_dynamic is not None:
        env["MKL_DYNAMIC"] = mkl_dynamic
    runs = [subprocess.run([sys.executable, "-c", ENSEMBLE], env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
            for _ in range(repeats)]
    return dict(collections.Counter(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = [{"MKL_DYNAMIC": value or "unset (MKL's default: dynamic)",
             "final_weights": digests(args.repeats, value)} for value in (None, "FALSE")]
    emit({"benchmark": "two-thread ensemble, final weights in fresh processes",
          "repeats": args.repeats, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
