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
# 1. measures the STDP window of the pair and triplet rules and sets it next to the shipped
#    Bi & Poo (1998) data — the time constants of their exponential fits;
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

# figures go to PLASTISIM_NOTEBOOK_OUT, or a new temporary folder
OUT = Path(os.environ.get("PLASTISIM_NOTEBOOK_OUT")
           or tempfile.mkdtemp(prefix="plastisim-"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## STDP windows and Bi & Poo (1998)
#
# 60 pairings at 1 Hz for every $\Delta t = t_{\text{post}} - t_{\text{pre}}$ from −100 to
# +100 ms, the protocol of Bi & Poo. The pair rule has
# $W(\Delta t) = A_+ e^{-\Delta t/\tau_+}$ for $\Delta t > 0$ and
# $-A_- e^{\Delta t/\tau_-}$ for $\Delta t < 0$; `stdp_window` fits
# $A\,e^{-|\Delta t|/\tau}$ to each lobe of the simulated window.
#
# **What the shipped data hold.** `data.load("bipoo1998")` has the two time constants of
# Bi & Poo's single-exponential fits, $\tau_+ = 16.8$ ms (potentiation, pre before post) and
# $\tau_- = 33.7$ ms (depression). Their fit amplitudes are not shipped (they are not
# verified; `plastisim/data/README.md`), so what can be compared is the *shape* of each lobe
# — its time constant — and whether the lobe exists, not its height.

# %%
bipoo = data.load("bipoo1998")
tau_data = {"+": 1e3 * float(bipoo.tau_plus),        # ms
            "-": 1e3 * float(bipoo.tau_minus)}
rules = {"pair": protocols.event_rule("pair"),
         "triplet": protocols.event_rule("triplet",
                                         params="visual_nearest_full")}
windows = {name: protocols.stdp_window(rule) for name, rule in rules.items()}


def lobe(w, sign):
    """(amplitude, fitted tau in ms) of a lobe; tau is NaN for no lobe."""
    a = float(w[f"a_{sign}_fit"])
    tau = 1e3 * float(w[f"tau_{sign}_fit"])
    return a, (tau if abs(a) > 1e-6 else np.nan)


print(f"Bi & Poo (1998):  tau+ {tau_data['+']:.1f} ms, "
      f"tau- {tau_data['-']:.1f} ms")
print(f"{'rule':8s} {'lobe':5s} {'A fit':>8s} {'tau fit':>9s} "
      f"{'tau param':>10s} {'fit - data':>11s}")
for name, w in windows.items():
    for sign, key in (("+", "plus"), ("-", "minus")):
        a, tau = lobe(w, key)
        param = 1e3 * getattr(rules[name].params, f"tau_{key}")
        fit, diff = ((f"{tau:6.2f} ms", f"{tau - tau_data[sign]:+8.2f} ms")
                     if np.isfinite(tau) else ("no lobe", "-"))
        print(f"{name:8s} tau{sign:2s} {a:8.3f} {fit:>9s} "
              f"{param:7.1f} ms {diff:>11s}")

# %% [markdown]
# Left and middle: the simulated windows (points), the exponential fitted to each lobe
# (grey line) and an exponential with Bi & Poo's time constant (dashed), drawn with the
# model's fitted amplitude since the data's amplitude is not shipped. Right: the shipped
# data themselves, Bi & Poo's two time constants, next to the fitted ones.

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6),
                         gridspec_kw={"width_ratios": [1, 1, 0.6]})
t = np.linspace(0.001, 0.1, 100)                    # |dt| in s
for ax, (name, w) in zip(axes, windows.items()):
    ax.plot(1e3 * w.dt, w.dw_rel_model, "o", ms=3, color="C0",
            label="model, 60 pairings at 1 Hz")
    for sign, key in ((1, "plus"), (-1, "minus")):
        a, tau = lobe(w, key)
        if np.isnan(tau):
            continue
        ax.plot(sign * 1e3 * t, a * np.exp(-1e3 * t / tau), "-", color="0.4",
                lw=1)
        tau_bp = tau_data["+" if sign > 0 else "-"]
        ax.plot(sign * 1e3 * t, a * np.exp(-1e3 * t / tau_bp), "--",
                color="C3", lw=1.5)
    ax.plot([], [], "-", color="0.4", lw=1, label="exponential fit per lobe")
    ax.plot([], [], "--", color="C3", lw=1.5,
            label="Bi & Poo's $\\tau$, model's amplitude")
    ax.axhline(0, color="0.7", lw=0.5)
    ax.axvline(0, color="0.7", lw=0.5)
    ax.set(xlabel="$\\Delta t = t_{post} - t_{pre}$ (ms)",
           ylabel="$\\Delta w_{rel}$ (1)", title=f"{name} rule")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo - 0.4 * (hi - lo), hi)          # room for the legend
    ax.legend(fontsize=7, loc="lower right")
axes[1].annotate("no potentiation lobe\n(Bi & Poo: $\\tau_+$ = "
                 f"{tau_data['+']:.1f} ms)", xy=(50, 0), xytext=(15, -0.15),
                 fontsize=8, arrowprops={"arrowstyle": "->", "color": "0.3"})

