"""Progress bars of training on stderr (tqdm), shared by ``run`` and ``demo``.

One bar per phase: a supervised rule has one ("joint"); a layerwise self-supervised rule has a
bar over its local epochs, then one over its readout epochs, each with the phase's own total
(the readout's bar may end early, when the readout's train loss falls below ``stop_loss``).
Bars are drawn only when stderr is a terminal and not ``--quiet``.
"""
from __future__ import annotations

import sys
from collections.abc import Callable


class PhaseBars:
    """The ``progress`` callback of ``plastisim.train.train`` drawing one bar per phase.

    ``label`` prefixes each bar's description ("clapp local"); ``make_bar(total, desc)``
    creates a bar (tqdm on stderr by default)."""

    def __init__(self, label: str = "", make_bar: Callable | None = None):
        self.label = label
        self.make_bar = make_bar or _tqdm
        self.bar = None
        self.phase: str | None = None
        self.last_test = "-"

    def __call__(self, report: dict) -> None:
        phase = report.get("phase", "joint")
        if phase != self.phase:               # a new phase: close the last bar, open its own
            self.close()
            desc = " ".join(p for p in (self.label, "" if phase == "joint" else phase) if p)
            self.bar, self.phase, self.last_test = self.make_bar(report["epochs"], desc), \
                phase, "-"
        self.bar.update(report.get("phase_epoch", report["epoch"]) - self.bar.n)
        if "test_error" in report:
            self.last_test = f"{report['test_error']:.3f}"
        self.bar.set_postfix(test_error=self.last_test, loss=f"{report['train_loss']:.3g}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _tqdm(total: int, desc: str):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc or None, unit="epoch", file=sys.stderr,
                dynamic_ncols=True)


def phase_bars(quiet: bool, label: str = "") -> PhaseBars | None:
    """A ``PhaseBars`` on stderr, or None when ``quiet`` or stderr is not a terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    return PhaseBars(label)
