"""Quantisation-aware training: fake-quantised Linear / Conv weights with a straight-through estimator.

:func:`attach` makes every selected layer compute with its weights quantised (paper Fig. 3: the loss sees
q(W), the gradient updates the full-precision W). The layer keeps its float ``weight`` parameter and its state
dict keys, so the training engine checkpoints and resumes a QAT run like any other; the codebooks live beside
it in a :class:`QuantisedLayers` handle. :meth:`QuantisedLayers.repartition` refits the codebooks (paper
Algorithm 1, lines 3-6), every F steps or when the total layerwise quantisation error (TLQE, Eq. 3) has grown
by δ since the last refit (Eq. 6). Optional activation quantisation (per-tensor min-max uniform) makes a conv
encoder's feature grids quantised too.
"""
from __future__ import annotations

import fnmatch
import types
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .quantisers import Quantiser, make_quantiser, quantisation_error

QUANTISABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def quantisable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's Linear and Conv layers with their names, in module order (the order a bit list follows)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, QUANTISABLE)]


def layer_bits(layers: list[str], spec: str | list | dict | None, default: int) -> dict[str, int]:
    """Bits per layer from a spec.

    ``spec`` is None (``default`` everywhere); a list of ints, or a string "8,8,7,..." / "888777..." (one
    digit per layer), in layer order, exactly one per layer; or ``pattern=bits`` rules ("encoder.*=4,
    *.head.*=8" or a dict), first matching glob wins, unmatched layers get ``default``; or the result file of a
    bit search, "RESULT.json" (its best schedule) or "RESULT.json#k" (its k-th). A bits value of 0 leaves that
    layer in float.
    """
    if spec is None or spec == "":
        return {name: default for name in layers}
    if isinstance(spec, str) and spec.partition("#")[0].endswith(".json"):  # a bit search's result (#k: its k-th)
        from .search import chosen_layer_bits

        file, _, choice = spec.partition("#")
        spec = chosen_layer_bits(file, int(choice or 0))
    if isinstance(spec, str):
        if "=" in spec:
            spec = dict(rule.split("=", 1) for rule in spec.replace(" ", "").split(",") if rule)
        else:
            items = spec.replace(" ", "").split(",") if "," in spec else list(spec.replace(" ", ""))
            spec = items
    if isinstance(spec, dict):
        rules = [(str(p), _bits(b)) for p, b in spec.items()]
        unused = [p for p, _ in rules if not any(fnmatch.fnmatchcase(n, p) for n in layers)]
        if unused:
            raise ValueError(f"layer-bits pattern(s) {unused} match no layer; layers are: {', '.join(layers)}")
        return {n: next((b for p, b in rules if fnmatch.fnmatchcase(n, p)), default) for n in layers}
    bits = [_bits(b) for b in spec]
    if len(bits) != len(layers):
        raise ValueError(f"layer-bits lists {len(bits)} values but the model has {len(layers)} quantisable layers")
    return dict(zip(layers, bits))


def _bits(value) -> int:
    try:
        b = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"layer bits must be integers 0..8, got {value!r}") from None
    if not 0 <= b <= 8:
        raise ValueError(f"layer bits must be 0..8 (0 = keep float), got {b}")
    return b


def straight_through(x: torch.Tensor, quantised: torch.Tensor) -> torch.Tensor:
    """``quantised``'s values (bit for bit: x - x.detach() is exactly 0) with ``x``'s gradient."""
    return quantised.detach() + (x - x.detach())


@dataclass
class QuantisedLayer:
    """One fake-quantised layer."""

    name: str
    module: nn.Module
    quantiser: Quantiser
    codebook: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    """(L,) float32, sorted: the current quantisation map."""

    def fit(self) -> None:
        self.codebook = self.quantiser.fit(self.module.weight)

    def quantised_weight(self) -> torch.Tensor:
        """q(W) in the forward pass, W's gradient in the backward pass (straight-through estimator)."""
        w = self.module.weight
        return straight_through(w, self.quantiser.quantize(w, self.codebook))

    def error(self) -> float:
        return quantisation_error(self.module.weight, self.quantiser, self.codebook)


