"""Ground-truth fields (mesh / points) and NDF-style UDF sample generation."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from nir_core.data.ground_truth import (
    MeshField,
    PointsField,
    SurfelsField,
    face_labels_from_scan,
    field_from_scan,
)
from nir_core.data.labels import IGNORE_LABEL
from nir_core.data.sampling import (
    SamplingConfig,
    make_udf_samples,
    sample_queries,
    sample_surface,
    split_counts,
)
from nir_core.data.scan import Scan
from nir_core.errors import MeshRequiredError
from nir_core.field import Field, SemanticField

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RADIUS = 0.3


def sphere_mesh() -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=4, radius=RADIUS)


def shell_queries(n: int, seed: int, gap: float = 0.04) -> np.ndarray:
    """Points inside and outside the sphere, at least ``gap`` from it (and from its centre)."""
    rng = np.random.default_rng(seed)
    d = rng.standard_normal((n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    r = np.where(rng.random(n) < 0.5, rng.uniform(0.05, RADIUS - gap, n), rng.uniform(RADIUS + gap, 0.5, n))
    return (d * r[:, None]).astype(np.float32)


def true_sphere(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact distance to the sphere and its gradient (+q/|q| outside, -q/|q| inside)."""
    r = np.linalg.norm(q.astype(np.float64), axis=1)
    return np.abs(r - RADIUS), np.sign(r - RADIUS)[:, None] * q / r[:, None]


def two_boxes() -> tuple[trimesh.Trimesh, np.ndarray]:
    """Two unit-cube-sized boxes far apart; faces of the left one labelled 3, of the right one 7."""
    left = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    left.apply_translation((-0.3, 0.0, 0.0))
    right = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    right.apply_translation((0.3, 0.0, 0.0))
    mesh = trimesh.util.concatenate([left, right])
    labels = np.concatenate([np.full(len(left.faces), 3), np.full(len(right.faces), 7)])
    return mesh, labels


# ---- ground-truth fields --------------------------------------------------------------------------------

def test_mesh_field_matches_sphere_distance_and_gradient():
    field = MeshField(sphere_mesh())
    assert isinstance(field, Field)
    q = shell_queries(4000, seed=1)
    d, g = field.udf_and_grad(torch.from_numpy(q))
    assert d.dtype == torch.float32 and g.dtype == torch.float32
    assert d.shape == (4000,) and g.shape == (4000, 3)
    d_true, g_true = true_sphere(q)
    # the icosphere's facets sag below the true sphere by < 1e-3 at this resolution
    np.testing.assert_allclose(d.numpy(), d_true, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(g.numpy(), axis=1), 1.0, atol=1e-5)
    cos = np.sum(g.numpy() * g_true, axis=1)
    assert cos.min() > 0.995
    np.testing.assert_allclose(field.udf(torch.from_numpy(q)).numpy(), d.numpy())


def test_mesh_field_closest_points_and_zero_distance_gradient():
    mesh = sphere_mesh()
    field = MeshField(mesh)
    on_surface, face = trimesh.sample.sample_surface(mesh, 500, seed=0)
    p, ids = field.closest(torch.from_numpy(on_surface.astype(np.float32)))
    assert ids.dtype == torch.int64
    np.testing.assert_allclose(p.numpy(), on_surface, atol=1e-5)
    d, g, _ = field.query_np(on_surface)
    assert d.max() < 1e-5
    # on the surface (q - closest) / d is undefined: the closest face's normal stands in for it
    assert np.isfinite(g).all()
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), 1.0, atol=1e-5)
    exact = d < 1e-6
    assert exact.any()
    np.testing.assert_allclose(np.abs(np.sum(g[exact] * mesh.face_normals[face[exact]], axis=1)), 1.0, atol=1e-4)


