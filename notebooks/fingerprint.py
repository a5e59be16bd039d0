# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Fingerprints: what a trained rule predicts in a cortical slice
#
# The rules that learn the Random Hierarchy Model change each synapse by a three-factor
# product Δw = η · M · f'(a) · x. Here we train four of them on one RHM and record those factors
# (`Monitor(factors=...)`). For each rule we then ask:
#
# * its **fingerprint**: the rate dependence in BCM form, the modulator, and the weights beside
#   cortical data;
# * its **slice prediction**: its spiking form, with the modulator drawn from the trained
#   network, in the STDP-window and Sjöström 2001 protocols, next to the triplet model.
#
# The four rules are bp (the non-local reference), DFA, CLAPP on sibling pairs (from the inputs
# alone), and VICReg on synonym views. The views are an **oracle** pairing: they read the
# latent tree. VICReg here is the only non-contrastive rule of plastisim that learns this RHM.
#
# **Small settings.** Width 64, 8,192 inputs (P = 8 n*), one seed, about a minute in all. The study at
# width 128 and its table are in `docs/fingerprint.md`; the command is at the end.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import plastisim as ps
from plastisim.cli.fingerprint import plot as plot_fingerprint
from plastisim.fingerprint import (fingerprint, modulator_samples, predict,
                                   table)
from plastisim.protocols import event_rule

torch.set_num_threads(1)
OUT = Path(os.environ.get("PLASTISIM_NOTEBOOK_OUT")
           or tempfile.mkdtemp(prefix="plastisim-"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Train four rules, recording the factors
#
# `factors="all"` records, for the first `factor_streams` streams of each recorded step:
# the modulator M, the post term f'(a), the post rate and the pre term of every projection.
# The rule's update is their product, averaged over the batch.
# `indices` keeps a subset of post and pre units, to keep the record small.

# %%
rhm = ps.RHM(v=16, n_classes=16, m=4, s=2, L=3, seed=0)
train_set, test_set = rhm.split(n_train=8192, n_test=2000, seed=1)
SSL = {"readout_epochs": 200, "readout_lr": 1.0}
SIBLINGS = {**SSL, "lr": 50.0, "pairs": "siblings", "top_layer": "halves",
            "pred_init_std": 0.1}
VIEWS = {**SSL, "lr": 5.0, "pairs": "views", "view_level": "matched",
         "views_from": "sampler"}            # the oracle: reads the tree
RULES = {
    "bp": ("bp", {"lr": 1.0}, 40),
    "DFA": ("dfa", {"lr": 1.0}, 100),
    "CLAPP (siblings)": ("clapp", SIBLINGS, 30),
    "VICReg (oracle views)": ("vicreg", VIEWS, 15),
}
runs = {}
for label, (name, params, epochs) in RULES.items():
    net = ps.hierarchy(rhm, width=64, seed=0)
    mon = ps.Monitor(net, weights="all", factors="all", factor_streams=8,
                     factor_gamma=name == "clapp", every=10,
                     attrs={"rule": name},
                     indices=["w2.post=0:32", "w3.post=0:32"])
    result = ps.train(net, ps.rules.get(name, **params), train_set,
                      test_set, ps.TrainOptions(epochs=epochs), monitor=mon,
                      rhm=rhm)
    runs[label] = mon.to_xarray()
    print(f"{label:22s} test error {result.final['test_error']:.3f} "
          f"after {result.steps} steps ({result.elapsed:.1f} s)")

# %% [markdown]
# ## The fingerprint of one rule
#
# `fingerprint(ds)` takes the recording and returns an xarray Dataset; `table` prints it. Its
# columns are:
#
# * θ and the LTD / LTP amplitudes of the BCM-form fit of the update per unit of pre activity
#   against the post rate;
# * whether θ slides with the mean rate;
# * the fractions of positive, negative and silent modulators (for CLAPP, of its global γ);
# * the weights' coefficient of variation, skewness and σ of ln w, beside Song et al. 2005.

# %%
fps = {label: fingerprint(ds) for label, ds in runs.items()}
print(table(fps["CLAPP (siblings)"]))
_ = plot_fingerprint(fps["CLAPP (siblings)"], OUT / "fingerprint_clapp.png")

# %% [markdown]
# The BCM fits explain little: R² is small in every layer. An error-driven or
# prediction-driven update takes its sign from the error, not from the post rate. The
# modulator at open gates is centred on zero:

# %%
for label, fp in fps.items():
    last = fp.isel(stage=-1).sel(projection=["w1", "w2", "w3"])
    ratio = (last.modulator_mean / last.modulator_std).values
    print(f"{label:22s} R² {np.round(last.bcm_r2.values, 2)}  "
          f"mean/std of M {np.round(ratio, 3)}")

# %% [markdown]
# ## Into the slice
#
# `modulator_samples` collects the modulators of a layer where the gate was open, over the
# last quarter of training. `predict` gives 256 synapses of the rule's spiking form
# (`three_factor_spiking`) one drawn modulator each and runs the pairing protocols. It fits one
# η ≥ 0 on the Sjöström data (the modulator's units are arbitrary) and compares the mean
# change with the data. The triplet model runs through the same pipeline as the reference.

# %%
spiking = event_rule("three_factor_spiking")
predictions = {label: predict(spiking, modulator_samples(ds, "w1", "end"),
                              n_synapses=256)
               for label, ds in runs.items()}
triplet = predict(event_rule("triplet", params="visual_nearest_full"))

fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
data = triplet.sjostrom_dw_rel_data.sel(digitisation="vhlab")
sem = triplet.sjostrom_sem_data.sel(digitisation="vhlab")
for ax, dt in zip(axes, (0.01, -0.01)):
    ax.errorbar(data.freq, data.sel(dt=dt), sem.sel(dt=dt), fmt="ko",
                capsize=3, label="Sjöström et al. 2001")
    ax.plot(data.freq, triplet.sjostrom_dw_rel_model.sel(dt=dt), "k-", lw=2,
            label="triplet")
    for label, p in predictions.items():
        ax.plot(data.freq, p.sjostrom_dw_rel_model.sel(dt=dt), ".-",
                label=label)
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set(xscale="log", xlabel="pairing frequency (Hz)",
           title=f"Δt = {dt * 1e3:+.0f} ms")
axes[0].set_ylabel("relative weight change (mean of 256 synapses)")
axes[0].legend(fontsize=7)
fig.tight_layout()
fig.savefig(OUT / "slice.png", dpi=100)

for label, p in {**predictions, "triplet": triplet}.items():
    vhlab = p.sel(digitisation="vhlab")
    print(f"{label:22s} Sjöström variance explained "
          f"{float(vhlab.sjostrom_variance_explained):+.2f}  "
          f"RMSE {float(vhlab.sjostrom_rmse):.3f}")

# %% [markdown]
# A rule linear in a modulator whose mean is about zero predicts a mean change of the sign of
# E[M], a coin flip, and a spread over synapses far larger than that mean. It explains at best
# the causal lobe (42 % of the Sjöström variance); the triplet model, fitted to these data,
# explains 94 %. This is the answer `docs/fingerprint.md` gives at width 128, layer by layer.
#
# **The study at full size.** These commands write `analyses/results/fingerprint/` and the
# figures of `docs/fingerprint.md`:
#
# ```bash
# for r in bp dfa clapp_siblings vicreg_views; do
#   plastisim run analyses/fingerprint/$r.toml \
#     --out runs/fingerprint/$r.nc --threads 1
# done
# python analyses/fingerprint/study.py --runs runs/fingerprint
# plastisim fingerprint runs/fingerprint/clapp_siblings.nc
# ```
