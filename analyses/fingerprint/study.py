"""The fingerprint study: what bp, DFA, CLAPP on siblings and VICReg (oracle views) predict.

Reads the four recorded runs (analyses/fingerprint/*.toml, trained with ``plastisim run``),
computes each one's fingerprint (BCM-form rate dependence, modulator statistics, weight
distribution; ``plastisim.fingerprint``) and its slice predictions (the spiking form of the
rule with its modulator drawn from the recorded distribution, at the start and at the end of
training, in the STDP-window and Sjöström 2001 protocols; ``plastisim.fingerprint.slice``),
beside the triplet model (visual_nearest_full) and the null model. Writes
analyses/results/fingerprint/{<run>_fingerprint.nc, slice.nc, summary.json} and prints the
table of docs/results.md.

    for r in bp dfa clapp_siblings vicreg_views; do
        plastisim run analyses/fingerprint/$r.toml --out runs/fingerprint/$r.nc --threads 1
        for k in 1 2; do          # two more seeds: weights, shuffling, the rule's own draws
            plastisim run analyses/fingerprint/$r.toml --out runs/fingerprint/${r}_s$k.nc \
                --threads 1 --set network.seed=$k --set train.seed=$k \
                --set rule.seed=$k        # dfa: rule.feedback_seed=$k; bp: neither
        done
    done
    python analyses/fingerprint/study.py --runs runs/fingerprint --seeds 3

Every number of the table is the median over the seeds of that layer's value; a cell says
"yes" when the observation holds in every hidden layer for every seed, and how many seeds it
holds for.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from plastisim import open_run
from plastisim.fingerprint import fingerprint, table
from plastisim.fingerprint.slice import modulator_samples, predict, rate_moments
from plastisim.protocols import event_rule

RUNS = {"bp": "bp", "dfa": "DFA", "clapp_siblings": "CLAPP (siblings)",
        "vicreg_views": "VICReg (oracle views)"}
HIDDEN = ("w1", "w2", "w3")
OUT = Path(__file__).resolve().parents[1] / "results" / "fingerprint"


def run_file(folder: Path, run: str, seed: int) -> Path:
    """The run file of one seed: <run>.nc for seed 0, <run>_s<seed>.nc for the others."""
    return folder / (f"{run}.nc" if seed == 0 else f"{run}_s{seed}.nc")


def slice_of(ds: xr.Dataset, run: str, seed: int) -> list[xr.Dataset]:
    """Slice predictions of one run: per hidden projection and stage, the three-factor spiking
    form (and for VICReg the Hebbian LPL form) with the recorded modulators."""
    out = []
    for proj in HIDDEN:
        for stage in ("start", "end"):
            samples = modulator_samples(ds, proj, stage)
            forms = {"three_factor_spiking": event_rule("three_factor_spiking")}
            if run == "vicreg_views":
                mean, var = rate_moments(ds, proj, stage)
                scale = 5.0 / max(mean, 1e-12)       # the mean rate taken as 5 Hz
                forms["lpl_spiking"] = event_rule("lpl_spiking", mean_rate=5.0,
                                                  rate_var=var * scale ** 2)
            for form, rule in forms.items():
                p = predict(rule, samples * (scale if form == "lpl_spiking" else 1.0),
                            n_synapses=256, seed=0)
                # is the mean modulator distinguishable from 0? (entries are not independent:
                # a z this size is an upper bound on the evidence)
                p["modulator_mean"] = samples.mean()
                p["modulator_mean_z"] = samples.mean() / (samples.std() / np.sqrt(samples.size))
                out.append(p.expand_dims(run=[run], seed=[seed], projection=[proj],
                                         stage=[stage], form=[form]))
    return out


SONG_LN_SIGMA = 0.9355            # Song et al. 2005, Appendix S1: sigma^2 = 0.8752
LOBE = 0.05                       # a lobe: a mean relative change of at least 5 %


def cells(values, fmt: str) -> str:
    return "/".join(format(float(v), fmt) for v in np.atleast_1d(values))


def window_lobes(sl: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """Mean relative change of the predicted window at Δt in 1–30 ms and in −30 to −1 ms."""
    window = sl.window_dw_rel_model
    return (window.sel(window_dt=slice(0.001, 0.03)).mean("window_dt"),
            window.sel(window_dt=slice(-0.03, -0.001)).mean("window_dt"))


def observations(sl: xr.Dataset, fp: xr.Dataset | None = None) -> dict[str, tuple]:
    """Per observation: (holds in every layer, {name: per-layer values}) for one seed."""
    plus, minus = window_lobes(sl)
    ve = sl.sjostrom_variance_explained.sel(digitisation="vhlab")
    out = {"stdp_window": (bool(((plus >= LOBE) & (minus <= -LOBE)).all()),
                           {"Δw at +(1–30) ms": plus, "at −(1–30) ms": minus}),
           "sjostrom2001": (bool((ve >= 0.5).all()), {"variance explained": ve})}
    if fp is None:
        return out
    last = fp.isel(stage=-1).sel(projection=list(HIDDEN))
    w_end = fp.isel(wrecord=-1).sel(projection=list(HIDDEN))
    out["bcm"] = (bool(((last.bcm_r2 >= 0.5) & (last.bcm_a_ltd > 0)
                        & (last.bcm_a_ltp > 0)).all()), {"R²": last.bcm_r2})
    out["sliding_threshold"] = (bool(last.theta_slides.all()),
                                {"slides": last.theta_slides.astype(float)})
    out["lognormal_weights"] = (
        bool(((w_end.weight_ks < 0.05)
              & (abs(w_end.weight_ln_sigma - SONG_LN_SIGMA) < 0.25)).all()),
        {"ln σ": w_end.weight_ln_sigma, "KS": w_end.weight_ks,
         "positive": w_end.weight_positive})
    return out


FORMATS = {"Δw at +(1–30) ms": "+.2f", "at −(1–30) ms": "+.2f", "variance explained": ".2f",
           "R²": ".2f", "slides": ".0%", "ln σ": ".2f", "KS": ".2f", "positive": ".0%"}


def combine(per_seed: list[dict[str, tuple]]) -> dict[str, tuple[bool, str]]:
    """Over seeds: (holds for every seed, "k/n seeds; per-layer medians over seeds")."""
    out = {}
    for key in per_seed[0]:
        oks = [seed[key][0] for seed in per_seed]
        values = {name: np.median([np.atleast_1d(seed[key][1][name].values)
                                   for seed in per_seed], axis=0)
                  for name in per_seed[0][key][1]}
        text = ", ".join(f"{name} {cells(v, FORMATS[name])}" for name, v in values.items())
        out[key] = (all(oks), f"{sum(oks)}/{len(oks)} seeds; {text}")
    return out


def figure(merged: xr.Dataset, triplet: xr.Dataset, path: Path) -> None:
    """Sjöström 2001 and the STDP window: data, triplet model, each trained rule's spiking form
    (first hidden layer, end of training, fitted η), and the spread over synapses."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    data = triplet.sjostrom_dw_rel_data.sel(digitisation="vhlab")
    sem = triplet.sjostrom_sem_data.sel(digitisation="vhlab")
    freq = merged.freq.values
    rows = [(label, merged.sel(run=run, form="three_factor_spiking", stage="end", projection="w1"))
            for run, label in RUNS.items()]
    rows.append(("VICReg (oracle), LPL form", merged.sel(run="vicreg_views", form="lpl_spiking",
                                                          stage="end", projection="w1")))
    for k, (dt, ls) in enumerate(((0.01, "-"), (-0.01, "--"))):
        ax = axes[k]
        ax.errorbar(freq, data.sel(dt=dt), sem.sel(dt=dt), fmt="ko", capsize=3,
                    label="Sjöström et al. 2001")
        ax.plot(freq, triplet.sjostrom_dw_rel_model.sel(dt=dt), "k" + ls, lw=2,
                label="triplet model (fitted)")
        for label, sl in rows:
            ax.plot(freq, sl.sjostrom_dw_rel_model.sel(dt=dt), ls, marker=".", label=label)
        ax.axhline(0, color="0.7", lw=0.8)
        ax.set(xscale="log", xlabel="pairing frequency (Hz)", ylabel="relative weight change",
               title=f"Δt = {dt * 1000:+.0f} ms: mean over 256 synapses")
    axes[0].legend(fontsize=7)
    ax = axes[2]
    ratio = [float((sl.sjostrom_dw_rel_std / abs(sl.sjostrom_dw_rel_model)).sel(dt=0.01,
                                                                               freq=50.0))
             for _, sl in rows]
    ax.bar(range(len(rows)), ratio, color=[f"C{i}" for i in range(len(rows))])
    ax.axhline(float(sem.sel(dt=0.01, freq=50.0) / data.sel(dt=0.01, freq=50.0)), color="k",
               ls=":", label="data: sem / mean")
    ax.set(yscale="log", xticks=range(len(rows)),
           title="spread over synapses / |mean| (+10 ms, 50 Hz)")
    ax.set_xticklabels([label for label, _ in rows], rotation=25, ha="right", fontsize=7)
    ax.legend(fontsize=7)
    fig.suptitle("What each trained rule predicts in the slice (first hidden layer, modulators "
                 "drawn from the end of training)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/fingerprint"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    seeds = range(args.seeds)
    summary, fps, slices = {}, {}, []
    for run, label in RUNS.items():
        summary[run] = {"label": label, "fingerprint_s": [], "train_s": [], "test_error": []}
        for seed in seeds:
            ds = open_run(run_file(args.runs, run, seed))
            start = time.perf_counter()
            fps[run, seed] = fp = fingerprint(ds)
            seconds = time.perf_counter() - start
            train_seconds = float(ds.elapsed.values[-1])
            for key, value in (("fingerprint_s", seconds), ("train_s", train_seconds),
                               ("test_error", float(ds.test_error.values[-1]))):
                summary[run][key].append(value)
            print(f"== {label}, seed {seed}: test error {ds.test_error.values[-1]:.4f}; "
                  f"fingerprint in {seconds:.2f} s, training {train_seconds:.1f} s "
                  f"({100 * seconds / train_seconds:.1f} %)")
            if seed == 0:
                fp.to_netcdf(OUT / f"{run}_fingerprint.nc")
                print(table(fp))
            slices += slice_of(ds, run, seed)
    triplet = predict(event_rule("triplet", params="visual_nearest_full"))
    print("triplet (visual_nearest_full): Sjöström RMSE",
          triplet.sjostrom_rmse.round(3).values.tolist())
    keep = ["sjostrom_dw_rel_model", "sjostrom_dw_rel_std", "sjostrom_rmse",
            "sjostrom_rmse_null", "sjostrom_variance_explained", "sjostrom_max_abs_z",
            "window_dw_rel_model", "window_dw_rel_std", "eta_scale", "modulator_mean",
            "modulator_mean_z"]
    merged = xr.combine_by_coords([s[keep].drop_vars("synapse", errors="ignore")
                                   for s in slices], combine_attrs="drop", join="outer")
    merged["triplet_sjostrom_rmse"] = triplet.sjostrom_rmse
    merged["triplet_sjostrom_dw_rel_model"] = triplet.sjostrom_dw_rel_model
    merged["sjostrom_dw_rel_data"] = triplet.sjostrom_dw_rel_data
    merged["sjostrom_sem_data"] = triplet.sjostrom_sem_data
    merged.to_netcdf(OUT / "slice.nc")
    figure(merged.sel(seed=0), triplet, args.figures / "fingerprint_slice.png")
    end = dict(stage="end", projection=list(HIDDEN))
    for run in RUNS:
        summary[run]["verdicts"] = combine([
            observations(merged.sel(run=run, seed=seed, form="three_factor_spiking", **end),
                         fps[run, seed]) for seed in seeds])
    summary["vicreg_views_lpl"] = {
        "label": "VICReg (oracle views), Hebbian LPL form",
        "verdicts": combine([observations(merged.sel(run="vicreg_views", seed=seed,
                                                     form="lpl_spiking", **end))
                             for seed in seeds])}
    summary["triplet"] = {"label": "triplet model (visual_nearest_full), fitted to the data",
                          "verdicts": combine([observations(triplet)])}
    z = abs(merged.modulator_mean_z.sel(form="three_factor_spiking"))
    summary["modulator_mean_z_max"] = float(z.max())
    ratio = abs(merged.sjostrom_dw_rel_std / merged.sjostrom_dw_rel_model).sel(
        dt=0.01, freq=50.0, form="three_factor_spiking", stage="end")
    summary["spread_over_mean_range"] = [float(ratio.where(np.isfinite(ratio)).min()),
                                         float(ratio.where(np.isfinite(ratio)).max())]
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    print("| trained rule | " + " | ".join(summary["bp"]["verdicts"]) + " |")
    for run in list(RUNS) + ["vicreg_views_lpl", "triplet"]:
        print(f"| {summary[run]['label']} | " + " | ".join(
            f"{'yes' if ok else 'no'} ({text})"
            for ok, text in summary[run]["verdicts"].values()) + " |")
    print("largest |z| of a mean modulator:", round(summary["modulator_mean_z_max"], 1),
          "; spread over synapses / |mean| at +10 ms, 50 Hz:",
          np.round(summary["spread_over_mean_range"], 1).tolist())


if __name__ == "__main__":
    main()
