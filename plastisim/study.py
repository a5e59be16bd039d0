r"""Sample-complexity studies from a merged sweep dataset: fair learning rates and P* with
confidence intervals (``plastisim pstar``).

**Learning-rate selection** (``select_lr``). When ``rule.lr`` is an axis, every rule gets, at
every point of the other axes (P included), the rate whose runs fit the *training* set best;
test error is never read. The score of a run is its final training loss — for the layerwise
self-supervised rules the readout's final training error, since their local losses are not
comparable across rates — averaged over seeds. Runs that all reached the stopping threshold
(status ``converged``) tie on the loss (each stopped just below it) and are ranked by the
steps they needed instead; they rank before any rate where a seed did not converge. A diverged
or failed seed scores +∞. The chosen rate becomes a coordinate ``lr`` of the result.

**P\*** (``summarize``). ``metrics.sample_complexity_from_dataset`` on the seed-averaged test
error along ``n_train_multiple`` (so P* is in units of n_c·m^L of each run's RHM), and a
percentile bootstrap over seeds: B resamples of the seeds with replacement, P* of each
resample's mean curve; a resample whose curve never crosses the threshold counts as +∞ (the
interval is then open above the grid).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from . import rules
from .errors import impossible
from .metrics import sample_complexity_from_dataset
from .options import Status

OVER = "n_train_multiple"
SEED = "seed"
LR = "lr"
#: dims that name what is compared (lines of a figure); the others (rhm.*, network.*) name
#: the setting (panels)
SERIES_DIMS = ("model", "rule")


def _is_readout_rule(name: str) -> bool:
    """Layerwise self-supervised rules: a local phase, then a readout (selected on its error)."""
    return getattr(rules.get(name), "phases", ("joint",))[0] == "local"


SELECT_BY = ("loss", "error")


def lr_scores(ds: xr.Dataset, by: str = "loss") -> xr.DataArray:
    """The per-run selection score (module docstring): train loss, or the readout's train
    error for self-supervised rules (``by="loss"``), or the train error of every rule
    (``by="error"``: for rules whose update does not descend the cross-entropy, e.g. sdfa,
    drtp); +∞ where a run has no final values."""
    if by not in SELECT_BY:
        raise impossible("by", by, f"need one of {', '.join(SELECT_BY)}")
    if by == "error":
        return ds["train_error"].fillna(np.inf)
    names = np.asarray(ds["rule_name"].values, dtype=object)
    readout = np.vectorize(lambda n: bool(n) and _is_readout_rule(str(n)), otypes=[bool])(names)
    score = xr.where(ds["rule_name"].copy(data=readout), ds["train_error"], ds["train_loss"])
    return score.fillna(np.inf)


def _per_rate(ds: xr.Dataset, by: str) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Seed means of the score and of the steps (+∞ without final values), and whether every
    seed converged, at every point of the other axes."""
    score, steps = lr_scores(ds, by), ds["steps"].fillna(np.inf)
    converged = ds["status"] == Status.CONVERGED
    if SEED not in ds.dims:
        return score, steps, converged
    return score.mean(SEED), steps.mean(SEED), converged.all(SEED)


def select_lr(ds: xr.Dataset, dim: str = LR, by: str = "loss") -> xr.Dataset:
    """``ds`` with the ``dim`` axis replaced by the rate chosen at every other point but the
    seeds (module docstring); ``lr`` becomes a coordinate over those points. Reads only
    ``train_loss``, ``train_error``, ``status``, ``steps`` and ``rule_name``. A dataset
    without a ``dim`` axis (no ``rule.lr`` swept) is a ConfigError naming its dimensions."""
    if dim not in ds.dims:
        raise impossible("dim", dim, f"need a dimension of the dataset: {', '.join(ds.dims)}")
    mean_score, mean_steps, all_converged = _per_rate(ds, by)
    # scores are >= 0; all seeds converged: -1 + steps·1e-12 in (-1, 0), below every score,
    # ordered by steps
    key = xr.where(all_converged, -1.0 + mean_steps * 1e-12, mean_score)
    chosen = ds.isel({dim: key.argmin(dim)})
    chosen[dim].attrs = {**ds[dim].attrs, "long_name": f"{dim} chosen on training fit "
                         "(plastisim.study.select_lr)", "candidates": " ".join(
                             f"{v:g}" for v in np.asarray(ds[dim].values, dtype=float))}
    chosen.attrs["lr_selection"] = (
        "per point of every axis but seed: lowest seed-mean final " + (
            "train loss (readout train error for self-supervised rules)" if by == "loss" else
            "train error") + "; all seeds converged: fewest steps; never test error")
    return chosen


