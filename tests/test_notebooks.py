"""Every notebook (notebooks/*.py, jupytext percent scripts) runs top to bottom.

Each one is executed in a fresh ``python3`` kernel of this environment through
``notebooks/_execute.py`` (jupytext -> nbformat -> nbclient); a failing cell fails the test
with that cell's source and traceback (nbclient's ``CellExecutionError``). Its figures go to a
temporary folder (``PLASTISIM_NOTEBOOK_OUT``), and each notebook must write at least one PNG.
With ``PLASTISIM_NOTEBOOKS_TO=FOLDER`` (``make test`` sets docs/notebooks) the executed
notebooks are also written there, so that the documentation build renders them without running
them again. Execution times are printed in pytest's summary (``-rA``) and written to
``FOLDER/timings.json``.

The site shows the notebooks as they are, so two checks keep them readable there: no text
output of an executed cell shows a machine path (the output folder, ``/tmp/``, pytest's
``pytest-of-...``): the notebooks print paths relative to their output folder; and no code
line (code cells, and fenced code blocks of markdown cells) is longer than 79 characters,
which the site would clip.
"""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

MAX_LINE = 79                  # longer code lines are clipped on the documentation site
MACHINE_PATHS = ("/tmp/", "pytest-of")
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
            "parameter_study", "fingerprint"} <= names


@pytest.mark.parametrize("src", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(src: Path, tmp_path: Path, record_property):
    import nbformat

    folder = os.environ.get("PLASTISIM_NOTEBOOKS_TO")
    out = (Path(folder) if folder else tmp_path / "executed") / f"{src.stem}.ipynb"
    figures = tmp_path / "figures"
    seconds = runner.execute(src, out, figures=figures)
    record_property("seconds", round(seconds, 1))
    print(f"{src.stem}: {seconds:.1f} s")
    assert list(figures.glob("*.png")), f"{src.name} wrote no figure into PLASTISIM_NOTEBOOK_OUT"
    shown = machine_paths(nbformat.read(out, as_version=4),
                          (str(figures.resolve()), str(figures), *MACHINE_PATHS))
    assert not shown, f"{src.name} shows machine paths in its outputs:\n" + "\n".join(shown)
    if folder:
        timings = Path(folder) / "timings.json"
        known = json.loads(timings.read_text()) if timings.exists() else {}
        timings.write_text(json.dumps({**known, src.stem: round(seconds, 1)}, indent=1) + "\n")


def output_texts(nb) -> list[tuple[int, str]]:
    """(cell index, text) of every text an executed notebook shows: streams, text/* and
    JSON data of results and displays, error tracebacks (images are not text)."""
    texts = []
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if "text" in output:
                texts.append((i, output["text"]))
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/") or mime.endswith("json"):
                    texts.append((i, value if isinstance(value, str) else json.dumps(value)))
            texts.extend((i, line) for line in output.get("traceback", []))
            if "evalue" in output:
                texts.append((i, output["evalue"]))
    return texts


def machine_paths(nb, needles) -> list[str]:
    """'cell I: ...line...' for every output line that contains one of ``needles``."""
    return [f"cell {i}: {line.strip()[:200]}" for i, text in output_texts(nb)
            for line in text.splitlines() if any(n in line for n in needles)]


def code_lines(nb):
    """(cell index, line) of every line a reader sees as code: code cells and the fenced
    blocks of markdown cells."""
    for i, cell in enumerate(nb.cells):
        fenced = False
        for line in cell.source.splitlines():
            if cell.cell_type == "markdown" and line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            if cell.cell_type == "code" or fenced:
                yield i, line


@pytest.mark.parametrize("src", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_code_lines_fit_the_page(src: Path):
    import jupytext

    long = [f"cell {i}, {len(line)} characters: {line}" for i, line in
            code_lines(jupytext.read(src)) if len(line) > MAX_LINE]
    assert not long, (f"{src.name}: code lines longer than {MAX_LINE} characters (clipped "
                      "on the documentation site):\n" + "\n".join(long))


def test_the_checks_catch_paths_and_long_lines():
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    nb = new_notebook(cells=[
        new_code_cell("print(path)", outputs=[
            new_output("stream", name="stdout", text="wrote /tmp/pytest-of-root/x.nc\n")]),
        new_code_cell("ds", outputs=[new_output(
            "execute_result", data={"text/plain": "ok", "text/html": "<b>/work/out/a</b>",
                                    "image/png": "aGVsbG8=/tmp/"}, execution_count=1)]),
        new_markdown_cell("# " + "x" * 100 + "\n```bash\n" + "y" * 80 + "\n```"),
        new_code_cell("z" * 80)])
    nbformat.validate(nb)
    assert machine_paths(nb, ("/work/out", *MACHINE_PATHS)) == [
        "cell 0: wrote /tmp/pytest-of-root/x.nc", "cell 1: <b>/work/out/a</b>"]
    assert [(i, len(line)) for i, line in code_lines(nb) if len(line) > MAX_LINE] == [
        (2, 80), (3, 80)]


def test_a_failing_cell_fails_with_its_error(tmp_path: Path):
    from nbclient.exceptions import CellExecutionError

    bad = tmp_path / "bad.py"
    bad.write_text("# %%\nx = 1\n\n# %%\nraise ValueError('cell two is broken')\n")
    with pytest.raises(CellExecutionError, match="cell two is broken"):
        runner.execute(bad, figures=tmp_path / "figures")
