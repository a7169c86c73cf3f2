"""Meshes from unsigned distance fields: marching cubes on pseudo-signs from diverging gradients.

An unsigned field has no sign change to find, but its gradient does: on either side of a sheet it points away
from the sheet, so along a grid edge that crosses the surface the gradients at the two ends diverge (the low
end's gradient points down the edge, the high end's up it) and their distances add up to at most the edge's
length. Deciding crossings per *edge* from the edge's two ends only means the cells that share an edge always
agree about it: no cracks. A cell whose crossed edges admit a sign assignment of its corners (every face cut an
even number of times) gets those pseudo-signs and is triangulated by :mod:`.mc_table`; a cell that admits none
(the surface ends inside it, or a gradient is unreliable) is left empty. Vertices sit where the pseudo-signed
values ``+d_low`` and ``-d_high`` interpolate to zero, are welded across cells through their edge, and can be
projected onto the surface with one more query (``x - d(x) grad d(x)``). Holes left by inconsistent cells are
closed where the field says the surface goes on (:mod:`.holes`); on coarse grids the triangles are subdivided
onto the surface (:mod:`.refine`).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import trimesh
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..config import Config
from ..errors import FieldError
from .cleanup import extend_border, smooth_boundary
from .grid import SQRT3_2, Grid, all_cells, check_cells, narrow_band
from .holes import fill_holes
from .mc_table import CORNER_OFFSETS, EDGE_AXIS, EDGE_CORNERS, FACES, triangle_table
from .query import QueryCounter, query_field
from .refine import subdivide_onto_surface

EXTRACT_BYTES_PER_CELL = 1024
"""Peak working memory per candidate cell of the finest level, in bytes (corner values and gradients, triangulation,
welding, hole filling, subdivision below 256³): an upper bound on the peak measured extracting a generated room's
mesh at 128³ to 512³."""


@dataclass
class UDFExtractConfig(Config):
    """Settings of :func:`udf_marching_cubes`."""

    resolution: int = 256
    """Cells per axis of the finest grid over the box (256 default; 512 for fine detail)."""
    coarse_resolution: int = 32
    """Resolution of the first, dense level of the coarse-to-fine search."""
    bounds: tuple[float, float] = (-0.5, 0.5)
    """The box ``[lo, hi]³`` searched (unit-cube coordinates)."""
    band: float = 1.0
    """Multiplier on the Lipschitz test of the search; raise above 1 for networks that underestimate distances."""
    offset: float = 0.0
    """Distance at which the surface sits (networks rarely predict exactly 0 on it)."""
    edge_slack: float = 0.1
    """A crossed edge needs ``d_low + d_high <= (1 + edge_slack) * cell``; exact fields satisfy it with 0."""
    facing: float = -0.3
    """Largest cosine between the two ends' gradients that still counts as facing opposite ways. Below 0 so that
    corners on the same side whose gradients disagree only because the surface bends within a cell (wrinkles,
    creases) are not taken for a crossing; -0.3 measured best on the bunny and the garments."""
    converge_tolerance: float = 0.5
    """How far gradients may seem to converge along an edge and still count as crossing it. Ends that face each
    other across a surface almost parallel to the edge show tiny, noisy tangential components; a medial axis
    between two sheets shows clearly converging ones (close to -2 for sheets across the edge)."""
    cluster_cells: int = 24
    """Largest cluster of inconsistent cells resolved by trying every assignment of its own edges (0: off)."""
    fill_holes: float = 1.0
    """Close boundary loops whose minimum-area patch stays within this many cells of the surface (spurious holes
    where two sheets meet, at creases, along noisy gradients; real openings fail the test). 0 disables it."""
    max_hole_edges: int = 400
    """Longest boundary loop considered for closing (the patch search costs O(n³) in its length)."""
    extend_border: bool = True
    """Push open borders outwards along the surface by up to a cell, as far as the field says the surface goes
    (marching cubes drops the last, partly covered cell); applies with ``smooth_border``."""
    smooth_border: int = 4
    """Rounds of straightening open borders (staircases along cell faces), then projecting them back onto the
    surface; 0 keeps the raw border."""
    subdivide: int | None = None
    """Rounds of 1-to-4 subdivision with the new vertices projected onto the surface (one query per edge). None:
    one round below 256³, where flat triangles visibly cut the curved surface, none from 256³ on, where they are
    already finer than the reconstruction metrics see and the queries would exceed the surface band's."""
    repair_iterations: int = 3
    """Rounds of flipping edge decisions that contradict the faces around them (0 disables the repair)."""
    project: str = "closest"
    """Where vertices go on their edge: ``"none"`` (linear interpolation of the pseudo-signed distances),
    ``"closest"`` (blend of the two ends' closest surface points, no extra query), ``"query"`` (one more query per
    vertex, then a step along its gradient onto the surface)."""
    batch_size: int = 262_144
    """Field queries per batch (memory bound)."""


