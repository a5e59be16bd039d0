"""The lock a file's writer and its readers share, so that no reader sees a write half done.

The writer (``WriteLock``: ``acquire`` ... ``release`` around the time it has the file open)
holds it exclusively, readers (``with reading(path):``) shared; each waits for the other. It is
a Linux open-file-description lock (``fcntl`` ``F_OFD_SETLKW``) on one byte, ``LOCK_BYTE``, far
beyond any file's data, so that

- it does not conflict with HDF5's own ``flock`` of the file (a different kind of lock),
- it is not dropped when the process closes another descriptor of the file, as POSIX record
  locks are (HDF5 opens and closes its own),
- the kernel releases it when its holder dies: a killed writer or reader blocks nobody, and
  there is no lock file to clean up.

Elsewhere (macOS, Windows) these functions do nothing. Within one process, a reader in the
writer's own thread could never wait for it: ``reading`` then calls the writer's ``on_reader``
(which closes its file), and ``acquire`` refuses to write a file this thread is reading, or
one that another writer of this thread holds (either would wait for itself forever).
"""
from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:                 # Windows
    fcntl = None

LOCK_BYTE = 1 << 62                 # the locked byte: far beyond any file's data
_SETLKW = getattr(fcntl, "F_OFD_SETLKW", None)      # Linux >= 3.15; None elsewhere
_READ, _WRITE, _FREE = (fcntl.F_RDLCK, fcntl.F_WRLCK, fcntl.F_UNLCK) if fcntl else (0, 1, 2)


def _lock(fd: int, kind: int) -> None:
    """Wait for and take (``_READ``, ``_WRITE``) or drop (``_FREE``) the lock of ``fd``."""
    if _SETLKW is not None:         # struct flock: type, whence, start, len, pid (0 for OFD)
        fcntl.fcntl(fd, _SETLKW, struct.pack("hhqqi", kind, os.SEEK_SET, LOCK_BYTE, 1, 0))


#: this process's writers and the readings of its threads, by file identity (st_dev, st_ino)
_writers: dict[tuple[int, int], list["WriteLock"]] = {}
_readings: dict[tuple[tuple[int, int], int], int] = {}


def _identity(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def file_identity(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of the file ``path`` names now, None when it names none: a writer
    compares it with its own file's to find out that another program replaced or removed it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class WriteLock:
    """The writer's side, held while it has the file at ``path`` open (``acquire`` waits for
    the readers); the file is created empty here if need be, so the lock precedes its content.
    ``on_reader`` closes the writer's file when a reader in the writer's own thread comes
    (which could not otherwise wait for it)."""

    def __init__(self, path: str | Path, on_reader: Callable[[], None] | None = None):
        self.path, self.held, self.on_reader = Path(path), False, on_reader
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        self._key, self._thread = _identity(self._fd), threading.get_ident()
        _writers.setdefault(self._key, []).append(self)

    def acquire(self) -> None:
        me = threading.get_ident()
        if _readings.get((self._key, me)):
            raise RuntimeError(f"{str(self.path)!r} is read in this thread (plastisim.recording."
                               "live.reading): record after the with block")
        if any(w is not self and w.held and w._thread == me for w in _writers[self._key]):
            raise RuntimeError(f"{str(self.path)!r} is written by another writer in this "
                               "thread (an open Monitor?): close that one first")
        _lock(self._fd, _WRITE)
        self.held, self._thread = True, threading.get_ident()

    def names_its_file(self) -> bool:
        """``path`` still names the file this lock was made for (nobody replaced or removed
        it): a writer reopens its file by name only then."""
        return file_identity(self.path) == self._key

    def release(self) -> None:
        if self.held:
            _lock(self._fd, _FREE)
        self.held = False

    def close(self) -> None:
        if self._fd >= 0:
            self.release()
            mine = _writers.get(self._key, [])
            if self in mine:
                mine.remove(self)
            if not mine:
                _writers.pop(self._key, None)
            os.close(self._fd)
            self._fd = -1


@contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Hold the shared lock of ``path`` for the block: the writer waits, the file stays as the
    last complete record left it (FileNotFoundError when there is no file)."""
    fd = os.open(path, os.O_RDONLY)
    token = (_identity(fd), threading.get_ident())
    try:
        for writer in list(_writers.get(token[0], ())):
            if writer.held and writer._thread == token[1] and writer.on_reader:
                writer.on_reader()  # this thread's own stream: closed now, reopened at its next
        _lock(fd, _READ)            # record
        _readings[token] = _readings.get(token, 0) + 1
        try:
            yield
        finally:
            _readings[token] -= 1
            if not _readings[token]:
                del _readings[token]
    finally:
        os.close(fd)                # drops the lock
