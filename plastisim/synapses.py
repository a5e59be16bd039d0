r"""Projections between two neuron groups: connectivity, weights, pre-synaptic traces.

One ``Synapses`` object per projection, vectorised inside. Every connectivity is written as an
*unfold* of the pre-synaptic rates into receptive fields, so the drive and every plasticity rule
share one form. With u_{b,p,k} the k-th input of post position p (batch row b):

    drive      a_{b,i,p}  = c · Σ_k w_{i,k} u_{b,p,k}               (w_{p,i,k} if not shared)
    update     Δw_{i,k}   = η · (1/B) Σ_{b,p} M_{b,i,p} post_{b,i,p} u_{b,p,k}     (three factors)
    transpose  δu_{b,p,k} = c · Σ_i w_{i,k} δ_{b,i,p}, folded back to (batch, C_pre, P_pre)

c is the fixed scale of the projection (1/sqrt(fan_in) for the PRX "NTK" hidden layers, 1/width
for the mean-field readout). The batch reduction of Δw is the mean over streams; positions of a
shared (convolutional) kernel are summed.

Connectivities: ``Dense`` (all pre units to every post unit, one post position), ``Patches(s)``
(non-overlapping patches of size s, stride s; ``shared=True`` convolutional as the PRX CNN,
``shared=False`` locally connected), ``MeanPool`` (mean over pre positions, then dense: the RHM
readout).

Memory layout: rates are indexed (batch, channels, positions) but stored positions-major
(channels fastest), and a patch's fan-in is ordered (position in patch, channel), k = j·C + c.
The products are written on *rows* (B, P, C), the storage order itself (``drive_rows``,
``outer_rows``, ``transpose_rows``, and the connectivities' ``unfold`` / ``fold``): unfolding
rows into patches and folding signals back are views, the drive, transpose and outer product
single matrix products, and a compiler sees no transposes. The (B, C, P) methods (``drive``,
``outer``, ``transpose``, ``unfold``) are the same products on transposed views. Weights are drawn in the channel-major kernel order
of ``F.conv1d`` (C_post, C_pre, s) and rearranged (``Patches.arrange``), so that a seed gives the
same network whatever the storage order; ``Patches.kernel`` returns that conv1d view.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .errors import ConfigError
from .neurons import NeuronGroup
from .traces import Trace


@dataclass(frozen=True)
class Dense:
    """Every pre unit (all channels and positions) to every post unit; post has 1 position."""

    shared: bool = True

    def post_positions(self, pre_positions: int) -> int:
        return 1

    def fan_in(self, pre: NeuronGroup) -> int:
        return pre.channels * pre.positions

    def unfold(self, rows: Tensor) -> Tensor:
        """(B, P, C) rows -> (B, 1, C·P), fan-in k = c·P + p."""
        return rows.transpose(1, 2).reshape(rows.shape[0], 1, -1)

    def fold(self, fields: Tensor, pre: NeuronGroup) -> Tensor:
        """(B, 1, C·P) -> (B, P, C) rows, the inverse of ``unfold``."""
        return fields.reshape(fields.shape[0], pre.channels, pre.positions).transpose(1, 2)

    def arrange(self, w: Tensor, pre: NeuronGroup) -> Tensor:
        """Weights drawn in channel-major fan-in order, in this connectivity's order."""
        return w


@dataclass(frozen=True)
class MeanPool(Dense):
    """Mean of every pre channel over positions, then dense (the PRX readout)."""

    def fan_in(self, pre: NeuronGroup) -> int:
        return pre.channels

    def unfold(self, rows: Tensor) -> Tensor:
        """(B, P, C) rows -> (B, 1, C), the mean over positions."""
        return rows.mean(1, keepdim=True)

    def fold(self, fields: Tensor, pre: NeuronGroup) -> Tensor:
        """(B, 1, C) -> (B, P, C): each position's share of the mean."""
        return (fields / pre.positions).expand(-1, pre.positions, -1)


