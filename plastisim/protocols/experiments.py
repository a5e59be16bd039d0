r"""Named protocols: build the trains, run the engine, return a self-describing Dataset.

    sjostrom2001   Δt = ±10 ms pairings at 0.1–50 Hz (Sjöström et al. 2001), compared with both
                   digitisations: z = (model − data)/sem per condition, RMSE, max |z|
    stdp_window    one Δt sweep (default −100…100 ms, 60 pairings at 1 Hz, as Bi & Poo 1998),
                   exponential fits of both lobes, compared with Bi & Poo's time constants
    poisson        independent Poisson pre/post trains per synapse; mean drift per condition

Weight convention: every stream starts at w_init (default 1, i.e. weights in units of the
initial weight w0) and the relative change is dw_rel = (w_end − w_init)/w_init. With the
triplet amplitudes (per-spike changes in units of w0, Pfister & Gerstner 2006) dw_rel is the
sum of the updates. The pairing count is written to every output (``n_pairings_model``).
"""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np
import torch

from .. import data
from ..errors import check_int, check_positive, impossible
from ..rules.stdp_events import EventRule
from .engine import run
from .trains import merge, pairing, poisson

RELATIVE = "relative weight change of the model, (w_end - w_init) / w_init"


def _cf(long_name: str, units: str) -> dict[str, str]:
    return {"long_name": long_name, "units": units}


def provenance(rule: EventRule, protocol: str, title: str, **extra) -> dict:
    """Global attributes: CF conventions, title, source, history, version, rule and params."""
    from .. import __version__

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {"Conventions": "CF-1.8", "title": title,
            "source": f"plastisim {__version__}, plastisim.protocols.{protocol}",
            "history": f"{now}: plastisim.protocols.{protocol}(rule={rule.name!r})",
            "plastisim_version": __version__, "torch_version": torch.__version__,
            "protocol": protocol, "rule": rule.name,
            "rule_params": json.dumps(dataclasses.asdict(rule.params)),
            "time_units": "s", "weight_convention": RELATIVE, **extra}


def compare(model, observed):
    """z = (model − data)/sem per condition, RMSE and max |z| per digitisation (Dataset)."""
    import xarray as xr

    err = model - observed.dw_rel
    z = err / observed.sem
    dims = [d for d in z.dims if d != "digitisation"]
    return xr.Dataset({
        "z": (z.dims, z.values, _cf("(model - data) / sem per condition", "1")),
        "rmse": (("digitisation",), np.sqrt((err ** 2).mean(dims)).values,
                 _cf("root mean square of model - data over conditions", "1")),
        "max_abs_z": (("digitisation",), abs(z).max(dims).values,
                      _cf("largest |z| over conditions", "1"))}, coords=z.coords)


def sjostrom2001(rule: EventRule, n_pairings: int = 60, w_init: float = 1.0,
                 on_step: Callable[[int, int], None] | None = None, threads: int | None = 1):
    """The Sjöström et al. (2001) frequency protocol on the data's (dt, freq) grid
    (``threads``: torch threads of the engine's loop, ``engine.run``)."""
    import xarray as xr

    n_pairings = check_int("n_pairings", n_pairings, 1)
    obs = data.load("sjostrom2001")
    dt, freq = torch.meshgrid(torch.tensor(obs.dt.values), torch.tensor(obs.freq.values),
                              indexing="ij")                      # (n_dt, n_freq)
    w = run(rule, merge(pairing(dt, freq, n_pairings)), w_init=w_init, on_step=on_step,
            threads=threads)
    model = xr.DataArray(((w - w_init) / w_init).reshape(dt.shape).numpy(),
                         coords={"dt": obs.dt, "freq": obs.freq}, dims=("dt", "freq"),
                         attrs=_cf(RELATIVE, "1"))
    ds = xr.Dataset({
        "dw_rel_model": model,
        "dw_rel_data": obs.dw_rel, "sem_data": obs.sem, "n_pairings_data": obs.n_pairings,
        "n_pairings_model": ((), n_pairings, _cf("number of pairings in the simulation", "1")),
        "w_init": ((), float(w_init), _cf("weight at the start of every stream", "1"))})
    ds = ds.merge(compare(model, obs))
    ds.attrs = provenance(rule, "sjostrom2001", "Sjöström et al. (2001) frequency protocol",
                          references=obs.attrs["references"], n_pairings=n_pairings,
                          data_comment=obs.attrs["comment"])
    return ds


def fit_lobe(dt: np.ndarray, dw: np.ndarray) -> tuple[float, float]:
    """(A, tau) of dw = A · exp(−|dt|/tau) by least squares (scipy curve_fit); NaN if flat."""
    from scipy.optimize import curve_fit

    keep = np.isfinite(dw)
    dt, dw = np.abs(dt[keep]), dw[keep]
    if dt.size < 3 or not np.any(dw):
        return math.nan, math.nan
    try:
        (a, tau), _ = curve_fit(lambda t, a, tau: a * np.exp(-t / tau), dt, dw,
                                p0=(dw[np.argmin(dt)], 0.02), maxfev=10_000)
    except RuntimeError:
        return math.nan, math.nan
    return float(a), float(tau)


