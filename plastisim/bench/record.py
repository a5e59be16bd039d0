"""Recording all weights with ``Monitor``: streaming throughput, memory, and overhead in a run.

``bench_record`` measures a netCDF4 stream of stand-in plasticity steps (``_stream``) and real
``train`` runs without and with a monitor (``_train_run``); ``analyses/bench_record.py`` runs it
with the settings of docs/data-format.md, ``plastisim bench --only record`` with short ones.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from .. import rules
from ..network import hierarchy
from ..recording.monitor import Monitor
from ..rhm import RHM
from ..train import TrainOptions, train
from .timing import machine, resident_bytes


class _Timed:
    """A monitor wrapper that adds up the seconds spent inside ``record``."""

    def __init__(self, monitor: Monitor):
        self.monitor, self.seconds = monitor, 0.0

    def record(self, *args, **kwargs) -> bool:
        start = time.perf_counter()
        try:
            return self.monitor.record(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def _train_run(rhm, width: int, steps: int, every: int, path: Path | None) -> tuple[float, float]:
    """(seconds per step, seconds inside Monitor.record per step) of a real ``train`` run
    (bp, batch 128), with a monitor recording all weights if ``path``."""
    n_train = min(1024, rhm.P_max // 2)
    train_set, test_set = rhm.split(n_train, min(512, rhm.P_max - n_train), seed=1)
    net = hierarchy(rhm, width, seed=0)
    timed = _Timed(Monitor(net, weights="all", every=every, path=path)) if path else None
    options = TrainOptions(epochs=-(-steps * 128 // n_train), batch_size=128, stop_loss=0.0,
                           evaluations=1)
    result = train(net, rules.get("bp"), train_set, test_set, options, monitor=timed)
    if timed is not None:
        timed.monitor.close()
        path.unlink()
    return result.elapsed / result.steps, (timed.seconds if timed else 0.0) / result.steps


def _stream(net, steps: int, every: int, path: Path) -> dict:
    """``steps`` stand-in plasticity steps (every weight += a fixed random increment, in place),
    each followed by ``Monitor.record`` streaming to ``path`` (all weights)."""
    gen = torch.Generator().manual_seed(0)
    weights = list(net.weights().values())
    increments = [1e-3 * torch.randn(w.shape, generator=gen).to(w.dtype) for w in weights]
    monitor = _Timed(Monitor(net, weights="all", loss=False, every=every, path=path))
    memory, start = {}, time.perf_counter()
    for i in range(1, steps + 1):
        for w, dw in zip(weights, increments):              # the stand-in plasticity step
            w.add_(dw)
        monitor.record(i, net, None, epoch=0)
        if i in (max(steps // 10, 1), steps):
            memory[i] = tuple(b / 2**20 for b in resident_bytes())   # (current, peak) MB
    monitor.monitor.close()
    (early, (rss0, peak0)), (_, (rss1, peak1)) = sorted(memory.items())
    records, size = monitor.monitor.n, os.path.getsize(path)
    nbytes = records * monitor.monitor.nbytes_per_record
    return {"steps": steps, "records": records,
            "bytes_per_record": monitor.monitor.nbytes_per_record, "memory_at_step": early,
            "rss_mb": [rss0, rss1], "peak_rss_mb": [peak0, peak1],
            "peak_rss_growth_mb": peak1 - peak0, "file_mb": size / 1e6,
            "compression_ratio": size / nbytes, "ms_per_record": 1e3 * monitor.seconds / records,
            "write_mb_per_s": nbytes / 1e6 / monitor.seconds,
            "seconds_in_record": monitor.seconds, "seconds_loop": time.perf_counter() - start}


def bench_record(steps: int = 2_000, every: int = 100, width: int = 256, L: int = 3,
                 train_steps: int = 64, repeats: int = 2, folder: str | None = None) -> dict:
    """Recording all weights of the width-``width``, depth-L PRX CNN every ``every`` steps.

    Stream (``_stream``, files in ``folder``): peak resident memory at steps/10 and at the end,
    file size, write throughput (uncompressed MB recorded per second inside ``record``).
    Overhead on real ``train`` runs (bp, batch 128, ``train_steps`` steps), alternated without
    and with the monitor ``repeats`` times after a warm-up: ``overhead_in_run`` = seconds
    inside ``record`` / the other seconds of the same run (median over runs), and
    ``overhead_ab`` = median(s/step with) / median(s/step without) − 1 (exposed to the load of
    the machine between runs)."""
    rhm = RHM(v=8, n_classes=8, m=4, s=2, L=L, seed=0)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        out = _stream(hierarchy(rhm, width, seed=0), steps, every, Path(tmp) / "stream.nc")
        _train_run(rhm, width, 16, every, None)                     # warm-up, not timed
        runs: dict[str, list] = {"without": [], "with": []}
        for _ in range(repeats):
            runs["without"].append(_train_run(rhm, width, train_steps, every, None))
            runs["with"].append(_train_run(rhm, width, train_steps, every, Path(tmp) / "t.nc"))
    without, with_ = (statistics.median(t for t, _ in runs[k]) for k in ("without", "with"))
    in_run = statistics.median(r / (t - r) for t, r in runs["with"])
    return {"benchmark": "record", "machine": machine(),
            "network": f"width {width}, L={L}, shared, float32", "recorded": "all weights",
            "every": every, **out, "train_steps": train_steps, "repeats": repeats,
            "train_s_per_step_without": without, "train_s_per_step_with": with_,
            "overhead_in_run": in_run, "overhead_ab": with_ / without - 1,
            "train_runs_s_per_step": {k: [t for t, _ in v] for k, v in runs.items()},
            "record_s_per_step": [r for _, r in runs["with"]],
            "timer": "time.perf_counter; train: TrainResult.elapsed / steps; medians"}
