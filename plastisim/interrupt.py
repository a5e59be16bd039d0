"""Interruption as a normal ending: SIGINT, SIGTERM and SIGHUP become a flag or an exception.

    with Signals() as stop:                 # handlers installed, the previous ones restored after
        result = train(..., stop=stop)      # the loop calls stop() at every step boundary
    if stop.signum is not None:
        sys.exit(stop.exit_code)            # 130 after SIGINT, 143 after SIGTERM, 129 after
                                            # SIGHUP (128 + signal)

Two modes:

- deferred (``defer=True``, for a training loop): the first signal only sets the flag, which the
  loop reads at its next step boundary, so weights, recordings and files stay consistent; a
  second signal raises ``Interrupted`` at once (the user insists).
- immediate (``defer=False``, for work without step boundaries that writes nothing until it
  ends: a protocol, a sweep waiting for its workers): the first signal raises ``Interrupted``.

SIGHUP (the terminal was closed, an SSH session ended) is an interruption like SIGTERM: without
a handler it would end the process at once, leaving no curve or status and, with
``--overwrite``, the hidden temporary file beside the old one.

``hold()`` defers the signals over a block that writes files and raises ``Interrupted`` after
it, so a signal never leaves a half-written set of outputs. ``Interrupted`` is a
``KeyboardInterrupt`` (a ``BaseException``): ``except Exception`` — a sweep's per-run error
handling — lets it through, and notebooks treat it as Ctrl-C. Handlers can only be installed
from the main thread; elsewhere ``Signals`` does nothing (its flag never rises).
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM,
           *((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()))   # no SIGHUP on Windows


def signal_name(signum: int) -> str:
    """"SIGINT", "SIGTERM", ... for a signal number."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number."""
    return 128 + int(signum)


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived (``signum``); ``exit_code`` is 130, 143 or 129;
    ``detail`` says what it means for the outputs."""

    def __init__(self, signum: int,
                 detail: str = "before the outputs were complete; existing files are unchanged"):
        super().__init__(f"interrupted by {signal_name(signum)} {detail}".strip())
        self.signum, self.detail = int(signum), detail

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum)


class Signals:
    """SIGINT, SIGTERM and SIGHUP handlers for the duration of a ``with`` block (module
    docstring)."""

    def __init__(self, defer: bool = True):
        self.defer = defer
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "Signals":
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
        if not (self.defer and first):
            raise Interrupted(signum)

    def __call__(self) -> str:
        """The reason to stop ("SIGINT", "SIGTERM", "SIGHUP"), or "" while no signal arrived."""
        return "" if self.signum is None else signal_name(self.signum)

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, or 0 while no signal arrived."""
        return 0 if self.signum is None else exit_code(self.signum)


@contextmanager
def hold() -> Iterator[Signals]:
    """Defer SIGINT / SIGTERM / SIGHUP over the block (writing files); raise ``Interrupted``
    after it when one arrived (a second one still raises at once)."""
    with Signals(defer=True) as held:
        yield held
    if held.signum is not None:
        raise Interrupted(held.signum, "after the outputs were written")
