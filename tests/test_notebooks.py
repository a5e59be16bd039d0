"""Every notebook (notebooks/*.py, jupytext percent scripts) runs top to bottom.

Each one is executed in a fresh ``python3`` kernel of this environment through
``notebooks/_execute.py`` (jupytext -> nbformat -> nbclient); a failing cell fails the test
with that cell's source and traceback (nbclient's ``CellExecutionError``). Its figures go to a
temporary folder (``PLASTISIM_NOTEBOOK_OUT``), and each notebook must write at least one PNG.
With ``PLASTISIM_NOTEBOOKS_TO=FOLDER`` (``make test`` sets docs/notebooks) the executed
notebooks are also written there, so that the documentation build renders them without running
them again. Execution times are printed in pytest's summary (``-rA``) and written to
``FOLDER/timings.json``.
"""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("nbclient", reason="the notebooks need the test extra (nbclient)")
pytest.importorskip("jupytext", reason="the notebooks need the test extra (jupytext)")
pytest.importorskip("ipykernel", reason="the notebooks need the test extra (ipykernel)")

_spec = importlib.util.spec_from_file_location("_execute", ROOT / "notebooks" / "_execute.py")
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

NOTEBOOKS = runner.sources()


def test_the_notebooks_are_there():
    names = {p.stem for p in NOTEBOOKS}
    assert {"quickstart", "weight_trajectories", "cortical_protocols", "own_rule",
            "parameter_study"} <= names


@pytest.mark.parametrize("src", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(src: Path, tmp_path: Path, record_property):
    folder = os.environ.get("PLASTISIM_NOTEBOOKS_TO")
    out = Path(folder) / f"{src.stem}.ipynb" if folder else None
    seconds = runner.execute(src, out, figures=tmp_path)
    record_property("seconds", round(seconds, 1))
    print(f"{src.stem}: {seconds:.1f} s")
    assert list(tmp_path.glob("*.png")), f"{src.name} wrote no figure into PLASTISIM_NOTEBOOK_OUT"
    if folder:
        timings = Path(folder) / "timings.json"
        known = json.loads(timings.read_text()) if timings.exists() else {}
        timings.write_text(json.dumps({**known, src.stem: round(seconds, 1)}, indent=1) + "\n")


def test_a_failing_cell_fails_with_its_error(tmp_path: Path):
    from nbclient.exceptions import CellExecutionError

    bad = tmp_path / "bad.py"
    bad.write_text("# %%\nx = 1\n\n# %%\nraise ValueError('cell two is broken')\n")
    with pytest.raises(CellExecutionError, match="cell two is broken"):
        runner.execute(bad, figures=tmp_path / "figures")
