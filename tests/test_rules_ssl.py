"""Layerwise self-supervised rules: explicit three-factor updates equal autograd (float64)."""
import pytest
import torch

import plastisim as ps
from plastisim import rules
from plastisim.network import hierarchy
from plastisim.rules.base import StepContext
from plastisim.testing import assert_rule_matches_autograd

RHM = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
SSL = ["clapp", "clapp_s", "infonce", "lpl", "vicreg", "supcon"]


def _setup(shared=True, n=24, seed=0, device="cpu", width=12):
    net = hierarchy(RHM, width, shared=shared, seed=seed, dtype=torch.float64, device=device)
    batch = RHM.sample(n, seed=seed + 1)
    x = ps.one_hot(batch.x, RHM.v, torch.float64).to(device)
    return net, x, batch.y.to(device), StepContext(rhm=RHM, batch=batch)


def _warm(rule, net, x, y, ctx, steps=2):
    """A few real steps so that predictors and running statistics are not at their init."""
    for _ in range(steps):
        step = rule.step(net, x, y, ctx)
        for name, dw in step.updates.items():
            target = net.synapses[name].w if name in net.synapses else rule.extra_parameters()[name]
            target += 0.5 * dw


@pytest.mark.parametrize("name", SSL)
@pytest.mark.parametrize("pairs", ["views", "siblings"])
@pytest.mark.parametrize("shared", [True, False], ids=["conv", "local"])
def test_update_equals_minus_gradient_of_layer_loss(name, pairs, shared, device):
    if name == "supcon" and pairs == "siblings":
        pytest.skip("supcon is defined on class views only")
    net, x, y, ctx = _setup(shared, device=device)
    rule = rules.get(name, pairs=pairs, pred_init_std=0.3) if name in (
        "clapp", "clapp_s", "infonce", "supcon") else rules.get(name, pairs=pairs)
    rule.prepare(net)
    _warm(rule, net, x, y, ctx)
    errors = assert_rule_matches_autograd(rule, net, x, y, ctx, rtol=1e-5)
    assert {"w1", "w2"} <= set(errors)
    if pairs == "views":
        assert "w3" in errors


def test_dense_connectivity_updates_equal_autograd():
    """A Dense projection (one position) with views, for every SSL rule."""
    from plastisim.network import Network
    from plastisim.neurons import NeuronGroup
    from plastisim.synapses import Dense, MeanPool, Synapses
    gen = torch.Generator().manual_seed(0)
    inp = NeuronGroup("input", RHM.v, RHM.input_size, "linear")
    hid = NeuronGroup("h1", 10, 1)
    out = NeuronGroup("output", RHM.n_classes, 1, "linear")
    net = Network([inp, hid, out], [
        Synapses("w1", inp, hid, Dense(), generator=gen, dtype=torch.float64),
        Synapses("readout", hid, out, MeanPool(), scale="fan_in", generator=gen,
                 dtype=torch.float64)])
    batch = RHM.sample(20, seed=5)
    x = ps.one_hot(batch.x, RHM.v, torch.float64)
    ctx = StepContext(rhm=RHM, batch=batch)
    for name in ["clapp", "clapp_s", "infonce", "lpl", "vicreg"]:
        kwargs = {"pred_init_std": 0.3} if "clapp" in name or name == "infonce" else {}
        rule = rules.get(name, **kwargs)
        rule.prepare(net)
        _warm(rule, net, x, batch.y, ctx)
        assert_rule_matches_autograd(rule, net, x, batch.y, ctx, rtol=1e-5)


def test_bp_matches_autograd_through_the_public_helper():
    net, x, y, _ = _setup()
    rule = rules.get("bp")
    rule.prepare(net)
    errors = assert_rule_matches_autograd(rule, net, x, y)
    assert set(errors) == {"w1", "w2", "w3", "readout"}


def test_views_at_level_zero_are_refused_for_self_supervised_rules():
    net, x, y, ctx = _setup()
    rule = rules.get("infonce", view_level="0")
    rule.prepare(net)
    with pytest.raises(ValueError, match="level 0 pairs inputs by their label: use the 'supcon'"):
        rule.step(net, x, y, ctx)
    assert rules.info("supcon").family == "supervised-baseline"


def test_helper_detects_a_wrong_rule():
    net, x, y, ctx = _setup()
    rule = rules.get("lpl")
    rule.prepare(net)
    original = rule.layer_signals

    def wrong(l, z, z2):
        loss, G, G2, extra = original(l, z, z2)
        return loss, 1.01 * G, G2, extra
    rule.layer_signals = wrong
    with pytest.raises(AssertionError, match="differs from"):
        assert_rule_matches_autograd(rule, net, x, y, ctx)


