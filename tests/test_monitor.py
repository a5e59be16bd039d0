"""Monitor: bit-for-bit round trips (memory and file), ring buffer, indices, bad input, device,
overwriting a file."""

import numpy as np
import pytest
import torch
import xarray as xr

import plastisim as ps
from plastisim import rules
from plastisim.errors import ConfigError, UnknownNameError
from plastisim.network import hierarchy
from plastisim.recording.monitor import Monitor, parse_indices, resolve_selection
from plastisim.rules.base import StepResult
from plastisim.traces import Trace
from plastisim.train import TrainOptions, train

RHM = ps.RHM(v=8, n_classes=8, m=4, s=2, L=2, seed=0)
DATA = RHM.split(192, 64, seed=1)


def net_of(dtype=torch.float32, shared=True, device="cpu", width=8):
    return hierarchy(RHM, width, shared=shared, seed=0, dtype=dtype, device=device)


class Tee:
    """Feeds every record to several monitors and keeps what was recorded, as numpy copies."""

    def __init__(self, *monitors):
        self.monitors, self.seen = monitors, []

    def record(self, step_index, net, step=None, epoch=0):
        for m in self.monitors:
            m.record(step_index, net, step, epoch=epoch)
        if step_index % self.monitors[0].every == 0:
            snap = {f"weight_{k}": w.detach().cpu().numpy().copy() for k, w in net.weights().items()}
            snap.update({f"update_{k}": u.cpu().numpy().copy() for k, u in step.updates.items()})
            snap.update({f"rate_{g.name}": g.rate.mean(0).cpu().numpy().copy()
                         for g in net.groups.values()})
            snap["loss"] = step.loss.cpu().numpy().copy()
            self.seen.append((step_index, epoch, snap))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shared", [True, False], ids=["shared", "local"])
def test_round_trip_is_bit_for_bit(tmp_path, dtype, shared):
    net = net_of(dtype, shared)
    kw = dict(weights="all", updates="all", rates="all", every=3)
    streamed = Monitor(net, path=tmp_path / "run.nc", **kw)
    memory = Monitor(net, **kw)
    tee = Tee(streamed, memory)
    train(net, rules.get("bp"), *DATA, TrainOptions(epochs=4, batch_size=32), monitor=tee)
    assert len(tee.seen) == 24 // 3 and streamed.n == memory.n == 8
    live, mem = streamed.to_xarray(), memory.to_xarray()
    streamed.close()
    with xr.open_dataset(tmp_path / "run.nc") as f:
        read = f.load()
    xr.testing.assert_identical(live, read)               # to_xarray = the file, while open
    assert read["step"].values.tolist() == [s for s, _, _ in tee.seen]
    assert read["epoch"].values.tolist() == [e for _, e, _ in tee.seen]
    for name in tee.seen[0][2]:
        expected = np.stack([snap[name] for _, _, snap in tee.seen])
        for ds in (read, mem):
            assert ds[name].dtype == expected.dtype == np.dtype(str(dtype)[6:]), name
            assert np.array_equal(ds[name].values, expected), name     # bit for bit
    xr.testing.assert_equal(mem.drop_vars("time"), read.drop_vars("time"))   # one schema
    if not shared:
        assert read["weight_w1"].dims == ("step", "position_w1", "post_w1", "pre_w1")


def test_schema_has_cf_attributes_and_provenance():
    net = net_of()
    mon = Monitor(net, weights="all", rates="h1", updates="w2", attrs={"seed_network": 0})
    mon.record(0, net)                                     # before training: NaN updates, loss
    ds = mon.to_xarray()
    for name, var in ds.variables.items():
        assert var.attrs.get("units") and var.attrs.get("long_name"), name
    for key in ("Conventions", "title", "source", "history", "plastisim_version", "git_commit",
                "git_dirty", "config_toml", "torch_version", "device", "dtype",
                "batch_reduction", "seed_network", "record_every"):
        assert key in ds.attrs, key
    assert np.isnan(ds["update_w2"].values).all() and np.isnan(ds["loss"].values).all()
    assert np.isnan(ds["rate_h1"].values).all()            # no forward pass yet
    assert ds["weight_w1"].dims == ("step", "post_w1", "pre_w1")
    assert ds["weight_w1"].attrs["pre_group"] == "input" and ds["rate_h1"].dims[1] == "channel_h1"


