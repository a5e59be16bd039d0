"""`plastisim sweep`: sweep files, executors (processes, Dask), resume, failures, merged data."""
import dataclasses
import math
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from plastisim import rules, sweep
from plastisim.cli import main
from plastisim.errors import ConfigError, PlastisimError
from plastisim.metrics import sample_complexity, sample_complexity_from_dataset
from plastisim.sweep import parse_spec

ROOT = Path(__file__).resolve().parents[1]
MODELS = (ROOT / "models").as_posix()


def _has_dask() -> bool:
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        return False
    return True


requires_dask = pytest.mark.skipif(not _has_dask(), reason="needs dask[distributed]")

# 2 rules × 2 sizes × 2 seeds on a tiny RHM (v = n_c = 8, m = 4, L = 2: n_c·m^L = 128)
TINY = f"""
models = ["{MODELS}/bp.toml", "{MODELS}/dfa.toml"]
[set]
rhm.L = 2
network.width = 16
train.n_test = 256
train.epochs = 15
train.evaluations = 5
[axes]
train.n_train_multiple = [0.5, 1]
seed = [0, 1]
"""


def _write(folder: Path, text: str, name: str = "sweep.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _open(path: Path) -> xr.Dataset:
    with xr.open_dataset(path) as ds:
        return ds.load()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("tiny"), TINY)


@pytest.fixture(scope="module")
def reference(tiny, tmp_path_factory) -> xr.Dataset:
    """The tiny sweep, uninterrupted, on 2 local processes."""
    out = tmp_path_factory.mktemp("processes") / "out"
    assert main(["sweep", str(tiny), "--out", str(out), "--workers", "2", "--quiet"]) == 0
    return _open(out / "sweep.nc")


def test_merged_dataset_schema(reference):
    ds = reference
    assert ds.test_error.dims == ("model", "n_train_multiple", "seed")
    assert list(ds.model.values) == ["bp", "dfa"] and list(ds.seed.values) == [0, 1]
    assert ds.n_train_multiple.attrs["sweep_key"] == "train.n_train_multiple"
    assert (ds.n_train.sel(n_train_multiple=0.5) == 64).all()
    assert (ds.n_train.sel(n_train_multiple=1) == 128).all()
    assert set(ds.status.values.ravel()) <= {"converged", "max_epochs"}
    assert np.isfinite(ds.test_error).all() and ds.attrs["n_missing"] == 0
    assert ds.curve_test_error.dims[-1] == "eval"
    np.testing.assert_array_equal(ds.curve_test_error.isel(eval=-1), ds.test_error)
    # the seed axis sets network/shuffle/data/feedback seeds: same across models and sizes,
    # different between seeds and between targets
    for name in ("seed_network", "seed_train", "seed_data", "seed_feedback_seed"):
        assert (ds[name].isel(seed=0) == ds[name].isel(seed=0, model=0, n_train_multiple=0)).all()
        assert (ds[name].isel(seed=0) != ds[name].isel(seed=1)).all()
    assert int(ds.seed_network[0, 0, 0]) != int(ds.seed_train[0, 0, 0])
    assert ds.test_error.std() > 0          # the runs differ: the comparisons below mean something
    for var in ("test_error", "train_loss", "elapsed", "steps"):
        assert "long_name" in ds[var].attrs and "units" in ds[var].attrs
    assert ds.attrs["torch_threads_per_run"] == 1 and "sweep_toml" in ds.attrs



def test_merged_rule_name_and_final_sensitivity(reference):
    ds = reference
    assert "rule" not in ds.variables        # `rule` is the dimension of a rules axis
    for model in ("bp", "dfa"):
        assert (ds.rule_name.sel(model=model) == model).all()
    # S_{k,l} of hidden layer k = 1..L to synonyms re-drawn below level l = 0..L-1 (L = 2)
    s = ds.sensitivity
    assert s.dims == ("model", "n_train_multiple", "seed", "layer", "level")
    assert list(ds.layer.values) == [1, 2] and list(ds.level.values) == [0, 1]
    assert s.attrs["units"] == "1" and "long_name" in s.attrs
    finished = ds.status.isin(["converged", "max_epochs"])
    assert finished.all()
    assert np.isfinite(s).all() and (s >= 0).all() and (s <= 1.5).all()
    assert s.std() > 0

