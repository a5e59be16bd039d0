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
# # A parameter study: does backprop need its masks?
#
# A *sweep* runs one model over a grid — rules, training-set sizes, seeds — and merges the runs
# into one netCDF dataset with one dimension per axis (`docs/sweeps.md`). From it,
# `plastisim.study` (or `plastisim pstar`) computes the sample complexity $P^*$ of every rule
# with a bootstrap interval over seeds (`docs/studies.md`).
#
# The question here is one cell of the masking ablation of `docs/results.md` §1: backprop
# sends the error down through the true weights *and* gates it by the downstream slopes
# $f'(a_k)$, $k > l$ (the masks); `bp_nomask` keeps the weights but drops the masks. How much
# larger is its $P^*$?
#
# **Small settings**: width 32, at most 1,000 steps per run, $P/n^* \in \{1, 2, 4, 8\}$,
# three seeds — 24 runs, about half a minute on two cores. Full-size settings at the end.

# %%
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import xarray as xr

from plastisim import study

# figures and files go to PLASTISIM_NOTEBOOK_OUT, or a new temporary folder
OUT = Path(os.environ.get("PLASTISIM_NOTEBOOK_OUT")
           or tempfile.mkdtemp(prefix="plastisim-"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The sweep file
#
# `base` is a model file (relative paths are looked up next to the sweep file); `rules` is an
# axis of rule specs, each at its own learning rate (the rates chosen on the training loss at
# this setting, `docs/results.md` §3); `step_budget` gives every $P$ the same number of SGD
# steps; the `seed` axis derives independent seeds for weights, shuffling and data, the same
# for both rules at a given seed.

# %%
(OUT / "small.toml").write_text("""
[rhm]
v = 8
n_classes = 8
m = 4
s = 2
L = 3
[network]
width = 32
[rule]
name = "bp"
[train]
n_test = 1000
batch_size = 128
device = "cpu"
""")
sweep_file = OUT / "masking_small.toml"
_ = sweep_file.write_text("""
title = "masking ablation, small"
base = "small.toml"
rules = ["bp:lr=1.0", "bp_nomask:lr=0.3"]
# epochs = max(ceil(1000 * batch_size / n_train), min_epochs)
step_budget = 1000
min_epochs = 20

[axes]
train.n_train_multiple = [1, 2, 4, 8]   # P in units of n* = n_c m^L
seed = [0, 1, 2]
""")

# %% [markdown]
# ## Run it
#
# From a terminal this is `plastisim sweep masking_small.toml --out runs/masking_small
# --workers 2`; here the same command through `sys.executable` (the notebook's environment),
# run in the output folder with relative file names. `--dry-run` lists the points first. In
# Python: `plastisim.sweep.run_sweep(plastisim.sweep.load(path), out, workers=2)`.

# %%
def plastisim(*args):
    """Run the plastisim command line in OUT; return what it printed."""
    return subprocess.run([sys.executable, "-m", "plastisim", *args], cwd=OUT,
                          capture_output=True, text=True, check=True).stdout


dry = plastisim("sweep", sweep_file.name, "--dry-run")
print("\n".join(dry.splitlines()[:6]), "\n...")
print(plastisim("sweep", sweep_file.name, "--out", "masking_small",
                "--workers", "2", "--overwrite", "--quiet"))
out = OUT / "masking_small"

# %% [markdown]
# ## The merged dataset
#
# `sweep.nc` has the dimensions `rule`, `n_train_multiple` and `seed`; every run's final test
# error, learning curve, synonymic sensitivity, status and seeds are variables over them.

# %%
ds = xr.load_dataset(out / "sweep.nc")
print(dict(ds.sizes))
print(ds.test_error.attrs["long_name"])
print("statuses:", ", ".join(sorted({str(v) for v in ds.status.values.flat})))
ds.test_error.mean("seed").to_pandas()

# %% [markdown]
# ## $P^*$ with a bootstrap interval
#
# `study.summarize` averages the test error over seeds, finds where it crosses 10% of the
# chance error (linear in $\log P$), and resamples the seeds 1,000 times for a 95% percentile
# interval. With three seeds the bootstrap has only 10 distinct resamples: read the interval
# as the spread of the seeds.

# %%
summary = study.summarize(ds)
for row in study.rows(summary):
    print(f"{row['rule']:18s} P*/n* = {row['text']:6s} "
          f"interval {row['interval']}")

# %% [markdown]
# The same table from the command line (`--no-png`: the figure is drawn below instead):

# %%
print(plastisim("pstar", "masking_small/sweep.nc", "--no-png"))

# %%
threshold = 0.1 * (1 - 1 / int(ds.n_classes.max()))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
ax = axes[0]
for k, rule in enumerate(summary.rule.values):
    point = summary.sel(rule=rule)
    ax.errorbar(summary.n_train_multiple, point.error_mean,
                yerr=point.error_std, marker="o", capsize=3, color=f"C{k}",
                label=f"{rule} (mean ± std over 3 seeds)")
ax.axhline(threshold, color="0.5", ls="--", lw=1, label="10% of chance")
ax.set(xscale="log", xlabel="training-set size P / n*", ylabel="test error",
       title="test error after at most 1000 steps")
multiples = summary.n_train_multiple.values
ax.set_xticks(multiples, [f"{m:g}" for m in multiples])
ax.minorticks_off()
ax.legend(fontsize=8)

ax = axes[1]
for k, rule in enumerate(summary.rule.values):
    point = summary.sel(rule=rule)
    star, lo, hi = (float(point[v])
                    for v in ("P_star", "P_star_low", "P_star_high"))
    ax.errorbar([k], [star], yerr=[[star - lo], [hi - star]], fmt="o",
                capsize=5, color=f"C{k}", ms=7)
n_rules = summary.sizes["rule"]
ax.set_xticks(range(n_rules), [str(r) for r in summary.rule.values])
ax.set(xlim=(-0.6, n_rules - 0.4), ylabel="sample complexity P* / n*",
       title="P* with 95% bootstrap interval over seeds")
fig.tight_layout()
fig.savefig(OUT / "parameter_study_pstar.png", dpi=120)

# %% [markdown]
# One learning curve of the merged dataset (runs evaluate at different epochs: plot against
# `curve_step`):

# %%
fig, ax = plt.subplots(figsize=(5, 3.4))
for k, rule in enumerate(ds.rule.values):
    curve = ds.sel(rule=rule, n_train_multiple=4, seed=0)
    ax.plot(curve.curve_step, curve.curve_test_error, marker=".",
            color=f"C{k}", label=str(rule))
ax.axhline(threshold, color="0.5", ls="--", lw=1, label="10% of chance")
ax.set(xscale="log", xlabel="plasticity steps (batches of 128)",
       ylabel="test error", title="P = 4 n*, seed 0")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "parameter_study_curves.png", dpi=120)

# %% [markdown]
# ## Full-size settings
#
# `analyses/masking.toml` is this study at full size: six rules (bp, fa, bp_nomask, dfa, sdfa,
# drtp), width 256, $n_{\text{test}} = 10{,}000$, max(3000 steps, 100 epochs) per run,
# $P/n^* \in \{0.5, 1, 2, 4, 8, 16\}$, three seeds — 108 runs, about 72 minutes on one core:
#
# ```bash
# plastisim sweep analyses/masking.toml --out runs/masking --workers 2 --resume
# plastisim pstar runs/masking/sweep.nc
# ```
#
# The learning rates there are the rules' defaults; the scaling study (`analyses/scaling/`)
# first selects a rate per rule with `rule.lr` as an axis (`plastisim pstar` on that sweep
# prints the scores and the choice), then runs the $P$ grid at those rates.
