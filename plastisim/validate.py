"""Value checks declared once per field, enforced before any tensor exists.

A dataclass field declares what it allows in its metadata, next to its default::

    lr: float = checked(0.1, positive)    # = field(default=0.1, metadata={"check": positive})

and the dataclass's ``__post_init__`` calls ``check_fields(self, "rule.")``. So the configs,
the rules' parameters, ``rules.get("bp", lr=float("nan"))`` and the command line refuse the same
values with the same one-line message, which names the field, the value (as spelled in TOML) and
what is allowed::

    rule.lr=nan is impossible: need a finite number > 0

``check_data`` is the same edge for tensors: data of another RHM (tokens outside the network's
vocabulary, inputs of another length, labels of more classes) refused before training starts.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, impossible, not_of_form, wrong_type

SEED_MAX = 2**63 - 1        # torch.Generator.manual_seed takes a signed 64-bit integer


@dataclass(frozen=True)
class Check:
    """What a field allows (``allowed``, in words) and the test of a value; ``convert`` maps an
    accepted alternative spelling onto the field's type (``1`` -> ``"1"``)."""

    allowed: str
    test: Callable[[Any], bool]
    typed: Callable[[Any], bool] = lambda value: True     # False: "has the wrong type"
    convert: Callable[[Any], Any] | None = None

    def __call__(self, name: str, value: Any) -> Any:
        """``value`` (converted) if allowed; else a one-line ConfigError naming ``name``."""
        if not self.typed(value):
            raise wrong_type(name, value, self.allowed)
        if not self.test(value):
            raise impossible(name, value, f"need {self.allowed}")
        return value if self.convert is None else self.convert(value)


def is_number(value: Any) -> bool:
    """A real number that is not a bool (ints, floats, numpy scalars)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and \
        type(value).__name__ != "bool_"


def is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and is_number(value)


def _finite(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


def number(allowed: str, test: Callable[[float], bool]) -> Check:
    """A finite number passing ``test``."""
    return Check(allowed, lambda x: _finite(x) and test(x), is_number)


def integer(minimum: int = 0, maximum: int | None = None) -> Check:
    """An integer in minimum..maximum (or >= minimum)."""
    allowed = (f"an integer >= {minimum}" if maximum is None else
               f"an integer in {minimum}..{maximum}")
    return Check(allowed, lambda x: minimum <= x and (maximum is None or x <= maximum),
                 is_integer)


#: "auto", true or false (``train.compile``); the strings "true" and "false" of ``--set`` too
AUTO_OR_FLAG = Check("'auto', true or false", lambda x: x in ("auto", True, False, "true", "false"),
                     lambda x: isinstance(x, (str, bool)),
                     lambda x: {"true": True, "false": False}.get(x, x))


def one_of(*names: str) -> Check:
    """One of the strings ``names`` (taken from the code's own tuple or registry)."""
    return Check("one of " + ", ".join(repr(n) for n in names), lambda x: x in names,
                 lambda x: isinstance(x, str))


def optional(check: Check) -> Check:
    """``check``, or None (the key omitted)."""
    return Check(f"{check.allowed} (or the key omitted)",
                 lambda x: x is None or check.test(x), lambda x: x is None or check.typed(x),
                 check.convert)


positive = number("a finite number > 0", lambda x: x > 0)
nonnegative = number("a finite number >= 0", lambda x: x >= 0)
finite = number("a finite number", lambda x: True)
fraction = number("a number in [0, 1)", lambda x: 0 <= x < 1)
random_seed = integer(0, SEED_MAX)
flag = Check("true or false", lambda x: True, lambda x: isinstance(x, bool))
text = Check("a string", lambda x: True, lambda x: isinstance(x, str))
texts = Check('a list of strings', lambda x: all(isinstance(i, str) for i in x),
              lambda x: isinstance(x, (list, tuple)))


def checked(default: Any = dataclasses.MISSING, check: Check | None = None, *,
            factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with ``default`` (or ``factory``) and its declared ``check``."""
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata={"check": check})
    return field(default=default, metadata={"check": check})


def check_of(cls: type, name: str) -> Check | None:
    """The check field ``name`` of dataclass ``cls`` declares (None: none)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return fields[name].metadata.get("check") if name in fields else None


def check_fields(obj: Any, prefix: str = "") -> None:
    """Run every declared check of the dataclass instance ``obj`` (fields in order)."""
    for f in dataclasses.fields(obj):
        check = f.metadata.get("check")
        if check is not None:
            check(f"{prefix}{f.name}", getattr(obj, f.name))


def converted(cls: type, name: str, value: Any) -> Any:
    """``value`` in the field's own spelling when its check converts one (else unchanged)."""
    check = check_of(cls, name)
    if check is None or check.convert is None or not check.typed(value) \
            or not check.test(value):
        return value
    return check.convert(value)


def parse_assignment(text: str, what: str, form: str = "key=value", hint: str = "", *,
                     dotted: bool = False, need_value: bool = False) -> tuple[str, str]:
    """``"key=value"`` -> ("key", "value"), both stripped: the one parser of the command line's
    and the files' ``key=value`` texts (``--set``, ``--record``, ``--only``, rule specs, index
    selections). ``dotted``: the key must be ``a.b`` (``section.key``, ``name.axis``);
    ``need_value``: "key=" is refused too. Else ``what 'text' is not of the form FORM (hint)``."""
    key, sep, value = str(text).partition("=")
    key, value = key.strip(), value.strip()
    bad_key = not key or (dotted and ("." not in key or key.startswith(".")
                                      or key.endswith(".")))
    if not sep or bad_key or (need_value and not value):
        raise not_of_form(what, str(text), form, hint)
    return key, value


def check_data(net: Any, batch: Any, name: str) -> None:
    """Data ``batch`` (RHMBatch) fit network ``net``: input length, vocabulary, classes."""
    x, y = batch.x, batch.y
    v, positions, classes = net.input.channels, net.input.positions, net.output.channels
    if x.ndim != 2 or x.shape[1] != positions:
        raise ConfigError(f"{name}.x.shape={tuple(x.shape)} is impossible for this network: "
                          f"need (n, {positions}) inputs of s**L tokens (data of another RHM?)")
    low, high = (int(x.min()), int(x.max())) if x.numel() else (0, 0)
    if low < 0 or high >= v:
        raise ConfigError(f"{name}.x holds token {high if high >= v else low}: impossible for "
                          f"a network of vocabulary v={v}; need tokens 0..{v - 1} (data of "
                          "another RHM?)")
    low, high = (int(y.min()), int(y.max())) if y.numel() else (0, 0)
    if low < 0 or high >= classes:
        raise ConfigError(f"{name}.y holds label {high if high >= classes else low}: impossible "
                          f"for a network of {classes} classes; need labels 0..{classes - 1}")
