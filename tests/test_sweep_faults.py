"""Sweeps under faults: a SIGKILLed or SIGTERMed sweep leaves no process behind; --resume redoes
a truncated run file; a command's warnings are one line."""
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import xarray as xr

from plastisim import sweep
from plastisim.cli import main
from plastisim.sweep.merge import UnreadableRunWarning, read_run

ROOT = Path(__file__).resolve().parents[1]
MODELS = (ROOT / "models").as_posix()
linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

SMALL = f"""
models = ["{MODELS}/bp.toml"]
[set]
rhm.L = 2
network.width = 16
train.n_train = 128
train.n_test = 256
train.epochs = {{epochs}}
train.stop_loss = 0
train.evaluations = 2
[axes]
seed = [0, 1, 2, 3]
"""


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent PID) of a process from /proc, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def _children(pid: int) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and (_stat(int(p.name)) or ("", 0))[1] == pid]


def _watching(pid: int) -> bool:
    """A worker whose initializer ran: it has the watchdog thread (named by the executor)."""
    for comm in Path(f"/proc/{pid}/task").glob("*/comm"):
        try:
            if comm.read_text().strip() == "plastisim-watch":
                return True
        except OSError:
            pass
    return False


@linux_only
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_sweep_leaves_no_worker_or_tracker(tmp_path, signum):
    (tmp_path / "s.toml").write_text(SMALL.format(epochs=10**6))    # runs that never finish
    proc = subprocess.Popen([sys.executable, "-m", "plastisim.cli", "sweep", "s.toml", "--out",
                             "out", "--workers", "2", "--quiet"], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    children: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            children = _children(proc.pid)
            if sum(_watching(pid) for pid in children) == 2:    # both workers are training
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the workers did not start (sweep exit {proc.poll()})")
        assert len(children) == 3          # 2 workers and multiprocessing's resource tracker
        os.kill(proc.pid, signum)          # the sweep's process only, not its group
        assert proc.wait(timeout=10) == (-signum if signum == signal.SIGKILL else 128 + signum)
        deadline = time.monotonic() + 5
        alive = children
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            alive = [pid for pid in children if (_stat(pid) or ("Z",))[0] != "Z"]
        assert not alive, f"processes of the killed sweep still run after 5 s: {alive}"
        if signum == signal.SIGTERM:       # one line, no traceback
            err = proc.stderr.read()
            assert "interrupted by SIGTERM" in err and "Traceback" not in err, err
    finally:
        for pid in [proc.pid] + children:  # only what this test started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_resume_reruns_a_truncated_run_file(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(SMALL.format(epochs=2))
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(out), "--workers", "0",
                 "--quiet"]) == 0
    reference = read_run(out / "sweep.nc")
    files = sorted((out / "runs").glob("*.nc"))
    bad, good = files[0], files[1:]
    data = bad.read_bytes()
    bad.write_bytes(data[:len(data) // 2])             # a copy cut short
    with pytest.raises(OSError, match="is unreadable"):
        read_run(bad)
    kept = {p: p.stat().st_mtime_ns for p in good}
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(out), "--resume",
                     "--workers", "0", "--quiet"]) == 0
    said = [str(w.message) for w in caught if w.category is UnreadableRunWarning]
    assert len(said) == 1 and bad.name in said[0] and "running it again" in said[0], said
    assert f"computed 1 runs, skipped {len(good)} finished runs" in capsys.readouterr().out
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())   # the others kept
    assert read_run(bad).attrs["status"] in ("converged", "max_epochs")
    xr.testing.assert_identical(sweep.comparable(read_run(out / "sweep.nc")),
                                sweep.comparable(reference))


def test_a_command_prints_warnings_on_one_line(tmp_path):
    (tmp_path / "s.toml").write_text(SMALL.format(epochs=1))
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(out), "--workers", "0",
                 "--quiet"]) == 0
    assert warnings.formatwarning is warnings._formatwarning_orig       # restored after main
    bad = sorted((out / "runs").glob("*.nc"))[0]
    bad.write_bytes(bad.read_bytes()[:100])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "default",
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "plastisim", "sweep", str(tmp_path / "s.toml"),
                           "--out", str(out), "--resume", "--workers", "0", "--quiet"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"plastisim: warning: run file {str(bad)!r}"), line
    assert line.endswith("; running it again") and "UnreadableRunWarning" not in line


def test_merge_reports_an_unreadable_run_file_as_missing(tmp_path):
    (tmp_path / "s.toml").write_text(SMALL.format(epochs=2))
    plan = sweep.load(tmp_path / "s.toml")
    (tmp_path / "runs").mkdir()
    (tmp_path / plan.points[0].file).write_bytes(b"CDF\x01 not really")
    ds = sweep.merge(plan, tmp_path)
    status, message = ds.status.values.ravel(), ds.status_message.values.ravel()
    assert status.tolist() == ["missing"] * 4
    assert "is unreadable" in message[0]
    assert message[1] == "no run file (not run, or interrupted)"
