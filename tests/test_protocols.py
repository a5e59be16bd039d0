"""Protocol engine, stdp-family rules and ``plastisim protocol``: closed forms, the cortical data
(Sjöström 2001, Bi & Poo 1998), the BCM limit of the triplet rule, bad input."""
from __future__ import annotations

import ast
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from scipy.optimize import curve_fit

import plastisim
from plastisim import rules
from plastisim.cli import main
from plastisim.errors import ConfigError, UnknownNameError
from plastisim.protocols import (SpikeTrains, event_rule, merge, pairing, poisson, poisson_drift,
                                 run, sjostrom2001, stdp_window)
from plastisim.bench.protocols import bench_protocols, triplet_loop
from plastisim.traces import Trace, decay_factor, trace_step


def _one(pre: list[float], post: list[float]) -> SpikeTrains:
    """One stream with the given spike times (s)."""
    return SpikeTrains(torch.tensor([[pre]], dtype=torch.float64),
                       torch.tensor([[post]], dtype=torch.float64))


def _dw(rule, pre, post, **kw) -> float:
    return run(rule, merge(_one(pre, post)), **kw).item() - kw.get("w_init", 1.0)


# --- traces: tensor dt, backward compatible ------------------------------------------------

@pytest.mark.parametrize("kind", ["additive", "saturating", "nearest"])
def test_trace_step_accepts_tensor_dt(kind):
    assert isinstance(decay_factor(0.5, 2.0), float) and decay_factor(0.5, 0.0) == 0.0
    value, x = torch.tensor([0.3, 0.7, 0.2]), torch.tensor([1.0, 0.0, 1.0])
    dts = torch.tensor([0.1, 0.5, 2.0])
    batched = trace_step(value, x, dts, 0.25, kind)
    for i, dt in enumerate(dts.tolist()):
        one = trace_step(value[i:i + 1], x[i:i + 1], dt, 0.25, kind)
        assert batched[i].item() == pytest.approx(one.item(), abs=1e-7)
    trace = Trace(0.25, kind, value=value.clone())
    trace.step(x, dts)
    trace.decay(torch.full((3,), 0.25))
    assert torch.allclose(trace.value, batched * math.exp(-1.0))


# --- hand-checkable closed forms ------------------------------------------------------------

@pytest.mark.parametrize("dt_ms", [15.0, -15.0, 40.0, -5.0])
def test_pair_single_pairing_closed_form(dt_ms):
    rule = event_rule("pair", A_plus=0.01, A_minus=0.0105)
    dt = dt_ms / 1000
    t_pre, t_post = 0.1, 0.1 + dt
    expected = (0.01 * math.exp(-dt / 16.8e-3) if dt > 0
                else -0.0105 * math.exp(dt / 33.7e-3))
    assert _dw(rule, [t_pre], [t_post]) == pytest.approx(expected, abs=1e-6, rel=1e-9)


def test_pair_multiplicative_closed_form_and_bounds():
    rule = event_rule("pair", mode="multiplicative", w_max=2.0, A_plus=0.01, A_minus=0.0105)
    ltp = _dw(rule, [0.1], [0.11], w_init=0.5)
    assert ltp == pytest.approx(0.01 * (2.0 - 0.5) * math.exp(-0.01 / 16.8e-3), abs=1e-12)
    ltd = _dw(rule, [0.11], [0.1], w_init=0.5)
    assert ltd == pytest.approx(-0.0105 * 0.5 * math.exp(-0.01 / 33.7e-3), abs=1e-12)
    big = event_rule("pair", mode="multiplicative", A_plus=5.0, A_minus=5.0)
    w = run(big, merge(pairing(torch.tensor([0.005, -0.005]), 20.0, 30)))
    assert (w >= 0).all() and (w <= 2.0).all()


def test_triplet_closed_form_all_to_all():
    p = rules.get("triplet", params="visual_all_to_all_full").params
    # pre at 0, post at 10 ms, post at 30 ms, pre at 45 ms
    r1 = lambda t: math.exp(-t / p.tau_plus)                       # noqa: E731
    expected = (r1(0.010) * p.A2_plus
                + r1(0.030) * (p.A2_plus + p.A3_plus * math.exp(-0.020 / p.tau_y))
                - (math.exp(-0.035 / p.tau_minus) + math.exp(-0.015 / p.tau_minus))
                * (p.A2_minus + p.A3_minus * math.exp(-0.045 / p.tau_x)))
    got = _dw(rules.get("triplet", params="visual_all_to_all_full"), [0.0, 0.045],
              [0.010, 0.030])
    assert got == pytest.approx(expected, abs=1e-12)


