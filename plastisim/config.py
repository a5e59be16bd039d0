"""Typed run configurations loaded from TOML (``models/*.toml``), with one-line errors.

One frozen dataclass per TOML section::

    [rhm]      v, n_classes, m, s, L, seed
    [network]  width, shared, depth, dtype
    [rule]     name, and the rule's own parameters (lr, momentum, ...; see `plastisim rules`)
    [train]    n_train, n_test, epochs, batch_size, seed, stop_loss, schedule, evaluations,
               device, data_seed, compile
    [record]   path, weights, updates, rates, traces, factors, factor_streams, loss, every,
               indices, complevel

``--set section.key=value`` overrides are parsed as TOML values (strings may be bare). Unknown
sections and keys, wrong types and impossible values are ``ConfigError``s that name the key, the
value and what is allowed; each field declares its range next to its default
(``checked(default, check)``, ``plastisim.validate``) and ``__post_init__`` enforces it, so a
config built in Python is checked the same way.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from . import rules
from .errors import ConfigError, shown, unknown, wrong_type
from .inputs import read_text
from .network import READOUTS
from .train import DTYPES, SCHEDULES
from .validate import (AUTO_OR_FLAG, Check, check_fields, check_of, checked, converted, flag,
                       integer, nonnegative, one_of, optional, parse_assignment, random_seed,
                       text)

@dataclass(frozen=True)
class RHMConfig:
    """[rhm]: the grammar (symbols: ``plastisim.rhm``); m*v <= v**s and m*n_classes <= v**s
    are checked when the RHM is built (a sweep records such a point as failed)."""
    v: int = checked(8, integer(2))
    n_classes: int = checked(8, integer(2))
    m: int = checked(4, integer(1))
    s: int = checked(2, integer(2))
    L: int = checked(3, integer(1))
    seed: int = checked(0, random_seed)

    def __post_init__(self) -> None:
        check_fields(self, "rhm.")


@dataclass(frozen=True)
class NetworkConfig:
    """[network]: the PRX CNN (``network.hierarchy``); depth <= rhm.L is checked at build."""
    width: int = checked(256, integer(1))
    shared: bool = checked(True, flag)
    depth: int | None = checked(None, optional(integer(1)))  # omitted: one layer per level (L)
    readout: str = checked("mean", one_of(*READOUTS))  # "mean" over the top positions (PRX) |
    #                                       "dense": every top position, concatenated
    predictions: bool = checked(False, flag)  # a linear prediction group after every layer
    #                                       but the last (the network of rule "codepred")
    expansion: int = checked(0, integer(0))   # > 0: a ReLU layer of that many units reading
    #                                       every position of the last layer, before the readout
    dtype: str = checked("float32", one_of(*DTYPES))
    seed: int = checked(0, random_seed)      # initial weights

    def __post_init__(self) -> None:
        check_fields(self, "network.")


@dataclass(frozen=True)
class RuleConfig:
    """[rule]: the rule's name and parameters, checked by ``rules.make_params`` (config.build)."""
    name: str = "bp"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainConfig:
    """[train]: data sizes and the loop's options (``train.TrainOptions``). A batch_size larger
    than n_train is accepted: every epoch is then one full batch of the n_train inputs."""
    n_train: int = checked(2048, integer(1))
    n_test: int = checked(10_000, integer(1))
    epochs: int = checked(250, integer(1))
    batch_size: int = checked(128, integer(1))
    seed: int = checked(0, random_seed)           # shuffling
    data_seed: int = checked(1, random_seed)      # which data are drawn (RHM.split)
    stop_loss: float = checked(0.01, nonnegative)   # stop below this train loss (0: never)
    schedule: str = checked("cosine", one_of(*SCHEDULES))
    evaluations: int = checked(30, integer(1))
    device: str = checked("auto", text)           # auto | cpu | cuda[:k], resolved at build
    compile: str | bool = checked("auto", AUTO_OR_FLAG)   # torch.compile the step: "auto" (on
    #                                               CUDA only), true, false (plastisim.engine)

    def __post_init__(self) -> None:
        check_fields(self, "train.")
        # "true" / "false" (a string where TOML had no boolean) in the field's own spelling
        object.__setattr__(self, "compile", AUTO_OR_FLAG.convert(self.compile))


