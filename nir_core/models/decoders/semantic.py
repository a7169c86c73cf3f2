"""The semantic decoder: kNN attention pooling over ``E_g`` (optionally ``E_g ⊕ E_c``), then an MLP to class logits.

With the contextualiser (thesis ch. 6 §3.2) the semantic features are ``E_s = E_g ⊕ f_ctx(E_g)``: the encoder
features with a few context channels per encoder point appended, ``s_i = f_sem(q_i | E_s)``. The decoder takes
the context either concatenated by the caller or as its own argument.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .attention_pool import KNNAttentionPool
from .base import DecoderConfig, check_inputs, decode_pooled, mlp


@dataclass
class SemanticDecoderConfig(DecoderConfig):
    """Settings of :class:`SemanticDecoder` (and those shared by every query decoder, see :class:`DecoderConfig`)."""

    hidden: tuple[int, ...] = (64, 32)
    """Hidden widths of the head MLP after pooling (RangeUDF's semantic head: 64, 32)."""
    context_features: int = 0
    """Extra channels per encoder point appended to ``E_g`` (the contextualiser's output, 4 in the thesis); 0 for
    a decoder on ``E_g`` alone."""
    num_classes: int = 20
    """Classes scored per query (20 for the ScanNet benchmark subset, 13 for S3DIS)."""
    dropout: float = 0.0
    """Dropout after each hidden layer of the head (RangeUDF uses 0.5 before its last layer); inactive in eval."""

    def __post_init__(self):
        super().__post_init__()
        if self.context_features < 0 or self.num_classes < 1 or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"need context_features >= 0, num_classes >= 1 and 0 <= dropout < 1, got {self}")

    @property
    def semantic_features(self) -> int:
        """Channels per encoder point the pooling sees: ``in_features + context_features``."""
        return self.in_features + self.context_features


class SemanticDecoder(nn.Module):
    """Class logits at query points from per-point features, possibly with context channels appended.

    Parameters
    ----------
    cfg: widths, pooling, context channels and classes; the defaults when None.
    """

    def __init__(self, cfg: SemanticDecoderConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or SemanticDecoderConfig()
        self.pool = KNNAttentionPool(cfg.semantic_features, cfg.pool)
        self.head = mlp(self.pool.out_features + 3 * cfg.append_query, cfg.hidden, cfg.num_classes, cfg.dropout)

    @property
    def num_classes(self) -> int:
        return self.cfg.num_classes

    def forward(self, query: Tensor, points: Tensor, features: Tensor, context: Tensor | None = None,
                idx: Tensor | None = None, chunk_size: int | None = None) -> Tensor:
        """Decodes class logits.

        Parameters
        ----------
        query: (B, M, 3) query points (unit cube).
        points: (B, N, 3) encoder points.
        features: (B, N, C) encoder features ``E_g`` when ``context`` is given, else (B, N, C + c) with the
            context channels already appended (``C = cfg.in_features``, ``c = cfg.context_features``).
        context: (B, N, c) context features ``E_c`` to append to ``features``, or None.
        idx: (B, M, k) neighbour indices from ``self.pool.neighbours``, or None to search them here.
        chunk_size: queries per step; ``cfg.chunk_size`` when None. The result does not depend on it.

        Returns
        -------
        (B, M, num_classes) unnormalised class scores.
        """
        if context is not None:
            if context.ndim != 3 or context.shape[:2] != features.shape[:2]:
                raise ValueError(f"context must be (B, N, c) matching features {tuple(features.shape)}, got "
                                 f"{tuple(context.shape)}")
            if context.shape[-1] != self.cfg.context_features:
                raise ValueError(f"the decoder takes {self.cfg.context_features} context channels, got "
                                 f"{context.shape[-1]}")
            features = torch.cat([features, context.to(features.dtype)], dim=-1)
        elif self.cfg.context_features and features.ndim == 3 and features.shape[-1] == self.cfg.in_features:
            raise ValueError(f"the decoder expects {self.cfg.context_features} context channels after the "
                             f"{self.cfg.in_features} encoder channels: pass context= or append them to features")
        check_inputs(query, points, features, self.cfg.semantic_features, idx)

        return decode_pooled(self.pool, self.head, query, points, features, idx,
                             chunk_size or self.cfg.chunk_size, self.cfg.append_query)