def test_triplet_closed_form_nearest_spike():
    rule = rules.get("triplet", params="visual_nearest_full", A2_plus=0.01)
    p = rule.params
    # two pre spikes then one post: nearest-spike r1 holds only the last pre (all-to-all
    # would add exp(-30 ms / tau_plus)); o2 = 0 (no earlier post)
    got = _dw(rule, [0.0, 0.020], [0.030])
    assert got == pytest.approx(math.exp(-0.010 / p.tau_plus) * 0.01, abs=1e-15)
    # post, post, pre: o1 holds only the last post, r2 = 0 (no earlier pre)
    got = _dw(rule, [0.050], [0.0, 0.040])
    ltp = 0.0                                                        # no pre before the posts
    ltd = math.exp(-0.010 / p.tau_minus) * p.A2_minus
    assert got == pytest.approx(ltp - ltd, abs=1e-12)


def test_simultaneous_spikes_read_only_earlier_traces():
    rule = event_rule("pair")
    assert _dw(rule, [0.1], [0.1]) == 0.0
    p = rule.params   # a pre 10 ms earlier pairs with the post, the simultaneous pre does not
    assert _dw(rule, [0.09, 0.1], [0.1]) == pytest.approx(
        p.A_plus * math.exp(-0.01 / p.tau_plus), abs=1e-12)


def test_bcm_closed_form():
    rule = event_rule("bcm")
    p = rule.params
    # pre at 0, post at 10 ms, post at 20 ms
    x1, x2 = math.exp(-0.010 / p.tau_x), math.exp(-0.020 / p.tau_x)
    theta2 = (math.exp(-0.010 / p.tau_theta) / p.tau_theta) ** 2 / p.y0
    expected = p.eta * x1 * 0.0 + p.eta * x2 * (math.exp(-0.010 / p.tau_y) / p.tau_y - theta2)
    assert _dw(rule, [0.0], [0.010, 0.020]) == pytest.approx(expected, abs=1e-15)


# --- engine: lock-step batches equal the per-event loop -------------------------------------

@pytest.mark.parametrize("params", ["visual_all_to_all_full", "visual_nearest_full",
                                    "visual_nearest_minimal"])
def test_engine_equals_per_event_python_loop(params):
    rule = event_rule("triplet", params=params)
    gen = torch.Generator().manual_seed(1)
    trains = poisson(torch.tensor([5.0, 30.0]), torch.tensor([20.0, 8.0]), 2.0, 8, gen)
    w = run(rule, merge(trains))                                     # (2, 8)
    for c in range(2):
        for i in range(8):
            pre = [t for t in trains.pre[c, i].tolist() if t < math.inf]
            post = [t for t in trains.post[c, i].tolist() if t < math.inf]
            assert w[c, i].item() == pytest.approx(triplet_loop(pre, post, rule.params),
                                                   abs=1e-12)
    # each condition alone gives the same weights (padding of shorter streams is inert)
    alone = run(rule, merge(SpikeTrains(trains.pre[1:], trains.post[1:])))
    assert torch.equal(alone, w[1:])


def test_pairing_trains():
    trains = pairing(torch.tensor([0.01, -0.01]), torch.tensor([10.0, 10.0]), 3)
    assert torch.allclose(trains.pre[0, 0], torch.tensor([0.0, 0.1, 0.2], dtype=torch.float64))
    assert torch.allclose(trains.post[0, 0], torch.tensor([0.01, 0.11, 0.21],
                                                          dtype=torch.float64))
    assert torch.allclose(trains.post[1, 0], trains.pre[0, 0])
    events = merge(trains)
    assert events.n_events == 6 and events.t.shape == (6, 2, 1, 1)
    assert events.pre[:, 0].flatten().tolist() == [True, False] * 3


# --- acceptance: Sjöström et al. 2001, Bi & Poo 1998, BCM limit ----------------------------

@pytest.mark.parametrize("params, max_z, max_rmse", [("visual_nearest_full", 1.0, 0.11),
                                                     ("visual_all_to_all_full", 1.3, 0.15)])
def test_sjostrom2001_triplet(params, max_z, max_rmse):
    ds = sjostrom2001(event_rule("triplet", params=params), n_pairings=60)
    assert ds.n_pairings_model.item() == 60 and ds.attrs["n_pairings"] == 60
    vh = ds.sel(digitisation="vhlab")
    assert vh.z.size == 10 and bool(np.isfinite(vh.z).all())
    assert float(abs(vh.z).max()) <= max_z
    assert vh.rmse.item() <= max_rmse
    # the stored comparison is the definition, recomputed here
    err = ds.dw_rel_model - vh.dw_rel_data
    xr.testing.assert_allclose(vh.z, err / vh.sem_data)
    assert vh.rmse.item() == pytest.approx(float(np.sqrt((err ** 2).mean())))
    assert vh.max_abs_z.item() == pytest.approx(float(abs(vh.z).max()))


