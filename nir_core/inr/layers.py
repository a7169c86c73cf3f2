"""What coordinate networks share: Fourier features of the input and SIREN's sine layers with their initialisation."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def positional_encoding(x: Tensor, frequencies: int) -> Tensor:
    """(..., D) -> (..., D * (1 + 2 * frequencies)): x, then sin and cos of 2^k π x for k < ``frequencies``."""
    if frequencies == 0:
        return x
    scales = (2.0 ** torch.arange(frequencies, dtype=x.dtype, device=x.device)) * math.pi
    angles = (x[..., None, :] * scales[:, None]).flatten(-2)
    return torch.cat([x, torch.sin(angles), torch.cos(angles)], -1)


class Sine(nn.Module):
    """sin(ω x) (SIREN)."""

    def __init__(self, omega: float):
        super().__init__()
        self.omega = omega

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(self.omega * x)


def siren_init(module: nn.Module, omega: float) -> None:
    """SIREN's initialisation of every ``nn.Linear`` in ``module`` (in order): the first uniform in ±1/fan_in, later
    ones in ±sqrt(6/fan_in)/ω, so the pre-activations stay spread over a few periods of the sine."""
    with torch.no_grad():
        for i, layer in enumerate(m for m in module.modules() if isinstance(m, nn.Linear)):
            bound = 1 / layer.in_features if i == 0 else math.sqrt(6 / layer.in_features) / omega
            layer.weight.uniform_(-bound, bound)
