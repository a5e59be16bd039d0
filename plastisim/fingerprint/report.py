"""The fingerprint of a trained rule: one Dataset, and its table.

    fp = fingerprint(plastisim.open_run("run.nc"), stages=4)
    print(table(fp))

``fingerprint`` puts together, for every projection with recorded factors (``factors``), the
BCM-form rate dependence and its sliding threshold (``bcm``), the modulator statistics
(``modulator``) per training stage, and the weight distribution over the records (``weights``)
beside Song et al. (2005)'s log-normal EPSP amplitudes. Dims: ``projection``, ``stage``,
``rbin`` (rate bins of the BCM curve), ``quantile``, ``mbin`` (modulator histogram),
``wrecord`` (the weight records: the initial one and the last of every stage; their steps in
``weight_step``). Stage ranges are per projection (``stage_label``, ``stage_first_step``,
``stage_last_step``: coordinates over (projection, stage)). Every variable has ``units`` (the
model's rates, modulators and weights are in arbitrary units: "1") and ``long_name``; the
global attributes hold the rule, the provenance of the source run (``run_*``: its own global
attributes) and this plastisim's version.
"""
from __future__ import annotations

import datetime as _dt
import math

import numpy as np
import xarray as xr

from ..errors import check_int
from . import factors
from .bcm import bcm
from .modulator import modulator
from .weights import reference, weight_stats

#: the table's columns: header, width, format
COLUMNS = (("projection", 10, "s"), ("modulator", 9, "s"), ("theta", 9, ".3g"),
           ("A_ltd", 9, ".3g"), ("A_ltp", 9, ".3g"), ("slides", 6, "s"), ("+", 5, ".2f"),
           ("-", 5, ".2f"), ("silent", 6, ".2f"), ("CV", 9, ".3g"), ("skew", 9, ".3g"),
           ("ln_sigma", 9, ".3g"))


def fingerprint(ds: xr.Dataset, stages: int = 4, *, bins: int = 12,
                band: tuple[float, float] = (0.0, math.inf),
                source: str = "the dataset") -> xr.Dataset:
    """The fingerprint (module docstring) of a run's Dataset ``ds`` with recorded factors, over
    ``stages`` training stages of equal record counts, the BCM curve in ``bins`` quantile bins
    of the post rate at active pre values ``band`` (lo < x <= hi). ``source`` names the run in
    messages and attributes (a one-line ConfigError when ``ds`` has no factors).

    Stages are per projection (a layerwise rule's hidden layers learn before its readout): a
    projection with fewer factor records than ``stages`` has one stage per record, the others
    NaN (``bcm_note`` says so); one with no factor record after step 0 is left out (attribute
    ``projections_without_records``)."""
    n_stages = factors.check_stages(ds, stages, source)
    bins = check_int("bins", bins, 2)
    prods = {s: factors.products(ds, s) for s in factors.projections(ds, source)}
    kept = [s for s, p in prods.items() if p.sizes["step"]]
    fp = xr.concat([_projection(ds, prods[s], s, n_stages, bins, band) for s in kept],
                   dim="projection", data_vars="all", coords="minimal", compat="override",
                   combine_attrs="override")
    fp = fp.set_coords(["stage_label", "stage_first_step", "stage_last_step", "weight_step"])
    fp = fp.assign_coords(
        projection=("projection", np.array(kept, dtype=str), {"long_name": "projection"}),
        stage=("stage", np.arange(n_stages), {
            "units": "1", "long_name": "training stage (equal numbers of factor records)"}),
        rbin=("rbin", np.arange(bins), {"units": "1", "long_name": "post-rate quantile bin"}),
        wrecord=("wrecord", np.arange(n_stages + 1), {
            "units": "1", "long_name": "weight record: 0 the initial one, k the end of stage k"}))
    fp = fp.merge(reference(), combine_attrs="override")
    fp.attrs = _attrs(ds, source, band)
    fp.attrs["projections_without_records"] = ", ".join(s for s in prods if s not in kept)
    return fp