@dataclass
class ExtractionStats:
    """What an extraction cost and found."""

    resolution: int = 0
    queries: int = 0
    """Field evaluations in all (search + corners + projection)."""
    degenerate_queries: int = 0
    """Of those, queries the field answered with NaN or Inf, repaired as far from the surface / without direction
    (:func:`~nir_core.extract.query.repair_degenerate`)."""
    dense_fraction: float = 0.0
    """``queries`` over the resolution³ points of the dense grid."""
    candidate_cells: int = 0
    surface_cells: int = 0
    """Cells with at least one crossed edge."""
    repaired_edges: int = 0
    """Edge decisions flipped by the repair."""
    cluster_edges: int = 0
    """Edge decisions changed while resolving small clusters of inconsistent cells."""
    inconsistent_cells: int = 0
    """Cells whose crossings admit no pseudo-sign assignment (left empty)."""
    holes_filled: int = 0
    """Boundary loops closed because the field says the surface goes on across them."""
    vertices: int = 0
    faces: int = 0
    seconds: dict = field(default_factory=dict)
    levels: list = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def udf_marching_cubes(field_, resolution: int | None = None, *, cfg: UDFExtractConfig | None = None,
                       **overrides) -> tuple[trimesh.Trimesh, ExtractionStats]:
    """Extracts the zero level set of an unsigned distance field as a welded triangle mesh.

    Parameters
    ----------
    field_: a :class:`~nir_core.field.Field` over unit-cube coordinates.
    resolution: cells per axis (overrides ``cfg.resolution``).
    cfg: settings; keyword ``overrides`` replace single fields, e.g. ``project=False``.

    Returns
    -------
    mesh: trimesh.Trimesh in the field's coordinates (empty, with a warning, when no surface is in the box).
    stats: queries, timings and cell counts.
    """
    cfg = cfg or UDFExtractConfig()
    if resolution is not None:
        overrides["resolution"] = resolution
    if overrides:
        cfg = UDFExtractConfig(**{**asdict(cfg), **overrides})
    grid = Grid(cfg.resolution, *cfg.bounds)
    h = grid.cell_size
    counter = QueryCounter()
    stats = ExtractionStats(resolution=cfg.resolution)
    clock = time.perf_counter()

    def udf_only(points):
        return query_field(field_, points, grad=False, batch_size=cfg.batch_size, counter=counter)[0]

    def udf_and_grad(points):
        return query_field(field_, points, grad=True, batch_size=cfg.batch_size, counter=counter)

    parents, band, centres = narrow_band(udf_only, grid, cfg.coarse_resolution, cfg.band, cfg.offset,
                                         udf_and_grad=udf_and_grad)
    stats.levels = band.levels
    # The fine level's candidates (up to 8 per parent) carry their corners' distances, gradients, the triangulation
    # and the mesh: check that much memory is there before any of it is allocated.
    check_cells(8 * len(parents) if parents is not None else grid.resolution**3, grid.resolution, grid.resolution,
                bytes_per_cell=EXTRACT_BYTES_PER_CELL)
    n = grid.resolution + 1
    known_keys = np.zeros(0, dtype=np.int64)
    known_d, known_g = np.zeros(0, np.float32), np.zeros((0, 3), np.float32)
    if parents is None:
        cells = all_cells(grid.resolution)
    else:
        # Every child of a parent has two corners whose values are known or cheap: the parent's centre (queried
        # by the search) and the parent's corner in the child's octant (the parents' corners are the even corners
        # of the fine grid, needed anyway). A child farther from the surface at either than its own diagonal
        # cannot contain any of it.
        outer_keys, parent_corner = np.unique(
            grid.corner_keys(2 * (parents[:, None, :] + CORNER_OFFSETS[None]).reshape(-1, 3)), return_inverse=True)
        outer_d, outer_g = query_field(field_, grid.points(_decode(outer_keys, n)), grad=True,
                                    batch_size=cfg.batch_size, counter=counter)
        reach = 2 * SQRT3_2 * h * cfg.band + cfg.offset
        keep = (outer_d[parent_corner.reshape(-1, 8)] <= reach) & (centres[0][:, None] <= reach)
        cells = (2 * parents[:, None, :] + CORNER_OFFSETS[None])[keep]
        centre_keys = grid.corner_keys(2 * parents + 1)
        known_keys = np.concatenate([outer_keys, centre_keys])
        order = np.argsort(known_keys)
        known_keys = known_keys[order]
        known_d = np.concatenate([outer_d, centres[0]])[order]
        known_g = np.concatenate([outer_g, centres[1]])[order]
    stats.candidate_cells = int(len(cells))
    stats.seconds["search"] = round(time.perf_counter() - clock, 4)

    # Corner values, each corner queried once however many cells share it (and parent corners not again).
    clock = time.perf_counter()
    keys, corner_of = np.unique(grid.corner_keys((cells[:, None, :] + CORNER_OFFSETS[None]).reshape(-1, 3)),
                                return_inverse=True)
    corner_of = corner_of.reshape(-1, 8)
    corner_ijk = _decode(keys, n)
    slot = np.minimum(np.searchsorted(known_keys, keys), max(len(known_keys) - 1, 0))
    is_known = (known_keys[slot] == keys) if len(known_keys) else np.zeros(len(keys), dtype=bool)
    d = np.empty(len(keys), np.float32)
    g = np.empty((len(keys), 3), np.float32)
    d[is_known], g[is_known] = known_d[slot[is_known]], known_g[slot[is_known]]
    if (~is_known).any():
        d[~is_known], g[~is_known] = query_field(field_, grid.points(corner_ijk[~is_known]), grad=True,
                                              batch_size=cfg.batch_size, counter=counter)
    d = d - cfg.offset
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)  # networks' gradients are not unit
    stats.seconds["corners"] = round(time.perf_counter() - clock, 4)

    clock = time.perf_counter()
    # Crossings are decided once per edge (cells sharing an edge then agree), and repaired where a single
    # decision contradicts all the faces around it.
    edge_ids, cell_edge = np.unique(corner_of[:, EDGE_CORNERS[:, 0]] * 3 + EDGE_AXIS[None, :], return_inverse=True)
    cell_edge = cell_edge.reshape(-1, 12)
    edge_low, edge_axis = edge_ids // 3, edge_ids % 3
    edge_high = _corner_index(keys, grid, corner_ijk[edge_low] + np.eye(3, dtype=np.int64)[edge_axis])[0]
    edge_crossed = _crossings(d, g, edge_low, edge_high, edge_axis, h, cfg)
    if cfg.repair_iterations:
        edge_crossed, stats.repaired_edges = _repair(edge_crossed, cell_edge, corner_of, cfg.repair_iterations)
    if cfg.cluster_cells:
        edge_crossed, stats.cluster_edges = _fix_small_clusters(edge_crossed, cell_edge, corner_of, cfg.cluster_cells)
    crossed = edge_crossed[cell_edge]  # (K, 12)

    # Pseudo-signs: walk from corner 0 along x, then y, then z edges; then every edge must agree.
    sign = np.zeros((len(cells), 8), dtype=bool)
    for c in range(1, 8):
        axis = (c & -c).bit_length() - 1  # lowest set bit: the edge that reaches c from c - 2**axis
        edge = 4 * axis + _rank_without_bit(c ^ (1 << axis), axis)
        sign[:, c] = sign[:, c ^ (1 << axis)] ^ crossed[:, edge]
    agrees = (sign[:, EDGE_CORNERS[:, 0]] != sign[:, EDGE_CORNERS[:, 1]]) == crossed
    consistent = agrees.all(axis=1)
    any_crossed = crossed.any(axis=1)
    stats.surface_cells = int(any_crossed.sum())
    stats.inconsistent_cells = int((any_crossed & ~consistent).sum())

    active = np.nonzero(any_crossed & consistent)[0]
    case = (sign[active].astype(np.int64) << np.arange(8)).sum(axis=1)
    table, count = triangle_table()
    tri_edges = table[case]  # (A, T, 3) local edge ids, -1 padded
    valid = tri_edges[:, :, 0] >= 0
    cell_of_tri = np.broadcast_to(active[:, None], valid.shape)[valid]
    local_edges = tri_edges[valid]  # (F, 3)
    # One vertex per crossed edge, shared by every cell around it: the mesh comes out welded.
    used_edges, face_vertices = np.unique(cell_edge[cell_of_tri[:, None], local_edges].reshape(-1),
                                          return_inverse=True)
    faces = face_vertices.reshape(-1, 3)
    low, high, axis = edge_low[used_edges], edge_high[used_edges], edge_axis[used_edges]
    t = d[low] / np.maximum(d[low] + d[high], 1e-12)
    vertices = grid.points(corner_ijk[low])
    vertices[np.arange(len(vertices)), axis] += np.clip(t, 0.0, 1.0) * h
    stats.seconds["triangulate"] = round(time.perf_counter() - clock, 4)

    if cfg.project == "closest" and len(vertices):
        # Each end of the edge knows its closest surface point (x - d grad); blending them by t puts the vertex
        # on the surface for planar patches and within O(h² curvature) otherwise, at no extra query.
        tt = np.clip(t, 0.0, 1.0)[:, None]
        closest_low = grid.points(corner_ijk[low]) - d[low, None] * g[low]
        closest_high = grid.points(corner_ijk[high]) - d[high, None] * g[high]
        vertices = (1.0 - tt) * closest_low + tt * closest_high
    elif cfg.project == "query" and len(vertices):
        clock = time.perf_counter()
        dv, gv = query_field(field_, vertices.astype(np.float32), grad=True, batch_size=cfg.batch_size,
                          counter=counter)
        direction = gv / np.maximum(np.linalg.norm(gv, axis=1, keepdims=True), 1e-12)
        step = np.clip(dv - cfg.offset, 0.0, h)[:, None]  # never further than a cell: keeps faces local
        vertices = vertices - step * direction
        stats.seconds["project"] = round(time.perf_counter() - clock, 4)

    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    mesh = trimesh.Trimesh(vertices.astype(np.float32), faces, process=False)
    if cfg.fill_holes > 0 and len(faces):
        clock = time.perf_counter()
        mesh, stats.holes_filled = fill_holes(mesh, udf_only, h, cfg.fill_holes, cfg.offset, cfg.max_hole_edges)
        stats.seconds["holes"] = round(time.perf_counter() - clock, 4)
    if cfg.smooth_border and len(mesh.faces):
        clock = time.perf_counter()
        mesh, moved = smooth_boundary(mesh, cfg.smooth_border)
        if cfg.extend_border:
            mesh, pushed = extend_border(mesh, udf_only, h, cfg.offset)
            moved = np.union1d(moved, pushed)
        if len(moved):  # back onto the surface: the straightened border cuts corners of the true one
            dv, gv = query_field(field_, np.asarray(mesh.vertices[moved], np.float32), grad=True,
                              batch_size=cfg.batch_size, counter=counter)
            direction = gv / np.maximum(np.linalg.norm(gv, axis=1, keepdims=True), 1e-12)
            v = np.asarray(mesh.vertices, np.float64).copy()
            v[moved] -= np.clip(dv - cfg.offset, 0.0, h)[:, None] * direction
            mesh.vertices = v
        stats.seconds["border"] = round(time.perf_counter() - clock, 4)
    rounds = cfg.subdivide if cfg.subdivide is not None else int(cfg.resolution < 256)
    for _ in range(rounds if len(mesh.faces) else 0):
        clock = time.perf_counter()
        mesh = subdivide_onto_surface(mesh, udf_and_grad, 0.5 * h, cfg.offset)
        stats.seconds["subdivide"] = round(stats.seconds.get("subdivide", 0.0) + time.perf_counter() - clock, 4)
    stats.queries, stats.degenerate_queries = counter.queries, counter.degenerate
    stats.dense_fraction = counter.fraction_of_grid(cfg.resolution)
    stats.vertices, stats.faces = int(len(mesh.vertices)), int(len(mesh.faces))
    if not len(mesh.faces):
        warnings.warn(f"no surface found in the box [{cfg.bounds[0]}, {cfg.bounds[1]}]³ at resolution "
                      f"{cfg.resolution}: returning an empty mesh", stacklevel=2)
    return mesh, stats


