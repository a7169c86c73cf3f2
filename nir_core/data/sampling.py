"""Training data for implicit fields: surface samples (encoder input) and off-surface UDF ground truth.

The protocol is NDF's (Chibane et al. 2020, ``boundary_sampling.py`` and its configs): query points are
surface points displaced by isotropic Gaussian noise of a few standard deviations
(``sample_std_dev = [0.08, 0.02, 0.003]``) mixed in fixed proportions (``sample_ratio = [0.01, 0.49, 0.5]``),
and each query's target is its unsigned distance to the surface. NDF clamps distances at 0.1 in the loss,
not in the data; :attr:`SamplingConfig.clamp` is there for callers who want it stored.

All sigmas are in unit-cube units, so scans must already be normalised into ``[-0.5, 0.5]^3``
(:meth:`~nir_core.data.scan.Scan.normalised`); nothing here rescales silently (a scan that does not fit
the cube triggers a warning). Query labels follow the nearest-surface-point rule of
:mod:`nir_core.data.ground_truth`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import trimesh

from ..config import Config
from ..protocol import INPUT_POINTS
from .ground_truth import MeshField, PointsField, face_labels_from_scan, field_from_scan
from .scan import Scan

SeedLike = int | np.random.SeedSequence | np.random.Generator | None


@dataclass
class SamplingConfig(Config):
    """How many points to draw and how far from the surface (NDF's defaults, unit-cube units)."""

    num_surface: int = INPUT_POINTS
    """Surface points given to the encoder as its input point cloud (the protocol's input size)."""
    num_queries: int = 100_000
    """Off-surface query points with ground-truth distances (split over ``sigmas`` by ``ratios``)."""
    sigmas: tuple[float, ...] = (0.08, 0.02, 0.003)
    """Standard deviations of the isotropic Gaussian displacement of surface points (NDF ``sample_std_dev``)."""
    ratios: tuple[float, ...] = (0.01, 0.49, 0.5)
    """Share of the queries drawn with each sigma (NDF ``sample_ratio``); normalised to sum to 1."""
    clamp: float | None = None
    """When set, stored distances are clipped to this value (gradients stay those of the unclipped field)."""
    with_gradients: bool = False
    """Also store the ground-truth gradient (unit vector away from the closest surface point) per query."""
    seed: int = 0
    """Seed of every random draw; the same seed and scan give the same samples."""

    def __post_init__(self):
        self.sigmas = tuple(float(s) for s in self.sigmas)
        self.ratios = tuple(float(r) for r in self.ratios)
        if self.num_surface < 1 or self.num_queries < 0:
            raise ValueError(f"need num_surface >= 1 and num_queries >= 0, got {self.num_surface}, "
                             f"{self.num_queries}")
        if not self.sigmas or len(self.sigmas) != len(self.ratios):
            raise ValueError(f"sigmas {self.sigmas} and ratios {self.ratios} must be non-empty and of equal length")
        if min(self.sigmas) < 0 or min(self.ratios) < 0 or sum(self.ratios) <= 0:
            raise ValueError(f"sigmas and ratios must be >= 0 with a positive ratio sum, got {self.sigmas}, "
                             f"{self.ratios}")
        if self.clamp is not None and self.clamp <= 0:
            raise ValueError(f"clamp must be positive or None, got {self.clamp}")

    def counts(self) -> tuple[int, ...]:
        """Queries per sigma, summing exactly to ``num_queries``."""
        return split_counts(self.num_queries, self.ratios)


def split_counts(total: int, ratios) -> tuple[int, ...]:
    """Split ``total`` into integer parts proportional to ``ratios`` that sum exactly to ``total``.

    Largest-remainder rounding: each part is ``floor(total * r / sum(r))``, and the leftover units go to the
    largest fractional parts (ties to the earlier ratio).
    """
    r = np.asarray(ratios, dtype=np.float64)
    exact = total * r / r.sum()
    base = np.floor(exact).astype(np.int64)
    left = int(total - base.sum())
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:left]] += 1
    return tuple(int(c) for c in base)


@dataclass
class UDFSamples:
    """One scan's training sample: encoder input and supervised queries (unit-cube coordinates).

    Queries are stored in blocks, one per sigma, in the order of ``sigmas`` with ``counts`` points each.
    """

    surface: np.ndarray
    """(num_surface, 3) float32 surface points (encoder input)."""
    surface_labels: np.ndarray | None
    """(num_surface,) int64 labels of the surface points, or None for an unlabelled scan."""
    queries: np.ndarray
    """(M, 3) float32 query points."""
    distances: np.ndarray
    """(M,) float32 unsigned distance of each query to the surface (clipped when ``clamp`` is set)."""
    labels: np.ndarray | None
    """(M,) int64 label of each query's nearest surface point (``IGNORE_LABEL`` possible), or None."""
    gradients: np.ndarray | None = None
    """(M, 3) float32 ground-truth gradients when ``with_gradients`` was set, else None."""
    sigmas: tuple[float, ...] = ()
    """Noise level of each query block."""
    counts: tuple[int, ...] = ()
    """Number of queries in each block."""

    def __len__(self) -> int:
        return len(self.queries)

    def block(self, i: int) -> slice:
        """Index range of the queries drawn with ``sigmas[i]``."""
        start = int(sum(self.counts[:i]))
        return slice(start, start + self.counts[i])


