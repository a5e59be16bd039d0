r"""The weight distribution of a projection over training, beside cortical synapses.

Per record of ``weight_<s>`` (all its entries: post × pre, and positions when the projection is
locally connected; NaN ignored; the fingerprint takes the initial record and the last record of
every training stage):

    weight_mean        mean w
    weight_cv          std(w) / |mean w|                     (coefficient of variation)
    weight_skew        m3 / m2^(3/2)                         (Fisher–Pearson, central moments)
    weight_near_zero   fraction with |w| < NEAR_ZERO · std(w)   (NEAR_ZERO = 0.1)
    weight_positive    fraction with w > 0
    weight_ln_mu, weight_ln_sigma   maximum-likelihood log-normal fit of the positive weights:
                       mean and standard deviation (ddof 0) of ln w
    weight_ks          Kolmogorov–Smirnov statistic of the positive weights against that
                       log-normal, sup |F_empirical − F_fit| (parameters fitted on the same
                       weights, so the usual p-values do not apply: the statistic is a distance)

Reference: EPSP amplitudes of L5 → L5 connections in rat visual cortex are log-normal
(Song et al. 2005, ``plastisim.data.load("song2005")``): σ = 0.9355 of ln(EPSP / mV),
CV = sqrt(e^σ² − 1) = 1.18, skewness (e^σ² + 2) sqrt(e^σ² − 1) = 5.20 (derived). Model weights
have arbitrary units, so only shape statistics are compared: CV, skewness and σ of ln w, not
means (nor μ).
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import special

NEAR_ZERO = 0.1
STATS = {
    "weight_mean": "mean weight",
    "weight_cv": "coefficient of variation of the weights, std / |mean|",
    "weight_skew": "skewness of the weights (Fisher-Pearson, m3 / m2^1.5)",
    "weight_near_zero": f"fraction of weights with |w| < {NEAR_ZERO} std(w)",
    "weight_positive": "fraction of weights > 0",
    "weight_ln_mu": "mean of ln w over the positive weights (log-normal fit, maximum "
                    "likelihood)",
    "weight_ln_sigma": "standard deviation of ln w over the positive weights (log-normal fit, "
                       "maximum likelihood)",
    "weight_ks": "Kolmogorov-Smirnov statistic of the positive weights against their "
                 "log-normal fit",
}
#: song2005 variable -> the weight statistic it is compared with
REFERENCE = {"cv": "weight_cv", "skewness": "weight_skew", "sigma": "weight_ln_sigma"}


def _ks_normal(z: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Kolmogorov–Smirnov statistic of each row's first ``n`` sorted standard scores ``z``
    (rows, values; NaN past n) against the standard normal: max_i max(i/n − Φ(z_i),
    Φ(z_i) − (i−1)/n)."""
    cdf = special.ndtr(z)
    i = np.arange(1, z.shape[1] + 1)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.maximum(i / n[:, None] - cdf, cdf - (i - 1) / n[:, None])
    return np.where(n >= 2, np.nanmax(np.where(i <= n[:, None], gap, np.nan), axis=1,
                                      initial=-np.inf), np.nan)


