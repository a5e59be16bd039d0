"""The validation layer at the edge: every field declares its range, configs and rules enforce
it before any tensor exists, messages name the field, the value (as spelled in TOML) and what is
allowed; the memory estimate; data of another RHM; run identities unchanged."""
import dataclasses
import hashlib
import math
import tomllib
from pathlib import Path

import pytest
import torch

from plastisim import RHM, ConfigError, config, hierarchy, one_hot, rules, train
from plastisim.cli.record import record_overrides
from plastisim.errors import shown
from plastisim.recording.selection import parse_indices
from plastisim.resources import check_memory, estimate
from plastisim.run import build, run_sizes
from plastisim.sweep import parse_spec, plan
from plastisim.train import TrainOptions
from plastisim.validate import parse_assignment

ROOT = Path(__file__).resolve().parents[1]
TINY = {"rhm": {"L": 2}, "network": {"width": 8}, "train": {"n_train": 64, "n_test": 64,
                                                            "epochs": 1, "device": "cpu"}}


def _table(**sections) -> dict:
    table = {k: dict(v) for k, v in TINY.items()}
    for section, values in sections.items():
        table.setdefault(section, {}).update(values)
    return table


def test_every_field_declares_its_check():
    for name, cls in config.SECTIONS.items():
        if name == "rule":
            continue
        for f in dataclasses.fields(cls):
            assert "check" in f.metadata, f"{name}.{f.name}"
    for rule in rules.names():
        for f in dataclasses.fields(rules.make_params(rule)):
            assert "check" in f.metadata, f"{rule}: rule.{f.name}"


def test_the_run_identity_of_the_model_files_is_unchanged():
    cfg = config.load(ROOT / "models" / "bp.toml")
    assert hashlib.sha256(cfg.to_toml().encode()).hexdigest() == \
        "6963814bd8555d941360d9558f5d321c6fab6b5e3dd6ab4674cd1ccc53e06317"


@pytest.mark.parametrize("rule, params, says", [
    ("bp", {"lr": math.nan}, "rule.lr=nan is impossible: need a finite number > 0"),
    ("bp", {"lr": math.inf}, "rule.lr=inf is impossible"),
    ("bp", {"lr": -0.1}, "rule.lr=-0.1 is impossible"),
    ("dfa", {"momentum": math.nan}, "rule.momentum=nan is impossible: need a number in [0, 1)"),
    ("fa", {"weight_decay": -1}, "rule.weight_decay=-1 is impossible: need a finite number >= 0"),
    ("infonce", {"temperature": 0}, "rule.temperature=0 is impossible"),
    ("infonce", {"temperature": math.nan}, "rule.temperature=nan is impossible"),
    ("clapp", {"readout_epochs": 0}, "rule.readout_epochs=0 is impossible: need an integer >= 1"),
    ("vicreg", {"eps": 0.0}, "rule.eps=0.0 is impossible"),
    ("lpl", {"tau_stats": -1.0}, "rule.tau_stats=-1.0 is impossible"),
    ("bp", {"lr": True}, "rule.lr=true has the wrong type for rule 'bp'"),
    ("bp", {"feedback_seed": -1}, "rule.feedback_seed=-1 is impossible"),
    ("pair", {"tau_plus": math.nan}, "rule.tau_plus=nan is impossible"),
    ("bcm", {"y0": 0.0}, "rule.y0=0.0 is impossible: need a finite number > 0"),
    ("clapp_spiking", {"gamma": 2}, "rule.gamma=2 is impossible: need +1, -1 or 0"),
    ("triplet", {"A3_plus": -1.0}, "rule.A3_plus=-1.0 is impossible"),
])
def test_rule_parameters_are_checked_in_the_python_api(rule, params, says):
    with pytest.raises(ConfigError) as err:
        rules.get(rule, **params)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_view_level_accepts_the_integer_and_keeps_one_spelling():
    assert rules.get("clapp", view_level=1).params.view_level == "1"
    as_int = config.build(_table(rule={"name": "clapp", "view_level": 1}))
    as_text = config.build(_table(rule={"name": "clapp", "view_level": "1"}))
    assert as_int.to_toml() == as_text.to_toml() and 'view_level = "1"' in as_int.to_toml()
    with pytest.raises(ConfigError, match="rule.view_level=-1 is impossible: need 'lowest', "
                                          "'matched' or a level 1..L-1"):
        rules.get("clapp", view_level=-1)


