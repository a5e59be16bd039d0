"""Shared fixtures: backend tests run on every available device (CUDA cases skip without one).

The suite runs on one torch thread unless ``OMP_NUM_THREADS`` says otherwise (``make test``
does not set it): the CLI's and the sweeps' default, and far faster on a loaded machine,
where torch's default of a thread per core makes them wait for each other (bp, width 64,
2048 inputs, 300 epochs on 2 cores at load 4: 5-6 s on one thread, 22-72 s on two).
Subprocesses inherit it.

Every test runs in its own folder, never in the checkout, and the session fails when it
created or changed files of the checkout that git does not track (below)."""
import os
import subprocess
from pathlib import Path

import pytest
import torch

if "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

DEVICES = [pytest.param("cpu", id="cpu"),
           pytest.param("cuda", id="cuda", marks=[
               pytest.mark.cuda,
               pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")])]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


# --- the checkout is never a test's workspace -------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
#: folders that ``make test`` asks the suite to write into, on purpose (relative to where pytest
#: starts; made absolute here, since every test runs in its own folder)
WRITES_TO = ("PLASTISIM_NOTEBOOKS_TO", "PLASTISIM_SCREENSHOTS_TO")
for _var in (*WRITES_TO, "PLASTISIM_SITE"):
    if os.environ.get(_var):
        os.environ[_var] = str(Path(os.environ[_var]).resolve())
#: what running Python and pytest leaves behind (never a test's output)
CACHES = {"__pycache__", ".pytest_cache", ".hypothesis", ".venv", ".cache", ".git"}


@pytest.fixture(autouse=True)
def _own_folder(tmp_path, monkeypatch):
    """Every test runs in its own empty folder (its ``tmp_path``): what a command writes by
    default (``runs/demo.png``, ``NAME.nc``) lands there, and nothing left in the checkout by
    ``make demo`` or an earlier run (runs/, site/, build/) is seen. Files of the repository are
    named from ``ROOT`` (``ROOT / "models" / "bp.toml"``)."""
    monkeypatch.chdir(tmp_path)


def _is_cache(relative: str) -> bool:
    parts = Path(relative).parts
    return any(part in CACHES or part.endswith(".egg-info") for part in parts)


def _outside_the_repository() -> dict[str, tuple[int, int]]:
    """path -> (size, mtime) of the checkout's untracked and ignored files, caches and the
    WRITES_TO folders left out; {} when the checkout is not a git work tree."""
    try:
        listing = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain=v1", "-z",
             "--ignored=matching", "--untracked-files=all"], cwd=ROOT, capture_output=True,
            timeout=60)
    except (OSError, subprocess.SubprocessError):
        return {}
    if listing.returncode != 0:
        return {}
    allowed = [Path(os.environ[v]) for v in WRITES_TO if os.environ.get(v)]
    found = {}
    for entry in listing.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if not entry.startswith(("?? ", "!! ")) or _is_cache(entry[3:]):
            continue
        top = ROOT / entry[3:]
        paths = ([top] if not top.is_dir() else
                 [p for p in top.rglob("*") if not p.is_dir()])    # an ignored folder
        for path in paths:
            relative = path.relative_to(ROOT).as_posix()
            if _is_cache(relative) or any(path.is_relative_to(a) for a in allowed):
                continue
            if (stat := _stat(path)) is not None:       # (None: gone meanwhile)
                found[relative] = stat
    return found


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.lstat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def pytest_sessionstart(session):
    session.config._files_before = _outside_the_repository()


def pytest_sessionfinish(session, exitstatus):
    """Fail the session (exit status 1) when it created, changed or removed files of the
    checkout that git does not track (runs/, site/, build/, ...): a test wrote outside its
    tmp_path. Caches and the WRITES_TO folders are allowed."""
    before = getattr(session.config, "_files_before", None)
    if before is None:
        return
    after = _outside_the_repository()
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p)
                     and not (p not in after and _stat(ROOT / p) == before[p]))  # `git add`ed
    session.config._files_changed = [
        f"{'created' if p not in before else 'removed' if _stat(ROOT / p) is None else 'changed'}"
        f": {p}" for p in changed]
    if changed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    lines = getattr(config, "_files_changed", None)
    if lines:
        terminalreporter.section("files of the checkout changed by the tests", sep="=",
                                 red=True, bold=True)
        terminalreporter.line(f"the suite wrote into {ROOT} (tests must write under their "
                              "tmp_path; files you edited yourself meanwhile show here too); "
                              "the session fails:", red=True)
        for line in lines[:50]:
            terminalreporter.line(f"  {line}")
        if len(lines) > 50:
            terminalreporter.line(f"  ... and {len(lines) - 50} more")
