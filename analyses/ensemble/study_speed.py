"""A study packed into one ensemble against the same study unpacked: wall times, same numbers.

    python analyses/ensemble/study_speed.py [--sweeps analyses/ensemble/sweep_speed.toml ...]
        [--threads 1 2] [--ensemble 12] [--reference ../old] [--out analyses/results/ensemble/study_cpu.json]

For every sweep file and torch-thread count T, runs ``plastisim sweep FILE --workers 1
--threads T`` unpacked and with ``--ensemble N`` (and, for T > 1, unpacked with T workers of one
thread: the same cores used as workers; fresh output folders under runs/ensemble_study/), one
after the other, timing each command as a whole (process start, training, evaluation, writing), and
checks that the two merged ``sweep.nc`` are identical in every variable but ``elapsed``.

``--reference PATH`` (another checkout of plastisim, e.g. ``git worktree add ../old COMMIT``)
also times that checkout's unpacked sweep of the same file (its own copy, run with the checkout
first on PYTHONPATH) and compares its ``sweep.nc``; and when ``FILE_compiled.toml`` exists
beside a sweep file (the same study with ``train.compile = true``), the packed sweep of it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

from plastisim.bench.timing import emit

HERE = Path(__file__).parent
SWEEPS = [HERE / "sweep_speed_fixed.toml", HERE / "sweep_speed.toml"]
TIMING = {"elapsed"}                    # what may differ between a packed and an unpacked run


def timed_sweep(sweep: Path, out: Path, threads: int, ensemble: int, workers: int = 1,
                checkout: Path | None = None) -> float:
    """Seconds of one ``plastisim sweep`` command; ``checkout``: run that checkout's plastisim
    (first on PYTHONPATH), unpacked (older versions may have no ``--ensemble``)."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "plastisim", "sweep", str(sweep), "--out", str(out),
               "--workers", str(workers), "--threads", str(threads), "--quiet"]
    env = dict(os.environ)
    if checkout is None:
        command += ["--ensemble", str(ensemble)]
    else:
        env["PYTHONPATH"] = str(checkout.resolve())
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def differing(a: Path, b: Path) -> list[str]:
    """Variables of two merged datasets that differ (NaN equal to NaN), timing ones aside."""
    with xr.open_dataset(a) as x, xr.open_dataset(b) as y:
        return sorted(name for name in set(x.data_vars) | set(y.data_vars)
                      if name not in TIMING and not (
                          name in x and name in y and np.array_equal(
                              x[name].values, y[name].values,
                              equal_nan=x[name].dtype.kind == "f")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", nargs="+", type=Path, default=SWEEPS)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--ensemble", type=int, default=12)
    parser.add_argument("--reference", type=Path, help="another checkout of plastisim")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    for sweep in args.sweeps:
        for threads in args.threads:
            folder = Path("runs/ensemble_study") / f"{sweep.stem}_t{threads}"
            unpacked = timed_sweep(sweep, folder / "unpacked", threads, 1)
            packed = timed_sweep(sweep, folder / "packed", threads, args.ensemble)
            row = {"sweep": str(sweep), "workers": 1, "threads": threads,
                   "ensemble": args.ensemble, "unpacked_s": unpacked, "packed_s": packed,
                   "speedup": unpacked / packed,
                   "differing_variables": differing(folder / "unpacked" / "sweep.nc",
                                                    folder / "packed" / "sweep.nc")}
            compiled = sweep.with_name(f"{sweep.stem}_compiled.toml")
            if compiled.exists():
                row["packed_compiled_s"] = timed_sweep(compiled, folder / "packed_compiled",
                                                       threads, args.ensemble)
                row["speedup_compiled"] = unpacked / row["packed_compiled_s"]
            if args.reference is not None:
                theirs = (args.reference / sweep.resolve().relative_to(Path.cwd().resolve()))
                row["reference"] = str(args.reference)
                row["reference_unpacked_s"] = timed_sweep(
                    theirs, folder / "reference", threads, 1, checkout=args.reference)
                row["over_reference"] = row["reference_unpacked_s"] / packed
                if "packed_compiled_s" in row:
                    row["compiled_over_reference"] = (row["reference_unpacked_s"]
                                                      / row["packed_compiled_s"])
                row["differing_from_reference"] = differing(folder / "reference" / "sweep.nc",
                                                            folder / "unpacked" / "sweep.nc")
            if threads > 1:             # the machine's cores as workers instead of threads
                row["unpacked_workers_1_thread_s"] = timed_sweep(
                    sweep, folder / "unpacked_workers", 1, 1, workers=threads)
            rows.append(row)
            print(rows[-1], file=sys.stderr)
    emit({"benchmark": "study wall time, unpacked vs packed into ensembles",
          "timer": "time.perf_counter around each plastisim sweep command", "rows": rows},
         args.out)


if __name__ == "__main__":
    main()
