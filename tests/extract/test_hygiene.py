"""Mesh hygiene: no non-manifold edges, one winding per piece (also on pieces that cannot be oriented), no
collapsed or repeated faces, and the counts in the report."""
from __future__ import annotations

import numpy as np
import trimesh

from nir_core.extract import clean_mesh, mesh_stats, orient_pieces


def _moebius(n: int = 48) -> trimesh.Trimesh:
    """A Moebius band: no winding of it is consistent everywhere."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rings = [np.stack([(0.3 + s * np.cos(t / 2)) * np.cos(t), (0.3 + s * np.cos(t / 2)) * np.sin(t),
                       s * np.sin(t / 2)], axis=1) for s in (-0.1, 0.1)]
    faces = []
    for i in range(n):
        j = (i + 1) % n
        a, b = (j, n + j) if j else (n, 0)  # the half twist: the band comes back with its sides swapped
        faces += [[i, a, b], [i, b, n + i]]
    return trimesh.Trimesh(np.concatenate(rings), np.array(faces), process=False)


def test_a_band_that_cannot_be_oriented_is_cut_once():
    band = _moebius()
    assert mesh_stats(band)["boundary_loops"] == 1  # one border: a Moebius band
    oriented = orient_pieces(band)
    assert mesh_stats(oriented)["inconsistent_edges"] == 1  # the tree leaves exactly one link out
    clean, report = clean_mesh(band)
    assert report["after"]["inconsistent_edges"] == 0 and report["after"]["non_manifold_edges"] == 0
    assert report["faces_dropped"]["winding_cuts"] == 1 and len(clean.faces) == len(band.faces) - 1


def test_a_fin_on_a_sphere_goes_and_the_sphere_stays_closed_and_outward():
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.3)
    edge = sphere.vertices[sphere.edges_unique[0]]
    fin = trimesh.Trimesh(np.vstack([edge, [edge.mean(axis=0) * 2]]), [[0, 1, 2]])
    mesh = trimesh.util.concatenate([sphere, fin])
    mesh.merge_vertices()
    mesh.invert()
    assert mesh_stats(mesh)["non_manifold_edges"] == 1
    clean, report = clean_mesh(mesh)
    assert report["faces_dropped"]["non_manifold"] == 1
    assert clean.is_watertight and clean.is_winding_consistent and clean.volume > 0
    assert report["before"]["non_manifold_edges"] == 1 and report["after"]["non_manifold_edges"] == 0


def test_collapsed_and_repeated_faces_go_and_thin_ones_stay():
    sphere = trimesh.creation.icosphere(subdivisions=1, radius=0.3)
    v = sphere.vertices
    collapsed = [0, 0, 5]  # a corner twice
    needle = np.array([[0, 0, 0], [1, 0, 0], [0.5, 1e-9, 0]]) * 0.1 + 0.5  # no area, three distinct corners
    faces = np.vstack([sphere.faces, sphere.faces[:2], [collapsed], [[len(v), len(v) + 1, len(v) + 2]]])
    mesh = trimesh.Trimesh(np.vstack([v, needle]), faces, process=False)
    clean, report = clean_mesh(mesh)
    assert report["faces_dropped"]["collapsed_or_repeated"] == 3  # two repeats and one with a corner twice
    assert len(clean.faces) == len(sphere.faces) + 1  # the needle stays


def test_open_pieces_face_the_centre():
    def square(z: float) -> trimesh.Trimesh:
        return trimesh.Trimesh([[-0.5, -0.5, z], [0.5, -0.5, z], [0.5, 0.5, z], [-0.5, 0.5, z]],
                               [[0, 1, 2], [0, 2, 3]], process=False)

    floor, ceiling = square(-0.5), square(0.5)  # both wound to face up
    clean, _ = clean_mesh(trimesh.util.concatenate([floor, ceiling]))
    normals_z = clean.face_normals[:, 2]
    centres_z = clean.triangles_center[:, 2]
    assert (normals_z[centres_z < 0] > 0.9).all() and (normals_z[centres_z > 0] < -0.9).all()  # both face in
