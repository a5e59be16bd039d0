"""Where runs execute: in this process, in local processes, or on a Dask distributed cluster.

Every executor calls the same task, ``run_task(config_tomls, sources, threads)``, on a pack of
runs (``packing``: runs trained together as one ensemble; a pack of one is an ordinary run):
the runs' full configs travel as TOML text (plain strings, checked again where they run), the
task sets the number of torch threads (``threads.set_threads``: 1 by default, so that a run
gives the same numbers wherever it runs, and MKL's dynamic threading off), trains the pack
(``run.execute``) and returns the runs' Datasets; an exception becomes a *failed* run's
Dataset with its one-line reason, never an exception of the sweep (raised inside training, it
keeps the learning curve up to there and names the step, like an interruption). Executors
yield ``(config_hash, dataset)`` for every run as its pack finishes, in completion order. Dask
is imported only when a scheduler is given.

Local worker processes end with the sweep's process, however it ends (SIGKILL included): the
kernel kills them when it dies (Linux ``PR_SET_PDEATHSIG``), and a watchdog thread in each
checks every ``WATCH_S`` seconds that its parent is still the sweep (elsewhere, and as a
second line); multiprocessing's resource tracker then exits with its last user. When the
sweep is interrupted (``Interrupted``, Ctrl-C), the pool's workers are terminated instead of
waited for: the runs they hold would not be written.
"""
from __future__ import annotations

import asyncio
import ctypes
import hashlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any

import torch
import xarray as xr

from .. import config
from ..config import RunConfig
from ..errors import ConfigError, PlastisimError
from ..options import Status
from ..recording.record import curve_dataset, provenance
from ..run import execute
from ..threads import set_threads

Task = tuple[str, RunConfig]            # (config_hash, config)
Pack = list[Task]                       # runs trained together (packing.pack); one: a run
PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15   # prctl options (linux/prctl.h)
WATCH_S = 0.5                           # how often a worker checks that its parent lives
WATCH_NAME = b"plastisim-watch"         # the watchdog thread's name in ps -L and /proc
CONNECT_TIMEOUT_S = 10.0                # to reach a Dask scheduler and hear its handshake


def _job(task: Task) -> tuple[str, str]:
    """What travels to a worker: the config as TOML text and where it came from."""
    return task[1].to_toml(), task[1].source


def one_line(err: BaseException) -> str:
    """The reason of a failure on one line: plastisim's own message, else "Type: message"."""
    text = str(err).strip().splitlines()
    message = text[0] if text else ""
    return message if isinstance(err, PlastisimError) else f"{type(err).__name__}: {message}"


def failed_dataset(config_toml: str, source: str, reason: str) -> xr.Dataset:
    """The file of a run that did not train: empty learning curve, status "failed", reason."""
    attrs = provenance(config_toml, {}, "none", "")
    attrs.update(title="plastisim run that failed", status=Status.FAILED.value,
                 status_message=reason, config_source=source)
    return curve_dataset({}, attrs)


def run_task(config_tomls: list[str], sources: list[str] | None = None,
             threads: int = 1) -> list[xr.Dataset]:
    """The runs of one pack (any executor; one config: a run alone), their configs as TOML
    text (validated here), trained as one ensemble (``run.execute`` of the list) with
    ``threads`` torch threads; each Dataset that of the run alone; never raises. If a pack
    cannot train as a whole (a config that does not build or pack, an error of the batched
    computation), its runs train one by one; so does a member that failed inside the
    ensemble, so that its curve and reason are its own. ``sources``: where each config came
    from (its ``config_source``; default "")."""
    set_threads(threads)                # per process; left set (threaded Dask workers share it)
    sources = [""] * len(config_tomls) if sources is None else sources
    if len(config_tomls) == 1:
        return [_alone(config_tomls[0], sources[0], threads)]
    try:
        cfgs = [config.build(tomllib.loads(text), source)
                for text, source in zip(config_tomls, sources)]
        datasets = [outcome.dataset for outcome in execute(cfgs, catch=True)]
    except Exception:                   # the reasons are the members' own, found alone
        datasets = [None] * len(config_tomls)
    return [run_task([text], [source], threads)[0]
            if ds is None or ds.attrs.get("status") == Status.FAILED else _stamp(ds, text, threads)
            for ds, text, source in zip(datasets, config_tomls, sources)]


