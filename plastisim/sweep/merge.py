"""The merged dataset of a sweep: one dimension per swept axis, read from the runs' own files.

Schema (dims = the swept axes, in the sweep file's order; see docs/sweeps.md):

- coordinates: one per axis, named after its key ("lr", "seed", "n_train_multiple", "model"),
  with ``long_name``, ``units`` and ``sweep_key`` (the full key, e.g. "rule.lr");
- final values (the last evaluation of each run; NaN unless status is converged or
  max_epochs): ``test_error``, ``train_error``, ``train_loss``; ``steps``, ``epochs`` and the
  wall time ``elapsed`` (NaN when the run did not train);
- ``sensitivity`` over (layer, level): the final synonymic sensitivity S_{k,l} of each run,
  NaN-padded to the deepest run (runs written before it existed: absent); likewise over
  ``layer``, the final per-layer statistics ``rate_variance``, ``dead_fraction``,
  ``participation_ratio`` and ``partner_r2`` (``metrics.layer_statistics``) where the runs
  have them;
- learning curves padded with NaN along ``eval``: ``curve_test_error``, ``curve_train_error``,
  ``curve_train_loss``, ``curve_epoch``, ``curve_step``;
- per run: ``status`` (converged | max_epochs | diverged | failed | missing),
  ``status_message``, ``config_hash``, ``run_file``, ``rule_name``, ``n_train``, ``n_classes``,
  ``n_star`` (= n_c·m^L), ``rhm_v``, ``rhm_m``, ``rhm_s``, ``rhm_L``, ``network_width``
  (the run's setting, swept or not) and every seed (``seed_network``, ``seed_train``, ``seed_data``,
  ``seed_rhm``, the rule's ``seed_<param>``; -1 where the rule has no such parameter);
- attributes: the sweep file text, the executor, threads per run, and ``missing_points``, one
  line per point that has no final values, with its reason.
"""
from __future__ import annotations

import datetime as _dt
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from .. import rules
from ..config import RunConfig
from ..metrics import LAYER_STATISTICS, layer_coord
from ..options import Status
from ..recording.record import CF_CONVENTIONS, CURVE_ATTRS, git_state
from .plan import MULTIPLE, Point, Sweep

#: the statuses of a run that trained to an end with final values
OK = (Status.CONVERGED, Status.MAX_EPOCHS)
FINALS = ("test_error", "train_error", "train_loss")
CURVES = ("test_error", "train_error", "train_loss", "epoch", "step")
#: variables and attributes that depend on when and where a sweep ran, not on its results
TIMING_VARS = ("elapsed",)
VOLATILE_ATTRS = ("history", "executor", "git_commit", "git_dirty", "host", "platform",
                  "command_line")


class UnreadableRunWarning(UserWarning):
    """A run file exists but is not a readable netCDF file (truncated, corrupt): its run is
    done again."""


def read_run(path: Path) -> xr.Dataset | None:
    """A run file loaded into memory (None when it does not exist); OSError naming the file
    when it exists but cannot be read (truncated by a full disk, a copy cut short, ...)."""
    if not path.is_file():
        return None
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            return ds.load()
    except (OSError, ValueError, RuntimeError) as err:
        reason = getattr(err, "strerror", None) or (str(err).splitlines() or [""])[0]
        raise OSError(f"run file {str(path)!r} is unreadable ({reason})") from None


def is_finished(path: Path) -> bool:
    """A run file that ``--resume`` keeps: it trained to an end (failed runs are retried). An
    unreadable file is not finished: one warning names it, and the run replaces it."""
    try:
        ds = read_run(path)
    except OSError as err:
        warnings.warn(f"{err}; running it again", UnreadableRunWarning, stacklevel=2)
        return False
    return ds is not None and ds.attrs.get("status") in OK + (Status.DIVERGED,)


def _curve(ds: xr.Dataset, key: str) -> np.ndarray:
    """A learning-curve variable; the evaluation coordinates are ``eval_epoch``/``eval_step``
    (or ``epoch``/``step`` in files written before trajectories shared the file)."""
    name = f"eval_{key}" if f"eval_{key}" in ds.variables else key
    return np.asarray(ds[name].values, dtype=float)


def _run_values(ds: xr.Dataset | None) -> dict:
    """Status, final values and curve of one run file (None: no file)."""
    if ds is None:
        return {"status": "missing", "status_message": "no run file (not run, or interrupted)"}
    status = str(ds.attrs.get("status", "unknown"))
    out = {"status": status, "status_message": str(ds.attrs.get("status_message", ""))}
    n = ds.sizes.get("eval", 0)
    out["curve"] = {k: _curve(ds, k) for k in CURVES} if n else {}
    if n:
        out.update(steps=float(ds.attrs.get("steps", out["curve"]["step"][-1])),
                   epochs=float(out["curve"]["epoch"][-1]),
                   elapsed=float(ds.attrs.get("elapsed_s", np.nan)))
    if n and status in OK:
        out.update({k: float(ds[k].values[-1]) for k in FINALS})
        if "sensitivity" in ds.variables:
            out["sensitivity"] = np.asarray(ds["sensitivity"].values, dtype=float)
        out["layers"] = {k: (np.asarray(ds[k].values, dtype=float), ds[k].attrs)
                         for k in LAYER_STATISTICS if k in ds.variables}
    return out


