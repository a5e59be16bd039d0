"""The hand-written batched step of analyses/ensemble/step_ceiling.py (the eager floor that
docs/ensembles.md compares the training of E members with) computes plastisim's bp step."""
import importlib.util
from pathlib import Path

import torch

import plastisim as ps
from plastisim.rhm import one_hot
from plastisim.rules.base import Batch

SCRIPT = Path(__file__).parents[1] / "analyses" / "ensemble" / "step_ceiling.py"


def _script():
    spec = importlib.util.spec_from_file_location("step_ceiling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hand_written_step_is_plastisims_bp_step():
    ceiling = _script()
    rhm = ps.RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
    data, _ = rhm.split(n_train=32, n_test=0, seed=1)
    nets = [ps.hierarchy(rhm, ceiling.WIDTH, seed=i, dtype=torch.float64) for i in range(2)]
    weights = {k: torch.stack([n.synapses[k].w for n in nets]) for k in nets[0].synapses}
    x = one_hot(data.x, rhm.v, torch.float64)                     # (B, v, S)
    loss, *grads = ceiling.make_step(2, weights, x.transpose(1, 2).expand(2, -1, -1, -1),
                                     data.y.expand(2, -1))()
    for i, net in enumerate(nets):
        rule = ps.rules.get("bp")
        rule.prepare(net)
        step = rule.step(net, net.weights(), rule.state, Batch(x, data.y), {}, "joint")
        assert torch.allclose(loss[i], step.loss, rtol=1e-12)
        for name, grad in zip(("w1", "w2", "w3", "readout"), grads):
            assert torch.allclose(-grad[i], step.updates[name], rtol=1e-10, atol=1e-14), name
