r"""The Random Hierarchy Model (RHM) of Cagnetta, Petrini, Tomasini, Favero & Wyart,
"How deep neural networks learn compositional data: the Random Hierarchy Model",
Phys. Rev. X 14, 031001 (2024).

Symbols, paper to code (used everywhere in plastisim):

=========  ============  ===========================================================
paper      code          meaning
=========  ============  ===========================================================
v          ``v``         vocabulary size of every level below the root
n_c        ``n_classes`` number of classes (root symbols, level 0)
m          ``m``         synonyms: production rules per symbol
s          ``s``         branching factor: a symbol rewrites into an s-tuple
L          ``L``         depth: an input is a string of s**L tokens (level L)
=========  ============  ===========================================================

Generative process. Level 0 is the class y. A symbol a of level l < L rewrites into one of its
m s-tuples ``rules[l][a, c] = (a_1, ..., a_s)`` of level-(l+1) symbols; the choice c ("synonym
choice") is drawn uniformly and independently at every node of the tree. All n_parents * m tuples
of a level are distinct, drawn without replacement from the v**s possible ones, so the grammar is
unambiguous and needs ``m * v <= v**s`` (levels >= 1) and ``m * n_c <= v**s`` (level 0).

A datum is the class and one choice per internal node, D = (s**L - 1)/(s - 1) nodes, so

    P_max = n_c * m**D.

Sampling draws (y, c_1..c_D) uniformly *without replacement*; since every datum has a distinct
code, distinct codes are distinct inputs. The exact enumeration order (``index``) is
``y * m**D + sum_i c_i * m**(D-1-i)`` with nodes listed level by level, left to right.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .errors import ConfigError, check_int, impossible

__all__ = ["RHM", "RHMBatch", "one_hot"]

_LIMB_BITS = 62          # a code limb holds < 2**62 so that int64 arithmetic cannot overflow
_DENSE_RANDPERM_MAX = 1 << 27  # above this, a full permutation would not fit comfortably
MAX_INPUT_SIZE = 1 << 24       # tokens s**L of one input (P_max = n_c m**D stays computable)


@dataclass(frozen=True)
class RHMBatch:
    """n data of an RHM with their latent trees.

    x: (n, s**L) tokens; y: (n,) labels; latents[l]: (n, s**l) symbols of level l (latents[0] is
    y, latents[L] is x); choices[l]: (n, s**l) synonym choice at each node of level l, l < L.
    """

    x: Tensor
    y: Tensor
    latents: tuple[Tensor, ...]
    choices: tuple[Tensor, ...]

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, rows) -> "RHMBatch":
        return RHMBatch(self.x[rows], self.y[rows], tuple(t[rows] for t in self.latents),
                        tuple(t[rows] for t in self.choices))

    def to(self, device: torch.device | str) -> "RHMBatch":
        return RHMBatch(self.x.to(device), self.y.to(device),
                        tuple(t.to(device) for t in self.latents),
                        tuple(t.to(device) for t in self.choices))


def one_hot(x: Tensor, v: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """One-hot encode tokens ``x`` (n, S) into a float tensor (n, v, S), channels first
    (stored positions-major, as the network's rates: synapses.py)."""
    v = check_int("v", v, 1)
    if x.ndim != 2:
        raise impossible("x.shape", tuple(x.shape), "need (n, S) tokens")
    low, high = (int(x.min()), int(x.max())) if x.numel() else (0, 0)
    if low < 0 or high >= v:
        raise ConfigError(f"x holds token {high if high >= v else low}: impossible for v={v}; "
                          f"need tokens 0..{v - 1} (data of another RHM?)")
    out = torch.zeros(x.shape[0], x.shape[1], v, dtype=dtype, device=x.device)
    return out.scatter_(2, x.unsqueeze(2), 1.0).transpose(1, 2)


def check_grammar(v: int, n_classes: int, m: int, s: int, L: int, seed: int = 0
                  ) -> tuple[int, int, int, int, int, int]:
    """(v, n_classes, m, s, L, seed) if they make an RHM (module docstring: the tuples of a
    level are distinct, an input has at most MAX_INPUT_SIZE tokens); else a one-line
    ConfigError naming the symbol to change. Arithmetic only: nothing is allocated."""
    v = check_int("v", v, 2)
    n_classes = check_int("n_classes", n_classes, 2)
    m = check_int("m", m, 1)
    s = check_int("s", s, 2)
    L = check_int("L", L, 1)
    seed = check_int("seed", seed, 0)
    if s > MAX_INPUT_SIZE:
        raise impossible("s", s, f"need s**L <= {MAX_INPUT_SIZE} tokens per input")
    if L * math.log2(s) > math.log2(MAX_INPUT_SIZE):
        raise impossible("L", L, f"for s={s}: need s**L <= {MAX_INPUT_SIZE} tokens per "
                         f"input (L <= {int(math.log(MAX_INPUT_SIZE, s) + 1e-9)})")
    if s * math.log2(v) >= 63:
        raise impossible("v", v, f"for s={s}: need v**s < 2**63 (s-tuples are coded as "
                         "int64)")
    tuples = v ** s
    if m * v > tuples:
        raise impossible("m", m, f"for v={v}, s={s}: need m*v <= v**s (m <= {v ** (s - 1)})")
    if m * n_classes > tuples:     # m fits levels >= 1: too many classes
        raise impossible("n_classes", n_classes, f"for m={m}, v={v}, s={s}: need "
                         f"m*n_classes <= v**s (n_classes <= {tuples // m})")
    return v, n_classes, m, s, L, seed


def max_data(n_classes: int, m: int, s: int, L: int) -> int:
    """P_max = n_c * m**D, D = (s**L - 1)/(s - 1): the number of distinct data (docstring)."""
    return n_classes * m ** ((s ** L - 1) // (s - 1))


def check_split(P_max: int, n_train: int, n_test: int) -> tuple[int, int]:
    """(n_train, n_test) if both are integers >= 0 and together at most ``P_max``."""
    n_train, n_test = check_int("n_train", n_train, 0), check_int("n_test", n_test, 0)
    if n_train + n_test > P_max:
        raise impossible("n_train+n_test", n_train + n_test,
                         f"for n_train={n_train}, n_test={n_test}: only P_max={P_max} distinct "
                         "data exist for this RHM")
    return n_train, n_test


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _first_distinct_rows(codes: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each distinct row of ``codes`` (k, limbs), in order."""
    order = np.lexsort(codes.T[::-1]) if codes.shape[1] > 1 else np.argsort(codes[:, 0])
    ranked = codes[order]
    run_start = np.ones(len(order), dtype=bool)
    run_start[1:] = (ranked[1:] != ranked[:-1]).any(axis=1)
    # the sort need not be stable: the first occurrence is the smallest index of each run
    return np.sort(np.minimum.reduceat(order, np.flatnonzero(run_start)))


class RHM:
    """A Random Hierarchy Model grammar; see the module docstring for the symbols.

    ``seed`` fixes the production rules only; every sampling call takes its own seed.
    ``rules[l]`` is an int64 tensor (n_parents, m, s): the m s-tuples of each level-l symbol.
    """

    def __init__(self, v: int, n_classes: int, m: int, s: int, L: int, seed: int = 0):
        self.v, self.n_classes, self.m, self.s, self.L, self.seed = check_grammar(
            v, n_classes, m, s, L, seed)
        self.n_nodes = (self.s ** self.L - 1) // (self.s - 1)
        self.P_max: int = max_data(self.n_classes, self.m, self.s, self.L)
        self._tuple_weights = self.v ** torch.arange(self.s - 1, -1, -1)   # base-v place values
        self.rules = self._draw_rules(_generator(self.seed))
        self._decoder = [self._tuple_table(r) for r in self.rules]

    def __repr__(self) -> str:
        return (f"RHM(v={self.v}, n_classes={self.n_classes}, m={self.m}, s={self.s}, "
                f"L={self.L}, seed={self.seed})  # P_max={self.P_max:.3g}")

    @property
    def input_size(self) -> int:
        """Number of tokens of an input, s**L."""
        return self.s ** self.L

    @property
    def n_star(self) -> int:
        """n_c * m**L: the PRX sample-complexity scale of supervised learning."""
        return self.n_classes * self.m ** self.L

    # --- grammar -------------------------------------------------------------------------------
    def _draw_rules(self, gen: torch.Generator) -> list[Tensor]:
        rules = []
        for level in range(self.L):
            n_parents = self.n_classes if level == 0 else self.v
            codes = _draw_distinct_ints(n_parents * self.m, self.v ** self.s, gen)
            rules.append(self._tuple_digits(codes).reshape(n_parents, self.m, self.s))
        return rules

    def _tuple_digits(self, codes: Tensor) -> Tensor:
        """Base-v digits (..., s) of tuple codes, most significant first."""
        return (codes.unsqueeze(-1) // self._tuple_weights) % self.v

    def _tuple_table(self, rules: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Sorted tuple codes of one level and, for each, its (parent, choice)."""
        n_parents = rules.shape[0]
        codes = (rules * self._tuple_weights).sum(-1).reshape(-1)       # (n_parents*m,)
        order = torch.argsort(codes)
        parent = torch.arange(n_parents).repeat_interleave(self.m)
        choice = torch.arange(self.m).repeat(n_parents)
        return codes[order], parent[order], choice[order]

    # --- sampling ------------------------------------------------------------------------------
    def sample(self, n: int, seed: int) -> RHMBatch:
        """n distinct data drawn uniformly without replacement from all P_max data (exact)."""
        n = check_int("n", n, 0)
        if n > self.P_max:
            raise impossible("n", n, f"only P_max={self.P_max} distinct data exist for this RHM")
        gen = _generator(seed)
        if self.P_max < 2 ** _LIMB_BITS:   # codes are int64: draw enumeration indices
            digits = self._index_digits(_draw_distinct_ints(n, self.P_max, gen, dense=2 * n))
        else:
            digits = self._draw_distinct_digits(n, gen)
        return self._expand(digits[:, 0], self._split_choices(digits[:, 1:]))

    def split(self, n_train: int, n_test: int, seed: int) -> tuple[RHMBatch, RHMBatch]:
        """Disjoint train and test sets: one draw of n_train + n_test distinct data, cut in two."""
        n_train, n_test = check_split(self.P_max, n_train, n_test)
        both = self.sample(n_train + n_test, seed)
        return both[:n_train], both[n_train:]

    def resample(self, batch: RHMBatch, level: int, seed: int) -> RHMBatch:
        """Synonym views: keep every latent at levels <= ``level``, re-draw all choices below.

        ``level = L`` returns the same inputs; ``level = 0`` keeps only the class (PRX synonymic
        sensitivity uses the levels in between).
        """
        level = check_int("level", level, 0)
        if level > self.L:
            raise impossible("level", level, f"need 0 <= level <= L={self.L}")
        gen = _generator(seed)
        n = len(batch)
        kept = list(batch.choices[:level])
        redrawn = [torch.randint(self.m, (n, self.s ** l), generator=gen)
                   for l in range(level, self.L)]
        return self._expand(batch.y.cpu(), [c.cpu() for c in kept] + redrawn)

    def index(self, batch: RHMBatch) -> list[int]:
        """Exact enumeration index of each datum (Python ints: P_max may exceed 2**63)."""
        digits = torch.cat([batch.y[:, None]] + list(batch.choices), dim=1).tolist()
        out = []
        for row in digits:
            code = row[0]
            for c in row[1:]:
                code = code * self.m + c
            out.append(code)
        return out

    def _draw_distinct_digits(self, n: int, gen: torch.Generator) -> Tensor:
        """Rejection sampling of distinct data codes: iid draws, first occurrences kept in order.

        Keeping the first occurrence of every code in an iid stream is exactly sequential
        sampling without replacement, so the result is uniform over n-subsets (and orders).
        """
        accepted = torch.empty(0, 1 + self.n_nodes, dtype=torch.int64)
        while accepted.shape[0] < n:
            missing = n - accepted.shape[0]
            k = missing + missing // 8 + 16
            fresh = torch.cat([torch.randint(self.n_classes, (k, 1), generator=gen),
                               torch.randint(self.m, (k, self.n_nodes), generator=gen)], dim=1)
            pool = torch.cat([accepted, fresh])
            keep = _first_distinct_rows(self._pack(pool))
            accepted = pool[torch.from_numpy(keep)]
        return accepted[:n]

    def _pack(self, digits: Tensor) -> np.ndarray:
        """Pack digit rows (k, 1+D) into int64 limbs (k, n_limbs), a bijection on codes."""
        per_limb = max(1, int(_LIMB_BITS / math.log2(max(self.m, self.n_classes, 2))))
        limbs = []
        for start in range(0, digits.shape[1], per_limb):
            block = digits[:, start:start + per_limb]
            radix = max(self.m, self.n_classes)
            weights = radix ** torch.arange(block.shape[1] - 1, -1, -1, dtype=torch.int64)
            limbs.append((block * weights).sum(1))
        return torch.stack(limbs, 1).numpy()

    def _index_digits(self, idx: Tensor) -> Tensor:
        """Mixed-radix digits (k, 1+D) of enumeration indices (the inverse of ``index``)."""
        cols = []
        for _ in range(self.n_nodes):
            cols.append(idx % self.m)
            idx = idx // self.m
        cols.append(idx)  # the class, most significant
        return torch.stack(cols[::-1], 1)

    def _split_choices(self, flat: Tensor) -> list[Tensor]:
        """(k, D) node choices, level by level -> list of (k, s**l)."""
        sizes = [self.s ** l for l in range(self.L)]
        return list(torch.split(flat, sizes, dim=1))

    def _expand(self, y: Tensor, choices: list[Tensor]) -> RHMBatch:
        """Grow the trees top-down: latents[l+1][:, p*s + j] = rules[l][latents[l][:, p], c, j]."""
        n = y.shape[0]
        latents = [y.reshape(n, 1)]
        for level in range(self.L):
            table = self.rules[level].reshape(-1, self.s)                   # (n_parents*m, s)
            rows = (latents[level] * self.m + choices[level]).reshape(-1)   # (n*s**l,)
            latents.append(table.index_select(0, rows).reshape(n, -1))      # (n, s**(l+1))
        return RHMBatch(latents[-1], latents[0][:, 0], tuple(latents), tuple(choices))

    # --- decoding ------------------------------------------------------------------------------
    def decode(self, x: Tensor, strict: bool = True) -> tuple[RHMBatch, Tensor]:
        """Recover latent trees, choices and labels from inputs x (n, s**L).

        Returns (batch, valid). A row that the grammar cannot produce (token out of range or a
        tuple no symbol rewrites into) is invalid: with ``strict`` a ConfigError names the first
        such row; otherwise its latents and choices are -1 where undetermined.
        """
        x = torch.as_tensor(x).cpu().long()
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise impossible("x.shape", tuple(x.shape), f"need (n, s**L) = (n, {self.input_size})")
        n = x.shape[0]
        bad = (x < 0) | (x >= self.v)
        latents, choices = [torch.where(bad, -1, x)], []
        for level in reversed(range(self.L)):
            codes_sorted, parent_of, choice_of = self._decoder[level]
            tuples = latents[0].reshape(n, self.s ** level, self.s)
            code = (tuples.clamp(min=0) * self._tuple_weights).sum(-1)
            pos = torch.searchsorted(codes_sorted, code).clamp(max=codes_sorted.numel() - 1)
            ok = (codes_sorted[pos] == code) & (tuples >= 0).all(-1)
            latents.insert(0, torch.where(ok, parent_of[pos], -1))
            choices.insert(0, torch.where(ok, choice_of[pos], -1))
        valid = (latents[0][:, 0] >= 0)
        if strict and not bool(valid.all()):
            row = int((~valid).nonzero()[0])
            raise ConfigError(f"x[{row}]={x[row].tolist()} is not a string of this RHM "
                              f"({int((~valid).sum())} of {n} rows invalid); use strict=False "
                              "to get a validity mask")
        batch = RHMBatch(x, latents[0][:, 0], tuple(latents), tuple(choices))
        return batch, valid

    # --- information ---------------------------------------------------------------------------
    def sibling_information(self, level: int = 1) -> float:
        """Mutual information (bits) between the two leftmost sibling symbols at ``level`` >= 1.

        Exact, from the grammar: I(a; b) with p(a, b) = sum_u p(u) [ (a, b) in rules(u) ] / m,
        where p(u) is the marginal of the leftmost symbol at level-1 (uniform classes propagated
        down the leftmost branch). It bounds what a sibling-prediction objective can learn.
        """
        level = check_int("level", level, 1)
        if level > self.L:
            raise impossible("level", level, f"need 1 <= level <= L={self.L}")
        marginal = torch.full((self.n_classes,), 1.0 / self.n_classes, dtype=torch.float64)
        for l in range(level - 1):   # marginal of a symbol at level l+1 (the first position)
            child = torch.zeros(self.v, dtype=torch.float64)
            first = self.rules[l][..., 0]                       # (n_parents, m)
            child.index_add_(0, first.reshape(-1),
                             (marginal[:, None] / self.m).expand_as(first).reshape(-1))
            marginal = child
        rules = self.rules[level - 1]                            # (n_parents, m, s)
        joint = torch.zeros(self.v, self.v, dtype=torch.float64)
        weight = (marginal[:, None] / self.m).expand(rules.shape[:2]).reshape(-1)
        joint.index_put_((rules[..., 0].reshape(-1), rules[..., 1].reshape(-1)), weight,
                         accumulate=True)
        pa, pb = joint.sum(1, keepdim=True), joint.sum(0, keepdim=True)
        mask = joint > 0
        return float((joint[mask] * torch.log2(joint[mask] / (pa @ pb)[mask])).sum())


def _draw_distinct_ints(n: int, high: int, gen: torch.Generator, dense: int = 0) -> Tensor:
    """n distinct integers of [0, high), uniform without replacement, in random order.

    A random permutation when ``high`` is small or ``max(n, dense) >= high`` (many collisions);
    otherwise rejection sampling, as in ``RHM._draw_distinct_digits``.
    """
    if high <= _DENSE_RANDPERM_MAX and (high <= 1 << 16 or max(n, dense) >= high):
        return torch.randperm(high, generator=gen)[:n]
    accepted = torch.empty(0, dtype=torch.int64)
    while accepted.numel() < n:
        missing = n - accepted.numel()
        pool = torch.cat([accepted, torch.randint(high, (missing + missing // 8 + 16,),
                                                  generator=gen)])
        accepted = pool[torch.from_numpy(_first_distinct_rows(pool.numpy()[:, None]))]
    return accepted[:n]