def _read_values(path: Path) -> dict:
    """``_run_values`` of a run file; status "missing" with the reason if it is unreadable."""
    try:
        return _run_values(read_run(path))
    except OSError as err:
        return {"status": "missing", "status_message": str(err)}


def _seeds(cfg: RunConfig) -> dict[str, int]:
    params = vars(rules.make_params(cfg.rule.name, **cfg.rule.params))
    seeds = {"seed_rhm": cfg.rhm.seed, "seed_network": cfg.network.seed,
             "seed_train": cfg.train.seed, "seed_data": cfg.train.data_seed}
    seeds.update({f"seed_{k}": int(v) for k, v in params.items() if k.endswith("seed")})
    return seeds


def _coord(axis_key: str, dim: str, values: tuple) -> xr.Variable:
    strings = any(isinstance(v, str) for v in values)
    data = np.array(values, dtype=object if strings else None)
    if axis_key == "model":
        attrs = {"long_name": "model file (stem) the run's config starts from"}
    elif axis_key == "seed":
        attrs = {"long_name": "seed-axis value (per-target seeds: seed_* variables)",
                 "units": "1"}
    elif axis_key == "rules":
        attrs = {"long_name": "rule spec (name:key=value,...) the run's [rule] is built from"}
    elif axis_key == MULTIPLE:
        attrs = {"long_name": "training-set size P in units of n_c*m^L", "units": "1"}
    else:
        attrs = {"long_name": f"swept value of {axis_key}"} | ({} if strings else {"units": "1"})
    return xr.Variable(dim, data, attrs | {"sweep_key": axis_key})


def _label(sweep: Sweep, point: Point) -> str:
    """"model=bp, lr=0.1, seed=0": the point's coordinates."""
    return ", ".join(f"{a.dim}={a.values[i]:g}" if isinstance(a.values[i], float) else
                     f"{a.dim}={a.values[i]}" for a, i in zip(sweep.axes, point.index))


def merge(sweep: Sweep, out: str | Path, executor: str = "", threads: int = 1) -> xr.Dataset:
    """The merged Dataset of ``sweep`` from the run files under ``out`` (module docstring)."""
    out, dims, shape = Path(out), tuple(a.dim for a in sweep.axes), sweep.shape
    floats = {k: np.full(shape, np.nan) for k in FINALS + ("steps", "epochs", "elapsed")}
    text = {k: np.full(shape, "", dtype=object) for k in ("status", "status_message",
                                                          "config_hash", "run_file", "rule_name")}
    ints: dict[str, np.ndarray] = {k: np.zeros(shape, dtype=np.int64)
                                   for k in ("n_train", "n_classes", "n_star")}
    curves, sensitivity, statistics, missing, cache = {}, {}, {}, [], {}
    for point in sweep.points:
        if point.hash not in cache:
            cache[point.hash] = _read_values(out / point.file)
        run, cfg, i = cache[point.hash], point.config, point.index
        for key in floats:
            floats[key][i] = run.get(key, np.nan)
        values = dict(status=run["status"], status_message=run["status_message"],
                      config_hash=point.hash, run_file=point.file, rule_name=cfg.rule.name)
        for key, value in values.items():
            text[key][i] = value
        counts = dict(n_train=cfg.train.n_train, n_classes=cfg.rhm.n_classes,
                      n_star=cfg.rhm.n_classes * cfg.rhm.m ** cfg.rhm.L, rhm_v=cfg.rhm.v,
                      rhm_m=cfg.rhm.m, rhm_s=cfg.rhm.s, rhm_L=cfg.rhm.L,
                      network_width=cfg.network.width, **_seeds(cfg))
        for key, value in counts.items():
            ints.setdefault(key, np.full(shape, -1, dtype=np.int64))[i] = value
        curves[i] = run.get("curve", {})
        if "sensitivity" in run:
            sensitivity[i] = run["sensitivity"]
        if run.get("layers"):
            statistics[i] = run["layers"]
        if run["status"] not in OK:
            missing.append(f"{_label(sweep, point)}: {run['status']}: {run['status_message']}")
    ds = xr.Dataset(coords={a.dim: _coord(a.key, a.dim, a.values) for a in sweep.axes})
    _add_variables(ds, dims, floats, text, ints)
    _add_curves(ds, dims, shape, curves)
    _add_sensitivity(ds, dims, shape, sensitivity)
    _add_layer_statistics(ds, dims, shape, statistics)
    ds.attrs.update(_attributes(sweep, executor, threads, missing))
    return ds


