r"""Grammar-free pairings of a layer's rates: siblings, CPC offsets, the two halves of a field.

A pairing says which rates of one input a layer's loss ℓ_l(c, t) compares (docs/ssl.md). It
reads nothing but the layer's own input u (B, P, K) and rates z = f(a) (B, C, P): no RHM
sampler, no latents, no label. Three constructions:

* ``siblings``: c = z[..., 2q], t = z[..., 2q+1] — the two children of one parent symbol.
* ``cpc`` with offset k ≥ 1: c = z[..., p], t = z[..., p+k] for every p < P − k (for k = 1:
  the sibling pairs (2q, 2q+1) and the cousin pairs (2q+1, 2q+2)).
* ``halves`` (top layer): the same neurons with two dendritic compartments (Körding & König
  2001, Neural Comput. 13, 2823), each seeing one child of the receptive field,

      c = f(c_l W u_left),  t = f(c_l W u_right),

  u_left = u with the right child's entries set to zero, u_right the converse. For
  ``Patches(s=2)`` the fan-in is (position in patch, channel), k = j·C + c, so the left child
  is k < C; for ``Dense`` the fan-in is (channel, position), k = c·P + p, and the children are
  the first and second half of the P input positions. Other connectivities are refused.

A layer with too few positions for its pairing (P < 2 for siblings, P ≤ k for cpc) uses
``top_layer``: "halves" or "frozen" (no pair: the layer keeps its initial weights).

Every pairing returns a ``Pair`` whose update is the shared three-factor product of
rules/layerwise.py, Δw = −η c_l Σ_paths (G ⊙ f'(a)) ⊗ u: a positional pair scatters G_c and
G_t back to their positions of one data path (a position may be a context and a target); a
halves pair has two data paths, so each compartment's update touches only its own columns.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ..errors import impossible
from ..synapses import Dense, MeanPool, Patches, Synapses

PAIRS = ("views", "siblings", "cpc")
TOP_LAYERS = ("halves", "frozen")


class Pair(NamedTuple):
    """One layer's pair: the context path (u, a, z) and the target path (u2, a2, z2), the
    same tensors for a positional pairing, which then picks positions by two slices."""

    kind: str                      # "views" | "siblings" | "cpc" | "halves"
    u: Tensor                      # (B, P, K) receptive fields
    a: Tensor                      # (B, C, P) drive
    z: Tensor                      # (B, C, P) rates
    u2: Tensor
    a2: Tensor
    z2: Tensor
    context: slice | None = None   # positions of z that are contexts (positional pairings)
    target: slice | None = None    # positions of z2 that are their targets
    code: Tensor | None = None     # (B, K, P): the input code the layer predicts (codepred)
    linear: bool = False           # linear rates (f' = 1) instead of ReLU (f' = H(a))

    def rates(self) -> tuple[Tensor, Tensor]:
        """(c, t), the two arguments of the layer loss ℓ_l."""
        if self.context is None:
            return self.z, self.z2
        return self.z[..., self.context], self.z2[..., self.target]

    def post_factors(self, G: Tensor, G2: Tensor | None) -> list[tuple[Tensor, Tensor]]:
        """[(G ⊙ f'(a), u), ...] per data path, G = B ∂ℓ/∂c and G2 = B ∂ℓ/∂t (or None).
        A positional pair scatters G and G2 back to their positions out of place (a position
        may be a context and a target: their signals add)."""
        return [(g * gate, u) for g, gate, u, _ in self.factors(G, G2)]

    def factors(self, G: Tensor, G2: Tensor | None) -> list[tuple[Tensor, Tensor, Tensor, Tensor]]:
        """[(G, f'(a), u, z), ...] per data path: the loss' signal at every position of the
        layer (B, C, P), the gate, the receptive fields (B, P, K) and the rates (B, C, P)."""
        # f'(a) = H(a) = sign(f(a)) for the ReLU rates z (one pass, no bool → float copy)
        gate = (lambda z: torch.ones_like(z)) if self.linear else torch.sign   # noqa: E731
        if self.context is None:
            out = [(G, gate(self.z), self.u, self.z)]
            if G2 is not None:
                out.append((G2, gate(self.z2), self.u2, self.z2))
            return out
        grad = _scatter(torch.zeros_like(self.z), G, self.context)    # (B, C, P)
        if G2 is not None:
            grad = _scatter(grad, grad[..., self.target] + G2, self.target)
        return [(grad, gate(self.z), self.u, self.z)]

    def positions(self, value: Tensor) -> list[Tensor]:
        """A per-pair value (B, P_pairs) at the positions of each data path, [(B, P)]: the
        context's and the target's position of a positional pair (0 elsewhere)."""
        if self.context is None:
            return [value, value]
        full = _scatter(torch.zeros_like(self.z[:, 0]), value, self.context)
        return [_scatter(full, value, self.target)]


def _scatter(into: Tensor, src: Tensor, positions: slice) -> Tensor:
    """``into`` with its last-axis ``positions`` replaced by ``src`` (a new tensor)."""
    return into.slice_scatter(src, -1, positions.start, positions.stop, positions.step or 1)


def layer_kinds(pairs: str, top_layer: str, offset: int, positions: list[int]) -> list[str]:
    """The pairing of each hidden layer (its number of positions in ``positions``): ``pairs``
    where the layer has enough positions, else ``top_layer`` (module docstring)."""
    if pairs == "views":
        return ["views"] * len(positions)
    needed = 2 if pairs == "siblings" else offset + 1
    return [pairs if P >= needed else top_layer for P in positions]


def half_masks(syn: Synapses, dtype: torch.dtype = torch.float64,
               device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """(left, right) masks (K,) of the two children in the fan-in of ``syn`` (module
    docstring), built from its structure alone; a one-line ConfigError for a connectivity
    without two children."""
    conn, pre, K = syn.connectivity, syn.pre, syn.fan_in
    k = torch.arange(K, device=device)
    if isinstance(conn, Patches) and conn.s == 2:
        left = k < pre.channels                                   # k = j·C + c, j = 0
    elif isinstance(conn, Dense) and not isinstance(conn, MeanPool) and pre.positions % 2 == 0:
        left = k % pre.positions < pre.positions // 2             # k = c·P + p, p < P/2
    else:
        raise impossible("rule.top_layer", "halves",
                         f"for {syn.name} ({conn} from {pre.positions} positions): need two "
                         "children per receptive field (Patches(s=2), or Dense from an even "
                         "number of positions); set rule.top_layer = 'frozen'")
    return left.to(dtype), (~left).to(dtype)


def positional_pair(kind: str, u: Tensor, a: Tensor, z: Tensor, offset: int = 1) -> Pair:
    """Siblings (2q -> 2q+1) or cpc (p -> p + offset) of one input's rates at one layer."""
    P = z.shape[-1]
    if kind == "siblings":
        context, target = slice(0, P, 2), slice(1, P, 2)
    else:
        context, target = slice(0, P - offset), slice(offset, P)
    return Pair(kind, u, a, z, u, a, z, context, target)


def halves_pair(syn: Synapses, u: Tensor, w: Tensor) -> Pair:
    """The two compartments c = f(c_l W u_left), t = f(c_l W u_right) of one layer (weights
    ``w``; the masks from the projection's structure, ``half_masks``)."""
    left, right = half_masks(syn, u.dtype, u.device)
    u_left, u_right = u * left, u * right                         # (B, P, K)
    a_left, a_right = syn.drive(u_left, w), syn.drive(u_right, w)
    return Pair("halves", u_left, a_left, torch.relu(a_left),
                u_right, a_right, torch.relu(a_right))
