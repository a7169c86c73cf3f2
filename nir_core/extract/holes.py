"""Closing the holes an extraction leaves where the field says the surface goes on.

Pseudo-signs cannot be made consistent everywhere: where two sheets cross or touch within a cell, along sharp
creases, or where the gradients are noisy, marching cubes leaves a hole. Real openings (a sleeve, a scan's
missing patch) look the same in the mesh, but not in the field: a patch spanning a real opening passes far from
the surface, one spanning a spurious hole stays on it. So every simple boundary loop is triangulated (minimum
area, Barequet & Sharir / Liepa, without diagonals the mesh already has) and the patch is kept only when the
field is within ``tolerance`` cells of it at every triangle's centroid and every new edge's midpoint, and when it
continues the faces around the loop rather than folding back over them (the cap of an open sheet's outer border
lies on the surface too, on top of the sheet).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh

from .analysis import EdgeTable, edge_table, half_edges


def boundary_cycles(faces: np.ndarray, table: EdgeTable | None = None
                    ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Ordered vertex cycles of the mesh's simple boundary loops.

    Parameters
    ----------
    faces: (F, 3) int triangles over shared vertices.
    table: their :func:`edge_table`, when already computed.

    Returns
    -------
    cycles: each an (n,) array of vertex ids in boundary order, n >= 3, every boundary edge in at most one
        cycle; a loop through a corner shared with another hole is split there.
    directed: (B, 2) the boundary edges as their face traverses them (for orienting patches).
    owner: (B,) the face of each boundary edge.
    """
    table = table if table is not None else edge_table(faces)
    half = half_edges(faces)
    on_border = np.nonzero(table.counts[table.half_edge] == 1)[0]
    directed = half[on_border]
    if not len(directed):
        return [], directed, on_border // 3
    # Split the boundary graph into simple cycles: walk unused edges, and whenever the walk comes back to a vertex
    # already on its path, the stretch since then is a cycle. Holes touching at a corner come out as two cycles.
    edges = directed.tolist()
    incident: dict[int, list[int]] = {}
    for e, (a, b) in enumerate(edges):
        incident.setdefault(a, []).append(e)
        incident.setdefault(b, []).append(e)
    used = [False] * len(edges)
    cycles = []
    for first in range(len(edges)):
        if used[first]:
            continue
        path, where, cur, edge = [edges[first][0]], {edges[first][0]: 0}, edges[first][0], first
        while edge is not None:
            used[edge] = True
            a, b = edges[edge]
            cur = b if a == cur else a
            if cur in where:
                start = where[cur]
                if len(path) - start >= 3:
                    cycles.append(np.asarray(path[start:], dtype=np.int64))
                for v in path[start + 1:]:
                    del where[v]
                del path[start + 1:]
            else:
                where[cur] = len(path)
                path.append(cur)
            edge = next((e for e in incident[cur] if not used[e]), None)
            while edge is None and len(path) > 1:  # dead end (an odd vertex): back up along the path
                del where[path.pop()]
                cur = path[-1]
                edge = next((e for e in incident[cur] if not used[e]), None)
    return cycles, directed, on_border // 3