def _add_variables(ds: xr.Dataset, dims: tuple, floats: dict, text: dict, ints: dict) -> None:
    for key in FINALS:
        units, long_name = CURVE_ATTRS[key]
        ds[key] = (dims, floats[key], {"units": units, "long_name": f"final {long_name}"})
    ds["steps"] = (dims, floats["steps"], {"units": "1", "long_name": "plasticity steps run"})
    ds["epochs"] = (dims, floats["epochs"], {"units": "1", "long_name": "epochs run"})
    ds["elapsed"] = (dims, floats["elapsed"], {"units": "s", "long_name": "training wall time"})
    for key, values in text.items():
        ds[key] = (dims, values, {"long_name": key.replace("_", " ")})
    for key, values in ints.items():
        ds[key] = (dims, values, {"units": "1", "long_name": key.replace("_", " ")
                                  + (" (-1: not a parameter of the rule)"
                                     if key.startswith("seed_") else "")})
    ds["n_star"].attrs["long_name"] = "n_c*m^L of the run's RHM"
    for key in ("rhm_v", "rhm_m", "rhm_s", "rhm_L", "network_width"):
        ds[key].attrs["long_name"] = f"{key.replace('_', '.', 1)} of the run"
    ds["n_train"].attrs["long_name"] = "training-set size P"


def _add_curves(ds: xr.Dataset, dims: tuple, shape: tuple, curves: dict) -> None:
    length = max((len(c["epoch"]) for c in curves.values() if c), default=0)
    for key in CURVES:
        data = np.full(shape + (length,), np.nan)
        for index, curve in curves.items():
            if curve:
                data[index + (slice(0, len(curve[key])),)] = curve[key]
        units, long_name = CURVE_ATTRS.get(key, ("1", f"{key} of the evaluation"))
        ds[f"curve_{key}"] = (dims + ("eval",), data,
                              {"units": units, "long_name": f"{long_name} (NaN-padded)"})


def _padded(shape: tuple, values: dict) -> np.ndarray:
    """The arrays ``values`` ({index: array}) of the runs in one array of ``shape`` + the
    largest trailing shape, each at its index, NaN-padded (runs of different depths)."""
    trailing = tuple(max(sizes) for sizes in zip(*(v.shape for v in values.values())))
    data = np.full(shape + trailing, np.nan)
    for index, array in values.items():
        data[index + tuple(slice(0, n) for n in array.shape)] = array
    return data


def _add_sensitivity(ds: xr.Dataset, dims: tuple, shape: tuple, values: dict) -> None:
    """S_{k,l} of every run over (layer, level), NaN-padded to the deepest run."""
    if not values:
        return
    data = _padded(shape, values)
    ds["sensitivity"] = (dims + ("layer", "level"), data, {
        "units": "1", "long_name": "synonymic sensitivity S_{k,l} of hidden layer k to synonyms "
        "re-drawn below level l, after training (NaN: no such layer or no final values)"})
    ds.coords["layer"] = layer_coord(data.shape[-2])
    ds.coords["level"] = ("level", np.arange(data.shape[-1]),
                          {"units": "1", "long_name": "RHM level l"})


def _add_layer_statistics(ds: xr.Dataset, dims: tuple, shape: tuple, values: dict) -> None:
    """Each per-layer statistic of every run over ``layer``, NaN-padded to the deepest run."""
    for key in LAYER_STATISTICS:
        runs = {index: stats[key][0] for index, stats in values.items() if key in stats}
        if not runs:
            continue
        attrs = dict(next(stats[key][1] for stats in values.values() if key in stats))
        attrs["long_name"] = f"{attrs.get('long_name', key)} (NaN: no such layer or no values)"
        ds[key] = (dims + ("layer",), _padded(shape, runs), attrs)
        if "layer" not in ds.coords:           # the same layers as the sensitivity's
            ds.coords["layer"] = layer_coord(ds.sizes["layer"])


def _attributes(sweep: Sweep, executor: str, threads: int, missing: list[str]) -> dict:
    from .. import __version__

    return {"Conventions": CF_CONVENTIONS, "title": f"plastisim sweep: {sweep.title}",
            "source": f"plastisim {__version__}", "plastisim_version": __version__,
            "sweep_file": sweep.path, "sweep_toml": sweep.text,
            "sweep_dims": " ".join(a.dim for a in sweep.axes), "n_points": len(sweep.points),
            "n_missing": len(missing), "missing_points": "\n".join(missing),
            "seed_mode": sweep.seed_mode, "seed_targets": " ".join(sweep.seed_targets),
            "torch_threads_per_run": threads, "executor": executor,
            "final_values": "last evaluation of each run; NaN unless status is converged or "
                            "max_epochs (reasons in missing_points and status_message)",
            "history": f"{_dt.datetime.now(_dt.timezone.utc).isoformat()} merged by plastisim",
            **git_state()}


def comparable(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without wall times and the attributes of when/where it ran (for comparisons)."""
    out = ds.drop_vars([v for v in TIMING_VARS if v in ds.variables])
    out.attrs = {k: v for k, v in ds.attrs.items() if k not in VOLATILE_ATTRS}
    return out
