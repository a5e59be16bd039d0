"""plastisim.fingerprint on synthetic recordings of the three factors (docs/data-format.md:
``factor_M_<s>``, ``factor_post_<s>``, ``factor_rate_<s>``, ``factor_pre_<s>``, optional
``factor_gamma_<s>``; the step-0 record NaN): known BCM rules come back within 5 %, a sliding
threshold is told from a fixed one, known modulator fractions and log-normal weights are
measured, and ``plastisim fingerprint`` writes its files or fails in one line."""
from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from plastisim import fingerprint as fpr
from plastisim.cli import main
from plastisim.errors import ConfigError
from plastisim.fingerprint.bcm import phi

THETA, A_LTD, A_LTP = 0.8, 0.3, 1.2


def _dataset(M, post_term, r, x, *, gamma=None, weights=None, s="w1", step0=True):
    """A recording of projection ``s`` from arrays (records, path, stream, fposition, post|pre),
    with the all-NaN step-0 record put in front."""
    def with_step0(a):
        a = np.asarray(a, dtype=np.float32)
        return np.concatenate([np.full((1,) + a.shape[1:], np.nan, np.float32), a]) \
            if step0 else a

    d = ("step", f"path_{s}", f"stream_{s}", f"fposition_{s}")
    n, path, stream, fpos, post = np.shape(M)
    pre = np.shape(x)[-1]
    data = {f"factor_M_{s}": (d + (f"post_{s}",), with_step0(M)),
            f"factor_post_{s}": (d + (f"post_{s}",), with_step0(post_term)),
            f"factor_rate_{s}": (d + (f"post_{s}",), with_step0(r)),
            f"factor_pre_{s}": (d + (f"pre_{s}",), with_step0(x))}
    if gamma is not None:
        data[f"factor_gamma_{s}"] = (d, with_step0(gamma))
    if weights is not None:
        data[f"weight_{s}"] = (("step", f"post_{s}", f"pre_{s}"), weights)
    coords = {"step": np.arange(n + step0) * 10, f"path_{s}": np.arange(path),
              f"stream_{s}": np.arange(stream), f"fposition_{s}": np.arange(fpos),
              f"post_{s}": np.arange(post), f"pre_{s}": np.arange(pre),
              f"pre_channel_{s}": (f"pre_{s}", np.arange(pre) % 3)}
    return xr.Dataset(data, coords=coords, attrs={"rule": "synthetic", "batch_size": stream})


def _bcm_run(thetas=(THETA,), r_max=(2.5,), records=4, post=128, noise=0.03, seed=0,
             weights=False) -> xr.Dataset:
    """A ReLU layer whose update is φ(r) · x (BCM form, amplitudes A_LTD / A_LTP, one θ per
    stage of ``records`` records); rates uniform on [0, r_max] with 20 % zeros, 30 % of the pre
    inputs silent; M = φ(r) + noise where the gate is open."""
    rng = np.random.default_rng(seed)
    shape = (records * len(thetas), 1, 4, 4)
    r = np.concatenate([rng.uniform(0, rm, (records,) + shape[1:] + (post,)) for rm in r_max])
    r[rng.random(r.shape) < 0.2] = 0.0
    theta = np.repeat(np.array(thetas), records)[:, None, None, None, None]
    M = phi(r, theta, A_LTD, A_LTP) + noise * rng.standard_normal(r.shape)
    x = rng.exponential(1.0, shape + (16,))
    x[rng.random(x.shape) < 0.3] = 0.0
    w = rng.lognormal(-0.7, 0.9, (shape[0] + 1, post, 16)) if weights else None
    return _dataset(M, (r > 0).astype(float), r, x, weights=w)


# --- the reader ---------------------------------------------------------------------------------
def test_products_drop_step_0_and_form_the_three_factor_product():
    ds = _bcm_run(records=2, post=8)
    prod = fpr.products(ds, "w1", update=True)
    assert prod["step"].values.tolist() == [10, 20]              # the NaN record is gone
    assert prod["u"].dims == ("step", "path", "stream", "fposition", "post", "pre")
    expect = (ds["factor_M_w1"] * ds["factor_post_w1"] * ds["factor_pre_w1"]).isel(step=[1, 2])
    np.testing.assert_allclose(prod["u"].values, expect.transpose(
        "step", "path_w1", "stream_w1", "fposition_w1", "post_w1", "pre_w1").values, rtol=1e-6)
    assert "u" not in fpr.products(ds, "w1")                      # by default: no (post × pre)
    assert all(prod[v].attrs["units"] and prod[v].attrs["long_name"] for v in prod.data_vars)


