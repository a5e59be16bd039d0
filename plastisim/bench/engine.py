"""The engine's speed: ``plastisim.train`` eager and compiled, one network and E members,
against hand-written torch and against another checkout of plastisim, in the same run.

For a rule and a width, the figure is milliseconds per member-step of ``plastisim.train`` on
the PRX CNN for the RHM v = n_c = 8, m = 4, s = 2, L = 3, batch 128: the time from the start of
step ``warmup + 1`` to the start of the last of ``steps`` steps, read by the ``stop`` callable
that the loop calls before every step (set-up, compilation, the first steps and the evaluations
are not in it). Every measurement runs in its own process (one torch thread), so that no
compiled code, cache or allocator state carries over; repeats are interleaved across all
configurations and the figure is the median.

* ``eager`` / ``compiled``: ``train.compile = false`` / ``true`` (on CUDA with CUDA graphs); ``members`` E > 1: E members
  with their own seeds trained as one (``train`` given lists).
* ``hand``: a bp step written as plain batched torch (forward, error, backward, no optimiser,
  no framework; eager and compiled): the least a step of this network costs on this machine.
* ``reference``: the same ``train`` call in another checkout (e.g. an older commit, in its own
  folder: ``git worktree add ../old COMMIT``), run with that checkout first on ``PYTHONPATH``;
  one network, eager (older versions have no ``train.compile``).

``speedup`` = reference ms / ms, per configuration.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from torch import Tensor

from ..errors import ConfigError
from .timing import machine

RHM_PARAMS = dict(v=8, n_classes=8, m=4, s=2, L=3)
LOCAL = {"pairs": "siblings", "readout_epochs": 1}      # the layerwise rules: grammar-free

#: run in a fresh interpreter with the checkout under test first on sys.path; prints JSON
TIMER = r'''
import json, sys, time, torch
torch.set_num_threads(1)
a = json.loads(sys.argv[1])
import plastisim as ps
from plastisim import rules
from plastisim.network import hierarchy
from plastisim.train import TrainOptions, train
rhm = ps.RHM(**a["rhm"], seed=0)
E, steps, warmup = a["members"], a["steps"], a["warmup"]
sets = [rhm.split(128 * steps, 256, seed=1 + k) for k in range(E)]
params = {} if a["rule"] in ("bp", "dfa", "fa", "sdfa", "drtp") else a["local"]
extra = {} if a["compile"] is None else {"compile": a["compile"]}
options = [TrainOptions(epochs=1, batch_size=128, stop_loss=0, evaluations=1, seed=k, **extra)
           for k in range(E)]
nets = [hierarchy(rhm, a["width"], seed=k, device=a["device"]) for k in range(E)]
times, cuda = [], a["device"] == "cuda"
def stop():
    if cuda:                    # the steps before have finished on the device
        torch.cuda.synchronize()
    times.append(time.perf_counter())
    return ""
start = time.perf_counter()
if E == 1:
    train(nets[0], rules.get(a["rule"], **params), *sets[0], options[0], stop=stop)
else:
    train(nets, [rules.get(a["rule"], **params) for _ in range(E)], [s[0] for s in sets],
          [s[1] for s in sets], options, stop=stop)
first = times[warmup]
print(json.dumps({"ms_per_member_step": 1e3 * (times[steps - 1] - first)
                  / (steps - 1 - warmup) / E, "first_steps_s": first - start}))
'''

#: the hand-written step of E members (``hand_bp_step``), eager or compiled
HAND = r'''
import json, sys, time, torch
torch.set_num_threads(1)
from plastisim.bench.engine import hand_bp_step
a = json.loads(sys.argv[1])
dev = a["device"]
step = hand_bp_step(a["members"], width=a["width"], v=a["rhm"]["v"],
                    n_classes=a["rhm"]["n_classes"], device=dev)
sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
mode = "reduce-overhead" if dev == "cuda" else None
fn = torch.compile(step, mode=mode) if a["compile"] else step
start = time.perf_counter()
for _ in range(a["warmup"]):
    fn()
sync()
first = time.perf_counter()
for _ in range(a["steps"] - a["warmup"]):
    fn()
sync()
print(json.dumps({"ms_per_member_step": 1e3 * (time.perf_counter() - first)
                  / (a["steps"] - a["warmup"]) / a["members"], "first_steps_s": first - start}))
'''


def hand_bp_step(e: int, weights: dict | None = None, x: Tensor | None = None,
                 y: Tensor | None = None, *, width: int = 64, v: int = 8, n_classes: int = 8,
                 batch_size: int = 128, device: str = "cpu"):
    """The bp step of e members of the width-``width`` PRX CNN for L = 3, s = 2 as plain batched
    products and elementwise operations (forward, error e = softmax(z) − onehot(y), backward;
    no optimiser, no framework): a function returning (loss (E,), dL/dw of w1, w2, w3,
    readout). ``weights`` {w1, w2, w3, readout} (E, *w.shape) in plastisim's fan-in order,
    ``x`` (E, B, S, v) one-hot inputs positions-major, ``y`` (E, B): drawn when not given."""
    gen = torch.Generator().manual_seed(0)
    if weights is None:
        weights = {name: torch.randn(e, rows, k, generator=gen) for name, rows, k in (
            ("w1", width, 2 * v), ("w2", width, 2 * width), ("w3", width, 2 * width),
            ("readout", n_classes, width))}
    weights = {k: w.to(device) for k, w in weights.items()}
    if x is None:
        x = torch.zeros(e, batch_size, 8, v, device=device)
        x[..., 0] = 1
    if y is None:
        y = torch.randint(0, n_classes, (e, batch_size), generator=gen).to(device)
    w1, w2, w3, wr = (weights[k] for k in ("w1", "w2", "w3", "readout"))
    b = x.shape[1]
    c1, c2, cr = (2 * v) ** -0.5, (2 * width) ** -0.5, 1 / width

    def step():
        u1 = x.reshape(e, b * 4, 2 * v)                               # receptive fields
        r1 = torch.relu(torch.bmm(u1, w1.transpose(1, 2)).mul_(c1))  # (E, B·4, W)
        u2 = r1.view(e, b * 2, 2 * width)
        r2 = torch.relu(torch.bmm(u2, w2.transpose(1, 2)).mul_(c2))
        u3 = r2.view(e, b, 2 * width)
        r3 = torch.relu(torch.bmm(u3, w3.transpose(1, 2)).mul_(c2))  # (E, B, W): one position
        z = torch.bmm(r3, wr.transpose(1, 2)).mul_(cr)
        log_p = torch.log_softmax(z, -1)
        onehot = torch.nn.functional.one_hot(y, n_classes).to(z.dtype)
        err = log_p.exp() - onehot
        loss = -(log_p * onehot).sum(-1).mean(-1)
        g_r = torch.bmm(err.transpose(1, 2), r3).div_(b).mul_(cr)
        p3 = r3.sign() * torch.bmm(err, wr).mul_(cr)
        g3 = torch.bmm(p3.transpose(1, 2), u3).div_(b).mul_(c2)
        p2 = r2.sign() * torch.bmm(p3, w3).mul_(c2).view(e, b * 2, width)
        g2 = torch.bmm(p2.transpose(1, 2), u2).div_(b).mul_(c2)
        p1 = r1.sign() * torch.bmm(p2, w2).mul_(c2).view(e, b * 4, width)
        g1 = torch.bmm(p1.transpose(1, 2), u1).div_(b).mul_(c1)
        return loss, g1, g2, g3, g_r
    return step



def _measure(code: str, args: dict, path: str | None) -> dict:
    """Run ``code`` in a fresh interpreter, ``path`` (a checkout) first on PYTHONPATH."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if path is not None:
        env["PYTHONPATH"] = str(Path(path).resolve())
    out = subprocess.run([sys.executable, "-c", code, json.dumps(args)], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def configurations(rules, widths, sizes, reference, compiled: bool = True) -> list[dict]:
    """Every measurement of one repeat (module docstring); ``compiled``: the compiled ones
    too."""
    modes = (False, True) if compiled else (False,)
    out = []
    for rule in rules:
        for width in (widths if rule == "bp" else widths[:1]):
            for compile_ in modes:
                out.append({"what": "plastisim", "rule": rule, "width": width, "members": 1,
                            "compile": compile_})
            if reference is not None:
                out.append({"what": "reference", "rule": rule, "width": width, "members": 1,
                            "compile": None})
    for size in sizes:
        for compile_ in modes:
            out.append({"what": "hand", "rule": "bp", "width": widths[0], "members": size,
                        "compile": compile_})
            if size > 1:
                out.append({"what": "plastisim", "rule": "bp", "width": widths[0],
                            "members": size, "compile": compile_})
    return out


def bench_engine(rules=("bp", "dfa", "clapp", "vicreg"), widths=(64, 256), sizes=(1, 12),
                 repeats: int = 3, steps: int = 300, warmup: int = 50,
                 reference: str | None = None, device: str = "cpu",
                 compiled: bool = True) -> dict:
    """ms per member-step of every configuration (module docstring), medians over
    ``repeats`` interleaved repeats; ``reference``: the folder of another checkout. On CUDA
    the compiled step runs with ``mode="reduce-overhead"`` (CUDA graphs), the clock waits
    for the device."""
    if reference is not None and not (Path(reference) / "plastisim" / "__init__.py").is_file():
        raise ConfigError(f"--reference {reference}: not a checkout of plastisim (no "
                          "plastisim/__init__.py in it)")
    configs = configurations(tuple(rules), tuple(widths), tuple(sizes), reference, compiled)
    samples: dict[int, list[dict]] = {i: [] for i in range(len(configs))}
    for _ in range(repeats):
        for i, config in enumerate(configs):
            args = {**config, "rhm": RHM_PARAMS, "local": LOCAL, "steps": steps,
                    "warmup": warmup, "device": device}
            code = HAND if config["what"] == "hand" else TIMER
            path = reference if config["what"] == "reference" else None
            samples[i].append(_measure(code, args, path))
    rows = []
    for i, config in enumerate(configs):
        ms = [s["ms_per_member_step"] for s in samples[i]]
        rows.append({**config, "ms_per_member_step": statistics.median(ms), "repeats_ms": ms,
                     "first_steps_s": statistics.median(s["first_steps_s"]
                                                        for s in samples[i])})
    _speedups(rows)
    return {"benchmark": "engine: plastisim.train eager and compiled, against hand-written "
                         "torch and a reference checkout",
            "rhm": RHM_PARAMS, "batch_size": 128, "steps": steps, "warmup": warmup,
            "threads": 1, "device": device, "reference": reference, "machine": machine(),
            "rows": rows}


def _speedups(rows: list[dict]) -> None:
    """``speedup`` (reference ms / ms) of every plastisim row with a reference row of its rule
    and width; ``over_hand`` (ms / the hand-written step's ms of the same E and mode) for bp."""
    reference = {(r["rule"], r["width"]): r["ms_per_member_step"] for r in rows
                 if r["what"] == "reference"}
    hand = {(r["members"], r["compile"], r["width"]): r["ms_per_member_step"] for r in rows
            if r["what"] == "hand"}
    for row in rows:
        if row["what"] != "plastisim":
            continue
        key = (row["rule"], row["width"])
        if key in reference:
            row["speedup"] = reference[key] / row["ms_per_member_step"]
        floor = hand.get((row["members"], row["compile"], row["width"]))
        if row["rule"] == "bp" and floor:
            row["over_hand"] = row["ms_per_member_step"] / floor
