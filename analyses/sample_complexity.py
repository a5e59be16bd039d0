"""Sample complexity of backprop and the layerwise self-supervised rules on the RHM.

    python analyses/sample_complexity.py [--out runs/sample_complexity] [--width 64]
        [--rules bp 'vicreg:lr=5.0,view_level="matched"' ...] [--seeds 0] [--multiples ...]

Every rule trains the same CNN on the same P = multiple · n_c·m^L inputs (v = n_c = 8, m = 4,
L = 3 by default) and is tested on unseen data. Budgets at every P: bp runs max(``--steps``,
``--min-epochs`` passes) as in masking.py; self-supervised rules run max(``--local-steps``,
``--local-epochs`` passes) of local plasticity, then up to ``--readout-epochs`` of delta-rule
readout on the frozen top layer (stopping at train loss < 0.01). Writes <out>.nc and <out>.png
and prints P* per rule. Each rule spec states its pairs and view level (docs/ssl.md).
"""
import argparse
from pathlib import Path

import torch

import plastisim as ps
from _study import report, study

DEFAULT_RULES = ["bp", 'vicreg:lr=5.0,readout_lr=1.0,view_level="lowest"',
                 'vicreg:lr=5.0,readout_lr=1.0,view_level="matched"',
                 'vicreg:lr=5.0,readout_lr=1.0,pairs="siblings"']

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/sample_complexity")
    parser.add_argument("--rules", nargs="+", default=DEFAULT_RULES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--multiples", nargs="+", type=float, default=[0.5, 1, 2, 4, 8])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--local-epochs", type=int, default=30,
                        help="least epochs of local plasticity")
    parser.add_argument("--local-steps", type=int, default=3000,
                        help="least steps of local plasticity (batch 128)")
    parser.add_argument("--readout-epochs", type=int, default=1000,
                        help="most readout epochs (stops at train loss < 0.01)")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--min-epochs", type=int, default=100)
    parser.add_argument("--m", type=int, default=4)
    parser.add_argument("--L", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rhm = ps.RHM(v=8, n_classes=8, m=args.m, s=2, L=args.L, seed=0)
    out = Path(args.out)
    ds = study(rhm, args.rules, args.multiples, args.seeds, args.width, out,
               "Sample complexity: backprop vs layerwise self-supervised rules",
               steps=args.steps, min_epochs=args.min_epochs, local_epochs=args.local_epochs,
               local_steps=args.local_steps, readout_epochs=args.readout_epochs)
    report(ds, rhm, out.with_suffix(".png"))
