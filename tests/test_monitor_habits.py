"""Monitor habits of notebook users: training twice with one monitor, a cell run twice on one
path, a monitor given another network, long output names (Python API and ``plastisim run``)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import plastisim as ps
from plastisim import rules
from plastisim.cli import main
from plastisim.errors import ConfigError
from plastisim.network import hierarchy
from plastisim.recording import filelock, live, outputs
from plastisim.recording.monitor import Monitor
from plastisim.testing import tiny_run_toml
from plastisim.train import TrainOptions, train

ROOT = Path(__file__).resolve().parents[1]
RHM = ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0)
DATA = RHM.split(128, 64, seed=1)
OPTIONS = TrainOptions(epochs=2, batch_size=64)      # 2 steps per epoch, 4 per run


def net_of(width=8, dtype=torch.float32):
    return hierarchy(RHM, width, seed=0, dtype=dtype)


@pytest.mark.parametrize("where", ["memory", "file"])
def test_a_second_train_continues_the_step_and_epoch_numbering(tmp_path, where):
    net = net_of()
    mon = Monitor(net, weights="w1", path=tmp_path / "run.nc" if where == "file" else None)
    for _ in range(2):
        train(net, rules.get("bp"), *DATA, OPTIONS, monitor=mon)
    assert (mon.last_step, mon.last_epoch) == (8, 4)
    ds = mon.to_xarray()
    assert ds["step"].values.tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert ds["epoch"].values.tolist() == [1, 1, 2, 2, 3, 3, 4, 4]
    assert ds.sel(step=2)["weight_w1"].dims == ("post_w1", "pre_w1")     # one record
    mon.close()
    if where == "file":
        assert ps.open_run(tmp_path / "run.nc")["step"].values.tolist() == list(range(1, 9))
    mon.reset()                                          # forgets, and numbers from 0 again
    train(net, rules.get("bp"), *DATA, OPTIONS, monitor=mon)
    assert mon.to_xarray()["step"].values.tolist() == [1, 2, 3, 4]


def test_the_initial_state_then_two_runs_keep_every_other_step():
    net = net_of()
    mon = Monitor(net, weights="w1", every=2)
    mon.record(0, net)                                   # the state before training
    train(net, rules.get("bp"), *DATA, TrainOptions(epochs=1, batch_size=32), monitor=mon)
    train(net, rules.get("bp"), *DATA, OPTIONS, monitor=mon)
    assert mon.to_xarray()["step"].values.tolist() == [0, 2, 4, 6, 8]


def test_training_members_continues_the_numbering_too():
    nets = [net_of(), net_of()]
    mons = [Monitor(nets[0], weights="w1"), None]
    for _ in range(2):
        train(nets, [rules.get("bp"), rules.get("bp")], [DATA[0]] * 2, [DATA[1]] * 2,
              [OPTIONS] * 2, monitor=mons)
    assert mons[0].to_xarray()["step"].values.tolist() == list(range(1, 9))


HANG = """
import sys
import plastisim as ps
from plastisim.network import hierarchy
net = hierarchy(ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0), 8, seed=0)
path = sys.argv[1]
open(path, "wb").write(b"old")
first = ps.Monitor(net, path=path, overwrite=True)     # a notebook cell ...
first.record(0, net)
try:
    ps.Monitor(net, path=path, overwrite=True)         # ... run twice
except ps.errors.ConfigError as err:
    print(err)
first.close()
again = ps.Monitor(net, path=path, overwrite=True)     # once closed, a new one may replace it
again.record(0, net)
again.record(1, net)
again.close()
print(ps.open_run(path).sizes["step"])
"""


def test_a_cell_run_twice_on_one_path_is_refused_at_once(tmp_path):
    """Before, the second Monitor waited forever for the first one's lock (same temporary
    name): run in a subprocess with a timeout, so that the suite cannot hang."""
    path = tmp_path / "x.nc"
    try:
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(HANG), str(path)],
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("a second Monitor on a path an open Monitor streams to hangs")
    assert proc.returncode == 0, proc.stderr
    refused, steps = proc.stdout.strip().splitlines()
    assert refused == (f"output file {str(path)!r} is being recorded by another open Monitor of "
                       "this process; close that one first (monitor.close())")
    assert steps == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nc"]


def test_a_second_monitor_cannot_replace_a_file_still_recorded(tmp_path):
    """Before, the second Monitor (overwrite=True) replaced the file when closed and the first
    one's later records went to the replaced file, lost."""
    net, path = net_of(), tmp_path / "x.nc"
    first = Monitor(net, weights="w1", path=path)
    first.reset()                                        # its own path: no refusal
    first.record(0, net)
    with pytest.raises(ConfigError, match="close that one first") as err:
        Monitor(net, weights="w1", path=tmp_path / "." / "x.nc", overwrite=True)
    assert len(str(err.value).splitlines()) == 1
    first.record(1, net)
    first.close()
    assert ps.open_run(path).sizes["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nc"]     # nothing left beside


