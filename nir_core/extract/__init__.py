"""Meshes and point clouds out of fields: UDF-aware marching cubes, NDF dense points, baselines, clean-up.

- :func:`udf_marching_cubes` (:mod:`.udf_mc`): the main extractor for unsigned distance fields.
- :func:`dense_points` / :func:`ball_pivoting_mesh` (:mod:`.dense_points`): NDF's gradient projection.
- :func:`epsilon_level_set` (:mod:`.baselines`): marching cubes on ``udf - ε``, the baseline.
- :func:`signed_marching_cubes` (:mod:`.signed`): occupancy / signed-distance fields.
- :func:`query_field`, :class:`QueryCounter` (:mod:`.query`): batched, checked, counted field queries.
- :func:`clean_mesh`, :func:`orient_pieces` (:mod:`.hygiene`): no non-manifold edges, one winding per piece.
- :func:`remove_small_components`, :func:`vertex_normals` (:mod:`.cleanup`) and :func:`mesh_stats`
  (:mod:`.analysis`): what to do with a mesh afterwards.
"""
from __future__ import annotations

from .analysis import mesh_stats
from .baselines import epsilon_level_set
from .cleanup import remove_small_components, vertex_normals
from .dense_points import DensePointsConfig, ball_pivoting_mesh, dense_points
from .hygiene import clean_mesh, orient_pieces
from .query import QueryCounter, autograd_udf_and_grad, field_grid, query_field, sample_grid
from .signed import signed_marching_cubes
from .udf_mc import ExtractionStats, UDFExtractConfig, udf_marching_cubes

__all__ = [
    "DensePointsConfig",
    "ExtractionStats",
    "QueryCounter",
    "UDFExtractConfig",
    "autograd_udf_and_grad",
    "ball_pivoting_mesh",
    "clean_mesh",
    "dense_points",
    "epsilon_level_set",
    "field_grid",
    "mesh_stats",
    "orient_pieces",
    "query_field",
    "remove_small_components",
    "sample_grid",
    "signed_marching_cubes",
    "udf_marching_cubes",
    "vertex_normals",
]
