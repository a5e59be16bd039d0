"""The fenced examples of README.md and docs/*.md run (docs/contributing.md, "Examples").

Every fenced block is an *example* when its language is python (``python``, ``py``) or shell
(``bash``, ``sh``, ``shell``, ``console``), or when it has no language and one of its lines
starts with a command (``plastisim``, ``python``, ``make``, ``cd``, ``dask``); ``toml`` blocks
must parse; other blocks (output, listings) are text. The examples of a page run in document
order in one sandbox: a temporary folder holding copies of ``models/`` and ``analyses/`` and
an empty ``runs/``, so that relative paths resolve and earlier examples make the files later
ones read. Python examples share one namespace per page (run in this process, cwd = the
sandbox); shell examples run with bash (``set -euo pipefail``), the venv's ``plastisim`` and
``python`` first on PATH, one torch thread.

How an example runs is said by directives, either in HTML comments on the lines just above its
fence (invisible on the rendered page)::

    <!-- not-executed: needs a Dask cluster -->
    <!-- example: {shrink = true, brackets = "keep"} -->

or, for a page whose author has not added them, in ``tests/docs_examples.toml`` (same keys; an
entry names the file and a substring found in exactly one of its examples). The keys:

    not_executed = "why"        not run; the reason is required (and reported)
    shrink = true               shell: ``plastisim run`` gets a tiny size (width 16, 2 epochs,
                                2 readout epochs where the model has them, 256 inputs),
                                every sweep file named by ``plastisim sweep`` is replaced in
                                the sandbox by a tiny one (``shrink_sweep``), and sweeps run
                                in this process (``--workers 0``)
    brackets = "keep" | "drop"  usage brackets: ``[--out x.nc]`` -> ``--out x.nc`` | removed
    replace = {OLD = "NEW"}     text substitutions before anything else (OLD must occur)
    omit = {TEXT = "why"}       lines containing TEXT are not run (TEXT must occur)
    setup = ["cmd", ...]        shell commands run in the sandbox first (shrunk like the rest)
    timeout = 300               seconds for a shell example

A directive that matches nothing, an entry that matches no example or several, or an unknown
key fails the test, so that a stale directive cannot hide an example.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "tests" / "docs_examples.toml"
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
PYTHON_LANGS, SHELL_LANGS = {"python", "py"}, {"bash", "sh", "shell", "console"}
COMMANDS = ("plastisim ", "python ", "make ", "cd ", "dask ")
KEYS = {"not_executed", "shrink", "brackets", "replace", "omit", "setup", "timeout"}
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)")
DIRECTIVE = re.compile(r"^\s*<!--\s*(example|not-executed):\s*(.*?)\s*-->\s*$")
#: ``plastisim run`` under shrink
SHRINK_RUN = ["--set", "network.width=16", "--set", "train.epochs=2",
              "--set", "train.n_train=256", "--set", "train.n_test=256"]   # 2 epochs: 2 evaluations
#: a sweep file under shrink: these keys replaced (top level and [set]); every [axes] list cut
#: to its first value, except the P grid, which keeps its values up to P_GRID_MAX (examples
#: select P = 4 n*; pstar needs a grid)
SHRINK_SWEEP = {"step_budget": 10, "min_epochs": 1}
SHRINK_SET = {"network.width": 8, "train.n_test": 256}
P_GRID, P_GRID_MAX = "train.n_train_multiple", 4


@dataclass
class Example:
    page: Path
    line: int                         # the fence's line, 1-based
    lang: str
    code: str
    comments: list[str] = field(default_factory=list)     # directive comments above the fence
    how: dict = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def kind(self) -> str:
        if self.lang in PYTHON_LANGS:
            return "python"
        if self.lang in SHELL_LANGS:
            return "shell"
        if self.lang == "toml":
            return "toml"
        if not self.lang and any(line.lstrip().startswith(COMMANDS)
                                 for line in self.code.splitlines()):
            return "shell"
        return "text"


def fenced_blocks(page: Path) -> list[Example]:
    """Every fenced block of ``page`` with the directive comments just above it."""
    lines, out, i = page.read_text(encoding="utf-8").splitlines(), [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, j = m.group(1), i + 1
        while j < len(lines) and not lines[j].lstrip().startswith(fence):
            j += 1
        comments, k = [], i - 1
        while k >= 0 and DIRECTIVE.match(lines[k]):
            comments.insert(0, lines[k])
            k -= 1
        indent = len(lines[i]) - len(lines[i].lstrip())
        code = "\n".join(line[indent:] if line[:indent].isspace() else line
                         for line in lines[i + 1:j])
        out.append(Example(page, i + 1, m.group(2).lower(), code, comments))
        i = j + 1
    return out


def _parse_comment(text: str) -> dict:
    m = DIRECTIVE.match(text)
    if m.group(1) == "not-executed":
        return {"not_executed": m.group(2)}
    return tomllib.loads(f"x = {m.group(2)}")["x"]


def _check(how: dict, where: str) -> dict:
    unknown = set(how) - KEYS
    assert not unknown, f"{where}: unknown example key(s) {sorted(unknown)}; known: {sorted(KEYS)}"
    if "not_executed" in how:
        assert str(how["not_executed"]).strip(), f"{where}: not-executed needs a reason"
    assert how.get("brackets", "keep") in ("keep", "drop"), f"{where}: brackets = keep | drop"
    return how


def load_examples() -> dict[Path, list[Example]]:
    """Every page's blocks, each with its directives (comments, or the registry's entry)."""
    pages = {page: fenced_blocks(page) for page in PAGES}
    for page, blocks in pages.items():
        for ex in blocks:
            for comment in ex.comments:
                ex.how.update(_parse_comment(comment))
    for entry in tomllib.loads(REGISTRY.read_text(encoding="utf-8")).get("example", []):
        entry = dict(entry)
        page, contains = ROOT / entry.pop("file"), entry.pop("contains")
        where = f"{REGISTRY.name}: {page.relative_to(ROOT)} example containing {contains!r}"
        assert page in pages, f"{where}: no such page"
        hits = [ex for ex in pages[page] if contains in ex.code]
        assert len(hits) == 1, f"{where}: matches {len(hits)} blocks, need exactly 1"
        assert not hits[0].how, f"{where}: the page has directives for it already"
        hits[0].how.update(entry)
    for blocks in pages.values():
        for ex in blocks:
            _check(ex.how, ex.where)
    return pages


EXAMPLES = load_examples()
RUNNABLE = [page for page, blocks in EXAMPLES.items()
            if any(ex.kind in ("python", "shell", "toml") and "not_executed" not in ex.how
                   for ex in blocks)]


# --- transforming an example ----------------------------------------------------------------
def _substitute(code: str, how: dict, where: str) -> str:
    for old, new in how.get("replace", {}).items():
        assert old in code, f"{where}: replace: {old!r} does not occur"
        code = code.replace(old, new)
    for text in how.get("omit", {}):
        assert text in code, f"{where}: omit: {text!r} does not occur"
        code = "\n".join(line for line in code.splitlines() if text not in line)
    if "brackets" in how:
        keep = how["brackets"] == "keep"
        code = re.sub(r"(?<=\s)\[([^\[\]\n]*)\]", (lambda m: m.group(1)) if keep else "", code)
    return code


def _commands(code: str) -> list[str]:
    """Shell lines with continuations joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [line for line in joined.splitlines() if line.strip() and
            not line.lstrip().startswith("#")]


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _flat(table: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def shrink_sweep(path: Path) -> None:
    """Replace the sweep file ``path`` (in the sandbox) by a tiny version of itself."""
    table = tomllib.loads(path.read_text(encoding="utf-8"))
    sections = {name: _flat(table.pop(name, {})) for name in ("set", "axes", "seed")}
    for key, value in SHRINK_SWEEP.items():
        if key in table:
            table[key] = value
    if "step_budget" not in table:
        sections["set"]["train.epochs"] = 1
    sections["set"].update({k: v for k, v in SHRINK_SET.items() if k not in sections["axes"]})
    for key in list(sections["set"]):
        if key.startswith("rule.") and key.endswith("epochs"):
            sections["set"][key] = 1
    sections["axes"] = {k: ([p for p in v if p <= P_GRID_MAX] or v[:1]) if k == P_GRID else v[:1]
                        for k, v in sections["axes"].items()}
    lines = [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    for name, values in sections.items():
        if values:
            lines += [f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _shrink_command(tokens: list[str], sandbox: Path, shrunk: set) -> list[str]:
    if tokens[:2] == ["plastisim", "run"]:
        model = sandbox / tokens[2] if len(tokens) > 2 else None
        rule = (tomllib.loads(model.read_text(encoding="utf-8")).get("rule", {})
                if model is not None and model.is_file() else {})
        return tokens + SHRINK_RUN + (["--set", "rule.readout_epochs=2"]
                                      if "readout_epochs" in rule else [])
    if tokens[:2] == ["plastisim", "sweep"]:
        files = [t for t in tokens[2:] if t.endswith(".toml")]
        for name in files:
            if (sandbox / name).exists() and name not in shrunk:
                shrink_sweep(sandbox / name)
                shrunk.add(name)
        if "--workers" in tokens:
            tokens[tokens.index("--workers") + 1] = "0"
        elif "--scheduler" not in tokens:
            tokens = tokens + ["--workers", "0"]
    return tokens


def shell_script(lines: list[str], how: dict, sandbox: Path, shrunk: set) -> str:
    out = []
    for line in lines:
        if not how.get("shrink"):
            out.append(line)
            continue
        parts = []         # commands joined by && ; || |, each shrunk
        for segment in re.split(r"(\s(?:&&|\|\||;|\|)\s)", line):
            if segment.strip() in ("&&", "||", ";", "|"):
                parts.append(segment)
                continue
            tokens = shlex.split(segment, comments=True)
            parts.append(shlex.join(_shrink_command(tokens, sandbox, shrunk)) if tokens else "")
        out.append("".join(parts))
    return "set -euo pipefail\n" + "\n".join(out) + "\n"


# --- running ----------------------------------------------------------------------------------
def _sandbox(tmp_path: Path) -> Path:
    box = tmp_path / "sandbox"
    shutil.copytree(ROOT / "models", box / "models")
    shutil.copytree(ROOT / "analyses", box / "analyses",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (box / "runs").mkdir()
    return box


def _run_shell(script: str, box: Path, timeout: int, where: str) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run(["bash", "-c", script], cwd=box, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, (f"{where}: shell example failed (exit {done.returncode})\n"
                                  f"--- script\n{script}--- stdout\n{done.stdout[-3000:]}"
                                  f"--- stderr\n{done.stderr[-3000:]}")


def _run_python(code: str, namespace: dict, where: str) -> None:
    try:
        exec(compile(code, where, "exec"), namespace)
    except Exception:
        pytest.fail(f"{where}: python example failed\n--- code\n{code}\n--- traceback\n"
                    f"{traceback.format_exc()}", pytrace=False)


@pytest.mark.parametrize("page", RUNNABLE, ids=[str(p.relative_to(ROOT)) for p in RUNNABLE])
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch):
    import matplotlib
    import torch

    matplotlib.use("Agg")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    box, shrunk = _sandbox(tmp_path), set()
    monkeypatch.chdir(box)
    namespace = {"__name__": "__docs_example__"}
    try:
        for ex in EXAMPLES[page]:
            how = ex.how
            if "not_executed" in how or ex.kind == "text":
                continue
            code = _substitute(ex.code, how, ex.where)
            if ex.kind == "toml":
                tomllib.loads(code)
                continue
            if how.get("setup"):
                _run_shell(shell_script(list(how["setup"]), how, box, shrunk), box,
                           how.get("timeout", 300), f"{ex.where} (setup)")
            if ex.kind == "python":
                _run_python(code, namespace, ex.where)
            else:
                _run_shell(shell_script(_commands(code), how, box, shrunk), box,
                           how.get("timeout", 300), ex.where)
    finally:
        torch.set_num_threads(threads)
        import matplotlib.pyplot as plt
        plt.close("all")


def test_every_example_runs_or_says_why():
    """The table of every example: run (with its directives) or not, and why not."""
    rows = []
    for blocks in EXAMPLES.values():
        for ex in blocks:
            if ex.kind in ("python", "shell"):
                reason = ex.how.get("not_executed")
                rows.append((ex.where, ex.kind, f"not executed: {reason}" if reason else
                             "runs" + (f" {dict((k, v) for k, v in ex.how.items())}"
                                       if ex.how else "")))
    assert rows
    print("\n".join(f"{w:28s} {k:6s} {r}" for w, k, r in rows))


def test_shrunk_sweep_is_tiny(tmp_path: Path):
    path = tmp_path / "s.toml"
    path.write_text('base = "m.toml"\nrules = ["bp", "fa"]\nstep_budget = 3000\n'
                    "min_epochs = 100\n[set]\nnetwork.width = 256\nrule.readout_epochs = 1000\n"
                    "[axes]\ntrain.n_train_multiple = [0.5, 1, 2, 8]\nrule.lr = [0.1, 0.3]\n"
                    "seed = [0, 1, 2]\n")
    shrink_sweep(path)
    table = tomllib.loads(path.read_text())
    assert table["step_budget"] == 10 and table["min_epochs"] == 1
    assert table["set"]["network"]["width"] == 8 and table["set"]["rule"]["readout_epochs"] == 1
    assert table["axes"]["train"]["n_train_multiple"] == [0.5, 1, 2]
    assert table["axes"]["rule"]["lr"] == [0.1] and table["axes"]["seed"] == [0]