def min_area_triangulation(points: np.ndarray, forbidden: np.ndarray | None = None) -> np.ndarray | None:
    """Triangulation of a closed polygon in 3D with the least total area (dynamic programming over sub-polygons,
    vectorised over each diagonal length).

    points: (n, 3) the polygon's corners in order, n >= 3.
    forbidden: optional (n, n) bool, True for corner pairs that must not be joined by a diagonal.
    Returns (n - 2, 3) corner indices, each triangle ordered along the polygon (i < k < j) so all share the
    polygon's orientation; None when every triangulation needs a forbidden diagonal.
    """
    p = np.asarray(points, dtype=np.float64)
    n = len(p)
    blocked = np.zeros((n, n), dtype=bool) if forbidden is None else forbidden.copy()
    blocked[0, n - 1] = False  # the closing side is an edge of the polygon, not a diagonal
    # Every per-pair array below is kept twice, by the pair's first corner (``*_start[i, j - i]``) and by its last
    # (``*_end[j, j - i]``), so that for every i of one diagonal length the values over the splits k are plain
    # slices rather than gathers: this loop is the hot spot of hole filling. Triangle areas come from the squared
    # side lengths (|a x b|² = |a|²|b|² - (a.b)², a.b by the law of cosines), all precomputed once.
    offsets = np.arange(n)
    rows = np.minimum(offsets[:, None] + offsets[None, :], n - 1)  # (i, t) -> i + t; entries past n are never read
    squared = ((p[:, None, :] - p[None, :, :]) ** 2).sum(axis=2)
    sq_start = np.take_along_axis(squared, rows, axis=1)  # sq_start[i, t] = |p[i + t] - p[i]|²
    sq_end = np.take_along_axis(squared, np.maximum(offsets[:, None] - offsets[None, :], 0), axis=1)  # |p[j] - p[j - t]|²
    by_start = np.zeros((n, n))  # cost of the sub-polygon i..j, by its first corner
    by_end = np.zeros((n, n))  # the same, by its last corner
    split = np.zeros((n, n), dtype=np.int64)
    for length in range(2, n):
        m = n - length
        i = np.arange(m)
        ik = sq_start[:m, 1:length]  # (m, length - 1) |k - i|² over the splits k of each sub-polygon i..j
        kj = sq_end[length:, length - 1:0:-1]  # |j - k|²
        ij = sq_start[:m, length, None]  # |j - i|²
        dot = 0.5 * (ik + ij - kj)
        area = 0.5 * np.sqrt(np.maximum(ik * ij - dot * dot, 0.0))
        total = by_start[:m, 1:length] + by_end[length:, length - 1:0:-1] + area
        best = total.argmin(axis=1)
        value = np.where(blocked[i, i + length], np.inf, total[i, best])
        by_start[:m, length] = value
        by_end[length:, length] = value
        split[i, i + length] = best + i + 1
    if not np.isfinite(by_start[0, n - 1]):
        return None
    triangles, stack = [], [(0, n - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        k = int(split[i, j])
        triangles.append((i, k, j))
        stack += [(i, k), (k, j)]
    return np.asarray(triangles, dtype=np.int64)


def _agreement(vertices: np.ndarray, faces: np.ndarray, cycle: np.ndarray, local: np.ndarray,
               along: np.ndarray, against: np.ndarray) -> float:
    """Mean cosine between each loop side's patch triangle and the face beside that side, both oriented to agree
    along the side. About 1 when the patch continues the surface across a hole, about -1 when it folds back over
    the mesh (the cap of an open sheet's outer border lies on the same surface as the sheet).

    along, against: (n,) the border face running each side ``c[i] -> c[i+1]`` the same way, or the other way;
    -1 where there is none."""
    n = len(cycle)
    side_triangle = np.full(n, -1)
    a, b, c = local.T
    side_triangle[a[b == a + 1]] = np.nonzero(b == a + 1)[0]
    side_triangle[b[c == b + 1]] = np.nonzero(c == b + 1)[0]
    side_triangle[n - 1] = np.nonzero((a == 0) & (c == n - 1))[0][0]
    p = vertices[cycle[local]]
    patch_normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])[side_triangle]  # runs every side c[i] -> c[i+1]
    # A face running the side the same way as the patch is oriented against it: its normal counts negated.
    neighbour = np.where(along >= 0, along, against)
    sides = np.nonzero(neighbour >= 0)[0]
    if not len(sides):
        return 0.0
    neighbour, sign = neighbour[sides], np.where(along[sides] >= 0, -1.0, 1.0)
    q = vertices[faces[neighbour]]
    normal = np.cross(q[:, 1] - q[:, 0], q[:, 2] - q[:, 0])
    patch = patch_normal[sides]
    norm = np.linalg.norm(normal, axis=1) * np.linalg.norm(patch, axis=1)
    ok = norm > 0
    if not ok.any():
        return 0.0
    cosines = sign[ok] * np.einsum("ij,ij->i", normal[ok], patch[ok]) / norm[ok]
    return float(cosines.mean())