INDICES = Check('a list of "name.axis=selection" strings',
                lambda x: all(isinstance(i, str) for i in x), lambda x: isinstance(x, list))


@dataclass(frozen=True)
class RecordConfig:
    """What the Monitor records (``plastisim.recording.monitor``); names: "all", "" or "a,b"."""
    path: str = checked("", text)    # the run's netCDF file (--out overrides)
    weights: str = checked("", text)  # synapses whose weights are recorded
    updates: str = checked("", text)  # synapses whose update directions are recorded
    rates: str = checked("", text)    # neuron groups whose rates (batch mean) are recorded
    traces: str = checked("", text)   # "group.trace" names
    factors: str = checked("", text)  # synapses whose three factors M, post, pre are recorded
    factor_streams: int = checked(8, integer(1))   # streams of each batch kept with the factors
    loss: bool = checked(True, flag)  # the loss of every recorded step (when anything is)
    every: int = checked(100, integer(1))   # record after every `every`-th step (and step 0)
    indices: list = checked(factory=list, check=INDICES)  # ["w1.post=0:16", "h1.channel=3,5"]
    complevel: int = checked(1, integer(0, 9))   # zlib level of the streamed file (0: none)

    def __post_init__(self) -> None:
        check_fields(self, "record.")

    @property
    def active(self) -> bool:
        """Whether anything is recorded along steps (a Monitor is needed)."""
        return bool(self.weights or self.updates or self.rates or self.traces or self.factors)


#: keys added after run identities were first written, with the default that leaves a run's
#: numbers as they were (train.compile = "auto": eager on a CPU): left out of ``to_toml``
#: at that default
LATER_KEYS = {"train.compile": "auto", "network.readout": "mean", "network.predictions": False,
              "network.expansion": 0,
              "record.factors": "", "record.factor_streams": 8}
_NONE = object()


@dataclass(frozen=True)
class RunConfig:
    rhm: RHMConfig = RHMConfig()
    network: NetworkConfig = NetworkConfig()
    rule: RuleConfig = RuleConfig()
    train: TrainConfig = TrainConfig()
    record: RecordConfig = RecordConfig()
    source: str = ""             # where it was loaded from

    def to_toml(self) -> str:
        """The full configuration (defaults included) as TOML text, for provenance; a key of
        ``LATER_KEYS`` at its default is left out, so that the identity of a run (the hash of
        this text: plastisim.sweep) made before the key existed stays the same."""
        lines = []
        for name in SECTIONS:
            section = getattr(self, name)
            lines.append(f"[{name}]")
            values = {k: v for k, v in dataclasses.asdict(section).items() if v is not None
                      and LATER_KEYS.get(f"{name}.{k}", _NONE) != v}
            if name == "rule":
                values = {"name": section.name, **section.params}
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
            lines.append("")
        return "\n".join(lines)


SECTIONS: dict[str, type] = {"rhm": RHMConfig, "network": NetworkConfig, "rule": RuleConfig,
                             "train": TrainConfig, "record": RecordConfig}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def parse_value(raw: str) -> Any:
    """The value of a ``key=value`` override: a TOML value (``1e-3``, ``true``, ``"a b"``,
    ``[1, 2]``), else the text itself as a string (``clapp``)."""
    try:
        return tomllib.loads(f"x = {raw.strip()}")["x"]
    except tomllib.TOMLDecodeError:
        return raw.strip()


def parse_override(text: str) -> tuple[str, str, Any]:
    """``section.key=value`` -> (section, key, value); value as ``parse_value`` reads it.
    An unknown section is blamed on the override (not on the config file)."""
    dotted, raw = parse_assignment(text, "--set", "section.key=value",
                                   f"sections: {', '.join(SECTIONS)}", dotted=True)
    section, key = dotted.split(".", 1)
    if section not in SECTIONS:
        raise ConfigError(f"--set {text!r}: section '{section}' is unknown; available: "
                          f"{', '.join(SECTIONS)}")
    return section, key, parse_value(raw)