def lognormal_fits(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(μ, σ, KS statistic) per row of ``w`` (rows, values) of the maximum-likelihood
    log-normal fit of the row's positive finite values (module docstring; NaN with fewer
    than 2 of them, KS NaN when σ = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_w = np.where(np.isfinite(w) & (w > 0), np.log(np.where(w > 0, w, 1.0)), np.nan)
    n = np.count_nonzero(np.isfinite(ln_w), axis=1)
    ok = n >= 2
    mu, sigma, ks = (np.full(w.shape[0], np.nan) for _ in range(3))
    if ok.any():
        mu[ok] = np.nanmean(ln_w[ok], axis=1)
        sigma[ok] = np.nanstd(ln_w[ok], axis=1)
        spread = ok & (sigma > 0)
        z = np.sort((ln_w[spread] - mu[spread, None]) / sigma[spread, None], axis=1)
        ks[spread] = _ks_normal(z, n[spread])   # the KS of w against the log-normal (ln: monotone)
    return mu, sigma, ks


def lognormal_fit(w: np.ndarray) -> tuple[float, float, float]:
    """(μ, σ, KS statistic) of the log-normal fit of the positive finite values of ``w``
    (``lognormal_fits`` of one row)."""
    mu, sigma, ks = lognormal_fits(np.ravel(w)[None, :])
    return float(mu[0]), float(sigma[0]), float(ks[0])


def distributions(w: np.ndarray) -> dict[str, np.ndarray]:
    """The statistics ``STATS`` of each row of ``w`` (rows, values; NaN ignored)."""
    w = np.asarray(w, dtype=np.float64)
    n = np.count_nonzero(np.isfinite(w), axis=1)
    out = {k: np.full(w.shape[0], np.nan) for k in STATS}
    ok = n > 0
    if not ok.any():
        return out
    v = w[ok]
    mean = np.nanmean(v, axis=1)
    dev = v - mean[:, None]
    m2, m3 = np.nanmean(dev ** 2, axis=1), np.nanmean(dev ** 3, axis=1)
    std, valid = np.sqrt(m2), np.isfinite(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["weight_cv"][ok] = np.where(mean != 0, std / np.abs(mean), np.nan)
        out["weight_skew"][ok] = np.where(m2 > 0, m3 / m2 ** 1.5, np.nan)
    out["weight_mean"][ok] = mean
    out["weight_positive"][ok] = np.sum(v > 0, axis=1) / n[ok]
    out["weight_near_zero"][ok] = np.sum(valid & (np.abs(v) < NEAR_ZERO * std[:, None]),
                                         axis=1) / n[ok]
    out["weight_ln_mu"], out["weight_ln_sigma"], out["weight_ks"] = lognormal_fits(w)
    return out


def distribution(w: np.ndarray) -> dict[str, float]:
    """The statistics ``STATS`` of the finite values of ``w`` (``distributions`` of one
    row)."""
    return {k: float(v[0]) for k, v in distributions(np.ravel(w)[None, :]).items()}


def weight_stats(ds: xr.Dataset, proj: str, steps=None) -> xr.Dataset:
    """``STATS`` of projection ``proj`` over the records of ``weight_<proj>`` (dim ``step``):
    all of them, or for each of ``steps`` the last record at or before it (the fingerprint: the
    initial record and the end of every stage); NaN when the weights were not recorded."""
    name = f"weight_{proj}"
    recorded = ds["step"].values if "step" in ds.coords else np.zeros(0, dtype=np.int64)
    steps = recorded if steps is None else np.asarray(steps)
    if name not in ds.data_vars or recorded.size == 0:
        values = {k: np.full(steps.size, np.nan) for k in STATS}
    else:
        rows = np.clip(np.searchsorted(recorded, steps, side="right") - 1, 0, None)
        w = ds[name].transpose("step", ...).values[rows]
        values = distributions(w.reshape(w.shape[0], -1))            # (records, weights)
        steps = recorded[rows]
    return xr.Dataset({k: ("step", v, {"units": "1", "long_name": STATS[k]})
                       for k, v in values.items()},
                      coords={"step": ("step", steps, {"units": "1", "long_name":
                                                       "plasticity steps done at the weight "
                                                       "record"})})


def reference() -> xr.Dataset:
    """Song et al. (2005)'s log-normal shape as scalars ``song2005_<cv|skewness|sigma>``, each
    with the weight statistic it compares with (attribute ``compare_with``) and whether it is
    derived from the published parameters (attribute ``derived``)."""
    from .. import data

    song = data.load("song2005")
    out = xr.Dataset({f"song2005_{k}": song[k].assign_attrs(compare_with=v)
                      for k, v in REFERENCE.items()})
    out.attrs["references"] = song.attrs["references"]
    return out
