"""kNN attention pooling: one feature per query point from the encoder features of its nearest encoder points.

The decoders of RangeUDF (Wang et al., 2022; thesis ch. 6 §3) condition a query ``q`` on the per-point encoding
``E_g`` through its ``K`` nearest encoder points ``p_1 .. p_K``::

    e_k = encode(q - p_k, |q - p_k|)                     relative position (raw or sinusoidal)
    r_k = ReLU(W_r e_k)                                  learnt position embedding
    t_k = E_g[p_k] ⊕ r_k                                 neighbour token, C + P channels
    a_k = softmax_k(score(t_k))                          one weight per neighbour ("scalar"), or one per
                                                         channel ("vector")
    pooled(q) = sum_k a_k ⊙ t_k                          (C + P) channels

The first ``C`` channels of the pooled feature are a convex combination of neighbour features and the last ``P``
carry where the query sits relative to them, which the UDF head needs to tell distances apart.

The thesis notes two improvements over RangeUDF's decoder, both options here: vector attention (a softmax per
channel, as in the Point Transformer) and a sinusoidal encoding of the relative positions (NeRF-style).
RangeUDF's released code scores each channel separately; the thesis describes its module as scalar attention,
and ``"scalar"`` is the default here, as in the thesis.

Queries are decoded in chunks (:func:`.base.decode_in_chunks`) and neighbours come from :func:`nir_core.ops.knn`, so no
(M, N) matrix is ever built: memory grows with the chunk size, not with the number of queries.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ...config import Config
from ...ops import knn
from ..components.attention import gather

ATTENTION_KINDS = ("scalar", "vector")
POSITION_ENCODINGS = ("raw", "sinusoidal")


@dataclass
class AttentionPoolConfig(Config):
    """Settings of :class:`KNNAttentionPool`."""

    k: int = 4
    """Nearest encoder points pooled per query (RangeUDF pools 4); clamped to the encoder points per scene."""
    attention: str = "scalar"
    """``"scalar"``: one softmax weight per neighbour, shared by all channels (RangeUDF as the thesis describes
    it). ``"vector"``: a softmax over the neighbours for every channel separately (Point Transformer style)."""
    position_encoding: str = "raw"
    """``"raw"``: the relative position ``q - p_k`` and distance ``|q - p_k|`` (4 values). ``"sinusoidal"``:
    those 4 plus ``sin`` and ``cos`` of ``2^l pi (q - p_k)`` for ``l < n_freqs`` (4 + 6 n_freqs values)."""
    n_freqs: int = 8
    """Octaves of the sinusoidal encoding. Neighbour offsets in a unit-cube scene of ~10k points are ~1e-2, so
    the shortest period (``2^(1 - n_freqs)``, 1/128 for 8) must reach that scale. Unused for ``"raw"``."""
    position_features: int = 32
    """Width ``P`` of the learnt position embedding ``r_k`` appended to each neighbour's feature."""
    score_hidden: int = 32
    """Hidden width of the score MLP; 0 scores with a single linear layer (RangeUDF's choice)."""

    def __post_init__(self):
        if self.attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {self.attention!r}")
        if self.position_encoding not in POSITION_ENCODINGS:
            raise ValueError(f"position_encoding must be one of {POSITION_ENCODINGS}, got {self.position_encoding!r}")
        if self.k < 1 or self.n_freqs < 1 or self.position_features < 1 or self.score_hidden < 0:
            raise ValueError(f"need k, n_freqs, position_features >= 1 and score_hidden >= 0, got {self}")


class RelativePositionEncoding(nn.Module):
    """Encodes the offsets from a query to its neighbours.

    Parameters
    ----------
    kind: ``"raw"`` or ``"sinusoidal"`` (see :attr:`AttentionPoolConfig.position_encoding`).
    n_freqs: octaves of the sinusoidal encoding.

    Channel layout of the output: ``[dx, dy, dz, distance]``, then for ``"sinusoidal"`` the ``3 n_freqs`` sines
    (frequency-major: all three axes at ``pi``, then at ``2 pi``, ...) and the ``3 n_freqs`` cosines.
    """

    def __init__(self, kind: str = "raw", n_freqs: int = 8):
        super().__init__()
        if kind not in POSITION_ENCODINGS:
            raise ValueError(f"position encoding must be one of {POSITION_ENCODINGS}, got {kind!r}")
        self.kind = kind
        self.n_freqs = n_freqs
        # Not persistent: derived from the config, so checkpoints do not depend on it.
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(n_freqs, dtype=torch.float32), persistent=False)

    @property
    def out_features(self) -> int:
        return 4 + (6 * self.n_freqs if self.kind == "sinusoidal" else 0)

    def forward(self, rel: Tensor, dist: Tensor) -> Tensor:
        """(..., 3) offsets ``q - p_k`` and (..., 1) distances -> (..., out_features) encodings."""
        parts = [rel, dist]
        if self.kind == "sinusoidal":
            angles = (rel.unsqueeze(-2) * self.freqs.to(rel.dtype).unsqueeze(-1)).flatten(-2)  # (..., 3 n_freqs)
            parts += [torch.sin(angles), torch.cos(angles)]
        return torch.cat(parts, dim=-1)