def test_points_field_approximates_sphere_within_spacing():
    rng = np.random.default_rng(0)
    pts = rng.standard_normal((20_000, 3))
    pts = RADIUS * pts / np.linalg.norm(pts, axis=1, keepdims=True)
    field = PointsField(pts)
    q = shell_queries(3000, seed=2)
    d, g = field.udf_and_grad(torch.from_numpy(q))
    d_true, g_true = true_sphere(q)
    err = d.numpy() - d_true
    # samples lie on the sphere, so they are never closer than it; spacing is ~7e-3 here
    assert err.min() > -1e-5
    assert err.max() < 1e-2
    assert np.sum(g.numpy() * g_true, axis=1).min() > 0.95
    # a query exactly on a sample point has no direction; without normals the gradient is zero
    _, g0, _ = field.query_np(pts[:5])
    np.testing.assert_array_equal(g0, 0.0)


def test_batching_does_not_change_results():
    q = shell_queries(1000, seed=3)
    mesh, labels = two_boxes()
    big, small = MeshField(mesh, labels), MeshField(mesh, labels, batch_size=97)
    for a, b in zip(big.query_np(q), small.query_np(q)):
        np.testing.assert_array_equal(a, b)
    pts = sphere_mesh().vertices
    big, small = PointsField(pts), PointsField(pts, batch_size=97)
    np.testing.assert_array_equal(big.udf_np(q), small.udf_np(q))


def test_empty_query_and_pickled_mesh_field():
    field = MeshField(sphere_mesh())
    d, g = field.udf_and_grad(torch.zeros((0, 3)))
    assert d.shape == (0,) and g.shape == (0, 3)
    q = shell_queries(50, seed=4)
    expected = field.udf_np(q)
    clone = pickle.loads(pickle.dumps(field))  # the Open3D scene is rebuilt, e.g. in DataLoader workers
    np.testing.assert_array_equal(clone.udf_np(q), expected)


# ---- labels ---------------------------------------------------------------------------------------------

def test_mesh_field_labels_follow_nearest_surface():
    mesh, labels = two_boxes()
    field = MeshField(mesh, labels, num_classes=10)
    assert isinstance(field, SemanticField)
    rng = np.random.default_rng(0)
    near_left = (np.array([-0.3, 0, 0]) + 0.08 * rng.standard_normal((200, 3))).astype(np.float32)
    near_right = (np.array([0.3, 0, 0]) + 0.08 * rng.standard_normal((200, 3))).astype(np.float32)
    q = torch.from_numpy(np.concatenate([near_left, near_right]))
    lab = field.labels_at(q)
    assert lab.dtype == torch.int64
    assert (lab[:200] == 3).all() and (lab[200:] == 7).all()
    sem = field.semantics(q)
    assert sem.shape == (400, 10)
    np.testing.assert_array_equal(sem.sum(dim=1).numpy(), 1.0)
    np.testing.assert_array_equal(sem.argmax(dim=1).numpy(), lab.numpy())


def test_unlabelled_faces_give_zero_semantics_and_no_labels_raise():
    mesh, labels = two_boxes()
    labels = labels.copy()
    labels[labels == 7] = IGNORE_LABEL
    field = MeshField(mesh, labels, num_classes=8)
    q = torch.tensor([[0.3, 0.0, 0.2], [-0.3, 0.0, 0.2]])
    assert field.labels_at(q).tolist() == [IGNORE_LABEL, 3]
    assert field.semantics(q).sum(dim=1).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="without labels"):
        MeshField(mesh).semantics(q)


def test_points_field_labels_are_nearest_point_labels():
    rng = np.random.default_rng(5)
    pts = rng.uniform(-0.5, 0.5, (500, 3)).astype(np.float32)
    labels = rng.integers(0, 6, 500)
    field = PointsField(pts, labels)
    assert field.num_classes == 6
    q = rng.uniform(-0.5, 0.5, (300, 3)).astype(np.float32)
    nearest = np.argmin(np.linalg.norm(q[:, None] - pts[None], axis=2), axis=1)
    np.testing.assert_array_equal(field.labels_at(torch.from_numpy(q)).numpy(), labels[nearest])
    _, ids = field.closest(torch.from_numpy(q))
    np.testing.assert_array_equal(ids.numpy(), nearest)


