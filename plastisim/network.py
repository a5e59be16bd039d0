r"""A network: neuron groups chained by synapses, and the builder for the RHM hierarchy.

``layers(net, weights, x)`` is the forward pass as a pure function: the receptive fields u,
drives a and rates h of every projection for the weights given (``layer_rows``: the same as
rows (B, P, C), the storage order), nothing written anywhere (what
rules, ``torch.func.vmap`` over members and ``torch.compile`` need). ``Network.forward`` is the
same pass on the network's own weights that also leaves each group's drive and rate in the
group, for users who inspect a network.

``hierarchy(rhm, width)`` is the PRX CNN (Cagnetta et al. 2024, "ConvNetGAPMF"): L layers of
non-overlapping patches (filter = stride = s), each a_l = W_l u_{l-1} / sqrt(C_{l-1} s) followed by
ReLU, the mean over the remaining positions, and a linear readout z = β h̄ / width (mean-field
scaling). Weights are drawn N(0, 1). Biases are omitted (a choice: see docs/concepts.md).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .errors import check_int, impossible
from .neurons import NeuronGroup
from .rhm import RHM
from .synapses import Dense, MeanPool, Patches, Synapses

#: the readout's connectivity (``hierarchy``)
READOUTS = ("mean", "dense")


class Network:
    """Groups (input first, output last) and the synapses between consecutive groups."""

    def __init__(self, groups: list[NeuronGroup], synapses: list[Synapses]):
        if len(synapses) != len(groups) - 1:
            raise impossible("synapses", len(synapses), f"need len(groups) - 1 = "
                             f"{len(groups) - 1} (a chain)")
        for syn, pre, post in zip(synapses, groups[:-1], groups[1:]):
            if syn.pre is not pre or syn.post is not post:
                raise impossible(f"synapses {syn.name}", f"{syn.pre.name}->{syn.post.name}",
                                 f"need {pre.name}->{post.name} (groups in order)")
        self.groups = {g.name: g for g in groups}
        self.synapses = {s.name: s for s in synapses}

    def __repr__(self) -> str:
        lines = [f"Network({len(self.groups)} groups, {len(self.synapses)} synapses)"]
        lines += [f"  {s}" for s in self.synapses.values()]
        return "\n".join(lines)

    @property
    def input(self) -> NeuronGroup:
        return next(iter(self.groups.values()))

    @property
    def output(self) -> NeuronGroup:
        return list(self.groups.values())[-1]

    @property
    def hidden(self) -> list[NeuronGroup]:
        return list(self.groups.values())[1:-1]

    @property
    def device(self) -> torch.device:
        return next(iter(self.synapses.values())).w.device

    @property
    def dtype(self) -> torch.dtype:
        return next(iter(self.synapses.values())).w.dtype

    def forward(self, x: Tensor) -> Tensor:
        """The forward pass on the network's weights; every group keeps its drive and rate
        (and every projection its receptive fields). Returns the logits (B, n_c)."""
        self.input.clamp(x)
        for syn, (u, a, h) in zip(self.synapses.values(), layers(self, self.weights(), x)):
            syn.fields = u
            syn.post.integrate(a, h)
        return self.output.drive.reshape(x.shape[0], -1)

    __call__ = forward

    def weights(self) -> dict[str, Tensor]:
        return {name: syn.w for name, syn in self.synapses.items()}

    def to(self, device: torch.device | str | None = None,
           dtype: torch.dtype | None = None) -> "Network":
        for syn in self.synapses.values():
            syn.to(device, dtype)
        return self


Layer = tuple[Tensor, Tensor, Tensor]      # (u, a, h): fields (B, P, K), drive and rate


def layer_rows(net: Network, weights: dict[str, Tensor], x_rows: Tensor, depth: int | None = None,
               detach: bool = False) -> list[Layer]:
    """(u, a, h) of the first ``depth`` projections (default: all, the readout last, whose
    h = a holds the logits as (B, 1, n_c)) for inputs x_rows (B, S, v), every drive and rate
    as rows (B, P, C) (synapses.py):

        u_l = unfold(h_{l−1}),   a_l = c_l W_l u_l,   h_l = f(a_l)

    ``detach``: every layer's input is detached, so that a loss of layer l reaches only W_l
    (the layer-local losses of the self-supervised rules). Pure: reads the network's structure
    and the given weights only."""
    out, h = [], x_rows
    syns = list(net.synapses.values())
    for syn in syns[:len(syns) if depth is None else depth]:
        u = syn.connectivity.unfold(h.detach() if detach else h)
        a = syn.drive_rows(u, weights[syn.name])
        h = syn.post.activate(a)
        out.append((u, a, h))
    return out


def layers(net: Network, weights: dict[str, Tensor], x: Tensor, depth: int | None = None,
           detach: bool = False) -> list[Layer]:
    """``layer_rows`` for inputs x (B, v, S), with the drives and rates indexed (B, C, P)
    (views of the same rows)."""
    return [(u, a.transpose(1, 2), h.transpose(1, 2))
            for u, a, h in layer_rows(net, weights, x.transpose(1, 2), depth, detach)]


def logits(net: Network, weights: dict[str, Tensor], x: Tensor) -> Tensor:
    """z (B, n_c): the readout's drive of ``layer_rows``."""
    return layer_rows(net, weights, x.transpose(1, 2))[-1][1].reshape(x.shape[0], -1)


