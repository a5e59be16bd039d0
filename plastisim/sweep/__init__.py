"""Parameter studies: a sweep file, run on local processes or Dask distributed, one dataset.

    sweep = plastisim.sweep.load("analyses/sample_complexity.toml")
    report = plastisim.sweep.run_sweep(sweep, "runs/sc", workers=2)   # or scheduler="tcp://..."
    report.dataset                     # dims = the swept axes; also runs/sc/sweep.nc

The file format and the seed semantics are in ``plan``; the merged schema in ``merge``; the
executors (this process, spawned local processes, Dask) in ``executors``. Dask is imported only
when a scheduler is used. See docs/sweeps.md.
"""
from .merge import TIMING_VARS, VOLATILE_ATTRS, comparable, merge
from .plan import Axis, Point, Sweep, config_hash, derive_seed, load, parse
from .specs import parse_spec
from .subset import subset
from .runner import SweepReport, run_sweep

__all__ = [
    # sweep files
    "load", "parse", "parse_spec", "subset", "Sweep", "Axis", "Point", "config_hash",
    "derive_seed",
    # running
    "run_sweep", "SweepReport",
    # the merged dataset
    "merge", "comparable", "TIMING_VARS", "VOLATILE_ATTRS",
]
