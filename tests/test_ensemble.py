"""Members trained as one: member i is the independent run with member i's settings.

Every rule family, float64, 100 steps: weights to 1e-9 relative, the same learning curve, status,
message, steps and samples; in float32 the same weights and curves bit for bit; a member that
diverges stops alone; members that cannot be packed are refused in one line.
"""
from __future__ import annotations

import copy

import pytest
import torch

import plastisim as ps
from plastisim import rules
from plastisim.errors import ConfigError
from plastisim.train import TrainOptions, train

FEEDBACK = ("bp", "fa", "bp_nomask", "dfa", "sdfa", "drtp")
SSL = {"clapp": {}, "clapp_s": {}, "infonce": {}, "vicreg": {"predictor": "linear"},
       "lpl": {"predictor": "linear"}}


def member(i: int, name: str, lr: float | None = None, epochs: int = 10,
           dtype: torch.dtype = torch.float64, **extra):
    """Member i: its own RHM, data, network, rule seed and learning rate; 10 steps an epoch."""
    rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=i)
    train_set, test_set = rhm.split(n_train=320, n_test=100, seed=10 + i)
    net = ps.hierarchy(rhm, 8, seed=i, dtype=dtype)
    if name in FEEDBACK:
        params = {"lr": 0.05 * (1 + i) if lr is None else lr, "feedback_seed": i}
    else:
        params = {"lr": 0.5 * (1 + i) if lr is None else lr, "seed": i, "pairs": "siblings",
                  "readout_epochs": 3, "readout_lr": 0.5 + i, **SSL[name]}
    rule = rules.get(name, **{**params, **extra})
    return net, rule, train_set, test_set, TrainOptions(epochs=epochs, batch_size=32, seed=i)


def run_both(members):
    """(ensemble results, independent results, the members' nets after each)."""
    solo = copy.deepcopy(members)
    packed = train(*[list(part) for part in zip(*members)])
    alone = [train(*m) for m in solo]
    return packed, alone, [m[0] for m in members], [m[0] for m in solo]


def assert_same_run(packed, alone, net, reference, rtol=1e-9):
    assert (packed.status, packed.message) == (alone.status, alone.message)
    assert (packed.steps, packed.samples) == (alone.steps, alone.samples)
    assert packed.phases == alone.phases
    assert packed.history["phase"] == alone.history["phase"]
    for key in ("epoch", "step", "train_error", "test_error", "lr"):
        assert packed.history[key] == pytest.approx(alone.history[key], rel=rtol, nan_ok=True), key
    assert packed.history["train_loss"] == pytest.approx(alone.history["train_loss"], rel=rtol,
                                                         nan_ok=True)
    for name, syn in net.synapses.items():
        w, ref = syn.w, reference.synapses[name].w
        if torch.isfinite(ref).all():
            assert float((w - ref).norm() / ref.norm()) < rtol, name


@pytest.mark.parametrize("name", FEEDBACK + tuple(SSL))
def test_members_are_independent_runs(name):
    members = [member(i, name) for i in range(3)]
    initial = [m[0].synapses["w1"].w.clone() for m in members]
    packed, alone, nets, references = run_both(members)
    assert alone[0].steps >= 100
    for p, a, net, ref in zip(packed, alone, nets, references):
        assert_same_run(p, a, net, ref)
    for w0, net in zip(initial, nets):       # every member learned: not a vacuous comparison
        assert float((net.synapses["w1"].w - w0).norm() / w0.norm()) > 1e-3


@pytest.mark.parametrize("name", FEEDBACK + tuple(SSL))
def test_float32_members_are_their_runs_alone_bit_for_bit(name):
    """The batched products, reductions and the per-member SGD update (a fused multiply-add,
    as torch.optim.SGD's) round as the single network's: in float32 too, nothing differs."""
    members = [member(i, name, dtype=torch.float32) for i in range(3)]
    packed, alone, nets, references = run_both(members)
    for p, a, net, ref in zip(packed, alone, nets, references):
        assert (p.status, p.message, p.steps) == (a.status, a.message, a.steps)
        assert p.history["train_loss"] == a.history["train_loss"]
        assert p.history["test_error"] == a.history["test_error"]
        for key, syn in net.synapses.items():
            assert torch.equal(syn.w, ref.synapses[key].w), key


def test_rule_tensors_end_in_each_members_rule():
    members = [member(i, "clapp", epochs=2) for i in range(2)]
    solo = copy.deepcopy(members)
    train(*[list(part) for part in zip(*members)])
    for (_, rule, *_), (net, reference, *rest) in zip(members, solo):
        train(net, reference, *rest)
        assert reference.state.learned
        for key, value in reference.state.learned.items():
            assert torch.allclose(rule.state.learned[key], value, rtol=1e-9, atol=0)


def test_a_diverging_member_stops_alone():
    members = [member(0, "bp"), member(1, "bp", lr=1e6), member(2, "bp")]
    packed, alone, nets, references = run_both(members)
    assert alone[1].status == "diverged" and packed[1].status == "diverged"
    assert packed[1].message == alone[1].message
    assert [r.status for r in packed] == [r.status for r in alone]
    for p, a, net, ref in zip(packed, alone, nets, references):
        assert_same_run(p, a, net, ref)


