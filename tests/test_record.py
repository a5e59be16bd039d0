"""Run files: crash safety (SIGKILL), `run --record`, [record] config, export, report, analysis."""
import hashlib
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import plastisim as ps
from plastisim import analysis, config
from plastisim.bench.record import bench_record
from plastisim.cli import main
from plastisim.cli.record import record_overrides
from plastisim.network import hierarchy
from plastisim.recording import record
from plastisim.recording.monitor import Monitor
from plastisim.rules.base import StepResult

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
FAST = ["--set", "rhm.L=2", "--set", "train.n_train=256", "--set", "train.n_test=256",
        "--set", "network.width=16", "--set", "train.epochs=3", "--quiet"]

CHILD = """
import hashlib, sys
import plastisim as ps
from plastisim import rules
from plastisim.network import hierarchy
from plastisim.train import TrainOptions, train

rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0)
net = hierarchy(rhm, 32, seed=0)
mon = ps.Monitor(net, weights="all", rates="h1", every=1, path=sys.argv[1])

class Printing:                      # prints each record's step and weights' digest once flushed
    def record(self, step_index, net, step=None, epoch=0):
        mon.record(step_index, net, step, epoch=epoch)
        data = b"".join(w.numpy().tobytes() for w in net.weights().values())
        print(step_index, hashlib.sha1(data).hexdigest(), flush=True)

train(net, rules.get("bp"), *rhm.split(256, 64, seed=1),
      TrainOptions(epochs=10**6, batch_size=16, stop_loss=0.0), monitor=Printing())
"""


@pytest.mark.parametrize("kill_after", [3, 25])
def test_sigkill_leaves_a_valid_file_with_every_flushed_step(tmp_path, kill_after):
    path = tmp_path / "killed.nc"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=tmp_path, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    flushed = {}
    try:
        for line in child.stdout:
            step, digest = line.split()
            flushed[int(step)] = digest
            if len(flushed) >= kill_after:
                child.send_signal(signal.SIGKILL)          # while it goes on training/recording
                break
    finally:
        child.kill()
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr.read()
    with xr.open_dataset(path) as ds:
        ds.load()
    steps = ds["step"].values.tolist()
    assert steps[:len(flushed)] == sorted(flushed) and steps == list(range(1, len(steps) + 1))
    for i, step in enumerate(sorted(flushed)):
        data = b"".join(ds[f"weight_{s}"].values[i].tobytes() for s in ("w1", "w2", "readout"))
        assert hashlib.sha1(data).hexdigest() == flushed[step], step   # bit for bit
    assert np.isfinite(ds["rate_h1"].values[:len(flushed)]).all()


def test_run_records_trajectories_into_the_run_file(tmp_path, capsys):
    out = tmp_path / "dfa.nc"
    assert main(["run", str(MODELS / "dfa.toml"), *FAST, "--out", str(out), "--record",
                 "weights=all,updates=w1,rates=h1,h2,every=2,w1.post=0:4,h1.channel=1,3"]) == 0
    assert str(out) in capsys.readouterr().out
    with xr.open_dataset(out) as ds:
        ds.load()
    assert ds["step"].values.tolist() == [0, 2, 4, 6]           # 2 steps per epoch, 3 epochs
    assert ds["epoch"].values.tolist() == [0, 1, 2, 3]
    assert ds["weight_w1"].dims == ("step", "post_w1", "pre_w1")
    assert ds["post_w1"].values.tolist() == [0, 1, 2, 3] and ds["weight_w2"].shape[1:] == (16, 32)
    assert ds["channel_h1"].values.tolist() == [1, 3] and "rate_h2" in ds and "loss" in ds
    assert np.isnan(ds["update_w1"].values[0]).all() and np.isfinite(ds["update_w1"][1:]).all()
    assert ds["test_error"].dims == ("eval",) and ds["eval_step"].values[-1] == 6
    assert ds["eval_epoch"].values.tolist()[-1] == 3
    cfg = config.build(tomllib.loads(ds.attrs["config_toml"]))
    assert cfg.record.weights == "all" and cfg.record.every == 2
    assert cfg.record.indices == ["w1.post=0:4", "h1.channel=1,3"]
    for key in ("status", "seed_feedback_seed", "git_commit", "rule", "record_every", "title"):
        assert key in ds.attrs, key
    assert ds.attrs["title"].startswith("plastisim run: rule dfa")
    assert len(ds.attrs["history"].splitlines()) == 2
    for name, var in ds.variables.items():
        assert "long_name" in var.attrs and (var.dtype.kind in "OU" or "units" in var.attrs), name


