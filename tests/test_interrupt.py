"""Interruption is a normal ending: SIGINT / SIGTERM on run and sweep, exceptions, divergence.

The subprocess tests train a width-8 network on 64 inputs for 10^6 epochs with stop_loss = 0,
so training lasts until the signal; they wait until training has started (its file appears).
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import plastisim as ps
from plastisim import interrupt, rules
from plastisim.cli import main
from plastisim.testing import tiny_run_toml

ROOT = Path(__file__).resolve().parents[1]

LONG = 10 ** 6


def _config(folder: Path, epochs: int = LONG, name: str = "tiny.toml") -> Path:
    path = folder / name
    path.write_text(tiny_run_toml(epochs=epochs, batch_size=16, stop_loss=0.0,
                                  evaluations=5))
    return path


def _open(path: Path) -> xr.Dataset:
    with xr.open_dataset(path) as ds:
        return ds.load()


def _start(*args: str) -> subprocess.Popen:
    """``python -m plastisim ARGS`` in the test's own folder (conftest.py)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "plastisim", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _grown(folder: Path, pattern: str):
    """A test that holds once a file matching ``pattern`` was seen with 3 modification times:
    flushed twice after it was first seen, so at least one record after step 0 (every 50
    steps) is in: training has run its first evaluation (step 4)."""
    seen = set()

    def ready() -> bool:
        seen.update(path.stat().st_mtime_ns for path in folder.glob(pattern))
        return len(seen) >= 3
    return ready


def _signal_when(proc: subprocess.Popen, ready, signum: int, settle: float = 0.2):
    """Send ``signum`` once ``ready()`` holds (and ``settle`` s more); (rc, stdout, stderr)."""
    deadline = time.monotonic() + 120
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(settle)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def _one_line(err: str) -> str:
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err.strip()


def test_sigint_stops_a_run_at_a_step_and_completes_its_file(tmp_path):
    out = tmp_path / "x.nc"
    proc = _start("run", str(_config(tmp_path)), "--out", str(out), "--quiet",
                  "--record", "weights=w1,every=50")
    rc, stdout, err = _signal_when(proc, _grown(tmp_path, "x.nc"), signal.SIGINT)
    assert rc == 130
    line = _one_line(err)
    assert line.startswith("plastisim: interrupted by SIGINT at step ") and str(out) in line
    ds = _open(out)
    assert ds.attrs["status"] == "interrupted"
    step = int(ds.attrs["steps"])
    assert ds.attrs["status_message"].startswith(f"SIGINT at step {step} (epoch ")
    assert ds.test_error.size >= 1 and np.isfinite(ds.test_error).all()      # the curve
    assert ds["step"].values[-1] <= step and ds.weight_w1.sizes["step"] >= 2  # the records
    assert np.isnan(ds.sensitivity).all() and "interrupted: SIGINT at step" in stdout


def test_sigterm_during_overwrite_keeps_the_old_file(tmp_path):
    out = tmp_path / "x.nc"
    out.write_bytes(b"precious")
    proc = _start("run", str(_config(tmp_path)), "--out", str(out), "--overwrite", "--quiet",
                  "--record", "weights=w1,every=50")
    rc, _, err = _signal_when(proc, _grown(tmp_path, ".x.nc.tmp*"), signal.SIGTERM)
    assert rc == 143
    line = _one_line(err)
    assert line.startswith("plastisim: interrupted by SIGTERM at step ") and "unchanged" in line
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.toml", "x.nc"]   # no leftovers


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_sweep_keeping_finished_runs_and_no_sweep_nc(tmp_path, signum):
    _config(tmp_path, epochs=2)
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text(f'base = "{(tmp_path / "tiny.toml").as_posix()}"\n'
                          f"[axes]\ntrain.epochs = [2, {LONG}]\n")
    out = tmp_path / "out"
    proc = _start("sweep", str(sweep_file), "--out", str(out), "--workers", "0", "--quiet")
    rc, stdout, err = _signal_when(proc, lambda: any((out / "runs").glob("*.nc")), signum,
                                   settle=0.5)
    assert rc == 128 + signum
    line = _one_line(err)
    name = signal.Signals(signum).name
    assert f"sweep interrupted by {name}: 1 run(s) finished" in line and "--resume" in line
    assert not (out / "sweep.nc").exists() and stdout == ""
    files = sorted((out / "runs").iterdir())
    assert len(files) == 1 and _open(files[0]).attrs["status"] == "max_epochs"


@pytest.fixture
def failing_step(monkeypatch):
    """Training raises RuntimeError("boom") at its 7th step (after the epoch-1 evaluation)."""
    from plastisim.phase import Phase                   # one phase of the training loop
    real, calls = Phase._step, []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 7:
            raise RuntimeError("boom\nsecond line")
        return real(*args, **kwargs)
    monkeypatch.setattr(Phase, "_step", step)


