"""``plastisim demo``: what plastisim measures, on one small RHM, in about a minute.

Backprop, direct feedback alignment and the layerwise self-supervised rules CLAPP
(contrastive) and VICReg (non-contrastive) train the same CNN on the same P = 8·n_c·m^L inputs
of an RHM with v = n_c = 16, m = 4, L = 3 (n* = n_c·m^L = 1024). The self-supervised rules
learn **from the inputs alone**: at each layer, the rates at one position predict those at
its sibling position of the same input (the top layer: its two halves; docs/ssl.md), with no
label, latent or generator; a delta-rule readout is then trained on the frozen top layer.
Below them, one **oracle** baseline: VICReg on synonym views re-drawn by the RHM's generator
("matched" views), which reads the grammar and brings new inputs; it is not self-supervision.

The table gives each rule's pairing, its test error and the synonymic sensitivity of its top
hidden layer to the lowest synonyms (S = 1: not invariant, 0: invariant) before and after
learning; the PNG shows S over the plasticity steps that shape the hidden layers (for the
self-supervised rules, the local phase, before any label), and the final test errors. Rates:
bp and DFA at the rates the scaling study chose at this grammar on training loss; CLAPP and
VICReg at those chosen there on the readout's training error (width 128, P = 4 n*),
transferred unchanged to width 64 and P = 8 n* (docs/results.md). One seed.

Arguments are checked first, then the PNG (``--out``, ``--overwrite`` to replace one), all
before training; the PNG is written at the end. Ctrl-C or SIGTERM stops the demo with nothing
written (exit 130 / 143; SIGHUP, a closed terminal: 129).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RHM_TABLE = {"v": 16, "n_classes": 16, "m": 4, "s": 2, "L": 3, "seed": 0}
TRAIN = {"n_train": 8192, "n_test": 5000, "batch_size": 128, "seed": 0, "data_seed": 1}
DEFAULT_OUT = "runs/demo.png"
PROBE = 1000                   # test inputs on which S is measured during training
SSL = {"readout_epochs": 200, "readout_lr": 1.0}
SIBLINGS = {**SSL, "pairs": "siblings", "top_layer": "halves"}
ORACLE_VIEWS = {**SSL, "pairs": "views", "view_level": "matched", "views_from": "sampler"}


@dataclass(frozen=True)
class DemoRun:
    """One row of the demo: ``epochs`` are the joint epochs of a supervised rule or the local
    epochs of a self-supervised one (its readout has ``readout_epochs`` more)."""
    label: str
    rule: str
    params: dict
    epochs: int
    pairing: str
    oracle: bool = False


RUNS = (
    DemoRun("bp", "bp", {"lr": 1.0}, 100, "labels (exact gradient)"),
    DemoRun("DFA", "dfa", {"lr": 1.0}, 100, "labels (random feedback)"),
    DemoRun("CLAPP", "clapp", {**SIBLINGS, "lr": 50.0, "pred_init_std": 0.1}, 30,
            "inputs alone (siblings)"),
    DemoRun("VICReg", "vicreg", {**SIBLINGS, "lr": 0.5, "predictor": "linear"}, 30,
            "inputs alone (siblings)"),
    DemoRun("VICReg", "vicreg", {**ORACLE_VIEWS, "lr": 5.0}, 30, "oracle views (generator)",
            oracle=True),
)


@dataclass
class Row:
    """What the demo measured of one run."""
    run: DemoRun
    test_error: float
    train_error: float
    steps: list[int]           # plasticity steps of the phase that shapes the hidden layers
    sensitivity: list[float]   # S of the top hidden layer at those steps (step 0: initial)
    total_steps: int
    seconds: float


def _config(run: DemoRun, width: int):
    from .. import config
    return config.build({"rhm": RHM_TABLE, "network": {"width": width},
                         "rule": {"name": run.rule, **run.params},
                         "train": {**TRAIN, "epochs": run.epochs}}, source="plastisim demo")


def _demo(args: argparse.Namespace) -> int:
    from ..errors import check_int
    from ..recording.outputs import check_output_path, make_parent
    from .options import threads, torch_threads

    width = check_int("--width", int(args.width) if str(args.width).isdigit() else args.width, 1)
    n_threads = threads(args)
    configs = [_config(run, width) for run in RUNS]           # every argument, then the output
    png = check_output_path(args.out, args.overwrite, ".png", field="--out", make_folder=True)
    with torch_threads(n_threads):
        rows = [_train(run, cfg, args.quiet) for run, cfg in zip(RUNS, configs)]
    _print_table(rows, width, n_threads)
    _plot(rows, make_parent(png), width, n_threads)
    print(f"wrote {png}")
    return 0


def _train(run: DemoRun, cfg, quiet: bool) -> Row:
    """Train one run (a progress bar per phase on stderr, as ``run``), measuring the top
    layer's synonymic sensitivity at step 0 and at every evaluation of the shaping phase."""
    from ..metrics import synonymic_sensitivity
    from ..run import build, execute
    from .progress import phase_bars

    start = time.perf_counter()
    built = build(cfg)
    probe, level = built.test_set[:PROBE], built.rhm.L - 1

    def top_sensitivity() -> float:
        return synonymic_sensitivity(built.net, built.rhm, probe, level)[-1]

    steps, sensitivity = [0], [top_sensitivity()]
    bars = phase_bars(quiet, label=f"{run.label}{' (oracle)' if run.oracle else ''}")
    if bars is None and not quiet:
        print(f"training {run.label} ({run.pairing}) ...", file=sys.stderr, flush=True)

    def progress(report: dict) -> None:
        if bars is not None:
            bars(report)
        if report["phase"] in ("joint", "local") and "test_error" in report:
            steps.append(report["step"])
            sensitivity.append(top_sensitivity())

    try:
        outcome = execute(cfg, progress=progress, built=built)
    finally:
        if bars is not None:
            bars.close()
    final = outcome.result.final
    return Row(run, final["test_error"], final["train_error"], steps, sensitivity,
               outcome.result.steps, time.perf_counter() - start)


