r"""Test error, sample complexity P* and the PRX synonymic sensitivity.

Sample complexity (Cagnetta et al. 2024): P* is the smallest training-set size at which the test
error falls below ``fraction`` (default 10%) of the chance error 1 − 1/n_c. Between grid points
the error is interpolated linearly in log P; the grid used is part of the answer.

Synonymic sensitivity of layer k to synonyms re-drawn below level l (PRX eq. for S_{k,l}):

    S_{k,l} = < ‖h_k(x) − h_k(P_l x)‖² >_x  /  < ‖h_k(x) − h_k(x')‖² >_{x, x'}

with P_l x the synonym view of x that keeps every latent at levels <= l (``RHM.resample``) and
x' an independent input. S = 1: the layer ignores which synonyms are used no more than it
ignores the input altogether; S → 0: it is invariant to the synonyms.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .errors import impossible
from .network import Network
from .rhm import RHM, RHMBatch, one_hot


@torch.no_grad()
def predict(net: Network, x: Tensor, batch_size: int = 4096) -> Tensor:
    """Class predictions (n,) for one-hot inputs x (n, v, S), in chunks."""
    return torch.cat([net.forward(x[i:i + batch_size]).argmax(1)
                      for i in range(0, x.shape[0], batch_size)])


def test_error(net: Network, x: Tensor, y: Tensor, batch_size: int = 4096) -> float:
    """Fraction of misclassified inputs."""
    return float((predict(net, x, batch_size) != y).double().mean())


test_error.__test__ = False  # not a pytest test


@dataclass(frozen=True)
class SampleComplexity:
    P_star: float        # nan when the threshold is never crossed on the grid
    threshold: float     # error threshold = fraction · chance
    grid: tuple[float, ...]
    crossed: bool


def sample_complexity(P: Sequence[float], error: Sequence[float], n_classes: int,
                      fraction: float = 0.1) -> SampleComplexity:
    """P* from a learning curve error(P) (module docstring); P must be increasing.

    Errors at the same P (seeds) should be averaged before; NaN points are skipped.
    """
    P_arr, err = np.asarray(P, dtype=float), np.asarray(error, dtype=float)
    if P_arr.ndim != 1 or P_arr.shape != err.shape or np.any(np.diff(P_arr) <= 0):
        raise impossible("P", list(P_arr), "need an increasing 1-d grid matching the errors")
    keep = ~np.isnan(err)
    P_arr, err = P_arr[keep], err[keep]
    threshold = fraction * (1.0 - 1.0 / n_classes)
    below = np.flatnonzero(err < threshold)
    grid = tuple(float(p) for p in P_arr)
    if below.size == 0:
        return SampleComplexity(float("nan"), threshold, grid, False)
    i = int(below[0])
    if i == 0:
        return SampleComplexity(float(P_arr[0]), threshold, grid, True)
    # linear in log P between the last point above and the first point below the threshold
    lo, hi = np.log(P_arr[i - 1]), np.log(P_arr[i])
    t = (err[i - 1] - threshold) / (err[i - 1] - err[i])
    return SampleComplexity(float(np.exp(lo + t * (hi - lo))), threshold, grid, True)


@torch.no_grad()
def layer_rates(net: Network, x: Tensor, batch_size: int = 4096) -> list[Tensor]:
    """Rates of every hidden group (flattened per input) for inputs x, in chunks."""
    chunks: list[list[Tensor]] = []
    for i in range(0, x.shape[0], batch_size):
        net.forward(x[i:i + batch_size])
        chunks.append([g.rate.reshape(g.rate.shape[0], -1).clone() for g in net.hidden])
    return [torch.cat(parts) for parts in zip(*chunks)]


def synonymic_sensitivity(net: Network, rhm: RHM, batch: RHMBatch, level: int,
                          seed: int = 0) -> list[float]:
    """S_{k,level} for every hidden layer k = 1..depth (module docstring)."""
    dtype, device = net.dtype, net.device
    views = rhm.resample(batch, level, seed)
    others = batch[torch.randperm(len(batch), generator=torch.Generator().manual_seed(seed + 1))]
    encode = lambda b: one_hot(b.x, rhm.v, dtype).to(device)   # noqa: E731
    h, h_view, h_other = (layer_rates(net, encode(b)) for b in (batch, views, others))
    out = []
    for a, b, c in zip(h, h_view, h_other):
        num = (a - b).pow(2).sum(1).mean()
        den = (a - c).pow(2).sum(1).mean()
        out.append(float(num / den) if den > 0 else float("nan"))
    return out
