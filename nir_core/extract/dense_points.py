"""NDF's dense surface point cloud: project samples onto the zero level set along the UDF gradient.

This is Algorithm 1 of Chibane et al., "Neural Unsigned Distance Fields for Implicit Function Learning"
(NeurIPS 2020), the extraction the thesis uses for NDF (ch. 2.3.2; ch. 5 §3.1 replaces it by a marching-cubes
variant for speed). For a UDF ``f`` with ``|grad f| = 1`` off the surface, one step

    p <- p - f(p) * grad f(p) / |grad f(p)|

lands a point exactly on its closest surface point, so a few steps suffice even for a learned, imperfect
field. The algorithm:

1. draw points uniformly in the box and project them ``num_steps`` times; those that end near the surface
   (``f < seed_threshold``) become seeds;
2. repeat until ``num_points`` are collected: draw points around random seeds with Gaussian noise, project
   them, keep those with ``f < filter_threshold``; the near-surface points become the next seeds.

Everything is vectorised over all points and goes through :func:`~nir_core.extract.query.query_field`, so any
:class:`~nir_core.field.Field` works with bounded memory. :func:`ball_pivoting_mesh` turns the cloud into a
mesh (Open3D's ball pivoting).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

from ..config import Config
from .query import DEFAULT_BATCH_SIZE, QueryCounter, query_field

_EPS = 1e-12


@dataclass
class DensePointsConfig(Config):
    """Settings of :func:`dense_points`; defaults follow NDF (objects normalised to ``[-0.5, 0.5]^3``)."""

    num_points: int = 200_000
    """Points in the returned cloud."""
    num_steps: int = 7
    """Projection steps per round. NDF's paper uses 7 (its released code defaults to 10, and an exact field
    needs only 1); more steps help a learned field whose gradient is not unit length."""
    filter_threshold: float = 0.009
    """A projected point is kept when its distance (at its last evaluation) is below this (NDF: 0.009)."""
    seed_threshold: float = 0.03
    """Projected points below this distance seed the next round's resampling (NDF's code: 0.03); looser than
    ``filter_threshold`` so thin or poorly learned regions still get seeds."""
    noise_std: float = 0.1 / 3
    """Std of the Gaussian noise added around seeds. NDF's code uses its truncation distance / 3 (3-sigma
    rule, ``0.1 / 3``): new samples spread along the surface, which evens out the cloud (round 1 over-samples
    convex regions, where more of the box projects). ``filter_threshold / 3`` keeps them in the filter band but
    inherits that bias: on the bunny, the 99th-percentile hole radius grows from 0.010 to 0.015."""
    max_step: float | None = 0.1
    """Largest move per step (NDF clamps its predicted distance at its 0.1 truncation, where a learned UDF
    stops being reliable); None: no clamp."""
    samples_per_round: int | None = None
    """Points projected per round (also the uniform draw of round 1); None: ``num_points``. Bounds memory."""
    max_rounds: int = 20
    """Give up (with a warning, returning what was collected) after this many resampling rounds."""
    bounds: tuple[float, float] = (-0.5, 0.5)
    """Box (lo, hi), the same on every axis, where the initial uniform samples are drawn."""
    batch_size: int = DEFAULT_BATCH_SIZE
    """Points per field call (see :func:`~nir_core.extract.query.query_field`)."""


def _project(field, p: np.ndarray, cfg: DensePointsConfig, counter: QueryCounter | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``num_steps`` gradient steps of all points ``p`` (n, 3) at once.

    Returns the moved points (n, 3), the distances (n,) and unit gradients (n, 3) at their *last evaluated*
    positions (before the final move, as NDF filters; after it the distance is smaller still).
    """
    p = p.astype(np.float32, copy=True)
    d = np.full(len(p), np.inf, np.float32)
    g = np.zeros_like(p)
    for _ in range(max(int(cfg.num_steps), 1)):
        d, g = query_field(field, p, grad=True, batch_size=cfg.batch_size, counter=counter)
        norm = np.linalg.norm(g, axis=1, keepdims=True)
        # Zero gradients (exactly on a medial axis, or a dead network region) give no direction: stay put.
        g = np.divide(g, norm, out=np.zeros_like(g), where=norm > _EPS)
        step = d if cfg.max_step is None else np.minimum(d, cfg.max_step)
        p -= g * step[:, None]
    return p, d, g


