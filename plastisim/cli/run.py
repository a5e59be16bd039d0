"""``plastisim run`` (train one model config) and ``plastisim rules`` (the rule table)."""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path


def inherited_lr_warning(path: str | Path, overrides: list[str]) -> str:
    """The warning to show when ``--set rule.name=...`` changes the rule of a model file that
    sets ``rule.lr`` (for its own rule) and ``rule.lr`` is not set too; "" otherwise."""
    from .. import config

    table = config.read_toml(path, "config file").get("rule", {})
    table = table if isinstance(table, dict) else {}
    given = {}
    for text in overrides:
        section, key, value = config.parse_override(text)
        if section == "rule":
            given[key] = value
    file_rule = table.get("name", config.RuleConfig.name)
    if "name" not in given or given["name"] == file_rule or "lr" in given or "lr" not in table:
        return ""
    return (f"rule.lr = {table['lr']} comes from {path}, written for rule {file_rule}, and is "
            f"used as is for rule {given['name']} (whose η may scale differently with the "
            "width: see the run summary); pass --set rule.lr=... to choose its rate")


def _run(args: argparse.Namespace) -> int:
    """Check, train, write, summarise; the exit code of docs/failures.md."""
    from .. import config
    from ..errors import ConfigError
    from ..interrupt import Signals
    from ..recording.outputs import Output
    from ..run import build, record_monitor
    from .options import threads, torch_threads
    from .record import record_overrides

    # 1. every input, then the output path, before any work (a bad argument is named even
    # when the output exists)
    cfg = config.load(args.config, args.set + record_overrides(args.record))
    warning = inherited_lr_warning(args.config, args.set)
    n_threads = threads(args)
    out = args.out or cfg.record.path or None
    if cfg.record.active and not out:
        raise ConfigError("record: trajectories are written into the run's file; pass --out or "
                          "set record.path")
    with torch_threads(n_threads):
        built = build(cfg, args.device)     # sizes, depth, device, memory: checked, data made
    # the [record] selection against the network, in memory (what one record holds): its
    # one-line errors before the output check
    recorder = record_monitor(cfg, built) if cfg.record.active else None
    field = "--out" if args.out else "record.path"
    output = (Output(out, args.overwrite, ".nc", field=field, make_folder=True) if out
              else None)
    if output is not None:          # its file fits on the disk (before training)
        _check_disk(cfg, built, recorder, output.path, field)
    # 2. train, with SIGINT / SIGTERM stopping the loop at the next step boundary
    with torch_threads(n_threads), Signals(defer=True) as stop:
        if warning:                 # once every input is accepted: bad input stays one line
            warnings.warn(warning, stacklevel=1)
        result, kept, unwritten = _train_and_write(cfg, built, output, args, stop, n_threads)
    _summary(cfg, built, result, n_threads, output, kept, unwritten)
    return _ending(result, stop, output, kept, unwritten)


def _check_disk(cfg, built, recorder, path, field: str) -> None:
    """The run's file (and its recording) fit in the free space of ``path``'s file system:
    else one line with both numbers (exit 2), before any work."""
    from ..diskspace import check_disk, human
    from ..run import disk_bytes

    parts = disk_bytes(cfg, built, recorder)
    if recorder is None:
        check_disk(parts["file"], path, f"{field}={str(path)!r}",
                   "its learning curve and attributes")
        return
    count, records = parts["count"], parts["records"]
    kept = max(parts["reserve"], parts["file"])
    check_disk(records + kept, path, f"the recording into {field}={str(path)!r}",
               f"up to {count} records of {human(records)} at record.every="
               f"{cfg.record.every}, and {human(kept)} kept free while it writes, for its "
               "learning curve and status", "record less (a larger record.every, fewer "
               "variables or indices) or free space")


def _train_and_write(cfg, built, output, args, stop, n_threads: int):
    """(result, kept, unwritten): train (``run.execute`` of the built run) into ``output.work``
    and write the run's file; ``kept``: the file is at ``output.path`` (an interrupted or
    failed run never replaces an existing file); ``unwritten``: the ``DiskFullError`` that kept
    the learning curve and status out of it (the file was then not written, or holds the
    records only), else None. A full disk while recording ends the run as status "failed"
    ("disk full ... at step N"), its learning curve and status written in the room the
    recording kept for them."""
    from ..diskspace import DiskFullError
    from ..options import Status, record_failure
    from ..recording import record
    from ..recording.filelock import file_identity
    from ..recording.outputs import make_parent
    from ..run import describe, execute, make_monitor
    from .progress import phase_bars

    monitor, bars, created = None, phase_bars(args.quiet), None
    try:
        if output is not None:
            make_parent(output.path)    # a missing --out folder, now that the input is accepted
        if cfg.record.active:
            monitor = make_monitor(cfg, built, output.work)
            created = file_identity(output.work)     # the curve goes only into it
        outcome = execute(cfg, monitor=monitor, progress=bars, stop=stop, catch=True,
                          built=built)
        result, ds = outcome.result, outcome.dataset
        if monitor is not None:     # flushed after every record: the file is valid
            try:
                monitor.close()
            except DiskFullError as err:    # its last records did not fit: cut short there
                if result.status != Status.FAILED:
                    record_failure(result, err)
                    ds = describe(cfg, built, result)     # the status it ended with
        if output is None:
            return result, False, None
        if output.replaces and result.status in (Status.INTERRUPTED, Status.FAILED):
            output.discard()
            return result, False, None
        if monitor is not None and file_identity(output.work) != created:
            return result, False, None      # another program replaced or removed the file
        ds.attrs["torch_threads"] = n_threads
        try:
            if monitor is None:
                record.write(ds, output.work)
            else:
                record.append(ds, output.work)
        except DiskFullError as err:
            if monitor is None or output.replaces:
                output.discard()
                return result, False, err
            return result, True, err        # a new recording: its records stay
        output.commit()
        return result, True, None
    except BaseException:           # a second signal, or an error while writing
        if output is not None:
            output.discard()        # (a temporary file only: an existing file stays)
        raise
    finally:
        if bars is not None:
            bars.close()
        if monitor is not None:
            monitor.close()


