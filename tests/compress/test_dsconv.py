"""DSConv block quantisation: the block layout, the scales against the thesis' recipe, exact integer blocks, and
quantisation-aware training through it."""
from __future__ import annotations

import pytest
import torch

from compress import dsconv
from compress.qat import attach
from compress.quantisers import DSConv, make_quantiser, quantisation_error


@pytest.mark.parametrize("shape", [(5, 70, 3, 3, 3), (7, 33), (4, 64, 3, 3), (10,)])
def test_blocks_run_along_the_input_depth_and_invert(shape):
    w = torch.randn(shape)
    blocks = dsconv.to_blocks(w, 32)
    assert blocks.shape == (dsconv.block_count(shape, 32), 32)
    assert torch.equal(dsconv.from_blocks(blocks, shape), w)
    if len(shape) >= 2:  # the first block holds input channels 0..31 of output 0 at the first kernel position
        first = w[0, :32].reshape(min(32, shape[1]), -1)[:, 0]
        assert torch.equal(blocks[0, :len(first)], first)


def thesis_scales(blocks: torch.Tensor, bits: int) -> torch.Tensor:
    """The thesis' recipe, written out: floor(w 2^(b-1) / max|w|) clipped, then the least-squares scale."""
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    m = torch.floor(blocks * 2 ** (bits - 1) / blocks.abs().amax(-1, keepdim=True)).clamp(lo, hi)
    return (blocks * m).sum(-1) / (m * m).sum(-1), m


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_the_fitted_blocks_are_no_worse_than_the_thesis_recipe(bits):
    torch.manual_seed(0)
    w = torch.randn(16, 64) * 0.1
    q = DSConv(bits)
    scales = q.fit(w)
    ours = quantisation_error(w, q, scales)
    xi, m = thesis_scales(dsconv.to_blocks(w, 32), bits)
    theirs = float(((dsconv.to_blocks(w, 32) - xi[:, None] * m) ** 2).sum())
    assert ours <= theirs + 1e-9
    assert (scales > 0).all()


def test_a_block_of_scaled_integers_is_stored_exactly():
    torch.manual_seed(1)
    integers = torch.randint(-8, 8, (6, 40)).float()
    integers[:, 0] = -8  # every block reaches the range's end, so its scale is identifiable
    integers[:, 32] = -8
    scale_per_row = torch.rand(6, 1) + 0.1
    w = integers * scale_per_row
    q = DSConv(4)
    assert quantisation_error(w, q, q.fit(w)) < 1e-10


def test_one_bit_blocks_are_the_sign_times_the_mean_magnitude():
    w = torch.tensor([[0.5, -0.25, 0.1, -0.05]])
    q = DSConv(1, block=4)
    scales = q.fit(w)
    assert torch.allclose(scales, w.abs().mean(-1))
    assert torch.allclose(q.quantize(w, scales), torch.sign(w) * scales[0])
    assert set(q.encode(w, scales).flatten().tolist()) == {0, 1}


def test_more_bits_lower_the_error_and_padding_does_not_count():
    torch.manual_seed(2)
    w = torch.randn(8, 45) * 0.05  # 45 = one full block and one of 13 values
    errors = [quantisation_error(w, q := make_quantiser("dsconv", bits), q.fit(w)) for bits in range(1, 9)]
    assert all(a > b for a, b in zip(errors, errors[1:]))
    # the padded half block's scale fits its own 13 values: the same as quantising them alone
    alone = w[:, 32:]
    assert torch.allclose(DSConv(4).fit(w).reshape(8, 2)[:, 1], DSConv(4).fit(alone), atol=1e-7)


def test_quantisation_aware_training_runs_through_dsconv():
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 40, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(40, 3, 1))
    x = torch.randn(4, 3, 8, 8)
    target = torch.randn(4, 3, 8, 8)
    layers = attach(model, "dsconv", bits=3)
    optimiser = torch.optim.Adam(model.parameters(), 1e-2)
    losses = []
    for step in range(60):
        loss = torch.nn.functional.mse_loss(model(x), target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
        if step % 10 == 0:
            layers.repartition()
    assert losses[-1] < 0.9 * losses[0]
    with torch.no_grad():  # the forward pass really uses block-quantised weights
        layer = layers.layers[1]
        weight = layer.quantised_weight()
        blocks, real = dsconv.to_blocks(weight, 32), dsconv.to_blocks(torch.ones_like(weight), 32) > 0
        assert max(len(torch.unique(row[keep])) for row, keep in zip(blocks, real)) <= 8


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="block must be"):
        DSConv(4, block=0)
    with pytest.raises(ValueError, match="bits must be"):
        DSConv(9)


def test_block_floating_point_shares_one_exponent_per_block_of_channels():
    torch.manual_seed(0)
    x = torch.randn(2, 40, 3, 5) * torch.logspace(-3, 2, 40)[None, :, None, None]
    x[1, 32:, 0, 0] = 0.0  # an all-zero block (the second block of 8 channels at one position)
    bits = 4
    q = dsconv.block_floating_point(x, bits)
    assert q.shape == x.shape
    assert torch.all(q[1, 32:, 0, 0] == 0)
    for block in (slice(0, 32), slice(32, 40)):
        xs, qs = x[:, block], q[:, block]
        peak = xs.abs().amax(1, keepdim=True)
        step = torch.exp2(torch.ceil(torch.log2(peak.clamp_min(1e-30) / 7)))
        mantissa = qs / step
        assert torch.equal(mantissa, mantissa.round())  # integers times the block's one power-of-two step
        assert mantissa.abs().max() <= 7
        assert torch.all((xs - qs).abs() <= step / 2)
    assert torch.equal(dsconv.block_floating_point(q, bits), q)
    # Within a block the small channels lose their detail to the large ones' exponent: more bits keep more.
    assert (dsconv.block_floating_point(x, 8) - x).abs().mean() < (q - x).abs().mean()
    with pytest.raises(ValueError, match="2..8 mantissa bits"):
        dsconv.block_floating_point(x, 1)


def test_bfp_activations_feed_every_conv_block_floating_point_inputs():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 40, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(40, 8, 3))
    attach(net, "dsconv", bits=4, activation_bits=3, activation_format="bfp")
    seen = []
    net[2].register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))  # runs after the BFP hook
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    net(x).sum().backward()
    assert torch.equal(seen[0], dsconv.block_floating_point(seen[0], 3))
    assert x.grad is not None and x.grad.abs().sum() > 0  # straight-through: the gradient reaches the input