def _print_table(rows: list[Row], width: int, n_threads: int) -> None:
    n_star = RHM_TABLE["n_classes"] * RHM_TABLE["m"] ** RHM_TABLE["L"]
    chance = 1 - 1 / RHM_TABLE["n_classes"]
    rhm_text = ", ".join(f"{k}={v}" for k, v in RHM_TABLE.items())
    print(f"\nRHM({rhm_text}): P = {TRAIN['n_train']} = {TRAIN['n_train'] // n_star} n* "
          f"training inputs, {TRAIN['n_test']} test inputs; width {width}; {n_threads} torch "
          f"thread(s); one seed.\nChance error {chance:.3f}; learned (P* threshold): below "
          f"{chance / 10:.3f}.\n")
    header = (f"{'rule':8s} {'pairing':26s} {'test error':>10s} {'train error':>11s} "
              f"{'S_top start -> end':>18s} {'steps':>6s} {'time':>5s}")
    print(header + "\n" + "-" * len(header))
    for i, row in enumerate(rows):
        if row.run.oracle and not rows[i - 1].run.oracle:
            print("oracle baseline (reads the generator; not self-supervision):")
        print(f"{row.run.label:8s} {row.run.pairing:26s} {row.test_error:10.3f} "
              f"{row.train_error:11.3f} {row.sensitivity[0]:8.2f} -> {row.sensitivity[-1]:5.2f} "
              f"{row.total_steps:6d} {row.seconds:4.0f}s")
    print("\nS_top: synonymic sensitivity of the last hidden layer to the lowest synonyms "
          "(1: not invariant, 0: invariant).\nSelf-supervised rules: local plasticity "
          f"({RUNS[2].epochs} epochs, no labels), then a delta-rule readout on the frozen top "
          "layer (steps: both phases).\nInputs alone: every input seen is one of the P. Oracle "
          "views: partners drawn by the RHM generator (new inputs, chosen by their latents).")


def _plot(rows: list[Row], png: Path, width: int, n_threads: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .figures import rule_colour
    from .options import save_png

    chance = 1 - 1 / RHM_TABLE["n_classes"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained",
                                      gridspec_kw={"width_ratios": [3, 2]})
    names = []
    for row in rows:
        name = f"{row.run.label}, {row.run.pairing}"
        names.append(name)
        style = {"ls": "--", "marker": "x"} if row.run.oracle else {"marker": "."}
        left.plot(row.steps, row.sensitivity, color=rule_colour(row.run.rule), label=name,
                  **style)
    left.set(xlabel="plasticity steps shaping the hidden layers (batches of 128;\n"
                    "self-supervised rules: local phase, before any label)",
             ylabel="top layer's synonymic sensitivity S", ylim=(0, None),
             title="invariance to synonyms while learning")
    left.legend(fontsize="small")
    errors = [row.test_error for row in rows]
    bars = right.barh(range(len(rows)), errors, color=[rule_colour(r.run.rule) for r in rows])
    for bar, row in zip(bars, rows):
        if row.run.oracle:
            bar.set_hatch("//")
            bar.set_alpha(0.6)
        middle = bar.get_y() + bar.get_height() / 2
        right.annotate(f"{row.test_error:.3f}", (row.test_error, middle), xytext=(3, 0),
                       textcoords="offset points", va="center", fontsize="small")
    right.axvline(chance, color="k", ls=":", lw=1, label="chance")
    right.axvline(chance / 10, color="k", ls="--", lw=1, label="10% of chance (P* threshold)")
    right.set_yticks(range(len(rows)), names, fontsize="small")
    right.invert_yaxis()
    right.set(xlabel="test error after training", xlim=(0, 1), title="test error")
    right.legend(fontsize="small", loc="lower right")
    n_star = RHM_TABLE["n_classes"] * RHM_TABLE["m"] ** RHM_TABLE["L"]
    fig.suptitle(f"RHM v = n_c = {RHM_TABLE['v']}, m = {RHM_TABLE['m']}, L = {RHM_TABLE['L']}:"
                 f" P = {TRAIN['n_train'] // n_star} n* inputs, width {width}, one seed")
    save_png(fig, png, f"plastisim demo, width {width}, {n_threads} torch thread(s)")
    plt.close(fig)


def add_parsers(sub) -> None:
    from .options import add_overwrite, add_threads

    demo = sub.add_parser("demo", help="bp, DFA, CLAPP and VICReg on one small RHM (about a "
                                       "minute)")
    demo.add_argument("--width", default=64, help="channels per hidden layer (default 64)")
    demo.add_argument("--out", default=DEFAULT_OUT, help=f"PNG of the figure (default "
                      f"{DEFAULT_OUT}; a missing folder is created)")
    add_overwrite(demo, "an existing --out PNG")
    add_threads(demo)
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)
