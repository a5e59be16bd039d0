"""plastisim.study and `plastisim pstar`: P* tables, bootstrap intervals, learning-rate
selection on training fit only."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr

from plastisim import study
from plastisim.cli import main

GRID = [1.0, 2.0, 4.0]


def _dataset(errors: dict[str, list[list[float]]], n_classes: int = 8) -> xr.Dataset:
    """A merged-sweep-like dataset: test_error over (rule, n_train_multiple, seed)."""
    specs = list(errors)
    err = np.array([np.array(errors[s]).T for s in specs])        # (rule, P, seed)
    dims = ("rule", "n_train_multiple", "seed")
    ds = xr.Dataset({"test_error": (dims, err),
                     "n_classes": (dims, np.full(err.shape, n_classes)),
                     "n_star": (dims, np.full(err.shape, 512)),
                     "status": (dims, np.full(err.shape, "converged", dtype=object))},
                    coords={"rule": specs, "n_train_multiple": GRID,
                            "seed": np.arange(err.shape[2])})
    ds["n_train_multiple"].attrs["units"] = "1"
    return ds


def test_pstar_table_matches_hand_computed_values():
    # threshold 0.1 * (1 - 1/8) = 0.0875; seed means of "a": 0.5, 0.2, 0.05
    ds = _dataset({"a": [[0.5, 0.2, 0.05], [0.5, 0.2, 0.05]],
                   "b": [[0.05, 0.0, 0.0], [0.07, 0.0, 0.0]],
                   "c": [[0.8, 0.7, 0.6], [0.8, 0.7, 0.6]]})
    records = {r["rule"]: r for r in study.rows(study.summarize(ds, n_boot=200))}
    expected = 2.0 * 2.0 ** ((0.2 - 0.0875) / (0.2 - 0.05))      # linear in log P: 3.364
    assert records["a"]["P_star"] == pytest.approx(expected)
    assert records["a"]["text"] == f"{expected:.2f}" == "3.36"
    # identical seeds: every resample gives the same P*
    assert records["a"]["P_star_low"] == records["a"]["P_star_high"] == pytest.approx(expected)
    assert records["b"]["below_grid"] and records["b"]["text"] == "≤ 1"
    assert not records["c"]["crossed"] and records["c"]["P_star"] is None
    assert records["c"]["text"] == "> 4" and records["c"]["interval"] == "[> 4, > 4]"
    assert {r["n_seeds"] for r in records.values()} == {2}


def test_bootstrap_interval_spans_the_seeds():
    # two seeds: the resamples' mean curves are seed 0, seed 1 or their mean
    ds = _dataset({"a": [[0.5, 0.3, 0.01], [0.5, 0.05, 0.0]]})
    record = study.rows(study.summarize(ds, n_boot=400))[0]
    p0 = 2.0 * 2.0 ** ((0.3 - 0.0875) / (0.3 - 0.01))
    p1 = 1.0 * 2.0 ** ((0.5 - 0.0875) / (0.5 - 0.05))
    mean = 2.0 * 2.0 ** ((0.175 - 0.0875) / (0.175 - 0.005))
    assert record["P_star"] == pytest.approx(mean)
    assert record["P_star_low"] == pytest.approx(p1)        # 2.5% quantile: the best seed
    assert record["P_star_high"] == pytest.approx(p0)       # 97.5%: the worst seed
    assert p1 < mean < p0


def _lr_dataset(train_loss, test_error, status=None, steps=None, rule="bp") -> xr.Dataset:
    """(lr, n_train_multiple, seed) with given train losses and test errors (lr-major)."""
    shape = (3, 2, 2)
    dims = ("lr", "n_train_multiple", "seed")
    full = lambda v: np.broadcast_to(np.asarray(v, dtype=float).reshape(-1, 1, 1), shape).copy()  # noqa: E731
    return xr.Dataset({
        "train_loss": (dims, full(train_loss)), "test_error": (dims, full(test_error)),
        "train_error": (dims, full([0.5, 0.5, 0.5])),
        "status": (dims, np.broadcast_to(np.array(status or ["max_epochs"] * 3, dtype=object)
                                         .reshape(-1, 1, 1), shape).copy()),
        "steps": (dims, full(steps or [100, 100, 100])),
        "rule_name": (dims, np.full(shape, rule, dtype=object)),
        "n_classes": (dims, np.full(shape, 8))},
        coords={"lr": [0.1, 0.3, 1.0], "n_train_multiple": [1.0, 2.0], "seed": [0, 1]})


def test_lr_selection_never_reads_test_error():
    # test error favours lr = 0.1, training loss favours lr = 0.3
    ds = _lr_dataset(train_loss=[0.5, 0.1, 0.9], test_error=[0.0, 0.8, 0.8])
    chosen = study.select_lr(ds)
    assert (chosen["lr"] == 0.3).all()
    assert (chosen["test_error"] == 0.8).all()              # the chosen rate's test error
    assert chosen["lr"].dims == ("n_train_multiple",)
    # and it works without any test error at all
    assert (study.select_lr(ds.drop_vars("test_error"))["lr"] == 0.3).all()


def test_lr_selection_ranks_converged_rates_by_steps_and_diverged_last():
    ds = _lr_dataset(train_loss=[0.009, 0.008, np.nan], test_error=[0.5, 0.5, 0.5],
                     status=["converged", "converged", "diverged"], steps=[900, 300, 10])
    assert (study.select_lr(ds)["lr"] == 0.3).all()
    # one seed of the fastest rate did not converge: the other converged rate wins
    ds["status"][1, 0, 1] = "max_epochs"
    chosen = study.select_lr(ds)["lr"]
    assert float(chosen.sel(n_train_multiple=1.0)) == 0.1
    assert float(chosen.sel(n_train_multiple=2.0)) == 0.3


def test_self_supervised_rules_are_selected_on_readout_train_error():
    ds = _lr_dataset(train_loss=[0.1, 5.0, 9.0], test_error=[0.0, 0.0, 0.0], rule="vicreg")
    ds["train_error"][:] = np.array([0.4, 0.1, 0.3]).reshape(-1, 1, 1)
    assert (study.select_lr(ds)["lr"] == 0.3).all()
    bp = _lr_dataset(train_loss=[0.1, 5.0, 9.0], test_error=[0.0, 0.0, 0.0])
    bp["train_error"][:] = ds["train_error"]
    assert (study.select_lr(bp)["lr"] == 0.1).all()
    assert (study.select_lr(bp, by="error")["lr"] == 0.3).all()


def test_last_layer_sensitivity_reads_each_runs_own_depth():
    values = np.full((2, 4, 4), np.nan)
    values[0, :3, :3] = 0.5
    values[0, 2, 2] = 0.1          # L = 3: S_{3,2}
    values[1] = 0.7
    values[1, 3, 3] = 0.2          # L = 4: S_{4,3}
    s = xr.DataArray(values, dims=("run", "layer", "level"))
    assert study.last_layer_sensitivity(s).values.tolist() == [0.1, 0.2]


def test_pstar_command_table_json_and_figure(tmp_path, capsys):
    ds = _dataset({"bp": [[0.5, 0.2, 0.05]] * 3, "dfa": [[0.8, 0.6, 0.3]] * 3})
    ds["sensitivity"] = (ds.test_error.dims + ("layer", "level"),
                         np.broadcast_to(ds.test_error.values[..., None, None],
                                         ds.test_error.shape + (3, 3)).copy())
    path = tmp_path / "sweep.nc"
    ds.to_netcdf(path)
    assert main(["pstar", str(path), "--boot", "50"]) == 0
    out = capsys.readouterr().out
    assert "3.36" in out and "> 4" in out and (tmp_path / "sweep_pstar.png").stat().st_size > 0
    assert main(["pstar", str(path), "--json", "--no-png", "--boot", "0"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["rule"] for r in records] == ["bp", "dfa"]
    assert math.isclose(records[0]["P_star"], 3.3636, rel_tol=1e-4)
    assert records[1]["P_star"] is None and records[1]["crossed"] is False


def test_pstar_bad_input_is_one_line(tmp_path, capsys):
    assert main(["pstar", str(tmp_path / "none.nc")]) == 2
    assert "does not exist" in capsys.readouterr().err
    other = tmp_path / "other.nc"
    xr.Dataset({"x": ("a", [1.0])}).to_netcdf(other)
    assert main(["pstar", str(other)]) == 2
    assert "not a merged sweep dataset" in capsys.readouterr().err
