"""Shipped reference data on cortical plasticity, with citations (see ``README.md`` here).

``load(name)`` returns an ``xarray.Dataset``: CF-style ``units`` / ``long_name`` on every
variable and coordinate, the citation in the ``references`` attribute. Times are in seconds
(the CSV files keep the published milliseconds). Available names: ``sjostrom2001``,
``triplet_params``, ``bipoo1998``, ``song2005``.

The plain-dict readers ``triplet_parameter_sets`` and ``bipoo1998_window`` need no xarray; the
rules use them for their defaults. xarray is imported only inside ``load``.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Callable
from importlib import resources
from typing import Any

from ..errors import unknown

MS_PER_S = 1000.0   # values in ms / MS_PER_S -> s

SJOSTROM2001 = ("Sjöström PJ, Turrigiano GG, Nelson SB (2001) Rate, timing, and cooperativity "
                "jointly determine cortical synaptic plasticity. Neuron 32:1149-1164. "
                "doi:10.1016/S0896-6273(01)00542-6")
PFISTER2006 = ("Pfister J-P, Gerstner W (2006) Triplets of spikes in a model of spike "
               "timing-dependent plasticity. J Neurosci 26:9673-9682. "
               "doi:10.1523/JNEUROSCI.1425-06.2006")
BIPOO1998 = ("Bi G-Q, Poo M-M (1998) Synaptic modifications in cultured hippocampal neurons: "
             "dependence on spike timing, synaptic strength, and postsynaptic cell type. "
             "J Neurosci 18:10464-10472. doi:10.1523/JNEUROSCI.18-24-10464.1998")
SONG2005 = ("Song S, Sjöström PJ, Reigl M, Nelson S, Chklovskii DB (2005) Highly nonrandom "
            "features of synaptic connectivity in local cortical circuits. PLoS Biol 3(3):e68. "
            "doi:10.1371/journal.pbio.0030068 (Appendix S1 / Text S1)")
DIGITISATIONS = {
    "vhlab": "VH-Lab vhlab-toolbox-matlab, vlt.neuro.stdp.sjostrom_freq_stdp (fractions)",
    "plastyfire": ("BlueBrain plastyfire biodata/paired_recordings.csv (Chindemi et al. 2022, "
                   "Nat Commun 13:3038; Zenodo 5654788), EPSP ratio converted to ratio - 1"),
}
TRIPLET_NUMBERS = ("tau_plus", "tau_minus", "tau_x", "tau_y",
                   "A2_plus", "A3_plus", "A2_minus", "A3_minus")


def _rows(filename: str) -> list[dict[str, str]]:
    with resources.files(__name__).joinpath(filename).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _float(text: str) -> float:
    return float(text) if text.strip() else math.nan


def triplet_parameter_sets() -> dict[str, dict[str, Any]]:
    """Pfister & Gerstner (2006) sets: name -> {tau_* (s), A* (1), interaction}.

    ``interaction`` is ``all_to_all`` or ``nearest_spike``; a missing tau_x (minimal models,
    no pre-synaptic triplet term) is NaN.
    """
    sets = {}
    for row in _rows("triplet_stdp_params.csv"):
        entry: dict[str, Any] = {k: _float(row[f"{k}_ms"]) / MS_PER_S
                                 for k in TRIPLET_NUMBERS[:4]}
        entry.update({k: _float(row[k]) for k in TRIPLET_NUMBERS[4:]})
        entry["interaction"] = row["interaction"]
        sets[row["set"]] = entry
    return sets


def bipoo1998_window() -> dict[str, float]:
    """Bi & Poo (1998) window time constants in seconds: {"tau_plus": ..., "tau_minus": ...}."""
    return {row["quantity"]: float(row["value_ms"]) / MS_PER_S
            for row in _rows("bipoo1998_window.csv")}


def _cf(long_name: str, units: str, **extra: str) -> dict[str, str]:
    return {"long_name": long_name, "units": units, **extra}


def _sjostrom2001():
    import numpy as np
    import xarray as xr

    rows = _rows("sjostrom2001_frequency.csv")
    digs = list(dict.fromkeys(r["digitisation"] for r in rows))
    dts = sorted({float(r["dt_ms"]) for r in rows}, reverse=True)
    freqs = sorted({float(r["freq_hz"]) for r in rows})
    shape = (len(digs), len(dts), len(freqs))
    dw, sem, n = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, dtype=int)
    for r in rows:
        idx = (digs.index(r["digitisation"]), dts.index(float(r["dt_ms"])),
               freqs.index(float(r["freq_hz"])))
        dw[idx], sem[idx], n[idx] = float(r["dw_rel"]), float(r["sem"]), int(r["n_pairings"])
    assert (n == n[:1]).all(), "the digitisations disagree on the pairing counts"
    ds = xr.Dataset(
        {"dw_rel": (("digitisation", "dt", "freq"), dw, _cf(
            "relative weight change after pairing (after/before - 1), mean over cells", "1")),
         "sem": (("digitisation", "dt", "freq"), sem, _cf(
             "standard error of the mean of dw_rel", "1")),
         "n_pairings": (("dt", "freq"), n[0], _cf(
             "number of pre/post pairings in the experiment", "1"))},
        coords={"digitisation": ("digitisation", digs, _cf("source of the digitised values", "1")),
                "dt": ("dt", np.array(dts) / MS_PER_S, _cf(
                    "spike timing t_post - t_pre (positive: pre first)", "s")),
                "freq": ("freq", np.array(freqs), _cf("pairing repetition frequency", "Hz"))})
    ds.attrs = {"Conventions": "CF-1.8",
                "title": "Frequency dependence of STDP at L5-L5 synapses, rat visual cortex",
                "references": SJOSTROM2001, "source": "Fig. 1 / Fig. 7 of the reference",
                "comment": "; ".join(f"{k}: {v}" for k, v in DIGITISATIONS.items())}
    return ds


def _triplet_params():
    import numpy as np
    import xarray as xr

    sets = triplet_parameter_sets()
    names = list(sets)
    data = {}
    for k in TRIPLET_NUMBERS:
        is_tau = k.startswith("tau")
        attrs = _cf(f"time constant {k} of the triplet model" if is_tau else
                    f"amplitude {k} (per-spike weight change in units of the initial weight)",
                    "s" if is_tau else "1")
        data[k] = ("set", np.array([sets[s][k] for s in names]), attrs)
    data["interaction"] = ("set", np.array([sets[s]["interaction"] for s in names]),
                           _cf("spike interaction: all_to_all or nearest_spike", "1"))
    ds = xr.Dataset(data, coords={"set": ("set", names, _cf("parameter set", "1"))})
    ds.attrs = {"Conventions": "CF-1.8", "title": "Triplet STDP parameter sets",
                "references": PFISTER2006,
                "source": "Table 4 of the reference, as given in the Brian2 and Julia ports",
                "comment": ("tau_x is NaN for minimal models (no pre-synaptic triplet term). "
                            "Not re-checked against the paper's Table 4 by plastisim.")}
    return ds


def _bipoo1998():
    import xarray as xr

    taus = bipoo1998_window()
    ds = xr.Dataset({
        "tau_plus": ((), taus["tau_plus"], _cf(
            "time constant of the potentiation lobe (pre before post), exponential fit", "s")),
        "tau_minus": ((), taus["tau_minus"], _cf(
            "time constant of the depression lobe (post before pre), exponential fit", "s"))})
    ds.attrs = {"Conventions": "CF-1.8", "title": "STDP window time constants",
                "references": BIPOO1998,
                "comment": ("Fit amplitudes (about +0.78 / -0.27 as commonly quoted) are not "
                            "shipped: unverified against Bi & Poo (2001) Annu Rev Neurosci.")}
    return ds


def _song2005():
    """Log-normal EPSP amplitudes; cv and skewness derived from sigma2 (attribute ``derived``):
    CV = sqrt(e^σ² − 1), skewness = (e^σ² + 2)·sqrt(e^σ² − 1)."""
    import xarray as xr

    rows = {r["quantity"]: r for r in _rows("song2005_epsp_lognormal.csv")}
    data = {k: ((), float(r["value"]), _cf(r["comment"], r["units"], derived=r["derived"]))
            for k, r in rows.items()}
    s2 = float(rows["sigma2"]["value"])
    for k, value, text in (
            ("sigma", math.sqrt(s2), "standard deviation of ln(EPSP amplitude / 1 mV)"),
            ("cv", math.sqrt(math.expm1(s2)), "coefficient of variation of the log-normal"),
            ("skewness", (math.exp(s2) + 2) * math.sqrt(math.expm1(s2)),
             "skewness of the log-normal")):
        data[k] = ((), value, _cf(f"{text}, derived from sigma2", "ln(mV)" if k == "sigma"
                                  else "1", derived="true"))
    ds = xr.Dataset(data)
    ds.attrs = {"Conventions": "CF-1.8", "references": SONG2005,
                "title": "Log-normal EPSP amplitudes of L5 pyramidal connections, rat visual "
                         "cortex", "source": "Appendix S1 (Text S1) of the reference",
                "comment": "derived = \"true\": computed by plastisim from mu and sigma2"}
    return ds


DATASETS: dict[str, Callable[[], Any]] = {
    "sjostrom2001": _sjostrom2001, "triplet_params": _triplet_params, "bipoo1998": _bipoo1998,
    "song2005": _song2005}


def names() -> list[str]:
    """The names ``load`` accepts."""
    return list(DATASETS)


def load(name: str):
    """The shipped dataset ``name`` as an ``xarray.Dataset`` (see the module docstring)."""
    if name not in DATASETS:
        raise unknown("dataset", name, DATASETS)
    return DATASETS[name]()


__all__ = ["DATASETS", "bipoo1998_window", "load", "names", "triplet_parameter_sets"]
