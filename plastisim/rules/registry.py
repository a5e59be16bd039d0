"""The rule registry: every rule registers once, with the table row that describes it.

``get(name, **params)`` builds a rule from its registered parameter dataclass; unknown names,
unknown or ill-typed parameters and values out of range (declared per field, ``validate.py``)
are one-line errors listing what is allowed. ``plastisim rules``
prints ``table()``, built from the same dictionary.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, shown, unknown
from ..validate import check_of, converted


@dataclass(frozen=True)
class RuleInfo:
    """What a rule modifies and the three factors of its update Δw = η · M · post · pre."""

    name: str
    family: str          # backprop | feedback | contrastive | noncontrastive | stdp
    local: bool          # False: needs information no synapse has (weight transport, softmax)
    modifies: str
    pre: str             # pre-synaptic factor
    post: str            # post-synaptic factor
    modulator: str       # third factor M
    third_factor: str    # none | global scalar | per-neuron
    reference: str
    records: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Entry:
    info: RuleInfo
    params: type
    factory: Callable[[Any], Any]


_REGISTRY: dict[str, _Entry] = {}


def register(info: RuleInfo, params: type, factory: Callable[[Any], Any]) -> None:
    """Register ``factory(params_instance) -> rule`` under ``info.name`` (once)."""
    if info.name in _REGISTRY:
        raise ValueError(f"rule '{info.name}' is registered twice")
    _REGISTRY[info.name] = _Entry(info, params, factory)


def _entry(name: str) -> _Entry:
    if name not in _REGISTRY:
        raise unknown("rule", name, _REGISTRY)
    return _REGISTRY[name]


def make_params(name: str, **params: Any) -> Any:
    """The rule's parameter dataclass filled from ``params``: names, types and values checked
    (each field declares what it allows: ``plastisim.validate``)."""
    cls = _entry(name).params
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in params.items():
        if key not in fields:
            raise ConfigError(f"rule.{key} is not a parameter of rule '{name}'; available: "
                              f"{', '.join(sorted(fields))}")
        params[key] = value = converted(cls, key, value)      # e.g. view_level 1 -> "1"
        default, check = getattr(cls(), key), check_of(cls, key)
        if not (_typed(value, default) if check is None else check.typed(value)):
            need = type(default).__name__ if check is None else check.allowed
            raise ConfigError(f"rule.{key}={shown(value)} has the wrong type for rule '{name}': "
                              f"need {need} (default {shown(default)})")
    return cls(**params)      # its __post_init__ checks the values


def _typed(value: Any, default: Any) -> bool:
    """Whether ``value`` has the type of ``default`` (ints accepted for floats)."""
    return not (isinstance(default, bool) != isinstance(value, bool) or (
        isinstance(default, (int, float)) and not isinstance(value, (int, float))) or (
        isinstance(default, str) and not isinstance(value, str)))


def get(name: str, **params: Any) -> Any:
    """Build rule ``name`` with ``params`` (e.g. ``get("dfa", lr=0.05)``)."""
    return _entry(name).factory(make_params(name, **params))


def info(name: str) -> RuleInfo:
    return _entry(name).info


def names(family: str | None = None) -> list[str]:
    """Registered rule names, in registration order, optionally of one family."""
    return [n for n, e in _REGISTRY.items() if family is None or e.info.family == family]


def table() -> list[RuleInfo]:
    return [e.info for e in _REGISTRY.values()]
