"""The contextualising module (thesis ch. 6 §3.2): a few context channels per encoded point, read from frozen
encodings.

An encoder trained for reconstruction only gives encodings ``E_g`` that separate semantic classes poorly. The
contextualiser ``f_ctx`` — a small Point Transformer UNet over the encoded points, taking ``E_g`` as its input
features — outputs ``l`` context features per point; the semantic head then reads ``E_g ⊕ f_ctx(E_g)``. Only the
contextualiser and the semantic head train, on cross-entropy: the encoder, its UDF head and the data they were
trained on stay untouched.

Thesis sizes: channels [32, 32, 64, 64, 128], one block per scale, five scales, ``l = 4``: about 379k parameters.
The ``mlp`` kind (a per-point MLP, no neighbourhood) is the ablation of its Table 3.

Beyond the thesis, the contextualiser can also read each encoded point's colour (``colour``): real scans carry RGB,
and colour tells apart classes that geometry alone confuses (a door in its wall, a picture on it). Colour enters
here rather than in the encoder, so a geometry bundle stays as it is and only the context task retrains; the channels
say whether a point has a colour at all, so one model serves coloured and colourless scans.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..config import Config
from .point_transformer import PointTransformerConfig, PointTransformerUNet

KINDS = ("point_transformer", "mlp")
NO_COLOUR = -1.0
"""The colour value (every channel) of a point whose scan has no colours."""
COLOUR_CHANNELS = 4
"""Input channels colour adds: r, g, b centred on 0 (0 where unknown) and 1 where the point has a colour, else 0."""


def colour_channels(colours: Tensor | None, like: Tensor) -> Tensor:
    """colours (B, N, 3) in [0, 1] (:data:`NO_COLOUR` where unknown), or None for none at all -> (B, N, 4)
    contextualiser input channels shaped like ``like``'s first two dimensions."""
    if colours is None:
        return like.new_zeros(*like.shape[:2], COLOUR_CHANNELS)
    if colours.shape[:2] != like.shape[:2] or colours.shape[-1] != 3:
        raise ValueError(f"colours must be (B, N, 3) for {tuple(like.shape[:2])} points, got {tuple(colours.shape)}")
    colours = colours.to(like.dtype)
    known = (colours >= 0).all(dim=-1, keepdim=True).to(like.dtype)
    return torch.cat([(colours - 0.5) * known, known], dim=-1)


@dataclass
class ContextualiserConfig(Config):
    """Architecture of :class:`Contextualiser`."""

    context_features: int = 4
    """``l``: context channels per encoded point appended to ``E_g`` (the thesis: 4)."""
    kind: str = "point_transformer"
    """``"point_transformer"`` (the thesis's module) or ``"mlp"`` (per-point, the Table 3 ablation)."""
    channels: tuple[int, ...] = (32, 32, 64, 64, 128)
    """Point Transformer channels per scale, finest first (its length is the number of scales)."""
    blocks: tuple[int, ...] = (1, 1, 1, 1, 1)
    """Point Transformer blocks per scale."""
    mlp_hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the ``mlp`` kind."""
    colour: bool = False
    """Also read each encoded point's colour (:data:`COLOUR_CHANNELS` more input channels); points without one
    read as colourless, so the model still takes scans without colours."""
    network: dict = field(default_factory=dict)
    """Other :class:`PointTransformerConfig` settings (k, stride, share_planes, ...), when not the defaults."""

    def __post_init__(self):
        self.channels, self.blocks, self.mlp_hidden = tuple(self.channels), tuple(self.blocks), tuple(self.mlp_hidden)
        if self.kind not in KINDS:
            raise ValueError(f"unknown contextualiser kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.context_features < 1:
            raise ValueError(f"context_features must be >= 1, got {self.context_features}")
        PointTransformerConfig.check_partial(self.network, path="network")

    def point_transformer(self, in_features: int) -> PointTransformerConfig:
        """The UNet reading ``in_features`` encoding channels (relative positions only: no absolute xyz)."""
        return PointTransformerConfig(**{**self.network, "channels": self.channels, "blocks": self.blocks,
                                         "in_features": in_features, "xyz_as_features": False,
                                         "out_features": self.context_features})


class Contextualiser(nn.Module):
    """``f_ctx``: encoded points and their encodings -> context features.

    Parameters
    ----------
    cfg: architecture.
    in_features: channels of ``E_g`` (the encoder's ``out_features``).
    """

    def __init__(self, cfg: ContextualiserConfig, in_features: int):
        super().__init__()
        self.cfg = cfg
        in_features += COLOUR_CHANNELS if cfg.colour else 0
        if cfg.kind == "point_transformer":
            self.net = PointTransformerUNet(cfg.point_transformer(in_features))
        else:
            layers, width = [], in_features
            for hidden in cfg.mlp_hidden:
                layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
                width = hidden
            self.net = nn.Sequential(*layers, nn.Linear(width, cfg.context_features))

    def forward(self, points: Tensor, features: Tensor, colours: Tensor | None = None) -> Tensor:
        """points (B, N, 3), features (B, N, C) ``E_g``, colours (B, N, 3) in [0, 1] or None (read only when the
        config says ``colour``; see :func:`colour_channels`) -> (B, N, l) context features."""
        if self.cfg.colour:
            features = torch.cat([features, colour_channels(colours, features)], dim=-1)
        if self.cfg.kind == "point_transformer":
            return self.net(points, features)
        return self.net(features)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
