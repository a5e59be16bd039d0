"""Results as self-describing xarray Datasets / netCDF4 files, with provenance.

One file per run, all in the root group (plain ``xarray.open_dataset`` reads it), one schema
(docs/data-format.md):

    trajectories    dim ``step`` (unlimited), coords ``step``, ``epoch``, ``time``; one variable
                    per recorded quantity (``weight_w1``, ``rate_h1``, ...), see ``Monitor``
    learning curve  dim ``eval``, coords ``eval_epoch``, ``eval_step``; ``test_error``, ...

Every variable carries CF-style ``units`` and ``long_name``; the global attributes carry
``Conventions``, ``title``, ``source``, ``history`` and the provenance of the run: plastisim
version, the full configuration as TOML text, every seed, device, dtype and the batch reduction
of weight updates, and where it ran (``environment``: Python, numpy, torch, xarray and
netCDF4 versions, host, git commit and whether the tree was dirty, command line).

Files follow the output rule of ``outputs`` (``check_output_path``, re-exported here):
``write`` and ``export`` write beside the destination and move the file into place.

Streaming: ``live.Stream`` appends records to a file of this schema as they come. Reading:
``open_run`` (``plastisim.open_run``) reads any file of this schema, also while it grows, and
``open_input`` is the same read of a file named on the command line.
"""
from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from ..diskspace import writing
from ..errors import ConfigError, impossible, unknown
from ..inputs import check_input_file
from .environment import environment, git_state
from .filelock import WriteLock, reading
from .outputs import check_output_path, claiming, write_atomically
from .selection import resolve_selection

__all__ = ["provenance", "git_state", "check_output_path", "write", "append", "export",
           "open_run", "open_input", "combine", "curve_dataset", "trajectory_dataset", "Schema",
           "Field"]

CF_CONVENTIONS = "CF-1.8"
RETRY_S = 5.0       # open_run: how long it retries a file it cannot open (being written)

#: units and long names of the learning-curve variables
CURVE_ATTRS: dict[str, tuple[str, str]] = {
    "test_error": ("1", "fraction of misclassified test inputs"),
    "train_error": ("1", "fraction of misclassified training inputs"),
    "train_loss": ("1", "mean cross-entropy (or rule loss) over the epoch's batches"),
    "lr": ("1", "learning rate of the epoch (eta, after width scaling)"),
    "elapsed": ("s", "wall time since the start of training"),
}

#: coordinates along ``step``: dtype, units, long name
STEP_COORDS: dict[str, tuple[str, str, str]] = {
    "step": ("int64", "1", "number of plasticity steps (batches) done at the record"),
    "epoch": ("int64", "1", "training epoch of the record (0: before training)"),
    "time": ("float64", "s", "wall time since the monitor started"),
}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def provenance(config_toml: str, seeds: dict[str, int], device: str, dtype: str) -> dict[str, Any]:
    """Global attributes describing where a result comes from (``environment()`` included)."""
    from .. import __version__

    attrs: dict[str, Any] = {"Conventions": CF_CONVENTIONS, "source": f"plastisim {__version__}",
                             "plastisim_version": __version__, "torch_version": torch.__version__,
                             "device": device, "dtype": dtype, "config_toml": config_toml,
                             "batch_reduction": "mean over batch rows (streams), sum over "
                                                "positions of shared kernels",
                             "history": f"{_now()} created by plastisim"}
    attrs.update(environment())
    attrs.update({f"seed_{name}": int(value) for name, value in seeds.items()})
    return attrs


