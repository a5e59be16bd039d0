"""The learning loop: BP learns a small RHM; divergence stops cleanly; seeds reproduce."""
import math

import pytest
import torch

import plastisim as ps
from plastisim import rules
from plastisim.network import hierarchy
from plastisim.train import TrainOptions, evaluation_epochs, train


def test_bp_learns_a_small_rhm(device):
    """v = n_c = m = 8, L = 2 (n_c m^L = 512, P_max = 4096), P = 4 n_c m^L: < 10% of chance.
    Width 64 (half the time of 128, the same test error 0.007; train loss 0.016)."""
    rhm = ps.RHM(v=8, n_classes=8, m=8, s=2, L=2, seed=0)
    train_set, test_set = rhm.split(4 * rhm.n_star, rhm.P_max - 4 * rhm.n_star, seed=1)
    net = hierarchy(rhm, 64, seed=0, device=device)
    result = train(net, rules.get("bp"), train_set, test_set, TrainOptions(epochs=300))
    assert result.final["train_loss"] < 0.02
    assert result.final["test_error"] < 0.1 * (1 - 1 / rhm.n_classes)
    assert result.history["test_error"][0] > 0.5      # it was learned, not given


def test_divergence_stops_at_the_first_non_finite_value():
    rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0)
    train_set, test_set = rhm.split(256, 128, seed=1)
    net = hierarchy(rhm, 32, seed=0)
    result = train(net, rules.get("bp", lr=1e6), train_set, test_set, TrainOptions(epochs=50))
    assert result.status == "diverged"
    assert f"diverged at step {result.steps} " in result.message
    assert result.history["step"][-1] == result.steps       # evaluated up to that point
    assert result.steps < 50 * 2


def test_same_seed_same_result():
    rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0)
    train_set, test_set = rhm.split(256, 256, seed=1)
    runs = []
    for _ in range(2):
        net = hierarchy(rhm, 16, seed=3)
        train(net, rules.get("dfa", feedback_seed=2), train_set, test_set,
              TrainOptions(epochs=3, seed=5))
        runs.append(net.weights())
    for name in runs[0]:
        assert torch.equal(runs[0][name], runs[1][name])


def test_evaluation_epochs_are_log_spaced_and_bounded():
    points = sorted(evaluation_epochs(250, 30))
    assert points[0] == 1 and points[-1] == 250 and 20 <= len(points) <= 31
    gaps = [b / a for a, b in zip(points[5:], points[6:])]
    assert max(gaps) < 1.5 and min(gaps) > 1.0
    assert evaluation_epochs(1, 30) == {1}


def test_the_train_bench_gives_local_rules_the_training_set(monkeypatch):
    """plastisim.bench.train draws a rule's random numbers with the context plastisim.train
    gives: the training set as ``pool`` and the batch's ``rows`` in it (layerwise rules draw
    partners there)."""
    from plastisim.bench import train as bench

    contexts, get = [], rules.get

    def spying_get(name, **params):
        rule = get(name, **params)
        draw = rule.draw

        def recorded(ctx, *args, **kwargs):
            contexts.append(ctx)
            return draw(ctx, *args, **kwargs)
        if rule.phases[0] == "local":
            rule.draw = recorded
        return rule

    monkeypatch.setattr(bench.rules, "get", spying_get)
    out = bench.bench_train(widths=(8,), rule_names=("bp", "vicreg"), repeats=1, inner=1)
    assert [row["rule"] for row in out["rows"] if "rule" in row] == ["bp", "vicreg"]
    rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
    assert contexts and all(c.pool is contexts[0].pool for c in contexts)
    ctx = contexts[0]
    assert len(ctx.pool) == 4 * rhm.n_star and ctx.rows.tolist() == list(range(128))
    assert ctx.batch_size == 128 and ctx.rhm is not None
