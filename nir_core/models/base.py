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
from ..field import TorchField


class ImplicitModel(nn.Module):
    """Base class: subclasses build ``self.parts`` (an ``nn.ModuleDict``) and implement the methods below."""

    parts: nn.ModuleDict
    num_classes: int = 0

    def config_json(self) -> dict:
        """The whole config the model was built from, defaults included: what its bundle stores."""
        raise NotImplementedError

    reads_colour: bool = False
    """Whether the encoding uses the points' colours (models that do still take points without them)."""

    def encode(self, points: Tensor, colours: Tensor | None = None) -> Any:
        """points: (B, N, 3) unit-cube scan points [, their colours (B, N, 3) in [0, 1], ``NO_COLOUR`` where unknown:
        read only when :attr:`reads_colour`] -> an encoding (model-specific)."""
        raise NotImplementedError

    def udf(self, encoding: Any, queries: Tensor) -> Tensor:
        """queries: (B, M, 3) -> (B, M) unsigned distances >= 0."""
        raise NotImplementedError

    def encode_draws(self, draws: list[Tensor], colours: list[Tensor] | None = None) -> Any:
        """Several draws of one scene's points, each (1, N_i, 3) [with their colours, each (1, N_i, 3)] -> one
        encoding of the scene that answers from all of them (one draw: its plain encoding). By default the draws are
        encoded together as one point cloud (a voxel grid takes any number of points); point encoders override it."""
        join = lambda parts: parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return self.encode(join(draws), None if colours is None else join(colours))

    def semantics(self, encoding: Any, queries: Tensor) -> Tensor:
        """queries: (B, M, 3) -> (B, M, C) class logits."""
        raise NotImplementedError(f"{type(self).__name__} has no semantic head")

    def part_parameters(self, names: tuple[str, ...]) -> list[nn.Parameter]:
        """Parameters of the named parts (unknown names raise, so a task cannot silently train nothing)."""
        missing = [n for n in names if n not in self.parts]
        if missing:
            raise ValueError(f"{type(self).__name__} has no part(s) {missing}; it has {list(self.parts)}")
        return [p for n in names for p in self.parts[n].parameters()]

    def field(self, points: Tensor | list[Tensor], chunk: int = 65_536,
              colours: Tensor | list[Tensor] | None = None) -> SceneField:
        """The :class:`~nir_core.field.Field` of one scene: points (N, 3), or a list of draws of them (each
        (N_i, 3), see :meth:`encode_draws`), and optionally their colours shaped alike -> encode once, then answer
        queries."""
        return SceneField(self, points, chunk, colours)


def _one_scene(points) -> Tensor:
    points = torch.as_tensor(points)
    if points.ndim == 2:
        points = points.unsqueeze(0)
    if points.ndim != 3 or points.shape[0] != 1 or points.shape[-1] != 3:
        raise ValueError(f"a field encodes one scene: points must be (N, 3) or (1, N, 3), got {tuple(points.shape)}")
    return points


class SceneField(TorchField):
    """One encoded scene as a :class:`~nir_core.field.Field` (and semantic field) over unit-cube queries.

    The scene is encoded once, without autograd and in eval mode (batch norm uses its running statistics, and
    querying never updates them; the model's mode is restored). Queries are answered in chunks of ``chunk``, so
    memory stays at one chunk, autograd graphs included; results come back on the queries' device.

    Parameters
    ----------
    model: the network.
    points: (N, 3) or (1, N, 3) unit-cube points of one scene, or a list of draws of them (each (N_i, 3) or
        (1, N_i, 3)), encoded by :meth:`ImplicitModel.encode_draws`.
    chunk: queries per decoder call.
    colours: the points' colours in [0, 1], shaped like ``points`` (a tensor or a list of draws), or None; used when
        the model :attr:`~ImplicitModel.reads_colour`.
    """

    def __init__(self, model: ImplicitModel, points: Tensor | list[Tensor], chunk: int = 65_536,
                 colours: Tensor | list[Tensor] | None = None):
        as_list = lambda x: list(x) if isinstance(x, (list, tuple)) else [x]
        draws = [_one_scene(p) for p in as_list(points)]
        if not draws:
            raise ValueError("a field needs at least one draw of points")
        colour_draws = None if colours is None else [_one_scene(c) for c in as_list(colours)]
        if colour_draws is not None and [c.shape for c in colour_draws] != [d.shape for d in draws]:
            raise ValueError("colours must be shaped like the points they belong to")
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.model, self.chunk = model, int(chunk)
        self.num_classes = model.num_classes
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        was_training = model.training
        try:
            model.eval()
            with torch.no_grad():
                to = lambda ts: None if ts is None else [t.to(self.device, self.dtype) for t in ts]
                self.encoding = model.encode_draws(to(draws), to(colour_draws))
        finally:
            model.train(was_training)

    def _queries(self, q: Tensor) -> Tensor:
        q = torch.as_tensor(q)
        if q.ndim != 2 or q.shape[-1] != 3:
            raise ValueError(f"queries must be (M, 3), got {tuple(q.shape)}")
        return q

    def _chunks(self, q: Tensor, fn) -> Tensor:
        out = [fn(q[i:i + self.chunk].to(self.device, self.dtype)) for i in range(0, len(q), self.chunk)]
        return (torch.cat(out) if out else fn(q.to(self.device, self.dtype))).to(q.device)

    def udf(self, q: Tensor) -> Tensor:
        """(M, 3) -> (M,) distances."""
        q = self._queries(q)
        with torch.no_grad():
            return self._chunks(q, lambda c: self.model.udf(self.encoding, c[None])[0])

    def udf_and_grad(self, q: Tensor) -> tuple[Tensor, Tensor]:
        """(M, 3) -> detached distances (M,) and spatial gradients (M, 3) by autograd, one chunk's graph at a time."""
        q = self._queries(q)
        parts = [autograd_udf_and_grad(lambda c: self.model.udf(self.encoding, c[None])[0],
                                       q[i:i + self.chunk].to(self.device, self.dtype))
                 for i in range(0, len(q), self.chunk)]
        if not parts:
            return q.new_zeros(0), q.new_zeros(0, 3)
        return torch.cat([d for d, _ in parts]).to(q.device), torch.cat([g for _, g in parts]).to(q.device)

    def semantics(self, q: Tensor) -> Tensor:
        """(M, 3) -> (M, C) class logits."""
        q = self._queries(q)
        with torch.no_grad():
            return self._chunks(q, lambda c: self.model.semantics(self.encoding, c[None])[0])
