"""Long scientific checks (``pytest -m slow``): learning curves that must cross thresholds.

Setting of the masking study: v = n_c = 8, m = 4, L = 3 (n_c m^L = 512), PRX optimiser.
"""
import pytest
import torch

import plastisim as ps
from plastisim import rules
from plastisim.metrics import synonymic_sensitivity
from plastisim.network import hierarchy
from plastisim.train import TrainOptions, train

pytestmark = pytest.mark.slow
RHM = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
CHANCE = 1 - 1 / RHM.n_classes


def _fit(rule: str, multiple: float, width: int = 128, epochs: int = 200, **params):
    train_set, test_set = RHM.split(int(multiple * RHM.n_star), 5000, seed=1000)
    net = hierarchy(RHM, width, seed=0)
    result = train(net, rules.get(rule, **params), train_set, test_set,
                   TrainOptions(epochs=epochs), rhm=RHM)
    sens = synonymic_sensitivity(net, RHM, test_set[:2000], level=RHM.L - 1)
    return result, sens


def test_bp_last_layer_becomes_insensitive_to_synonyms():
    _, few = _fit("bp", 0.5, epochs=1500)
    result, many = _fit("bp", 8, epochs=100)
    assert few[-1] > 0.5
    assert many[-1] < 0.2
    assert result.final["test_error"] < 0.1 * CHANCE


def test_at_bps_learning_rate_bp_learns_and_dfa_does_not_at_four_n_star():
    """docs/results.md: with a 10x larger learning rate dfa does learn, with ~2x bp's P*."""
    bp, _ = _fit("bp", 4, epochs=200)
    dfa, _ = _fit("dfa", 4, epochs=200)
    assert bp.final["test_error"] < 0.1 * CHANCE
    assert dfa.final["test_error"] > 0.5 * CHANCE


def test_vicreg_with_matched_views_among_the_training_inputs_learns_at_four_n_star():
    """docs/results.md §4: self-supervised on the P inputs only (partners sharing latents at
    each layer's level, drawn from the training set), then a delta-rule readout."""
    result, sens = _fit("vicreg", 4, width=64, epochs=30, view_level="matched",
                        views_from="train", readout_epochs=200)
    assert result.final["test_error"] < 0.1 * CHANCE
    assert sens[-1] < 0.2
