"""Marching cubes on signed fields: placement and outward winding for SDFs and occupancies."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nir_core.errors import FieldError
from nir_core.extract.signed import signed_marching_cubes

R = 0.3


def sdf(q):
    return np.linalg.norm(q, axis=1) - R


def test_sdf_sphere_is_placed_and_outward():
    mesh = signed_marching_cubes(sdf, 48, batch_size=5000)
    assert np.abs(np.linalg.norm(mesh.vertices, axis=1) - R).max() < 2e-3
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * R**3, rel=0.02)  # positive: outward normals


def test_occupancy_logits_from_torch_are_outward():
    def logits(q):
        with torch.no_grad():
            return 50.0 * (R - torch.from_numpy(q).norm(dim=1))

    mesh = signed_marching_cubes(logits, 40, level=0.0, inside_below=False)
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * R**3, rel=0.03)


def test_level_offsets_the_surface():
    mesh = signed_marching_cubes(sdf, 40, level=0.1)
    assert np.median(np.linalg.norm(mesh.vertices, axis=1)) == pytest.approx(R + 0.1, abs=2e-3)


def test_nan_values_raise():
    with pytest.raises(FieldError):
        signed_marching_cubes(lambda q: np.where(q[:, 0] > 0.4, np.nan, sdf(q)), 16)


@pytest.mark.slow
def test_coarse_to_fine_matches_the_dense_grid_with_fewer_queries():
    from nir_core.extract.query import QueryCounter

    def torus(q):
        ring = np.sqrt(q[:, 0] ** 2 + q[:, 1] ** 2) - 0.25
        return np.sqrt(ring ** 2 + q[:, 2] ** 2) - 0.08

    counter = QueryCounter()
    sparse = signed_marching_cubes(torus, 129, counter=counter)
    dense = signed_marching_cubes(torus, 129, coarse_resolution=None)
    assert len(sparse.faces) == len(dense.faces)
    np.testing.assert_allclose(np.sort(sparse.vertices, axis=0), np.sort(dense.vertices, axis=0), atol=1e-6)
    assert counter.queries < 0.25 * 129 ** 3
    assert sparse.is_watertight
