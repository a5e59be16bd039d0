"""The one output rule of every command: checked up front, never clobbered, replaced atomically.

    out = Output("runs/bp.nc", overwrite=args.overwrite, suffix=".nc")   # checks, before work
    ...write to out.work...            # the path itself, or a temporary name beside it
    out.commit()                       # moved into place, complete (or out.discard())

- Every output path is checked before any work (``check_output_path``): its folder exists, is
  a folder and is writable (a probe file is created and removed, so read-only mounts and
  /proc are refused too), the path is not a folder, has the expected extension, and an
  existing path is a regular file that is replaced only with ``overwrite``. With
  ``make_folder`` (the commands' ``--out``) a missing folder is accepted when it can be made:
  its nearest existing ancestor is a writable folder; ``make_parent`` creates it (with its
  parents) once the work is about to be written, so a refused command leaves no folder.
- A file name longer than its file system allows (``NAME_MAX``, 255 bytes on most) is refused
  up front too, never after the work.
- A new file may be written in place (a streamed recording is readable while it grows); a file
  that replaces an existing one is written beside it, under a hidden temporary name in the same
  folder (``beside``: ``.<name>.tmp<random>``, the name cut to ``TEMP_NAME_BYTES``, so every
  legal name has a legal temporary name and two writers never share one), and moved over it
  (``os.replace``, atomic on one filesystem) once complete, so an interruption or a crash
  before that keeps the old file. A SIGKILL leaves the hidden temporary file beside the old
  one (safe to delete).
- ``write_atomically(path, writer)`` does the same for one-shot writers (netCDF, PNG): the
  temporary file is removed when the writer fails or is interrupted.

Bad paths are one-line ``ConfigError``s (the CLI exits with status 2).
"""
from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import ConfigError, impossible

TEMP_NAME_BYTES = 32        # of the file's name kept in its temporary name (``beside``)
NAME_MAX = 255              # longest file name (bytes) where the file system does not say


def beside(path: str | Path) -> Path:
    """A fresh temporary name for ``path`` while it is written, in the same folder:
    ``.<name>.tmp<12 random hex digits>``, the name cut to its first ``TEMP_NAME_BYTES``
    bytes, so that it is at most 49 bytes long whatever the name, and unique to its caller."""
    path = Path(path)
    name = path.name
    while len(os.fsencode(name)) > TEMP_NAME_BYTES:
        name = name[:-1]
    return path.with_name(f".{name}.tmp{secrets.token_hex(6)}")


def name_max(folder: Path) -> int:
    """The longest file name (bytes) of the file system of ``folder`` (or of its nearest
    existing ancestor); ``NAME_MAX`` where it does not say."""
    for where in (folder, *folder.parents):
        try:
            if where.is_dir():
                return int(os.pathconf(where, "PC_NAME_MAX"))
        except (OSError, ValueError):
            return NAME_MAX
    return NAME_MAX


def _abridged(name: str) -> str:
    return name if len(name) <= 40 else f"{name[:24]}...{name[-12:]}"


def _check_names(path: Path, field: str) -> None:
    """Every name in ``path`` fits its file system (checked before anything touches it: the
    operating system refuses a longer name with "File name too long")."""
    limit = name_max(path.parent)
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > limit:
            what = "file name" if part == path.name else "folder name"
            raise impossible(field, _abridged(part), f"the {what} is {size} bytes long; its "
                             f"file system allows at most {limit}")


