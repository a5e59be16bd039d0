"""Markdown tables for docs/results.md from the study files (masking.py, sample_complexity.py).

    python analyses/results_tables.py runs/masking_L3_w128_s*.nc [--levels 2 1] [--out runs/x]

Files of one study split by seed, by P or by rule are merged (``--out``: the merged .nc and
its figure). Prints, per rule and P,
the test error (mean ± std over seeds, n = number of seeds), P* from the seed-averaged curve,
and the synonymic sensitivity of the last hidden layer.
"""
import argparse
from pathlib import Path

import numpy as np
import xarray as xr

from _study import pstar_text, report
from plastisim import RHM
from plastisim.metrics import sample_complexity


def merge(paths: list[str]) -> xr.Dataset:
    """One Dataset from study files split by seed, by P or by rule (cells not run: NaN)."""
    parts = [xr.open_dataset(p) for p in paths]
    if len(parts) == 1:
        return parts[0]
    return xr.merge(parts, join="outer", compat="no_conflicts", combine_attrs="drop_conflicts")


def rhm_of(ds: xr.Dataset) -> RHM:
    """The RHM of a study file, from its ``rhm`` attribute "RHM(v=8, n_classes=8, ...)"."""
    items = ds.attrs["rhm"].removeprefix("RHM(").removesuffix(")").split(", ")
    return RHM(**{k: int(v) for k, v in (item.split("=") for item in items)})


def table(ds: xr.Dataset, levels: list[int]) -> str:
    n_classes = rhm_of(ds).n_classes
    n_star = float(ds.attrs["n_star"])
    L = ds.sizes["layer"]
    head = "| rule | " + " | ".join(f"P={m:g}·n*" for m in ds.multiple.values) + " | P*/n* |"
    lines = [head, "|" + "---|" * (ds.sizes["multiple"] + 2)]
    for rule in ds.rule.values:
        err = ds.test_error.sel(rule=rule)
        cells = []
        for m in ds.multiple.values:
            e = err.sel(multiple=m).values
            e = e[~np.isnan(e)]
            cells.append("—" if e.size == 0 else
                         f"{e.mean():.3f} ± {e.std(ddof=1) if e.size > 1 else 0:.3f} (n={e.size})")
        sc = sample_complexity(ds.P.values, err.mean("seed", skipna=True).values, n_classes)
        star = pstar_text(sc, n_star, ds.multiple.values[-1])
        lines.append(f"| `{rule}` | " + " | ".join(cells) + f" | {star} |")
    for level in levels:
        lines += ["", f"Synonymic sensitivity S of the last hidden layer (layer {L}) to synonyms "
                  f"re-drawn below level {level}, mean over seeds:", "",
                  "| rule | " + " | ".join(f"{m:g}·n*" for m in ds.multiple.values) + " |",
                  "|" + "---|" * (ds.sizes["multiple"] + 1)]
        for rule in ds.rule.values:
            s = ds.sensitivity.sel(rule=rule, layer=L, level=level).mean("seed", skipna=True)
            lines.append(f"| `{rule}` | " + " | ".join(f"{v:.2f}" for v in s.values) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--levels", nargs="+", type=int, default=None,
                        help="sensitivity levels (default: L-1 and 1)")
    parser.add_argument("--out", default=None,
                        help="write the merged Dataset to OUT.nc and its figure to OUT.png")
    args = parser.parse_args()
    ds = merge(args.paths)
    if args.out:
        out = Path(args.out)
        ds.drop_encoding().to_netcdf(out.with_suffix(".nc"))   # the parts' string widths differ
        report(ds, rhm_of(ds), out.with_suffix(".png"))
    L = ds.sizes["layer"]
    levels = args.levels or sorted({L - 1, 1}, reverse=True)
    print(f"{ds.attrs['rhm']}, width {ds.attrs['width']}\n")
    print(table(ds, levels))