@dataclass(frozen=True)
class Patches:
    """Non-overlapping patches of size s (stride s); ``shared`` = convolutional."""

    s: int
    shared: bool = True

    def post_positions(self, pre_positions: int) -> int:
        if pre_positions % self.s:
            raise ConfigError(f"Patches(s={self.s}) is impossible for {pre_positions} pre "
                              f"positions: need a multiple of s")
        return pre_positions // self.s

    def fan_in(self, pre: NeuronGroup) -> int:
        return pre.channels * self.s

    def unfold(self, rows: Tensor) -> Tensor:
        """(B, P, C) rows -> (B, P/s, s·C), fan-in k = j·C + c (a view)."""
        b, p, c = rows.shape
        return rows.reshape(b, p // self.s, self.s * c)

    def fold(self, fields: Tensor, pre: NeuronGroup) -> Tensor:
        """(B, P_post, s·C_pre) -> (B, P_pre, C_pre) rows, the inverse of ``unfold``."""
        b, p_post, _ = fields.shape
        return fields.reshape(b, p_post * self.s, pre.channels)

    def arrange(self, w: Tensor, pre: NeuronGroup) -> Tensor:
        """Channel-major kernel (..., C_post, C_pre·s) -> fan-in order (..., C_post, s·C_pre)."""
        kernel = w.reshape(w.shape[:-1] + (pre.channels, self.s))
        return kernel.transpose(-1, -2).reshape(w.shape)

    def kernel(self, w: Tensor, pre: NeuronGroup) -> Tensor:
        """The weights as a ``F.conv1d`` kernel (..., C_post, C_pre, s)."""
        return w.reshape(w.shape[:-1] + (self.s, pre.channels)).transpose(-1, -2)


Connectivity = Dense | MeanPool | Patches


class Synapses:
    """The projection ``pre -> post`` with weights ``w`` and scale ``c`` (module docstring).

    ``w`` has shape (C_post, K) when shared, (P_post, C_post, K) otherwise, K = fan-in.
    ``scale``: "sqrt_fan_in" (c = 1/sqrt(K), PRX hidden layers), "fan_in" (c = 1/K, mean-field
    readout) or a number. Weights are drawn N(0, init_std^2) from ``generator``.
    """

    def __init__(self, name: str, pre: NeuronGroup, post: NeuronGroup,
                 connectivity: Connectivity, *, scale: str | float = "sqrt_fan_in",
                 init_std: float = 1.0, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32, pre_trace: Trace | None = None):
        self.name, self.pre, self.post, self.connectivity = name, pre, post, connectivity
        expected = connectivity.post_positions(pre.positions)
        if post.positions != expected:
            raise ConfigError(f"synapses {name}: post group {post.name} has {post.positions} "
                              f"positions; {connectivity} from {pre.positions} needs {expected}")
        self.fan_in = connectivity.fan_in(pre)
        self.scale = _scale(scale, self.fan_in)
        shape = (post.channels, self.fan_in)
        if not connectivity.shared:
            shape = (post.positions,) + shape
        w = torch.randn(shape, generator=generator, dtype=torch.float64) * init_std
        self.w = connectivity.arrange(w, pre).to(dtype).contiguous()
        self.pre_trace = pre_trace     # None: the pre factor is the current rate (tau = 0)
        self.fields: Tensor | None = None   # receptive fields u of the last Network.forward

    def __repr__(self) -> str:
        return (f"Synapses({self.name!r}, {self.pre.name} -> {self.post.name}, "
                f"{self.connectivity}, w{tuple(self.w.shape)}, scale={self.scale:.4g})")

    @property
    def shared(self) -> bool:
        return self.connectivity.shared

    # --- rows: (B, P, C), positions-major, the layout every product runs in ------------------
    def drive_rows(self, fields: Tensor, w: Tensor) -> Tensor:
        """a = c · w u  -> (B, P_post, C_post) rows."""
        if self.shared:           # (B·P, K) @ (K, C)
            return rows_times(fields, w.T).mul_(self.scale)
        return torch.einsum("pik,bpk->bpi", w, fields).mul_(self.scale)

    def outer_rows(self, post_factor: Tensor, fields: Tensor) -> Tensor:
        """(1/B) Σ_b [Σ_p] post_{b,p,i} u_{b,p,k}: the Hebbian product, shaped like ``w``;
        ``post_factor`` (B, P_post, C_post) rows already holds the modulator and post term."""
        b = post_factor.shape[0]
        if self.shared:           # (C, B·P) @ (B·P, K)
            rows = post_factor.reshape(-1, post_factor.shape[2])
            return (rows.T @ fields.reshape(rows.shape[0], -1)).div_(b)
        return torch.einsum("bpi,bpk->pik", post_factor, fields).div_(b)

    def transpose_rows(self, delta: Tensor, w: Tensor) -> Tensor:
        """Post-synaptic signals (B, P_post, C_post) rows back through w^T (or a feedback
        matrix of its shape) to the pre-synaptic rows (B, P_pre, C_pre)."""
        if self.shared:           # (B·P, C_post) @ (C_post, K)
            fields = rows_times(delta, w)
        else:
            fields = torch.einsum("pik,bpi->bpk", w, delta)
        return self.connectivity.fold(fields.mul_(self.scale), self.pre)

    # --- the same in the rates' indexing (B, C, P) -------------------------------------------
    def unfold(self, rate: Tensor) -> Tensor:
        """Receptive fields u (B, P_post, K) of pre-synaptic rates (B, C_pre, P_pre)."""
        return self.connectivity.unfold(rate.transpose(1, 2))

    def drive(self, fields: Tensor, w: Tensor | None = None) -> Tensor:
        """a = c · w u  -> (B, C_post, P_post); ``w`` defaults to the synapse's weights."""
        return self.drive_rows(fields, self.w if w is None else w).transpose(1, 2)

    def outer(self, post_factor: Tensor, fields: Tensor) -> Tensor:
        """``outer_rows`` of a post factor (B, C_post, P_post)."""
        return self.outer_rows(post_factor.transpose(1, 2), fields)

    def transpose(self, delta: Tensor, w: Tensor | None = None) -> Tensor:
        """``transpose_rows`` of signals (B, C_post, P_post), to (B, C_pre, P_pre)."""
        return self.transpose_rows(delta.transpose(1, 2),
                                   self.w if w is None else w).transpose(1, 2)

    def to(self, device: torch.device | str | None = None,
           dtype: torch.dtype | None = None) -> "Synapses":
        self.w = self.w.to(device=device, dtype=dtype)
        return self


def rows_times(x: Tensor, m: Tensor) -> Tensor:
    """(B, P, n) @ (n, k) -> (B, P, k) as one (B·P, n) @ (n, k) product. ``torch.matmul``
    broadcasts m to a batched product when x cannot be viewed as 2-D (a strided view), which
    costs twice as much; a reshape (a copy of the small operand, if any) avoids it."""
    b, p, n = x.shape
    return (x.reshape(b * p, n) @ m).view(b, p, m.shape[1])


def positions_outer(post: Tensor, fields: Tensor) -> Tensor:
    """Σ_{b,p} post_{b,i,p} fields_{b,p,k} (C, K) as one (C, B·P) @ (B·P, K) product; views of
    positions-major tensors (a copy otherwise)."""
    rows = post.transpose(1, 2).reshape(-1, post.shape[1])
    return rows.T @ fields.reshape(rows.shape[0], -1)


def _scale(scale: str | float, fan_in: int) -> float:
    if scale == "sqrt_fan_in":
        return 1.0 / math.sqrt(fan_in)
    if scale == "fan_in":
        return 1.0 / fan_in
    if isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0:
        return float(scale)
    raise ConfigError(f"scale={scale!r} is impossible: need 'sqrt_fan_in', 'fan_in' or a "
                      "number > 0")

