"""Exception types and the one-line messages that name the field, the value and the fix.

Every user-facing error in plastisim is built here, so that all of them read the same way::

    m=9 is impossible for v=8, s=2: need m*v <= v**s (m <= 8)
    rule 'clap' is unknown; available: bp, dfa, fa, ...

The command line prints such messages without a traceback and exits with status 2.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class PlastisimError(Exception):
    """Base class of the errors plastisim raises on bad input, always one line (a message that
    quotes a multi-line error from a library is joined onto one)."""

    def __str__(self) -> str:
        return _one_line(str(self.args[0]) if len(self.args) == 1 else super().__str__())


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


class ConfigError(PlastisimError, ValueError):
    """A value is out of its allowed range, has the wrong type, or a key is not known."""


class UnknownNameError(PlastisimError, KeyError):
    """A name (rule, protocol, parameter set, synapse...) is not in its registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return _one_line(str(self.args[0]))


class DivergenceError(PlastisimError, FloatingPointError):
    """A loss or a weight became NaN or infinite during a run."""


def shown(value: Any) -> str:
    """``value`` as the user spelled it in TOML: ``true``/``false``, ``nan``, ``inf``, strings
    quoted (``'ten'``, a TOML literal string), lists and tables element by element (a tuple,
    a shape, in parentheses)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else repr(value)      # inf, -inf, 1e-05 are TOML too
    if isinstance(value, list):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if isinstance(value, tuple):         # a shape
        return "(" + ", ".join(shown(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {shown(v)}" for k, v in value.items()) + "}"
    return repr(value)


def impossible(field: str, value: Any, need: str) -> ConfigError:
    """``field=value is impossible: need`` (or ``... impossible for <context>: need``)."""
    sep = " " if need.startswith("for ") else ": "
    return ConfigError(f"{field}={shown(value)} is impossible{sep}{need}")


def not_of_form(what: str, text: str, form: str, hint: str = "") -> ConfigError:
    """``what 'text' is not of the form FORM (hint)``: text that does not parse."""
    return ConfigError(f"{what} {text!r} is not of the form {form}"
                       + (f" ({hint})" if hint else ""))


def wrong_type(field: str, value: Any, need: str) -> ConfigError:
    """``field=value has the wrong type: need``."""
    return ConfigError(f"{field}={shown(value)} has the wrong type: need {need}")


def unknown(kind: str, name: str, available: Iterable[str]) -> UnknownNameError:
    """``kind 'name' is unknown; available: a, b, c`` (available taken from the registry)."""
    names = ", ".join(sorted(available)) or "(none)"
    return UnknownNameError(f"{kind} '{name}' is unknown; available: {names}")


def check_int(field: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer >= ``minimum``; else a one-line ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            as_int = int(value)
        except (TypeError, ValueError):
            as_int = None
        if as_int is None or as_int != value or isinstance(value, bool):
            raise impossible(field, value, f"need an integer >= {minimum}")
        value = as_int
    if value < minimum:
        raise impossible(field, value, f"need an integer >= {minimum}")
    return value


def check_positive(field: str, value: Any) -> float:
    """Return ``value`` as a float if it is a finite number > 0; else a one-line ConfigError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise impossible(field, value, "need a number > 0") from None
    if isinstance(value, bool) or not number > 0 or number == float("inf"):
        raise impossible(field, value, "need a finite number > 0")
    return number
