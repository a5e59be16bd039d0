r"""What a trained rule predicts in a cortical slice: its modulator, drawn, in pairing protocols.

A trained rate rule changes the synapse k -> i by Δw = η · M_i · f'(a_i) · x_k; its spiking
form (``three_factor_spiking``, ``lpl_spiking``; ``rules/stdp_factor.py``) turns x into a pre
trace and the gate f'(a) into the post spike, and keeps the modulator m. Which m a synapse in a
slice carries is not known, but a trained network's recorded factors (``Monitor(factors="all")``)
give its distribution where the gate is open: ``modulator_samples``. ``predict`` then puts a
population of ``n_synapses`` synapses, each with a modulator drawn (with replacement, one draw
for every protocol and condition) from the samples, through the pairing protocols

    stdp_window    Δt sweep at 1 Hz (Bi & Poo 1998)        window_*
    sjostrom2001   Δt = ±10 ms at 0.1–50 Hz (Sjöström et al. 2001)   sjostrom_*

and reports per condition the mean relative weight change over synapses (the prediction) and
its standard deviation over synapses (the spread), compared with the data as the protocols
compare (``protocols.compare``: z = (model − data)/sem, RMSE, max |z| per digitisation; the lobe
fits of ``protocols.fit_lobe``), with the null model dw = 0 (RMSE_null = root mean square of
the data) and the fraction of the data's variance about 0 explained, 1 − RMSE²/RMSE_null².

Scale: m has arbitrary units (η absorbs them). With ``fit_eta`` one η >= 0 is fitted on the
Sjöström data of both digitisations, weighted by 1/sem²: the rules' dw is linear in η (no
weight bounds, no weight dependence), so with dw = s · μ (μ the prediction at the rule's own η)

    s = max(0, Σ μ d / sem² / Σ μ² / sem²),     η_fit = s · η_rule

and every prediction (both protocols) is scaled by s. Without samples the rule runs as the
protocols run it (one synapse per condition, its own modulator, no fit).
"""
from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime, timezone

import numpy as np
import torch

from .. import data
from ..errors import ConfigError, check_int, impossible, unknown
from ..protocols import Events, compare, fit_lobe, merge, pairing, run
from ..rules.stdp_events import EventRule
from .factors import recorded_steps

STAGES = ("start", "end")
PROTOCOLS = ("stdp_window", "sjostrom2001")
WINDOW_DTS = np.arange(-100, 101, 2) / 1000          # s, as protocols.stdp_window
WINDOW_FREQ = 1.0                                     # Hz
W_INIT = 1.0                                          # weights in units of w0


def _cf(long_name: str, units: str) -> dict[str, str]:
    return {"long_name": long_name, "units": units}


def _stage_steps(ds, projection: str, stage: str, fraction: float) -> np.ndarray:
    """The recorded steps of ``stage``: the first (``"start"``) or last (``"end"``)
    ``fraction`` of the steps at which ``projection`` has factors (``recorded_steps``)."""
    if f"factor_M_{projection}" not in ds:
        raise ConfigError(f"the dataset has no factor_M_{projection}: record the run with "
                          "factors (record.factors = \"all\")")
    if stage not in STAGES:
        raise unknown("stage", stage, STAGES)
    if isinstance(fraction, bool) or not 0 < fraction <= 1:
        raise impossible("fraction", fraction, "need a number in (0, 1]")
    steps = recorded_steps(ds, projection)
    if steps.size == 0:
        raise ConfigError(f"factor_M_{projection} has no recorded step with factors (only the "
                          "step-0 record)")
    n = max(1, math.ceil(fraction * steps.size - 1e-9))
    return steps[:n] if stage == "start" else steps[-n:]


def _factor(ds, name: str):
    """The recorded variable ``name`` (a one-line ConfigError if the run lacks it)."""
    if name not in ds:
        raise ConfigError(f"the dataset has no {name}: record the run with factors "
                          "(record.factors = \"all\")")
    return ds[name]


def modulator_samples(ds, projection: str, stage: str = "end",
                      fraction: float = 0.25) -> np.ndarray:
    """The values of factor_M_<projection> where factor_post_<projection> > 0 on the first
    (``stage="start"``) or last (``"end"``) ``fraction`` of the recorded steps with factors
    (the NaN step-0 record excluded), flattened, NaN dropped."""
    steps = _stage_steps(ds, projection, stage, fraction)
    m = ds[f"factor_M_{projection}"].sel(step=steps)
    gate = _factor(ds, f"factor_post_{projection}").sel(step=steps).transpose(*m.dims).values
    m = m.values
    values = m[gate > 0]
    return values[np.isfinite(values)].astype(float)


