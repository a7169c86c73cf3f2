"""Meshes from unsigned distance fields: marching cubes on pseudo-signs from diverging gradients.

An unsigned field has no sign change to find, but its gradient does: on either side of a sheet it points away
from the sheet, so along a grid edge that crosses the surface the gradients at the two ends diverge (the low
end's gradient points down the edge, the high end's up it) and their distances add up to at most the edge's
length. Deciding crossings per *edge* from the edge's two ends only means the cells that share an edge always
agree about it: no cracks. A cell whose crossed edges admit a sign assignment of its corners (every face cut an
even number of times) gets those pseudo-signs and is triangulated by :mod:`.mc_table`; a cell that admits none
(the surface ends inside it, or a gradient is unreliable) is left empty. Vertices sit where the pseudo-signed
values ``+d_low`` and ``-d_high`` interpolate to zero, are welded across cells through their edge, and can be
projected onto the surface with one more query (``x - d(x) grad d(x)``).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import trimesh

from ..errors import FieldError
from .grid import SQRT3_2, Grid, all_cells, narrow_band
from .mc_table import CORNER_OFFSETS, EDGE_AXIS, EDGE_CORNERS, triangle_table
from .query import QueryCounter, evaluate


@dataclass
class UDFExtractConfig:
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
    converge_tolerance: float = 0.5
    """How far gradients may seem to converge along an edge and still count as crossing it. Ends that face each
    other across a surface almost parallel to the edge show tiny, noisy tangential components; a medial axis
    between two sheets shows clearly converging ones (close to -2 for sheets across the edge)."""
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
    dense_fraction: float = 0.0
    """``queries`` over the resolution³ points of the dense grid."""
    candidate_cells: int = 0
    surface_cells: int = 0
    """Cells with at least one crossed edge."""
    inconsistent_cells: int = 0
    """Cells whose crossings admit no pseudo-sign assignment (left empty)."""
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
        return evaluate(field_, points, grad=False, batch_size=cfg.batch_size, counter=counter)[0]

    def udf_and_grad(points):
        return evaluate(field_, points, grad=True, batch_size=cfg.batch_size, counter=counter)

    parents, band, centres = narrow_band(udf_only, grid, cfg.coarse_resolution, cfg.band, cfg.offset,
                                         udf_and_grad=udf_and_grad)
    stats.levels = band.levels
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
        outer_d, outer_g = evaluate(field_, grid.points(_decode(outer_keys, n)), grad=True,
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
        d[~is_known], g[~is_known] = evaluate(field_, grid.points(corner_ijk[~is_known]), grad=True,
                                              batch_size=cfg.batch_size, counter=counter)
    d = d - cfg.offset
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)  # networks' gradients are not unit
    stats.seconds["corners"] = round(time.perf_counter() - clock, 4)

    clock = time.perf_counter()
    lo_c, hi_c = corner_of[:, EDGE_CORNERS[:, 0]], corner_of[:, EDGE_CORNERS[:, 1]]  # (K, 12) each
    g_lo = g[lo_c, EDGE_AXIS[None, :]]
    g_hi = g[hi_c, EDGE_AXIS[None, :]]
    # The two ends lie on opposite sides of the surface when their gradients face opposite ways; of those, a
    # surface lies between them when the gradients diverge along the edge (converging ones straddle the medial
    # axis between two sheets instead), and only if the distances leave room for it. Testing the gradient
    # components alone is not enough: outside a convex patch two corners on the same side also fan apart.
    facing = np.einsum("kec,kec->ke", g[lo_c], g[hi_c]) < 0
    crossed = facing & (g_hi - g_lo > -cfg.converge_tolerance) & (d[lo_c] + d[hi_c] <= (1.0 + cfg.edge_slack) * h)

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
    # An edge's global id: its low corner's id and its axis.
    edge_ids = corner_of[cell_of_tri[:, None], EDGE_CORNERS[local_edges, 0]] * 3 + EDGE_AXIS[local_edges]
    unique_edges, face_vertices = np.unique(edge_ids.reshape(-1), return_inverse=True)
    faces = face_vertices.reshape(-1, 3)
    low, axis = unique_edges // 3, unique_edges % 3
    high_ijk = corner_ijk[low] + np.eye(3, dtype=np.int64)[axis]
    high = np.searchsorted(keys, grid.corner_keys(high_ijk))
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
        dv, gv = evaluate(field_, vertices.astype(np.float32), grad=True, batch_size=cfg.batch_size,
                          counter=counter)
        direction = gv / np.maximum(np.linalg.norm(gv, axis=1, keepdims=True), 1e-12)
        step = np.clip(dv - cfg.offset, 0.0, h)[:, None]  # never further than a cell: keeps faces local
        vertices = vertices - step * direction
        stats.seconds["project"] = round(time.perf_counter() - clock, 4)

    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    mesh = trimesh.Trimesh(vertices.astype(np.float32), faces, process=False)
    stats.queries = counter.queries
    stats.dense_fraction = counter.fraction_of_grid(cfg.resolution)
    stats.vertices, stats.faces = int(len(mesh.vertices)), int(len(mesh.faces))
    if not len(mesh.faces):
        warnings.warn(f"no surface found in the box [{cfg.bounds[0]}, {cfg.bounds[1]}]³ at resolution "
                      f"{cfg.resolution}: returning an empty mesh", stacklevel=2)
    return mesh, stats


def _decode(keys: np.ndarray, n: int) -> np.ndarray:
    """Linear corner ids -> (K, 3) integer corner indices on a grid with ``n`` corners per axis."""
    return np.stack([keys // (n * n), (keys // n) % n, keys % n], axis=1)


def _rank_without_bit(corner: int, axis: int) -> int:
    """Index of ``corner`` (whose ``axis`` bit is 0) among the four such corners, in increasing order."""
    return [c for c in range(8) if not (c >> axis) & 1].index(corner)


__all__ = ["UDFExtractConfig", "ExtractionStats", "udf_marching_cubes", "FieldError"]
