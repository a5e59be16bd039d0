r"""Monitor: what to record, how often, which indices, and where (memory or a netCDF4 stream).

    mon = Monitor(net, weights="all", rates="h1", every=100, path="run.nc",
                  indices={"w2": {"post": range(16)}})
    train(net, rule, train_set, test_set, monitor=mon)   # calls mon.record(step, net, result)
    ds = mon.to_xarray()                                  # = xarray.open_dataset("run.nc")

What (names: ``"all"``, one name, ``"w1,w2"`` or a list; None / "" records nothing):

    weights  weight_<syn>  (step, [position_<syn>,] post_<syn>, pre_<syn>)   the weights w
    updates  update_<syn>  same dims as weight_<syn>      the rule's update direction of the step
    rates    rate_<group>  (step, channel_<group>, position_<group>)   f(a), mean over the batch
    traces   trace_<group>_<trace>   same dims as rate_<group>          ("group.trace" names)
    loss     loss          (step,)                                        the step's loss
    factors  factor_M_<syn>, factor_post_<syn>, factor_rate_<syn>
                           (step, path_<syn>, stream_<syn>, fposition_<syn>, post_<syn>)
             factor_pre_<syn>  (step, path_<syn>, stream_<syn>, fposition_<syn>, pre_<syn>)
             factor_gamma_<syn> (step, path_<syn>, stream_<syn>, fposition_<syn>)  (gamma=True)

The factors are the rule's own factorisation of the step's update, per stream, position and
data path (``rules.base.factor_signals``): modulator M, post-synaptic term f'(a), post rate f(a)
and pre-synaptic term u (the receptive field), with

    update_<syn>[i, k] = (1/B) Σ_{path, stream, fposition} M_i · post_i · pre_k

when every stream and position is recorded. The first ``factor_streams`` streams of each batch
are kept (NaN where a batch has fewer), every position, two paths (the second NaN for the
layers with one data path), and the post / pre units of the synapse's ``indices``.

``position_<syn>`` exists only where weights are not shared (locally connected). ``pre_<syn>``
indexes the fan-in (receptive field) of a post unit; its coordinate ``pre_channel_<syn>`` names
the pre-synaptic channel of each entry. ``indices`` selects subsets by axis ("position",
"post", "pre" for a synapse; "channel", "position" for a group): a list, range or slice of
indices, or a string "0:16", "0:64:4", "3,5,9" (``selection``); weights and updates
of a synapse (rates and traces of a group) share the selection. A record taken without a step
result (``step=None``, e.g. the initial state at step 0) holds NaN for the updates and the loss.

Where: ``path=None`` keeps records in memory — every record, or with ``max_steps`` a ring buffer
of the last ``max_steps`` records (tensors stay on the network's device until ``to_xarray``);
``path="x.nc"`` streams every record to a netCDF4 file (``live.Stream``), flushed after each;
``plastisim.open_run`` reads it while it grows. An existing file is replaced only with
``overwrite=True``, under the output rule of the CLI (``outputs``): the recording is
written beside it (``Monitor.work``, ``.x.nc.tmp<random>``; read that path live) and moved over
it by ``close()``; leaving a ``with`` block by an exception (``close(replace=False)``), a crash
or a monitor never closed keep the old file. One process streams a path from one Monitor at a
time: a second Monitor on a path that an open one streams to (a notebook cell run twice) is a
one-line ConfigError until the first is closed (``monitor.close()``). A full disk stops a
stream cleanly (``live.Stream``): ``record`` raises ``plastisim.diskspace.DiskFullError``
(``disk full (needed ~X, free Y) writing 'x.nc'``), the file keeps every record written, and
``close()`` keeps it (over an existing file, the recording is removed and the old file stays).

Used again: a Monitor given to ``train`` a second time continues its numbering, in memory and in
the file: ``train`` numbers its steps and epochs after ``last_step`` and ``last_epoch``, the last
ones the monitor was given (``record``; steps 1..4, then 5..8); ``reset()`` restarts them at 0.
A Monitor records the network it was made for: ``record`` (and ``train``) refuse a network of
other groups, widths or weight shapes in one line (``check_network``); make a new Monitor.
The monitor follows the network's device: it reads tensors where they are. Its benchmark is
``plastisim.bench.record``.
"""
from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, check_int, impossible, unknown
from ..network import Network
from . import live, record
from .outputs import Output
from .selection import parse_indices, parse_selection, resolve_names, resolve_selection

