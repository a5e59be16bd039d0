"""Public test helpers: check a rule's explicit three-factor update against autograd; the
model file of a tiny run for command-line tests.

    from plastisim.testing import assert_rule_matches_autograd, tiny_run_toml
    assert_rule_matches_autograd(rules.get("clapp"), net, x, y, ctx)
    Path("T.toml").write_text(tiny_run_toml(epochs=2, batch_size=16))

For a layerwise rule, the reference is −∇ of Σ_l ℓ_l computed by torch autograd with every
layer's input detached (each layer reaches only its own weights and predictor); for a
feedback-family rule derived from a loss (``bp``) it is −∇ of the cross-entropy.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor

from .network import Network
from .rules.base import StepContext


def tiny_run_toml(**train) -> str:
    """A model file of a run that trains in well under a second: bp, v = n_c = 8, m = 4, L = 2,
    width 8, 64 training and 64 test inputs, on the CPU; ``train`` adds or replaces
    ``[train]`` keys (TOML values written with ``repr``, strings quoted)."""
    keys = {"n_train": 64, "n_test": 64, "epochs": 1, **train, "device": "cpu"}
    lines = [f"{k} = {_toml(v)}" for k, v in keys.items()]
    return ("[rhm]\nv = 8\nn_classes = 8\nm = 4\ns = 2\nL = 2\nseed = 0\n[network]\nwidth = 8\n"
            "[rule]\nname = \"bp\"\n[train]\n" + "\n".join(lines) + "\n")


def _toml(value) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def relative_error(a: Tensor, b: Tensor) -> float:
    """‖a − b‖ / max(‖b‖, tiny)."""
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def autograd_directions(rule, net: Network, x: Tensor, y: Tensor,
                        ctx: StepContext | None = None) -> dict[str, Tensor]:
    """−∇ of the rule's layer-local losses (or of the cross-entropy for ``bp``-like rules)."""
    weights = {k: w.detach().clone().requires_grad_(True) for k, w in net.weights().items()}
    if not hasattr(rule, "layer_loss"):          # a rule of the whole network (backprop)
        h = x
        for syn in net.synapses.values():
            h = syn.drive(syn.unfold(h), weights[syn.name])
            h = h if syn.name == "readout" else torch.relu(h)
        F.cross_entropy(h.reshape(x.shape[0], -1), y).backward()
        return {k: -w.grad for k, w in weights.items()}
    extras = {k: v.detach().clone().requires_grad_(True)
              for k, v in rule.extra_parameters().items()}
    rule.extra_parameters().update(extras)
    total = torch.zeros((), dtype=x.dtype, device=x.device)
    for l, pair in enumerate(rule.pairs(net, x, ctx, weights=weights)):
        if pair is not None:                     # None: a frozen layer
            total = total + rule.layer_loss(l, *pair.rates())
    if total.requires_grad:                      # else every layer is frozen
        total.backward()
    tensors = {**weights, **extras}
    return {k: -t.grad if t.grad is not None else torch.zeros_like(t)
            for k, t in tensors.items() if k != "readout"}


def assert_rule_matches_autograd(rule, net: Network, x: Tensor, y: Tensor,
                                 ctx: StepContext | None = None, rtol: float = 1e-5) -> dict:
    """Run one step of ``rule`` and assert every update equals the autograd direction.

    The rule must have been ``prepare``d. Returns {name: relative error}. Use float64.
    """
    replay = copy.deepcopy(rule)      # same random draws and state for the reference
    step = rule.step(net, x, y, ctx) if ctx is not None else rule.step(net, x, y)
    reference = autograd_directions(replay, net, x, y, ctx)
    errors = {}
    for name, expected in reference.items():
        errors[name] = relative_error(step.updates[name], expected)
        assert errors[name] < rtol, (
            f"update of {name} differs from −∇ by {errors[name]:.3g} (rtol {rtol})")
    return errors
