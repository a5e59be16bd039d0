"""Gallery: the Sjöström et al. (2001) frequency dependence with the triplet rule.

    python analyses/sjostrom2001.py [--out runs/sjostrom2001] [--pairings 60]

Runs the protocol (Δt = ±10 ms, 0.1–50 Hz, 60 pairings) for the visual-cortex parameter sets
of Pfister & Gerstner (2006) and writes, per set, the netCDF result and the PNG of model vs
data (both digitisations) into ``--out``; prints RMSE and max |z| per digitisation.
Equivalent, per set: ``plastisim protocol sjostrom2001 --rule triplet --params SET``.
"""
import argparse
from pathlib import Path

from plastisim.cli.protocol import plot
from plastisim.protocols import event_rule, sjostrom2001

SETS = ("visual_nearest_full", "visual_nearest_minimal", "visual_all_to_all_full",
        "visual_all_to_all_minimal")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/sjostrom2001")
    parser.add_argument("--pairings", type=int, default=60)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{'parameter set':<28} {'digitisation':<12} {'RMSE':>6} {'max|z|':>7}")
    for name in SETS:
        ds = sjostrom2001(event_rule("triplet", params=name), n_pairings=args.pairings)
        ds.to_netcdf(out / f"{name}.nc")
        plot(ds, out / f"{name}.png")
        for dig in ds.digitisation.values:
            sel = ds.sel(digitisation=dig)
            print(f"{name:<28} {dig:<12} {sel.rmse.item():>6.3f} {sel.max_abs_z.item():>7.2f}")
