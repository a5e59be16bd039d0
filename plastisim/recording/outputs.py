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

- One writer per output: within ``claiming()`` (a whole CLI command; ``run_sweep`` and
  ``record.export`` open one too) every output that ``check_output_path`` or
  ``check_output_folder`` accepts is *claimed* until the block ends: an exclusive, non-blocking
  ``flock`` of a lock file beside it (``lock_path``: ``.<name>.lock``, a sweep folder's
  ``OUT/.sweep.lock``) that holds the holder's PID, host and command line. A second writer,
  in another process or this one, is refused at once in one line naming the holder. The
  kernel drops the lock when its holder dies, so a lock file left by a killed process is
  taken over. An ``Output`` made outside ``claiming()`` (a ``Monitor``) holds its own claim
  until ``commit``, ``discard`` or ``release``. A missing folder of a claimed output is
  created when it is claimed (the lock file goes there) and removed again, if empty, when
  the claim ends: a refused command leaves no folder.

Bad paths are one-line ``ConfigError``s (the CLI exits with status 2).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import socket
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:                 # Windows: outputs are not locked
    fcntl = None

from ..errors import ConfigError, impossible
from .filelock import file_identity

TEMP_NAME_BYTES = 32        # of the file's name kept in its temporary name (``beside``)
NAME_MAX = 255              # longest file name (bytes) where the file system does not say
FOLDER_LOCK = ".sweep.lock"     # the lock file of a folder output (a sweep's --out), inside it
_TEMPORARY = re.compile(r"\..*\.tmp[0-9a-f]{12}", re.DOTALL)     # names made by ``beside``


def beside(path: str | Path) -> Path:
    """A fresh temporary name for ``path`` while it is written, in the same folder:
    ``.<name>.tmp<12 random hex digits>``, the name cut to its first ``TEMP_NAME_BYTES``
    bytes, so that it is at most 49 bytes long whatever the name, and unique to its caller."""
    path = Path(path)
    return path.with_name(f".{_cut(path.name)}.tmp{secrets.token_hex(6)}")


def _cut(name: str, limit: int = TEMP_NAME_BYTES) -> str:
    """``name`` cut to its first ``limit`` bytes (whole characters)."""
    while len(os.fsencode(name)) > limit:
        name = name[:-1]
    return name


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


# --- one writer per output -----------------------------------------------------------------------
def lock_path(path: str | Path, folder: bool = False) -> Path:
    """The lock file of the output ``path``: ``.<name>.lock`` beside a file (a name longer than
    ``TEMP_NAME_BYTES`` is cut and followed by a hash of the whole, so that every legal name
    has a legal lock name of its own), ``path/.sweep.lock`` inside a folder output."""
    path = Path(path)
    if folder:
        return path / FOLDER_LOCK
    name = path.name
    if len(os.fsencode(name)) > TEMP_NAME_BYTES:
        name = f"{_cut(name)}~{hashlib.sha1(os.fsencode(name)).hexdigest()[:12]}"
    return path.with_name(f".{name}.lock")


def _same_file(fd: int, path: Path) -> bool:
    """``path`` still names the file open as ``fd``."""
    st = os.fstat(fd)
    return file_identity(path) == (st.st_dev, st.st_ino)


def _command() -> str:
    """This process's command line, its program named without its folder."""
    import shlex
    import sys

    from .environment import command_line

    words = shlex.split(command_line()) or list(sys.argv)
    if words and os.sep in words[0]:
        words[0] = Path(words[0]).name
    return " ".join(shlex.join(words).split())         # on one line