class KNNAttentionPool(nn.Module):
    """Pools the features of each query's ``k`` nearest encoder points by attention (see the module docstring).

    Parameters
    ----------
    in_features: channels ``C`` of the per-point features given to :meth:`forward` (encoder features, plus any
        context channels already concatenated).
    cfg: neighbours, attention kind and position encoding; the defaults when None.
    """

    def __init__(self, in_features: int, cfg: AttentionPoolConfig | None = None):
        super().__init__()
        if in_features < 1:
            raise ValueError(f"in_features must be >= 1, got {in_features}")
        self.cfg = cfg = cfg or AttentionPoolConfig()
        self.in_features = in_features
        self.encoding = RelativePositionEncoding(cfg.position_encoding, cfg.n_freqs)
        self.position = nn.Sequential(nn.Linear(self.encoding.out_features, cfg.position_features), nn.ReLU())
        tokens = self.out_features
        n_scores = 1 if cfg.attention == "scalar" else tokens
        # No bias on the last score layer: the softmax over neighbours cancels any offset shared by them.
        if cfg.score_hidden:
            self.score = nn.Sequential(nn.Linear(tokens, cfg.score_hidden), nn.ReLU(),
                                       nn.Linear(cfg.score_hidden, n_scores, bias=False))
        else:
            self.score = nn.Linear(tokens, n_scores, bias=False)

    @property
    def out_features(self) -> int:
        """Channels of the pooled feature: ``in_features + position_features``."""
        return self.in_features + self.cfg.position_features

    def neighbours(self, query: Tensor, points: Tensor) -> Tensor:
        """(B, M, 3) queries, (B, N, 3) encoder points -> (B, M, min(k, N)) int64 neighbour indices, nearest first.

        Computing them once lets decoders with the same ``k`` (UDF and semantic) share one search.
        """
        idx, _ = knn(query.detach(), points.detach(), min(self.cfg.k, points.shape[1]))
        return idx

    def _first_score_layer(self) -> nn.Linear:
        return self.score[0] if isinstance(self.score, nn.Sequential) else self.score

    def prepare(self, points: Tensor, features: Tensor) -> Tensor:
        """The per-encoder-point table that :meth:`pool` gathers from, computed once for all chunks of queries.

        The first score layer is linear in ``[f_k, r_k]``, so its feature part is applied to the N encoder points
        here rather than to the K M gathered copies (N is ~10k; M is 50k-1M queries).

        Parameters
        ----------
        points: (B, N, 3) encoder points.
        features: (B, N, C) per-point features, ``C = in_features``.

        Returns
        -------
        (B, N, 3 + C + S) points, features and the feature part of the first score layer (S outputs).
        """
        if features.shape[-1] != self.in_features:
            raise ValueError(f"the pool takes {self.in_features} feature channels, got {features.shape[-1]}")
        first = self._first_score_layer()
        projected = nn.functional.linear(features, first.weight[:, :self.in_features])
        return torch.cat([points, features.to(points.dtype), projected.to(points.dtype)], dim=-1)

    def pool(self, query: Tensor, table: Tensor, idx: Tensor) -> Tensor:
        """Pooled features of one chunk of queries from a :meth:`prepare` table.

        Parameters
        ----------
        query: (B, m, 3) query points (unit cube); gradients flow to them through the relative positions.
        table: (B, N, 3 + C + S) from :meth:`prepare`.
        idx: (B, m, k') int64 neighbour indices into N (from :meth:`neighbours`).

        Returns
        -------
        (B, m, C + P) pooled features: ``C`` pooled feature channels, then ``P`` pooled position channels.
        """
        c = self.in_features
        nb = gather(table, idx)  # (B, m, k, 3 + C + S): one gather for positions, features and scores
        rel = query.to(table.dtype).unsqueeze(2) - nb[..., :3]
        # Recomputed here rather than taken from knn so that it is differentiable in the same graph as ``rel``;
        # the norm's gradient at a coincident point is 0 in PyTorch, not NaN.
        dist = torch.linalg.vector_norm(rel, dim=-1, keepdim=True)
        f = nb[..., 3:3 + c]
        r = self.position(self.encoding(rel, dist))  # (B, m, k, P)
        first = self._first_score_layer()
        scores = nb[..., 3 + c:] + nn.functional.linear(r, first.weight[:, c:], first.bias)
        if isinstance(self.score, nn.Sequential):
            scores = self.score[2](self.score[1](scores))
        w = torch.softmax(scores, dim=2)  # (B, m, k, 1 or C + P)
        wf, wr = (w, w) if w.shape[-1] == 1 else (w[..., :c], w[..., c:])
        return torch.cat([(wf * f).sum(dim=2), (wr * r).sum(dim=2)], dim=-1)

    def forward(self, query: Tensor, points: Tensor, features: Tensor, idx: Tensor | None = None) -> Tensor:
        """Pooled features of the queries (one chunk; decoders call :meth:`prepare` once and :meth:`pool` per chunk).

        Parameters
        ----------
        query: (B, M, 3) query points (unit cube).
        points: (B, N, 3) encoder points.
        features: (B, N, C) per-point features, ``C = in_features``.
        idx: (B, M, k') int64 neighbour indices into N (from :meth:`neighbours`); searched when None.

        Returns
        -------
        (B, M, C + P) pooled features: ``C`` pooled feature channels, then ``P`` pooled position channels.
        """
        if idx is None:
            idx = self.neighbours(query, points)
        return self.pool(query, self.prepare(points, features), idx)
