r"""Spike trains of plasticity protocols, and their merge into one event sequence per stream.

A ``SpikeTrains`` holds, for every stream (batch row = condition, channel = synapse), the
pre- and post-synaptic spike times in seconds, padded with +inf. ``merge`` turns them into
``Events``: the union of both trains sorted in time, the interval dt since the stream's previous
event, and which side spikes — laid out event-major, (events, batch, synapses, 1), so that the
engine walks all streams in lock-step over the event index. A pre and a post spike at exactly
the same time become one event with both flags (each reads only earlier spikes' traces).

Generators: ``pairing`` (pre/post pairs at Δt, repeated at a frequency) and ``poisson``
(independent homogeneous Poisson trains, drawn from a ``torch.Generator``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError, check_int, check_positive, impossible

INF = math.inf


@dataclass(frozen=True)
class SpikeTrains:
    """Spike times (s, from t = 0), +inf padded, increasing in each train: (batch, syn, spikes)."""

    pre: Tensor
    post: Tensor

    def __post_init__(self) -> None:
        for side in ("pre", "post"):
            t = getattr(self, side)
            if t.dim() != 3 or not t.is_floating_point():
                raise ConfigError(f"{side} spike times: need a float tensor (batch, synapses, "
                                  f"spikes), got {tuple(t.shape)} {t.dtype}")
            if (torch.isnan(t).any() or (t < 0).any()
                    or (t[..., 1:] <= t[..., :-1])[t[..., 1:] < INF].any()):
                raise ConfigError(f"{side} spike times: need strictly increasing times >= 0 "
                                  "in every train (padding +inf at the end), without NaN")
        if self.pre.shape[:2] != self.post.shape[:2]:
            raise ConfigError(f"pre streams {tuple(self.pre.shape[:2])} != post streams "
                              f"{tuple(self.post.shape[:2])}")


@dataclass(frozen=True)
class Events:
    """One merged event sequence per stream, event-major: every field (E, batch, synapses, 1)."""

    t: Tensor        # event time (s), float64; padding repeats nothing (valid = False)
    dt: Tensor       # interval since the stream's previous event (s); 0 for padding
    pre: Tensor      # bool: a pre-synaptic spike at this event
    post: Tensor     # bool: a post-synaptic spike at this event
    valid: Tensor    # bool: a real event (False: padding of shorter streams)

    @property
    def n_events(self) -> int:
        return self.t.shape[0]

    @property
    def streams(self) -> tuple[int, int]:
        return (self.t.shape[1], self.t.shape[2])


def merge(trains: SpikeTrains) -> Events:
    """Sort the union of pre and post spikes of every stream into ``Events`` (module doc)."""
    pre_t, post_t = trains.pre.double(), trains.post.double()
    t = torch.cat([pre_t, post_t], dim=-1)                      # (B, N, Kpre + Kpost)
    side = torch.cat([torch.ones_like(pre_t, dtype=torch.bool),
                      torch.zeros_like(post_t, dtype=torch.bool)], dim=-1)
    t, order = torch.sort(t, dim=-1, stable=True)
    is_pre = torch.gather(side, -1, order)
    valid = torch.isfinite(t)
    pre, post = is_pre & valid, ~is_pre & valid
    # one event for a pre and a post spike at the same time (trains are strictly increasing)
    tie = valid[..., 1:] & (t[..., 1:] == t[..., :-1])          # (B, N, K - 1)
    pre[..., :-1] |= tie & pre[..., 1:]
    post[..., :-1] |= tie & post[..., 1:]
    drop = torch.nn.functional.pad(tie, (1, 0))
    valid, pre, post = valid & ~drop, pre & ~drop, post & ~drop
    # interval since the previous event (the first from t = 0); a dropped tie carries the
    # time of the event it merged into, so the previous column always holds the last time
    prev = torch.nn.functional.pad(t[..., :-1], (1, 0), value=0.0)
    dt = torch.where(valid, t - prev, torch.zeros_like(t))
    # drop trailing columns that are padding in every stream
    n = int(valid.any(dim=(0, 1)).nonzero().max()) + 1 if valid.any() else 0
    fields = [x[..., :n].permute(2, 0, 1).unsqueeze(-1) for x in (t, dt, pre, post, valid)]
    return Events(*fields)                                       # (E, B, N, 1) each


def pairing(dt: Tensor, freq: Tensor, n_pairings: int) -> SpikeTrains:
    """Pairs of one pre and one post spike at t_post - t_pre = dt, repeated at ``freq``.

    ``dt`` (s) and ``freq`` (Hz) broadcast to the conditions (C,); pairing k starts at k/freq,
    the earlier spike of the pair at the start. Returns trains of shape (C, 1, n_pairings)."""
    n_pairings = check_int("n_pairings", n_pairings, 1)
    dt, freq = torch.broadcast_tensors(torch.as_tensor(dt, dtype=torch.float64),
                                       torch.as_tensor(freq, dtype=torch.float64))
    dt, freq = dt.reshape(-1), freq.reshape(-1)                  # (C,)
    if not torch.isfinite(dt).all():
        raise impossible("dt", dt[~torch.isfinite(dt)][0].item(), "need finite timings (s)")
    for f in freq.tolist():
        check_positive("freq", f)
    onset = torch.arange(n_pairings, dtype=torch.float64) / freq[:, None]   # (C, n)
    pre = onset + (-dt).clamp(min=0)[:, None]
    post = onset + dt.clamp(min=0)[:, None]
    return SpikeTrains(pre.unsqueeze(1), post.unsqueeze(1))


def _poisson_times(rate: Tensor, n: int, duration: float, gen: torch.Generator) -> Tensor:
    """(C, n, K) sorted Poisson spike times in [0, duration), +inf padded."""
    lam = float(rate.max()) * duration
    k = int(lam + 8 * math.sqrt(lam) + 8)
    rate = rate.reshape(-1, 1, 1)
    isi = -torch.log1p(-torch.rand(rate.shape[0], n, k, generator=gen, dtype=torch.float64))
    t = torch.cumsum(isi, dim=-1) / rate                          # inf where rate = 0
    while bool((t[..., -1] < duration).any()):                    # rare: draw more intervals
        more = -torch.log1p(-torch.rand(rate.shape[0], n, k, generator=gen, dtype=torch.float64))
        t = torch.cat([t, t[..., -1:] + torch.cumsum(more, dim=-1) / rate], dim=-1)
    return torch.where(t < duration, t, torch.full_like(t, INF))


def poisson(rate_pre: Tensor, rate_post: Tensor, duration: float, n_synapses: int,
            generator: torch.Generator) -> SpikeTrains:
    """Independent Poisson trains, rates (Hz) per condition (C,), ``n_synapses`` streams each.

    Returns trains (C, n_synapses, K); every synapse has its own pre and post train."""
    duration = check_positive("duration", duration)
    n_synapses = check_int("n_synapses", n_synapses, 1)
    rate_pre, rate_post = torch.broadcast_tensors(
        torch.as_tensor(rate_pre, dtype=torch.float64), torch.as_tensor(rate_post,
                                                                        dtype=torch.float64))
    for name, r in (("rate_pre", rate_pre), ("rate_post", rate_post)):
        bad = ~(torch.isfinite(r) & (r >= 0))
        if bad.any():
            raise impossible(name, r[bad][0].item(), "need finite rates >= 0 (Hz)")
    return SpikeTrains(_poisson_times(rate_pre, n_synapses, duration, generator),
                       _poisson_times(rate_post, n_synapses, duration, generator))
