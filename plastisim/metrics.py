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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from .errors import impossible
from .network import Network, layers
from .rhm import RHM, RHMBatch, one_hot

T = TypeVar("T")


@torch.no_grad()
def in_chunks(net: Network, x: Tensor, read: Callable[[Tensor], T], batch_size: int = 4096
              ) -> list[T]:
    """``read(logits)`` after a forward pass of each chunk of the one-hot inputs x (n, v, S);
    ``read`` may also look at the network's state (rates, receptive fields) for that chunk."""
    return [read(net.forward(x[i:i + batch_size])) for i in range(0, x.shape[0], batch_size)]


def predict(net: Network, x: Tensor, batch_size: int = 4096) -> Tensor:
    """Class predictions (n,) for one-hot inputs x (n, v, S), in chunks."""
    return torch.cat(in_chunks(net, x, lambda logits: logits.argmax(1), batch_size))


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
    below_grid: bool = False  # already below at the smallest P: P* is only an upper bound


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
        return SampleComplexity(float(P_arr[0]), threshold, grid, True, below_grid=True)
    # linear in log P between the last point above and the first point below the threshold
    lo, hi = np.log(P_arr[i - 1]), np.log(P_arr[i])
    t = (err[i - 1] - threshold) / (err[i - 1] - err[i])
    return SampleComplexity(float(np.exp(lo + t * (hi - lo))), threshold, grid, True)


def sample_complexity_from_dataset(ds, over: str = "n_train_multiple",
                                   n_classes: int | None = None, fraction: float = 0.1,
                                   average: Sequence[str] = ("seed",), skipna: bool = False,
                                   variable: str = "test_error", flags: bool = False):
    """P* along dimension ``over`` of a merged sweep dataset (``plastisim sweep``).

    ``ds[variable]`` is first averaged over the ``average`` dims present (seeds; with
    ``skipna=False`` a point with a missing seed stays missing), then ``sample_complexity``
    runs along ``over`` (sorted increasing) for every combination of the other dims. P* is in
    the units of the ``over`` coordinate (n_c·m^L for ``n_train_multiple``). ``n_classes``
    defaults to the dataset's ``n_classes`` variable, per combination of the other dims (so
    ``rhm.n_classes`` may be swept). Returns a DataArray ``P_star`` over the remaining dims
    (NaN: threshold not crossed); with ``flags=True`` a Dataset of ``P_star``, ``crossed`` and
    ``below_grid`` (reached at the smallest P already: P* is an upper bound).
    Duck-typed: any xarray-like Dataset works; this module does not import xarray.
    """
    err = ds[variable]
    if over not in err.dims:
        raise impossible("over", over, f"need a dimension of {variable}: {', '.join(err.dims)}")
    reduce = [d for d in average if d in err.dims and d != over]
    if reduce:
        err = err.mean(reduce, skipna=skipna)
    err = err.transpose(..., over)
    template = err.isel({over: 0}, drop=True)
    classes = _classes_per_point(ds, template, reduce + [over], n_classes)
    P = np.asarray(err[over].values, dtype=float)
    order = np.argsort(P)
    errors = np.asarray(err.values, dtype=float)[..., order]
    P_star = np.full(errors.shape[:-1], np.nan)
    crossed = np.zeros(errors.shape[:-1], dtype=bool)
    below = np.zeros(errors.shape[:-1], dtype=bool)
    for index in np.ndindex(P_star.shape):
        result = sample_complexity(P[order], errors[index], int(classes[index]), fraction)
        P_star[index], crossed[index], below[index] = (result.P_star, result.crossed,
                                                       result.below_grid)
    out = template.copy(data=P_star)
    out.name = "P_star"
    thresholds = sorted({fraction * (1.0 - 1.0 / c) for c in np.unique(classes)})
    out.attrs = {"units": ds[over].attrs.get("units", "1"),
                 "long_name": f"sample complexity P*: smallest {over} with {variable} < "
                              f"{fraction:g} * chance (linear in log P between grid points)",
                 "threshold": thresholds[0] if len(thresholds) == 1 else str(thresholds),
                 "averaged_over": " ".join(reduce)}
    if not flags:
        return out
    result = out.to_dataset()
    result["crossed"] = template.copy(data=crossed)
    result["crossed"].attrs = {"long_name": "threshold crossed on the grid"}
    result["below_grid"] = template.copy(data=below)
    result["below_grid"].attrs = {"long_name": "below threshold at the smallest P: P* <= grid "
                                               "minimum"}
    return result


def _classes_per_point(ds, template, reduced: list[str], n_classes: int | None) -> np.ndarray:
    """n_c for every point of ``template`` (the dims left after the reduction)."""
    if n_classes is not None:
        return np.full(template.shape, int(n_classes))
    classes = ds["n_classes"]
    dims = [d for d in reduced if d in classes.dims]
    low, high = (classes.min(dims), classes.max(dims)) if dims else (classes, classes)
    if bool((low != high).any()):
        raise impossible("n_classes", None, "n_classes varies along the averaged dimensions "
                         f"({', '.join(dims)}): select one or pass n_classes")
    low = low.broadcast_like(template).transpose(*template.dims)
    return np.asarray(low.values)


