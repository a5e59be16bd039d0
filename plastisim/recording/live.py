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
    with plastisim.recording.live.reading("runs/x.nc"):     # any other reader, e.g. netCDF4
        with netCDF4.Dataset("runs/x.nc") as nc:
            w2 = nc["weight_w2"][-1]

A full disk (or a spent quota) stops the stream cleanly (``plastisim.diskspace``): before each
record it checks that the file system has room for it (``record_bytes``), and while it writes
it holds ``RESERVE_BYTES`` and one record's room (an unnamed file, ``diskspace.Reserve``).
When the disk is full, or a write fails on a full disk, it gives that room back, closes the
file once (every record written so far stays readable) and raises ``DiskFullError``; the room
is then there for the learning curve and the status (``record.append``). ``file_bytes`` is
the size of a file of n records, for the check before a run (``plastisim run``).

A reader waits for the writer's next closing (at most ``KEEP_OPEN_S`` while records come
often, else until the record being written is done) and the writer waits while a reader holds
the lock, so readers hold it briefly: ``open_run`` loads what it returns and lets go.

The lock (``filelock``) is a Linux open-file-description lock on one byte far beyond
the data: it does not conflict with HDF5's own ``flock`` of the file, it survives the writer's
HDF5 closing its descriptor, and the kernel releases it when its holder dies (a killed writer
blocks nobody). Where there is no such lock (macOS, Windows), ``open_run`` retries while
HDF5's own locking refuses the file during a write.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from .. import diskspace
from ..diskspace import DiskFullError
from .filelock import WriteLock, reading
from .record import STEP_COORDS, Schema, netcdf_attrs, open_run, trajectory_dataset

#: ``open_run`` (``record``, the one reader of plastisim's files) is re-exported here, beside
#: the lock it shares with the stream
__all__ = ["Stream", "open_run", "reading", "WriteLock", "KEEP_OPEN_S"]

COMPRESS_MIN_BYTES = 16 * 1024      # per record; smaller variables are stored uncompressed
SMALL_CHUNK_BYTES = 64 * 1024       # chunk size of the uncompressed variables
KEEP_OPEN_S = 0.5                   # Stream: the longest a file stays open (readers wait)
CLOSE_POLL_S = 0.05                 # Stream.close: how often it retries a file held open
COORD_CHUNK = SMALL_CHUNK_BYTES // 8    # records per chunk of the step coordinates
RESERVE_BYTES = 256 * 1024          # Stream: room held for what follows the records (a curve)
HEADER_BYTES = 32 * 1024            # file_bytes: superblock, groups, attributes (+1 kB a variable)
RECORD_SLACK = 4 * 1024             # record_bytes: chunk index and metadata a record may add


