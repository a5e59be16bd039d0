"""A quick probe of the detached-target rules at v = n_c = 16, m = 4, L = 3, width 128, one seed.

    python analyses/grammar_free/stopgrad_probe.py LR MULTIPLE ['{"predictor": "delta"}'] [SEED]
    python analyses/grammar_free/stopgrad_probe.py LR MULTIPLE '{"rule": "inputpred"}'

Trains ``stopgrad`` (or the rule named in the JSON; siblings, halves at the top layer) on P = MULTIPLE · n* training inputs
for max(3000 steps of batch 128, 10 epochs) of local plasticity, then the delta-rule readout
(up to 300 epochs), and prints one JSON line: the final test and readout-training errors and
the synonymic sensitivity S of every layer to synonyms re-drawn below level L − 1 (on 2000
test inputs). A probe, not a study: the rates of a study are chosen on the readout's
training error by ``stopgrad_lr_v16_m4_L3.toml``.
"""
import json
import sys
import time

import torch

import plastisim as ps
from plastisim import rules
from plastisim.metrics import synonymic_sensitivity

torch.set_num_threads(1)
lr, multiple = float(sys.argv[1]), float(sys.argv[2])
extra = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
rhm = ps.RHM(v=16, n_classes=16, m=4, s=2, L=3, seed=seed)
n = int(multiple * rhm.n_star)
train_set, test_set = rhm.split(n, 4000, seed=1)
net = ps.hierarchy(rhm, 128, seed=0)
name = extra.pop("rule", "stopgrad")
rule = rules.get(name, lr=lr, readout_epochs=300, **extra)
epochs = max(3000 * 128 // n, 10)
start = time.perf_counter()
result = ps.train(net, rule, train_set, test_set,
                  ps.TrainOptions(epochs=epochs, batch_size=128, stop_loss=0.01))
S = synonymic_sensitivity(net, rhm, test_set[:2000], rhm.L - 1)
print(json.dumps({"rule": name, "lr": lr, "multiple": multiple, **extra, "seed": seed,
                  "test_error": result.final["test_error"],
                  "train_error": result.final["train_error"], "status": str(result.status),
                  "S_layers": [round(s, 3) for s in S],
                  "seconds": round(time.perf_counter() - start, 1)}))
