r"""The reader of recorded three factors (``record.factors = "all"``; docs/data-format.md).

For projection s, one *entry* e = (step, path, stream, fposition) holds the modulator M_{e,i},
the post-synaptic term post_{e,i} = f'(a_{e,i}) and rate r_{e,i} = f(a_{e,i}) of every post
unit i, and the pre-synaptic values x_{e,k} >= 0 of its receptive field. The update of the
synapse i <- k contributed by the entry (sign and scale folded into M, learning rate excluded)
is the three-factor product

    u_{e,i,k} = M_{e,i} · post_{e,i} · x_{e,k} = g_{e,i} · x_{e,k},    g = M · post

so every analysis here needs only g (entry, post) and x (entry, pre); ``products`` builds the
full u (entry, post, pre) only when asked. The step-0 record (the initial state) holds NaN in
every factor and is dropped.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ConfigError, check_int, impossible

#: recorded variable (prefix) -> its name in ``products``
FACTORS = {"factor_M_": "M", "factor_post_": "post_term", "factor_rate_": "r",
           "factor_pre_": "x"}
#: index axes of a projection's factors: ``<axis>_<s>`` in the file, ``<axis>`` in ``products``
AXES = ("path", "stream", "fposition", "post", "pre", "pre_channel")
#: entry dims of ``products`` (one three-factor sample: all but post and pre)
ENTRY = ("step", "path", "stream", "fposition")

_ATTRS = {
    "M": ("1", "modulator M (third factor; sign and scale folded in)"),
    "post_term": ("1", "post-synaptic term f'(a)"),
    "r": ("1", "post-synaptic rate f(a) (readout: the logit)"),
    "x": ("1", "pre-synaptic value (receptive-field entry, a rate >= 0)"),
    "gamma": ("1", "global scalar modulator of the pair (CLAPP)"),
    "g": ("1", "update per unit pre-synaptic activity, g = M * post_term"),
    "u": ("1", "three-factor update of one synapse, u = M * post_term * x"),
}


def projections(ds: xr.Dataset, source: str = "the dataset") -> list[str]:
    """Projections with recorded factors (``factor_M_<s>``), in file order; a one-line
    ConfigError naming ``source`` (the CLI passes the file name) if there are none."""
    names = [str(v)[len("factor_M_"):] for v in ds.data_vars if str(v).startswith("factor_M_")]
    if not names:
        raise ConfigError(f"{source} has no recorded factors (factor_M_<projection>): record "
                          "them with record.factors = 'all'")
    for s in names:
        missing = [f"{p}{s}" for p in FACTORS if f"{p}{s}" not in ds.data_vars]
        if missing:
            raise ConfigError(f"{source} records factor_M_{s} but not {', '.join(missing)}: "
                              "record the factors with record.factors = 'all'")
    return names


def products(ds: xr.Dataset, proj: str, update: bool = False) -> xr.Dataset:
    """The factors of projection ``proj`` under common names, step 0 dropped: ``M``,
    ``post_term``, ``r`` (step, path, stream, fposition, post), ``x`` (..., pre), ``g`` = M ·
    post_term, ``gamma`` (entry) if recorded, and, with ``update=True``, ``u`` = M ·
    post_term · x broadcast to (step, path, stream, fposition, post, pre) (module docstring).
    ``u`` is off by default: entries × post × pre values (800 MB in float32 for 48 records of
    2 × 8 × 8 entries, 128 × 256 synapses), which none of the analyses needs."""
    names = {f"{p}{proj}": n for p, n in FACTORS.items()}
    if f"factor_gamma_{proj}" in ds.data_vars:
        names[f"factor_gamma_{proj}"] = "gamma"
    missing = [v for v in names if v not in ds.data_vars]
    if missing:
        raise ConfigError(f"projection {proj!r} has no {', '.join(missing)}; projections with "
                          f"factors: {', '.join(projections(ds)) or '(none)'}")
    sub = ds[list(names)]
    dims = {f"{a}_{proj}": a for a in AXES if f"{a}_{proj}" in sub.variables
            or f"{a}_{proj}" in sub.dims}
    sub = sub.rename({**names, **dims})
    sub = sub.sel(step=recorded_steps(ds, proj))                        # step 0: all NaN
    sub["g"] = sub["M"] * sub["post_term"]                              # (entry, post)
    if update:
        sub["u"] = (sub["g"] * sub["x"]).transpose(*ENTRY, "post", "pre")  # (entry, post, pre)
    for name, (units, long_name) in _ATTRS.items():
        if name in sub:
            sub[name].attrs.update(units=units, long_name=long_name)
    sub.attrs = {"projection": proj, **{k: v for k, v in ds.attrs.items() if k == "rule"}}
    return sub


def recorded_steps(ds: xr.Dataset, proj: str) -> np.ndarray:
    """The steps at which projection ``proj`` has factors (``factor_M_<proj>`` not all NaN:
    not step 0, nor the steps of a training phase in which the projection does not learn)."""
    m = ds[f"factor_M_{proj}"].transpose("step", ...).values
    return ds["step"].values[np.isfinite(m.reshape(m.shape[0], -1)).any(axis=1)]


def check_stages(ds: xr.Dataset, n: int, source: str = "the dataset") -> int:
    """``n`` if some projection has at least ``n`` factor records (a one-line ConfigError
    otherwise, also when ``ds`` has no factors)."""
    n = check_int("stages", n, 1)
    most = max(recorded_steps(ds, s).size for s in projections(ds, source))
    if most == 0:
        raise ConfigError(f"{source} has recorded factors but no record of them after step 0: "
                          "is record.every larger than the run?")
    if n > most:
        raise impossible("stages", n, f"need at most {most} (the factor records of a "
                         "projection after step 0)")
    return n


def stages(steps, n: int) -> tuple[np.ndarray, list[str]]:
    """Split the recorded ``steps`` (in order) into ``n`` training stages of equal counts
    (the first ones one record longer when they do not divide): the stage (0 .. n-1) of every
    record and each stage's label, its step range ``"first-last"`` (one record: ``"step"``)."""
    steps = np.asarray(steps)
    n = check_int("stages", n, 1)
    if n > steps.size:
        raise impossible("stages", n, f"need at most {steps.size} (the recorded steps after "
                         "step 0)")
    parts = np.array_split(np.arange(steps.size), n)
    index = np.concatenate([np.full(p.size, k) for k, p in enumerate(parts)])
    labels = [f"{steps[p[0]]}-{steps[p[-1]]}" if p.size > 1 else f"{steps[p[0]]}"
              for p in parts]
    return index, labels
