"""A fuzz corpus of bad inputs (issue 16): every config field with a wrong type, sign, NaN, inf,
zero or huge value, rule parameters, sweep files, output paths, and every command; plus the
Python API and a hypothesis property over the config schema.

Every command-line case ends with exit status 2 and exactly one line on stderr that names the
field and the value, no traceback, and no file of the case's folder created, changed or removed
(bytes and mtime). Commands run in this process (``plastisim.cli.main``) on tiny inputs."""
from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plastisim import RHM, TrainOptions, config, hierarchy, one_hot, rules, train
from plastisim.cli import main
from plastisim.errors import PlastisimError, shown
from plastisim.testing import tiny_run_toml
from plastisim.run import build
from plastisim.sweep import plan
from plastisim.validate import check_of, converted

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
TINY = tiny_run_toml()

SWEEPS = {    # file -> (body after base = "T.toml", what the message names)
    "s_nan.toml": ("[axes]\nrule.lr = [0.1, nan]\n", ["rule.lr=nan"]),
    "s_inf.toml": ("[set]\nrule.lr = inf\n", ["rule.lr=inf"]),
    "s_neg_epochs.toml": ("[axes]\ntrain.epochs = [1, -1]\n", ["train.epochs=-1"]),
    "s_width0.toml": ("[axes]\nnetwork.width = [8, 0]\n", ["network.width=0"]),
    "s_mult_inf.toml": ("[axes]\ntrain.n_train_multiple = [1, inf]\n",
                        ["axes.train.n_train_multiple=[1, inf]"]),
    "s_mult_zero.toml": ("[axes]\ntrain.n_train_multiple = [0]\n",
                         ["axes.train.n_train_multiple=[0]"]),
    "s_set_mult_nan.toml": ("[set]\ntrain.n_train_multiple = nan\n",
                            ["set.train.n_train_multiple=nan"]),
    "s_seed_neg.toml": ("[axes]\nseed = [-1]\n", ["axes.seed=[-1]"]),
    "s_seed_float.toml": ("[axes]\nseed = [0.5]\n", ["axes.seed=[0.5]"]),
    "s_budget0.toml": ("step_budget = 0\n", ["step_budget=0"]),
    "s_min_epochs.toml": ("min_epochs = 5\n", ["min_epochs", "step_budget"]),
    "s_not_list.toml": ("[axes]\nrule.lr = 0.1\n", ["axes.rule.lr=0.1"]),
    "s_empty_axis.toml": ("[axes]\nrule.lr = []\n", ["axes.rule.lr"]),
    "s_repeat.toml": ("[axes]\nrule.lr = [0.1, 0.1]\n", ["axes.rule.lr=[0.1, 0.1]"]),
    "s_unknown_top.toml": ("bogus = 1\n", ["bogus"]),
    "s_unknown_axis.toml": ("[axes]\nwidht = [8]\n", ["widht"]),
    "s_unknown_key.toml": ("[axes]\nrhm.mm = [1]\n", ["rhm.mm"]),
    "s_rule_param.toml": ("[axes]\nrule.feedbak_seed = [1]\n", ["rule.feedbak_seed"]),
    "s_spec_type.toml": ('rules = ["fa:lr=fast"]\n', ["rule.lr='fast'"]),
    "s_spec_unknown.toml": ('rules = ["clap"]\n', ["clap"]),
    "s_spec_nan.toml": ('rules = ["fa:lr=nan"]\n', ["rule.lr=nan"]),
    "s_both_sizes.toml": ("[set]\ntrain.n_train = 64\n[axes]\ntrain.n_train_multiple = [1]\n",
                          ["train.n_train", "train.n_train_multiple"]),
    "s_seed_mode.toml": ('[seed]\nmode = "random"\n', ["seed.mode='random'"]),
    "s_lr_type.toml": ('[axes]\nrule.lr = ["x"]\n', ["rule.lr='x'"]),
    "s_momentum.toml": ("[set]\nrule.momentum = 1.5\n", ["rule.momentum=1.5"]),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """T.toml (tiny valid config), run.nc (a run file), precious files to be left alone."""
    d = tmp_path_factory.mktemp("fuzz")
    (d / "T.toml").write_text(TINY)
    (d / "S.toml").write_text('base = "T.toml"\n[axes]\nrule.lr = [0.1]\n')
    for name, (body, _) in SWEEPS.items():
        (d / name).write_text('base = "T.toml"\n' + body)
    (d / "s_base.toml").write_text('base = "nope.toml"\n')
    (d / "s_models.toml").write_text('models = "T.toml"\n')
    (d / "bad.toml").write_text("[rhm\nv = 8\n")
    (d / "latin1.toml").write_bytes(b"[rhm]\n# caf\xe9\n")
    (d / "scalar.toml").write_text("rhm = 3\n")
    (d / "foo.toml").write_text("[foo]\nx = 1\n")
    (d / "existing.nc").write_bytes(b"precious: not to be replaced")
    (d / "existing.png").write_bytes(b"precious png")
    (d / "afile").write_text("a file where a folder is expected")
    (d / "notnc.nc").write_text("not a netCDF file")
    (d / "sweepdir").mkdir()
    (d / "sweepdir" / "sweep.nc").write_bytes(b"someone's sweep")
    (d / "empty.toml").write_text("")
    (d / "comments.toml").write_text("# only a comment\n")
    os.mkfifo(d / "pipe.toml")                       # opening it would block: never opened
    assert main(["run", str(d / "T.toml"), "--out", str(d / "run.nc"), "--quiet"]) == 0
    (d / "run_curve.png").write_bytes(b"an earlier figure")
    return d


def snapshot(d: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(d)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(d.rglob("*")) if p.is_file()}


def case(argv: str, *says: str, id: str | None = None):
    return pytest.param(argv, says, id=id or argv.replace("{D}/", "")[:70])


RUN = "run {D}/T.toml --quiet"
BAD_VALUES = {   # field -> TOML spellings of bad values (each a case: run T.toml --set)
    "rhm.v": ["abc", "1.5", "true", "nan", "inf", "-1", "0", "1", "1000000000"],
    "rhm.n_classes": ["x", "2.5", "nan", "-8", "0", "1", "100"],
    "rhm.m": ["four", "nan", "inf", "-1", "0", "9", "1000000000"],
    "rhm.s": ["nan", "-2", "0", "1", "1000000000"],
    "rhm.L": ["nan", "1.5", "-3", "0", "100"],
    "rhm.seed": ["nan", "-1", "x", "99999999999999999999"],
    "network.width": ["abc", "true", "2.5", "nan", "inf", "-1", "0", "1000000000"],
    "network.shared": ["1", "yes", "nan"],
    "network.depth": ["nan", "-1", "0", "1.5", "5"],
    "network.dtype": ["float16", "1", "true"],
    "network.seed": ["-1", "nan", "1.5"],
    "train.n_train": ["x", "true", "1.5", "nan", "-1", "0", "1000000000"],
    "train.n_test": ["nan", "-5", "0", "1000000000"],
    "train.epochs": ["ten", "nan", "inf", "1.5", "-1", "0"],
    "train.batch_size": ["nan", "2.5", "-1", "0"],
    "train.seed": ["-1", "nan", "1.5"],
    "train.data_seed": ["-1", "inf"],
    "train.stop_loss": ["low", "nan", "inf", "-1"],
    "train.schedule": ["linear", "1"],
    "train.evaluations": ["nan", "-1", "0"],
    "train.device": ["tpu", "1", "cuda:7"],
    "train.compile": ["maybe", "1", "nan", "[true]"],
    "record.every": ["nan", "-1", "0"],
    "record.complevel": ["-1", "10", "1.5"],
    "record.loss": ["1"],
    "record.indices": ["1", "[1]"],
    "rule.lr": ["fast", "true", "nan", "inf", "-inf", "-0.1", "0"],
    "rule.momentum": ["nan", "inf", "-0.1", "1", "2"],
    "rule.weight_decay": ["nan", "inf", "-1"],
    "rule.lr_scale": ["x", "1"],
    "rule.feedback_seed": ["-1", "nan", "1.5"],
}
RULE_BAD = {   # rule -> {parameter: bad TOML values}
    "clapp": {"view_level": ["-1", "0", "5", "x", "1.5"], "pairs": ["x"], "views_from": ["y"],
              "readout_epochs": ["0", "-1", "nan"], "readout_lr": ["0", "nan"],
              "pred_init_std": ["-1", "nan"], "seed": ["-1"]},
    "infonce": {"temperature": ["0", "nan", "-1", "inf"]},
    "lpl": {"xi": ["0"], "tau_stats": ["0", "nan"], "lambda_hebb": ["-1"],
            "lambda_decorr": ["inf"]},
    "vicreg": {"eps": ["0"], "gamma": ["-1"], "lambda_inv": ["nan"], "lambda_cov": ["-1"]},
}


def _expected(value: str) -> str:
    """How a message echoes a TOML spelling (bare words are strings)."""
    if value in ("nan", "inf", "-inf", "true", "false") or value.startswith("["):
        return value
    try:
        return str(int(value))
    except ValueError:
        pass
    try:
        return repr(float(value))
    except ValueError:
        return repr(value)


def _config_cases():
    """``run T.toml --set field=value``: the message holds ``key=value`` (the value as the
    user spelled it) and the section (``rhm.v=1.5``; ``train.n_train+n_test=... for ...,
    n_test=1000000000`` when the sizes exceed P_max)."""
    for field, values in BAD_VALUES.items():
        section, key = field.split(".")
        for value in values:
            yield case(f"{RUN} --set {field}={value}", f"{section}.", f"{key}={_expected(value)}",
                       id=f"run-{field}={value}")
    for rule, params in RULE_BAD.items():
        for key, values in params.items():
            for value in values:
                yield case(f"{RUN} --set rule.name={rule} --set rule.{key}={value}",
                           f"rule.{key}={_expected(value)}", id=f"run-{rule}.{key}={value}")


PROTOCOL = "protocol stdp_window --rule pair --dt-step-ms 50 --out {D}/p_new.nc --quiet"
PROTOCOL_SJ = "protocol sjostrom2001 --rule pair --out {D}/p_new.nc --quiet"
OTHER_CASES = [
    # run: the config file, overrides, options
    case("run {D}/missing.toml", "{D}/missing.toml", "does not exist"),
    case("run {D}", "is a folder"),
    case("run {D}/bad.toml", "bad.toml", "invalid TOML"),
    case("run {D}/latin1.toml", "latin1.toml", "UTF-8"),
    case("run {D}/scalar.toml", "rhm=3", "not a table"),
    case("run {D}/foo.toml", "[foo]", "unknown"),
    case(f"{RUN} --set foo.bar=1", "--set 'foo.bar=1'", "section 'foo' is unknown"),
    case(f"{RUN} --set width=3", "--set 'width=3'"),
    case(f"{RUN} --set rhm.mm=4", "rhm.mm", "not a known key"),
    case(f"{RUN} --set rule.name=clap", "rule 'clap' is unknown"),
    case(f"{RUN} --set rule.name=pair", "rule 'pair' is unknown"),
    case(f"{RUN} --set rule.name=1", "rule '1' is unknown"),
    case(f"{RUN} --set rule.lrr=1", "rule.lrr", "not a parameter"),
    case(f"{RUN} --set rhm.L=6 --set train.n_train=1000000000", "train.n_train=1000000000",
         "available"),
    case(f"{RUN} --device tpu", "device='tpu'"),
    case(f"{RUN} --record weights", "--record 'weights'"),
    case(f"{RUN} --record weights=w9 --out {{D}}/rec_new.nc", "w9", "unknown"),
    case(f"{RUN} --record every=0 --out {{D}}/rec_new.nc", "record.every=0"),
    case(f"{RUN} --threads 0", "threads", "0"),
    # run: output paths
    case(f"{RUN} --out {{D}}/existing.nc", "existing.nc", "--overwrite"),
    case(f"{RUN} --out {{D}}/existing.nc --record weights=all", "existing.nc", "--overwrite"),
    case(f"{RUN} --out {{D}}/afile/nodir/x.nc", "{D}/afile/nodir", "cannot be created"),
    case(f"{RUN} --out /proc/nodir/x.nc", "/proc/nodir", "cannot be created"),
    case(f"{RUN} --out {{D}}/afile/x.nc", "{D}/afile"),
    case(f"{RUN} --out /proc/x.nc", "/proc"),
    case(f"{RUN} --out {{D}}/x.txt", "{D}/x.txt", ".nc"),
    case(f"{RUN} --out {{D}}", "{D}", "folder"),
    case(f"{RUN} --out {{D}}/existing.nc --overwrite --set rule.lr=nan", "rule.lr=nan"),
    # sweep
    *[case(f"sweep {{D}}/{name} --out {{D}}/fresh --workers 0 --quiet", *says,
           id=f"sweep-{name}") for name, (_, says) in SWEEPS.items()],
    case("sweep {D}/s_base.toml --out {D}/fresh --workers 0", "base='nope.toml'"),
    case("sweep {D}/s_models.toml --out {D}/fresh --workers 0", "models='T.toml'"),
    case("sweep {D}/bad.toml --out {D}/fresh --workers 0", "bad.toml", "invalid TOML"),
    case("sweep {D}/missing.toml --out {D}/fresh", "missing.toml", "does not exist"),
    case("sweep {D} --out {D}/fresh", "is a folder"),
    case("sweep {D}/S.toml --out {D}/fresh --only lr=7", "--only lr=7"),
    case("sweep {D}/S.toml --out {D}/fresh --only bogus=1", "bogus"),
    case("sweep {D}/S.toml --out {D}/fresh --only lr", "--only 'lr'"),
    case("sweep {D}/S.toml --workers 0", "--out"),
    case("sweep {D}/S.toml --out {D}/existing.nc --workers 0", "existing.nc"),
    case("sweep {D}/S.toml --out {D}/sweepdir --workers 0", "sweep.nc", "--overwrite"),
    case("sweep {D}/S.toml --out /proc/sweep --workers 0", "/proc"),
    case("sweep {D}/S.toml --out {D}/afile/sub --workers 0", "{D}/afile"),
    case("sweep {D}/S.toml --out {D}/afile/sub/x --workers 0", "{D}/afile/sub/x",
         "cannot be created"),
    case("sweep {D}/S.toml --out /proc/nodir/sweep --workers 0", "/proc", "cannot be created"),
    case("sweep {D}/S.toml --out {D}/fresh --workers -1", "workers", "-1"),
    case("sweep {D}/S.toml --out {D}/fresh --workers 0 --threads 0", "threads", "0"),
    # protocol
    case("protocol nope --out {D}/p_new.nc", "protocol 'nope' is unknown"),
    case("protocol stdp_window --rule tripplet --out {D}/p_new.nc", "tripplet"),
    case("protocol stdp_window --rule bp --out {D}/p_new.nc", "'bp'"),
    case("protocol sjostrom2001 --params visual --out {D}/p_new.nc", "visual"),
    case(f"{PROTOCOL} --set A_plus=nan", "rule.A_plus=nan"),
    case(f"{PROTOCOL} --set tau_plus=-1", "rule.tau_plus=-1"),
    case(f"{PROTOCOL} --set mu=inf", "rule.mu=inf"),
    case(f"{PROTOCOL} --set mode=1", "rule.mode=1"),
    case(f"{PROTOCOL} --set interaction=nearest", "rule.interaction='nearest'"),
    case(f"{PROTOCOL} --set bogus=1", "rule.bogus"),
    case(f"{PROTOCOL} --set A_plus", "--set", "A_plus"),
    case(f"{PROTOCOL} --freq nan", "freq", "nan"),
    case(f"{PROTOCOL} --freq -5", "freq=-5"),
    case(f"{PROTOCOL} --freq inf", "freq", "inf"),
    case(f"{PROTOCOL} --dt-max-ms 0", "dt_max_ms", "0"),
    case(f"{PROTOCOL} --dt-max-ms abc", "dt_max_ms", "abc"),
    case(f"{PROTOCOL} --pairings 0", "pairings=0"),
    case(f"{PROTOCOL} --pairings 1.5", "pairings", "1.5"),
    case(f"{PROTOCOL} --duration 1", "--duration", "stdp_window"),
    case(f"{PROTOCOL_SJ} --pairings -3", "pairings=-3"),
    case("protocol poisson --rule pair --rate-pre -2 --out {D}/p_new.nc", "rate_pre=-2"),
    case("protocol poisson --rule pair --rate-pre nan --out {D}/p_new.nc", "rate_pre", "nan"),
    case("protocol poisson --rule pair --duration 0 --out {D}/p_new.nc", "duration", "0"),
    case("protocol poisson --rule pair --synapses 0 --out {D}/p_new.nc", "synapses", "0"),
    case("protocol poisson --rule pair --seed -1 --out {D}/p_new.nc", "seed", "-1"),
    case("protocol poisson --rule pair --warmup -1 --out {D}/p_new.nc", "warmup", "-1"),
    case("protocol poisson --rule bcm --set y0=0 --out {D}/p_new.nc", "rule.y0=0"),
    case("protocol poisson --rule clapp_spiking --set gamma=2 --out {D}/p_new.nc",
         "rule.gamma=2"),
    case("protocol stdp_window --rule triplet --set A3_plus=-1 --out {D}/p_new.nc",
         "rule.A3_plus=-1"),
    case("protocol stdp_window --rule pair --dt-step-ms 50 --out {D}/x.txt", "{D}/x.txt",
         ".nc"),
    case("protocol stdp_window --rule pair --dt-step-ms 50 --out {D}/existing.nc",
         "existing.nc", "--overwrite"),
    case("protocol stdp_window --rule pair --dt-step-ms 50 --out {D}/afile/nodir/p.nc",
         "{D}/afile/nodir", "cannot be created"),
    case("protocol stdp_window --rule pair --dt-step-ms 50 --out {D}/afile/p.nc", "{D}/afile"),
    case("protocol stdp_window --rule pair --dt-step-ms 50 --out /proc/p.nc", "/proc"),
    # report
    case("report {D}/missing.nc", "missing.nc", "does not exist"),
    case("report {D}/notnc.nc", "notnc.nc", "netCDF"),
    case("report {D}", "{D}", "is a folder"),
    case("report {D}/sweepdir", "{D}/sweepdir", "is a folder"),
    case("report {D}/T.toml", "T.toml"),
    case("report {D}/run.nc", "run_curve.png", "--overwrite"),
    case("report {D}/run.nc --out-dir {D}/afile/sub", "{D}/afile/sub", "cannot be created"),
    case("report {D}/run.nc --out-dir {D}/afile", "{D}/afile"),
    case("report {D}/run.nc --out-dir /proc", "/proc"),
    # export
    case("export {D}/missing.nc {D}/e.nc", "missing.nc", "does not exist"),
    case("export {D}/notnc.nc {D}/e.nc", "notnc.nc", "netCDF"),
    case("export {D}/sweepdir {D}/e.nc", "{D}/sweepdir", "is a folder"),
    case("export {D}/run.nc {D}/existing.nc", "existing.nc", "--overwrite"),
    case("export {D}/run.nc {D}/run.nc", "run.nc"),
    case("export {D}/run.nc {D}/e.txt", "{D}/e.txt", ".nc"),
    case("export {D}/run.nc {D}/nodir/e.nc", "{D}/nodir"),
    case("export {D}/run.nc {D}/afile/e.nc", "{D}/afile"),
    case("export {D}/run.nc /proc/e.nc", "/proc"),
    case("export {D}/run.nc {D}/e.nc --every 0", "--every=0"),
    case("export {D}/run.nc {D}/e.nc --every -1", "--every", "-1"),
    case("export {D}/run.nc {D}/e.nc --every abc", "--every='abc'"),
    case("export {D}/run.nc {D}/e.nc --vars nope", "variable 'nope' is unknown"),
    case("export {D}/run.nc {D}/e.nc --indices w1.post=0:99", "w1.post"),
    # pstar
    case("pstar {D}/missing.nc --no-png", "missing.nc", "does not exist"),
    case("pstar {D}/notnc.nc --no-png", "notnc.nc", "netCDF"),
    case("pstar {D}/run.nc --no-png", "run.nc", "not a merged sweep dataset"),
    case("pstar {D}/run.nc --boot -1", "--boot=-1"),
    case("pstar {D}/run.nc --level 1.5", "--level=1.5"),
    case("pstar {D}/run.nc --level nan", "--level=nan"),
    case("pstar {D}/run.nc --fraction 0", "--fraction=0"),
    case("pstar {D}/run.nc --fraction inf", "--fraction=inf"),
    case("pstar {D}/run.nc --boot abc", "--boot", "abc"),
    # demo (training is replaced by a failure: a bad input must be refused before it)
    case("demo --width 0", "width=0"),
    case("demo --width -3", "--width", "-3"),
    case("demo --width abc", "--width", "abc"),
    case("demo --out /proc/demo.png", "/proc"),
    case("demo --out {D}/afile/nodir/demo.png", "{D}/afile/nodir", "cannot be created"),
    case("demo --out {D}/afile/demo.png", "{D}/afile"),
    case("demo --out {D}/demo.txt", "{D}/demo.txt", ".png"),
    case("demo --out {D}/existing.png", "existing.png", "--overwrite"),
    case("demo --threads 0", "threads", "0"),
    # a bad argument and an existing output: the argument is named (every command that
    # writes a file checks its arguments before its output)
    *[case(f"{RUN} --out {{D}}/existing.nc {bad}", *says, id=f"run-existing.nc-{bad}")
      for bad, says in [("--threads 0", ["threads", "0"]), ("--device tpu", ["device='tpu'"]),
                        ("--set rule.lr=nan", ["rule.lr=nan"]),
                        ("--set network.depth=3", ["network.depth=3"]),
                        ("--set rhm.L=6 --set train.n_train=1000000000",
                         ["train.n_train=1000000000"]),
                        ("--record weights=w9", ["w9", "unknown"]),
                        ("--record every=0", ["record.every=0"])]],
    *[case(f"sweep {{D}}/S.toml --out {{D}}/sweepdir {bad}", *says, id=f"sweep-sweepdir-{bad}")
      for bad, says in [("--workers 0 --threads 0", ["threads", "0"]),
                        ("--workers -1", ["workers", "-1"]),
                        ("--workers 0 --ensemble 0", ["--ensemble=0"]),
                        ("--workers 0 --only lr=7", ["--only lr=7"])]],
    case("sweep {D}/s_nan.toml --out {D}/sweepdir --workers 0", "rule.lr=nan",
         id="sweep-sweepdir-s_nan.toml"),
    *[case(f"protocol stdp_window --rule pair --dt-step-ms 50 --out {{D}}/existing.nc {bad}",
           *says, id=f"protocol-existing.nc-{bad}")
      for bad, says in [("--threads 0", ["threads", "0"]), ("--freq nan", ["freq", "nan"]),
                        ("--set A_plus=nan", ["rule.A_plus=nan"]),
                        ("--rule bp", ["'bp'"])]],
    case("protocol nope --out {D}/existing.nc", "protocol 'nope' is unknown",
         id="protocol-existing.nc-nope"),
    *[case(f"export {{D}}/run.nc {{D}}/existing.nc {bad}", *says, id=f"export-existing.nc-{bad}")
      for bad, says in [("--every 0", ["--every=0"]),
                        ("--vars nope", ["variable 'nope' is unknown"]),
                        ("--indices w1.post=0:99", ["w1.post"])]],
    case("export {D}/missing.nc {D}/existing.nc", "missing.nc", "does not exist",
         id="export-existing.nc-missing-input"),
    case("pstar {D}/run.nc --boot -1 --png {D}/existing.png", "--boot=-1",
         id="pstar-existing.png---boot -1"),
    case("demo --threads 0 --out {D}/existing.png", "threads", "0",
         id="demo-existing.png---threads 0"),
    case("demo --width 0 --out {D}/existing.png", "width=0", id="demo-existing.png---width 0"),
    # odd input files: empty, only comments, a named pipe, a folder for a file
    case("run {D}/empty.toml", "{D}/empty.toml", "is empty"),
    case("run {D}/comments.toml", "{D}/comments.toml", "only comments"),
    case("run {D}/pipe.toml", "{D}/pipe.toml", "not a regular file (a named pipe)"),
    case("run {D}/sweepdir", "{D}/sweepdir", "is a folder"),
    case("sweep {D}/empty.toml --out {D}/o", "{D}/empty.toml", "is empty"),
    case("sweep {D}/pipe.toml --out {D}/o", "{D}/pipe.toml", "a named pipe"),
    case("pstar {D}/sweepdir", "is a folder", "{D}/sweepdir/sweep.nc"),
    case("report {D}/sweepdir", "is a folder", "{D}/sweepdir/sweep.nc"),
    # names the file system cannot hold, refused before any work
    case(f"{RUN} --out {{D}}/{'x' * 300}.nc", "303 bytes", "at most", id="run-name-303-bytes"),
    case(f"{RUN} --out {{D}}/{'d' * 300}/r.nc", "folder name is 300 bytes",
         id="run-folder-name-300-bytes"),
    # rules, bench, the command itself
    case("rules extra", "extra"),
    case("bench --only nope", "--only", "nope"),
    case("nope", "nope"),
    case("", "command"),
]
CLI_CASES = [*_config_cases(), *OTHER_CASES]


@pytest.mark.parametrize("argv, says", CLI_CASES)
def test_bad_input_is_one_line_exit_2_and_changes_no_file(argv, says, folder, capsys,
                                                          monkeypatch):
    import plastisim.run

    def no_training(*args, **kwargs):
        raise AssertionError("training started: the bad input was not refused before it")

    monkeypatch.setattr(plastisim.run, "execute", no_training)     # `run` and `demo`
    before = snapshot(folder)
    words = [w.replace("{D}", str(folder)) for w in argv.split()]
    try:
        code = main(words)
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    for text in says:
        assert text.replace("{D}", str(folder)) in err, err
    assert snapshot(folder) == before, "a file of the folder was created, changed or removed"


def _tiny(**sections) -> dict:
    table = {"rhm": {"L": 2}, "network": {"width": 8},
             "train": {"n_train": 64, "n_test": 64, "epochs": 1, "device": "cpu"}}
    for section, values in sections.items():
        table.setdefault(section, {}).update(values)
    return table


NAN, INF = math.nan, math.inf
API_CASES = [
    (lambda: rules.get("bp", lr=NAN), ["rule.lr=nan"]),
    (lambda: rules.get("bp", lr=-0.1), ["rule.lr=-0.1"]),
    (lambda: rules.get("dfa", momentum=NAN), ["rule.momentum=nan"]),
    (lambda: rules.get("fa", weight_decay=-1.0), ["rule.weight_decay=-1.0"]),
    (lambda: rules.get("infonce", temperature=0.0), ["rule.temperature=0.0"]),
    (lambda: rules.get("infonce", temperature=NAN), ["rule.temperature=nan"]),
    (lambda: rules.get("vicreg", view_level=-2), ["rule.view_level=-2"]),
    (lambda: rules.get("clapp", readout_lr=INF), ["rule.readout_lr=inf"]),
    (lambda: rules.get("bp", lr="0.1"), ["rule.lr='0.1'"]),
    (lambda: rules.get("bp", nope=1), ["rule.nope"]),
    (lambda: rules.get("clap"), ["'clap'"]),
    (lambda: rules.get("pair", w_max=NAN), ["rule.w_max=nan"]),
    (lambda: rules.get("triplet", params="nope"), ["'nope'"]),
    (lambda: config.build(_tiny(train={"n_test": 0})), ["train.n_test=0"]),
    (lambda: config.build(_tiny(train={"stop_loss": NAN})), ["train.stop_loss=nan"]),
    (lambda: config.build(_tiny(network={"width": True})), ["network.width=true"]),
    (lambda: config.build(_tiny(rule={"name": "bp", "lr": INF})), ["rule.lr=inf"]),
    (lambda: config.build(_tiny(record={"every": 0})), ["record.every=0"]),
    (lambda: config.build({"rhm": 3}), ["rhm=3"]),
    (lambda: config.RHMConfig(v=1), ["rhm.v=1"]),
    (lambda: config.TrainConfig(epochs=0), ["train.epochs=0"]),
    (lambda: config.NetworkConfig(dtype="half"), ["network.dtype='half'"]),
    (lambda: TrainOptions(stop_loss=-1.0), ["train.stop_loss=-1.0"]),
    (lambda: TrainOptions(batch_size=0), ["train.batch_size=0"]),
    (lambda: build(config.build(_tiny(network={"width": 10**9}))), ["network.width=1000000000"]),
    (lambda: build(config.build(_tiny(rhm={"L": 6}, train={"n_train": 10**9}))),
     ["train.n_train=1000000000"]),
    (lambda: build(config.build(_tiny(rhm={"n_classes": 100}))), ["rhm.n_classes=100"]),
    (lambda: build(config.build(_tiny(network={"depth": 3}))), ["network.depth=3"]),
    (lambda: RHM(8, 8, 4, 2, 100), ["L=100"]),
    (lambda: RHM(8, 8, 4, 2, 2).split(-1, 10, seed=0), ["n_train=-1"]),
    (lambda: hierarchy(RHM(8, 8, 4, 2, 2), 0), ["network.width=0"]),
    (lambda: one_hot(torch.zeros(2, 4, dtype=torch.long), 0), ["v=0"]),
    (lambda: one_hot(torch.full((2, 4), 9), 8), ["token 9", "v=8"]),
    (lambda: train(hierarchy(RHM(8, 8, 4, 2, 2), 8), rules.get("bp"),
                   *RHM(16, 8, 4, 2, 2).split(16, 8, seed=0)), ["train_set.x", "v=8"]),
    (lambda: plan.parse({"base": str(MODELS / "bp.toml"), "axes": {"rule": {"lr": [NAN]}}}),
     ["rule.lr=nan"]),
]


@pytest.mark.parametrize("call, says", API_CASES, ids=[s[0] for _, s in API_CASES])
def test_bad_input_in_the_python_api_is_one_line(call, says):
    with pytest.raises(PlastisimError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message
    for text in says:
        assert text in message


# --- a property over the config schema -------------------------------------------------------
FIELDS = [(name, f.name) for name, cls in config.SECTIONS.items() if name != "rule"
          for f in __import__("dataclasses").fields(cls)]
RULE_FIELDS = [(rule, f.name) for rule in ("bp", "clapp", "infonce", "lpl", "vicreg")
               for f in __import__("dataclasses").fields(rules.make_params(rule))]
KINDS = {"nan": [NAN], "inf": [INF, -INF], "negative": [-1, -0.5, -10**6],
         "zero": [0, 0.0], "huge": [10**12, 1e300], "wrong type": ["x", True, [1], {"a": 1}]}


def _bad_values(kind: str, kind_of_field: type, check=None) -> list:
    values = KINDS[kind]
    if kind == "wrong type":      # a value of another type than the field's (or its check's:
        #                           train.compile takes "auto", true and false)
        values = [v for v in values if not (kind_of_field is bool and isinstance(v, bool))
                  and not (kind_of_field is str and isinstance(v, str))
                  and not (check is not None and check.typed(v) and check.test(v))]
    return values


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_field_refuses_bad_values_with_one_line(data):
    if data.draw(st.booleans(), label="rule parameter"):
        rule, key = data.draw(st.sampled_from(RULE_FIELDS), label="field")
        section, cls = "rule", type(rules.make_params(rule))
        table_of = lambda value: _tiny(rule={"name": rule, key: value})   # noqa: E731
    else:
        section, key = data.draw(st.sampled_from(FIELDS), label="field")
        cls, rule = config.SECTIONS[section], None
        table_of = lambda value: _tiny(**{section: {key: value}})   # noqa: E731
    default = getattr(cls(), key)
    kind = data.draw(st.sampled_from(sorted(KINDS)), label="kind")
    value = data.draw(st.sampled_from(_bad_values(kind, type(default), check_of(cls, key))),
                      label="value")
    name = f"{section}.{key}"
    try:
        cfg = config.build(table_of(value))
    except PlastisimError as err:
        message = str(err)
        assert "\n" not in message and f"{name}={shown(value)}" in message, message
        assert "need" in message                      # what is allowed
        return
    # accepted: only a zero or a huge value may be valid; it is kept (in the field's spelling)
    assert kind in ("zero", "huge"), f"{name}={shown(value)} ({kind}) was accepted"
    kept = cfg.rule.params[key] if section == "rule" else getattr(getattr(cfg, section), key)
    assert kept == converted(cls, key, value) and check_of(cls, key).test(value)