@pytest.mark.parametrize("section, key, value, says", [
    ("train", "n_test", 0, "train.n_test=0 is impossible: need an integer >= 1"),
    ("train", "stop_loss", math.nan, "train.stop_loss=nan is impossible"),
    ("train", "stop_loss", -1, "train.stop_loss=-1 is impossible: need a finite number >= 0"),
    ("network", "width", True, "network.width=true has the wrong type: need int (an integer"),
    ("network", "shared", 1, "network.shared=1 has the wrong type: need bool (true or false)"),
    ("network", "dtype", "float16", "network.dtype='float16' is impossible: need one of "
                                    "'float32', 'float64'"),
    ("rhm", "v", 1, "rhm.v=1 is impossible: need an integer >= 2"),
    ("record", "complevel", 10, "record.complevel=10 is impossible: need an integer in 0..9"),
    ("record", "indices", [1], 'record.indices=[1] is impossible: need a list of "name.axis'),
])
def test_config_values_are_checked_with_one_line(section, key, value, says):
    with pytest.raises(ConfigError) as err:
        config.build(_table(**{section: {key: value}}))
    assert says in str(err.value) and "\n" not in str(err.value)


def test_direct_construction_is_checked_too():
    with pytest.raises(ConfigError, match="rhm.L=0 is impossible"):
        config.RHMConfig(L=0)
    with pytest.raises(ConfigError, match="train.stop_loss=nan is impossible"):
        TrainOptions(stop_loss=math.nan)
    with pytest.raises(ConfigError, match="train.seed=-3 is impossible"):
        TrainOptions(seed=-3)


def test_values_are_shown_as_spelled_in_toml():
    assert [shown(v) for v in (True, False, math.nan, -math.inf, "x", [True, 1.5])] == \
        ["true", "false", "nan", "-inf", "'x'", "[true, 1.5]"]


def test_misleading_messages_are_fixed(tmp_path):
    with pytest.raises(ConfigError, match="is a folder, not a TOML file"):
        config.load(tmp_path)
    (tmp_path / "T.toml").write_text("[rhm]\nL = 2\n")
    with pytest.raises(ConfigError) as err:
        config.load(tmp_path / "T.toml", ["foo.bar=1"])
    assert str(err.value).startswith("--set 'foo.bar=1': section 'foo' is unknown; available:")
    with pytest.raises(ConfigError) as err:
        RHM(v=8, n_classes=100, m=4, s=2, L=3)
    assert str(err.value).startswith("n_classes=100 is impossible for m=4, v=8, s=2")


def test_batch_size_above_the_data_is_one_full_batch():
    cfg = config.build(_table(train={"batch_size": 1000}))
    result = train(*_parts(cfg))
    assert result.steps == 1 and result.samples == 64


def _parts(cfg):
    built = build(cfg)
    return built.net, built.rule, built.train_set, built.test_set, built.options


def test_cross_field_checks_come_before_any_tensor():
    with pytest.raises(ConfigError, match="network.depth=3 is impossible: need depth <= rhm.L=2"):
        build(config.build(_table(network={"depth": 3})))
    with pytest.raises(ConfigError, match="rule.view_level=2 is impossible: need views at "):
        build(config.build(_table(rule={"name": "clapp", "view_level": 2})))
    with pytest.raises(ConfigError, match="rhm.L=30 is impossible for s=2: need s\\*\\*L <= "):
        build(config.build(_table(rhm={"L": 30})))


@pytest.mark.parametrize("changes, key", [
    ({"network": {"width": 10**9}}, "network.width=1000000000"),
    ({"rhm": {"L": 6}, "train": {"n_train": 10**9}}, "train.n_train=1000000000"),
])
def test_a_run_larger_than_the_machine_is_refused_with_both_figures(changes, key):
    cfg = config.build(_table(**changes))
    with pytest.raises(ConfigError) as err:
        build(cfg)
    message = str(err.value)
    assert message.startswith(f"{key} is impossible on this machine: the run needs about ")
    assert "available; need a smaller" in message and "\n" not in message


