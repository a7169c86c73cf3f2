"""Normalisation into the unit cube centred at the origin, and back.

NDF and RangeUDF prepare every scene the same way: translate the bounding-box centre to the origin and scale
so that the longest side is 1, i.e. the scene fits ``[-0.5, 0.5]^3``. Sampling sigmas, Chamfer distances and
F1-delta thresholds are all in these units. The transform is kept so outputs map back to the input's frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalisation:
    """Similarity transform ``x_unit = (x_input - center) * scale`` (no rotation)."""

    center: tuple[float, float, float]
    """Centre of the input's bounding box, in input coordinates."""
    scale: float
    """Multiplier from input units to unit-cube units (1 / longest side, times (1 - 2 * margin))."""

    @classmethod
    def identity(cls) -> Normalisation:
        return cls(center=(0.0, 0.0, 0.0), scale=1.0)

    @classmethod
    def fit(cls, points: np.ndarray, margin: float = 0.0) -> Normalisation:
        """Transform that maps ``points`` ((N, 3)) into ``[-0.5 + margin, 0.5 - margin]^3``, aspect kept.

        A degenerate extent (all points equal) keeps scale 1 so the transform stays invertible.
        """
        if not 0.0 <= margin < 0.5:
            raise ValueError(f"margin must be in [0, 0.5), got {margin}")
        points = np.asarray(points, dtype=np.float64)
        lo, hi = points.min(axis=0), points.max(axis=0)
        extent = float((hi - lo).max())
        scale = (1.0 - 2.0 * margin) / extent if extent > 0 else 1.0
        return cls(center=tuple(float(c) for c in (lo + hi) / 2.0), scale=float(scale))

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) input coordinates -> (N, 3) unit-cube coordinates (float32 unless given float64)."""
        points = np.asarray(points)
        out = (points - np.asarray(self.center)) * self.scale
        return out.astype(points.dtype if points.dtype == np.float64 else np.float32)

    def invert(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) unit-cube coordinates -> (N, 3) input coordinates."""
        points = np.asarray(points)
        out = points / self.scale + np.asarray(self.center)
        return out.astype(points.dtype if points.dtype == np.float64 else np.float32)

    def then(self, other: Normalisation) -> Normalisation:
        """The transform ``other(self(x))`` as one :class:`Normalisation`."""
        # other((x - c1) s1) = ((x - c1) s1 - c2) s2 = (x - (c1 + c2 / s1)) s1 s2
        c = np.asarray(self.center) + np.asarray(other.center) / self.scale
        return Normalisation(center=tuple(float(v) for v in c), scale=self.scale * other.scale)

    def matrix(self) -> np.ndarray:
        """(4, 4) homogeneous matrix of the transform (input -> unit cube)."""
        m = np.eye(4)
        m[:3, :3] *= self.scale
        m[:3, 3] = -np.asarray(self.center) * self.scale
        return m

    def to_json(self) -> dict:
        return {"center": list(self.center), "scale": self.scale}

    @classmethod
    def from_json(cls, d: dict) -> Normalisation:
        return cls(center=tuple(float(v) for v in d["center"]), scale=float(d["scale"]))


SPREAD_TOLERANCE = 1e-5
"""Relative spread below which a direction counts as flat: a point set's second (third) principal extent under this
share of its first is a line (a plane); float32 rounding of a truly flat set sits far below it, real scans far above."""


def describe_spread(points: np.ndarray, max_points: int = 100_000) -> str | None:
    """What is degenerate about a point set's shape, in words, or None when it spans a volume.

    ``"coincide"`` (every point the same), ``"collinear"`` (on one line) or ``"coplanar"`` (on one plane), judged
    by the principal extents of ``points`` ((N, 3); an even subset of ``max_points`` of them when there are more).
    """
    points = np.asarray(points, dtype=np.float64)
    if len(points) > max_points:
        points = points[np.linspace(0, len(points) - 1, max_points).astype(np.int64)]
    centred = points - points.mean(axis=0)
    extent = np.abs(centred).max() if len(points) else 0.0
    if not extent > 1e-12 * max(1.0, float(np.abs(points).max(initial=0.0))):
        return "coincide"
    spread = np.linalg.svd(centred / extent, compute_uv=False)
    if spread[1] < SPREAD_TOLERANCE * spread[0]:
        return "collinear"
    if spread[2] < SPREAD_TOLERANCE * spread[0]:
        return "coplanar"
    return None
