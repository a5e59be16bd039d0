"""A sweep restricted to some values of one axis (``plastisim sweep --only DIM=VALUE``)."""
from __future__ import annotations

import dataclasses

from ..errors import ConfigError
from .plan import Axis, Sweep


def subset(sweep: Sweep, dim: str, values: list[str]) -> Sweep:
    """``sweep`` restricted to the given values of axis ``dim`` (as written on the command
    line: "bp", "0.1", "3"); the runs keep their config hashes, so a later run of the whole
    sweep with ``--resume`` reuses them."""
    axes = list(sweep.axes)
    position = next((k for k, a in enumerate(axes) if a.dim == dim), None)
    if position is None:
        raise ConfigError(f"--only {dim}=...: {dim!r} is not an axis of the sweep; available: "
                          + ", ".join(a.dim for a in axes))
    axis = axes[position]
    labels = {f"{v:g}" if isinstance(v, float) else str(v): k for k, v in enumerate(axis.values)}
    unknown_values = [v for v in values if v not in labels]
    if unknown_values:
        raise ConfigError(f"--only {dim}={unknown_values[0]} is not a value of the axis; "
                          f"available: {', '.join(labels)}")
    keep = sorted({labels[v] for v in values})
    axes[position] = Axis(axis.key, axis.dim, tuple(axis.values[k] for k in keep))
    points = tuple(dataclasses.replace(p, index=p.index[:position] + (keep.index(
        p.index[position]),) + p.index[position + 1:]) for p in sweep.points
        if p.index[position] in keep)
    return dataclasses.replace(sweep, axes=tuple(axes), points=points)
