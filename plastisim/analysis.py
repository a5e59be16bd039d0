r"""Notebook helpers on recorded trajectories (Datasets of docs/data-format.md).

    ds = xarray.open_dataset("run.nc")
    weight_stats(ds)                      # per layer over time: RMS weight, drift, speed
    table = dw_activity(ds, "w2")         # Δw_ij against pre_j and post_i activity
    fit_dw(table)                         # Δw ≈ c_1 + c_pre·pre + c_post·post + c_hebb·pre·post
                                          #        + c_bcm·pre·post²   (least squares)
    dw_map(table, bins=8)                 # mean Δw on a (pre, post) grid of quantile bins
    curve_phases(ds)                      # the evaluations of each phase ("local", "readout")

Weight statistics of projection s, over the records t (w over the recorded indices):

    rms_s(t)   = sqrt(mean w(t)²)
    drift_s(t) = ‖w(t) − w(t_0)‖ / ‖w(t_0)‖                 (t_0: the first record)
    speed_s(t) = RMS(w(t) − w(t_prev)) / (step(t) − step(t_prev))   per plasticity step

Δw versus activity: with the rule's update directions recorded (``updates=``), Δw at a record
is that step's update, and pre / post activity are the rates of the same step (mean over the
batch's streams, then over positions); otherwise Δw is the weight change between consecutive
records per step, set against the rates of the later record. pre_j is the rate of the
pre-synaptic channel feeding fan-in entry j (coordinate ``pre_channel_<s>``). Because the rule
averages products over the batch while the table holds products of averages, the fit measures
the rule's *effective* dependence on mean activity — the quantity cortical rules are written in
(Hebbian: c_hebb > 0; BCM: c_hebb > 0 > c_bcm, threshold θ = −c_hebb / c_bcm).
Weights that are not shared (locally connected) are averaged over positions.

(This module reads Datasets through their methods and imports neither xarray nor netCDF4.)
"""
from __future__ import annotations

import numpy as np

#: terms of ``fit_dw``: name -> function of (pre, post)
TERMS = {"1": lambda pre, post: np.ones_like(pre), "pre": lambda pre, post: pre,
         "post": lambda pre, post: post, "pre*post": lambda pre, post: pre * post,
         "pre*post^2": lambda pre, post: pre * post ** 2}


def curve_phases(ds) -> dict[str, np.ndarray]:
    """The evaluations of each training phase of a learning curve, in training order:
    phase -> indices along ``eval`` ({"joint": all} without an ``eval_phase`` coordinate).
    A layerwise self-supervised run has "local" (its loss is the rule's own) and "readout"
    (cross-entropy of the readout)."""
    n = ds.sizes.get("eval", 0)
    if "eval_phase" not in ds.coords:
        return {"joint": np.arange(n)}
    phases = np.asarray(ds["eval_phase"].values).astype(str)
    return {str(p): np.flatnonzero(phases == p) for p in dict.fromkeys(phases.tolist())}


def phase_starts(ds) -> dict[str, int]:
    """The step after which each phase but the first begins (the last evaluated step of the
    phase before it): e.g. {"readout": 6000}."""
    rows = list(curve_phases(ds).items())
    steps = ds["eval_step"].values
    return {phase: int(steps[rows[k - 1][1]].max()) for k, (phase, _) in enumerate(rows)
            if k > 0 and rows[k - 1][1].size}


def synapse_names(ds) -> list[str]:
    """Projections with recorded weights (variables ``weight_<s>``), in file order."""
    return [str(v)[len("weight_"):] for v in ds.data_vars if str(v).startswith("weight_")]


def weight_stats(ds):
    """RMS weight, drift from the first record and speed per step, for every projection
    (module docstring): a Dataset over ``step`` with ``rms_<s>``, ``drift_<s>``, ``speed_<s>``."""
    names = synapse_names(ds)
    if not names:
        raise ValueError("no recorded weights (variables weight_*) in the dataset")
    out = None
    steps = ds["step"].astype("float64")
    for s in names:
        w = ds[f"weight_{s}"].astype("float64")
        axes = [d for d in w.dims if d != "step"]
        w0 = w.isel(step=0)
        stats = {
            f"rms_{s}": (np.sqrt((w ** 2).mean(axes)), "1", f"RMS weight of projection {s}"),
            f"drift_{s}": (np.sqrt(((w - w0) ** 2).sum(axes) / (w0 ** 2).sum()), "1",
                           f"distance of projection {s} from its first record, relative"),
            f"speed_{s}": (np.sqrt((w.diff("step", label="upper") ** 2).mean(axes))
                           / steps.diff("step", label="upper"), "1 / step",
                           f"RMS weight change of projection {s} per plasticity step"),
        }
        for name, (da, units, long_name) in stats.items():
            da = da.reindex(step=ds["step"]).assign_attrs(units=units, long_name=long_name)
            out = da.to_dataset(name=name) if out is None else out.assign({name: da})
    return out