@requires_dask
def test_processes_and_dask_give_identical_datasets(tiny, reference, tmp_path):
    from dask.distributed import LocalCluster

    out = tmp_path / "dask"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        assert main(["sweep", str(tiny), "--out", str(out), "--scheduler",
                     cluster.scheduler_address, "--quiet"]) == 0
    ds = _open(out / "sweep.nc")
    assert ds.attrs["executor"].startswith("dask.distributed scheduler tcp://")
    assert reference.attrs["executor"] == "2 local processes (spawn)"
    xr.testing.assert_identical(sweep.comparable(ds), sweep.comparable(reference))
    # ... and so the same P* table (plastisim pstar)
    from plastisim import study
    assert study.rows(study.summarize(ds, n_boot=100)) == study.rows(
        study.summarize(reference, n_boot=100))


def test_killed_sweep_resumes_only_unfinished_runs(tiny, reference, tmp_path, capsys):
    out = tmp_path / "killed"
    runs = out / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "plastisim.cli", "sweep", str(tiny),
                             "--out", str(out), "--workers", "1", "--quiet"], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and len(list(
            runs.glob("*.nc"))) < 2:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)    # the sweep and its worker process
    proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.nc")}
    assert 2 <= len(done) < 8, f"kill did not land midway: {len(done)} of 8 runs finished"
    assert not (out / "sweep.nc").exists()

    assert main(["sweep", str(tiny), "--out", str(out), "--quiet"]) == 2    # no silent redo
    assert "pass --resume" in capsys.readouterr().err
    assert main(["sweep", str(tiny), "--out", str(out), "--resume", "--workers", "0",
                 "--quiet"]) == 0
    summary = capsys.readouterr().out
    assert f"computed {8 - len(done)} runs, skipped {len(done)} finished runs" in summary
    assert all((runs / name).stat().st_mtime_ns == t for name, t in done.items())  # not redone
    xr.testing.assert_identical(sweep.comparable(_open(out / "sweep.nc")),
                                sweep.comparable(reference))


def test_failed_and_diverged_runs_are_recorded_and_the_others_complete(tmp_path, capsys):
    path = _write(tmp_path, f"""
base = "{MODELS}/bp.toml"
[set]
rhm.L = 2
network.width = 16
train.n_train = 256
train.n_test = 64
train.epochs = 3
[axes]
rhm.m = [4, 9]
rule.lr = [0.05, 1e6]
""")
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "0", "--quiet"]) == 1
    summary = capsys.readouterr().out
    reason = "rhm.m=9 is impossible for v=8, s=2: need m*v <= v**s (m <= 8)"
    assert f"m=9, lr=0.05: failed: {reason}" in summary
    ds = _open(out / "sweep.nc")
    assert ds.status.sel(m=4, lr=0.05) == "max_epochs"
    assert np.isfinite(ds.test_error.sel(m=4, lr=0.05))
    assert ds.status.sel(m=4, lr=1e6) == "diverged"
    assert str(ds.status_message.sel(m=4, lr=1e6).values).startswith("diverged at step ")
    assert (ds.status.sel(m=9) == "failed").all()
    assert all(str(v) == reason for v in ds.status_message.sel(m=9).values)
    assert np.isnan(ds.test_error.sel(m=9)).all() and np.isnan(ds.test_error.sel(m=4, lr=1e6))
    assert ds.attrs["n_missing"] == 3 and len(ds.attrs["missing_points"].splitlines()) == 3
    assert _open(out / str(ds.run_file.sel(m=9, lr=0.05).values)).attrs["status"] == "failed"
    # --resume keeps the finished (and the diverged) runs and retries the failed ones
    assert main(["sweep", str(path), "--out", str(out), "--resume", "--workers", "0",
                 "--quiet"]) == 1
    assert "computed 2 runs, skipped 2 finished runs" in capsys.readouterr().out


