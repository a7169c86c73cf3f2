"""Ground-truth unsigned distance fields: exact distances to a triangle mesh or to a dense point set.

Both fields implement :class:`~nir_core.field.Field` (and ``semantics`` of
:class:`~nir_core.field.SemanticField` when built with labels), so extractors, metrics and the sampling of
training data run on them without any network.

Labels follow the nearest-surface-point (Voronoi) rule: a query point takes the label of the surface point
closest to it — the closest triangle's label for a mesh, the nearest point's label for a point set.

Every query is answered in batches of ``batch_size`` points, so memory stays bounded for any number of
queries. The ``*_np`` methods take and return numpy arrays (no torch round trip); the torch methods take
``(M, 3)`` float tensors and return CPU-computed tensors on the query's device.
"""
from __future__ import annotations

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree

from ..errors import MeshRequiredError
from .labels import IGNORE_LABEL
from .scan import Scan

DEFAULT_BATCH_SIZE = 200_000
"""Queries answered per batch (bounds the temporary arrays to a few tens of MB)."""

ZERO_DISTANCE = 1e-6
"""Below this distance (unit-cube units, ~10x float32 rounding at |x| = 0.5) ``(q - closest) / d`` is noise;
the surface normal is used instead."""


def _as_query_array(q) -> np.ndarray:
    """Any (M, 3) array or tensor -> C-contiguous float32 numpy array."""
    if isinstance(q, torch.Tensor):
        q = q.detach().to("cpu", torch.float32).numpy()
    q = np.ascontiguousarray(q, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != 3:
        raise ValueError(f"query points must have shape (M, 3), got {q.shape}")
    return q


def _check_labels(labels, n: int, what: str, num_classes: int | None) -> tuple[np.ndarray | None, int | None]:
    """Validate per-element labels; infer ``num_classes`` (max label + 1) when not given."""
    if labels is None:
        return None, num_classes
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} {what}")
    if labels.size and labels.min() < IGNORE_LABEL:
        raise ValueError(f"labels must be >= {IGNORE_LABEL} (IGNORE_LABEL), got {labels.min()}")
    top = int(labels.max()) + 1 if labels.size else 0
    if num_classes is None:
        num_classes = max(top, 1)
    elif top > num_classes:
        raise ValueError(f"label {top - 1} does not fit num_classes={num_classes}")
    return labels, int(num_classes)


