"""Meshes a viewer shows cleanly: no non-manifold edges, one winding per piece, no collapsed faces, no tiny pieces.

An unsigned field's surface has no inside, so a mesh extracted from it can hold what a signed extraction never
makes: three or four faces on one edge where sheets meet, pieces whose winding cannot be made consistent (a fold
through a thin wall turns a sheet into a Moebius-like band), collapsed and repeated triangles. Viewers shade such meshes
blotchy (vertex normals average faces of opposite winding) and mesh tools refuse them. :func:`clean_mesh` removes
them by the rule of :data:`RULE`, all vectorised (numpy + ``scipy.sparse.csgraph``):

1. faces with two corners at one position, and repeated faces, are dropped;
2. at an edge with more than two faces, the two closest to parallel (one sheet going on) stay and the others are
   dropped;
3. each piece gets one winding from a spanning tree of its faces that prefers links between faces of similar
   normal (so that a piece that cannot be oriented is cut where it folds), closed pieces facing out and open ones
   facing the bounding box's centre (the inside of a room);
4. at the edges where the winding still disagrees (the cuts of step 3) the smaller face is dropped;
5. pieces with less than ``min_area_fraction`` of the total area are dropped.
"""
from __future__ import annotations

import numpy as np
import trimesh
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from .analysis import edge_table, face_components, manifold_face_pairs, weld, welded_stats
from .cleanup import _face_areas

CROWD = 8
"""Faces considered at one non-manifold edge (the largest; UDF meshes put 3 or 4 there)."""
RULE = ("dropped: faces with two corners at one position and repeated faces; at an edge of 3+ faces all but the "
        "two closest to parallel; the smaller face at each edge where the winding of a piece that cannot be "
        "oriented still disagrees; pieces under {min_area_fraction:g} of the total area. Winding: one per piece, "
        "closed pieces facing out, open ones facing the centre of the bounding box")
"""How :func:`clean_mesh` cleans, as the report states it."""
COUNTED = ("faces", "components", "boundary_loops", "non_manifold_edges", "inconsistent_edges")
"""The :func:`~nir_core.extract.analysis.mesh_stats` counts the report gives before and after cleaning."""


def clean_mesh(mesh: trimesh.Trimesh, min_area_fraction: float = 0.0) -> tuple[trimesh.Trimesh, dict]:
    """A copy of ``mesh`` cleaned by the rule of :data:`RULE`, and a report: the rule, the faces each step
    dropped, the :data:`COUNTED` statistics before and after, and ``stats``, the cleaned mesh's whole
    :func:`~nir_core.extract.analysis.mesh_stats`. ``min_area_fraction`` 0 keeps every piece.

    The vertices are welded once, first (coincident ones merged: the result shares them between faces), and every
    step works on the welded arrays."""
    original = np.asarray(mesh.faces, dtype=np.int64)
    vertices, faces = weld(mesh.vertices, original)
    table = edge_table(faces)
    before = welded_stats(mesh.vertices, original, faces, table)
    dropped = {}
    keep = _not_degenerate(faces)
    dropped["collapsed_or_repeated"] = int((~keep).sum())
    faces = faces[keep]
    keep = _two_faces_per_edge(vertices, faces, edge_table(faces))
    dropped["non_manifold"] = int((~keep).sum())
    faces = faces[keep]
    flip, (a, b, disagree) = _orientation(vertices, faces, edge_table(faces))
    faces[flip] = faces[flip][:, ::-1]
    # A flipped face reverses its side of each shared edge: the pair disagrees now if exactly one side flipped.
    keep = _agreeing(vertices, faces, a, b, disagree ^ flip[a] ^ flip[b])
    dropped["winding_cuts"] = int((~keep).sum())
    faces = faces[keep]
    if min_area_fraction > 0 and len(faces):
        n, labels = face_components(faces)
        area = np.bincount(labels, weights=_face_areas(vertices, faces), minlength=n)
        keep = (area >= float(min_area_fraction) * area.sum())[labels]
        dropped["small_pieces"] = int((~keep).sum())
        faces = faces[keep]
    used, faces = np.unique(faces, return_inverse=True)
    faces = faces.reshape(-1, 3)
    out = trimesh.Trimesh(vertices[used], faces, process=False)
    after = welded_stats(out.vertices, faces, faces)
    return out, {"rule": RULE.format(min_area_fraction=min_area_fraction), "faces_dropped": dropped,
                 "before": {k: before[k] for k in COUNTED}, "after": {k: after[k] for k in COUNTED},
                 "stats": after}


