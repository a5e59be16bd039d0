"""One writer per output: a run, protocol, export or sweep holds its output (a file, or a
sweep's folder) from its check to its move into place; a second writer, in another process or
this one, is refused at once in one line naming the holder (PID and command line); the lock of
a killed process is taken over.

The first writer is a real ``plastisim`` process that waits, once it holds its output, until
the test lets it go on (a file ``go`` appears): no race with the machine's speed.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import xarray as xr

import plastisim as ps
from plastisim.cli import main
from plastisim.errors import ConfigError
from plastisim.network import hierarchy
from plastisim.recording import live, outputs
from plastisim.recording.monitor import Monitor
from plastisim.testing import tiny_run_toml

ROOT = Path(__file__).resolve().parents[1]

#: ``python -c WAITING GO ARGV...``: ``plastisim ARGV`` that stops where it holds its output
#: (a run at its record of step 2, a sweep before it writes its first run file), touches
#: GO.waiting and waits for GO to exist
WAITING = """
import sys, time
from pathlib import Path
from plastisim.cli import main
from plastisim.recording import monitor, record

go = Path(sys.argv[1])

def wait():
    Path(f"{go}.waiting").touch()
    while not go.exists():
        time.sleep(0.02)

record_step, write = monitor.Monitor.record, record.write

def waiting_record(self, step, *args, **kwargs):
    if step == 2 and not go.exists():
        wait()
    return record_step(self, step, *args, **kwargs)

def waiting_write(ds, path, *args, **kwargs):
    if Path(path).parent.name == "runs" and not go.exists():
        wait()
    return write(ds, path, *args, **kwargs)

monitor.Monitor.record, record.write = waiting_record, waiting_write
sys.exit(main(sys.argv[2:]))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _start_waiting(tmp_path: Path, *argv: str) -> tuple[subprocess.Popen, Path]:
    """``plastisim ARGV`` in a process that holds its output and waits; (process, go file)."""
    go = tmp_path / f"go{len(list(tmp_path.glob('go*.waiting')))}"    # one per writer
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(WAITING), str(go), *argv],
                            cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not Path(f"{go}.waiting").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the first writer never got to its output"
        time.sleep(0.02)
    return proc, go


def _finish(proc: subprocess.Popen, go: Path) -> tuple[int, str, str]:
    go.touch()
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _plastisim(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "plastisim", *argv], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=120)


def _one_line(err: str) -> str:
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err.strip()


def _config(tmp_path: Path, name: str = "tiny.toml", **train) -> Path:
    path = tmp_path / name
    path.write_text(tiny_run_toml(**{"epochs": 2, "batch_size": 16, **train}))
    return path


def _open(path: Path) -> xr.Dataset:
    with xr.open_dataset(path) as ds:
        return ds.load()


def _lock_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.lock"))


def test_a_second_run_cannot_replace_a_file_being_recorded(tmp_path):
    """Before, the second run wrote p.nc while the first recorded into it; the first then
    failed (Unable to update size for existing dimension 'eval') and p.nc was neither run."""
    first_config, p = _config(tmp_path, "first.toml"), tmp_path / "p.nc"
    proc, go = _start_waiting(tmp_path, "run", str(first_config), "--out", str(p), "--quiet",
                              "--record", "weights=all,every=1")
    try:
        assert (tmp_path / ".p.nc.lock").is_file() and p.is_file()
        held = json.loads((tmp_path / ".p.nc.lock").read_text())
        assert held["pid"] == proc.pid and "--out" in held["command"]
        second = _plastisim(tmp_path, "run", str(_config(tmp_path, "second.toml")), "--set",
                            "rule.lr=0.5", "--out", str(p), "--overwrite", "--quiet")
        assert second.returncode == 2 and second.stdout == ""
        line = _one_line(second.stderr)
        assert line.startswith(f"plastisim: error: output file {str(p)!r} is being written by "
                               f"PID {proc.pid}: ")
        assert f"run {first_config} --out {p}" in line and "wait until it ends" in line
        assert not list(tmp_path.glob(".p.nc.tmp*"))        # the second wrote nothing
    finally:
        rc, stdout, err = _finish(proc, go)
    assert rc == 0 and err == "", err
    assert f"wrote {p}" in stdout
    ds = _open(p)                       # the first run's file, complete
    assert ds.attrs["status"] == "max_epochs"
    assert "lr = 0.5" not in ds.attrs["config_toml"]
    assert ds.sizes["step"] == ds.attrs["steps"] + 1 and ds.test_error.size >= 1
    assert _lock_files(tmp_path) == []  # let go when it ended


