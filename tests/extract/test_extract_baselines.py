"""The ε-level-set baseline and its documented failure mode (doubled surfaces)."""
from __future__ import annotations

import numpy as np
import pytest
import trimesh

from nir_core.data.ground_truth import MeshField
from nir_core.extract.analysis import mesh_stats
from nir_core.extract.baselines import epsilon_level_set
from nir_core.extract.query import QueryCounter

R = 0.3
RES = 64
VOXEL = 1.0 / (RES - 1)


@pytest.mark.slow
def test_sphere_becomes_offset_shell():
    field = MeshField(trimesh.creation.icosphere(subdivisions=3, radius=R))
    counter = QueryCounter()
    mesh = epsilon_level_set(field, RES, counter=counter)
    assert counter.queries == RES**3
    stats = mesh_stats(mesh)
    assert stats["components"] == 2 and stats["watertight"]  # outer and inner sheets
    r = np.linalg.norm(mesh.vertices, axis=1)
    outer, inner = r[r > R], r[r < R]
    # Default ε is one voxel: the sheets sit at r ± ε (icosphere facets pull both in by < 0.0015).
    assert np.median(outer) == pytest.approx(R + VOXEL, abs=0.003)
    assert np.median(inner) == pytest.approx(R - VOXEL, abs=0.003)
    expected_area = 4 * np.pi * ((R + VOXEL) ** 2 + (R - VOXEL) ** 2)
    assert mesh.area == pytest.approx(expected_area, rel=0.03)
    assert mesh.volume > 0  # normals point away from the true surface: outer out, inner in


def test_explicit_epsilon_moves_the_level():
    field = MeshField(trimesh.creation.icosphere(subdivisions=3, radius=R))
    mesh = epsilon_level_set(field, 48, epsilon=0.05)
    r = np.linalg.norm(mesh.vertices, axis=1)
    assert np.median(r[r > R]) == pytest.approx(R + 0.05, abs=0.003)
    with pytest.raises(ValueError):
        epsilon_level_set(field, 16, epsilon=0.0)


def test_open_square_area_doubles():
    side = 0.6
    square = trimesh.Trimesh([[-0.3, -0.3, 0.01], [0.3, -0.3, 0.01], [0.3, 0.3, 0.01], [-0.3, 0.3, 0.01]],
                             [[0, 1, 2], [0, 2, 3]], process=False)
    mesh = epsilon_level_set(MeshField(square), RES)
    stats = mesh_stats(mesh)
    assert stats["components"] == 1 and stats["watertight"]  # a closed "pillow", not an open sheet
    # Two sheets of the square plus a half-cylinder rim of radius ε around its border.
    rim = 4 * side * np.pi * VOXEL
    assert mesh.area == pytest.approx(2 * side**2 + rim, rel=0.05)
    assert mesh.area > 1.9 * side**2


def test_no_surface_in_box_gives_empty_mesh():
    far = MeshField(trimesh.creation.icosphere(radius=0.1).apply_translation([3.0, 0, 0]))
    assert len(epsilon_level_set(far, 16).faces) == 0