def dense_points(field, cfg: DensePointsConfig | None = None, seed: int = 0, *, with_normals: bool = True,
                 counter: QueryCounter | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """A dense point cloud on the zero level set of ``field`` (NDF Algorithm 1, see the module docstring).

    Parameters
    ----------
    field: any :class:`~nir_core.field.Field` over unit-cube coordinates.
    cfg: settings; default :class:`DensePointsConfig`.
    seed: seeds the uniform draw and the resampling noise (same seed, same field -> same cloud).
    with_normals: also return per-point normals.
    counter: counts the field queries.

    Returns
    -------
    points: (N, 3) float32, ``N = cfg.num_points`` unless the field has no surface (then 0) or
        ``cfg.max_rounds`` ran out (then fewer, with a warning).
    normals: (N, 3) float32 unit UDF gradients at the points, or None. A UDF has no inside: their *sign*
        depends on which side each point came from, so they are unoriented normals.
    """
    cfg = DensePointsConfig() if cfg is None else cfg
    if cfg.num_points < 1:
        raise ValueError(f"num_points must be >= 1, got {cfg.num_points}")
    rng = np.random.default_rng(seed)
    per_round = int(cfg.samples_per_round or cfg.num_points)
    noise = float(cfg.noise_std)
    lo, hi = cfg.bounds

    p, d, _ = _project(field, rng.uniform(lo, hi, size=(per_round, 3)), cfg, counter)
    seeds = p[d < cfg.seed_threshold]
    if len(seeds) == 0:
        warnings.warn("dense_points: no sample came near the surface; the field has no zero level set in the "
                      f"box {cfg.bounds}", RuntimeWarning, stacklevel=2)
        return np.zeros((0, 3), np.float32), (np.zeros((0, 3), np.float32) if with_normals else None)

    points, normals, collected, keep_rate = [], [], 0, None
    for _ in range(int(cfg.max_rounds)):
        if collected >= cfg.num_points:
            break
        n = per_round
        if keep_rate:
            # The last round only needs what is missing (with a margin): saves up to a round of queries.
            n = min(per_round, max(math.ceil(1.2 * (cfg.num_points - collected) / keep_rate), 1024))
        p = seeds[rng.integers(len(seeds), size=n)] + rng.normal(0.0, noise, size=(n, 3)).astype(np.float32)
        p, d, g = _project(field, p, cfg, counter)
        keep = d < cfg.filter_threshold
        keep_rate = max(float(keep.mean()), 1e-3)
        points.append(p[keep])
        normals.append(g[keep])
        collected += int(keep.sum())
        near = d < cfg.seed_threshold
        if near.any():
            seeds = p[near]
    if collected < cfg.num_points:
        warnings.warn(f"dense_points: collected {collected} of {cfg.num_points} points in {cfg.max_rounds} "
                      "rounds (few projected samples pass filter_threshold)", RuntimeWarning, stacklevel=2)
    points = np.concatenate(points)[: cfg.num_points]
    normals = np.concatenate(normals)[: cfg.num_points] if with_normals else None
    return points, normals


def mean_spacing(points: np.ndarray) -> float:
    """Mean distance from each point of (N, 3) ``points`` to its nearest other point."""
    dist, _ = cKDTree(points).query(points, k=2, workers=-1)
    return float(dist[:, 1].mean())


def orient_point_normals(points: np.ndarray, normals: np.ndarray, k: int = 10) -> np.ndarray:
    """Flip normal signs so that neighbouring normals agree (Hoppe et al. 1992), vectorised.

    The k-nearest-neighbour graph, weighted by ``1 - |n_i . n_j|``, is reduced to its minimum spanning forest
    (neighbours with parallel normals are trusted first); each point's sign is then its tree path's parity
    of disagreeing steps, computed for all points at once by pointer jumping. Same method as Open3D's
    ``orient_normals_consistent_tangent_plane``, vectorised: much faster on the clouds :func:`dense_points`
    makes.

    Parameters
    ----------
    points: (N, 3) positions.
    normals: (N, 3) normals with arbitrary signs.
    k: neighbours per point.

    Returns
    -------
    (N, 3) float64 normals, consistent within each connected piece of the neighbour graph; the overall sign
    of each piece is arbitrary (a UDF has no outside).
    """
    points = np.asarray(points, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float64)
    n = len(points)
    k = min(int(k), n - 1)
    if k < 1:
        return normals.copy()
    _, idx = cKDTree(points).query(points, k=k + 1, workers=-1)
    i, j = np.repeat(np.arange(n), k), idx[:, 1:].reshape(-1)
    # The epsilon keeps exactly parallel pairs in the sparse graph (explicit zeros would read as "no edge").
    w = 1.0 - np.abs(np.einsum("ij,ij->i", normals[i], normals[j])) + 1e-6
    forest = minimum_spanning_tree(coo_matrix((w, (i, j)), shape=(n, n)).tocsr())
    forest = (forest + forest.T).tocoo()
    # A virtual node n joined to one point per tree turns the forest into a single tree rooted at n.
    _, labels = connected_components(forest, directed=False)
    _, roots = np.unique(labels, return_index=True)
    rows = np.concatenate([forest.row, np.full(len(roots), n), roots])
    cols = np.concatenate([forest.col, roots, np.full(len(roots), n)])
    tree = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n + 1, n + 1)).tocsr()
    _, parent = breadth_first_order(tree, n, directed=False, return_predecessors=True)
    parent[n] = n
    padded = np.concatenate([normals, np.zeros((1, 3))])
    flip = np.einsum("ij,ij->i", padded, padded[parent]) < 0  # disagrees with its parent
    flip[roots] = False
    flip[n] = False
    # Pointer jumping: after step s, flip[i] is the parity over the first 2^s edges towards the root.
    while (parent != n).any():
        flip = flip ^ flip[parent]
        parent = parent[parent]
    return np.where(flip[:n, None], -normals, normals)