def _unwritable(folder: Path) -> str:
    """Why ``folder`` is not writable ("" if it is): a probe file is created and removed
    (access(2) says yes to root on /proc)."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".plastisim-probe-", dir=folder)
    except OSError as err:
        return str(err.strerror or err)
    os.close(handle)
    os.unlink(probe)
    return ""


def _check_folder(folder: Path, make: bool = False) -> None:
    """``folder`` is a writable folder or, with ``make``, can be created: its nearest existing
    ancestor is a writable folder (nothing is created here: ``make_parent``)."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"output folder {str(folder)!r} is a file, not a folder")
    if folder.exists():
        why = _unwritable(folder)
        if why:
            raise ConfigError(f"output folder {str(folder)!r} is not writable: {why}")
        return
    if not make:
        raise ConfigError(f"output folder {str(folder)!r} does not exist")
    ancestor = next((p for p in folder.parents if p.exists()), None)   # "/" or "." at last
    if ancestor is None or not ancestor.is_dir():
        why = f"{str(ancestor)!r} is a file, not a folder" if ancestor else "nothing of it exists"
    else:
        why = _unwritable(ancestor)
        why = why and f"{str(ancestor)!r} is not writable: {why}"
    if why:
        raise ConfigError(f"output folder {str(folder)!r} cannot be created: {why}")


def make_parent(path: str | Path) -> Path:
    """Create the folder of ``path`` and its parents where missing (``make_folder``)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"output folder {str(path.parent)!r} cannot be created: "
                          f"{err.strerror or err}") from None
    return path


def check_output_path(path: str | Path, overwrite: bool = False, suffix: str | None = None, *,
                      make_folder: bool = False, field: str = "output") -> Path:
    """A writable output path (module docstring); ``suffix`` (".nc", ".png"): the extension it
    needs; ``make_folder``: create a missing folder instead of refusing it; ``field``: the
    option named in messages ("--out")."""
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise impossible(field, str(path), "need a file name")
    _check_names(path, field)
    try:
        return _check_path(path, overwrite, suffix, make_folder, field)
    except OSError as err:          # e.g. a path longer than PATH_MAX
        raise ConfigError(f"output path {_abridged(str(path))!r} cannot be used: "
                          f"{err.strerror or err}") from None


def _check_path(path: Path, overwrite: bool, suffix: str | None, make_folder: bool,
                field: str) -> Path:
    if path.is_dir():
        raise ConfigError(f"output path {str(path)!r} is a folder; give a file name")
    if (path.exists() or path.is_symlink()) and not path.is_file():
        raise ConfigError(f"output path {str(path)!r} exists and is not a regular file")
    if suffix is not None and path.suffix.lower() != suffix:
        raise impossible(field, str(path), f"need a file name ending in {suffix}")
    _check_folder(path.parent, make_folder)
    if path.exists() and not overwrite:
        raise ConfigError(f"output file {str(path)!r} exists; pass --overwrite to replace it")
    return path


def check_output_folder(path: str | Path) -> Path:
    """A folder to write into (a sweep's ``--out``): not a file; writable, or missing and
    creatable with its missing parents (the caller creates it)."""
    path = Path(path)
    _check_names(path / "sweep.nc", "--out")      # its folder names (sweep.nc is short)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {str(path)!r} is a file; need a folder (it receives runs/ "
                          "and sweep.nc)")
    _check_folder(path, make=True)
    return path


class Output:
    """One output file under the module's rule: checked when created; ``work`` is where to
    write (the path when new, a temporary name beside it when it replaces a file)."""

    def __init__(self, path: str | Path, overwrite: bool = False, suffix: str | None = None,
                 field: str = "output", make_folder: bool = False):
        self.path = check_output_path(path, overwrite, suffix, field=field,
                                      make_folder=make_folder)
        self.replaces = self.path.exists()
        self.work = beside(self.path) if self.replaces else self.path

    def commit(self) -> Path:
        """Move the finished ``work`` file into place."""
        if self.work != self.path:
            os.replace(self.work, self.path)
        return self.path

    def discard(self) -> None:
        """Remove an unfinished temporary file (an existing file stays as it was)."""
        if self.work != self.path:
            self.work.unlink(missing_ok=True)


def write_atomically(path: str | Path, writer: Callable[[Path], object]) -> Path:
    """``writer(tmp)`` to a temporary name beside ``path``, then moved into place; the
    temporary file is removed if the writer raises (or is interrupted)."""
    path = Path(path)
    tmp = beside(path)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
