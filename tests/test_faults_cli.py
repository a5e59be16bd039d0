"""Faults a demanding user meets on the command line (docs/failures.md): empty, BOM-prefixed and
non-regular config files, a folder given for a file, report on a sweep's merged file, SIGHUP,
and a --scheduler address where no Dask scheduler answers.

Each bad input ends with exit status 2, one line on stderr that names the path and the value,
and nothing written; every file lives under the test's tmp_path.
"""
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import xarray as xr

from plastisim import config
from plastisim.cli import main
from plastisim.testing import tiny_run_toml

BOM = b"\xef\xbb\xbf"
LONG = 10 ** 6


def _one_line(err: str) -> str:
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err.strip()


def _main_within(argv: list[str], seconds: float = 60) -> int:
    """``main(argv)`` in a thread that must end within ``seconds`` (a blocking open or a
    connection that waits forever fails the test instead of hanging it)."""
    result = []
    thread = threading.Thread(target=lambda: result.append(main(argv)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"plastisim {' '.join(argv)} did not end in {seconds} s"
    return result[0]


def _tiny(folder: Path, name: str = "tiny.toml", **train) -> Path:
    path = folder / name
    path.write_text(tiny_run_toml(**train))
    return path


# --- config and sweep files -------------------------------------------------------------------

@pytest.mark.parametrize("text, detail", [("", ""), ("# nothing here\n\n", "only comments"),
                                          ("\n  \n", "")], ids=["empty", "comments", "blank"])
def test_an_empty_config_is_refused_in_one_line(tmp_path, capsys, text, detail):
    path = tmp_path / "e.toml"
    path.write_text(text)
    out = tmp_path / "e.nc"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"plastisim: error: config file {str(path)!r} is empty")
    assert detail in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.toml"]


def test_an_empty_sweep_file_is_refused_in_one_line(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text("")
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--workers", "0"]) == 2
    assert f"sweep file {str(path)!r} is empty" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_a_byte_order_mark_is_accepted_in_configs_and_sweep_files(tmp_path, capsys):
    plain = _tiny(tmp_path)
    bom = tmp_path / "bom.toml"
    bom.write_bytes(BOM + plain.read_bytes())
    assert config.load(bom).to_toml() == config.load(plain).to_toml()
    out = tmp_path / "x.nc"
    assert main(["run", str(bom), "--out", str(out), "--quiet"]) == 0
    assert out.is_file()
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_bytes(BOM + b'base = "tiny.toml"\n[axes]\ntrain.epochs = [1, 2]\n')
    capsys.readouterr()
    assert main(["sweep", str(sweep_file), "--dry-run"]) == 0
    assert "= 2 points, 2 runs" in capsys.readouterr().out
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "out"), "--workers", "0",
                 "--quiet"]) == 0
    assert not (tmp_path / "out" / "sweep.toml").read_bytes().startswith(BOM)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
@pytest.mark.parametrize("command", [["run", "{}"], ["sweep", "{}", "--dry-run"],
                                     ["report", "{}"], ["pstar", "{}"]],
                         ids=["run", "sweep", "report", "pstar"])
