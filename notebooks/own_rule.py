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
# # Your own rule: sign-symmetric feedback in a few dozen lines
#
# A rate rule of plastisim is a thin object around pure functions (`plastisim/rules/base.py`):
# a frozen parameter dataclass `params`, and a method
# `step(net, weights, state, batch, draws, phase) -> StepResult` that reads nothing but its
# arguments — the network for its structure only, the weights as a dict
# `{projection: w}`, the rule's own tensors `state`, the batch `(x, y)` and the step's random
# numbers `draws` — and whose `updates[name]` is the update *direction* of every projection:
# the three-factor product modulator × post × pre, reduced over the batch. The training loop
# applies $\Delta w = \eta \cdot \text{update}$ through SGD with momentum and weight decay
# (`docs/concepts.md`). Because the step is pure, the same code trains one network, many
# networks at once (mapped over a member axis) and, on a GPU, compiled.
#
# Here we write **sign-symmetric feedback** (Liao, Leibo & Poggio 2016): the error travels
# down through the *signs* of the forward weights instead of the weights themselves,
#
# $$M_l = \operatorname{sign}(W_{l+1})^\top \left[f'(a_{l+1}) \odot M_{l+1}\right],
#   \qquad M_L = \operatorname{sign}(\beta)^\top e, \qquad
#   \Delta w_l = -\eta\, c_l\, \tfrac{1}{B}\textstyle\sum_{b,p} \left(M_l \odot f'(a_l)\right) \otimes u_{l-1},$$
#
# with $e = \operatorname{softmax}(z) - \operatorname{onehot}(y)$. With `feedback="weights"`
# the same code is backpropagation — which lets us check it against autograd with
# `plastisim.testing.assert_rule_matches_autograd`. Then we register it, train it, and compare
# it with bp in a small sweep.
#
# **Small settings**: width 32, $L = 3$, about 1,000 steps per run, one seed; the note at the end
# gives full-size settings.

# %%
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import plastisim as ps
from plastisim import sweep
from plastisim.network import layers, logits
from plastisim.rules import RuleInfo
from plastisim.rules.base import RuleObject, StepResult, cross_entropy_error
from plastisim.testing import assert_rule_matches_autograd

