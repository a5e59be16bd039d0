"""The ``plastisim`` command. Only ``plastisim.cli`` knows argparse, progress bars and figures.

One module per command group adds its sub-commands through ``add_parsers(sub)``. ``main``
ends every command with one line on stderr at most, never a traceback (docs/failures.md):

    0     done
    1     a run diverged or failed, a sweep has failed points, a full disk (one line: ``disk
          full (needed ~X, free Y) ...``, ``plastisim.diskspace``), or an unexpected error
          (``PLASTISIM_TRACEBACK=1`` shows its traceback)
    2     bad input (``PlastisimError``), found before any work
    130   interrupted by SIGINT (Ctrl-C), 143 by SIGTERM, 129 by SIGHUP (the terminal was
          closed): 128 + the signal's number

SIGINT, SIGTERM and SIGHUP raise ``plastisim.interrupt.Interrupted`` wherever a command has no
step boundary to stop at; ``run`` stops its training loop at the next step instead. Warnings
shown while a command runs are one line each, ``plastisim: warning: <message>``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..diskspace import DiskFullError, disk_full_line, full_errno
from ..errors import ConfigError, PlastisimError, unknown
from ..interrupt import Interrupted, Signals
from ..recording.outputs import claiming


#: options of ``plastisim bench``, each passed to the benchmarks that take it
_BENCH_OPTIONS = ("device", "sizes", "widths", "rules", "repeats", "reference")


def _bench(args: argparse.Namespace) -> int:
    from ..bench import BENCHMARKS, benchmark_options, run_benchmark

    names = list(dict.fromkeys([*args.names, *(args.only or [])])) or list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            raise unknown("benchmark", name, BENCHMARKS)
    given = {key: tuple(value) if isinstance(value, list) else value
             for key in _BENCH_OPTIONS if (value := getattr(args, key)) is not None}
    takes = {name: benchmark_options(name) for name in names}
    for key in given:
        if not any(key in options for options in takes.values()):
            which = [name for name in BENCHMARKS if key in benchmark_options(name)]
            raise ConfigError(f"--{key} is an option of the benchmarks {', '.join(which)}, "
                              f"not of {', '.join(names)}")
    results = [run_benchmark(name, **{k: v for k, v in given.items() if k in takes[name]})
               for name in names]
    print(json.dumps(results, indent=2))
    return 0


#: modules of plastisim.cli with an add_parsers(sub) function, in the order of `--help`
_COMMAND_MODULES = ("demo", "run", "sweep", "pstar", "protocol", "record", "report",
                    "fingerprint")


class _Version(argparse.Action):
    """``--version``: plastisim's version, git commit and the main libraries' versions."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from .. import __version__
        from ..recording.environment import environment

        env = environment()
        dirty = " (uncommitted changes)" if env["git_dirty"] == "true" else ""
        print(f"plastisim {__version__} (git {env['git_commit'][:12]}{dirty}; Python "
              f"{env['python_version']}, torch {env['torch_version']}, numpy "
              f"{env['numpy_version']}, xarray {env['xarray_version']}, netCDF4 "
              f"{env['netcdf4_version']})")
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit code 2); sub-parsers are of this class
    too (``add_subparsers`` uses the parent's class)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="plastisim", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="throughput on this machine, as JSON")
    from ..bench import BENCHMARKS
    bench.add_argument("names", nargs="*", metavar="NAME",
                       help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    bench.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="benchmarks to run")
    bench.add_argument("--device", help="cpu (default) or cuda, for the benchmarks that take it")
    bench.add_argument("--sizes", nargs="+", type=int, metavar="E", help="ensemble sizes")
    bench.add_argument("--widths", nargs="+", type=int, metavar="W", help="network widths")
    bench.add_argument("--rules", nargs="+", metavar="RULE", help="rules (ensemble)")
    bench.add_argument("--repeats", type=int, metavar="N", help="repeats of every measurement")
    bench.add_argument("--reference", metavar="PATH",
                       help="another checkout of plastisim to time beside this one (engine)")
    bench.set_defaults(func=_bench)
    for name in _COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").add_parsers(sub)
    return parser


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as one line (``warnings.formatwarning``'s signature)."""
    text = " ".join(part.strip() for part in str(message).strip().splitlines())
    return f"plastisim: warning: {text}\n"


@contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Show warnings as ``_format_warning`` lines on stderr over the block, then as before.
    (``formatwarning`` rather than ``showwarning`` is replaced, so that
    ``warnings.catch_warnings(record=True)`` around ``main`` still records them.)"""
    previous = warnings.formatwarning
    warnings.formatwarning = _format_warning
    try:
        yield
    finally:
        warnings.formatwarning = previous


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code (module docstring). Called with ``argv`` (tests,
    notebooks), the files record ``plastisim ARGV`` as their command line (``sys.argv`` is
    ``["plastisim", *argv]`` meanwhile)."""
    saved = sys.argv
    if argv is not None:
        sys.argv = ["plastisim", *argv]
    try:
        # claiming(): every output the command checks is its own until it ends (one writer
        # per output: a second one, here or in another process, is refused at once)
        with _one_line_warnings(), Signals(defer=False), claiming():
            args = build_parser().parse_args(argv)
            return args.func(args)
    except PlastisimError as err:
        print(f"plastisim: error: {err}", file=sys.stderr)
        return 2
    except Interrupted as err:              # a command without step boundaries
        print(f"plastisim: {err}", file=sys.stderr)
        return err.exit_code
    except DiskFullError as err:            # written where room allowed (docs/failures.md)
        print(f"plastisim: error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:                 # the reader went away (`plastisim ... | head`)
        # as a shell tool does: stop quietly; stdout's remaining buffer cannot be written
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:               # Ctrl-C before the handlers were installed
        print("plastisim: interrupted by SIGINT before any output was written",
              file=sys.stderr)
        return 130
    except Exception as err:                # a bug or the machine (memory, disk): one line
        if os.environ.get("PLASTISIM_TRACEBACK"):
            raise
        lines = str(err).strip().splitlines()
        if full_errno(err):                 # a write this command makes without a check
            print(f"plastisim: error: {disk_full_line(err)}", file=sys.stderr)
            return 1
        print(f"plastisim: error: {type(err).__name__}: {lines[0] if lines else ''} (set "
              "PLASTISIM_TRACEBACK=1 to see the traceback)", file=sys.stderr)
        return 1
    finally:
        sys.argv = saved


if __name__ == "__main__":
    sys.exit(main())
