"""Why LPL does not learn the RHM: per-layer statistics and the size of each term of its update.

    python analyses/lpl_diagnosis.py models/lpl.toml --set rule.lambda_hebb=0.1 ... --out D.json
    python analyses/lpl_diagnosis.py --plot D1.json D2.json ... --png figure.png

Trains one LPL run exactly as ``plastisim run`` would (same build, same training loop) and, at
every evaluation epoch of the local phase, measures on a fixed probe batch of training inputs,
per hidden layer k:

* ``std``: the rates' standard deviation over inputs, mean over neurons and positions;
* ``dead``: the fraction of (neuron, position) units silent on every probe input;
* ``rank``: the participation ratio (Σλ)²/Σλ² of the channel covariance (mean over positions),
  1 = collapsed onto one direction, C = isotropic;
* ``rho``: the correlation of z and its partner z' per unit (mean), what the predictive term
  maximises;
* ``pred``, ``hebb``, ``decorr``: the RMS of the three terms of the post-synaptic factor G of
  rules/noncontrastive.py — (z − z'), λ₁ d/(σ² + ξ) and the decorrelation term — i.e. which
  term drives the weights.

At the end: readout train and test error and the synonymic sensitivity S_{k,L−k} of each layer k to synonyms re-drawn below
the level its receptive field spans
(docs/results.md §2, LPL diagnosis). A thin report on the public API: nothing here is a rule.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from plastisim import config, metrics
from plastisim.rhm import one_hot
from plastisim.rules.base import DrawContext
from plastisim.rules.noncontrastive import off_diagonal_covariance
from plastisim.run import build
from plastisim.train import train

PROBE = 512


def layer_statistics(rule, net, x, ctx: DrawContext) -> list[dict]:
    """The statistics of the module docstring for every hidden layer with a partner: the
    pairs of the probe inputs ``x`` with partners drawn as a training step draws them."""
    p, out = rule.params, []
    for l, pair in enumerate(rule.pairs(net, net.weights(), x, rule.draw(ctx))):
        if pair is None:                 # a layer without a partner (frozen)
            continue
        z, z2 = pair.rates()
        B, C, P = z.shape
        if hasattr(rule, "_statistics"):          # LPL's traces; other rules: a control
            mean, var = rule._statistics(l, z, rule.state.running)
            d = z - mean
            _, d_off = off_diagonal_covariance(d)
            decorr = 4 * p.lambda_decorr * B * d_off / (C * (C - 1) * max(B - 1, 1))
            hebb = p.lambda_hebb * d / (var + p.xi)
        else:
            decorr = hebb = torch.full_like(z, float("nan"))
        centred = z - z.mean(0, keepdim=True)
        cov = torch.einsum("bip,bjp->pij", centred, centred) / (B - 1)
        if not torch.isfinite(cov).all():         # a diverged run
            out.append({"layer": l + 1, "diverged": True})
            continue
        # participation ratio (tr K)² / tr K² — no eigendecomposition needed
        trace_k = cov.diagonal(dim1=1, dim2=2).sum(-1)
        rank = (trace_k ** 2 / cov.pow(2).sum((1, 2)).clamp_min(1e-30)).mean()
        c2 = z2 - z2.mean(0, keepdim=True)
        rho = ((centred * c2).sum(0) / (centred.norm(dim=0) * c2.norm(dim=0)).clamp_min(1e-12))
        rms = lambda t: float(t.pow(2).mean().sqrt())  # noqa: E731
        out.append({"layer": l + 1, "std": float(z.std(0).mean()),
                    "dead": float(((z > 0).sum(0) == 0).to(z.dtype).mean()),
                    "rank": float(rank), "rho": float(rho.mean()),
                    "pred": rms(z - z2), "hebb": rms(hebb),
                    "decorr": rms(decorr)})
    return out


def plot(files: list[str], png: str) -> None:
    """Partner correlation ρ, the Hebbian / predictive ratio and the silent units per layer
    against steps: one line style per run (its λ₁, λ₂, lr), one colour per layer; the two keys
    under the figure."""
    import tomllib
    from pathlib import Path

    from matplotlib.lines import Line2D

    from plastisim.cli.figures import SERIES_COLOURS, SYMBOLS, save, study_style

    styles = ["-", "--", ":", "-.", (0, (5, 1))]
    with study_style() as plt:
        fig, axes = plt.subplots(1, 3, figsize=(12, 4))
        runs = []
        for file, style in zip(files, styles):
            with open(file) as f:
                run = json.load(f)
            rule = tomllib.loads(run["config"])["rule"]
            runs.append(f"{SYMBOLS['lambda_hebb']} {rule.get('lambda_hebb', 1.0):g}, "
                        f"{SYMBOLS['lambda_decorr']} {rule.get('lambda_decorr', 10.0):g}, "
                        f"lr {rule['lr']:g}")
            steps = [t["step"] for t in run["trace"]]
            for k, colour in zip(range(3), SERIES_COLOURS):
                stats = [t["layers"][k] for t in run["trace"]]
                axes[0].plot(steps, [s["rho"] for s in stats], ls=style, c=colour)
                axes[1].plot(steps, [s["hebb"] / s["pred"] for s in stats], ls=style, c=colour)
                axes[2].plot(steps, [s["dead"] for s in stats], ls=style, c=colour)
        for ax, name in zip(axes, ["partner correlation ρ", "RMS Hebbian / RMS predictive term",
                                   "fraction of silent units"]):
            ax.set(xscale="log", xlabel="local plasticity steps", title=name)
            ax.grid(alpha=0.25, lw=0.5)
        axes[1].set_yscale("log")
        fig.legend([Line2D([], [], color="k", ls=s) for s in styles[:len(runs)]], runs,
                   loc="outside lower left", ncol=2, title="line style: LPL run", frameon=False)
        fig.legend([Line2D([], [], color=c) for c in SERIES_COLOURS[:3]],
                   ["layer 1", "layer 2", "layer 3"], loc="outside lower right", ncol=3,
                   title="colour: hidden layer", frameon=False)
        save(fig, Path(png), "analyses/lpl_diagnosis.py --plot")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--out", help="JSON file")
    parser.add_argument("--plot", nargs="+", metavar="JSON", help="plot these runs instead")
    parser.add_argument("--png", default="lpl_diagnosis.png")
    args = parser.parse_args(argv)
    if args.plot:
        return plot(args.plot, args.png)
    if not args.config or not args.out:
        parser.error("need CONFIG and --out (or --plot)")
    torch.set_num_threads(1)
    cfg = config.load(args.config, args.overrides)
    built = build(cfg)
    probe = built.train_set[:PROBE]
    x = one_hot(probe.x, built.rhm.v, built.net.dtype).to(built.net.device)
    rows = torch.arange(len(probe))
    ctx = DrawContext(len(probe), built.net.device, built.net.dtype, rows, built.train_set,
                      built.rhm)
    trace = []

    def progress(report: dict) -> None:
        if report["phase"] != "local" or "test_error" not in report:
            return
        with torch.no_grad():
            layers = layer_statistics(built.rule, built.net, x, ctx)
        trace.append({"epoch": report["epoch"], "step": report["step"],
                      "loss": report["train_loss"], "layers": layers})
        print(f"epoch {report['epoch']:4d} loss {report['train_loss']:+.4f} " + " | ".join(
            f"L{s['layer']} diverged" if s.get("diverged") else
            f"L{s['layer']} std {s['std']:.3g} dead {s['dead']:.2f} rank {s['rank']:.1f} "
            f"rho {s['rho']:.2f} pred/hebb/dec {s['pred']:.2g}/{s['hebb']:.2g}/{s['decorr']:.2g}"
            for s in layers), flush=True)

    result = train(built.net, built.rule, built.train_set, built.test_set, built.options,
                   rhm=built.rhm, progress=progress)
    S = metrics.sensitivity_matrix(built.net, built.rhm, built.test_set[:2000])
    final = {"train_error": result.history["train_error"][-1],
             "test_error": result.history["test_error"][-1],
             # S_{k, L-k}: layer k against synonyms re-drawn below the level it spans
             "S_matched": [float(S[k - 1, built.rhm.L - k]) for k in range(1, S.shape[0] + 1)],
             "status": result.status, "steps": result.steps}
    print(json.dumps(final))
    with open(args.out, "w") as f:
        json.dump({"config": cfg.to_toml(), "trace": trace, "final": final}, f, indent=1)


if __name__ == "__main__":
    main()