BAD = [
    ({"base": "BASE", "axes": {"rhm": {"mm": [1, 2]}}},
     "axes 'rhm.mm' is not a known key; available: rhm.v, rhm.n_classes"),
    ({"base": "BASE", "axes": {"rule": {"lr": 0.1}}},
     "axes.rule.lr=0.1 is not a list: an axis needs a list of values"),
    ({"base": "BASE", "axes": {"widht": [8]}}, "axes 'widht' is unknown; available: seed,"),
    ({"base": "BASE", "axes": {"rule": {"feedbak_seed": [1]}}},
     "axes 'rule.feedbak_seed' is not a parameter of rule 'bp'"),
    ({"base": "BASE", "axes": {"seed": [0, 0]}}, "axes.seed=[0, 0] repeats a value"),
    ({"base": "BASE", "axes": {"seed": [-1]}}, "axes.seed=[-1] is impossible"),
    ({"base": "BASE", "axes": {"rule": {"lr": ["x"]}}}, "rule.lr='x' has the wrong type"),
    ({"base": "BASE", "set": {"rule": {"lr": 1.0}}, "axes": {"rule": {"lr": [1.0]}}},
     "rule.lr is both fixed in [set] and swept in [axes]"),
    ({"base": "models/nope.toml"}, "base='models/nope.toml': model file does not exist"),
    ({"axes": {"seed": [0]}}, "a sweep file needs exactly one of base"),
    ({"base": "BASE", "axis": {}}, "axis is not a known key of a sweep file"),
    ({"base": "BASE", "seed": {"mode": "random"}}, "seed.mode='random' is unknown"),
    ({"base": "BASE", "step_budget": 0}, "step_budget=0 is impossible"),
    ({"base": "BASE", "min_epochs": 10}, "min_epochs needs step_budget"),
    ({"base": "BASE", "step_budget": 10, "min_epochs": 0}, "min_epochs=0 is impossible"),
    ({"base": "BASE", "set": {"train": {"n_train_multiple": 0}}},
     "set.train.n_train_multiple=0 is impossible"),
    ({"base": "BASE", "set": {"train": {"n_train": 100, "n_train_multiple": 1}}},
     "give train.n_train or train.n_train_multiple, not both"),
    ({"base": "BASE", "set": {"train": {"n_train": 100}},
      "axes": {"train": {"n_train_multiple": [1, 2]}}},
     "give train.n_train or train.n_train_multiple, not both"),
    ({"base": "BASE", "rules": ["bp", "clapp"], "set": {"rule": {"readout_epochs": 3}}},
     "set 'rule.readout_epochs' is not a parameter of rule 'bp' (rules: 'bp')"),
]


