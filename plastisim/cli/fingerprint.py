"""``plastisim fingerprint RUN.nc``: the fingerprint of the rule a run trained with.

    plastisim fingerprint runs/bp.nc                    # runs/bp_fingerprint.nc and .png
    plastisim fingerprint runs/bp.nc --stages 6 --out fp/bp.nc --png fp/bp.png

Reads a run recorded with ``record.factors = "all"``, prints one row per projection (BCM
threshold and amplitudes, whether the threshold slides, modulator sign fractions, weight shape
beside Song et al. 2005; ``plastisim.fingerprint``) and writes the fingerprint Dataset
(``--out``, default ``<RUN>_fingerprint.nc`` beside the run) and its figure (``--png``,
default ``--out`` with ``.png``). A missing file, a file that is not netCDF, or one without
recorded factors (a sweep's ``sweep.nc``, a protocol's output) is a one-line error (exit code
2), found before any work; existing outputs are replaced only with ``--overwrite``, written
beside their names and moved into place (``plastisim.recording.outputs``).
"""
from __future__ import annotations

import argparse
import shlex
from datetime import datetime, timezone
from pathlib import Path

from ..errors import check_int, impossible

DEFAULT_STAGES = 4


def add_parsers(sub) -> None:
    """Add the ``fingerprint`` command to the ``plastisim`` sub-parsers."""
    from .options import add_overwrite

    p = sub.add_parser("fingerprint", help="the fingerprint of a trained rule from a run's "
                       "recorded factors: BCM curve, modulator, weight shape",
                       description=__doc__.splitlines()[0])
    p.add_argument("file", help="run file recorded with record.factors = 'all'")
    p.add_argument("--out", help="netCDF file of the fingerprint (default: "
                   "<RUN>_fingerprint.nc beside the run; a missing folder is created)")
    p.add_argument("--png", help="PNG of the fingerprint (default: --out with .png)")
    p.add_argument("--stages", help=f"training stages, equal numbers of records (default "
                   f"{DEFAULT_STAGES})")
    add_overwrite(p, "existing --out and --png files")
    p.set_defaults(func=run_fingerprint)


def _stages(text: str | None) -> int:
    if text is None:
        return DEFAULT_STAGES
    try:
        value = int(text)
    except ValueError:
        raise impossible("--stages", text, "need an integer >= 1") from None
    return check_int("--stages", value, 1)


def run_fingerprint(args: argparse.Namespace) -> int:
    from .. import fingerprint as fpr
    from ..interrupt import hold
    from ..recording import record
    from ..recording.environment import environment
    from ..recording.outputs import check_output_path, make_parent

    # check everything before any work: the input, the stages, then the outputs
    n_stages = _stages(args.stages)
    ds = record.open_input(args.file)
    fpr.check_stages(ds, n_stages, str(args.file))
    run = Path(args.file)
    for field, given in (("--out", args.out), ("--png", args.png)):
        if given is not None and Path(given).resolve() == run.resolve():
            raise impossible(field, given, "need a file other than the input")
    out = check_output_path(args.out or run.with_name(f"{run.stem}_fingerprint.nc"),
                            args.overwrite, ".nc", field="--out", make_folder=True)
    png = check_output_path(args.png or out.with_suffix(".png"), args.overwrite, ".png",
                            field="--png", make_folder=True)
    fp = fpr.fingerprint(ds, n_stages, source=str(args.file))
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    command = shlex.join(["plastisim", "fingerprint", str(args.file), "--stages",
                          str(n_stages), "--out", str(out), "--png", str(png)])
    fp.attrs["history"] = f"{now}: {command}\n{fp.attrs['history']}"
    fp.attrs.update(environment())
    with hold():                       # a signal waits until both outputs are in place
        make_parent(out)
        record.write(fp, out)
        make_parent(png)
        plot(fp, png)
    print(fpr.table(fp))
    print(f"wrote {out} and {png}")
    return 0