def _layout(schema: Schema, complevel: int) -> list[tuple[str, int, int, bool]]:
    """(name, bytes per record, records per chunk, compressed) of every field (``_define``)."""
    out = []
    for f in schema.fields:
        nbytes = int(np.prod(f.shape, dtype=np.int64)) * np.dtype(f.dtype).itemsize
        big = complevel > 0 and nbytes >= COMPRESS_MIN_BYTES
        out.append((f.name, nbytes, 1 if big else max(1, SMALL_CHUNK_BYTES // max(nbytes, 1)),
                    big))
    return out


def record_bytes(schema: Schema, complevel: int, index: int) -> int:
    """Disk that record ``index`` (0, 1, ...) of a stream takes at most: its compressed chunks
    (no smaller than the raw values, at worst), the chunks of the small variables and of the
    coordinates it starts, and ``RECORD_SLACK``."""
    total = RECORD_SLACK + len(STEP_COORDS) * (SMALL_CHUNK_BYTES if index % COORD_CHUNK == 0
                                               else 0)
    for _, nbytes, records, big in _layout(schema, complevel):
        if big:
            total += nbytes + nbytes // 1000 + 64
        elif index % records == 0:
            total += records * nbytes
    return total


def reserve_bytes(schema: Schema, complevel: int, reserve: int = RESERVE_BYTES) -> int:
    """The room a stream holds while it writes: ``reserve`` for what follows the records, and
    the largest record (the first, which starts every chunk), to write again the record whose
    write failed on a full disk (HDF5 may drop its values)."""
    return reserve + record_bytes(schema, complevel, 0)


def file_bytes(schema: Schema, complevel: int, records: int) -> int:
    """The size of a stream's file of ``records`` records (an upper estimate, module doc)."""
    total = HEADER_BYTES + 1024 * (len(schema.fields) + len(schema.coords) + len(STEP_COORDS))
    total += sum(len(str(k)) + len(str(v)) for k, v in schema.attrs.items())
    total += sum(values.nbytes for _, values, _ in schema.coords.values())
    total += len(STEP_COORDS) * -(-records // COORD_CHUNK) * SMALL_CHUNK_BYTES
    for _, nbytes, per, big in _layout(schema, complevel):
        total += (records * (nbytes + nbytes // 1000 + 64) if big
                  else -(-records // per) * per * nbytes)
    return total + 64 * records


class Stream:
    """Append records to a new netCDF4 file along the unlimited ``step`` dim (module doc). The
    file is open under the exclusive lock while records come faster than ``KEEP_OPEN_S``
    (closed after the first record that ends ``KEEP_OPEN_S`` open), else closed after each."""

    def __init__(self, path: str | Path, schema: Schema, complevel: int = 1,
                 reserve: int = RESERVE_BYTES):
        import netCDF4

        self.path, self.schema, self.complevel, self.n = Path(path), schema, complevel, 0
        self._pending: list[tuple[dict, dict]] = []     # records not on disk yet (``write``)
        #: the DiskFullError that stopped the stream (it is closed then), else None
        self.failed: DiskFullError | None = None
        self._nc, self._closed, made = None, False, not self.path.exists()
        need = file_bytes(schema, complevel, 0) + record_bytes(schema, complevel, 0)
        spare = reserve_bytes(schema, complevel, reserve)
        diskspace.check_free(need + spare, self.path)
        # room for the end, and for closing the file after a failed write
        self._spare = diskspace.Reserve(self.path, spare)
        try:
            self._lock = WriteLock(self.path, on_reader=self._shut)
        except BaseException:
            self._spare.release()
            raise
        try:
            self._lock.acquire()
            self._nc = netCDF4.Dataset(self.path, "w", format="NETCDF4")
            self._define(self._nc)
            self._opened = self._written = time.monotonic()
            self._end_write()
        except BaseException as err:
            found = diskspace.disk_full(err, self.path, need)
            self._spare.release()
            try:
                self._shut()
            except Exception:       # the file is removed below
                pass
            self._lock.close()
            if made:                # a file made here that holds nothing readable
                self.path.unlink(missing_ok=True)
            if found is not None and found is not err:
                raise found from err
            raise

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
        False: the file cannot be opened for writing now. A full disk stops the stream
        (``_stop``) before a record that does not fit, or when a write fails on it."""
        import netCDF4

        need = sum(record_bytes(self.schema, self.complevel, self.n + i)
                   for i in range(len(self._pending)))
        free = diskspace.free_bytes(self.path)
        if free < need:
            self._stop(diskspace.full(need, self.path, free))
        if self._nc is None:
            self._lock.acquire()            # waits while readers read
            if not self._lock.names_its_file():     # never write into another writer's file
                self._lock.release()
                raise RuntimeError(f"recording stopped: {str(self.path)!r} was replaced or "
                                   f"removed by another program after {self.n} records; a "
                                   "stream writes only into the file it created")
            try:
                self._nc = netCDF4.Dataset(self.path, "a")
            except OSError as err:
                self._lock.release()
                if not self.path.is_file():
                    raise
                found = diskspace.disk_full(err, self.path, need)
                if found is not None:
                    self._stop(found, err)
                return False
            self._tune(self._nc)
            self._opened = time.monotonic()
        nc, done, first, batch = self._nc, 0, self.n, list(self._pending)
        try:
            try:
                for coords, values in batch:
                    self._put(nc, self.n + done, coords, values)
                    done += 1
            finally:
                self.n += done
                del self._pending[:done]
                self._end_write()
        except BaseException as err:
            found = diskspace.disk_full(err, self.path, need)
            if found is not None:
                self._stop(found, err, redo=(first, batch))
            raise
        return True

    def _put(self, nc, index: int, coords: dict[str, float],
             values: dict[str, np.ndarray]) -> None:
        """Write one record at ``index`` of the open file ``nc`` (the values, then the step
        coordinates)."""
        for f in self.schema.fields:
            nc.variables[f.name][index] = values[f.name]
        for name in STEP_COORDS:
            nc.variables[name][index] = coords[name]

    def _stop(self, error: DiskFullError, cause: BaseException | None = None,
              redo: tuple[int, list] | None = None) -> None:
        """A full disk: give the reserved room back, close the file once in it (it is never
        closed again, even if that fails: the records flushed before stay readable), drop the
        records that wait, and raise ``error``; the stream is closed. ``redo``: (index,
        records) of the write that failed, written again in that room: HDF5 may have dropped
        their values (zeros in a file that counts them)."""
        import netCDF4

        self.failed = error
        self._pending.clear()
        self._spare.release()
        nc, self._nc = self._nc, None
        try:
            if nc is not None:
                nc.close()
            if redo is not None and redo[1]:
                with netCDF4.Dataset(self.path, "a") as again:
                    again.set_auto_maskandscale(False)
                    for i, (coords, values) in enumerate(redo[1]):
                        self._put(again, redo[0] + i, coords, values)
                self.n = redo[0] + len(redo[1])
        except Exception:           # nothing more can be done for this file
            pass
        finally:
            self._closed = True
            self._lock.close()
        raise error from cause

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
        """Close the file (complete: every record is in it) and let readers in; a file whose
        closing fails is not closed again."""
        nc, self._nc = self._nc, None
        try:
            if nc is not None:
                nc.close()
        finally:
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
        self._spare.release()       # the room kept for the end: now
        try:
            self._shut()
        except BaseException as err:
            found = diskspace.disk_full(err, self.path, RECORD_SLACK)
            if found is not None:
                self._stop(found, err)
            raise
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
