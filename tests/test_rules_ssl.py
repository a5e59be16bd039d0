"""Layerwise self-supervised rules: explicit three-factor updates equal autograd (float64)."""
import copy

import pytest
import torch

import plastisim as ps
from plastisim import rules
from plastisim.errors import ConfigError
from plastisim.network import hierarchy, layers
from plastisim.rules.base import Batch, DrawContext, RuleState
from plastisim.testing import assert_rule_matches_autograd

RHM = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
SSL = ["clapp", "clapp_s", "infonce", "lpl", "vicreg", "supcon", "stopgrad", "inputpred"]
PREDICTORS = {"lpl": ["identity", "linear"], "vicreg": ["identity", "linear"],
              "stopgrad": ["directpred", "delta"]}
CONTRASTIVE = ("clapp", "clapp_s", "infonce", "supcon")
PAIRINGS = {"views": {"pairs": "views"}, "siblings": {"pairs": "siblings"},
            "cpc1": {"pairs": "cpc", "cpc_offset": 1}, "cpc2": {"pairs": "cpc", "cpc_offset": 2}}
#: layers of the 3-layer network (positions 4, 2, 1) with too few positions for the pairing
TOO_FEW = {"views": set(), "siblings": {"w3"}, "cpc1": {"w3"}, "cpc2": {"w2", "w3"}}


def _cases():
    """(rule, pairing, top_layer, predictor): top_layer only for the grammar-free pairings,
    predictor only for the non-contrastive rules, supcon on class views only."""
    for name in SSL:
        for pairing in (["views"] if name == "supcon" else PAIRINGS):
            for top in ([None] if pairing == "views" else ["halves", "frozen"]):
                for predictor in PREDICTORS.get(name, [None]):
                    yield pytest.param(name, pairing, top, predictor,
                                       id="-".join(str(i) for i in (name, pairing, top,
                                                                    predictor) if i))


def _setup(shared=True, n=24, seed=0, device="cpu", width=12):
    net = hierarchy(RHM, width, shared=shared, seed=seed, dtype=torch.float64, device=device)
    batch = RHM.sample(n, seed=seed + 1)
    x = ps.one_hot(batch.x, RHM.v, torch.float64).to(device)
    return net, x, batch.y.to(device), _ctx(batch, device)


def _ctx(batch, device="cpu", rows=None):
    """The draw context of a batch that is the whole training set (or its ``rows``)."""
    rows = torch.arange(len(batch)) if rows is None else rows
    return DrawContext(len(rows), torch.device(device), torch.float64, rows=rows, pool=batch,
                       rhm=RHM)


def _step(rule, net, x, y, ctx, phase="local"):
    """One step of the prepared rule on the network's weights, drawing from its generator."""
    return rule.step(net, net.weights(), rule.state, Batch(x, y), rule.draw(ctx), phase)


def _rule(name, pairing="views", top=None, predictor=None, **params):
    params = {**PAIRINGS[pairing], **params}
    if top is not None:
        params["top_layer"] = top
    if predictor is not None:
        params["predictor"] = predictor
    if name in CONTRASTIVE:
        params.setdefault("pred_init_std", 0.3)
    return rules.get(name, **params)


def _warm(rule, net, x, y, ctx, steps=2):
    """A few real steps so that predictors and running statistics are not at their init."""
    for _ in range(steps):
        step = _step(rule, net, x, y, ctx)
        learned = dict(rule.state.learned)
        for name, dw in step.updates.items():
            if name in net.synapses:
                net.synapses[name].w += 0.5 * dw
            else:
                learned[name] = learned[name] + 0.5 * dw
        rule.state = rule.state._replace(learned=learned, running=step.running)