def selection_table(ds: xr.Dataset, dim: str = LR, by: str = "loss") -> list[str]:
    """Text table of the selection: per point of the other axes, the score of every rate
    (seed mean; "conv@N": all seeds converged, in N steps on average) and the chosen one."""
    score, steps, converged = _per_rate(ds, by)
    chosen = select_lr(ds, dim, by)[dim]
    others = [d for d in score.dims if d != dim]
    candidates = np.asarray(ds[dim].values, dtype=float)
    header = [*others, *(f"{dim}={v:g}" for v in candidates), "chosen"]
    body = []
    for index in np.ndindex(*(score.sizes[d] for d in others)):
        at = dict(zip(others, index))
        cells = [str(_plain(ds[d].values[i])) for d, i in at.items()]
        for k in range(candidates.size):
            here = {**at, dim: k}
            cells.append(f"conv@{float(steps.isel(here)):.0f}" if bool(converged.isel(here))
                         else f"{float(score.isel(here)):.3g}")
        cells.append(f"{float(chosen.isel(at)):g}")
        body.append(cells)
    widths = [max(len(row[k]) for row in body + [header]) for k in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
            for row in [header, ["-" * w for w in widths], *body]]


def _bootstrap(ds: xr.Dataset, over: str, n_boot: int, seed: int, fraction: float
               ) -> np.ndarray:
    """P* of ``n_boot`` seed resamples: (n_boot, *point shape), +∞ where not crossed."""
    part = ds[["test_error", "n_classes"]]
    n = part.sizes[SEED]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        sample = part.isel({SEED: rng.integers(0, n, n)})
        star = sample_complexity_from_dataset(sample, over, fraction=fraction)
        out.append(np.where(np.isnan(star.values), np.inf, star.values))
    return np.stack(out)


def summarize(ds: xr.Dataset, over: str = OVER, n_boot: int = 1000, level: float = 0.95,
              fraction: float = 0.1, seed: int = 0, select_by: str = "loss") -> xr.Dataset:
    """P* per point of the axes other than ``over`` and seed, with a bootstrap interval, the
    ≤ / > flags, and the seed-mean curves (test error, last-layer sensitivity) along ``over``.
    An ``lr`` axis is first resolved by ``select_lr``."""
    if over not in ds.dims:
        raise impossible("over", over, f"need a dimension of the dataset: {', '.join(ds.dims)}")
    if LR in ds.dims:
        ds = select_lr(ds, by=select_by)
    stars = sample_complexity_from_dataset(ds, over, fraction=fraction, flags=True)
    seeds = [SEED] if SEED in ds.dims else []
    if seeds and ds.sizes[SEED] > 1 and n_boot > 0:
        boot = _bootstrap(ds, over, n_boot, seed, fraction)
        with np.errstate(invalid="ignore"):             # inf - inf between two +∞ resamples
            q = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2], axis=0)
        low, high = np.where(np.isnan(q), np.inf, q)
    else:
        low = high = stars["P_star"].values
    out = stars.assign(P_star_low=stars["P_star"].copy(data=low),
                       P_star_high=stars["P_star"].copy(data=high))
    err = ds["test_error"]
    out["error_mean"] = err.mean(seeds) if seeds else err
    out["error_std"] = err.std(seeds) if seeds else xr.zeros_like(err)
    out["n_seeds"] = err.notnull().sum(seeds) if seeds else err.notnull().astype(int)
    if "sensitivity" in ds:
        last = last_layer_sensitivity(ds["sensitivity"])
        out["sensitivity_last"] = last.mean(seeds) if seeds else last
    for key in ("n_classes", "n_star", "rhm_v", "rhm_m", "rhm_L", "network_width"):
        if key in ds:
            values = ds[key].max([d for d in (*seeds, over) if d in ds[key].dims])
            out[key] = values
    if LR in ds.coords and LR not in ds.dims:
        out = out.assign_coords({LR: ds[LR].max(seeds) if seeds and SEED in ds[LR].dims
                                 else ds[LR]})
    out.attrs.update(interval=f"{level:g} percentile bootstrap over seeds ({n_boot} resamples)",
                     fraction=fraction, over=over, grid=" ".join(
                         f"{v:g}" for v in np.sort(np.asarray(ds[over].values, float))))
    return out