def rate_moments(ds, projection: str, stage: str = "end",
                 fraction: float = 0.25) -> tuple[float, float]:
    """(mean, variance) of the post rate factor_rate_<projection> of a unit over the stage's
    steps, streams, paths and positions, averaged over units (the rate's own units; ν̄ and σ²
    of ``lpl_spiking`` after a conversion to Hz)."""
    steps = _stage_steps(ds, projection, stage, fraction)
    rate = _factor(ds, f"factor_rate_{projection}").sel(step=steps)
    over = [d for d in rate.dims if not d.startswith("post")]
    return (float(rate.mean(over, skipna=True).mean(skipna=True)),
            float(rate.var(over, skipna=True).mean(skipna=True)))


def _dw(rule: EventRule, dt, freq, n_pairings: int, modulator: torch.Tensor | None
        ) -> np.ndarray:
    """dw_rel (conditions, synapses) of pairings at (dt, freq), one stream per synapse."""
    events = merge(pairing(dt, freq, n_pairings))                     # (E, C, 1, 1)
    n = 1 if modulator is None else modulator.numel()
    if n > 1:                                   # the same trains for every synapse
        events = Events(*(f.expand(-1, -1, n, -1) for f in (
            events.t, events.dt, events.pre, events.post, events.valid)))
    w = run(rule, events, w_init=W_INIT, modulator=modulator)
    return ((w - W_INIT) / W_INIT).numpy()


def _draw(samples, n_synapses: int, seed: int) -> np.ndarray:
    values = np.asarray(samples, dtype=float).ravel()
    if values.size == 0:
        raise ConfigError("samples is empty: need at least one modulator value")
    if not np.isfinite(values).all():
        raise impossible("samples", float(values[~np.isfinite(values)][0]), "need finite values")
    return np.random.default_rng(seed).choice(values, size=n_synapses, replace=True)


def fit_eta_scale(model: np.ndarray, observed) -> float:
    """s >= 0 minimising Σ (s · model − dw_rel)²/sem² over the conditions and digitisations of
    ``observed`` (a Dataset like ``data.load("sjostrom2001")``; ``model`` (dt, freq))."""
    mu = np.asarray(model, dtype=float)
    d, sem = (observed[k].transpose(..., "dt", "freq").values for k in ("dw_rel", "sem"))
    weight = 1 / sem ** 2                                            # (..., dt, freq)
    den = float((weight * mu ** 2).sum())
    return max(0.0, float((weight * mu * d).sum()) / den) if den > 0 else 0.0


def _check_fit(rule: EventRule, protocols: tuple[str, ...]) -> float:
    eta = getattr(rule.params, "eta", None)
    if not isinstance(eta, (int, float)) or not eta > 0:
        raise ConfigError(f"fit_eta needs a rule with a parameter eta > 0 (rule '{rule.name}'): "
                          "pass fit_eta=False")
    if rule.w_min > -math.inf or rule.w_max < math.inf:
        raise ConfigError(f"fit_eta needs unbounded weights (rule '{rule.name}' clips them): "
                          "pass fit_eta=False")
    if "sjostrom2001" not in protocols:
        raise ConfigError("fit_eta fits on the Sjöström data: add 'sjostrom2001' to protocols")
    return float(eta)