def phase_lines(built, result) -> list[str]:
    """One line per phase of the run: its learning rate, epochs (of its budget) and steps."""
    from ..train import phase_learning_rates

    lines = []
    for phase, (_, formula) in phase_learning_rates(built.rule, built.net).items():
        done = result.phases.get(phase)
        ran = ("not run" if done is None else
               f"{done['epochs']} of {done['budget']} epochs, {done['steps']} steps")
        lines.append(f"{phase} phase: {formula}; {ran}")
    return lines


def _summary(cfg, built, result, n_threads: int, output, kept: bool, unwritten) -> None:
    final = result.final
    print(f"rule {cfg.rule.name} on {built.rhm!r}".split("  #")[0]
          + f", P = {len(built.train_set)} ({len(built.train_set) / built.rhm.n_star:g} n_c·m^L),"
          f" width {cfg.network.width}, device {built.device}, {n_threads} thread(s)")
    for line in phase_lines(built, result):
        print(f"  {line}")
    print(f"  {result.status}: {result.message}")
    print(f"  final train loss {final.get('train_loss', float('nan')):.4g}, train error "
          f"{final.get('train_error', float('nan')):.4f}, test error "
          f"{final.get('test_error', float('nan')):.4f} (chance {1 - 1 / built.rhm.n_classes:.3f})")
    print(f"  {result.steps} steps in {result.elapsed:.1f} s, {result.samples_per_s:,.0f} samples/s")
    if kept:
        print(f"  wrote {output.path}" + (" (its records only: no room for its learning curve "
                                          "and status)" if unwritten else ""))


def _ending(result, stop, output, kept: bool, unwritten=None) -> int:
    """One line on stderr for every ending but success; the exit code (docs/failures.md).
    A full disk is exit 1 (a failed run) whatever else happened."""
    import os

    from ..diskspace import DiskFullError
    from ..options import Status

    if unwritten is not None:       # the run's file could not be completed
        state = ("it holds the run's records, without learning curve and status" if kept else
                 "it is unchanged" if output.replaces else "it was not written")
        print(f"plastisim: error: {unwritten.short} writing {output.path}: {state} (the run: "
              f"{result.status}, {result.message})", file=sys.stderr)
        return 1
    disk_full = result.status == Status.FAILED and isinstance(result.error, DiskFullError)
    where = ""
    if output is not None and kept:
        where = f"; {output.path} holds the run up to there"
    elif output is not None and output.replaces:
        where = (f"; {output.path} is unchanged (--overwrite replaces a file only with a run "
                 "that ended)")
    elif output is not None:                # another program put its file there: left alone
        where = f"; {output.path} is not the run's file and was left alone"
    if disk_full:                           # a signal may have come too: the disk says more
        print(f"plastisim: error: {result.message}{where}", file=sys.stderr)
        return 1
    if result.status == Status.INTERRUPTED:
        print(f"plastisim: interrupted by {result.message}{where}", file=sys.stderr)
        return stop.exit_code
    if stop.signum is not None:             # it came while the ended run was being written
        print(f"plastisim: {stop()} arrived after training had ended ({result.status}); the "
              "output is complete", file=sys.stderr)
        return stop.exit_code
    if result.status == Status.FAILED and os.environ.get("PLASTISIM_TRACEBACK"):
        raise result.error
    if result.status in (Status.DIVERGED, Status.FAILED):
        failed = "training failed: " if result.status == Status.FAILED else ""
        print(f"plastisim: error: {failed}{result.message}{where}", file=sys.stderr)
        return 1
    return 0


def _rules(args: argparse.Namespace) -> int:
    from .. import rules

    rows = [(i.name, i.family, "yes" if i.local else "no", i.pre, i.post, i.modulator)
            for i in rules.table()]
    header = ("rule", "family", "local", "pre factor", "post factor", "modulator (third factor)")
    widths = [max(len(r[k]) for r in rows + [header]) for k in range(len(header))]
    for row in [header, tuple("-" * w for w in widths)] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def add_parsers(sub) -> None:
    from .options import add_overwrite, add_threads

    run = sub.add_parser("run", help="train one model config (models/*.toml)")
    run.add_argument("config", type=Path, help="model TOML file")
    run.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override a config value (repeatable)")
    run.add_argument("--out", help="netCDF file to write (default: [record] path, or none); a "
                     "missing folder is created")
    add_overwrite(run, "an existing --out file")
    run.add_argument("--record", metavar="KEY=VALUE,...", help="record trajectories into the "
                     "run's file, e.g. weights=all,every=100 (keys of [record]; "
                     "docs/data-format.md)")
    run.add_argument("--device", help="auto, cpu or cuda (default: the config's train.device)")
    add_threads(run)
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=_run)
    table = sub.add_parser("rules", help="each rule with its three factors")
    table.set_defaults(func=_rules)
