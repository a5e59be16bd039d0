"""CLAPP's negatives (several per context, debiased false negatives) and the greedy
layer-by-layer schedule of the layerwise rules: each update equals −∇ of its loss, the loss is
the stated formula, and the schedule trains one layer per segment of the local phase."""
import pytest
import torch

import plastisim as ps
from plastisim import rules
from plastisim.errors import ConfigError
from plastisim.network import hierarchy, layers
from plastisim.options import TrainOptions
from plastisim.rules.base import Batch, DrawContext
from plastisim.rules.contrastive import clapp_loss
from plastisim.testing import assert_rule_matches_autograd

RHM = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)


def _setup(n=24, seed=0, progress=None):
    net = hierarchy(RHM, 12, seed=seed, dtype=torch.float64)
    batch = RHM.sample(n, seed=seed + 1)
    x = ps.one_hot(batch.x, RHM.v, torch.float64)
    ctx = DrawContext(n, x.device, x.dtype, rows=torch.arange(n), pool=batch, rhm=RHM,
                      progress=progress)
    return net, x, batch.y, ctx


@pytest.mark.parametrize("name", ["clapp", "clapp_s"])
@pytest.mark.parametrize("options", [{"negatives": 3}, {"false_negatives": 0.125},
                                     {"negatives": 2, "false_negatives": 0.3}],
                         ids=["K3", "debiased", "K2-debiased"])
@pytest.mark.parametrize("top", ["halves", "frozen"])
def test_negatives_and_false_negatives_equal_autograd(name, options, top):
    net, x, y, ctx = _setup()
    rule = rules.get(name, pairs="siblings", top_layer=top, pred_init_std=0.3, **options)
    rule.prepare(net)
    errors = assert_rule_matches_autograd(rule, net, x, y, ctx, rtol=1e-9)
    assert {"w1", "w2", "pred1", "pred2"} <= set(errors)


def test_the_loss_is_the_debiased_mean_over_the_streams_before():
    """ℓ = mean_{b,p} [ max(0, 1 − u⁺) + ((1/K) Σ_k max(0, 1 + u⁻_k) − τ max(0, 1 + u⁺)) / (1 − τ) ]
    with u⁻_k the score of stream b − k's target (CLAPP-s: both terms every step)."""
    gen = torch.Generator().manual_seed(0)
    c, t = torch.randn(2, 6, 5, 3, generator=gen, dtype=torch.float64)
    W = torch.randn(5, 5, generator=gen, dtype=torch.float64) * 3
    score = lambda target: torch.einsum("bip,ij,bjp->bp", target, W, c) / 5   # noqa: E731
    u_pos = score(t)
    negs = [torch.relu(1 + score(t[[(b - k) % 6 for b in range(6)]])) for k in (1, 2)]
    tau = 0.25
    expected = (torch.relu(1 - u_pos)
                + ((negs[0] + negs[1]) / 2 - tau * torch.relu(1 + u_pos)) / (1 - tau)).mean()
    assert torch.allclose(clapp_loss(c, t, W, None, 2, tau), expected, rtol=1e-12)
    # the defaults are CLAPP's loss: one negative, no correction
    assert torch.allclose(clapp_loss(c, t, W, None),
                          (torch.relu(1 - u_pos) + negs[0]).mean(), rtol=1e-12)


def test_a_false_negative_prior_pushes_the_positive_pair_of_a_negative_draw():
    """With τ > 0 a stream that drew a negative pair also raises its positive score: its
    modulator on the positive target is +τ/(1 − τ) where 1 + u⁺ > 0 (0 without τ)."""
    net, x, y, ctx = _setup()
    plain = rules.get("clapp", pairs="siblings", pred_init_std=0.3)
    debiased = rules.get("clapp", pairs="siblings", pred_init_std=0.3, false_negatives=0.2)
    for rule in (plain, debiased):
        rule.prepare(net)
    draws = plain.draw(ctx)
    c, t = layers(net, net.weights(), x, 1)[0][2][..., 0::2], \
        layers(net, net.weights(), x, 1)[0][2][..., 1::2]
    out = [rule.layer_signals(0, c, t, rule.state, draws) for rule in (plain, debiased)]
    gamma_plain, gamma_debiased = out[0][5]["gamma"], out[1][5]["gamma"]
    negative = draws["sign1"] < 0
    assert torch.equal(gamma_plain[~negative], gamma_debiased[~negative])   # positive draws
    W = plain.state.learned["pred1"]
    u_pos = torch.einsum("bip,ij,bjp->bp", t, W, c) / W.shape[0]
    u_neg = torch.einsum("bip,ij,bjp->bp", t.roll(1, 0), W, c) / W.shape[0]
    expected = (-(u_neg > -1).double() + 0.2 * (u_pos > -1).double()) / 0.8
    assert torch.allclose(gamma_debiased[negative], expected[negative])


