"""Neighbour search on batches of point clouds, with one interface over optional accelerators.

- :func:`knn` (:mod:`.neighbours`): k nearest neighbours, (B, M, 3) queries in (B, N, 3) references.
- :func:`farthest_point_sampling` (:mod:`.neighbours`): FPS indices, (B, N, 3) -> (B, m).
- :func:`backend` (:mod:`._backend`): ``"torch_cluster"`` when torch-cluster is importable (and not disabled
  with ``NIR_STUDIO_OPS=fallback``), else ``"fallback"`` (SciPy KD-tree, chunked brute force, PyTorch FPS;
  torch_quickfps for CPU FPS when installed).
"""
from __future__ import annotations

from ._backend import backend
from .neighbours import farthest_point_sampling, knn

__all__ = ["backend", "farthest_point_sampling", "knn"]
