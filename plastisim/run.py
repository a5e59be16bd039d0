"""One run from a configuration: build the RHM, the network and the rule, train, describe.

    cfg = config.load("models/bp.toml", ["rhm.m=4"])
    outcome = execute(cfg)            # TrainResult + xarray Dataset with provenance
    record.write(outcome.dataset, "runs/bp.nc")
    outcomes = execute([cfg_a, cfg_b])   # trained as one batched computation, each as if alone
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import xarray as xr

from . import rules
from .config import RunConfig
from .errors import ConfigError, impossible
from .metrics import LAYER_STATISTICS, layer_coord, layer_statistics, sensitivity_matrix
from .network import Network, hierarchy
from .options import Status
from .recording.monitor import Monitor
from .recording.record import curve_dataset, provenance
from .resources import SIZE_KEYS, check_memory
from .rhm import RHM, RHMBatch, check_grammar, check_split, max_data, one_hot
from .train import (DTYPES, TrainOptions, TrainResult, evaluation_epochs, phase_learning_rates,
                    resolve_device, train)


@contextmanager
def _section(name: str):
    """Prefix the field of a ConfigError raised while building ``name`` ("m=9" -> "rhm.m=9")."""
    try:
        yield
    except ConfigError as err:
        message = str(err)
        raise ConfigError(message if message.startswith(f"{name}.") else f"{name}.{message}") \
            from None


@dataclass
class Built:
    rhm: RHM
    train_set: RHMBatch
    test_set: RHMBatch
    net: Network
    rule: object
    options: TrainOptions
    device: str
    net_seed: int = 0


def build(cfg: RunConfig, device: str | None = None) -> Built:
    """Everything a run needs, validated (one-line ConfigErrors naming the key): the rule's
    parameters, the grammar, the network's depth and the views' levels against the RHM, and
    the memory the run needs against the machine's, all before any tensor exists."""
    rule = rules.get(cfg.rule.name, **cfg.rule.params)
    with _section("rhm"):
        check_grammar(**vars(cfg.rhm))
    depth = cfg.rhm.L if cfg.network.depth is None else cfg.network.depth
    if depth > cfg.rhm.L:
        raise impossible("network.depth", depth, f"need depth <= rhm.L={cfg.rhm.L}")
    if cfg.network.predictions and cfg.rule.name != "codepred":
        raise ConfigError(f"network.predictions = true is the network of rule 'codepred' (its "
                          f"linear groups have no ReLU gate); rule {cfg.rule.name!r} needs "
                          "network.predictions = false")
    if getattr(rule.params, "pairs", None) == "views":      # layerwise: views below level L
        rule.levels(cfg.rhm.L, depth)
    if cfg.network.dtype not in DTYPES:
        raise ConfigError(f"network.dtype={cfg.network.dtype!r} is unknown; available: "
                          f"{', '.join(DTYPES)}")
    with _section("train"):
        check_split(max_data(cfg.rhm.n_classes, cfg.rhm.m, cfg.rhm.s, cfg.rhm.L),
                    cfg.train.n_train, cfg.train.n_test)
    if device is None:
        with _section("train"):
            dev = resolve_device(cfg.train.device)
    else:                                   # the caller's choice (--device): its own name
        dev = resolve_device(device)
    check_memory(run_sizes(cfg), run_sizes(RunConfig()), str(dev),
                 DTYPES[cfg.network.dtype].itemsize, views=hasattr(rule, "levels"))
    with _section("rhm"):
        rhm = RHM(**vars(cfg.rhm))
    with _section("train"):
        train_set, test_set = rhm.split(cfg.train.n_train, cfg.train.n_test,
                                        seed=cfg.train.data_seed)
        options = TrainOptions(epochs=cfg.train.epochs, batch_size=cfg.train.batch_size,
                               seed=cfg.train.seed, stop_loss=cfg.train.stop_loss,
                               schedule=cfg.train.schedule, evaluations=cfg.train.evaluations,
                               compile=cfg.train.compile)
    with _section("network"):
        net = hierarchy(rhm, cfg.network.width, cfg.network.shared, cfg.network.depth,
                        readout=cfg.network.readout, predictions=cfg.network.predictions,
                        expansion=cfg.network.expansion,
                        seed=cfg.network.seed, dtype=DTYPES[cfg.network.dtype], device=dev)
    return Built(rhm, train_set, test_set, net, rule, options, str(dev), cfg.network.seed)


