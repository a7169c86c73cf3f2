"""Point Transformer UNet (Zhao et al., ICCV 2021): per-point features ``E_g`` of a point cloud.

The encoder of the reconstruction network (RangeUDF-style, thesis ch. 6 §4.2) and, shrunk, the contextualiser.
Five scales by default; level 0 keeps every point, each further level keeps ``1 / stride`` of the previous one by
farthest point sampling::

    stem (per-point linear) -> blocks[0]                                   level 0, N points,      channels[0]
    TransitionDown -> blocks[1]                                            level 1, N/4 points,    channels[1]
    ...                                                                    level 4, N/256 points,  channels[4]
    GlobalContext -> decoder_blocks                                        level 4
    TransitionUp (+ skip of level 3) -> decoder_blocks                     level 3
    ...                                                                    level 0
    head MLP                                                               (B, N, out_features)

All blocks of one level (encoder and decoder) attend over the same kNN neighbourhoods, searched once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..config import Config
from .components import (
    GlobalContext,
    GlobalContextConfig,
    PointNorm,
    PointTransformerBlock,
    PointTransformerLayerConfig,
    TransitionDown,
    TransitionDownConfig,
    TransitionUp,
    TransitionUpConfig,
    neighbours,
)


@dataclass
class PointTransformerConfig(Config):
    """Architecture of :class:`PointTransformerUNet`. The defaults are :meth:`cpu_small`."""

    channels: tuple[int, ...] = (32, 48, 64, 96, 128)
    """Feature channels per scale, finest first; its length is the number of scales."""
    blocks: tuple[int, ...] = (1, 1, 1, 1, 1)
    """Point Transformer blocks per encoder scale after its transition (0 allowed: transition only)."""
    decoder_blocks: int = 1
    """Point Transformer blocks per decoder scale after its transition (the reference uses 1)."""
    k: int = 16
    """Neighbours for attention and for pooling in transitions down, at every scale but the finest."""
    k_first: int = 8
    """Neighbours for attention at the finest scale, the costliest one (the reference implementation uses 8)."""
    stride: int = 4
    """Each coarser scale keeps ``1 / stride`` of the points of the previous one (farthest point sampling)."""
    share_planes: int = 8
    """Value channels sharing one attention weight (every entry of ``channels`` must be a multiple of it)."""
    interpolation_k: int = 3
    """Coarse points blended by inverse distance when going up a scale."""
    in_features: int = 3
    """Channels entering the network per point: 3 for xyz alone, 6 for xyz + colours, ``d`` for an encoding."""
    xyz_as_features: bool = True
    """Prepend the absolute coordinates to the given features (counted in ``in_features``); without it the
    network only sees relative positions and its output no longer depends on where the cloud sits."""
    out_features: int = 32
    """Channels of the per-point output (the encoding ``E_g``, the context features, or class logits)."""
    norm_statistics: str = "batch"
    """What the batch norms normalise with: ``"batch"`` (the reference: the batch's statistics in training, their
    running averages in inference) or ``"scene"`` (each cloud's own statistics, always: what a one-scene training
    step sees). Trained on one scene per step, "batch" infers with an average over very different scenes, which
    costs semantics on generated objects and rooms; on real scans "scene" costs some geometry
    (:func:`nir_core.train.presets.scene_encoder`; assets/models/README.md has the measurements). Per-point layer
    norm, the other candidate, left a part segmentation at a constant prediction."""

    def __post_init__(self):
        if self.norm_statistics not in ("batch", "scene"):
            raise ValueError(f"norm_statistics must be 'batch' or 'scene', got {self.norm_statistics!r}")
        self.channels = tuple(int(c) for c in self.channels)
        self.blocks = tuple(int(b) for b in self.blocks)
        if not self.channels or len(self.channels) != len(self.blocks):
            raise ValueError(f"channels {self.channels} and blocks {self.blocks} must be non-empty and of equal length")
        if min(self.channels) < 1 or min(self.blocks) < 0 or self.decoder_blocks < 0:
            raise ValueError(f"need channels >= 1 and blocks >= 0, got {self.channels}, {self.blocks}, "
                             f"{self.decoder_blocks}")
        bad = [c for c in self.channels if c % self.share_planes]
        if bad:
            raise ValueError(f"channels {bad} are not multiples of share_planes ({self.share_planes})")
        if min(self.k, self.k_first, self.stride, self.interpolation_k, self.in_features, self.out_features) < 1:
            raise ValueError(f"k, k_first, stride, interpolation_k, in_features and out_features must be >= 1: {self}")
        if self.xyz_as_features and self.in_features < 3:
            raise ValueError(f"xyz_as_features needs in_features >= 3 (the coordinates), got {self.in_features}")

    @classmethod
    def paper(cls, **overrides) -> PointTransformerConfig:
        """The segmentation network of Zhao et al.: channels [32, 64, 128, 256, 512], blocks [1, 2, 3, 5, 2]."""
        return cls(**{"channels": (32, 64, 128, 256, 512), "blocks": (1, 2, 3, 5, 2), **overrides})

    @classmethod
    def cpu_small(cls, **overrides) -> PointTransformerConfig:
        """Five scales, one block each and narrow channels: sized for a 2-core CPU."""
        return cls(**overrides)

    @property
    def scales(self) -> int:
        return len(self.channels)



class Level(NamedTuple):
    """One scale of the encoder."""

    points: Tensor
    """(B, N_l, 3) positions."""
    features: Tensor
    """(B, N_l, C_l) encoder features."""
    neighbours: Tensor
    """(B, N_l, k_l) int64 kNN within the level, shared by all its blocks."""


def global_pool(x: Tensor) -> Tensor:
    """(B, N, C) per-point features -> (B, 2C) channel-wise max then mean over the points."""
    return torch.cat([x.amax(dim=1), x.mean(dim=1)], dim=-1)


class PointTransformerUNet(nn.Module):
    """Point Transformer encoder-decoder producing one feature vector per input point.

    Parameters
    ----------
    cfg: the architecture; :meth:`PointTransformerConfig.cpu_small` when None.
    """

    def __init__(self, cfg: PointTransformerConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or PointTransformerConfig.cpu_small()
        ch = cfg.channels

        def stage(c: int, n: int, level: int) -> nn.ModuleList:
            k = cfg.k_first if level == 0 else cfg.k
            return nn.ModuleList(PointTransformerBlock(PointTransformerLayerConfig(c, cfg.share_planes, k))
                                 for _ in range(n))

        self.stem = TransitionDown(TransitionDownConfig(cfg.in_features, ch[0], stride=1, k=cfg.k))
        self.down = nn.ModuleList(TransitionDown(TransitionDownConfig(ch[i - 1], ch[i], cfg.stride, cfg.k))
                                  for i in range(1, cfg.scales))
        self.encoder = nn.ModuleList(stage(ch[i], cfg.blocks[i], i) for i in range(cfg.scales))
        self.context = GlobalContext(GlobalContextConfig(ch[-1]))
        # up[i] brings level i + 1 to level i.
        self.up = nn.ModuleList(TransitionUp(TransitionUpConfig(ch[i + 1], ch[i], cfg.interpolation_k))
                                for i in range(cfg.scales - 1))
        self.decoder = nn.ModuleList(stage(ch[i], cfg.decoder_blocks, i) for i in range(cfg.scales))
        self.head = nn.Sequential(nn.Linear(ch[0], ch[0]), PointNorm(ch[0]), nn.ReLU(inplace=True),
                                  nn.Linear(ch[0], cfg.out_features))
        if cfg.norm_statistics == "scene":
            for module in self.modules():
                if isinstance(module, PointNorm):
                    module.use_scene_statistics()

    def _inputs(self, points: Tensor, features: Tensor | None) -> Tensor:
        cfg = self.cfg
        if points.ndim != 3 or points.shape[-1] != 3:
            raise ValueError(f"points must be (B, N, 3), got {tuple(points.shape)}")
        parts = [points] if cfg.xyz_as_features else []
        if features is not None:
            if features.shape[:2] != points.shape[:2]:
                raise ValueError(f"features {tuple(features.shape)} do not match points {tuple(points.shape)}")
            parts.append(features.to(points.dtype))
        if not parts:
            raise ValueError("features are required when xyz_as_features is off")
        x = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
        if x.shape[-1] != cfg.in_features:
            given = "xyz + " * cfg.xyz_as_features + ("features" if features is not None else "nothing")
            raise ValueError(f"the network takes {cfg.in_features} input channels but got {x.shape[-1]} ({given})")
        return x

    def encode(self, points: Tensor, features: Tensor | None = None) -> list[Level]:
        """Runs the encoder.

        Parameters
        ----------
        points: (B, N, 3) float32 positions (unit cube).
        features: (B, N, C) extra per-point inputs (colours, an encoding), or None for xyz alone.

        Returns
        -------
        One :class:`Level` per scale, finest first: (B, N_l, 3) points, (B, N_l, channels[l]) features and
        their neighbourhoods, with ``N_l = N // stride**l`` (at least 1).
        """
        x = self._inputs(points, features)
        coarsest = points.shape[1]
        for _ in range(self.cfg.scales - 1):
            coarsest = max(1, coarsest // self.cfg.stride)
        if self.training and points.shape[0] * coarsest < 2:
            # Batch norm cannot estimate a variance from one value; say why instead of failing deep inside.
            raise ValueError(f"{points.shape[1]} points per cloud leave {coarsest} at the coarsest scale: training "
                             f"needs at least 2 points there over the batch (more points, more clouds, or eval mode)")
        p, x, _ = self.stem(points, x)
        levels = []
        for i, blocks in enumerate(self.encoder):
            if i > 0:
                p, x, _ = self.down[i - 1](p, x)
            idx = neighbours(p, self.cfg.k_first if i == 0 else self.cfg.k)
            for block in blocks:
                x = block(p, x, idx)
            levels.append(Level(p, x, idx))
        return levels

    def decode(self, levels: list[Level]) -> Tensor:
        """Encoder levels (from :meth:`encode`) -> (B, N, channels[0]) decoder features of the finest level."""
        p, x, idx = levels[-1]
        x = self.context(x)
        for block in self.decoder[-1]:
            x = block(p, x, idx)
        for i in range(self.cfg.scales - 2, -1, -1):
            fine = levels[i]
            x = self.up[i](fine.points, fine.features, p, x)
            p = fine.points
            for block in self.decoder[i]:
                x = block(p, x, fine.neighbours)
        return x

    def forward(self, points: Tensor, features: Tensor | None = None) -> Tensor:
        """Per-point features.

        Parameters
        ----------
        points: (B, N, 3) float32 positions (unit cube).
        features: (B, N, C) extra per-point inputs, or None for xyz alone (``in_features`` counts xyz when
            ``xyz_as_features``).

        Returns
        -------
        (B, N, out_features) one feature vector per input point, in the input order.
        """
        return self.head(self.decode(self.encode(points, features)))

    def pooled(self, points: Tensor, features: Tensor | None = None) -> Tensor:
        """A global feature per cloud (for classification); runs the encoder only.

        Returns
        -------
        (B, 2 * channels[-1]) max and mean of the coarsest level's features.
        """
        return global_pool(self.encode(points, features)[-1].features)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
