"""Public test helpers: check a rule's explicit three-factor update against autograd; the
model file of a tiny run for command-line tests.

    from plastisim.testing import assert_rule_matches_autograd, tiny_run_toml
    rule = rules.get("clapp", pairs="siblings"); rule.prepare(net)
    assert_rule_matches_autograd(rule, net, x, y)
    Path("T.toml").write_text(tiny_run_toml(epochs=2, batch_size=16))

The reference is −∇ of the rule's ``loss`` by torch autograd: for a layerwise rule Σ_l ℓ_l
with every layer's input detached (each layer reaches only its own weights and predictor), for
a feedback-family rule derived from a loss (``bp``) the cross-entropy.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .network import Network
from .rules.base import Batch, DrawContext, RuleState, trained_names


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


def autograd_directions(rule, net: Network, state: RuleState, batch: Batch,
                        draws: dict[str, Tensor], phase: str) -> dict[str, Tensor]:
    """−∇ of ``rule.loss`` (the cross-entropy for ``bp``, the sum of the layer-local losses for
    a layerwise rule) with respect to every tensor the phase trains (zeros where the loss does
    not reach it: a frozen layer)."""
    weights = {k: w.detach().clone().requires_grad_(True) for k, w in net.weights().items()}
    learned = {k: v.detach().clone().requires_grad_(True) for k, v in state.learned.items()}
    loss = rule.loss(net, weights, state._replace(learned=learned), batch, draws, phase)
    tensors = {**weights, **learned}
    names = trained_names(net, state, phase)
    grads = torch.autograd.grad(loss, [tensors[n] for n in names], allow_unused=True) \
        if loss.requires_grad else [None] * len(names)
    return {n: torch.zeros_like(tensors[n]) if g is None else -g for n, g in zip(names, grads)}


def assert_rule_matches_autograd(rule, net: Network, x: Tensor, y: Tensor,
                                 ctx: DrawContext | None = None, phase: str | None = None,
                                 rtol: float = 1e-5) -> dict:
    """One step of the prepared ``rule`` (its ``state``) on (x, y) in ``phase`` (default: its
    first); assert every update equals the autograd direction of ``rule.loss`` with the same
    draws and state. Returns {name: relative error}. Use float64."""
    phase = phase or rule.phases[0]
    ctx = ctx or DrawContext(x.shape[0], x.device, x.dtype)
    batch, draws = Batch(x, y), rule.draw(ctx)
    step = rule.step(net, net.weights(), rule.state, batch, draws, phase)
    reference = autograd_directions(rule, net, rule.state, batch, draws, phase)
    errors = {}
    for name, expected in reference.items():
        errors[name] = relative_error(step.updates[name], expected)
        assert errors[name] < rtol, (
            f"update of {name} differs from −∇ by {errors[name]:.3g} (rtol {rtol})")
    return errors
