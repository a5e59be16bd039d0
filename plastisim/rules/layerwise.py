r"""Layer-local self-supervised learning: pairs, the shared three-factor encoder update, readout.

Every hidden layer l learns on its own loss ℓ_l(z, z'), where z = h_l(x) and z' = h_l(x') are the
layer's rates (B, C, P) for the two members of a pair; the layer's input u_{l-1} is treated as
given (no gradient crosses layers). With a_l = c_l W_l u_{l-1} and G = B ∂ℓ/∂z (one row per
stream), the update of W_l is a three-factor product

    Δw_l = −η · c_l · (1/B) Σ_{b,p} ( G ⊙ f'(a) ) ⊗ u      (+ the same for z' when it gets a gradient)

where G — the post-synaptic signal — is what each rule defines (rules/contrastive.py,
rules/noncontrastive.py): a global modulator times a dendritic prediction (CLAPP), a softmax-
weighted prediction (InfoNCE), Hebbian / anti-Hebbian terms with running statistics (LPL,
VICReg). ``assert_rule_matches_autograd`` checks Δw = −η ∇_W ℓ for every rule.

Pairs on the RHM (docs/ssl.md), ``rule.pairs``:

* ``views``: x' = RHM.resample(x, level): same tree down to ``level``, synonyms re-drawn below
  ("lowest": level L−1, only the lowest synonyms; "matched": layer l uses level max(L−l, 1), the
  level its receptive field spans; or an integer 1..L−1). Level 0 would pair inputs by label:
  that is the supervised ``supcon`` baseline, refused here. ``views_from = "train"`` (default)
  takes the partner among the training inputs, "sampler" draws a new input (an oracle either
  way: it knows the latent tree).
* grammar-free (rules/pairings.py; only the input itself): ``siblings`` (even position ->
  the odd sibling position of the same input), ``cpc`` (position p -> p + ``cpc_offset``);
  a layer with too few positions for them uses ``top_layer``: "halves" (two dendritic
  compartments of the same neurons, one per child of the receptive field, predict each
  other) or "frozen" (it keeps its initial weights).

Training has two phases (``phases``): "local" (every layer on its own loss, simultaneously),
then "readout": the linear readout on the frozen top layer by the delta rule
Δβ = −η c_out e ⊗ h̄_L (the cross-entropy gradient of the readout alone).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..errors import impossible
from ..network import Network
from ..rhm import one_hot
from ..synapses import positions_outer, rows_times
from ..validate import (Check, check_fields, checked, fraction, integer, is_integer, nonnegative,
                        one_of, positive, random_seed)
from .base import LR_SCALES, StepContext, StepResult, cross_entropy_error
from .pairings import (PAIRS, TOP_LAYERS, Pair, half_masks, halves_pair, layer_kinds,
                       positional_pair)

VIEW_LEVELS = ("lowest", "matched")
VIEWS_FROM = ("sampler", "train")
#: "lowest", "matched" or a level "1".."L-1" (the integer is accepted: 1 -> "1"); the range is
#: checked against the RHM's L by ``view_levels``
VIEW_LEVEL = Check("'lowest', 'matched' or a level 1..L-1",
                   lambda x: x in VIEW_LEVELS or str(x).isdigit(),
                   lambda x: isinstance(x, str) or is_integer(x), convert=str)


@dataclass(frozen=True)
class LayerwiseParams:
    """Parameters shared by every layerwise self-supervised rule."""

    lr: float = checked(5.0, positive)     # chosen by readout train error (docs/results.md)
    lr_scale: str = checked("none", one_of(*LR_SCALES))   # "none": η = lr; "width": lr · width
    momentum: float = checked(0.9, fraction)
    weight_decay: float = checked(0.0, nonnegative)
    pairs: str = checked("views", one_of(*PAIRS))      # "views" | "siblings" | "cpc"
    view_level: str = checked("lowest", VIEW_LEVEL)    # "lowest" (L−1) | "matched" | "1".."L−1"
    views_from: str = checked("train", one_of(*VIEWS_FROM))   # "train": another training
    #                                       input (like for like); "sampler": RHM.resample
    cpc_offset: int = checked(1, integer(1))           # cpc: position p predicts p + cpc_offset
    top_layer: str = checked("halves", one_of(*TOP_LAYERS))   # siblings / cpc, layers with
    #                                       too few positions: "halves" | "frozen"
    readout_epochs: int = checked(200, integer(1))
    readout_lr: float = checked(1.0, positive)         # η = readout_lr · width
    seed: int = checked(0, random_seed)       # pair sampling, negatives, predictor initialisation

    def __post_init__(self) -> None:
        check_fields(self, "rule.")


def view_levels(params: LayerwiseParams, L: int, depth: int) -> list[int]:
    """The RHM level each hidden layer 1..depth resamples at (module docstring)."""
    if params.view_level == "lowest":
        levels = [L - 1] * depth
    elif params.view_level == "matched":
        levels = [max(L - l, 1) for l in range(1, depth + 1)]
    else:
        levels = [int(params.view_level)] * depth
    if any(not 1 <= level <= L - 1 for level in levels):
        level = params.view_level
        raise impossible("rule.view_level", int(level) if level.isdigit() else level,
                         f"need views at levels 1..L-1={L - 1} (level 0 pairs inputs by "
                         "their label: use the 'supcon' baseline)")
    return levels


@dataclass
class LayerwiseRule:
    """Base of the layerwise rules: pairs, forward passes, encoder update, readout phase.

    Subclasses implement ``layer_signals(l, c, t) -> (loss, G, G2, extra)``: the loss of layer
    l for the pair's rates (``Pair.rates``), G = B ∂ℓ/∂c and G2 = B ∂ℓ/∂t (None when t gets no
    gradient), and updates of the rule's own parameters (e.g. predictors) keyed by name.
    """

    params: LayerwiseParams
    phases: tuple[str, ...] = ("local", "readout")
    state: dict = field(default_factory=dict, repr=False)
    generator: torch.Generator | None = field(default=None, repr=False)
    #: random numbers of the next step drawn beforehand (an ensemble's members: ``step_draws``)
    drawn: list[Tensor] = field(default_factory=list, repr=False)

    def prepare(self, net: Network) -> None:
        """Seed the rule's generator; fix each hidden layer's pairing (``layer_kinds``) and the
        child masks of the layers paired by halves (refused where they do not apply)."""
        self.generator = torch.Generator().manual_seed(self.params.seed)
        self.state = {}
        p, hidden = self.params, list(net.synapses.values())[:-1]
        self.kinds = layer_kinds(p.pairs, p.top_layer, p.cpc_offset,
                                 [syn.post.positions for syn in hidden])
        self.masks = {l: half_masks(syn) for l, (syn, kind) in enumerate(zip(hidden, self.kinds))
                      if kind == "halves"}

    # --- pairs ----------------------------------------------------------------------------------
    def _forward_rates(self, net: Network, x: Tensor, weights: dict | None = None,
                       depth: int | None = None, keep: bool = False
                       ) -> list[tuple[Tensor, Tensor, Tensor]]:
        """(u, a, h) of the first ``depth`` hidden layers (default: all) for inputs x, without
        touching the readout.

        ``weights`` replaces the synapses' weights (autograd checks); each layer's input is
        then detached, so that a layer's loss reaches only its own weights. ``keep``: the
        groups take these drives and rates as their state (what a Monitor records).
        """
        out, h = [], x
        hidden = list(net.synapses.values())[:-1]
        for syn in hidden[:len(hidden) if depth is None else depth]:
            u = syn.unfold(h if weights is None else h.detach())
            a = syn.drive(u, None if weights is None else weights[syn.name])
            h = torch.relu(a)
            if keep and weights is None:
                syn.post.integrate(a, h)
            out.append((u, a, h))
        return out

    def pairs(self, net: Network, x: Tensor, ctx: StepContext | None,
              weights: dict | None = None) -> list[Pair | None]:
        """The ``Pair`` of every hidden layer (None: a frozen layer). Grammar-free pairings
        read x alone; only views read ``ctx`` (the RHM, the batch's latents)."""
        layers = self._forward_rates(net, x, weights, keep=True)
        if self.params.pairs == "views":
            return self._view_pairs(net, x, ctx, layers, weights)
        hidden, out = list(net.synapses.values())[:-1], []
        for l, ((u, a, h), kind) in enumerate(zip(layers, self.kinds)):
            syn = hidden[l]
            if kind == "halves":
                w = None if weights is None else weights[syn.name]
                out.append(halves_pair(syn, u, self.masks[l], w))
            elif kind in ("siblings", "cpc"):
                out.append(positional_pair(kind, u, a, h, self.params.cpc_offset))
            else:
                out.append(None)                  # "frozen"
        return out

    def _view_pairs(self, net: Network, x: Tensor, ctx: StepContext, layers: list,
                    weights: dict | None) -> list[Pair]:
        rhm = ctx.rhm
        levels = self.levels(rhm.L, len(layers))
        views: dict[int, list] = {}
        for level in sorted(set(levels)):
            # a view only travels up to the deepest layer that pairs with it
            depth = 1 + max(l for l, used in enumerate(levels) if used == level)
            x2 = one_hot(self._view(ctx, level).x, rhm.v, x.dtype).to(x.device)
            views[level] = self._forward_rates(net, x2, weights, depth)
        return [Pair("views", *layer, *views[level][l])
                for l, (layer, level) in enumerate(zip(layers, levels))]

    def _view(self, ctx: StepContext, level: int):
        """The positive partner of every row: another *training* input with the same latents
        down to ``level`` (uniform in that group, possibly the input itself; the training set
        is ``ctx.pool``, or the batch when the context has none), or a synonym re-draw below
        ``level`` by the RHM sampler (a new input)."""
        if self.params.views_from == "sampler":
            seed = int(torch.randint(2**62, (1,), generator=self.generator))
            return ctx.rhm.resample(ctx.batch, level, seed)
        if ctx.pool is None:                 # the batch is all the training data it knows
            pool, rows, groups = ctx.batch, torch.arange(len(ctx.batch)), None
        else:
            pool, rows, groups = ctx.pool, ctx.rows, self.state.get(("groups", level))
        if groups is None:                   # group the training set by its latents at `level`
            _, group = torch.unique(pool.latents[level], dim=0, return_inverse=True)
            counts = torch.bincount(group)
            groups = (group, torch.argsort(group, stable=True), torch.cumsum(counts, 0) - counts,
                      counts)
            if ctx.pool is not None:
                self.state[("groups", level)] = groups
        group, order, starts, counts = groups
        g = group[rows]
        offset = (torch.rand(len(g), generator=self.generator, dtype=torch.float64)
                  * counts[g]).long()
        return pool[order[starts[g] + offset]]

    def levels(self, L: int, depth: int) -> list[int]:
        """The RHM level of the views of each hidden layer."""
        return view_levels(self.params, L, depth)

    # --- the rule's step ------------------------------------------------------------------------
    def step(self, net: Network, x: Tensor, y: Tensor, ctx: StepContext | None = None,
             phase: str = "local") -> StepResult:
        if phase == "readout":
            return readout_step(net, x, y, None if ctx is None else ctx.fields)
        syns = list(net.synapses.values())
        updates, losses = {}, []
        for l, pair in enumerate(self.pairs(net, x, ctx)):
            if pair is None:
                continue                          # a frozen layer
            syn = syns[l]
            loss, g, g2, extra = self.layer_signals(l, *pair.rates())
            # Δw = −η c_l Σ_paths (G ⊙ f'(a)) ⊗ u
            (post, u), *more = pair.post_factors(g, g2)
            dw = syn.outer(post, u)
            for post, u in more:                  # the second data path (views, halves)
                dw.add_(syn.outer(post, u))
            updates[syn.name] = dw.mul_(-syn.scale)
            updates.update(extra)
            losses.append(loss)
        # what this step leaves unchanged (the readout; frozen layers)
        for name, t in [(syn.name, syn.w) for syn in syns] + list(self.extra_parameters().items()):
            if name not in updates:
                updates[name] = torch.zeros_like(t)
        total = torch.stack(losses).sum() if losses else torch.zeros((), dtype=x.dtype)
        return StepResult(loss=total.detach(), updates=updates)

    def step_draws(self, batch_size: int, device) -> list[Tensor]:
        """The random numbers one local step draws from ``generator``, in order (none here)."""
        return []

    def layer_signals(self, l: int, z: Tensor, z2: Tensor):
        raise NotImplementedError

    def layer_loss(self, l: int, z: Tensor, z2: Tensor) -> Tensor:
        """ℓ_l(z, z') as a differentiable function, drawing the same randomness and reading
        the same state as ``layer_signals`` (used by plastisim.testing)."""
        raise NotImplementedError

    def extra_parameters(self) -> dict[str, Tensor]:
        """The rule's own learned tensors (predictors), updated with the weights."""
        return {}


def channel_map(W: Tensor, x: Tensor) -> Tensor:
    """Σ_j W_ij x_{b,j,p}: a C × C map of every stream and position (a predictor's dendritic
    input), (B, C, P), stored positions-major like the rates (synapses.py)."""
    return rows_times(x.transpose(1, 2), W.T).transpose(1, 2)


def channel_outer(a: Tensor, x: Tensor) -> Tensor:
    """Σ_{b,p} a_{b,i,p} x_{b,j,p} (C_a, C_x): the Hebbian product of two populations."""
    return positions_outer(a, x.transpose(1, 2))


def readout_step(net: Network, x: Tensor, y: Tensor, fields: Tensor | None = None
                 ) -> StepResult:
    """The delta rule on the readout only: Δβ = −η c e ⊗ h̄_L, e = softmax(z) − onehot(y).

    ``fields`` (B, 1, C): the readout's receptive fields h̄_L of the rows of x when the layers
    below are frozen and the training loop has computed them once; else a forward pass.
    """
    readout = net.synapses["readout"]
    if fields is None:
        logits = net.forward(x)
        fields = readout.fields
    else:
        logits = readout.drive(fields).reshape(x.shape[0], -1)
    loss, e = cross_entropy_error(logits, y)
    dw = -readout.scale * readout.outer(e.unsqueeze(-1), fields)
    return StepResult(loss=loss.detach(), updates={"readout": dw}, logits=logits.detach())