__all__ = ["Monitor", "SYNAPSE_AXES", "GROUP_AXES",
           # selections, defined in selection
           "parse_selection", "parse_indices", "resolve_selection"]

SYNAPSE_AXES = ("position", "post", "pre")
GROUP_AXES = ("channel", "position")
FACTOR_PATHS = 2          # data paths of a pair kept per factor record (halves, views: two)

#: the open streaming monitors of this process, by the resolved path they write (a second
#: Monitor on one of them is refused: it would wait for the first's lock, or replace its file)
_streaming: dict[Path, weakref.ref] = {}
_streaming_lock = threading.Lock()


def _refuse_streamed(path: Path, key: Path, monitor: "Monitor | None") -> None:
    """A one-line ConfigError if an open Monitor other than ``monitor`` streams to ``key``."""
    other = _streaming.get(key)
    other = other() if other is not None else None
    if (other is not None and other is not monitor and other._stream is not None
            and not other._stream.closed):
        raise ConfigError(f"output file {str(path)!r} is being recorded by another open "
                          "Monitor of this process; close that one first (monitor.close())")


def _claim(path: Path, monitor: "Monitor") -> Path:
    key = path.resolve()
    with _streaming_lock:
        _refuse_streamed(path, key, monitor)
        _streaming[key] = weakref.ref(monitor)
    return key


def _release(key: Path | None, monitor: "Monitor") -> None:
    with _streaming_lock:
        ref = _streaming.get(key)
        if ref is not None and ref() in (monitor, None):
            del _streaming[key]


def _shape_of(net: Network) -> dict[str, Any]:
    """What a Monitor's schema depends on: groups (channels, positions), weight shapes, dtype."""
    return {"groups": {g.name: tuple(g.shape) for g in net.groups.values()},
            "weights": {s.name: tuple(s.w.shape) for s in net.synapses.values()},
            "dtype": str(net.dtype).removeprefix("torch.")}


def _mismatch(made: dict[str, Any], given: dict[str, Any]) -> str:
    """How network ``given`` differs from ``made`` (``_shape_of``), "" if it does not."""
    for key, what in (("groups", "groups"), ("weights", "synapses")):
        if list(made[key]) != list(given[key]):
            return (f"{what} {', '.join(made[key])} was given one with {what} "
                    f"{', '.join(given[key])}")
    for g, shape in made["groups"].items():
        other = given["groups"][g]
        if shape[1:] == other[1:] and shape[0] != other[0]:
            return f"group {g} of width {shape[0]} was given one with width {other[0]}"
        if shape != other:
            return (f"group {g} of shape (channels, positions) {shape} was given one with "
                    f"{other}")
    for s, shape in made["weights"].items():
        if shape != given["weights"][s]:
            return f"weight {s} of shape {shape} was given one with {given['weights'][s]}"
    if made["dtype"] != given["dtype"]:
        return f"dtype {made['dtype']} was given one of {given['dtype']}"
    return ""


