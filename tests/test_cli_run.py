"""`plastisim run` and `plastisim rules`: files, summaries, one-line errors with exit code 2."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

from plastisim import config
from plastisim.cli import main

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
FAST = ["--set", "rhm.L=2", "--set", "train.n_train=256", "--set", "train.n_test=256",
        "--set", "network.width=16", "--set", "train.epochs=3", "--quiet"]


def plastisim(*args: str) -> subprocess.CompletedProcess:
    """``python -m plastisim.cli ARGS`` in the test's own folder (conftest.py)."""
    return subprocess.run([sys.executable, "-m", "plastisim.cli", *args], capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True, timeout=300)


def test_run_writes_a_self_describing_file(tmp_path, capsys):
    out = tmp_path / "dfa.nc"
    assert main(["run", str(MODELS / "dfa.toml"), *FAST, "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "test error" in summary and "samples/s" in summary and str(out) in summary
    ds = xr.open_dataset(out)
    assert ds.test_error.dims == ("eval",) and ds.train_loss.size == ds.eval_epoch.size >= 2
    assert ds.test_error.attrs["units"] == "1" and "long_name" in ds.train_loss.attrs
    cfg = config.build(__import__("tomllib").loads(ds.attrs["config_toml"]))
    assert cfg.rule.name == "dfa" and cfg.rhm.L == 2 and cfg.train.epochs == 3
    for key in ("plastisim_version", "git_commit", "torch_version", "device", "dtype",
                "seed_network", "seed_data", "seed_feedback_seed", "status", "Conventions"):
        assert key in ds.attrs, key
    # never clobbered
    assert main(["run", str(MODELS / "dfa.toml"), *FAST, "--out", str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err


def test_the_status_is_an_enum_in_memory_and_a_plain_word_in_files():
    """``TrainResult.status`` is a ``Status``; the Dataset (and so the netCDF attribute) holds
    its word as a plain str, never the Enum."""
    from plastisim.options import Status
    from plastisim.run import execute

    cfg = config.load(MODELS / "bp.toml", ["rhm.L=2", "network.width=8", "train.n_train=64",
                                           "train.n_test=64", "train.epochs=1",
                                           'train.device="cpu"'])
    outcome = execute(cfg)
    assert isinstance(outcome.result.status, Status)
    status = outcome.dataset.attrs["status"]
    assert type(status) is str and status == outcome.result.status.value


def test_diverging_run_keeps_its_file(tmp_path):
    out = tmp_path / "boom.nc"
    proc = plastisim("run", str(MODELS / "bp.toml"), *FAST, "--set", "rule.lr=1e6", "--out",
                     str(out))
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("plastisim: error: diverged at step ")
    assert len(proc.stderr.strip().splitlines()) == 1
    ds = xr.open_dataset(out)
    assert ds.attrs["status"] == "diverged" and ds.eval_step.size >= 1


BAD_INPUT = [
    (["--set", "rule.name=clap"], "rule 'clap' is unknown; available: bp,"),
    (["--set", "network.width=0"], "network.width=0 is impossible"),
    (["--set", "rhm.mm=4"], "rhm.mm is not a known key; available: v, n_classes, m, s, L, seed"),
    (["--set", "rhm.m=9"], "rhm.m=9 is impossible for v=8, s=2: need m*v <= v**s"),
    (["--set", "train.epochs=ten"], "train.epochs='ten' has the wrong type: need int"),
    (["--device", "tpu"], "device='tpu' is not available on this machine; available: auto, cpu"),
    (["--set", "train.n_train=200000"], "train.n_train+n_test=210000 is impossible"),
    (["--set", "train.compile=maybe"],
     "train.compile='maybe' is impossible: need 'auto', true or false"),
    (["--set", "train.compile=1"], "train.compile=1 has the wrong type: need 'auto', true or false"),
]


@pytest.mark.parametrize("args, message", BAD_INPUT)
def test_bad_input_is_one_line_exit_2(args, message, capsys):
    assert main(["run", str(MODELS / "bp.toml"), "--quiet", *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert message in captured.err and captured.out == ""


def test_bad_input_of_the_process_is_one_line_exit_2():
    """The same from ``python -m plastisim.cli`` (one case of each kind: the process's exit
    status and stderr; the cases above run in this process, through the same ``main``)."""
    for args, message in (BAD_INPUT[0], (["--set", "width=3"], "not of the form "
                                         "section.key=value")):
        proc = plastisim("run", str(MODELS / "bp.toml"), "--quiet", *args)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert message in proc.stderr


@pytest.mark.parametrize("value, compiled", [("true", True), ("false", False), ("auto", "auto"),
                                             ('"false"', False)])
def test_train_compile_is_a_key_of_the_train_section(value, compiled):
    """``--set train.compile=...`` reaches the training options (``TrainOptions.compile``)."""
    from plastisim.run import build

    cfg = config.load(MODELS / "bp.toml", ["rhm.L=2", "network.width=8", "train.n_train=64",
                                           "train.n_test=64", 'train.device="cpu"',
                                           f"train.compile={value}"])
    assert cfg.train.compile == compiled and build(cfg).options.compile == compiled
    assert config.RunConfig().train.compile == "auto"          # the default
    # the default is left out of the TOML, so that runs keep the identity (the hash of this
    # text) they had before the key existed
    written = {True: "\ncompile = true\n", False: "\ncompile = false\n"}.get(compiled)
    assert (written in cfg.to_toml()) if written else ("compile" not in cfg.to_toml())


def test_a_run_with_train_compile_false_records_it(tmp_path, capsys):
    out = tmp_path / "bp.nc"
    assert main(["run", str(MODELS / "bp.toml"), *FAST, "--set", "train.compile=false",
                 "--out", str(out)]) == 0
    with xr.open_dataset(out) as ds:
        cfg = config.build(__import__("tomllib").loads(ds.attrs["config_toml"]))
        assert ds.attrs["status"] in ("converged", "max_epochs")
    assert cfg.train.compile is False


def test_missing_config_file_and_bad_override(capsys):
    assert main(["run", str(MODELS / "nope.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["run", str(MODELS / "bp.toml"), "--set", "width=3"]) == 2
    assert "not of the form section.key=value" in capsys.readouterr().err


def test_rules_table_lists_every_rule_with_its_factors(capsys):
    from plastisim import rules
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    for name in rules.names():
        assert f"\n{name} " in out
    assert "modulator (third factor)" in out



def test_a_reader_that_goes_away_ends_the_command_quietly():
    """`plastisim rules | head -1`: no error line when the reader has closed the pipe."""
    proc = subprocess.Popen([sys.executable, "-m", "plastisim.cli", "rules"],
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()                  # before the command (still importing) writes
    _, stderr = proc.communicate(timeout=120)
    assert stderr == b"", stderr.decode()
    assert proc.returncode == 141
