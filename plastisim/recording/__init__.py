"""Recording: what a run writes, where, and how it is read back (docs/data-format.md).

- ``monitor``: ``Monitor``, what to record of a network and when (``plastisim.Monitor``);
- ``live``: the stream that appends records to a file while it trains;
- ``record``: the netCDF schema, writing a run's file, ``open_run`` (the one reader of the files
  plastisim writes, ``plastisim.open_run``) and ``export``;
- ``selection``: which names and indices a recording keeps (``"w1.post=0:16"``);
- ``outputs``: the rule every output follows (checked first, written beside its name, moved
  into place);
- ``filelock``: the lock between a file's writer and its readers;
- ``environment``: where a file was computed (provenance).

The package imports none of them itself, so that the command line loads only what it uses
(``outputs`` at start-up, xarray and netCDF4 when a command reads or writes a file).
"""