# --- one recorded quantity ----------------------------------------------------------------------
@dataclass
class _Item:
    field: record.Field
    read: Callable[[Network, Any], Tensor | None]      # (net, step_result) -> full tensor
    select: tuple[np.ndarray | None, ...]               # per axis, None: all
    _on: dict[str, tuple] = field(default_factory=dict)  # selection moved to a device

    def take(self, net: Network, step: Any, copy: bool = True) -> Tensor:
        """The selected values (``copy``: never a view of live state), NaN where the quantity
        does not exist yet."""
        t = self.read(net, step)
        if t is None:
            return torch.full(self.field.shape, float("nan"), device=net.device,
                              dtype=getattr(torch, self.field.dtype))
        t = t.detach()
        key = str(t.device)
        if key not in self._on:
            self._on[key] = tuple(None if i is None else torch.as_tensor(i, device=t.device)
                                  for i in self.select)
        for axis, idx in enumerate(self._on[key]):
            if idx is not None:
                t = t.index_select(axis, idx)
        return t.to(getattr(torch, self.field.dtype), copy=copy)


def _batch_mean(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.mean(0)              # (B, C, P) -> (C, P)


def _index_coord(dim: str, idx: np.ndarray | None, n: int, long_name: str) -> tuple:
    values = np.arange(n, dtype=np.int64) if idx is None else idx
    return ((dim,), values, {"units": "1", "long_name": long_name})


def _pre_channels(syn) -> np.ndarray:
    """The pre-synaptic channel of every fan-in entry k (unfold a map of channel numbers)."""
    c, p = syn.pre.channels, syn.pre.positions
    channel = torch.arange(c, dtype=torch.float64).view(1, c, 1).expand(1, c, p)
    return syn.unfold(channel)[0, 0].round().to(torch.int64).numpy()


def _selections(name: str, axes: tuple[str, ...], shape: tuple[int, ...],
                chosen: dict[str, Any]) -> tuple[np.ndarray | None, ...]:
    for axis in chosen:
        if axis not in axes:
            raise unknown(f"index axis of {name}", axis, axes)
    return tuple(resolve_selection(f"indices {name}.{axis}", chosen.get(axis), n)
                 for axis, n in zip(axes, shape))


def _synapse_items(syn, what: dict[str, list[str]], chosen: dict[str, Any],
                   coords: dict) -> list[_Item]:
    """weight_<s> and update_<s> of one projection; adds its index coordinates to ``coords``."""
    s = syn.name
    axes = SYNAPSE_AXES[1:] if syn.shared else SYNAPSE_AXES
    select = _selections(s, axes, tuple(syn.w.shape), chosen)
    dims = tuple(f"{a}_{s}" for a in axes)
    shape = tuple(n if i is None else len(i) for i, n in zip(select, syn.w.shape))
    meaning = {"position": f"position of the post-synaptic unit in group {syn.post.name}",
               "post": f"post-synaptic unit (channel of group {syn.post.name})",
               "pre": "entry of the receptive field (fan-in) of a post-synaptic unit"}
    for axis, dim, idx, n in zip(axes, dims, select, syn.w.shape):
        coords[dim] = _index_coord(dim, idx, n, meaning[axis])
    channel = _pre_channels(syn)
    coords[f"pre_channel_{s}"] = ((f"pre_{s}",), channel if select[-1] is None else
                                  channel[select[-1]],
                                  {"units": "1", "long_name": f"channel of group {syn.pre.name} "
                                   "feeding each receptive-field entry"})
    common = {"units": "1", "projection": s, "pre_group": syn.pre.name,
              "post_group": syn.post.name, "connectivity": repr(syn.connectivity),
              "shared": str(syn.shared).lower(), "scale": float(syn.scale)}
    dtype, items = str(syn.w.dtype).removeprefix("torch."), []
    if s in what["weights"]:
        attrs = {**common, "long_name": f"synaptic weight of projection {s} ({syn.pre.name} -> "
                 f"{syn.post.name}); drive = scale * w . u"}
        items.append(_Item(record.Field(f"weight_{s}", dims, shape, dtype, attrs),
                           lambda net, step: net.synapses[s].w, select))
    if s in what["updates"]:
        attrs = {**common, "long_name": f"update direction of projection {s} at the step: "
                 "modulator x post x pre, mean over the batch (summed over positions if shared);"
                 " the change applied is eta times it, through SGD"}
        items.append(_Item(record.Field(f"update_{s}", dims, shape, dtype, attrs),
                           lambda net, step: None if step is None else step.updates.get(s),
                           select))
    return items


def _factor_read(key: str, streams: int) -> Callable[[Network, Any], Tensor | None]:
    """Read signal ``key`` (paths, B, P, ·) of a step as (2, streams, P, ·), NaN-padded."""
    def read(net: Network, step: Any) -> Tensor | None:
        t = None if step is None else getattr(step, "signals", {}).get(key)
        if t is None:
            return None
        out = t.new_full((FACTOR_PATHS, streams) + tuple(t.shape[2:]), float("nan"))
        out[:t.shape[0], :min(t.shape[1], streams)] = t[:, :streams]
        return out
    return read


def _factor_items(syn, chosen: dict[str, Any], coords: dict, streams: int,
                  gamma: bool) -> list[_Item]:
    """factor_<M|post|rate|pre|gamma>_<s> of one projection (module docstring); adds its path,
    stream and position coordinates to ``coords`` (its post / pre ones are the synapse's,
    written by ``_synapse_items``, which ``_items`` calls first)."""
    s = syn.name
    axes = SYNAPSE_AXES[1:] if syn.shared else SYNAPSE_AXES
    select = dict(zip(axes, _selections(s, axes, tuple(syn.w.shape), chosen)))
    P, C, K = syn.post.positions, syn.post.channels, syn.fan_in
    shape = {"post": C if select["post"] is None else len(select["post"]),
             "pre": K if select["pre"] is None else len(select["pre"])}
    coords[f"path_{s}"] = _index_coord(f"path_{s}", None, FACTOR_PATHS,
                                       "data path of the pair (two for halves and views)")
    coords[f"stream_{s}"] = _index_coord(f"stream_{s}", None, streams, "stream of the batch")
    pos = select.get("position")
    coords[f"fposition_{s}"] = _index_coord(f"fposition_{s}", pos, P,
                                            f"position of the post-synaptic unit in group "
                                            f"{syn.post.name}")
    lead = (f"path_{s}", f"stream_{s}", f"fposition_{s}")
    n_pos = P if pos is None else len(pos)
    common = {"units": "1", "projection": s, "pre_group": syn.pre.name,
              "post_group": syn.post.name, "shared": str(syn.shared).lower(),
              "scale": float(syn.scale)}
    dtype = str(syn.w.dtype).removeprefix("torch.")
    meaning = {"M": "modulator M (sign and scale folded in; update = mean over streams of "
                    "M x post x pre)",
               "post": "post-synaptic term f'(a)", "rate": "post-synaptic rate f(a)",
               "pre": "pre-synaptic term u (receptive-field entry)",
               "gamma": "global scalar modulator of the stream's pair (+1, -1, 0)"}
    items = []
    for name, key in (("M", "M"), ("post", "post"), ("rate", "postrate"), ("pre", "pre"),
                      ("gamma", "gamma")):
        if name == "gamma" and not gamma:
            continue
        unit = () if name == "gamma" else ("pre",) if name == "pre" else ("post",)
        dims = lead + tuple(f"{u}_{s}" for u in unit)
        field = record.Field(f"factor_{name}_{s}", dims,
                             (FACTOR_PATHS, streams, n_pos) + tuple(shape[u] for u in unit),
                             dtype, {**common, "long_name": f"{meaning[name]} of projection "
                                     f"{s} ({syn.pre.name} -> {syn.post.name})"})
        items.append(_Item(field, _factor_read(f"{key}:{s}", streams),
                           (None, None, pos) + tuple(select[u] for u in unit)))
    return items


def _group_items(group, what: dict[str, list[str]], chosen: dict[str, Any], coords: dict,
                 dtype: str) -> list[_Item]:
    """rate_<g> and trace_<g>_<t> of one group; adds its index coordinates to ``coords``."""
    g = group.name
    select = _selections(g, GROUP_AXES, group.shape, chosen)
    dims = (f"channel_{g}", f"position_{g}")
    shape = tuple(n if i is None else len(i) for i, n in zip(select, group.shape))
    for axis, dim, idx, n in zip(GROUP_AXES, dims, select, group.shape):
        coords[dim] = _index_coord(dim, idx, n, f"{axis} of a unit of group {g}")
    items = []
    if g in what["rates"]:
        attrs = {"units": "1", "long_name": f"rate f(a) of group {g}, mean over the batch's "
                 "streams", "group": g, "reduction": "mean over batch"}
        items.append(_Item(record.Field(f"rate_{g}", dims, shape, dtype, attrs),
                           lambda net, step: _batch_mean(net.groups[g].rate), select))
    for t in [t.split(".", 1)[1] for t in what["traces"] if t.split(".", 1)[0] == g]:
        trace = group.traces[t]
        attrs = {"units": "1", "long_name": f"trace {t} of group {g} (tau = {trace.tau} "
                 f"{trace.units}, {trace.kind}), mean over the batch's streams", "group": g,
                 "tau": float(trace.tau), "tau_units": trace.units, "reduction": "mean over batch"}
        items.append(_Item(record.Field(f"trace_{g}_{t}", dims, shape, dtype, attrs),
                           lambda net, step, t=t: _batch_mean(
                               getattr(net.groups[g].traces.get(t), "value", None)), select))
    return items


def _items(net: Network, what: dict[str, list[str]], loss: bool,
           indices: dict[str, dict[str, Any]], streams: int = 8,
           gamma: bool = False) -> tuple[list[_Item], dict]:
    """The recorded quantities and their index coordinates (one-line errors on bad input)."""
    synapses = list(dict.fromkeys(what["weights"] + what["updates"] + what["factors"]))
    groups = list(dict.fromkeys(what["rates"] + [t.split(".")[0] for t in what["traces"]]))
    for name in indices:
        if name not in synapses + groups:
            raise unknown("recorded synapse or group in indices", name, synapses + groups)
    items, coords = [], {}
    for s in synapses:
        items += _synapse_items(net.synapses[s], what, indices.get(s, {}), coords)
        if s in what["factors"]:
            items += _factor_items(net.synapses[s], indices.get(s, {}), coords, streams, gamma)
    dtype = str(net.dtype).removeprefix("torch.")
    for g in groups:
        items += _group_items(net.groups[g], what, indices.get(g, {}), coords, dtype)
    if loss:
        attrs = {"units": "1", "long_name": "loss of the plasticity step (mean over the batch)"}
        items.append(_Item(record.Field("loss", (), (), dtype, attrs),
                           lambda net, step: None if step is None else step.loss, ()))
    return items, coords


# --- the monitor --------------------------------------------------------------------------------
class Monitor:
    """Records weights, updates, rates, traces and the loss of ``net`` (module docstring)."""

    def __init__(self, net: Network, weights: Any = "all", rates: Any = None, traces: Any = None,
                 updates: Any = None, loss: bool = True, *, factors: Any = None,
                 factor_streams: int = 8, factor_gamma: bool = False, every: int = 1,
                 indices: dict[str, dict[str, Any]] | Iterable[str] | None = None,
                 path: str | Path | None = None, max_steps: int | None = None,
                 overwrite: bool = False, attrs: dict[str, Any] | None = None,
                 complevel: int = 1):
        self.every = check_int("every", every, 1)
        if max_steps is not None:
            max_steps = check_int("max_steps", max_steps, 1)
            if path:
                raise impossible("max_steps", max_steps, f"for path={str(path)!r}: a streamed "
                                 "file keeps every record (max_steps bounds memory recording)")
        if not (isinstance(complevel, int) and 0 <= complevel <= 9):
            raise impossible("complevel", complevel, "need an integer in 0..9")
        traces_available = [f"{g.name}.{t}" for g in net.groups.values() for t in g.traces]
        what = {"weights": resolve_names("synapse", weights, net.synapses),
                "updates": resolve_names("synapse", updates, net.synapses),
                "rates": resolve_names("neuron group", rates, net.groups),
                "traces": resolve_names("trace", traces, traces_available),
                "factors": resolve_names("synapse", factors, net.synapses)}
        factor_streams = check_int("factor_streams", factor_streams, 1)
        if indices is not None and not isinstance(indices, dict):
            indices = parse_indices([indices] if isinstance(indices, str) else indices)
        self._items, coords = _items(net, what, bool(loss), indices or {}, factor_streams,
                                     bool(factor_gamma))
        self.max_steps, self.complevel = max_steps, complevel
        meta = record.provenance("", {}, str(net.device), str(net.dtype).removeprefix("torch."))
        meta.update(title="plastisim recording", record_every=self.every,
                    record_max_steps=max_steps or 0,
                    record_variables=" ".join(i.field.name for i in self._items))
        meta.update(attrs or {})
        self.schema = record.Schema(tuple(i.field for i in self._items), coords,
                                    record.netcdf_attrs(meta))
        self._network = _shape_of(net)
        self._stream, self._discarded, self._claim = None, False, None
        self._ended = False             # close() has run for the current stream
        if path is not None:            # another open Monitor of this process: named as such
            with _streaming_lock:
                _refuse_streamed(Path(path), Path(path).resolve(), None)
        # the path is this Monitor's (outputs.claim) until close(): a second writer,
        # here or in another process (plastisim run --overwrite), is refused
        self._output = None if path is None else Output(path, overwrite)
        self.path = None if path is None else self._output.path
        self.reset()

    def __repr__(self) -> str:
        where = f"path={str(self.path)!r}" if self.path else f"memory, max_steps={self.max_steps}"
        return (f"Monitor({', '.join(f.name for f in self.schema.fields)}; every={self.every}, "
                f"{where}, {self.n} records)")

    @property
    def work(self) -> Path | None:
        """Where the stream writes: ``path``, or a temporary name beside it while the recording
        replaces an existing file (moved over ``path`` by ``close``)."""
        return None if self._output is None else self._output.work

    @property
    def nbytes_per_record(self) -> int:
        return sum(int(np.prod(f.shape)) * np.dtype(f.dtype).itemsize for f in self.schema.fields)

    def check_network(self, net: Network) -> None:
        """Refuse (one-line ConfigError) a network other than the one this Monitor was made
        for: other groups, widths, weight shapes or dtype."""
        given = _shape_of(net)
        if given != self._network:
            raise ConfigError(f"Monitor made for a network with {_mismatch(self._network, given)}"
                              ": make a new Monitor for it")

    def reset(self) -> None:
        """Forget every record (a streamed file is created afresh), restart the clock and the
        numbering (``last_step``, ``last_epoch``: 0)."""
        self.n, self._t0 = 0, time.perf_counter()
        self.last_step, self.last_epoch = 0, 0
        self._coords: dict[str, list] = {name: [] for name in record.STEP_COORDS}
        self._values: dict[str, Any] = {f.name: [] for f in self.schema.fields}
        if self.path is not None:
            if self._stream is not None:
                self._stream.close()
            self._claim = _claim(self.path, self)     # no other open Monitor streams there
            try:
                self._output.hold()                   # nor another writer (after a close)
                self._stream = live.Stream(self.work, self.schema, self.complevel)
            except BaseException:
                _release(self._claim, self)
                self._output.discard()      # (a temporary file only: an existing file stays)
                raise
            self._discarded, self._ended = False, False

    def record(self, step_index: int, net: Network, step: Any = None, epoch: int = 0) -> bool:
        """Record the state after plasticity step ``step_index`` if it is a multiple of
        ``every`` (``step``: the rule's StepResult, or None); True when recorded. The step
        and epoch given are kept as ``last_step`` and ``last_epoch`` (where ``train``
        continues)."""
        due = step_index % self.every == 0
        if due and self._stream is not None and self._stream.closed:
            failed = self._stream.failed
            raise ConfigError(f"monitor of {str(self.path)!r} is closed"
                              + (f" ({failed})" if failed else "") + "; create a new one")
        if due:
            self.check_network(net)
        self.last_step = max(self.last_step, int(step_index))
        self.last_epoch = max(self.last_epoch, int(epoch))
        if not due:
            return False
        coords = {"step": int(step_index), "epoch": int(epoch),
                  "time": time.perf_counter() - self._t0}
        copy = self._stream is None
        values = {i.field.name: i.take(net, step, copy) for i in self._items}
        if self._stream is not None:
            self._stream.write(coords, {k: v.cpu().numpy() for k, v in values.items()})
        else:
            self._keep(coords, values)
        self.n += 1
        return True

    def _keep(self, coords: dict[str, float], values: dict[str, Tensor]) -> None:
        if self.max_steps is None:
            for name, value in coords.items():
                self._coords[name].append(value)
            for name, value in values.items():
                self._values[name].append(value)
            return
        slot, cap = self.n % self.max_steps, self.max_steps
        for name, value in coords.items():
            if not isinstance(self._coords[name], np.ndarray):
                self._coords[name] = np.zeros(cap, dtype=record.STEP_COORDS[name][0])
            self._coords[name][slot] = value
        for name, value in values.items():
            buf = self._values[name]
            if not isinstance(buf, Tensor):               # ring buffer on the value's device
                buf = torch.empty((cap,) + tuple(value.shape), dtype=value.dtype)
            self._values[name] = buf = buf.to(value.device)
            buf[slot] = value

    def to_xarray(self):
        """The records as an ``xarray.Dataset`` (schema of docs/data-format.md)."""
        if self._discarded:
            raise ConfigError(f"the recording for {str(self.path)!r} was discarded (closed with "
                              "replace=False); that file is the one it would have replaced")
        if self._stream is not None:
            return record.open_input(self.path) if self._stream.closed else self._stream.read()
        count = min(self.n, self.max_steps or self.n)
        if self.max_steps is None:
            order, coords = slice(None), {k: np.asarray(v) for k, v in self._coords.items()}
        else:
            order = (np.arange(self.n - count, self.n) % self.max_steps).tolist()
            coords = {k: np.asarray(v)[order] if count else np.zeros(0)
                      for k, v in self._coords.items()}
        values = {}
        for f in self.schema.fields:
            buf = self._values[f.name]
            if count == 0:
                values[f.name] = np.zeros((0,) + f.shape, dtype=f.dtype)
            elif isinstance(buf, list):
                values[f.name] = torch.stack([v.cpu() for v in buf]).numpy()
            else:
                values[f.name] = buf[order].cpu().numpy()
        return record.trajectory_dataset(self.schema, coords, values)

    def close(self, replace: bool = True) -> None:
        """Close the stream (the file stays valid); memory records stay readable. A recording
        that replaces an existing file is moved over it now, or with ``replace=False`` removed,
        the old file left as it was (a new file is kept either way). A recording that a full
        disk stopped (``live.Stream``; ``record`` raised ``DiskFullError``) keeps the records
        it wrote in a new file, and never replaces an existing one (its temporary file is
        removed)."""
        if self._stream is None or self._ended or (self._stream.closed
                                                   and self._stream.failed is None):
            return
        self._ended, ended = True, False
        try:
            self._stream.close()
            ended = self._stream.failed is None
        finally:
            _release(self._claim, self)
            try:
                if ended and replace:
                    self._output.commit()
                elif self._output.replaces:
                    self._output.discard()
                    self._discarded = True
            finally:
                self._output.release()          # the path is free for another writer

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(replace=exc_type is None)    # an exception keeps the file it would replace
