"""The output rule of every command, provenance, --threads, --version and python -m plastisim.

Rule: every output path is checked before any work; an existing file is never replaced without
--overwrite (exit 2, file unchanged); with it, the new file replaces the old one when complete
(interruptions and crashes mid-run: tests/test_interrupt.py).
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import xarray as xr

from plastisim.cli import main
from plastisim.errors import ConfigError
from plastisim.recording import outputs
from plastisim.testing import tiny_run_toml

ROOT = Path(__file__).resolve().parents[1]
TINY = tiny_run_toml(epochs=2, batch_size=16)
PROVENANCE = ("python_version", "numpy_version", "torch_version", "xarray_version",
              "netcdf4_version", "host", "git_commit", "git_dirty", "command_line")
PRECIOUS = b"precious"


def _open(path: Path) -> xr.Dataset:
    with xr.open_dataset(path) as ds:
        return ds.load()


def _one_line_error(capsys, *says: str) -> None:
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured
    assert "Traceback" not in captured.err and all(s in captured.err for s in says), captured.err


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def run_file(tiny, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run.nc"
    assert main(["run", str(tiny), "--out", str(out), "--quiet", "--threads", "2", "--record",
                 "weights=w1,every=2"]) == 0
    return out


@pytest.mark.parametrize("name, message", [
    ("nope/x.nc", "output folder '{tmp}/nope' does not exist"),
    ("file.txt/x.nc", "output folder '{tmp}/file.txt' is a file, not a folder"),
    ("dir", "output path '{tmp}/dir' is a folder; give a file name"),
    ("x.txt", "output='{tmp}/x.txt' is impossible: need a file name ending in .nc"),
    ("file.txt", "need a file name ending in .nc"),
    ("/dev/null", "output path '/dev/null' exists and is not a regular file"),
    ("/proc/x.nc", "output folder '/proc' is not writable"),
    ("keep.nc", "output file '{tmp}/keep.nc' exists; pass --overwrite to replace it"),
])
def test_output_paths_are_checked_up_front(tmp_path, name, message):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "dir").mkdir()
    (tmp_path / "keep.nc").write_bytes(PRECIOUS)
    if name.startswith("/proc") and not Path("/proc/self").exists():
        pytest.skip("needs /proc")
    with pytest.raises(ConfigError) as err:
        outputs.check_output_path(name if name.startswith("/") else tmp_path / name,
                                  suffix=".nc")
    assert str(err.value) == message.format(tmp=tmp_path) or message in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file.txt", "keep.nc"]
    assert outputs.check_output_path(tmp_path / "keep.nc", overwrite=True) == tmp_path / "keep.nc"


@pytest.mark.parametrize("name, message", [
    ("new/deeper/x.nc", ""),
    ("file.txt/sub/x.nc",
     "output folder '{tmp}/file.txt/sub' cannot be created: '{tmp}/file.txt' is a file, not a "
     "folder"),
    ("/proc/nodir/x.nc", "output folder '/proc/nodir' cannot be created: '/proc' is not writable"),
])
def test_a_missing_folder_is_accepted_when_it_can_be_made(tmp_path, name, message):
    """make_folder (the commands' --out): checked, not created; make_parent creates it."""
    (tmp_path / "file.txt").write_text("x")
    if name.startswith("/proc") and not Path("/proc/self").exists():
        pytest.skip("needs /proc")
    path = Path(name) if name.startswith("/") else tmp_path / name
    if message:
        with pytest.raises(ConfigError) as err:
            outputs.check_output_path(path, suffix=".nc", make_folder=True)
        assert str(err.value).startswith(message.format(tmp=tmp_path)), str(err.value)
    else:
        assert outputs.check_output_path(path, suffix=".nc", make_folder=True) == path
        assert outputs.make_parent(path) == path and path.parent.is_dir()
        path.parent.rmdir()
        path.parent.parent.rmdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_run_protocol_and_sweep_create_missing_output_folders(tiny, tmp_path, capsys):
    run_out = tmp_path / "a" / "b" / "run.nc"
    assert main(["run", str(tiny), "--out", str(run_out), "--quiet"]) == 0
    proto = tmp_path / "p" / "q" / "w.nc"
    assert main(["protocol", "stdp_window", "--rule", "pair", "--dt-step-ms", "25", "--pairings",
                 "5", "--out", str(proto), "--quiet"]) == 0
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(f'base = "{tiny.as_posix()}"\n[axes]\nseed = [0]\n')
    folder = tmp_path / "runs" / "scaling" / "x"           # runs/scaling does not exist
    assert main(["sweep", str(sweep_file), "--out", str(folder), "--workers", "0",
                 "--quiet"]) == 0
    capsys.readouterr()
    assert run_out.is_file() and proto.is_file() and proto.with_suffix(".png").is_file()
    assert (folder / "sweep.nc").is_file()
    # made only once every input is accepted: a refused command leaves no folder behind
    assert main(["run", str(tiny), "--out", str(tmp_path / "n" / "x.nc"), "--threads", "0",
                 "--quiet"]) == 2
    _one_line_error(capsys, "--threads=0 is impossible")
    assert main(["protocol", "stdp_window", "--rule", "pair", "--threads", "0", "--out",
                 str(tmp_path / "n" / "w.nc"), "--quiet"]) == 2
    _one_line_error(capsys, "--threads=0 is impossible")
    assert not (tmp_path / "n").exists()


def test_run_never_replaces_without_overwrite_and_replaces_with_it(tiny, tmp_path, capsys):
    out = tmp_path / "x.nc"
    out.write_bytes(PRECIOUS)
    assert main(["run", str(tiny), "--out", str(out), "--quiet"]) == 2
    _one_line_error(capsys, "exists; pass --overwrite")
    assert out.read_bytes() == PRECIOUS
    assert main(["run", str(tiny), "--out", str(tmp_path / "x.txt"), "--quiet"]) == 2
    _one_line_error(capsys, "--out=", "need a file name ending in .nc")
    assert main(["run", str(tiny), "--out", str(out), "--quiet", "--overwrite"]) == 0
    assert _open(out).attrs["status"] == "max_epochs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nc"]    # no temporary file left