def _typed(section: str, cls: type, key: str, value: Any) -> Any:
    """Check one scalar against the dataclass field type (ints are accepted for floats); the
    message says what the field allows (its declared check). A value given in another
    accepted spelling comes back in the field's own ("true" -> true for ``train.compile``)."""
    expected = get_type_hints(cls)[key]
    types = [expected]
    if get_origin(expected) in (Union, UnionType):      # "int | None": the key is optional;
        types = [a for a in get_args(expected) if a is not type(None)]   # "str | bool": either
    ok = any(_of_type(value, t) for t in types)
    check = check_of(cls, key)
    if not ok:
        kind = (check.allowed if len(types) > 1 and check is not None else
                " or ".join(t.__name__ for t in types)
                + (f" ({check.allowed})" if check is not None else ""))
        raise wrong_type(f"{section}.{key}", value, kind)
    if check is not None:            # here, to echo the value as given (-1, not -1.0)
        value = check(f"{section}.{key}", value)
    return float(value) if types == [float] else value


def _of_type(value: Any, expected: type) -> bool:
    """``value`` is of the field type ``expected`` (an int is a float; a bool is no number)."""
    if expected is bool:
        return isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _rule(values: dict[str, Any]) -> RuleConfig:
    """[rule]: a trainable rule and its parameters (names, types, values checked)."""
    rule_name = values.pop("name", RuleConfig.name)
    trainable = [n for n in rules.names() if rules.info(n).family != "stdp"]
    if rule_name not in trainable:      # stdp rules run in protocols, not on the RHM
        raise unknown("rule", str(rule_name), trainable)
    params = rules.make_params(rule_name, **values)
    # a value given in another accepted spelling is kept in the field's (view_level 1 -> "1")
    return RuleConfig(rule_name, {k: converted(type(params), k, v) for k, v in values.items()})


def build(table: dict[str, Any], source: str = "") -> RunConfig:
    """A validated RunConfig from a parsed TOML table: every key known, every value of its
    field's type and range (``validate.py``), before anything is built from it."""
    unknown_sections = set(table) - set(SECTIONS)
    if unknown_sections:
        raise ConfigError(f"section [{sorted(unknown_sections)[0]}] is unknown in "
                          f"{source or 'config'}; available: {', '.join(SECTIONS)}")
    parts: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        allowed = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(table.get(name, {}), dict):
            raise ConfigError(f"{name}={shown(table[name])} is not a table: need a [{name}] "
                              f"section with keys {', '.join(allowed)}")
        values = dict(table.get(name, {}))
        if name == "rule":
            parts[name] = _rule(values)
            continue
        for key, value in values.items():
            if key not in allowed:
                raise ConfigError(f"{name}.{key} is not a known key; available: "
                                  f"{', '.join(allowed)}")
            values[key] = _typed(name, cls, key, value)
        parts[name] = cls(**values)      # its __post_init__ checks the values
    return RunConfig(**parts, source=source)


def read_toml(path: str | Path, what: str, hint: str = "") -> dict[str, Any]:
    """The parsed TOML file ``path``; a missing file, a folder, a named pipe or device, an
    unreadable, invalid or empty file is a one-line ConfigError that says which (``what``:
    "config file", "sweep file"; ``hint``: the file a folder given instead may hold, e.g.
    "sweep.toml"). A UTF-8 byte-order mark is accepted (``inputs.read_text``)."""
    return parse_toml(read_text(path, what, hint=hint), path, what)


def parse_toml(text: str, path: str | Path, what: str) -> dict[str, Any]:
    """``text`` (of the file ``path``) parsed; invalid or empty TOML is a one-line
    ConfigError. An empty file would run every default (a width-256, L = 3 model): refused."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    if not table:
        holds = " (it holds only comments)" if text.strip() else ""
        raise ConfigError(f"{what} {str(path)!r} is empty{holds}")
    return table


def load(path: str | Path, overrides: list[str] = ()) -> RunConfig:
    """Read a model TOML file and apply ``section.key=value`` overrides."""
    table = read_toml(path, "config file")
    for text in overrides:
        section, key, value = parse_override(text)
        values = table.setdefault(section, {})
        if isinstance(values, dict):     # else build says the file's section is not a table
            values[key] = value
    return build(table, source=str(path))