ax = axes[2]
for k, sign in enumerate("+-"):
    ax.plot(k, tau_data[sign], "s", ms=11, mfc="none", mec="k", mew=1.5,
            label="Bi & Poo (1998)" if k == 0 else None)
    for j, (name, w) in enumerate(windows.items()):
        tau = lobe(w, "plus" if sign == "+" else "minus")[1]
        if np.isfinite(tau):
            ax.plot(k + 0.15 * (j + 1), tau, "o", ms=6, color=f"C{j + 1}",
                    label=f"{name}, fit" if k == 1 else None)
ax.set_xticks([0, 1], ["$\\tau_+$\npotentiation", "$\\tau_-$\ndepression"])
ax.set(xlim=(-0.5, 1.7), ylim=(0, 40), ylabel="time constant (ms)",
       title="time constants")
ax.legend(fontsize=7, loc="lower right")
fig.tight_layout()
fig.savefig(OUT / "protocols_stdp_windows.png", dpi=120)

# %% [markdown]
# **What matches and what does not.** Where a lobe exists, its fitted time constant equals
# Bi & Poo's to a hundredth of a millisecond (table above) — but by construction: both rules
# take $\tau_\pm$ as parameters, set to Bi & Poo's values (the `tau param` column; the
# triplet set of Pfister & Gerstner uses them too). The agreement checks that the engine
# integrates the traces exactly; it is not evidence that the models explain the data. The
# heights cannot be compared: Bi & Poo's amplitudes are not shipped, and the pair rule's
# $A_\pm$ are illustrative (Song et al. 2000). The triplet model with the visual-cortex
# parameters (`visual_nearest_full`) disagrees with Bi & Poo qualitatively: at 1 Hz it has
# no potentiation lobe (fitted $A_+ \approx 0$), because its pair potentiation is almost
# zero and its triplet term needs a second post spike within $\tau_y$ = 40 ms. Bi & Poo
# recorded in hippocampal cultures, and these parameters were fitted to visual cortex, where
# pairing at 0.1 Hz gives no potentiation either (Sjöström et al. 2001, next section).

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
    z = sj.z.sel(digitisation=d)
    within = int((abs(z) <= 1).sum())
    print(f"{d:10s} RMSE {float(sj.rmse.sel(digitisation=d)):.3f}   "
          f"max |z| {float(sj.max_abs_z.sel(digitisation=d)):.2f}   "
          f"{within} of {z.size} conditions within 1 SEM")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
ax = axes[0]
for k, dt in enumerate(sj.dt.values):
    label = f"$\\Delta t$ = {1e3 * dt:+.0f} ms"
    ax.plot(sj.freq, sj.dw_rel_model.sel(dt=dt), "-", color=f"C{k}", lw=2,
            label=f"model, {label}")
    for j, (d, marker) in enumerate(zip(sj.digitisation.values, "os")):
        point = {"dt": dt, "digitisation": d}
        ax.errorbar(sj.freq + (j - 0.5) * 0.8, sj.dw_rel_data.sel(point),
                    yerr=sj.sem_data.sel(point), fmt=marker, color=f"C{k}",
                    ms=4, capsize=2, alpha=0.7, label=f"data ({d}), {label}")
ax.axhline(0, color="0.7", lw=0.5)
ax.set(xlabel="pairing frequency (Hz)", ylabel="$\\Delta w_{rel}$ (1)",
       title="triplet model vs Sjöström et al. 2001")
ax.legend(fontsize=7, loc="upper left")

ax = axes[1]
conditions = [(dt, f) for dt in sj.dt.values for f in sj.freq.values]
x = np.arange(len(conditions))
for j, d in enumerate(sj.digitisation.values):
    z = [float(sj.z.sel(dt=dt, freq=f, digitisation=d))
         for dt, f in conditions]
    ax.bar(x + (j - 0.5) * 0.38, z, width=0.38, label=d)
ax.axhspan(-1, 1, color="0.9", zorder=0, label="within 1 SEM")
ax.set_xticks(x, [f"{1e3 * dt:+.0f} ms, {f:g} Hz" for dt, f in conditions],
              fontsize=7, rotation=60, ha="right")
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
# trace adds the same change at pre spikes after post ones. (No data here: these windows are
# what the rule predicts.)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
for ax, gate in zip(axes, ("causal", "symmetric")):
    for gamma, color in ((1, "C3"), (-1, "C0"), (0, "0.4")):
        rule = protocols.event_rule("clapp_spiking", gamma=gamma, gate=gate)
        w = protocols.stdp_window(rule, n_pairings=1)
        label = f"$\\gamma$ = {gamma:+d}" if gamma else "$\\gamma$ = 0"
        ax.plot(1e3 * w.dt, w.dw_rel_model, "-o", ms=2.5, color=color,
                label=label)
    ax.axhline(0, color="0.7", lw=0.5)
    ax.axvline(0, color="0.7", lw=0.5)
    ax.set(xlabel="$\\Delta t = t_{post} - t_{pre}$ (ms)",
           title=f"clapp_spiking, gate = {gate}")
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
# plastisim protocol sjostrom2001 --rule triplet \
#     --params visual_nearest_full --out runs/sj.nc
# plastisim protocol stdp_window --rule clapp_spiking --set gamma=-1 \
#     --out runs/clapp_m1.nc
# ```
#
# `python analyses/sjostrom2001.py` fits all four parameter sets of Pfister & Gerstner
# (2006), and `plastisim protocol poisson` measures the drift under Poisson trains (the BCM
# limit of the minimal triplet model).
