"""Exact statistics of the Random Hierarchy Model (Cagnetta et al., PRX 14, 031001, 2024)."""
import itertools
import math

import pytest
import torch
from scipy.stats import chisquare

from plastisim import RHM, ConfigError, one_hot

SMALL = [dict(v=4, n_classes=2, m=2, s=2, L=2), dict(v=3, n_classes=2, m=3, s=3, L=2),
         dict(v=4, n_classes=4, m=4, s=2, L=2)]


@pytest.mark.parametrize("params", SMALL)
def test_sample_all_enumerates_every_datum_once(params):
    rhm = RHM(**params, seed=3)
    assert rhm.P_max == params["n_classes"] * params["m"] ** ((params["s"] ** params["L"] - 1)
                                                               // (params["s"] - 1))
    batch = rhm.sample(rhm.P_max, seed=0)
    assert sorted(rhm.index(batch)) == list(range(rhm.P_max))
    assert len({tuple(row) for row in batch.x.tolist()}) == rhm.P_max  # distinct inputs
    decoded, valid = rhm.decode(batch.x)
    assert bool(valid.all())
    for mine, theirs in zip(batch.latents, decoded.latents):
        assert torch.equal(mine, theirs)
    for mine, theirs in zip(batch.choices, decoded.choices):
        assert torch.equal(mine, theirs)
    counts = torch.bincount(batch.y, minlength=rhm.n_classes)
    assert (counts == rhm.P_max // rhm.n_classes).all()


@pytest.mark.parametrize("params", SMALL)
def test_rules_are_unambiguous(params):
    rhm = RHM(**params, seed=5)
    for level, rules in enumerate(rhm.rules):
        n_parents = rhm.n_classes if level == 0 else rhm.v
        assert rules.shape == (n_parents, rhm.m, rhm.s)
        assert rules.min() >= 0 and rules.max() < rhm.v
        tuples = {tuple(t) for t in rules.reshape(-1, rhm.s).tolist()}
        assert len(tuples) == n_parents * rhm.m


@pytest.mark.parametrize("params", [dict(v=8, n_classes=8, m=4, s=2, L=3),  # rejection path
                                    dict(v=4, n_classes=2, m=2, s=2, L=2)])  # permutation path
def test_first_level_frequencies_are_uniform(params):
    rhm = RHM(**params, seed=0)
    cells = rhm.n_classes * rhm.m
    if rhm.P_max < 1000:  # many independent small draws
        codes = torch.cat([rhm.sample(4, seed=s).choices[0][:, 0] + rhm.m *
                           rhm.sample(4, seed=s).y for s in range(4000)])
    else:
        batch = rhm.sample(40_000, seed=11)
        codes = batch.y * rhm.m + batch.choices[0][:, 0]
    counts = torch.bincount(codes, minlength=cells).numpy()
    assert chisquare(counts).pvalue > 1e-3


def test_tokens_of_a_sample_are_uniform_over_the_leaf_tuples():
    """Each leaf tuple of the grammar appears with probability 1/(v*m) at a given node."""
    rhm = RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=1)
    batch = rhm.sample(20_000, seed=2)
    parent, choice = batch.latents[1][:, 0], batch.choices[1][:, 0]
    counts = torch.bincount(parent * rhm.m + choice, minlength=rhm.v * rhm.m).numpy()
    # parents at level 1 are not exactly uniform (they follow the level-0 rules): test choices
    per_parent = counts.reshape(rhm.v, rhm.m)
    for row in per_parent[per_parent.sum(1) > 200]:
        assert chisquare(row).pvalue > 1e-4


def test_huge_tree_samples_distinct_data_that_decode():
    rhm = RHM(v=32, n_classes=32, m=8, s=2, L=6, seed=0)
    assert rhm.P_max == 32 * 8 ** 63 and rhm.P_max > 2 ** 63 * 10 ** 39
    batch = rhm.sample(100_000, seed=1)
    assert batch.x.shape == (100_000, 64)
    assert len(set(rhm.index(batch))) == 100_000
    decoded, valid = rhm.decode(batch.x)
    assert bool(valid.all()) and torch.equal(decoded.y, batch.y)


def test_split_is_disjoint_and_reproducible():
    rhm = RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
    train, test = rhm.split(2048, 5000, seed=4)
    assert not set(rhm.index(train)) & set(rhm.index(test))
    again, _ = rhm.split(2048, 5000, seed=4)
    assert torch.equal(train.x, again.x)
    other, _ = rhm.split(2048, 5000, seed=5)
    assert not torch.equal(train.x, other.x)
    assert torch.equal(RHM(8, 8, 4, 2, 3, seed=0).rules[2], rhm.rules[2])
    assert not torch.equal(RHM(8, 8, 4, 2, 3, seed=1).rules[2], rhm.rules[2])


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_resample_keeps_upper_latents_and_redraws_lower_choices(level):
    rhm = RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
    batch = rhm.sample(2000, seed=0)
    view = rhm.resample(batch, level, seed=9)
    for l in range(level + 1):
        assert torch.equal(view.latents[l], batch.latents[l])
    for l in range(level, rhm.L):  # re-drawn choices differ as often as iid draws would
        changed = (view.choices[l] != batch.choices[l]).float().mean().item()
        assert abs(changed - (1 - 1 / rhm.m)) < 0.05
    assert bool(rhm.decode(view.x)[1].all())
    if level == rhm.L:
        assert torch.equal(view.x, batch.x)
    else:
        assert (view.x != batch.x).any(1).float().mean() > 0.5
    assert torch.equal(view.x, rhm.resample(batch, level, seed=9).x)


def test_decode_reports_invalid_strings():
    rhm = RHM(v=8, n_classes=8, m=2, s=2, L=3, seed=0)
    batch = rhm.sample(100, seed=0)
    x = batch.x.clone()
    used = {tuple(t) for t in rhm.rules[2].reshape(-1, 2).tolist()}
    unused = next(t for t in itertools.product(range(8), repeat=2) if t not in used)
    x[7, :2] = torch.tensor(unused)
    x[9, 0] = 99
    with pytest.raises(ConfigError, match=r"x\[7\]"):
        rhm.decode(x)
    decoded, valid = rhm.decode(x, strict=False)
    assert valid.tolist() == [i not in (7, 9) for i in range(100)]
    assert decoded.y[7] == -1 and decoded.latents[2][7, 0] == -1
    assert decoded.latents[2][7, 1] == batch.latents[2][7, 1]  # the valid half is still decoded


def test_one_hot_shape_and_content():
    x = torch.tensor([[0, 2, 1], [1, 1, 0]])
    out = one_hot(x, 3)
    assert out.shape == (2, 3, 3) and out.dtype == torch.float32
    assert torch.equal(out.argmax(1), x) and torch.equal(out.sum(1), torch.ones(2, 3))


def test_sibling_information_matches_design_measurements():
    assert RHM(8, 8, 8, 2, 3, seed=0).sibling_information() == pytest.approx(0.0, abs=1e-12)
    assert 0.5 < RHM(8, 8, 4, 2, 3, seed=0).sibling_information() < 1.0
    assert 1.5 < RHM(16, 16, 4, 2, 3, seed=0).sibling_information() < 2.0
    # bounded by the entropy of one sibling given nothing: log2 v
    assert RHM(32, 32, 8, 2, 3, seed=0).sibling_information() < math.log2(32)


@pytest.mark.parametrize("kwargs, message", [
    (dict(v=8, n_classes=8, m=9, s=2, L=3), r"m=9 is impossible for v=8, s=2: need m\*v <= v\*\*s"),
    (dict(v=8, n_classes=16, m=8, s=2, L=3), r"m\*n_classes <= v\*\*s"),
    (dict(v=0, n_classes=8, m=1, s=2, L=3), r"v=0 is impossible"),
    (dict(v=8, n_classes=8, m=2.5, s=2, L=3), r"m=2.5 is impossible: need an integer"),
    (dict(v=8, n_classes=8, m=2, s=2, L=-1), r"L=-1 is impossible"),
    (dict(v=8, n_classes=8, m=2, s=1, L=2), r"s=1 is impossible"),
])
def test_impossible_settings_name_the_field(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RHM(**kwargs)


def test_too_many_samples_is_a_clear_error():
    rhm = RHM(v=4, n_classes=2, m=2, s=2, L=2)
    with pytest.raises(ConfigError, match="only P_max=16"):
        rhm.sample(17, seed=0)
    with pytest.raises(ConfigError, match="n_train\\+n_test"):
        rhm.split(10, 7, seed=0)