def test_a_converging_member_stops_alone():
    options = [TrainOptions(epochs=10, batch_size=32, seed=i, stop_loss=1.9) for i in range(3)]
    members = [member(i, "bp", lr=lr)[:4] + (options[i],) for i, lr in enumerate([1e-3, 1, 1e-3])]
    packed, alone, nets, references = run_both(members)
    assert [r.status for r in packed] == ["max_epochs", "converged", "max_epochs"]
    for p, a, net, ref in zip(packed, alone, nets, references):
        assert_same_run(p, a, net, ref)


def test_an_interruption_stops_every_member_at_one_step():
    calls = iter(range(1000))
    stop = lambda: "SIGINT" if next(calls) == 25 else ""          # noqa: E731
    members = [member(i, "dfa") for i in range(2)]
    results = train(*[list(part) for part in zip(*members)], stop=stop)
    assert [r.status for r in results] == ["interrupted"] * 2
    assert [r.steps for r in results] == [25, 25]
    assert results[0].message.startswith("SIGINT at step 25 (epoch 3")


@pytest.mark.parametrize("change, message", [
    ({"name": "dfa"}, "another rule"),
    ({"momentum": 0.5}, "rule.momentum differs"),
])
def test_members_that_cannot_be_packed_are_refused(change, message):
    name = change.pop("name", "clapp_s")
    first, second = member(0, "clapp_s", epochs=1), member(1, name, epochs=1)
    if change:
        second = (second[0], rules.get("clapp_s", **{**vars(second[1].params), **change})
                  ) + second[2:]
    with pytest.raises(ConfigError, match=message):
        train(*[list(part) for part in zip(first, second)])


@pytest.mark.parametrize("first, second", [("bp", "bp_nomask"), ("dfa", "sdfa"),
                                           ("clapp", "clapp_s")])
def test_rules_of_one_class_are_told_apart(first, second):
    members = [member(0, first, epochs=1), member(1, second, epochs=1)]
    with pytest.raises(ConfigError, match="another rule"):
        train(*[list(part) for part in zip(*members)])


def test_other_data_sizes_are_refused():
    first, second = member(0, "bp", epochs=1), member(1, "bp", epochs=1)
    second = second[:2] + (second[2][:64],) + second[3:]
    with pytest.raises(ConfigError, match="same size"):
        train(*[list(part) for part in zip(first, second)])


def test_one_member_is_an_ordinary_run():
    packed, alone, nets, references = run_both([member(0, "vicreg", epochs=2)])
    assert_same_run(packed[0], alone[0], nets[0], references[0])


def test_each_member_records_its_own_trajectory():
    """A Monitor per member records what the member's monitor records in its run alone."""
    members = [member(i, "clapp_s", epochs=2) for i in range(2)]
    solo = copy.deepcopy(members)
    what = dict(weights="all", updates=["w1"], rates=["h1"], loss=True, every=3)
    monitors = [ps.Monitor(m[0], **what) for m in members]
    for monitor, m in zip(monitors, members):
        monitor.record(0, m[0], None)
    train(*[list(part) for part in zip(*members)], monitor=monitors)
    for monitor, (net, rule, *rest) in zip(monitors, solo):
        alone = ps.Monitor(net, **what)
        alone.record(0, net, None)
        train(net, rule, *rest, monitor=alone)
        packed, reference = monitor.to_xarray(), alone.to_xarray()
        assert packed.sizes["step"] == reference.sizes["step"] > 10
        for name in reference.data_vars:
            assert packed[name].values == pytest.approx(reference[name].values, rel=1e-9,
                                                        abs=1e-12, nan_ok=True), name


@pytest.mark.parametrize("views_from", ["train", "sampler"])
def test_members_pairing_views_are_their_runs_alone(views_from):
    """Views (an oracle pairing) draw each member's partners from its own training set or its
    own RHM, on the host, from its own generator: members equal their runs alone."""
    members = [member(i, "clapp", epochs=2, pairs="views", views_from=views_from)
               for i in range(2)]
    rhms = [ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=i) for i in range(2)]   # member()'s
    solo = copy.deepcopy(members)
    packed = train(*[list(part) for part in zip(*members)], rhm=rhms)
    alone = [train(*m, rhm=rhm) for m, rhm in zip(solo, rhms)]
    for p, a, m, ref in zip(packed, alone, members, solo):
        assert_same_run(p, a, m[0], ref[0])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_weight_flags_its_member_only(bad):
    from torch.func import vmap

    from plastisim.optim import all_finite
    weights = {"w1": torch.randn(3, 4, 5), "readout": torch.randn(3, 2, 4)}
    weights["readout"][1, 1, 2] = bad
    flags = vmap(lambda w: all_finite(list(w.values())))(weights)
    assert flags.tolist() == [True, False, True]
    assert not bool(all_finite([weights["w1"], weights["readout"]]))