def test_projections_without_factors_is_one_line_naming_the_file():
    with pytest.raises(ConfigError) as err:
        fpr.projections(xr.Dataset({"loss": ("step", [1.0])}), "run.nc")
    assert str(err.value) == ("run.nc has no recorded factors (factor_M_<projection>): record "
                              "them with record.factors = 'all'")


def test_stages_have_equal_counts_and_step_labels():
    index, labels = fpr.stages([10, 20, 30, 40, 50, 60, 70, 80], 4)
    assert index.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert labels == ["10-20", "30-40", "50-60", "70-80"]
    with pytest.raises(ConfigError, match="need at most 3"):
        fpr.stages([1, 2, 3], 4)


# --- BCM ----------------------------------------------------------------------------------------
def test_a_known_bcm_rule_is_recovered_within_5_percent():
    fp = fpr.fingerprint(_bcm_run(records=8), stages=1)
    got = fp.sel(projection="w1").isel(stage=0)
    for name, true in (("bcm_theta", THETA), ("bcm_a_ltd", A_LTD), ("bcm_a_ltp", A_LTP)):
        assert float(got[name]) == pytest.approx(true, rel=0.05), name
        assert 0 < float(got[f"{name}_err"]) < 0.05 * true
    assert float(got["bcm_r2"]) > 0.99 and str(got["bcm_note"].values) == ""
    # the binned curve is the update per unit pre activity: φ at the bin's rate
    r, u = got["bcm_rate"].values, got["bcm_update"].values
    ok = np.isfinite(r)
    assert ok.sum() >= 10
    np.testing.assert_allclose(u[ok], phi(r[ok], THETA, A_LTD, A_LTP), atol=0.05)


def test_the_pre_activity_weights_the_curve_without_a_post_by_pre_product():
    """u = g · x: Σu/Σx over active pre inputs is g, whatever the pre values (here: φ(r) per
    unit of pre activity even when the pre activity is 100 times larger)."""
    ds = _bcm_run(records=4, noise=0.0)
    ds["factor_pre_w1"] = ds["factor_pre_w1"] * 100
    got = fpr.fingerprint(ds, stages=1).isel(projection=0, stage=0)
    assert float(got["bcm_theta"]) == pytest.approx(THETA, rel=1e-3)
    assert float(got["bcm_a_ltp"]) == pytest.approx(A_LTP, rel=1e-3)


def test_a_fit_without_rates_is_nan_with_its_reason():
    ds = _bcm_run(records=2, post=8)
    ds["factor_rate_w1"] = ds["factor_rate_w1"].where(ds["factor_rate_w1"].isnull(), 0.0)
    got = fpr.fingerprint(ds, stages=1).isel(projection=0, stage=0)
    assert math.isnan(float(got["bcm_theta"])) and math.isnan(float(got["bcm_a_ltp"]))
    assert "distinct positive post rates" in str(got["bcm_note"].values)


@pytest.mark.parametrize("thetas, r_max, slides", [
    ((0.5, 0.7, 0.9, 1.1), (1.5, 2.0, 2.5, 3.0), True),    # θ tracks the mean rate
    ((0.8, 0.8, 0.8, 0.8), (1.5, 2.0, 2.5, 3.0), False),   # θ fixed while the rate grows
    ((1.1, 0.9, 0.7, 0.5), (1.5, 2.0, 2.5, 3.0), False),   # θ moves against the rate
])
def test_sliding_threshold(thetas, r_max, slides):
    fp = fpr.fingerprint(_bcm_run(thetas, r_max, records=2, post=64), stages=4)
    got = fp.sel(projection="w1")
    np.testing.assert_allclose(got["bcm_theta"].values, thetas, rtol=0.05)
    assert bool(got["theta_slides"]) is slides
    assert got["theta_slides"].attrs["criterion"].startswith("theta_change > 0.1 and")
    if thetas[0] != thetas[-1]:
        assert float(got["theta_change"]) > 0.1
        assert np.sign(float(got["theta_rate_corr"])) == (1 if slides else -1)
    else:
        assert float(got["theta_change"]) < 0.1


