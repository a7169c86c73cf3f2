"""Optional clean-up of extracted meshes: drop small pieces, vertex normals, straighter borders (manifold edges and
the winding: :mod:`.hygiene`).

All are vectorised over faces (numpy + ``scipy.sparse.csgraph``); none loops over components in
Python, so meshes with thousands of small pieces (typical of UDF extraction) stay fast.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh

from .analysis import edge_table, face_components, half_edges, weld_faces

DEFAULT_MIN_AREA_FRACTION = 0.01
"""With no threshold given, :func:`remove_small_components` drops pieces under 1% of the total area."""


def _face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = np.asarray(vertices, dtype=np.float64)[faces]
    return 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)


def _subset(mesh: trimesh.Trimesh, keep: np.ndarray) -> trimesh.Trimesh:
    """A copy of ``mesh`` with the faces where (F,) ``keep`` is True and the vertices they use."""
    out = mesh.copy()
    out.update_faces(keep)
    out.remove_unreferenced_vertices()
    return out


def remove_small_components(mesh: trimesh.Trimesh, min_faces: int | None = None,
                            min_area_fraction: float | None = None) -> trimesh.Trimesh:
    """A copy of ``mesh`` without its small connected pieces (faces connected through shared edges).

    Parameters
    ----------
    mesh: the mesh; coincident vertices count as shared (welded on index arrays, the mesh is not changed).
    min_faces: keep pieces with at least this many faces.
    min_area_fraction: keep pieces with at least this fraction of the total surface area.
        Both given: a piece must pass both. Neither: ``min_area_fraction = 0.01``.

    Returns
    -------
    A new mesh (vertex attributes kept, unreferenced vertices dropped); an empty mesh when nothing passes.
    """
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(faces) == 0:
        return mesh.copy()
    if min_faces is None and min_area_fraction is None:
        min_area_fraction = DEFAULT_MIN_AREA_FRACTION
    n, labels = face_components(weld_faces(mesh.vertices, faces))
    keep_piece = np.ones(n, dtype=bool)
    if min_faces is not None:
        keep_piece &= np.bincount(labels, minlength=n) >= int(min_faces)
    if min_area_fraction is not None:
        area = np.bincount(labels, weights=_face_areas(mesh.vertices, faces), minlength=n)
        keep_piece &= area >= float(min_area_fraction) * area.sum()
    return _subset(mesh, keep_piece[labels])


def vertex_normals(mesh: trimesh.Trimesh) -> np.ndarray:
    """(V, 3) float32 unit vertex normals: area-weighted sums of the adjacent face normals.

    Follows the faces' winding (orient the mesh first). Vertices used by no face, or whose normals cancel,
    get a zero normal.
    """
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    tri = vertices[faces]
    # The un-normalised cross product is the face normal scaled by twice the area: the weight we want.
    weighted = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    idx = faces.reshape(-1)
    contrib = np.repeat(weighted, 3, axis=0)
    normals = np.stack([np.bincount(idx, weights=contrib[:, k], minlength=len(vertices)) for k in range(3)],
                       axis=1)
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, norm, out=np.zeros_like(normals), where=norm > 0).astype(np.float32)


def smooth_boundary(mesh: trimesh.Trimesh, iterations: int = 4, *, lam: float = 0.5, mu: float = -0.53
                    ) -> tuple[trimesh.Trimesh, np.ndarray]:
    """A copy of ``mesh`` whose open borders are smoothed along themselves (Taubin λ/μ, no shrinking).

    A grid extractor ends an open surface on cell faces, so its border is a staircase whose length exceeds the
    true border's by up to √2; moving each border vertex towards the mean of its two border neighbours straightens
    it. Vertices where borders meet (not exactly two border neighbours) stay put. Interior vertices never move.

    Returns
    -------
    mesh: the smoothed copy.
    moved: (M,) int64 indices of the vertices that moved (callers may project them back onto the surface).
    """
    faces = np.asarray(mesh.faces, dtype=np.int64)
    out = mesh.copy()
    if len(faces) == 0 or iterations <= 0:
        return out, np.zeros(0, dtype=np.int64)
    table = edge_table(faces)
    border = table.edges[table.counts == 1]
    if len(border) == 0:
        return out, np.zeros(0, dtype=np.int64)
    n = len(mesh.vertices)
    degree = np.bincount(border.reshape(-1), minlength=n)
    movable = degree == 2
    ends = border[movable[border[:, 0]] | movable[border[:, 1]]]
    vertices = np.asarray(mesh.vertices, dtype=np.float64).copy()
    for step in [lam, mu] * iterations:
        total = np.zeros_like(vertices)
        np.add.at(total, ends[:, 0], vertices[ends[:, 1]])
        np.add.at(total, ends[:, 1], vertices[ends[:, 0]])
        target = total[movable] / 2.0
        vertices[movable] += step * (target - vertices[movable])
    out.vertices = vertices
    return out, np.nonzero(movable)[0]


def extend_border(mesh: trimesh.Trimesh, udf: Callable[[np.ndarray], np.ndarray], cell: float, offset: float = 0.0,
                  tolerance: float = 0.15, fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
                  ) -> tuple[trimesh.Trimesh, np.ndarray]:
    """A copy of ``mesh`` whose open borders are pushed outwards along the surface as far as the surface goes.

    Marching cubes drops the last, partly covered cell along an open border, so the mesh stops up to a cell short
    of the true border. Each border vertex tries steps of ``fractions`` of a cell along its outward in-surface
    direction (in its border faces' planes, away from their third corners) and takes the longest step whose every
    shorter step too lies on the surface (distance below ``tolerance`` cells beyond ``offset``).

    Parameters
    ----------
    mesh: mesh with shared vertices.
    udf: (M, 3) float32 points -> (M,) distances, one batched call.
    cell: grid cell size.

    Returns
    -------
    mesh: the extended copy.
    moved: (M,) int64 indices of the vertices that moved (to be projected onto the surface).
    """
    faces = np.asarray(mesh.faces, dtype=np.int64)
    out = mesh.copy()
    if len(faces) == 0:
        return out, np.zeros(0, dtype=np.int64)
    table = edge_table(faces)
    half = half_edges(faces)
    border = np.nonzero(table.counts[table.half_edge] == 1)[0]
    if len(border) == 0:
        return out, np.zeros(0, dtype=np.int64)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    a, b = half[border, 0], half[border, 1]
    third = faces[border // 3, (border % 3 + 2) % 3]
    along = vertices[b] - vertices[a]
    along /= np.maximum(np.linalg.norm(along, axis=1, keepdims=True), 1e-12)
    away = 0.5 * (vertices[a] + vertices[b]) - vertices[third]
    away -= np.einsum("ij,ij->i", away, along)[:, None] * along  # in the face's plane, across the border edge
    away /= np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-12)
    direction = np.zeros_like(vertices)
    np.add.at(direction, a, away)
    np.add.at(direction, b, away)
    ids = np.unique(np.concatenate([a, b]))
    norm = np.linalg.norm(direction[ids], axis=1)
    ids, unit = ids[norm > 1e-9], direction[ids][norm > 1e-9] / norm[norm > 1e-9, None]
    steps = np.asarray(fractions, dtype=np.float64) * cell  # (S,)
    trial = vertices[ids][:, None, :] + steps[None, :, None] * unit[:, None, :]  # (K, S, 3)
    on = (np.asarray(udf(trial.reshape(-1, 3).astype(np.float32))).reshape(len(ids), len(steps)) - offset
          <= tolerance * cell)
    reach = np.cumprod(on, axis=1).sum(axis=1)  # how many steps in a row stay on the surface
    moved = reach > 0
    vertices = vertices.copy()
    vertices[ids[moved]] = trial[moved, reach[moved] - 1]
    out.vertices = vertices
    return out, ids[moved]