def netcdf_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes netCDF can store: bools as "true"/"false", None as ""."""
    return {k: ("" if v is None else str(v).lower() if isinstance(v, bool) else v)
            for k, v in attrs.items()}


def curve_dataset(history: dict[str, list], attrs: dict[str, Any]) -> xr.Dataset:
    """Learning curve over evaluation points: dim ``eval``, coords ``eval_epoch``, ``eval_step``
    (and ``eval_phase`` when the history has phases).

    (Not ``epoch`` / ``step``: those name the trajectories' coordinates in the same file.)"""
    n = len(history.get("epoch", []))
    ds = xr.Dataset(coords={
        "eval_epoch": ("eval", np.asarray(history.get("epoch", []), dtype=np.int64),
                       {"units": "1", "long_name": "training epoch of the evaluation"}),
        "eval_step": ("eval", np.asarray(history.get("step", []), dtype=np.int64),
                      {"units": "1", "long_name": "plasticity steps (batches) done at the "
                                                  "evaluation"})})
    if "phase" in history:        # strings: a long name, no units
        ds = ds.assign_coords(eval_phase=("eval", np.asarray(history["phase"], dtype=str), {
            "long_name": "training phase of the evaluation (joint, local or readout)"}))
    for name, (units, long_name) in CURVE_ATTRS.items():
        values = np.asarray(history.get(name, [np.nan] * n), dtype=np.float64)
        ds[name] = ("eval", values, {"units": units, "long_name": long_name})
    ds.attrs.update(netcdf_attrs(attrs))
    return ds


# --- the trajectory schema ----------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """One recorded quantity: variable ``name`` over (step, *dims) with the given shape."""

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: str
    attrs: dict[str, Any]


@dataclass(frozen=True)
class Schema:
    """Fields, fixed coordinates (name -> (dims, values, attrs)) and global attributes."""

    fields: tuple[Field, ...]
    coords: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, Any]]]
    attrs: dict[str, Any]


def trajectory_dataset(schema: Schema, coords: dict[str, np.ndarray],
                       values: dict[str, np.ndarray]) -> xr.Dataset:
    """The Dataset of ``n`` records: ``coords`` step/epoch/time (n,), ``values`` (n, *shape)."""
    ds = xr.Dataset(coords={name: (("step",), np.asarray(coords[name], dtype=dtype),
                                   {"units": units, "long_name": long_name})
                            for name, (dtype, units, long_name) in STEP_COORDS.items()})
    ds = ds.assign_coords({name: (dims, values_, dict(attrs))
                           for name, (dims, values_, attrs) in schema.coords.items()})
    for f in schema.fields:
        ds[f.name] = (("step",) + f.dims, np.asarray(values[f.name], dtype=f.dtype),
                      dict(f.attrs))
    ds.attrs.update(schema.attrs)
    return ds


# --- files --------------------------------------------------------------------------------------
def open_run(path: str | Path, variables: Sequence[str] | None = None,
             last: int | None = None, *, retry_s: float = RETRY_S) -> xr.Dataset:
    """A file plastisim wrote (a run, finished or still recording; a sweep's merged file) read
    into memory (and closed) under the shared lock of its writer (``live``, ``filelock``): all
    of it, or only ``variables`` (with their coordinates) and the ``last`` records along
    ``step``. The one reader of plastisim's files: ``plastisim.open_run``, and through
    ``open_input`` the command line's.

    A file that cannot be opened (being created, or written by a process that does not take
    the lock) is retried for ``retry_s`` seconds; then its error is raised."""
    deadline = time.monotonic() + retry_s
    while True:
        try:
            with reading(path), xr.open_dataset(path, engine="netcdf4") as ds:
                for name in variables or ():
                    if name not in ds.data_vars:
                        raise unknown("variable", name, ds.data_vars)
                ds = ds[list(variables)] if variables else ds
                if last is not None and "step" in ds.dims:
                    ds = ds.isel(step=slice(-last, None) if last > 0 else slice(0, 0))
                return ds.load()
        except FileNotFoundError:
            raise
        except OSError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def open_input(path: str | Path) -> xr.Dataset:
    """``open_run`` of a file the user named (``plastisim report``, ``export``): a path that
    is no readable netCDF file is a one-line ConfigError at once (no retry: an input is a file
    that exists, not one being created)."""
    path = check_input_file(path, "input file", "netCDF file", hint="sweep.nc")
    try:
        return open_run(path, retry_s=0)
    except (OSError, ValueError) as err:
        raise ConfigError(f"input file {str(path)!r} is not a readable netCDF file: "
                          f"{str(err).splitlines()[0]}") from None


def combine(curve: xr.Dataset, trajectories: xr.Dataset) -> xr.Dataset:
    """One run's Dataset from its learning curve and an in-memory recording."""
    ds = xr.merge([trajectories, curve], combine_attrs="drop")
    ds.attrs.update({**trajectories.attrs, **curve.attrs})
    return ds


FILE_BYTES = 16 * 1024      # dataset_bytes: superblock and root group
VARIABLE_BYTES = 1024       # dataset_bytes: the headers of a variable


