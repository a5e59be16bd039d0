"""``plastisim report``: PNG figures of a run file, or of a sweep's merged file.

    plastisim report runs/bp.nc                 # runs/bp_curve.png, _weight_norms.png, ...
    plastisim report runs/clapp.nc --out-dir figs   # figs/ is created (parents too)
    plastisim report OUT/sweep.nc               # OUT/sweep_pstar.png: plastisim pstar's figure

The learning curve of a layerwise self-supervised run shows its two phases apart: the errors
with the step where the readout phase starts marked, the local (self-supervised) loss and the
readout's cross-entropy each in its own labelled panel. Bad input is a one-line
``PlastisimError`` (exit code 2); existing PNGs are replaced only with ``--overwrite``, each
written beside its name and moved into place (``plastisim.recording.outputs``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError

#: y labels of the loss of each phase
LOSS_LABELS = {"joint": "train loss (cross-entropy)",
               "local": "local loss (Σ over layers, self-supervised)",
               "readout": "readout cross-entropy"}


def _report(args: argparse.Namespace) -> int:
    from .. import analysis
    from ..interrupt import hold
    from ..recording import record
    from ..recording.outputs import check_output_path, make_parent
    from .options import save_png

    ds = record.open_input(args.file)
    folder = Path(args.out_dir) if args.out_dir else Path(args.file).parent
    stem = Path(args.file).stem
    if "sweep_toml" in ds.attrs and "eval_step" not in ds:     # a sweep's merged file
        return _sweep_figure(args, ds, folder / f"{stem}_pstar.png")
    figures = {}
    if "test_error" in ds:
        figures[folder / f"{stem}_curve.png"] = _draw_curve
    if analysis.synapse_names(ds):
        figures[folder / f"{stem}_weight_norms.png"] = _draw_norms
        figures[folder / f"{stem}_weight_hist.png"] = _draw_histograms
    if not figures:
        raise ConfigError(f"{args.file} has no learning curve (test_error) and no recorded "
                          "weights (weight_*): nothing to draw")
    for path in figures:         # a missing --out-dir is created (a new folder holds no PNG)
        check_output_path(path, args.overwrite, ".png", field="--out-dir",
                          make_folder=args.out_dir is not None)
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
            make_parent(path)
            save_png(fig, path, f"plastisim report {args.file}", dpi=110)
            plt.close(fig)
            print(f"wrote {path}")
    return 0


def _sweep_figure(args: argparse.Namespace, ds, png: Path) -> int:
    """The figure of ``plastisim pstar FILE`` (its defaults: test error and S against
    P/(n_c·m^L), one panel per setting) of a sweep's merged file over n_train_multiple."""
    from ..interrupt import hold
    from ..recording.outputs import check_output_path, make_parent
    from ..study import OVER, rows, summarize
    from .pstar import _curves, figure

    if OVER not in ds.dims:
        dims = ", ".join(str(d) for d in ds.dims if d not in ("eval", "layer", "level"))
        raise ConfigError(f"{args.file!r} is a sweep's merged file over {dims or 'no axis'}, "
                          f"without an {OVER} axis: report draws its figure only for a sweep "
                          f"over train.{OVER}; use plastisim pstar {args.file} --over DIM "
                          "--png FIG.png for a training-set-size axis DIM, or report on its "
                          "run files (runs/*.nc beside it)")
    check_output_path(png, args.overwrite, ".png", field="--out-dir",
                      make_folder=args.out_dir is not None)
    summary = summarize(ds, OVER)
    curves = _curves(summary, rows(summary), OVER)
    with hold():                                  # a signal waits until the PNG is in place
        make_parent(png)
        figure(curves, png, "setting")
    print(f"wrote {png}")
    return 0


def _loss_scale(loss) -> str:
    """"log" when a positive loss spans more than a decade, else "linear"."""
    import numpy as np

    finite = loss[np.isfinite(loss)]
    spans = finite.size and finite.min() > 0 and finite.max() > 10 * finite.min()
    return "log" if spans else "linear"


def _draw_curve(plt, ds):
    """Errors and losses against plasticity steps; one loss panel per phase (module doc)."""
    from .. import analysis

    phases = analysis.curve_phases(ds)
    fig, axes = plt.subplots(1, 1 + len(phases), figsize=(4.5 * (1 + len(phases)), 3.5))
    ax = axes[0]
    x = ds["eval_step"].values
    for name in ("test_error", "train_error"):
        ax.plot(x, ds[name].values, marker="o", ms=3, label=name.replace("_", " "))
    for phase, start in analysis.phase_starts(ds).items():
        ax.axvline(start, color="k", ls="--", lw=1, label=f"{phase} phase starts (step {start})")
    ax.set(xscale="log", xlabel="plasticity steps", ylabel="error (fraction)", ylim=(0, 1))
    ax.legend(fontsize=7)
    for k, (phase, rows) in enumerate(phases.items()):
        ax_loss = axes[1 + k]
        loss = ds["train_loss"].values[rows]
        ax_loss.plot(x[rows], loss, marker="o", ms=3, color=f"C{2 + k}", label=f"{phase} phase")
        ax_loss.set(xscale="linear" if k else "log", yscale=_loss_scale(loss),
                    xlabel="plasticity steps",
                    ylabel=LOSS_LABELS.get(phase, f"{phase} loss"))
        ax_loss.legend(fontsize=7)
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
    """Add ``report`` to the ``plastisim`` sub-parsers."""
    rep = sub.add_parser("report", help="PNG figures of a run: learning curve, weight norms, "
                         "weight histograms (of a sweep's sweep.nc: the figure of plastisim "
                         "pstar)", description="Draw PNG figures of a plastisim file.")
    rep.add_argument("file", help="netCDF file written by plastisim")
    rep.add_argument("--out-dir", help="folder of the PNGs (default: next to the file; created "
                     "with its parents when missing)")
    rep.add_argument("--overwrite", action="store_true", help="replace existing PNGs")
    rep.set_defaults(func=_report)
