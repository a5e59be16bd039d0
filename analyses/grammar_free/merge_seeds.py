"""Merge two sweeps of one study that differ in their seeds into one rectangle of runs.

    python analyses/grammar_free/merge_seeds.py runs/grammar_free/grid_v16_m4_L5/sweep.nc \
        runs/grammar_free/grid_v16_m4_L5_seeds/sweep.nc --out grid_v16_m4_L5.nc

Keeps the rules and P multiples present in both files, stacks their seeds along ``seed`` and
writes the merged Dataset without the learning curves (dimension ``eval``) (the first file's attributes, a note of the merge added), which
``plastisim pstar`` and ``depth.py`` read like any merged sweep.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    a, b = (xr.open_dataset(p).load() for p in args.files)
    rules = [r for r in a.rule.values if r in b.rule.values]
    multiples = np.intersect1d(a.n_train_multiple.values, b.n_train_multiple.values)
    # the learning curves (dimension "eval") differ in length from run to run: left out
    parts = [ds.sel(rule=rules, n_train_multiple=multiples).drop_dims("eval", errors="ignore")
             for ds in (a, b)]
    merged = xr.concat(parts, dim="seed", data_vars="all", coords="minimal",
                       compat="override", combine_attrs="override").sortby("seed")
    merged.attrs["merged_from"] = ", ".join(str(p) for p in args.files)
    merged.to_netcdf(args.out)
    print(f"wrote {args.out}: rules {len(rules)}, P multiples {multiples.tolist()}, "
          f"seeds {merged.seed.values.tolist()}")


if __name__ == "__main__":
    main()