def dataset_bytes(ds: xr.Dataset) -> int:
    """The size of ``ds`` as a netCDF4 file, uncompressed (an upper estimate: values,
    strings, attributes and headers)."""
    def text(attrs: dict) -> int:
        return sum(len(str(k)) + len(str(v)) for k, v in attrs.items())

    total = FILE_BYTES + text(ds.attrs)
    for var in ds.variables.values():
        values = (sum(len(str(v)) + 16 for v in np.asarray(var.values).ravel())
                  if var.dtype.kind in "OSU" else var.size * var.dtype.itemsize)
        total += values + VARIABLE_BYTES + text(var.attrs)
    return total


def write(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to netCDF4 atomically: beside ``path``, then moved into place (an
    interrupted or failed write leaves ``path`` as it was and no temporary file). A full disk
    is a ``DiskFullError`` (``plastisim.diskspace``), before the write when the free space is
    smaller than ``dataset_bytes(ds)``."""
    encoding = {name: {"zlib": True, "complevel": 1, "shuffle": True}
                for name, var in ds.data_vars.items() if var.ndim > 1}
    with writing(path, dataset_bytes(ds)):
        return write_atomically(path, lambda tmp: ds.to_netcdf(tmp, engine="netcdf4",
                                                               encoding=encoding))


def append(ds: xr.Dataset, path: str | Path) -> Path:
    """Add ``ds`` (e.g. the learning curve) and its attributes to an existing (closed) file;
    the file's ``history`` gains a line instead of being replaced. Holds the writer's lock
    (``filelock``), so a reader of the live file (``plastisim.open_run``) is waited for. When
    the free space is smaller than ``dataset_bytes(ds)``, a ``DiskFullError`` leaves the file
    as it was."""
    path = Path(path)
    with writing(path, dataset_bytes(ds)):
        return _append(ds, path)


def _append(ds: xr.Dataset, path: Path) -> Path:
    lock = WriteLock(path)
    lock.acquire()
    try:
        with xr.open_dataset(path, engine="netcdf4") as old:
            history = str(old.attrs.get("history", ""))
        ds = ds.copy()
        ds.attrs["history"] = "\n".join(filter(None, [history, f"{_now()} learning curve and "
                                                               "run attributes appended by "
                                                               "plastisim"]))
        ds.to_netcdf(path, mode="a", engine="netcdf4")
    finally:
        lock.close()
    return path


def export(src: str | Path, dst: str | Path, variables: list[str] | None = None,
           every: int | None = None, indices: dict[str, dict[str, Any]] | None = None,
           overwrite: bool = False, command: str = "plastisim export") -> Path:
    """A smaller copy of ``src`` for sharing: some variables, steps (multiples of ``every``)
    and indices (``{name: {axis: sel}}`` by original index, e.g. {"w1": {"post": range(16)}})."""
    if Path(src).resolve() == Path(dst).resolve():
        raise impossible("output", str(dst), "need a file other than the input")
    ds = open_input(src)
    if variables:
        for name in variables:
            if name not in ds.data_vars:
                raise unknown("variable", name, ds.data_vars)
        ds = ds[list(variables)]
    if every is not None and "step" in ds.dims:
        keep = (ds["step"].values % every) == 0
        if not keep.any():
            raise impossible("every", every, f"keeps no recorded step (recorded steps "
                             f"{', '.join(map(str, ds['step'].values[:3]))}, ...)")
        ds = ds.isel(step=np.flatnonzero(keep))
    axes = {dim.split("_", 1)[1] + "." + dim.split("_", 1)[0]: dim for dim in ds.dims
            if "_" in dim}      # <axis>_<name> dims of the trajectories (not step, eval, layer)
    for name, selection in (indices or {}).items():
        for axis, value in selection.items():
            dim = axes.get(f"{name}.{axis}")
            if dim is None:
                raise unknown("index axis", f"{name}.{axis}", axes)
            recorded = ds[dim].values
            wanted = resolve_selection(f"indices {name}.{axis}", value, int(recorded.max()) + 1)
            wanted = np.arange(int(recorded.max()) + 1) if wanted is None else wanted
            missing = np.setdiff1d(wanted, recorded)
            if missing.size:
                raise impossible(f"indices {name}.{axis}", value, f"index {missing[0]} was not "
                                 f"recorded ({dim} holds {recorded.size} indices)")
            ds = ds.sel({dim: wanted})
    with claiming():            # dst is this export's from its check to its move into place
        dst = check_output_path(dst, overwrite, ".nc")      # once every argument is accepted
        ds.attrs["history"] = f"{ds.attrs.get('history', '')}\n{_now()} {command}".strip()
        ds.attrs.update({f"export_{key}": value for key, value in environment().items()})
        return write(ds, dst)
