"""Selections of names and indices: which synapses, groups or traces, and which entries of an axis.

    parse_selection("0:64:4")                      -> slice(0, 64, 4)
    parse_indices(["w1.post=0:16"])                -> {"w1": {"post": "0:16"}}
    resolve_selection("indices w1.post", "0:16", 64) -> array([0, ..., 15])  (None: everything)
    resolve_names("synapse", "w1,w2", net.synapses)  -> ["w1", "w2"]

An index selection is a list, range, slice or tensor of indices, or a string "0:16", "0:64:4",
"3,5,9". Used by ``Monitor`` (what to record) and ``record.export`` (what to keep); it knows no
files and no network, only numbers and names.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import impossible, not_of_form, unknown
from ..validate import parse_assignment


def parse_selection(text: str) -> slice | list[int]:
    """"0:16" -> slice(0, 16), "0:64:4" -> slice(0, 64, 4), "3,5,9" / "7" -> [3, 5, 9] / [7]."""
    text = str(text).strip()
    try:
        if ":" in text:
            parts = [int(p) if p.strip() else None for p in text.split(":")]
            if len(parts) > 3:
                raise ValueError
            return slice(*parts)
        return [int(p) for p in text.split(",")]
    except ValueError:
        raise not_of_form("index selection", text, "start:stop[:step] or i,j,k") from None


def parse_indices(entries: Iterable[str]) -> dict[str, dict[str, Any]]:
    """["w1.post=0:16", "h1.channel=3,5"] -> {"w1": {"post": "0:16"}, "h1": {"channel": "3,5"}}."""
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        key, value = parse_assignment(entry, "index selection", "name.axis=selection",
                                      "e.g. w1.post=0:16", dotted=True)
        name, _, axis = key.rpartition(".")
        out.setdefault(name, {})[axis] = value
    return out


def resolve_selection(what: str, value: Any, n: int) -> np.ndarray | None:
    """Indices (int64, unique, in 0..n-1) of ``value``; None when it is everything in order."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_selection(value)
    if isinstance(value, slice):
        start, stop, step = value.start or 0, n if value.stop is None else value.stop, \
            value.step or 1
        if not (0 <= start and stop <= n and step > 0):
            shown = f"{start}:{stop}" + (f":{step}" if step != 1 else "")
            raise impossible(what, shown, f"need 0 <= start, stop <= {n} and step > 0 (the "
                             f"axis has {n} entries)")
        value = range(start, stop, step)
    idx = np.asarray(torch.as_tensor(value).cpu() if isinstance(value, Tensor) else value)
    idx = idx.reshape(-1)
    if idx.size == 0 or idx.dtype.kind not in "iu":
        raise impossible(what, value, "need a non-empty selection of integer indices")
    if idx.min() < 0 or idx.max() >= n:
        raise impossible(what, idx.tolist() if idx.size < 8 else f"{idx.min()}..{idx.max()}",
                         f"need indices in 0..{n - 1} (the axis has {n} entries)")
    if np.unique(idx).size != idx.size:
        raise impossible(what, value, "need each index at most once")
    return None if np.array_equal(idx, np.arange(n)) else idx.astype(np.int64)


def resolve_names(kind: str, value: Any, available: Iterable[str]) -> list[str]:
    """The names ``value`` selects among ``available``: "all", one name, "a,b" or a list;
    None, False or "" select nothing. An unknown name is an error listing ``available``."""
    available = list(available)
    if value is None or value is False or value == "":
        return []
    names = available if value == "all" else \
        [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    for name in names:
        if name not in available:
            raise unknown(kind, name, available)
    return names
