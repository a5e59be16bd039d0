"""``plastisim demo``: the headline comparison on a small RHM, a few minutes on 2 cores.

Backprop, direct feedback alignment, CLAPP (contrastive) and VICReg (non-contrastive) train the
same CNN on the same P = 4·n_c·m^L inputs of an RHM (v = n_c = 8, m = 4, L = 3); a table of test
errors and synonymic sensitivities is printed and a PNG of the learning curves is written. The
self-supervised rules use synonym views re-drawn by the RHM sampler at each layer's level
("matched", docs/ssl.md): an oracle augmentation that also brings new unlabelled inputs; their
local phase has the budget of the sample-complexity study (6000 steps, docs/results.md §2). The
configurations are embedded below (models/*.toml hold the full-size ones).

The PNG (``--out``) is checked before training and written at the end (``--overwrite`` to
replace one); Ctrl-C or SIGTERM stops the demo with nothing written (exit 130 / 143).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

RHM_TABLE = {"v": 8, "n_classes": 8, "m": 4, "s": 2, "L": 3, "seed": 0}
TRAIN = {"n_train": 2048, "n_test": 5000, "batch_size": 128, "seed": 0, "data_seed": 1}
SSL = {"lr": 5.0, "pairs": "views", "view_level": "matched", "readout_epochs": 100,
       "readout_lr": 1.0}
DEFAULT_OUT = "runs/demo.png"
RUNS = {   # rule: (rule parameters, local or joint epochs)
    "bp": ({}, 200),
    "dfa": ({}, 100),
    "clapp": ({**SSL, "pred_init_std": 0.1}, 375),     # 375 epochs of 16 batches: 6000 steps
    "vicreg": (SSL, 375),
}


def _config(rule: str, params: dict, epochs: int, width: int):
    from .. import config
    return config.build({"rhm": RHM_TABLE, "network": {"width": width},
                         "rule": {"name": rule, **params},
                         "train": {**TRAIN, "epochs": epochs}}, source="plastisim demo")


def _demo(args: argparse.Namespace) -> int:
    from ..errors import check_int
    from ..outputs import check_output_path, make_parent
    from .options import threads, torch_threads

    width = check_int("--width", int(args.width) if str(args.width).isdigit() else args.width, 1)
    png = check_output_path(args.out, args.overwrite, ".png", field="--out", make_folder=True)
    n_threads = threads(args)
    with torch_threads(n_threads):
        rows, curves = _train_all(width, args.quiet)
    _print_table(rows, width, n_threads)
    _plot(curves, make_parent(png), width, n_threads)
    print(f"wrote {png}")
    return 0


def _train_all(width: int, quiet: bool = False) -> tuple[list, dict]:
    """(table rows, learning curves) of every rule of ``RUNS``, with a progress bar per rule
    and phase on stderr (``plastisim.cli.progress``, as ``run``)."""
    from ..metrics import synonymic_sensitivity
    from ..run import execute
    from .progress import phase_bars

    rows, curves = [], {}
    for rule, (params, epochs) in RUNS.items():
        start = time.perf_counter()
        bars = phase_bars(quiet, label=rule)
        if bars is None and not quiet:
            print(f"training {rule} ...", file=sys.stderr, flush=True)
        try:
            outcome = execute(_config(rule, params, epochs, width), progress=bars)
        finally:
            if bars is not None:
                bars.close()
        built, final = outcome.built, outcome.result.final
        sens = synonymic_sensitivity(built.net, built.rhm, built.test_set[:1000], built.rhm.L - 1)
        rows.append((rule, final["test_error"], final["train_error"], sens[-1],
                     outcome.result.steps, time.perf_counter() - start))
        curves[rule] = outcome.dataset
    return rows, curves


def _print_table(rows: list, width: int, n_threads: int) -> None:
    rhm_text = ", ".join(f"{k}={v}" for k, v in RHM_TABLE.items())
    print(f"\nRHM({rhm_text}), P = {TRAIN['n_train']} = 4 n_c m^L, width {width}, "
          f"test set {TRAIN['n_test']}, {n_threads} torch thread(s); chance error "
          f"{1 - 1 / RHM_TABLE['n_classes']:.3f}")
    print(f"{'rule':8s} {'test error':>10s} {'train error':>11s} {'S_top':>6s} {'steps':>6s} "
          f"{'time':>6s}")
    for rule, test, train, s, steps, secs in rows:
        print(f"{rule:8s} {test:10.3f} {train:11.3f} {s:6.2f} {steps:6d} {secs:5.0f}s")
    print("S_top: synonymic sensitivity of the last hidden layer to the lowest synonyms "
          "(1: not invariant, 0: invariant).\nclapp, vicreg: self-supervised on sampler views "
          "re-drawn at each layer's level (view_level=matched), then a delta-rule readout.")


def _plot(curves: dict, png: Path, width: int, n_threads: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .options import save_png

    fig, ax = plt.subplots(figsize=(6, 4))
    for rule, ds in curves.items():
        ax.plot(ds.eval_step, ds.test_error, marker=".", label=rule)
    ax.axhline(1 - 1 / RHM_TABLE["n_classes"], color="k", ls=":", lw=1, label="chance")
    ax.set(xlabel="plasticity steps (batches of 128)", ylabel="test error",
           title="RHM v=n_c=8, m=4, L=3, P=4 n_c m^L")
    ax.legend()
    fig.tight_layout()
    save_png(fig, png, f"plastisim demo, width {width}, {n_threads} torch thread(s)")
    plt.close(fig)


def add_parsers(sub) -> None:
    from .options import add_overwrite, add_threads

    demo = sub.add_parser("demo", help="headline comparison on a small RHM (a few minutes)")
    demo.add_argument("--width", default=64, help="channels per hidden layer (default 64)")
    demo.add_argument("--out", default=DEFAULT_OUT, help=f"PNG of the learning curves (default "
                      f"{DEFAULT_OUT}; a missing folder is created)")
    add_overwrite(demo, "an existing --out PNG")
    add_threads(demo)
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)