def test_ring_buffer_keeps_the_last_max_steps_records():
    net = net_of()
    mon = Monitor(net, weights="w1", every=2, max_steps=3)
    snaps = {}
    for i in range(1, 15):
        net.synapses["w1"].w.add_(1.0)
        if mon.record(i, net, epoch=i // 5):
            snaps[i] = net.synapses["w1"].w.clone()
    assert mon.n == 7 and mon._values["weight_w1"].shape[0] == 3       # bounded storage
    ds = mon.to_xarray()
    assert ds["step"].values.tolist() == [10, 12, 14]
    assert ds["epoch"].values.tolist() == [2, 2, 2]
    for k, step in enumerate([10, 12, 14]):
        assert torch.equal(torch.from_numpy(ds["weight_w1"].values[k]), snaps[step])
    mon.reset()
    assert mon.n == 0 and mon.to_xarray().sizes["step"] == 0


def test_indices_select_subsets_with_their_coordinates(tmp_path):
    net = net_of(width=16)
    mon = Monitor(net, weights="w1,w2", rates="h1", every=1, path=tmp_path / "sub.nc",
                  indices=["w2.post=0:8:2", "w2.pre=3,5,17", "h1.channel=1"])
    mon.record(1, net)
    ds = mon.to_xarray()
    w2 = net.synapses["w2"].w
    assert np.array_equal(ds["weight_w2"].values[0], w2[[0, 2, 4, 6]][:, [3, 5, 17]].numpy())
    assert ds["post_w2"].values.tolist() == [0, 2, 4, 6]
    assert ds["pre_w2"].values.tolist() == [3, 5, 17]
    assert ds["pre_channel_w2"].values.tolist() == [3, 5, 1]   # k % C_pre (offset, channel)
    assert ds["weight_w1"].shape == (1, 16, 16) and ds["channel_h1"].values.tolist() == [1]
    mon.reset()                                            # the file is created afresh
    assert xr.open_dataset(tmp_path / "sub.nc").sizes["step"] == 0
    mon.close()


def test_selection_parsing():
    assert parse_indices(["w1.post=0:16", "h1.channel=3,5"]) == {
        "w1": {"post": "0:16"}, "h1": {"channel": "3,5"}}
    assert resolve_selection("x", "0:4", 4) is None                  # everything, in order
    assert resolve_selection("x", "1:8:3", 8).tolist() == [1, 4, 7]
    assert resolve_selection("x", range(2), 5).tolist() == [0, 1]
    assert resolve_selection("x", torch.tensor([4, 0]), 5).tolist() == [4, 0]


def one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_bad_input_is_a_one_line_error_before_anything_is_written(tmp_path):
    net = net_of()
    with pytest.raises(UnknownNameError) as err:
        Monitor(net, weights="w9")
    assert one_line(err) == "synapse 'w9' is unknown; available: readout, w1, w2"
    with pytest.raises(UnknownNameError) as err:
        Monitor(net, rates="h7")
    assert "neuron group 'h7' is unknown; available: h1, h2, input, output" in one_line(err)
    with pytest.raises(UnknownNameError) as err:
        Monitor(net, traces="h1.x")
    assert "trace 'h1.x' is unknown; available: (none)" in one_line(err)
    with pytest.raises(ConfigError) as err:
        Monitor(net, weights="w1", indices={"w1": {"post": range(4, 12)}})
    assert one_line(err) == ("indices w1.post='4..11' is impossible: need indices in 0..7 "
                             "(the axis has 8 entries)")
    with pytest.raises(ConfigError) as err:
        Monitor(net, weights="w1", indices=["w1.post=0:9"])
    assert "need 0 <= start, stop <= 8" in one_line(err)
    with pytest.raises(UnknownNameError) as err:
        Monitor(net, weights="w1", indices={"w1": {"position": [0]}})
    assert one_line(err) == "index axis of w1 'position' is unknown; available: post, pre"
    with pytest.raises(UnknownNameError) as err:
        Monitor(net, weights="w1", indices={"w2": {"post": [0]}})
    assert "recorded synapse or group in indices 'w2' is unknown; available: w1" in one_line(err)
    with pytest.raises(ConfigError) as err:
        Monitor(net, every=0)
    assert one_line(err) == "every=0 is impossible: need an integer >= 1"
    with pytest.raises(ConfigError) as err:
        Monitor(net, path=tmp_path / "x.nc", max_steps=10)
    assert "max_steps=10 is impossible for path=" in one_line(err)
    with pytest.raises(ConfigError) as err:
        Monitor(net, path=tmp_path / "missing" / "x.nc")
    assert "output folder" in one_line(err) and "does not exist" in one_line(err)
    existing = tmp_path / "keep.nc"
    existing.write_bytes(b"precious")
    with pytest.raises(ConfigError) as err:
        Monitor(net, path=existing)
    assert "exists; pass --overwrite to replace it" in one_line(err)
    assert existing.read_bytes() == b"precious"                       # never clobbered
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.nc"]


def test_overwrite_records_beside_and_replaces_the_file_when_closed(tmp_path):
    net, path = net_of(), tmp_path / "x.nc"
    path.write_bytes(b"precious")
    mon = Monitor(net, weights="w1", path=path, overwrite=True)
    mon.record(0, net)
    assert mon.work.parent == tmp_path and mon.work.name.startswith(".x.nc.tmp")
    assert mon.work.is_file()
    assert path.read_bytes() == b"precious"             # a crash now keeps the old file
    assert ps.open_run(mon.work).sizes["step"] == 1     # the recording is read live beside
    mon.record(1, net)
    mon.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nc"]
    assert ps.open_run(path).sizes["step"] == 2 and mon.to_xarray().sizes["step"] == 2
    mon.close()                                         # closing again changes nothing


def test_an_exception_while_recording_over_a_file_keeps_it(tmp_path):
    net, path = net_of(), tmp_path / "x.nc"
    path.write_bytes(b"precious")
    with pytest.raises(RuntimeError, match="boom"):
        with Monitor(net, weights="w1", path=path, overwrite=True) as mon:
            mon.record(0, net)
            raise RuntimeError("boom")
    assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nc"]      # no temporary file
    with pytest.raises(ConfigError, match="discarded"):
        mon.to_xarray()
    new = tmp_path / "new.nc"                           # a new file keeps its records
    with pytest.raises(RuntimeError):
        with Monitor(net, weights="w1", path=new) as mon:
            mon.record(0, net)
            raise RuntimeError("boom")
    assert ps.open_run(new).sizes["step"] == 1


def test_group_traces_are_recorded():
    net = net_of()
    trace = Trace(tau=2.0, units="steps")
    net.groups["h1"].traces["x"] = trace
    mon = Monitor(net, weights=None, traces="all", loss=False)
    trace.step(torch.ones(3, 8, 2))
    mon.record(1, net, StepResult(loss=torch.tensor(0.0), updates={}))
    ds = mon.to_xarray()
    assert list(ds.data_vars) == ["trace_h1_x"] and (ds["trace_h1_x"].values == 1).all()
    assert ds["trace_h1_x"].attrs["tau"] == 2.0


def test_monitor_follows_the_network_device(device):
    net = net_of(device=device)
    ring = Monitor(net, weights="all", max_steps=2, indices={"w2": {"pre": [0, 3]}})
    grow = Monitor(net, weights="w2", updates="w2")
    for mon in (ring, grow):
        mon.record(0, net)                                  # NaN updates, made on the device
        mon.record(1, net)
    assert ring._values["weight_w2"].device.type == device
    net.to("cpu")                                           # the network moves: so does recording
    for mon in (ring, grow):
        mon.record(2, net)
    ds = ring.to_xarray()
    assert np.array_equal(ds["weight_w2"].values[1], net.synapses["w2"].w[:, [0, 3]].numpy())
    assert ds.attrs["device"].startswith(device)
    assert grow.to_xarray()["weight_w2"].sizes["step"] == 3
