"""Many networks in one pass: E independent members trained as one batched computation.

    from plastisim.ensemble import train_ensemble
    results = train_ensemble(nets, rules, train_sets, test_sets, options)   # one per member

``members.py`` stacks the members along one leading axis E and maps the single-network step
over it; ``train.py`` is the learning loop of ``plastisim.train`` for every member at once,
``optim.py`` its per-member SGD and schedule.
Member i's result equals its independent run, bit for bit (float32 and float64); docs/ensembles.md.
"""
from .members import MEMBER_KEYS, Ensemble, check_members
from .train import train_ensemble

__all__ = ["MEMBER_KEYS", "Ensemble", "check_members", "train_ensemble"]