def test_a_second_sweep_on_one_folder_is_refused_even_with_resume(tmp_path):
    """Before, the second sweep was told to pass --resume; with it, both computed every
    unfinished point."""
    _config(tmp_path, epochs=1)
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text('base = "tiny.toml"\n[axes]\ntrain.seed = [0, 1]\n')
    out = tmp_path / "out"
    proc, go = _start_waiting(tmp_path, "sweep", str(sweep_file), "--out", str(out),
                              "--workers", "0", "--quiet")
    try:
        assert (out / ".sweep.lock").is_file() and not list((out / "runs").glob("*.nc"))
        for extra in (["--resume"], [], ["--overwrite"]):
            second = _plastisim(tmp_path, "sweep", str(sweep_file), "--out", str(out),
                                "--workers", "0", "--quiet", *extra)
            assert second.returncode == 2, second
            line = _one_line(second.stderr)
            assert line.startswith(f"plastisim: error: output folder {str(out)!r} is being "
                                   f"written by PID {proc.pid}: "), line
            assert f"sweep {sweep_file} --out {out}" in line
        assert not list((out / "runs").glob("*.nc")) and not (out / "sweep.nc").exists()
    finally:
        rc, stdout, err = _finish(proc, go)
    assert rc == 0, err
    assert "computed 2 runs" in stdout
    assert len(list((out / "runs").glob("*.nc"))) == 2 and (out / "sweep.nc").is_file()
    assert _lock_files(tmp_path) == []
    # once it ended, --resume continues that sweep (nothing left to compute)
    assert main(["sweep", str(sweep_file), "--out", str(out), "--resume", "--workers", "0",
                 "--quiet"]) == 0


def test_the_lock_of_a_killed_writer_is_taken_over(tmp_path, capsys):
    p = tmp_path / "p.nc"
    proc, go = _start_waiting(tmp_path, "run", str(_config(tmp_path)), "--out", str(p),
                              "--quiet", "--record", "weights=w1,every=1")
    proc.kill()
    proc.communicate(timeout=60)
    lock = tmp_path / ".p.nc.lock"
    assert json.loads(lock.read_text())["pid"] == proc.pid        # left behind by the kill
    assert main(["run", str(_config(tmp_path)), "--out", str(p), "--overwrite", "--quiet"]) == 0
    assert f"wrote {p}" in capsys.readouterr().out
    assert _open(p).attrs["status"] == "max_epochs" and not lock.exists()
    # a sweep folder's lock likewise
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text('base = "tiny.toml"\n[axes]\ntrain.seed = [0, 1]\n')
    out = tmp_path / "out"
    proc, go = _start_waiting(tmp_path, "sweep", str(sweep_file), "--out", str(out),
                              "--workers", "0", "--quiet")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert (out / ".sweep.lock").is_file()
    assert main(["sweep", str(sweep_file), "--out", str(out), "--resume", "--workers", "0",
                 "--quiet"]) == 0
    assert (out / "sweep.nc").is_file() and _lock_files(tmp_path) == []


def _net():
    return hierarchy(ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0), 8, seed=0,
                     dtype=torch.float32)