def test_an_exception_in_training_is_a_failed_run_with_its_curve(tmp_path, capsys, failing_step):
    out = tmp_path / "x.nc"
    assert main(["run", str(_config(tmp_path, epochs=5)), "--out", str(out), "--quiet",
                 "--record", "weights=w1,every=2"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("plastisim: error: training failed: RuntimeError: boom (at step 6)")
    ds = _open(out)
    assert ds.attrs["status"] == "failed" and "RuntimeError: boom" in ds.attrs["status_message"]
    assert ds.test_error.size == 1 and ds.eval_step.values.tolist() == [4]
    assert ds.weight_w1.sizes["step"] == 4            # steps 0, 2, 4, 6


def test_an_exception_in_a_sweep_run_is_a_failed_run_file_with_its_curve(tmp_path, capsys,
                                                                         failing_step):
    _config(tmp_path, epochs=5)
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text(f'base = "{(tmp_path / "tiny.toml").as_posix()}"\n'
                          "[axes]\ntrain.epochs = [5]\n")
    out = tmp_path / "out"
    assert main(["sweep", str(sweep_file), "--out", str(out), "--workers", "0", "--quiet"]) == 1
    assert "failed: RuntimeError: boom (at step 6)" in capsys.readouterr().out
    [path] = (out / "runs").iterdir()
    ds = _open(path)
    assert ds.attrs["status"] == "failed" and ds.attrs["steps"] == 6
    assert ds.attrs["status_message"] == "RuntimeError: boom (at step 6)"
    assert ds.eval_step.values.tolist() == [4] and np.isfinite(ds.test_error).all()
    assert np.isnan(ds.sensitivity).all()
    merged = _open(out / "sweep.nc")
    assert merged.status.item() == "failed" and np.isnan(merged.test_error).all()
    # --resume runs the failed point again (the step raises only once)
    assert main(["sweep", str(sweep_file), "--out", str(out), "--resume", "--workers", "0",
                 "--quiet"]) == 0
    assert "computed 1 runs, skipped 0 finished runs" in capsys.readouterr().out
    assert _open(path).attrs["status"] == "max_epochs"


def test_an_exception_during_overwrite_keeps_the_old_file(tmp_path, capsys, failing_step):
    out = tmp_path / "x.nc"
    out.write_bytes(b"precious")
    assert main(["run", str(_config(tmp_path, epochs=5)), "--out", str(out), "--overwrite",
                 "--quiet"]) == 1
    assert "unchanged" in _one_line(capsys.readouterr().err)
    assert out.read_bytes() == b"precious" and len(list(tmp_path.iterdir())) == 2


def test_a_diverged_run_reports_nan_errors(tmp_path, capsys):
    out = tmp_path / "x.nc"
    assert main(["run", str(_config(tmp_path, epochs=3)), "--set", "rule.lr=1e6", "--out",
                 str(out), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert _one_line(captured.err).startswith("plastisim: error: diverged at step ")
    assert "train error nan, test error nan" in captured.out
    ds = _open(out)
    assert ds.attrs["status"] == "diverged"
    assert np.isnan(ds.test_error[-1]) and np.isnan(ds.train_error[-1])
    assert np.isnan(ds.sensitivity).all()


def _tiny_run(**kwargs):
    rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0)
    net = ps.hierarchy(rhm, 8, seed=0)
    options = ps.TrainOptions(epochs=3, batch_size=16, stop_loss=0.0)
    return ps.train(net, rules.get("bp"), *rhm.split(64, 64, seed=1), options, **kwargs)


def test_train_stops_at_a_step_boundary_when_asked():
    asked = iter([""] * 5 + ["asked"])
    result = _tiny_run(stop=lambda: next(asked))
    assert result.status == "interrupted" and result.steps == 5
    assert result.message == "asked at step 5 (epoch 2, joint phase)"
    assert result.history["step"] == [4]              # the epoch-1 evaluation is kept
    assert _tiny_run(stop=lambda: "").status == "max_epochs"


def test_signals_defer_then_insist_and_restore_the_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with interrupt.Signals() as stop:
        assert stop() == "" and stop.exit_code == 0
        os.kill(os.getpid(), signal.SIGTERM)          # deferred: only the flag
        time.sleep(0.01)
        assert stop() == "SIGTERM" and stop.exit_code == 143
        with pytest.raises(interrupt.Interrupted) as err:
            os.kill(os.getpid(), signal.SIGINT)       # a second signal: at once
            time.sleep(1)
        assert err.value.exit_code == 130 and isinstance(err.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) == before
    with pytest.raises(interrupt.Interrupted):
        with interrupt.Signals(defer=False):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    written = []
    with pytest.raises(interrupt.Interrupted):        # hold: the block ends, then it raises
        with interrupt.hold():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            written.append("file")
    assert written == ["file"] and signal.getsignal(signal.SIGTERM) == before
