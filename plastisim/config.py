"""Typed run configurations loaded from TOML (``models/*.toml``), with one-line errors.

One frozen dataclass per TOML section::

    [rhm]      v, n_classes, m, s, L, seed
    [network]  width, shared, depth, dtype
    [rule]     name, and the rule's own parameters (lr, momentum, ...; see `plastisim rules`)
    [train]    n_train, n_test, epochs, batch_size, seed, stop_loss, schedule, evaluations,
               device, data_seed
    [record]   path, weights, updates, rates, traces, loss, every, indices, complevel

``--set section.key=value`` overrides are parsed as TOML values (strings may be bare). Unknown
sections and keys, wrong types and impossible values are ``ConfigError``s that name the key.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from . import rules
from .errors import ConfigError, check_int, unknown

@dataclass(frozen=True)
class RHMConfig:
    v: int = 8
    n_classes: int = 8
    m: int = 4
    s: int = 2
    L: int = 3
    seed: int = 0


@dataclass(frozen=True)
class NetworkConfig:
    width: int = 256
    shared: bool = True
    depth: int | None = None     # omitted: one patch layer per RHM level (depth = L)
    dtype: str = "float32"
    seed: int = 0                # initial weights


@dataclass(frozen=True)
class RuleConfig:
    name: str = "bp"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainConfig:
    n_train: int = 2048
    n_test: int = 10_000
    epochs: int = 250
    batch_size: int = 128
    seed: int = 0                # shuffling
    data_seed: int = 1           # which data are drawn (RHM.split)
    stop_loss: float = 0.01
    schedule: str = "cosine"
    evaluations: int = 30
    device: str = "auto"


@dataclass(frozen=True)
class RecordConfig:
    """What the Monitor records (``plastisim.monitor``); names: "all", "" or "a,b"."""
    path: str = ""               # the run's netCDF file (--out overrides)
    weights: str = ""            # synapses whose weights are recorded
    updates: str = ""            # synapses whose update directions are recorded
    rates: str = ""              # neuron groups whose rates (batch mean) are recorded
    traces: str = ""             # "group.trace" names
    loss: bool = True            # the loss of every recorded step (when anything is recorded)
    every: int = 100             # record after every `every`-th plasticity step (and step 0)
    indices: list = field(default_factory=list)   # ["w1.post=0:16", "h1.channel=3,5"]
    complevel: int = 1           # zlib level of the streamed file (0: none)

    def __post_init__(self) -> None:
        check_int("record.every", self.every, 1)
        if not 0 <= self.complevel <= 9:
            raise ConfigError(f"record.complevel={self.complevel!r} is impossible: need 0..9")
        if not all(isinstance(i, str) for i in self.indices):
            raise ConfigError(f"record.indices={self.indices!r} is impossible: need a list of "
                              "\"name.axis=selection\" strings")

    @property
    def active(self) -> bool:
        """Whether anything is recorded along steps (a Monitor is needed)."""
        return bool(self.weights or self.updates or self.rates or self.traces)


@dataclass(frozen=True)
class RunConfig:
    rhm: RHMConfig = RHMConfig()
    network: NetworkConfig = NetworkConfig()
    rule: RuleConfig = RuleConfig()
    train: TrainConfig = TrainConfig()
    record: RecordConfig = RecordConfig()
    source: str = ""             # where it was loaded from

    def to_toml(self) -> str:
        """The full configuration (defaults included) as TOML text, for provenance."""
        lines = []
        for name in SECTIONS:
            section = getattr(self, name)
            lines.append(f"[{name}]")
            values = {k: v for k, v in dataclasses.asdict(section).items() if v is not None}
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


def parse_override(text: str) -> tuple[str, str, Any]:
    """``section.key=value`` -> (section, key, value); value parsed as TOML, else a string."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"--set {text!r} is not of the form section.key=value "
                          f"(sections: {', '.join(SECTIONS)})")
    dotted, raw = text.split("=", 1)
    section, key = dotted.strip().split(".", 1)
    try:
        value = tomllib.loads(f"x = {raw.strip()}")["x"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return section, key, value


def _typed(section: str, cls: type, key: str, value: Any) -> Any:
    """Check one scalar against the dataclass field type (ints are accepted for floats)."""
    expected = get_type_hints(cls)[key]
    if get_origin(expected) in (Union, UnionType):      # "int | None": the key is optional
        expected = next(a for a in get_args(expected) if a is not type(None))
    ok = (isinstance(value, bool) if expected is bool else
          isinstance(value, (int, float)) and not isinstance(value, bool) if expected is float
          else isinstance(value, expected) and not isinstance(value, bool) if expected is int
          else isinstance(value, expected))
    if not ok:
        raise ConfigError(f"{section}.{key}={value!r} has the wrong type: need "
                          f"{expected.__name__}")
    return float(value) if expected is float else value


def build(table: dict[str, Any], source: str = "") -> RunConfig:
    """A validated RunConfig from a parsed TOML table."""
    unknown_sections = set(table) - set(SECTIONS)
    if unknown_sections:
        raise ConfigError(f"section [{sorted(unknown_sections)[0]}] is unknown in {source or 'config'}"
                          f"; available: {', '.join(SECTIONS)}")
    parts: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        values = dict(table.get(name, {}))
        if name == "rule":
            rule_name = values.pop("name", RuleConfig.name)
            trainable = [n for n in rules.names() if rules.info(n).family != "stdp"]
            if rule_name not in trainable:      # stdp rules run in protocols, not on the RHM
                raise unknown("rule", rule_name, trainable)
            rules.make_params(rule_name, **values)      # names and types of the rule's params
            parts[name] = RuleConfig(rule_name, values)
            continue
        allowed = [f.name for f in dataclasses.fields(cls)]
        for key, value in values.items():
            if key not in allowed:
                raise ConfigError(f"{name}.{key} is not a known key; available: "
                                  f"{', '.join(allowed)}")
            values[key] = _typed(name, cls, key, value)
        parts[name] = cls(**values)
    return RunConfig(**parts, source=source)


def load(path: str | Path, overrides: list[str] = ()) -> RunConfig:
    """Read a model TOML file and apply ``section.key=value`` overrides."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        table = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    for text in overrides:
        section, key, value = parse_override(text)
        table.setdefault(section, {})[key] = value
    return build(table, source=str(path))