def test_face_labels_from_vertex_labels_majority_then_first_vertex():
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [2, 0, 0]], dtype=np.float32) * 0.1
    faces = np.array([[0, 1, 2], [1, 3, 2], [1, 4, 3]])
    mesh = trimesh.Trimesh(verts, faces, process=False)
    scan = Scan(points=verts, labels=np.array([1, 2, 2, 5, 9]), mesh=mesh)
    # face 0: votes (1, 2, 2) -> 2; face 1: (2, 5, 2) -> 2; face 2: (2, 9, 5), no majority -> first vertex, 2
    np.testing.assert_array_equal(face_labels_from_scan(scan), [2, 2, 2])
    scan.labels = np.array([4, 4, 1, 1, 1])
    np.testing.assert_array_equal(face_labels_from_scan(scan), [4, 1, 1])


def test_field_from_scan_mesh_labels_and_mesh_required():
    mesh, face_labels = two_boxes()
    vertex_labels = np.where(mesh.vertices[:, 0] < 0, 3, 7)
    scan = Scan(points=mesh.vertices.astype(np.float32), labels=vertex_labels, mesh=mesh)
    field = field_from_scan(scan)
    assert isinstance(field, MeshField)
    np.testing.assert_array_equal(field.labels, face_labels)
    assert isinstance(field_from_scan(scan, prefer_mesh=False), SurfelsField)

    points_only = Scan(points=mesh.vertices.astype(np.float32), labels=vertex_labels, source=Path("room.npy"))
    assert isinstance(field_from_scan(points_only), SurfelsField)
    with pytest.raises(MeshRequiredError, match="room.npy"):
        MeshField.from_scan(points_only)


# ---- query sampling -------------------------------------------------------------------------------------

def test_counts_sum_exactly():
    assert split_counts(100_000, (0.01, 0.49, 0.5)) == (1000, 49_000, 50_000)
    assert split_counts(10, (1, 1, 1)) == (4, 3, 3)
    for m in (0, 1, 7, 999, 10_001):
        counts = SamplingConfig(num_queries=m).counts()
        assert sum(counts) == m and len(counts) == 3
    assert len(sample_queries(np.zeros((4, 3)), SamplingConfig(num_queries=10_001))) == 10_001


def test_query_noise_has_the_configured_sigmas():
    cfg = SamplingConfig(num_queries=30_000, sigmas=(0.08, 0.02, 0.003), ratios=(1, 1, 1), seed=3)
    surface = np.random.default_rng(0).uniform(-0.4, 0.4, (2000, 3)).astype(np.float32)
    q, src = sample_queries(surface, cfg, return_source=True)
    assert q.dtype == np.float32 and q.shape == (30_000, 3)
    noise = q - surface[src]
    start = 0
    for sigma, n in zip(cfg.sigmas, cfg.counts()):
        block = noise[start:start + n]
        start += n
        assert abs(block.std() / sigma - 1) < 0.03
        assert np.abs(block.mean(axis=0)).max() < 0.05 * sigma


