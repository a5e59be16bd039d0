"""Packing a sweep's runs into ensembles (``run_sweep(..., ensemble=E)``, ``--ensemble E``).

Runs whose configurations are identical except in ``plastisim.members.MEMBER_KEYS`` (the
seeds and the learning rates) train together as one batched computation
(``plastisim.run.execute`` of their configs), each member giving exactly the run it would give
alone. ``pack`` groups a sweep's tasks so, in plan order, into packs of at most E; a pack of
one is an ordinary run. Every rule packs, the layerwise rules with ``pairs = "views"`` too
(each member draws its partners from its own training set). A run whose rule does not build
stays alone (it fails with its reason); anything else that training refuses is found when the
pack runs, and its members then run one by one (``executors.run_task``).
"""
from __future__ import annotations

import tomllib

from .. import rules
from ..config import RunConfig
from ..errors import PlastisimError
from ..members import MEMBER_KEYS

Task = tuple[str, RunConfig]            # (config_hash, config), as in executors


def pack_key(cfg: RunConfig) -> str | None:
    """What members of one pack share: the config's TOML without ``MEMBER_KEYS`` (None: the
    run cannot be packed)."""
    try:
        rules.make_params(cfg.rule.name, **cfg.rule.params)
    except PlastisimError:              # an invalid rule: the run fails alone, with its reason
        return None
    table = tomllib.loads(cfg.to_toml())
    for key in MEMBER_KEYS:
        section, name = key.split(".", 1)
        table.get(section, {}).pop(name, None)
    return repr(sorted((section, sorted(values.items())) for section, values in table.items()))


def pack(tasks: list[Task], size: int) -> list[list[Task]]:
    """The tasks in packs of at most ``size`` members sharing a ``pack_key``, in plan order
    (a pack is placed where its first member is; it fills before a new one opens)."""
    packs: list[list[Task]] = []
    open_packs: dict[str, list[Task]] = {}
    for task in tasks:
        key = pack_key(task[1]) if size > 1 else None
        group = open_packs.get(key) if key is not None else None
        if group is None or len(group) >= size:
            group = [task]
            packs.append(group)
            if key is not None:
                open_packs[key] = group
        else:
            group.append(task)
    return packs
