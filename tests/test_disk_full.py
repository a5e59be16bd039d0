"""A full disk is a clean ending (docs/failures.md, plastisim.diskspace).

Every case runs with an injected ENOSPC (the write raises ``OSError(errno.ENOSPC)`` after N
records or files), so the default suite checks it everywhere; the cases marked ``tmpfs`` run
again on a real small file system (a tmpfs mounted for the test, root only; skipped in one
line where it cannot be mounted)."""
import errno
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from plastisim import diskspace
from plastisim.cli import main
from plastisim.diskspace import DiskFullError
from plastisim.network import hierarchy
from plastisim.recording import live, record
from plastisim.recording.monitor import Monitor
from plastisim.rhm import RHM
from plastisim.testing import tiny_run_toml

RECORD = ["--record", "weights=all,updates=all,every=1", "--quiet"]


def _tiny(tmp_path: Path, **train) -> Path:
    model = tmp_path / "tiny.toml"
    model.write_text(tiny_run_toml(**{"epochs": 4, "batch_size": 16, **train}))
    return model


def _hidden(folder: Path) -> list[str]:
    """Temporary files left in ``folder`` (and below)."""
    return [p.name for p in folder.rglob(".*") if ".tmp" in p.name]


def _enospc_after(monkeypatch, n: int) -> dict:
    """Stream._put raises ENOSPC from its (n+1)-th record on (records 0..n-1 are written)."""
    calls = {"n": 0}
    put = live.Stream._put

    def failing(self, nc, index, coords, values):
        calls["n"] += 1
        if calls["n"] > n:
            raise OSError(errno.ENOSPC, "No space left on device")
        return put(self, nc, index, coords, values)
    monkeypatch.setattr(live.Stream, "_put", failing)
    return calls


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# --- a small tmpfs ------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path, request):
    """``make(size)``: a folder on a tmpfs of that size (unmounted after the test); the test
    is skipped, with its reason on one line, where no tmpfs can be mounted."""
    def make(size: str = "2m") -> Path:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("a small tmpfs needs root and mount(8); the injected ENOSPC cases ran")
        where = tmp_path / f"disk{size}"
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                               str(where)], capture_output=True, text=True)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[0]
            pytest.skip(f"cannot mount a tmpfs here: {reason}")
        request.addfinalizer(lambda: subprocess.run(["umount", str(where)],
                                                    capture_output=True))
        return where
    return make


def _fill(folder: Path, leave: int = 0) -> None:
    """Fill the file system of ``folder`` up to ``leave`` free bytes (a file 'filler')."""
    free = shutil.disk_usage(folder).free
    with open(folder / "filler", "ab") as f:
        try:
            f.write(b"\1" * max(free - leave, 0))
            f.flush()
        except OSError:
            pass


# --- diskspace ----------------------------------------------------------------------------------
def test_a_hidden_errno_is_told_by_the_free_space(tmp_path, monkeypatch):
    hdf = RuntimeError("NetCDF: HDF error")
    assert diskspace.disk_full(hdf, tmp_path / "x.nc", 1000) is None     # room: not the disk
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 10.0)
    err = diskspace.disk_full(hdf, tmp_path / "x.nc", 1000)
    assert isinstance(err, DiskFullError) and err.errno == errno.ENOSPC
    assert str(err) == f"disk full (needed ~1 kB, free 10 B) writing '{tmp_path / 'x.nc'}'"
    assert err.short == "disk full (needed ~1 kB, free 10 B)"
    quota = OSError(errno.EDQUOT, "Disk quota exceeded")
    assert str(diskspace.disk_full(quota, "x.nc", 5)).startswith("disk quota exceeded (")
    assert diskspace.disk_full(KeyboardInterrupt(), "x.nc", 10**12) is None


def test_a_reserve_holds_room_and_gives_it_back(small_disk):
    disk = small_disk("1m")
    before = shutil.disk_usage(disk).free
    spare = diskspace.Reserve(disk / "x.nc", 300_000)
    assert before - shutil.disk_usage(disk).free >= 300_000 and os.listdir(disk) == []
    spare.release()
    assert shutil.disk_usage(disk).free == before
    with pytest.raises(DiskFullError, match=r"^disk full \(needed ~2 MB, free "):
        diskspace.Reserve(disk / "x.nc", 2_000_000)
    assert os.listdir(disk) == [] and shutil.disk_usage(disk).free == before


# --- a Monitor (the Python API) -----------------------------------------------------------------
def _net():
    return hierarchy(RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0), 8, False, None, seed=0)


