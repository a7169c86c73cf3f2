"""Closing spurious holes and keeping real openings: the field decides."""
from __future__ import annotations

import numpy as np
import trimesh

from nir_core.data.ground_truth import MeshField
from nir_core.extract.analysis import mesh_stats
from nir_core.extract.holes import boundary_cycles, fill_holes, min_area_triangulation
from nir_core.extract.query import query_field


def plane(n: int = 24, half: float = 0.3) -> trimesh.Trimesh:
    """A square sheet in z = 0 split into 2 n² triangles."""
    axis = np.linspace(-half, half, n + 1)
    x, y = np.meshgrid(axis, axis, indexing="ij")
    vertices = np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], axis=1)
    idx = np.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return trimesh.Trimesh(vertices, faces, process=False)


def punch(mesh: trimesh.Trimesh, radius: float) -> trimesh.Trimesh:
    """The sheet without the faces whose centre is within ``radius`` of the origin."""
    centres = mesh.triangles_center
    keep = np.linalg.norm(centres[:, :2], axis=1) > radius
    return trimesh.Trimesh(mesh.vertices, mesh.faces[keep], process=False)


def udf_of(mesh: trimesh.Trimesh):
    field = MeshField(mesh)
    return lambda p: query_field(field, p, grad=False)[0]


def test_min_area_triangulation_of_a_square_and_a_blocked_diagonal():
    square = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=float)
    tri = min_area_triangulation(square)
    assert tri.shape == (2, 3) and (tri[:, 0] < tri[:, 1]).all() and (tri[:, 1] < tri[:, 2]).all()
    assert trimesh.Trimesh(square, tri).area == 1.0
    blocked = np.zeros((4, 4), bool)
    blocked[0, 2] = blocked[2, 0] = True
    tri = min_area_triangulation(square, blocked)
    assert {frozenset(t) for t in tri.tolist()} == {frozenset((0, 1, 3)), frozenset((1, 2, 3))}
    blocked[1, 3] = blocked[3, 1] = True
    assert min_area_triangulation(square, blocked) is None


def _all_triangulations(i: int, j: int):
    """Every triangulation of the sub-polygon i..j, as lists of (i, k, j) corner triples."""
    if j - i < 2:
        yield []
        return
    for k in range(i + 1, j):
        for left in _all_triangulations(i, k):
            for right in _all_triangulations(k, j):
                yield [(i, k, j), *left, *right]


def test_min_area_triangulation_matches_every_triangulation_tried_by_brute_force():
    rng = np.random.default_rng(0)
    for n in (5, 6, 7, 8):
        for _ in range(4):
            angle = np.sort(rng.uniform(0, 2 * np.pi, n))
            polygon = np.stack([np.cos(angle), np.sin(angle), rng.normal(0, 0.4, n)], axis=1)  # bent out of plane
            best = min(trimesh.Trimesh(polygon, t).area for t in _all_triangulations(0, n - 1))
            tri = min_area_triangulation(polygon)
            assert tri.shape == (n - 2, 3) and np.isclose(trimesh.Trimesh(polygon, tri).area, best)


def test_boundary_cycles_of_a_sheet_with_a_hole():
    holed = punch(plane(), 0.08)
    cycles, directed, owner = boundary_cycles(np.asarray(holed.faces))
    assert len(cycles) == 2 and sum(len(c) for c in cycles) == len(directed)


def test_a_spurious_hole_is_closed_and_a_real_opening_kept():
    full, holed = plane(), punch(plane(), 0.06)
    cell = 1.0 / 128
    closed, n = fill_holes(holed, udf_of(full), cell)  # the field says the sheet goes on: close it
    stats = mesh_stats(closed)
    assert n == 1 and stats["boundary_loops"] == 1 and stats["non_manifold_edges"] == 0
    assert abs(stats["area"] - full.area) < 1e-9 and stats["inconsistent_edges"] == 0
    kept, n = fill_holes(holed, udf_of(holed), cell)  # the field has the hole too: a real opening
    assert n == 0 and mesh_stats(kept)["boundary_loops"] == 2
