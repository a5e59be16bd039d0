"""Model files keep their promises: every models/*.toml loads, states its pairing (for the
self-supervised rules) and what it was measured to reach, runs a few steps, and (slow) the files
whose header claims learning reach their claimed test error.

The header's machine-readable lines:

    # measured: test_error = 0.0072 in 178 s (...)       every file: what `plastisim run` gave
    # reaches: test_error <= 0.05                         files that learn: checked by the slow test
"""
import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from plastisim import config, rules
from plastisim.run import execute

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted((ROOT / "models").glob("*.toml"))
CLAIM = re.compile(r"^# reaches: test_error <= ([0-9.eE+-]+)\s*$", re.M)
MEASURED = re.compile(r"^# measured: test_error = ([0-9.eE+-]+) in ([0-9.]+) s", re.M)
#: what a layerwise file must say about its pairs (the defaults change: views_from)
PAIRING_KEYS = {"views": ("pairs", "view_level", "views_from"),      # per rule.pairs
                "siblings": ("pairs", "top_layer"), "cpc": ("pairs", "cpc_offset", "top_layer")}
#: files named for what they show rather than for their rule (the header says which rule)
NAMED_FOR_WHAT_THEY_SHOW = {"grammar_free", "grammar_free_noncontrastive"}
#: a run of a few steps on a tiny network (the model's rule, grammar and pairing kept)
SHRINK = ["network.width=8", "train.n_train=64", "train.n_test=64", "train.epochs=1",
          "train.batch_size=32", "train.device=\"cpu\""]


def _ids(path: Path) -> str:
    return path.name


def _rule_table(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8")).get("rule", {})


def _has(rule_name: str, key: str) -> bool:
    return key in {f.name for f in dataclasses.fields(rules.make_params(rule_name))}


def test_the_model_folder_has_the_files_the_docs_name():
    names = {p.stem for p in MODELS}
    assert {"bp", "clapp", "clapp_lowest_views", "vicreg"} <= names


@pytest.mark.parametrize("path", MODELS, ids=_ids)
def test_model_file_loads_and_round_trips(path):
    cfg = config.load(path)
    assert (path.stem == cfg.rule.name or path.stem.startswith(cfg.rule.name + "_")
            or path.stem in NAMED_FOR_WHAT_THEY_SHOW)
    assert config.build(tomllib.loads(cfg.to_toml())) == \
        config.RunConfig(**{k: getattr(cfg, k) for k in config.SECTIONS})


@pytest.mark.parametrize("path", MODELS, ids=_ids)
def test_model_file_states_its_pairing_and_what_it_reaches(path):
    text = path.read_text(encoding="utf-8")
    assert MEASURED.search(text), f"{path.name}: no '# measured: test_error = X in T s' line"
    table, name = _rule_table(path), config.load(path).rule.name
    if _has(name, "pairs"):
        keys = PAIRING_KEYS.get(table.get("pairs"), PAIRING_KEYS["views"])
        missing = [key for key in keys if key not in table]
        assert not missing, f"{path.name} leaves {missing} to the rule's defaults"
        assert "oracle" in text.lower() or table["views_from"] != "sampler", \
            f"{path.name}: sampler views are an oracle of the latent tree; say so"
    claim = CLAIM.search(text)
    if claim:
        assert float(MEASURED.search(text).group(1)) <= float(claim.group(1))


@pytest.mark.parametrize("path", MODELS, ids=_ids)
def test_every_model_file_runs_a_few_steps(path):
    name = config.load(path).rule.name
    shrink = SHRINK + (["rule.readout_epochs=1"] if _has(name, "readout_epochs") else [])
    outcome = execute(config.load(path, shrink))
    result = outcome.result
    assert result.status in ("converged", "max_epochs"), result.message
    assert 0 < result.steps <= 2 * 2            # two batches per phase
    assert 0.0 <= result.final["test_error"] <= 1.0


def _claims() -> list:
    return [pytest.param(p, float(CLAIM.search(p.read_text()).group(1)), id=p.name)
            for p in MODELS if CLAIM.search(p.read_text())]


def test_the_learning_files_claim_it():
    claimed = {p.values[0].stem for p in _claims()}
    assert {"bp", "clapp", "vicreg"} <= claimed


@pytest.mark.slow
@pytest.mark.parametrize("path, bound", _claims())
def test_model_file_reaches_its_claimed_test_error(path, bound):
    """The full run of the file (minutes each, one thread: see its header)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        outcome = execute(config.load(path, ['train.device="cpu"']))
    finally:
        torch.set_num_threads(before)
    assert outcome.result.status in ("converged", "max_epochs"), outcome.result.message
    assert outcome.result.final["test_error"] <= bound