class QuantisedLayers:
    """The fake-quantised layers of a model and their codebooks; see :func:`attach`."""

    def __init__(self, layers: list[QuantisedLayer]):
        self.layers = layers
        self.tlqe_at_fit = 0.0
        self.repartitions = 0

    def repartition(self) -> float:
        """Refits every layer's codebook to its current weights; returns the TLQE after the refit."""
        for layer in self.layers:
            layer.fit()
        self.repartitions += 1
        self.tlqe_at_fit = self.tlqe()
        return self.tlqe_at_fit

    def tlqe(self) -> float:
        """Total layerwise quantisation error, sum over layers of ||W_l - Q_l(W_l)||² (paper Eq. 3)."""
        return sum(layer.error() for layer in self.layers)

    def detach(self) -> None:
        """Restores the layers' own forward (float weights again)."""
        for layer in self.layers:
            layer.module.__dict__.pop("forward", None)

    def by_name(self) -> dict[str, QuantisedLayer]:
        return {layer.name: layer for layer in self.layers}


@dataclass
class RepartitionSchedule:
    """When QAT refits the codebooks."""

    every: int = 50
    """Refit every this many steps (paper: every F epochs; 0 = never after the first fit)."""
    tlqe_growth: float | None = None
    """Also refit when the TLQE has grown by this much since the last refit (paper Eq. 6's δ); None = off."""

    def due(self, step: int, layers: QuantisedLayers) -> bool:
        if self.every and step % self.every == 0:
            return True
        return self.tlqe_growth is not None and layers.tlqe() >= layers.tlqe_at_fit + self.tlqe_growth


def attach(model: nn.Module, quantiser: str, bits: int = 8, layer_spec=None, codebook_dtype: str = "float32",
           activation_bits: int | None = None, activation_format: str = "minmax") -> QuantisedLayers:
    """Makes ``model``'s Linear / Conv layers compute with fake-quantised weights; fits the codebooks once.

    ``quantiser`` names one of :data:`~compress.quantisers.QUANTISERS`; ``layer_spec`` chooses bits per layer
    (:func:`layer_bits`; 0 keeps a layer in float). ``activation_bits`` also quantises the conv layers'
    activations, in ``activation_format`` (:func:`quantise_activations`).
    """
    named = quantisable_layers(model)
    chosen = layer_bits([n for n, _ in named], layer_spec, bits)
    layers = []
    for name, module in named:
        if chosen[name] == 0:
            continue
        layer = QuantisedLayer(name, module, make_quantiser(quantiser, chosen[name], codebook_dtype))
        module.forward = types.MethodType(_quantised_forward(layer), module)
        layers.append(layer)
    if activation_bits:
        quantise_activations(model, activation_bits, activation_format)
    handle = QuantisedLayers(layers)
    handle.repartition()
    return handle


def _quantised_forward(layer: QuantisedLayer):
    def forward(module, x):
        w = layer.quantised_weight()
        return F.linear(x, w, module.bias) if isinstance(module, nn.Linear) else module._conv_forward(x, w, module.bias)

    return forward


CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


ACTIVATION_FORMATS = ("minmax", "bfp")
"""How :func:`quantise_activations` quantises: ``minmax``, every conv layer's output per tensor (min-max uniform);
``bfp``, every conv layer's input in block floating point (DSConv: blocks of 32 channels share an exponent)."""


def quantise_activations(model: nn.Module, bits: int, fmt: str = "minmax") -> list:
    """Quantises the activations of every conv layer with ``bits`` bits, straight-through, in the format ``fmt``
    (:data:`ACTIVATION_FORMATS`): with ``minmax`` the feature grids a conv encoder produces hold at most 2^bits values
    each; with ``bfp`` every conv computes on block-floating-point inputs. Returns the hook handles."""
    if fmt == "bfp":
        from .dsconv import block_floating_point

        def pre_hook(module, inputs):
            return (straight_through(inputs[0], block_floating_point(inputs[0].detach(), bits)), *inputs[1:])

        return [m.register_forward_pre_hook(pre_hook) for m in model.modules() if isinstance(m, CONV)]
    if fmt != "minmax":
        raise ValueError(f"unknown activation format {fmt!r}; choose one of {', '.join(ACTIVATION_FORMATS)}")
    act = make_quantiser("minmax", bits)

    def hook(module, inputs, y):
        return straight_through(y, act.quantize(y, act.fit(y)))

    return [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, CONV)]
