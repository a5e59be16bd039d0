"""Disk space: a full disk (or a spent quota) is a clean ending, never a broken file.

    check_disk(need, "out/run.nc", "--out='out/run.nc'", "...")    # up front: ConfigError
    with writing("out/run.nc", need):       # a write: DiskFullError when the disk is full
        ds.to_netcdf(...)
    spare = Reserve("out/run.nc", 256_000)  # room kept for what is written last; spare.release()

- **Up front**, a command compares what it will write with the free space of the output's file
  system (``check_disk``) and refuses, in one line with both numbers, what cannot fit (a
  ``ConfigError``: exit 2, nothing written), as ``resources.check_memory`` does for memory.
- **While writing**, a write that fails on a full disk raises ``DiskFullError`` (an ``OSError``
  with ``errno`` ENOSPC or EDQUOT): ``disk full (needed ~X, free Y) writing 'PATH'``. HDF5
  hides the operating system's error (``RuntimeError: NetCDF: HDF error``, or a
  ``PermissionError`` when it creates a file), so a failed write is called a full disk when
  the error says ENOSPC / EDQUOT, or the file system has less free space than the write
  needed, or a probe of that size cannot be allocated there (a quota).
- **Room for the end**: a ``Reserve`` holds some disk space (an unnamed temporary file in the
  output's folder, allocated up front) while a recording grows, and gives it back when the
  recording stops, so that the learning curve and the status still fit after the disk filled.
  The file has no name: nothing is left behind, even after a SIGKILL.
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError

#: errno values of a full disk: no space left, quota exceeded
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
PROBE_MAX = 1 << 20             # bytes: the largest probe of a failed write (``disk_full``)
BLOCK = 1 << 16                 # bytes written at a time where fallocate is not supported


class DiskFullError(OSError):
    """A write found its file system full (``errno`` ENOSPC) or its quota spent (EDQUOT).
    ``str()`` is one line: ``disk full (needed ~X, free Y) writing 'PATH'``; ``needed`` and
    ``free`` are in bytes (``free`` None where unknown), ``path`` the file written."""

    def __init__(self, message: str, needed: float | None = None, free: float | None = None,
                 path: str | Path | None = None, code: int = errno.ENOSPC):
        super().__init__(code, message)
        self.needed, self.free, self.path = needed, free, path

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self):
        return (type(self), (self.strerror, self.needed, self.free, self.path, self.errno))

    @property
    def short(self) -> str:
        """The message without the file: ``disk full (needed ~X, free Y)``."""
        return message(self.needed or 0, self.free, None, self.errno)

    def but(self, more: str) -> "DiskFullError":
        """The same error with ``more`` added to its message ("...; 3 run files written")."""
        return DiskFullError(f"{self}{more}", self.needed, self.free, self.path, self.errno)


def human(n_bytes: float) -> str:
    from .resources import human as _human
    return _human(max(float(n_bytes), 0.0))


def folder_of(path: str | Path) -> Path:
    """The nearest existing folder of ``path`` (itself if it is one): where its space is."""
    path = Path(path).absolute()
    for where in (path, *path.parents):
        if where.is_dir():
            return where
    return Path("/")


def free_bytes(path: str | Path) -> float:
    """Bytes an unprivileged writer may still write on the file system of ``path`` (``df``'s
    "Avail"; inf where it cannot be told)."""
    try:
        return float(shutil.disk_usage(folder_of(path)).free)
    except OSError:
        return float("inf")


def message(needed: float, free: float | None, path: str | Path | None,
            code: int = errno.ENOSPC) -> str:
    what = "disk quota exceeded" if code == errno.EDQUOT else "disk full"
    have = "" if free is None or free == float("inf") else f", free {human(free)}"
    where = f" writing {str(path)!r}" if path is not None else ""
    return f"{what} (needed ~{human(needed)}{have}){where}"


def full(needed: float, path: str | Path, free: float | None = None,
         code: int = errno.ENOSPC) -> DiskFullError:
    """The ``DiskFullError`` of a write of ``needed`` bytes to ``path``."""
    free = free_bytes(path) if free is None else free
    return DiskFullError(message(needed, free, path, code), needed, free, path, code)


def check_free(needed: float, path: str | Path) -> None:
    """``DiskFullError`` before a write of ``needed`` bytes to ``path`` that cannot fit."""
    free = free_bytes(path)
    if free < needed:
        raise full(needed, path, free)


def _full_error(err: BaseException | None) -> OSError | None:
    """The ENOSPC / EDQUOT ``OSError`` among ``err`` and the errors it came from; else None."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in FULL_ERRNOS:
            return err
        err = err.__cause__ or err.__context__
    return None


