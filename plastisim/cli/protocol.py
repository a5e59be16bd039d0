"""``plastisim protocol NAME --rule RULE ...``: run a cortical plasticity protocol.

Writes the result as netCDF (``--out``, default ``NAME.nc``) and a PNG of model vs data next
to it, prints a one-screen summary (for ``sjostrom2001``: z = (model − data)/sem per condition,
RMSE and max |z| per digitisation). Bad input is a one-line ``PlastisimError`` (exit code 2);
both outputs are checked before the protocol runs and written at the end, beside their names
and moved into place (existing ones only with ``--overwrite``); an interruption writes nothing.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ConfigError, check_int, check_positive, impossible, unknown

# options that only some protocols take (argparse dest -> protocols)
OPTIONS = {"pairings": ("sjostrom2001", "stdp_window"), "freq": ("stdp_window",),
           "dt_max_ms": ("stdp_window",), "dt_step_ms": ("stdp_window",),
           "rate_pre": ("poisson",), "rate_post": ("poisson",), "duration": ("poisson",),
           "synapses": ("poisson",), "seed": ("poisson",), "warmup": ("poisson",)}


def add_parsers(sub) -> None:
    """Add the ``protocol`` command to the ``plastisim`` sub-parsers."""
    from .options import add_overwrite, add_threads

    p = sub.add_parser("protocol", help="run a cortical plasticity protocol, compare with data",
                       description=__doc__.splitlines()[0])
    p.add_argument("name", help="protocol: sjostrom2001, stdp_window, poisson")
    p.add_argument("--rule", default="triplet", help="stdp-family rule (default triplet)")
    p.add_argument("--params", help="named parameter set of the rule (e.g. visual_nearest_full)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a rule parameter (repeatable; the value read as by plastisim "
                   "run --set: TOML, else a string), e.g. --set gamma=-1")
    p.add_argument("--pairings", help="number of pairings (default 60)")
    p.add_argument("--freq", help="stdp_window: repetition frequency in Hz (default 1)")
    p.add_argument("--dt-max-ms", help="stdp_window: largest |dt| in ms (default 100)")
    p.add_argument("--dt-step-ms", help="stdp_window: dt step in ms (default 2)")
    p.add_argument("--rate-pre", help="poisson: pre rates in Hz, comma separated (default 10)")
    p.add_argument("--rate-post", help="poisson: post rates in Hz, comma separated (default 10)")
    p.add_argument("--duration", help="poisson: seconds of activity (default 10)")
    p.add_argument("--synapses", help="poisson: synapses per condition (default 1000)")
    p.add_argument("--seed", help="poisson: seed of the torch.Generator (default 0)")
    p.add_argument("--warmup", help="poisson: seconds before plasticity starts (default 1)")
    p.add_argument("--out", help="netCDF file to write (default NAME.nc); PNG next to it; a "
                   "missing folder is created")
    add_overwrite(p, "an existing --out file and its PNG")
    add_threads(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_protocol)


def _rule_params(args: argparse.Namespace) -> dict:
    from ..config import parse_value
    from ..validate import parse_assignment

    params = {}
    for item in args.set:
        key, text = parse_assignment(item, "--set", "[rule.]key=value", "e.g. gamma=-1")
        params[key.removeprefix("rule.")] = parse_value(text)
    if args.params is not None:
        params["params"] = args.params
    return params


def _int(field: str, text: str | None, default: int, minimum: int = 1) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise impossible(field, text, f"need an integer >= {minimum}") from None
    return check_int(field, value, minimum)


def _positive(field: str, text: str | None, default: float) -> float:
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise impossible(field, text, "need a finite number > 0") from None
    return check_positive(field, value)


def _rates(field: str, text: str | None) -> list[float]:
    if text is None:
        return [10.0]
    rates = []
    for item in text.split(","):
        try:
            rate = float(item)
        except ValueError:
            raise impossible(field, item, "need rates >= 0 in Hz, comma separated") from None
        if not 0 <= rate < float("inf"):
            raise impossible(field, rate, "need finite rates >= 0 (Hz)")
        rates.append(rate)
    return rates


def _protocol_kwargs(args: argparse.Namespace) -> dict:
    """The protocol's own arguments from the flags (checked; flags of other protocols refused)."""
    given = [k for k in OPTIONS if getattr(args, k) is not None and args.name not in OPTIONS[k]]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise ConfigError(f"{flag} does not apply to protocol '{args.name}'; it takes: "
                          + ", ".join("--" + k.replace("_", "-") for k in OPTIONS
                                      if args.name in OPTIONS[k]))
    if args.name == "poisson":
        return {"rate_pre": _rates("rate_pre", args.rate_pre),
                "rate_post": _rates("rate_post", args.rate_post),
                "duration": _positive("duration", args.duration, 10.0),
                "n_synapses": _int("synapses", args.synapses, 1000),
                "seed": _int("seed", args.seed, 0, minimum=0),
                "warmup": 0.0 if args.warmup == "0" else _positive("warmup", args.warmup, 1.0)}
    kwargs = {"n_pairings": _int("pairings", args.pairings, 60)}
    if args.name == "stdp_window":
        import numpy as np

        dt_max = _positive("dt_max_ms", args.dt_max_ms, 100.0)
        step = _positive("dt_step_ms", args.dt_step_ms, 2.0)
        kwargs["dts"] = np.arange(-dt_max, dt_max + step / 2, step) / 1000
        kwargs["freq"] = _positive("freq", args.freq, 1.0)
    return kwargs