def test_stages_are_per_projection():
    """As in a layerwise run, projections learn at different steps (NaN factors where one does
    not): w1 at steps 10-60, the readout at 50-60; a projection without records is left out."""
    local, readout = _bcm_run(records=6, post=8), _bcm_run(records=6, post=8, seed=1)
    nan_until = {"readout": 4, "frozen": 7}
    parts = [local]
    for name, n in nan_until.items():
        ds = readout.rename({v: v.replace("w1", name) for v in readout.variables if "w1" in v})
        parts.append(ds.map(lambda v: v.where(v["step"] > n * 10) if "step" in v.dims else v))
    fp = fpr.fingerprint(xr.merge(parts), stages=4)
    assert fp["projection"].values.tolist() == ["w1", "readout"]
    assert fp.attrs["projections_without_records"] == "frozen"
    assert fp["stage_label"].sel(projection="w1").values.tolist() == [
        "10-20", "30-40", "50", "60"]
    assert fp["stage_label"].sel(projection="readout").values.tolist() == ["50", "60", "", ""]
    readout_fit = fp["bcm_theta"].sel(projection="readout").values
    assert np.isfinite(readout_fit[:2]).all() and np.isnan(readout_fit[2:]).all()
    assert "only 2 factor records" in str(fp["bcm_note"].sel(projection="readout", stage=3)
                                          .values)
    with pytest.raises(ConfigError, match="need at most 6"):
        fpr.fingerprint(xr.merge(parts), stages=7)


# --- modulator ----------------------------------------------------------------------------------
def _signed(rng, shape, fractions=(0.5, 0.3, 0.2)):
    """Values with exactly the given positive / negative / zero fractions along the last axis."""
    n = shape[-1]
    k_pos, k_neg = round(fractions[0] * n), round(fractions[1] * n)
    row = np.concatenate([rng.uniform(0.5, 2, k_pos), -rng.uniform(0.5, 2, k_neg),
                          np.zeros(n - k_pos - k_neg)])
    return np.stack([rng.permutation(row) for _ in range(int(np.prod(shape[:-1])))]) \
        .reshape(shape)


def test_modulator_fractions_quantiles_and_correlations():
    rng = np.random.default_rng(1)
    shape = (4, 1, 2, 2, 100)
    M = _signed(rng, shape)
    first_zero = np.argmax(M == 0, axis=-1)[..., None]
    np.put_along_axis(M, first_zero, 1e-14, axis=-1)   # below 1e-12 max|M|: still silent
    r = np.abs(M) + 0.5                 # |M| and r go together; the gate always open
    x = rng.uniform(0, 1, shape[:-1] + (8,))
    fp = fpr.fingerprint(_dataset(M, np.ones(shape), r, x), stages=2)
    got = fp.sel(projection="w1")
    assert got["modulator_used"].item() == "M"
    np.testing.assert_allclose(got["fraction_positive"].values, 0.5)
    np.testing.assert_allclose(got["fraction_negative"].values, 0.3)
    np.testing.assert_allclose(got["fraction_silent"].values, 0.2)
    stage0 = M[:2].ravel()
    np.testing.assert_allclose(got["modulator_quantile"].isel(stage=0).values,
                               np.quantile(stage0, [0.05, 0.25, 0.5, 0.75, 0.95]), rtol=1e-6)
    assert float(got["modulator_mean"].isel(stage=0)) == pytest.approx(stage0.mean(), rel=1e-6)
    np.testing.assert_allclose(got["modulator_hist"].sum("mbin").values, 1.0)
    scale = float(got["modulator_scale"].isel(stage=0))
    assert scale == pytest.approx(np.quantile(np.abs(stage0), 0.99), rel=1e-6)
    expect_hist = np.histogram(np.clip(stage0 / scale, -1, 1), np.linspace(-1, 1, 41))[0]
    np.testing.assert_allclose(got["modulator_hist"].isel(stage=0).values,
                               expect_hist / stage0.size, atol=1e-12)
    expect = np.corrcoef(stage0, r[:2].ravel())[0, 1]
    assert float(got["corr_modulator_rate"].isel(stage=0)) == pytest.approx(expect, rel=1e-6)
    assert abs(float(got["corr_modulator_pre"].isel(stage=0))) < 0.1