def test_the_estimate_is_modest_for_the_model_files():
    cfg = config.load(ROOT / "models" / "bp.toml")
    parts = check_memory(run_sizes(cfg), run_sizes(config.RunConfig()))
    assert 1e6 < sum(parts.values()) < 1e9
    assert estimate(run_sizes(cfg), views=True)["step"] > parts["step"]


def test_api_misuse_of_data_is_a_config_error():
    with pytest.raises(ConfigError, match="v=0 is impossible"):
        one_hot(torch.zeros(2, 4, dtype=torch.long), 0)
    with pytest.raises(ConfigError, match="x holds token 9: impossible for v=8"):
        one_hot(torch.full((2, 4), 9), 8)
    small, large = RHM(8, 8, 4, 2, 2), RHM(16, 8, 4, 2, 2)
    data, _ = large.split(64, 8, seed=0)
    net = hierarchy(small, 8)
    with pytest.raises(ConfigError) as err:
        train(net, rules.get("bp"), data, data, TrainOptions(epochs=1))
    assert "train_set.x holds token" in str(err.value) and "vocabulary v=8" in str(err.value)
    other, _ = RHM(8, 8, 4, 2, 3).split(16, 8, seed=0)
    with pytest.raises(ConfigError, match="train_set.x.shape=\\(16, 8\\) is impossible"):
        train(net, rules.get("bp"), other, other, TrainOptions(epochs=1))


@pytest.mark.parametrize("axes, says", [
    ({"rule": {"lr": [0.1, math.nan]}}, "rule.lr=nan is impossible"),
    ({"train": {"n_train_multiple": [1, math.inf]}}, "axes.train.n_train_multiple=[1, inf] is "
                                                     "impossible"),
    ({"train": {"epochs": [1, -2]}}, "train.epochs=-2 is impossible"),
])
def test_sweep_values_are_checked_before_any_run(axes, says):
    table = {"base": str(ROOT / "models" / "bp.toml"), "axes": axes}
    with pytest.raises(ConfigError) as err:
        plan.parse(table, "s.toml")
    assert says in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="set.train.n_train_multiple=nan is impossible"):
        plan.parse({"base": table["base"], "set": {"train": {"n_train_multiple": math.nan}}})


def test_toml_files_of_the_analyses_still_load():
    """Sweep files are plans; a run's config (a [rule] section) is a run config."""
    for path in sorted((ROOT / "analyses").rglob("*.toml")):
        if "rule" in tomllib.loads(path.read_text()):
            assert config.load(path).rule.name, path
        else:
            assert plan.load(path).points, path


@pytest.mark.parametrize("call, says", [
    (lambda: config.parse_override("width=3"),
     "--set 'width=3' is not of the form section.key=value (sections: rhm,"),
    (lambda: config.parse_override("rhm.=3"), "--set 'rhm.=3' is not of the form section.key"),
    (lambda: parse_indices(["w1=0:16"]),
     "index selection 'w1=0:16' is not of the form name.axis=selection (e.g. w1.post=0:16)"),
    (lambda: parse_spec("fa:lr"), "rules='fa:lr': 'lr' is not of the form key=value"),
    (lambda: record_overrides("all"), "--record 'all' is not of the form key=value,..."),
    (lambda: parse_assignment("rule=", "--only", "DIM=VALUE", need_value=True),
     "--only 'rule=' is not of the form DIM=VALUE"),
])
def test_key_value_texts_have_one_parser_and_one_message(call, says):
    """--set, --record, --only, rule specs and index selections: one parser
    (``validate.parse_assignment``), one message ("... is not of the form ...")."""
    with pytest.raises(ConfigError) as err:
        call()
    assert str(err.value).startswith(says)
    assert parse_assignment(" rule.lr = 1e-3 ", "--set", dotted=True) == ("rule.lr", "1e-3")
    # the values of every override are read alike: TOML, else the text as a string
    assert config.parse_override("rule.lr=1e-3")[2] == parse_spec("fa:lr=1e-3")[1]["lr"] == 1e-3
    assert config.parse_value("clapp") == "clapp" and config.parse_value('"a b"') == "a b"
