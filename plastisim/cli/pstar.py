"""``plastisim pstar SWEEP.nc ...``: sample complexity P* per rule and setting, with bootstrap
intervals over seeds, as a table (or JSON / markdown) and a figure of error and last-layer
synonymic sensitivity against P/(n_c·m^L)."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from ..errors import ConfigError


def _load(paths: list[Path]):
    import xarray as xr

    out = []
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"sweep file {str(path)!r} does not exist (a merged sweep.nc)")
        try:
            ds = xr.load_dataset(path)
        except (OSError, ValueError) as err:
            raise ConfigError(f"{path}: not a readable netCDF file ({err})") from None
        missing = [v for v in ("test_error", "n_classes", "status") if v not in ds]
        if missing:
            raise ConfigError(f"{path}: not a merged sweep dataset (no {', '.join(missing)}); "
                              "give OUT/sweep.nc of `plastisim sweep`")
        out.append(ds)
    return out


def _curves(summary, records: list[dict], over: str) -> list[dict]:
    """One curve per record: its series label, setting label and the seed-mean values."""
    from ..study import SERIES_DIMS, setting_label

    dims = list(summary["P_star"].dims)
    curves = []
    for record in records:
        at = {d: record[d] for d in dims}
        point = summary.sel(at) if at else summary
        series = [f"{record[d]}" for d in dims if d in SERIES_DIMS]
        other = [f"{d}={record[d]}" for d in dims if d not in SERIES_DIMS]
        curves.append({
            "series": " ".join(series) or "run",
            "rule": (" ".join(series) or "run").split(":")[0],
            "setting": " ".join(filter(None, [setting_label(record), *other])),
            "x": np.asarray(summary[over].values, dtype=float),
            "mean": np.asarray(point["error_mean"].values, dtype=float),
            "std": np.asarray(point["error_std"].values, dtype=float),
            "sens": (np.asarray(point["sensitivity_last"].values, dtype=float)
                     if "sensitivity_last" in point else None),
            "threshold": summary.attrs["fraction"] * (1 - 1 / record.get("n_classes", math.inf)),
            "text": record["text"]})
    return curves


def figure(curves: list[dict], png: Path, by: str) -> Path:
    """Columns: one per setting (``by="setting"``) or per rule (``by="rule"``); rows: test
    error (mean ± std over seeds) and S of the last hidden layer, against P/(n_c·m^L)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panel_key, line_key = ("setting", "series") if by == "setting" else ("rule", "setting")
    panels = list(dict.fromkeys(c[panel_key] for c in curves))
    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 6.5), squeeze=False,
                             sharex="col")
    for j, panel in enumerate(panels):
        top, bottom = axes[0, j], axes[1, j]
        for c in (c for c in curves if c[panel_key] == panel):
            lr = c["series"].partition(":")[2]
            label = f"{c[line_key]}{f' ({lr})' if by == 'rule' and lr else ''}  P*/n* {c['text']}"
            top.errorbar(c["x"], c["mean"], yerr=c["std"], marker="o", ms=3, capsize=2,
                         label=label)
            if c["sens"] is not None:
                bottom.plot(c["x"], c["sens"], marker="o", ms=3, label=c[line_key])
        thresholds = sorted({c["threshold"] for c in curves if c[panel_key] == panel})
        for t in thresholds:
            top.axhline(t, color="k", ls=":", lw=1)
        top.set(title=panel, xscale="log", ylim=(-0.02, 1.0),
                ylabel="test error (dotted: 10% of chance)" if j == 0 else "")
        handles, labels = top.get_legend_handles_labels()
        bottom.legend(handles, labels, fontsize=7, loc="upper center",
                      bbox_to_anchor=(0.5, -0.2), frameon=False)      # below: no data hidden
        bottom.set(xlabel="P / (n_c m^L)", xscale="log", ylim=(-0.02, 1.1),
                   ylabel="S of the last hidden layer (level L-1)" if j == 0 else "")
        ticks = sorted({float(x) for c in curves if c[panel_key] == panel for x in c["x"]})
        for axis in (top, bottom):
            axis.set_xticks(ticks, [f"{t:g}" for t in ticks])
            axis.minorticks_off()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return png


