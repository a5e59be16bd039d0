"""Spiking forms of the trained rules (``three_factor_spiking``, ``lpl_spiking``) and their slice
predictions with drawn modulators (``plastisim.fingerprint.slice``): closed forms, the triplet
model's Sjöström fit through ``predict``, linearity in the modulator, the η fit, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import xarray as xr

from plastisim import rules
from plastisim.errors import ConfigError, UnknownNameError
from plastisim.fingerprint import slice as fslice
from plastisim.fingerprint.slice import (fit_eta_scale, modulator_samples, predict,
                                         rate_moments)
from plastisim.protocols import (SpikeTrains, event_rule, merge, pairing, run, sjostrom2001,
                                 stdp_window)

DTS = np.array([-0.04, -0.02, -0.01, 0.01, 0.02, 0.04])
LOAD = fslice.data.load


def _dw(rule, pre: list[float], post: list[float]) -> float:
    trains = SpikeTrains(torch.tensor([[pre]], dtype=torch.float64),
                         torch.tensor([[post]], dtype=torch.float64))
    return run(rule, merge(trains)).item() - 1.0


# --- the rules: closed forms ---------------------------------------------------------------

@pytest.mark.parametrize("gate", ["causal", "symmetric"])
def test_three_factor_spiking_window_closed_form(gate):
    rule = event_rule("three_factor_spiking", gate=gate, modulator=-0.7, tau_post=0.03)
    p = rule.params
    ds = stdp_window(rule, dts=DTS, n_pairings=1)
    expected = -0.7 * p.eta * np.where(DTS > 0, np.exp(-DTS / p.tau_pre),
                                       np.exp(DTS / p.tau_post) * (gate == "symmetric"))
    np.testing.assert_allclose(ds.dw_rel_model.values, expected, atol=1e-15)


def test_three_factor_spiking_takes_any_finite_modulator_tensor():
    rule = event_rule("three_factor_spiking")
    trains = pairing(torch.tensor([0.01]), 1.0, 1)
    events = merge(SpikeTrains(trains.pre.expand(1, 3, 1), trains.post.expand(1, 3, 1)))
    w = run(rule, events, modulator=torch.tensor([2.5, -0.3, 0.0])) - 1
    one = rule.params.eta * math.exp(-0.01 / rule.params.tau_pre)
    np.testing.assert_allclose(w[0].numpy(), [2.5 * one, -0.3 * one, 0.0], atol=1e-15)
    with pytest.raises(ConfigError, match="need finite values") as err:
        run(rule, events, modulator=torch.tensor([1.0, math.nan, 0.0]))
    assert "\n" not in str(err.value)


def test_lpl_spiking_closed_form():
    rule = event_rule("lpl_spiking", modulator=0.3)
    p = rule.params
    # pre at 0, post at 10 ms, post at 30 ms: the second post spike sees the first in ȳ
    x1, x2 = math.exp(-0.010 / p.tau_pre), math.exp(-0.030 / p.tau_pre)
    y2 = math.exp(-0.020 / p.tau_post) / p.tau_post                   # Hz
    hebb = lambda y: p.lambda_hebb * (y - p.mean_rate) / (p.rate_var + p.xi)   # noqa: E731
    expected = p.eta * (x1 * (0.3 + hebb(0.0)) + x2 * (0.3 + hebb(y2)))
    assert _dw(rule, [0.0], [0.010, 0.030]) == pytest.approx(expected, abs=1e-15)
    assert _dw(rule, [0.010], [0.0]) == 0.0                          # post first: no pre trace


def test_lpl_spiking_hebbian_term_turns_ltd_into_ltp_with_frequency():
    ds = predict(event_rule("lpl_spiking"), protocols=("sjostrom2001",))
    dw = ds.sjostrom_dw_rel_model
    low, high = (dw.sel(dt=0.01, freq=f).item() for f in (0.1, 50.0))
    anti_low, anti_high = (dw.sel(dt=-0.01, freq=f).item() for f in (0.1, 50.0))
    print(f"lpl_spiking (m = 0) dt=+10 ms: {low:+.3f} at 0.1 Hz, {high:+.3f} at 50 Hz; "
          f"dt=-10 ms: {anti_low:+.3f}, {anti_high:+.3f}")
    assert low < 0 < high and high > 0.2                              # LTD -> LTP
    assert abs(anti_low) < 1e-12 and anti_high > 0.2                 # post-first: only at 50 Hz
    assert (np.diff(dw.sel(dt=0.01).values) > 0).all()                # grows with frequency


def test_stdp_family_has_the_spiking_forms_with_checked_fields():
    assert {"three_factor_spiking", "lpl_spiking"} <= set(rules.names("stdp"))
    for name in ("three_factor_spiking", "lpl_spiking"):
        assert rules.info(name).family == "stdp" and rules.info(name).local
    with pytest.raises(ConfigError, match="rule.rate_var=-1.0 is impossible"):
        event_rule("lpl_spiking", rate_var=-1.0)
    with pytest.raises(ConfigError, match="rule.modulator=nan is impossible"):
        event_rule("three_factor_spiking", modulator=math.nan)


# --- predict: the protocols' comparison, the drawn modulators, the η fit -------------------

def test_predict_triplet_reproduces_its_sjostrom_fit():
    rule = event_rule("triplet", params="visual_nearest_full")
    ds = predict(rule)
    ref = sjostrom2001(rule)
    vh = ds.sel(digitisation="vhlab")
    rmse = vh.sjostrom_rmse.item()
    print(f"triplet visual_nearest_full through predict: RMSE {rmse:.5f} (vhlab), "
          f"variance explained {vh.sjostrom_variance_explained.item():.3f}")
    assert rmse == pytest.approx(0.108, abs=5e-4) and rmse <= 0.11
    np.testing.assert_array_equal(ds.sjostrom_dw_rel_model.values, ref.dw_rel_model.values)
    np.testing.assert_allclose(ds.sjostrom_z.values, ref.z.values, rtol=1e-12)
    np.testing.assert_allclose(ds.sjostrom_rmse.values, ref.rmse.values, rtol=1e-12)
    assert (ds.sjostrom_dw_rel_std == 0).all() and ds.n_synapses.item() == 1
    assert ds.eta_scale.item() == 1.0 and ds.attrs["eta_fitted"] == "false"
    null = np.sqrt((ref.dw_rel_data ** 2).mean(("dt", "freq")))
    np.testing.assert_allclose(ds.sjostrom_rmse_null.values, null.values)
    np.testing.assert_allclose(ds.sjostrom_variance_explained.values,
                               1 - ref.rmse.values ** 2 / null.values ** 2)
    window = stdp_window(rule)
    np.testing.assert_array_equal(ds.window_dw_rel_model.values, window.dw_rel_model.values)


@pytest.mark.parametrize("gate", ["causal", "symmetric"])
def test_constant_samples_scale_the_single_synapse_prediction(gate):
    rule = event_rule("three_factor_spiking", gate=gate)
    c = -1.7
    ds = predict(rule, np.full(5, c), n_synapses=16, fit_eta=False, dts=DTS)
    one = stdp_window(rule, dts=DTS)                          # modulator 1: the single synapse
    np.testing.assert_allclose(ds.window_dw_rel_model.values, c * one.dw_rel_model.values,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ds.sjostrom_dw_rel_model.values,
                               c * sjostrom2001(rule).dw_rel_model.values, rtol=1e-12)
    assert np.abs(ds.window_dw_rel_std.values).max() < 1e-15
    assert (ds.modulator == c).all() and ds.n_synapses.item() == 16


def test_eta_fit_recovers_a_known_scale(monkeypatch):
    rule = event_rule("three_factor_spiking")
    base = predict(rule, [1.0], n_synapses=4, fit_eta=False, protocols=("sjostrom2001",))
    real = fslice.data.load("sjostrom2001")
    # synthetic data: the rule's own prediction at 3 η, both digitisations
    fake = real.copy()
    fake["dw_rel"] = xr.broadcast(3.0 * base.sjostrom_dw_rel_model,
                                  real.dw_rel)[0].transpose(*real.dw_rel.dims)
    monkeypatch.setattr(fslice.data, "load",
                        lambda name: fake if name == "sjostrom2001" else LOAD(name))
    ds = predict(rule, [0.5, 0.5], n_synapses=8, dts=DTS)              # m = 0.5: s = 6
    assert ds.eta_scale.item() == pytest.approx(6.0, rel=1e-12)
    assert ds.eta.item() == pytest.approx(6.0 * rule.params.eta, rel=1e-12)
    np.testing.assert_allclose(ds.sjostrom_rmse.values, 0.0, atol=1e-12)
    # the window uses the same η: 6 · 0.5 = 3 times the single-synapse window
    np.testing.assert_allclose(ds.window_dw_rel_model.values,
                               3.0 * stdp_window(rule, dts=DTS).dw_rel_model.values, rtol=1e-12)


def test_eta_fit_is_the_weighted_least_squares_optimum_and_absorbs_the_units():
    obs = fslice.data.load("sjostrom2001")
    rule = event_rule("three_factor_spiking")
    a = predict(rule, [1.0, 2.0, 3.0], n_synapses=32, protocols=("sjostrom2001",))
    b = predict(rule, [100.0, 200.0, 300.0], n_synapses=32, protocols=("sjostrom2001",))
    np.testing.assert_allclose(a.sjostrom_dw_rel_model, b.sjostrom_dw_rel_model, rtol=1e-9)
    assert b.eta_scale.item() == pytest.approx(a.eta_scale.item() / 100, rel=1e-9)
    mu = a.sjostrom_dw_rel_model.values / a.eta_scale.item()
    cost = lambda s: float((((s * mu - obs.dw_rel) / obs.sem) ** 2).sum())  # noqa: E731
    s = fit_eta_scale(mu, obs)
    assert s == pytest.approx(a.eta_scale.item()) and cost(s) < min(cost(0.99 * s),
                                                                     cost(1.01 * s))
    assert fit_eta_scale(-mu, obs) == 0.0 and fit_eta_scale(0 * mu, obs) == 0.0


def test_symmetric_modulators_predict_no_mean_change():
    rule = event_rule("three_factor_spiking", gate="symmetric")
    x = np.random.default_rng(3).normal(0.0, 1.0, 500)
    n = 256
    ds = predict(rule, np.concatenate([x, -x]), n_synapses=n, seed=1, fit_eta=False, dts=DTS)
    for key in ("window", "sjostrom"):
        mean, std = ds[f"{key}_dw_rel_model"].values, ds[f"{key}_dw_rel_std"].values
        print(f"{key}: max |mean| {np.abs(mean).max():.2e}, max std {std.max():.2e}")
        assert (np.abs(mean) <= 3 * std / math.sqrt(n) + 1e-15).all()
        assert std.max() > 0


def test_predict_with_samples_is_fast_and_reports_the_spread():
    import time

    rule = event_rule("lpl_spiking")
    samples = np.random.default_rng(0).normal(0.5, 1.0, 1000)
    start = time.perf_counter()
    ds = predict(rule, samples, n_synapses=256)
    took = time.perf_counter() - start
    print(f"lpl_spiking, 256 synapses, both protocols: {took:.2f} s, eta {ds.eta.item():.3g}, "
          f"RMSE {ds.sjostrom_rmse.sel(digitisation='vhlab').item():.3f}")
    assert took < 10
    assert ds.sizes["synapse"] == 256 and ds.sizes["window_dt"] == 101
    assert bool(np.isfinite(ds.sjostrom_z).all()) and ds.attrs["eta_fitted"] == "true"
    assert (ds.sjostrom_dw_rel_std > 0).any() and ds.eta.item() >= 0


# --- recorded factors ----------------------------------------------------------------------

def _recorded(n_steps: int = 9) -> xr.Dataset:
    """A recording of projection w1: step 0 NaN, then M = step + unit/10, gate on odd units."""
    dims = ("step", "path_w1", "stream_w1", "fposition_w1", "post_w1")
    shape = (n_steps, 1, 2, 1, 4)
    step = np.arange(n_steps).reshape(-1, 1, 1, 1, 1)
    unit = np.arange(4).reshape(1, 1, 1, 1, -1)
    m = np.broadcast_to(step + unit / 10, shape).copy()
    post = np.broadcast_to((unit % 2 == 1).astype(float), shape).copy()
    rate = np.broadcast_to(step + 0.0 * unit, shape).copy()
    for a in (m, post, rate):
        a[0] = np.nan
    return xr.Dataset({"factor_M_w1": (dims, m), "factor_post_w1": (dims, post),
                       "factor_rate_w1": (dims, rate)}, coords={"step": np.arange(n_steps)})


def test_modulator_samples_select_the_stage_and_the_open_gate():
    ds = _recorded()                                                  # 8 recorded steps
    end = modulator_samples(ds, "w1")                                 # last 2 steps
    assert sorted(set(np.round(end, 6))) == [7.1, 7.3, 8.1, 8.3] and end.size == 8
    start = modulator_samples(ds, "w1", stage="start", fraction=0.5)  # steps 1..4
    assert sorted(set(np.round(start, 6))) == [s + u for s in (1, 2, 3, 4) for u in (0.1, 0.3)]
    ds["factor_M_w1"][-1, 0, 0, 0, 1] = np.nan                        # NaN dropped
    assert modulator_samples(ds, "w1").size == 7
    mean, var = rate_moments(ds, "w1", fraction=0.25)                 # rates 7, 8
    assert mean == pytest.approx(7.5) and var == pytest.approx(0.25)


@pytest.mark.parametrize("call, error, says", [
    (lambda: modulator_samples(_recorded(), "w2"), ConfigError, "has no factor_M_w2"),
    (lambda: modulator_samples(_recorded(), "w1", stage="middle"), UnknownNameError, "stage"),
    (lambda: modulator_samples(_recorded(), "w1", fraction=0.0), ConfigError, "fraction=0.0"),
    (lambda: modulator_samples(_recorded(1), "w1"), ConfigError, "no recorded step"),
    (lambda: predict(event_rule("triplet"), [1.0]), ConfigError, "fit_eta needs a rule"),
    (lambda: predict(event_rule("lpl_spiking"), [1.0], protocols=("stdp_window",)),
     ConfigError, "add 'sjostrom2001'"),
    (lambda: predict(event_rule("lpl_spiking"), [math.inf]), ConfigError, "samples=inf"),
    (lambda: predict(event_rule("lpl_spiking"), []), ConfigError, "samples is empty"),
    (lambda: predict(event_rule("pair"), protocols=("poisson",)), UnknownNameError, "poisson"),
    (lambda: predict(rules.get("bp")), ConfigError, "not a spike-timing rule"),
])
def test_bad_input_is_a_one_line_error(call, error, says):
    with pytest.raises(error, match=says) as err:
        call()
    assert "\n" not in str(err.value)
