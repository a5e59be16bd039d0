"""The dense readout of the last hidden layer (``network.readout = "dense"``) and the per-layer
statistics of a trained code (``metrics.layer_statistics``)."""
import math
import tomllib

import numpy as np
import pytest
import torch

import plastisim as ps
from plastisim import rules
from plastisim.config import RunConfig, build
from plastisim.errors import ConfigError
from plastisim.metrics import partner_r2, layer_statistics
from plastisim.network import hierarchy
from plastisim.rules.base import DrawContext
from plastisim.testing import assert_rule_matches_autograd

RHM = ps.RHM(v=6, n_classes=6, m=2, s=2, L=3, seed=0)


def test_dense_readout_reads_every_position_concatenated():
    net = hierarchy(RHM, 8, depth=2, readout="dense", dtype=torch.float64)
    x = ps.one_hot(RHM.sample(5, seed=1).x, RHM.v, torch.float64)
    h2 = ps.network.layers(net, net.weights(), x)[1][2]                 # (B, C, P = 2)
    beta = net.synapses["readout"].w                                     # (n_c, C·P)
    assert beta.shape == (RHM.n_classes, 8 * 2)
    expected = h2.reshape(5, -1) @ beta.T / (8 * 2)                      # fan-in k = c·P + p
    assert torch.allclose(net.forward(x), expected)
    # the PRX readout is the mean over the same positions: another function
    mean = hierarchy(RHM, 8, depth=2, dtype=torch.float64)
    assert mean.synapses["readout"].w.shape == (RHM.n_classes, 8)


def test_readout_option_is_checked_and_leaves_old_run_identities_alone():
    with pytest.raises(ConfigError, match="network.readout"):
        hierarchy(RHM, 8, readout="max")
    with pytest.raises(ConfigError, match="network.readout"):
        build(tomllib.loads('[network]\nwidth = 8\nreadout = "max"\n'))
    default = RunConfig()
    assert "readout" not in default.to_toml()           # the hash of older runs is unchanged
    dense = build(tomllib.loads('[network]\nwidth = 8\nreadout = "dense"\n'))
    assert 'readout = "dense"' in dense.to_toml()


@pytest.mark.parametrize("name", ["clapp", "stopgrad"])
def test_readout_phase_on_a_dense_readout_equals_autograd(name):
    net = hierarchy(RHM, 8, depth=2, readout="dense", dtype=torch.float64, seed=3)
    batch = RHM.sample(12, seed=2)
    x = ps.one_hot(batch.x, RHM.v, torch.float64)
    rule = rules.get(name, pairs="siblings")
    rule.prepare(net)
    ctx = DrawContext(12, x.device, x.dtype)
    local = assert_rule_matches_autograd(rule, net, x, batch.y, ctx, rtol=1e-5)
    assert set(local) >= {"w1", "w2"}       # every layer has a sibling pair: no top layer
    errors = assert_rule_matches_autograd(rule, net, x, batch.y, ctx, phase="readout")
    assert set(errors) == {"readout"}


def test_layer_statistics_of_a_silent_and_of_a_random_network():
    x = ps.one_hot(RHM.sample(400, seed=4).x, RHM.v, torch.float32)
    net = hierarchy(RHM, 16, seed=0)
    stats = layer_statistics(net, x)
    assert stats.shape == (3, 4)
    assert (stats[:, 0] > 0).all() and (stats[:, 2] > 1).all()
    assert math.isnan(stats[2, 3])                      # the top layer has one position
    for syn in net.synapses.values():
        syn.w.zero_()
    silent = layer_statistics(net, x)
    assert (silent[:, 0] == 0).all() and (silent[:, 1] == 1).all() and (silent[:, 2] == 0).all()


def testpartner_r2_tells_a_predictable_sibling_from_an_independent_one():
    gen = torch.Generator().manual_seed(0)
    c = torch.randn(2000, 6, 1, generator=gen, dtype=torch.float64)
    mix = torch.randn(6, 6, generator=gen, dtype=torch.float64)
    predictable = torch.cat([c, torch.einsum("ij,bjp->bip", mix, c)], dim=2)
    independent = torch.cat([c, torch.randn(2000, 6, 1, generator=gen, dtype=torch.float64)], 2)
    assert partner_r2(predictable, ridge=1e-6) > 0.999
    assert abs(partner_r2(independent, ridge=1e-6)) < 0.02
    assert np.isnan(partner_r2(c, ridge=0.1))


