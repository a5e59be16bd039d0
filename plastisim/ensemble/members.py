r"""E networks as one: every tensor of the members stacked along one leading *member* axis E.

An ``Ensemble`` holds, for E independent members that share an architecture and a rule,

    weights   w  (E, C_post, K)          (E, P_post, C_post, K) when not shared
    rule      feedback B / D_l, predictors W_p, running statistics (LPL)   (E, ...)
    data      x  (E, n, v, S), y (E, n)  each member its own training and test set

and runs one step of all members as the single-network step mapped over that axis
(``torch.func.vmap``): the drive, the transpose and the outer product of each projection become
batched matrix products, while the code of the network and of the rules is the one a single
network runs, with the shapes written in its comments. Member i's weights stay visible as an
ordinary ``Network`` (``nets[i]``, whose weights are views of the stacked tensors) and its rule
as ``rules[i]``, so that evaluation, recording and everything downstream of training see each
member as an independent run.

Randomness: a rule that draws random numbers during a step (CLAPP's pair signs) draws them from
each member's own generator before the batched step (``rule.step_draws``) and the batched step
consumes them (``rule.drawn``): each member keeps its own random stream.
"""
from __future__ import annotations

import copy

import torch
from torch import Tensor
from torch.func import vmap
from torch.utils._pytree import tree_map

from ..errors import ConfigError
from ..network import Network
from ..rules.base import StepContext

#: config keys in which the members of one ensemble may differ
MEMBER_KEYS: tuple[str, ...] = ("rhm.seed", "network.seed", "train.seed", "train.data_seed",
                                "rule.seed", "rule.feedback_seed", "rule.lr", "rule.readout_lr")
#: rule parameters in which members may differ (the rule part of ``MEMBER_KEYS``)
MEMBER_PARAMS = tuple(key.split(".")[1] for key in MEMBER_KEYS if key.startswith("rule."))
#: a rule's tensors that belong to one member (fixed or learned), stacked along E
RULE_TENSORS = ("feedback", "predictors", "state")


def check_members(nets: list[Network], rules: list) -> None:
    """One-line ConfigErrors unless the members can run as one ensemble: one rule with the same
    parameters except ``MEMBER_PARAMS``, networks of the same shapes, dtype and device, and a
    grammar-free pairing (views draw partners from each member's own training set)."""
    if not nets or len(nets) != len(rules):
        raise ConfigError(f"an ensemble needs one rule per network and at least one member; got "
                          f"{len(nets)} networks and {len(rules)} rules")
    first = rules[0]
    common = {k: v for k, v in vars(first.params).items() if k not in MEMBER_PARAMS}
    for i, (net, rule) in enumerate(zip(nets, rules)):
        if type(rule) is not type(first) or _variant(rule) != _variant(first):
            raise ConfigError(f"ensemble member {i} has another rule than member 0; members "
                              "may differ only in " + ", ".join(MEMBER_KEYS))
        differ = sorted(k for k, v in vars(rule.params).items()
                        if k not in MEMBER_PARAMS and common.get(k) != v)
        if differ:
            raise ConfigError(f"ensemble member {i}: rule.{differ[0]} differs from member 0; "
                              "members may differ only in " + ", ".join(MEMBER_KEYS))
        shapes = [(k, tuple(w.shape), w.dtype, w.device) for k, w in net.weights().items()]
        if shapes != [(k, tuple(w.shape), w.dtype, w.device)
                      for k, w in nets[0].weights().items()]:
            raise ConfigError(f"ensemble member {i} has another architecture, dtype or device "
                              "than member 0")
    if getattr(first.params, "pairs", None) == "views":
        raise ConfigError("rule.pairs='views' cannot run in an ensemble: each member draws its "
                          "partners from its own training set; run these points one by one")


def _variant(rule) -> dict:
    """What makes a rule object this rule and not another of its class (bp / bp_nomask: the
    masks; dfa / sdfa: the error signal; clapp / clapp_s: the kind): its plain attributes."""
    return {k: v for k, v in vars(rule).items()
            if k != "params" and isinstance(v, (str, bool, int, float, tuple))}


