"""``plastisim export`` (a smaller dataset for sharing) and ``plastisim report`` (figures), and the
``--record key=value,...`` option of ``plastisim run``.

    plastisim run models/bp.toml --out runs/bp.nc --record weights=all,every=100
    plastisim export runs/bp.nc runs/bp_small.nc --vars weight_w1 test_error --every 1000 \\
        --indices w1.post=0:16
    plastisim report runs/bp.nc        # runs/bp_curve.png, _weight_norms.png, _weight_hist.png

Bad input is a one-line ``PlastisimError`` (exit code 2); existing files are never replaced
without ``--overwrite``, and every output is written beside its name and moved into place
(``plastisim.outputs``), so an interruption leaves the old files as they were.
"""
from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from ..errors import ConfigError, check_int


def record_overrides(text: str | None) -> list[str]:
    """``--record`` text as ``--set`` overrides of [record].

    "weights=w1,w2,every=100,w1.post=0:16" -> ["record.weights=w1,w2", "record.every=100",
    'record.indices=["w1.post=0:16"]']: a comma-separated item without "=" continues the
    previous value; keys with a dot are index selections (name.axis=selection)."""
    if not text:
        return []
    pairs: list[list[str]] = []
    for token in text.split(","):
        if "=" in token:
            pairs.append([part.strip() for part in token.split("=", 1)])
        elif pairs:
            pairs[-1][1] += "," + token.strip()
        else:
            raise ConfigError(f"--record {text!r} is not of the form key=value,... "
                              "(e.g. weights=all,every=100)")
    indices = [f"{key}={value}" for key, value in pairs if "." in key]
    out = [f"record.{key}={value}" for key, value in pairs if "." not in key]
    return out + ([f"record.indices={json.dumps(indices)}"] if indices else [])


def _export(args: argparse.Namespace) -> int:
    from .. import record
    from ..selection import parse_indices

    variables = [v for item in args.vars or [] for v in item.split(",") if v]
    every = None
    if args.every is not None:
        every = check_int("--every", int(args.every) if args.every.isdigit() else args.every, 1)
    argv = [args.input, args.output] + (["--vars", *args.vars] if args.vars else []) + \
        (["--every", args.every] if args.every else []) + \
        (["--indices", *args.indices] if args.indices else [])
    out = record.export(args.input, args.output, variables or None, every,
                        parse_indices(args.indices or []), args.overwrite,
                        command="plastisim export " + shlex.join(argv))
    size_in, size_out = Path(args.input).stat().st_size, out.stat().st_size
    print(f"wrote {out} ({size_out / 1e6:.3g} MB; input {size_in / 1e6:.3g} MB)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from .. import analysis, record
    from ..interrupt import hold
    from ..outputs import check_output_path
    from .options import save_png

    ds = record.open_input(args.file)
    folder = Path(args.out_dir) if args.out_dir else Path(args.file).parent
    stem = Path(args.file).stem
    figures = {}
    if "test_error" in ds:
        figures[folder / f"{stem}_curve.png"] = _draw_curve
    if analysis.synapse_names(ds):
        figures[folder / f"{stem}_weight_norms.png"] = _draw_norms
        figures[folder / f"{stem}_weight_hist.png"] = _draw_histograms
    if not figures:
        raise ConfigError(f"{args.file} has no learning curve (test_error) and no recorded "
                          "weights (weight_*): nothing to draw")
    for path in figures:
        check_output_path(path, args.overwrite, ".png", field="--out-dir")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = {}
    for path, draw in figures.items():      # draw all, then write all (a signal waits)
        fig = draw(plt, ds)
        fig.suptitle(str(ds.attrs.get("title", stem)), fontsize=9)
        fig.tight_layout()
        drawn[path] = fig
    with hold():
        for path, fig in drawn.items():
            save_png(fig, path, f"plastisim report {args.file}", dpi=110)
            plt.close(fig)
            print(f"wrote {path}")
    return 0


def _draw_curve(plt, ds):
    import numpy as np

    fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.5))
    x = ds["eval_step"].values
    for name in ("test_error", "train_error"):
        ax.plot(x, ds[name].values, marker="o", ms=3, label=name.replace("_", " "))
    ax.set(xscale="log", xlabel="plasticity steps", ylabel="error (fraction)", ylim=(0, 1))
    ax.legend()
    loss = ds["train_loss"].values
    ax_loss.plot(x, loss, marker="o", ms=3, color="C2")
    spans_decades = np.nanmin(loss) > 0 and np.nanmax(loss) > 10 * np.nanmin(loss)
    ax_loss.set(xscale="log", yscale="log" if spans_decades else "linear",
                xlabel="plasticity steps", ylabel="train loss")
    return fig


def _draw_norms(plt, ds):
    from .. import analysis

    stats = analysis.weight_stats(ds)
    fig, (ax_rms, ax_drift) = plt.subplots(1, 2, figsize=(9, 3.5))
    for s in analysis.synapse_names(ds):
        ax_rms.plot(stats["step"].values, stats[f"rms_{s}"].values, label=s)
        ax_drift.plot(stats["step"].values, stats[f"drift_{s}"].values, label=s)
    ax_rms.set(xlabel="plasticity steps", ylabel="RMS weight")
    ax_drift.set(xlabel="plasticity steps", ylabel="‖w − w(first record)‖ / ‖w(first record)‖")
    ax_rms.legend()
    return fig


def _draw_histograms(plt, ds):
    import numpy as np

    from .. import analysis

    names = analysis.synapse_names(ds)
    fig, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 3), squeeze=False)
    for ax, s in zip(axes[0], names):
        w = ds[f"weight_{s}"]
        ends = {i: w.isel(step=i).values.ravel() for i in (0, -1)}
        bins = np.histogram_bin_edges(np.concatenate(list(ends.values())), bins=50)
        for i, label in ((0, "first"), (-1, "last")):
            ax.hist(ends[i], bins=bins, histtype="step",
                    label=f"{label} (step {int(w['step'][i])})")
        ax.set(title=s, xlabel="weight", ylabel="count" if s == names[0] else None)
    axes[0][0].legend(fontsize=7)
    return fig


def add_parsers(sub) -> None:
    """Add ``export`` and ``report`` to the ``plastisim`` sub-parsers."""
    exp = sub.add_parser("export", help="write a smaller dataset (variables, steps, indices)",
                         description="Write a subset of a plastisim netCDF file for sharing.")
    exp.add_argument("input", help="netCDF file written by plastisim")
    exp.add_argument("output", help="netCDF file to write")
    exp.add_argument("--vars", nargs="+", metavar="NAME", help="variables to keep (default all)")
    exp.add_argument("--every", help="keep the records whose step is a multiple")
    exp.add_argument("--indices", nargs="+", metavar="NAME.AXIS=SEL",
                     help="keep these indices, e.g. w1.post=0:16 h1.channel=3,5")
    exp.add_argument("--overwrite", action="store_true", help="replace an existing output")
    exp.set_defaults(func=_export)
    rep = sub.add_parser("report", help="PNG figures of a run: learning curve, weight norms, "
                         "weight histograms", description="Draw PNG figures of a plastisim file.")
    rep.add_argument("file", help="netCDF file written by plastisim")
    rep.add_argument("--out-dir", help="folder of the PNGs (default: next to the file)")
    rep.add_argument("--overwrite", action="store_true", help="replace existing PNGs")
    rep.set_defaults(func=_report)
