"""Compiled steps: the same training as eager, one graph without breaks, a failure falls back.

``train.compile = true`` runs the step (rule, SGD, divergence flags) under ``torch.compile``;
in float64 the weights after 100 steps equal the eager run's to 1e-6 relative for every rule
family, and the member step traces into one graph (``torch._dynamo.explain``).
"""
from __future__ import annotations

import warnings

import pytest
import torch

import plastisim as ps
from plastisim import rules
from plastisim.engine import CompileWarning, member_step
from plastisim.optim import decay_factors
from plastisim.rules.base import Batch, DrawContext, trained_names
from plastisim.train import TrainOptions, train

FAMILIES = {"bp": {}, "dfa": {},                                   # backprop, feedback
            "clapp": {"pairs": "siblings", "readout_epochs": 2},   # contrastive
            "vicreg": {"pairs": "siblings", "readout_epochs": 2,   # non-contrastive
                       "predictor": "linear", "lr": 0.5}}
RHM = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)


def _run(name: str, compile: bool):
    train_set, test_set = RHM.split(n_train=320, n_test=100, seed=1)
    net = ps.hierarchy(RHM, 8, seed=0, dtype=torch.float64)
    result = train(net, rules.get(name, **FAMILIES[name]), train_set, test_set,
                   TrainOptions(epochs=10, batch_size=32, stop_loss=0, compile=compile))
    return net, result


@pytest.mark.parametrize("name", FAMILIES)
def test_compiled_training_equals_eager(name):
    (eager, a), (compiled, b) = _run(name, False), _run(name, True)
    assert a.steps == b.steps >= 100 and a.status == b.status
    for key, syn in eager.synapses.items():
        w, ref = compiled.synapses[key].w, syn.w
        assert float((w - ref).norm() / ref.norm()) < 1e-6, key
    assert b.history["test_error"] == pytest.approx(a.history["test_error"], abs=0.02)


@pytest.mark.parametrize("name", FAMILIES)
def test_the_member_step_is_one_graph(name):
    net = ps.hierarchy(RHM, 8, seed=0, dtype=torch.float64)
    rule = rules.get(name, **FAMILIES[name])
    rule.prepare(net)
    pool = RHM.sample(64, seed=2)
    x, y = ps.one_hot(pool.x[:32], 8, torch.float64), pool.y[:32]
    phase = rule.phases[0]
    draws = rule.draw(DrawContext(32, x.device, x.dtype, torch.arange(32), pool, RHM))
    names = trained_names(net, rule.state, phase)
    tensors = {**net.weights(), **rule.state.learned}
    step = member_step(net, rule, phase, names, decay_factors(rule.params, tensors), 0.9, False)
    buffers = {n: torch.zeros_like(tensors[n]) for n in names}
    torch._dynamo.reset()
    explained = torch._dynamo.explain(step)(net.weights(), rule.state, buffers, Batch(x, y),
                                            draws, torch.tensor(0.1, dtype=torch.float64))
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


def test_a_compiler_failure_falls_back_to_eager_with_one_line(monkeypatch):
    def broken(fn, **kwargs):
        def call(*args):
            raise RuntimeError("no C++ compiler here\nlong traceback text")
        return call
    monkeypatch.setattr(torch, "compile", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net, result = _run("bp", True)
    expected_net, expected = _run("bp", False)
    messages = [str(w.message) for w in caught if issubclass(w.category, CompileWarning)]
    assert messages == ["torch.compile failed (RuntimeError: no C++ compiler here); the run "
                        "goes on eagerly"]
    assert result.history["train_loss"] == expected.history["train_loss"]
    for key, syn in expected_net.synapses.items():
        assert torch.equal(net.synapses[key].w, syn.w)


def test_compile_is_a_train_option_with_auto_on_cuda_only():
    from plastisim.engine import wants_compile
    assert TrainOptions().compile == "auto"
    assert not wants_compile("auto", torch.device("cpu"))
    assert wants_compile("auto", torch.device("cuda")) and wants_compile(True, torch.device("cpu"))
    with pytest.raises(ps.errors.ConfigError, match="train.compile='sometimes'"):
        TrainOptions(compile="sometimes")


def test_compiled_members_match_their_compiled_runs_alone():
    """A compiled batched step may use other kernels than a compiled single one: members
    equal their runs alone within 1e-6 relative in float32 after 100 steps."""
    rhms = [ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=i) for i in range(2)]
    splits = [rhm.split(n_train=320, n_test=100, seed=10 + i) for i, rhm in enumerate(rhms)]
    options = [TrainOptions(epochs=10, batch_size=32, seed=i, stop_loss=0, compile=True)
               for i in range(2)]

    def members():
        return ([ps.hierarchy(rhm, 8, seed=i) for i, rhm in enumerate(rhms)],
                [rules.get("bp", lr=0.05 * (1 + i)) for i in range(2)])
    nets, rule_list = members()
    train(nets, rule_list, [s[0] for s in splits], [s[1] for s in splits], options)
    alone_nets, alone_rules = members()
    for i in range(2):
        result = train(alone_nets[i], alone_rules[i], *splits[i], options[i])
        assert result.steps >= 100
        for key, syn in alone_nets[i].synapses.items():
            w = nets[i].synapses[key].w
            assert float((w - syn.w).norm() / syn.w.norm()) < 1e-6, key