def run_sizes(cfg: RunConfig) -> dict:
    """The sizes of ``cfg`` that set its memory (``resources.SIZE_KEYS``)."""
    return {key: getattr(getattr(cfg, key.split(".")[0]), key.split(".")[1])
            for key in SIZE_KEYS}


@dataclass
class Outcome:
    result: TrainResult
    dataset: xr.Dataset
    built: Built
    ensemble: int = 1        # runs trained together with this one (execute of a list), itself too


def run_attrs(cfg: RunConfig, built: Built) -> dict:
    """Provenance and what is run, known before training: config, seeds, rule, data sizes, and
    the learning rate of each phase (``eta_<phase>``, ``eta_<phase>_formula``)."""
    seeds = {"rhm": cfg.rhm.seed, "network": cfg.network.seed, "train": cfg.train.seed,
             "data": cfg.train.data_seed}
    seeds.update({k: v for k, v in vars(built.rule.params).items() if k.endswith("seed")})
    attrs = provenance(cfg.to_toml(), seeds, built.device, cfg.network.dtype)
    info = rules.info(cfg.rule.name)
    attrs.update(title=f"plastisim run: rule {cfg.rule.name} on {built.rhm!r}".split("  #")[0],
                 rule=cfg.rule.name, rule_family=info.family, rule_local=str(info.local).lower(),
                 n_train=len(built.train_set), n_test=len(built.test_set),
                 P_max=str(built.rhm.P_max), n_star=built.rhm.n_star,
                 config_source=cfg.source)
    for phase, (eta, text) in phase_learning_rates(built.rule, built.net).items():
        attrs[f"eta_{phase}"] = eta                 # at the start of the phase's schedule
        attrs[f"eta_{phase}_formula"] = text
    return attrs


SENSITIVITY_PROBE = 2000       # test inputs on which the final S_{k,l} is measured


def _probe(built: Built, result: TrainResult) -> RHMBatch | None:
    """The first ``SENSITIVITY_PROBE`` test inputs, or None unless the training ended
    (converged, max_epochs): after a divergence the weights are not finite, and an interrupted
    or failed run has no final state (nor time to measure it)."""
    if result.status not in (Status.CONVERGED, Status.MAX_EPOCHS) or len(built.test_set) == 0:
        return None
    return built.test_set[:SENSITIVITY_PROBE]


def final_sensitivity(built: Built, result: TrainResult) -> xr.DataArray:
    """S_{k,l} of the trained network (``metrics.sensitivity_matrix``) on the ``_probe``
    inputs, synonyms drawn with the network seed; NaN without a probe."""
    depth, levels = len(built.net.hidden), built.rhm.L
    probe = _probe(built, result)
    values = np.full((depth, levels), np.nan) if probe is None else \
        sensitivity_matrix(built.net, built.rhm, probe, seed=int(built.net_seed))
    return xr.DataArray(values, dims=("layer", "level"), coords={
        "layer": layer_coord(depth),
        "level": ("level", np.arange(levels), {"units": "1", "long_name": "RHM level l: synonyms "
                                                            "re-drawn below it"})},
        attrs={"units": "1", "long_name": "synonymic sensitivity S_{k,l} after training",
               "probe": f"first {SENSITIVITY_PROBE} test inputs (or all)"})


