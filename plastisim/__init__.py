"""plastisim: a biologically grounded plasticity simulator.

Local learning rules (backprop reference, direct feedback, layerwise self-supervised) on the
Random Hierarchy Model, as three-factor plasticity of explicit neuron groups and synapses.
"""
from .errors import ConfigError, DivergenceError, PlastisimError, UnknownNameError
from .monitor import Monitor
from .rhm import RHM, RHMBatch, one_hot

__version__ = "0.1.0"

__all__ = [
    # data
    "RHM", "RHMBatch", "one_hot",
    # recording
    "Monitor",
    # errors
    "PlastisimError", "ConfigError", "UnknownNameError", "DivergenceError",
]
