"""Direct-feedback rules versus backprop on the RHM, and the 2×2 masking ablation.

    python analyses/masking.py [--out runs/masking] [--rules bp fa bp_nomask dfa sdfa drtp]
                               [--seeds 0 1 2] [--multiples 0.5 1 2 4 8 16] [--steps 3000]
                               [--min-epochs 100]
                               [--L 3 --m 4 --width 256]

For every rule, seed and P = multiple · n_c·m^L: train the PRX CNN with the rule's default
parameters (models/<rule>.toml values: lr = 0.1·width, momentum 0.9, PRX weight decay, cosine
schedule, stop at train loss < 0.01) for max(``--steps`` SGD steps of batch 128, ``--min-epochs``
epochs): a fixed number of epochs alone would give small P far fewer steps, then measure the test error on
10,000 unseen data and the synonymic sensitivity S_{k,l} of every hidden layer k and level l.
Writes ``<out>.nc`` (dims rule, multiple, seed, layer, level) and ``<out>.png``; prints P* per rule.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

import plastisim as ps
from plastisim import rules
from plastisim.metrics import sample_complexity, synonymic_sensitivity
from plastisim.network import hierarchy
from plastisim.train import TrainOptions, train


def run_one(rhm: ps.RHM, rule: str, n_train: int, seed: int, width: int, steps: int,
            min_epochs: int) -> dict:
    train_set, test_set = rhm.split(n_train, min(10_000, rhm.P_max - n_train), seed=1000 + seed)
    net = hierarchy(rhm, width, seed=seed)
    batch_size = 128
    # at least `steps` SGD steps at small P, at least `min_epochs` passes at large P
    epochs = max(math.ceil(steps * batch_size / n_train), min_epochs)
    result = train(net, rules.get(rule, feedback_seed=seed), train_set, test_set,
                   TrainOptions(epochs=epochs, batch_size=batch_size, seed=seed))
    probe = test_set[:2000]
    sens = [synonymic_sensitivity(net, rhm, probe, level, seed=seed) for level in range(rhm.L)]
    final = result.final
    return {"test_error": final["test_error"], "train_loss": final["train_loss"],
            "train_error": final["train_error"], "epochs": final["epoch"],
            "converged": result.status == "converged", "sensitivity": np.array(sens).T}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/masking")
    parser.add_argument("--rules", nargs="+", default=["bp", "fa", "bp_nomask", "dfa", "sdfa",
                                                       "drtp"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--multiples", nargs="+", type=float, default=[0.5, 1, 2, 4, 8, 16])
    parser.add_argument("--steps", type=int, default=3000, help="least SGD steps per run")
    parser.add_argument("--min-epochs", type=int, default=100, help="least epochs per run")
    parser.add_argument("--v", type=int, default=8)
    parser.add_argument("--m", type=int, default=4)
    parser.add_argument("--L", type=int, default=3)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rhm = ps.RHM(v=args.v, n_classes=args.v, m=args.m, s=2, L=args.L, seed=0)
    shape = (len(args.rules), len(args.multiples), len(args.seeds))
    fields = {k: np.full(shape, np.nan) for k in ("test_error", "train_loss", "train_error",
                                                  "epochs", "converged")}
    sens = np.full(shape + (args.L, args.L), np.nan)
    coords = {"rule": args.rules, "multiple": args.multiples, "seed": args.seeds,
              "layer": np.arange(1, args.L + 1), "level": np.arange(args.L)}
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    # seeds outermost: an interrupted study still has every rule at every P
    for k, seed in enumerate(args.seeds):
        for j, mult in enumerate(args.multiples):
            for i, rule in enumerate(args.rules):
                out = run_one(rhm, rule, int(mult * rhm.n_star), seed, args.width, args.steps,
                              args.min_epochs)
                for key in fields:
                    fields[key][i, j, k] = out[key]
                sens[i, j, k] = out["sensitivity"]
                print(f"{rule:10s} P={mult:5g}·n* seed={seed}: test error "
                      f"{out['test_error']:.3f}, train loss {out['train_loss']:.3g}, "
                      f"{out['epochs']} epochs [{time.perf_counter() - start:.0f} s]", flush=True)
                ds = to_dataset(fields, sens, coords, rhm, args)
                ds.to_netcdf(path.with_suffix(".nc"))      # after every run: nothing is lost
    report(ds, rhm, path.with_suffix(".png"))


def to_dataset(fields: dict, sens: np.ndarray, coords: dict, rhm: ps.RHM, args) -> xr.Dataset:
    dims = ("rule", "multiple", "seed")
    ds = xr.Dataset({k: (dims, v) for k, v in fields.items()}, coords=coords)
    ds["sensitivity"] = (dims + ("layer", "level"), sens)
    ds["P"] = ("multiple", np.array(args.multiples) * rhm.n_star)
    ds.attrs.update(title="Direct-feedback rules vs backprop on the RHM", rhm=repr(rhm),
                    width=args.width, min_steps=args.steps, min_epochs=args.min_epochs,
                    n_test=min(10_000, rhm.P_max - int(max(args.multiples) * rhm.n_star)),
                    plastisim_version=ps.__version__,
                    n_star=rhm.n_star, note="sensitivity: S_{k,l}, synonyms re-drawn at levels "
                    ">= l (RHM.resample), layer k = 1..L; NaN: not run (yet)")
    return ds


def report(ds: xr.Dataset, rhm: ps.RHM, png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for rule in ds.rule.values:
        err = ds.test_error.sel(rule=rule)
        mean, std = err.mean("seed"), err.std("seed")
        ax.errorbar(ds.multiple, mean, yerr=std, marker="o", label=rule, capsize=2)
        pstar = sample_complexity(ds.P.values, mean.values, rhm.n_classes)
        print(f"{rule:10s} P* = {pstar.P_star / rhm.n_star:.3g} · n_c·m^L"
              if pstar.crossed else f"{rule:10s} P* > {ds.multiple.values[-1]:g} · n_c·m^L")
        s = ds.sensitivity.sel(rule=rule, layer=rhm.L, level=rhm.L - 1)
        ax2.plot(ds.multiple, s.mean("seed"), marker="o", label=rule)
    chance = 1 - 1 / rhm.n_classes
    ax.axhline(0.1 * chance, color="k", ls=":", lw=1, label="10% of chance")
    ax.set(xscale="log", xlabel="P / (n_c m^L)", ylabel="test error", title=repr(rhm).split("#")[0])
    ax2.set(xscale="log", xlabel="P / (n_c m^L)", ylabel=f"S_(L,L-1), last hidden layer")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    print(f"wrote {png.with_suffix('.nc')} and {png}")


if __name__ == "__main__":
    main()