def final_layer_statistics(built: Built, result: TrainResult) -> dict[str, xr.DataArray]:
    """``metrics.layer_statistics`` of the trained network on the ``_probe`` inputs, one
    variable per statistic along ``layer`` (NaN without a probe)."""
    depth = len(built.net.hidden)
    probe = _probe(built, result)
    values = np.full((depth, len(LAYER_STATISTICS)), np.nan) if probe is None else \
        layer_statistics(built.net, one_hot(probe.x, built.rhm.v, built.net.dtype))
    return {name: xr.DataArray(values[:, i], dims="layer", coords={"layer": layer_coord(depth)},
                               attrs={"units": "1", "long_name": f"{text} after training",
                                      "probe": f"first {SENSITIVITY_PROBE} test inputs (or all)"})
            for i, (name, text) in enumerate(LAYER_STATISTICS.items())}


def describe(cfg: RunConfig, built: Built, result: TrainResult) -> xr.Dataset:
    """The run's Dataset: learning curve, final synonymic sensitivity, status, throughput,
    epochs and steps of each phase (``epochs_<phase>``, ``steps_<phase>``), config and
    provenance."""
    attrs = run_attrs(cfg, built)
    attrs.update(status=str(result.status), status_message=result.message, steps=result.steps,
                 samples_per_s=result.samples_per_s, elapsed_s=result.elapsed)
    for phase, done in result.phases.items():
        attrs.update({f"epochs_{phase}": done["epochs"], f"steps_{phase}": done["steps"]})
    ds = curve_dataset(result.history, attrs)
    ds["sensitivity"] = final_sensitivity(built, result)
    return ds.assign(final_layer_statistics(built, result))


RUN_FILE_BYTES = 32 * 1024      # a run's file without its curve: headers, attributes, S_{k,l}
EVAL_BYTES = 128                # the learning curve: per evaluation


def evaluations_at_most(cfg: RunConfig) -> int:
    """A bound on a run's evaluations known from its config alone: ``train.evaluations`` + 3 in
    each of two phases (``run_length`` counts them for a built run)."""
    return 2 * (cfg.train.evaluations + 3)


def file_bytes(cfg: RunConfig, evaluations: int | None = None) -> int:
    """The size of a run's file without recording (``record.write`` of ``describe``), at most:
    with ``evaluations`` (``run_length``), or ``evaluations_at_most``."""
    if evaluations is None:
        evaluations = evaluations_at_most(cfg)
    return RUN_FILE_BYTES + EVAL_BYTES * evaluations + 2 * len(cfg.to_toml())


