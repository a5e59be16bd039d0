"""Sample complexity interpolation and synonymic sensitivity."""
import math

import numpy as np
import pytest
import torch

import plastisim as ps
from plastisim.errors import ConfigError
from plastisim.metrics import sample_complexity, synonymic_sensitivity
from plastisim.network import hierarchy


def test_sample_complexity_interpolates_in_log_p():
    chance = 1 - 1 / 8
    threshold = 0.1 * chance
    P = [100, 200, 400, 800]
    err = [0.8, 0.5, threshold + 0.1, threshold - 0.1]   # crosses halfway from 400 to 800
    sc = sample_complexity(P, err, n_classes=8)
    assert sc.crossed and sc.threshold == pytest.approx(threshold)
    assert sc.P_star == pytest.approx(math.sqrt(400 * 800))
    assert sc.grid == (100.0, 200.0, 400.0, 800.0)


def test_sample_complexity_not_crossed_and_bad_grid():
    sc = sample_complexity([1, 2, 4], [0.8, 0.7, 0.6], n_classes=8)
    assert not sc.crossed and math.isnan(sc.P_star)
    first = sample_complexity([1, 2], [0.01, 0.0], 8)
    assert first.P_star == 1.0 and first.below_grid       # only an upper bound
    assert not sample_complexity([1, 2], [0.5, 0.0], 8).below_grid
    assert sample_complexity([1, 2, 4], [0.8, np.nan, 0.0], 8).P_star == pytest.approx(
        math.exp(math.log(1) + (0.8 - 0.0875) / 0.8 * math.log(4)))
    with pytest.raises(ConfigError, match="increasing"):
        sample_complexity([2, 1], [0.5, 0.4], 8)


def test_synonymic_sensitivity_limits():
    rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
    net = hierarchy(rhm, 32, seed=0, dtype=torch.float64)
    batch = rhm.sample(500, seed=0)
    assert synonymic_sensitivity(net, rhm, batch, level=rhm.L) == [0.0, 0.0, 0.0]
    s = synonymic_sensitivity(net, rhm, batch, level=rhm.L - 1)
    assert all(0.3 < v < 1.5 for v in s)                # a random net is not invariant
    # the first layer sees only its own patch: re-drawing level-(L-1) choices changes every patch
    # with probability 1 - 1/m, so its sensitivity is close to the random-pair distance
    assert s[0] > 0.6
