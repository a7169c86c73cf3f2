"""The :class:`Field` protocol: anything that answers unsigned-distance queries in the unit cube.

Networks (encoder + decoders) and ground-truth fields built from a mesh or dense points implement it, so
extractors and metrics are tested without any network.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Field(Protocol):
    """An unsigned distance field over unit-cube coordinates."""

    def udf(self, q: torch.Tensor) -> torch.Tensor:
        """q: (M, 3) float32 query points -> (M,) float32 unsigned distances >= 0."""
        ...

    def udf_and_grad(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q: (M, 3) -> distances (M,) and their spatial gradients (M, 3) (unit length away from the surface)."""
        ...


@runtime_checkable
class SemanticField(Field, Protocol):
    """A field that also labels space: per-query class scores."""

    num_classes: int

    def semantics(self, q: torch.Tensor) -> torch.Tensor:
        """q: (M, 3) -> (M, C) class scores (logits or one-hot); argmax over C gives the label."""
        ...
