"""Floor-plan bookkeeping for furniture placement: oriented footprints, keep-clear zones, pose proposals.

Placement is rejection sampling: a pose is proposed (against a wall, in a corner, free in the room, or
relative to an anchor such as chairs around a table), its oriented footprint is tested against the room's
interior, the footprints already placed (plus a margin) and the keep-clear zones (door swings, the space
under windows and curtains, limited in height), and accepted or redrawn a bounded number of times.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .primitives import Furniture, pose
from .structure import Wall


@dataclass(frozen=True)
class Footprint:
    """Oriented rectangle on the floor."""

    center: tuple[float, float]
    """World xy of the rectangle's centre."""
    half: tuple[float, float]
    """Half extents along the rectangle's own x and y axes."""
    angle: float
    """Rotation of the rectangle's x axis from world +x, radians."""
    round: bool = False
    """When True the shape is the disc of radius ``max(half)`` about ``center`` (round tables, stools)."""

    def axes(self) -> np.ndarray:
        """(2, 2) rows: the rectangle's unit x and y axes in the world."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        return np.array([[c, s], [-s, c]])

    def corners(self) -> np.ndarray:
        """(4, 2) world xy corners, counter-clockwise."""
        ax = self.axes() * np.asarray(self.half)[:, None]
        signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])
        return np.asarray(self.center) + signs @ ax

    @property
    def radius(self) -> float:
        return float(max(self.half))

    def distance_to_point(self, p) -> float:
        """Distance from world xy ``p`` to the shape (0 inside)."""
        d = np.asarray(p, dtype=np.float64) - np.asarray(self.center)
        if self.round:
            return max(0.0, float(np.linalg.norm(d)) - self.radius)
        local = np.abs(self.axes() @ d) - np.asarray(self.half)
        return float(np.linalg.norm(np.maximum(local, 0.0)))

    def overlaps(self, other: Footprint, margin: float = 0.0) -> bool:
        """Whether the two shapes come closer than ``margin`` (separating axes for two rectangles, exact
        distances when one is a disc)."""
        if self.round or other.round:
            disc, shape = (self, other) if self.round else (other, self)
            if shape.round:
                gap = np.linalg.norm(np.subtract(disc.center, shape.center)) - disc.radius - shape.radius
                return bool(gap < margin)
            return shape.distance_to_point(disc.center) < disc.radius + margin
        a, b = self.corners(), other.corners()
        for axis in np.concatenate([self.axes(), other.axes()]):
            pa, pb = a @ axis, b @ axis
            if pa.max() + margin <= pb.min() or pb.max() + margin <= pa.min():
                return False
        return True

    def inside(self, width: float, depth: float, eps: float = 0.0) -> bool:
        """Whether all corners lie in the interior ``[0, width] x [0, depth]`` (tolerance ``eps``)."""
        c = self.corners()
        return bool(np.all(c >= -eps) and np.all(c[:, 0] <= width + eps) and np.all(c[:, 1] <= depth + eps))

    def to_json(self) -> dict:
        return {"center": [float(v) for v in self.center], "half": [float(v) for v in self.half],
                "angle": float(self.angle), "round": self.round}


def footprint_of(transform: np.ndarray, furniture: Furniture) -> Footprint:
    """Footprint of ``furniture`` (local bounding box, centred on its origin) placed by the (4, 4) ``transform``."""
    angle = float(np.arctan2(transform[1, 0], transform[0, 0]))
    return Footprint((float(transform[0, 3]), float(transform[1, 3])),
                     (float(furniture.size[0] / 2), float(furniture.size[1] / 2)), angle, furniture.round_footprint)


def wall_rect(wall: Wall, u0: float, u1: float, v0: float, v1: float) -> Footprint:
    """Footprint of the wall-local rectangle ``[u0, u1] x [v0, v1]``."""
    c = wall.point((u0 + u1) / 2, (v0 + v1) / 2)
    return Footprint((float(c[0]), float(c[1])), ((u1 - u0) / 2, (v1 - v0) / 2), wall.angle)


@dataclass
class Occupant:
    """Something standing on the floor plan."""

    footprint: Footprint
    """Its oriented rectangle."""
    height: float
    """Top of it above the floor, metres."""
    group: int
    """Placement group of the item."""


class FloorPlan:
    """The interior rectangle, what stands in it, and zones kept clear above a height."""

    def __init__(self, width: float, depth: float):
        self.width, self.depth = width, depth
        self.occupants: list[Occupant] = []
        self.zones: list[tuple[Footprint, float]] = []

    def add_zone(self, footprint: Footprint, max_height: float) -> None:
        """Keep ``footprint`` free of anything taller than ``max_height`` (0: keep it empty)."""
        self.zones.append((footprint, max_height))

    def fits(self, footprint: Footprint, height: float, margin: float, near_group: int | None = None,
             near_margin: float = 0.02) -> bool:
        """Whether ``footprint`` of an object ``height`` tall can stand here: inside the room, ``margin`` from
        other occupants (``near_margin`` from the item of group ``near_group``, e.g. the table a chair goes
        to) and out of every zone it is too tall for."""
        if not footprint.inside(self.width, self.depth):
            return False
        for occ in self.occupants:
            m = near_margin if occ.group == near_group else margin
            if footprint.overlaps(occ.footprint, m):
                return False
        return not any(height > h and footprint.overlaps(z) for z, h in self.zones)

    def occupy(self, footprint: Footprint, height: float, group: int) -> None:
        self.occupants.append(Occupant(footprint, height, group))


# --------------------------------------------------------------------------------------------- proposals
def propose_on_wall(rng: np.random.Generator, wall: Wall, furniture: Furniture, corner: bool) -> np.ndarray:
    """(4, 4) pose with the back of ``furniture`` against ``wall`` (in a corner of it when ``corner``).

    A small random yaw is allowed; the gap to the wall grows with it so no corner enters the wall.
    """
    w, d = furniture.size[0], furniture.size[1]
    yaw = 0.0 if corner else float(rng.normal(0.0, np.deg2rad(1.0)))
    gap = 0.005 + abs(np.sin(yaw)) * w / 2 + float(rng.uniform(0.0, 0.03))
    if corner:
        side = 0.005 + float(rng.uniform(0.0, 0.02))
        u = w / 2 + side if rng.random() < 0.5 else wall.length - w / 2 - side
    else:
        u = float(rng.uniform(w / 2, max(w / 2, wall.length - w / 2)))
    # In wall coordinates the furniture faces +v: a half turn of its frame (front -y).
    return wall.matrix() @ pose(u, d / 2 + gap, np.pi + yaw)


def propose_free(rng: np.random.Generator, width: float, depth: float, furniture: Furniture) -> np.ndarray:
    """(4, 4) pose anywhere in the room; mostly aligned with the walls (a little off), sometimes any yaw."""
    r = min(furniture.size[0], furniture.size[1]) / 2
    x = float(rng.uniform(r, max(r, width - r)))
    y = float(rng.uniform(r, max(r, depth - r)))
    if rng.random() < 0.7:
        yaw = np.pi / 2 * int(rng.integers(4)) + float(rng.normal(0.0, np.deg2rad(5.0)))
    else:
        yaw = float(rng.uniform(-np.pi, np.pi))
    return pose(x, y, yaw)


def companion_slots(anchor_kind: str, anchor: Furniture, companion: Furniture, rng: np.random.Generator
                    ) -> list[np.ndarray]:
    """Poses, in the anchor's frame, for companions of ``anchor`` (shuffled; the caller tries each once).

    Chairs go in front of desks and around tables, facing them; a coffee table goes in front of a sofa;
    bedside cabinets go beside the head of a bed, backs against the same wall.
    """
    aw, ad = anchor.size[0], anchor.size[1]
    cw, cd = companion.size[0], companion.size[1]
    slots = []
    if anchor_kind == "desk":
        slots.append(pose(float(rng.uniform(-0.15, 0.15)) * aw, -(ad / 2 + cd / 2 + rng.uniform(0.02, 0.25)),
                          np.pi + rng.normal(0.0, np.deg2rad(12.0))))
    elif anchor_kind in ("dining_table", "round_table"):
        gap = lambda: float(rng.uniform(0.03, 0.12))  # noqa: E731
        if anchor_kind == "round_table":
            n = max(2, int(np.pi * aw / 0.65))
            phase = float(rng.uniform(0, 2 * np.pi))
            for k in range(n):
                phi = phase + 2 * np.pi * k / n
                r = aw / 2 + cd / 2 + gap()
                slots.append(pose(r * np.cos(phi), r * np.sin(phi), phi - np.pi / 2))
        else:
            per_side = max(1, int(aw // 0.6))
            for i in range(per_side):
                x = -aw / 2 + (i + 0.5) * aw / per_side
                slots.append(pose(x, -(ad / 2 + cd / 2 + gap()), -np.pi))
                slots.append(pose(x, ad / 2 + cd / 2 + gap(), 0.0))
            for sx in (-1, 1):
                slots.append(pose(sx * (aw / 2 + cd / 2 + gap()), 0.0, sx * np.pi / 2 - np.pi))
        slots = [s @ pose(0.0, 0.0, float(rng.normal(0.0, np.deg2rad(6.0)))) for s in slots]
    elif anchor_kind == "sofa":
        slots.append(pose(float(rng.uniform(-0.1, 0.1)) * aw, -(ad / 2 + cd / 2 + rng.uniform(0.3, 0.5)), 0.0))
    elif anchor_kind == "bed":
        for sx in (-1, 1):
            slots.append(pose(sx * (aw / 2 + cw / 2 + rng.uniform(0.02, 0.1)), ad / 2 - cd / 2 - 0.01, 0.0))
    order = rng.permutation(len(slots))
    return [slots[i] for i in order]


def segment_free(u0: float, u1: float, taken: list[tuple[float, float]], gap: float) -> bool:
    """Whether the interval ``[u0, u1]`` keeps ``gap`` from every interval in ``taken``."""
    return all(u1 + gap <= a or b + gap <= u0 for a, b in taken)
