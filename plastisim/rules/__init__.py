"""Plasticity rules, each a three-factor update Δw = η · M · post · pre (see registry.py).

Families: ``backprop`` (non-local reference), ``feedback`` (FA, DFA, sign-DFA, DRTP and the
masking ablations), ``contrastive`` / ``noncontrastive`` (layerwise self-supervised), ``stdp``
(pair, triplet, BCM; for cortical protocols). ``plastisim rules`` prints the table.
"""
from .registry import RuleInfo, get, info, make_params, names, register, table

__all__ = ["RuleInfo", "get", "info", "make_params", "names", "register", "table"]

from . import feedback  # noqa: E402,F401  (registers bp, fa, bp_nomask, dfa, sdfa, drtp)
from . import stdp  # noqa: F401  (registers the stdp family)
from . import contrastive, noncontrastive  # noqa: E402,F401  (clapp, clapp_s, infonce, supcon, lpl, vicreg)
from . import stopgrad  # noqa: E402,F401  (stopgrad, inputpred)
from . import codepred  # noqa: E402,F401  (codepred)
