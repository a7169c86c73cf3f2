"""QAT wrappers: quantised forward, straight-through gradients, repartitioning, TLQE, per-layer bit specs."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from compress.qat import RepartitionSchedule, attach, layer_bits, quantisable_layers


def toy() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))


def test_forward_uses_quantised_weights_and_keeps_state_keys():
    model = toy()
    keys = list(model.state_dict())
    layers = attach(model, "kmeans", bits=2)
    assert list(model.state_dict()) == keys
    reference = copy.deepcopy(model)
    layers_ref = {layer.name: layer for layer in layers.layers}
    with torch.no_grad():
        for name, module in quantisable_layers(reference):
            module.__dict__.pop("forward", None)
            layer = layers_ref[name]
            module.weight.copy_(layer.quantiser.quantize(layer.module.weight, layer.codebook))
    x = torch.randn(64, 3)
    assert torch.allclose(model(x), reference(x), atol=1e-6)
    assert all(len(torch.unique(layer.quantiser.quantize(layer.module.weight, layer.codebook))) <= 4
               for layer in layers.layers)
    layers.detach()
    assert not torch.allclose(model(x), reference(x), atol=1e-4)  # float weights again


def test_straight_through_gradient():
    model = toy()
    layers = attach(model, "minmax", bits=3)
    x = torch.randn(16, 3)
    model(x).sum().backward()
    first = layers.layers[0]
    # d/dW of the loss equals d/dW_q: the gradient of a copy whose weights are the quantised values
    ref = copy.deepcopy(model)
    layers.detach()
    with torch.no_grad():
        for (_, m), layer in zip(quantisable_layers(ref), layers.layers):
            m.__dict__.pop("forward", None)
            m.weight.copy_(layer.quantiser.quantize(layer.module.weight, layer.codebook))
    ref.zero_grad()
    ref(x).sum().backward()
    assert torch.allclose(first.module.weight.grad, ref[0].weight.grad, atol=1e-6)


def test_repartition_lowers_the_tlqe_after_weights_move():
    model = toy()
    layers = attach(model, "kmeans", bits=3)
    with torch.no_grad():
        for layer in layers.layers:
            layer.module.weight.mul_(1.7).add_(0.05)
    stale = layers.tlqe()
    assert stale > layers.tlqe_at_fit
    assert layers.repartition() < stale
    schedule = RepartitionSchedule(every=10, tlqe_growth=1e-3)
    assert schedule.due(20, layers) and not schedule.due(7, layers)
    with torch.no_grad():
        layers.layers[0].module.weight.add_(0.3)
    assert schedule.due(7, layers)  # Eq. 6: the error grew by more than δ


@pytest.mark.slow
def test_qat_fits_a_toy_function_at_three_bits():
    model = toy()
    layers = attach(model, "kmeans", bits=3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.rand(512, 3) * 2 - 1
    y = (x ** 2).sum(1, keepdim=True)
    schedule = RepartitionSchedule(every=25)
    first = None
    for step in range(1, 301):
        loss = ((model(x) - y) ** 2).mean()
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if schedule.due(step, layers):
            layers.repartition()
    with torch.no_grad():
        assert float(((model(x) - y) ** 2).mean()) < 0.2 * first


def test_activation_quantisation_on_conv_outputs():
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1))
    attach(conv, "minmax", bits=8, activation_bits=2)
    out = conv(torch.randn(1, 1, 6, 6, 6))
    assert len(torch.unique(out)) <= 4


def test_layer_bits_specs():
    names = ["enc.0", "enc.1", "head.0"]
    assert layer_bits(names, None, 3) == {"enc.0": 3, "enc.1": 3, "head.0": 3}
    assert layer_bits(names, "876", 3) == {"enc.0": 8, "enc.1": 7, "head.0": 6}
    assert layer_bits(names, "8,7,0", 3) == {"enc.0": 8, "enc.1": 7, "head.0": 0}
    assert layer_bits(names, "enc.*=4", 8) == {"enc.0": 4, "enc.1": 4, "head.0": 8}
    assert layer_bits(names, {"head.*": 2, "*": 5}, 8) == {"enc.0": 5, "enc.1": 5, "head.0": 2}
    with pytest.raises(ValueError, match="2 values but the model has 3"):
        layer_bits(names, "88", 3)
    with pytest.raises(ValueError, match="match no layer"):
        layer_bits(names, "dec.*=4", 3)
    with pytest.raises(ValueError, match="0..8"):
        layer_bits(names, "9,8,8", 3)


def test_layers_at_zero_bits_stay_float():
    model = toy()
    layers = attach(model, "kmeans", bits=3, layer_spec="0,3,3")
    assert [layer.name for layer in layers.layers] == ["2", "4"]