def test_relative_change_is_sum_of_updates_in_units_of_w0():
    rule = event_rule("triplet", params="visual_nearest_full")
    one, two = sjostrom2001(rule, w_init=1.0), sjostrom2001(rule, w_init=2.0)
    xr.testing.assert_allclose(two.dw_rel_model * 2, one.dw_rel_model)


def test_pair_window_time_constants_from_curve_fit():
    ds = stdp_window(event_rule("pair"))
    dt, dw = ds.dt.values, ds.dw_rel_model.values
    (_, tau_minus), _ = curve_fit(lambda t, a, tau: a * np.exp(t / tau), dt[dt < 0], dw[dt < 0],
                                  p0=(-0.5, 0.02))
    (_, tau_plus), _ = curve_fit(lambda t, a, tau: a * np.exp(-t / tau), dt[dt > 0], dw[dt > 0],
                                 p0=(0.5, 0.02))
    assert tau_minus == pytest.approx(33.7e-3, abs=0.5e-3)
    assert tau_plus == pytest.approx(16.8e-3, abs=0.5e-3)
    assert ds.tau_minus_fit.item() == pytest.approx(tau_minus, rel=1e-6)
    assert ds.tau_minus_data.item() == pytest.approx(33.7e-3)


def test_triplet_minimal_all_to_all_bcm_limit():
    rule = event_rule("triplet", params="visual_all_to_all_minimal")
    p = rule.params
    rho_x, rho_y = np.array([10.0, 10.0, 20.0]), np.array([40.0, 10.0, 25.0])
    ds = poisson_drift(rule, rho_x, rho_y, duration=10.0, n_synapses=2000, seed=0, warmup=1.0)
    theory = rho_x * rho_y * (p.A3_plus * p.tau_plus * p.tau_y * rho_y - p.A2_minus * p.tau_minus)
    assert np.sign(theory).tolist() == [1, -1, 1]                  # both sides of threshold
    np.testing.assert_allclose(ds.drift.values, theory, rtol=0.05)


# --- the CLAPP-like rule: the STDP window a modulator state implies -------------------------

@pytest.mark.parametrize("gamma", [1, -1, 0])
@pytest.mark.parametrize("gate", ["causal", "symmetric"])
def test_clapp_spiking_window_per_modulator_state(gamma, gate):
    rule = event_rule("clapp_spiking", gamma=gamma, gate=gate, dendrite=0.5)
    p = rule.params
    dts = np.array([-0.02, -0.01, 0.01, 0.02])
    ds = stdp_window(rule, dts=dts, n_pairings=1)
    causal = p.eta * gamma * 0.5 * np.exp(-np.abs(dts) / p.tau_pre) * (dts > 0)
    anti = p.eta * gamma * 0.5 * np.exp(-np.abs(dts) / p.tau_post) * (dts < 0)
    expected = causal + (anti if gate == "symmetric" else 0)
    np.testing.assert_allclose(ds.dw_rel_model.values, expected, atol=1e-12)


def test_clapp_spiking_modulator_tensor():
    rule = event_rule("clapp_spiking")
    trains = pairing(torch.tensor([0.01]), 1.0, 1)
    events = merge(SpikeTrains(trains.pre.expand(1, 3, 1), trains.post.expand(1, 3, 1)))
    w = run(rule, events, modulator=torch.tensor([1.0, -1.0, 0.0])) - 1
    assert w[0, 0] > 0 and w[0, 1] == -w[0, 0] and w[0, 2] == 0
    with pytest.raises(ConfigError, match="gamma in"):
        run(rule, events, modulator=torch.tensor([0.5, 1.0, 1.0]))


# --- registry and bad input -----------------------------------------------------------------

def test_stdp_family_registered_with_defaults():
    assert set(rules.names("stdp")) == {"pair", "triplet", "bcm", "clapp_spiking",
                                        "three_factor_spiking", "lpl_spiking"}
    for name in rules.names("stdp"):
        assert rules.info(name).family == "stdp"
        rules.get(name)                                              # every default builds
    rule = rules.get("triplet", params="visual_all_to_all_full", A3_plus=0.01)
    assert rule.params.A3_plus == 0.01 and rule.params.tau_x == 0.101