def _alone(config_toml: str, source: str, threads: int) -> xr.Dataset:
    """One run trained alone (``run.execute`` of one config)."""
    try:
        cfg = config.build(tomllib.loads(config_toml), source)
        ds = execute(cfg, catch=True).dataset   # failing in training: its curve is kept
    except Exception as err:            # recorded, not raised: the other runs go on
        ds = failed_dataset(config_toml, source, one_line(err))
    return _stamp(ds, config_toml, threads)


def _stamp(ds: xr.Dataset, config_toml: str, threads: int) -> xr.Dataset:
    ds.attrs.update(config_hash=hashlib.sha256(config_toml.encode()).hexdigest(),
                    torch_threads=threads)
    return ds


def _call(pack: Pack, threads: int) -> tuple:
    """(function, arguments) of the task that runs ``pack``."""
    jobs = [_job(task) for task in pack]
    return run_task, ([j[0] for j in jobs], [j[1] for j in jobs], threads)


def _members(pack: Pack, datasets: list[xr.Dataset]) -> list[tuple[str, xr.Dataset]]:
    """(config_hash, dataset) of every run of ``pack`` from its task's return value."""
    return [(key, ds) for (key, _), ds in zip(pack, datasets)]


def _lost(pack: Pack, err: BaseException) -> list[tuple[str, xr.Dataset]]:
    """Failed datasets of the runs of a pack whose worker died or could not be reached."""
    return [(key, failed_dataset(*_job((key, cfg)), "worker failed: " + one_line(err)))
            for key, cfg in pack]


def inline(packs: list[Pack], threads: int) -> Iterator[tuple[str, xr.Dataset]]:
    """Run the packs one after the other in this process (its torch threads restored after)."""
    previous = torch.get_num_threads()
    try:
        for pack in packs:
            function, args = _call(pack, threads)
            yield from _members(pack, function(*args))
    finally:
        torch.set_num_threads(previous)


def _prctl(option: int, value: int | bytes) -> None:
    """Linux prctl(2) on this process or thread; nothing elsewhere (the watchdog suffices)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(option, value)
        except (OSError, AttributeError):
            pass


def _watch(parent: int) -> None:
    _prctl(PR_SET_NAME, WATCH_NAME)
    while os.getppid() == parent:
        time.sleep(WATCH_S)
    os._exit(1)                         # the sweep is gone: nobody will read this run


def _start_worker(parent: int) -> None:
    """Initializer of a local worker: end with the sweep's process ``parent`` (module doc), and
    pay the slow first import of torch.optim once."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:          # the sweep died before prctl took effect
        os._exit(1)
    if hasattr(signal, "SIGHUP"):       # a closed terminal hangs up the whole process group:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)   # the sweep stops its workers itself
    threading.Thread(target=_watch, args=(parent,), name="plastisim-parent-watch",
                     daemon=True).start()
    import torch.optim  # noqa: F401


