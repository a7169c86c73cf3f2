"""Augmentations of a training example, the ones indoor segmentation uses: a part of the room, a turn about the
vertical, a change of scale and point drop-out (jitter is ``SceneSamplingConfig.input_noise``), a change of the
colours' white balance and brightness, or no colours at all; and per-query weights that balance rare classes.

They act on one example in its unit cube (z up): the encoder's input points and the queries with their distances
and labels move together, so every target stays exact (a similarity scales distances by its factor; drop-out touches
the input only).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Config, bounded, check_ranges
from ..data.labels import IGNORE_LABEL


@dataclass
class AugmentConfig(Config):
    """Which augmentations a training example gets (all off by default)."""

    rotate: bool = False
    """Turn the example about the vertical (z) by a uniform random angle."""
    scale: tuple[float, float] = (1.0, 1.0)
    """Range of a uniform random scale factor (the example is shrunk back into the unit cube if it leaves it)."""
    dropout: float = bounded(0.0, 0.0, 0.9)
    """Largest share of input points dropped (a uniform share up to this; the input is refilled by repeating the
    remaining points, so its size is unchanged and the density drops)."""
    crop: float = bounded(0.0, 0.0, 1.0)
    """Probability that the example is a part of the room: an axis-aligned box in x and y covering a random
    ``crop_min``-to-1 share of each side; input points and queries outside it are left out (queries are redrawn
    from those inside)."""
    crop_min: float = bounded(0.5, 0.05, 1.0)
    """Smallest share of each side a crop keeps."""
    colour_jitter: float = bounded(0.0, 0.0, 1.0)
    """Largest relative change of the input colours' brightness and of each channel's gain (white balance), drawn
    per example, so a model cannot learn one scan's or one generator palette's exact colours."""
    colour_drop: float = bounded(0.0, 0.0, 1.0)
    """Probability that an example's colours are withheld (all ``NO_COLOUR``), so a model that reads colour still
    labels scans without any."""
    class_balance: float = bounded(0.0, 0.0, 1.0)
    """Weigh each labelled query by (its class's share of the example's labelled queries) ** -class_balance,
    normalised to mean 1: 0 is plain cross-entropy, 0.5 the inverse square root, 1 full inverse frequency."""

    def __post_init__(self):
        lo, hi = self.scale
        if not 0 < lo <= hi:
            raise ValueError(f"augment.scale must be a range 0 < low <= high, got {self.scale}")
        check_ranges(self)

    @property
    def active(self) -> bool:
        return self.rotate or tuple(self.scale) != (1.0, 1.0) or self.dropout > 0 or self.crop > 0


def augment(points: np.ndarray, queries: np.ndarray, udf: np.ndarray, labels: np.ndarray, cfg: AugmentConfig,
            rng: np.random.Generator, colours: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """One augmented copy of an example (the geometric augmentations; colours follow their points).

    points: (N, 3) encoder input; queries: (M, 3); udf: (M,) their distances; labels: (M,) their labels;
    colours: (N, 3) the input points' colours or None.
    Returns the same five with the same shapes (float32 points and queries).
    """
    points, queries = points.astype(np.float32, copy=True), queries.astype(np.float32, copy=True)
    udf, labels = udf.astype(np.float32, copy=True), labels.copy()
    # Which input point each output point is, so the colours can follow crops and drop-out.
    source = np.arange(len(points))
    if cfg.crop and rng.random() < cfg.crop:
        points, queries, udf, labels, source = _crop(points, queries, udf, labels, cfg.crop_min, rng)
    turn = np.eye(3, dtype=np.float32)
    if cfg.rotate:
        a = rng.uniform(0, 2 * np.pi)
        turn[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    factor = float(rng.uniform(*cfg.scale))
    points, queries = points @ turn.T * factor, queries @ turn.T * factor
    reach = float(np.abs(points).max()) if len(points) else 0.0
    if reach > 0.5:  # back into the unit cube the model was trained on
        points, queries, factor = points * (0.5 / reach), queries * (0.5 / reach), factor * 0.5 / reach
    udf = udf * factor
    if cfg.dropout:
        keep = rng.random(len(points)) >= rng.uniform(0, cfg.dropout)
        if keep.any():
            kept = np.flatnonzero(keep)
            refill = np.concatenate([kept, rng.choice(kept, len(points) - len(kept))])
            points, source = points[refill], source[refill]
    return points, queries, udf, labels, None if colours is None else colours[source]


def augment_colours(colours: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """colours (N, 3) in [0, 1] (``NO_COLOUR`` where unknown) -> a copy with the example's white balance and
    brightness changed (``colour_jitter``), or withheld altogether (``colour_drop``)."""
    from ..models.contextualiser import NO_COLOUR

    if cfg.colour_drop and rng.random() < cfg.colour_drop:
        return np.full_like(colours, NO_COLOUR)
    if not cfg.colour_jitter:
        return colours
    gain = rng.uniform(1 - cfg.colour_jitter, 1 + cfg.colour_jitter, 3) * rng.uniform(1 - cfg.colour_jitter,
                                                                                      1 + cfg.colour_jitter)
    known = (colours >= 0).all(axis=1, keepdims=True)
    return np.where(known, np.clip(colours * gain.astype(np.float32), 0.0, 1.0), colours)


def _crop(points, queries, udf, labels, smallest: float, rng: np.random.Generator):
    lo, hi = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    side = (hi - lo) * rng.uniform(smallest, 1.0, size=2)
    start = lo + (hi - lo - side) * rng.random(2)
    inside = lambda p: ((p[:, :2] >= start) & (p[:, :2] <= start + side)).all(axis=1)
    kept_points, kept_queries = np.flatnonzero(inside(points)), np.flatnonzero(inside(queries))
    if len(kept_points) < 16 or len(kept_queries) < 16:  # a box in a hole of the room: keep the whole example
        return points, queries, udf, labels, np.arange(len(points))
    # Redraw to the original counts, so every example in a batch keeps its shape.
    p = np.concatenate([kept_points, rng.choice(kept_points, len(points) - len(kept_points))])
    q = np.concatenate([kept_queries, rng.choice(kept_queries, len(queries) - len(kept_queries))])
    return points[p], queries[q], udf[q], labels[q], p


def class_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """(M,) per-query weights ``share(class) ** -power`` over the labelled queries, mean 1 over them (0 where the
    label is unknown). ``power`` 0 gives 1 everywhere a label is known."""
    weights = np.zeros(len(labels), np.float32)
    known = labels != IGNORE_LABEL
    if not known.any():
        return weights
    classes, inverse, counts = np.unique(labels[known], return_inverse=True, return_counts=True)
    w = (counts / counts.sum()) ** -power
    weights[known] = w[inverse]
    weights[known] /= weights[known].mean()
    return weights