def fill_holes(mesh: trimesh.Trimesh, udf: Callable[[np.ndarray], np.ndarray], cell: float,
               tolerance: float = 1.0, offset: float = 0.0, max_edges: int = 400) -> tuple[trimesh.Trimesh, int]:
    """Closes the boundary loops whose minimum-area patch lies on the field's surface.

    Parameters
    ----------
    mesh: extracted mesh with shared vertices.
    udf: (M, 3) float32 points -> (M,) distances (one batched call for all candidate patches).
    cell: grid cell size; ``tolerance`` is counted in cells.
    tolerance: largest distance (beyond ``offset``) from a patch sample to the surface for the patch to be kept.
    offset: the field's value on its surface.
    max_edges: longer loops are left open (the triangulation costs O(n³)); real openings are long anyway.

    Returns
    -------
    The mesh with the kept patches added (same vertices), and how many loops were closed.
    """
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if not len(faces):
        return mesh, 0
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    table = edge_table(faces)
    cycles, directed, owner_face = boundary_cycles(faces, table)
    # Border sides by directed key, for vectorised lookups; of repeated sides (non-manifold) the last one counts.
    n_key = int(faces.max()) + 1
    side_keys = directed[:, 0] * n_key + directed[:, 1]
    order = np.argsort(side_keys, kind="stable")
    side_keys, side_face = side_keys[order], np.asarray(owner_face)[order]

    def beside(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """The border face running ``u -> v`` for each pair, -1 where none does."""
        keys = u * n_key + v
        slot = np.maximum(np.searchsorted(side_keys, keys, side="right") - 1, 0)
        return np.where(side_keys[slot] == keys, side_face[slot], -1)
    existing_keys = table.edges[:, 0] * n_key + table.edges[:, 1]  # sorted: edge_table's edges come from np.unique
    patches, samples, owner = [], [], []
    for cycle in cycles:
        if len(cycle) > max_edges:
            continue
        # Pairs of the loop already joined by a mesh edge must not become diagonals (non-manifold edges).
        pair_keys = np.minimum.outer(cycle, cycle) * n_key + np.maximum.outer(cycle, cycle)
        slot = np.minimum(np.searchsorted(existing_keys, pair_keys), len(existing_keys) - 1)
        local = min_area_triangulation(vertices[cycle], existing_keys[slot] == pair_keys)
        if local is None:
            continue
        corners = vertices[cycle[local]]
        probes = [corners.mean(axis=1)]
        steps = (local[:, [1, 2, 2]] - local[:, [0, 1, 0]]) % len(cycle)  # edges (i, k), (k, j), (i, j)
        for e, (p, q) in enumerate(((0, 1), (1, 2), (0, 2))):  # midpoints of the new (diagonal) edges only
            diagonal = (steps[:, e] != 1) & (steps[:, e] != len(cycle) - 1)
            probes.append(0.5 * (corners[diagonal, p] + corners[diagonal, q]))
        tri = cycle[local]
        ahead = np.roll(cycle, -1)
        along, against = beside(cycle, ahead), beside(ahead, cycle)
        agreement = _agreement(vertices, faces, cycle, local, along, against)
        if agreement <= 0:
            continue  # the patch folds back over the faces around the loop: an outer border, not a hole
        if (along >= 0).sum() * 2 > len(cycle):
            tri = tri[:, ::-1]  # the faces beside the loop run it c[i] -> c[i+1]: the patch runs it back
        probes = np.concatenate(probes)
        patches.append(tri)
        samples.append(probes)
        owner.append(np.full(len(probes), len(patches) - 1))
    if not patches:
        return mesh, 0
    d = np.asarray(udf(np.concatenate(samples).astype(np.float32)), dtype=np.float64) - offset
    worst = np.full(len(patches), -np.inf)
    np.maximum.at(worst, np.concatenate(owner), d)
    keep = [p for p, w in zip(patches, worst) if w <= tolerance * cell]
    if not keep:
        return mesh, 0
    out = trimesh.Trimesh(vertices, np.concatenate([faces, *keep]), process=False)
    return out, len(keep)
