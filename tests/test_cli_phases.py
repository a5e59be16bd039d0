"""What the commands say about a run's phases and rates (issue 15): progress bars with each
phase's own total (run and demo), the summary's epochs and learning rate per phase, the rates
in the output file, the warning for a learning rate inherited from another rule's file, and the
notice of a --dry-run list that was cut."""
import io
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import xarray as xr

from plastisim.cli import demo, main
from plastisim.cli.run import inherited_lr_warning
from plastisim.testing import tiny_run_toml

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
TINY = ["--set", "rhm.L=2", "--set", "train.n_train=128", "--set", "train.n_test=128",
        "--set", "network.width=8", "--set", "train.batch_size=64"]
SSL = [*TINY, "--set", "train.epochs=7", "--set", "rule.readout_epochs=2"]
BAR = re.compile(r"(?:^|[\r\n])([A-Za-z_() ]*?):?\s*\d+%\|[^|]*\|\s*(\d+)/(\d+)")


class FakeTerminal(io.StringIO):
    """stderr as a terminal: the commands draw their tqdm bars into it."""

    def isatty(self) -> bool:
        return True


def _bars(text: str) -> dict[str, tuple[int, int]]:
    """The last state (n, total) of every bar drawn into ``text``, by description."""
    return {desc.strip(): (int(n), int(total)) for desc, n, total in BAR.findall(text)}


def test_a_self_supervised_run_draws_one_bar_per_phase_with_its_own_total(monkeypatch,
                                                                          capsys):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["run", str(MODELS / "clapp.toml"), *SSL]) == 0
    bars = _bars(terminal.getvalue())
    assert bars == {"local": (7, 7), "readout": (2, 2)}, terminal.getvalue()


def test_a_supervised_run_draws_one_bar(monkeypatch, capsys):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["run", str(MODELS / "bp.toml"), *TINY, "--set", "train.epochs=3",
                 "--set", "train.stop_loss=0"]) == 0
    assert _bars(terminal.getvalue()) == {"": (3, 3)}, terminal.getvalue()
    monkeypatch.setattr(sys, "stderr", terminal := FakeTerminal())
    assert main(["run", str(MODELS / "bp.toml"), *TINY, "--set", "train.epochs=3", "--quiet"]) == 0
    assert _bars(terminal.getvalue()) == {}


def test_demo_draws_a_bar_per_rule_and_phase(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(demo, "RHM_TABLE", {**demo.RHM_TABLE, "L": 2})
    monkeypatch.setattr(demo, "TRAIN", {**demo.TRAIN, "n_train": 128, "n_test": 128})
    monkeypatch.setattr(demo, "PROBE", 64)
    monkeypatch.setattr(demo, "RUNS", (
        demo.DemoRun("bp", "bp", {}, 2, "labels"),
        demo.DemoRun("CLAPP", "clapp", {**demo.SIBLINGS, "readout_epochs": 3}, 2, "inputs alone"),
        demo.DemoRun("VICReg", "vicreg", {**demo.ORACLE_VIEWS, "readout_epochs": 1}, 1,
                     "oracle views", oracle=True)))
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["demo", "--width", "8", "--out", str(tmp_path / "d.png")]) == 0
    bars = _bars(terminal.getvalue())
    assert bars["bp"] == (2, 2) and bars["CLAPP local"] == (2, 2), terminal.getvalue()
    assert bars["CLAPP readout"][1] == 3 and bars["VICReg (oracle) local"] == (1, 1)
    table = capsys.readouterr().out
    # the oracle row comes last, under its own heading; the probe ran in the local phase
    assert table.index("inputs alone") < table.index("oracle baseline") < \
        table.index("oracle views"), table
    monkeypatch.setattr(sys, "stderr", terminal := FakeTerminal())
    assert main(["demo", "--width", "8", "--out", str(tmp_path / "e.png"), "--quiet"]) == 0
    assert _bars(terminal.getvalue()) == {}