def predict(rule: EventRule, samples=None, *, n_synapses: int = 256, seed: int = 0,
            fit_eta: bool | None = None, protocols=PROTOCOLS, n_pairings: int = 60,
            dts: np.ndarray | None = None):
    """The slice protocols' prediction of ``rule`` with modulators drawn from ``samples``
    (module docstring); an xarray Dataset. ``dts``: the window's Δt grid (s; default
    −100…100 ms in 2 ms steps). ``fit_eta`` defaults to whether samples are given."""
    import xarray as xr

    if not isinstance(rule, EventRule):
        raise ConfigError(f"rule {getattr(rule, 'name', rule)!r} is not a spike-timing rule: "
                          "build one with plastisim.protocols.event_rule")
    protocols = (protocols,) if isinstance(protocols, str) else tuple(protocols)
    for name in protocols:
        if name not in PROTOCOLS:
            raise unknown("slice protocol", name, PROTOCOLS)
    if not protocols:
        raise ConfigError(f"protocols is empty: need some of {', '.join(PROTOCOLS)}")
    n_pairings = check_int("n_pairings", n_pairings, 1)
    seed = check_int("seed", seed, 0)
    fit_eta = samples is not None if fit_eta is None else bool(fit_eta)
    eta_rule = _check_fit(rule, protocols) if fit_eta else getattr(rule.params, "eta", math.nan)
    modulator, coords, out = None, {}, {}
    if samples is not None:
        drawn = _draw(samples, check_int("n_synapses", n_synapses, 1), seed)
        modulator = torch.as_tensor(drawn, dtype=torch.float64)
        coords["synapse"] = np.arange(drawn.size)
        out["modulator"] = (("synapse",), drawn, _cf("modulator m of each synapse, drawn from "
                                                     "the samples", "1"))
    n = 1 if modulator is None else modulator.numel()
    raw: dict[str, np.ndarray] = {}
    if "sjostrom2001" in protocols:
        obs = data.load("sjostrom2001")
        dt, freq = np.meshgrid(obs.dt.values, obs.freq.values, indexing="ij")
        raw["sjostrom"] = _dw(rule, torch.as_tensor(dt), torch.as_tensor(freq), n_pairings,
                              modulator).reshape(*dt.shape, n)
    window_dts = WINDOW_DTS if dts is None else np.asarray(dts, dtype=float).ravel()
    if "stdp_window" in protocols:
        raw["window"] = _dw(rule, torch.as_tensor(window_dts), WINDOW_FREQ, n_pairings, modulator)
    scale = fit_eta_scale(raw["sjostrom"].mean(-1), obs) if fit_eta else 1.0
    out["eta"] = ((), float(eta_rule) * scale,
                  _cf("learning rate of the predictions" + (" (fitted)" if fit_eta else ""), "1"))
    out["eta_scale"] = ((), scale, _cf("eta / the rule's eta (the fitted scale s)", "1"))
    out["n_synapses"] = ((), n, _cf("synapses per condition", "1"))
    out["n_pairings_model"] = ((), n_pairings, _cf("number of pairings in the simulation", "1"))
    mean = "relative weight change (w_end - w_init)/w_init, mean over synapses"
    spread = "standard deviation over synapses of the relative weight change"
    if "sjostrom" in raw:
        dw = raw["sjostrom"] * scale
        model = xr.DataArray(dw.mean(-1), coords={"dt": obs.dt, "freq": obs.freq},
                             dims=("dt", "freq"))
        cmp = compare(model, obs)
        rmse_null = np.sqrt((obs.dw_rel ** 2).mean(("dt", "freq")))
        out.update({
            "sjostrom_dw_rel_model": (("dt", "freq"), dw.mean(-1), _cf(mean, "1")),
            "sjostrom_dw_rel_std": (("dt", "freq"), dw.std(-1), _cf(spread, "1")),
            "sjostrom_dw_rel_data": obs.dw_rel, "sjostrom_sem_data": obs.sem,
            **{f"sjostrom_{k}": cmp[k] for k in ("z", "rmse", "max_abs_z")},
            "sjostrom_rmse_null": (("digitisation",), rmse_null.values,
                                   _cf("RMSE of the null model dw = 0", "1")),
            "sjostrom_variance_explained": (
                ("digitisation",), (1 - cmp.rmse ** 2 / rmse_null ** 2).values,
                _cf("fraction of the data's variance about 0 explained, "
                    "1 - rmse^2 / rmse_null^2", "1"))})
        coords.update(digitisation=obs.digitisation.values, dt=obs.dt.values,
                      freq=obs.freq.values)
    if "window" in raw:
        dw = raw["window"] * scale
        mu = dw.mean(-1)
        (a_plus, tau_plus), (a_minus, tau_minus) = (
            fit_lobe(window_dts[window_dts > 0], mu[window_dts > 0]),
            fit_lobe(window_dts[window_dts < 0], mu[window_dts < 0]))
        bipoo = data.load("bipoo1998")
        out.update({
            "window_dw_rel_model": (("window_dt",), mu, _cf(mean, "1")),
            "window_dw_rel_std": (("window_dt",), dw.std(-1), _cf(spread, "1")),
            "window_tau_plus_fit": ((), tau_plus, _cf("tau of the dt > 0 lobe fit", "s")),
            "window_tau_minus_fit": ((), tau_minus, _cf("tau of the dt < 0 lobe fit", "s")),
            "window_a_plus_fit": ((), a_plus, _cf("amplitude of the dt > 0 lobe fit", "1")),
            "window_a_minus_fit": ((), a_minus, _cf("amplitude of the dt < 0 lobe fit", "1")),
            "window_tau_plus_data": bipoo.tau_plus, "window_tau_minus_data": bipoo.tau_minus,
            "window_freq": ((), WINDOW_FREQ, _cf("pairing repetition frequency", "Hz"))})
        coords["window_dt"] = ("window_dt", window_dts,
                               _cf("spike timing t_post - t_pre (positive: pre first)", "s"))
    ds = xr.Dataset(out, coords=coords)
    ds.attrs = _attrs(rule, protocols, samples is not None, fit_eta, seed)
    return ds


def _attrs(rule: EventRule, protocols: tuple[str, ...], drawn: bool, fitted: bool,
           seed: int) -> dict:
    from .. import __version__

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {"Conventions": "CF-1.8", "title": "Slice-protocol prediction of a spiking rule",
            "source": f"plastisim {__version__}, plastisim.fingerprint.slice.predict",
            "history": f"{now}: plastisim.fingerprint.slice.predict(rule={rule.name!r})",
            "plastisim_version": __version__, "torch_version": torch.__version__,
            "protocols": ", ".join(protocols), "rule": rule.name,
            "rule_params": json.dumps(dataclasses.asdict(rule.params)),
            "modulators": "drawn from samples" if drawn else "the rule's own",
            "eta_fitted": "true" if fitted else "false", "seed": seed,
            "time_units": "s", "weight_convention": "relative weight change, w_init = 1"}
