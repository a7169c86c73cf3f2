"""NDF voxel-CNN encoder and UDF decoder: axis order, shapes, parameter counts, gradients, a tiny fit, the Field."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nir_core.field import Field
from nir_core.models.decoders.losses import clamped_l1
from nir_core.models.ndf import NDFConfig, NDFModel, SlabConv3d, axis_offsets, sample_grids, voxelize


@pytest.fixture(autouse=True)
def one_thread():
    """Run every test on one thread: these small convolutions and MLPs spend most of their time in OpenMP
    synchronisation when two threads share two busy cores (training steps ran 10x slower), so the file's
    running time would depend on whatever else the machine is doing."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cloud(b: int, n: int, seed: int = 0) -> torch.Tensor:
    """(b, n, 3) uniform points in the unit cube."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, n, 3, generator=g) - 0.5


def sphere(n: int, radius: float, seed: int = 0) -> torch.Tensor:
    """(n, 3) points on a sphere centred at the origin."""
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(n, 3, generator=g)
    return radius * p / p.norm(dim=1, keepdim=True)


def cell_centre(index: int, size: int) -> float:
    """Unit-cube coordinate of the centre of voxel ``index`` along an axis of ``size`` voxels."""
    return -0.5 + (index + 0.5) / size


def small(**overrides) -> NDFConfig:
    """cpu_small at 32^3 with four scales (the coarsest grid stays 2^3): fast enough to train in a test."""
    return NDFConfig.cpu_small(**{"resolution": 32, "channels": (16, 32, 32, 64), **overrides})


def expected_parameters(cfg: NDFConfig) -> int:
    """Parameter count worked out from the architecture: 3x3x3 convolutions, batch norms, the decoder MLP."""
    conv = (cfg.in_channels * 27 + 1) * cfg.stem_channels
    prev = cfg.stem_channels
    for c in cfg.channels:
        conv += (prev * 27 + 1) * c + (cfg.convs_per_scale - 1) * (c * 27 + 1) * c
        prev = c
    norms = 2 * (cfg.stem_channels + sum(cfg.channels)) if cfg.batch_norm else 0
    widths = [sum(cfg.grid_channels) * cfg.num_displacements + 3 * cfg.append_coords, *cfg.hidden, 1]
    mlp = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))
    return conv + norms + mlp


# ---------------------------------------------------------------- coordinates


def test_voxelize_puts_points_in_their_voxel_in_xyz_order():
    r = 10
    pts = torch.tensor([[[-0.45, 0.05, 0.45], [-0.44, 0.06, 0.44]],  # both in voxel (0, 5, 9)
                        [[0.31, -0.29, -0.5], [0.7, -0.9, 0.0]]])  # (8, 2, 0), and one clamped to (9, 0, 5)
    grid = voxelize(pts, r)
    assert grid.shape == (2, 1, r, r, r) and grid.dtype == torch.float32
    assert grid[0, 0, 0, 5, 9] == 1 and grid[0].sum() == 1  # duplicates count once
    assert grid[1, 0, 8, 2, 0] == 1 and grid[1, 0, 9, 0, 5] == 1 and grid[1].sum() == 2


def test_voxelize_matches_a_loop():
    pts = cloud(2, 300, seed=3)
    r = 16
    grid = voxelize(pts, r)
    ref = torch.zeros_like(grid)
    for b in range(2):
        for x, y, z in pts[b].tolist():
            i, j, k = (min(int((v + 0.5) * r), r - 1) for v in (x, y, z))
            ref[b, 0, i, j, k] = 1
    assert torch.equal(grid, ref)


def test_voxelize_offsets_are_the_mean_in_voxel_position_of_each_voxels_points():
    pts = cloud(2, 300, seed=4)
    pts[1, 0] = torch.tensor([0.9, -0.7, 0.1])  # outside: clamped into a border voxel, offset within half a voxel
    r = 8
    grid = voxelize(pts, r, offsets=True)
    assert grid.shape == (2, 4, r, r, r)
    assert torch.equal(grid[:, :1], voxelize(pts, r))  # channel 0 is the occupancy
    sums, counts = torch.zeros(2, 3, r, r, r), torch.zeros(2, r, r, r)
    for b in range(2):
        for point in pts[b].tolist():
            i, j, k = (min(max(int(math.floor((v + 0.5) * r)), 0), r - 1) for v in point)
            off = [min(max((v + 0.5) * r - (n + 0.5), -0.5), 0.5) for v, n in zip(point, (i, j, k))]
            sums[b, :, i, j, k] += torch.tensor(off)
            counts[b, i, j, k] += 1
    want = sums / counts.clamp(min=1).unsqueeze(1)
    torch.testing.assert_close(grid[:, 1:], want)
    assert grid[:, 1:].abs().max() <= 0.5 and (grid[:, 1:][grid[:, :1].expand(-1, 3, -1, -1, -1) == 0] == 0).all()


def test_input_grid_with_offsets_feeds_the_encoder_and_round_trips_through_json():
    cfg = small(input_grid="occupancy+offset")
    assert cfg.in_channels == 4 and cfg.grid_channels[0] == 4
    assert NDFConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    net = NDFModel(cfg).eval()
    with torch.no_grad():
        enc = net.encode(cloud(1, 500))
    assert enc[0].shape == (1, 4, 32, 32, 32)
    assert net.num_parameters() == expected_parameters(cfg)
    with pytest.raises(ValueError, match="input_grid"):
        NDFConfig(input_grid="density")
    with pytest.raises(ValueError, match="does not match"):
        NDFConfig(input_grid="occupancy+offset", in_channels=1)
    assert NDFConfig.from_json({"in_channels": 1}).input_grid == "occupancy"  # bundles from before the option


def test_sample_grids_reads_the_voxel_at_its_centre_on_an_asymmetric_grid():
    # Distinct sizes per axis: swapping any two axes changes the shape, the values and the cell centres.
    nx, ny, nz = 4, 5, 6
    x, y, z = torch.meshgrid(torch.arange(nx), torch.arange(ny), torch.arange(nz), indexing="ij")
    grid = (100 * x + 10 * y + z).float().view(1, 1, nx, ny, nz)
    idx = torch.tensor([[0, 0, 0], [3, 4, 5], [1, 3, 2], [2, 0, 5], [3, 1, 0]])
    centres = torch.tensor([[cell_centre(i, nx), cell_centre(j, ny), cell_centre(k, nz)] for i, j, k in idx.tolist()])
    got = sample_grids([grid], centres.view(1, -1, 1, 3))
    assert got.shape == (1, len(idx), 1, 1)
    want = (100 * idx[:, 0] + 10 * idx[:, 1] + idx[:, 2]).float()
    torch.testing.assert_close(got.view(-1), want)


@pytest.mark.parametrize("queries", [1000, 999])
def test_sample_grids_spread_over_threads_is_the_same(queries):
    """With two threads one scene's queries are sampled as two batch entries (grid_sample's CPU kernel runs
    batch entries in parallel): the same features and grid gradients as in one piece (an odd count stays whole)."""
    torch.manual_seed(0)
    grids = [torch.randn(1, c, r, r, r, requires_grad=True) for c, r in [(4, 16), (8, 8)]]
    points = torch.rand(1, queries, 7, 3) - 0.5
    results = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for g in grids:
            g.grad = None
        f = sample_grids(grids, points)
        (f * torch.linspace(-1, 1, f.numel()).view_as(f)).sum().backward()
        results.append((f.detach(), [g.grad for g in grids]))
    (f1, g1), (f2, g2) = results
    assert f1.shape == (1, queries, 12, 7)
    torch.testing.assert_close(f1, f2)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_sample_grids_is_trilinear_between_centres():
    # Trilinear interpolation reproduces a linear function exactly, anywhere between the outer cell centres.
    nx, ny, nz = 4, 5, 6
    x, y, z = torch.meshgrid(torch.arange(nx), torch.arange(ny), torch.arange(nz), indexing="ij")
    grid = torch.stack([100 * x + 10 * y + z, -x + 2 * y]).double().unsqueeze(0)  # two channels
    sizes = torch.tensor([nx, ny, nz], dtype=torch.float64)
    lo, hi = 0.5 / sizes - 0.5, 0.5 - 0.5 / sizes
    g = torch.Generator().manual_seed(0)
    p = lo + (hi - lo) * torch.rand(1, 50, 3, generator=g, dtype=torch.float64)
    u = (p + 0.5) * sizes - 0.5  # continuous voxel index per axis
    got = sample_grids([grid], p.unsqueeze(2))[0, :, :, 0]
    want = torch.stack([100 * u[0, :, 0] + 10 * u[0, :, 1] + u[0, :, 2], -u[0, :, 0] + 2 * u[0, :, 1]], dim=1)
    torch.testing.assert_close(got, want)


def test_pooled_scales_stay_aligned_with_the_cube():
    # A point's voxel, max-pooled to every coarser scale, is read back at the point's coarse cell centre.
    r = 32
    p = torch.tensor([[[0.2, -0.37, 0.05]]])
    grid = voxelize(p, r)
    for _ in range(5):
        n = grid.shape[-1]
        centre = torch.tensor([cell_centre(min(int((v + 0.5) * n), n - 1), n) for v in p[0, 0].tolist()])
        assert sample_grids([grid], centre.view(1, 1, 1, 3), padding_mode="zeros").item() == pytest.approx(1.0)
        grid = F.max_pool3d(grid, 2)


def test_displacement_neighbourhood():
    off = axis_offsets(0.05)
    assert off.shape == (7, 3)
    assert torch.equal(off[0], torch.zeros(3))
    assert torch.allclose(off[1:].abs().sum(dim=1), torch.full((6,), 0.05))
    assert torch.equal(off.sum(dim=0), torch.zeros(3))
    assert axis_offsets(0.0).shape == (1, 3)
    # NDF's 0.0722 is measured in grid_sample's [-1, 1] coordinates, twice the unit cube.
    assert NDFConfig.paper().displacement * 2 == pytest.approx(0.0722, abs=1e-4)


# ---------------------------------------------------------------- configuration


def test_config_json_round_trip_and_validation():
    cfg = NDFConfig.paper(resolution=128)
    d = json.loads(json.dumps(cfg.to_json()))
    assert NDFConfig.from_json(d) == cfg
    with pytest.raises(ValueError, match="unknown"):
        NDFConfig.from_json({**d, "bogus": 1})
    with pytest.raises(ValueError, match="multiple"):
        NDFConfig(resolution=48)  # 5 poolings need a multiple of 32
    with pytest.raises(ValueError, match="at least 64"):
        NDFConfig(resolution=32)  # a 1^3 coarsest grid
    assert NDFConfig(resolution=32, channels=(16, 32, 32, 64)).resolution == 32
    with pytest.raises(ValueError, match="padding_mode"):
        NDFConfig(padding_mode="wrap")


@pytest.mark.parametrize("preset, total", [("cpu_small", 734_241), ("paper", 4_623_457)])
def test_parameter_counts(preset, total):
    cfg = getattr(NDFConfig, preset)()
    net = NDFModel(cfg)
    print(f"NDF {preset}: {net.num_parameters():,} parameters "
          f"(encoder {sum(p.numel() for p in net.encoder.parameters()):,}, "
          f"decoder {sum(p.numel() for p in net.decoder.parameters()):,}), decoder input {cfg.feature_size}")
    assert net.num_parameters() == expected_parameters(cfg) == total


def test_paper_encoder_has_the_layers_the_thesis_quantises():
    cfg = NDFConfig.paper()
    net = NDFModel(cfg)
    convs = net.encoder.conv_layers()
    assert cfg.num_conv_layers == len(convs) == 11
    assert convs == [m for m in net.encoder.modules() if isinstance(m, nn.Conv3d)]
    # Table 3.5: 84.5 Mb for the 32-bit encoder.
    bits = 32 * sum(p.numel() for c in convs for p in c.parameters())
    assert bits / 1e6 == pytest.approx(84.5, abs=0.05)
    # The released decoder: (1 + 16 + 32 + 64 + 128 + 128 + 128) * 7 + 3 inputs, 512-256-256 hidden.
    assert cfg.feature_size == 3482
    assert [layer.out_features for layer in net.decoder.layers] == [512, 256, 256, 1]


# ---------------------------------------------------------------- shapes and gradients


@pytest.mark.parametrize("preset, b", [("cpu_small", 2), ("paper", 1)])
def test_output_shapes_and_non_negative(preset, b):
    torch.manual_seed(0)
    cfg = getattr(NDFConfig, preset)(resolution=64)
    net = NDFModel(cfg).eval()
    with torch.no_grad():
        enc = net.encode(cloud(b, 500))
        sizes = [64, 64, 32, 16, 8, 4, 2]
        assert [tuple(g.shape) for g in enc] == [(b, c, s, s, s) for c, s in zip(cfg.grid_channels, sizes)]
        q = cloud(b, 300, seed=1) * 1.2  # some queries outside the cube
        d = net.decode(enc, q, chunk=128)
        assert d.shape == (b, 300)
        assert torch.isfinite(d).all() and (d >= 0).all()
        torch.testing.assert_close(d, net.decode(enc, q))  # chunking changes nothing
        torch.testing.assert_close(d, net(cloud(b, 500), q))


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    net = NDFModel(small()).train()
    pts = sphere(400, 0.3).unsqueeze(0)
    q = (sphere(256, 0.3, seed=1) * 1.1).unsqueeze(0)
    loss = (net(pts, q) - 0.05).abs().mean()
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert net.encoder.conv_in.weight.grad.abs().sum() > 0
    assert net.decoder.layers[0].weight.grad.abs().sum() > 0


@pytest.mark.slow
def test_overfits_the_udf_of_a_sphere():
    torch.manual_seed(0)
    radius = 0.3
    net = NDFModel(small()).train()
    pts = sphere(2000, radius).unsqueeze(0)
    g = torch.Generator().manual_seed(1)
    n = 1024
    base = sphere(n, radius, seed=2)
    sigma = torch.where(torch.arange(n) % 2 == 0, 0.02, 0.08).unsqueeze(1)  # NDF's near and far surface bands
    q = (base + sigma * torch.randn(n, 3, generator=g)).clamp(-0.5, 0.5).unsqueeze(0)
    gt = (q.norm(dim=-1) - radius).abs()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = clamped_l1(net(pts, q), gt)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = losses[0], min(losses[-10:])
    print(f"NDF sphere fit: clamped L1 {first:.4f} -> {last:.5f} ({first / last:.0f}x) in 100 steps")
    assert last < first / 10


@pytest.mark.parametrize("shape", [(1, 4, 8, 6, 5), (1, 3, 7, 4, 4), (2, 3, 8, 4, 4)])
def test_slab_convolution_is_the_plain_convolution(shape):
    """Split into two depth slabs (batch of one, even depth) or passed through (odd depth, batches): the same
    output and the same gradients as nn.Conv3d with its weights."""
    torch.manual_seed(0)
    slab = SlabConv3d(shape[1], 5, 3, padding=1)
    plain = nn.Conv3d(shape[1], 5, 3, padding=1)
    plain.load_state_dict(slab.state_dict())
    x = torch.randn(shape)
    outputs, grads = [], []
    for conv in (slab, plain):
        xi = x.clone().requires_grad_()
        y = conv(xi)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        outputs.append(y)
        grads.append([xi.grad, conv.weight.grad, conv.bias.grad])
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=1e-5)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------- Field


def test_field_matches_decode_and_has_gradients():
    torch.manual_seed(0)
    net = NDFModel(small()).eval()
    pts = sphere(500, 0.3)
    field = net.field(pts, batch_size=7)  # batches smaller than the query set
    assert isinstance(field, Field)
    q = cloud(1, 40, seed=2)[0]
    with torch.no_grad():
        want = net.decode(net.encode(pts.unsqueeze(0)), q.unsqueeze(0))[0]
        got = field.udf(q)
    assert got.shape == (40,)
    torch.testing.assert_close(got, want)
    d, grad = field.udf_and_grad(q)
    assert d.shape == (40,) and grad.shape == (40, 3)
    assert not d.requires_grad and not grad.requires_grad
    torch.testing.assert_close(d, want)
    assert all(p.grad is None for p in net.parameters())  # queries only, nothing accumulates in the model
    assert grad.abs().sum() > 0


def test_field_gradient_matches_finite_differences():
    torch.manual_seed(0)
    net = NDFModel(small()).double().eval()
    field = net.field(sphere(500, 0.3).double())
    q = cloud(1, 8, seed=4)[0].double() * 0.8
    _, grad = field.udf_and_grad(q)
    eps = 1e-6
    fd = torch.stack([(field.udf(q + eps * e) - field.udf(q - eps * e)) / (2 * eps) for e in torch.eye(3, dtype=q.dtype)],
                     dim=1)
    torch.testing.assert_close(grad, fd, atol=1e-5, rtol=1e-4)


def test_field_rejects_batches_of_scenes():
    net = NDFModel(small())
    with pytest.raises(ValueError, match="one scene"):
        net.field(cloud(2, 10))
    with torch.no_grad():
        assert math.isfinite(float(net.field(cloud(1, 10)).udf(torch.zeros(1, 3))[0]))


def test_field_encodes_in_eval_mode_and_restores_the_mode():
    torch.manual_seed(0)
    net = NDFModel(small()).train()
    pts = sphere(500, 0.3)
    stats = net.encoder.norm_in.running_mean.clone()
    field = net.field(pts)
    assert net.training  # restored
    assert torch.equal(net.encoder.norm_in.running_mean, stats)  # a field never moves batch-norm statistics
    net.eval()
    with torch.no_grad():
        want = net.decode(net.encode(pts.unsqueeze(0)), pts[:5].unsqueeze(0))[0]
    torch.testing.assert_close(field.udf(pts[:5]).detach(), want)
