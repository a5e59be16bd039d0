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
# # Weight trajectories: record with a Monitor, read with plain xarray
#
# A `Monitor` records weights, update directions, rates and the loss while a rule trains, and
# streams them into one self-describing netCDF file (`docs/data-format.md`). Here we record a
# backprop run on a small RHM, open the file with `xarray` alone, and plot how the first
# layer's receptive fields and every layer's weight norm evolve; then we select a subset and
# export it for sharing.
#
# **Small settings.** Width 64, 2,048 training inputs, 2,400 steps, a record every 40 steps
# (about 10 s of training). Full-size settings are in the note at the end.

# %%
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import xarray as xr

import plastisim as ps

torch.set_num_threads(1)
# figures and files go to PLASTISIM_NOTEBOOK_OUT, or a new temporary folder
OUT = Path(os.environ.get("PLASTISIM_NOTEBOOK_OUT")
           or tempfile.mkdtemp(prefix="plastisim-"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Record while training
#
# `weights="all"` records every projection, `updates="all"` the rule's update direction of the
# recorded step (modulator × post × pre, before the learning rate), `rates="h1,h2,h3"` the
# batch-mean rates of the hidden groups. `every=40` keeps one step in 40; `path=` streams each
# record to the file as it is taken (it can be read while it grows: `ps.open_run`).

# %%
rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
train_set, test_set = rhm.split(n_train=2048, n_test=2000, seed=1)
net = ps.hierarchy(rhm, width=64, seed=0)
path = OUT / "bp_trajectory.nc"
mon = ps.Monitor(net, weights="all", updates="all", rates="h1,h2,h3",
                 every=40, path=path, overwrite=True)
mon.record(0, net)                   # the initial weights, before any step
result = ps.train(net, ps.rules.get("bp"), train_set, test_set,
                  ps.TrainOptions(epochs=150), monitor=mon, rhm=rhm)
mon.close()
print(result.status, result.steps, "steps, final test error",
      result.final["test_error"])
print(f"{mon.n} records, one every {mon.every} steps, in {path.name} "
      f"({path.stat().st_size / 1e6:.1f} MB)")

# %% [markdown]
# ## Open the file with plain xarray
#
# Every variable has named dimensions, `units` and `long_name`; the configuration and the
# provenance are global attributes. `weight_w1` is `(step, post_w1, pre_w1)`: `pre_w1` indexes
# the receptive field of a unit, and its coordinate `pre_channel_w1` names the input channel
# (the symbol) of each entry. A patch's fan-in is ordered (offset in the patch, channel).
# The provenance also says where the file was made — `host`, `platform` and `command_line`
# (here the Jupyter kernel's) — which the display below leaves out.

# %%
ds = xr.open_dataset(path)
print(ds.weight_w1.dims, ds.weight_w1.attrs["long_name"])
print("recorded steps:", ds.step.values[:5], "...", ds.step.values[-1])
shown = ds.copy()
shown.attrs = {k: v for k, v in ds.attrs.items()
               if k not in ("host", "platform", "command_line")}
shown

# %% [markdown]
# ## Receptive fields of the first layer
#
# Unit $i$ of layer 1 sees a patch of $s=2$ one-hot symbols: its receptive field is a
# $(s, v)$ table of weights. The six units whose weights moved most are shown at the start, in
# the middle and at the end of training.

# %%
s, v = rhm.s, rhm.v
w1 = ds.weight_w1                                        # (step, post, pre)
moved = np.linalg.norm(w1.isel(step=-1) - w1.isel(step=0), axis=1)
units = np.argsort(moved)[::-1][:6]
steps = [0, int(ds.step[len(ds.step) // 2]), int(ds.step[-1])]
fig, axes = plt.subplots(len(steps), len(units), figsize=(10, 4.2),
                         sharex=True, sharey=True)
lim = float(abs(w1.sel(post_w1=units)).max())
for r, step in enumerate(steps):
    for c, unit in enumerate(units):
        # the receptive field as (offset in the patch, symbol)
        field = w1.sel(step=step, post_w1=unit).values.reshape(s, v)
        im = axes[r, c].imshow(field, cmap="RdBu_r", vmin=-lim, vmax=lim,
                               aspect="auto")
        axes[r, c].set(xticks=range(v), yticks=range(s))
        if r == 0:
            axes[r, c].set_title(f"unit {unit}", fontsize=9)
    axes[r, 0].set_ylabel(f"step {step}\npatch offset")
for ax in axes[-1]:
    ax.set_xlabel("input symbol")
fig.colorbar(im, ax=axes, label="weight $w_{1}$ (1)", shrink=0.8)
fig.savefig(OUT / "trajectories_receptive_fields.png", dpi=120)

# %% [markdown]
# What the fields learn: a unit's drive for a tuple $(a, b)$ is $w[0,a] + w[1,b]$ (times the
# scale). Grouping the $m v$ tuples that the grammar can produce by their parent symbol shows
# whether a unit responds alike to synonyms — the invariance that the synonymic sensitivity
# measures (`rhm.rules[L-1]` holds the $m$ tuples of each lowest-level symbol).

# %%
tuples = rhm.rules[rhm.L - 1].numpy()    # (v parents, m tuples, s symbols)


def tuple_drive(step, unit):
    """The drive of every tuple, (v parents, m tuples)."""
    field = w1.sel(step=step, post_w1=unit).values.reshape(s, v)
    return field[0, tuples[..., 0]] + field[1, tuples[..., 1]]


fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
for ax, step in zip(axes, (0, steps[-1])):
    drive = tuple_drive(step, units[0])
    for parent in range(v):
        ax.plot(np.full(rhm.m, parent), drive[parent], "o", ms=5, alpha=0.8)
    ax.set(xlabel="parent symbol of the tuple (level L-1)",
           title=f"unit {units[0]}, step {step}", xticks=range(v))
axes[0].set_ylabel("drive $w\\cdot u$ of the tuple (1)")
fig.tight_layout()
fig.savefig(OUT / "trajectories_synonym_drive.png", dpi=120)

# %% [markdown]
# ## Weight norms, drift and update directions
#
# The RMS weight of every projection, and the relative drift $\|w(t)-w(0)\|/\|w(0)\|$ (this
# is also `plastisim.analysis.weight_stats`). The update direction is the rule's step before
# the learning rate; its norm shrinks as the loss falls.

# %%
names = ["w1", "w2", "w3", "readout"]
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
for name in names:
    w = ds[f"weight_{name}"]
    flat = w.values.reshape(len(ds.step), -1)
    axes[0].plot(ds.step, np.sqrt((flat ** 2).mean(1)), label=name)
    drift = np.linalg.norm(flat - flat[0], axis=1) / np.linalg.norm(flat[0])
    axes[1].plot(ds.step, drift, label=name)
    u = ds[f"update_{name}"].values.reshape(len(ds.step), -1)
    axes[2].plot(ds.step[1:], np.linalg.norm(u[1:], axis=1), label=name)
axes[0].set(xlabel="plasticity step", ylabel="RMS weight (1)",
            title="weight norm")
axes[1].set(xlabel="plasticity step", ylabel="relative drift (1)",
            title="drift from step 0")
axes[2].set(xlabel="plasticity step", ylabel="$\\|$update direction$\\|$ (1)",
            yscale="log", title="update direction")
for ax in axes:
    ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "trajectories_norms.png", dpi=120)

# %% [markdown]
# ## Rates
#
# `rate_<group>` is the rate of every channel at every position, averaged over the batch's
# streams of the recorded step (the initial record, taken without a step, has none). Below: the
# mean over units and positions, and the spread over units (10th to 90th percentile of each
# unit's mean over positions).

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.4))
for k, group in enumerate(("h1", "h2", "h3")):
    # (step, channel): each unit's mean over positions, from the first step
    rate = ds[f"rate_{group}"].isel(step=slice(1, None))
    per_unit = rate.mean(f"position_{group}")
    lo, hi = per_unit.quantile([0.1, 0.9], dim=f"channel_{group}")
    ax.plot(per_unit.step, per_unit.mean(f"channel_{group}"), color=f"C{k}",
            label=f"{group} mean")
    ax.fill_between(per_unit.step, lo, hi, color=f"C{k}", alpha=0.2, lw=0,
                    label=f"{group} units, 10-90%")
ax.set(xlabel="plasticity step", ylabel="rate f(a), batch mean (1)",
       title="hidden rates during bp training")
ax.legend(fontsize=8, ncol=2)
fig.tight_layout()
fig.savefig(OUT / "trajectories_rates.png", dpi=120)

# %% [markdown]
# ## Select and export a subset
#
# With xarray: any selection of variables, steps and units, written with `to_netcdf`
# (attributes travel with the variables). With the command line: `plastisim export`, which
# keeps the provenance and writes the selection into the file's `history`.

# %%
subset = ds[["weight_w1", "loss"]].sel(post_w1=units)
subset = subset.isel(step=slice(None, None, 5))
subset.to_netcdf(OUT / "bp_w1_subset.nc")
print(subset.weight_w1.shape, "-> bp_w1_subset.nc")

# the command line, run in the output folder with relative file names
cmd = [sys.executable, "-m", "plastisim", "export", path.name, "bp_small.nc",
       "--vars", "weight_w1", "loss", "--every", "400",
       "--indices", "w1.post=0:16", "--overwrite"]
print(subprocess.run(cmd, cwd=OUT, check=True, capture_output=True,
                     text=True).stdout)
small = xr.open_dataset(OUT / "bp_small.nc")
print(dict(small.sizes))
print(small.attrs["history"].splitlines()[-1])

# %% [markdown]
# ## Full-size settings
#
# `models/bp.toml` trains width 256 for up to 250 epochs; record it with
#
# ```bash
# plastisim run models/bp.toml --out runs/bp.nc \
#     --record weights=all,updates=w2,rates=h1,every=100
# ```
#
# (`[record]` in the model file does the same). At width 256 a record of every weight is
# about 1 MB (float32), so choose `every` and `indices` (e.g.
# `indices = ["w2.post=0:16"]`) to fit the run length; `plastisim bench --only record`
# measures the recording cost on your machine.