torch.set_num_threads(1)
# figures and files go to PLASTISIM_NOTEBOOK_OUT, or a new temporary folder
OUT = Path(os.environ.get("PLASTISIM_NOTEBOOK_OUT")
           or tempfile.mkdtemp(prefix="plastisim-"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The rule
#
# The parameters the training loop reads are `lr`, `lr_scale` (`"width"`: $\eta$ = lr ·
# width, the PRX mean-field scaling), `momentum` and `weight_decay`; `feedback` is our own.
# Every parameter needs a default: `plastisim.rules.get("signsym", lr=...)` and the
# `[rule]` table of a model file fill them by name (unknown names and wrong types are refused
# with a one-line error).
#
# The rule mixes in `RuleObject`, which gives the rest of the contract: `prepare(net)` sets
# `rule.state`, the rule's own tensors (none here: the feedback is read from the forward
# weights at each step), `draw` takes no random numbers, and the rule trains in one phase,
# `"joint"`. In `step`, `layers(net, weights, x)` is the forward pass, one `(u, a, h)` per
# projection: the receptive fields (pre-synaptic rates), the drive and the rate, the readout
# last (its drive holds the logits). The ReLU's derivative $f'(a)$ is 1 where the rate is
# positive: `h.sign()`. `loss` is the loss the update descends when the rule is a gradient —
# the cross-entropy, for the check below.

# %%
@dataclass(frozen=True)
class SignSymParams:
    lr: float = 0.1
    lr_scale: str = "width"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    # "sign": sign(W)^T (the rule) | "weights": W^T (backprop)
    feedback: str = "sign"


@dataclass
class SignSymRule(RuleObject):
    params: SignSymParams

    def step(self, net, weights, state, batch, draws, phase="joint"):
        fwd = layers(net, weights, batch.x)     # (u, a, h) per projection
        z = fwd[-1][1].reshape(batch.x.shape[0], -1)        # logits (B, n_c)
        # e = softmax(z) - onehot(y), (B, n_c)
        loss, e = cross_entropy_error(z, batch.y)
        syns = list(net.synapses.values())
        # f'(a) of every hidden layer (ReLU: 1 where the rate is positive)
        gates = {s.name: h.sign() for s, (_, _, h) in zip(syns, fwd[:-1])}
        # (B, n_c, 1): the readout's delta rule
        post = {"readout": e.unsqueeze(-1)}
        # top-down: the modulators
        for upper, lower in zip(syns[::-1], syns[-2::-1]):
            w = weights[upper.name]
            if self.params.feedback == "weights":
                back = w
            else:
                back = torch.sign(w)
            m = upper.transpose(post[upper.name], back)   # M_l, (B, C_l, P_l)
            post[lower.name] = gates[lower.name] * m      # M_l ⊙ f'(a_l)
        # post ⊗ pre, shaped like w
        updates = {s.name: s.outer(post[s.name], u).mul_(-s.scale)
                   for s, (u, _, _) in zip(syns, fwd)}
        return StepResult(loss=loss.detach(), updates=updates,
                          signals={"logits": z.detach()})

    def loss(self, net, weights, state, batch, draws, phase="joint"):
        """The cross-entropy: the step descends it with feedback="weights"."""
        return cross_entropy_error(logits(net, weights, batch.x), batch.y)[0]


# %% [markdown]
# ## Register it
#
# `RuleInfo` is the row of `plastisim rules`: what the rule modifies and its three factors.
# A name registers once per process (re-running this cell would be refused; restart the
# kernel after editing the rule).

# %%
if "signsym" not in ps.rules.names():
    ps.rules.register(
        RuleInfo(name="signsym", family="feedback", local=True,
                 modifies="w1..wL, readout",
                 pre="pre-synaptic rate u (receptive field)",
                 post="gate f'(a)",
                 modulator="sign(W)^T-propagated error, gated by f'(a_k>l)",
                 third_factor="per-neuron",
                 reference="Liao, Leibo & Poggio 2016"),
        SignSymParams, SignSymRule)
print(ps.rules.info("signsym"))
print(ps.rules.get("signsym", lr=0.2))

# %% [markdown]
# ## Check it against autograd
#
# `assert_rule_matches_autograd` runs one step of the prepared rule (`rule.prepare(net)`: its
# `state` for this network) and compares every update with $-\nabla$ of the rule's `loss`
# — the cross-entropy — computed by torch autograd (in float64). With `feedback="weights"`
# our code must be backpropagation to round-off. With `feedback="sign"` it must *not* be a
# gradient — the check fails, and the size of the difference says how far the rule is from
# the gradient at initialisation.

# %%
rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
batch = rhm.sample(64, seed=3)
x, y = ps.one_hot(batch.x, rhm.v, torch.float64), batch.y
net64 = ps.hierarchy(rhm, width=16, seed=0, dtype=torch.float64)

backprop = ps.rules.get("signsym", feedback="weights")
backprop.prepare(net64)
errors = assert_rule_matches_autograd(backprop, net64, x, y)
print("feedback='weights': relative error per projection",
      {k: f"{v:.1e}" for k, v in errors.items()})

signsym = ps.rules.get("signsym")
signsym.prepare(net64)
try:
    assert_rule_matches_autograd(signsym, net64, x, y)
except AssertionError as err:
    print("feedback='sign' is not the gradient, as expected:", err)

# %% [markdown]
# ## Train it
#
# A registered rule is used like any other: `ps.train` in Python (given lists of networks
# and rules, it trains them as one batched computation, each as it would alone:
# `docs/ensembles.md`), `name = "signsym"` in the `[rule]` table of a model file, or a rule
# spec in a sweep file (in this process: see below).
# Both rules at `lr=1.0`, the rate chosen for bp on the training loss at this setting
# (`docs/results.md` §3); training stops when the train loss falls below 0.01.

# %%
train_set, test_set = rhm.split(n_train=4 * rhm.n_star, n_test=2000, seed=1)
curves = {}
for spec in ("bp", "signsym"):
    net = ps.hierarchy(rhm, width=32, seed=0)
    # at most 64 epochs: 1,024 steps of 128
    result = ps.train(net, ps.rules.get(spec, lr=1.0), train_set, test_set,
                      ps.TrainOptions(epochs=64), rhm=rhm)
    curves[spec] = result.history
    print(f"{spec:8s} {result.status:10s} "
          f"test error {result.final['test_error']:.3f}")

fig, ax = plt.subplots(figsize=(5, 3.4))
for spec, h in curves.items():
    ax.plot(h["step"], h["test_error"], marker=".", label=spec)
ax.axhline(1 - 1 / rhm.n_classes, color="k", ls=":", lw=1, label="chance")
ax.set(xscale="log", xlabel="plasticity steps (batches of 128)",
       ylabel="test error", title="P = 4 n*, width 32")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "own_rule_learning_curves.png", dpi=120)

# %% [markdown]
# ## Compare with bp in a small sweep
#
# A sweep file names a base model and the axes; `rules = [...]` is an axis of rule specs.
# Sweeps normally run in worker processes, which import plastisim afresh and do not know a
# rule registered in this notebook: `workers=0` runs the points in this process (for a
# rule that every process should know, put it in a module that registers it on import).

# %%
model = OUT / "own_rule_model.toml"
model.write_text("""
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
n_test = 2000
batch_size = 128
device = "cpu"
""")
sweep_file = OUT / "own_rule_sweep.toml"
sweep_file.write_text(f"""
title = "sign-symmetric feedback vs backprop"
base = "{model.name}"
rules = ["bp:lr=1.0", "signsym:lr=1.0"]
step_budget = 1000
min_epochs = 20
[axes]
train.n_train_multiple = [1, 2, 4, 8]
seed = [0]
""")
plan = sweep.load(sweep_file)
print(len(plan.points), "runs")
report = sweep.run_sweep(plan, OUT / "own_rule_sweep", workers=0,
                         overwrite=True)
ds = report.dataset
print(ds.test_error.mean("seed").to_pandas())

# %%
fig, ax = plt.subplots(figsize=(5, 3.4))
for rule in ds.rule.values:
    err = ds.test_error.sel(rule=rule).mean("seed")
    ax.plot(ds.n_train_multiple, err, marker="o", label=str(rule))
ax.axhline(0.1 * (1 - 1 / rhm.n_classes), color="0.5", ls="--", lw=1,
           label="10% of chance")
ax.set(xscale="log", xlabel="training-set size P / n* (n* = n_c m^L)",
       ylabel="test error",
       title="at most 1000 steps per run, width 32, 1 seed")
multiples = ds.n_train_multiple.values
ax.set_xticks(multiples, [f"{m:g}" for m in multiples])
ax.minorticks_off()
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "own_rule_sweep.png", dpi=120)

# %% [markdown]
# ## Full-size settings
#
# For a comparison worth reporting, use the settings of `analyses/masking.toml`: width 256,
# $n_{\text{test}} = 10{,}000$, `step_budget = 3000`, `min_epochs = 100`, the grid
# $P/n^* \in \{0.5, \dots, 16\}$, three seeds, and a fair learning rate per rule
# (`rule.lr` as an axis, chosen on the training loss by `plastisim pstar`:
# `docs/studies.md`). To run it with worker processes or on a Dask cluster, move the rule into
# a module that registers it on import and import that module in the workers.