def test_clapp_as_a_time_stream_equals_the_batched_form():
    """Context at step t, target at t+1: the modulator γ arrives at t+1 and meets the
    retrodiction through an eligibility trace (pre-synaptic rate × post gate of step t)."""
    from plastisim.traces import Trace
    net, x, y, ctx = _setup(n=16, seed=3)
    rule = rules.get("clapp", pred_init_std=0.5, seed=7)
    rule.prepare(net)
    syn, W = net.synapses["w1"], rule.predictors["pred1"]
    C, P = W.shape[0], syn.post.positions
    replay = __import__("copy").deepcopy(rule)
    batched = rule.step(net, x, y, ctx)                       # all layers; we compare layer 1
    # the same views and pair signs, drawn in the same order as the batched step
    level = replay.levels(RHM.L, 3)[0]
    seed = int(torch.randint(2**62, (1,), generator=replay.generator))
    x2 = ps.one_hot(RHM.resample(ctx.batch, level, seed).x, RHM.v, torch.float64)
    sign = replay._pair_signs(x.shape[0], x.device)
    x_target = torch.where((sign > 0)[:, None, None], x2, x2.roll(1, 0))
    # step t: context; dendrite holds the prediction, the eligibility trace f'(a) ⊗ u
    eligibility = Trace(tau=float("inf"), units="steps")
    u_c = syn.unfold(x)
    c = syn.post.integrate(syn.drive(u_c))
    syn.post.dendrite = torch.einsum("ij,bjp->bip", W, c) / C               # (B, C, P)
    eligibility.step(torch.einsum("bip,bpk->bipk", syn.post.gate(), u_c))   # (B, C, P, K)
    context_rate = Trace(tau=float("inf"), units="steps")
    context_rate.step(c)
    # step t+1: target; the global modulator γ is broadcast to every synapse of the stream
    u_t = syn.unfold(x_target)
    t = syn.post.integrate(syn.drive(u_t))
    score = (t * syn.post.dendrite).sum(1)                                  # (B, P)
    gamma = torch.where(sign[:, None] > 0, (score < 1).double(), -(score > -1).double())
    retro = torch.einsum("ij,bip->bjp", W, t) / C
    e_now = eligibility.step(torch.zeros_like(eligibility.value))           # decay (none)
    dw = (torch.einsum("bp,bip,bpk->ik", gamma, syn.post.dendrite * syn.post.gate(), u_t)
          + torch.einsum("bp,bjp,bjpk->jk", gamma, retro, e_now))
    dw = syn.scale * dw / (x.shape[0] * P)
    dW = torch.einsum("bp,bip,bjp->ij", gamma, t, context_rate.value) / (C * x.shape[0] * P)
    assert torch.allclose(dw, batched.updates["w1"], rtol=1e-10, atol=1e-14)
    assert torch.allclose(dW, batched.updates["pred1"], rtol=1e-10, atol=1e-14)


def test_views_from_the_training_set_share_latents_and_match_autograd():
    net, x, y, ctx = _setup(n=24)
    pool, _ = RHM.split(2048, 10, seed=1)
    rows = torch.arange(24)
    ctx = StepContext(rhm=RHM, batch=pool[rows], pool=pool, rows=rows)
    rule = rules.get("vicreg", views_from="train", view_level="matched")
    rule.prepare(net)
    for level in (1, 2):
        partner = rule._view(ctx, level)
        assert torch.equal(partner.latents[level], pool[rows].latents[level])
        assert set(RHM.index(partner)) <= set(RHM.index(pool))       # no new inputs
    x = ps.one_hot(pool[rows].x, RHM.v, torch.float64)
    assert_rule_matches_autograd(rule, net, x, pool[rows].y, ctx)


@pytest.mark.parametrize("n", [8, 40], ids=["gram-B<C", "covariance-B>=C"])
@pytest.mark.parametrize("name,params", [("vicreg", {"lambda_cov": 5.0}),
                                         ("lpl", {"lambda_decorr": 50.0})])
def test_covariance_terms_by_either_route_equal_autograd(name, params, n):
    """Width 24: a batch of 8 takes the Gram-matrix route, 40 the covariance route."""
    net, x, y, ctx = _setup(n=n, seed=3, width=24)
    rule = rules.get(name, **params)
    rule.prepare(net)
    _warm(rule, net, x, y, ctx)
    assert_rule_matches_autograd(rule, net, x, y, ctx, rtol=1e-5)


def test_readout_step_on_cached_fields_equals_a_forward_pass():
    """The readout phase reuses the frozen layers' output computed once (metrics.readout_fields)."""
    from plastisim.rules.layerwise import readout_step
    from plastisim.metrics import readout_fields
    net, x, y, _ = _setup()
    direct = readout_step(net, x, y)
    cached = readout_step(net, x, y, readout_fields(net, x, batch_size=7))
    torch.testing.assert_close(cached.updates["readout"], direct.updates["readout"],
                               rtol=1e-12, atol=0)
    torch.testing.assert_close(cached.loss, direct.loss, rtol=1e-12, atol=0)
