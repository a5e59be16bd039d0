"""Rule specs of a sweep file's ``rules`` axis: ``"name"`` or ``"name:key=value,key=value"``."""
from __future__ import annotations

from typing import Any

from .. import rules
from ..config import parse_value
from ..errors import ConfigError, PlastisimError
from ..validate import parse_assignment


def parse_spec(spec: Any, where: str = "rules") -> tuple[str, dict[str, Any]]:
    """``"name:key=value,key=value"`` -> (name, {key: value}); values read as ``--set`` reads
    them (``config.parse_value``: TOML values, bare words kept as strings:
    ``'vicreg:lr=5.0,view_level="matched"'``)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"{where}={spec!r} is not a rule spec: need \"name\" or "
                          "\"name:key=value,...\"")
    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, value = parse_assignment(item, f"{where}={spec!r}:")
        params[key] = parse_value(value)
    name = name.strip()
    trainable = [n for n in rules.names() if rules.info(n).family != "stdp"]
    if name not in trainable:
        raise ConfigError(f"{where}={spec!r}: rule {name!r} is unknown or not trainable on the "
                          f"RHM; available: {', '.join(trainable)}")
    try:
        rules.make_params(name, **params)
    except PlastisimError as err:
        raise ConfigError(f"{where}={spec!r}: {err}") from None
    return name, params
