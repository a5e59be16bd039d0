"""The look shared by plastisim's study figures: one short label per rule spec, one colour per
rule family, one figure style. ``plastisim pstar`` and the scripts in analyses/ draw with these,
so a rule reads and looks the same in every panel of every figure.

* ``rule_label('clapp:pairs="siblings",readout_epochs=1000,lr=50.0')`` -> "CLAPP (siblings),
  lr 50": the rule's display name, its pairing in brackets (self-supervised rules only:
  "siblings" and "CPC" pair positions of the input alone; "oracle views" are re-drawn by the
  RHM's generator, which knows the latent tree), the other parameters the spec sets, and the
  learning rate last. Parameters that do not change what is learned (``DROPPED``) are left out.
  Tables keep the exact spec; a figure's legend uses the label.
* ``rule_styles(specs)``: colour by rule family (``COLOURS``, whatever else is drawn), and a
  line style per variant of one family (two rates of bp), in the sorted order of the specs, so
  the same set of specs gets the same styles in any order.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: display names; a rule not listed is shown by its registry name
NAMES = {"clapp": "CLAPP", "clapp_s": "CLAPP-s", "infonce": "InfoNCE", "supcon": "SupCon",
         "vicreg": "VICReg", "lpl": "LPL", "stopgrad": "stop-grad",
         "inputpred": "input-pred", "codepred": "code-pred"}
#: rule family -> colour (tab10 and two darker tones); the order is the order of panels
COLOURS = {"bp": "#1f77b4", "bp_nomask": "#17becf", "fa": "#ff7f0e", "dfa": "#d62728",
           "sdfa": "#e377c2", "drtp": "#8c564b", "clapp": "#2ca02c", "clapp_s": "#bcbd22",
           "infonce": "#393b79", "supcon": "#000000", "vicreg": "#9467bd", "lpl": "#7f7f7f",
           "stopgrad": "#e6550d", "inputpred": "#8c6d31", "codepred": "#843c39"}
OTHER_COLOUR = "#525252"
#: line styles of the variants of one family, in the sorted order of their specs
LINESTYLES = ("-", "--", ":", "-.")
#: colours of things that are not rules (settings of one rule, layers of one network)
SERIES_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
                  "#a6761d", "#666666")
#: spec parameters a label leaves out: they do not change what the network learns
DROPPED = ("readout_epochs", "readout_lr", "seed")
#: parameters that make up the pairing of a self-supervised rule (``_pairing``)
PAIRING = ("pairs", "view_level", "views_from", "cpc_offset", "top_layer")
#: short names of parameters in labels
SYMBOLS = {"lambda_hebb": "λ₁", "lambda_decorr": "λ₂", "lambda_inv": "λ_inv",
           "lambda_var": "λ_var", "lambda_cov": "λ_cov", "temperature": "τ",
           "weight_decay": "weight decay", "pred_init_std": "predictor init std"}
#: font sizes and layout of every study figure
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 7.5,
         "xtick.labelsize": 8, "ytick.labelsize": 8, "figure.constrained_layout.use": True}


def rule_family(spec: str) -> str:
    """The rule name of a spec: ``"bp:lr=1.0"`` -> ``"bp"``."""
    return str(spec).partition(":")[0].strip()


def display_name(family: str) -> str:
    """"CLAPP-s" for ``clapp_s`` (``NAMES``), the registry name otherwise."""
    return NAMES.get(family, family)


def rule_label(spec: str, with_name: bool = True, with_lr: bool = True) -> str:
    """The short label of a rule spec (module docstring). ``with_name=False``: without the rule's
    name (a panel that names it already: "siblings, lr 50"); ``with_lr=False``: without the
    rate (a series whose rate changes along it). A text that is not a rule spec is returned as
    is."""
    from ..errors import PlastisimError
    from ..sweep.specs import parse_spec

    try:
        name, given = parse_spec(spec)
    except PlastisimError:
        return str(spec)
    pairing = _pairing(name, given)
    if with_name:
        pairing = display_name(name) + (f" ({pairing})" if pairing else "")
    rest = [_parameter(key, value) for key, value in given.items()
            if key not in (*DROPPED, *PAIRING, "lr")]
    if with_lr and "lr" in given:
        rest.append(f"lr {given['lr']:g}")
    return ", ".join(filter(None, [pairing, *rest]))


def _pairing(name: str, given: dict[str, Any]) -> str:
    """"siblings", "CPC +1", "oracle views", "oracle views, lowest level", ...: what a
    self-supervised rule pairs (its defaults where the spec is silent); "" for other rules."""
    from .. import rules

    p = rules.make_params(name, **given)
    if not hasattr(p, "pairs"):
        return ""
    if p.pairs != "views":
        kind = "siblings" if p.pairs == "siblings" else f"CPC +{p.cpc_offset}"
        return kind + (", frozen top layer" if p.top_layer == "frozen" else "")
    where = "oracle views" if p.views_from == "sampler" else "oracle views among training inputs"
    level = {"matched": "", "lowest": "lowest level"}.get(p.view_level, f"level {p.view_level}")
    return ", ".join(filter(None, [where, level]))


def _parameter(key: str, value: Any) -> str:
    """"linear predictor", "λ₁ 0.01", "momentum 0.5": one parameter of a label."""
    if key == "predictor":
        return f"{value} predictor"
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{SYMBOLS.get(key, key.replace('_', ' '))} {shown}"


def rule_colour(spec: str) -> str:
    """The colour of a spec's rule family (``COLOURS``)."""
    return COLOURS.get(rule_family(spec), OTHER_COLOUR)


def rule_styles(specs: Iterable[str]) -> dict[str, dict[str, str]]:
    """spec -> ``{"color": ..., "linestyle": ...}`` for ``Axes.plot``: the family's colour, and
    the variants of one family told apart by line style in sorted order (order-free)."""
    unique = sorted(set(map(str, specs)))
    out = {}
    for spec in unique:
        variants = [s for s in unique if rule_family(s) == rule_family(spec)]
        style = LINESTYLES[variants.index(spec) % len(LINESTYLES)]
        out[spec] = {"color": rule_colour(spec), "linestyle": style}
    return out


def family_order(families: Iterable[str]) -> list[str]:
    """Rule families in the order of ``COLOURS`` (others after, sorted): panels and legends."""
    rank = {name: i for i, name in enumerate(COLOURS)}
    return sorted(set(families), key=lambda f: (rank.get(f, len(rank)), f))


@contextmanager
def study_style() -> Iterator[Any]:
    """matplotlib (Agg) with the fonts and constrained layout of ``STYLE``; yields pyplot."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(STYLE):
        yield plt


def save(fig: Any, path: Path, source: str) -> Path:
    """``fig`` as a PNG at ``path`` (its folder made; provenance in the PNG, ``save_png``),
    then closed."""
    import matplotlib.pyplot as plt

    from .options import save_png

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return save_png(fig, path, source, dpi=130)
    finally:
        plt.close(fig)
