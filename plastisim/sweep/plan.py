"""A sweep file (TOML) and its expansion into runs: one validated RunConfig per grid point.

    base = "models/bp.toml"                  # one model, or a list as an axis:
    # models = ["models/bp.toml", "models/dfa.toml"]   -> dimension "model" (file stems)
    rules = ["bp", "fa:lr=1.0", 'clapp:view_level="matched"']   # optional: dimension "rule"
    step_budget = 10000                      # optional: epochs = ceil(budget·batch_size/n_train)
    min_epochs = 100                         # optional, with step_budget: at least this many

    [set]                                    # fixed overrides, like `plastisim run --set`
    rhm.L = 3

    [axes]                                   # one dimension per key, in this order
    train.n_train_multiple = [0.5, 1, 2]     # P in units of n_c·m^L of the run's own RHM
    rule.lr = [0.05, 0.1]
    seed = [0, 1, 2]

    [seed]                                   # optional: what the `seed` axis sets
    mode = "derived"                         # "derived" (default) or "same"
    targets = ["network.seed", "train.seed", "train.data_seed", "rule.*seed"]

Each target of the ``seed`` axis gets, for axis value s, ``derive_seed(s, target)`` (mode
"derived": independent streams) or s itself (mode "same"); "rule.*seed" means every parameter
of the run's rule whose name ends in ``seed`` (``feedback_seed``, ...). The values are recorded
per run. Relative model paths are looked up next to the sweep file, then in the current folder.

A rule spec (``rules``) is ``name`` or ``name:key=value,key=value`` (values parsed as TOML,
bare words as strings); it replaces the model's ``[rule]`` table: the rule's defaults, then the
spec's parameters, then ``[set]`` and ``[axes]`` ``rule.*`` keys. The spec text is the ``rule``
coordinate.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import tomllib
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

from .. import config, rules
from ..config import RunConfig
from ..errors import ConfigError, PlastisimError, impossible
from ..inputs import read_text
from .specs import parse_spec
from ..validate import positive

TOP_KEYS = ("title", "base", "models", "rules", "step_budget", "min_epochs", "set", "axes",
            "seed")
SEED_MODES = ("derived", "same")
DEFAULT_SEED_TARGETS = ("network.seed", "train.seed", "train.data_seed", "rule.*seed")
SEED_TARGETS = ("rhm.seed",) + DEFAULT_SEED_TARGETS
MULTIPLE = "train.n_train_multiple"     # P in units of n_c·m^L
SWEPT_SECTIONS = ("rhm", "network", "rule", "train")


@dataclass(frozen=True)
class Axis:
    key: str                 # "seed", "model", "train.n_train_multiple", "rule.lr", ...
    dim: str                 # dimension name in the merged dataset
    values: tuple


@dataclass(frozen=True)
class Point:
    index: tuple[int, ...]   # position along every axis
    config: RunConfig
    hash: str                # sha256 of the full config TOML (config_hash)
    seeds: dict[str, int]    # seed target -> value set by the `seed` axis (empty without one)

    @property
    def file(self) -> str:
        """The run's file, relative to the sweep's output folder."""
        return f"runs/{self.hash[:16]}.nc"


@dataclass(frozen=True)
class Sweep:
    path: str
    text: str                # the sweep file as written, for provenance
    title: str
    axes: tuple[Axis, ...]
    points: tuple[Point, ...]
    seed_mode: str
    seed_targets: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a.values) for a in self.axes)

    @property
    def runs(self) -> list[Point]:
        """The distinct runs: the first point of every config hash, in plan order (points that
        set the same config are one run)."""
        first: dict[str, Point] = {}
        for point in self.points:
            first.setdefault(point.hash, point)
        return list(first.values())


def config_hash(cfg: RunConfig) -> str:
    """Identity of a run: sha256 of its full configuration TOML (defaults included)."""
    return hashlib.sha256(cfg.to_toml().encode()).hexdigest()


def derive_seed(seed: int, target: str) -> int:
    """Seed of ``target`` (e.g. "network.seed") for seed-axis value ``seed``: < 2**31, stable."""
    digest = hashlib.sha256(f"plastisim-seed/{int(seed)}/{target}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFF_FFFF


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"n_train": [..]}} and {"train.n_train": [..]} -> {"train.n_train": [..]}."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _find(path_text: Any, where: str, folder: Path) -> Path:
    if not isinstance(path_text, str) or not path_text:
        raise ConfigError(f"{where}={path_text!r} has the wrong type: need a model file path")
    candidates = (folder / path_text, Path(path_text))
    found = [c for c in candidates if c.is_file()] or [c for c in candidates if c.exists()]
    if found:
        return found[0]             # a folder or a named pipe: read_toml says what it is
    raise ConfigError(f"{where}={path_text!r}: model file does not exist (looked in "
                      f"{str(folder)!r} and the current folder)")


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    return config.read_toml(path, what)


def _check_key(key: str, where: str, rule_names: dict[str, str]) -> None:
    """``section.key`` must name a config field (or a parameter of every run's rule);
    ``rule_names``: where each rule comes from (model file or spec) -> rule name."""
    section, _, name = key.partition(".")
    if section not in SWEPT_SECTIONS or not name:
        raise ConfigError(f"{where} '{key}' is unknown; available: seed, {MULTIPLE}, or "
                          f"section.key with section one of {', '.join(SWEPT_SECTIONS)}")
    if section != "rule":
        allowed = [f.name for f in dataclasses.fields(config.SECTIONS[section])]
        if name not in allowed:
            raise ConfigError(f"{where} '{key}' is not a known key; available: "
                              + ", ".join(f"{section}.{a}" for a in allowed))
        return
    for source, rule in rule_names.items():
        try:
            allowed = [f.name for f in dataclasses.fields(rules.make_params(rule))]
        except PlastisimError:      # an unknown rule is reported when the config is built
            continue
        if name != "name" and name not in allowed:
            raise ConfigError(f"{where} '{key}' is not a parameter of rule '{rule}' ({source});"
                              f" available: name, " + ", ".join(sorted(allowed)))


def _axis(key: str, values: Any, keys: list[str]) -> Axis:
    if not isinstance(values, list):
        raise ConfigError(f"axes.{key}={values!r} is not a list: an axis needs a list of values")
    if not values:
        raise ConfigError(f"axes.{key} is empty: an axis needs at least one value")
    if len(set(map(repr, values))) != len(values):
        raise ConfigError(f"axes.{key}={values!r} repeats a value: each value must be unique")
    if key == "seed" and not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                 for v in values):
        raise ConfigError(f"axes.seed={values!r} is impossible: need integers >= 0")
    if key == MULTIPLE and not all(positive.test(v) for v in values):
        raise impossible(f"axes.{MULTIPLE}", values, f"need {positive.allowed} each")
    return Axis(key, _dim(key, keys), tuple(values))


def _dim(key: str, keys: list[str]) -> str:
    """The key's last part ("rule.lr" -> "lr"), or the whole key with "_" if that is ambiguous."""
    short = key.rsplit(".", 1)[-1]
    clashes = [k for k in keys if k != key and k.rsplit(".", 1)[-1] == short]
    return key.replace(".", "_") if clashes else short


def _seed_settings(table: Any) -> tuple[str, tuple[str, ...]]:
    if not isinstance(table, dict):
        raise ConfigError(f"seed={table!r} must be a table: [seed] mode, targets")
    unknown_keys = set(table) - {"mode", "targets"}
    if unknown_keys:
        raise ConfigError(f"seed.{sorted(unknown_keys)[0]} is not a known key; available: "
                          "mode, targets")
    mode = table.get("mode", "derived")
    if mode not in SEED_MODES:
        raise ConfigError(f"seed.mode={mode!r} is unknown; available: {', '.join(SEED_MODES)}")
    targets = table.get("targets", list(DEFAULT_SEED_TARGETS))
    if not isinstance(targets, list) or any(t not in SEED_TARGETS for t in targets):
        raise ConfigError(f"seed.targets={targets!r} is impossible: need a list of "
                          f"{', '.join(SEED_TARGETS)}")
    return mode, tuple(targets)


def _positive_int(table: dict[str, Any], key: str) -> int | None:
    value = table.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{key}={value!r} is impossible: need an integer >= 1")
    return value


def parse(table: dict[str, Any], path: str = "sweep", text: str = "") -> Sweep:
    """A validated Sweep from a parsed sweep-file table (module docstring)."""
    unknown_keys = set(table) - set(TOP_KEYS)
    if unknown_keys:
        raise ConfigError(f"{sorted(unknown_keys)[0]} is not a known key of a sweep file; "
                          f"available: {', '.join(TOP_KEYS)}")
    if ("base" in table) == ("models" in table):
        raise ConfigError("a sweep file needs exactly one of base = \"models/x.toml\" or "
                          "models = [...]")
    folder = Path(path).parent
    if "models" in table:
        listed = table["models"]
        if not isinstance(listed, list) or not listed:
            raise ConfigError(f"models={listed!r} is not a list: need a list of model files")
        files = [_find(p, "models", folder) for p in listed]
    else:
        files = [_find(table["base"], "base", folder)]
    models = {str(f): _read_toml(f, "model file") for f in files}
    specs = table.get("rules")
    if specs is not None:
        if not isinstance(specs, list) or not specs:
            raise ConfigError(f"rules={specs!r} is impossible: need a non-empty list of rule "
                              "specs")
        if len(set(map(repr, specs))) != len(specs):
            raise ConfigError(f"rules={specs!r} repeats a spec: each must be unique")
        parsed = {spec: parse_spec(spec, f"rules[{k}]") for k, spec in enumerate(specs)}
        rule_names = {f"rules: {spec!r}": name for spec, (name, _) in parsed.items()}
    else:
        parsed = {}
        rule_names = {source: model.get("rule", {}).get("name", config.RuleConfig.name)
                      for source, model in models.items()}
    fixed = _flatten(table.get("set", {}))
    swept = _flatten(table.get("axes", {}))
    for key in fixed:
        if key != MULTIPLE:
            _check_key(key, "set", rule_names)
    if MULTIPLE in fixed:
        positive(f"set.{MULTIPLE}", fixed[MULTIPLE])
    axes = []
    if "models" in table:
        stems = [f.stem for f in files]
        names = stems if len(set(stems)) == len(stems) else [str(f) for f in files]
        axes.append(Axis("model", "model", tuple(names)))
    if specs is not None:
        axes.append(Axis("rules", "rule", _axis("rules", specs, []).values))
    leading = [a.dim for a in axes]
    for key, values in swept.items():
        if key not in ("seed", MULTIPLE):
            _check_key(key, "axes", rule_names)
        if key in fixed:
            raise ConfigError(f"{key} is both fixed in [set] and swept in [axes]; keep one")
        axes.append(_axis(key, values, leading + list(swept)))
    sizes = {MULTIPLE, "train.n_train"}
    if len(sizes & (set(swept) | set(fixed))) > 1:
        raise ConfigError(f"give train.n_train or {MULTIPLE}, not both (in [set] or [axes])")
    budget = _positive_int(table, "step_budget")
    min_epochs = _positive_int(table, "min_epochs")
    if min_epochs is not None and budget is None:
        raise ConfigError("min_epochs needs step_budget: epochs = max(ceil(step_budget · "
                          "batch_size / n_train), min_epochs)")
    mode, targets = _seed_settings(table.get("seed", {}))
    points = tuple(_point(index, axes, list(models.items()), parsed, fixed,
                          (budget, min_epochs or 1), mode, targets)
                   for index in product(*(range(len(a.values)) for a in axes)))
    return Sweep(str(path), text, str(table.get("title", Path(path).stem)), tuple(axes), points,
                 mode, targets)


def load(path: str | Path) -> Sweep:
    """Read and validate a sweep file (one-line ConfigErrors that name the key)."""
    path = Path(path)
    text = read_text(path, "sweep file", hint="sweep.toml")    # a byte-order mark removed
    return parse(config.parse_toml(text, path, "sweep file"), str(path), text)


def _set(table: dict[str, Any], key: str, value: Any) -> None:
    section, _, name = key.partition(".")
    table.setdefault(section, {})[name] = value


def _point(index: tuple[int, ...], axes: list[Axis], models: list[tuple[str, dict]],
           specs: dict[str, tuple[str, dict]], fixed: dict[str, Any],
           budget: tuple[int | None, int], mode: str, targets: tuple[str, ...]) -> Point:
    """The run at one grid point: model table, rule spec, [set], axis values, seeds, derived
    n_train and epochs."""
    chosen = {a.key: a.values[i] for a, i in zip(axes, index)}
    source, model = models[chosen_index(axes, index, "model")] if "model" in chosen \
        else models[0]
    table = {section: dict(values) for section, values in model.items()}
    if "rules" in chosen:
        name, params = specs[chosen["rules"]]
        table["rule"] = {"name": name, **params}
    settings = {**fixed, **{k: v for k, v in chosen.items() if k not in ("model", "rules")}}
    for key, value in settings.items():
        if key not in ("seed", MULTIPLE):
            _set(table, key, value)
    seeds: dict[str, int] = {}
    if "seed" in chosen:
        rule = config.build(table, source)
        for target in _expand_targets(targets, rule.rule.name):
            if target in settings:
                raise ConfigError(f"{target} is set by the seed axis (seed.targets); remove it "
                                  "from [set]/[axes] or from seed.targets")
            seeds[target] = chosen["seed"] if mode == "same" else derive_seed(chosen["seed"],
                                                                             target)
            _set(table, target, seeds[target])
    cfg = config.build(table, source)
    if MULTIPLE in settings:
        n_star = cfg.rhm.n_classes * cfg.rhm.m ** cfg.rhm.L
        _set(table, "train.n_train", max(1, round(settings[MULTIPLE] * n_star)))
    steps, min_epochs = budget
    if steps is not None:
        n_train = table.get("train", {}).get("n_train", cfg.train.n_train)
        _set(table, "train.epochs", max(math.ceil(steps * cfg.train.batch_size / n_train),
                                        min_epochs))
    cfg = config.build(table, source)
    return Point(index, cfg, config_hash(cfg), seeds)


def chosen_index(axes: list[Axis], index: tuple[int, ...], key: str) -> int:
    """Position along the axis ``key`` at grid point ``index``."""
    return next(i for a, i in zip(axes, index) if a.key == key)


def _expand_targets(targets: tuple[str, ...], rule: str) -> list[str]:
    """Seed targets of one run: "rule.*seed" becomes the rule's own seed parameters."""
    out = []
    for target in targets:
        if target == "rule.*seed":
            out += [f"rule.{f.name}" for f in dataclasses.fields(rules.make_params(rule))
                    if f.name.endswith("seed")]
        else:
            out.append(target)
    return out