def processes(packs: list[Pack], threads: int,
              workers: int) -> Iterator[tuple[str, xr.Dataset]]:
    """Run the packs in ``workers`` local processes (spawned: no state inherited; they end with
    this process, module docstring)."""
    context = multiprocessing.get_context("spawn")
    finished = False
    with _children_ignore_sighup():     # the workers and multiprocessing's resource tracker
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                   initializer=_start_worker, initargs=(os.getpid(),))
    try:
        futures = {}
        with _children_ignore_sighup():     # (workers are started as tasks are submitted)
            for pack in packs:
                function, args = _call(pack, threads)
                futures[pool.submit(function, *args)] = pack
        for future in as_completed(futures):
            pack = futures[future]
            try:
                members = _members(pack, future.result())
            except Exception as err:    # the worker process died (BrokenProcessPool, ...)
                members = _lost(pack, err)
            yield from members
        finished = True
    finally:
        if not finished:                # interrupted: nobody will write the runs in flight
            _stop_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _children_ignore_sighup() -> Iterator[None]:
    """Processes started by this thread in the block start with SIGHUP blocked (the signal
    mask survives exec): a closed terminal hangs up its whole process group, and the sweep's
    own process, not its workers or multiprocessing's resource tracker, decides what ends
    (``plastisim.interrupt``: it stops the workers itself). The workers ignore it too."""
    if not hasattr(signal, "pthread_sigmask") or not hasattr(signal, "SIGHUP"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """SIGTERM to the pool's worker processes (Python 3.14 has ``terminate_workers``; before,
    the pool keeps them in ``_processes``)."""
    if hasattr(pool, "terminate_workers"):
        pool.terminate_workers()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


def connect(scheduler: Any):
    """(client, owned): a dask.distributed Client connected to the scheduler at an address
    (``owned``: the caller closes it), or the Client given. An address where no Dask scheduler
    answers within ``CONNECT_TIMEOUT_S`` (nothing listens, or something else that never
    speaks: Dask's own handshake would wait for it forever) is a one-line ConfigError."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'plastisim[dask]'") from None
    if not isinstance(scheduler, str):
        return scheduler, False
    timeout = CONNECT_TIMEOUT_S
    try:
        asyncio.run(_handshake(scheduler, timeout))
        return Client(scheduler, timeout=f"{timeout}s"), True
    except (asyncio.TimeoutError, TimeoutError):
        raise ConfigError(f"scheduler={scheduler!r}: no Dask scheduler answered within "
                          f"{timeout:g} s (is the address that of a Dask scheduler?)") from None
    except Exception as err:            # refused, unknown host, a bad address, not Dask
        raise ConfigError(f"scheduler={scheduler!r}: cannot connect to a Dask scheduler "
                          f"({one_line(err)})") from None


async def _handshake(address: str, timeout: float) -> None:
    """Connect to ``address`` and exchange Dask's handshake, within ``timeout`` seconds in
    all (``distributed.comm.connect`` bounds the connection, not the handshake's reply)."""
    from distributed.comm import connect as open_comm

    comm = await asyncio.wait_for(open_comm(address, timeout=timeout), timeout)
    await comm.close()


def dask(packs: list[Pack], threads: int, scheduler: Any) -> Iterator[tuple[str, xr.Dataset]]:
    """Run each pack as one Dask task on the cluster at ``scheduler`` (address or Client)."""
    from dask.distributed import as_completed as dask_completed

    client, owned = connect(scheduler)
    futures = {}
    try:
        for pack in packs:
            function, args = _call(pack, threads)
            name = (f"plastisim-run-{pack[0][0]}" if len(pack) == 1 else
                    f"plastisim-pack-{pack[0][0]}-{len(pack)}")
            futures[client.submit(function, *args, key=name, pure=False)] = pack
        for future in dask_completed(list(futures)):
            pack = futures[future]
            try:
                members = _members(pack, future.result())
            except Exception as err:    # the worker died or the task could not be sent
                members = _lost(pack, err)
            yield from members
            future.release()
    finally:
        for future in futures:
            future.cancel()
        if owned:
            client.close()


def describe(workers: int, scheduler: Any, ensemble: int = 1) -> str:
    """What ran the sweep, for the merged dataset's attributes (``executor``, volatile)."""
    if scheduler is not None:
        address = scheduler if isinstance(scheduler, str) else getattr(
            getattr(scheduler, "scheduler", None), "address", str(scheduler))
        where = f"dask.distributed scheduler {address}"
    else:
        where = "this process" if workers == 0 else f"{workers} local processes (spawn)"
    return where + (f", runs packed into ensembles of up to {ensemble}" if ensemble > 1 else "")
