"""How many threads torch computes with — and that every product then uses exactly that many.

``set_threads(n)`` sets torch's intra-op threads (``torch.set_num_threads``) and turns Intel
MKL's *dynamic* threading off (``MKL_DYNAMIC=FALSE`` in the environment, unless it is set
already; MKL, which computes torch's matrix products on x86 CPUs, reads it when it decides how
many threads a product gets). With it on — MKL's default — MKL may run a product on fewer
threads than asked when the machine is busy, and a product split over another number of threads
rounds differently, so that two runs on two threads can end differently. Measured on this
2-core machine (``analyses/ensemble/two_thread_repeats.py``, docs/ensembles.md): a 12-member
ensemble on two threads beside a busy Python thread ended with 3 different sets of weights in
10 fresh processes under MKL's default, and with one under ``MKL_DYNAMIC=FALSE``; MKL's own
``MKL_Set_Dynamic(0)`` (through ctypes) did not suffice. The variable stays set for the rest
of the process (and its children); without MKL it is inert.
"""
from __future__ import annotations

import os

import torch


def set_threads(n: int) -> None:
    """Compute with ``n`` torch threads, every MKL product on exactly ``n`` (module docstring)."""
    os.environ.setdefault("MKL_DYNAMIC", "FALSE")
    torch.set_num_threads(n)