@pytest.mark.parametrize("name,pairing,top,predictor", list(_cases()))
@pytest.mark.parametrize("shared", [True, False], ids=["conv", "local"])
def test_update_equals_minus_gradient_of_layer_loss(name, pairing, top, predictor, shared,
                                                    device):
    net, x, y, ctx = _setup(shared, device=device)
    rule = _rule(name, pairing, top, predictor)
    rule.prepare(net)
    _warm(rule, net, x, y, ctx)
    step = _step(copy.deepcopy(rule), net, x, y, ctx)     # the same draws as the check below
    errors = assert_rule_matches_autograd(rule, net, x, y, ctx, rtol=1e-5)
    assert {"w1", "w2", "w3"} <= set(errors)
    # trained layers move, frozen ones (top_layer = "frozen" where positions are too few)
    # do not move at all
    frozen = TOO_FEW[pairing] if top == "frozen" else set()
    for l, name_w in enumerate(["w1", "w2", "w3"], start=1):
        norm = float(step.updates[name_w].norm())
        assert (norm == 0) if name_w in frozen else (norm > 0), (name_w, norm)
        if f"pred{l}" in step.updates:
            norm = float(step.updates[f"pred{l}"].norm())
            assert (norm == 0) if name_w in frozen else (norm > 0), (f"pred{l}", norm)
    has_predictors = name in CONTRASTIVE + ("inputpred",) or predictor in ("linear", "delta")
    assert ({"pred1", "pred2", "pred3"} <= set(step.updates)) == has_predictors
    assert "readout" not in step.updates                  # the local phase leaves it alone


def _one_layer_net(connectivity, positions=RHM.input_size, channels=10):
    """input (v, positions) -> h1 (channels, 1 position) -> readout, in float64."""
    from plastisim.network import Network
    from plastisim.neurons import NeuronGroup
    from plastisim.synapses import MeanPool, Synapses
    gen = torch.Generator().manual_seed(0)
    inp = NeuronGroup("input", RHM.v, positions, "linear")
    hid = NeuronGroup("h1", channels, 1)
    out = NeuronGroup("output", RHM.n_classes, 1, "linear")
    return Network([inp, hid, out], [
        Synapses("w1", inp, hid, connectivity, generator=gen, dtype=torch.float64),
        Synapses("readout", hid, out, MeanPool(), scale="fan_in", generator=gen,
                 dtype=torch.float64)])


@pytest.mark.parametrize("pairing", ["views", "siblings"])
def test_dense_connectivity_updates_equal_autograd(pairing):
    """A Dense projection (one position) for every SSL rule: views, and siblings, where the
    single position is paired by halves (the first and second half of the input)."""
    from plastisim.synapses import Dense
    net = _one_layer_net(Dense())
    batch = RHM.sample(20, seed=5)
    x = ps.one_hot(batch.x, RHM.v, torch.float64)
    ctx = _ctx(batch)
    for name in ["clapp", "clapp_s", "infonce", "lpl", "vicreg"]:
        rule = _rule(name, pairing)
        rule.prepare(net)
        _warm(rule, net, x, batch.y, ctx)
        step = _step(copy.deepcopy(rule), net, x, batch.y, ctx)
        assert step.updates["w1"].norm() > 0
        assert_rule_matches_autograd(rule, net, x, batch.y, ctx, rtol=1e-5)


@pytest.mark.parametrize("shared", [True, False], ids=["conv", "local"])
def test_halves_are_two_compartments_that_each_see_one_child(shared):
    """Top layer: c = f(c_l W u_left), t = f(c_l W u_right) by hand from the layer below's rates
    (fan-in k = j·C + c: the left child is k < C); LPL (no gradient to the target) changes
    only the left child's columns, VICReg both."""
    net, x, y, ctx = _setup(shared)
    syn, C = net.synapses["w3"], net.synapses["w3"].pre.channels
    rule = _rule("lpl", "siblings")
    rule.prepare(net)
    h2 = layers(net, net.weights(), x)[1][2]                       # (B, C, 2)
    w = syn.w if shared else syn.w[0]
    c, t = rule.pairs(net, net.weights(), x, rule.draw(ctx))[2].rates()
    for rates, child, cols in ((c, 0, slice(0, C)), (t, 1, slice(C, 2 * C))):
        by_hand = torch.relu(syn.scale * h2[..., child] @ w[:, cols].T)    # (B, C3)
        torch.testing.assert_close(rates[..., 0], by_hand, rtol=1e-12, atol=1e-12)
    dw = _step(rule, net, x, y, ctx).updates["w3"].reshape(-1, 2 * C)
    assert dw[:, :C].norm() > 0 and dw[:, C:].abs().max() == 0
    rule = _rule("vicreg", "siblings")
    rule.prepare(net)
    dw = _step(rule, net, x, y, ctx).updates["w3"].reshape(-1, 2 * C)
    assert dw[:, :C].norm() > 0 and dw[:, C:].norm() > 0