def _activity(ds, group: str):
    """Rate of ``group`` per channel (mean over positions): (step, channel_<group>)."""
    name = f"rate_{group}"
    if name not in ds:
        raise ValueError(f"the rates of group {group} were not recorded ({name}); record "
                         f"rates={group!r}")
    return ds[name].mean(f"position_{group}")


def dw_activity(ds, synapse: str):
    """Δw_ij with the activity of its pre and post units (module docstring): a Dataset over
    ``sample`` with ``dw``, ``pre``, ``post`` and the step of each sample."""
    source = f"update_{synapse}" if f"update_{synapse}" in ds else f"weight_{synapse}"
    if source not in ds:
        raise ValueError(f"projection {synapse} has no recorded weights or updates; available: "
                         f"{', '.join(synapse_names(ds)) or '(none)'}")
    var = ds[source]
    pre_group, post_group = var.attrs["pre_group"], var.attrs["post_group"]
    if source.startswith("update_"):
        dw = var
    else:
        dw = var.diff("step", label="upper") / ds["step"].diff("step", label="upper")
    if f"position_{synapse}" in dw.dims:
        dw = dw.mean(f"position_{synapse}")
    post = _activity(ds, post_group).sel({f"channel_{post_group}": ds[f"post_{synapse}"].values})
    post = post.rename({f"channel_{post_group}": f"post_{synapse}"})
    pre = _activity(ds, pre_group).sel(
        {f"channel_{pre_group}": ds[f"pre_channel_{synapse}"].values})
    pre = pre.rename({f"channel_{pre_group}": f"pre_{synapse}"})
    pre, post = pre.assign_coords({f"pre_{synapse}": dw[f"pre_{synapse}"].values}), \
        post.assign_coords({f"post_{synapse}": dw[f"post_{synapse}"].values})
    table = dw.to_dataset(name="dw").assign(pre=pre.broadcast_like(dw).sel(step=dw["step"]),
                                            post=post.broadcast_like(dw).sel(step=dw["step"]))
    dims = ("step", f"post_{synapse}", f"pre_{synapse}")
    table = table[["dw", "pre", "post"]].stack(sample=dims).reset_index("sample")
    keep = np.isfinite(table["dw"].values) & np.isfinite(table["pre"].values) & \
        np.isfinite(table["post"].values)
    table = table.isel(sample=np.flatnonzero(keep))
    table.attrs.update(synapse=synapse, dw_source=source, pre_group=pre_group,
                       post_group=post_group)
    return table


def fit_dw(table, terms: tuple[str, ...] = tuple(TERMS)) -> dict[str, float]:
    """Least-squares coefficients of Δw on ``terms`` of (pre, post) (keys of ``TERMS``), with
    ``r2``, the fraction of the variance of Δw explained."""
    pre, post, dw = (table[k].values.astype(np.float64) for k in ("pre", "post", "dw"))
    for term in terms:
        if term not in TERMS:
            raise ValueError(f"term '{term}' is unknown; available: {', '.join(TERMS)}")
    design = np.stack([TERMS[t](pre, post) for t in terms], axis=1)
    coef, *_ = np.linalg.lstsq(design, dw, rcond=None)
    residual = dw - design @ coef
    total = float(((dw - dw.mean()) ** 2).sum())
    out = {t: float(c) for t, c in zip(terms, coef)}
    out["r2"] = 1 - float((residual ** 2).sum()) / total if total > 0 else float("nan")
    return out


def dw_map(table, bins: int = 8):
    """Mean Δw on a grid of (pre, post) quantile bins: a DataArray (pre_bin, post_bin) with the
    bins' mean activities as coordinates ``pre`` and ``post`` (NaN where a bin is empty)."""
    pre, post, dw = (table[k].values for k in ("pre", "post", "dw"))
    edges = [np.unique(np.quantile(x, np.linspace(0, 1, bins + 1))) for x in (pre, post)]
    i = np.clip(np.searchsorted(edges[0], pre, side="right") - 1, 0, len(edges[0]) - 2)
    j = np.clip(np.searchsorted(edges[1], post, side="right") - 1, 0, len(edges[1]) - 2)
    shape = (len(edges[0]) - 1, len(edges[1]) - 1)
    count = np.zeros(shape)
    np.add.at(count, (i, j), 1)
    total = np.zeros(shape)
    np.add.at(total, (i, j), dw)
    centres = [np.bincount(k, weights=x, minlength=n) / np.maximum(np.bincount(k, minlength=n), 1)
               for k, x, n in ((i, pre, shape[0]), (j, post, shape[1]))]
    data_array = type(table["dw"])            # xarray.DataArray, without importing xarray
    with np.errstate(invalid="ignore"):
        mean = total / count
    return data_array(mean, dims=("pre_bin", "post_bin"),
                      coords={"pre": ("pre_bin", centres[0]), "post": ("post_bin", centres[1])},
                      attrs={"units": "1", "long_name": "mean weight change in the bin",
                             "synapse": table.attrs.get("synapse", "")})
