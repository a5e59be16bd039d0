"""A recording while it is written: the stream that writes it, and readers that share its lock.

``Stream`` appends records along the unlimited ``step`` dim of a file of ``record``'s schema
(docs/data-format.md) with netCDF4-python, and flushes (H5Fflush) after each, so a killed run
keeps every record written before it. Variables of >= ``COMPRESS_MIN_BYTES`` per record are
zlib-compressed (shuffle) with one chunk per record, written once and never rewritten; smaller
ones (coordinates, the loss, small weights) are stored uncompressed in chunks of several
records, rewritten in place. Neither moves data that an earlier record points to.

HDF5 does not support a reader while another process writes a file: a reader that opens or reads
it in the middle of a flush sees half-written metadata, and fails or, worse, reads wrong values.
So the stream holds an *exclusive* lock while it has the file open, and closes it (and lets go)
after a record once it has been open ``KEEP_OPEN_S`` seconds, or after every record when they
come less often; ``open_run`` and ``reading`` hold a *shared* lock while they read, so they see
the file complete and closed.

    ds = plastisim.open_run("runs/x.nc")            # everything recorded so far, in memory
    ds = plastisim.open_run("runs/x.nc", variables=["weight_w2"], last=1)   # the last record
    with plastisim.live.reading("runs/x.nc"):       # any other reader, e.g. netCDF4
        with netCDF4.Dataset("runs/x.nc") as nc:
            w2 = nc["weight_w2"][-1]

A reader waits for the writer's next closing (at most ``KEEP_OPEN_S`` while records come
often, else until the record being written is done) and the writer waits while a reader holds
the lock, so readers hold it briefly: ``open_run`` loads what it returns and lets go.

The lock (``plastisim.filelock``) is a Linux open-file-description lock on one byte far beyond
the data: it does not conflict with HDF5's own ``flock`` of the file, it survives the writer's
HDF5 closing its descriptor, and the kernel releases it when its holder dies (a killed writer
blocks nobody). Where there is no such lock (macOS, Windows), ``open_run`` retries while
HDF5's own locking refuses the file during a write.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import unknown
from .filelock import WriteLock, reading
from .record import STEP_COORDS, Schema, netcdf_attrs, trajectory_dataset

__all__ = ["Stream", "open_run", "reading", "WriteLock", "KEEP_OPEN_S"]

COMPRESS_MIN_BYTES = 16 * 1024      # per record; smaller variables are stored uncompressed
SMALL_CHUNK_BYTES = 64 * 1024       # chunk size of the uncompressed variables
KEEP_OPEN_S = 0.5                   # Stream: the longest a file stays open (readers wait)
CLOSE_POLL_S = 0.05                 # Stream.close: how often it retries a file held open
RETRY_S = 5.0                       # open_run: how long it retries a file it cannot open


class Stream:
    """Append records to a new netCDF4 file along the unlimited ``step`` dim (module doc). The
    file is open under the exclusive lock while records come faster than ``KEEP_OPEN_S``
    (closed after the first record that ends ``KEEP_OPEN_S`` open), else closed after each."""

    def __init__(self, path: str | Path, schema: Schema, complevel: int = 1):
        import netCDF4

        self.path, self.schema, self.complevel, self.n = Path(path), schema, complevel, 0
        self._pending: list[tuple[dict, dict]] = []     # records not on disk yet (``write``)
        self._lock, self._closed = WriteLock(self.path, on_reader=self._shut), False
        self._lock.acquire()
        self._nc = None
        try:
            self._nc = netCDF4.Dataset(self.path, "w", format="NETCDF4")
            self._define(self._nc)
        except BaseException:
            self._shut()
            self._lock.close()
            raise
        self._opened = self._written = time.monotonic()
        self._end_write()

    def _define(self, nc) -> None:
        self._big: dict[str, int] = {}        # compressed variables: bytes per record
        nc.createDimension("step", None)
        for name, (dtype, units, long_name) in STEP_COORDS.items():
            var = nc.createVariable(name, dtype, ("step",), chunksizes=(SMALL_CHUNK_BYTES // 8,))
            var.setncatts({"units": units, "long_name": long_name})
        for name, (dims, values, attrs) in self.schema.coords.items():
            self._dims(nc, dims, values.shape)
            var = nc.createVariable(name, values.dtype, dims)
            var[:] = values
            var.setncatts(netcdf_attrs(attrs))
        for f in self.schema.fields:
            self._dims(nc, f.dims, f.shape)
            nbytes = int(np.prod(f.shape, dtype=np.int64)) * np.dtype(f.dtype).itemsize
            big = self.complevel > 0 and nbytes >= COMPRESS_MIN_BYTES
            records = 1 if big else max(1, SMALL_CHUNK_BYTES // max(nbytes, 1))
            var = nc.createVariable(f.name, f.dtype, ("step",) + f.dims, zlib=big,
                                    complevel=self.complevel if big else 4, shuffle=big,
                                    chunksizes=(records,) + f.shape, fill_value=False)
            if big:
                self._big[f.name] = nbytes
            var.setncatts(netcdf_attrs(f.attrs))
            var.setncattr("coordinates", " ".join(self._auxiliary(f.dims)))
        nc.setncatts(netcdf_attrs(self.schema.attrs))
        self._tune(nc)

    def _tune(self, nc) -> None:
        """Settings of an open file: raw values, and a chunk cache of one chunk for the
        compressed variables (written once), not netCDF's default 64 MiB."""
        nc.set_auto_maskandscale(False)
        for name, nbytes in self._big.items():
            nc.variables[name].set_var_chunk_cache(size=nbytes + 1024, nelems=7, preemption=1.0)

    @staticmethod
    def _dims(nc, dims: tuple[str, ...], shape: tuple[int, ...]) -> None:
        for dim, size in zip(dims, shape):
            if dim not in nc.dimensions:
                nc.createDimension(dim, size)
            elif len(nc.dimensions[dim]) != size:
                raise ValueError(f"dimension {dim} has two sizes: {size} and "
                                 f"{len(nc.dimensions[dim])}")

    def _auxiliary(self, dims: tuple[str, ...]) -> list[str]:
        """Non-dimension coordinates over ``step`` and ``dims`` (the CF ``coordinates`` attr)."""
        aux = [name for name in STEP_COORDS if name != "step"]
        return aux + [name for name, (cdims, _, _) in self.schema.coords.items()
                      if name not in cdims and set(cdims) <= set(dims)]

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, coords: dict[str, float], values: dict[str, np.ndarray]) -> None:
        """Append one record: in the file when this returns (flushed, or closed), unless a
        reader that does not take the lock has the file open (HDF5 then refuses to reopen it);
        the record then waits, copied, for the next ``write`` or ``close``. An error drops it."""
        item = (dict(coords), values)
        self._pending.append(item)
        try:
            written = self._flush()
        except BaseException:
            if self._pending and self._pending[-1] is item:
                self._pending.pop()
            raise
        if not written:
            self._pending[-1] = (item[0], {k: np.array(v) for k, v in values.items()})

    def _flush(self) -> bool:
        """Write the pending records (reopening the file under the lock if it is closed);
        False: the file cannot be opened for writing now."""
        import netCDF4

        if self._nc is None:
            self._lock.acquire()            # waits while readers read
            if not self._lock.names_its_file():     # never write into another writer's file
                self._lock.release()
                raise RuntimeError(f"recording stopped: {str(self.path)!r} was replaced or "
                                   f"removed by another program after {self.n} records; a "
                                   "stream writes only into the file it created")
            try:
                self._nc = netCDF4.Dataset(self.path, "a")
            except OSError:
                self._lock.release()
                if not self.path.is_file():
                    raise
                return False
            self._tune(self._nc)
            self._opened = time.monotonic()
        nc, done = self._nc, 0
        try:
            for coords, values in self._pending:
                for f in self.schema.fields:
                    nc.variables[f.name][self.n + done] = values[f.name]
                for name in STEP_COORDS:
                    nc.variables[name][self.n + done] = coords[name]
                done += 1
        finally:
            self.n += done
            del self._pending[:done]
            self._end_write()
        return True

    def _end_write(self) -> None:
        """Flush (H5Fflush); close and let readers in once the file has been open
        ``KEEP_OPEN_S``, or when records come less often than that."""
        now = time.monotonic()
        if now - self._opened < KEEP_OPEN_S and now - self._written < KEEP_OPEN_S:
            self._nc.sync()
        else:
            self._shut()
        self._written = now

    def _shut(self) -> None:
        """Close the file (complete: every record is in it) and let readers in."""
        if self._nc is not None:
            self._nc.close()
            self._nc = None
        self._lock.release()

    def read(self) -> xr.Dataset:
        """Everything written so far (in the file and waiting), as ``trajectory_dataset``
        builds it."""
        import netCDF4

        nc = self._nc if self._nc is not None else netCDF4.Dataset(self.path)
        nc.set_auto_maskandscale(False)
        try:
            coords = {k: [nc.variables[k][:self.n]] for k in STEP_COORDS}
            values = {f.name: [nc.variables[f.name][:self.n]] for f in self.schema.fields}
        finally:
            if nc is not self._nc:
                nc.close()
        for c, v in self._pending:
            for k in coords:
                coords[k].append(np.asarray([c[k]]))
            for k in values:
                values[k].append(np.asarray(v[k])[None])
        return trajectory_dataset(self.schema, {k: np.concatenate(c) for k, c in coords.items()},
                                  {k: np.concatenate(v) for k, v in values.items()})

    def close(self) -> None:
        """Close the file and write the records that wait (while a reader holds the file, say
        so once and wait for it); the file stays valid."""
        if self._closed:
            return
        self._shut()
        warned = False
        while self._pending and not self._flush():
            if not warned:
                warnings.warn(f"{len(self._pending)} records wait for another process to close "
                              f"{str(self.path)!r} (read live files with plastisim.open_run)",
                              RuntimeWarning, stacklevel=2)
                warned = True
            time.sleep(CLOSE_POLL_S)
        self._shut()
        self._closed = True
        self._lock.close()


def open_run(path: str | Path, variables: Sequence[str] | None = None,
             last: int | None = None) -> xr.Dataset:
    """A run file, finished or still recording, read into memory under the shared lock: all of
    it, or only ``variables`` (with their coordinates) and the ``last`` records along ``step``.

    A file that cannot be opened (being created, or written by a process that does not take
    the lock) is retried for ``RETRY_S`` seconds; then its error is raised."""
    deadline = time.monotonic() + RETRY_S
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
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
