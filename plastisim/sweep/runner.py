"""Run a sweep: plan, skip finished runs, execute, write each run's file, merge.

Output folder layout::

    OUT/sweep.toml        the sweep file as given
    OUT/runs/<hash>.nc    one file per run (config_hash[:16]); failed runs too, with the reason
    OUT/sweep.nc          the merged dataset (plastisim.sweep.merge)
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from .. import record
from ..errors import ConfigError, check_int
from . import executors
from .merge import is_finished, merge
from .plan import Sweep

#: on_result(config_hash, run dataset, runs done, runs to do), called as each run finishes
Callback = Callable[[str, xr.Dataset, int, int], None]


@dataclass
class SweepReport:
    dataset: xr.Dataset
    path: Path                    # the merged file
    computed: list[str] = field(default_factory=list)   # config hashes run now
    skipped: list[str] = field(default_factory=list)    # finished before (--resume)
    elapsed: float = 0.0
    executor: str = ""

    @property
    def failed(self) -> list[str]:
        """One line per point without final values: its coordinates, status and reason."""
        text = self.dataset.attrs.get("missing_points", "")
        return text.splitlines() if text else []


def _prepare(sweep: Sweep, out: Path, resume: bool) -> tuple[list, list[str]]:
    """(tasks to run, hashes skipped): unique configs whose run file is not finished."""
    runs = out / "runs"
    if runs.is_dir() and any(runs.glob("*.nc")) and not resume:
        raise ConfigError(f"--out {str(out)!r} already holds runs of a sweep; pass --resume "
                          "to continue it (finished runs are kept) or choose another folder")
    if not out.parent.exists():
        raise ConfigError(f"output folder {str(out.parent)!r} does not exist")
    runs.mkdir(parents=True, exist_ok=True)
    (out / "sweep.toml").write_text(sweep.text)
    tasks, skipped, seen = [], [], set()
    for point in sweep.points:
        if point.hash in seen:
            continue
        seen.add(point.hash)
        if resume and is_finished(out / point.file):
            skipped.append(point.hash)
        else:
            tasks.append((point.hash, point.config))
    return tasks, skipped


def _stream(tasks: list, workers: int, scheduler: Any, threads: int):
    if scheduler is not None:
        return executors.dask(tasks, threads, scheduler)
    if workers == 0:
        return executors.inline(tasks, threads)
    return executors.processes(tasks, threads, workers)


def run_sweep(sweep: Sweep, out: str | Path, *, workers: int = 1, scheduler: Any = None,
              resume: bool = False, threads: int = 1,
              on_result: Callback | None = None) -> SweepReport:
    """Run every point of ``sweep`` and merge them into ``out``/sweep.nc.

    ``workers``: local processes (0: in this process); ``scheduler``: a Dask scheduler address
    (or a ``dask.distributed.Client``) instead; ``resume``: keep finished run files;
    ``threads``: torch threads per run (recorded). A failing or diverging run is recorded in
    its file and the merged dataset; it never stops the others.
    """
    check_int("workers", workers, 0)
    check_int("threads", threads, 1)
    out = Path(out)
    tasks, skipped = _prepare(sweep, out, resume)
    start, computed = time.perf_counter(), []
    files = {point.hash: point.file for point in sweep.points}
    for key, ds in _stream(tasks, workers, scheduler, threads):
        record.write(ds, out / files[key])
        computed.append(key)
        if on_result is not None:
            on_result(key, ds, len(computed), len(tasks))
    executor = executors.describe(workers, scheduler)
    merged = merge(sweep, out, executor, threads)
    path = record.write(merged, out / "sweep.nc")
    return SweepReport(merged, path, computed, skipped, time.perf_counter() - start, executor)