def hierarchy(rhm: RHM, width: int, shared: bool = True, depth: int | None = None, *,
              readout: str = "mean", predictions: bool = False, expansion: int = 0,
              seed: int = 0, dtype: torch.dtype = torch.float32,
              device: torch.device | str = "cpu") -> Network:
    """The PRX CNN for ``rhm`` (module docstring); ``depth`` defaults to L patch layers.

    ``readout``: "mean" (PRX) reads the mean of the top layer over its positions; "dense" reads
    every position of the top layer, concatenated (z = β [h_L(1), ..., h_L(P)] / (C P)): with
    ``depth`` = L − 1 it is a linear readout of the s codes of the root's children, the same
    for every rule trained on that network.

    ``predictions``: after every ReLU layer h_l but the last (synapses ``w<l>``) a linear group
    q_l of K_l = s·C_{l−1} units at the same positions (synapses ``p<l>``, one dense map per
    position, q_l = c W_p h_l), and the next layer reads q_l instead of h_l: the network of the
    ``codepred`` rule, whose q_l learns to predict the sibling's input code (rules/codepred.py).
    The readout reads h_depth, as without them.

    ``expansion`` > 0: one more ReLU layer of that many units (synapses ``w<depth+1>``, Dense:
    it reads every position of the last hidden layer, concatenated) before the readout, which
    then reads it. Rules that keep it at its random weights (``top_layer = "frozen"``,
    ``codepred``) make it a fixed random expansion of the root's children: the conjunctions of
    the two children that a linear readout of their codes cannot form."""
    if readout not in READOUTS:
        raise impossible("network.readout", readout, "need one of " + ", ".join(READOUTS))
    width = check_int("network.width", width, 1)
    depth = rhm.L if depth is None else check_int("network.depth", depth, 1)
    if depth > rhm.L:
        raise impossible("network.depth", depth, f"need depth <= L={rhm.L}")
    gen = torch.Generator().manual_seed(int(seed))
    groups = [NeuronGroup("input", rhm.v, rhm.input_size, activation="linear")]
    synapses = []
    for layer in range(1, depth + 1):
        pre = groups[-1]
        post = NeuronGroup(f"h{layer}", width, pre.positions // rhm.s)
        synapses.append(Synapses(f"w{layer}", pre, post, Patches(rhm.s, shared), generator=gen,
                                 dtype=dtype))
        groups.append(post)
        if predictions and layer < depth:    # q_l: the prediction of a partner's input code
            code = NeuronGroup(f"q{layer}", rhm.s * pre.channels, post.positions, "linear")
            synapses.append(Synapses(f"p{layer}", post, code, Patches(1, shared),
                                     generator=gen, dtype=dtype))
            groups.append(code)
    if expansion:
        expansion = check_int("network.expansion", expansion, 1)
        top = NeuronGroup(f"h{depth + 1}", expansion, 1)
        synapses.append(Synapses(f"w{depth + 1}", groups[-1], top, Dense(), generator=gen,
                                 dtype=dtype))
        groups.append(top)
    out = NeuronGroup("output", rhm.n_classes, 1, activation="linear")
    pool = MeanPool() if readout == "mean" else Dense()
    synapses.append(Synapses("readout", groups[-1], out, pool, scale="fan_in",
                             generator=gen, dtype=dtype))
    groups.append(out)
    return Network(groups, synapses).to(device)
