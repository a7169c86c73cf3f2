"""NDF dense point extraction and ball pivoting on an exact sphere field."""
from __future__ import annotations

import numpy as np
import pytest
import trimesh

from nir_core.data.ground_truth import MeshField
from nir_core.extract.dense_points import DensePointsConfig, ball_pivoting_mesh, dense_points, orient_point_normals
from nir_core.extract.query import QueryCounter

R = 0.3


@pytest.fixture(scope="module")
def sphere():
    return trimesh.creation.icosphere(subdivisions=3, radius=R)


@pytest.fixture(scope="module")
def cloud(sphere):
    counter = QueryCounter()
    points, normals = dense_points(MeshField(sphere), DensePointsConfig(num_points=20_000), seed=0,
                                   counter=counter)
    return points, normals, counter


def test_points_lie_on_the_surface(sphere, cloud):
    points, normals, counter = cloud
    assert points.shape == (20_000, 3) and points.dtype == np.float32
    # The icosphere's facets sit up to ~0.0015 inside the true sphere.
    assert np.abs(np.linalg.norm(points, axis=1) - R).max() < 0.005
    assert MeshField(sphere).udf_np(points).max() < 1e-3
    assert counter.queries > 0 and counter.grad_queries == counter.queries


def test_points_cover_the_surface(sphere, cloud):
    points = cloud[0]
    centred = points / np.linalg.norm(points, axis=1, keepdims=True)
    # Every octant of the sphere is sampled about equally.
    octant = (centred > 0) @ np.array([1, 2, 4])
    counts = np.bincount(octant, minlength=8)
    assert counts.min() > 0.6 * counts.mean()


def test_normals_are_unit_and_radial(cloud):
    points, normals, _ = cloud
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-4)
    radial = points / np.linalg.norm(points, axis=1, keepdims=True)
    assert np.abs(np.einsum("ij,ij->i", normals, radial)).min() > 0.95


def test_same_seed_same_cloud(sphere):
    cfg = DensePointsConfig(num_points=2_000, num_steps=2)
    a, _ = dense_points(MeshField(sphere), cfg, seed=3, with_normals=False)
    b, nb = dense_points(MeshField(sphere), cfg, seed=3, with_normals=False)
    np.testing.assert_array_equal(a, b)
    assert nb is None


def test_field_without_surface_returns_empty_with_warning(sphere):
    far = MeshField(sphere.copy().apply_translation([5.0, 0, 0]))
    with pytest.warns(RuntimeWarning, match="no sample"):
        p, n = dense_points(far, DensePointsConfig(num_points=100, num_steps=1, max_step=0.1))
    assert p.shape == (0, 3) and n.shape == (0, 3)


@pytest.mark.slow
def test_ball_pivoting_area_close_to_sphere(cloud):
    points, normals, _ = cloud
    mesh = ball_pivoting_mesh(points, normals)
    true_area = 4 * np.pi * R**2
    assert abs(mesh.area - true_area) / true_area < 0.15
    estimated = ball_pivoting_mesh(points)  # normals estimated from neighbours
    assert abs(estimated.area - true_area) / true_area < 0.15


def test_orient_point_normals_makes_random_signs_consistent(cloud):
    points, normals, _ = cloud
    signs = np.where(np.random.default_rng(1).random(len(points)) < 0.5, -1.0, 1.0)[:, None]
    oriented = orient_point_normals(points, normals * signs)
    radial = np.einsum("ij,ij->i", oriented, points / np.linalg.norm(points, axis=1, keepdims=True))
    assert (radial > 0).all() or (radial < 0).all()


@pytest.mark.slow
def test_ball_pivoting_needs_consistent_signs(cloud):
    points, normals, _ = cloud
    signs = np.where(np.random.default_rng(2).random(len(points)) < 0.5, -1.0, 1.0)[:, None]
    true_area = 4 * np.pi * R**2
    assert ball_pivoting_mesh(points, normals * signs).area > 0.85 * true_area
    assert ball_pivoting_mesh(points, normals * signs, orient_normals=False).area < 0.5 * true_area
