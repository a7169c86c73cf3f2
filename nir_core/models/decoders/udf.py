"""The UDF decoder: kNN attention pooling over ``E_g``, then an MLP to one non-negative distance per query."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .attention_pool import KNNAttentionPool
from .base import DecoderConfig, check_inputs, decode_pooled, mlp

UDF_ACTIVATIONS = ("abs", "softplus", "relu")


@dataclass
class UDFDecoderConfig(DecoderConfig):
    """Settings of :class:`UDFDecoder` (and those shared by every query decoder, see :class:`DecoderConfig`)."""

    activation: str = "abs"
    """Output non-linearity keeping the UDF >= 0. ``"abs"`` has a unit gradient everywhere, so the head cannot
    die: with softplus or ReLU and Adam at the thesis's lr 1e-3, outputs pushed below 0 lose their gradient and the
    head can collapse to a constant 0 for good (assets/models/README.md). ``"softplus"`` is smooth; ``"relu"`` is
    RangeUDF's and NDF's and reaches exactly 0."""
    softplus_beta: float = 100.0
    """Sharpness of the softplus ``log(1 + exp(beta x)) / beta``: it bends over ~``1 / beta``, well inside the
    clamp (0.1) of the training loss, and is ``log(2) / beta`` at ``x = 0``. Unused for ``"relu"``."""

    def __post_init__(self):
        super().__post_init__()
        if self.activation not in UDF_ACTIVATIONS:
            raise ValueError(f"activation must be one of {UDF_ACTIVATIONS}, got {self.activation!r}")
        if self.softplus_beta <= 0:
            raise ValueError(f"softplus_beta must be > 0, got {self.softplus_beta}")


class UDFDecoder(nn.Module):
    """Unsigned distance at query points from the encoder's per-point features.

    Parameters
    ----------
    cfg: widths, pooling and output activation; the defaults when None.
    """

    def __init__(self, cfg: UDFDecoderConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or UDFDecoderConfig()
        self.pool = KNNAttentionPool(cfg.in_features, cfg.pool)
        self.head = mlp(self.pool.out_features + 3 * cfg.append_query, cfg.hidden, 1)
        self.activation = udf_activation(cfg.activation, cfg.softplus_beta)

    def forward(self, query: Tensor, points: Tensor, features: Tensor, idx: Tensor | None = None,
                chunk_size: int | None = None) -> Tensor:
        """Decodes distances.

        Parameters
        ----------
        query: (B, M, 3) query points (unit cube); differentiable, for spatial gradients.
        points: (B, N, 3) encoder points.
        features: (B, N, C) encoder features ``E_g``, ``C = cfg.in_features``.
        idx: (B, M, k) neighbour indices from ``self.pool.neighbours`` (to share one search with another
            decoder of the same ``k``), or None to search them here.
        chunk_size: queries per step; ``cfg.chunk_size`` when None. The result does not depend on it.

        Returns
        -------
        (B, M) unsigned distances >= 0.
        """
        check_inputs(query, points, features, self.cfg.in_features, idx)

        return decode_pooled(self.pool, lambda h: self.activation(self.head(h).squeeze(-1)), query, points, features, idx,
                             chunk_size or self.cfg.chunk_size, self.cfg.append_query)


def udf_activation(name: str, softplus_beta: float = 100.0) -> nn.Module:
    """The output non-linearity of a UDF head (see :attr:`UDFDecoderConfig.activation`)."""
    if name not in UDF_ACTIVATIONS:
        raise ValueError(f"activation must be one of {UDF_ACTIVATIONS}, got {name!r}")
    return {"abs": _Abs(), "softplus": nn.Softplus(beta=softplus_beta), "relu": nn.ReLU()}[name]


class _Abs(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.abs()
