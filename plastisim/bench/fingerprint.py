"""The fingerprint's cost against the training it reads: ``bench_fingerprint``.

A run of each rule trains at width 128 with its three factors recorded in memory (``Monitor``
with ``factors="all"``, the study's selection and record interval), then ``fingerprint`` reads
the recording; the figure is the fingerprint's time over the training's (same process, same
machine). ``analyses/fingerprint/study.py`` measures the same on the study's runs.
"""
from __future__ import annotations

import time

import torch

from .. import rules as registry
from ..fingerprint import fingerprint
from ..network import hierarchy
from ..recording.monitor import Monitor
from ..rhm import RHM
from ..train import TrainOptions, train
from .timing import machine

#: rule -> (its parameters, epochs): the study's settings (analyses/fingerprint/*.toml)
RULES = {"bp": ({"lr": 1.0}, 100), "dfa": ({"lr": 1.0}, 100),
         "clapp": ({"lr": 50.0, "pairs": "siblings", "top_layer": "halves",
                    "pred_init_std": 0.1, "readout_epochs": 200}, 30)}


def _selection(width: int) -> list[str]:
    """The study's selection at width 128 (32 post units, every 4th fan-in entry), scaled."""
    post, fan_in = min(32, width), 2 * width
    return [f"w1.post=0:{post}", f"w2.post=0:{post}", f"w2.pre=0:{fan_in}:4",
            f"w3.post=0:{post}", f"w3.pre=0:{fan_in}:4"]


def bench_fingerprint(width: int = 128, epochs: int | None = None, every: int = 100,
                      rules: tuple[str, ...] = tuple(RULES)) -> dict:
    """Seconds of training and of the fingerprint of one run per rule, and their ratio (the
    fingerprint's share, to keep under 0.1). ``epochs`` overrides the study's (short runs for
    a quick check)."""
    rhm = RHM(v=16, n_classes=16, m=4, s=2, L=3, seed=0)
    train_set, test_set = rhm.split(8192, 2000, seed=1)
    out = {"machine": machine(), "width": width, "every": every, "runs": {}}
    for name in rules:
        params, default_epochs = RULES[name]
        net = hierarchy(rhm, width, seed=0)
        mon = Monitor(net, weights="all", factors="all", factor_streams=8, every=every,
                      factor_gamma=name == "clapp",
                      indices=_selection(width))
        start = time.perf_counter()
        train(net, registry.get(name, **params), train_set, test_set,
              TrainOptions(epochs=epochs or default_epochs), rhm=rhm, monitor=mon)
        trained = time.perf_counter() - start
        ds = mon.to_xarray()
        start = time.perf_counter()
        fingerprint(ds, stages=min(4, ds.sizes["step"] - 1))
        seconds = time.perf_counter() - start
        out["runs"][name] = {"train_s": trained, "fingerprint_s": seconds,
                             "fingerprint_over_train": seconds / trained,
                             "records": int(ds.sizes["step"]), "threads": torch.get_num_threads()}
    return out