def stdp_window(rule: EventRule, dts: np.ndarray | None = None, freq: float = 1.0,
                n_pairings: int = 60, w_init: float = 1.0,
                on_step: Callable[[int, int], None] | None = None, threads: int | None = 1):
    """The window dw_rel(Δt): ``n_pairings`` pairings at ``freq`` for every Δt of ``dts`` (s)."""
    import xarray as xr

    freq = check_positive("freq", freq)
    n_pairings = check_int("n_pairings", n_pairings, 1)
    dts = np.arange(-100, 101, 2) / 1000 if dts is None else np.asarray(dts, dtype=float)
    w = run(rule, merge(pairing(torch.as_tensor(dts), freq, n_pairings)), w_init=w_init,
            on_step=on_step, threads=threads)
    dw = ((w - w_init) / w_init).reshape(-1).numpy()
    (a_plus, tau_plus), (a_minus, tau_minus) = (fit_lobe(dts[dts > 0], dw[dts > 0]),
                                                fit_lobe(dts[dts < 0], dw[dts < 0]))
    obs = data.load("bipoo1998")
    fit = "least-squares fit A exp(-|dt|/tau) to the lobe (scipy.optimize.curve_fit)"
    ds = xr.Dataset({
        "dw_rel_model": (("dt",), dw, _cf(RELATIVE, "1")),
        "tau_plus_fit": ((), tau_plus, _cf(f"tau of the dt > 0 lobe, {fit}", "s")),
        "tau_minus_fit": ((), tau_minus, _cf(f"tau of the dt < 0 lobe, {fit}", "s")),
        "a_plus_fit": ((), a_plus, _cf("amplitude of the dt > 0 lobe fit", "1")),
        "a_minus_fit": ((), a_minus, _cf("amplitude of the dt < 0 lobe fit", "1")),
        "tau_plus_data": obs.tau_plus, "tau_minus_data": obs.tau_minus,
        "n_pairings_model": ((), n_pairings, _cf("number of pairings per dt", "1")),
        "freq": ((), freq, _cf("pairing repetition frequency", "Hz"))},
        coords={"dt": ("dt", dts, _cf("spike timing t_post - t_pre (positive: pre first)",
                                      "s"))})
    ds.attrs = provenance(rule, "stdp_window", "STDP window (dt sweep)",
                          references=obs.attrs["references"], n_pairings=n_pairings)
    return ds


def poisson_drift(rule: EventRule, rate_pre, rate_post, duration: float = 10.0,
                  n_synapses: int = 1000, seed: int = 0, warmup: float = 0.0,
                  w_init: float = 1.0, on_step: Callable[[int, int], None] | None = None,
                  threads: int | None = 1):
    """Mean drift <dw/dt> under independent Poisson trains, per (rate_pre, rate_post) condition.

    Plasticity is off for the first ``warmup`` seconds (traces reach their stationary state)."""
    import xarray as xr

    gen = torch.Generator().manual_seed(check_int("seed", seed, 0))
    if not 0 <= warmup < check_positive("duration", duration):
        raise impossible("warmup", warmup, "need 0 <= warmup < duration")
    trains = poisson(rate_pre, rate_post, duration, n_synapses, gen)
    w = run(rule, merge(trains), w_init=w_init, plastic_from=warmup, on_step=on_step,
            threads=threads)
    drift = ((w - w_init) / (duration - warmup)).numpy()            # (C, N)
    pre, post = (np.broadcast_to(np.asarray(r, float), drift.shape[:1])
                 for r in (rate_pre, rate_post))
    ds = xr.Dataset({
        "drift": (("condition",), drift.mean(1), _cf("mean weight drift per synapse", "s-1")),
        "drift_sem": (("condition",), drift.std(1, ddof=1) / math.sqrt(drift.shape[1])
                      if drift.shape[1] > 1 else np.full(drift.shape[0], np.nan),
                      _cf("standard error of drift over synapses", "s-1")),
        "rate_pre": (("condition",), pre, _cf("pre-synaptic Poisson rate", "Hz")),
        "rate_post": (("condition",), post, _cf("post-synaptic Poisson rate", "Hz"))})
    ds.attrs = provenance(rule, "poisson", "Drift under independent Poisson trains",
                          duration_s=float(duration), warmup_s=float(warmup),
                          n_synapses=int(n_synapses), seed=int(seed))
    return ds


PROTOCOLS: dict[str, Callable] = {"sjostrom2001": sjostrom2001, "stdp_window": stdp_window,
                                  "poisson": poisson_drift}
