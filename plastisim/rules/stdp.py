r"""The ``stdp`` family: spike-timing rules for cortical plasticity protocols.

Importing this module registers

    pair            pair STDP, additive or multiplicative      (``stdp_pair.py``)
    triplet         triplet STDP, Pfister & Gerstner 2006      (``stdp_triplet.py``)
    bcm             BCM in spiking trace form                  (``stdp_bcm.py``)
    clapp_spiking   spiking form of the CLAPP-like rule        (``stdp_clapp.py``)
    three_factor_spiking  spiking form of any M · f'(a) · x rule  (``stdp_factor.py``)
    lpl_spiking     Hebbian spiking form of LPL (non-contrastive)  (``stdp_factor.py``)

Each is an ``EventRule`` (``stdp_events.py``): the traces it declares and a pure
``update(state, inputs, params) -> (dw, new_state)`` called at every spike event by
``plastisim.protocols`` with the traces read at t − ε. Each module's docstring holds its
equation and paper; ``docs/protocols.md`` collects them.
"""
from __future__ import annotations

from .stdp_bcm import BCMParams, bcm_update
from .stdp_clapp import ClappSpikingParams, clapp_update
from .stdp_events import EventRule, Spikes, TraceSpec
from .stdp_pair import PairParams, pair_update
from .stdp_factor import FactorSpikingParams, LPLSpikingParams
from .stdp_triplet import TripletParams, parameter_sets, resolve, triplet_update

__all__ = ["BCMParams", "ClappSpikingParams", "EventRule", "FactorSpikingParams",
           "LPLSpikingParams", "PairParams", "Spikes", "TraceSpec",
           "TripletParams", "bcm_update", "clapp_update", "pair_update", "parameter_sets",
           "resolve", "triplet_update"]
