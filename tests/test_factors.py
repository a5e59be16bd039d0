"""The three factors of every projection, recorded per stream: they multiply back to the
recorded updates, for every rule family, in memory and through ``plastisim run``."""
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import plastisim as ps
from plastisim import rules
from plastisim.cli import main
from plastisim.network import hierarchy
from plastisim.recording.monitor import Monitor
from plastisim.train import TrainOptions, train

ROOT = Path(__file__).resolve().parents[1]
RHM = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
DATA = RHM.split(128, 64, seed=1)
B = 32


def multiplied_back(ds: xr.Dataset, syn: str, batch: int) -> tuple[float, int]:
    """Largest |(1/B) Σ M·post·pre − update| / max|update| over the recorded steps."""
    M, post = ds[f"factor_M_{syn}"], ds[f"factor_post_{syn}"]
    pre, upd = ds[f"factor_pre_{syn}"], ds[f"update_{syn}"]
    worst, checked = 0.0, 0
    for step in ds.step.values:
        u = upd.sel(step=step).values
        if np.isnan(u).all():                       # the initial record: no step yet
            continue
        mp = (M.sel(step=step) * post.sel(step=step)).fillna(0).values
        x = pre.sel(step=step).fillna(0).values
        back = np.einsum("absi,absk->ik", mp, x) / batch
        worst = max(worst, float(np.abs(back - u).max() / np.abs(u).max()))
        checked += 1
    return worst, checked


@pytest.mark.parametrize("name, params", [
    ("clapp", {"pairs": "siblings"}), ("clapp", {"pairs": "views"}), ("bp", {}), ("dfa", {}),
    ("vicreg", {"pairs": "views"}), ("lpl", {"pairs": "siblings"}),
    ("stopgrad", {"update_norm": "layer"})])
def test_recorded_factors_multiply_back_to_the_updates(name, params):
    net = hierarchy(RHM, 16, seed=0, dtype=torch.float64)
    mon = Monitor(net, weights="", updates="all", factors="all", factor_streams=B,
                  factor_gamma=name == "clapp", every=2)
    train(net, rules.get(name, **params), *DATA, TrainOptions(epochs=1, batch_size=B), rhm=RHM,
          monitor=mon)
    ds = mon.to_xarray()
    for syn in net.synapses:
        worst, checked = multiplied_back(ds, syn, B)
        assert checked >= 1 and worst < 1e-6, (syn, worst)
    assert ds.factor_post_w1.dims == ("step", "path_w1", "stream_w1", "fposition_w1", "post_w1")
    assert ds.factor_pre_w1.dims[-1] == "pre_w1"
    post = ds.factor_post_w1.isel(step=-1).values
    assert set(np.unique(post[~np.isnan(post)])) <= {0.0, 1.0}      # the ReLU gate
    if name == "clapp":                         # CLAPP's global modulator: +1, −1 or 0
        gamma = ds.factor_gamma_w1.values                 # (the readout phase: NaN)
        assert set(np.unique(gamma[~np.isnan(gamma)])) <= {-1.0, 0.0, 1.0}
        assert (gamma == 1).any() and (gamma == -1).any()


def test_factors_keep_the_selection_and_pad_missing_streams():
    net = hierarchy(RHM, 16, seed=0)
    mon = Monitor(net, weights="", factors="w1", factor_streams=40, every=1,
                  indices={"w1": {"post": "0:4", "pre": "3,5"}})
    train(net, rules.get("bp"), *DATA, TrainOptions(epochs=1, batch_size=B), monitor=mon)
    ds = mon.to_xarray()
    assert ds.factor_M_w1.shape[1:] == (2, 40, net.synapses["w1"].post.positions, 4)
    assert list(ds.pre_w1.values) == [3, 5] and ds.factor_pre_w1.shape[-1] == 2
    last = ds.factor_M_w1.isel(step=-1)
    assert np.isnan(last.sel(path_w1=1)).all()              # bp has one data path
    assert np.isnan(last.sel(path_w1=0, stream_w1=slice(B, None))).all()   # B < 40 streams
    assert np.isfinite(last.sel(path_w1=0, stream_w1=slice(0, B - 1))).all()
    assert "factor_gamma_w1" not in ds


def test_plastisim_run_records_the_factors(tmp_path):
    out = tmp_path / "clapp.nc"
    assert main(["run", str(ROOT / "models" / "clapp.toml"), "--quiet", "--out", str(out),
                 "--set", "rhm.L=2", "--set", "network.width=16", "--set", "train.n_train=256",
                 "--set", "train.n_test=64", "--set", "train.epochs=2",
                 "--set", "rule.readout_epochs=2", "--set", "record.factors=all",
                 "--set", "record.updates=all", "--set", "record.every=2"]) == 0
    with xr.open_dataset(out) as ds:
        assert {"factor_M_w1", "factor_gamma_w1", "factor_pre_readout"} <= set(ds.data_vars)
        assert ds.sizes["stream_w1"] == 8                      # record.factor_streams