class Ensemble:
    """E prepared members (``nets[i]``, ``rules[i]``) stacked along the member axis."""

    def __init__(self, nets: list[Network], rules: list):
        check_members(nets, rules)
        self.nets, self.rules, self.size = nets, rules, len(nets)
        self.ids = list(range(len(nets)))     # each position's index among the members given
        # the template runs the batched step; the members' own objects are never batched
        self.net, self.rule = copy.deepcopy(nets[0]), copy.deepcopy(rules[0])
        self.weights = {name: torch.stack([net.synapses[name].w for net in nets])
                        for name in nets[0].synapses}                      # (E, *w.shape)
        present = [a for a in RULE_TENSORS if isinstance(getattr(self.rule, a, None), dict)]
        self.tensors = tree_map(lambda *ts: torch.stack(ts),
                                *[{a: getattr(rule, a) for a in present} for rule in rules])
        self._share()

    def _share(self) -> None:
        """Point every member's network and rule at its slices (views) of the stacks."""
        for i, net in enumerate(self.nets):
            for name, syn in net.synapses.items():
                syn.w = self.weights[name][i]
        self._unstack_into_rules(self.tensors)

    def retain(self, keep: list[int]) -> None:
        """Go on with members ``keep`` (positions in this ensemble) only: the others get their
        own copies of their tensors and leave the batched computation (a stopped member
        costs nothing any more)."""
        for i in sorted(set(range(self.size)) - set(keep)):
            for name, syn in self.nets[i].synapses.items():
                syn.w = syn.w.clone()
            for attr in self.tensors:
                setattr(self.rules[i], attr, tree_map(torch.clone, getattr(self.rules[i], attr)))
        index = torch.tensor(keep, device=self.nets[0].device)
        self.nets = [self.nets[i] for i in keep]
        self.rules = [self.rules[i] for i in keep]
        self.ids = [self.ids[i] for i in keep]
        self.size = len(keep)
        self.weights = {name: w[index] for name, w in self.weights.items()}
        self.tensors = tree_map(lambda t: t[index], self.tensors)
        self._share()

    # --- the rules' own tensors ------------------------------------------------------------
    def _unstack_into_rules(self, stacked: dict) -> None:
        """Give every member's rule its slices (views) of the stacked tensors."""
        for i, rule in enumerate(self.rules):
            for attr, tree in stacked.items():
                setattr(rule, attr, tree_map(lambda t: t[i], tree))

    def learned(self, phase: str) -> dict[str, Tensor]:
        """The stacked tensors a phase updates (``train._phase_parameters``): weights, and the
        rule's predictors in the local phase."""
        if phase == "readout":
            return {"readout": self.weights["readout"]}
        out = dict(self.weights)
        if phase == "local":
            del out["readout"]
            out.update(self.tensors.get("predictors", {}))
        return out

    # --- one batched step --------------------------------------------------------------------
    def step(self, x: Tensor, y: Tensor, phase: str, fields: Tensor | None = None,
             rates: bool = False):
        """One step of every member on its rows x (E, B, v, S), y (E, B); ``fields`` (E, B, 1, C)
        the readout's receptive fields in the readout phase; ``rates``: give every member's
        groups the rates of this step (for a Monitor). Returns (loss (E,), updates
        {name: (E, *w.shape)}); the rules' running state is kept."""
        draws = [torch.stack(d) for d in zip(*(
            rule.step_draws(x.shape[1], x.device) for rule in self.rules))] \
            if phase == "local" and hasattr(self.rule, "step_draws") else []
        args = (self.weights, self.tensors, draws, x, y)

        def member(weights, tensors, drawn, x, y, fields):
            self._install(weights, tensors, list(drawn))
            if phase == "joint":
                step = self.rule.step(self.net, x, y)
            else:
                step = self.rule.step(self.net, x, y, StepContext(fields=fields), phase)
            kept = {g: group.rate for g, group in self.net.groups.items()
                    if rates and group.rate is not None}
            return step.loss, step.updates, {a: getattr(self.rule, a) for a in tensors}, kept

        in_dims = (0, 0, 0, 0, 0, None if fields is None else 0)
        try:
            loss, updates, tensors, kept = vmap(member, in_dims=in_dims)(*args, fields)
        finally:
            self._release()
        if "state" in tensors:                 # running statistics: rebound by the step
            self.tensors["state"] = tensors["state"]
            self._unstack_into_rules({"state": tensors["state"]})
        for p, net in enumerate(self.nets):
            for name, rate in kept.items():
                net.groups[name].rate = rate[p]
        return loss, updates

    def _install(self, weights: dict, tensors: dict, drawn: list) -> None:
        for name, syn in self.net.synapses.items():
            syn.w = weights[name]
        for attr, value in tensors.items():
            setattr(self.rule, attr, value)
        if hasattr(self.rule, "drawn"):
            self.rule.drawn = drawn

    def _release(self) -> None:
        """Drop every batched tensor the template keeps after a mapped call."""
        for syn in self.net.synapses.values():
            syn.w, syn.fields = None, None
        for group in self.net.groups.values():
            group.reset()
        for attr in RULE_TENSORS:
            if isinstance(getattr(self.rule, attr, None), dict):
                setattr(self.rule, attr, {})
        if hasattr(self.rule, "drawn"):
            self.rule.drawn = []

    # --- evaluation ------------------------------------------------------------------------
    @torch.no_grad()
    def map_network(self, read, x: Tensor, batch_size: int = 4096) -> list:
        """``read(net, logits)`` after a forward pass of every member on its inputs x (E, n, v, S),
        in chunks of ``batch_size`` rows; returns the chunks' results, each (E, ...)."""
        out = []
        for i in range(0, x.shape[1], batch_size):
            def member(weights, x):
                self._install(weights, {}, [])
                return read(self.net, self.net.forward(x))
            try:
                out.append(vmap(member)(self.weights, x[:, i:i + batch_size]))
            finally:
                self._release()
        return out

    def errors(self, x: Tensor, y: Tensor) -> Tensor:
        """Fraction of misclassified inputs of every member (E,), float64 (``test_error``)."""
        if x.shape[1] == 0:
            return torch.full((self.size,), float("nan"), dtype=torch.float64)
        predicted = torch.cat(self.map_network(lambda net, z: z.argmax(-1), x), dim=1)
        return (predicted != y).double().mean(1)

    def readout_fields(self, x: Tensor) -> Tensor:
        """h̄_L (E, n, 1, C) of every member's inputs (the frozen layers of the readout phase)."""
        return torch.cat(self.map_network(
            lambda net, z: net.synapses["readout"].fields, x), dim=1)

