r"""Modulator statistics of a recorded rule, per projection and training stage.

Sign fractions: of the modulator values v that are positive (v > tol), negative (v < −tol) and
silent (|v| <= tol, tol = ``SILENT_REL`` · max|v| over the projection's records; v == 0 is
always silent). v is M over the (entry, post unit) samples or, when the rule records a global
scalar modulator of the pair (``factor_gamma_<s>``, CLAPP's γ ∈ {+1, −1, 0}; not all NaN),
γ over the entries; ``modulator_used`` says which.

Where the gate is open (post_term = f'(a) > 0; the readout's is always 1): the quantiles
``QUANTILES``, mean and standard deviation of M; its histogram in ``HIST_BINS`` fixed bins of
M / scale on [−1, 1] (scale = the 99th percentile of |M| over the stage's open gates,
``modulator_scale``: the histograms compare shapes, the scales sizes; values beyond go into the
end bins), as the fraction of the stage's open samples per bin; the Pearson correlations of M
with the post rate r and with the pre activity x̄_e = mean_k x_{e,k}, the mean of the entry's
receptive field (NaN when either is constant).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

SILENT_REL = 1e-12
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
HIST_BINS = 40
SCALE_QUANTILE = 0.99
EDGES = np.linspace(-1.0, 1.0, HIST_BINS + 1)
#: long names of the per-stage statistics
LABELS = {
    "fraction_positive": "fraction of modulator values v > {rel} max|v| (v: modulator_used)",
    "fraction_negative": "fraction of modulator values v < -{rel} max|v| (v: modulator_used)",
    "fraction_silent": "fraction of silent modulator values, |v| <= {rel} max|v| (v: "
                       "modulator_used)",
    "gate_open": "fraction of (entry, post unit) samples with an open gate (post_term > 0)",
    "mean": "mean of M where the gate is open",
    "std": "standard deviation of M where the gate is open",
    "corr_rate": "Pearson correlation of M with the post rate r (open gates)",
    "corr_pre": "Pearson correlation of M with the mean pre value of the entry's receptive "
                "field (open gates)",
    "scale": f"{SCALE_QUANTILE:g} quantile of |M| over the open gates (the histogram's unit)"}
#: their variable names where not the key
NAMES = {"mean": "modulator_mean", "std": "modulator_std", "scale": "modulator_scale",
         "gate_open": "gate_open_fraction",
         "corr_rate": "corr_modulator_rate", "corr_pre": "corr_modulator_pre"}


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return np.nan
    return float(np.corrcoef(a, b)[0, 1])


def sign_fractions(v: np.ndarray, tol: float) -> tuple[float, float, float]:
    """(positive, negative, silent) fractions of the finite values ``v`` (module docstring)."""
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.nan, np.nan, np.nan
    return (float(np.mean(v > tol)), float(np.mean(v < -tol)),
            float(np.mean(np.abs(v) <= tol)))


def _arrays(prod: xr.Dataset) -> dict[str, np.ndarray]:
    """M, post_term, r (records, path, stream, fpos, post), x̄ broadcast to that shape, and
    the modulator v of the sign fractions."""
    def values(name: str, last: str) -> np.ndarray:
        return prod[name].transpose("step", ..., last).values.astype(np.float64)

    m = values("M", "post")
    xbar = values("x", "pre").mean(axis=-1)                            # (records, entry)
    out = {"M": m, "post_term": values("post_term", "post"), "r": values("r", "post"),
           "xbar": np.broadcast_to(xbar[..., None], m.shape)}
    out["v"] = (prod["gamma"].transpose("step", ...).values.astype(np.float64)
                if _uses_gamma(prod) else m)
    return out


def _uses_gamma(prod: xr.Dataset) -> bool:
    """Whether the sign fractions count gamma: recorded, and not all NaN (a readout's)."""
    return "gamma" in prod and bool(np.isfinite(prod["gamma"].values).any())


def _stage(a: dict[str, np.ndarray], rows: np.ndarray, is_open: np.ndarray,
           tol: float) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """The statistics ``LABELS`` of the records ``rows``, the quantiles and the histogram."""
    out = dict.fromkeys(LABELS, np.nan)
    q, hist = np.full(len(QUANTILES), np.nan), np.full(HIST_BINS, np.nan)
    out["fraction_positive"], out["fraction_negative"], out["fraction_silent"] = \
        sign_fractions(a["v"][rows], tol)
    gate, finite = is_open[rows], np.isfinite(a["M"][rows])
    out["gate_open"] = gate.sum() / finite.sum() if finite.any() else np.nan
    m = a["M"][rows][gate]                                  # M at the open gates
    if m.size:
        q = np.quantile(m, QUANTILES)
        out["mean"], out["std"] = m.mean(), m.std()
        scale = float(np.quantile(np.abs(m), SCALE_QUANTILE))
        out["scale"] = scale = scale if scale > 0 else 1.0
        hist = np.histogram(np.clip(m / scale, -1, 1), EDGES)[0] / m.size
        out["corr_rate"] = _pearson(m, a["r"][rows][gate])
        out["corr_pre"] = _pearson(m, a["xbar"][rows][gate])
    return out, q, hist


def modulator(prod: xr.Dataset, stage: np.ndarray) -> xr.Dataset:
    """Sign fractions, open-gate quantiles, mean, std, histogram and correlations (stage,
    quantile, mbin) of one projection's ``products`` (``update=False`` suffices); ``stage``:
    the stage of every record (``factors.stages``)."""
    a = _arrays(prod)
    v_max = np.nanmax(np.abs(a["v"])) if np.isfinite(a["v"]).any() else 0.0
    tol = SILENT_REL * v_max
    is_open = (a["post_term"] > 0) & np.isfinite(a["M"])
    per_stage = [_stage(a, np.flatnonzero(stage == s), is_open, tol)
                 for s in range(int(stage.max()) + 1)]
    stats = {k: np.array([p[0][k] for p in per_stage], dtype=np.float64) for k in LABELS}
    q, hist = np.stack([p[1] for p in per_stage]), np.stack([p[2] for p in per_stage])
    used = "gamma" if _uses_gamma(prod) else "M"
    ds = xr.Dataset({NAMES.get(k, k): ("stage", v, {"units": "1", "long_name": LABELS[k]
                                                    .format(rel=f"{SILENT_REL:g}")})
                     for k, v in stats.items()})
    ds["modulator_quantile"] = (("stage", "quantile"), q, {
        "units": "1", "long_name": "quantiles of M where the gate is open"})
    ds["modulator_hist"] = (("stage", "mbin"), hist, {
        "units": "1", "long_name": "fraction of the open-gate M values per bin of "
                                   "M / modulator_scale (end bins include the values beyond)"})
    ds["modulator_used"] = ((), used, {"long_name": "modulator of the sign fractions: M, or "
                                                    "the recorded global gamma"})
    return ds.assign_coords(
        quantile=("quantile", np.array(QUANTILES), {"units": "1", "long_name": "quantile"}),
        mbin=("mbin", (EDGES[:-1] + EDGES[1:]) / 2, {
            "units": "1", "long_name": "bin centre of M / modulator_scale"}))
