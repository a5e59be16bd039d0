"""Options several commands share: ``--threads`` and ``--overwrite``, and PNG output.

Threads: ``run``, ``demo`` and ``protocol`` use ``--threads N`` torch intra-op threads, default
``DEFAULT_THREADS`` = 1. One thread never oversubscribes a machine that runs other jobs (beside
one other job on 2 cores, torch's default of one thread per core made a bp run 4–6 times
slower), and gives the numbers a sweep gives, whose runs use one thread each. On an idle
machine, a wide network trains faster with ``--threads $(nproc)``. The count is recorded in
the output (attribute ``torch_threads``), never in the configuration: a run's identity is the
hash of its config TOML.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import check_int

DEFAULT_THREADS = 1


def add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", metavar="N", help=f"torch threads (default "
                        f"{DEFAULT_THREADS}: never oversubscribes a shared machine and gives "
                        "a sweep's numbers; docs/failures.md)")


def add_overwrite(parser: argparse.ArgumentParser, what: str = "an existing output file") -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {what} (written beside it, moved into place when "
                             "complete: an interruption keeps the old one)")


def threads(args: argparse.Namespace) -> int:
    """The ``--threads`` value, checked (a one-line ConfigError)."""
    text = getattr(args, "threads", None)
    if text is None:
        return DEFAULT_THREADS
    value = int(text) if str(text).isdigit() else text
    return check_int("--threads", value, 1)


@contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """Run the block with ``n`` torch intra-op threads (``threads.set_threads``: every MKL
    product on exactly ``n``), then restore the previous count."""
    import torch

    from ..threads import set_threads

    before = torch.get_num_threads()
    set_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


def save_png(fig, path: str | Path, source: str = "", dpi: int = 120) -> Path:
    """``fig`` as a PNG at ``path``, written beside and moved into place, with the provenance
    (``plastisim.recording.environment``) in its text chunks."""
    from .. import __version__
    from ..recording.environment import environment
    from ..recording.outputs import write_atomically

    meta = {"Software": f"plastisim {__version__}", "Source": source,
            **{k: str(v) for k, v in environment().items()}}
    return write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi,
                                                          metadata=meta))