def test_record_section_of_the_config(tmp_path):
    model = tmp_path / "dfa.toml"
    out = tmp_path / "from_config.nc"
    model.write_text((ROOT / "models/dfa.toml").read_text() + f'\n[record]\npath = "{out}"\n'
                     'weights = "w2"\nevery = 3\nindices = ["w2.pre=0:4"]\n')
    assert main(["run", str(model), *FAST]) == 0
    with xr.open_dataset(out) as ds:
        assert [v for v in ds.data_vars if str(v).startswith("weight")] == ["weight_w2"]
        assert ds["step"].values.tolist() == [0, 3, 6] and ds.sizes["pre_w2"] == 4


def test_record_option_parsing():
    assert record_overrides("weights=w1,w2,every=100,w1.post=0:16,h1.channel=1,2") == [
        "record.weights=w1,w2", "record.every=100",
        'record.indices=["w1.post=0:16", "h1.channel=1,2"]']
    assert record_overrides(None) == []
    cfg = config.build({"record": {"weights": "all", "indices": ["w1.post=0:2"]}})
    assert config.build(tomllib.loads(cfg.to_toml())) == config.RunConfig(
        **{k: getattr(cfg, k) for k in config.SECTIONS})


@pytest.mark.parametrize("args, message", [
    (["--record", "weights=w9"], "synapse 'w9' is unknown; available: readout, w1, w2"),
    (["--record", "weights=all,w1.post=0:999"], "indices w1.post='0:999' is impossible"),
    (["--record", "rates=h9"], "neuron group 'h9' is unknown; available: h1, h2, input, output"),
    (["--record", "weight=all"], "record.weight is not a known key; available: path, weights,"),
    (["--record", "weights=all,every=0"], "record.every=0 is impossible: need an integer >= 1"),
    (["--record", "all"], "--record 'all' is not of the form key=value"),
])
def test_bad_record_input_fails_before_training(tmp_path, capsys, args, message):
    out = tmp_path / "x.nc"
    assert main(["run", str(MODELS / "bp.toml"), *FAST, "--out", str(out), *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and message in captured.err, captured.err
    assert captured.out == "" and not out.exists()         # nothing trained, nothing written


def test_bad_record_paths_and_existing_files(tmp_path, capsys):
    assert main(["run", str(MODELS / "bp.toml"), *FAST, "--record", "weights=all"]) == 2
    assert "trajectories are written into the run's file; pass --out" in capsys.readouterr().err
    (tmp_path / "afile").write_text("a file, not a folder")
    impossible = tmp_path / "afile" / "nope" / "x.nc"
    assert main(["run", str(MODELS / "bp.toml"), *FAST, "--out", str(impossible), "--record",
                 "weights=all"]) == 2
    assert "afile' is a file, not a folder" in capsys.readouterr().err
    missing = tmp_path / "new" / "x.nc"                  # a missing folder is created
    assert main(["run", str(MODELS / "bp.toml"), *FAST, "--out", str(missing), "--record",
                 "weights=w1,every=1"]) == 0
    assert xr.open_dataset(missing)["weight_w1"].sizes["step"] == 7
    existing = tmp_path / "keep.nc"
    existing.write_bytes(b"precious")
    assert main(["run", str(MODELS / "bp.toml"), *FAST, "--out", str(existing), "--record",
                 "weights=all"]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert existing.read_bytes() == b"precious"
    assert main(["run", str(MODELS / "bp.toml"), *FAST, "--out", str(existing), "--record",
                 "weights=w1,every=1", "--overwrite"]) == 0
    assert xr.open_dataset(existing)["weight_w1"].sizes["step"] == 7


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "bp.nc"
    assert main(["run", str(MODELS / "bp.toml"), *FAST, "--out", str(out), "--record",
                 "weights=all,rates=all,updates=all,every=2"]) == 0
    return out


def test_export_writes_a_subset_bit_for_bit(run_file, tmp_path, capsys):
    out = tmp_path / "small.nc"
    assert main(["export", str(run_file), str(out), "--vars", "weight_w1", "test_error",
                 "--every", "4", "--indices", "w1.post=1:3", "w1.pre=0,5"]) == 0
    assert str(out) in capsys.readouterr().out
    with xr.open_dataset(run_file) as full, xr.open_dataset(out) as small:
        assert sorted(small.data_vars) == ["test_error", "weight_w1"]
        assert small["step"].values.tolist() == [0, 4]
        expected = full["weight_w1"].sel(step=[0, 4], post_w1=[1, 2], pre_w1=[0, 5])
        assert np.array_equal(small["weight_w1"].values, expected.values)
        assert small["weight_w1"].dtype == np.float32
        assert np.array_equal(small["test_error"].values, full["test_error"].values)
        assert small["pre_channel_w1"].values.tolist() == [0, 5]     # k % v
        assert small.attrs["history"].splitlines()[-1].endswith(
            f"plastisim export {run_file} {out} --vars weight_w1 test_error --every 4 "
            "--indices w1.post=1:3 w1.pre=0,5")
        assert small.attrs["config_toml"] == full.attrs["config_toml"]


@pytest.mark.parametrize("args, message", [
    (["--vars", "weight_w9"], "variable 'weight_w9' is unknown; available:"),
    (["--every", "ten"], "--every='ten' is impossible: need an integer >= 1"),
    (["--indices", "w1.post=0:99"], "indices w1.post='0:99' is impossible"),
    (["--indices", "w7.post=0"], "index axis 'w7.post' is unknown; available:"),
])
def test_export_bad_input(run_file, tmp_path, capsys, args, message):
    out = tmp_path / "small.nc"
    assert main(["export", str(run_file), str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_export_every_keeps_multiples(run_file, tmp_path, capsys):
    assert main(["export", str(run_file), str(tmp_path / "e.nc"), "--every", "5"]) == 0
    assert xr.open_dataset(tmp_path / "e.nc")["step"].values.tolist() == [0]
    net = hierarchy(ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0), 8, seed=0)
    with Monitor(net, weights="w1", every=2, path=tmp_path / "no0.nc") as mon:
        mon.record(2, net)
    assert main(["export", str(tmp_path / "no0.nc"), str(tmp_path / "f.nc"), "--every", "3"]) == 2
    assert "every=3 is impossible: keeps no recorded step (recorded steps 2, ...)" in \
        capsys.readouterr().err


def test_export_never_clobbers(run_file, tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing.nc"), str(tmp_path / "o.nc")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", str(run_file), str(run_file), "--overwrite"]) == 2
    existing = tmp_path / "o.nc"
    existing.write_bytes(b"x")
    assert main(["export", str(run_file), str(existing)]) == 2
    assert existing.read_bytes() == b"x"


def test_report_draws_pngs(run_file, tmp_path, capsys):
    assert main(["report", str(run_file), "--out-dir", str(tmp_path)]) == 0
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["bp_curve.png", "bp_weight_hist.png", "bp_weight_norms.png"]
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    capsys.readouterr()
    assert main(["report", str(run_file), "--out-dir", str(tmp_path)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(["report", str(run_file), "--out-dir", str(tmp_path), "--overwrite"]) == 0


def test_curve_only_files_and_in_memory_runs_combine(tmp_path):
    history = {"epoch": [1, 2], "step": [4, 8], "phase": ["local", "readout"],
               "train_loss": [1.0, 0.5], "test_error": [0.8, 0.4]}
    curve = record.curve_dataset(history, {"status": "max_epochs", "flag": True})
    assert curve["eval_phase"].values.tolist() == ["local", "readout"]
    assert curve.attrs["flag"] == "true" and np.isnan(curve["lr"].values).all()
    net = hierarchy(ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0), 8, seed=0)
    mon = Monitor(net, weights="readout", every=1)
    mon.record(0, net)
    both = record.combine(curve, mon.to_xarray())
    record.write(both, tmp_path / "both.nc")
    with xr.open_dataset(tmp_path / "both.nc") as back:
        xr.testing.assert_identical(back.load(), both)
        assert back.attrs["status"] == "max_epochs" and "record_every" in back.attrs


def test_one_reader_of_plastisim_files(tmp_path):
    """``plastisim.open_run`` (a file, also while it grows) and ``record.open_input`` (the
    command line's inputs) are one reader: the latter is the former without retries, with a
    one-line error for a path that is no netCDF file."""
    from plastisim.recording import live

    assert ps.open_run is record.open_run is live.open_run
    curve = record.curve_dataset({"epoch": [1], "step": [4], "test_error": [0.5]},
                                 {"status": "max_epochs"})
    record.write(curve, tmp_path / "run.nc")
    xr.testing.assert_identical(record.open_input(tmp_path / "run.nc"),
                                ps.open_run(tmp_path / "run.nc"))
    (tmp_path / "text.nc").write_text("not netCDF")
    start = time.monotonic()
    with pytest.raises(ps.ConfigError, match="is not a readable netCDF file"):
        record.open_input(tmp_path / "text.nc")
    assert time.monotonic() - start < record.RETRY_S / 2      # at once: no retries


def _recorded(net, steps, fill):
    """A memory Monitor fed ``steps`` records whose state ``fill(t, net)`` sets."""
    mon = Monitor(net, weights="readout", updates="readout", rates="h2,output", every=1)
    for t in range(steps):
        mon.record(t, net, fill(t, net), epoch=0)
    return mon.to_xarray()


def test_weight_stats_per_layer():
    net = hierarchy(ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0), 8, seed=0)
    w0 = {k: w.clone().double() for k, w in net.weights().items()}

    def scale(t, net):
        for k, w in net.weights().items():
            w.copy_(w0[k] * (1 + t))

    mon = Monitor(net, weights="all", every=1, loss=False)
    for t in range(4):
        scale(t, net)
        mon.record(2 * t, net)
    stats = analysis.weight_stats(mon.to_xarray())
    rms0 = float(w0["w2"].pow(2).mean().sqrt())
    np.testing.assert_allclose(stats["rms_w2"].values, rms0 * np.arange(1, 5), rtol=1e-6)
    np.testing.assert_allclose(stats["drift_w2"].values, np.arange(4), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(stats["speed_w2"].values[1:], rms0 / 2, rtol=1e-6)
    assert np.isnan(stats["speed_w2"].values[0]) and stats["speed_w2"].attrs["units"]


@pytest.mark.parametrize("rule", ["hebb", "bcm"])
def test_dw_activity_recovers_the_rule(rule):
    """A fake step whose readout update is a known function of (pre, post) activity."""
    net = hierarchy(ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0), 8, seed=0)
    gen = torch.Generator().manual_seed(0)
    theta = 0.7

    def fill(t, net):
        pre = torch.rand(1, 8, 1, generator=gen)                     # h2 rates, one stream
        post = torch.rand(1, 8, 1, generator=gen) * 2               # output rates
        net.groups["h2"].rate, net.groups["output"].rate = pre, post
        factor = post[0, :, 0] if rule == "hebb" else post[0, :, 0] * (post[0, :, 0] - theta)
        dw = 0.01 * torch.outer(factor, pre[0, :, 0])              # (post, pre)
        net.synapses["readout"].w += dw                             # applied: for weight diffs
        return StepResult(loss=torch.tensor(0.0), updates={"readout": dw})

    ds = _recorded(net, 30, fill)
    table = analysis.dw_activity(ds, "readout")
    assert table.sizes["sample"] == 30 * 8 * 8 and table.attrs["dw_source"] == "update_readout"
    fit = analysis.fit_dw(table)
    assert fit["r2"] > 1 - 1e-9
    if rule == "hebb":
        assert fit["pre*post"] == pytest.approx(0.01, rel=1e-4)
        assert abs(fit["pre*post^2"]) < 1e-6 and abs(fit["post"]) < 1e-6
    else:
        assert fit["pre*post^2"] == pytest.approx(0.01, rel=1e-4)
        assert -fit["pre*post"] / fit["pre*post^2"] == pytest.approx(theta, rel=1e-4)
    from_weights = analysis.dw_activity(ds.drop_vars("update_readout"), "readout")
    assert from_weights.sizes["sample"] == 29 * 8 * 8                 # differences of records
    key = "pre*post" if rule == "hebb" else "pre*post^2"
    assert analysis.fit_dw(from_weights)[key] == pytest.approx(0.01, rel=1e-2)  # float32 w
    grid = analysis.dw_map(table, bins=4)
    assert grid.shape == (4, 4) and np.isfinite(grid.values).all()
    if rule == "hebb":      # Hebbian: more change where both are active
        assert grid.values[-1, -1] > grid.values[0, 0]


def test_bench_record_is_registered_and_reports_its_figures(tmp_path):
    from plastisim.bench import BENCHMARKS

    assert "record" in BENCHMARKS
    out = bench_record(steps=40, every=10, width=8, L=2, train_steps=8, repeats=1,
                       folder=str(tmp_path))
    assert out["records"] == 4 and out["file_mb"] > 0 and out["write_mb_per_s"] > 0
    assert 0 < out["overhead_in_run"] and np.isfinite(out["overhead_ab"])
    assert out["peak_rss_mb"][1] >= out["peak_rss_mb"][0] and out["ms_per_record"] > 0
    assert list(tmp_path.iterdir()) == []                  # its files are removed


@pytest.mark.slow
def test_streaming_memory_stays_flat(tmp_path):
    """All weights of the width-256, L=3 network every 100 steps for 20,000 stand-in steps:
    peak resident memory grows < 50 MB between step 2,000 and the end (the acceptance figure
    for 100,000 steps comes from analyses/bench_record.py)."""
    from plastisim.bench.record import _stream

    rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
    out = _stream(hierarchy(rhm, 256, seed=0), 20_000, 100, tmp_path / "flat.nc")
    assert out["records"] == 200 and out["bytes_per_record"] > 1_000_000
    assert out["peak_rss_growth_mb"] < 50, out
