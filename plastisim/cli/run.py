"""``plastisim run`` (train one model config) and ``plastisim rules`` (the rule table)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _progress_bar(total: int, quiet: bool):
    """A tqdm bar over epochs on stderr (None when quiet or stderr is not a terminal)."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="epoch", file=sys.stderr, dynamic_ncols=True)


def _run(args: argparse.Namespace) -> int:
    from .. import config, record
    from ..errors import ConfigError
    from ..run import build, describe, make_monitor
    from ..train import train
    from .record import record_overrides

    cfg = config.load(args.config, args.set + record_overrides(args.record))
    out = args.out or cfg.record.path or None
    if out:
        record.check_output_path(out, args.overwrite)
    if cfg.record.active and not out:
        raise ConfigError("record: trajectories are written into the run's file; pass --out or "
                          "set record.path")
    built = build(cfg, args.device)
    monitor = make_monitor(cfg, built, out, args.overwrite) if cfg.record.active else None
    bar = _progress_bar(built.options.epochs, args.quiet)

    def progress(report: dict) -> None:
        if bar is not None:
            bar.update(report["epoch"] - bar.n)
            shown = {"loss": f"{report['train_loss']:.3g}"}
            if "test_error" in report:
                progress.last_test = f"{report['test_error']:.3f}"
            bar.set_postfix(test_error=getattr(progress, "last_test", "-"), **shown)

    try:
        result = train(built.net, built.rule, built.train_set, built.test_set, built.options,
                       rhm=built.rhm, monitor=monitor, progress=progress)
    finally:
        if bar is not None:
            bar.close()
        if monitor is not None:     # the file stays valid, whatever happened in training
            monitor.close()
    ds = describe(cfg, built, result)
    if out:
        record.write(ds, out) if monitor is None else record.append(ds, out)
    final = result.final
    print(f"rule {cfg.rule.name} on {built.rhm!r}".split("  #")[0]
          + f", P = {len(built.train_set)} ({len(built.train_set) / built.rhm.n_star:g} n_c·m^L),"
          f" width {cfg.network.width}, device {built.device}")
    print(f"  {result.status}: {result.message}")
    print(f"  final train loss {final.get('train_loss', float('nan')):.4g}, train error "
          f"{final.get('train_error', float('nan')):.4f}, test error "
          f"{final.get('test_error', float('nan')):.4f} (chance {1 - 1 / built.rhm.n_classes:.3f})")
    print(f"  {result.steps} steps in {result.elapsed:.1f} s, {result.samples_per_s:,.0f} samples/s")
    if out:
        print(f"  wrote {out}")
    if result.status == "diverged":
        print(f"plastisim: error: {result.message}", file=sys.stderr)
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
    run = sub.add_parser("run", help="train one model config (models/*.toml)")
    run.add_argument("config", type=Path, help="model TOML file")
    run.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override a config value (repeatable)")
    run.add_argument("--out", help="netCDF file to write (default: [record] path, or none)")
    run.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    run.add_argument("--record", metavar="KEY=VALUE,...", help="record trajectories into the "
                     "run's file, e.g. weights=all,every=100 (keys of [record]; "
                     "docs/data-format.md)")
    run.add_argument("--device", help="auto, cpu or cuda (default: the config's train.device)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=_run)
    table = sub.add_parser("rules", help="each rule with its three factors")
    table.set_defaults(func=_rules)
