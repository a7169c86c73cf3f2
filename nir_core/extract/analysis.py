"""Mesh statistics users care about after an extraction: area, holes, pieces, non-manifold edges.

Everything is vectorised (numpy sorting + ``scipy.sparse.csgraph``): no Python loop over faces or edges.
Coincident vertices are welded first (on index arrays, never on the caller's mesh), so a mesh saved
without shared vertices (one vertex triple per face, as STL stores it) is not mistaken for a soup of
disconnected triangles with three boundary edges each.

The edge and component helpers (:func:`weld_faces`, :func:`edge_table`, :func:`face_components`) are shared
with :mod:`nir_core.extract.cleanup`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

WELD_DIGITS = 8
"""Vertices whose coordinates agree to this many decimals are welded (trimesh's ``merge_vertices`` tolerance)."""


def weld(vertices: np.ndarray, faces: np.ndarray, digits: int = WELD_DIGITS) -> tuple[np.ndarray, np.ndarray]:
    """(U, 3) float64 distinct vertex positions and (F, 3) int64 faces indexing them: coincident vertices merged."""
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(vertices) == 0:
        return vertices.reshape(-1, 3), faces
    first, inverse = trimesh.grouping.unique_rows(vertices, digits=digits)
    return vertices[first], np.asarray(inverse, dtype=np.int64)[faces]


def weld_faces(vertices: np.ndarray, faces: np.ndarray, digits: int = WELD_DIGITS) -> np.ndarray:
    """(F, 3) int64 faces re-indexed so coincident vertices share one index; face order is kept.

    Parameters
    ----------
    vertices: (V, 3) float positions.
    faces: (F, 3) int vertex indices.
    digits: coordinates are rounded to this many decimals before comparing.
    """
    return weld(vertices, faces, digits)[1]


@dataclass
class EdgeTable:
    """Every face edge of a mesh, grouped by the undirected edge it lies on.

    ``E`` is the number of distinct undirected edges, ``H = 3F`` the number of face edges (half-edges).
    """

    edges: np.ndarray
    """(E, 2) int64 distinct undirected edges, vertex indices sorted within each row."""
    counts: np.ndarray
    """(E,) int64 faces using each edge: 1 boundary, 2 manifold interior, >2 non-manifold."""
    half_edge: np.ndarray
    """(H,) int64 index into ``edges`` of face edge ``h``; face ``h // 3``, corner ``h % 3`` (from vertex
    ``faces[f, h % 3]`` to ``faces[f, (h % 3 + 1) % 3]``)."""
    forward: np.ndarray
    """(H,) bool: the face traverses its edge from the smaller to the larger vertex index."""


def half_edges(faces: np.ndarray) -> np.ndarray:
    """(F, 3) faces -> (3F, 2) their edges as each face runs them: face ``h // 3``, from corner ``h % 3`` to the next
    (the order of :attr:`EdgeTable.half_edge`)."""
    faces = np.asarray(faces, dtype=np.int64)
    return np.stack([faces, np.roll(faces, -1, axis=1)], axis=2).reshape(-1, 2)


def edge_table(faces: np.ndarray) -> EdgeTable:
    """Group the 3F face edges of (F, 3) ``faces`` by undirected edge."""
    faces = np.asarray(faces, dtype=np.int64)
    directed = half_edges(faces)
    lo, hi = directed.min(axis=1), directed.max(axis=1)
    n = int(faces.max()) + 1 if faces.size else 1
    # One int64 key per undirected edge: np.unique on a 1-D key is several times faster than on rows.
    key = lo * n + hi
    uniq, half_edge, counts = np.unique(key, return_inverse=True, return_counts=True)
    edges = np.stack(np.divmod(uniq, n), axis=1)
    return EdgeTable(edges, counts.astype(np.int64), half_edge.astype(np.int64), directed[:, 0] == lo)


def manifold_face_pairs(table: EdgeTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Faces meeting at each manifold edge (exactly two faces).

    Returns
    -------
    a, b: (P,) int64 the two faces of each manifold edge.
    same_direction: (P,) bool, True when both faces traverse the shared edge the same way, i.e. their
        windings disagree (one of them would have to flip).
    """
    order = np.argsort(table.half_edge, kind="stable")
    sorted_edge = table.half_edge[order]
    # After sorting, the two half-edges of a manifold edge are neighbours.
    pair = (sorted_edge[:-1] == sorted_edge[1:]) & (table.counts[sorted_edge[:-1]] == 2)
    first, second = order[:-1][pair], order[1:][pair]
    return first // 3, second // 3, table.forward[first] == table.forward[second]


def face_components(faces: np.ndarray, table: EdgeTable | None = None) -> tuple[int, np.ndarray]:
    """Connected components of faces joined by shared edges (any number of faces per edge).

    Returns the number of components and (F,) int64 component labels.
    """
    faces = np.asarray(faces, dtype=np.int64)
    f = len(faces)
    if f == 0:
        return 0, np.zeros(0, np.int64)
    table = edge_table(faces) if table is None else table
    order = np.argsort(table.half_edge, kind="stable")
    sorted_edge = table.half_edge[order]
    # Chaining consecutive half-edges of the same edge links all faces around it (also non-manifold fans).
    link = sorted_edge[:-1] == sorted_edge[1:]
    a, b = order[:-1][link] // 3, order[1:][link] // 3
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(f, f)).tocsr()
    n, labels = connected_components(graph, directed=False)
    return int(n), labels.astype(np.int64)


def _boundary_loops(edges: np.ndarray, num_vertices: int) -> int:
    """Connected components of the graph formed by (B, 2) boundary edges."""
    if len(edges) == 0:
        return 0
    used, local = np.unique(edges.reshape(-1), return_inverse=True)
    local = local.reshape(-1, 2)
    graph = coo_matrix((np.ones(len(local), np.int8), (local[:, 0], local[:, 1])),
                       shape=(len(used), len(used))).tocsr()
    return int(connected_components(graph, directed=False)[0])


def mesh_stats(mesh: trimesh.Trimesh) -> dict:
    """Topology and size of a triangle mesh, after welding coincident vertices.

    Parameters
    ----------
    mesh: any triangle mesh (it is not modified).

    Returns
    -------
    dict of python numbers:
        ``vertices`` / ``faces``: counts as given (before welding);
        ``welded_vertices``: distinct vertex positions referenced by faces;
        ``area``: total surface area;
        ``boundary_edges``: edges used by exactly one face; ``boundary_length``: their total length;
        ``boundary_loops``: connected components of the boundary-edge graph (holes and open borders; two
        holes touching at a vertex count as one);
        ``components``: connected components of faces sharing an edge;
        ``non_manifold_edges``: edges shared by more than two faces;
        ``inconsistent_edges``: manifold edges whose two faces have opposite winding (0 for a consistently
        oriented mesh);
        ``watertight``: no boundary and no non-manifold edges.
    """
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    return welded_stats(vertices, faces, weld_faces(vertices, faces) if len(faces) else faces)


def welded_stats(vertices: np.ndarray, faces: np.ndarray, welded: np.ndarray, table: EdgeTable | None = None) -> dict:
    """:func:`mesh_stats` of (V, 3) ``vertices`` and (F, 3) ``faces`` whose welded faces (:func:`weld_faces`) are
    known already; ``table``: their :func:`edge_table`, when known."""
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    out = {"vertices": int(len(vertices)), "faces": int(len(faces))}
    if len(faces) == 0:
        out.update(welded_vertices=0, area=0.0, boundary_edges=0, boundary_length=0.0, boundary_loops=0,
                   components=0, non_manifold_edges=0, inconsistent_edges=0, watertight=False)
        return out
    table = edge_table(welded) if table is None else table
    boundary = table.edges[table.counts == 1]
    # Welded indices address the welded positions; any original vertex of a welded class has that position.
    position = np.empty((int(welded.max()) + 1, 3))
    position[welded.reshape(-1)] = vertices[faces.reshape(-1)]
    length = np.linalg.norm(position[boundary[:, 0]] - position[boundary[:, 1]], axis=1).sum()
    n_comp, _ = face_components(welded, table)
    _, _, flipped = manifold_face_pairs(table)
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum()
    out.update(
        welded_vertices=int(len(np.unique(welded))),
        area=float(area),
        boundary_edges=int(len(boundary)),
        boundary_length=float(length),
        boundary_loops=_boundary_loops(boundary, len(position)),
        components=n_comp,
        non_manifold_edges=int((table.counts > 2).sum()),
        inconsistent_edges=int(flipped.sum()),
    )
    out["watertight"] = out["boundary_edges"] == 0 and out["non_manifold_edges"] == 0
    return out
