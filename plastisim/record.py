"""Results as self-describing xarray Datasets / netCDF4 files, with provenance.

Every variable carries CF-style ``units`` and ``long_name``; the global attributes carry
``Conventions``, ``title``, ``source``, ``history`` and the provenance of the run: plastisim
version, git commit (and whether the tree was dirty), the full configuration as TOML text, every
seed, torch version, device, dtype and the batch reduction of weight updates.
"""
from __future__ import annotations

import datetime as _dt
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from .errors import ConfigError

CF_CONVENTIONS = "CF-1.8"

#: units and long names of the learning-curve variables
CURVE_ATTRS: dict[str, tuple[str, str]] = {
    "test_error": ("1", "fraction of misclassified test inputs"),
    "train_error": ("1", "fraction of misclassified training inputs"),
    "train_loss": ("1", "mean cross-entropy (or rule loss) over the epoch's batches"),
    "lr": ("1", "learning rate of the epoch (eta, after width scaling)"),
    "elapsed": ("s", "wall time since the start of training"),
}


def git_state() -> dict[str, str]:
    """Commit of the plastisim source tree and whether it had uncommitted changes."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit or "unknown", "git_dirty": str(bool(dirty.strip())).lower()}


def provenance(config_toml: str, seeds: dict[str, int], device: str, dtype: str) -> dict[str, Any]:
    """Global attributes describing where a result comes from."""
    from . import __version__

    attrs: dict[str, Any] = {"Conventions": CF_CONVENTIONS, "source": f"plastisim {__version__}",
                             "plastisim_version": __version__, "torch_version": torch.__version__,
                             "device": device, "dtype": dtype, "config_toml": config_toml,
                             "batch_reduction": "mean over batch rows (streams), sum over "
                                                "positions of shared kernels",
                             "history": f"{_dt.datetime.now(_dt.timezone.utc).isoformat()} "
                                        "created by plastisim"}
    attrs.update(git_state())
    attrs.update({f"seed_{name}": int(value) for name, value in seeds.items()})
    return attrs


def curve_dataset(history: dict[str, list], attrs: dict[str, Any]) -> xr.Dataset:
    """Learning curve over evaluation points: dim ``eval``, coords ``epoch`` and ``step``."""
    n = len(history.get("epoch", []))
    coords = {"epoch": ("eval", np.asarray(history.get("epoch", []), dtype=np.int64)),
              "step": ("eval", np.asarray(history.get("step", []), dtype=np.int64))}
    ds = xr.Dataset(coords=coords)
    ds["epoch"].attrs.update(units="1", long_name="training epoch (passes over the train set)")
    ds["step"].attrs.update(units="1", long_name="number of plasticity steps (batches)")
    for name, (units, long_name) in CURVE_ATTRS.items():
        values = np.asarray(history.get(name, [np.nan] * n), dtype=np.float64)
        ds[name] = ("eval", values, {"units": units, "long_name": long_name})
    ds.attrs.update(attrs)
    return ds


def check_output_path(path: str | Path, overwrite: bool = False) -> Path:
    """A writable output path: its folder exists and an existing file is never clobbered."""
    path = Path(path)
    if not path.parent.exists():
        raise ConfigError(f"output folder {str(path.parent)!r} does not exist")
    if path.exists() and not overwrite:
        raise ConfigError(f"output file {str(path)!r} exists; pass --overwrite to replace it")
    return path


def write(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to netCDF4 (atomically: a temporary file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    ds.to_netcdf(tmp, engine="netcdf4")
    tmp.replace(path)
    return path