def _not_degenerate(welded: np.ndarray) -> np.ndarray:
    """(F,) bool: the (welded) face's three corners are distinct positions and no earlier face has the same three.

    A face with two corners at one position has no area and no edge of its own to lose: without it its neighbours
    meet directly. A thin face with three distinct corners (a needle or a cap) stays: dropping it would open a slit
    between its neighbours."""
    if len(welded) == 0:
        return np.zeros(0, dtype=bool)
    welded = np.sort(welded, axis=1)
    order = np.lexsort(welded.T[::-1])  # rows in lexicographic order (faster than np.unique(axis=0))
    ranked = welded[order]
    first = np.ones(len(welded), dtype=bool)
    first[order[1:]] = (ranked[1:] != ranked[:-1]).any(axis=1)
    return first & (welded[:, 0] != welded[:, 1]) & (welded[:, 1] != welded[:, 2])


def _two_faces_per_edge(vertices: np.ndarray, faces: np.ndarray, table) -> np.ndarray:
    """(F,) bool: False for the faces dropped at edges of 3+ faces, where only the two faces closest to parallel
    stay (the smoothest continuation of one sheet; with more than :data:`CROWD` faces, among the largest).
    ``faces`` are welded, ``table`` is their edge table."""
    keep = np.ones(len(faces), dtype=bool)
    if len(faces) == 0:
        return keep
    crowded = np.flatnonzero(table.counts[table.half_edge] > 2)  # half-edges on non-manifold edges
    if len(crowded) == 0:
        return keep
    tri = np.asarray(vertices, dtype=np.float64)[faces[crowded // 3]]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(normal, axis=1)
    normal /= np.maximum(area, 1e-300)[:, None]
    order = np.lexsort((-area, table.half_edge[crowded]))  # by edge, then largest face first
    edge = table.half_edge[crowded][order]
    start = np.r_[0, np.flatnonzero(edge[1:] != edge[:-1]) + 1]
    size = np.diff(np.r_[start, len(edge)])
    rank = np.arange(len(edge)) - np.repeat(start, size)
    group = np.repeat(np.arange(len(start)), size)
    # (G, CROWD) slots of each edge's faces, then the pair of slots whose normals are closest to parallel.
    slot = np.full((len(start), CROWD), -1)
    fits = rank < CROWD
    slot[group[fits], rank[fits]] = order[fits]
    n = np.where((slot >= 0)[..., None], normal[np.maximum(slot, 0)], 0.0)
    parallel = np.abs(np.einsum("gic,gjc->gij", n, n))
    valid = (slot[:, :, None] >= 0) & (slot[:, None, :] >= 0) & ~np.eye(CROWD, dtype=bool)
    best = np.argmax(np.where(valid, parallel, -1.0).reshape(len(start), -1), axis=1)
    chosen = np.zeros_like(slot, dtype=bool)
    chosen[np.arange(len(start)), best // CROWD] = True
    chosen[np.arange(len(start)), best % CROWD] = True
    stays = np.zeros(len(crowded), dtype=bool)
    stays[slot[chosen]] = True
    keep[crowded[~stays] // 3] = False
    return keep


def orient_pieces(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy of ``mesh`` with one winding per connected piece (see the module's step 3 and :func:`_orientation`)."""
    faces = np.asarray(mesh.faces, dtype=np.int64)
    out = mesh.copy()
    if len(faces) == 0:
        return out
    positions, welded = weld(mesh.vertices, faces)
    flip, _ = _orientation(positions, welded, edge_table(welded))
    if flip.any():
        new_faces = faces.copy()
        new_faces[flip] = new_faces[flip][:, ::-1]
        out.faces = new_faces
    return out


def _orientation(vertices: np.ndarray, faces: np.ndarray, table) -> tuple[np.ndarray, tuple]:
    """(F,) bool: the welded faces to flip for one winding per piece; and the manifold face pairs of ``table``
    (:func:`~nir_core.extract.analysis.manifold_face_pairs`, before the flips).

    The flips are propagated along a minimum spanning tree of the faces (weights: how far two neighbours' normals
    are from parallel, ``2 - |cos|``), so an orientable piece comes out consistent everywhere and one that
    cannot be oriented disagrees only across the tree's left-out links, where it folds most.
    """
    f = len(faces)
    a, b, disagree = manifold_face_pairs(table)
    if f == 0:
        return np.zeros(0, dtype=bool), (a, b, disagree)
    tri = np.asarray(vertices, dtype=np.float64)[faces]
    area_normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal = area_normal / np.maximum(np.linalg.norm(area_normal, axis=1, keepdims=True), 1e-300)
    weight = 2.0 - np.abs(np.einsum("ij,ij->i", normal[a], normal[b]))  # > 0: a zero weight would be no link
    tree = minimum_spanning_tree(coo_matrix((weight, (np.minimum(a, b), np.maximum(a, b))), shape=(f, f))).tocoo()
    # Which links the tree kept, by their (low, high) face pair.
    key = np.minimum(a, b) * f + np.maximum(a, b)
    order = np.argsort(key)
    link = order[np.searchsorted(key[order], tree.row.astype(np.int64) * f + tree.col)]
    ta, tb, flip_link = a[link], b[link], disagree[link]
    # Flip choices are a parity problem (flip_a XOR flip_b = disagree_ab), solved along the tree on its double
    # cover: node f is face f kept, node F + f face f flipped; agreeing neighbours link kept-kept and
    # flipped-flipped, disagreeing ones kept-flipped. A tree has no cycle, so f and F + f never meet.
    rows = np.concatenate([ta, ta + f])
    cols = np.concatenate([np.where(flip_link, tb + f, tb), np.where(flip_link, tb, tb + f)])
    cover = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(2 * f, 2 * f)).tocsr()
    _, label = connected_components(cover, directed=False)
    kept, flipped = label[:f], label[f:]
    piece = np.minimum(kept, flipped)
    flip = kept != piece
    _, piece = np.unique(piece, return_inverse=True)
    n = int(piece.max()) + 1
    # Which of the piece's two windings: closed pieces enclose a positive volume, open ones face the centre.
    signed = np.where(flip, -1.0, 1.0)
    volume = np.bincount(piece, weights=signed * np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])),
                         minlength=n)
    centre = 0.5 * (tri.reshape(-1, 3).min(axis=0) + tri.reshape(-1, 3).max(axis=0))
    facing = np.bincount(piece, weights=signed * np.einsum("ij,ij->i", area_normal, centre - tri.mean(axis=1)),
                         minlength=n)
    open_edge = (table.counts[table.half_edge] != 2).reshape(f, 3).any(axis=1)
    closed = np.bincount(piece, weights=open_edge, minlength=n) == 0
    reverse = np.where(closed, volume < 0, facing < 0)
    flip ^= reverse[piece]
    return flip, (a, b, disagree)


def _agreeing(vertices: np.ndarray, faces: np.ndarray, a: np.ndarray, b: np.ndarray, disagree: np.ndarray
              ) -> np.ndarray:
    """(F,) bool: False for the smaller face of each manifold edge (faces ``a``, ``b``) whose windings disagree."""
    keep = np.ones(len(faces), dtype=bool)
    if len(faces) == 0:
        return keep
    area = _face_areas(vertices, faces)
    a, b = a[disagree], b[disagree]
    keep[np.where(area[a] < area[b], a, b)] = False
    return keep
