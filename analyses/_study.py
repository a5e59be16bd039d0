"""Shared by the rule-comparison studies (masking.py, sample_complexity.py): one run per
(rule spec, P, seed), the merged Dataset, P* per rule and a PNG. Not a public module.

A rule spec is ``name`` or ``name:key=value,key=value`` (values parsed as TOML), e.g.
``vicreg:lr=5.0,view_level="matched"``; the spec string is the ``rule`` coordinate.
"""
from __future__ import annotations

import math
import time
import tomllib
from pathlib import Path

import numpy as np
import xarray as xr

import plastisim as ps
from plastisim import rules
from plastisim.metrics import sample_complexity, synonymic_sensitivity
from plastisim.network import hierarchy
from plastisim.train import TrainOptions, train

FIELDS = ("test_error", "train_loss", "train_error", "epochs", "converged")


def parse_spec(spec: str) -> tuple[str, dict]:
    name, _, rest = spec.partition(":")
    params = {}
    for item in filter(None, rest.split(",")):
        key, value = item.split("=", 1)
        try:
            params[key] = tomllib.loads(f"x = {value}")["x"]
        except tomllib.TOMLDecodeError:
            params[key] = value
    return name, params


def run_one(rhm: ps.RHM, spec: str, n_train: int, seed: int, width: int, steps: int,
            min_epochs: int, local_epochs: int = 30, local_steps: int = 0,
            readout_epochs: int = 0) -> dict:
    """Train one network. Budget at every P: max(steps, min_epochs passes) for rules trained
    end to end; max(local_steps, local_epochs passes) of local plasticity, then
    ``readout_epochs`` (0: the rule's default) of readout for self-supervised rules."""
    name, params = parse_spec(spec)
    train_set, test_set = rhm.split(n_train, min(10_000, rhm.P_max - n_train), seed=1000 + seed)
    net = hierarchy(rhm, width, seed=seed)
    seed_key = "feedback_seed" if "feedback_seed" in rules.make_params(name).__dict__ else "seed"
    local = getattr(rules.get(name), "phases", ("joint",))[0] == "local"
    if local and readout_epochs and "readout_epochs" not in params:
        params["readout_epochs"] = readout_epochs
    rule = rules.get(name, **{seed_key: seed, **params})
    batch_size = 128
    if local:                                       # self-supervised phase, then readout
        epochs = max(math.ceil(local_steps * batch_size / n_train), local_epochs)
    else:
        epochs = max(math.ceil(steps * batch_size / n_train), min_epochs)
    result = train(net, rule, train_set, test_set,
                   TrainOptions(epochs=epochs, batch_size=batch_size, seed=seed), rhm=rhm)
    probe = test_set[:2000]
    sens = [synonymic_sensitivity(net, rhm, probe, level, seed=seed) for level in range(rhm.L)]
    final = result.final
    return {"test_error": final["test_error"], "train_loss": final["train_loss"],
            "train_error": final["train_error"], "epochs": final["epoch"],
            "converged": result.status == "converged", "sensitivity": np.array(sens).T}


def study(rhm: ps.RHM, specs: list[str], multiples: list[float], seeds: list[int], width: int,
          out: Path, title: str, **budget) -> xr.Dataset:
    """Every (seed, P, rule), seeds outermost; the .nc is rewritten after every run."""
    shape = (len(specs), len(multiples), len(seeds))
    fields = {k: np.full(shape, np.nan) for k in FIELDS}
    sens = np.full(shape + (rhm.L, rhm.L), np.nan)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for k, seed in enumerate(seeds):
        for j, mult in enumerate(multiples):
            for i, spec in enumerate(specs):
                res = run_one(rhm, spec, int(mult * rhm.n_star), seed, width, **budget)
                for key in FIELDS:
                    fields[key][i, j, k] = res[key]
                sens[i, j, k] = res["sensitivity"]
                print(f"{spec:40s} P={mult:5g}·n* seed={seed}: test error "
                      f"{res['test_error']:.3f}, train loss {res['train_loss']:.3g}, "
                      f"{res['epochs']} epochs [{time.perf_counter() - start:.0f} s]", flush=True)
                ds = to_dataset(fields, sens, specs, multiples, seeds, rhm, width, title,
                                budget)
                ds.to_netcdf(out.with_suffix(".nc"))      # after every run: nothing is lost
    return ds


def to_dataset(fields, sens, specs, multiples, seeds, rhm, width, title, budget) -> xr.Dataset:
    dims = ("rule", "multiple", "seed")
    coords = {"rule": specs, "multiple": multiples, "seed": seeds,
              "layer": np.arange(1, rhm.L + 1), "level": np.arange(rhm.L)}
    ds = xr.Dataset({k: (dims, v) for k, v in fields.items()}, coords=coords)
    ds["sensitivity"] = (dims + ("layer", "level"), sens)
    ds["P"] = ("multiple", np.array(multiples) * rhm.n_star)
    ds.attrs.update(title=title, rhm=repr(rhm).split("  #")[0], width=width,
                    n_test=min(10_000, rhm.P_max - int(max(multiples) * rhm.n_star)),
                    plastisim_version=ps.__version__, n_star=rhm.n_star,
                    **{k: str(v) for k, v in budget.items()},
                    note="sensitivity: S_{k,l}, synonyms re-drawn at levels >= l "
                         "(RHM.resample), layer k = 1..L; NaN: not run (yet)")
    return ds


def pstar_text(pstar, n_star: float, largest_multiple: float) -> str:
    """P* in units of n_c·m^L: "3.52", "≤ 0.5" (reached at the smallest P) or "> 16"."""
    if not pstar.crossed:
        return f"> {largest_multiple:g}"
    return f"≤ {pstar.P_star / n_star:g}" if pstar.below_grid else f"{pstar.P_star / n_star:.2f}"


def report(ds: xr.Dataset, rhm: ps.RHM, png: Path) -> dict[str, float]:
    """Print P* per rule (seed-averaged error), draw error and sensitivity curves."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    stars = {}
    for spec in ds.rule.values:
        err = ds.test_error.sel(rule=spec)
        mean, std = err.mean("seed"), err.std("seed")
        ax.errorbar(ds.multiple, mean, yerr=std, marker="o", label=spec, capsize=2)
        pstar = sample_complexity(ds.P.values, mean.values, rhm.n_classes)
        stars[str(spec)] = pstar.P_star / rhm.n_star
        print(f"{spec:40s} P*/n_c·m^L: {pstar_text(pstar, rhm.n_star, ds.multiple.values[-1])}")
        s = ds.sensitivity.sel(rule=spec, layer=rhm.L, level=rhm.L - 1)
        ax2.plot(ds.multiple, s.mean("seed"), marker="o", label=spec)
    ax.axhline(0.1 * (1 - 1 / rhm.n_classes), color="k", ls=":", lw=1, label="10% of chance")
    ax.set(xscale="log", xlabel="P / (n_c m^L)", ylabel="test error", title=ds.attrs["rhm"])
    ax2.set(xscale="log", xlabel="P / (n_c m^L)", ylabel="S_(L, L-1): last hidden layer")
    for axis in (ax, ax2):
        axis.set_xticks(ds.multiple.values, [f"{m:g}" for m in ds.multiple.values])
        axis.minorticks_off()
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    print(f"wrote {png.with_suffix('.nc')} and {png}")
    return stars
