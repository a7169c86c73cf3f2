"""Degenerate geometry never stops an extraction: the exact field of a mesh with duplicate faces, zero-area
triangles and coincident vertices answers finite values everywhere (property-based), a field that returns NaN at a
few points is repaired and the repairs counted, and `extract` meshes every mesh in ../shared/data."""
from __future__ import annotations

import numpy as np
import pytest
import trimesh
from conftest import SHARED_DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nir_core.data.ground_truth import MeshField, face_normals
from nir_core.data.io import find_scans, load
from nir_core.errors import FieldError, MeshRequiredError
from nir_core.extract import QueryCounter, query_field, udf_marching_cubes
from nir_core.extract.query import DEGENERATE_DISTANCE
from nir_core.pipeline import Pipeline, PipelineConfig

coordinate = st.floats(-0.5, 0.5, allow_nan=False, width=32)


@st.composite
def pathological_meshes(draw):
    """A small random mesh plus duplicate faces, zero-area triangles (repeated corners, collinear corners) and
    vertices that coincide with others under different indices."""
    n = draw(st.integers(3, 12))
    vertices = np.array(draw(st.lists(st.tuples(coordinate, coordinate, coordinate), min_size=n, max_size=n)),
                        np.float64)
    faces = draw(st.lists(st.tuples(*[st.integers(0, n - 1)] * 3), min_size=1, max_size=16))
    copies = draw(st.lists(st.integers(0, n - 1), max_size=4))  # coincident vertices under new indices
    vertices = np.concatenate([vertices, vertices[copies]]) if copies else vertices
    twins = [(i, n + k, (i + 1) % n) for k, i in enumerate(copies)]
    proper = len(vertices)  # one triangle with an area, so that there is a surface at all
    vertices = np.concatenate([vertices, [[-0.4, -0.4, -0.4], [0.4, -0.4, -0.4], [-0.4, 0.4, -0.4]]])
    faces = faces + [(proper, proper + 1, proper + 2)]
    a, b = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
    midpoint = len(vertices)
    vertices = np.concatenate([vertices, [(vertices[a] + vertices[b]) / 2]])
    collinear = [(a, midpoint, b)]  # zero area: its corners lie on one line
    faces = np.array(faces + faces[:2] + twins + collinear + [(a, a, b), (a, a, a)], np.int64)
    return trimesh.Trimesh(vertices.astype(np.float32), faces, process=False)


def _points_on(mesh: trimesh.Trimesh, rng: np.random.Generator) -> np.ndarray:
    """Vertices, edge midpoints and points inside faces (exactly on the surface), and a few near and far away."""
    triangles = np.asarray(mesh.triangles, np.float64)
    weights = rng.dirichlet(np.ones(3), size=len(triangles))
    inside = np.einsum("fk,fkc->fc", weights, triangles)
    edges = (triangles + np.roll(triangles, 1, axis=1)).reshape(-1, 3) / 2
    near = inside + rng.normal(scale=1e-6, size=inside.shape)
    far = rng.uniform(-0.5, 0.5, size=(16, 3))
    return np.concatenate([mesh.vertices, edges, inside, near, far]).astype(np.float32)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mesh=pathological_meshes(), seed=st.integers(0, 2**16))
def test_the_exact_field_is_finite_on_faces_edges_and_vertices_of_degenerate_meshes(mesh, seed):
    field = MeshField(mesh)
    q = _points_on(mesh, np.random.default_rng(seed))
    d, g, _ = field.query_np(q, grad=True, labels=False)
    assert np.isfinite(d).all() and np.isfinite(g).all()
    length = np.linalg.norm(g, axis=1)
    assert np.all((np.abs(length - 1) < 1e-3) | (length == 0))  # a direction, or none where there is none
    assert d[np.unique(mesh.faces)].max() < 1e-5  # the faces' corners are on the surface
    assert np.isfinite(face_normals(mesh.vertices, mesh.faces)).all()


def test_a_zero_area_triangle_takes_the_normal_of_the_faces_around_it():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.5, 0, 0], [0, 0, 0]], np.float32) * 0.4
    faces = np.array([[0, 1, 2], [0, 3, 1], [4, 4, 2]])  # collinear corners; a vertex repeated (4 is 0 again)
    normals = face_normals(vertices, faces)
    np.testing.assert_allclose(normals, [[0, 0, 1]] * 3)


def test_a_mesh_whose_faces_all_have_zero_area_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "flat.off"
    path.write_text("OFF\n4 2 0\n0 0 0\n1 0 0\n0 1 0\n1 1 1\n3 0 1 1\n3 2 2 2\n")
    with pytest.raises(MeshRequiredError, match="flat.off.*zero area"):
        Pipeline(PipelineConfig(resolution=16)).run(load(path))


class _FewNaNs:
    """A sphere's exact field that answers NaN at the points of one small region (a degenerate spot)."""

    def __init__(self, radius: float = 0.3):
        self.inner = MeshField(trimesh.creation.icosphere(subdivisions=4, radius=radius))

    def query_np(self, q, *, grad=True, labels=False):
        d, g, _ = self.inner.query_np(q, grad=grad, labels=False)
        spot = np.linalg.norm(q - np.array([0.3, 0.0, 0.0], np.float32), axis=1) < 0.02
        d[spot] = np.nan
        if grad:
            g[spot[::-1]] = np.inf  # bad gradients at other points than the bad distances
        return d, g, None


def test_a_few_degenerate_queries_are_repaired_and_counted():
    rng = np.random.default_rng(0)
    q = rng.uniform(-0.5, 0.5, (5000, 3)).astype(np.float32)
    q[:3] = [0.3, 0.0, 0.0]
    counter = QueryCounter()
    d, g = query_field(_FewNaNs(), q, grad=True, counter=counter)
    assert np.isfinite(d).all() and np.isfinite(g).all()
    assert (d[:3] == DEGENERATE_DISTANCE).all() and not g[:3].any() and not g[-3:].any()
    assert counter.degenerate == 6


def test_extraction_goes_on_around_degenerate_queries_and_reports_them():
    mesh, stats = udf_marching_cubes(_FewNaNs(), 64)
    assert stats.degenerate_queries > 0
    assert len(mesh.faces) > 1000 and np.isfinite(mesh.vertices).all()
    distance_to_sphere = np.abs(np.linalg.norm(mesh.vertices, axis=1) - 0.3)
    assert np.quantile(distance_to_sphere, 0.99) < 0.01


def test_a_field_that_is_mostly_nan_is_still_refused():
    class Broken(_FewNaNs):
        def query_np(self, q, *, grad=True, labels=False):
            d, g, _ = self.inner.query_np(q, grad=grad, labels=False)
            d[::10] = np.nan
            return d, g, None

    with pytest.raises(FieldError, match="non-finite distances"):
        udf_marching_cubes(Broken(), 32)


SHARED_MESHES = [p for p in find_scans(SHARED_DATA) if p.suffix in {".off", ".obj", ".stl", ".ply", ".glb"}] \
    if SHARED_DATA.is_dir() else []


@pytest.mark.slow
def test_extract_meshes_every_mesh_in_the_shared_data(shared_data):
    meshes = [p for p in SHARED_MESHES if load(p).has_faces]
    assert len(meshes) >= 15
    pipeline = Pipeline(PipelineConfig(resolution=32, score=False))
    for path in meshes:
        result = pipeline.run(load(path))
        assert len(result.mesh.faces) > 0, path
        assert result.report["extraction"]["degenerate_queries"] == 0, path
