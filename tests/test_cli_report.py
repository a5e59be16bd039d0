"""`plastisim report`: a missing --out-dir is created, paths that cannot be folders are refused in
one line; the learning curve of a self-supervised run shows its two phases apart."""
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import xarray as xr

from plastisim import analysis
from plastisim.cli import main
from plastisim.cli.report import _draw_curve

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
TINY = ["--set", "rhm.L=2", "--set", "train.n_train=128", "--set", "train.n_test=128",
        "--set", "network.width=8", "--set", "train.epochs=3", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A bp run and a clapp run (local, then readout phase)."""
    d = tmp_path_factory.mktemp("report")
    assert main(["run", str(MODELS / "bp.toml"), *TINY, "--out", str(d / "bp.nc")]) == 0
    assert main(["run", str(MODELS / "clapp.toml"), *TINY, "--set", "rule.readout_epochs=4",
                 "--out", str(d / "clapp.nc")]) == 0
    return {"bp": d / "bp.nc", "clapp": d / "clapp.nc"}


def test_a_missing_out_dir_is_created_with_its_parents(runs, tmp_path, capsys):
    figs = tmp_path / "figs" / "run1"
    assert main(["report", str(runs["bp"]), "--out-dir", str(figs)]) == 0
    assert [p.name for p in figs.iterdir()] == ["bp_curve.png"]
    assert f"wrote {figs / 'bp_curve.png'}" in capsys.readouterr().out


@pytest.mark.parametrize("where, says", [
    ("afile", "is a file, not a folder"),
    ("afile/sub", "cannot be created"),
    ("/proc/plastisim_figs", "cannot be created"),
])
def test_paths_that_cannot_be_folders_are_one_line_errors(runs, tmp_path, capsys, where, says):
    (tmp_path / "afile").write_text("a file")
    out_dir = where if where.startswith("/") else str(tmp_path / where)
    assert main(["report", str(runs["bp"]), "--out-dir", out_dir]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and out_dir in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_curve_phases_and_phase_starts(runs):
    with xr.open_dataset(runs["clapp"]) as ds:
        phases = analysis.curve_phases(ds)
        assert list(phases) == ["local", "readout"]
        assert phases["local"].size + phases["readout"].size == ds.sizes["eval"]
        local_end = int(ds.eval_step.values[phases["local"]].max())
        assert analysis.phase_starts(ds) == {"readout": local_end}
    with xr.open_dataset(runs["bp"]) as ds:
        assert list(analysis.curve_phases(ds)) == ["joint"] and analysis.phase_starts(ds) == {}


def _labels(ax) -> list[str]:
    return [line.get_label() for line in ax.get_lines()]


def test_a_self_supervised_curve_draws_each_phase_apart_with_labelled_axes(runs):
    with xr.open_dataset(runs["clapp"]) as ds:
        fig = _draw_curve(plt, ds)
        errors, local, readout = fig.axes
        start = analysis.phase_starts(ds)["readout"]
        assert f"readout phase starts (step {start})" in _labels(errors)
        assert "local loss" in local.get_ylabel() and "cross-entropy" in readout.get_ylabel()
        assert _labels(local) == ["local phase"] and _labels(readout) == ["readout phase"]
        n_local = analysis.curve_phases(ds)["local"].size
        assert len(local.get_lines()[0].get_xdata()) == n_local      # the local loss alone
        assert np.all(readout.get_lines()[0].get_xdata() >= start)
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
        plt.close(fig)


def test_a_supervised_curve_keeps_one_loss_panel(runs):
    with xr.open_dataset(runs["bp"]) as ds:
        fig = _draw_curve(plt, ds)
        assert len(fig.axes) == 2 and "cross-entropy" in fig.axes[1].get_ylabel()
        plt.close(fig)
