"""Reading a recording while another process writes it: plastisim.open_run and live.reading
succeed every time; a reader that does not take the lock delays records, never loses them."""
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import torch

import plastisim as ps
from plastisim.network import hierarchy
from plastisim.recording import filelock, live

ROOT = Path(__file__).resolve().parents[1]
needs_ofd = pytest.mark.skipif(filelock._SETLKW is None,
                               reason="needs Linux open-file-description locks")

WRITER = """
import sys, time
import plastisim as ps
from plastisim import rules
from plastisim.network import hierarchy
from plastisim.recording import live
from plastisim.train import TrainOptions, train

rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0)
net = hierarchy(rhm, 32, seed=0)
mon = ps.Monitor(net, weights="all", rates="h1", every=1, path=sys.argv[1])
pause, live.KEEP_OPEN_S = float(sys.argv[2]), float(sys.argv[3])

class Printing:                      # records every step; says how many are in the file
    def record(self, step_index, net, step=None, epoch=0):
        mon.record(step_index, net, step, epoch=epoch)
        print(step_index, flush=True)
        time.sleep(pause)

train(net, rules.get("bp"), *rhm.split(256, 64, seed=1),
      TrainOptions(epochs=10**6, batch_size=16, stop_loss=0.0), monitor=Printing())
"""


def _writer(path: Path, pause: float, records: int = 3) -> subprocess.Popen:
    """A training subprocess recording every step to ``path`` (``pause`` s apart; the file
    kept open 0.05 s, not 0.5, so that the readers wait less), once ``records`` are written."""
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(pause), "0.05"],
                             cwd=path.parent,
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    for line in child.stdout:
        if int(line) >= records:
            return child
    child.kill()
    pytest.fail(f"the writer ended: {child.stderr.read()[-2000:]}")


@needs_ofd
@pytest.mark.parametrize("pause", [0.002, 0.2], ids=["file-kept-open", "closed-each-record"])
def test_twenty_reads_of_a_live_recording_all_succeed(tmp_path, pause):
    path = tmp_path / "live.nc"
    child = _writer(path, pause)
    rng, counts, seen = random.Random(0), {"open_run": 0, "netCDF4": 0}, 0
    try:
        for _ in range(20):
            time.sleep(rng.uniform(0, 0.05))
            ds = ps.open_run(path)                         # xarray, under the shared lock
            steps = ds["step"].values
            assert steps.tolist() == list(range(1, steps.size + 1)) and steps.size >= seen
            assert np.isfinite(ds["weight_w2"].values).all()
            assert np.isfinite(ds["rate_h1"].values).all()
            seen, counts["open_run"] = steps.size, counts["open_run"] + 1
            time.sleep(rng.uniform(0, 0.05))
            with live.reading(path), netCDF4.Dataset(path) as nc:   # the last record, raw
                last, step = nc["weight_w2"][-1], int(nc["step"][-1])
            assert step >= seen and np.isfinite(np.ma.filled(last, np.nan)).all()
            counts["netCDF4"] += 1
        assert child.poll() is None, "the writer ended before the reads did"
    finally:
        child.kill()
        child.wait(timeout=30)
    assert counts == {"open_run": 20, "netCDF4": 20}
    tail = ps.open_run(path, variables=["weight_w1"], last=1)      # a finished (killed) file
    assert tail.sizes["step"] == 1 and list(tail.data_vars) == ["weight_w1"]
    with pytest.raises(ps.UnknownNameError, match="weight_w9"):
        ps.open_run(path, variables=["weight_w9"])


HOLDER = """
import sys, time, netCDF4
nc = netCDF4.Dataset(sys.argv[1])        # HDF5's own lock: the writer cannot reopen the file
print("open", flush=True)
time.sleep(float(sys.argv[2]))
nc.close()
"""


def test_a_reader_without_the_lock_delays_records_and_loses_none(tmp_path, monkeypatch):
    monkeypatch.setattr(live, "KEEP_OPEN_S", 0.0)    # closed after every record
    rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0)
    net = hierarchy(rhm, 16, seed=0)
    path = tmp_path / "held.nc"
    mon = ps.Monitor(net, weights="w1", loss=False, every=1, path=path)
    mon.record(0, net)
    env = {k: v for k, v in os.environ.items() if k != "HDF5_USE_FILE_LOCKING"}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), "1.0"], text=True,
                              stdout=subprocess.PIPE, env=env)
    try:
        assert holder.stdout.readline().strip() == "open"
        w1 = net.weights()["w1"]
        expected = [w1.clone()]
        for step in (1, 2):
            with torch.no_grad():
                w1.add_(1.0)                        # the recorded tensor changes afterwards
            mon.record(step, net)
            expected.append(w1.clone())
        held = mon._stream.n
        assert mon.to_xarray().sizes["step"] == 3   # on disk and waiting
        with pytest.warns(RuntimeWarning, match="wait for another process to close"):
            mon.close()                             # waits for the holder to let go
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert held < 3                                 # some records had to wait
    ds = ps.open_run(path)
    assert ds["step"].values.tolist() == [0, 1, 2]
    for i, w in enumerate(expected):
        np.testing.assert_array_equal(ds["weight_w1"].values[i], w.numpy())


def test_reading_in_the_writers_own_thread(tmp_path):
    """A notebook that records and reads the same file: the reader closes the stream's file
    instead of waiting for it forever; recording inside a reading block is refused."""
    rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0)
    net = hierarchy(rhm, 16, seed=0)
    path = tmp_path / "own.nc"
    mon = ps.Monitor(net, weights="w1", loss=False, every=1, path=path)
    mon.record(0, net)
    mon.record(1, net)                          # records come fast: the file stays open
    start = time.monotonic()
    assert ps.open_run(path)["step"].values.tolist() == [0, 1]
    assert time.monotonic() - start < 5
    mon.record(2, net)                          # reopened
    with live.reading(path):
        with pytest.raises(RuntimeError, match="is read in this thread"):
            mon.record(3, net)
    mon.record(4, net)
    mon.close()
    assert ps.open_run(path)["step"].values.tolist() == [0, 1, 2, 4]