class _Closing:
    """A stream's open file whose close() fails (a broken file) and counts its calls."""

    def __init__(self, nc):
        self.nc, self.closes = nc, 0

    def __getattr__(self, name):
        return getattr(self.nc, name)

    def close(self):
        self.closes += 1
        self.nc.close()         # (the real file is closed, so the test leaves nothing open)
        raise RuntimeError("NetCDF: HDF error")


def test_a_monitor_stops_at_a_full_disk_and_closes_its_file_once(tmp_path, monkeypatch):
    net, path = _net(), tmp_path / "m.nc"
    _enospc_after(monkeypatch, 3)
    monkeypatch.setattr(live, "KEEP_OPEN_S", 60.0)     # the file stays open between records
    mon = Monitor(net, weights="all", path=path)
    for step in range(3):
        mon.record(step, net)
    broken = mon._stream._nc = _Closing(mon._stream._nc)
    with pytest.raises(DiskFullError, match=r"^disk full \(needed ~[0-9.]+ [kM]?B, free "):
        mon.record(3, net)
    assert mon._stream.closed and broken.closes == 1
    with pytest.raises(Exception, match="is closed \\(disk full"):
        mon.record(4, net)
    mon.close()
    mon.close()
    assert broken.closes == 1 and _hidden(tmp_path) == []
    ds = record.open_input(path)                        # every record written before it
    assert ds.step.values.tolist() == [0, 1, 2] and np.isfinite(ds.weight_w1.values).all()


def test_a_monitor_over_a_file_keeps_it_when_the_disk_fills(tmp_path, monkeypatch):
    net, path = _net(), tmp_path / "m.nc"
    path.write_bytes(b"old")
    _enospc_after(monkeypatch, 2)
    with pytest.raises(DiskFullError):
        with Monitor(net, weights="all", path=path, overwrite=True) as mon:
            for step in range(1, 5):
                mon.record(step, net)
    assert path.read_bytes() == b"old" and _hidden(tmp_path) == []


def test_a_monitor_on_a_full_disk_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 1000.0)
    with pytest.raises(DiskFullError, match=r"^disk full \(needed ~[0-9.]+ [kM]B, free 1 kB\) "
                                            r"writing '.*m\.nc'$"):
        Monitor(_net(), weights="all", path=tmp_path / "m.nc")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("size", ["600k"])
def test_tmpfs_a_monitor_on_a_nearly_full_disk_writes_nothing(small_disk, size):
    disk = small_disk(size)
    _fill(disk, leave=200_000)          # the first record (its chunks) does not fit
    with pytest.raises(DiskFullError, match=r"^disk full \(needed ~"):
        Monitor(_net(), weights="all", updates="all", path=disk / "m.nc")
    assert sorted(os.listdir(disk)) == ["filler"]


# --- plastisim run ------------------------------------------------------------------------------
def _check_failed_file(path: Path, records: int) -> xr.Dataset:
    ds = record.open_input(path)
    assert ds.sizes["step"] == records and np.isfinite(ds.weight_w1.values).all()
    assert ds.attrs["status"] == "failed"
    assert ds.attrs["status_message"].startswith("disk full (needed ~")
    assert ds.eval_epoch.size >= 1 and np.isfinite(ds.test_error.values).all()
    return ds


def test_run_stops_cleanly_when_the_disk_fills(tmp_path, monkeypatch, capsys):
    _enospc_after(monkeypatch, 10)       # the records of steps 0..9
    out = tmp_path / "r.nc"
    assert main(["run", str(_tiny(tmp_path)), "--out", str(out), *RECORD]) == 1
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert line.startswith("plastisim: error: disk full (needed ~") and "training failed" \
        not in line
    assert line.endswith(f"at step 10; {out} holds the run up to there")
    assert "failed: disk full (needed ~" in captured.out and f"wrote {out}" in captured.out
    ds = _check_failed_file(out, 10)
    assert ds.attrs["status_message"].endswith(" at step 10")
    assert _hidden(tmp_path) == []


