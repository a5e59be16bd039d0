"""Direct-feedback rules versus backprop on the RHM, and the 2×2 masking ablation.

    python analyses/masking.py [--out runs/masking] [--rules bp fa bp_nomask dfa sdfa drtp]
                               [--seeds 0 1 2] [--multiples 0.5 1 2 4 8 16] [--width 256]
                               [--steps 3000] [--min-epochs 100] [--L 3 --m 4]

For every rule (spec: ``name`` or ``name:lr=1.0,...``), seed and P = multiple · n_c·m^L: train
the PRX CNN with the rule's parameters (defaults as models/<rule>.toml: lr = 0.1·width, momentum
0.9, PRX weight decay, cosine schedule, stop at train loss < 0.01) for max(``--steps`` SGD steps
of batch 128, ``--min-epochs`` epochs) — a fixed number of epochs alone would give small P far
fewer steps — then measure the test error on up to 10,000 unseen data and the synonymic
sensitivity S_{k,l} of every hidden layer k and level l. Writes ``<out>.nc`` (dims rule,
multiple, seed, layer, level; rewritten after every run) and ``<out>.png``; prints P* per rule.
(``plastisim sweep analyses/masking.toml`` runs the same study through the sweep engine.)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

import plastisim as ps
from _study import report, study

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/masking")
    parser.add_argument("--rules", nargs="+", default=["bp", "fa", "bp_nomask", "dfa", "sdfa",
                                                       "drtp"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--multiples", nargs="+", type=float, default=[0.5, 1, 2, 4, 8, 16])
    parser.add_argument("--steps", type=int, default=3000, help="least SGD steps per run")
    parser.add_argument("--min-epochs", type=int, default=100, help="least epochs per run")
    parser.add_argument("--v", type=int, default=8)
    parser.add_argument("--m", type=int, default=4)
    parser.add_argument("--L", type=int, default=3)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rhm = ps.RHM(v=args.v, n_classes=args.v, m=args.m, s=2, L=args.L, seed=0)
    out = Path(args.out)
    ds = study(rhm, args.rules, args.multiples, args.seeds, args.width, out,
               "Direct-feedback rules vs backprop on the RHM", steps=args.steps,
               min_epochs=args.min_epochs)
    report(ds, rhm, out.with_suffix(".png"))