@pytest.mark.parametrize("shared", [True, False], ids=["conv", "local"])
@pytest.mark.parametrize("depth,readout", [(2, "dense"), (3, "mean")])
def test_codepred_is_the_delta_rule_of_its_prediction_synapses(shared, depth, readout):
    net = hierarchy(RHM, 8, shared, depth, readout=readout, predictions=True,
                    dtype=torch.float64, seed=1)
    names = list(net.synapses)
    assert names == ["w1", "p1", "w2", "p2", "w3", "readout"][:2 * depth - 1] + ["readout"]
    assert net.synapses["p1"].post.channels == RHM.s * RHM.v     # q1 predicts a one-hot tuple
    batch = RHM.sample(12, seed=2)
    x = ps.one_hot(batch.x, RHM.v, torch.float64)
    rule = rules.get("codepred", lr=1.0)
    rule.prepare(net)
    ctx = DrawContext(12, x.device, x.dtype)
    step = rule.step(net, net.weights(), rule.state, ps.rules.base.Batch(x, batch.y),
                     rule.draw(ctx))
    # only the prediction synapses learn; the ReLU layers keep their random weights
    for name in names[:-1]:
        assert (step.updates[name].norm() > 0) == name.startswith("p"), name
    assert_rule_matches_autograd(rule, net, x, batch.y, ctx, rtol=1e-5)
    # the delta rule by hand at q1: e = (q − standardised u of the sibling) / (P K), P pairs
    fwd = ps.network.layers(net, net.weights(), x)
    u1, _, q1 = fwd[1]                   # u1: h1 as the prediction synapses' fields
    code = fwd[0][0].transpose(1, 2)     # the one-hot tuples (B, K, P)
    mu = code.mean((0, 2), keepdim=True)
    sd = ((code - mu).square().mean((0, 2), keepdim=True) + 1e-6).sqrt()
    target = (code - mu) / sd
    K, P = q1.shape[1], q1.shape[2] // 2
    e = torch.zeros_like(q1)
    e[..., 0::2] = (q1[..., 0::2] - target[..., 1::2]) / (P * K)
    e[..., 1::2] = (q1[..., 1::2] - target[..., 0::2]) / (P * K)
    syn = net.synapses["p1"]
    assert torch.allclose(step.updates["p1"], -syn.scale * syn.outer(e, u1))


def test_prediction_groups_are_refused_to_other_rules_and_needed_by_codepred(tmp_path):
    from plastisim.run import build as build_run
    with pytest.raises(ConfigError, match="network.predictions"):
        rules.get("codepred").prepare(hierarchy(RHM, 8))
    cfg = build(tomllib.loads('[rhm]\nL = 2\n[network]\nwidth = 8\npredictions = true\n'
                              '[rule]\nname = "bp"\n[train]\nn_train = 64\nn_test = 64\n'))
    with pytest.raises(ConfigError, match="codepred"):
        build_run(cfg)


def test_expansion_is_a_dense_relu_layer_that_layerwise_rules_can_keep_random():
    net = hierarchy(RHM, 8, depth=2, predictions=True, expansion=32, dtype=torch.float64)
    assert list(net.synapses) == ["w1", "p1", "w2", "w3", "readout"]
    w3 = net.synapses["w3"]
    assert w3.post.channels == 32 and w3.post.positions == 1 and w3.fan_in == 8 * 2
    x = ps.one_hot(RHM.sample(6, seed=1).x, RHM.v, torch.float64)
    fwd = ps.network.layers(net, net.weights(), x)
    h2, h3 = fwd[2][2], fwd[3][2]
    expected = torch.relu(h2.reshape(6, -1) @ w3.w.T * w3.scale)        # k = c·P + p
    assert torch.allclose(h3[..., 0], expected)
    batch = RHM.sample(12, seed=2)
    x = ps.one_hot(batch.x, RHM.v, torch.float64)
    ctx = DrawContext(12, x.device, x.dtype)
    plain = hierarchy(RHM, 8, depth=2, expansion=32, dtype=torch.float64)
    for rule, network, learns in [
            (rules.get("codepred"), net, "p1"),
            (rules.get("clapp", pairs="siblings", top_layer="frozen"), plain, "w2")]:
        rule.prepare(network)
        step = rule.step(network, network.weights(), rule.state,
                         ps.rules.base.Batch(x, batch.y), rule.draw(ctx))
        assert step.updates["w3"].norm() == 0          # the expansion keeps its weights
        assert step.updates[learns].norm() > 0
    cfg = build(tomllib.loads('[network]\nwidth = 8\nexpansion = 64\n'))
    assert "expansion = 64" in cfg.to_toml() and "expansion" not in RunConfig().to_toml()
    with pytest.raises(ConfigError, match="network.expansion"):
        build(tomllib.loads('[network]\nwidth = 8\nexpansion = -1\n'))