def _subset_index(n_points: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices into ``n_points``: distinct when ``n <= n_points``; otherwise every point once plus
    ``n - n_points`` drawn with replacement, shuffled."""
    if n <= n_points:
        return rng.choice(n_points, size=n, replace=False)
    idx = np.concatenate([np.arange(n_points), rng.integers(0, n_points, size=n - n_points)])
    return rng.permutation(idx)


def sample_surface(source: Scan | trimesh.Trimesh, n: int, seed: SeedLike = 0, *,
                   face_labels: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``n`` points on the surface of a mesh or of a point scan.

    Parameters
    ----------
    source: a trimesh, or a scan (its mesh when it has faces, else its points).
    n: number of points.
    seed: seed or generator of the draw.
    face_labels: (F,) per-face labels for a trimesh ``source`` (a scan's come from
        :func:`~nir_core.data.ground_truth.face_labels_from_scan`).

    Returns
    -------
    points: (n, 3) float32. On a mesh: uniform by area; on a point scan: a random subset (distinct points
        when ``n <= N``, else every point once and the rest drawn again).
    normals: (n, 3) float32 face normals of the sampled faces / the scan's normals, or None.
    labels: (n,) int64 labels of the sampled faces / points, or None.
    """
    rng = np.random.default_rng(seed)
    if isinstance(source, Scan) and not source.has_faces:
        idx = _subset_index(len(source.points), n, rng)
        pick = lambda a, dt: None if a is None else np.asarray(a)[idx].astype(dt)
        return (np.asarray(source.points)[idx].astype(np.float32), pick(source.normals, np.float32),
                pick(source.labels, np.int64))
    if isinstance(source, Scan):
        if face_labels is None:
            face_labels = face_labels_from_scan(source)
        source = source.mesh
    points, face = trimesh.sample.sample_surface(source, n, seed=rng)
    normals = np.asarray(source.face_normals, dtype=np.float32)[face]
    labels = None if face_labels is None else np.asarray(face_labels).astype(np.int64)[face]
    return points.astype(np.float32), normals, labels


def sample_queries(surface_points: np.ndarray, cfg: SamplingConfig, rng: SeedLike = None, *,
                   return_source: bool = False):
    """NDF boundary sampling: surface points displaced by Gaussian noise, one block per sigma.

    Parameters
    ----------
    surface_points: (K, 3) a dense surface sample (a mesh sample, or a point scan's own points).
    cfg: sigmas, ratios and ``num_queries``.
    rng: seed or generator (default: ``cfg.seed``).
    return_source: also return which surface point each query was drawn from.

    Returns
    -------
    queries: (M, 3) float32, ``cfg.counts()[i]`` points for ``cfg.sigmas[i]`` in block order; each is a
        surface point picked uniformly with replacement plus ``N(0, sigma^2 I)``.
    source: (M,) int64 index into ``surface_points`` (only with ``return_source``).
    """
    rng = np.random.default_rng(cfg.seed if rng is None else rng)
    surface_points = np.asarray(surface_points)
    if surface_points.ndim != 2 or surface_points.shape[1] != 3 or len(surface_points) == 0:
        raise ValueError(f"need (K, 3) surface points with K >= 1, got {surface_points.shape}")
    counts = cfg.counts()
    m = sum(counts)
    source = rng.integers(0, len(surface_points), size=m)
    sigma = np.repeat(np.asarray(cfg.sigmas, dtype=np.float32), counts)
    noise = rng.standard_normal((m, 3), dtype=np.float32)
    noise *= sigma[:, None]
    queries = surface_points[source].astype(np.float32) + noise
    return (queries, source) if return_source else queries


def _warn_if_not_normalised(scan: Scan, tol: float = 1e-3) -> None:
    pts = scan.mesh.vertices if scan.has_faces else scan.points
    if len(pts) and np.abs(np.asarray(pts)).max() > 0.5 + tol:
        warnings.warn(f"{scan.source or 'scan'}: coordinates exceed the unit cube [-0.5, 0.5]^3; the sampling "
                      "sigmas are in unit-cube units, so normalise first (Scan.normalised())", stacklevel=3)


def make_udf_samples(scan: Scan, cfg: SamplingConfig | None = None, *,
                     field: MeshField | PointsField | None = None) -> UDFSamples:
    """Surface points, queries and ground truth (distance, nearest-point label) for one scan.

    Parameters
    ----------
    scan: the scan, already normalised to the unit cube (a warning is issued otherwise; nothing is rescaled).
        With faces, distances are exact distances to the mesh and queries start from an area-uniform sample
        of ``num_queries`` mesh points; without faces, distances are to the disks the default field puts at the
        scan's points (:class:`SurfelsField`) and queries start from the points themselves.
    cfg: counts, sigmas and seed (default :class:`SamplingConfig`).
    field: a prebuilt ground-truth field of this scan (default :func:`field_from_scan`), to reuse across draws.
    """
    cfg = cfg or SamplingConfig()
    _warn_if_not_normalised(scan)
    if field is None:
        field = field_from_scan(scan)
    seed_surface, seed_dense, seed_queries = np.random.SeedSequence(cfg.seed).spawn(3)
    face_labels = None
    if scan.has_faces:
        face_labels = field.labels if isinstance(field, MeshField) else face_labels_from_scan(scan)
    surface, _, surface_labels = sample_surface(scan, cfg.num_surface, seed_surface, face_labels=face_labels)
    if scan.has_faces:
        dense, _, _ = sample_surface(scan.mesh, max(cfg.num_queries, 1), seed_dense)
    else:
        dense = scan.points
    queries = sample_queries(dense, cfg, seed_queries)
    dist, grad, labels = field.query_np(queries, grad=cfg.with_gradients, labels=True)
    if cfg.clamp is not None:
        np.minimum(dist, cfg.clamp, out=dist)
    return UDFSamples(surface=surface, surface_labels=surface_labels, queries=queries, distances=dist,
                      labels=labels, gradients=grad, sigmas=cfg.sigmas, counts=cfg.counts())