def test_halves_of_a_dense_field_are_its_first_and_second_half():
    """Dense fan-in k = c·P + p: the left compartment sees positions p < P/2."""
    from plastisim.synapses import Dense
    net = _one_layer_net(Dense())
    syn, P = net.synapses["w1"], RHM.input_size
    x = ps.one_hot(RHM.sample(6, seed=2).x, RHM.v, torch.float64)
    rule = _rule("vicreg", "siblings")
    rule.prepare(net)
    c, t = rule.pairs(net, net.weights(), x, {})[0].rates()
    kernel = syn.w.reshape(-1, RHM.v, P)                            # (C1, v, P)
    for rates, half in ((c, slice(0, P // 2)), (t, slice(P // 2, P))):
        by_hand = torch.relu(syn.scale * torch.einsum("icp,bcp->bi", kernel[..., half],
                                                      x[..., half]))
        torch.testing.assert_close(rates[..., 0], by_hand, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("connectivity,positions", [("dense", 3), ("patches4", 4)])
def test_halves_are_refused_without_two_children(connectivity, positions):
    from plastisim.synapses import Dense, Patches
    net = _one_layer_net(Dense() if connectivity == "dense" else Patches(4), positions)
    rule = _rule("clapp_s", "siblings")
    with pytest.raises(ConfigError, match=r"^rule.top_layer='halves' is impossible for w1 .*"
                                          r"need two children.*'frozen'$"):
        rule.prepare(net)
    frozen = _rule("clapp_s", "siblings", "frozen")
    frozen.prepare(net)
    x = ps.one_hot(torch.zeros(4, positions, dtype=torch.long), RHM.v, torch.float64)
    step = _step(frozen, net, x, torch.zeros(4, dtype=torch.long),
                 DrawContext(4, torch.device("cpu"), torch.float64))
    assert step.updates["w1"].abs().max() == 0


class _Forbidden:
    """Fails on any use: the RHM, the batch's rows and labels, the training set."""

    def __init__(self, name):
        self.__dict__["_name"] = name

    def __getattr__(self, name):
        raise AssertionError(f"a grammar-free pairing read {self._name}.{name}")

    def __getitem__(self, key):
        raise AssertionError(f"a grammar-free pairing read {self._name}[...]")


def _forbidden_context(n):
    return DrawContext(n, torch.device("cpu"), torch.float64, rows=_Forbidden("ctx.rows"),
                       pool=_Forbidden("ctx.pool"), rhm=_Forbidden("ctx.rhm"))


@pytest.mark.parametrize("pairing", ["siblings", "cpc1", "cpc2"])
def test_grammar_free_pairings_read_only_the_input(pairing, monkeypatch):
    def no_resample(*args, **kwargs):
        raise AssertionError("a grammar-free pairing called RHM.resample")
    monkeypatch.setattr(ps.RHM, "resample", no_resample)
    net, x, y, _ = _setup()
    labels = _Forbidden("batch.y")
    for name in ["clapp", "clapp_s", "infonce", "lpl", "vicreg"]:
        for top in ("halves", "frozen"):
            rule = _rule(name, pairing, top)
            rule.prepare(net)
            _step(rule, net, x, labels, _forbidden_context(x.shape[0]))
    rule = _rule("vicreg", "views")            # the guard works: views do read the context
    rule.prepare(net)
    with pytest.raises(AssertionError, match="read ctx"):
        _step(rule, net, x, labels, _forbidden_context(x.shape[0]))


@pytest.mark.parametrize("name", ["lpl", "vicreg"])
@pytest.mark.parametrize("pairing", ["views", "siblings"])
def test_linear_predictor_starts_as_the_identity(name, pairing):
    """W_p = I at the first step: the weights' updates are the identity predictor's; the
    predictor's own delta rule ΔW_p ∝ (t − W_p c) cᵀ is not zero."""
    net, x, y, ctx = _setup()
    steps = {}
    for predictor in ("identity", "linear"):
        rule = _rule(name, pairing, predictor=predictor)
        rule.prepare(net)
        steps[predictor] = _step(rule, net, x, y, ctx)
    assert rule.state.learned["pred1"].equal(torch.eye(12, dtype=torch.float64))
    for w in ("w1", "w2", "w3"):
        torch.testing.assert_close(steps["linear"].updates[w], steps["identity"].updates[w],
                                   rtol=1e-12, atol=1e-15)
    assert steps["linear"].updates["pred1"].norm() > 0
    assert not any(k.startswith("pred") for k in steps["identity"].updates)


@pytest.mark.parametrize("key,value", [("top_layer", "x"), ("cpc_offset", 0),
                                       ("cpc_offset", 1.5), ("pairs", "cousins"),
                                       ("predictor", "mlp")])
def test_pairing_parameters_are_validated(key, value):
    with pytest.raises(ConfigError, match=f"^rule.{key}="):
        rules.get("vicreg", **{key: value})
    with pytest.raises(ConfigError, match="rule.predictor is not a parameter of rule 'clapp'"):
        rules.get("clapp", predictor="linear")


def test_defaults_and_the_rule_table():
    params = rules.get("clapp").params
    assert (params.views_from, params.top_layer, params.cpc_offset) == ("train", "halves", 1)
    assert rules.get("lpl").params.predictor == "identity"
    for name in ("lpl", "vicreg", "infonce"):          # statistics over streams: non-local
        assert not rules.info(name).local
    assert "batch" in rules.info("lpl").modulator
    assert rules.info("clapp").local and rules.info("clapp_s").local


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
        rule.draw(ctx)
    assert rules.info("supcon").family == "supervised-baseline"


def test_helper_detects_a_wrong_rule():
    net, x, y, ctx = _setup()
    rule = rules.get("lpl")
    rule.prepare(net)
    original = rule.layer_signals

    def wrong(l, z, z2, state, draws):
        loss, G, G2, learned, running = original(l, z, z2, state, draws)
        return loss, 1.01 * G, G2, learned, running
    rule.layer_signals = wrong
    with pytest.raises(AssertionError, match="differs from"):
        assert_rule_matches_autograd(rule, net, x, y, ctx)


def test_clapp_as_a_time_stream_equals_the_batched_form():
    """Context at step t, target at t+1: the modulator γ arrives at t+1 and meets the
    retrodiction through an eligibility trace (pre-synaptic rate × post gate of step t)."""
    from plastisim.traces import Trace
    net, x, y, ctx = _setup(n=16, seed=3)
    rule = rules.get("clapp", pred_init_std=0.5, seed=7, views_from="sampler")
    rule.prepare(net)
    syn, W = net.synapses["w1"], rule.state.learned["pred1"]
    C, P = W.shape[0], syn.post.positions
    replay = copy.deepcopy(rule)
    batched = _step(rule, net, x, y, ctx)                     # all layers; we compare layer 1
    # the same views and pair signs, drawn in the same order as the batched step
    level = replay.levels(RHM.L, 3)[0]
    seed = int(torch.randint(2**62, (1,), generator=replay.generator))
    x2 = ps.one_hot(RHM.resample(ctx.pool[ctx.rows], level, seed).x, RHM.v, torch.float64)
    sign = torch.randint(2, (x.shape[0],), generator=replay.generator) * 2 - 1
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
    ctx = _ctx(pool, rows=rows)
    rule = rules.get("vicreg", views_from="train", view_level="matched")
    rule.prepare(net)
    for level in (1, 2):
        partner = rule.partners(ctx, level)
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
    direct = readout_step(net, net.weights(), Batch(x, y))
    cached = readout_step(net, net.weights(), Batch(x, y, readout_fields(net, x, batch_size=7)))
    torch.testing.assert_close(cached.updates["readout"], direct.updates["readout"],
                               rtol=1e-12, atol=0)
    torch.testing.assert_close(cached.loss, direct.loss, rtol=1e-12, atol=0)


def test_readout_phase_matches_autograd_on_fields_and_forward():
    """The readout phase trains the readout alone: −∇ of its cross-entropy on h̄_L."""
    from plastisim.metrics import readout_fields
    net, x, y, ctx = _setup()
    rule = _rule("clapp", "siblings")
    rule.prepare(net)
    errors = assert_rule_matches_autograd(rule, net, x, y, ctx, phase="readout", rtol=1e-10)
    assert set(errors) == {"readout"}
    step = rule.step(net, net.weights(), rule.state,
                     Batch(x, y, readout_fields(net, x)), {}, "readout")
    assert set(step.updates) == {"readout"} and step.signals["logits"].shape == (len(y), 8)


def _pure_cases():
    """clapp on siblings (pair signs drawn; with two debiased negatives), lpl on siblings with
    a linear predictor (running statistics): the two kinds of state a step reads and returns."""
    return [pytest.param("clapp", {}, id="clapp-siblings"),
            pytest.param("clapp", {"negatives": 2, "false_negatives": 0.125},
                         id="clapp-siblings-debiased-K2"),
            pytest.param("lpl", {"predictor": "linear"}, id="lpl-siblings-linear")]


def _warmed(name, params, seed=0):
    """A rule on siblings after one step (so that LPL has running statistics), with the
    network, the next step's batch and draws."""
    net, x, y, ctx = _setup(seed=seed)
    rule = _rule(name, "siblings", seed=seed, **params)
    rule.prepare(net)
    _warm(rule, net, x, y, ctx, steps=1)
    return rule, net, Batch(x, y), rule.draw(ctx)


@pytest.mark.parametrize("name,params", _pure_cases())
def test_local_step_compiles_without_graph_breaks(name, params):
    rule, net, batch, draws = _warmed(name, params)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(
        lambda w, s, b, d: rule.step(net, w, s, b, d, "local"))(
            net.weights(), rule.state, batch, draws)
    assert explained.graph_break_count == 0, explained.break_reasons
    torch._dynamo.reset()


@pytest.mark.parametrize("name,params", _pure_cases())
def test_local_step_maps_over_members(name, params):
    """vmap of the step over 2 stacked members (own weights, state and draws; one batch)
    equals each member's step alone."""
    members = [_warmed(name, params, seed) for seed in (0, 1)]
    batch = members[0][2]
    net = members[0][1]

    def stack(trees):
        return torch.utils._pytree.tree_map(lambda *t: torch.stack(t), *trees)

    weights = stack([m[1].weights() for m in members])
    state = stack([m[0].state for m in members])
    draws = stack([m[3] for m in members])
    mapped = torch.func.vmap(lambda w, s, d: members[0][0].step(net, w, s, batch, d, "local"))(
        weights, state, draws)
    for k, (rule, member_net, _, member_draws) in enumerate(members):
        alone = rule.step(member_net, member_net.weights(), rule.state, batch, member_draws,
                          "local")
        for part in ("updates", "running", "signals"):
            got, expected = getattr(mapped, part), getattr(alone, part)
            assert set(got) == set(expected), part
            for key in expected:
                assert torch.allclose(got[key][k], expected[key], rtol=1e-12, atol=1e-15), \
                    (part, key)
        assert torch.allclose(mapped.loss[k], alone.loss, rtol=1e-12, atol=1e-15)


def test_lpl_traces_of_a_smaller_batch_keep_the_other_streams():
    """LPL's running traces: a smaller batch (the last of an epoch) updates the first B
    streams' traces and returns the others unchanged; a larger batch re-initialises them."""
    net, x, y, ctx = _setup(n=24)
    rule = _rule("lpl", "siblings")
    rule.prepare(net)
    _warm(rule, net, x, y, ctx, steps=1)
    stored = rule.state.running
    assert set(stored) == {"mean1", "var1", "mean2", "var2", "mean3", "var3"}
    assert all(t.shape[0] == 24 for t in stored.values())
    small = rule.step(net, net.weights(), rule.state, Batch(x[:10], y[:10]), {}, "local")
    for key, t in small.running.items():
        assert t.shape == stored[key].shape and t[10:].equal(stored[key][10:]), key
        assert not t[:10].equal(stored[key][:10]), key
    alone = rule.step(net, net.weights(), rule.state._replace(
        running={k: t[:10] for k, t in stored.items()}), Batch(x[:10], y[:10]), {}, "local")
    for key, t in alone.running.items():
        assert small.running[key][:10].equal(t), key
    net2, x2, y2, _ = _setup(n=40)
    large = rule.step(net, net.weights(), rule.state, Batch(x2, y2), {}, "local")
    fresh = rule.step(net, net.weights(), RuleState(), Batch(x2, y2), {}, "local")
    for key, t in large.running.items():
        assert t.shape[0] == 40 and t.equal(fresh.running[key]), key


@pytest.mark.parametrize("name", ["clapp", "vicreg", "stopgrad"])
def test_layer_gains_keep_each_update_direction(name):
    """update_norm = "layer": each tensor's update is the rule's, divided by the running RMS of
    its own entries (one positive gain per tensor; RMS 1 at the first step)."""
    net, x, y, ctx = _setup()
    plain, scaled = _rule(name, "siblings"), _rule(name, "siblings", update_norm="layer")
    plain.prepare(net)
    scaled.prepare(net)
    a, b = _step(plain, net, x, y, ctx), _step(scaled, net, x, y, ctx)
    for key, dw in a.updates.items():
        if float(dw.norm()) == 0:
            continue
        cos = torch.nn.functional.cosine_similarity(dw.flatten(), b.updates[key].flatten(), 0)
        assert float(cos) == pytest.approx(1, abs=1e-12), key
        assert float(b.updates[key].square().mean().sqrt()) == pytest.approx(1, rel=1e-9), key
        assert f"ms_{key}" in b.running


@pytest.mark.parametrize("name", ["stopgrad", "clapp", "vicreg"])
def test_layer_decay_is_the_gradient_of_a_weight_penalty_and_comes_after_the_gain(name):
    """layer_decay = "λ1,λ2,λ3": Δw_l −= λ_l w_l, the −∇ of (λ_l/2)‖w_l‖² added to ℓ_l
    (checked against autograd), applied after update_norm's gain (decoupled, as AdamW)."""
    net, x, y, ctx = _setup()
    rule = _rule(name, "siblings", layer_decay="0.5,0.1,0")
    rule.prepare(net)
    _warm(rule, net, x, y, ctx)
    assert_rule_matches_autograd(copy.deepcopy(rule), net, x, y, ctx, rtol=1e-5)
    plain = _rule(name, "siblings", update_norm="layer")
    decayed = _rule(name, "siblings", update_norm="layer", layer_decay="0.5,0.1,0")
    plain.prepare(net)
    decayed.prepare(net)
    a, b = _step(plain, net, x, y, ctx), _step(decayed, net, x, y, ctx)
    for syn, decay in zip(["w1", "w2", "w3"], [0.5, 0.1, 0.0]):
        expected = a.updates[syn] - decay * net.synapses[syn].w
        assert torch.allclose(b.updates[syn], expected, rtol=1e-12, atol=1e-15), syn


@pytest.mark.parametrize("value", ["0.5,0.1", "a,b,c", "0.5,-1,0"])
def test_layer_decay_needs_one_number_per_hidden_layer(value):
    net, x, y, ctx = _setup()
    rule = _rule("stopgrad", "siblings", layer_decay=value)
    rule.prepare(net)
    with pytest.raises(ConfigError, match="rule.layer_decay") as err:
        _step(rule, net, x, y, ctx)
    assert "\n" not in str(err.value) and "3 numbers" in str(err.value)