def test_run_over_a_file_keeps_it_when_the_disk_fills(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.nc"
    out.write_bytes(b"old run")
    _enospc_after(monkeypatch, 5)
    assert main(["run", str(_tiny(tmp_path)), "--out", str(out), "--overwrite",
                 *RECORD]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("plastisim: error: disk full (") and "is unchanged" in line
    assert out.read_bytes() == b"old run" and _hidden(tmp_path) == []


def _to_netcdf_fails(monkeypatch, when) -> None:
    """xarray's writes raise ENOSPC where ``when(path, kwargs)`` says so."""
    write = xr.Dataset.to_netcdf

    def failing(ds, path=None, *args, **kwargs):
        if when(Path(path), kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(ds, path, *args, **kwargs)
    monkeypatch.setattr(xr.Dataset, "to_netcdf", failing)


def test_run_whose_curve_does_not_fit_keeps_its_records(tmp_path, monkeypatch, capsys):
    _to_netcdf_fails(monkeypatch, lambda path, kw: kw.get("mode") == "a")
    out = tmp_path / "r.nc"
    assert main(["run", str(_tiny(tmp_path)), "--out", str(out), *RECORD]) == 1
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert line.startswith(f"plastisim: error: disk full (needed ~") and line.endswith(
        "it holds the run's records, without learning curve and status (the run: "
        "max_epochs, 4 epochs)")
    assert "its records only" in captured.out
    ds = record.open_input(out)
    assert ds.sizes["step"] == 17 and "status" not in ds.attrs and _hidden(tmp_path) == []


def test_run_whose_file_does_not_fit_writes_nothing(tmp_path, monkeypatch, capsys):
    _to_netcdf_fails(monkeypatch, lambda path, kw: True)
    out = tmp_path / "r.nc"
    assert main(["run", str(_tiny(tmp_path)), "--out", str(out), "--quiet"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"plastisim: error: disk full (needed ~") and \
        f"writing {out}: it was not written (the run: max_epochs" in line
    assert os.listdir(tmp_path) == ["tiny.toml"]


@pytest.mark.parametrize("record_args", [RECORD, ["--quiet"]], ids=["record", "curve"])
def test_run_that_cannot_fit_is_refused_up_front(tmp_path, monkeypatch, capsys, record_args):
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 20_000.0)
    out = tmp_path / "runs" / "r.nc"
    assert main(["run", str(_tiny(tmp_path)), "--out", str(out), *record_args]) == 2
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert "needs about " in line and " of disk (" in line and "has 20 kB free; " in line
    if record_args == RECORD:
        assert line.startswith(f"plastisim: error: the recording into --out='{out}' needs")
        assert "up to 17 records of " in line and "record.every=1" in line
    else:
        assert line.startswith(f"plastisim: error: --out='{out}' needs about ")
    assert captured.out == "" and os.listdir(tmp_path) == ["tiny.toml"]   # before training


@pytest.mark.parametrize("at", [40, 129], ids=["between-records", "in-a-record"])
def test_tmpfs_run_stops_cleanly_when_the_disk_fills(small_disk, monkeypatch, capsys, at):
    """Another program fills the disk before the record of step ``at - 1`` is written: one
    that fits in its chunks (the next record is refused), or one that starts new chunks (its
    write fails inside HDF5, and the record is completed in the room kept for the end)."""
    disk = small_disk("3m")
    model = _tiny(disk.parent, epochs=20, batch_size=8)
    put, calls = live.Stream._put, {"n": 0}

    def filling(self, nc, index, coords, values):
        calls["n"] += 1
        if calls["n"] == at:
            _fill(disk)
        return put(self, nc, index, coords, values)
    monkeypatch.setattr(live.Stream, "_put", filling)
    out = disk / "r.nc"
    assert main(["run", str(model), "--out", str(out), *RECORD]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("plastisim: error: disk full (needed ~") and line.endswith(
        f"; {out} holds the run up to there")
    ds = record.open_input(out)
    assert ds.attrs["status"] == "failed" and ds.eval_epoch.size >= 1
    assert ds.attrs["status_message"].startswith("disk full (needed ~")
    assert ds.sizes["step"] == at and ds.step.values[-1] == at - 1
    for name in ("weight_w1", "weight_w2", "weight_readout"):     # every record written whole
        assert (np.abs(ds[name].values).reshape(at, -1).max(axis=1) > 1e-4).all(), name
    assert sorted(os.listdir(disk)) == ["filler", "r.nc"]


def test_tmpfs_run_on_a_nearly_full_disk_is_refused(small_disk, capsys):
    disk = small_disk("1200k")
    model = _tiny(disk.parent, epochs=20, batch_size=8)
    out = disk / "r.nc"
    assert main(["run", str(model), "--out", str(out), *RECORD]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"plastisim: error: the recording into --out='{out}' needs about")
    assert os.listdir(disk) == []


# --- plastisim sweep ----------------------------------------------------------------------------
def _sweep_file(tmp_path: Path) -> Path:
    model = _tiny(tmp_path, epochs=2)
    sweep = tmp_path / "s.toml"
    sweep.write_text(f'models = ["{model.as_posix()}"]\n[axes]\nseed = [0, 1, 2]\n')
    return sweep


def test_sweep_stops_cleanly_when_a_run_file_does_not_fit(tmp_path, monkeypatch, capsys):
    written = []

    def when(path, kw):
        if "runs" in path.parts:
            written.append(path)
            return len(written) > 1
        return False
    _to_netcdf_fails(monkeypatch, when)
    out = tmp_path / "out"
    assert main(["sweep", str(_sweep_file(tmp_path)), "--out", str(out), "--workers", "0",
                 "--quiet"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"plastisim: error: disk full (needed ~") and (
        f"writing '{out / 'runs'}" in line)
    assert line.endswith("; 1 run file(s) written by this run of the sweep, 2 not; sweep.nc not "
                         "written: free space, then rerun with --resume")
    assert len(list((out / "runs").glob("*.nc"))) == 1 and not (out / "sweep.nc").exists()
    assert _hidden(out) == []
    monkeypatch.undo()
    assert main(["sweep", str(_sweep_file(tmp_path)), "--out", str(out), "--workers", "0",
                 "--quiet", "--resume"]) == 0
    assert "skipped 1 finished runs" in capsys.readouterr().out


def test_sweep_whose_merged_file_does_not_fit(tmp_path, monkeypatch, capsys):
    _to_netcdf_fails(monkeypatch, lambda path, kw: path.name.startswith(".sweep.nc"))
    out = tmp_path / "out"
    assert main(["sweep", str(_sweep_file(tmp_path)), "--out", str(out), "--workers", "0",
                 "--quiet"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("plastisim: error: disk full (needed ~") and \
        f"writing '{out / 'sweep.nc'}'; every run file is written" in line
    assert len(list((out / "runs").glob("*.nc"))) == 3 and not (out / "sweep.nc").exists()
    assert _hidden(out) == []


def test_sweep_that_cannot_fit_is_refused_up_front(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 50_000.0)
    out = tmp_path / "out"
    assert main(["sweep", str(_sweep_file(tmp_path)), "--out", str(out), "--workers", "0",
                 "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"plastisim: error: --out '{out}' needs about ")
    assert "3 run file(s) of up to " in line and "has 50 kB free; " in line
    assert not (out / "runs").exists() and not (out / "sweep.toml").exists()


def test_tmpfs_sweep_stops_cleanly_on_a_full_disk(small_disk, monkeypatch, capsys):
    from plastisim.sweep import runner

    disk = small_disk("1m")
    sweep = _sweep_file(disk.parent)
    prepare = runner._prepare

    def filling(*args, **kwargs):           # another program fills the disk meanwhile
        done = prepare(*args, **kwargs)
        _fill(disk, leave=10_000)
        return done
    monkeypatch.setattr(runner, "_prepare", filling)
    out = disk / "out"
    assert main(["sweep", str(sweep), "--out", str(out), "--workers", "0", "--quiet"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("plastisim: error: disk full (needed ~") and "sweep.nc not" in line
    assert not (out / "sweep.nc").exists() and _hidden(out) == []
    for path in (out / "runs").glob("*.nc"):
        assert record.open_input(path).attrs["status"] == "max_epochs"


def test_sweep_with_workers_stops_them_when_the_disk_fills(tmp_path, monkeypatch, capsys):
    _to_netcdf_fails(monkeypatch, lambda path, kw: "runs" in path.parts)
    out = tmp_path / "out"
    assert main(["sweep", str(_sweep_file(tmp_path)), "--out", str(out), "--workers", "1",
                 "--quiet"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("plastisim: error: disk full (") and "0 run file(s) written" in line
    assert list((out / "runs").iterdir()) == [] and _hidden(out) == []
    import multiprocessing
    assert multiprocessing.active_children() == []


# --- other commands -----------------------------------------------------------------------------
def test_export_on_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    src = tmp_path / "r.nc"
    assert main(["run", str(_tiny(tmp_path)), "--out", str(src), "--quiet"]) == 0
    _to_netcdf_fails(monkeypatch, lambda path, kw: True)
    assert main(["export", str(src), str(tmp_path / "small.nc")]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("plastisim: error: disk full (needed ~") and \
        line.endswith(f"writing '{tmp_path / 'small.nc'}'")
    assert sorted(os.listdir(tmp_path)) == ["r.nc", "tiny.toml"]


def test_an_unchecked_write_on_a_full_disk_says_so(tmp_path, monkeypatch, capsys):
    src = tmp_path / "r.nc"
    assert main(["run", str(_tiny(tmp_path)), "--out", str(src), "--quiet"]) == 0

    def full(ds, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    monkeypatch.setattr(record, "write", full)
    assert main(["export", str(src), str(tmp_path / "small.nc")]) == 1
    assert _one_line(capsys.readouterr().err) == (
        f"plastisim: error: disk full (No space left on device) writing "
        f"'{tmp_path / 'small.nc'}'")
