"""Connectivities: drive, transpose (adjoint), three-factor outer product, on every device."""
import pytest
import torch

from plastisim.neurons import NeuronGroup
from plastisim.synapses import Dense, MeanPool, Patches, Synapses
from plastisim.traces import Trace, trace_step

CASES = [(Dense(), 1), (Patches(2, shared=True), 4), (Patches(2, shared=False), 4),
         (MeanPool(), 1)]


def _projection(conn, post_positions: int, device: str, batch: int, seed: int):
    """A 3 x 8 -> 5 x post_positions projection, random pre rates u and post signals δ."""
    gen = torch.Generator().manual_seed(seed)
    pre, post = NeuronGroup("pre", 3, 8), NeuronGroup("post", 5, post_positions)
    syn = Synapses("w", pre, post, conn, generator=gen, dtype=torch.float64).to(device)
    u = torch.randn(batch, 3, 8, dtype=torch.float64, generator=gen).to(device)
    delta = torch.randn(batch, 5, post_positions, dtype=torch.float64, generator=gen).to(device)
    return syn, u, delta


@pytest.mark.parametrize("conn, post_positions", CASES, ids=str)
def test_transpose_is_the_adjoint_of_the_drive(conn, post_positions, device):
    syn, u, delta = _projection(conn, post_positions, device, batch=4, seed=0)
    lhs = (syn.drive(syn.unfold(u)) * delta).sum()
    rhs = (u * syn.transpose(delta)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-12)


@pytest.mark.parametrize("conn, post_positions", CASES, ids=str)
def test_outer_is_the_gradient_of_the_mean_drive_product(conn, post_positions, device):
    """outer(δ, u) · c = ∇_w (1/B) Σ δ · a  (the three-factor form of a local gradient)."""
    syn, u, delta = _projection(conn, post_positions, device, batch=6, seed=1)
    w = syn.w.clone().requires_grad_(True)
    ((syn.drive(syn.unfold(u), w) * delta).sum() / 6).backward()
    assert torch.allclose(syn.scale * syn.outer(delta, syn.unfold(u)), w.grad, rtol=1e-12)


def test_patches_fold_inverts_unfold():
    pre = NeuronGroup("pre", 3, 8)
    x = torch.arange(2 * 3 * 8.0).reshape(2, 3, 8)
    conn = Patches(2)
    fields = conn.unfold(x.transpose(1, 2))              # rows (B, P, C) in
    assert fields.shape == (2, 4, 6)
    # patch 1 = positions 2, 3; fan-in ordered (position in patch, channel)
    assert torch.equal(fields[0, 1], torch.tensor([2.0, 10, 18, 3, 11, 19]))
    assert torch.equal(conn.fold(fields, pre), x.transpose(1, 2))


@pytest.mark.parametrize("shared", [True, False])
def test_patches_drive_is_conv1d_of_the_kernel_the_seed_draws(shared, device):
    """The weights keep the channel-major draw of F.conv1d's kernel (C_post, C_pre, s), whatever
    the storage order, and the drive is that convolution (locally connected: per position)."""
    pre, post = NeuronGroup("pre", 3, 8), NeuronGroup("post", 5, 4)
    syn = Synapses("w", pre, post, Patches(2, shared), dtype=torch.float64,
                   generator=torch.Generator().manual_seed(3)).to(device)
    drawn = torch.randn(syn.w.shape, generator=torch.Generator().manual_seed(3),
                        dtype=torch.float64).to(device)
    kernel = syn.connectivity.kernel(syn.w, pre)
    assert torch.equal(kernel, drawn.reshape(kernel.shape))
    x = torch.randn(2, 3, 8, dtype=torch.float64, device=device)
    if shared:
        expected = torch.nn.functional.conv1d(x, kernel, stride=2) * syn.scale
    else:
        expected = torch.stack([torch.einsum("icj,bcj->bi", kernel[p], x[..., 2 * p:2 * p + 2])
                                for p in range(4)], -1) * syn.scale
    assert torch.allclose(syn.drive(syn.unfold(x)), expected, rtol=1e-12)


def test_impossible_patch_layout_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Patches\(s=3\) is impossible for 8 pre positions"):
        Synapses("w", NeuronGroup("a", 2, 8), NeuronGroup("b", 2, 2), Patches(3))


@pytest.mark.parametrize("kind, expected", [("additive", 0.5 + 1), ("saturating", 0.5 + 0.5),
                                            ("nearest", 1.0)])
def test_trace_kinds_closed_form(kind, expected):
    tau = 1 / torch.log(torch.tensor(2.0)).item()   # exp(-1/tau) = 1/2
    value = trace_step(torch.tensor([1.0]), torch.tensor([1.0]), 1.0, tau, kind)
    assert value.item() == pytest.approx(expected, rel=1e-6)
    trace = Trace(tau=tau, kind=kind)
    trace.step(torch.tensor([1.0]))
    assert trace.step(torch.tensor([0.0])).item() == pytest.approx(0.5, rel=1e-6)