def test_sampling_is_deterministic_by_seed():
    surface = np.random.default_rng(0).uniform(-0.4, 0.4, (500, 3))
    a = sample_queries(surface, SamplingConfig(num_queries=1000, seed=1))
    b = sample_queries(surface, SamplingConfig(num_queries=1000, seed=1))
    c = sample_queries(surface, SamplingConfig(num_queries=1000, seed=2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)

    mesh, _ = two_boxes()
    scan = Scan(points=mesh.vertices.astype(np.float32), labels=np.where(mesh.vertices[:, 0] < 0, 3, 7), mesh=mesh)
    cfg = SamplingConfig(num_surface=300, num_queries=2000, seed=4)
    s1, s2 = make_udf_samples(scan, cfg), make_udf_samples(scan, cfg)
    for name in ("surface", "surface_labels", "queries", "distances", "labels"):
        np.testing.assert_array_equal(getattr(s1, name), getattr(s2, name))
    s3 = make_udf_samples(scan, SamplingConfig(num_surface=300, num_queries=2000, seed=5))
    assert not np.array_equal(s1.queries, s3.queries)
    assert not np.array_equal(s1.surface, s3.surface)


def test_sample_surface_mesh_and_points():
    mesh, labels = two_boxes()
    pts, normals, lab = sample_surface(mesh, 1000, seed=0, face_labels=labels)
    assert pts.shape == (1000, 3) and pts.dtype == np.float32 and normals.shape == (1000, 3)
    np.testing.assert_array_equal(lab, np.where(pts[:, 0] < 0, 3, 7))
    assert MeshField(mesh).udf_np(pts).max() < 1e-5

    scan = Scan(points=np.arange(30, dtype=np.float32).reshape(10, 3), labels=np.arange(10),
                normals=np.tile(np.float32([0, 0, 1]), (10, 1)))
    sub, sub_normals, sub_labels = sample_surface(scan, 6, seed=0)
    assert len(np.unique(sub_labels)) == 6  # distinct points when possible
    np.testing.assert_array_equal(sub, scan.points[sub_labels])
    assert sub_normals.shape == (6, 3)
    more, _, more_labels = sample_surface(scan, 25, seed=0)
    assert more.shape == (25, 3) and set(more_labels) == set(range(10))  # every point at least once


def test_points_scan_samples_labels_clamp_and_gradients():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.5, 0.5, (3000, 3)).astype(np.float32)
    scan = Scan(points=pts, labels=(pts[:, 2] > 0).astype(np.int64))
    cfg = SamplingConfig(num_surface=500, num_queries=4000, clamp=0.01, with_gradients=True)
    s = make_udf_samples(scan, cfg)
    assert s.surface.shape == (500, 3) and s.surface_labels.shape == (500,)
    assert s.queries.shape == (4000, 3) and s.distances.shape == (4000,) and s.labels.dtype == np.int64
    assert s.distances.max() <= 0.01 and s.gradients.shape == (4000, 3)
    d, g, lab = SurfelsField(pts, scan.labels).query_np(s.queries)
    np.testing.assert_array_equal(s.labels, lab)
    np.testing.assert_array_equal(s.distances, np.minimum(d, 0.01))
    np.testing.assert_array_equal(s.gradients, g)


def test_unnormalised_scan_warns():
    scan = Scan(points=np.random.default_rng(0).uniform(0, 5, (100, 3)).astype(np.float32))
    with pytest.warns(UserWarning, match="unit cube"):
        make_udf_samples(scan, SamplingConfig(num_surface=10, num_queries=10))


def test_config_json_round_trip_and_validation():
    cfg = SamplingConfig(num_queries=123, sigmas=(0.1, 0.01), ratios=(0.3, 0.7), clamp=0.1)
    assert SamplingConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError):
        SamplingConfig(sigmas=(0.1,), ratios=(0.5, 0.5))


# ---- a real mesh ----------------------------------------------------------------------------------------

def test_bunny_udf_samples():
    path = SHARED_DATA / "classic_meshes" / "bunny_watertight_3485v.off"
    if not path.exists():
        pytest.skip(f"shared test data not found at {path}")
    mesh = trimesh.load(path, force="mesh")
    scan = Scan(points=np.asarray(mesh.vertices, dtype=np.float32), mesh=mesh, source=path).normalised()
    cfg = SamplingConfig(num_surface=2000, num_queries=5000)
    s = make_udf_samples(scan, cfg)
    assert s.surface.shape == (2000, 3) and s.queries.shape == (5000, 3)
    assert s.labels is None and s.surface_labels is None
    assert np.abs(s.surface).max() <= 0.5 + 1e-5
    assert s.distances.dtype == np.float32 and (s.distances >= 0).all()
    assert sum(s.counts) == 5000 and s.sigmas == cfg.sigmas
    small = s.distances[s.block(2)]  # sigma 0.003
    wide = s.distances[s.block(1)]  # sigma 0.02
    # |distance| <= |noise|, and |noise| of a 3-D Gaussian is below 6 sigma with near certainty
    assert small.max() < 6 * 0.003
    assert np.median(small) < 0.003
    assert np.median(wide) > 3 * np.median(small)
