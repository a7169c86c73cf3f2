"""A labelling baseline a learned semantic head must beat by far: three rules on the input points of a room.

- floor: the point's normal is within :data:`FLOOR_TILT_DEG` of vertical and its height within
  :data:`FLOOR_BAND_M` of the :data:`FLOOR_QUANTILE` height quantile (the floor's height, robust to a few points
  below it);
- wall: the normal is within :data:`WALL_TILT_DEG` of horizontal;
- everything else: one fallback class, e.g. the room's commonest class other than wall and floor (an oracle's
  choice: the rules alone cannot name furniture).

Normals are those of the least-squares plane through each point's neighbours; the up axis is z and the units are
metres, as in ScanNet and the generated rooms.
"""
from __future__ import annotations

import numpy as np

from .data.ground_truth import estimate_normals
from .data.labels import LabelSet

FLOOR_TILT_DEG = 25.0
"""Largest angle between a floor point's normal and the vertical."""
FLOOR_BAND_M = 0.15
"""Largest height of a floor point above (or below) the floor's height, in metres."""
FLOOR_QUANTILE = 0.02
"""The height quantile that stands for the floor's height."""
WALL_TILT_DEG = 17.0
"""Largest angle between a wall point's normal and the horizontal plane."""


def commonest_other_class(labels: np.ndarray, label_set: LabelSet) -> int:
    """The most frequent of ``labels`` (N,) other than wall, floor and unlabelled (-1); wall's index when there is
    none."""
    structural = {label_set.index("wall"), label_set.index("floor")}
    counts = np.bincount(labels[labels >= 0], minlength=len(label_set))
    for i in np.argsort(-counts, kind="stable"):
        if int(i) not in structural and counts[i] > 0:
            return int(i)
    return label_set.index("wall")


def three_rule_labels(points: np.ndarray, label_set: LabelSet, fallback: int,
                      normals: np.ndarray | None = None) -> np.ndarray:
    """(N,) int64 labels of ``points`` (N, 3), metres with z up, by the three rules of this module.

    ``label_set`` must name ``wall`` and ``floor``; ``fallback`` is the class of every other point; ``normals``
    (N, 3): the points' normals (any sign), estimated from their neighbours when None.
    """
    points = np.asarray(points, np.float64)
    if normals is None:
        normals = estimate_normals(points)
    normals = np.asarray(normals, np.float64)
    vertical = np.abs(normals[:, 2]) / np.maximum(np.linalg.norm(normals, axis=1), 1e-12)  # |cos| to the z axis
    floor_height = np.quantile(points[:, 2], FLOOR_QUANTILE)
    is_floor = (vertical >= np.cos(np.radians(FLOOR_TILT_DEG))) & (np.abs(points[:, 2] - floor_height) <= FLOOR_BAND_M)
    is_wall = vertical <= np.sin(np.radians(WALL_TILT_DEG))
    labels = np.full(len(points), int(fallback), np.int64)
    labels[is_wall] = label_set.index("wall")
    labels[is_floor] = label_set.index("floor")
    return labels