def plot(fp, path: str | Path) -> Path:
    """PNG of a fingerprint (Agg): top, the BCM curve of every projection per stage (points:
    binned mean update per unit pre activity, lines: the fits); bottom, the modulator
    histograms of the last stage and the weight shape (last record) beside Song et al. 2005."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .options import save_png

    names = [str(p) for p in fp["projection"].values]
    cols = max(len(names), 2)
    fig = plt.figure(figsize=(3.4 * cols, 6.8))
    grid = fig.add_gridspec(2, cols)
    for i, p in enumerate(names):
        _draw_bcm(fig.add_subplot(grid[0, i]), fp.sel(projection=p), p)
    _draw_modulator(fig.add_subplot(grid[1, : cols // 2]), fp)
    _draw_weights(fig.add_subplot(grid[1, cols // 2:]), fp)
    fig.suptitle(fp.attrs.get("title", "fingerprint"), fontsize=9)
    fig.tight_layout()
    save_png(fig, path, f"plastisim fingerprint {fp.attrs.get('run_file', '')}", dpi=110)
    plt.close(fig)
    return Path(path)


def _draw_bcm(ax, row, name: str) -> None:
    import numpy as np

    from ..fingerprint import phi

    for s in range(row.sizes["stage"]):
        at = row.isel(stage=s)
        if not str(at["stage_label"].values):               # fewer records than stages
            continue
        r, u, sem = (at[k].values for k in ("bcm_rate", "bcm_update", "bcm_update_sem"))
        color = f"C{s % 10}"
        ax.errorbar(r, u, sem, fmt="o", ms=3, color=color, capsize=1,
                    label=f"steps {at['stage_label'].item()}")
        theta, a_ltd, a_ltp = (float(at[f"bcm_{k}"]) for k in ("theta", "a_ltd", "a_ltp"))
        finite = r[np.isfinite(r)]
        if np.isfinite(theta) and finite.size:
            grid = np.linspace(min(0.0, finite.min()), finite.max(), 200)
            ax.plot(grid, phi(grid, theta, a_ltd, a_ltp), "-", color=color, lw=1)
            ax.axvline(theta, color=color, ls=":", lw=0.8)
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set(xlabel="post-synaptic rate r", ylabel="update per unit pre activity")
    ax.set_title(f"{name}: BCM form (dotted: theta)", fontsize=9)
    ax.legend(fontsize=6)


def _draw_modulator(ax, fp) -> None:
    from ..fingerprint.report import last_stage

    for i, p in enumerate(fp["projection"].values):
        row = fp.sel(projection=p)
        at = row.isel(stage=last_stage(row))
        ax.step(fp["mbin"].values, at["modulator_hist"].values, where="mid", color=f"C{i}",
                label=f"{p}, steps {at['stage_label'].item()} (scale "
                      f"{float(at['modulator_scale']):.3g})")
    ax.set(xlabel="M / scale", ylabel="fraction per bin")
    ax.set_title("modulator M at open gates, last stage", fontsize=9)
    ax.legend(fontsize=7)


def _draw_weights(ax, fp) -> None:
    import numpy as np

    from ..fingerprint.weights import REFERENCE

    stats = list(REFERENCE.items())            # (song2005 name, weight statistic)
    groups = [*(str(p) for p in fp["projection"].values), "Song et al. 2005"]
    width = 0.8 / len(groups)
    x = np.arange(len(stats))
    for j, label in enumerate(groups):
        if j < len(groups) - 1:
            row = fp.sel(projection=label)
            values = []
            for _, name in stats:
                finite = row[name].values[np.isfinite(row[name].values)]
                values.append(finite[-1] if finite.size else np.nan)
            ax.bar(x + j * width, values, width, label=label, color=f"C{j}")
        else:
            ax.bar(x + j * width, [float(fp[f"song2005_{k}"]) for k, _ in stats], width,
                   label=f"{label} (derived)", color="0.3", hatch="//")
    ax.set_xticks(x + width * (len(groups) - 1) / 2,
                  ["CV", "skewness", "sigma of ln w"])
    if all(np.isnan(fp[name].values).all() for _, name in stats):
        ax.text(0.5, 0.5, "weights not recorded (record.weights)", ha="center",
                transform=ax.transAxes, fontsize=8)
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_yscale("symlog", linthresh=1.0)     # a CV of near-zero-mean weights is huge
    ax.set(ylabel="value (symlog)")
    ax.set_title("weight shape at the end of the last stage", fontsize=9)
    ax.legend(fontsize=7)