def test_a_writer_of_this_process_is_refused_too(tmp_path, capsys):
    """A Monitor streaming to P holds P: a command of the same process (a notebook) that would
    write P is refused, naming this process; so is a second claim; once closed, P is free."""
    net, p = _net(), tmp_path / "p.nc"
    mon = Monitor(net, weights="w1", path=p)
    mon.record(0, net)
    assert (tmp_path / ".p.nc.lock").is_file()
    assert main(["run", str(_config(tmp_path)), "--out", str(p), "--overwrite", "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"plastisim: error: output file {str(p)!r} is being written by this "
                           f"process, PID {os.getpid()}: ")
    assert main(["export", str(p), str(p), "--overwrite"]) == 2       # (its own rule first)
    capsys.readouterr()
    with pytest.raises(ConfigError, match="is being written by this process"):
        outputs.claim(p)
    mon.record(1, net)
    mon.close()
    assert ps.open_run(p).sizes["step"] == 2 and _lock_files(tmp_path) == []
    assert main(["run", str(_config(tmp_path)), "--out", str(p), "--overwrite", "--quiet"]) == 0
    assert _open(p).attrs["status"] == "max_epochs"


def test_export_and_protocol_claim_their_outputs(tmp_path, capsys):
    src = tmp_path / "src.nc"
    assert main(["run", str(_config(tmp_path)), "--out", str(src), "--quiet"]) == 0
    capsys.readouterr()
    held = outputs.claim(tmp_path / "small.nc")
    try:
        assert main(["export", str(src), str(tmp_path / "small.nc")]) == 2
        assert "is being written by this process" in _one_line(capsys.readouterr().err)
        assert main(["protocol", "stdp_window", "--rule", "pair", "--out",
                     str(tmp_path / "small.nc"), "--quiet"]) == 2
        assert "is being written by this process" in _one_line(capsys.readouterr().err)
    finally:
        held.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.nc", "tiny.toml"]
    assert main(["export", str(src), str(tmp_path / "small.nc")]) == 0
    assert _lock_files(tmp_path) == []


def test_claims_within_one_command_and_the_folders_they_make(tmp_path):
    """Within one claiming() block an output is claimed once (the command's own checks and its
    Monitor); a folder made for a lock file is removed when the claim ends, if empty."""
    target = tmp_path / "a" / "b" / "x.nc"
    with outputs.claiming():
        outputs.check_output_path(target, suffix=".nc", make_folder=True)
        outputs.check_output_path(target, suffix=".nc", make_folder=True)    # the same writer
        assert _lock_files(tmp_path) == [".x.nc.lock"]
        with pytest.raises(ConfigError, match="is being written by this process"):
            outputs.claim(target)                                           # another one
        outputs.check_output_path(outputs.beside(target), suffix=None)      # its own: free
        assert _lock_files(tmp_path) == [".x.nc.lock"]
    assert sorted(tmp_path.iterdir()) == []


def test_lock_names_are_legal_and_distinct(tmp_path):
    a, b = tmp_path / ("r" * 240 + "a.nc"), tmp_path / ("r" * 240 + "b.nc")
    la, lb = outputs.lock_path(a), outputs.lock_path(b)
    assert la != lb and len(la.name) < 60 and la.parent == tmp_path
    assert outputs.lock_path(tmp_path / "x.nc").name == ".x.nc.lock"
    assert outputs.lock_path(tmp_path, folder=True) == tmp_path / ".sweep.lock"
    first, second = outputs.claim(a), outputs.claim(b)                      # no false conflict
    first.release()
    second.release()
    assert list(tmp_path.iterdir()) == []


def test_a_stream_never_writes_into_a_file_another_program_put_there(tmp_path, monkeypatch):
    """A program that does not claim outputs replaces the recording: the stream stops instead
    of reopening the other file by its name."""
    monkeypatch.setattr(live, "KEEP_OPEN_S", 0.0)      # closed after every record
    net, p = _net(), tmp_path / "p.nc"
    mon = Monitor(net, weights="w1", path=p)
    mon.record(0, net)
    other = tmp_path / "other.nc"
    other.write_bytes(b"someone else's file")
    os.replace(other, p)
    with pytest.raises(RuntimeError, match="replaced or removed by another program after 1 "
                                           "records"):
        mon.record(1, net)
    mon.close()
    assert p.read_bytes() == b"someone else's file" and _lock_files(tmp_path) == []


def test_a_run_leaves_alone_a_file_another_program_put_in_place_of_its_recording(
        tmp_path, monkeypatch, capsys):
    """The same through ``plastisim run --record``: the run ends "failed" and its learning
    curve is not appended to the other program's file."""
    monkeypatch.setattr(live, "KEEP_OPEN_S", 0.0)
    (tmp_path / "t.toml").write_text(tiny_run_toml())
    p = tmp_path / "p.nc"
    recorded = Monitor.record

    def replaced_after_one(self, step, *args, **kwargs):
        if step == 1:
            (tmp_path / "other").write_bytes(b"someone else's file")
            os.replace(tmp_path / "other", p)
        return recorded(self, step, *args, **kwargs)

    monkeypatch.setattr(Monitor, "record", replaced_after_one)
    code = main(["run", str(tmp_path / "t.toml"), "--record", "weights=w1,every=1",
                 "--out", str(p), "--quiet"])
    assert code == 1, capsys.readouterr()
    out, err = capsys.readouterr()
    assert "replaced or removed by another program" in out
    assert err.count("\n") == 1 and "is not the run's file and was left alone" in err, err
    assert p.read_bytes() == b"someone else's file" and _lock_files(tmp_path) == []
