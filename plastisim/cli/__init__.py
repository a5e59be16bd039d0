"""The ``plastisim`` command. Only ``plastisim.cli`` knows argparse, progress bars and figures.

One module per command group adds its sub-commands through ``add_parsers(sub)``; ``main`` turns
bad input (``PlastisimError``) into one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from ..errors import PlastisimError


def _demo(args: argparse.Namespace) -> int:
    """A short real job on the embedded default RHM: sample, decode, print statistics."""
    import torch

    from ..rhm import RHM, one_hot

    rhm = RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
    start = time.perf_counter()
    train, test = rhm.split(n_train=4 * rhm.n_star, n_test=10_000, seed=1)
    x = one_hot(train.x, rhm.v)
    elapsed = time.perf_counter() - start
    decoded, valid = rhm.decode(torch.cat([train.x, test.x]))
    overlap = set(rhm.index(train)) & set(rhm.index(test))
    counts = torch.bincount(train.y, minlength=rhm.n_classes)
    print(f"{rhm}")
    print(f"  n_c*m^L = {rhm.n_star},  P_max = {rhm.P_max}")
    print(f"  train {len(train)} + test {len(test)} distinct data in {elapsed * 1e3:.1f} ms "
          f"(one-hot {tuple(x.shape)}), train/test overlap: {len(overlap)}")
    print(f"  all decode to their trees: {bool(valid.all())}, labels recovered: "
          f"{bool((decoded.y == torch.cat([train.y, test.y])).all())}")
    print(f"  train labels per class: min {int(counts.min())}, max {int(counts.max())}")
    print(f"  sibling mutual information (level 1): {rhm.sibling_information(1):.3f} bits")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from ..bench import BENCHMARKS

    names = args.only or list(BENCHMARKS)
    results = [BENCHMARKS[name]() for name in names]
    print(json.dumps(results, indent=2))
    return 0


from . import protocol, sweep  # noqa: E402  (plastisim protocol, plastisim sweep)
_COMMAND_MODULES: list = [protocol, sweep]  # modules of plastisim.cli with add_parsers(sub)
from . import record  # noqa: E402  (plastisim export, plastisim report)
_COMMAND_MODULES.append(record)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plastisim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="a short real run on the embedded default")
    demo.set_defaults(func=_demo)
    bench = sub.add_parser("bench", help="throughput on this machine, as JSON")
    from ..bench import BENCHMARKS
    bench.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="benchmarks to run")
    bench.set_defaults(func=_bench)
    from . import run
    for module in (run, *_COMMAND_MODULES):
        module.add_parsers(sub)
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