class _GroundTruthField:
    """Shared query logic; subclasses provide ``_nearest(q) -> (closest (m, 3), index (m,), normals (m, 3)|None)``."""

    labels: np.ndarray | None
    num_classes: int | None
    batch_size: int

    def _nearest(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    # ---- numpy entry points -------------------------------------------------------------------------
    def query_np(self, q, *, grad: bool = True, labels: bool = True
                 ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Distances, gradients and labels in one pass.

        Parameters
        ----------
        q: (M, 3) query points (array or tensor), unit-cube coordinates.
        grad: compute the gradients (else None is returned in their place).
        labels: look up the labels (None is returned when False or when the field has no labels).

        Returns
        -------
        dist: (M,) float32 unsigned distances >= 0.
        grad: (M, 3) float32 unit vectors ``(q - closest) / |q - closest|``; on the surface (distance below
            :data:`ZERO_DISTANCE`) the surface normal (mesh face normal / point normal; zero when unknown). Always
            finite, also on degenerate geometry.
        labels: (M,) int64 label of the closest surface element (``IGNORE_LABEL`` where it is unlabelled).
        """
        q = _as_query_array(q)
        m = len(q)
        want_labels = labels and self.labels is not None
        dist = np.empty(m, dtype=np.float32)
        grads = np.empty((m, 3), dtype=np.float32) if grad else None
        labs = np.empty(m, dtype=np.int64) if want_labels else None
        for lo in range(0, m, self.batch_size):
            hi = min(lo + self.batch_size, m)
            qb = q[lo:hi]
            closest, index, normals = self._nearest(qb)
            diff = qb - closest
            d = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            dist[lo:hi] = d
            if grad:
                on_surface = d < ZERO_DISTANCE
                g = diff / np.where(on_surface, 1.0, d)[:, None]
                if on_surface.any():
                    g[on_surface] = 0.0 if normals is None else normals[on_surface]
                grads[lo:hi] = g
            if want_labels:
                labs[lo:hi] = self.labels[index]
        return dist, grads, labs

    def udf_np(self, q) -> np.ndarray:
        """(M, 3) -> (M,) float32 unsigned distances."""
        return self.query_np(q, grad=False, labels=False)[0]

    def closest_np(self, q) -> tuple[np.ndarray, np.ndarray]:
        """(M, 3) -> closest surface points (M, 3) float32 and their element ids (M,) int64
        (triangle index for a mesh, point index for a point set)."""
        q = _as_query_array(q)
        points = np.empty((len(q), 3), dtype=np.float32)
        ids = np.empty(len(q), dtype=np.int64)
        for lo in range(0, len(q), self.batch_size):
            hi = min(lo + self.batch_size, len(q))
            points[lo:hi], ids[lo:hi], _ = self._nearest(q[lo:hi])
        return points, ids

    def labels_at_np(self, q) -> np.ndarray:
        """(M, 3) -> (M,) int64 label of the nearest surface element (Voronoi rule)."""
        self._require_labels()
        return self.query_np(q, grad=False, labels=True)[2]

    def _require_labels(self) -> None:
        if self.labels is None:
            raise ValueError(f"{type(self).__name__} was built without labels; semantics are unavailable")

    # ---- torch entry points (Field protocol) --------------------------------------------------------
    def udf(self, q: torch.Tensor) -> torch.Tensor:
        """q: (M, 3) float -> (M,) float32 unsigned distances."""
        return torch.from_numpy(self.udf_np(q)).to(_device(q))

    def udf_and_grad(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q: (M, 3) -> distances (M,) float32 and analytic gradients (M, 3) float32 (unit length off the surface)."""
        d, g, _ = self.query_np(q, grad=True, labels=False)
        return torch.from_numpy(d).to(_device(q)), torch.from_numpy(g).to(_device(q))

    def closest(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q: (M, 3) -> closest surface points (M, 3) float32 and element ids (M,) int64."""
        p, i = self.closest_np(q)
        return torch.from_numpy(p).to(_device(q)), torch.from_numpy(i).to(_device(q))

    def labels_at(self, q: torch.Tensor) -> torch.Tensor:
        """q: (M, 3) -> (M,) int64 label of the nearest surface element (``IGNORE_LABEL`` where unlabelled)."""
        return torch.from_numpy(self.labels_at_np(q)).to(_device(q))

    def semantics(self, q: torch.Tensor) -> torch.Tensor:
        """q: (M, 3) -> (M, C) float32 one-hot of :meth:`labels_at`; rows of unlabelled elements are all zero.

        Raises ValueError when the field has no labels.
        """
        lab = self.labels_at_np(q)
        out = np.zeros((len(lab), self.num_classes), dtype=np.float32)
        valid = np.flatnonzero(lab >= 0)
        out[valid, lab[valid]] = 1.0
        return torch.from_numpy(out).to(_device(q))


def _device(q) -> torch.device:
    return q.device if isinstance(q, torch.Tensor) else torch.device("cpu")


class ZeroAreaMeshError(ValueError):
    """A mesh none of whose faces has an area: it has no surface (:meth:`MeshField.from_scan` names the file)."""


class MeshField(_GroundTruthField):
    """Exact unsigned distance to a triangle mesh (Open3D ``RaycastingScene`` closest-point queries).

    Parameters
    ----------
    mesh: the surface, in unit-cube coordinates. Open or closed, any orientation (distances are unsigned).
    labels: (F,) int per-face labels (``IGNORE_LABEL`` = -1 for unlabelled faces), or None.
    num_classes: size of the label space (one-hot width of :meth:`semantics`); default max label + 1.
    batch_size: queries per batch.

    Open3D works in float32: distances are exact up to float32 rounding (~1e-7 in unit-cube units).
    """

    def __init__(self, mesh: trimesh.Trimesh, labels: np.ndarray | None = None, num_classes: int | None = None,
                 *, batch_size: int = DEFAULT_BATCH_SIZE):
        if mesh is None or len(mesh.faces) == 0:
            raise ValueError("MeshField needs a mesh with at least one face")
        self.vertices = np.ascontiguousarray(mesh.vertices, dtype=np.float32)
        self.faces = np.ascontiguousarray(mesh.faces, dtype=np.uint32)
        self.face_normals = face_normals(self.vertices, self.faces)
        if not self.face_normals.any():  # a face with an area has a unit normal
            raise ZeroAreaMeshError(f"every one of the mesh's {len(self.faces):,} faces has zero area: there is no "
                                    "surface to measure distances to")
        self.labels, self.num_classes = _check_labels(labels, len(self.faces), "faces", num_classes)
        self.batch_size = int(batch_size)
        self._scene = None

    @classmethod
    def from_scan(cls, scan: Scan, **kwargs) -> MeshField:
        """The field of ``scan.mesh`` with per-face labels from :func:`face_labels_from_scan`.

        Raises :class:`~nir_core.errors.MeshRequiredError` when the scan has no faces (e.g. a point cloud) or none
        with an area.
        """
        source = scan.source if scan.source is not None else "<in-memory scan>"
        if not scan.has_faces:
            raise MeshRequiredError(source, "exact surface distances need a mesh with faces, but this scan is a "
                                            "point set")
        num_classes = kwargs.pop("num_classes", len(scan.label_set) if scan.label_set is not None else None)
        try:
            return cls(scan.mesh, face_labels_from_scan(scan), num_classes, **kwargs)
        except ZeroAreaMeshError as exc:
            raise MeshRequiredError(source, str(exc)) from None

    @property
    def scene(self):
        """The Open3D raycasting scene, built on first use (it cannot be pickled, so workers rebuild it)."""
        if self._scene is None:
            import open3d as o3d

            scene = o3d.t.geometry.RaycastingScene()
            scene.add_triangles(o3d.core.Tensor(self.vertices), o3d.core.Tensor(self.faces))
            self._scene = scene
        return self._scene

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_scene"] = None
        return state

    def _nearest(self, q):
        import open3d as o3d

        if len(q) == 0:
            return np.zeros((0, 3), np.float32), np.zeros(0, np.int64), np.zeros((0, 3), np.float32)
        res = self.scene.compute_closest_points(o3d.core.Tensor(q))
        points, index = res["points"].numpy(), res["primitive_ids"].numpy().astype(np.int64)
        missed = index >= len(self.faces)  # Open3D's invalid id: no triangle it kept (it drops zero-area ones)
        if missed.any():  # cannot happen with a face of some area; NaN lets extractors count and repair it
            points, index = points.copy(), np.where(missed, 0, index)
            points[missed] = np.nan
        # Not Open3D's primitive normals: those are NaN on zero-area triangles, which CAD meshes often hold.
        return points, index, self.face_normals[index]


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 3) float32 unit normals of the triangles ``faces`` (F, 3) over ``vertices`` (V, 3), finite for every face.

    A zero-area triangle (repeated or collinear corners) has no plane of its own: it takes the area-weighted mean
    normal of the faces that touch its corners (corners at the same position count as one, so coincident
    vertices with different indices still connect), and zero when those cancel out or do not exist (an isolated
    segment or point, where an unsigned distance has no gradient on the surface).
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    area_normals = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])  # length: twice the area
    length = np.linalg.norm(area_normals, axis=1)
    scale = max(float(np.abs(v).max()) if len(v) else 1.0, 1e-30)
    degenerate = length <= 1e-12 * scale**2  # zero up to float64 rounding at the mesh's extent
    normals = np.zeros_like(area_normals)
    normals[~degenerate] = area_normals[~degenerate] / length[~degenerate, None]
    if degenerate.any():
        _, position = np.unique(v, axis=0, return_inverse=True)  # coincident vertices -> one position id
        corner_position = position.reshape(-1)[f]
        around = np.zeros((position.max() + 1, 3))
        np.add.at(around, corner_position[~degenerate].reshape(-1),
                  np.repeat(area_normals[~degenerate], 3, axis=0))
        mean = around[corner_position[degenerate]].sum(axis=1)
        mean_length = np.linalg.norm(mean, axis=1, keepdims=True)
        normals[degenerate] = np.where(mean_length > 0, mean / np.maximum(mean_length, 1e-300), 0.0)
    return normals.astype(np.float32)


class PointsField(_GroundTruthField):
    """Unsigned distance to a dense point set (no faces, e.g. ScanNet vertex samples), via a KD-tree.

    Parameters
    ----------
    points: (N, 3) surface samples, unit-cube coordinates.
    labels: (N,) int per-point labels (``IGNORE_LABEL`` = -1 for unlabelled points), or None.
    num_classes: size of the label space; default max label + 1.
    normals: (N, 3) optional point normals, used as the gradient exactly on a sample point.
    batch_size: queries per batch.

    The distance over-estimates the true surface distance by at most about the sample spacing.
    """

    def __init__(self, points: np.ndarray, labels: np.ndarray | None = None, num_classes: int | None = None,
                 *, normals: np.ndarray | None = None, batch_size: int = DEFAULT_BATCH_SIZE):
        points = np.ascontiguousarray(points, dtype=np.float32)
        if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
            raise ValueError(f"PointsField needs (N, 3) points with N >= 1, got {points.shape}")
        self.points = points
        self.normals = None if normals is None else np.ascontiguousarray(normals, dtype=np.float32)
        if self.normals is not None and self.normals.shape != points.shape:
            raise ValueError(f"normals {self.normals.shape} do not match points {points.shape}")
        self.labels, self.num_classes = _check_labels(labels, len(points), "points", num_classes)
        self.batch_size = int(batch_size)
        self.tree = cKDTree(points, balanced_tree=False)

    def _nearest(self, q):
        _, idx = self.tree.query(q, k=1, workers=-1)
        idx = idx.astype(np.int64)
        return self.points[idx], idx, None if self.normals is None else self.normals[idx]


SURFEL_NEIGHBOURS = 16
"""Neighbours fitted by the plane (PCA) that gives each surfel its normal."""
SURFEL_RADIUS_NEIGHBOUR = 4
"""A surfel's radius is the distance to its point's 4th nearest neighbour: with sample points spread like a
Poisson process of density rho, disks of that radius cover 1 - exp(-4) = 98% of the surface."""
SURFEL_CANDIDATES = 8
"""Surfels tried per query (its nearest centres); the closest disk among them answers."""


def estimate_normals(points: np.ndarray, neighbours: int = SURFEL_NEIGHBOURS,
                     tree: cKDTree | None = None) -> np.ndarray:
    """(N, 3) points -> (N, 3) float32 unit normals of the least-squares plane through each point's neighbours
    (unoriented: the sign is arbitrary, which an unsigned distance does not mind)."""
    points = np.asarray(points, dtype=np.float64)
    k = min(neighbours, len(points))
    tree = tree or cKDTree(points)
    _, idx = tree.query(points, k=k, workers=-1)
    local = points[idx.reshape(len(points), k)]
    local -= local.mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", local, local)
    _, vectors = np.linalg.eigh(cov)  # ascending eigenvalues: the first eigenvector is the plane's normal
    return np.ascontiguousarray(vectors[:, :, 0], dtype=np.float32)


class SurfelsField(PointsField):
    """Unsigned distance to a point set read as a surface: a small oriented disk (surfel) at every point.

    A point scan samples a surface but is not one: the distance to its *points* is zero only at the points and
    bulges up to half the sample spacing between them, an egg-crate field whose gradients point at single points
    instead of along the surface normal. Trained on it, a network learns no sheet to extract. The disks close
    the gaps: each point ``p`` carries the disk of radius ``r`` (the distance to its
    :data:`SURFEL_RADIUS_NEIGHBOUR`-th neighbour) in the plane of its neighbours (normal ``n``, from the scan
    when it has normals, else :func:`estimate_normals`), and the field is the distance to the closest disk
    among the query's :data:`SURFEL_CANDIDATES` nearest centres, ``sqrt(max(l - r, 0)^2 + h^2)`` with ``h`` the
    height above the disk's plane and ``l`` the offset along it. It is zero on a sheet through the points and
    follows the surface normal near it; disks overhang open borders by up to ``r``.

    Parameters as :class:`PointsField`; labels and gradients come from the closest disk.
    """

    def __init__(self, points: np.ndarray, labels: np.ndarray | None = None, num_classes: int | None = None,
                 *, normals: np.ndarray | None = None, batch_size: int = DEFAULT_BATCH_SIZE):
        super().__init__(points, labels, num_classes, normals=normals, batch_size=batch_size)
        if len(self.points) <= SURFEL_RADIUS_NEIGHBOUR:
            raise ValueError(f"SurfelsField needs more than {SURFEL_RADIUS_NEIGHBOUR} points, got {len(self.points)}")
        if self.normals is None:
            self.normals = estimate_normals(self.points, tree=self.tree)
        else:
            self.normals = self.normals / np.maximum(np.linalg.norm(self.normals, axis=1, keepdims=True), 1e-12)
        spacing, _ = self.tree.query(self.points, k=SURFEL_RADIUS_NEIGHBOUR + 1, workers=-1)
        self.radii = np.ascontiguousarray(spacing[:, -1], dtype=np.float32)

    def _nearest(self, q):
        k = min(SURFEL_CANDIDATES, len(self.points))
        _, idx = self.tree.query(q, k=k, workers=-1)
        idx = idx.reshape(len(q), k).astype(np.int64)
        offset = q[:, None, :] - self.points[idx]                       # (m, k, 3)
        normal = self.normals[idx]                                      # (m, k, 3)
        height = np.einsum("mki,mki->mk", offset, normal)               # (m, k)
        along = offset - height[..., None] * normal                     # in-plane offset (m, k, 3)
        length = np.sqrt(np.einsum("mki,mki->mk", along, along))
        inside = np.minimum(1.0, self.radii[idx] / np.maximum(length, 1e-12))
        closest = self.points[idx] + along * inside[..., None]          # nearest point of each disk (m, k, 3)
        gap = q[:, None, :] - closest
        best = np.argmin(np.einsum("mki,mki->mk", gap, gap), axis=1)
        rows = np.arange(len(q))
        return (np.ascontiguousarray(closest[rows, best], dtype=np.float32), idx[rows, best],
                normal[rows, best])


def face_labels_from_scan(scan: Scan) -> np.ndarray | None:
    """(F,) int64 per-face labels of ``scan.mesh`` from the scan's per-point labels, or None.

    When the points are the mesh vertices (what the mesh loaders return), a face takes the majority label
    of its three vertices; with no majority (three different labels) it takes its first vertex's label.
    ``IGNORE_LABEL`` counts as a label like any other. When the points are not the vertices (a labelled point
    set carried with a separate mesh), each face takes the label of the point nearest its centroid.
    """
    if scan.labels is None or not scan.has_faces:
        return None
    labels = np.asarray(scan.labels).astype(np.int64)
    faces = np.asarray(scan.mesh.faces)
    if len(labels) == len(scan.mesh.vertices):
        a, b, c = labels[faces].T
        return np.where(b == c, b, a)
    _, idx = cKDTree(np.asarray(scan.points, dtype=np.float64)).query(scan.mesh.triangles_center, workers=-1)
    return labels[idx]


def field_from_scan(scan: Scan, *, prefer_mesh: bool = True, **kwargs) -> MeshField | SurfelsField:
    """The ground-truth field of a scan: a :class:`MeshField` when it has faces (and ``prefer_mesh``), else a
    :class:`SurfelsField` over its points (with their labels and normals): the surface the points sample, not
    the points themselves (:class:`PointsField`), whose distance never reaches zero between them.

    ``kwargs`` (e.g. ``batch_size``) go to the field's constructor. The scan should already be in unit-cube
    coordinates (:meth:`Scan.normalised`); the field answers in the scan's own coordinates.
    """
    if prefer_mesh and scan.has_faces:
        return MeshField.from_scan(scan, **kwargs)
    kwargs.setdefault("num_classes", len(scan.label_set) if scan.label_set is not None else None)
    return SurfelsField(scan.points, scan.labels, normals=scan.normals, **kwargs)
