"""SurfelsField: the distance to the surface a point scan samples (a disk at every point), not to its points."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_file

from nir_core.data.ground_truth import PointsField, SurfelsField, estimate_normals
from nir_core.data.io import load
from nir_core.extract.udf_mc import UDFExtractConfig, udf_marching_cubes
from nir_core.metrics import reconstruction_metrics, sample_points_for_eval


def tilted_plane(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 3) random points on a tilted square, its unit normal (3,) and two in-plane axes (2, 3)."""
    rng = np.random.default_rng(seed)
    normal = np.array([0.2, -0.3, 1.0]) / np.linalg.norm([0.2, -0.3, 1.0])
    u = np.cross(normal, [1.0, 0, 0])
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    st = rng.uniform(-0.2, 0.2, (n, 2))
    return (st @ np.stack([u, v])).astype(np.float32), normal, np.stack([u, v])


def test_sheet_between_the_points_and_height_above_it():
    points, normal, axes = tilted_plane()
    rng = np.random.default_rng(1)
    inside = rng.uniform(-0.15, 0.15, (2000, 2)) @ axes  # on the plane, between the samples
    height = rng.uniform(-0.02, 0.02, 2000)
    queries = (inside + height[:, None] * normal).astype(np.float32)

    surfels = SurfelsField(points)
    on_sheet = surfels.udf_np(inside.astype(np.float32))
    # Disks of the 4th-neighbour radius cover ~98% of the plane; the points' own field bulges between samples.
    assert np.mean(on_sheet < 1e-5) > 0.95
    assert np.median(PointsField(points).udf_np(inside.astype(np.float32))) > 0.002
    d, g, _ = surfels.query_np(queries)
    covered = on_sheet < 1e-5
    np.testing.assert_allclose(d[covered], np.abs(height[covered]), atol=2e-5)
    # Off the sheet the gradient is the normal, pointing away from it.
    away = covered & (np.abs(height) > 1e-3)
    np.testing.assert_allclose(g[away], np.sign(height[away])[:, None] * normal, atol=1e-3)


def test_normals_estimated_or_taken_from_the_scan_and_labels_of_the_closest_disk():
    points, normal, _ = tilted_plane(seed=2)
    estimated = estimate_normals(points)
    assert np.abs(estimated @ normal).min() > 0.999  # unoriented, but in the plane's direction
    given = SurfelsField(points, normals=np.tile(2 * normal, (len(points), 1)))  # rescaled to unit length
    np.testing.assert_allclose(np.linalg.norm(given.normals, axis=1), 1.0, rtol=1e-6)

    labels = (points[:, 0] > 0).astype(np.int64)
    field = SurfelsField(points, labels)
    q = points[:50] + 0.01 * normal.astype(np.float32)
    _, ids = field.closest_np(q)
    np.testing.assert_array_equal(field.labels_at_np(q), labels[ids])


def test_too_few_points_is_a_clear_error():
    with pytest.raises(ValueError, match="more than 4 points"):
        SurfelsField(np.zeros((4, 3), np.float32))


@pytest.mark.slow
def test_a_real_point_scan_meshes_into_a_surface():
    """ScanNet scene0001_00 (50k points, no faces): its point field meshes into fragments, its disks into the room."""
    points = load(shared_file("scannet_votenet_50k", "scene0001_00_vert.npy")).normalised().points
    scores = {}
    for field in (PointsField(points), SurfelsField(points)):
        mesh, _ = udf_marching_cubes(field, cfg=UDFExtractConfig(resolution=128))
        pred = sample_points_for_eval(mesh, 50_000, seed=0)[0]
        scores[type(field).__name__] = reconstruction_metrics(pred, np.asarray(points, np.float64))["f1_delta"]
    assert scores["SurfelsField"] > 0.95
    assert scores["PointsField"] < 0.7
