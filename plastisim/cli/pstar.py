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
from .figures import (LINESTYLES, SERIES_COLOURS, display_name, family_order, rule_family,
                      rule_label, rule_styles, save, study_style)

THRESHOLD = "10% of chance (P* threshold)"


def _load(paths: list[Path]):
    import xarray as xr

    from ..inputs import check_input_file

    out = []
    for path in paths:
        check_input_file(path, "sweep file", "netCDF file", hint="sweep.nc")
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
    """One curve per record: what it compares (``series``: the rule spec or model, and its
    ``family``), its setting label and the seed-mean values."""
    from ..study import SERIES_DIMS, setting_label

    dims = list(summary["P_star"].dims)
    curves = []
    for record in records:
        at = {d: record[d] for d in dims}
        point = summary.sel(at) if at else summary
        series = " ".join(f"{record[d]}" for d in dims if d in SERIES_DIMS) or "run"
        other = [f"{d}={record[d]}" for d in dims if d not in SERIES_DIMS]
        curves.append({
            "series": series, "family": rule_family(series), "lr_per_P": "lr" in record,
            "setting": " ".join(filter(None, [setting_label(record), *other])),
            "x": np.asarray(summary[over].values, dtype=float),
            "mean": np.asarray(point["error_mean"].values, dtype=float),
            "std": np.asarray(point["error_std"].values, dtype=float),
            "sens": (np.asarray(point["sensitivity_last"].values, dtype=float)
                     if "sensitivity_last" in point else None),
            "threshold": summary.attrs["fraction"] * (1 - 1 / record.get("n_classes", math.inf)),
            "text": record["text"]})
    return curves


def _setting_order(setting: str) -> list[tuple[str, float, str]]:
    """Sort key of a setting label ("v=8 n_c=8 m=4 L=3 width=128"): its values in order, as
    numbers where they are numbers (v = 16 after v = 8), words after numbers."""
    key = []
    for word in setting.split():
        name, _, value = word.partition("=")
        try:
            key.append((name, float(value), ""))
        except ValueError:
            key.append((name, math.inf, value))
    return key


def _varying(curves: list[dict]) -> tuple[dict[str, str], str]:
    """setting -> its words that differ between the figure's settings, and the words they all
    share (the figure's title)."""
    settings = list(dict.fromkeys(c["setting"] for c in curves))
    words = [s.split() for s in settings]
    common = [w for w in words[0] if all(w in ws for ws in words)]
    return ({s: " ".join(w for w in ws if w not in common) or s
             for s, ws in zip(settings, words)}, " ".join(common))


def _by_setting(curves: list[dict]) -> tuple[list[str], list[dict]]:
    """Panels: the settings, sorted; lines: the rules, coloured by family
    (``figures.rule_styles``) and labelled by ``figures.rule_label`` with their P*/n*."""
    styles = rule_styles(c["series"] for c in curves)
    rank = {f: r for r, f in enumerate(family_order(c["family"] for c in curves))}
    lines = []
    for c in curves:
        label = (rule_label(c["series"], with_lr=not c["lr_per_P"])
                 + (", lr chosen per P" if c["lr_per_P"] else ""))
        lines.append({"panel": c["setting"], "order": (rank[c["family"]], c["series"]),
                      "style": styles[c["series"]], "label": f"{label}: P*/n* {c['text']}"})
    return sorted({c["setting"] for c in curves}, key=_setting_order), lines


def _by_rule(curves: list[dict]) -> tuple[list[str], list[dict]]:
    """Panels: the rule families (``figures.family_order``); lines: the settings, one colour per
    setting in every panel (their sorted order), a line style per spec where one setting has
    several of a family (two rates); labelled by what the panel title does not say."""
    settings = sorted({c["setting"] for c in curves}, key=_setting_order)
    lines = []
    for c in curves:
        twins = sorted({d["series"] for d in curves
                        if (d["family"], d["setting"]) == (c["family"], c["setting"])})
        colour = SERIES_COLOURS[settings.index(c["setting"]) % len(SERIES_COLOURS)]
        details = ("lr chosen per P" if c["lr_per_P"] else
                   rule_label(c["series"], with_name=False))
        lines.append({"panel": c["family"], "order": (_setting_order(c["setting"]), c["series"]),
                      "style": {"color": colour,
                                "linestyle": LINESTYLES[twins.index(c["series"])]},
                      "label": ", ".join(filter(None, [details, f"P*/n* {c['text']}"]))})
    return family_order(c["family"] for c in curves), lines


