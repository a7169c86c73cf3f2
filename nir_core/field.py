"""The :class:`Field` protocol: anything that answers unsigned-distance queries in the unit cube.

Networks (encoder + decoders) and ground-truth fields built from a mesh or dense points implement it, so
extractors and metrics are tested without any network. Every field answers in two ways: torch tensors
(``udf``, ``udf_and_grad``: what training and autograd need) and numpy arrays (``query_np``: what the
extractors call, batch after batch). Ground-truth fields compute in numpy and answer ``query_np`` directly
(analytic gradients, no torch round trip); networks compute in torch and take ``query_np`` from
:class:`TorchField`.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
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

    def query_np(self, q: np.ndarray, *, grad: bool, labels: bool = False
                 ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """q: (M, 3) float32 -> distances (M,), gradients (M, 3) or None (``grad`` off), labels (M,) int64 or None
        (``labels`` off, or a field without labels)."""
        ...


@runtime_checkable
class SemanticField(Field, Protocol):
    """A field that also labels space: per-query class scores."""

    num_classes: int

    def semantics(self, q: torch.Tensor) -> torch.Tensor:
        """q: (M, 3) -> (M, C) class scores (logits or one-hot); argmax over C gives the label."""
        ...


class TorchField:
    """``query_np`` for fields that compute in torch (networks): numpy in, the torch methods, numpy out.

    Queries go to :meth:`query_device`: the field's ``device`` attribute when it has one, else the device of its
    first parameter or buffer (a field that is an ``nn.Module``), else the CPU.
    """

    def query_device(self) -> torch.device:
        device = getattr(self, "device", None)
        if device is not None:
            return torch.device(device)
        if isinstance(self, torch.nn.Module):
            for t in self.parameters():
                return t.device
            for t in self.buffers():
                return t.device
        return torch.device("cpu")

    def query_np(self, q: np.ndarray, *, grad: bool, labels: bool = False
                 ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """See :meth:`Field.query_np`; labels are the argmax of ``semantics`` when the field labels
        (``num_classes`` > 0)."""
        qt = torch.from_numpy(np.ascontiguousarray(q, dtype=np.float32)).to(self.query_device())
        if grad:
            d, g = self.udf_and_grad(qt)
        else:
            with torch.no_grad():
                d, g = self.udf(qt), None
        lab = None
        if labels and getattr(self, "num_classes", 0):
            with torch.no_grad():
                lab = _numpy(self.semantics(qt).argmax(-1), np.int64)
        return _numpy(d), (None if g is None else _numpy(g)), lab


def _numpy(x, dtype=np.float32) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu").numpy()
    return np.asarray(x, dtype=dtype)
