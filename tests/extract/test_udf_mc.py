"""UDF-aware marching cubes on analytic fields: right surface, right area, no cracks, clear failures."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import trimesh

from nir_core.errors import FieldError
from nir_core.extract.mc_table import EDGE_CORNERS, FACES, _case_loops, triangle_table
from nir_core.extract.udf_mc import udf_marching_cubes
from nir_core.field import TorchField


class AnalyticField:
    """Exact UDF from a closest-point function, with the gradient (q - c) / |q - c|."""

    def __init__(self, closest, normal_on_surface=None):
        self.closest = closest
        self.normal_on_surface = normal_on_surface

    def query_np(self, q, grad=True, labels=False):
        q = np.asarray(q, np.float64)
        v = q - self.closest(q)
        d = np.linalg.norm(v, axis=1)
        g = v / np.maximum(d, 1e-12)[:, None]
        return d.astype(np.float32), g.astype(np.float32), None

    def udf(self, q):
        return torch.from_numpy(self.query_np(q.numpy())[0])

    def udf_and_grad(self, q):
        d, g, _ = self.query_np(q.numpy())
        return torch.from_numpy(d), torch.from_numpy(g)


def sphere(radius=0.3, centre=(0.0, 0.0, 0.0)):
    c = np.asarray(centre)
    return AnalyticField(lambda q: c + (q - c) * radius / np.maximum(np.linalg.norm(q - c, axis=1), 1e-12)[:, None])


def open_square(half=0.25, z=0.0137):
    def closest(q):
        out = q.copy()
        out[:, :2] = np.clip(q[:, :2], -half, half)
        out[:, 2] = z
        return out
    return AnalyticField(closest)


def boundary_edges(mesh):
    edges = np.sort(mesh.edges, axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    return unique[counts == 1]


def test_sphere_is_closed_and_on_the_surface():
    mesh, stats = udf_marching_cubes(sphere(0.3), 64)
    radius = np.linalg.norm(mesh.vertices, axis=1)
    assert np.abs(radius - 0.3).max() < 2e-3
    assert mesh.area == pytest.approx(4 * np.pi * 0.09, rel=0.01)
    assert len(boundary_edges(mesh)) == 0 and stats.inconsistent_cells == 0
    assert mesh.is_watertight
    assert stats.dense_fraction < 1.0


def test_open_square_area_boundary_and_plane():
    mesh, stats = udf_marching_cubes(open_square(0.25, z=0.0137), 64)
    assert np.abs(mesh.vertices[:, 2] - 0.0137).max() < 1e-4
    assert mesh.area == pytest.approx(0.25, rel=0.05)
    border = boundary_edges(mesh)
    length = np.linalg.norm(mesh.vertices[border[:, 0]] - mesh.vertices[border[:, 1]], axis=1).sum()
    assert length == pytest.approx(2.0, rel=0.15)  # the square's perimeter, not two sheets' (4.0)
    assert len(mesh.split(only_watertight=False)) == 1


def test_subdivision_onto_the_surface_brings_the_triangles_closer_to_it():
    def mean_error(mesh):
        points = trimesh.sample.sample_surface(mesh, 20_000, seed=0)[0]
        return np.abs(np.linalg.norm(points, axis=1) - 0.3).mean()

    flat, _ = udf_marching_cubes(sphere(0.3), 32, subdivide=0)
    fine, stats = udf_marching_cubes(sphere(0.3), 32)  # below 256³: one round by default
    assert len(fine.faces) == 4 * len(flat.faces) and "subdivide" in stats.seconds
    assert mean_error(fine) < mean_error(flat) / 2.5
    assert fine.is_watertight


def test_open_border_reaches_the_true_border():
    short, _ = udf_marching_cubes(open_square(0.25, z=0.0137), 64, extend_border=False, subdivide=0)
    full, _ = udf_marching_cubes(open_square(0.25, z=0.0137), 64, subdivide=0)
    h = 1.0 / 64
    assert abs(full.area - 0.25) < abs(short.area - 0.25) / 2
    assert np.abs(full.vertices[:, :2]).max() > 0.25 - 0.2 * h  # within a fifth of a cell of the true border
    assert np.abs(full.vertices[:, :2]).max() <= 0.25 + 1e-6 and np.abs(full.vertices[:, 2] - 0.0137).max() < 1e-4


def test_finer_grids_query_a_smaller_share_of_the_dense_grid():
    _, coarse = udf_marching_cubes(sphere(0.3), 64)
    _, fine = udf_marching_cubes(sphere(0.3), 128)
    assert fine.dense_fraction < coarse.dense_fraction / 2


def test_surface_outside_the_box_gives_an_empty_mesh_and_a_warning():
    with pytest.warns(UserWarning, match="no surface"):
        mesh, stats = udf_marching_cubes(sphere(0.2, centre=(3.0, 3.0, 3.0)), 32)
    assert len(mesh.faces) == 0 and stats.faces == 0


def test_nan_field_raises_a_clear_error():
    field = sphere(0.3)
    real = field.query_np

    def broken(q, grad=True, labels=False):
        d, g, _ = real(q)
        d[::7] = np.nan
        return d, g, None

    field.query_np = broken
    with pytest.raises(FieldError, match="NaN"):
        udf_marching_cubes(field, 32)


def test_near_zero_field_stops_with_a_clear_error_not_a_dense_grid():
    class Flat(TorchField):  # what a collapsed model answers: a tiny constant distance everywhere
        def udf(self, q):
            return torch.full((len(q),), 1e-3)

        def udf_and_grad(self, q):
            return self.udf(q), torch.zeros(len(q), 3)

    with pytest.raises(FieldError, match="does not describe a surface"):
        udf_marching_cubes(Flat(), 256)


def _face_segments(case: int, face: int) -> set[frozenset]:
    """Pairs of crossed edges joined by the case's polygons along one cube face."""
    _, _, _, face_edges = FACES[face]
    segments = set()
    for loop in _case_loops(case):
        for a, b in zip(loop, loop[1:] + loop[:1]):
            if a in face_edges and b in face_edges:
                segments.add(frozenset((a, b)))
    return segments


