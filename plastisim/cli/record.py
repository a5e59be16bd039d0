"""``plastisim export`` (a smaller dataset for sharing) and the ``--record key=value,...`` option
of ``plastisim run`` (figures: ``plastisim report``, plastisim/cli/report.py).

    plastisim run models/bp.toml --out runs/bp.nc --record weights=all,every=100
    plastisim export runs/bp.nc runs/bp_small.nc --vars weight_w1 test_error --every 1000 \\
        --indices w1.post=0:16

Bad input is a one-line ``PlastisimError`` (exit code 2); existing files are never replaced
without ``--overwrite``, and every output is written beside its name and moved into place
(``plastisim.recording.outputs``), so an interruption leaves the old files as they were.
"""
from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from ..errors import check_int
from ..validate import parse_assignment


def record_overrides(text: str | None) -> list[str]:
    """``--record`` text as ``--set`` overrides of [record].

    "weights=w1,w2,every=100,w1.post=0:16" -> ["record.weights=w1,w2", "record.every=100",
    'record.indices=["w1.post=0:16"]']: a comma-separated item without "=" continues the
    previous value; keys with a dot are index selections (name.axis=selection)."""
    if not text:
        return []
    pairs: list[list[str]] = []
    for token in text.split(","):
        if pairs and "=" not in token:
            pairs[-1][1] += "," + token.strip()
        else:
            pairs.append(list(parse_assignment(token, "--record", "key=value,...",
                                               "e.g. weights=all,every=100")))
    indices = [f"{key}={value}" for key, value in pairs if "." in key]
    out = [f"record.{key}={value}" for key, value in pairs if "." not in key]
    return out + ([f"record.indices={json.dumps(indices)}"] if indices else [])


def _export(args: argparse.Namespace) -> int:
    from ..recording import record
    from ..recording.selection import parse_indices

    variables = [v for item in args.vars or [] for v in item.split(",") if v]
    every = None
    if args.every is not None:
        every = check_int("--every", int(args.every) if args.every.isdigit() else args.every, 1)
    argv = [args.input, args.output] + (["--vars", *args.vars] if args.vars else []) + \
        (["--every", args.every] if args.every else []) + \
        (["--indices", *args.indices] if args.indices else [])
    out = record.export(args.input, args.output, variables or None, every,
                        parse_indices(args.indices or []), args.overwrite,
                        command="plastisim export " + shlex.join(argv))
    size_in, size_out = Path(args.input).stat().st_size, out.stat().st_size
    print(f"wrote {out} ({size_out / 1e6:.3g} MB; input {size_in / 1e6:.3g} MB)")
    return 0


def add_parsers(sub) -> None:
    """Add ``export`` to the ``plastisim`` sub-parsers."""
    exp = sub.add_parser("export", help="write a smaller dataset (variables, steps, indices)",
                         description="Write a subset of a plastisim netCDF file for sharing.")
    exp.add_argument("input", help="netCDF file written by plastisim")
    exp.add_argument("output", help="netCDF file to write")
    exp.add_argument("--vars", nargs="+", metavar="NAME", help="variables to keep (default all)")
    exp.add_argument("--every", help="keep the records whose step is a multiple")
    exp.add_argument("--indices", nargs="+", metavar="NAME.AXIS=SEL",
                     help="keep these indices, e.g. w1.post=0:16 h1.channel=3,5")
    exp.add_argument("--overwrite", action="store_true", help="replace an existing output")
    exp.set_defaults(func=_export)