def last_layer_sensitivity(sensitivity: xr.DataArray) -> xr.DataArray:
    """S_{k,l} of each run's last hidden layer k to synonyms below its RHM's last level l = L-1
    (the last finite entries of the NaN-padded (layer, level) matrix)."""
    finite = np.isfinite(sensitivity.values)
    values = np.asarray(sensitivity.values, dtype=float)
    out = np.full(values.shape[:-2], np.nan)
    for index in np.ndindex(out.shape):
        rows = np.flatnonzero(finite[index].any(-1))
        if rows.size:
            cols = np.flatnonzero(finite[index][rows[-1]])
            out[index] = values[index][rows[-1], cols[-1]]
    return sensitivity.isel(layer=0, level=0, drop=True).copy(data=out)


def pstar_text(value: float, crossed: bool, below: bool, grid_max: float) -> str:
    """"3.52", "≤ 0.5" (reached at the smallest P) or "> 16" (never reached)."""
    if not crossed:
        return f"> {grid_max:g}"
    return f"≤ {value:g}" if below else f"{value:.2f}"


def _bound(value: float, grid_max: float) -> str:
    return f"> {grid_max:g}" if not math.isfinite(value) else f"{value:.2f}"


def rows(summary: xr.Dataset) -> list[dict[str, Any]]:
    """One record per point of the non-``over`` axes: its labels, P*, interval, flags, seeds,
    the chosen rates along P (if selected) and the setting."""
    over = summary.attrs["over"]
    grid = np.sort(np.asarray(summary[over].values, dtype=float))
    dims = [d for d in summary["P_star"].dims]
    out = []
    for index in np.ndindex(*(summary.sizes[d] for d in dims)):
        at = dict(zip(dims, index))
        point = summary.isel(at)
        record: dict[str, Any] = {d: _plain(summary[d].values[i]) for d, i in at.items()}
        star, crossed, below = (float(point["P_star"]), bool(point["crossed"]),
                                bool(point["below_grid"]))
        record.update(P_star=_finite(star), P_star_low=_finite(float(point["P_star_low"])),
                      P_star_high=_finite(float(point["P_star_high"])), crossed=crossed,
                      below_grid=below, text=pstar_text(star, crossed, below, grid[-1]),
                      interval=f"[{_bound(float(point['P_star_low']), grid[-1])}, "
                               f"{_bound(float(point['P_star_high']), grid[-1])}]",
                      n_seeds=int(point["n_seeds"].max()))
        for key in ("n_classes", "n_star", "rhm_v", "rhm_m", "rhm_L", "network_width"):
            if key in point:
                record[key] = int(point[key])
        if LR in point.coords and LR not in summary.dims:
            lrs = np.atleast_1d(np.asarray(point[LR].values, dtype=float))
            record["lr"] = {f"{p:g}": float(v) for p, v in zip(summary[over].values, lrs)}
        out.append(record)
    return out


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return value


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def setting_label(record: dict[str, Any]) -> str:
    """"v=8 n_c=8 m=4 L=3 width=128" from a row's setting fields."""
    names = (("rhm_v", "v"), ("n_classes", "n_c"), ("rhm_m", "m"), ("rhm_L", "L"),
             ("network_width", "width"))
    return " ".join(f"{short}={record[key]}" for key, short in names if key in record)


def table(records: Sequence[dict[str, Any]], dims: Sequence[str]) -> list[str]:
    """Aligned text table: the point's labels, setting, P*/n*, interval, seeds, chosen lr."""
    header = [*dims, "setting", "P*/n*", "interval", "seeds", "lr (per P)"]
    body = []
    for r in records:
        lr = " ".join(f"{v:g}" for v in r["lr"].values()) if "lr" in r else ""
        body.append([*(f"{r[d]:g}" if isinstance(r[d], float) else str(r[d]) for d in dims),
                     setting_label(r), r["text"], r["interval"], str(r["n_seeds"]), lr])
    widths = [max(len(row[k]) for row in body + [header]) for k in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
            for row in [header, ["-" * w for w in widths], *body]]