def markdown(summary, records: list[dict], over: str) -> list[str]:
    """A docs/results.md table: error per P (mean ± std, n), P*/n* with its interval, lr."""
    dims = list(summary["P_star"].dims)
    grid = np.asarray(summary[over].values, dtype=float)
    head = [*dims, *(f"P={p:g}·n*" for p in grid), "P*/n* [95% CI]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        point = summary.sel({d: r[d] for d in dims}) if dims else summary
        cells = [f"`{r[d]}`" if isinstance(r[d], str) else f"{r[d]:g}" for d in dims]
        for k in range(grid.size):
            mean, std = float(point["error_mean"][k]), float(point["error_std"][k])
            n = int(point["n_seeds"][k])
            lr = f", lr {r['lr'][f'{grid[k]:g}']:g}" if "lr" in r else ""
            cells.append("—" if not math.isfinite(mean) else f"{mean:.3f} ± {std:.3f} (n={n}{lr})")
        cells.append(f"{r['text']} {r['interval']}")
        lines.append("| " + " | ".join(cells) + " |")
    if "sensitivity_last" not in summary:
        return lines
    lines += ["", "Synonymic sensitivity of the last hidden layer to synonyms below level L-1 "
              "(seed mean):", "", "| " + " | ".join([*dims, *(f"{p:g}·n*" for p in grid)]) + " |",
              "|" + "---|" * (len(dims) + grid.size)]
    for r in records:
        point = summary.sel({d: r[d] for d in dims}) if dims else summary
        cells = [f"`{r[d]}`" if isinstance(r[d], str) else f"{r[d]:g}" for d in dims]
        cells += [f"{float(v):.2f}" for v in point["sensitivity_last"].values]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _pstar(args: argparse.Namespace) -> int:
    from ..study import LR, rows, selection_table, summarize, table

    if args.boot < 0:
        raise ConfigError(f"--boot={args.boot} is impossible: need an integer >= 0")
    if not 0 < args.level < 1:
        raise ConfigError(f"--level={args.level} is impossible: need 0 < level < 1")
    if not 0 < args.fraction < 1:
        raise ConfigError(f"--fraction={args.fraction} is impossible: need 0 < fraction < 1")
    everything, curves, text = [], [], []
    for path, ds in zip(args.files, _load(args.files)):
        if args.over not in ds.dims and LR in ds.dims:     # a learning-rate selection sweep
            what = ("final train loss, readout train error for self-supervised rules"
                    if args.select_by == "loss" else "final train error")
            text.append(f"{path}: {ds.attrs.get('title', '')}: seed-mean {what} per rate")
            text += ["  " + line for line in selection_table(ds, by=args.select_by)]
            continue
        if args.over not in ds.dims:
            raise ConfigError(f"{path}: --over {args.over!r} is not a dimension; available: "
                              + ", ".join(map(str, ds.dims)))
        summary = summarize(ds, args.over, args.boot, args.level, args.fraction, args.seed,
                            args.select_by)
        records = rows(summary)
        dims = list(summary["P_star"].dims)
        everything += [{"file": str(path), **r} for r in records]
        curves += _curves(summary, records, args.over)
        text.append(f"{path}: {ds.attrs.get('title', '')}")
        text += (markdown(summary, records, args.over) if args.markdown
                 else ["  " + line for line in table(records, dims)])
        if "lr_selection" in summary.attrs or "lr" in summary.coords:
            text.append(f"  lr chosen per P on training fit (plastisim.study.select_lr)")
    if args.json:
        print(json.dumps(everything, indent=2))
    else:
        print("\n".join(text))
    if curves and not args.json:
        print(f"P* in units of n_c·m^L; interval: {args.level:g} percentile bootstrap over "
              f"seeds ({args.boot} resamples); ≤: reached at the smallest P, >: not reached")
    if not args.no_png and curves:
        png = args.png or args.files[0].with_name(args.files[0].stem + "_pstar.png")
        figure(curves, png, args.by)
        if not args.json:
            print(f"wrote {png}")
    return 0


def add_parsers(sub) -> None:
    parser = sub.add_parser("pstar", help="sample complexity P* (with bootstrap intervals) of "
                                          "merged sweep datasets, table and figure")
    parser.add_argument("files", nargs="+", type=Path, help="merged sweep datasets (sweep.nc)")
    parser.add_argument("--over", default="n_train_multiple",
                        help="the training-set-size axis (default n_train_multiple)")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap resamples (0: none)")
    parser.add_argument("--level", type=float, default=0.95, help="interval level (0.95)")
    parser.add_argument("--fraction", type=float, default=0.1,
                        help="threshold as a fraction of the chance error (0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument("--select-by", choices=("loss", "error"), default="loss",
                        help="lr axis: choose on final train loss (readout train error for "
                             "self-supervised rules; default) or on train error")
    parser.add_argument("--json", action="store_true", help="records as JSON on stdout")
    parser.add_argument("--markdown", action="store_true", help="markdown tables")
    parser.add_argument("--png", type=Path, help="figure path (default: FILE_pstar.png)")
    parser.add_argument("--no-png", action="store_true", help="no figure")
    parser.add_argument("--by", choices=("setting", "rule"), default="setting",
                        help="one panel per setting (lines: rules) or per rule (lines: "
                             "settings)")
    parser.set_defaults(func=_pstar)