def test_protocol_never_replaces_without_overwrite(tmp_path, capsys):
    out, png = tmp_path / "w.nc", tmp_path / "w.png"
    args = ["protocol", "stdp_window", "--rule", "pair", "--dt-step-ms", "25", "--pairings",
            "5", "--out", str(out), "--quiet"]
    for existing in (out, png):                   # either of its two outputs
        existing.write_bytes(PRECIOUS)
        assert main(args) == 2
        _one_line_error(capsys, "exists; pass --overwrite")
        assert existing.read_bytes() == PRECIOUS
        existing.unlink()
    out.write_bytes(PRECIOUS)
    assert main([*args, "--overwrite", "--threads", "2"]) == 0
    capsys.readouterr()
    ds = _open(out)
    assert png.read_bytes()[:4] == b"\x89PNG" and ds.attrs["torch_threads"] == 2
    assert all(key in ds.attrs for key in PROVENANCE), sorted(ds.attrs)


def test_sweep_never_replaces_a_sweep_nc_and_refuses_a_file_as_out(tiny, tmp_path, capsys):
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(f'base = "{tiny.as_posix()}"\n[axes]\nseed = [0, 1]\n')
    out = tmp_path / "out"
    out.mkdir()
    (out / "sweep.nc").write_bytes(PRECIOUS)      # someone's file
    args = ["sweep", str(sweep_file), "--out", str(out), "--workers", "0", "--quiet"]
    assert main(args) == 2
    _one_line_error(capsys, "already holds sweep.nc; pass --resume", "--overwrite")
    assert (out / "sweep.nc").read_bytes() == PRECIOUS and not (out / "runs").exists()
    assert main([*args[:3], str(tmp_path / "s.toml"), *args[4:]]) == 2   # --out is a file
    _one_line_error(capsys, "is a file; need a folder")
    assert main([*args, "--resume", "--overwrite"]) == 2
    _one_line_error(capsys, "pass one of them")
    assert main([*args, "--overwrite"]) == 0
    capsys.readouterr()
    ds = _open(out / "sweep.nc")
    assert all(key in ds.attrs for key in PROVENANCE), sorted(ds.attrs)
    try:
        import dask  # noqa: F401
    except ImportError:
        return
    assert ds.attrs["dask_version"]


def test_export_and_report_never_replace_without_overwrite(run_file, tmp_path, capsys):
    exported, png = tmp_path / "e.nc", tmp_path / "run_curve.png"
    for path in (exported, png):
        path.write_bytes(PRECIOUS)
    assert main(["export", str(run_file), str(exported)]) == 2
    _one_line_error(capsys, "exists; pass --overwrite")
    assert main(["report", str(run_file), "--out-dir", str(tmp_path)]) == 2
    _one_line_error(capsys, "exists; pass --overwrite")
    assert exported.read_bytes() == PRECIOUS and png.read_bytes() == PRECIOUS
    assert main(["export", str(run_file), str(exported), "--overwrite"]) == 0
    assert main(["report", str(run_file), "--out-dir", str(tmp_path), "--overwrite"]) == 0
    capsys.readouterr()
    ds = _open(exported)
    assert all(f"export_{key}" in ds.attrs for key in PROVENANCE), sorted(ds.attrs)
    from PIL import Image
    with Image.open(png) as image:
        assert image.text["torch_version"] == torch.__version__ and "git_commit" in image.text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_demo_checks_its_png_before_training(tmp_path, capsys):
    png = tmp_path / "demo.png"
    png.write_bytes(PRECIOUS)
    assert main(["demo", "--out", str(png)]) == 2             # no training happened
    _one_line_error(capsys, "exists; pass --overwrite")
    assert main(["demo", "--out", str(tmp_path / "demo.txt")]) == 2
    _one_line_error(capsys, "need a file name ending in .png")
    assert main(["demo", "--out", str(png), "--threads", "0", "--overwrite"]) == 2
    _one_line_error(capsys, "--threads=0 is impossible")
    assert png.read_bytes() == PRECIOUS


def test_run_file_provenance_and_threads(run_file, tiny, tmp_path, capsys):
    ds = _open(run_file)
    assert all(key in ds.attrs for key in PROVENANCE), sorted(ds.attrs)
    assert ds.attrs["torch_threads"] == 2 and "--threads 2" in ds.attrs["command_line"]
    assert "threads" not in ds.attrs["config_toml"]           # not part of the run's identity
    before = torch.get_num_threads()
    assert main(["run", str(tiny), "--threads", "x", "--quiet"]) == 2
    _one_line_error(capsys, "--threads='x' is impossible: need an integer >= 1")
    assert torch.get_num_threads() == before


def test_version_and_python_dash_m(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "plastisim", "--version"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0 and proc.stderr == ""
    from plastisim import __version__
    assert proc.stdout.startswith(f"plastisim {__version__} (git ") and "torch" in proc.stdout