def _command(args: argparse.Namespace) -> str:
    """The command line equivalent to ``args`` (for the file's ``history``)."""
    words = ["plastisim", "protocol", args.name, "--rule", args.rule]
    if args.params is not None:
        words += ["--params", args.params]
    for item in args.set:
        words += ["--set", item]
    for key in OPTIONS:
        if getattr(args, key) is not None:
            words += ["--" + key.replace("_", "-"), getattr(args, key)]
    return shlex.join([*words, "--out", args.out or f"{args.name}.nc"])


def run_protocol(args: argparse.Namespace) -> int:
    from ..interrupt import hold
    from ..protocols import PROTOCOLS, event_rule
    from ..recording import record
    from ..recording.environment import environment
    from ..recording.outputs import check_output_path, make_parent
    from .options import threads, torch_threads

    # check everything before any work: the arguments, then the outputs
    if args.name not in PROTOCOLS:
        raise unknown("protocol", args.name, PROTOCOLS)
    rule = event_rule(args.rule, **_rule_params(args))
    kwargs = _protocol_kwargs(args)
    n_threads = threads(args)
    out = check_output_path(args.out or f"{args.name}.nc", args.overwrite, ".nc", field="--out",
                            make_folder=True)
    png = check_output_path(out.with_suffix(".png"), args.overwrite, ".png", field="--out",
                            make_folder=True)
    # run, with a progress bar on a terminal (SIGINT / SIGTERM: stop, nothing written)
    from tqdm import tqdm

    with tqdm(disable=args.quiet or not sys.stderr.isatty(), file=sys.stderr, unit="event",
              desc=f"{args.name} ({rule.name})", leave=False) as bar, torch_threads(n_threads):
        def on_step(e: int, total: int) -> None:
            bar.total = total
            bar.update(1)

        ds = PROTOCOLS[args.name](rule, on_step=on_step, threads=n_threads, **kwargs)
    # write the data, the figure (a signal waits until both are in place), the summary
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    ds.attrs["history"] = f"{now}: {_command(args)}\n{ds.attrs['history']}"
    ds.attrs.update(environment(), torch_threads=n_threads)
    with hold():
        make_parent(out)
        record.write(ds, out)
        plot(ds, png)
    print(summary(ds))
    print(f"wrote {out} and {png}")
    return 0


def summary(ds) -> str:
    """The one-screen summary of a protocol Dataset."""
    head = (f"protocol {ds.attrs['protocol']}, rule {ds.attrs['rule']} "
            f"{ds.attrs['rule_params']}")
    body = {"sjostrom2001": _summary_sjostrom, "stdp_window": _summary_window,
            "poisson": _summary_poisson}[ds.attrs["protocol"]](ds)
    return "\n".join([head, *body])


