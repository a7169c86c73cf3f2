"""Moving features between the scales of a point UNet (Point Transformer, Zhao et al., ICCV 2021).

- :class:`TransitionDown`: farthest point sampling keeps ``N / stride`` points; each gathers its ``k`` nearest
  finer points, maps (relative position, feature) through a shared linear layer and max-pools them.
- :class:`TransitionUp`: coarse features go through a linear layer, are interpolated onto the finer points
  (inverse-distance weights over the 3 nearest coarse points) and added to the encoder's features of that level
  (the skip connection), which have their own linear layer.
- :class:`GlobalContext`: at the coarsest level, before decoding, each point is mixed with the mean of its cloud
  (the "head" transition of the reference implementation).

Tensors are batched and dense: ``points (B, N, 3)``, ``features (B, N, C)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ...config import Config
from ...ops import farthest_point_sampling, knn
from .attention import PointNorm, gather


@dataclass
class TransitionDownConfig(Config):
    """Settings of :class:`TransitionDown`."""

    in_channels: int = 32
    """Feature channels of the finer level."""
    out_channels: int = 64
    """Feature channels of the coarser level."""
    stride: int = 4
    """The coarser level keeps ``max(1, N // stride)`` points; 1 keeps every point and only maps features."""
    k: int = 16
    """Finer points pooled into each kept point (itself included); clamped to ``N``."""

    def __post_init__(self):
        if min(self.in_channels, self.out_channels, self.stride, self.k) < 1:
            raise ValueError(f"channels, stride and k must be >= 1, got {self}")


@dataclass
class TransitionUpConfig(Config):
    """Settings of :class:`TransitionUp`."""

    in_channels: int = 64
    """Feature channels of the coarser level (the decoder's input)."""
    out_channels: int = 32
    """Feature channels of the finer level: those of its encoder skip features, and of the output."""
    interpolation_k: int = 3
    """Coarse points blended per fine point by inverse distance; clamped to the coarse points."""

    def __post_init__(self):
        if min(self.in_channels, self.out_channels, self.interpolation_k) < 1:
            raise ValueError(f"channels and interpolation_k must be >= 1, got {self}")


@dataclass
class GlobalContextConfig(Config):
    """Settings of :class:`GlobalContext`."""

    channels: int = 512
    """Feature channels in and out."""

    def __post_init__(self):
        if self.channels < 1:
            raise ValueError(f"channels must be >= 1, got {self.channels}")


class TransitionDown(nn.Module):
    """Farthest point sampling, kNN grouping, a shared linear layer and local max pooling.

    Parameters
    ----------
    cfg: channels, stride and neighbour count.
    """

    def __init__(self, cfg: TransitionDownConfig):
        super().__init__()
        self.cfg = cfg
        # The grouped input carries the offset to the kept point, so pooled features know where they came from.
        extra = 3 if cfg.stride > 1 else 0
        self.linear = nn.Linear(cfg.in_channels + extra, cfg.out_channels, bias=False)
        self.norm = PointNorm(cfg.out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, points: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Coarsens a level.

        Parameters
        ----------
        points: (B, N, 3) finer positions.
        x: (B, N, C_in) finer features.

        Returns
        -------
        points: (B, M, 3) kept positions, ``M = max(1, N // stride)`` (``N`` when ``stride == 1``).
        x: (B, M, C_out) pooled features.
        kept: (B, M) int64 indices of the kept points in the finer level (``arange(N)`` when ``stride == 1``).
        """
        b, n, _ = points.shape
        if self.cfg.stride == 1:
            kept = torch.arange(n, device=points.device).expand(b, n)
            return points, self.act(self.norm(self.linear(x))), kept
        kept = farthest_point_sampling(points, max(1, n // self.cfg.stride))  # (B, M)
        coarse = gather(points, kept.unsqueeze(-1)).squeeze(2)  # (B, M, 3)
        idx, _ = knn(coarse, points, min(self.cfg.k, n))  # (B, M, k)
        grouped = torch.cat([gather(points, idx) - coarse.unsqueeze(2), gather(x, idx)], dim=-1)  # (B, M, k, 3+C_in)
        y = self.act(self.norm(self.linear(grouped)))
        return coarse, y.amax(dim=2), kept


def interpolate(fine: Tensor, coarse: Tensor, values: Tensor, k: int = 3, eps: float = 1e-8) -> Tensor:
    """Inverse-distance interpolation of values carried by coarse points onto fine points.

    Parameters
    ----------
    fine: (B, N, 3) where to interpolate.
    coarse: (B, M, 3) where the values are known.
    values: (B, M, C) the known values.
    k: coarse neighbours blended (clamped to ``M``); 3 gives the "trilinear" interpolation of PointNet++.
    eps: added to distances so that a fine point lying on a coarse one takes (almost only) its value.

    Returns
    -------
    (B, N, C) weighted means of the ``k`` nearest coarse values, weights ``1 / (distance + eps)``.
    """
    idx, dist = knn(fine, coarse, min(k, coarse.shape[1]))  # (B, N, k)
    w = 1.0 / (dist + eps)
    w = w / w.sum(dim=-1, keepdim=True)
    return (gather(values, idx) * w.unsqueeze(-1)).sum(dim=2)


class TransitionUp(nn.Module):
    """Linear map of coarse features, interpolation to the finer points, plus the mapped encoder skip features.

    Parameters
    ----------
    cfg: coarse and fine channel counts, interpolation neighbours.
    """

    def __init__(self, cfg: TransitionUpConfig):
        super().__init__()
        self.cfg = cfg
        c_in, c_out = cfg.in_channels, cfg.out_channels
        self.coarse = nn.Sequential(nn.Linear(c_in, c_out), PointNorm(c_out), nn.ReLU(inplace=True))
        self.skip = nn.Sequential(nn.Linear(c_out, c_out), PointNorm(c_out), nn.ReLU(inplace=True))

    def forward(self, fine_points: Tensor, skip: Tensor, coarse_points: Tensor, x: Tensor) -> Tensor:
        """Refines a level.

        Parameters
        ----------
        fine_points: (B, N, 3) positions of the finer level.
        skip: (B, N, C_out) encoder features of the finer level.
        coarse_points: (B, M, 3) positions of the coarser level.
        x: (B, M, C_in) decoder features of the coarser level.

        Returns
        -------
        (B, N, C_out) features of the finer level.
        """
        return self.skip(skip) + interpolate(fine_points, coarse_points, self.coarse(x), self.cfg.interpolation_k)


class GlobalContext(nn.Module):
    """Concatenates each point's features with a linear map of its cloud's mean feature, then mixes them.

    Parameters
    ----------
    cfg: the channel count, kept.
    """

    def __init__(self, cfg: GlobalContextConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.mix = nn.Sequential(nn.Linear(2 * c, c), PointNorm(c), nn.ReLU(inplace=True))
        # No batch norm on the pooled branch: a batch of one cloud has a single value per channel.
        self.pooled = nn.Sequential(nn.Linear(c, c), nn.ReLU(inplace=True))

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, C) features -> (B, N, C) features mixed with the cloud's mean."""
        g = self.pooled(x.mean(dim=1, keepdim=True)).expand_as(x)
        return self.mix(torch.cat([x, g], dim=-1))
