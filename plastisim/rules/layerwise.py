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
  way: it knows the latent tree). The partners are drawn by ``draw`` (which needs the RHM,
  the training set and the batch's rows: ``DrawContext.rhm``, ``.pool``, ``.rows``).
* grammar-free (rules/pairings.py; only the input itself): ``siblings`` (even position ->
  the odd sibling position of the same input), ``cpc`` (position p -> p + ``cpc_offset``);
  a layer with too few positions for them uses ``top_layer``: "halves" (two dendritic
  compartments of the same neurons, one per child of the receptive field, predict each
  other) or "frozen" (it keeps its initial weights).

Training has two phases (``phases``): "local" (every layer on its own loss, simultaneously,
``schedule = "together"``; or ``"greedy"``: the phase's epochs split into equal segments, one
per trained layer from the bottom up, and only that layer and its learned tensors change in
its segment, as in Greedy InfoMax, Löwe et al. 2019), then "readout": the linear readout on
the frozen top layer by the delta rule Δβ = −η c_out e ⊗ h̄_L (the cross-entropy gradient of
the readout alone).

The contract is rules/base.py's: ``init(net)`` seeds the rule's generator and draws its learned
tensors (predictors, ``state.learned["pred<l>"]``); ``draw(ctx)`` takes one step's random
numbers on the host (views: the partner inputs ``"view<level>"``, one-hot (B, v, S); CLAPP:
the pair signs ``"sign<l>"``); ``step`` and ``loss`` are pure functions of the weights, the
state (LPL's traces are ``state.running``) and the draws, for ``torch.func.vmap`` over members
and ``torch.compile``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError, impossible
from ..network import Network, layers
from ..rhm import one_hot
from ..synapses import positions_outer, rows_times
from ..validate import (Check, check_fields, checked, fraction, integer, is_integer, nonnegative,
                        text,
                        one_of, positive, random_seed)
from .base import (LR_SCALES, Batch, DrawContext, RuleObject, RuleState, StepResult,
                   factor_signals,
                   cross_entropy_error)
from .pairings import (PAIRS, TOP_LAYERS, Pair, half_masks, halves_pair, layer_kinds,
                       positional_pair)

VIEW_LEVELS = ("lowest", "matched")
UPDATE_NORMS = ("none", "layer")
SCHEDULES = ("together", "greedy")
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
    update_norm: str = checked("none", one_of(*UPDATE_NORMS))  # "layer": Δ / running RMS(Δ)
    tau_norm: float = checked(100.0, positive)         # steps of that running mean square
    layer_decay: str = checked("", text)      # "0.5,0.1,0": synaptic decay λ_l per hidden layer
    schedule: str = checked("together", one_of(*SCHEDULES))  # "greedy": one layer at a time

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
class LayerwiseRule(RuleObject):
    """Base of the layerwise rules: pairs, forward passes, encoder update, readout phase.

    ``init`` seeds the rule's generator (``params.seed``: views, CLAPP's pair signs, the
    predictors' initialisation) and fixes each hidden layer's pairing (``kinds``); ``draw``
    takes a step's random numbers from that generator (the partner inputs of views, CLAPP's
    signs); ``step`` and ``loss`` are pure (rules/base.py).

    Subclasses implement ``layer_signals(l, c, t, state, draws) -> (loss, G, G2, learned,
    running)``: the loss of layer l for the pair's rates (``Pair.rates``), G = B ∂ℓ/∂c and
    G2 = B ∂ℓ/∂t (None when t gets no gradient), the update directions of the rule's learned
    tensors of that layer (e.g. its predictor) and its new running state, keyed by name,
    optionally followed by a dict of extras (``{"gamma": (B, P_pairs)}``: a global scalar
    modulator of each pair, recorded with the factors); and
    ``layer_loss(l, c, t, state, draws)``: ℓ_l as a differentiable function of the same
    arguments (its −∇ is what ``layer_signals`` gives).
    """

    params: LayerwiseParams
    phases = ("local", "readout")
    # host-side configuration, set by ``init`` (not dataclass fields)
    generator = None          # torch.Generator of the rule's draws
    kinds = ()                # each hidden layer's pairing (``layer_kinds``)
    depth = 0                 # the number of hidden layers

    def init(self, net: Network) -> RuleState:
        """Seed the rule's generator; fix each hidden layer's pairing (``layer_kinds``),
        refusing the halves where they do not apply. No tensors of its own here (subclasses
        add their predictors)."""
        self.generator = torch.Generator().manual_seed(self.params.seed)
        self._groups = {}                 # views from the training set: its grouping by level
        p, hidden = self.params, list(net.synapses.values())[:-1]
        self.depth = len(hidden)
        self.kinds = tuple(layer_kinds(p.pairs, p.top_layer, p.cpc_offset,
                                       [syn.post.positions for syn in hidden]))
        if p.schedule == "greedy" and p.update_norm != "none":
            raise impossible("rule.schedule", "greedy", "with rule.update_norm = "
                             f"'{p.update_norm}': a layer's running update size is undefined "
                             "while it waits for its segment; use update_norm = 'none'")
        for syn, kind in zip(hidden, self.kinds):
            if kind == "halves":
                half_masks(syn)           # a one-line ConfigError without two children
        return RuleState()

    # --- draws (host side) ----------------------------------------------------------------------
    def draw(self, ctx: DrawContext, phase: str = "local") -> dict[str, Tensor]:
        """The random numbers of one local step, from ``generator`` in the order the rule has
        always drawn them: the partner inputs of views, one level at a time (``"view<level>"``,
        one-hot (B, v, S) in ``ctx.dtype`` on ``ctx.device``), then the rule's own
        (``rule_draws``). The readout phase draws nothing."""
        if phase == "readout":
            return {}
        draws = {}
        if self.params.pairs == "views":
            rhm = _needed(ctx, "rhm")
            for level in sorted(set(self.levels(rhm.L, self.depth))):
                draws[f"view{level}"] = one_hot(self.partners(ctx, level).x, rhm.v,
                                                ctx.dtype).to(ctx.device)
        draws.update(self.rule_draws(ctx))
        if self.params.schedule == "greedy":
            draws["active"] = self.active_layers(ctx).to(device=ctx.device, dtype=ctx.dtype)
        return draws

    def active_layers(self, ctx: DrawContext) -> Tensor:
        """``schedule = "greedy"``: 1 for the one trained layer whose segment of the phase
        ``ctx.progress`` falls in, 0 for the others, (depth,): trained layer j of n (frozen
        layers skipped) learns while j/n ≤ progress < (j+1)/n."""
        if ctx.progress is None:
            raise ConfigError("rule.schedule='greedy' needs the phase's progress in the draw "
                              "context (DrawContext.progress)")
        trained = [l for l, kind in enumerate(self.kinds) if kind != "frozen"]
        current = trained[min(int(ctx.progress * len(trained)), len(trained) - 1)]
        return torch.tensor([float(l == current) for l in range(self.depth)],
                            dtype=torch.float64)

    def rule_draws(self, ctx: DrawContext) -> dict[str, Tensor]:
        """The rule's own random numbers of a step, after the views (none here)."""
        return {}

    def partners(self, ctx: DrawContext, level: int):
        """The positive partner (an RHMBatch) of every row of the batch: another *training*
        input with the same latents down to ``level`` (uniform in that group, possibly the
        input itself; the training set is ``ctx.pool``, the batch its rows ``ctx.rows``), or
        a synonym re-draw below ``level`` by the RHM sampler (a new input)."""
        pool, rows = _needed(ctx, "pool"), _needed(ctx, "rows")
        if self.params.views_from == "sampler":
            seed = int(torch.randint(2**62, (1,), generator=self.generator))
            return ctx.rhm.resample(pool[rows], level, seed)
        cached = self._groups.get(level)
        if cached is None or cached[0] is not pool:      # group the training set by its
            _, group = torch.unique(pool.latents[level], dim=0, return_inverse=True)  # latents
            counts = torch.bincount(group)
            cached = (pool, (group, torch.argsort(group, stable=True),
                             torch.cumsum(counts, 0) - counts, counts))
            self._groups[level] = cached
        group, order, starts, counts = cached[1]
        g = group[rows]
        offset = (torch.rand(len(g), generator=self.generator, dtype=torch.float64)
                  * counts[g]).long()
        return pool[order[starts[g] + offset]]

    def levels(self, L: int, depth: int) -> list[int]:
        """The RHM level of the views of each hidden layer."""
        return view_levels(self.params, L, depth)

    # --- pairs (pure) ---------------------------------------------------------------------------
    def pairs(self, net: Network, weights: dict[str, Tensor], x: Tensor,
              draws: dict[str, Tensor], detach: bool = False) -> list[Pair | None]:
        """The ``Pair`` of every hidden layer for inputs x (None: a frozen layer). Grammar-free
        pairings read x alone; views read their partner inputs in ``draws``. ``detach``: every
        layer's input is detached (a layer's loss reaches only its own weights)."""
        fwd = layers(net, weights, x, len(net.synapses) - 1, detach)
        return self._pairs(net, weights, fwd, draws, detach)

    def _pairs(self, net: Network, weights: dict[str, Tensor], fwd: list,
               draws: dict[str, Tensor], detach: bool) -> list[Pair | None]:
        if self.params.pairs == "views":
            return self._view_pairs(net, weights, fwd, draws, detach)
        hidden, out = list(net.synapses.values())[:-1], []
        for syn, (u, a, h), kind in zip(hidden, fwd, self.kinds):
            if kind == "halves":
                out.append(halves_pair(syn, u, weights[syn.name]))
            elif kind in ("siblings", "cpc"):
                out.append(positional_pair(kind, u, a, h, self.params.cpc_offset))
            else:
                out.append(None)                  # "frozen"
        return out

    def _view_pairs(self, net: Network, weights: dict[str, Tensor], fwd: list,
                    draws: dict[str, Tensor], detach: bool) -> list[Pair]:
        """Layer l pairs x with the partner input of its level, ``draws["view<level>"]``.

        Which level each layer uses is ``levels(L, depth)``, with L = 1 + the largest level
        drawn: "lowest" and "matched" draw level L − 1 (layer 1's), and a fixed level (an
        integer; 0 for supcon) does not depend on L."""
        drawn = [int(k[4:]) for k in draws if k.startswith("view") and k[4:].isdigit()]
        if not drawn:
            raise ConfigError("rule.pairs='views' needs the partner inputs of rule.draw(ctx) "
                              "in the step's draws")
        levels = self.levels(max(drawn) + 1, len(fwd))
        views: dict[int, list] = {}
        for level in sorted(set(levels)):
            # a view only travels up to the deepest layer that pairs with it
            depth = 1 + max(l for l, used in enumerate(levels) if used == level)
            views[level] = layers(net, weights, draws[f"view{level}"], depth, detach)
        return [Pair("views", *layer, *views[level][l])
                for l, (layer, level) in enumerate(zip(fwd, levels))]

    # --- the rule's step and loss (pure) --------------------------------------------------------
    def step(self, net: Network, weights: dict[str, Tensor], state: RuleState, batch: Batch,
             draws: dict[str, Tensor], phase: str = "local") -> StepResult:
        """Local phase: every trained layer's three-factor update (zeros for frozen layers and
        their learned tensors), the learned tensors' updates, the new running state, the
        hidden rates of x as signals; readout phase: ``readout_step``."""
        if phase == "readout":
            return readout_step(net, weights, batch)
        hidden = list(net.synapses.values())[:-1]
        fwd = layers(net, weights, batch.x, len(hidden))
        updates, losses, running, signals = {}, [], {}, {}
        for l, (syn, pair) in enumerate(zip(hidden, self._pairs(net, weights, fwd, draws,
                                                                False))):
            if pair is None:
                continue                          # a frozen layer
            loss, g, g2, learned, new, *extra = self.layer_signals(
                l, *self.layer_inputs(pair), state, draws)
            if "active" in draws:                 # greedy: only this segment's layer learns
                on = draws["active"][l]
                g, g2 = g * on, None if g2 is None else g2 * on
                learned = {k: v * on for k, v in learned.items()}
            # Δw = −η c_l Σ_paths (G ⊙ f'(a)) ⊗ u
            paths = pair.factors(g, g2)
            dw = syn.outer(paths[0][0] * paths[0][1], paths[0][2])
            for G, gate, u, _ in paths[1:]:       # the second data path (views, halves)
                dw = dw + syn.outer(G * gate, u)
            updates[syn.name] = dw * -syn.scale
            gamma = extra[0].get("gamma") if extra else None
            signals.update(factor_signals(
                syn.name, [((G * -syn.scale).transpose(1, 2), gate.transpose(1, 2), u,
                            z.transpose(1, 2)) for G, gate, u, z in paths],
                None if gamma is None else pair.positions(gamma)))
            updates.update(learned)
            running.update(new)
            losses.append(loss)
        if self.params.update_norm == "layer":
            updates, gains = layer_gains(updates, state.running, self.params.tau_norm)
            running.update(gains)
            for name in [k[2:] for k in signals if k.startswith("M:")]:   # the same gain
                signals[f"M:{name}"] = signals[f"M:{name}"] / (gains[f"ms_{name}"] + 1e-30).sqrt()
        for l, (syn, decay) in enumerate(zip(hidden, layer_decays(self.params, len(hidden)))):
            if decay and syn.name in updates:     # Δw_l −= λ_l w_l, after any gain
                on = draws["active"][l] if "active" in draws else 1.0
                updates[syn.name] = updates[syn.name] - on * decay * weights[syn.name]
        # what this step leaves unchanged (frozen layers and their learned tensors)
        for name, t in [(syn.name, weights[syn.name]) for syn in hidden] + \
                list(state.learned.items()):
            if name not in updates:
                updates[name] = torch.zeros_like(t)
        total = torch.stack(losses).sum() if losses else \
            torch.zeros((), dtype=batch.x.dtype, device=batch.x.device)
        rates = {f"rate:{syn.post.name}": h for syn, (_, _, h) in zip(hidden, fwd)}
        return StepResult(loss=total.detach(), updates=updates, running=running,
                          signals={**rates, **signals})

    def loss(self, net: Network, weights: dict[str, Tensor], state: RuleState, batch: Batch,
             draws: dict[str, Tensor], phase: str = "local") -> Tensor:
        """Σ_l ℓ_l over the trained layers, every layer's input detached (local phase), or the
        readout's cross-entropy on the frozen layers' output (readout phase): the loss whose
        −∇ the step's updates equal."""
        if phase == "readout":
            return readout_loss(net, weights, batch)
        total = torch.zeros((), dtype=batch.x.dtype, device=batch.x.device)
        hidden = list(net.synapses.values())[:-1]
        decays = layer_decays(self.params, len(hidden))
        for l, pair in enumerate(self.pairs(net, weights, batch.x, draws, detach=True)):
            if pair is not None:                  # None: a frozen layer
                layer = self.layer_loss(l, *self.layer_inputs(pair), state, draws) + \
                    decays[l] / 2 * weights[hidden[l].name].square().sum()
                total = total + (draws["active"][l] * layer if "active" in draws else layer)
        return total

    def layer_inputs(self, pair: Pair) -> tuple[Tensor, ...]:
        """What ``layer_signals`` and ``layer_loss`` get of a pair: its rates (c, t)."""
        return pair.rates()

    def layer_signals(self, l: int, c: Tensor, t: Tensor, state: RuleState,
                      draws: dict[str, Tensor]):
        raise NotImplementedError

    def layer_loss(self, l: int, c: Tensor, t: Tensor, state: RuleState,
                   draws: dict[str, Tensor]) -> Tensor:
        """ℓ_l(c, t) as a differentiable function, reading the same draws and state as
        ``layer_signals``."""
        raise NotImplementedError


def layer_decays(params: LayerwiseParams, depth: int) -> list[float]:
    """λ_l of every hidden layer from ``layer_decay`` ("" : none; "0.5,0.1,0": one number per
    layer, each >= 0): the synaptic decay Δw_l −= λ_l w_l of the trained layers, the −∇ of
    (λ_l/2)‖w_l‖² added to ℓ_l. It is applied after ``update_norm``'s gain, so that with
    "layer" the decay is decoupled from the rule's step size (as AdamW's); a one-line
    ConfigError for another count or a negative number."""
    if not params.layer_decay:
        return [0.0] * depth
    try:
        values = [float(v) for v in params.layer_decay.split(",")]
    except ValueError:
        values = []
    if len(values) != depth or any(not 0 <= v < math.inf for v in values):
        raise impossible("rule.layer_decay", params.layer_decay,
                         f"need {depth} numbers >= 0 separated by commas (one per hidden layer)")
    return values


def running_average(running: dict[str, Tensor], key: str, value: Tensor, tau: float
                    ) -> tuple[Tensor, Tensor]:
    """(m, m') of the running average stored under ``key`` before and after this step,
    m' = m + (1 − e^{−1/τ})(value − m), τ in steps; m = value when nothing is stored yet (the
    first step). A neuron's trace, constant for the gradient: ``value`` comes detached."""
    previous = running.get(key, value)
    return previous, previous + (1 - math.exp(-1 / tau)) * (value - previous)


def layer_gains(updates: dict[str, Tensor], running: dict[str, Tensor], tau: float
                ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Every update divided by the running root mean square of its own entries
    (``update_norm = "layer"``): with m ← m + (1 − e^{−1/τ})(mean(Δ²) − m) (initialised at the
    first step's mean(Δ²); the key "ms_<name>"),

        Δ_l ← Δ_l / sqrt(m_l + 10⁻³⁰)

    one positive gain per projection and per predictor: the direction of each tensor's update
    is the rule's, its size a per-layer (per-area) factor, not a per-synapse one. Returns the
    scaled updates and the new mean squares."""
    scaled, new = {}, {}
    for name, dw in updates.items():
        _, new[f"ms_{name}"] = running_average(running, f"ms_{name}", dw.square().mean(), tau)
        scaled[name] = dw / (new[f"ms_{name}"] + 1e-30).sqrt()
    return scaled, new


def _needed(ctx: DrawContext, name: str):
    """``ctx.<name>``; a one-line ConfigError when views cannot be drawn without it."""
    value = getattr(ctx, name)
    if value is None:
        raise ConfigError(f"rule.pairs='views' needs the training set: the draw context has "
                          f"no {name} (DrawContext.rhm, .pool and .rows)")
    return value


def channel_map(W: Tensor, x: Tensor) -> Tensor:
    """Σ_j W_ij x_{b,j,p}: a C × C map of every stream and position (a predictor's dendritic
    input), (B, C, P), stored positions-major like the rates (synapses.py)."""
    return rows_times(x.transpose(1, 2), W.T).transpose(1, 2)


def channel_outer(a: Tensor, x: Tensor) -> Tensor:
    """Σ_{b,p} a_{b,i,p} x_{b,j,p} (C_a, C_x): the Hebbian product of two populations."""
    return positions_outer(a, x.transpose(1, 2))


def readout_step(net: Network, weights: dict[str, Tensor], batch: Batch) -> StepResult:
    """The delta rule on the readout only: Δβ = −η c e ⊗ h̄_L, e = softmax(z) − onehot(y).

    ``batch.fields`` (B, 1, C): the readout's receptive fields h̄_L of the rows of x when the
    layers below are frozen and the training loop has computed them once; else a forward pass
    (whose hidden rates come back as signals).
    """
    readout, B = net.synapses["readout"], batch.x.shape[0]
    rates = {}
    if batch.fields is None:
        fwd = layers(net, weights, batch.x)
        fields, logits = fwd[-1][0], fwd[-1][1].reshape(B, -1)
        rates = {f"rate:{syn.post.name}": h
                 for syn, (_, _, h) in zip(list(net.synapses.values())[:-1], fwd)}
    else:
        fields = batch.fields
        logits = readout.drive(fields, weights["readout"]).reshape(B, -1)
    loss, e = cross_entropy_error(logits, batch.y)
    dw = -readout.scale * readout.outer(e.unsqueeze(-1), fields)
    factors = factor_signals("readout", [(e.unsqueeze(1) * -readout.scale,
                                          torch.ones_like(e).unsqueeze(1), fields,
                                          logits.detach().unsqueeze(1))])
    return StepResult(loss=loss.detach(), updates={"readout": dw},
                      signals={"logits": logits.detach(), **rates, **factors})


def readout_loss(net: Network, weights: dict[str, Tensor], batch: Batch) -> Tensor:
    """The cross-entropy of the readout on the frozen h̄_L (``batch.fields`` or a forward pass
    with every layer's input detached): −∇_β of it is ``readout_step``'s update."""
    readout = net.synapses["readout"]
    if batch.fields is None:
        fields = layers(net, weights, batch.x, detach=True)[-1][0]
    else:
        fields = batch.fields
    logits = readout.drive(fields.detach(), weights["readout"]).reshape(batch.x.shape[0], -1)
    return cross_entropy_error(logits, batch.y)[0]