@pytest.mark.parametrize("call, error", [
    (lambda: event_rule("triplet", params="visual"), UnknownNameError),
    (lambda: event_rule("dfa"), UnknownNameError),
    (lambda: event_rule("triplet", A3_plus=-1.0), ConfigError),
    (lambda: event_rule("pair", interaction="nearest"), ConfigError),
    (lambda: stdp_window(event_rule("pair"), freq=-1.0), ConfigError),
    (lambda: sjostrom2001(event_rule("pair"), n_pairings=0), ConfigError),
    (lambda: _one([0.2, 0.1], [0.3]), ConfigError),
    (lambda: poisson([-1.0], [1.0], 1.0, 1, torch.Generator()), ConfigError),
])
def test_bad_input_is_a_one_line_error(call, error):
    with pytest.raises(error) as err:
        call()
    assert "\n" not in str(err.value)


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, says", [
    (["protocol", "sjostrom"], "available: poisson, sjostrom2001, stdp_window"),
    (["protocol", "sjostrom2001", "--rule", "tripplet"], "available: bcm, clapp_spiking"),
    (["protocol", "sjostrom2001", "--params", "visual"], "available: hippocampal_all_to_all"),
    (["protocol", "stdp_window", "--rule", "pair", "--freq", "-5"], "freq=-5.0 is impossible"),
    (["protocol", "sjostrom2001", "--pairings", "-3"], "pairings=-3 is impossible"),
    (["protocol", "poisson", "--rate-pre", "-2"], "rate_pre=-2.0 is impossible"),
    (["protocol", "sjostrom2001", "--rule", "pair", "--params", "visual_nearest_full"],
     "rule.params is not a parameter of rule 'pair'"),
])
def test_cli_bad_input_exit_code_2_one_line(argv, says, capsys, tmp_path):
    code, out, err = _cli([*argv, "--out", str(tmp_path / "x.nc")], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("plastisim: error: ") and says in err
    assert not (tmp_path / "x.nc").exists()


def test_cli_sjostrom2001_writes_netcdf_png_and_table(capsys, tmp_path):
    out = tmp_path / "runs" / "sj.nc"
    out.parent.mkdir()                 # outputs go into existing folders (docs/failures.md)
    code, text, _ = _cli(["protocol", "sjostrom2001", "--rule", "triplet", "--params",
                          "visual_nearest_full", "--pairings", "60", "--out", str(out),
                          "--quiet"], capsys)
    assert code == 0 and "vhlab: RMSE 0.108" in text and "60 pairings" in text
    with xr.open_dataset(out) as ds:
        for key in ("Conventions", "title", "source", "history", "plastisim_version"):
            assert ds.attrs[key]
        assert ("plastisim protocol sjostrom2001 --rule triplet --params visual_nearest_full "
                "--pairings 60 --out") in ds.attrs["history"]
        for var in [*ds.data_vars, *ds.coords]:
            assert ds[var].attrs.get("units") and ds[var].attrs.get("long_name"), var
        assert ds.n_pairings_model.item() == 60
        assert ds.rmse.sel(digitisation="vhlab").item() <= 0.11
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_stdp_window_pair(capsys, tmp_path):
    code, text, _ = _cli(["protocol", "stdp_window", "--rule", "pair", "--dt-step-ms", "5",
                          "--out", str(tmp_path / "w.nc"), "--quiet"], capsys)
    assert code == 0 and "tau- 33.70 ms" in text
    assert (tmp_path / "w.png").exists()


# --- layering and the benchmark -------------------------------------------------------------

def test_protocols_import_no_cli_plotting_or_progress_bars():
    # at run time (torch itself imports tqdm, so tqdm is checked in the sources below)
    code = ("import sys, plastisim.protocols, plastisim.rules, plastisim.data; "
            "print(sorted(m for m in ('matplotlib', 'plastisim.cli', 'xarray') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
    # in the sources: only the cli knows argparse, progress bars and figures
    root = Path(plastisim.__file__).parent
    files = [*root.glob("protocols/*.py"), *root.glob("rules/stdp*.py"), root / "data/__init__.py"]
    assert len(files) >= 10
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] in ("matplotlib", "tqdm", "argparse")
                               or n == "cli" or ".cli" in n for n in names), (path, names)


def test_bench_protocols_small():
    result = bench_protocols(n_synapses=100, duration=1.0, loop_synapses=5, repeats=1)
    assert result["ratio_to_reference"] > 0 and result["synapse_updates"] > 0
    assert result["max_abs_weight_difference_on_subset"] < 1e-12