def layer_rates(net: Network, x: Tensor, batch_size: int = 4096) -> list[Tensor]:
    """Rates of every hidden group (flattened per input) for inputs x, in chunks."""
    chunks = in_chunks(net, x, lambda _: [g.rate.reshape(g.rate.shape[0], -1).clone()
                                          for g in net.hidden], batch_size)
    return [torch.cat(parts) for parts in zip(*chunks)]


def readout_fields(net: Network, x: Tensor, batch_size: int = 4096) -> Tensor:
    """The readout's receptive fields h̄_L (n, 1, C) of every row of x, in chunks."""
    readout = net.synapses["readout"]
    return torch.cat(in_chunks(net, x, lambda _: readout.fields, batch_size))


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


def sensitivity_matrix(net: Network, rhm: RHM, batch: RHMBatch, seed: int = 0) -> np.ndarray:
    """S_{k,l} (module docstring) of every hidden layer k (rows, 1..depth) to synonyms re-drawn
    below every level l (columns, 0..L-1), on the inputs of ``batch``: (depth, L)."""
    return np.array([synonymic_sensitivity(net, rhm, batch, level, seed)
                     for level in range(rhm.L)]).T


def layer_coord(depth: int) -> tuple:
    """The ``layer`` coordinate (1..depth, hidden layer k) of per-layer values in the files."""
    return ("layer", np.arange(1, depth + 1), {"units": "1", "long_name": "hidden layer k"})


#: the per-layer statistics of a trained network's code (``layer_statistics``): name ->
#: long name, in the order of its columns
LAYER_STATISTICS = {
    "rate_variance": "rate variance over inputs, mean over units and positions",
    "dead_fraction": "fraction of units silent for every probe input",
    "participation_ratio": "participation ratio of the code's covariance",
    "partner_r2": "held-out R2 of the sibling's code from the context's (linear)"}


@torch.no_grad()
def layer_statistics(net: Network, x: Tensor, ridge: float = 0.1) -> np.ndarray:
    r"""What each hidden layer's code has kept, on the one-hot inputs x (n, v, S): (depth, 4),
    the columns of ``LAYER_STATISTICS``. With h_{k,i,p}(x) the rate of unit i at position p:

    * rate variance  V_k = mean_{i,p} Var_x h_{k,i,p}(x)   (→ 0: a collapsed code);
    * dead fraction: the share of the C units silent at every position for every input;
    * participation ratio PR_k = (Σ_j λ_j)² / Σ_j λ_j², λ the eigenvalues of the C × C covariance
      of h_k over inputs and positions: how many dimensions the code uses (a synonym-invariant
      code of a tuple needs at most v − 1);
    * partner R²: how much of the sibling's code (position 2j + 1) the best linear map of the
      context's code (position 2j) explains, 1 − Σ‖t − Ŵc‖² / Σ‖t − t̄‖², Ŵ fitted by ridge
      regression (ridge · tr(cᵀc)/C) on the first half of the inputs and measured on the
      second half; NaN for a layer of one position. Siblings share their parent symbol, so a
      code of the parent is predictable from either child, a code of the synonym is not.
    """
    x = x.to(net.device, net.dtype)
    rates = [h.double() for _, _, h in layers(net, net.weights(), x)[:-1]]
    out = []
    for h in rates:
        n, C, P = h.shape
        pooled = h.permute(0, 2, 1).reshape(n * P, C)
        centred = pooled - pooled.mean(0)
        eig = torch.linalg.eigvalsh(centred.T @ centred / max(n * P - 1, 1)).clamp_min(0)
        pr = float(eig.sum() ** 2 / eig.square().sum()) if eig.sum() > 0 else 0.0
        dead = float((h.amax(dim=(0, 2)) <= 0).double().mean())
        out.append([float(h.var(0).mean()), dead, pr, partner_r2(h, ridge)])
    return np.array(out).reshape(len(rates), len(LAYER_STATISTICS))


def partner_r2(h: Tensor, ridge: float) -> float:
    """``layer_statistics``' partner R² of rates h (n, C, P) (NaN when P < 2)."""
    n, C, P = h.shape
    if P < 2 or n < 4:
        return float("nan")
    c = h[:, :, 0:P - P % 2:2].permute(0, 2, 1).reshape(n, -1, C)
    t = h[:, :, 1:P:2].permute(0, 2, 1).reshape(n, -1, C)
    half = n // 2
    fit_c, fit_t = c[:half].reshape(-1, C), t[:half].reshape(-1, C)
    mc, mt = fit_c.mean(0), fit_t.mean(0)
    cc = (fit_c - mc).T @ (fit_c - mc)
    eye = torch.eye(C, dtype=h.dtype, device=h.device)
    W = torch.linalg.solve(cc + ridge * cc.trace().clamp_min(1e-12) / C * eye,
                           (fit_c - mc).T @ (fit_t - mt))
    test_c, test_t = c[half:].reshape(-1, C), t[half:].reshape(-1, C)
    residual = (test_t - mt - (test_c - mc) @ W).square().sum()
    total = (test_t - test_t.mean(0)).square().sum()
    return float(1 - residual / total) if total > 0 else float("nan")