def _summary_sjostrom(ds) -> list[str]:
    digs = list(ds.digitisation.values)
    lines = [f"{ds.n_pairings_model.item()} pairings per condition (data: "
             f"{sorted(set(ds.n_pairings_data.values.ravel().tolist()))})",
             f"{'dt (ms)':>8} {'freq (Hz)':>9} {'model':>7}"
             + "".join(f" {d + ' ± sem':>20} {'z':>6}" for d in digs)]
    for dt in ds.dt.values:
        for f in ds.freq.values:
            row = f"{dt * 1000:>+8.0f} {f:>9g} {ds.dw_rel_model.sel(dt=dt, freq=f).item():>7.3f}"
            for d in digs:
                sel = dict(digitisation=d, dt=dt, freq=f)
                row += (f" {ds.dw_rel_data.sel(sel).item():>11.3f} ± "
                        f"{ds.sem_data.sel(sel).item():<6.3f} {ds.z.sel(sel).item():>+6.2f}")
            lines.append(row)
    return lines + [f"{d}: RMSE {ds.rmse.sel(digitisation=d).item():.3f}, max |z| "
                    f"{ds.max_abs_z.sel(digitisation=d).item():.2f}" for d in digs]


def _summary_window(ds) -> list[str]:
    ms = {k: ds[k].item() * 1000 for k in ("tau_plus_fit", "tau_plus_data", "tau_minus_fit",
                                            "tau_minus_data")}
    return [f"{ds.n_pairings_model.item()} pairings at {ds.freq.item():g} Hz",
            f"fit tau+ {ms['tau_plus_fit']:.2f} ms (Bi & Poo {ms['tau_plus_data']:.1f}), "
            f"tau- {ms['tau_minus_fit']:.2f} ms (Bi & Poo {ms['tau_minus_data']:.1f})",
            *(f"  dt {dt * 1000:>+7.1f} ms: dw_rel {ds.dw_rel_model.sel(dt=dt).item():+.4f}"
              for dt in ds.dt.values[:: max(1, ds.sizes["dt"] // 10)])]


def _summary_poisson(ds) -> list[str]:
    return [f"{ds.attrs['n_synapses']} synapses, {ds.attrs['duration_s']} s (warm-up "
            f"{ds.attrs['warmup_s']} s)",
            *(f"  rate_pre {a:>6g} Hz, rate_post {b:>6g} Hz: drift {m:+.5f} ± {s:.5f} /s"
              for a, b, m, s in zip(ds.rate_pre.values, ds.rate_post.values, ds.drift.values,
                                    ds.drift_sem.values))]


def plot(ds, path: Path) -> None:
    """PNG of model vs data (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .options import save_png

    fig, ax = plt.subplots(figsize=(6, 4))
    kind = ds.attrs["protocol"]
    {"sjostrom2001": _plot_sjostrom, "stdp_window": _plot_window,
     "poisson": _plot_poisson}[kind](ds, ax)
    ax.set_title(f"{kind}: {ds.attrs['rule']}", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path, f"plastisim protocol {kind}, rule {ds.attrs['rule']}")
    plt.close(fig)


def _plot_sjostrom(ds, ax) -> None:
    for i, dt in enumerate(ds.dt.values):
        color = f"C{i}"
        ax.plot(ds.freq, ds.dw_rel_model.sel(dt=dt), "-", color=color,
                label=f"model, dt = {dt * 1000:+.0f} ms")
        for j, (d, marker) in enumerate(zip(ds.digitisation.values, "os")):
            sel = ds.sel(dt=dt, digitisation=d)
            ax.errorbar(sel.freq * (1 + 0.06 * j), sel.dw_rel_data, sel.sem_data, fmt=marker,
                        color=color, mfc="none" if j else color, capsize=2,
                        label=f"data ({d})" if i == 0 else None)
    ax.set(xscale="log", xlabel="pairing frequency (Hz)", ylabel="relative weight change")


def _plot_window(ds, ax) -> None:
    import numpy as np

    ax.plot(ds.dt * 1000, ds.dw_rel_model, ".", label="model")
    for side, sign in (("plus", 1), ("minus", -1)):
        a, tau = ds[f"a_{side}_fit"].item(), ds[f"tau_{side}_fit"].item()
        if np.isfinite(tau):
            t = np.linspace(0, abs(ds.dt).max().item(), 100)
            ax.plot(sign * t * 1000, a * np.exp(-t / tau), "--", color="C1", lw=1,
                    label=f"fit tau{'+-'[side == 'minus']} = {tau * 1000:.1f} ms")
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set(xlabel="t_post - t_pre (ms)", ylabel="relative weight change")


def _plot_poisson(ds, ax) -> None:
    ax.plot(ds.rate_post, ds.drift, "o", label="model")
    ax.set(xlabel="post rate (Hz)", ylabel="drift (1/s)")
