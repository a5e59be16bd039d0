"""The learning loop: one numbered recipe, for one network or for E members at once.

    result = train(net, rule, train_set, test_set, options)        # one network
    results = train(nets, rules, train_sets, test_sets, options)   # E members, one batched step

    1. place the networks and the data on the device; the rule's tensors (``rule.prepare``)
    2. learning rate η_i of each member: lr · width (PRX mean-field) or lr, cosine schedule
       (``optim.Clock``); SGD with momentum on the rule's update directions and the PRX weight
       decay λ · mean(w²) (``optim.sgd``)
    3. each epoch: every member shuffles with its own generator; for every batch, each
       member's random numbers are drawn on the host (``rule.draw``), then one step of all
       members: the rule's step and SGD (``engine.Stepper``: vmapped over members, compiled
       with ``options.compile``)
    4. a member stops at its first non-finite loss or weight (status "diverged", that step
       named exactly); the flags come out of the step and are read every ``CHECK_EVERY`` steps
       and at the end of each epoch, so that no step waits for the host. The errors of that
       last evaluation are NaN, not numbers computed from non-finite weights
    5. evaluate (train loss, train error, test error) on a log-spaced schedule of epochs
    6. record into the monitors (the flags are then read every step), report progress
    7. a member stops when its epoch's mean train loss falls below ``stop_loss`` ("converged")

Other endings: ``stop()`` (e.g. ``plastisim.interrupt.Signals`` after SIGINT / SIGTERM) is read
before every step and ends the run at that step boundary (status "interrupted", the reason and
the step in the message); with ``catch=True`` an exception inside the loop ends it as "failed"
(its message and step; ``result.error`` holds it) instead of propagating. Either way the
learning curve up to there is kept.

Layerwise self-supervised rules run two phases, each with this recipe and its own optimiser:
"local" (every hidden layer and predictor on its own loss, no stopping threshold), then
"readout" (the linear readout on the frozen representation, stopping as above). Epochs are
counted per phase in messages and in ``TrainResult.phases`` (the learning curve's ``epoch``
runs on across phases); ``phase_learning_rates`` gives each phase's η and how it is made.

Members (``plastisim.members``) share an architecture and a rule and may differ in seeds and
learning rates; member i follows its own recipe (shuffling, η_i, momentum, random draws,
stopping) and its result is that of its run alone (docs/ensembles.md). A member that stops
gets η = 0 until the epoch ends, then leaves the batched computation.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .errors import ConfigError
from .network import Network
from .options import (COMPILE, DTYPES, SCHEDULES, Status, TrainOptions,  # noqa: F401
                      TrainResult, evaluation_epochs, learning_rate, phase_learning_rates,
                      resolve_device)
from .phase import Run
from .validate import check_data

def train(net, rule, train_set, test_set, options=TrainOptions(), *, rhm=None, monitor=None,
          progress: Callable[[dict], None] | None = None, stop: Callable[[], str] | None = None,
          catch: bool = False):
    """Train ``net`` with ``rule`` on ``train_set``, evaluate on ``test_set`` (module recipe);
    returns a ``TrainResult``. Given lists (networks, rules, one training and test set per
    member or one for all, ``options`` one or one per member differing only in ``seed``,
    ``monitor`` one per member or None), the members train as one and a list of results comes
    back, member i's being that of its run alone.

    ``rhm``: the RHM (or one per member), for rules that draw synonym views; ``stop``: a
    reason to stop ("" to go on), read before every step; ``catch``: record an exception as
    status "failed". ``monitor`` records step n of this run as step ``monitor.last_step + n``
    (epochs likewise): a monitor used again continues its numbering
    (``plastisim.recording.monitor``).
    """
    single = isinstance(net, Network)
    nets = [net] if single else list(net)
    size = len(nets)
    rules = [rule] if single else list(rule)
    sets = [_each(s, size, name) for s, name in ((train_set, "train_set"),
                                                 (test_set, "test_set"))]
    options = _each(options, size, "options")
    monitors = _each(monitor, size, "monitor")
    _check(nets, *sets, options)
    for n, m in zip(nets, monitors):
        if hasattr(m, "check_network"):
            m.check_network(n)                       # the network the monitor was made for
    monitors = [continued(m) for m in monitors]
    results = [TrainResult() for _ in nets]
    for n, r in zip(nets, rules):
        r.prepare(n)
    Run(nets, rules, *sets, options, _each(rhm, size, "rhm"), monitors, results,
         progress, stop, multiple=not single).go(catch)
    return results[0] if single else results


def _each(value, size: int, name: str) -> list:
    """A value per member: the list given (of ``size`` items), or one value for all."""
    if isinstance(value, (list, tuple)):
        if len(value) != size:
            raise ConfigError(f"{size} members need {size} {name} values (or one for all), "
                              f"not {len(value)}")
        return list(value)
    return [value] * size


def _check(nets, train_sets, test_sets, options) -> None:
    if len({(len(a), len(b)) for a, b in zip(train_sets, test_sets)}) > 1:
        raise ConfigError("members need training and test sets of the same sizes as member 0's")
    if any(dataclasses.replace(o, seed=0) != dataclasses.replace(options[0], seed=0)
           for o in options):
        raise ConfigError("members' train options may differ only in train.seed")
    for net, tr, te in zip(nets, train_sets, test_sets):
        check_data(net, tr, "train_set")              # data of this RHM and this network
        check_data(net, te, "test_set")


class _Continued:
    """A monitor recording step n (epoch e) of this run as ``step + n`` (``epoch + e``)."""

    def __init__(self, monitor, step: int, epoch: int):
        self.monitor, self.step, self.epoch = monitor, step, epoch

    def record(self, step_index: int, net: Network, step=None, epoch: int = 0) -> bool:
        return self.monitor.record(self.step + step_index, net, step, epoch=self.epoch + epoch)


def continued(monitor):
    """``monitor`` numbering a run's steps and epochs after its ``last_step`` and
    ``last_epoch`` (a ``Monitor`` has them; 0 otherwise), so that a monitor given to a second
    run continues where the first ended; None stays None."""
    if monitor is None:
        return None
    return _Continued(monitor, getattr(monitor, "last_step", 0),
                      getattr(monitor, "last_epoch", 0))
