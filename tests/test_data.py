"""Shipped reference data: layout, values, CF attributes, citations, errors."""
from __future__ import annotations

import csv
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from plastisim import data
from plastisim.errors import UnknownNameError

REFERENCE = Path("/work/shared/reference")
FILES = ("sjostrom2001_frequency.csv", "triplet_stdp_params.csv")


def _csv(name: str) -> list[dict[str, str]]:
    with resources.files("plastisim.data").joinpath(name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_names():
    assert data.names() == ["sjostrom2001", "triplet_params", "bipoo1998", "song2005"]


@pytest.mark.parametrize("name", data.names())
def test_cf_attributes_and_citation(name):
    ds = data.load(name)
    for var in [*ds.data_vars, *ds.coords]:
        assert ds[var].attrs.get("units"), var
        assert ds[var].attrs.get("long_name"), var
    assert ds.attrs["Conventions"] == "CF-1.8"
    assert "doi:10.1" in ds.attrs["references"]
    assert ds.attrs["title"]


@pytest.mark.parametrize("name", data.names())
def test_netcdf_roundtrip(name, tmp_path):
    ds = data.load(name)
    ds.to_netcdf(tmp_path / f"{name}.nc")
    with xr.open_dataset(tmp_path / f"{name}.nc") as back:
        xr.testing.assert_identical(back.load(), ds)


def test_sjostrom2001_layout_and_values():
    ds = data.load("sjostrom2001")
    assert ds.dw_rel.dims == ("digitisation", "dt", "freq")
    assert list(ds.digitisation.values) == ["vhlab", "plastyfire"]
    np.testing.assert_allclose(ds.dt.values, [0.010, -0.010])
    assert ds.dt.attrs["units"] == "s"
    np.testing.assert_allclose(ds.freq.values, [0.1, 10, 20, 40, 50])
    assert ds.n_pairings.sel(freq=0.1).values.tolist() == [50, 50]
    assert (ds.n_pairings.sel(freq=slice(10, 50)) == 75).all()
    rows = _csv("sjostrom2001_frequency.csv")
    assert len(rows) == ds.dw_rel.size == 20
    for r in rows:
        sel = dict(digitisation=r["digitisation"], dt=float(r["dt_ms"]) / 1000,
                   freq=float(r["freq_hz"]))
        assert ds.dw_rel.sel(sel).item() == float(r["dw_rel"])
        assert ds.sem.sel(sel).item() == float(r["sem"])
    # two spot checks against the published table, by hand
    assert ds.dw_rel.sel(digitisation="vhlab", dt=0.01, freq=40).item() == 0.53
    assert ds.sem.sel(digitisation="plastyfire", dt=-0.01, freq=50).item() == 0.185887


def test_triplet_params():
    sets = data.triplet_parameter_sets()
    assert list(sets) == ["visual_all_to_all_full", "visual_all_to_all_minimal",
                          "visual_nearest_full", "visual_nearest_minimal",
                          "hippocampal_all_to_all_full"]
    near = sets["visual_nearest_full"]
    assert near["interaction"] == "nearest_spike"
    assert (near["tau_x"], near["tau_y"], near["A3_plus"]) == (0.714, 0.04, 5.3e-2)
    assert math.isnan(sets["visual_all_to_all_minimal"]["tau_x"])
    ds = data.load("triplet_params")
    assert ds.tau_plus.attrs["units"] == "s" and ds.A3_plus.attrs["units"] == "1"
    for name, entry in sets.items():
        for key, value in entry.items():
            got = ds[key].sel(set=name).item()
            assert got == value or (math.isnan(value) and math.isnan(got)), (name, key)


def test_bipoo1998_ships_time_constants_only():
    ds = data.load("bipoo1998")
    assert ds.tau_plus.item() == pytest.approx(16.8e-3)
    assert ds.tau_minus.item() == pytest.approx(33.7e-3)
    assert set(ds.data_vars) == {"tau_plus", "tau_minus"}     # amplitudes are unverified
    assert "not shipped" in ds.attrs["comment"]
    assert data.bipoo1998_window() == {"tau_plus": ds.tau_plus.item(),
                                      "tau_minus": ds.tau_minus.item()}


def test_unknown_dataset_is_one_line_listing_names():
    with pytest.raises(UnknownNameError) as err:
        data.load("sjostrom")
    message = str(err.value)
    assert "\n" not in message
    assert message == ("dataset 'sjostrom' is unknown; available: bipoo1998, sjostrom2001, "
                       "song2005, triplet_params")


def test_citations_file_names_every_source():
    text = resources.files("plastisim.data").joinpath("README.md").read_text(encoding="utf-8")
    for doi in ("10.1016/S0896-6273(01)00542-6", "10.1523/JNEUROSCI.1425-06.2006",
                "10.1523/JNEUROSCI.18-24-10464.1998"):
        assert doi in text


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared reference folder not present")
@pytest.mark.parametrize("name", FILES)
def test_shipped_csv_equals_reference(name):
    shipped = resources.files("plastisim.data").joinpath(name).read_bytes()
    assert shipped == (REFERENCE / name).read_bytes()