@pytest.mark.parametrize("table, message", BAD, ids=[m.split(" ")[0] for _, m in BAD])
def test_bad_sweep_files_are_one_line_config_errors(table, message, tmp_path):
    if table.get("base") == "BASE":
        table = {**table, "base": f"{MODELS}/bp.toml"}
    with pytest.raises(ConfigError) as err:
        sweep.parse(table, str(tmp_path / "bad.toml"))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sweep file" in err and "does not exist" in err
    path = _write(tmp_path, f'base = "{MODELS}/bp.toml"\n[axes]\nrule.lr = 0.1\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "axes.rule.lr=0.1 is not a list" in capsys.readouterr().err


def test_plan_seeds_units_budget_and_hashes(tmp_path):
    path = _write(tmp_path, f"""
base = "{MODELS}/dfa.toml"
step_budget = 100
[set]
rhm.L = 2
[axes]
train.n_train_multiple = [0.5, 2]
seed = [0, 7]
rhm.seed = [3]
""")
    plan = sweep.load(path)
    assert [a.dim for a in plan.axes] == ["n_train_multiple", "seed", "rhm_seed"]
    assert plan.shape == (2, 2, 1) and len({p.hash for p in plan.points}) == 4
    for point in plan.points:
        cfg, (i, j, _) = point.config, point.index
        assert cfg.train.n_train == round([0.5, 2][i] * 8 * 4 ** 2)
        assert cfg.train.epochs == math.ceil(100 * cfg.train.batch_size / cfg.train.n_train)
        s = [0, 7][j]
        assert point.seeds == {t: sweep.derive_seed(s, t) for t in (
            "network.seed", "train.seed", "train.data_seed", "rule.feedback_seed")}
        assert cfg.network.seed == point.seeds["network.seed"] and cfg.rhm.seed == 3
        assert cfg.rule.params["feedback_seed"] == point.seeds["rule.feedback_seed"]
        assert point.hash == sweep.config_hash(cfg)
    assert [p.hash for p in sweep.load(path).points] == [p.hash for p in plan.points]
    same = sweep.parse({**tomllib.loads(path.read_text()), "seed": {"mode": "same"}},
                       str(path))
    assert set(same.points[-1].seeds.values()) == {7}



SPECS = ["bp", "fa:lr=1.0,momentum=0.8", 'clapp:view_level="matched",readout_epochs=7']


def test_rule_spec_axis_replaces_the_models_rule(tmp_path):
    path = _write(tmp_path, f"""
base = "{MODELS}/bp.toml"
rules = {SPECS!r}
[set]
rhm.L = 2
rule.momentum = 0.5
[axes]
seed = [0, 1]
""")
    assert parse_spec('vicreg:lr=5,view_level="matched", pairs=siblings') == (
        "vicreg", {"lr": 5, "view_level": "matched", "pairs": "siblings"})   # bare word: str
    plan = sweep.load(path)
    axis = plan.axes[0]
    assert (axis.key, axis.dim, axis.values) == ("rules", "rule", tuple(SPECS))
    assert plan.shape == (3, 2)
    given = {"bp": {}, "fa": {"lr": 1.0}, "clapp": {"view_level": "matched", "readout_epochs": 7}}
    for point in plan.points:
        cfg, (i, j) = point.config, point.index
        name = cfg.rule.name
        assert name == SPECS[i].partition(":")[0]
        # the rule's defaults (not bp.toml's [rule]: clapp keeps weight_decay 0), then the
        # spec, then [set] (momentum 0.5 beats the spec's 0.8), then the seed axis
        own_seeds = {"clapp": ["rule.seed"]}.get(name, ["rule.feedback_seed"])
        assert [t for t in point.seeds if t.startswith("rule.")] == own_seeds
        seeds = {t[len("rule."):]: point.seeds[t] for t in own_seeds}
        assert seeds == {t[len("rule."):]: sweep.derive_seed([0, 1][j], t) for t in own_seeds}
        expected = {**vars(rules.make_params(name)), **given[name], "momentum": 0.5, **seeds}
        assert vars(rules.make_params(name, **cfg.rule.params)) == expected


BAD_SPECS = [
    pytest.param(["clap"], "rules[0]='clap': rule 'clap' is unknown or not trainable on the "
                 "RHM; available: bp", id="unknown rule"),
    pytest.param(["bp", "triplet"], "rules[1]='triplet': rule 'triplet' is unknown or not "
                 "trainable", id="stdp rule"),
    pytest.param(["fa:lrr=1.0"], "rules[0]='fa:lrr=1.0': rule.lrr is not a parameter of rule "
                 "'fa'", id="unknown parameter"),
    pytest.param(["fa:lr=fast"], "rules[0]='fa:lr=fast': rule.lr='fast' has the wrong type for "
                 "rule 'fa'", id="wrong type"),
    pytest.param(["fa:lr"], "rules[0]='fa:lr': 'lr' is not of the form key=value", id="no ="),
    pytest.param([], "rules=[] is impossible: need a non-empty list", id="empty"),
    pytest.param(["bp", "fa", "bp"], "rules=['bp', 'fa', 'bp'] repeats a spec",
                 id="duplicate"),
]


@pytest.mark.parametrize("specs, message", BAD_SPECS)
def test_bad_rule_specs_are_one_line_config_errors_naming_rules(specs, message, tmp_path):
    with pytest.raises(ConfigError) as err:
        sweep.parse({"base": f"{MODELS}/bp.toml", "rules": specs}, str(tmp_path / "bad.toml"))
    text = str(err.value)
    assert message in text and "rules" in text and "\n" not in text


def test_min_epochs_and_a_fixed_multiple_per_run(tmp_path):
    path = _write(tmp_path, f"""
base = "{MODELS}/bp.toml"
step_budget = 1000
min_epochs = 50
[set]
rhm.L = 2
train.batch_size = 64
[axes]
train.n_train_multiple = [0.5, 2, 16]
""")
    plan = sweep.load(path)
    sizes = [p.config.train.n_train for p in plan.points]
    assert sizes == [64, 256, 2048]          # n_c·m^L = 128
    assert [p.config.train.epochs for p in plan.points] == [1000, 250, 50]
    for point in plan.points:
        n = point.config.train.n_train
        assert point.config.train.epochs == max(math.ceil(1000 * 64 / n), 50)
    # a fixed multiple in [set] follows each run's own RHM: round(1.3 · n_c · m^L)
    fixed = sweep.parse({"base": f"{MODELS}/bp.toml", "set": {"rhm": {"L": 2}, "train": {
        "n_train_multiple": 1.3}}, "axes": {"rhm": {"m": [3, 4]}}}, str(path))
    assert [p.config.train.n_train for p in fixed.points] == [round(1.3 * 8 * 9),
                                                             round(1.3 * 8 * 16)] == [94, 166]
    assert [p.config.train.epochs for p in fixed.points] == [250, 250]   # bp.toml's


#: fixed settings and one seed: a sweep of tiny runs (appended to a file's top-level keys)
TINY_GRID = """
[set]
rhm.L = 2
network.width = 8
train.n_train = 64
train.n_test = 64
train.epochs = 2
[axes]
seed = [0]
"""


def test_rule_spec_sweep_runs_and_merges(tmp_path):
    specs = ["bp", "fa:lr=1.0"]
    path = _write(tmp_path, f"""
base = "{MODELS}/bp.toml"
rules = {specs!r}
""" + TINY_GRID)
    ds = sweep.run_sweep(sweep.load(path), tmp_path / "out", workers=0).dataset
    assert ds.test_error.dims == ("rule", "seed") and list(ds.rule.values) == specs
    assert ds.rule.attrs["sweep_key"] == "rules"
    assert list(ds.rule_name.values[:, 0]) == ["bp", "fa"]
    assert ds.sensitivity.dims == ("rule", "seed", "layer", "level")
    assert np.isfinite(ds.sensitivity).all()
    for key in ("rate_variance", "dead_fraction", "participation_ratio", "partner_r2"):
        assert ds[key].dims == ("rule", "seed", "layer")     # each run's own, per layer
    assert (ds.rate_variance > 0).all() and (ds.participation_ratio >= 1).all()
    assert np.isfinite(ds.partner_r2.sel(layer=1)).all()      # L = 2: layer 1 has siblings
    assert np.isnan(ds.partner_r2.sel(layer=2)).all()         # the top layer has none


def test_every_trainable_rule_runs_in_a_sweep(tmp_path):
    names = [n for n in rules.names() if rules.info(n).family != "stdp"]
    files = []
    for name in names:
        fields = {f.name for f in dataclasses.fields(rules.make_params(name))}
        extra = "readout_epochs = 2\n" if "readout_epochs" in fields else ""
        if name == "codepred":           # its network: a prediction group after each layer
            extra += "[network]\npredictions = true\n"
        files.append(_write(tmp_path, f'[rule]\nname = "{name}"\n{extra}', f"{name}.toml").name)
    path = _write(tmp_path, f"models = {files}\n".replace("'", '"') + TINY_GRID)
    report = sweep.run_sweep(sweep.load(path), tmp_path / "out", workers=0)
    assert list(report.dataset.model.values) == names
    assert not report.failed, report.failed


def test_sample_complexity_from_the_merged_dataset():
    multiples = np.array([0.5, 1.0, 2.0, 4.0])
    err = np.array([[[0.8, 0.7], [0.5, 0.3], [0.05, 0.07], [0.01, 0.0]],     # crosses
                    [[0.8, 0.8], [0.8, 0.8], [0.7, 0.8], [0.6, np.nan]]])   # never
    ds = xr.Dataset({"test_error": (("model", "n_train_multiple", "seed"), err),
                     "n_classes": (("model", "n_train_multiple", "seed"), np.full(err.shape, 8))},
                    coords={"model": ["bp", "dfa"], "n_train_multiple": multiples,
                            "seed": [0, 1]})
    ds.n_train_multiple.attrs["units"] = "1"
    p_star = sample_complexity_from_dataset(ds)
    assert p_star.dims == ("model",) and p_star.name == "P_star"
    expected = sample_complexity(multiples, err[0].mean(1), 8).P_star
    assert p_star.sel(model="bp") == pytest.approx(expected) and 1 < expected < 2
    assert np.isnan(p_star.sel(model="dfa"))
    reversed_grid = ds.isel(n_train_multiple=slice(None, None, -1))
    assert sample_complexity_from_dataset(reversed_grid).sel(model="bp") == pytest.approx(expected)
    with pytest.raises(ConfigError, match="over='n_train'"):
        sample_complexity_from_dataset(ds, over="n_train")


def test_analyses_sweep_files_load():
    """The study files reproduce docs/results.md §1 and §4 (budgets, grids, rule defaults)."""
    masking = sweep.load(ROOT / "analyses" / "masking.toml")
    assert [a.dim for a in masking.axes] == ["rule", "n_train_multiple", "seed"]
    assert masking.shape == (6, 6, 3)
    assert list(masking.axes[0].values) == ["bp", "fa", "bp_nomask", "dfa", "sdfa", "drtp"]
    sizes = sorted({p.config.train.n_train for p in masking.points})
    assert sizes == [256, 512, 1024, 2048, 4096, 8192]
    for point in masking.points:
        cfg = point.config
        assert (cfg.rhm.v, cfg.rhm.n_classes, cfg.rhm.m, cfg.rhm.L) == (8, 8, 4, 3)
        assert (cfg.network.width, cfg.train.n_test, cfg.train.batch_size) == (256, 10000, 128)
        assert cfg.train.epochs == max(math.ceil(3000 * 128 / cfg.train.n_train), 100)
        assert list(cfg.rule.params) == ["feedback_seed"]      # the rule's defaults otherwise
    assert {p.config.rule.name for p in masking.points} == set(masking.axes[0].values)
    complexity = sweep.load(ROOT / "analyses" / "sample_complexity.toml")
    assert [a.dim for a in complexity.axes] == ["rule", "n_train_multiple", "seed"]
    assert complexity.shape == (3, 6, 3)
    assert [parse_spec(s)[0] for s in complexity.axes[0].values] == [
        "clapp", "clapp_s", "vicreg"]
    for point in complexity.points:
        cfg = point.config
        assert (cfg.rhm.m, cfg.rhm.L, cfg.network.width) == (4, 3, 256)
        assert cfg.rule.params["view_level"] == "matched"
        assert cfg.rule.params["views_from"] == "sampler"    # §2's oracle views, not the default
        assert cfg.rule.params["readout_epochs"] == 1000
        assert cfg.train.epochs == max(math.ceil(6000 * 128 / cfg.train.n_train), 30)
    # the same data and initial weights as the masking study at every seed
    assert {p.config.train.data_seed for p in complexity.points} == {
        p.config.train.data_seed for p in masking.points}


def test_only_runs_a_subset_with_the_same_run_files(tmp_path, capsys):
    plan = sweep.load(ROOT / "analyses" / "masking.toml")
    part = sweep.subset(plan, "rule", ["bp"])
    assert [a.values for a in part.axes][0] == ("bp",)
    assert len(part.points) == len(plan.points) // 6
    whole = {p.hash for p in plan.points if p.config.rule.name == "bp"}
    assert {p.hash for p in part.points} == whole          # resumable into the whole sweep
    assert all(p.index[0] == 0 for p in part.points)
    two = sweep.subset(part, "n_train_multiple", ["1", "16"])
    assert two.shape == (1, 2, 3)
    for args, message in [(["--only", "rule=bq"], "--only rule=bq is not a value of the axis; "
                                                  "available: bp, fa"),
                          (["--only", "width=1"], "'width' is not an axis of the sweep"),
                          (["--only", "rule"], "is not of the form DIM=VALUE")]:
        assert main(["sweep", str(ROOT / "analyses" / "masking.toml"), "--dry-run", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
