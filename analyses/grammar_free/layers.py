"""Which layer learns where: per hidden layer, S, the partner R² and the rate variance against P.

    python analyses/grammar_free/layers.py analyses/results/grammar_free/grid_children_v16_m4_L3.nc \
        --png docs/figures/grammar_free_layers_v16.png

One merged sweep (a ``model`` or ``rule`` axis, ``n_train_multiple``, ``seed``) whose runs hold
the final per-layer statistics (``plastisim run`` writes them: docs/data-format.md). Columns:
the synonymic sensitivity S_{k,L−1} (synonyms re-drawn at the lowest level: 1 = as sensitive
to the synonyms as to the input, 0 = invariant), the partner R² (how much of the sibling's code
a linear map of the context's explains, held out) and the rate variance over inputs. One line
per (rule, layer), the mean over seeds with the seeds' range shaded; the layers of a codepred
network are named by their groups (h1, q1, h2: q the prediction groups).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr

from plastisim.cli.figures import rule_colour, save, study_style

PANELS = (("sensitivity", "S of layer k (synonyms below level L − 1)"),
          ("partner_r2", "partner R² (held out)"),
          ("rate_variance", "rate variance over inputs"))
LINESTYLES = ("-", "--", ":", "-.")


def layer_names(ds: xr.Dataset, name: str) -> list[str]:
    """The hidden groups of one run's network in order: h1, q1, h2, ... for codepred."""
    depth = int(np.isfinite(ds["rate_variance"]).sum("layer").max())
    if name == "codepred":               # h1, q1, ..., h_d (2d − 1), then any expansion
        chain = depth if depth % 2 else depth - 1
        names = [f"{'hq'[i % 2]}{i // 2 + 1}" for i in range(chain)]
        return names + [f"h{chain // 2 + 2}"] * (depth - chain)
    return [f"h{i + 1}" for i in range(depth)]


def series(ds: xr.Dataset) -> list[tuple[str, str, xr.Dataset]]:
    """(label, rule name, that rule's runs) for every model or rule of the sweep."""
    axis = "model" if "model" in ds.dims else "rule"
    out = []
    for key in ds[axis].values:
        sub = ds.sel({axis: key})
        name = str(sub["rule_name"].values.flat[0])
        out.append((str(key), name, sub))
    return out


def plot(ds: xr.Dataset, png: Path, source: str) -> Path:
    level = int(ds["level"].max())
    with study_style() as plt:
        fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.6))
        for ax, (var, title) in zip(axes, PANELS):
            for label, name, sub in series(ds):
                values = sub[var].sel(level=level) if var == "sensitivity" else sub[var]
                names = layer_names(sub, name)
                P = sub["n_train_multiple"].values
                for k, group in enumerate(names):
                    v = values.isel(layer=k)
                    if not np.isfinite(v).any():
                        continue
                    mean, low, high = v.mean("seed"), v.min("seed"), v.max("seed")
                    ax.plot(P, mean, LINESTYLES[k % 4], color=rule_colour(name), marker=".",
                            label=f"{label}: {group}")
                    ax.fill_between(P, low, high, color=rule_colour(name), alpha=0.12)
            ax.set_xscale("log")
            ax.set_xlabel("P / n*  (inputs seen / n_c m^L)")
            ax.set_title(title)
            if var == "rate_variance":
                ax.set_yscale("log")
        axes[0].legend(fontsize=7, ncol=1)
        return save(fig, png, source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--png", type=Path, required=True)
    args = parser.parse_args()
    with xr.open_dataset(args.sweep) as ds:
        print(plot(ds.load(), args.png, f"python analyses/grammar_free/layers.py {args.sweep}"))


if __name__ == "__main__":
    main()