def run_length(built: Built) -> tuple[int, int]:
    """(plasticity steps, evaluations) of the run at most: every epoch of every phase (it may
    end earlier, converged or diverged)."""
    per_epoch = -(-len(built.train_set) // built.options.batch_size)
    steps = evaluations = 0
    for phase in getattr(built.rule, "phases", ("joint",)):
        epochs = (built.rule.params.readout_epochs if phase == "readout"
                  else built.options.epochs)
        steps += epochs * per_epoch
        evaluations += len(evaluation_epochs(epochs, built.options.evaluations)) + 1
    return steps, evaluations


def disk_bytes(cfg: RunConfig, built: Built, monitor: Monitor | None = None) -> dict[str, int]:
    """Disk the run's file takes at most, in parts: ``file`` (learning curve, sensitivity,
    attributes) and, with ``monitor`` (its [record] Monitor), ``records`` (every recorded step,
    ``live.file_bytes``) and ``reserve`` (the room a stream holds while it grows, ``live``)."""
    from .recording import live

    steps, evaluations = run_length(built)
    parts = {"file": file_bytes(cfg, evaluations)}
    if monitor is not None:
        records = 1 + steps // monitor.every
        parts["records"] = live.file_bytes(monitor.schema, monitor.complevel, records)
        parts["reserve"] = live.reserve_bytes(monitor.schema, monitor.complevel)
        parts["count"] = records
    return parts


def record_monitor(cfg: RunConfig, built: Built, path=None, overwrite: bool = False,
                   attrs: dict | None = None) -> Monitor:
    """The Monitor of ``cfg.record``, streaming to ``path`` (None: in memory, e.g. to check the
    selection and size a record before any work) with ``attrs``."""
    rec = cfg.record
    return Monitor(built.net, weights=rec.weights, updates=rec.updates, rates=rec.rates,
                   traces=rec.traces, factors=rec.factors, factor_streams=rec.factor_streams,
                   factor_gamma=cfg.rule.name == "clapp", loss=rec.loss, every=rec.every,
                   indices=rec.indices,
                   path=path, overwrite=overwrite, attrs=attrs, complevel=rec.complevel)


def make_monitor(cfg: RunConfig, built: Built, path, overwrite: bool = False) -> Monitor:
    """``record_monitor`` streaming to ``path`` with the run's provenance; it has recorded the
    initial state (step 0) when returned."""
    monitor = record_monitor(cfg, built, path, overwrite, run_attrs(cfg, built))
    monitor.record(0, built.net, None, epoch=0)
    return monitor


def execute(cfg: RunConfig | list[RunConfig], *, device: str | None = None, monitor=None,
            progress: Callable[[dict], None] | None = None, stop: Callable[[], str] | None = None,
            catch: bool = False, built: Built | list[Built] | None = None
            ) -> Outcome | list[Outcome]:
    """Build and train; the Dataset is complete even when the run diverged.

    One config: one ``Outcome``. A list of configs: they train together as one batched
    computation (``train`` of lists: one step of all members) and a list of outcomes comes
    back, outcome i that of ``execute(cfg[i])`` alone but for wall times (``elapsed_s``,
    ``samples_per_s`` are the ensemble's) and the attribute ``ensemble_size`` (E, also
    ``Outcome.ensemble``), as provenance (members equal their runs alone bit for bit where
    the batched kernels round as the single ones: docs/ensembles.md); a ConfigError when the
    configs differ in more than ``members.MEMBER_KEYS``.

    ``catch``: an exception inside training ends the run (every member) as status "failed"
    with its message, and the Dataset keeps the learning curve up to there (``train``'s
    ``catch``); errors of the config or of building still raise. ``stop``: a reason to stop
    ("" to go on), read before every step (``plastisim.interrupt.Signals``): status
    "interrupted". ``monitor``: a ``Monitor`` (for a list: one per member, or None) recording
    the run's steps. ``progress``: ``train``'s reports (with ``members``, the members still
    running, for a list). ``built``: ``build(cfg, device)`` made by the caller (for a list:
    one per config), e.g. to watch its network from ``progress`` (``plastisim demo`` probes
    it) or to size its file before training (``plastisim run``)."""
    if isinstance(cfg, RunConfig):
        built = build(cfg, device) if built is None else built
        result = train(built.net, built.rule, built.train_set, built.test_set, built.options,
                       rhm=built.rhm, monitor=monitor, progress=progress, stop=stop,
                       catch=catch)
        return Outcome(result, describe(cfg, built, result), built)
    cfgs = list(cfg)
    built = [build(c, device) for c in cfgs] if built is None else list(built)
    if len(built) != len(cfgs):
        raise ConfigError(f"{len(cfgs)} configs need {len(cfgs)} built runs, not {len(built)}")
    results = train([b.net for b in built], [b.rule for b in built],
                    [b.train_set for b in built], [b.test_set for b in built],
                    [b.options for b in built], rhm=[b.rhm for b in built], monitor=monitor,
                    progress=progress, stop=stop, catch=catch)
    outcomes = [Outcome(result, describe(c, b, result), b, ensemble=len(cfgs))
                for c, b, result in zip(cfgs, built, results)]
    for outcome in outcomes:
        outcome.dataset.attrs["ensemble_size"] = len(cfgs)
    return outcomes