def test_a_named_pipe_is_named_and_never_opened(tmp_path, capsys, command):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)               # opening it for reading would wait for a writer forever
    assert _main_within([a.format(fifo) for a in command]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"{str(fifo)!r} is not a regular file (a named pipe)" in line


def test_a_device_is_not_a_config(capsys):
    assert main(["run", os.devnull, "--quiet"]) == 2
    assert f"config file {os.devnull!r} is not a regular file (a character device)" in _one_line(
        capsys.readouterr().err)


def test_a_folder_is_named_the_same_by_pstar_and_report(tmp_path, capsys):
    folder = tmp_path / "sweepout"
    folder.mkdir()
    assert main(["pstar", str(folder)]) == 2
    pstar = _one_line(capsys.readouterr().err)
    assert main(["report", str(folder)]) == 2
    report = _one_line(capsys.readouterr().err)
    for line in (pstar, report):
        assert f"{str(folder)!r} is a folder, not a netCDF file" in line
        assert ".nc.nc" not in line and "did you mean" not in line
    (folder / "sweep.nc").write_bytes(b"not yet read")
    for command in ("pstar", "report"):
        assert main([command, str(folder)]) == 2
        line = _one_line(capsys.readouterr().err)
        assert line.endswith(f"is a folder, not a netCDF file; did you mean "
                             f"{str(folder / 'sweep.nc')!r}?")
    assert sorted(p.name for p in folder.iterdir()) == ["sweep.nc"]


def test_a_sweep_folder_given_as_sweep_file_names_its_sweep_toml(tmp_path, capsys):
    (tmp_path / "sweep.toml").write_text('base = "x.toml"\n')
    assert main(["sweep", str(tmp_path), "--dry-run"]) == 2
    assert _one_line(capsys.readouterr().err).endswith(
        f"is a folder, not a TOML file; did you mean {str(tmp_path / 'sweep.toml')!r}?")


# --- report on a sweep's merged file ----------------------------------------------------------

@pytest.fixture(scope="module")
def pstar_sweep(tmp_path_factory) -> Path:
    """OUT/sweep.nc of a tiny sweep over train.n_train_multiple and two seeds (4 runs)."""
    folder = tmp_path_factory.mktemp("pstar")
    _tiny(folder)
    sweep_file = folder / "sweep.toml"
    sweep_file.write_text('base = "tiny.toml"\n[axes]\ntrain.n_train_multiple = [0.5, 1]\n'
                          "seed = [0, 1]\n")
    out = folder / "out"
    assert main(["sweep", str(sweep_file), "--out", str(out), "--workers", "0",
                 "--quiet"]) == 0
    return out / "sweep.nc"


def test_report_draws_a_sweeps_pstar_figure(pstar_sweep, tmp_path, capsys):
    figs = tmp_path / "figs"
    assert main(["report", str(pstar_sweep), "--out-dir", str(figs)]) == 0
    captured = capsys.readouterr()
    png = figs / "sweep_pstar.png"
    assert captured.out.strip() == f"wrote {png}" and captured.err == ""
    assert png.read_bytes().startswith(b"\x89PNG") and sorted(figs.iterdir()) == [png]
    before = png.read_bytes()
    assert main(["report", str(pstar_sweep), "--out-dir", str(figs)]) == 2
    assert "exists; pass --overwrite" in _one_line(capsys.readouterr().err)
    assert png.read_bytes() == before


def test_report_on_a_sweep_without_a_pstar_axis_says_what_draws_it(tmp_path, capsys):
    _tiny(tmp_path)
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text('base = "tiny.toml"\n[axes]\ntrain.epochs = [1]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(sweep_file), "--out", str(out), "--workers", "0",
                 "--quiet"]) == 0
    capsys.readouterr()
    merged = out / "sweep.nc"
    assert main(["report", str(merged)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"{str(merged)!r} is a sweep's merged file over epochs" in line
    assert f"plastisim pstar {merged} --over DIM --png FIG.png" in line
    assert not list(out.glob("*.png"))


# --- SIGHUP: the terminal was closed ----------------------------------------------------------

def _start(cwd: Path, *args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "plastisim", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _hang_up_when(proc: subprocess.Popen, ready, group: bool = False, settle: float = 0.3):
    """SIGHUP to ``proc`` (to its process group, as a closed terminal does, when ``group``)
    once ``ready()`` holds; (rc, stdout, stderr)."""
    deadline = time.monotonic() + 120
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(settle)
    assert proc.poll() is None, proc.communicate()
    if group:
        os.killpg(proc.pid, signal.SIGHUP)
    else:
        proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def _grown(path: Path):
    """Holds once ``path`` (a glob pattern in its folder) was seen with 3 modification times:
    training has flushed records after step 0."""
    seen = set()

    def ready() -> bool:
        seen.update(p.stat().st_mtime_ns for p in path.parent.glob(path.name))
        return len(seen) >= 3
    return ready


def _long(folder: Path) -> Path:
    return _tiny(folder, "long.toml", epochs=LONG, batch_size=16, stop_loss=0.0, evaluations=5)


def _open(path: Path) -> xr.Dataset:
    with xr.open_dataset(path) as ds:
        return ds.load()


def test_sighup_ends_a_run_like_sigterm_with_its_curve_and_status(tmp_path):
    _long(tmp_path)
    proc = _start(tmp_path, "run", "long.toml", "--out", "x.nc", "--quiet",
                  "--record", "weights=w1,every=50")
    rc, stdout, err = _hang_up_when(proc, _grown(tmp_path / "x.nc"), settle=1.5)  # evaluated
    assert rc == 129
    line = _one_line(err)
    assert line.startswith("plastisim: interrupted by SIGHUP at step ") and "x.nc" in line
    ds = _open(tmp_path / "x.nc")
    assert ds.attrs["status"] == "interrupted"
    assert ds.attrs["status_message"].startswith(f"SIGHUP at step {int(ds.attrs['steps'])} ")
    assert ds.test_error.size >= 1 and "interrupted: SIGHUP at step" in stdout


def test_sighup_during_overwrite_keeps_the_old_file_and_no_temporary_file(tmp_path):
    _long(tmp_path)
    (tmp_path / "x.nc").write_bytes(b"precious")
    proc = _start(tmp_path, "run", "long.toml", "--out", "x.nc", "--overwrite", "--quiet",
                  "--record", "weights=w1,every=50")
    rc, _, err = _hang_up_when(proc, _grown(tmp_path / ".x.nc.tmp*"))
    assert rc == 129
    line = _one_line(err)
    assert line.startswith("plastisim: interrupted by SIGHUP at step ") and "unchanged" in line
    assert (tmp_path / "x.nc").read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.toml", "x.nc"]


@pytest.mark.parametrize("workers", ["0", "1"])
def test_sighup_to_the_terminals_group_stops_a_sweep_keeping_finished_runs(tmp_path, workers):
    _tiny(tmp_path, epochs=2, batch_size=16, stop_loss=0.0)
    (tmp_path / "sweep.toml").write_text(f'base = "tiny.toml"\n[axes]\n'
                                         f"train.epochs = [2, {LONG}]\n")
    # one worker or none: the short run first, then the long one until the hang-up
    proc = _start(tmp_path, "sweep", "sweep.toml", "--out", "out", "--workers", workers,
                  "--quiet", start_new_session=True)
    runs = tmp_path / "out" / "runs"
    rc, stdout, err = _hang_up_when(proc, lambda: any(runs.glob("*.nc")), group=True,
                                    settle=1.0)
    assert rc == 129
    line = _one_line(err)
    assert "sweep interrupted by SIGHUP: 1 run(s) finished" in line and "--resume" in line
    assert not (tmp_path / "out" / "sweep.nc").exists() and stdout == ""
    [path] = runs.glob("*.nc")             # the long run is dropped, not written as failed
    assert _open(path).attrs["status"] == "max_epochs"
    assert not list(runs.glob(".*"))


# --- a --scheduler address where no Dask scheduler answers ------------------------------------

class _Silent(socketserver.BaseRequestHandler):
    """Accepts a connection and never says anything (not a Dask scheduler)."""

    def handle(self) -> None:
        self.request.settimeout(30)
        try:
            while self.request.recv(1024):
                pass
        except OSError:
            pass


@pytest.fixture
def silent_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Silent)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def short_connect_timeout(monkeypatch):
    pytest.importorskip("distributed")
    from plastisim.sweep import executors

    monkeypatch.setattr(executors, "CONNECT_TIMEOUT_S", 1.0)


def test_a_silent_scheduler_address_times_out_and_leaves_nothing(tmp_path, capsys,
                                                                  silent_server,
                                                                  short_connect_timeout):
    _tiny(tmp_path)
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text('base = "tiny.toml"\n[axes]\ntrain.epochs = [1]\n')
    out = tmp_path / "out"
    argv = ["sweep", str(sweep_file), "--out", str(out), "--scheduler", silent_server,
            "--quiet"]
    assert _main_within(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert line == (f"plastisim: error: scheduler={silent_server!r}: no Dask scheduler "
                    "answered within 1 s (is the address that of a Dask scheduler?)")
    assert not out.exists()                # nothing created: the retry is not refused
    out.mkdir()
    assert _main_within(argv) == 2         # an existing empty folder stays empty
    assert "no Dask scheduler answered" in _one_line(capsys.readouterr().err)
    assert list(out.iterdir()) == []


def test_a_scheduler_address_where_nothing_listens_leaves_nothing(tmp_path, capsys,
                                                                   short_connect_timeout):
    import socket

    with socket.socket() as probe:         # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _tiny(tmp_path)
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text('base = "tiny.toml"\n[axes]\ntrain.epochs = [1]\n')
    out = tmp_path / "out"
    assert _main_within(["sweep", str(sweep_file), "--out", str(out), "--scheduler",
                         f"tcp://127.0.0.1:{port}", "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"plastisim: error: scheduler='tcp://127.0.0.1:{port}': ")
    assert "cannot connect to a Dask scheduler" in line or "no Dask scheduler answered" in line
    assert not out.exists()
