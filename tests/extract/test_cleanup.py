"""Mesh clean-up: small components, consistent winding, vertex normals."""
from __future__ import annotations

import numpy as np
import trimesh

from nir_core.extract.cleanup import remove_small_components, vertex_normals
from nir_core.extract.hygiene import orient_pieces


def _flip_half(mesh, seed=0):
    faces = mesh.faces.copy()
    flip = np.random.default_rng(seed).random(len(faces)) < 0.5
    faces[flip] = faces[flip][:, ::-1]
    return trimesh.Trimesh(mesh.vertices, faces, process=False)


def test_remove_small_components_drops_tiny_box():
    big = trimesh.creation.icosphere(subdivisions=2, radius=0.3)
    tiny = trimesh.creation.box(extents=[0.01, 0.01, 0.01]).apply_translation([0.4, 0, 0])
    both = trimesh.util.concatenate([big, tiny])
    for kwargs in ({}, {"min_area_fraction": 0.05}, {"min_faces": 13}, {"min_faces": 5, "min_area_fraction": 0.05}):
        kept = remove_small_components(both, **kwargs)
        assert len(kept.faces) == len(big.faces) and len(kept.vertices) == len(big.vertices)
        np.testing.assert_allclose(kept.bounds, big.bounds)
    assert len(remove_small_components(both, min_faces=12).faces) == len(both.faces)  # the box has 12
    assert len(both.faces) == len(big.faces) + 12  # the input is untouched


def test_remove_small_components_treats_unwelded_vertices_as_shared():
    big = trimesh.creation.icosphere(subdivisions=2, radius=0.3)
    soup = trimesh.Trimesh(big.triangles.reshape(-1, 3), np.arange(3 * len(big.faces)).reshape(-1, 3),
                           process=False)
    assert len(remove_small_components(soup, min_faces=10).faces) == len(big.faces)


def test_orient_pieces_fixes_half_flipped_sphere():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.3)
    bad = _flip_half(sphere)
    assert not bad.is_winding_consistent
    fixed = orient_pieces(bad)
    assert fixed.is_winding_consistent
    assert fixed.volume > 0  # closed pieces face outwards
    np.testing.assert_allclose(fixed.volume, sphere.volume)
    assert not bad.is_winding_consistent  # the input is untouched


def test_orient_pieces_handles_several_pieces_and_open_surfaces():
    a = trimesh.creation.icosphere(subdivisions=2, radius=0.2)
    b = trimesh.creation.icosphere(subdivisions=2, radius=0.1).apply_translation([0.3, 0, 0])
    b.invert()  # inside out: must come back outward
    dome = trimesh.creation.icosphere(subdivisions=2, radius=0.1)
    dome.update_faces(dome.triangles_center[:, 2] > 0)  # open: the volume rule does not apply
    dome.remove_unreferenced_vertices()
    mesh = _flip_half(trimesh.util.concatenate([a, b, dome.apply_translation([0, 0.5, 0])]), seed=1)
    fixed = orient_pieces(mesh)
    assert fixed.is_winding_consistent
    pieces = fixed.split(only_watertight=False)
    closed = [p for p in pieces if p.is_watertight]
    assert len(pieces) == 3 and len(closed) == 2 and all(p.volume > 0 for p in closed)


def test_vertex_normals_point_outward_on_sphere():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.3)
    normals = vertex_normals(sphere)
    radial = sphere.vertices / np.linalg.norm(sphere.vertices, axis=1, keepdims=True)
    assert normals.dtype == np.float32
    assert np.einsum("ij,ij->i", normals, radial).min() > 0.99
    inverted = sphere.copy()
    inverted.invert()
    assert np.einsum("ij,ij->i", vertex_normals(inverted), radial).max() < -0.99