def test_gamma_gives_the_fractions_and_closed_gates_leave_the_quantiles():
    rng = np.random.default_rng(2)
    shape = (2, 1, 10, 10, 6)
    gamma = _signed(rng, (2, 1, 10, 10), fractions=(0.6, 0.3, 0.1))
    gamma = np.sign(gamma)
    M = gamma[..., None] * rng.uniform(1, 2, shape)
    gate = rng.random(shape) < 0.5
    M_recorded = np.where(gate, M, 1000.0)               # closed gates: never in the quantiles
    fp = fpr.fingerprint(_dataset(M_recorded, gate.astype(float), np.where(gate, 1.0, 0.0),
                                  rng.uniform(0, 1, shape[:-1] + (4,)), gamma=gamma), stages=1)
    got = fp.isel(projection=0, stage=0)
    assert fp["modulator_used"].values.tolist() == ["gamma"]
    # per stage of 2 records: 2 × 100 entries; 60 / 30 / 10 % of each record's 100
    assert [float(got[k]) for k in ("fraction_positive", "fraction_negative",
                                     "fraction_silent")] == pytest.approx([0.6, 0.3, 0.1])
    assert float(got["modulator_quantile"].max()) <= 2.0
    assert float(got["gate_open_fraction"]) == pytest.approx(gate.mean())


# --- weights ------------------------------------------------------------------------------------
def test_lognormal_fit_recovers_mu_and_sigma():
    w = np.random.default_rng(3).lognormal(-0.702, 0.9355, 20_000)
    mu, sigma, ks = fpr.lognormal_fit(np.concatenate([w, -w[:500], [0.0, np.nan]]))
    assert mu == pytest.approx(-0.702, rel=0.05) and sigma == pytest.approx(0.9355, rel=0.05)
    assert ks < 0.02                                     # close to its own log-normal
    assert ks == pytest.approx(stats.kstest(w, "lognorm", args=(sigma, 0, math.exp(mu)))
                               .statistic, rel=1e-9)
    _, _, ks_uniform = fpr.lognormal_fit(np.random.default_rng(4).uniform(0.1, 1, 20_000))
    assert ks_uniform > 0.05


def test_weight_statistics_by_hand():
    got = fpr.distribution(np.array([-0.01, 1.0, 2.0, 3.0, 4.0, np.nan]))
    w = np.array([-0.01, 1.0, 2.0, 3.0, 4.0])
    assert got["weight_mean"] == pytest.approx(w.mean())
    assert got["weight_cv"] == pytest.approx(w.std() / w.mean())
    m = w - w.mean()
    assert got["weight_skew"] == pytest.approx(np.mean(m ** 3) / np.mean(m ** 2) ** 1.5)
    assert got["weight_near_zero"] == pytest.approx(1 / 5)      # |-0.01| < 0.1 std
    assert got["weight_positive"] == pytest.approx(4 / 5)
    assert got["weight_ln_mu"] == pytest.approx(np.log([1, 2, 3, 4]).mean())
    assert got["weight_skew"] == pytest.approx(stats.skew(w))
    rows = fpr.weights.distributions(np.array([[1.0, 2.0, np.nan], [np.nan] * 3]))
    assert rows["weight_mean"][0] == 1.5 and np.isnan(rows["weight_mean"][1])


def test_weights_over_training_beside_song2005():
    fp = fpr.fingerprint(_bcm_run(records=4, post=32, weights=True), stages=2)
    got = fp.sel(projection="w1")
    assert got["weight_cv"].dims == ("wrecord",) and got.sizes["wrecord"] == 3
    assert got["weight_step"].values.tolist() == [0, 20, 40]   # the start, each stage's end
    assert np.all(np.abs(got["weight_ln_sigma"].values - 0.9) < 0.1)
    assert float(fp["song2005_cv"]) == pytest.approx(math.sqrt(math.exp(0.8752) - 1))
    assert float(fp["song2005_sigma"]) == pytest.approx(0.9355, abs=1e-4)
    assert fp["song2005_cv"].attrs["derived"] == "true"
    assert fp["song2005_cv"].attrs["compare_with"] == "weight_cv"


