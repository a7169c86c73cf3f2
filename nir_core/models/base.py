"""What every implicit model offers the training engine, the extractors and the applications.

An implicit model is an encoder (scan points -> an encoding) and heads that answer queries against that
encoding: a UDF head and, when the model labels, a semantic head. Models name their parts so that training
tasks can freeze or train them by name (``"encoder"``, ``"udf"``, ``"semantic"``, later ``"context"``).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..extract.query import autograd_udf_and_grad


class ImplicitModel(nn.Module):
    """Base class: subclasses build ``self.parts`` (an ``nn.ModuleDict``) and implement the three methods."""

    parts: nn.ModuleDict
    num_classes: int = 0

    def encode(self, points: Tensor) -> Any:
        """points: (B, N, 3) unit-cube scan points -> an encoding (model-specific)."""
        raise NotImplementedError

    def udf(self, encoding: Any, queries: Tensor) -> Tensor:
        """queries: (B, M, 3) -> (B, M) unsigned distances >= 0."""
        raise NotImplementedError

    def semantics(self, encoding: Any, queries: Tensor) -> Tensor:
        """queries: (B, M, 3) -> (B, M, C) class logits."""
        raise NotImplementedError(f"{type(self).__name__} has no semantic head")

    def part_parameters(self, names: tuple[str, ...]) -> list[nn.Parameter]:
        """Parameters of the named parts (unknown names raise, so a task cannot silently train nothing)."""
        missing = [n for n in names if n not in self.parts]
        if missing:
            raise ValueError(f"{type(self).__name__} has no part(s) {missing}; it has {list(self.parts)}")
        return [p for n in names for p in self.parts[n].parameters()]

    def field(self, points: Tensor, chunk: int = 65_536) -> SceneField:
        """The :class:`~nir_core.field.Field` of one scene: points (N, 3) -> encode once, then answer queries."""
        return SceneField(self, points, chunk)


class SceneField:
    """A trained model's UDF (and labels) for one encoded scene, queried in chunks."""

    def __init__(self, model: ImplicitModel, points: Tensor, chunk: int = 65_536):
        self.model, self.chunk = model, chunk
        self.num_classes = model.num_classes
        with torch.no_grad():
            self.encoding = model.encode(torch.as_tensor(points, dtype=torch.float32)[None])

    def _chunks(self, q: Tensor, fn) -> Tensor:
        q = torch.as_tensor(q, dtype=torch.float32)
        return torch.cat([fn(q[i:i + self.chunk]) for i in range(0, len(q), self.chunk)]) if len(q) else fn(q)

    def udf(self, q: Tensor) -> Tensor:
        with torch.no_grad():
            return self._chunks(q, lambda c: self.model.udf(self.encoding, c[None])[0])

    def udf_and_grad(self, q: Tensor) -> tuple[Tensor, Tensor]:
        parts = [autograd_udf_and_grad(lambda c: self.model.udf(self.encoding, c[None])[0], q[i:i + self.chunk])
                 for i in range(0, len(q), self.chunk)]
        if not parts:
            return torch.zeros(0), torch.zeros(0, 3)
        return torch.cat([d for d, _ in parts]), torch.cat([g for _, g in parts])

    def semantics(self, q: Tensor) -> Tensor:
        with torch.no_grad():
            return self._chunks(q, lambda c: self.model.semantics(self.encoding, c[None])[0])
