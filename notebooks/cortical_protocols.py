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
# # Cortical protocols: STDP windows, the Sjöström frequency dependence, spiking CLAPP
#
# The rules of the `stdp` family run on an event-driven engine: every synapse is one stream
# with its own pre and post spike trains, the traces decay exactly between events, and many
# conditions run as one batch (`docs/protocols.md`). This notebook
#
# 1. measures the STDP window of the pair and triplet rules and compares the time constants
#    with Bi & Poo (1998);
# 2. runs the Sjöström, Turrigiano & Nelson (2001) frequency protocol on the triplet model of
#    Pfister & Gerstner (2006) and compares it with the shipped data, in units of the data's
#    standard error (z-scores);
# 3. shows the windows of the spiking form of the CLAPP-like rule for each state of its
#    modulator $\gamma$.
#
# Every protocol returns an `xarray.Dataset` with units; all of it runs in a few seconds.
# Times are in seconds, weights relative to the initial weight:
# $\Delta w_{\text{rel}} = (w_{\text{end}} - w_{\text{init}})/w_{\text{init}}$.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from plastisim import data, protocols

OUT = Path(os.environ.get("PLASTISIM_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="plastisim-"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## STDP windows
#
# 60 pairings at 1 Hz for every $\Delta t = t_{\text{post}} - t_{\text{pre}}$ from −100 to
# +100 ms. The pair rule has $W(\Delta t) = A_+ e^{-\Delta t/\tau_+}$ for $\Delta t > 0$ and
# $-A_- e^{\Delta t/\tau_-}$ for $\Delta t < 0$, with $\tau_\pm$ of Bi & Poo; an exponential
# fit of each lobe of the simulated window recovers them. The triplet model with the visual
# cortex parameters (`visual_nearest_full`) has almost no pair LTP: at 1 Hz its window is
# depression only — potentiation needs a second post spike shortly before, i.e. higher
# frequencies.

# %%
bipoo = data.load("bipoo1998")
windows = {"pair": protocols.stdp_window(protocols.event_rule("pair")),
           "triplet (visual_nearest_full)": protocols.stdp_window(
               protocols.event_rule("triplet", params="visual_nearest_full"))}
def lobe(a, tau):
    """A lobe's fitted tau in ms, or why there is none."""
    return f"{1e3 * float(tau):6.2f} ms" if abs(float(a)) > 1e-6 else "  (no lobe)"

print(f"Bi & Poo (1998): tau+ {1e3 * float(bipoo.tau_plus):.1f} ms, "
      f"tau- {1e3 * float(bipoo.tau_minus):.1f} ms")
for name, w in windows.items():
    print(f"{name:30s} tau+ fit {lobe(w.a_plus_fit, w.tau_plus_fit)}   "
          f"tau- fit {lobe(w.a_minus_fit, w.tau_minus_fit)}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for ax, (name, w) in zip(axes, windows.items()):
    ax.plot(1e3 * w.dt, w.dw_rel_model, "o", ms=3, label="model, 60 pairings at 1 Hz")
    for sign, a, tau in ((1, w.a_plus_fit, w.tau_plus_fit), (-1, w.a_minus_fit, w.tau_minus_fit)):
        if abs(float(a)) > 1e-6:
            t = np.linspace(0.001, 0.1, 100)
            ax.plot(sign * 1e3 * t, float(a) * np.exp(-t / float(tau)), "k-", lw=1)
    ax.plot([], [], "k-", lw=1, label="exponential fit per lobe")
    ax.axhline(0, color="0.7", lw=0.5)
    ax.axvline(0, color="0.7", lw=0.5)
    ax.set(xlabel="$\\Delta t = t_{post} - t_{pre}$ (ms)", ylabel="$\\Delta w_{rel}$ (1)",
           title=name)
    ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "protocols_stdp_windows.png", dpi=120)

# %% [markdown]
# ## Sjöström et al. (2001): frequency dependence, model vs data
#
# Pairs at $\Delta t = \pm 10$ ms repeated at 0.1 to 50 Hz. The data come with two
# digitisations of the published figure (`vhlab`, `plastyfire`), each with its SEM;
# `protocols.sjostrom2001` returns the model, the data and $z = (\text{model} -
# \text{data})/\text{SEM}$ per condition, the RMSE and the largest $|z|$.

# %%
triplet = protocols.event_rule("triplet", params="visual_nearest_full")
sj = protocols.sjostrom2001(triplet, n_pairings=60)
for d in sj.digitisation.values:
    print(f"{d:10s} RMSE {float(sj.rmse.sel(digitisation=d)):.3f}   "
          f"max |z| {float(sj.max_abs_z.sel(digitisation=d)):.2f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
ax = axes[0]
for k, dt in enumerate(sj.dt.values):
    label = f"$\\Delta t$ = {1e3 * dt:+.0f} ms"
    ax.plot(sj.freq, sj.dw_rel_model.sel(dt=dt), "-", color=f"C{k}", lw=2, label=f"model, {label}")
    for j, (d, marker) in enumerate(zip(sj.digitisation.values, ("o", "s"))):
        ax.errorbar(sj.freq + (j - 0.5) * 0.8, sj.dw_rel_data.sel(dt=dt, digitisation=d),
                    yerr=sj.sem_data.sel(dt=dt, digitisation=d), fmt=marker, color=f"C{k}",
                    ms=4, capsize=2, alpha=0.7, label=f"data ({d}), {label}")
ax.axhline(0, color="0.7", lw=0.5)
ax.set(xlabel="pairing frequency (Hz)", ylabel="$\\Delta w_{rel}$ (1)",
       title="triplet model vs Sjöström et al. 2001")
ax.legend(fontsize=7)

ax = axes[1]
conditions = [(dt, f) for dt in sj.dt.values for f in sj.freq.values]
x = np.arange(len(conditions))
for j, d in enumerate(sj.digitisation.values):
    z = [float(sj.z.sel(dt=dt, freq=f, digitisation=d)) for dt, f in conditions]
    ax.bar(x + (j - 0.5) * 0.38, z, width=0.38, label=d)
ax.axhspan(-1, 1, color="0.9", zorder=0, label="within 1 SEM")
ax.set_xticks(x, [f"{1e3 * dt:+.0f} ms, {f:g} Hz" for dt, f in conditions], fontsize=7,
              rotation=60, ha="right")
ax.set(ylabel="z = (model − data) / SEM (1)", title="z-score per condition")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "protocols_sjostrom2001.png", dpi=120)

# %% [markdown]
# ## The spiking CLAPP-like rule: one window per modulator state
#
# On the RHM, CLAPP changes a synapse by $\Delta w_{ij} = \eta\,\gamma\,d_i\,f'(a_i)\,x_j$ with
# the global modulator $\gamma \in \{+1, -1, 0\}$ (positive pair, negative pair, hinge
# inactive). Its spiking form replaces $x_j$ by a pre trace and the gate $f'(a_i)$ by the post
# spike: at every post spike $\Delta w_{ij} = \eta\,\gamma\,d_i\,\bar x_j(t-\epsilon)$. The
# implied window is causal and its sign is the modulator's; with `gate="symmetric"` a post
# trace adds the same change at pre spikes after post ones.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
for ax, gate in zip(axes, ("causal", "symmetric")):
    for gamma, color in ((1, "C3"), (-1, "C0"), (0, "0.4")):
        w = protocols.stdp_window(protocols.event_rule("clapp_spiking", gamma=gamma, gate=gate),
                                  n_pairings=1)
        label = f"$\\gamma$ = {gamma:+d}" if gamma else "$\\gamma$ = 0"
        ax.plot(1e3 * w.dt, w.dw_rel_model, "-o", ms=2.5, color=color, label=label)
    ax.axhline(0, color="0.7", lw=0.5)
    ax.axvline(0, color="0.7", lw=0.5)
    ax.set(xlabel="$\\Delta t = t_{post} - t_{pre}$ (ms)", title=f"clapp_spiking, gate = {gate}")
    ax.legend(fontsize=8)
axes[0].set_ylabel("$\\Delta w_{rel}$, one pairing (1)")
fig.tight_layout()
fig.savefig(OUT / "protocols_clapp_windows.png", dpi=120)

# %% [markdown]
# ## Full-size settings and the command line
#
# These protocols are already at full size (the data's grid, 60 pairings). The same from the
# command line, with a netCDF file and a PNG next to it:
#
# ```bash
# plastisim protocol sjostrom2001 --rule triplet --params visual_nearest_full --out runs/sj.nc
# plastisim protocol stdp_window --rule clapp_spiking --set gamma=-1 --out runs/clapp_m1.nc
# ```
#
# `python analyses/sjostrom2001.py` fits all four parameter sets of Pfister & Gerstner
# (2006), and `plastisim protocol poisson` measures the drift under Poisson trains (the BCM
# limit of the minimal triplet model).