def ball_pivoting_mesh(points: np.ndarray, normals: np.ndarray | None = None, radii=None, *,
                       orient_normals: bool = True) -> trimesh.Trimesh:
    """Triangulate a dense surface cloud with Open3D's ball pivoting (Bernardini et al. 1999).

    Parameters
    ----------
    points: (N, 3) surface points (e.g. from :func:`dense_points`).
    normals: (N, 3) per-point normals (UDF gradients; their sign may be arbitrary), or None to estimate them
        from up to 30 neighbours (``estimate_normals``).
    radii: ball radii, tried from small to large; default ``[2, 4, 8] x`` the mean nearest-neighbour spacing
        ``s``. A random cloud has gaps well above its mean spacing, which smaller balls fall through: smaller
        radii leave much of the surface uncovered.
    orient_normals: make normal signs agree between neighbours first (:func:`orient_point_normals`). Ball
        pivoting picks the side a ball rolls on from the normals: with random signs (estimated normals, or
        the gradients of a learned UDF) it leaves large parts of a closed surface uncovered.

    Returns
    -------
    The triangle mesh (float64 vertices = the input points; unreferenced points are dropped). Its winding is
    not guaranteed consistent; see :func:`nir_core.extract.hygiene.orient_pieces`.
    """
    import open3d as o3d

    points = np.ascontiguousarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) < 3:
        raise ValueError(f"ball pivoting needs (N >= 3, 3) points, got {points.shape}")
    spacing = mean_spacing(points)
    if radii is None:
        radii = [2 * spacing, 4 * spacing, 8 * spacing]
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    if normals is None:
        pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=6 * spacing, max_nn=30))
        normals = np.asarray(pcd.normals)
    normals = np.ascontiguousarray(normals, dtype=np.float64)
    if normals.shape != points.shape:
        raise ValueError(f"normals {normals.shape} do not match points {points.shape}")
    if orient_normals:
        normals = orient_point_normals(points, normals)
    pcd.normals = o3d.utility.Vector3dVector(normals)
    mesh = o3d.geometry.TriangleMesh.create_from_point_cloud_ball_pivoting(
        pcd, o3d.utility.DoubleVector([float(r) for r in radii]))
    out = trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.triangles, dtype=np.int64), process=False)
    out.remove_unreferenced_vertices()
    return out
