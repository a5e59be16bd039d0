"""The ``plastisim`` command. Only ``plastisim.cli`` knows argparse, progress bars and figures.

One module per command group adds its sub-commands through ``add_parsers(sub)``; ``main`` turns
bad input (``PlastisimError``) into one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from ..errors import PlastisimError


def _bench(args: argparse.Namespace) -> int:
    from ..bench import BENCHMARKS, run_benchmark

    names = args.only or list(BENCHMARKS)
    results = [run_benchmark(name) for name in names]
    print(json.dumps(results, indent=2))
    return 0


#: modules of plastisim.cli with an add_parsers(sub) function, in the order of `--help`
_COMMAND_MODULES = ("demo", "run", "sweep", "pstar", "protocol", "record")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plastisim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="throughput on this machine, as JSON")
    from ..bench import BENCHMARKS
    bench.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="benchmarks to run")
    bench.set_defaults(func=_bench)
    for name in _COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PlastisimError as err:
        print(f"plastisim: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