def _corner_index(keys: np.ndarray, grid: Grid, ijk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in the sorted corner ``keys`` of (M, 3) corners, and whether each is there at all."""
    n = grid.resolution + 1
    inside = ((ijk >= 0) & (ijk < n)).all(axis=1)
    query = grid.corner_keys(np.clip(ijk, 0, n - 1))
    slot = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return slot, inside & (keys[slot] == query)


def _crossings(d: np.ndarray, g: np.ndarray, low: np.ndarray, high: np.ndarray, axis: np.ndarray, h: float,
               cfg: UDFExtractConfig) -> np.ndarray:
    """(E,) whether the surface crosses each edge ``low -> high`` (along ``axis``, length ``h``).

    The two ends lie on opposite sides of the surface when their (unit) gradients face opposite ways; of those,
    a surface lies between them when the gradients diverge along the edge (converging ones straddle the medial
    axis between two sheets instead), and only if the distances leave room for it. The gradient components along
    the edge alone are not enough: outside a convex patch, two corners on the same side also fan apart.
    """
    facing = np.einsum("ec,ec->e", g[low], g[high]) < cfg.facing
    diverging = g[high, axis] - g[low, axis] > -cfg.converge_tolerance
    return facing & diverging & (d[low] + d[high] <= (1.0 + cfg.edge_slack) * h)


_FACE_EDGES = np.array([edges for _, _, _, edges in FACES], dtype=np.int64)  # (6, 4) local edges of each face
_FACE_LOW_CORNER = np.array([min(corners) for _, _, corners, _ in FACES], dtype=np.int64)
_FACE_NORMAL = np.array([axis for axis, _, _, _ in FACES], dtype=np.int64)


def _odd_faces(crossed_local: np.ndarray) -> np.ndarray:
    """(K, 12) crossed edges per cell -> (K, 6) faces cut an odd number of times."""
    return crossed_local[:, _FACE_EDGES].sum(axis=2) % 2 == 1


def _repair(edge_crossed: np.ndarray, cell_edge: np.ndarray, corner_of: np.ndarray,
            iterations: int) -> tuple[np.ndarray, int]:
    """Flips edge decisions that contradict at least 3 of the 4 faces around them.

    A face crossed by a surface without a border is cut an even number of times. One wrong decision makes all
    four faces around its edge odd, while the surface's real border leaves about two odd faces per edge along
    it; so an edge with three or four odd faces around it is flipped. Only faces of cells that have an odd face
    are visited: the work grows with the number of defects, not with the band.

    Returns the repaired (E,) decisions and how many edges changed.
    """
    edge_crossed = edge_crossed.copy()
    changed = np.zeros(len(edge_crossed), dtype=bool)
    for _ in range(iterations):
        odd = _odd_faces(edge_crossed[cell_edge])
        cell, face = np.nonzero(odd)
        if not len(cell):
            break
        face_id = corner_of[cell, _FACE_LOW_CORNER[face]] * 3 + _FACE_NORMAL[face]  # same id from both cells
        edges = cell_edge[cell[:, None], _FACE_EDGES[face]]  # (P, 4)
        # Each (edge, odd face) pair once, as one int64 key (np.unique on rows is several times slower).
        faces_total = int(face_id.max()) + 1
        pairs = np.unique(edges.reshape(-1) * faces_total + np.repeat(face_id, 4))
        edge, odd_count = np.unique(pairs // faces_total, return_counts=True)
        flip = edge[odd_count >= 3]
        if not len(flip):
            break
        edge_crossed[flip] ^= True
        changed[flip] ^= True
    return edge_crossed, int(changed.sum())


def _fix_small_clusters(edge_crossed: np.ndarray, cell_edge: np.ndarray, corner_of: np.ndarray,
                        max_cells: int, max_free: int = 8) -> tuple[np.ndarray, int]:
    """Resolves small clusters of inconsistent cells by the fewest changes among their own edges.

    Inconsistent cells come in clusters joined by odd faces. An edge is *free* for a cluster when every cell
    around it belongs to the cluster, so changing it cannot break a consistent cell. For each cluster of at most
    ``max_cells`` cells with at most ``max_free`` free edges, every assignment of the free edges is tried at once
    and the one that makes all the cluster's cells consistent with the fewest changes is kept. Clusters along a
    real border are long and have no such assignment; they are left as they are. The loop runs over clusters
    (a few dozen), each step vectorised over assignments.
    """
    odd = _odd_faces(edge_crossed[cell_edge])
    cell, face = np.nonzero(odd)
    if not len(cell):
        return edge_crossed, 0
    face_id = np.unique(corner_of[cell, _FACE_LOW_CORNER[face]] * 3 + _FACE_NORMAL[face], return_inverse=True)[1]
    n = len(cell_edge)
    graph = coo_matrix((np.ones(len(cell)), (cell, n + face_id)), shape=(n + face_id.max() + 1,) * 2)
    _, label = connected_components(graph, directed=False)
    bad = np.unique(cell)
    cells_around = np.bincount(cell_edge.reshape(-1), minlength=len(edge_crossed))
    edge_crossed = edge_crossed.copy()
    changed = 0
    order = np.argsort(label[bad], kind="stable")
    groups = np.split(bad[order], np.nonzero(np.diff(label[bad][order]))[0] + 1)
    for members in groups:
        if len(members) > max_cells:
            continue
        local = cell_edge[members]  # (c, 12) edge ids
        edges, uses = np.unique(local, return_counts=True)
        free = edges[uses == cells_around[edges]]
        if not 0 < len(free) <= max_free:
            continue
        values = ((np.arange(2 ** len(free))[:, None] >> np.arange(len(free))[None, :]) & 1).astype(bool)
        position = np.searchsorted(free, local)
        is_free = free[np.minimum(position, len(free) - 1)] == local
        trial = np.broadcast_to(edge_crossed[local], (len(values),) + local.shape).copy()  # (A, c, 12)
        trial[:, is_free] = values[:, position[is_free]]
        ok = ~_odd_faces(trial.reshape(-1, 12)).reshape(len(values), -1).any(axis=1)
        if not ok.any():
            continue
        cost = (values != edge_crossed[free][None, :]).sum(axis=1) + np.where(ok, 0, 10**6)
        best = values[np.argmin(cost)]
        changed += int((best != edge_crossed[free]).sum())
        edge_crossed[free] = best
    return edge_crossed, changed


def _decode(keys: np.ndarray, n: int) -> np.ndarray:
    """Linear corner ids -> (K, 3) integer corner indices on a grid with ``n`` corners per axis."""
    return np.stack([keys // (n * n), (keys // n) % n, keys % n], axis=1)


def _rank_without_bit(corner: int, axis: int) -> int:
    """Index of ``corner`` (whose ``axis`` bit is 0) among the four such corners, in increasing order."""
    return [c for c in range(8) if not (c >> axis) & 1].index(corner)


__all__ = ["UDFExtractConfig", "ExtractionStats", "udf_marching_cubes", "FieldError"]
