r"""E networks trained as one: their tensors in the layout of the step, and each one's view.

For E > 1 members that share an architecture and a rule, every tensor carries one leading
*member* axis,

    weights   w  (E, C_post, K)          (E, P_post, C_post, K) when not shared
    rule      state.learned / fixed / running (predictors, feedback B and D_l, statistics)
    data      x  (E, n, v, S), y (E, n)  each member its own training and test set

and the step is mapped over that axis (``plastisim.engine``); one member keeps its tensors as
they are. Member i stays an ordinary ``Network`` and rule object (``nets[i]``, ``rules[i]``):
``share`` points their weights and state at the member's slices, so that evaluation,
recording and everything downstream see each member as an independent run.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.func import vmap
from torch.utils._pytree import tree_map

from .errors import ConfigError
from .metrics import readout_fields, test_error
from .network import Network, layers, logits

#: config keys in which the members of one ensemble may differ
MEMBER_KEYS: tuple[str, ...] = ("rhm.seed", "network.seed", "train.seed", "train.data_seed",
                                "rule.seed", "rule.feedback_seed", "rule.lr", "rule.readout_lr")
#: rule parameters in which members may differ (the rule part of ``MEMBER_KEYS``)
MEMBER_PARAMS = tuple(key.split(".")[1] for key in MEMBER_KEYS if key.startswith("rule."))


def check_members(nets: list[Network], rules: list) -> None:
    """One-line ConfigErrors unless the members can train as one: one rule with the same
    parameters except ``MEMBER_PARAMS``, networks of the same shapes, dtype and device."""
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


def _variant(rule) -> dict:
    """What makes a rule object this rule and not another of its class (bp / bp_nomask: the
    masks; dfa / sdfa: the error signal; clapp / clapp_s: the kind): its plain attributes."""
    return {k: v for k, v in vars(rule).items()
            if k != "params" and isinstance(v, (str, bool, int, float))}


class Members:
    """E prepared members (``nets[i]``, ``rules[i]``) and their tensors in the step's layout:
    stacked along the member axis when ``stacked`` (E > 1), as they are for one member."""

    def __init__(self, nets: list[Network], rules: list):
        check_members(nets, rules)
        self.nets, self.rules = list(nets), list(rules)
        self.ids = list(range(len(nets)))     # each position's index among the members given
        self.stacked = len(nets) > 1
        self.weights = self.stack([net.weights() for net in nets])
        self.state = self.stack([rule.state for rule in rules])

    @property
    def size(self) -> int:
        return len(self.ids)

    def stack(self, trees: list):
        """One tree of the members' trees in the step's layout."""
        return tree_map(lambda *ts: torch.stack(ts), *trees) if self.stacked else trees[0]

    def member(self, tree, p: int):
        """Position p's part of a tree in the step's layout."""
        return tree_map(lambda t: t[p], tree) if self.stacked else tree

    def share(self) -> None:
        """Point every member's network and rule at its part (views) of the tensors."""
        for p, (net, rule) in enumerate(zip(self.nets, self.rules)):
            weights = self.member(self.weights, p)
            for name, syn in net.synapses.items():
                syn.w = weights[name]
            rule.state = self.member(self.state, p)

    def take(self, tree, keep: list[int]):
        """The members ``keep`` (positions) of a stacked tree."""
        index = torch.tensor(keep, device=self.nets[0].device)
        return tree_map(lambda t: t.index_select(0, index.to(t.device)), tree)

    def retain(self, keep: list[int]) -> None:
        """Go on with the members at positions ``keep`` only; the others keep their own copies
        of their tensors and leave the batched computation."""
        self.share()
        for p in sorted(set(range(self.size)) - set(keep)):
            net, rule = self.nets[p], self.rules[p]
            for syn in net.synapses.values():
                syn.w = syn.w.clone()
            rule.state = tree_map(torch.clone, rule.state)
        self.weights, self.state = self.take((self.weights, self.state), keep)
        self.nets = [self.nets[p] for p in keep]
        self.rules = [self.rules[p] for p in keep]
        self.ids = [self.ids[p] for p in keep]

    # --- evaluation ------------------------------------------------------------------------
    @torch.no_grad()
    def errors(self, x: Tensor, y: Tensor, batch_size: int = 4096) -> list[float]:
        """Fraction of misclassified inputs of every member, as ``metrics.test_error``."""
        if not self.stacked:
            self.share()
            return [test_error(self.nets[0], x, y, batch_size)]
        if x.shape[1] == 0:
            return [float("nan")] * self.size
        net = self.nets[0]
        mapped = vmap(lambda w, x: logits(net, w, x).argmax(-1))
        predicted = torch.cat([mapped(self.weights, x[:, i:i + batch_size])
                               for i in range(0, x.shape[1], batch_size)], dim=1)
        return (predicted != y).double().mean(1).tolist()

    @torch.no_grad()
    def readout_fields(self, x: Tensor, batch_size: int = 4096) -> Tensor:
        """h̄_L (E, n, 1, C) of every member's inputs: the frozen layers of the readout phase."""
        if not self.stacked:
            self.share()
            return readout_fields(self.nets[0], x, batch_size)
        net = self.nets[0]
        mapped = vmap(lambda w, x: layers(net, w, x)[-1][0])
        return torch.cat([mapped(self.weights, x[:, i:i + batch_size])
                          for i in range(0, x.shape[1], batch_size)], dim=1)


def member_rows(data: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Every member's rows (E, B) of its data (E, n, ...) -> (E, B, ...), as
    ``data[arange(E)[:, None], rows]`` but one ``index_select`` of the flattened (E·n, ...)
    tensor (four times faster at E = 12)."""
    e, n = data.shape[:2]
    flat = (torch.arange(e, device=rows.device)[:, None] * n + rows).flatten()
    return data.flatten(0, 1).index_select(0, flat).view(rows.shape + data.shape[2:])
