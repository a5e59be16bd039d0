"""Execute the notebooks: jupytext percent script -> nbformat notebook -> nbclient (python3 kernel).

    python notebooks/_execute.py notebooks/quickstart.py --out docs/notebooks/quickstart.ipynb

runs every cell in a fresh ``python3`` kernel (ipykernel of this interpreter), in a temporary
working folder, with one torch thread and ``PLASTISIM_NOTEBOOK_OUT`` set to the figures folder
(``--figures``; default a temporary folder), and writes the executed notebook (outputs included)
to ``--out``. A failing cell raises ``nbclient``'s ``CellExecutionError``: the cell's source and
its traceback. ``tests/test_notebooks.py`` and ``make notebooks`` both go through ``execute``.
This file is not a notebook (its name starts with ``_``).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def sources() -> list[Path]:
    """The notebooks: every ``notebooks/*.py`` whose name does not start with ``_``."""
    return sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_"))


def execute(src: str | Path, out: str | Path | None = None, figures: str | Path | None = None,
            timeout: int = 600) -> float:
    """Run every cell of the percent script ``src``; write the executed notebook to ``out``
    (atomically) if given; return the wall time in seconds."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    src = Path(src)
    nb = jupytext.read(src)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    with tempfile.TemporaryDirectory(prefix=f"nb-{src.stem}-") as cwd:
        env = {**os.environ, "OMP_NUM_THREADS": "1",
               "MPLBACKEND": "module://matplotlib_inline.backend_inline",     # figures inline
               "PLASTISIM_NOTEBOOK_OUT": str(Path(figures or Path(cwd) / "figures").resolve())}
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": cwd}})
        start = time.perf_counter()
        client.execute(env=env)
        seconds = time.perf_counter() - start
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
        nbformat.write(nb, tmp)
        tmp.replace(out)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="percent scripts (default all)")
    parser.add_argument("--out", type=Path, help="executed .ipynb (one notebook) or a folder")
    parser.add_argument("--figures", type=Path, help="folder of the figures (PNG)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sources()
    for src in notebooks:
        out = args.out
        if out is not None and (len(notebooks) > 1 or out.suffix != ".ipynb"):
            out = out / f"{src.stem}.ipynb"
        seconds = execute(src, out, args.figures)
        print(f"{src.name}: {seconds:.1f} s" + (f" -> {out}" if out else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
