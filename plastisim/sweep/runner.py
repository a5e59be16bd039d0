"""Run a sweep: plan, skip finished runs, execute, write each run's file, merge.

Output folder layout::

    OUT/sweep.toml        the sweep file as given
    OUT/runs/<hash>.nc    one file per run (config_hash[:16]); failed runs too, with the reason
    OUT/sweep.nc          the merged dataset (plastisim.sweep.merge)

Output rule (plastisim.recording.outputs): ``OUT`` is checked before any run (a writable folder,
or a missing one in a writable folder) and held by this sweep until sweep.nc is written (the
lock file ``OUT/.sweep.lock``: a second sweep on the folder, ``--resume`` or not, is refused at
once); a folder that already holds run files, sweep.toml or sweep.nc is refused unless
``resume`` (keep the finished runs, merge again) or ``overwrite`` (run everything again,
replacing each file). Every file is written beside its name and moved into place, so an
interruption keeps the finished run files and writes no sweep.nc. The run files and sweep.nc
must fit in OUT's free space (checked before any run); a full disk stops the sweep in one line
(``DiskFullError``: how many run files were written, ``--resume`` to go on).

``ensemble=E`` packs the runs that differ only in seeds and learning rates into ensembles of up
to E, each trained as one batched computation (``packing``); the run files and sweep.nc are
those of the unpacked sweep (wall times and provenance aside).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from ..diskspace import DiskFullError, check_disk, human, writing
from ..errors import ConfigError, check_int
from ..recording import record
from ..recording.environment import environment
from ..recording.outputs import check_output_folder, claiming, write_atomically
from . import executors
from .merge import is_finished, merge
from .packing import pack
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
    packs: int = 0                # tasks run now: ensembles and single runs (= computed if E=1)

    @property
    def failed(self) -> list[str]:
        """One line per point without final values: its coordinates, status and reason."""
        text = self.dataset.attrs.get("missing_points", "")
        return text.splitlines() if text else []


def _check_out(out: Path, resume: bool, overwrite: bool) -> None:
    """The output rule of the module docstring, before any run (one-line ConfigErrors)."""
    if resume and overwrite:
        raise ConfigError("--resume keeps finished runs and --overwrite runs them again: "
                          "pass one of them")
    check_output_folder(out)
    runs = out / "runs"
    if runs.exists() and not runs.is_dir():
        raise ConfigError(f"--out {str(out)!r} holds a file 'runs' where the run files go")
    for name in ("sweep.nc", "sweep.toml"):
        if (out / name).exists() and not (out / name).is_file():
            raise ConfigError(f"--out {str(out)!r} holds a folder {name!r}; need a file there")
    if resume or overwrite:
        return
    if runs.is_dir() and any(runs.glob("*.nc")):
        raise ConfigError(f"--out {str(out)!r} already holds runs of a sweep; pass --resume "
                          "to continue it (finished runs are kept), --overwrite to run them "
                          "again, or choose another folder")
    held = [name for name in ("sweep.nc", "sweep.toml") if (out / name).exists()]
    if held:
        raise ConfigError(f"--out {str(out)!r} already holds {held[0]}; pass --resume to "
                          "continue that sweep, --overwrite to replace it, or choose another "
                          "folder")


def _prepare(sweep: Sweep, out: Path, resume: bool,
             overwrite: bool = False) -> tuple[list, list[str]]:
    """(tasks to run, hashes skipped): unique configs whose run file is not finished."""
    _check_out(out, resume, overwrite)
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    with writing(out / "sweep.toml", len(sweep.text.encode()) + 4096):
        write_atomically(out / "sweep.toml", lambda tmp: tmp.write_text(sweep.text))
    tasks, skipped = [], []
    for point in sweep.runs:
        if resume and is_finished(out / point.file):
            skipped.append(point.hash)
        else:
            tasks.append((point.hash, point.config))
    return tasks, skipped


MERGED_BYTES = 64 * 1024        # sweep.nc: headers and attributes
POINT_BYTES = 1024              # sweep.nc: a point's values, strings and seeds, its curve aside
CURVE_VALUE_BYTES = 5 * 8       # sweep.nc: a point's curves, per evaluation


def _check_disk(sweep: Sweep, out: Path) -> None:
    """The run files still to write and sweep.nc fit in the free space of ``out``'s file
    system (an upper estimate: ``run.file_bytes``), else one line with both numbers (exit 2),
    before any run. A run file that exists is replaced (one at a time) or kept."""
    from ..run import evaluations_at_most, file_bytes

    sizes = {point.hash: file_bytes(point.config) for point in sweep.runs}
    largest = max(sizes.values(), default=0)
    new = [point.hash for point in sweep.runs if not (out / point.file).exists()]
    evaluations = max((evaluations_at_most(p.config) for p in sweep.runs), default=0)
    merged = (MERGED_BYTES + 2 * len(sweep.text)
              + len(sweep.points) * (POINT_BYTES + CURVE_VALUE_BYTES * evaluations))
    check_disk(sum(sizes[key] for key in new) + largest + merged, out,
               f"--out {str(out)!r}", f"{len(new)} run file(s) of up to {human(largest)} and "
               f"sweep.nc of about {human(merged)}")


def _stream(packs: list, workers: int, scheduler: Any, threads: int):
    if scheduler is not None:
        return executors.dask(packs, threads, scheduler)
    if workers == 0:
        return executors.inline(packs, threads)
    return executors.processes(packs, threads, workers)


def run_sweep(sweep: Sweep, out: str | Path, *, workers: int = 1, scheduler: Any = None,
              resume: bool = False, threads: int = 1, overwrite: bool = False,
              ensemble: int = 1, on_result: Callback | None = None) -> SweepReport:
    """Run every point of ``sweep`` and merge them into ``out``/sweep.nc.

    ``workers``: local processes (0: in this process); ``scheduler``: a Dask scheduler address
    (or a ``dask.distributed.Client``) instead, reached before anything is written
    (``executors.connect``); ``resume``: keep finished run files;
    ``overwrite``: run every point again in a folder that holds a sweep (module docstring);
    ``threads``: torch threads per run (recorded); ``ensemble``: train the runs that differ
    only in ``members.MEMBER_KEYS`` in packs of up to this many (module docstring; 1: each
    run alone). A failing or diverging run is recorded in its file and the merged dataset; it
    never stops the others. An interruption (``plastisim.interrupt.Interrupted``) propagates
    after the finished runs' files are written; sweep.nc is then not written.
    """
    check_int("workers", workers, 0)
    check_int("threads", threads, 1)
    check_int("ensemble", ensemble, 1)
    with claiming():                # OUT is this sweep's from its check to sweep.nc
        return _run_sweep(sweep, Path(out), workers, scheduler, resume, threads, overwrite,
                          ensemble, on_result)


def _run_sweep(sweep: Sweep, out: Path, workers: int, scheduler: Any, resume: bool,
               threads: int, overwrite: bool, ensemble: int,
               on_result: Callback | None) -> SweepReport:
    _check_out(out, resume, overwrite)      # claims OUT (OUT/.sweep.lock): one sweep per folder
    _check_disk(sweep, out)                 # its files fit: before anything is written
    # the scheduler is reached before anything is written: a wrong address leaves nothing
    # behind (a folder made for OUT's lock file is removed again)
    client, owned = (executors.connect(scheduler) if scheduler is not None else (None, False))
    try:
        tasks, skipped = _prepare(sweep, out, resume, overwrite)
        packs = pack(tasks, ensemble)
        start, computed = time.perf_counter(), []
        files = {point.hash: point.file for point in sweep.points}
        stream = _stream(packs, workers, client, threads)
        try:
            for key, ds in stream:
                try:
                    record.write(ds, out / files[key])
                except DiskFullError as err:    # the others would not fit either: stop
                    raise err.but(f"; {len(computed)} run file(s) written by this run of the "
                                  f"sweep, {len(tasks) - len(computed)} not; sweep.nc not "
                                  "written: free space, then rerun with --resume") from None
                computed.append(key)
                if on_result is not None:
                    on_result(key, ds, len(computed), len(tasks))
        finally:
            stream.close()              # a sweep stopped here stops its workers now
    finally:
        if owned:
            client.close()
    executor = executors.describe(workers, scheduler, ensemble)
    merged = merge(sweep, out, executor, threads)
    merged.attrs.update({key: value for key, value in environment(dask=True).items()
                         if key not in merged.attrs})     # versions, host, command line
    try:
        path = record.write(merged, out / "sweep.nc")
    except DiskFullError as err:
        raise err.but("; every run file is written: free space, then rerun with --resume (it "
                      "merges them without running them again)") from None
    return SweepReport(merged, path, computed, skipped, time.perf_counter() - start, executor,
                       len(packs))
