"""`plastisim sweep --ensemble N`: runs packed into ensembles give the files of runs alone."""
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from plastisim import sweep
from plastisim.cli import main
from plastisim.errors import ConfigError
from plastisim.sweep import executors
from plastisim.sweep.executors import run_task
from plastisim.sweep.packing import pack, pack_key
from plastisim.testing import tiny_run_toml

# 3 rules × 2 seeds × 2 learning rates on a tiny RHM (v = n_c = 8, m = 4, L = 2), in float32
# (the default): 12 runs, 3 packs of 4 (a rule's seeds and learning rates)
RULES = """rules = ["bp", "dfa", 'clapp:pairs="siblings",readout_epochs=3']"""
SWEEP = f"""
base = "tiny.toml"
{RULES}
[axes]
rule.lr = [0.5, 2.0]
seed = [0, 1]
"""
#: what depends on when, where and how fast a run ran (and whether it was packed: provenance),
#: not on its numbers
TIMING = {"elapsed", "elapsed_s", "samples_per_s", "ensemble_size", "history", "date", "host",
          "hostname", "platform", "command_line", "executor", "git_commit", "git_dirty",
          "torch_threads", "python_version"}


def _sweep(folder: Path, text: str = SWEEP) -> sweep.Sweep:
    (folder / "tiny.toml").write_text(tiny_run_toml(epochs=10, batch_size=16, evaluations=4))
    (folder / "sweep.toml").write_text(text)
    return sweep.load(folder / "sweep.toml")


def _tasks(plan: sweep.Sweep) -> list:
    return [(point.hash, point.config) for point in plan.points]


def _open(path: Path) -> xr.Dataset:
    with xr.open_dataset(path) as ds:
        return ds.load()


def assert_same_numbers(a: xr.Dataset, b: xr.Dataset, ignore: tuple[str, ...] = ()) -> None:
    """Equal in every variable and attribute but timing ones (and ``ignore``), floats too: a
    packed float32 run gives its numbers alone bit for bit (``tests/test_ensemble.py``)."""
    assert set(a.variables) - TIMING == set(b.variables) - TIMING
    for name in set(a.variables) - TIMING:
        x, y = a[name].values, b[name].values
        assert a[name].dims == b[name].dims, name
        np.testing.assert_array_equal(x, y, err_msg=name)
        assert a[name].attrs == b[name].attrs, name
    keys = set(a.attrs) - TIMING - set(ignore)
    assert keys == set(b.attrs) - TIMING - set(ignore)
    for key in keys:
        x, y = a.attrs[key], b.attrs[key]
        assert np.array_equal(x, y, equal_nan=isinstance(x, (float, np.floating))), key


@pytest.fixture(scope="module")
def alone_and_packed(tmp_path_factory) -> tuple[Path, Path, sweep.SweepReport]:
    folder = tmp_path_factory.mktemp("ensemble")
    plan = _sweep(folder)
    sweep.run_sweep(plan, folder / "alone", workers=0)
    alone = []                          # runs trained alone in the packed sweep: none
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(executors, "run_task", lambda tomls, *args: (
            alone.append(tomls) if len(tomls) == 1 else None) or run_task(tomls, *args))
        report = sweep.run_sweep(plan, folder / "packed", workers=0, ensemble=4)
    assert alone == [], "a pack fell back to runs one by one"
    return folder / "alone", folder / "packed", report


def test_packed_sweep_equals_the_unpacked_one(alone_and_packed):
    alone, packed, report = alone_and_packed
    assert report.packs == 3 and len(report.computed) == 12
    assert "ensembles of up to 4" in report.executor
    a, b = _open(alone / "sweep.nc"), _open(packed / "sweep.nc")
    assert set(a.status.values.ravel()) <= {"converged", "max_epochs"}
    assert a.test_error.std() > 0       # the runs differ: the equality means something
    assert_same_numbers(a, b)
    xr.testing.assert_identical(sweep.comparable(a), sweep.comparable(b))
    names = sorted(p.name for p in (alone / "runs").glob("*.nc"))
    assert names == sorted(p.name for p in (packed / "runs").glob("*.nc")) and len(names) == 12
    for name in names:                  # every run file too
        assert_same_numbers(_open(alone / "runs" / name), _open(packed / "runs" / name))


def _has_dask() -> bool:
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_packs_run_on_every_executor(alone_and_packed, tmp_path, executor):
    """A pack is one task in one worker process (spawned) or on one Dask worker."""
    alone, _, _ = alone_and_packed
    plan = _sweep(tmp_path, SWEEP.replace(RULES, 'rules = ["bp"]'))   # the bp runs: one pack
    if executor == "processes":
        report = sweep.run_sweep(plan, tmp_path / "out", workers=1, ensemble=4)
        assert report.executor.startswith("1 local processes")
    else:
        if not _has_dask():
            pytest.skip("needs dask[distributed]")
        from dask.distributed import Client, LocalCluster
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            report = sweep.run_sweep(plan, tmp_path / "out", scheduler=client, ensemble=4)
    assert report.packs == 1 and len(report.computed) == 4
    runs = {p.name: _open(p) for p in (tmp_path / "out" / "runs").glob("*.nc")}
    elapsed = [ds.attrs["elapsed_s"] for ds in runs.values()]
    assert max(elapsed) - min(elapsed) < 1e-3 * max(elapsed)     # one ensemble's wall time
    for name, ds in runs.items():
        assert_same_numbers(_open(alone / "runs" / name), ds,
                            ignore=("config_source",))    # the model file's path


