"""What every benchmark reports with its figures: median wall times, the machine, the process's
resident memory; and how a benchmark script prints its JSON (``emit``)."""
from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine() -> dict:
    """What the figures were measured on."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(), "python": platform.python_version()}


def resident_bytes() -> tuple[int, int]:
    """(current, peak) resident memory of this process in bytes: VmRSS and VmHWM of
    /proc/self/status (Linux; OSError where there is no such file)."""
    fields = {line.split(":")[0]: int(line.split()[1]) * 1024
              for line in Path("/proc/self/status").read_text().splitlines()
              if line.startswith(("VmRSS:", "VmHWM:"))}
    return fields["VmRSS"], fields["VmHWM"]


def emit(result: dict, out: Path | None = None) -> str:
    """Print ``result`` as indented JSON, and also write it to ``out`` (folders created)."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    return text
