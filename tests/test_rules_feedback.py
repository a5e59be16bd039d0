"""Backprop and the feedback family: autograd equality, the 2×2 masking cells, registry."""
import pytest
import torch
import torch.nn.functional as F

import plastisim as ps
from plastisim import rules
from plastisim.errors import ConfigError, UnknownNameError
from plastisim.network import hierarchy
from plastisim.rules.base import Batch

RHM_SMALL = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)


def _batch(n=32, dtype=torch.float64, device="cpu"):
    b = RHM_SMALL.sample(n, seed=3)
    return ps.one_hot(b.x, 8, dtype).to(device), b.y.to(device)


def _step(rule, net, x, y):
    """One step of the prepared rule on the network's weights; the groups keep the rates of
    the same forward pass (``Network.forward``) for the expected values."""
    net.forward(x)
    return rule.step(net, net.weights(), rule.state, Batch(x, y), {}, "joint")


def _autograd_grads(net, x, y, masks=True):
    """∇ of the cross-entropy for the explicit network, by torch autograd."""
    ws = {k: s.w.clone().requires_grad_(True) for k, s in net.synapses.items()}
    h = x
    for s in net.synapses.values():
        h = s.drive(s.unfold(h), ws[s.name])
        if s.name != "readout":
            h = torch.relu(h)
    F.cross_entropy(h.reshape(x.shape[0], -1), y).backward()
    return {k: w.grad for k, w in ws.items()}


@pytest.mark.parametrize("shared", [True, False], ids=["conv", "local"])
def test_bp_equals_autograd(shared, device):
    net = hierarchy(RHM_SMALL, 16, shared=shared, dtype=torch.float64, device=device)
    x, y = _batch(device=device)
    rule = rules.get("bp")
    rule.prepare(net)
    step = _step(rule, net, x, y)
    grads = _autograd_grads(net, x, y)
    for name, grad in grads.items():
        err = (step.updates[name] + grad).norm() / grad.norm()
        assert err < 1e-10, name


def test_fa_with_true_weights_as_feedback_is_bp():
    net = hierarchy(RHM_SMALL, 16, dtype=torch.float64)
    x, y = _batch()
    bp, fa = rules.get("bp"), rules.get("fa")
    bp.prepare(net)
    fa.prepare(net)
    fa.state = fa.state._replace(fixed={k: s.w.clone() for k, s in net.synapses.items()})
    a, b = _step(bp, net, x, y), _step(fa, net, x, y)
    for name in a.updates:
        assert torch.allclose(a.updates[name], b.updates[name], rtol=1e-12)


def test_bp_nomask_drops_only_the_downstream_gates():
    """bp_nomask: M_l = W_{l+1}^T M_{l+1} (linear), the update keeps f'(a_l) of its own layer."""
    net = hierarchy(RHM_SMALL, 16, dtype=torch.float64)
    x, y = _batch()
    rule = rules.get("bp_nomask")
    rule.prepare(net)
    step = _step(rule, net, x, y)
    e = torch.softmax(step.signals["logits"], 1) - F.one_hot(y, 8).double()
    syn = net.synapses
    m3 = syn["readout"].transpose(e.unsqueeze(-1))
    m2 = syn["w3"].transpose(m3)                       # no f'(a_3) in between
    expected = -syn["w2"].scale * syn["w2"].outer(net.groups["h2"].gate() * m2,
                                                  syn["w2"].unfold(net.groups["h1"].rate))
    assert torch.allclose(step.updates["w2"], expected, rtol=1e-12)
    assert torch.allclose(step.updates["w3"], _autograd_grads(net, x, y)["w3"].neg(), rtol=1e-10)


@pytest.mark.parametrize("name, signal", [
    ("dfa", lambda e, y: e), ("sdfa", lambda e, y: torch.sign(e)),
    ("drtp", lambda e, y: -F.one_hot(y, 8).double())])
def test_direct_feedback_modulator(name, signal):
    net = hierarchy(RHM_SMALL, 16, dtype=torch.float64)
    x, y = _batch()
    rule = rules.get(name, feedback_seed=4)
    rule.prepare(net)
    step = _step(rule, net, x, y)
    e = torch.softmax(step.signals["logits"], 1) - F.one_hot(y, 8).double()
    for layer in ("w1", "w2", "w3"):
        syn = net.synapses[layer]
        mod = torch.einsum("cpk,bk->bcp", rule.state.fixed[layer], signal(e, y))  # (B, C, P)
        expected = -syn.scale * syn.outer(syn.post.gate() * mod, syn.unfold(syn.pre.rate))
        assert torch.allclose(step.updates[layer], expected, rtol=1e-12)
    # the readout always learns by the delta rule, like bp
    assert torch.allclose(step.updates["readout"], _autograd_grads(net, x, y)["readout"].neg(),
                          rtol=1e-10)


def test_direct_feedback_matches_the_transposed_signal_scale_at_the_top():
    net = hierarchy(RHM_SMALL, 64, dtype=torch.float64)
    rule = rules.get("dfa")
    rule.prepare(net)
    d3 = rule.state.fixed["w3"]                                   # (C, P_L = 1, n_c)
    assert d3.std().item() == pytest.approx(net.synapses["readout"].scale, rel=0.05)


def test_registry_errors_list_the_valid_names():
    with pytest.raises(UnknownNameError, match="rule 'clap' is unknown; available: .*bp.*dfa"):
        rules.get("clap")
    with pytest.raises(ConfigError, match="rule.lrr is not a parameter of rule 'dfa'"):
        rules.get("dfa", lrr=0.1)
    with pytest.raises(ConfigError, match="rule.lr='fast' has the wrong type"):
        rules.get("dfa", lr="fast")
    assert {"bp", "fa", "bp_nomask", "dfa", "sdfa", "drtp"} <= set(rules.names())
    assert not rules.info("bp").local and not rules.info("bp_nomask").local
    assert rules.info("dfa").local and rules.info("fa").local
