"""Point Transformer vector self-attention over kNN neighbourhoods (Zhao et al., ICCV 2021).

For point ``i`` with neighbours ``j`` (its ``k`` nearest, itself included):

    delta_ij = theta(p_i - p_j)
    y_i = sum_j softmax_j(gamma(phi(x_i) - psi(x_j) + delta_ij)) ⊙ (alpha(x_j) + delta_ij)

``theta`` and ``gamma`` are small MLPs; the softmax runs over the neighbours separately for every channel
("vector" attention). As in the reference implementation, ``gamma`` predicts ``channels / share_planes`` weights
and each weight is shared by ``share_planes`` value channels, which keeps ``gamma`` small.

Tensors are batched and dense: ``points (B, N, 3)``, ``features (B, N, C)``, neighbour indices ``(B, N, k)`` into
the same level. Every layer only ever sees positions as differences ``p_i - p_j``, so the layer is invariant to
translations of the cloud and equivariant to permutations of its points.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...config import Config
from ...ops import knn


@dataclass
class PointTransformerLayerConfig(Config):
    """Settings of :class:`PointTransformerLayer` and of the :class:`PointTransformerBlock` around it."""

    channels: int = 32
    """Feature channels in and out (queries, keys and values all have this width)."""
    share_planes: int = 8
    """Value channels sharing one attention weight; ``gamma`` predicts ``channels / share_planes`` weights."""
    k: int = 16
    """Neighbours attended to (the point itself included); clamped to the points of the level when fewer."""

    def __post_init__(self):
        if self.channels < 1 or self.share_planes < 1 or self.k < 1:
            raise ValueError(f"channels, share_planes and k must be >= 1, got {self.channels}, {self.share_planes}, "
                             f"{self.k}")
        if self.channels % self.share_planes:
            raise ValueError(f"channels ({self.channels}) must be a multiple of share_planes ({self.share_planes})")


class PointNorm(nn.BatchNorm1d):
    """Batch norm over the last (channel) axis of a ``(B, ..., C)`` tensor.

    Statistics pool every point (and neighbour) of every cloud in the batch, as the reference implementation does
    on its flattened point lists; the order of the points therefore does not change the result. After
    :meth:`use_scene_statistics`, each cloud is normalised by its own statistics instead, in training and
    inference alike (no running averages).
    """

    per_scene: bool = False

    def use_scene_statistics(self) -> None:
        """Normalise every cloud by the mean and variance of its own points, always; drops the running averages."""
        self.per_scene, self.track_running_stats = True, False
        self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x: Tensor) -> Tensor:
        if not self.per_scene:
            return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)
        # Training-mode batch norm without running averages, one cloud at a time: its statistics are the cloud's
        # own.
        return torch.cat([F.batch_norm(cloud.reshape(-1, x.shape[-1]), None, None, self.weight, self.bias, True, 0.0,
                                       self.eps) for cloud in x.split(1)]).reshape(x.shape)


def gather(x: Tensor, idx: Tensor) -> Tensor:
    """Rows of ``x`` picked per cloud.

    Parameters
    ----------
    x: (B, N, C) per-point values.
    idx: (B, M, ...) int64 indices into ``N``.

    Returns
    -------
    (B, M, ..., C) ``x[b, idx[b, ...]]``.
    """
    b, n, c = x.shape
    # Row selection on the flattened batch: several times faster on the CPU than torch.gather with an expanded
    # index, whose backward also scatters through a (B, M, C) index tensor.
    offset = (torch.arange(b, device=idx.device) * n).view(b, *([1] * (idx.dim() - 1)))
    return x.reshape(b * n, c).index_select(0, (idx + offset).reshape(-1)).reshape(*idx.shape, c)


def neighbours(points: Tensor, k: int) -> Tensor:
    """(B, N, 3) -> (B, N, min(k, N)) int64 indices of each point's nearest neighbours in the same cloud."""
    idx, _ = knn(points, points, min(k, points.shape[1]))
    return idx


class PointTransformerLayer(nn.Module):
    """Vector self-attention over each point's ``k`` nearest neighbours with a learnt relative position encoding.

    Parameters
    ----------
    cfg: channels, shared planes and neighbour count.
    """

    def __init__(self, cfg: PointTransformerLayerConfig):
        super().__init__()
        self.cfg = cfg
        c, s = cfg.channels, cfg.share_planes
        self.to_query = nn.Linear(c, c)  # phi
        self.to_key = nn.Linear(c, c)  # psi
        self.to_value = nn.Linear(c, c)  # alpha
        # theta: 3 -> 3 first, as in the reference, so that the encoding sees a normalised offset before widening.
        self.position = nn.Sequential(nn.Linear(3, 3), PointNorm(3), nn.ReLU(inplace=True), nn.Linear(3, c))
        # gamma
        self.weights = nn.Sequential(PointNorm(c), nn.ReLU(inplace=True), nn.Linear(c, c // s),
                                     PointNorm(c // s), nn.ReLU(inplace=True), nn.Linear(c // s, c // s))

    def forward(self, points: Tensor, x: Tensor, idx: Tensor | None = None) -> Tensor:
        """Attends over neighbourhoods.

        Parameters
        ----------
        points: (B, N, 3) positions.
        x: (B, N, C) features.
        idx: (B, N, k') int64 neighbour indices within the cloud (from :func:`neighbours`); computed when None.
            Passing them lets every layer of one level share a single neighbour search.

        Returns
        -------
        (B, N, C) attended features.
        """
        if idx is None:
            idx = neighbours(points, self.cfg.k)
        b, n, k = idx.shape
        c, s = self.cfg.channels, self.cfg.share_planes
        q = self.to_query(x)  # (B, N, C)
        kv = gather(torch.cat([self.to_key(x), self.to_value(x)], dim=-1), idx)  # (B, N, k, 2C): one gather for both
        key, value = kv[..., :c], kv[..., c:]
        delta = self.position(points.unsqueeze(2) - gather(points, idx))  # (B, N, k, C) from p_i - p_j
        w = self.weights(q.unsqueeze(2) - key + delta)  # (B, N, k, C/s)
        w = torch.softmax(w, dim=2)
        # Weight channel m scales value channels m, m + C/s, m + 2C/s, ... (the reference's grouping).
        out = ((value + delta).view(b, n, k, s, c // s) * w.unsqueeze(3)).sum(dim=2)
        return out.reshape(b, n, c)


class PointTransformerBlock(nn.Module):
    """Residual block: linear -> Point Transformer layer -> linear, each with batch norm, plus the identity.

    Parameters
    ----------
    cfg: settings of the inner :class:`PointTransformerLayer`; the block keeps the channel count.
    """

    def __init__(self, cfg: PointTransformerLayerConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        # No biases before batch norm: the norm's shift makes them redundant.
        self.linear_in = nn.Linear(c, c, bias=False)
        self.norm_in = PointNorm(c)
        self.attention = PointTransformerLayer(cfg)
        self.norm_attention = PointNorm(c)
        self.linear_out = nn.Linear(c, c, bias=False)
        self.norm_out = PointNorm(c)
        self.act = nn.ReLU(inplace=True)

    def forward(self, points: Tensor, x: Tensor, idx: Tensor | None = None) -> Tensor:
        """(B, N, 3) points, (B, N, C) features, optional (B, N, k') neighbours -> (B, N, C) features."""
        y = self.act(self.norm_in(self.linear_in(x)))
        y = self.act(self.norm_attention(self.attention(points, y, idx)))
        y = self.norm_out(self.linear_out(y))
        return self.act(y + x)
