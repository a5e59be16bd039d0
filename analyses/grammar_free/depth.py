"""P* against depth L for bp and the grammar-free rules (docs/results.md §2).

    python analyses/grammar_free/depth.py analyses/results/grammar_free/grid_v16_m4_L{2,3,4,5}.nc \
        analyses/results/grammar_free/grid_children_v16_m4_L{2,3,4,5}.nc \
        analyses/results/grammar_free/grid_expansion_v16_m4_L{4,5}.nc \
        --png docs/figures/grammar_free_depth.png

Each file is one merged sweep at one L (same v, n_c, m, width, rules). A grid whose rules are
model files (``grid_children_*.toml``, ``grid_expansion_*.toml``) adds its rules with the
network they ran on, dashed, and leaves out its bp: "children readout", or, after the model
file's name, "random expansion" (``*_exp.toml``) or "random top layer" (``*_top.toml``). P* of
every rule comes
from ``plastisim.study.summarize`` (seed-mean test error below 10 % of chance, interpolated in
log P; 95 % percentile bootstrap over seeds). The figure draws P* (inputs seen, labelled or
not) against L on a log scale with the supervised reference n_c·m^L; a rule that never crosses
the threshold is drawn as an open triangle at the largest P of its grid ("> grid"); the dotted
line is v·m³, the samples latent prediction between tree neighbours needs (Korchinski, Favero &
Wyart, arXiv 2605.27734), nearly independent of L. The table
gives P*/n*, P* and the growth factor of P* per added level between consecutive depths.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import xarray as xr

from plastisim.cli.figures import family_order, rule_colour, rule_label, save, study_style
from plastisim.study import rows, summarize


def label(series: list[dict]) -> str:
    """The rule's label without its rate (the rate may change with L; the table's last lines
    give each spec)."""
    spec = series[0]["spec"]
    if NETWORK in spec:
        name, network = spec.split(":")[0], spec.split(NETWORK)[1].strip('"')
        pairs = "" if name == "codepred" else ':pairs="siblings"'   # every such grid: siblings
        return rule_label(name + pairs, with_lr=False) + ", " + NETWORKS[network]
    return rule_label(spec, with_lr=False)


NETWORK = "network="
#: the network a model file's rule ran on, after the file's name (``network_of``)
NETWORKS = {"children": "children readout", "exp": "random expansion",
            "top": "random top layer"}


def network_of(model: str) -> str:
    """"exp" for a model file named ``*_exp``, "top" for ``*_top``, else "children"."""
    suffix = model.rsplit("_", 1)[-1]
    return suffix if suffix in NETWORKS else "children"


def children_as_rules(ds: xr.Dataset) -> xr.Dataset:
    """A grid of model files (one per rule) as a ``rule`` axis whose specs end in
    ``network="<network_of(model)>"``, without its bp (the same bp as the grids of the top
    layer by halves); other files unchanged."""
    if "model" not in ds.dims:
        return ds
    names = {str(m): str(ds["rule_name"].sel(model=m).values.flat[0]) for m in ds["model"].values}
    keep = [m for m, name in names.items() if name != "bp"]
    ds = ds.sel(model=keep).rename({"model": "rule"})
    return ds.assign_coords(rule=[f'{names[m]}:{NETWORK}"{network_of(m)}"' for m in keep])


def best_specs(ds: xr.Dataset) -> list[str]:
    """One rule spec per rule name: where a file holds several (bp at two rates), the one with
    the lowest final *training* loss, averaged over seeds and P (never the test error)."""
    loss = ds["train_loss"].mean(["seed", "n_train_multiple"])
    best: dict[str, tuple[float, str]] = {}
    for spec in ds["rule"].values:
        name, value = str(spec).split(":")[0], float(loss.sel(rule=spec))
        if name not in best or value < best[name][0]:
            best[name] = (value, str(spec))
    return [spec for _, spec in best.values()]


def points(paths: list[Path]) -> dict[str, list[dict]]:
    """rule name -> one record per file: L, n*, P*/n* (or its bound), interval, crossed, and
    the spec used (``best_specs``)."""
    out: dict[str, list[dict]] = {}
    for path in paths:
        with xr.open_dataset(path) as ds:
            ds = children_as_rules(ds.load())
            summary = summarize(ds.sel(rule=best_specs(ds)))
        grid_max = float(summary["n_train_multiple"].max())
        for record in rows(summary):
            spec = str(record["rule"])
            name = spec if NETWORK in spec else spec.split(":")[0]
            out.setdefault(name, []).append({
                "L": record["rhm_L"], "n_star": record["n_star"], "text": record["text"],
                "interval": record["interval"], "crossed": record["crossed"],
                "P_star": record["P_star"] if record["crossed"] else grid_max,
                "low": record["P_star_low"], "high": record["P_star_high"],
                "n_c": record["n_classes"], "m": record["rhm_m"], "v": int(ds["rhm_v"].max()),
                "spec": str(record["rule"])})
    for series in out.values():
        series.sort(key=lambda r: r["L"])
    return out


def table(data: dict[str, list[dict]]) -> list[str]:
    depths = sorted({r["L"] for series in data.values() for r in series})
    head = "| rule | " + " | ".join(f"L = {L}: P*/n* [95% CI]" for L in depths) + \
        " | P* growth per level |"
    lines = [head, "|" + "---|" * (len(depths) + 2)]
    for name, series in data.items():
        cells = {r["L"]: f"{r['text']} {r['interval']}" for r in series}
        growth = []
        for a, b in zip(series, series[1:]):
            ratio = (b["P_star"] * b["n_star"]) / (a["P_star"] * a["n_star"])
            if not a["crossed"]:
                text = "?"                    # the smaller depth has only a lower bound
            else:
                text = f"{'' if b['crossed'] else '> '}{ratio:.1f}×"
            growth.append(f"{a['L']}→{b['L']}: {text}")
        lines.append(f"| {label(series)} | " + " | ".join(cells.get(L, "—") for L in depths)
                     + " | " + ", ".join(growth) + " |")
    return lines


def figure(data: dict[str, list[dict]], png: Path) -> Path:
    """P* against L per rule (its colour in every plastisim figure), the reference n_c·m^L
    dashed; open triangles: not reached within the grid (drawn at its largest P). The rules
    are set slightly apart along L so that equal values stay visible."""
    depths = sorted({r["L"] for series in data.values() for r in series})
    ref = next(iter(data.values()))[0]
    names = family_order(data)
    with study_style() as plt:
        fig, ax = plt.subplots(figsize=(6, 4.6))
        ax.plot(depths, [ref["n_c"] * ref["m"] ** L for L in depths], "k--", lw=1,
                label=r"$n_c m^L$ (supervised reference)")
        ax.plot(depths, [ref["v"] * ref["m"] ** 3 for L in depths], "k:", lw=1,
                label=r"$v m^3$ (latent prediction, Korchinski et al.)")
        for k, name in enumerate(names):
            series, colour = data[name], rule_colour(name)
            L = [r["L"] + 0.04 * (k - (len(names) - 1) / 2) for r in series]
            P = [r["P_star"] * r["n_star"] for r in series]
            ax.plot(L, P, "--" if NETWORK in name else "-", lw=1.2, alpha=0.7,
                    color=colour, label=label(series))
            for x, r, p in zip(L, series, P):
                if r["crossed"]:
                    low = (r["low"] or r["P_star"]) * r["n_star"]
                    high = r["high"] * r["n_star"] if r["high"] is not None else p
                    ax.errorbar([x], [p], yerr=[[p - low], [max(high - p, 0)]], fmt="o",
                                ms=4, color=colour, capsize=3)
                else:
                    ax.plot([x], [p], "^", mfc="none", color=colour)
        ax.plot([], [], "^", mfc="none", color="k", label="not reached (> grid)")
        ax.set(yscale="log", xlabel="depth L", ylabel="P* (inputs seen)", xticks=depths,
               title=f"v = n_c = {ref['n_c']}, m = {ref['m']}: P* against depth")
        fig.legend(loc="outside lower center", ncol=2, frameon=False)
        return save(fig, png, "analyses/grammar_free/depth.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+", help="merged sweeps, one per depth")
    parser.add_argument("--png", type=Path, help="figure path")
    args = parser.parse_args()
    data = points(args.files)
    print("\n".join(table(data)))
    for name, series in data.items():
        print(f"{name}: " + "; ".join(f"L = {r['L']}: {r['spec']}" for r in series))
    if args.png:
        print(f"wrote {figure(data, args.png)}")
    if any(not math.isfinite(r["P_star"]) for s in data.values() for r in s):
        print("note: some P* are not finite")


if __name__ == "__main__":
    main()