def test_temporary_names_are_short_and_unique(tmp_path):
    long = tmp_path / ("r" * 250 + ".nc")
    names = {outputs.beside(long) for _ in range(100)}
    assert len(names) == 100
    for name in names:
        assert name.parent == tmp_path and name.name.startswith("." + "r" * 32 + ".tmp")
        assert len(name.name) < 50
    assert outputs.beside(tmp_path / "x.nc").name.startswith(".x.nc.tmp")


def test_a_writer_of_this_thread_is_never_waited_for(tmp_path, monkeypatch):
    """A second writer of a file this thread writes is refused instead of waiting for itself
    forever (e.g. ``record.append`` to a file an open Monitor streams)."""
    monkeypatch.setattr(live, "KEEP_OPEN_S", 60.0)      # the stream keeps its file and lock
    net, path = net_of(), tmp_path / "x.nc"
    mon = Monitor(net, weights="w1", path=path)
    mon.record(0, net)
    second = filelock.WriteLock(path)
    with pytest.raises(RuntimeError, match="is written by another writer in this thread"):
        second.acquire()
    second.close()
    mon.close()
    assert ps.open_run(path).sizes["step"] == 1


RHM3 = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)


@pytest.mark.parametrize("rhm, width, dtype, message", [
    (RHM, 16, torch.float32, "network with group h1 of width 8 was given one with width 16"),
    (RHM3, 8, torch.float32, "network with groups input, h1, h2, output was given one with "
                             "groups input, h1, h2, h3, output"),
    (RHM, 8, torch.float64, "network with dtype float32 was given one of float64"),
])
def test_a_monitor_refuses_another_network_in_one_line(rhm, width, dtype, message):
    net, other = net_of(), hierarchy(rhm, width, seed=0, dtype=dtype)
    mon = Monitor(net, weights="all", rates="all")
    with pytest.raises(ConfigError, match=message) as err:
        mon.record(0, other)
    assert str(err.value).endswith(": make a new Monitor for it")
    assert len(str(err.value).splitlines()) == 1
    with pytest.raises(ConfigError, match=message):    # train refuses before any step
        train(other, rules.get("bp"), *rhm.split(64, 64, seed=1), OPTIONS, monitor=mon)
    assert mon.n == 0 and mon.last_step == 0
    assert mon.record(0, net) and mon.to_xarray().sizes["step"] == 1


def test_an_over_long_name_is_refused_before_anything_is_written(tmp_path):
    net = net_of()
    with pytest.raises(ConfigError, match="the file name is 303 bytes long; its file system "
                                          "allows at most 255"):
        Monitor(net, path=tmp_path / ("r" * 300 + ".nc"))
    with pytest.raises(ConfigError, match="the folder name is 300 bytes long"):
        Monitor(net, path=tmp_path / ("d" * 300) / "x.nc")
    assert list(tmp_path.iterdir()) == []


def test_plastisim_run_writes_and_replaces_a_250_character_name(tmp_path, capsys):
    """Before, the temporary name of a 250-character name passed 255 bytes: the run failed
    after training."""
    config = tmp_path / "T.toml"
    config.write_text(tiny_run_toml(epochs=2))
    out = tmp_path / ("r" * 247 + ".nc")
    assert len(out.name) == 250
    assert main(["run", str(config), "--quiet", "--out", str(out)]) == 0
    assert main(["run", str(config), "--quiet", "--out", str(out), "--overwrite",
                 "--record", "weights=all,every=1"]) == 0   # written beside, moved over it
    assert ps.open_run(out)["step"].values.tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["T.toml", out.name])
    capsys.readouterr()


def test_plastisim_run_refuses_an_over_long_name_in_one_line(tmp_path, capsys):
    config = tmp_path / "T.toml"
    config.write_text(tiny_run_toml())
    for out in (tmp_path / ("r" * 300 + ".nc"), tmp_path / ("d" * 300) / "x.nc"):
        assert main(["run", str(config), "--quiet", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("plastisim: error: --out=") and len(err.splitlines()) == 1
        assert "bytes long; its file system allows at most 255" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["T.toml"]
