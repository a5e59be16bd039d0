"""plastisim: a biologically grounded plasticity simulator.

Local learning rules (backprop reference, direct feedback, layerwise self-supervised) on the
Random Hierarchy Model, as three-factor plasticity of explicit neuron groups and synapses.

    import plastisim as ps
    rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
    train_set, test_set = rhm.split(n_train=2048, n_test=10_000, seed=1)
    net = ps.hierarchy(rhm, width=256)
    result = ps.train(net, ps.rules.get("clapp"), train_set, test_set, rhm=rhm)

``Monitor`` and ``open_run`` (and with them xarray / netCDF4) are imported on first use.
"""
from . import rules
from .errors import ConfigError, DivergenceError, PlastisimError, UnknownNameError
from .metrics import sample_complexity, synonymic_sensitivity, test_error
from .network import Network, hierarchy
from .neurons import NeuronGroup
from .rhm import RHM, RHMBatch, one_hot
from .synapses import Dense, MeanPool, Patches, Synapses
from .traces import Trace
from .train import Status, TrainOptions, TrainResult, train

__version__ = "0.1.0"

__all__ = [
    # data
    "RHM", "RHMBatch", "one_hot",
    # simulator objects
    "NeuronGroup", "Synapses", "Dense", "Patches", "MeanPool", "Trace", "Network", "hierarchy",
    # learning
    "rules", "train", "TrainOptions", "TrainResult", "Status",
    # measurements
    "test_error", "sample_complexity", "synonymic_sensitivity",
    # recording
    "Monitor", "open_run",
    # errors
    "PlastisimError", "ConfigError", "UnknownNameError", "DivergenceError",
]


def __getattr__(name: str):
    if name == "Monitor":     # lazily: recording needs xarray and netCDF4 (plastisim.recording)
        from .recording.monitor import Monitor
        return Monitor
    if name == "open_run":
        from .recording.record import open_run
        return open_run
    raise AttributeError(f"module 'plastisim' has no attribute {name!r}")
