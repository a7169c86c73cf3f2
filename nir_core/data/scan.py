"""The in-memory scan every loader returns and every later stage consumes."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import trimesh

from .labels import LabelSet
from .normalise import Normalisation


@dataclass
class Scan:
    """A point set (optionally with a mesh) and its per-point attributes.

    For a mesh file, ``points`` are the mesh vertices and the per-point attributes are per vertex.
    """

    points: np.ndarray
    """(N, 3) float32 coordinates."""
    colors: np.ndarray | None = None
    """(N, 3) uint8 RGB per point, or None."""
    normals: np.ndarray | None = None
    """(N, 3) float32 unit normals per point, or None."""
    labels: np.ndarray | None = None
    """(N,) int64 class ids into ``label_set`` (``IGNORE_LABEL`` = -1 for unlabelled), or None."""
    label_set: LabelSet | None = None
    """Class names and palette of ``labels``."""
    mesh: trimesh.Trimesh | None = None
    """The surface when the input has faces, in the same coordinates as ``points``."""
    source: Path | None = None
    """The file or folder the scan was read from."""
    normalisation: Normalisation = field(default_factory=Normalisation.identity)
    """Transform from the source file's coordinates to these coordinates (identity when not normalised)."""
    extra: dict = field(default_factory=dict)
    """Loader-specific metadata (e.g. ``{"category": "Car"}``, raw NYU40 ids, instance ids)."""

    def __len__(self) -> int:
        return len(self.points)

    @property
    def class_names(self) -> tuple[str, ...] | None:
        return self.label_set.names if self.label_set is not None else None

    @property
    def has_faces(self) -> bool:
        return self.mesh is not None and len(self.mesh.faces) > 0

    def bounds(self) -> np.ndarray:
        """(2, 3) min and max corner of the points."""
        return np.stack([self.points.min(axis=0), self.points.max(axis=0)])

    def label_histogram(self) -> dict[str, int]:
        """Points per class name; empty when the scan has no labels."""
        if self.labels is None or self.label_set is None:
            return {}
        return self.label_set.histogram(self.labels)

    def normalised(self, margin: float = 0.0) -> Scan:
        """A copy moved into the unit cube ``[-0.5, 0.5]^3`` (see :mod:`nir_core.data.normalise`).

        ``result.normalisation`` maps the *source file's* coordinates to the result's, so
        ``result.normalisation.invert(p)`` takes any output point back to the input's frame.
        """
        step = Normalisation.fit(self.points if not self.has_faces else self.mesh.vertices, margin)
        mesh = None
        if self.mesh is not None:
            mesh = self.mesh.copy()
            mesh.apply_transform(step.matrix())
        return replace(
            self,
            points=step.apply(self.points),
            mesh=mesh,
            normalisation=self.normalisation.then(step),
            extra=dict(self.extra),
        )

    def colours_at(self, points: np.ndarray) -> np.ndarray | None:
        """(M, 3) float32 colours in [0, 1] of ``points`` (M, 3) in this scan's coordinates: each one's nearest scan
        point's (exact for points drawn from the scan), or None when the scan has no colours."""
        if self.colors is None:
            return None
        from scipy.spatial import cKDTree

        _, nearest = cKDTree(self.points).query(np.asarray(points, np.float64), workers=-1)
        return np.asarray(self.colors, np.float32)[nearest] / 255.0

    def subset(self, index: np.ndarray) -> Scan:
        """The scan restricted to ``points[index]`` (the mesh, if any, is dropped: it no longer matches)."""
        pick = lambda a: None if a is None else a[index]
        return replace(self, points=self.points[index], colors=pick(self.colors), normals=pick(self.normals),
                       labels=pick(self.labels), mesh=None, extra=dict(self.extra))
