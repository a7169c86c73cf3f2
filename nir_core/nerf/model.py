"""The radiance field: a small NeRF MLP (positional encoding, ``depth`` x ``width`` layers, a density head and a
view-dependent colour head), the network Gordon et al. quantise ("On Quantizing Implicit Neural Representations",
§4.3: 4 layers of 64 units, ReLU, positional encoding, no hierarchical sampling).

Every weight sits in an ``nn.Linear``, so the quantisation-aware layers and the ``.nirz`` codec of ``compress/``
take the model as they take any other.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import Config, bounded, check_ranges
from ..inr.layers import Sine, positional_encoding, siren_init

ACTIVATIONS = ("relu", "sine")


@dataclass
class NeRFConfig(Config):
    """Architecture of :class:`NeRF`."""

    depth: int = bounded(4, 1)
    """Layers of the trunk that reads the encoded position (the paper: 4)."""
    width: int = bounded(64, 1)
    """Units per trunk layer (the paper: 64; the original NeRF: 8 x 256)."""
    position_frequencies: int = bounded(10, 0)
    """Octaves of the positional encoding of x (NeRF: 10)."""
    direction_frequencies: int = bounded(4, 0)
    """Octaves of the positional encoding of the view direction (NeRF: 4)."""
    view_dependent: bool = True
    """Colour depends on the view direction (a layer of ``width // 2`` units reads it); off: colour from position."""
    feature_layer: bool = True
    """A linear layer between the trunk and the view-dependent head (the original NeRF's); off: the head reads the
    trunk's output directly, as nerfstudio's ``NeRFField`` (one ``width`` x ``width`` layer fewer to run and store)."""
    activation: str = "relu"
    """``"relu"`` (NeRF) or ``"sine"`` (SIREN layers, ``sine_omega``)."""
    sine_omega: float = bounded(30.0, 0.0)
    """The sine's frequency factor ω (SIREN: 30)."""

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        check_ranges(self)


class NeRF(nn.Module):
    """(sample positions (R, S, 3), unit view directions (R, 3), one per ray) -> (colours (R, S, 3) in [0, 1],
    densities (R, S) >= 0)."""

    def __init__(self, cfg: NeRFConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or NeRFConfig()
        act = (lambda: nn.ReLU(inplace=True)) if cfg.activation == "relu" else (lambda: Sine(cfg.sine_omega))
        inputs = 3 * (1 + 2 * cfg.position_frequencies)
        directions = 3 * (1 + 2 * cfg.direction_frequencies)
        head = cfg.width // 2 or 1
        layers: list[nn.Module] = []
        for i in range(cfg.depth):
            layers += [nn.Linear(inputs if i == 0 else cfg.width, cfg.width), act()]
        self.trunk = nn.Sequential(*layers)
        self.density = nn.Linear(cfg.width, 1)
        if cfg.view_dependent and cfg.feature_layer:
            self.feature = nn.Linear(cfg.width, cfg.width)
            self.view = nn.Sequential(nn.Linear(cfg.width + directions, head), act())
        elif cfg.view_dependent:
            # The head's layer split by its two inputs: the direction's part is the same for every sample of a
            # ray, so it runs once per ray (the same function as one layer over the concatenated inputs).
            self.view_position = nn.Linear(cfg.width, head)
            self.view_direction = nn.Linear(directions, head, bias=False)
            self.view_activation = act()
        self.colour = nn.Linear(head if cfg.view_dependent else cfg.width, 3)
        if cfg.activation == "sine":
            siren_init(self, cfg.sine_omega)

    def forward(self, positions: Tensor, directions: Tensor) -> tuple[Tensor, Tensor]:
        rays, samples = positions.shape[:2]
        h = self.trunk(positional_encoding(positions.reshape(-1, 3), self.cfg.position_frequencies))
        sigma = torch.relu(self.density(h)).view(rays, samples)
        if self.cfg.view_dependent:
            d = positional_encoding(directions, self.cfg.direction_frequencies)
            if self.cfg.feature_layer:
                d = d[:, None].expand(rays, samples, d.shape[-1]).reshape(rays * samples, -1)
                h = self.view(torch.cat([self.feature(h), d], -1))
            else:
                h = self.view_position(h).view(rays, samples, -1) + self.view_direction(d)[:, None]
                h = self.view_activation(h).view(rays * samples, -1)
        return torch.sigmoid(self.colour(h)).view(rays, samples, 3), sigma

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