def _holder_of(fd: int) -> str:
    """Who holds the lock file open as ``fd``, as its holder wrote it: "PID 12 (on host h):
    command" ("" while the holder has not written it yet)."""
    try:
        info = json.loads(os.pread(fd, 65536, 0).decode("utf-8", "replace"))
        pid, host, command = int(info["pid"]), str(info["host"]), str(info["command"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    mine = pid == os.getpid() and host == socket.gethostname()
    where = "" if host == socket.gethostname() else f" on {host}"
    return f"{'this process, ' if mine else ''}PID {pid}{where}: {command}"


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; those created, deepest first."""
    missing = []
    for where in (folder, *folder.parents):
        if where.exists():
            break
        missing.append(where)
    made = []
    try:
        for where in reversed(missing):
            try:
                where.mkdir()
            except FileExistsError:
                continue
            made.insert(0, where)
    except OSError as err:
        _remove_folders(made)
        raise ConfigError(f"output folder {str(folder)!r} cannot be created: "
                          f"{err.strerror or err}") from None
    return made


def _remove_folders(made: list[Path]) -> None:
    """Remove the folders a claim created, deepest first, while they are empty."""
    for folder in made:
        try:
            folder.rmdir()
        except OSError:
            return


def _let_go(fd: int, lock: str) -> None:
    """Remove the lock file (while it is still this one) and close it, which unlocks it."""
    try:
        if _same_file(fd, Path(lock)):
            os.unlink(lock)
    except OSError:
        pass
    os.close(fd)


class Claim:
    """One output held by this process (``claim``) until ``release`` (or until the process
    ends: the kernel unlocks the lock file of a dead process)."""

    def __init__(self, target: Path, lock: Path, fd: int, made: list[Path]):
        self.target, self.lock, self._made = target, lock, made
        self._finalizer = weakref.finalize(self, _let_go, fd, str(lock))

    @property
    def held(self) -> bool:
        return self._finalizer.alive

    def release(self) -> None:
        """Remove the lock file, let go, and remove the folders the claim created if empty."""
        if self._finalizer.alive:
            self._finalizer()
            _remove_folders(self._made)


def claim(path: str | Path, *, folder: bool = False, make_folder: bool = False) -> Claim:
    """Hold the output ``path`` (a file, or with ``folder`` a folder) for this writer: an
    exclusive, non-blocking lock of ``lock_path(path)``, which then holds this process's PID,
    host and command line. Held by another writer (another process, or another claim of this
    one): a one-line ConfigError naming it. ``make_folder``: create the missing folders where
    the lock file goes (removed by ``release`` while empty)."""
    target = Path(path)
    lock = lock_path(target, folder)
    made = _make_folders(lock.parent) if make_folder else []
    what = "folder" if folder else "file"
    try:
        while True:
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
            except OSError as err:
                raise ConfigError(f"output {what} {str(target)!r} cannot be locked: "
                                  f"{err.strerror or err} ({str(lock)!r})") from None
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    break           # a file system without locks (ENOLCK): not locked
                holder = _holder_of(fd) or "another process that is starting"
                os.close(fd)
                raise ConfigError(f"output {what} {str(target)!r} is being written by {holder}; "
                                  "wait until it ends, or write elsewhere") from None
            if _same_file(fd, lock):
                break
            os.close(fd)            # its last holder removed it meanwhile: lock the new one
        text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "command": _command()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, (text + "\n").encode(), 0)
    except BaseException:
        _remove_folders(made)
        raise
    return Claim(target, lock, fd, made)


_scope = threading.local()          # .claims: {lock path: Claim} of the innermost claiming()


def in_claiming() -> bool:
    """A ``claiming()`` block is open in this thread."""
    return getattr(_scope, "claims", None) is not None


@contextmanager
def claiming() -> Iterator[None]:
    """Every output that ``check_output_path`` or ``check_output_folder`` accepts within the
    block is claimed (``claim``) until the block ends (a whole command: one writer per output);
    within an outer block, the outer one holds them."""
    if in_claiming():
        yield
        return
    _scope.claims = {}
    try:
        yield
    finally:
        claims, _scope.claims = _scope.claims, None
        for held in reversed(list(claims.values())):
            held.release()


def _claim_in_block(path: Path, folder: bool, make_folder: bool) -> None:
    """Claim ``path`` for the open ``claiming()`` block, if there is one and it does not hold
    it yet (a temporary name of ``beside`` is its writer's own: not claimed)."""
    claims = getattr(_scope, "claims", None)
    if claims is None or (not folder and _TEMPORARY.fullmatch(path.name)):
        return
    lock = lock_path(path, folder)
    key = lock.parent.resolve() / lock.name
    if key not in claims:
        claims[key] = claim(path, folder=folder, make_folder=make_folder)


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
        path = _check_path(path, overwrite, suffix, make_folder, field)
    except OSError as err:          # e.g. a path longer than PATH_MAX
        raise ConfigError(f"output path {_abridged(str(path))!r} cannot be used: "
                          f"{err.strerror or err}") from None
    _claim_in_block(path, False, make_folder)      # within claiming(): held until it ends
    return path


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
    _claim_in_block(path, True, True)              # within claiming(): held until it ends
    return path


class Output:
    """One output file under the module's rule: checked when created; ``work`` is where to
    write (the path when new, a temporary name beside it when it replaces a file). Made
    outside ``claiming()``, it claims its path itself (``hold``) until ``commit``, ``discard``
    or ``release``."""

    def __init__(self, path: str | Path, overwrite: bool = False, suffix: str | None = None,
                 field: str = "output", make_folder: bool = False):
        self.path = check_output_path(path, overwrite, suffix, field=field,
                                      make_folder=make_folder)
        self._claim: Claim | None = None
        self.hold(make_folder)
        self.replaces = self.path.exists()
        self.work = beside(self.path) if self.replaces else self.path

    def hold(self, make_folder: bool = False) -> None:
        """Claim ``path`` for this Output if it is not held (by it or an open ``claiming()``
        block): a second writer is refused from now on."""
        if not in_claiming() and (self._claim is None or not self._claim.held):
            self._claim = claim(self.path, make_folder=make_folder)

    def release(self) -> None:
        """Let another writer have ``path`` (an Output's own claim; ``claiming()`` lets go of
        its own when it ends)."""
        if self._claim is not None:
            self._claim.release()
            self._claim = None

    def commit(self) -> Path:
        """Move the finished ``work`` file into place (and let go of the path)."""
        if self.work != self.path:
            os.replace(self.work, self.path)
        self.release()
        return self.path

    def discard(self) -> None:
        """Remove an unfinished temporary file (an existing file stays as it was) and let go of
        the path."""
        if self.work != self.path:
            self.work.unlink(missing_ok=True)
        self.release()


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