@pytest.mark.slow
def test_table_is_crack_free_across_faces_whatever_the_signs():
    """Two cells sharing a face (here x = 1 of one, x = 0 of the other) must join the same crossings on it, also
    when their pseudo-signs are flipped relative to each other: the ambiguous-face rule ignores signs."""
    x_hi, x_lo = 1, 0  # FACES index: axis 0, side 1 / side 0
    shift = {e_hi: e_lo for e_hi in FACES[x_hi][3] for e_lo in FACES[x_lo][3]
             if (EDGE_CORNERS[e_hi] & ~1).tolist() == (EDGE_CORNERS[e_lo] & ~1).tolist()}
    for case in range(256):
        a_face = {c: (case >> c) & 1 for c in FACES[x_hi][2]}
        for flip, rest in itertools.product((0, 1), range(16)):
            other = 0
            for c in FACES[x_lo][2]:
                other |= (a_face[c | 1] ^ flip) << c
            for k, c in enumerate(FACES[x_hi][2]):  # the neighbour's far corners: any signs
                other |= ((rest >> k) & 1) << c
            mine = {frozenset(shift[e] for e in s) for s in _face_segments(case, x_hi)}
            assert mine == _face_segments(other, x_lo), (case, flip, rest)


def test_every_case_triangulates_its_crossed_edges():
    table, count = triangle_table()
    for case in range(256):
        crossed = {e for e, (a, b) in enumerate(EDGE_CORNERS) if ((case >> a) & 1) != ((case >> b) & 1)}
        used = set(table[case, : count[case]].reshape(-1).tolist())
        assert used == crossed
        assert count[case] == count[255 - case]
