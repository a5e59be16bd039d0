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
# # Quickstart: backprop, DFA and CLAPP on one Random Hierarchy Model
#
# This notebook builds a Random Hierarchy Model (RHM), trains the same convolutional network
# with three plasticity rules on the same inputs — backpropagation (the non-local reference),
# direct feedback alignment (DFA, a local three-factor rule with a random projection of the
# output error) and CLAPP (layerwise self-supervised, a global scalar modulator) — and asks
# two questions of each: how fast does the test error fall, and does each hidden layer become
# invariant to the *synonyms* of the grammar? It ends with what the sample complexity $P^*$
# means and how to measure it.
#
# **Small settings.** Everything below runs in well under a minute on two cores: width 64,
# 2,048 training inputs, a few thousand plasticity steps. The full-size settings of the paper
# comparison are in the note at the end.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import plastisim as ps
from plastisim.metrics import sensitivity_matrix

torch.set_num_threads(1)   # the same numbers as a sweep, no oversubscription
# figures go to PLASTISIM_NOTEBOOK_OUT, or a new temporary folder
OUT = Path(os.environ.get("PLASTISIM_NOTEBOOK_OUT")
           or tempfile.mkdtemp(prefix="plastisim-"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The Random Hierarchy Model
#
# An RHM is a random context-free grammar: each of the $n_c$ classes rewrites into one of $m$
# tuples of $s$ symbols (its *synonyms*), each symbol again into one of $m$ tuples, $L$ times.
# The input is the sequence of $s^L$ leaves, each one of $v$ symbols, one-hot encoded. The
# class is a function of the input, but learning it requires discovering which tuples are
# synonyms at each level. The number of distinct inputs is
# $P_{\max} = n_c\, m^{(s^L-1)/(s-1)}$; sample complexities are given in units of
# $n^* = n_c m^L$.

# %%
rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
n_star = rhm.n_star                           # n_c · m^L = 512
train_set, test_set = rhm.split(n_train=4 * n_star, n_test=2000,
                                seed=1)       # disjoint, exact sizes
print(rhm)
print(f"n* = n_c m^L = {n_star}, P_max = {rhm.P_max:,}")
print("one input:", train_set.x[0].tolist(), "-> class", int(train_set.y[0]))
x = ps.one_hot(train_set.x, rhm.v)
print("one-hot inputs:", tuple(x.shape), "(inputs, v symbols, s^L positions)")

# %% [markdown]
# A *synonym view* keeps every latent symbol at levels $\le l$ and re-draws the synonyms
# below: the class is unchanged, the input is not.

# %%
# the lowest-level synonyms re-drawn
views = rhm.resample(train_set[:4], level=rhm.L - 1, seed=2)
for a, b in zip(train_set.x[:4].tolist(), views.x.tolist()):
    print(a, "->", b)

# %% [markdown]
# ## Three rules on the same inputs
#
# Each rule trains its own copy of the same network (`ps.hierarchy`: $L$ patch layers with
# filter = stride = $s$, ReLU, a mean over positions and a linear readout) from the same
# initial weights (`seed=0`), on the same training set and batches. `ps.rules.get(name, ...)`
# builds a rule from the registry; `plastisim rules` lists them with their three factors.
#
# * **bp** — the modulator of layer $l$ is the error propagated through the true weights
#   $W_{l+1}^\top$ and gated by the downstream slopes $f'(a_k)$: not local.
# * **dfa** — $M_l = D_l e$, a fixed random projection of the output error $e$: local, but the
#   input-specific masking of the layers above is lost. At `lr=1.0` (its own best rate).
# * **clapp** — each layer predicts its own rates for a synonym view through a predictor;
#   a hinge loss yields a global modulator $\gamma \in \{+1, -1, 0\}$; then a delta-rule
#   readout on the frozen top layer. Its pairing here is an **oracle**: a layer's partner is
#   another training input with the same latent symbols at its level
#   (`view_level="matched"`), chosen by reading the grammar — a baseline, not
#   self-supervision. From the inputs alone (`pairs="siblings"`: a position predicts its
#   sibling position of the same input) CLAPP needs more data at this grammar
#   (docs/results.md; `plastisim demo` shows it on a grammar with more sibling information).

# %%
WIDTH = 64
# plasticity steps of batch 128 (CLAPP: the local phase, then its readout)
STEPS = 2400
epochs = STEPS * 128 // len(train_set)
rules = {
    "bp": ps.rules.get("bp"),
    "dfa": ps.rules.get("dfa", lr=1.0),
    "clapp": ps.rules.get("clapp", lr=5.0, view_level="matched",
                          readout_epochs=50),
}
options = ps.TrainOptions(epochs=epochs, batch_size=128, seed=0)
results, nets = {}, {}
for name, rule in rules.items():
    net = ps.hierarchy(rhm, width=WIDTH, seed=0)
    result = ps.train(net, rule, train_set, test_set, options, rhm=rhm)
    results[name], nets[name] = result, net
    print(f"{name:6s} {result.status:10s} steps {result.steps:5d}  "
          f"test error {result.final['test_error']:.3f}  "
          f"({result.elapsed:.1f} s)")

# %% [markdown]
# ## Learning curves
#
# `TrainResult.history` holds the evaluations (log-spaced in epochs). CLAPP's curve has two
# phases: during the local phase the readout is untrained (error near chance); the drop comes
# with the readout phase.

# %%
chance = 1 - 1 / rhm.n_classes
fig, ax = plt.subplots(figsize=(5.5, 3.6))
for name, result in results.items():
    h = result.history
    ax.plot(h["step"], h["test_error"], marker=".", label=name)
ax.axhline(chance, color="k", ls=":", lw=1, label="chance $1-1/n_c$")
ax.axhline(0.1 * chance, color="0.5", ls="--", lw=1,
           label="$P^*$ threshold (10% of chance)")
ax.set(xscale="log", xlabel="plasticity steps (batches of 128)",
       ylabel="test error",
       title=f"RHM v=n_c=8, m=4, L=3; P = 4 n* = {len(train_set)}, "
             f"width {WIDTH}")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "quickstart_learning_curves.png", dpi=120)

# %% [markdown]
# ## Synonymic sensitivity per layer
#
# $S_{k,l} = \langle \|h_k(x) - h_k(P_l x)\|^2 \rangle / \langle \|h_k(x) - h_k(x')\|^2 \rangle$:
# how much layer $k$ changes when the synonyms below level $l$ are re-drawn, relative to a
# change of input altogether. $S=1$: no invariance; $S \to 0$: the layer has learned which
# tuples are synonyms. A network that learned the hierarchy becomes invariant layer by layer
# (Cagnetta et al. 2024). `sensitivity_matrix` gives $S_{k,l}$ for every hidden layer $k$ and
# level $l$.

# %%
probe = test_set[:1000]
S = {name: sensitivity_matrix(net, rhm, probe) for name, net in nets.items()}
init = sensitivity_matrix(ps.hierarchy(rhm, width=WIDTH, seed=0), rhm, probe)
layers = np.arange(1, rhm.L + 1)
fig, axes = plt.subplots(1, rhm.L, figsize=(10, 3.2), sharey=True)
for level, ax in enumerate(axes):
    ax.plot(layers, init[:, level], "k:", marker="o", label="initial weights")
    for name in nets:
        ax.plot(layers, S[name][:, level], marker="o", label=name)
    ax.set(xticks=layers, xlabel="hidden layer k",
           title=f"synonyms re-drawn below level l={level}")
axes[0].set_ylabel("synonymic sensitivity $S_{k,l}$ (1)")
axes[-1].legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "quickstart_sensitivity.png", dpi=120)

