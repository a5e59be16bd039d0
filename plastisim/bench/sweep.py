"""Throughput of a sweep on local processes: the same runs with 1 and with 2 workers.

The reference is the 1-worker sweep measured in the same call; the figure is the ratio of
throughputs (runs per second, wall time of ``run_sweep`` including starting the worker
processes). On a machine with c free cores the ideal ratio is min(2, c); other processes
running at the same time lower it, so the load average is reported with it.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ..sweep.plan import load
from ..sweep.runner import run_sweep
from .timing import machine

ROOT = Path(__file__).resolve().parents[2]


def _sweep_file(folder: Path, n_runs: int, epochs: int) -> Path:
    """``n_runs`` small BP runs (L = 3, width 32, P = 512) that differ only by their seeds."""
    path = folder / "bench.toml"
    path.write_text(f'base = "{(ROOT / "models" / "bp.toml").as_posix()}"\n\n'
                    "[set]\nrhm.L = 3\nnetwork.width = 32\ntrain.n_train = 512\n"
                    f"train.n_test = 512\ntrain.epochs = {epochs}\ntrain.stop_loss = 0.0\n"
                    'train.device = "cpu"\n\n'
                    f"[axes]\nseed = {list(range(n_runs))}\n")
    return path


def _measure(sweep, folder: Path, workers: int) -> dict:
    out = folder / f"workers{workers}"
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    report = run_sweep(sweep, out, workers=workers)
    wall = time.perf_counter() - start
    run_time = np.asarray(report.dataset["elapsed"].values, dtype=float)
    return {"workers": workers, "runs": len(report.computed), "wall_s": wall,
            "runs_per_s": len(report.computed) / wall,
            "mean_training_s_per_run": float(np.nanmean(run_time)),
            "failed": len(report.failed), "load_average_before": load_before}


def bench_sweep(n_runs: int = 16, epochs: int = 10, workers: tuple[int, int] = (1, 2)) -> dict:
    """Runs/s of a ``n_runs``-run sweep with ``workers[1]`` vs ``workers[0]`` local processes."""
    with tempfile.TemporaryDirectory(prefix="plastisim-bench-sweep-") as tmp:
        folder = Path(tmp)
        sweep = load(_sweep_file(folder, n_runs, epochs))
        reference, measured = (_measure(sweep, folder, w) for w in workers)
    return {"benchmark": "sweep_processes", "n_runs": n_runs, "epochs_per_run": epochs,
            "run": "bp, L=3, width 32, P=512, n_test=512, 1 torch thread per run",
            "timer": "time.perf_counter, one sweep each (worker start-up included)",
            "reference": f"{workers[0]} worker(s)", "reference_result": reference,
            "result": measured, "cpu_count": os.cpu_count(),
            "ratio_to_reference": measured["runs_per_s"] / reference["runs_per_s"],
            "machine": machine()}
