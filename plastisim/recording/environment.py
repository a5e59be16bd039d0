"""Where a result was computed: library versions, host, git state of the source, command line.

``environment()`` gives the attributes every output file carries (``record.provenance`` adds
them to run files; the commands add them to protocol files, sweep.nc, exports and PNGs):

    python_version, numpy_version, torch_version, xarray_version, netcdf4_version
    dask_version          only with ``dask=True`` (sweeps), and only when Dask is installed
    host, platform        socket.gethostname(), platform.platform()
    git_commit, git_dirty commit of the plastisim source tree, "true" if it had changes
    command_line          the process's command line (shlex-quoted sys.argv)

Versions are read from the installed distributions (``importlib.metadata``): nothing is imported
for them. Values are strings, as netCDF attributes store them.
"""
from __future__ import annotations

import importlib.metadata
import platform
import shlex
import socket
import subprocess
import sys
from pathlib import Path

#: distribution name -> attribute name
PACKAGES = {"numpy": "numpy_version", "torch": "torch_version", "xarray": "xarray_version",
            "netCDF4": "netcdf4_version"}


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


def version(distribution: str) -> str:
    """The installed version of ``distribution``, or "not installed"."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment(dask: bool = False) -> dict[str, str]:
    """The attributes of the module docstring (``dask``: add ``dask_version`` if installed)."""
    attrs = {"python_version": platform.python_version()}
    attrs.update({name: version(dist) for dist, name in PACKAGES.items()})
    if dask and version("dask") != "not installed":
        attrs["dask_version"] = version("dask")
    attrs.update(host=socket.gethostname(), platform=platform.platform())
    attrs.update(git_state())
    attrs["command_line"] = command_line()
    return attrs


def command_line() -> str:
    """sys.argv, shlex-quoted; ``python -m NAME ...`` for a module run with ``-m``."""
    argv = list(sys.argv)
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and argv and argv[0] == getattr(main, "__file__", None):
        argv[:1] = [Path(sys.executable).name, "-m", spec.name.removesuffix(".__main__")]
    return shlex.join(argv)
