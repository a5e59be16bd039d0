"""Input files: checked before they are opened, with one-line errors that say what the path is.

    check_input_file("models/bp.toml", "config file", "TOML file")
    read_text("models/bp.toml", "config file")     # the text, a UTF-8 byte-order mark removed

A missing path, a folder or anything that is not a regular file (a named pipe, a socket, a
device) is a ``ConfigError`` that names it; such a path is never opened (opening a named pipe
waits for a writer). A folder that holds the file the command expects (``hint``, e.g. a sweep's
``OUT/sweep.nc``) is named in the message.
"""
from __future__ import annotations

import stat
from pathlib import Path

from .errors import ConfigError

#: what a path is when it is neither a regular file nor a folder
KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
         (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))

BOM = "\ufeff"


def check_input_file(path: str | Path, what: str, kind: str, hint: str = "") -> Path:
    """``path`` if it is an existing regular file (a link to one too); else a one-line
    ConfigError: "{what} 'x' does not exist", "... is a folder, not a {kind}" (naming
    ``x/{hint}`` when that file exists), "... is not a regular file (a named pipe)"."""
    path = Path(path)
    try:
        mode = path.stat().st_mode           # follows links; never opens the file
    except (FileNotFoundError, NotADirectoryError):
        broken = " (a symbolic link to a missing file)" if path.is_symlink() else ""
        raise ConfigError(f"{what} {str(path)!r} does not exist{broken}") from None
    except OSError as err:
        raise ConfigError(f"{what} {str(path)!r} cannot be read: {err.strerror or err}") \
            from None
    if stat.S_ISDIR(mode):
        inside = path / hint if hint else None
        suggestion = (f"; did you mean {str(inside)!r}?" if inside is not None
                      and inside.is_file() else "")
        raise ConfigError(f"{what} {str(path)!r} is a folder, not a {kind}{suggestion}")
    if not stat.S_ISREG(mode):
        name = next((name for test, name in KINDS if test(mode)), "a special file")
        raise ConfigError(f"{what} {str(path)!r} is not a regular file ({name})")
    return path


def read_text(path: str | Path, what: str, kind: str = "TOML file", hint: str = "") -> str:
    """The UTF-8 text of the file ``path`` (``check_input_file``), without a leading
    byte-order mark (editors on Windows write one); one-line errors for unreadable or
    non-UTF-8 files."""
    path = check_input_file(path, what, kind, hint)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{what} {str(path)!r} cannot be read: {err.strerror or err}") \
            from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{what} {str(path)!r} is not UTF-8 text ({err.reason} at byte "
                          f"{err.start})") from None
    return text[len(BOM):] if text.startswith(BOM) else text