def test_a_pack_that_cannot_train_as_a_whole_runs_one_by_one(alone_and_packed, tmp_path):
    """A member whose config does not build fails with its reason; the others train alone."""
    alone, _, _ = alone_and_packed
    plan = _sweep(tmp_path)
    good = [point for point in plan.points if point.config.rule.name == "bp"][:2]
    bad = good[0].config.to_toml().replace("[rule]\n", "[rule]\nmomentum = -1.0\n")
    datasets = executors.run_task([good[0].config.to_toml(), bad, good[1].config.to_toml()],
                                  ["a", "b", "c"])
    assert [ds.attrs["status"] for ds in datasets] == ["max_epochs", "failed", "max_epochs"]
    assert "rule.momentum=-1" in datasets[1].attrs["status_message"]
    assert datasets[1].attrs["config_source"] == "b"
    for point, ds in zip(good, datasets[::2]):
        assert ds.attrs["config_hash"] == point.hash
        assert_same_numbers(_open(alone / point.file), ds, ignore=("config_source",))


def test_views_pack_and_give_the_files_of_their_runs_alone(tmp_path):
    """Members with pairs = "views" draw their partners from their own training sets: a pack
    of them gives each run's file alone (and they really are one ensemble)."""
    plan = _sweep(tmp_path, SWEEP.replace(RULES, 'rules = ["clapp:readout_epochs=2"]'))
    tasks = _tasks(plan)[:2]
    assert tasks[0][1].rule.params.get("pairs", "views") == "views"
    assert len(pack(tasks, 4)) == 1
    texts = [cfg.to_toml() for _, cfg in tasks]
    packed = executors.run_task(texts, ["a", "b"])
    assert [ds.attrs["ensemble_size"] for ds in packed] == [2, 2]
    for text, ds in zip(texts, packed):
        [alone] = executors.run_task([text], ["a"])
        assert "ensemble_size" not in alone.attrs
        assert alone.attrs["status"] in ("converged", "max_epochs")
        assert_same_numbers(alone, ds, ignore=("config_source",))


def test_pack_groups_only_what_may_be_packed(tmp_path):
    text = SWEEP.replace(RULES, 'rules = ["bp", "clapp"]') + "network.width = [8, 16]\n"
    plan = _sweep(tmp_path, text)
    tasks = _tasks(plan)
    assert len(tasks) == 16              # 2 rules × 2 lrs × 2 seeds × 2 widths
    packs = pack(tasks, 8)
    config = {key: cfg for key, cfg in tasks}
    for group in packs:                  # a pack shares everything but the member keys
        assert len({pack_key(config[key]) for key, _ in group}) == 1
        assert len({(cfg.network.width, cfg.rule.name) for _, cfg in group}) == 1
    bp = [g for g in packs if g[0][1].rule.name == "bp"]
    assert sorted(len(g) for g in bp) == [4, 4]          # one pack per width
    clapp = [g for g in packs if g[0][1].rule.name == "clapp"]
    assert sorted(len(g) for g in clapp) == [4, 4]       # pairs = "views" (its default) too
    assert pack_key(tasks[0][1]) is not None
    assert [len(g) for g in pack(tasks, 3) if g[0][1].rule.name == "bp"] == [3, 3, 1, 1]
    # in plan order: every task once, packs where their first member is
    flat = [key for group in packs for key, _ in group]
    assert sorted(flat) == sorted(key for key, _ in tasks)
    firsts = [tasks.index(group[0]) for group in packs]
    assert firsts == sorted(firsts)
    assert pack(tasks, 1) == [[task] for task in tasks]  # --ensemble 1: each run alone


def test_cli_ensemble_flag(tmp_path, capsys):
    _sweep(tmp_path)
    path = str(tmp_path / "sweep.toml")
    assert main(["sweep", path, "--dry-run", "--ensemble", "4"]) == 0
    out = capsys.readouterr().out
    assert "12 runs, in 3 tasks (ensembles of up to 4: 3 ensembles, 0 runs alone)" in out
    assert main(["sweep", path, "--dry-run"]) == 0
    assert "tasks" not in capsys.readouterr().out
    assert main(["sweep", path, "--dry-run", "--ensemble", "0"]) == 2
    assert capsys.readouterr().err.strip() == ("plastisim: error: --ensemble=0 is impossible: "
                                               "need an integer >= 1")
    with pytest.raises(ConfigError, match="ensemble=0"):
        sweep.run_sweep(_sweep(tmp_path), tmp_path / "out", workers=0, ensemble=0)
