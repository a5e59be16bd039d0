r"""BCM-form rate dependence of a recorded rule, per projection and training stage.

Curve, at fixed pre-synaptic activity. The synapse i <- k of entry e updates by
u = g_{e,i} · x_{e,k} with g = M · post (``factors``). Over the synapses S whose pre input is
active (lo < x_k <= hi; default x_k > 0) and whose post rate lies in a bin B, the update *per
unit pre-synaptic activity* is

    phi_B = Σ_{S, r∈B} u / Σ_{S, r∈B} x = Σ_{(e,i): r_{e,i}∈B} g_{e,i} X_e / Σ X_e,
    X_e = Σ_{k∈S} x_{e,k}

— the mean of g over (entry, post unit) samples weighted by their active pre activity X_e. It
costs O(entries · (post + pre)): no (post × pre) product is formed. For a rule of the form
u = φ(r) · x, phi_B = φ(r_B) exactly. Bins are quantile bins of r over the samples with
X_e > 0; a rate that fills several quantiles (the zero rates of ReLU units) gets a bin of its
own. ``bcm_rate`` is the X-weighted mean rate of a bin, ``bcm_update`` phi_B.

Form (Bienenstock, Cooper & Munro 1982, J Neurosci 2:32; quadratic on each side of θ)

    φ(r) = −A_ltd · 4 (r/θ)(1 − r/θ)      r < θ    (a dip of depth A_ltd at r = θ/2)
    φ(r) =  A_ltp · (r/θ)(r/θ − 1) / 2    r >= θ   (φ(2θ) = A_ltp)

Fit: weighted least squares of φ to phi_B of ``FIT_BINS`` fine quantile bins at their rates,
each weighted by its effective sample count (Σw)²/Σw² (θ > 0, amplitudes of either sign). For
fixed θ the amplitudes are linear (closed form), so θ is found by a profile: a grid over the
bin rates, refined twice between the best point's neighbours (33 points each: θ to 0.1 % of
the grid spacing). The bias from φ's curvature inside a fine bin is ~1e-5 of the amplitudes.
Errors: sqrt(diag(cov)), cov = s² (Jᵀ W J)⁻¹ scaled by the residual variance, as
``scipy.optimize.curve_fit`` reports them. R² = 1 − Σ n_b (phi_b −
φ(r_b))² / Σ n_b (phi_b − mean)² over the fine bins: how much of the *mean* dependence on r
the form explains (not of the noise around it). Impossible fits (no active pre input, fewer
than 4 distinct post rates, e.g. all zero) are NaN with the reason in ``bcm_note``; a θ outside
the recorded rates is kept with a note (one amplitude is then extrapolated).

Sliding threshold: θ_s of each stage against the mean post rate <r>_s of that stage (over the
samples with an active pre input): ``theta_change`` = (max θ − min θ) / mean θ,
``theta_rate_corr`` = Pearson(θ, <r>), ``theta_rate_slope`` = dθ/d<r> (least squares). The
threshold *slides* when theta_change > ``SLIDE_CHANGE`` (10 %) and theta_rate_corr >
``SLIDE_CORR`` (0.8), over at least 3 stages with a fit (with 2 the correlation is ±1).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

FIT_BINS = 256      # fine quantile bins of the fit
MIN_RATES = 4       # distinct positive post rates (fine bins) a fit needs
SLIDE_CHANGE = 0.1
SLIDE_CORR = 0.8
SLIDES = (f"theta_change > {SLIDE_CHANGE} and theta_rate_corr > {SLIDE_CORR}, over >= 3 "
          "stages with a fit")
PARAMS = ("theta", "a_ltd", "a_ltp")


def phi(r, theta: float, a_ltd: float, a_ltp: float):
    """The BCM form (module docstring) at rates ``r``."""
    z = np.asarray(r, dtype=np.float64) / theta
    return np.where(z < 1, -4.0 * a_ltd * z * (1 - z), 0.5 * a_ltp * z * (z - 1))


def binned(r: np.ndarray, g: np.ndarray, w: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Weighted means of ``g`` in at most ``n`` quantile bins of ``r`` (weights ``w`` > 0):
    rate, update, sem, count and n_eff = (Σw)²/Σw², each of length n (NaN-padded)."""
    edges = np.quantile(r, np.linspace(0, 1, n + 1))
    values, counts = np.unique(edges, return_counts=True)
    edges = np.unique(np.concatenate([values, np.nextafter(values[counts > 1], np.inf)]))
    if edges.size < 2:
        edges = np.array([edges[0], np.nextafter(edges[0], np.inf)])
    nb = edges.size - 1
    idx = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, nb - 1)
    sw, sww = np.bincount(idx, w, nb), np.bincount(idx, w * w, nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.bincount(idx, w * r, nb) / sw
        update = np.bincount(idx, w * g, nb) / sw
        var = np.maximum(np.bincount(idx, w * g * g, nb) / sw - update ** 2, 0.0)
        n_eff = sw ** 2 / sww
        sem = np.sqrt(var / n_eff)
    out = {"rate": rate, "update": update, "sem": sem, "count": np.bincount(idx, None, nb),
           "n_eff": n_eff}
    keep = sw > 0
    return {k: np.concatenate([v[keep], np.full(n - keep.sum(), np.nan)]) for k, v in out.items()}


def _amplitudes(rate: np.ndarray, update: np.ndarray, n_eff: np.ndarray,
                thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A_ltd, A_ltp, weighted SSE) for every candidate θ: linear least squares of the two
    amplitudes, the 2 × 2 normal equations of all the candidates at once."""
    x = rate[None, :] / thetas[:, None]                              # (T, n)
    ltd = np.where(x < 1, -4 * x * (1 - x), 0.0)                     # φ(r; θ, 1, 0)
    ltp = np.where(x < 1, 0.0, x * (x - 1) / 2)                      # φ(r; θ, 0, 1)
    w = n_eff[None, :]
    a11, a22, a12 = (w * ltd ** 2).sum(1), (w * ltp ** 2).sum(1), (w * ltd * ltp).sum(1)
    b1, b2 = (w * ltd * update).sum(1), (w * ltp * update).sum(1)
    det = a11 * a22 - a12 ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        amp1 = np.where(det > 0, (a22 * b1 - a12 * b2) / det, np.where(a11 > 0, b1 / a11, 0.0))
        amp2 = np.where(det > 0, (a11 * b2 - a12 * b1) / det, np.where(a22 > 0, b2 / a22, 0.0))
    sse = (w * (update[None, :] - amp1[:, None] * ltd - amp2[:, None] * ltp) ** 2).sum(1)
    return amp1, amp2, sse


def _profile(rate: np.ndarray, update: np.ndarray, n_eff: np.ndarray) -> np.ndarray:
    """(θ, A_ltd, A_ltp) of the smallest weighted squared error: the amplitudes in closed form
    for each θ (``_amplitudes``), θ on a grid of the positive bin rates, then refined on a
    fine grid between the best one's neighbours (twice)."""
    candidates = np.unique(rate[rate > 0])
    thetas = candidates[np.linspace(0, candidates.size - 1, min(64, candidates.size))
                        .astype(int)]
    for _ in range(3):
        amp1, amp2, sse = _amplitudes(rate, update, n_eff, thetas)
        best = int(np.nanargmin(sse))
        lo, hi = thetas[max(best - 1, 0)], thetas[min(best + 1, thetas.size - 1)]
        result = np.array([thetas[best], amp1[best], amp2[best]])
        thetas = np.linspace(lo, hi, 33)
    return result


def _covariance(rate: np.ndarray, update: np.ndarray, n_eff: np.ndarray,
                p: np.ndarray) -> np.ndarray:
    """The covariance of the fitted (θ, A_ltd, A_ltp), as ``scipy.optimize.curve_fit`` reports
    it for relative weights: s² (Jᵀ W J)⁻¹, s² = SSE/(n − 3), J by central differences."""
    J = np.empty((rate.size, 3))
    for k in range(3):
        h = 1e-6 * max(abs(p[k]), 1e-12)
        up, down = p.copy(), p.copy()
        up[k] += h
        down[k] -= h
        J[:, k] = (phi(rate, *up) - phi(rate, *down)) / (2 * h)
    resid = update - phi(rate, *p)
    dof = max(rate.size - 3, 1)
    s2 = np.sum(n_eff * resid ** 2) / dof / np.mean(n_eff)
    try:
        return s2 * np.linalg.inv(J.T @ (J * (n_eff / np.mean(n_eff))[:, None]))
    except np.linalg.LinAlgError:
        return np.full((3, 3), np.nan)


def fit(r: np.ndarray, g: np.ndarray, w: np.ndarray) -> dict[str, float | str]:
    """θ, A_ltd, A_ltp, their errors (``*_err``), ``r2`` and ``note`` of the fit of φ to the
    samples (r, g) with weights w (module docstring); NaN and a note when impossible."""
    out: dict[str, float | str] = {k: np.nan for k in (*PARAMS, *(f"{p}_err" for p in PARAMS),
                                                       "r2")}
    if r.size == 0:
        return {**out, "note": "no active pre-synaptic input (x > 0)"}
    b = binned(r, g, w, FIT_BINS)
    ok = np.isfinite(b["update"])
    rate, update, n_eff = b["rate"][ok], b["update"][ok], b["n_eff"][ok]
    if np.count_nonzero(rate > 0) < MIN_RATES:
        return {**out, "note": f"fewer than {MIN_RATES} distinct positive post rates (e.g. "
                               "all zero): no rate dependence to fit"}
    p = _profile(rate, update, n_eff)
    cov = _covariance(rate, update, n_eff, p)
    resid = np.sum(n_eff * (update - phi(rate, *p)) ** 2)
    total = np.sum(n_eff * (update - np.average(update, weights=n_eff)) ** 2)
    out.update(zip(PARAMS, p.tolist()))
    out.update({f"{k}_err": float(e) for k, e in zip(PARAMS, np.sqrt(np.abs(np.diag(cov))))})
    out["r2"] = 1 - resid / total if total > 0 else np.nan
    note = ""
    if p[0] >= rate.max():
        note = "theta beyond the largest post rate: A_ltp extrapolated"
    elif p[0] <= rate[rate > 0].min():
        note = "theta below the smallest positive post rate: A_ltd extrapolated"
    return {**out, "note": note}


def sliding(theta: np.ndarray, mean_rate: np.ndarray) -> dict[str, float | bool]:
    """``theta_change``, ``theta_rate_corr``, ``theta_rate_slope`` and ``theta_slides`` of
    the stages' θ against their mean rates (module docstring)."""
    ok = np.isfinite(theta) & np.isfinite(mean_rate)
    out = {"theta_change": np.nan, "theta_rate_corr": np.nan, "theta_rate_slope": np.nan,
           "theta_slides": False}
    if ok.sum() < 3:
        return out
    t, m = theta[ok], mean_rate[ok]
    out["theta_change"] = float((t.max() - t.min()) / abs(t.mean()))
    if t.std() > 0 and m.std() > 0:
        out["theta_rate_corr"] = float(np.corrcoef(t, m)[0, 1])
        out["theta_rate_slope"] = float(np.polyfit(m, t, 1)[0])
    out["theta_slides"] = bool(out["theta_change"] > SLIDE_CHANGE
                               and out["theta_rate_corr"] > SLIDE_CORR)
    return out


def _samples(prod: xr.Dataset, rows: np.ndarray, band: tuple[float, float]):
    """(r, g, w) of the (entry, post unit) samples of the records ``rows`` with an active pre
    input: w = X_e, the summed active pre activity of the entry."""
    def values(name: str, last: str) -> np.ndarray:       # (records, path, stream, fpos, last)
        return prod[name].transpose("step", ..., last).values[rows].astype(np.float64)

    x = values("x", "pre")
    w_entry = np.where((x > band[0]) & (x <= band[1]), x, 0.0).sum(axis=-1)   # X_e (entry)
    r, g = values("r", "post"), values("g", "post")                          # (entry, post)
    w = np.broadcast_to(w_entry[..., None], r.shape)
    keep = (w > 0) & np.isfinite(r) & np.isfinite(g)
    return r[keep], g[keep], w[keep]


#: variables of ``bcm``: name -> (key of ``binned``,) long name (units "1": the model's rates
#: and updates have arbitrary units)
CURVE_VARS = {
    "bcm_rate": ("rate", "mean post-synaptic rate of the bin (weighted by active pre "
                         "activity)"),
    "bcm_update": ("update", "mean update per unit pre-synaptic activity, sum u / sum x over "
                             "active pre inputs"),
    "bcm_update_sem": ("sem", "standard error of bcm_update"),
    "bcm_count": ("count", "number of (entry, post unit) samples in the bin")}
FIT_VARS = {
    "theta": "BCM threshold theta (post rate where the update changes sign)",
    "a_ltd": "BCM depression depth A_ltd (-phi(theta/2))",
    "a_ltp": "BCM potentiation amplitude A_ltp (phi(2 theta))",
    **{f"{k}_err": f"fit standard error of bcm_{k}" for k in PARAMS},
    "r2": "R^2 of the BCM fit to the binned mean update"}
SLIDE_VARS = {
    "theta_change": "(max - min) / mean of theta over the stages",
    "theta_rate_corr": "Pearson correlation of theta with the stage's mean post rate",
    "theta_rate_slope": "d theta / d (mean post rate), least squares",
    "theta_slides": "the BCM threshold slides with the mean rate"}


def bcm(prod: xr.Dataset, stage: np.ndarray, bins: int = 12,
        band: tuple[float, float] = (0.0, np.inf)) -> xr.Dataset:
    """The curve (stage, rbin), the fit and the mean rate (stage), and the sliding threshold
    of one projection's ``products`` (``update=False`` suffices); ``stage``: the stage of every
    record (``factors.stages``); ``band``: the active pre values lo < x <= hi."""
    empty = {k: np.full(bins, np.nan) for k in ("rate", "update", "sem", "count")}
    curves, fits, mean_rate = [], [], []
    for s in range(int(stage.max()) + 1):
        r, g, w = _samples(prod, np.flatnonzero(stage == s), band)
        curves.append(binned(r, g, w, bins) if r.size else empty)
        fits.append(fit(r, g, w))
        mean_rate.append(r.mean() if r.size else np.nan)
    ds = xr.Dataset(attrs={"pre_band": f"{band[0]} < x <= {band[1]}"})
    for name, (key, long_name) in CURVE_VARS.items():
        values = np.stack([c[key] for c in curves])                         # (stage, rbin)
        if name == "bcm_count":
            values = np.nan_to_num(values).astype(np.int64)
        ds[name] = (("stage", "rbin"), values, _a(long_name))
    for k, long_name in FIT_VARS.items():
        ds[f"bcm_{k}"] = ("stage", np.array([f[k] for f in fits], dtype=np.float64),
                          _a(long_name))
    ds["bcm_note"] = ("stage", np.array([f["note"] for f in fits], dtype=str),
                      {"long_name": "why the fit is missing or extrapolated (empty: a fit)"})
    ds["bcm_mean_rate"] = ("stage", np.array(mean_rate), _a(
        "mean post-synaptic rate of the stage (samples with an active pre input)"))
    slide = sliding(ds["bcm_theta"].values, ds["bcm_mean_rate"].values)
    for k, v in slide.items():
        ds[k] = ((), v, _a(SLIDE_VARS[k]) if k != "theta_slides" else
                 {"long_name": SLIDE_VARS[k], "criterion": SLIDES})
    return ds


def _a(long_name: str) -> dict[str, str]:
    return {"units": "1", "long_name": long_name}