def full_errno(err: BaseException | None) -> int | None:
    """ENOSPC / EDQUOT found in ``err`` or the errors it came from; else None."""
    found = _full_error(err)
    return None if found is None else found.errno


def disk_full_line(err: BaseException) -> str:
    """``disk full (No space left on device) writing 'PATH'`` for an error of a write that
    was not checked (``full_errno``), with the file it names."""
    found = _full_error(err)
    if found is None:
        return "disk full"
    what = "disk quota exceeded" if found.errno == errno.EDQUOT else "disk full"
    where = f" writing {str(found.filename)!r}" if found.filename else ""
    return f"{what} ({found.strerror}){where}"


def _probe(needed: float, path: str | Path) -> int | None:
    """Allocate ``needed`` bytes (at most ``PROBE_MAX``) beside ``path`` and give them back:
    the errno of a full disk or quota, else None."""
    try:
        with tempfile.TemporaryFile(dir=folder_of(Path(path).parent)) as probe:
            _allocate(probe.fileno(), int(min(max(needed, 1), PROBE_MAX)))
    except OSError as err:
        return err.errno if err.errno in FULL_ERRNOS else None
    return None


def disk_full(err: BaseException, path: str | Path, needed: float) -> DiskFullError | None:
    """``DiskFullError`` if the failed write ``err`` of ``needed`` bytes to ``path`` met a full
    disk or quota (module docstring), else None. Call it before space is given back."""
    if isinstance(err, DiskFullError):
        return err
    if not isinstance(err, (OSError, RuntimeError)):     # e.g. KeyboardInterrupt: not the disk
        return None
    code = full_errno(err)
    free = free_bytes(path)
    if code is None and free < needed:
        code = errno.ENOSPC
    if code is None:
        code = _probe(needed, path)
    return None if code is None else full(needed, path, free, code)


@contextmanager
def writing(path: str | Path, needed: float) -> Iterator[None]:
    """Checks that ``needed`` bytes are free for ``path``, then runs the block; a failure of
    the block on a full disk becomes a ``DiskFullError`` (other errors pass unchanged)."""
    check_free(needed, path)
    try:
        yield
    except (OSError, RuntimeError) as err:
        found = disk_full(err, path, needed)
        if found is None or found is err:
            raise
        raise found from err


def check_disk(needed: float, path: str | Path, subject: str, detail: str = "",
               advice: str = "free space or choose another folder") -> float:
    """Up front: ``needed`` bytes fit on the file system of ``path`` (free space), else a
    one-line ``ConfigError`` (exit 2) with both numbers: ``<subject> needs about X of disk
    (<detail>) and 'FOLDER' has Y free; <advice>``. Returns the free space."""
    free = free_bytes(path)
    if needed > free:
        detail = f" ({detail})" if detail else ""
        raise ConfigError(f"{subject} needs about {human(needed)} of disk{detail} and "
                          f"{str(folder_of(path))!r} has {human(free)} free; {advice}")
    return free


def _allocate(fd: int, size: int) -> None:
    """Give the file ``fd`` ``size`` bytes of disk (not a sparse file)."""
    try:
        os.posix_fallocate(fd, 0, size)
        return
    except OSError as err:
        if err.errno in FULL_ERRNOS:
            raise
    except AttributeError:          # (macOS has no posix_fallocate)
        pass
    zeros = bytes(min(size, BLOCK))
    done = 0
    while done < size:
        done += os.pwrite(fd, zeros[:size - done], done)
    os.fsync(fd)


class Reserve:
    """``size`` bytes of disk held in the folder of ``path`` (an unnamed temporary file) until
    ``release``: room for what is written once a recording stops. ``DiskFullError`` when
    they cannot be had; nothing is held where the file system cannot make such a file."""

    def __init__(self, path: str | Path, size: int):
        self.size, self._file = int(size), None
        if self.size <= 0:
            return
        try:
            self._file = tempfile.TemporaryFile(dir=folder_of(Path(path).parent))
        except OSError as err:
            if err.errno in FULL_ERRNOS:
                raise full(self.size, path, code=err.errno) from None
            return
        try:
            _allocate(self._file.fileno(), self.size)
        except OSError as err:
            self.release()
            if err.errno in FULL_ERRNOS:
                raise full(self.size, path, code=err.errno) from None

    @property
    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        """Give the space back (the file system has it at once)."""
        spare, self._file = self._file, None
        if spare is not None:
            spare.close()
