"""plastisim.cli.figures: one short label per rule spec, one colour per rule in every panel."""
from pathlib import Path

import xarray as xr

from plastisim.cli import pstar
from plastisim.cli.figures import COLOURS, rule_label, rule_styles

RESULTS = Path(__file__).resolve().parent.parent / "analyses" / "results"
#: spec strings of the committed sweeps (analyses/results/) -> their labels
LABELS = {
    "bp:lr=1.0": "bp, lr 1",
    "bp_nomask:lr=0.03": "bp_nomask, lr 0.03",
    "bp": "bp",
    'clapp:pairs="siblings",readout_epochs=1000,lr=50.0': "CLAPP (siblings), lr 50",
    'clapp_s:pairs="siblings",readout_epochs=1000,lr=5.0': "CLAPP-s (siblings), lr 5",
    'vicreg:pairs="siblings",predictor="linear",readout_epochs=1000,lr=0.5':
        "VICReg (siblings), linear predictor, lr 0.5",
    'lpl:pairs="siblings",predictor="linear",lambda_hebb=0.01,readout_epochs=1000,lr=50.0':
        "LPL (siblings), linear predictor, λ₁ 0.01, lr 50",
    'vicreg:view_level="matched",views_from="sampler"': "VICReg (oracle views)",
    'vicreg:view_level="lowest",views_from="sampler"': "VICReg (oracle views, lowest level)",
    'clapp:view_level="matched"': "CLAPP (oracle views among training inputs)",
    'clapp_s:pairs="cpc",cpc_offset=2,top_layer="frozen"': "CLAPP-s (CPC +2, frozen top layer)",
}


def test_rule_labels_of_real_specs():
    for spec, label in LABELS.items():
        assert rule_label(spec) == label, spec
    spec = 'clapp:pairs="siblings",readout_epochs=1000,lr=50.0'
    assert rule_label(spec, with_name=False) == "siblings, lr 50"
    assert rule_label(spec, with_lr=False) == "CLAPP (siblings)"
    assert rule_label("not a rule") == "not a rule"         # e.g. a model name: as is


def test_one_rule_one_colour_whatever_the_order():
    specs = list(LABELS)
    forward, backward = rule_styles(specs), rule_styles(specs[::-1])
    assert forward == backward
    assert rule_styles(["bp:lr=1.0"])["bp:lr=1.0"]["color"] == COLOURS["bp"]
    for spec in specs:                             # a family's colour, whatever its variant
        assert forward[spec]["color"] == COLOURS[spec.split(":")[0]]
    assert forward["bp:lr=1.0"]["linestyle"] != forward["bp"]["linestyle"]


def test_pstar_panels_keep_colours_and_labels(tmp_path):
    """Two committed settings in either order: each rule keeps its colour and label; with one
    panel per rule, each setting keeps its colour in every panel."""
    from plastisim.study import rows, summarize

    curves = []
    for name in ("grid_v8_m4_L3.nc", "grid_v16_m4_L3.nc"):
        ds = xr.load_dataset(RESULTS / "scaling" / name)
        summary = summarize(ds, n_boot=0)
        curves += pstar._curves(summary, rows(summary), "n_train_multiple")
    for by, split in (("setting", pstar._by_setting), ("rule", pstar._by_rule)):
        _, lines = split(curves)
        _, reversed_lines = split(curves[::-1])
        assert lines == reversed_lines[::-1], by
    _, lines = pstar._by_setting(curves)
    assert {line["style"]["color"] for c, line in zip(curves, lines)
            if c["family"] == "bp"} == {COLOURS["bp"]}
    assert any(line["label"].startswith("bp, lr 1: P*/n*") for line in lines)
    _, lines = pstar._by_rule(curves)
    colours = {}
    for c, line in zip(curves, lines):
        colours.setdefault(c["setting"], set()).add(line["style"]["color"])
    assert all(len(v) == 1 for v in colours.values()) and len(colours) == 2
    assert pstar.figure(curves, tmp_path / "by_rule.png", "rule").stat().st_size > 0