# --- the Dataset, the table, the figure, the command --------------------------------------------
def test_fingerprint_is_xarray_in_xarray_out_with_units(tmp_path):
    ds = xr.merge([_bcm_run(records=2, post=16, weights=True),
                   _bcm_run(records=2, post=16).rename(
                       {v: v.replace("w1", "readout") for v in _bcm_run(records=2, post=16)
                        .variables if "w1" in v})])
    fp = fpr.fingerprint(ds, stages=2, source="run.nc")
    assert isinstance(fp, xr.Dataset)
    assert fp["projection"].values.tolist() == ["w1", "readout"]
    assert {"projection", "stage", "rbin", "quantile", "mbin", "wrecord"} <= set(fp.dims)
    assert fp["bcm_theta"].dims == ("projection", "stage")
    for name in fp.data_vars:
        assert fp[name].attrs.get("long_name"), name
        if fp[name].dtype.kind == "f":
            assert fp[name].attrs.get("units"), name
    assert fp.attrs["rule"] == "synthetic" and fp.attrs["run_file"] == "run.nc"
    assert fp.attrs["plastisim_version"] and fp.attrs["run_batch_size"] == 4
    assert np.isnan(fp["weight_cv"].sel(projection="readout")).all()    # no weights recorded
    fp.to_netcdf(tmp_path / "fp.nc")
    with xr.open_dataset(tmp_path / "fp.nc") as back:
        assert bool(back["theta_slides"].sel(projection="w1")) is False


def test_table_and_png(tmp_path):
    from plastisim.cli.fingerprint import plot

    fp = fpr.fingerprint(_bcm_run(records=4, post=32, weights=True), stages=2, source="r.nc")
    text = fpr.table(fp)
    lines = text.splitlines()
    assert lines[0].startswith("fingerprint of rule synthetic (r.nc), 2 stages")
    assert lines[1].split() == ["projection", "steps", "modulator", "theta", "A_ltd", "A_ltp",
                                "slides", "+", "-", "silent", "CV", "skew", "ln_sigma"]
    row = lines[2].split()
    assert row[:3] == ["w1", "30-40", "M"] and float(row[3]) == pytest.approx(THETA, rel=0.05)
    assert row[6] == "n.a."                       # two stages: no verdict on sliding
    assert "Song et al. 2005" in lines[3] and "CV 1.18" in lines[3]
    png = plot(fp, tmp_path / "fp.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_command_writes_the_fingerprint(tmp_path, capsys):
    run = tmp_path / "run.nc"
    _bcm_run(records=2, post=32, weights=True).to_netcdf(run)
    assert main(["fingerprint", str(run), "--stages", "2"]) == 0
    out = capsys.readouterr().out
    assert "w1" in out and f"wrote {tmp_path / 'run_fingerprint.nc'}" in out
    with xr.open_dataset(tmp_path / "run_fingerprint.nc") as fp:
        assert fp.sizes["stage"] == 2 and "plastisim fingerprint" in fp.attrs["history"]
    assert (tmp_path / "run_fingerprint.png").stat().st_size > 0
    # the outputs exist: refused without --overwrite, replaced with it
    assert main(["fingerprint", str(run), "--stages", "2"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["fingerprint", str(run), "--stages", "2", "--overwrite",
                 "--out", str(tmp_path / "fp" / "a.nc")]) == 0
    assert (tmp_path / "fp" / "a.png").exists()


@pytest.mark.parametrize("kind, says", [
    ("no factors", "has no recorded factors (factor_M_<projection>)"),
    ("not netcdf", "is not a readable netCDF file"),
    ("missing", "does not exist"),
    ("too many stages", "need at most 2"),
    ("out is the input", "need a file other than the input"),
])
def test_command_bad_input_is_one_line_exit_2(tmp_path, capsys, kind, says):
    run = tmp_path / "run.nc"
    if kind == "no factors":
        xr.Dataset({"test_error": ("eval", [0.5, 0.4])}).to_netcdf(run)
    elif kind == "not netcdf":
        run.write_text("not a netCDF file\n")
    elif kind != "missing":
        _bcm_run(records=2, post=8).to_netcdf(run)
    more = {"too many stages": ["--stages", "3"],
            "out is the input": ["--stages", "2", "--out", str(run), "--overwrite"]}
    assert main(["fingerprint", str(run), *more.get(kind, [])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert not list(tmp_path.glob("*_fingerprint.*"))


def test_the_fingerprint_benchmark_measures_its_share_of_the_training_time():
    from plastisim.bench import BENCHMARKS, benchmark_options
    from plastisim.bench.fingerprint import bench_fingerprint

    assert "fingerprint" in BENCHMARKS and "rules" in benchmark_options("fingerprint")
    out = bench_fingerprint(width=16, epochs=2, every=4, rules=("bp",))
    run = out["runs"]["bp"]
    assert run["records"] >= 3 and run["train_s"] > 0 and run["fingerprint_s"] > 0
    assert run["fingerprint_over_train"] == pytest.approx(run["fingerprint_s"] / run["train_s"])