def figure(curves: list[dict], png: Path, by: str) -> Path:
    """Columns: one per setting (``by="setting"``) or per rule (``by="rule"``); rows: test
    error (mean ± std over seeds) and S of the last hidden layer, against P/(n_c·m^L); under
    each column the legend of its lines with their P*/n*; ``by="rule"``: under the figure,
    the colour of each setting."""
    panels, lines = (_by_setting if by == "setting" else _by_rule)(curves)
    with study_style() as plt:
        fig, axes = plt.subplots(2, len(panels), figsize=(max(3.3 * len(panels), 5.5), 6.4),
                                 squeeze=False, sharex="col", sharey="row")
        for j, panel in enumerate(panels):
            mine = sorted((i for i, line in enumerate(lines) if line["panel"] == panel),
                          key=lambda i: lines[i]["order"])
            _panel(axes[:, j], [curves[i] for i in mine], [lines[i] for i in mine],
                   threshold_entry=by == "setting")
            axes[0, j].set_title(panel if by == "setting" else display_name(panel))
        axes[0, 0].set_ylabel("test error")
        axes[1, 0].set_ylabel("S of the last hidden layer")
        if by == "rule":
            _settings_legend(fig, curves)
        return save(fig, png, f"plastisim pstar --by {by}")


def _panel(axes, curves: list[dict], lines: list[dict], threshold_entry: bool) -> None:
    """One column: error (top) and S (bottom) of ``curves``; their legend below."""
    top, bottom = axes
    for c, line in zip(curves, lines):
        top.errorbar(c["x"], c["mean"], yerr=c["std"], marker="o", ms=3, capsize=2, lw=1.4,
                     label=line["label"], **line["style"])
        if c["sens"] is not None:
            bottom.plot(c["x"], c["sens"], marker="o", ms=3, lw=1.4, **line["style"])
    for t in sorted({c["threshold"] for c in curves}):
        top.axhline(t, color="k", ls=":", lw=1, label=THRESHOLD if threshold_entry else None)
    top.set(xscale="log", ylim=(-0.02, 1.0))
    bottom.set(xlabel=r"$P\,/\,(n_c m^L)$", xscale="log", ylim=(-0.02, 1.1))
    ticks = sorted({float(x) for c in curves for x in c["x"]})
    for axis in (top, bottom):
        axis.set_xticks(ticks, [f"{t:g}" for t in ticks])
        axis.minorticks_off()
        axis.grid(alpha=0.25, lw=0.5)
    handles, labels = top.get_legend_handles_labels()
    if threshold_entry:                                   # the threshold last
        handles, labels = handles[1:] + handles[:1], labels[1:] + labels[:1]
    bottom.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                  frameon=False)


def _settings_legend(fig, curves: list[dict]) -> None:
    """Under the figure: one entry per setting (its colour in every panel) and the threshold;
    the words every setting shares as the figure's title."""
    from matplotlib.lines import Line2D

    varying, common = _varying(curves)
    settings = sorted(varying, key=_setting_order)
    handles = [Line2D([], [], color=SERIES_COLOURS[k % len(SERIES_COLOURS)], marker="o", ms=3)
               for k in range(len(settings))]
    handles.append(Line2D([], [], color="k", ls=":", lw=1))
    fig.legend(handles, [varying[s] for s in settings] + [THRESHOLD], loc="outside lower center",
               ncol=min(len(handles), 4), title="colour: setting", frameon=False)
    if common:
        fig.suptitle(common)


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