# %% [markdown]
# ## What $P^*$ means
#
# The sample complexity $P^*$ is the smallest training-set size at which the test error falls
# below 10% of the chance error $1 - 1/n_c$, interpolated linearly in $\log P$ between grid
# points (`ps.sample_complexity`). For the RHM it grows like $n_c m^L$ for backprop (Cagnetta
# et al. 2024); the question of the paper is how it grows for local rules. Here: bp on a small
# grid of $P$, the same number of steps at every $P$, one seed.

# %%
multiples = [1, 2, 4]
errors = []
for k in multiples:
    tr, te = rhm.split(n_train=int(k * n_star), n_test=2000, seed=1)
    net = ps.hierarchy(rhm, width=WIDTH, seed=0)
    result = ps.train(net, ps.rules.get("bp"), tr, te,
                      ps.TrainOptions(epochs=STEPS * 128 // len(tr)), rhm=rhm)
    errors.append(result.final["test_error"])
pc = ps.sample_complexity(multiples, errors, n_classes=rhm.n_classes)
print(f"bp: P* = {pc.P_star:.2f} n*" if pc.crossed
      else "bp: not crossed on this grid", f"(threshold {pc.threshold:.3f})")

fig, ax = plt.subplots(figsize=(4.5, 3.4))
ax.plot(multiples, errors, marker="o", label="bp, 1 seed")
ax.axhline(pc.threshold, color="0.5", ls="--", lw=1, label="10% of chance")
if pc.crossed:
    ax.axvline(pc.P_star, color="C3", lw=1,
               label=f"$P^*$ = {pc.P_star:.2f} n*")
ax.set(xscale="log", xlabel="training-set size P / n* (n* = n_c m^L)",
       ylabel="test error", title="sample complexity of bp")
ax.set_xticks(multiples, [f"{m:g}" for m in multiples])
ax.minorticks_off()
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "quickstart_pstar.png", dpi=120)

# %% [markdown]
# With several seeds and rules this is a sweep: see the *parameter study* notebook and
# `plastisim pstar`, which adds bootstrap intervals over seeds.
#
# ## Full-size settings
#
# The comparison of `docs/results.md` uses width 256, $n_{\text{test}} = 10{,}000$, a budget of
# max(3000 SGD steps of batch 128, 100 epochs) per run for bp and the feedback rules (6000
# local steps for the self-supervised rules), the grid
# $P/n^* \in \{0.5, 1, 2, 4, 8, 16\}$ and three seeds: `analyses/masking.toml` and
# `analyses/sample_complexity.toml` with `plastisim sweep`. `make demo` runs this notebook's
# comparison (with VICReg) at width 64 from the command line.