def test_the_summary_and_the_file_give_each_phase_its_epochs_and_rate(tmp_path, capsys):
    out = tmp_path / "clapp.nc"
    assert main(["run", str(MODELS / "clapp.toml"), *SSL, "--quiet", "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "local phase: η = 5 (rule.lr, not scaled by width); 7 of 7 epochs, 14 steps" \
        in summary
    assert "readout phase: η = 1 × width 8 = 8 (rule.readout_lr × width); 2 of 2 epochs, " \
        "4 steps" in summary
    assert "max_epochs: local phase: 7 epochs; readout phase: 2 epochs" in summary
    assert "9 epochs" not in summary                  # never local + readout in one number
    with xr.open_dataset(out) as ds:
        assert ds.attrs["eta_local"] == 5.0 and ds.attrs["eta_readout"] == 8.0
        assert ds.attrs["eta_readout_formula"] == "η = 1 × width 8 = 8 (rule.readout_lr × width)"
        assert (ds.attrs["epochs_local"], ds.attrs["steps_local"]) == (7, 14)
        assert (ds.attrs["epochs_readout"], ds.attrs["steps_readout"]) == (2, 4)
        assert "eta_joint" not in ds.attrs
    out = tmp_path / "bp.nc"
    assert main(["run", str(MODELS / "bp.toml"), *TINY, "--set", "train.epochs=2", "--quiet",
                 "--out", str(out)]) == 0
    assert "joint phase: η = 0.1 × width 8 = 0.8 (rule.lr × width); 2 of 2 epochs, 4 steps" \
        in capsys.readouterr().out
    with xr.open_dataset(out) as ds:
        assert ds.attrs["eta_joint"] == pytest.approx(0.8) and ds.attrs["epochs_joint"] == 2


def test_an_inherited_learning_rate_is_warned_about(tmp_path):
    bp = MODELS / "bp.toml"
    said = inherited_lr_warning(bp, ["rule.name=clapp"])
    assert said.startswith(f"rule.lr = 0.1 comes from {bp}, written for rule bp, and is used "
                           "as is for rule clapp")
    assert inherited_lr_warning(bp, ["rule.name=clapp", "rule.lr=5"]) == ""
    assert inherited_lr_warning(bp, ["rule.name=bp"]) == ""
    assert inherited_lr_warning(bp, ["train.epochs=3"]) == ""
    no_lr = tmp_path / "T.toml"
    no_lr.write_text(tiny_run_toml())                 # no rule.lr: the new rule's default
    assert inherited_lr_warning(no_lr, ["rule.name=clapp"]) == ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["run", str(bp), *TINY, "--set", "train.epochs=1", "--set",
                     "rule.name=dfa", "--quiet"]) == 0
    assert [str(w.message) for w in caught] == [inherited_lr_warning(bp, ["rule.name=dfa"])]


def test_the_warning_is_one_line_on_stderr(tmp_path):
    bp = MODELS / "bp.toml"
    proc = subprocess.run([sys.executable, "-m", "plastisim.cli", "run", str(bp), *TINY,
                           "--set", "train.epochs=1", "--set", "rule.name=clapp", "--set",
                           "rule.readout_epochs=1", "--quiet"], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"plastisim: warning: rule.lr = 0.1 comes from {bp}")


def test_a_cut_dry_run_list_says_how_many_it_left_out(tmp_path, capsys):
    (tmp_path / "T.toml").write_text(tiny_run_toml())
    sweep = tmp_path / "S.toml"
    sweep.write_text('base = "T.toml"\n[axes]\nrule.lr = [0.1, 0.2, 0.3]\nseed = '
                     f"{list(range(15))}\n")
    assert main(["sweep", str(sweep), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("runs/") == 40
    assert out.rstrip().endswith("... and 5 more point(s) not listed (45 points, 45 runs in all; "
                                 "--only DIM=VALUE lists a subset)")
    sweep.write_text('base = "T.toml"\n[axes]\nseed = [0, 1]\n')
    assert main(["sweep", str(sweep), "--dry-run"]) == 0
    assert "more point(s)" not in capsys.readouterr().out


def test_bad_input_after_a_rule_change_is_still_one_line(tmp_path):
    existing = tmp_path / "x.nc"
    existing.write_bytes(b"precious")
    proc = subprocess.run([sys.executable, "-m", "plastisim.cli", "run",
                           str(MODELS / "bp.toml"), *TINY, "--set", "rule.name=clapp",
                           "--out", str(existing), "--quiet"], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("plastisim: error: output file") and "--overwrite" in proc.stderr