@pytest.mark.parametrize("top,trained", [("halves", ["w1", "w2", "w3"]),
                                         ("frozen", ["w1", "w2"])])
def test_greedy_schedule_trains_one_layer_per_segment_and_equals_autograd(top, trained):
    net, x, y, _ = _setup()
    rule = rules.get("clapp", pairs="siblings", top_layer=top, pred_init_std=0.3,
                     schedule="greedy")
    rule.prepare(net)
    n = len(trained)
    for j, name in enumerate(trained):
        for progress in (j / n, (j + 0.99) / n):
            ctx = _setup(progress=progress)[3]
            errors = assert_rule_matches_autograd(rule, net, x, y, ctx, rtol=1e-9)
            assert name in errors
            step = rule.step(net, net.weights(), rule.state, Batch(x, y), rule.draw(ctx))
            moved = {k for k in ("w1", "w2", "w3") if step.updates[k].abs().sum() > 0}
            assert moved == {name}, (progress, moved)
            assert step.updates[f"pred{j + 1}"].abs().sum() > 0
            assert all(step.updates[f"pred{i + 1}"].abs().sum() == 0
                       for i in range(n) if i != j)


def test_the_local_phase_tells_the_rule_how_far_it_has_gone(monkeypatch):
    """The training loop passes (epoch − 1) / epochs of the phase to every draw: a greedy run
    of 4 epochs trains layer 1 in epochs 1–2 and layer 2 in epochs 3–4."""
    net = hierarchy(RHM, 8, depth=2, readout="dense", seed=0)
    data = RHM.sample(64, seed=1)
    test = RHM.sample(32, seed=2)
    rule = rules.get("clapp", pairs="siblings", schedule="greedy", readout_epochs=1)
    seen, draw = [], type(rule).draw

    def spy(self, ctx, phase="local"):
        seen.append(ctx.progress)
        return draw(self, ctx, phase)

    monkeypatch.setattr(type(rule), "draw", spy)
    before = {k: w.clone() for k, w in net.weights().items()}
    ps.train(net, rule, data, test, TrainOptions(epochs=4, batch_size=32, stop_loss=0))
    assert sorted(set(seen)) == [0.0, 0.25, 0.5, 0.75]
    assert all(not net.weights()[k].equal(before[k]) for k in ("w1", "w2"))


def test_schedule_and_negatives_are_checked():
    net = _setup()[0]
    with pytest.raises(ConfigError, match="rule.schedule"):
        rules.get("clapp", schedule="sometimes")
    with pytest.raises(ConfigError, match="rule.false_negatives"):
        rules.get("clapp", false_negatives=1.0)
    with pytest.raises(ConfigError, match="rule.negatives"):
        rules.get("clapp", negatives=0)
    with pytest.raises(ConfigError, match="rule.negatives"):
        rules.get("infonce", negatives=4).prepare(net)
    with pytest.raises(ConfigError, match="rule.schedule"):
        rules.get("stopgrad", pairs="siblings", schedule="greedy",
                  update_norm="layer").prepare(net)
    greedy = rules.get("clapp", pairs="siblings", schedule="greedy")
    greedy.prepare(net)
    with pytest.raises(ConfigError, match="progress"):
        greedy.draw(DrawContext(4, torch.device("cpu"), torch.float64))


def test_a_greedy_step_compiles_without_graph_breaks():
    """The schedule is a draw (a 0/1 per layer), not a branch: one graph for every segment."""
    net, x, y, ctx = _setup(progress=0.7)
    rule = rules.get("clapp", pairs="siblings", schedule="greedy", negatives=2)
    rule.prepare(net)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(
        lambda w, s, b, d: rule.step(net, w, s, b, d, "local"))(
            net.weights(), rule.state, Batch(x, y), rule.draw(ctx))
    assert explained.graph_break_count == 0, explained.break_reasons
    torch._dynamo.reset()
