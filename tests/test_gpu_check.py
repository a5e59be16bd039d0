"""analyses/gpu_check.sh, the CUDA check that a session with a GPU runs once: its plumbing runs
on the CPU (DEVICE=cpu, tiny sizes), so that device time is not spent finding a typo."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).parents[1] / "analyses" / "gpu_check.sh"


def _run(out: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OUT": str(out), "PYTHON": sys.executable, **env})


def test_every_step_runs_on_the_cpu(tmp_path):
    done = _run(tmp_path, DEVICE="cpu", SIZES="1 2", WIDTHS="16", TRAIN_WIDTHS="16",
                PEAK_N="256", REPEATS="1", ENGINE_SIZES="1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "summary.json").read_text()) == {
        "pytest_cuda": 0, "train": 0, "ensemble": 0, "engine": 0, "peak": 0}
    assert json.loads((tmp_path / "engine.json").read_text())
    rows = json.loads((tmp_path / "ensemble.json").read_text())["rows"]
    assert {(r["rule"], r["width"], r["members"]) for r in rows} == {("bp", 16, 1), ("bp", 16, 2)}
    peak = json.loads((tmp_path / "peak.json").read_text())
    assert peak["bp_row"] == {"width": 16, "members": 2}
    assert 0 < peak["fraction_of_fp32_peak"] and peak["fp32_flop_per_s"] > 0
    assert json.loads((tmp_path / "train.json").read_text())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_without_cuda_it_says_so_and_measures_nothing(tmp_path):
    done = _run(tmp_path / "out")
    assert done.returncode == 1
    assert "no CUDA device" in done.stderr and "nothing was measured" in done.stderr
    assert not (tmp_path / "out").exists()
