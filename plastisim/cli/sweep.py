"""``plastisim sweep``: a parameter study on local processes or a Dask cluster, one dataset.

SIGINT / SIGTERM / SIGHUP stop the sweep at once (``plastisim.interrupt.Interrupted``): the
finished runs' files are kept, sweep.nc is not written, one line says so, and the exit code is
130 / 143 / 129; ``--resume`` continues.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import numpy as np

MAX_ROWS = 40


def _progress(total: int, quiet: bool):
    """(callback, bar): a tqdm bar over runs on stderr (no bar when quiet or not a TTY)."""
    if quiet or not sys.stderr.isatty() or total == 0:
        return None, None
    from tqdm import tqdm

    from ..sweep.merge import OK
    bar = tqdm(total=total, unit="run", file=sys.stderr, dynamic_ncols=True)
    failed = []

    def on_result(key: str, ds, done: int, todo: int) -> None:
        if ds.attrs.get("status") not in OK:
            failed.append(key)
        if bar.total != todo:           # --resume: only the unfinished runs are to do
            bar.total = todo
        bar.update(done - bar.n)
        bar.set_postfix(failed=len(failed), last=str(ds.attrs.get("status")))
    return on_result, bar


def _label(value) -> str:
    value = value.item() if hasattr(value, "item") else value
    return f"{value:g}" if isinstance(value, float) else str(value)


def summary_rows(ds) -> list[str]:
    """One row per point of the non-seed axes: final test error (mean ± std over seeds)."""
    from ..sweep.merge import OK

    dims = [d for d in ds.test_error.dims if d != "seed"]
    err, status = ds.test_error, ds.status
    stacked = err.stack(point=dims) if dims else err.expand_dims(point=[0])
    ok = status.isin([str(s) for s in OK])
    ok = ok.stack(point=dims) if dims else ok.expand_dims(point=[0])
    header = [*dims, "test error", "ok runs"]
    rows = []
    for j in range(stacked.sizes["point"]):
        values = np.atleast_1d(stacked.isel(point=j).values)
        good = int(np.atleast_1d(ok.isel(point=j).values).sum())
        labels = [_label(stacked.isel(point=j)[d].values) for d in dims]
        finite = values[np.isfinite(values)]
        text = (f"{finite.mean():.3f} ± {finite.std():.3f}" if finite.size > 1 else
                f"{finite[0]:.3f}" if finite.size else "nan")
        rows.append([*labels, text, f"{good}/{values.size}"])
    widths = [max(len(r[k]) for r in rows + [header]) for k in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
             for row in [header, ["-" * w for w in widths]] + rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines.append(f"... {len(rows) - MAX_ROWS} more rows in the dataset")
    return lines


def _sweep(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, check_int
    from ..interrupt import exit_code, signal_name
    from ..sweep import load, run_sweep
    from ..sweep.subset import subset
    from ..validate import parse_assignment

    check_int("--ensemble", args.ensemble, 1)
    sweep = load(args.file)
    for text in args.only or []:
        dim, values = parse_assignment(text, "--only", "DIM=VALUE[,VALUE...]", need_value=True)
        sweep = subset(sweep, dim, [v.strip() for v in values.split(",")])
    n_unique = len(sweep.runs)
    dims = " × ".join(f"{a.dim}[{len(a.values)}]" for a in sweep.axes) or "one point"
    if args.dry_run:
        print(f"sweep {sweep.title}: {dims} = {len(sweep.points)} points, {n_unique} runs"
              + _packs(sweep, args.ensemble))
        for point in sweep.points[:MAX_ROWS]:
            print(f"  {point.file}  " + ", ".join(f"{a.dim}={a.values[i]}" for a, i in
                                                  zip(sweep.axes, point.index)))
        left = len(sweep.points) - MAX_ROWS
        if left > 0:
            print(f"  ... and {left} more point(s) not listed ({len(sweep.points)} points, "
                  f"{n_unique} runs in all; --only DIM=VALUE lists a subset)")
        return 0
    if args.out is None:
        raise ConfigError("--out is required: the folder for the run files and sweep.nc")
    workers = (os.cpu_count() or 1) if args.workers is None else args.workers
    on_result, bar = _progress(n_unique, args.quiet)
    written = []

    def counted(key: str, ds, done: int, todo: int) -> None:
        written.append(key)
        if on_result is not None:
            on_result(key, ds, done, todo)
    try:
        report = run_sweep(sweep, args.out, workers=workers, scheduler=args.scheduler,
                           resume=args.resume, threads=args.threads, overwrite=args.overwrite,
                           ensemble=args.ensemble, on_result=counted)
    except KeyboardInterrupt as err:      # Interrupted, or a worker's own KeyboardInterrupt
        if bar is not None:
            bar.close()
            bar = None
        signum = getattr(err, "signum", signal.SIGINT)
        print(f"plastisim: sweep interrupted by {signal_name(signum)}: {len(written)} "
              f"run(s) finished and written to {args.out / 'runs'} by this run of the sweep, "
              f"the others not started or dropped; {args.out / 'sweep.nc'} not written; "
              "rerun with --resume to continue", file=sys.stderr)
        return exit_code(signum)
    finally:
        if bar is not None:
            bar.close()
    return _print_report(sweep, dims, report, args.threads)


def _packs(sweep, ensemble: int) -> str:
    """", in 5 packs (ensembles of up to 4)" for --dry-run; "" without --ensemble."""
    if ensemble == 1:
        return ""
    from ..sweep.packing import pack

    packs = pack([(point.hash, point.config) for point in sweep.runs], ensemble)
    alone = sum(len(p) == 1 for p in packs)
    return (f", in {len(packs)} tasks (ensembles of up to {ensemble}: "
            f"{len(packs) - alone} ensembles, {alone} runs alone)")


def _print_report(sweep, dims: str, report, threads: int) -> int:
    """The summary of a finished sweep; exit code 1 when points have no final values."""
    ds = report.dataset
    print(f"sweep {sweep.title}: {dims} = {len(sweep.points)} points; executor: "
          f"{report.executor}, {threads} torch thread(s) per run")
    packed = (f" as {report.packs} tasks (ensembles)" if report.packs < len(report.computed)
              else "")
    print(f"  computed {len(report.computed)} runs{packed}, skipped {len(report.skipped)} "
          f"finished runs, in {report.elapsed:.1f} s")
    print("\n".join("  " + line for line in summary_rows(ds)))
    failed = report.failed
    if failed:
        print(f"  {len(failed)} point(s) without final values:")
        print("\n".join(f"    {line}" for line in failed[:MAX_ROWS]))
    print(f"  wrote {report.path}")
    return 1 if failed else 0


def add_parsers(sub) -> None:
    parser = sub.add_parser("sweep", help="a parameter study (sweep TOML file), merged into one "
                                          "netCDF dataset")
    parser.add_argument("file", type=Path, help="sweep TOML file (see docs/sweeps.md)")
    parser.add_argument("--out", type=Path, help="output folder (runs/, sweep.nc); created with "
                        "its missing parents")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="local processes (default: number of CPUs; 0: in this process)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="address of a Dask distributed scheduler, e.g. tcp://host:8786")
    parser.add_argument("--resume", action="store_true",
                        help="keep finished runs in --out; run only the others")
    parser.add_argument("--overwrite", action="store_true",
                        help="run every point again in an --out that holds a sweep, replacing "
                             "its run files and sweep.nc (each written beside, then moved)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per run (default 1: same numbers on any executor)")
    parser.add_argument("--ensemble", type=int, default=1, metavar="N",
                        help="train up to N runs that differ only in seeds and learning rates "
                             "(rhm/network/train/rule seeds, rule.lr, rule.readout_lr) together "
                             "as one batched ensemble per task: same files and sweep.nc, "
                             "fewer, larger tasks (default 1: each run alone; see "
                             "docs/sweeps.md)")
    parser.add_argument("--only", action="append", metavar="DIM=VALUE[,VALUE]",
                        help="run only these values of an axis (repeatable), e.g. --only "
                             "rule=bp; the same runs as in the whole sweep (resumable)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_sweep)