def _projection(ds: xr.Dataset, prod: xr.Dataset, s: str, n_stages: int, bins: int,
                band: tuple[float, float]) -> xr.Dataset:
    """BCM, modulator and weights of projection ``s`` over its own stages, padded to
    ``n_stages`` (dims stage, rbin, quantile, mbin, wrecord)."""
    steps = prod["step"].values
    n = min(n_stages, steps.size)
    stage, labels = factors.stages(steps, n)
    first = [int(steps[stage == i].min()) for i in range(n)]
    last = [int(steps[stage == i].max()) for i in range(n)]
    part = xr.merge([bcm(prod, stage, bins, band), modulator(prod, stage)],
                    combine_attrs="override")
    cf = {"units": "1", "long_name": "{} recorded step of the stage"}
    part = part.assign(
        stage_label=("stage", np.array(labels, dtype=str), {
            "long_name": "recorded steps of the stage, first-last"}),
        stage_first_step=("stage", first, {**cf, "long_name": cf["long_name"].format("first")}),
        stage_last_step=("stage", last, {**cf, "long_name": cf["long_name"].format("last")}))
    weights = weight_stats(ds, s, [int(ds["step"].values[0]), *last])
    weights = weights.assign(weight_step=("step", weights["step"].values, {
        "units": "1", "long_name": "plasticity steps done at the weight record"}))
    weights = weights.drop_vars("step").rename_dims(step="wrecord")
    if n < n_stages:        # pad: stage (and wrecord) n .. n_stages - 1 missing
        fill = {"bcm_note": f"only {n} factor records: {n} stages", "stage_label": "",
                "bcm_count": 0, "stage_first_step": -1, "stage_last_step": -1}
        part = part.assign_coords(stage=np.arange(n)).reindex(
            stage=np.arange(n_stages), fill_value={**fill, **{
                k: np.nan for k in part.data_vars if k not in fill}}).drop_vars("stage")
        weights = weights.assign_coords(wrecord=np.arange(n + 1)).reindex(
            wrecord=np.arange(n_stages + 1), fill_value={"weight_step": -1, **{
                k: np.nan for k in weights.data_vars if k != "weight_step"}}
        ).drop_vars("wrecord")
    return xr.merge([part, weights], combine_attrs="override")


def _attrs(ds: xr.Dataset, source: str, band: tuple[float, float]) -> dict:
    from .. import __version__
    from ..data import SONG2005

    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    run = {f"run_{k}": v if isinstance(v, (str, int, float, np.number)) else str(v)
           for k, v in ds.attrs.items()}
    return {"Conventions": "CF-1.8", "title": f"fingerprint of the plasticity rule "
                                              f"{ds.attrs.get('rule', 'unknown')}",
            "rule": str(ds.attrs.get("rule", "unknown")), "source": f"plastisim {__version__}",
            "plastisim_version": __version__, "run_file": source,
            "history": f"{now} fingerprint of {source} by plastisim {__version__}",
            "pre_band": f"{band[0]} < x <= {band[1]} (active pre-synaptic inputs of the BCM "
                        "curve)", "references": SONG2005, **run}


def _last(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else math.nan


def _cell(value, width: int, fmt: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{'-':>{width}}"
    return f"{value:>{width}{fmt}}" if fmt != "s" else f"{value:<{width}}"


def last_stage(row: xr.Dataset) -> int:
    """The last stage of one projection's row of a fingerprint that has records."""
    return int(np.flatnonzero(row["stage_label"].values.astype(str) != "")[-1])


def table(fp: xr.Dataset) -> str:
    """The fingerprint as a text table: one row per projection (BCM fit and sign fractions of
    its last stage, whose steps are shown, the slide verdict over the stages, the weight shape
    at the end of that stage), the Song et al. (2005) shape under it, then the fit notes."""
    head = (f"fingerprint of rule {fp.attrs.get('rule', 'unknown')} "
            f"({fp.attrs.get('run_file', '')}), {fp.sizes['stage']} stages: each projection's "
            "last stage; weights at its end")
    columns = (COLUMNS[0], ("steps", 11, "s"), *COLUMNS[1:])
    lines = [head, " ".join(_cell(h, w, "s") if fmt == "s" else f"{h:>{w}}"
                            for h, w, fmt in columns)]
    notes = []
    for p in fp["projection"].values:
        row = fp.sel(projection=p)
        at = row.isel(stage=last_stage(row))
        slides = ("n.a." if not math.isfinite(float(row["theta_change"]))
                  else "yes" if bool(row["theta_slides"]) else "no")
        values = (str(p), str(at["stage_label"].values), str(row["modulator_used"].values),
                  *(float(at[k]) for k in ("bcm_theta", "bcm_a_ltd", "bcm_a_ltp")), slides,
                  *(float(at[k]) for k in ("fraction_positive", "fraction_negative",
                                           "fraction_silent")),
                  *(_last(row[k].values) for k in ("weight_cv", "weight_skew",
                                                    "weight_ln_sigma")))
        lines.append(" ".join(_cell(v, w, fmt) for v, (_, w, fmt) in zip(values, columns)))
        notes += [f"  {p}, stage {i + 1}: {n}" for i, n in enumerate(row["bcm_note"].values)
                  if str(n)]
    lines.append(f"Song et al. 2005 (L5 -> L5 EPSPs, rat visual cortex, log-normal): CV "
                 f"{float(fp['song2005_cv']):.3g}, skew {float(fp['song2005_skewness']):.3g}, "
                 f"ln_sigma {float(fp['song2005_sigma']):.3g} (derived from sigma^2 = "
                 f"{float(fp['song2005_sigma']) ** 2:.4g})")
    return "\n".join(lines + (["notes:"] + notes if notes else []))
