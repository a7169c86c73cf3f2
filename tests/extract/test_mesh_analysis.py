"""Mesh statistics: boundaries, loops, components, non-manifold edges, welding."""
from __future__ import annotations

import numpy as np
import pytest
import trimesh

from nir_core.extract.analysis import mesh_stats

SQUARE_V = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]]


def test_unit_square():
    s = mesh_stats(trimesh.Trimesh(SQUARE_V, [[0, 1, 2], [0, 2, 3]], process=False))
    assert s["boundary_edges"] == 4 and s["boundary_length"] == pytest.approx(4.0)
    assert s["boundary_loops"] == 1 and s["components"] == 1
    assert s["area"] == pytest.approx(1.0) and s["non_manifold_edges"] == 0
    assert s["vertices"] == 4 and s["faces"] == 2 and not s["watertight"]


def test_unwelded_square_is_welded_first():
    square = trimesh.Trimesh(SQUARE_V, [[0, 1, 2], [0, 2, 3]], process=False)
    soup = trimesh.Trimesh(square.triangles.reshape(-1, 3), np.arange(6).reshape(2, 3), process=False)
    s = mesh_stats(soup)
    assert s["vertices"] == 6 and s["welded_vertices"] == 4
    assert s["boundary_edges"] == 4 and s["boundary_loops"] == 1 and s["components"] == 1


def test_icosphere_is_closed():
    s = mesh_stats(trimesh.creation.icosphere(subdivisions=2))
    assert s["boundary_edges"] == 0 and s["boundary_loops"] == 0 and s["components"] == 1
    assert s["watertight"] and s["inconsistent_edges"] == 0


def test_two_boxes_are_two_components():
    boxes = trimesh.util.concatenate([trimesh.creation.box(), trimesh.creation.box().apply_translation([3, 0, 0])])
    s = mesh_stats(boxes)
    assert s["components"] == 2 and s["boundary_edges"] == 0 and s["area"] == pytest.approx(12.0)


def test_holes_and_non_manifold_edges():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    holed = trimesh.Trimesh(sphere.vertices, np.delete(sphere.faces, [0, 100], axis=0), process=False)
    s = mesh_stats(holed)
    assert s["boundary_edges"] == 6 and s["boundary_loops"] == 2
    # A third triangle on one square edge: that edge is now used by 3 faces.
    fin = trimesh.Trimesh(SQUARE_V + [[0, 0, 1]], [[0, 1, 2], [0, 2, 3], [0, 2, 4]], process=False)
    s = mesh_stats(fin)
    assert s["non_manifold_edges"] == 1 and s["components"] == 1


def test_inconsistent_winding_is_counted():
    flipped = trimesh.Trimesh(SQUARE_V, [[0, 1, 2], [0, 3, 2]], process=False)
    assert mesh_stats(flipped)["inconsistent_edges"] == 1


def test_empty_mesh():
    s = mesh_stats(trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), process=False))
    assert s["faces"] == 0 and s["components"] == 0
