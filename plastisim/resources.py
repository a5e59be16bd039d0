"""The memory a run needs, estimated from its sizes before anything is allocated.

    parts = estimate(sizes)        # bytes: grammar, data, inputs, network, step
    check_memory(sizes, reference, "cpu")   # one-line ConfigError when it does not fit

``sizes`` maps config keys to values (``"rhm.L"``, ``"network.width"``, ``"train.n_train"``,
...; ``SIZE_KEYS``). The estimate counts, with S = s**L tokens per input and D = (S−1)/(s−1)
tree nodes, N = n_train + n_test inputs and B = min(batch_size, n_train):

    grammar   the production rules and their decoding tables (int64)
    data      the N latent trees, choices and tokens (int64, with the sampler's copies)
    inputs    their one-hot encoding, N · v · S floats
    network   the weights, their gradients, momentum buffers and fixed feedback (4 copies)
    step      one step's rates, drives and receptive fields (B rows, twice for the views of
              a layerwise rule) or one evaluation chunk of 4096 rows, the larger

It is an estimate within a small factor, enough to refuse a run that cannot fit (a width of
10^9, a billion inputs) with one line, instead of a traceback from the allocator or the kernel's
OOM killer. The machine's figure is MemAvailable (or the cgroup's limit, if lower), or the free
memory of the CUDA device for what lives there.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from .errors import ConfigError, shown

SIZE_KEYS = ("rhm.v", "rhm.n_classes", "rhm.m", "rhm.s", "rhm.L", "network.width",
             "network.depth", "network.shared", "train.n_train", "train.n_test",
             "train.batch_size")
EVAL_CHUNK = 4096       # rows per evaluation chunk (metrics.predict)
INT64 = 8


def _power(base: float, exponent: float) -> float:
    try:
        return float(base) ** exponent
    except OverflowError:
        return math.inf


def estimate(sizes: dict[str, Any], itemsize: int = 4, views: bool = False) -> dict[str, float]:
    """Bytes per part (module docstring) of a run with ``sizes``; ``itemsize``: bytes of a
    float (4: float32); ``views``: a layerwise rule (two forward passes per step)."""
    v, n_c, m, s, L = (sizes[f"rhm.{k}"] for k in ("v", "n_classes", "m", "s", "L"))
    width, shared = sizes["network.width"], sizes["network.shared"]
    depth = L if sizes["network.depth"] is None else sizes["network.depth"]
    n_train, n = sizes["train.n_train"], sizes["train.n_train"] + sizes["train.n_test"]
    S = _power(s, L)
    D = (S - 1) / (s - 1)
    grammar = 4 * INT64 * m * s * (n_c + v * (L - 1))
    data = INT64 * n * (4 * (1 + D) + S)
    inputs = itemsize * n * v * S
    weights, activations, channels = 0.0, 0.0, v
    for layer in range(1, depth + 1):
        positions = S / _power(s, layer)
        weights += width * channels * s * (1 if shared else positions)
        activations += (width + channels * s) * positions      # rates, drives; fields
        channels = width
    weights += n_c * width
    rows = min(sizes["train.batch_size"], n_train) * (2 if views else 1)
    step = itemsize * activations * max(2 * rows, EVAL_CHUNK)
    if views:          # the readout phase keeps the top layer's fields of every input
        step += itemsize * n_train * width
    return {"grammar": grammar, "data": data, "inputs": inputs, "network": 4 * itemsize * weights,
            "step": step}


def _meminfo_available() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> float | None:
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        return None if limit == "max" else float(limit) - float(used)
    except (OSError, ValueError):
        return None


def available_bytes(device: str = "cpu") -> float:
    """Memory this machine can give a run now: the host's (MemAvailable, the cgroup's limit if
    lower, else the physical memory) or the CUDA device's free memory."""
    if str(device).startswith("cuda"):
        import torch
        return float(torch.cuda.mem_get_info(torch.device(device))[0])
    figures = [f for f in (_meminfo_available(), _cgroup_available()) if f is not None]
    if not figures:
        try:
            figures = [float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))]
        except (ValueError, OSError, AttributeError):
            return math.inf
    return min(figures)


def human(n_bytes: float) -> str:
    """``1.5 GB``-style size (powers of 1000), ``1.2e+25 B`` beyond exabytes."""
    for unit, scale in (("EB", 1e18), ("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6),
                        ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}" if n_bytes < 1000 * 1e18 else \
                f"{n_bytes:.2g} B"
    return f"{n_bytes:.0f} B"


def _culprit(sizes: dict[str, Any], reference: dict[str, Any], total, **kw) -> str:
    """The key whose reference value lowers the estimate most (the one to reduce)."""
    best, lowest = "network.width", math.inf
    for key, value in reference.items():
        if key in sizes and sizes[key] != value and value is not None:
            lowered = sum(estimate({**sizes, key: value}, **kw).values())
            if lowered < lowest and lowered < total:
                best, lowest = key, lowered
    return best


def check_memory(sizes: dict[str, Any], reference: dict[str, Any], device: str = "cpu",
                 itemsize: int = 4, views: bool = False) -> dict[str, float]:
    """The estimate, if the machine has that much memory; else a one-line ConfigError that
    names the key to reduce (the one whose ``reference`` value helps most) and both figures."""
    parts = estimate(sizes, itemsize, views)
    on_device = str(device).startswith("cuda")
    needs = {"host": sum(parts.values()) - (parts["network"] + parts["step"] if on_device else 0)}
    if on_device:
        needs[str(device)] = parts["inputs"] + parts["network"] + parts["step"]
    for where, need in needs.items():
        have = available_bytes(device if where != "host" else "cpu")
        if need <= have:
            continue
        total = sum(parts.values())
        key = _culprit(sizes, reference, total, itemsize=itemsize, views=views)
        detail = ", ".join(f"{name} {human(b)}" for name, b in
                           sorted(parts.items(), key=lambda item: -item[1]))
        raise ConfigError(f"{key}={shown(sizes[key])} is impossible on this machine: the run "
                          f"needs about {human(need)} of memory ({detail}) and "
                          f"{'the host' if where == 'host' else where} has {human(have)} "
                          f"available; need a smaller {key}")
    return parts
