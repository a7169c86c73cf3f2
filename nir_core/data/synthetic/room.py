"""Procedural labelled indoor rooms: ``generate_room(seed, cfg) -> SyntheticRoom``.

A room is a box of 3-7 m by 3-7 m, 2.4-3 m high (metres, z up, floor at z = 0, interior
``[0, width] x [0, depth]``, like a ScanNet scene), with:

- a floor (planks, tiles or carpet) and four walls with door and window holes;
- door panels swung open in the doorways, framed windows with panes and sills, curtains, pictures;
- furniture chosen by room type, placed against walls, in corners or free with a yaw about z, with
  companions (chairs at desks and around tables, a coffee table before a sofa, bedside cabinets);
  placements never overlap: oriented footprints plus a margin, rejection sampling with bounded attempts;
- small unlabelled props on furniture tops and on the floor;
- no ceiling by default: ScanNet reconstructions rarely see it and ScanNet-20 has no ceiling class (when
  enabled it is labelled ``IGNORE_LABEL``).

Everything is drawn from one ``numpy.random.Generator`` seeded with ``seed``: same seed, same arrays.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...config import Config
from .catalog import build_furniture
from .layout import (
    FloorPlan,
    Footprint,
    companion_slots,
    footprint_of,
    propose_free,
    propose_on_wall,
    segment_free,
    wall_rect,
)
from .primitives import Furniture, Piece, pose
from .props import prop
from .scene import SceneAssembler, SyntheticRoom
from .structure import (
    Opening,
    Wall,
    ceiling_piece,
    curtain_panels,
    door_pieces,
    floor_piece,
    picture_pieces,
    room_walls,
    wall_mesh,
    window_pieces,
)

ROOM_TYPES: dict[str, tuple[tuple[str, int, int], ...]] = {
    "bedroom": (("bed", 1, 1), ("wardrobe", 0, 1), ("cabinet", 0, 1), ("desk", 0, 1), ("bookshelf", 0, 1),
                ("armchair|chair", 0, 1), ("otherfurniture", 0, 1), ("floor_lamp", 0, 1)),
    "living_room": (("sofa", 1, 2), ("armchair", 0, 2), ("bookshelf", 0, 2), ("cabinet", 0, 2),
                    ("dining_table|round_table", 0, 1), ("side_table", 0, 1), ("otherfurniture", 0, 2),
                    ("floor_lamp", 0, 1)),
    "office": (("desk", 1, 3), ("bookshelf", 0, 2), ("cabinet", 0, 2), ("dining_table|round_table", 0, 1),
               ("sofa", 0, 1), ("otherfurniture", 0, 1), ("floor_lamp", 0, 1)),
    "kitchen": (("counter_sink", 1, 1), ("counter", 0, 2), ("refrigerator", 1, 1), ("cabinet", 0, 1),
                ("dining_table|round_table", 0, 1), ("otherfurniture", 0, 2)),
    "bathroom": (("toilet", 1, 1), ("sink|vanity", 1, 1), ("bathtub", 0, 1), ("small_cabinet|cabinet", 0, 1),
                 ("otherfurniture", 0, 1)),
}
"""Room type -> furniture entries ``(kinds, min count, max count)``; ``"a|b"`` picks one kind per item."""

COMPANIONS: dict[str, tuple[str, float]] = {
    "desk": ("office_chair|chair", 0.9), "dining_table": ("chair", 0.75), "round_table": ("chair", 0.75),
    "sofa": ("coffee_table", 0.6), "bed": ("small_cabinet", 0.55),
}
"""Anchor kind -> (companion kinds, probability of filling each companion slot)."""

_MAX_SIZE = {"bathroom": 4.0}
"""Upper bound on a room type's width and depth (bathrooms are small), applied within the config range."""


@dataclass
class RoomConfig(Config):
    """How rooms are drawn. All lengths in metres; ranges are ``(min, max)`` and drawn uniformly."""

    room_type: str = "random"
    """One of :data:`ROOM_TYPES`, or ``"random"`` for a uniformly drawn type."""
    width: tuple[float, float] = (3.0, 7.0)
    """Interior extent along x."""
    depth: tuple[float, float] = (3.0, 7.0)
    """Interior extent along y."""
    height: tuple[float, float] = (2.4, 3.0)
    """Floor-to-ceiling height."""
    wall_thickness: float = 0.1
    """Thickness of the wall boxes (they lie outside the interior)."""
    doors: tuple[int, int] = (1, 2)
    """Number of doors (inclusive range)."""
    windows: tuple[int, int] = (0, 3)
    """Number of windows (inclusive range)."""
    door_open_deg: tuple[float, float] = (10.0, 90.0)
    """How far door panels are swung into the room, degrees."""
    curtain_prob: float = 0.5
    """Probability that a window gets curtains."""
    pictures: tuple[int, int] = (0, 4)
    """Number of pictures attempted on the walls."""
    props: tuple[int, int] = (1, 6)
    """Number of small unlabelled props attempted (on furniture tops or the floor)."""
    ceiling: bool = False
    """Add a ceiling (unlabelled: not a ScanNet-20 class). Off like most ScanNet reconstructions."""
    margin: float = 0.05
    """Minimum clearance between the footprints of different furniture groups."""
    max_attempts: int = 40
    """Pose proposals tried per item before it is left out."""
    extra_furniture: tuple[str, ...] = field(default_factory=tuple)
    """Furniture kinds added to every room on top of the room type's list (e.g. ``("bookshelf",)``)."""


def generate_room(seed: int, cfg: RoomConfig | None = None) -> SyntheticRoom:
    """Generate the labelled room of ``seed``.

    Parameters
    ----------
    seed: any int; the same seed and config give identical arrays.
    cfg: the drawing ranges (:class:`RoomConfig` defaults when None).

    Returns
    -------
    SyntheticRoom with ``mesh`` (F faces), ``face_labels`` (F,), ``face_instances`` (F,), ``face_colors``
    (F, 3) and one record per instance in ``objects``.
    """
    cfg = cfg or RoomConfig()
    rng = np.random.default_rng(seed)
    room_type = cfg.room_type if cfg.room_type != "random" else str(rng.choice(sorted(ROOM_TYPES)))
    if room_type not in ROOM_TYPES:
        raise ValueError(f"unknown room type {room_type!r}; known: {sorted(ROOM_TYPES)} or 'random'")
    cap = _MAX_SIZE.get(room_type, np.inf)
    width = float(rng.uniform(cfg.width[0], max(cfg.width[0], min(cfg.width[1], cap))))
    depth = float(rng.uniform(cfg.depth[0], max(cfg.depth[0], min(cfg.depth[1], cap))))
    height = float(rng.uniform(*cfg.height))
    walls = room_walls(width, depth)
    asm = SceneAssembler(rng)
    plan = FloorPlan(width, depth)

    openings = _draw_openings(rng, cfg, walls, height, room_type)
    t = cfg.wall_thickness
    doors = [(walls[o.wall], o) for o in openings if o.kind == "door"]
    asm.add([floor_piece(width, depth, rng, doors, t)], "floor", "structure", asm.new_group())
    for wall in walls:
        asm.add([Piece(wall_mesh(wall, height, t, openings), "wall", "paint")], "wall", "structure",
                asm.new_group(), palette="walls")
    if cfg.ceiling:
        asm.add([ceiling_piece(width, depth, height)], "ceiling", "structure", asm.new_group())
    wall_items: dict[int, list[tuple[float, float, float]]] = {w.index: [] for w in walls}
    swings = []
    for o in openings:
        wall = walls[o.wall]
        wall_items[o.wall].append((o.u0 - 0.12, o.u1 + 0.12, o.z1 + 0.1))
        if o.kind == "door":
            asm.add(door_pieces(wall, o, rng, float(rng.uniform(*cfg.door_open_deg))), "door", "wall",
                    asm.new_group())
            swings.append(door_swing(wall, o))
            plan.add_zone(swings[-1], 0.0)
            continue
        asm.add(window_pieces(wall, o, t, rng), "window", "wall", asm.new_group())
        plan.add_zone(wall_rect(wall, o.u0 - 0.1, o.u1 + 0.1, 0.0, 0.5), o.z0 - 0.06)
        if rng.random() < cfg.curtain_prob:
            # The rod may reach past the window, but not to a neighbouring opening's trim, nor into a corner
            # where the curtains of the adjacent wall may hang.
            others = [q for q in openings if q.wall == o.wall and q is not o]
            lo = max([0.2] + [max(q.u1 + 0.15, (q.u1 + o.u0) / 2 + 0.03) for q in others if q.u1 <= o.u0])
            hi = min([wall.length - 0.2] + [min(q.u0 - 0.15, (o.u1 + q.u0) / 2 - 0.03) for q in others
                                            if q.u0 >= o.u1])
            panels, extents = curtain_panels(wall, o, rng, height, to_floor=bool(rng.random() < 0.5),
                                             limits=(lo, hi))
            rects = [(wall_rect(wall, u0, u1, 0.0, v1 + 0.02), z_low) for u0, u1, v1, z_low in extents]
            if any(r.overlaps(sw) for r, _ in rects for sw in swings):
                continue  # a door next to this window would swing into them
            group = asm.new_group()
            for pieces in panels:
                asm.add(pieces, "curtain", "wall", group, palette=("curtain", group))
            for (rect, z_low), (u0, u1, _, _) in zip(rects, extents, strict=True):
                plan.add_zone(rect, z_low - 0.02)
                wall_items[o.wall].append((u0, u1, np.inf))

    tops = _place_furniture(rng, cfg, room_type, walls, plan, asm, width, depth)
    _place_props(rng, cfg, plan, asm, tops, width, depth, height)
    _place_pictures(rng, cfg, walls, wall_items, asm, height)
    return asm.build(seed=int(seed), room_type=room_type, size=(width, depth, height), openings=openings,
                     config=cfg)


def _draw_openings(rng: np.random.Generator, cfg: RoomConfig, walls: list[Wall], height: float,
                   room_type: str) -> list[Opening]:
    """Doors then windows at random places along the walls, 0.3 m apart and 0.15 m from the corners."""
    openings: list[Opening] = []
    n_doors = int(rng.integers(cfg.doors[0], cfg.doors[1] + 1))
    n_windows = int(rng.integers(cfg.windows[0], cfg.windows[1] + 1))
    for kind in ["door"] * n_doors + ["window"] * n_windows:
        for _ in range(cfg.max_attempts):
            wall = walls[int(rng.integers(4))]
            if kind == "door":
                w, z0 = float(rng.uniform(0.8, 1.0)), 0.0
                z1 = min(float(rng.uniform(2.0, 2.15)), height - 0.15)
            else:
                w = float(rng.uniform(0.6, min(2.0, wall.length - 0.6)))
                lo, hi = (1.1, 1.4) if room_type == "bathroom" else (0.7, 1.0)
                z0 = float(rng.uniform(lo, hi))
                z1 = min(z0 + float(rng.uniform(0.8, 1.6)), height - 0.25)
            if wall.length < w + 0.3 or z1 - z0 < 0.4:
                continue
            u0 = float(rng.uniform(0.15, wall.length - w - 0.15))
            taken = [(o.u0, o.u1) for o in openings if o.wall == wall.index]
            cand = Opening(wall.index, kind, u0, u0 + w, z0, z1)
            if not segment_free(u0, u0 + w, taken, 0.3):
                continue
            # Door leaves of neighbouring doors (on adjacent walls near a corner) must not sweep each other.
            if kind == "door" and any(door_swing(wall, cand).overlaps(door_swing(walls[o.wall], o))
                                      for o in openings if o.kind == "door"):
                continue
            openings.append(cand)
            break
    return openings


def door_swing(wall: Wall, o: Opening) -> Footprint:
    """Floor swept by the door leaf of ``o`` plus its casing, kept free of furniture."""
    return wall_rect(wall, o.u0 - 0.12, o.u1 + 0.12, 0.0, o.width + 0.1)


def _pick_kind(rng: np.random.Generator, spec: str) -> str:
    options = spec.split("|")
    return options[int(rng.integers(len(options)))]


def _place_furniture(rng, cfg, room_type, walls, plan, asm, width, depth) -> list[tuple[np.ndarray, Furniture]]:
    """Build and place the room type's furniture (largest first) with companions; returns the placed
    pieces that have a top for props, with their poses."""
    items: list[tuple[str, Furniture]] = []
    for spec, lo, hi in ROOM_TYPES[room_type] + tuple((k, 1, 1) for k in cfg.extra_furniture):
        for _ in range(int(rng.integers(lo, hi + 1))):
            kind = _pick_kind(rng, spec)
            items.append((kind, build_furniture(kind, rng)))
    items.sort(key=lambda kf: -kf[1].size[0] * kf[1].size[1])
    lengths = np.array([w.length for w in walls])
    tops = []
    for kind, furn in items:
        group = asm.new_group()
        placed = None
        for attempt in range(cfg.max_attempts):
            # Sofas also stand free in the room (facing a coffee table) when the walls are taken.
            against_wall = furn.placement in ("wall", "corner") and (kind != "sofa" or attempt < cfg.max_attempts // 2)
            if against_wall:
                wall = walls[int(rng.choice(4, p=lengths / lengths.sum()))]
                transform = propose_on_wall(rng, wall, furn, corner=furn.placement == "corner")
            else:
                transform = propose_free(rng, width, depth, furn)
            fp = footprint_of(transform, furn)
            if not plan.fits(fp, float(furn.size[2]), cfg.margin):
                continue
            clear = _clearance(kind, transform, furn)
            if clear is not None and attempt < 2 * cfg.max_attempts // 3 and not plan.fits(clear, 0.0, cfg.margin):
                continue
            placed = (transform, fp)
            break
        if placed is None:
            continue
        transform, fp = placed
        plan.occupy(fp, float(furn.size[2]), group)
        asm.add(furn.pieces, furn.kind, "floor", group, transform, fp)
        if furn.top is not None:
            tops.append((transform, furn))
        if kind in COMPANIONS:
            _place_companions(rng, cfg, kind, furn, transform, plan, asm, group, tops)
    return tops


def _clearance(kind: str, transform: np.ndarray, furn: Furniture) -> Footprint | None:
    """Floor that an anchor's companions will need (room for chairs around a table, before a desk or sofa),
    preferred free when placing the anchor so its companions can follow."""
    w, d = furn.size[0] / 2, furn.size[1] / 2
    if kind in ("dining_table", "round_table"):
        local = (0.0, 0.0, w + 0.5, d + 0.5)
    elif kind in ("desk", "sofa"):
        local = (0.0, -d - 0.35, w, 0.35)
    else:
        return None
    c = transform @ np.array([local[0], local[1], 0.0, 1.0])
    angle = float(np.arctan2(transform[1, 0], transform[0, 0]))
    return Footprint((float(c[0]), float(c[1])), (local[2], local[3]), angle)


def _place_companions(rng, cfg, anchor_kind, anchor, anchor_pose, plan, asm, group, tops) -> None:
    spec, prob = COMPANIONS[anchor_kind]
    kind = _pick_kind(rng, spec)
    template = build_furniture(kind, rng)
    for slot in companion_slots(anchor_kind, anchor, template, rng):
        if rng.random() >= prob:
            continue
        transform = anchor_pose @ slot
        fp = footprint_of(transform, template)
        if not plan.fits(fp, float(template.size[2]), cfg.margin, near_group=group):
            continue
        own = asm.new_group()
        plan.occupy(fp, float(template.size[2]), own)
        # Companions of one anchor are a matching set: one design and one palette at every slot.
        asm.add(template.pieces, template.kind, "floor", own, transform, fp, palette=("set", group), anchor=group)
        if template.top is not None:
            tops.append((transform, template))


def _place_props(rng, cfg, plan, asm, tops, width, depth, height) -> None:
    """Small unlabelled things: on free tops (wholly on them, apart from each other, under the ceiling) or
    standing on the floor."""
    used: dict[int, list[Footprint]] = {}
    for _ in range(int(rng.integers(cfg.props[0], cfg.props[1] + 1))):
        on_top = bool(tops) and rng.random() < 0.75
        item = prop(rng, None if on_top else ("box" if rng.random() < 0.7 else "books"))
        for _ in range(cfg.max_attempts // 4):
            if on_top:
                k = int(rng.integers(len(tops)))
                parent_pose, parent = tops[k]
                z, cx, cy, hx, hy = parent.top
                if z + item.size[2] > height - 0.1:
                    continue
                yaw = float(rng.normal(0.0, 0.3)) + (np.pi if rng.random() < 0.5 else 0.0)
                local = pose(cx + float(rng.uniform(-hx, hx)), cy + float(rng.uniform(-hy, hy)), yaw, z)
                fp = footprint_of(local, item)  # in the parent's frame
                corners = fp.corners() - [cx, cy]
                if np.any(np.abs(corners) > [hx, hy]) or any(fp.overlaps(o, 0.01) for o in used.get(k, [])):
                    continue
                world = footprint_of(parent_pose @ local, item)
                if any(z + item.size[2] > h and world.overlaps(zone) for zone, h in plan.zones):
                    continue  # e.g. a lamp on a desk under a window sill
                used.setdefault(k, []).append(fp)
                asm.add(item.pieces, item.kind, "on", asm.new_group(), parent_pose @ local)
                break
            transform = propose_free(rng, width, depth, item)
            fp = footprint_of(transform, item)
            if plan.fits(fp, float(item.size[2]), cfg.margin):
                group = asm.new_group()
                plan.occupy(fp, float(item.size[2]), group)
                asm.add(item.pieces, item.kind, "floor", group, transform, fp)
                break


def _place_pictures(rng, cfg, walls, wall_items, asm, height) -> None:
    """Framed pictures flat on walls, clear of openings, curtains, each other, furniture and props."""
    boxes = [np.concatenate(o.bounds) for o in asm.objects if o.mount in ("floor", "on")]
    for _ in range(int(rng.integers(cfg.pictures[0], cfg.pictures[1] + 1))):
        for _ in range(cfg.max_attempts // 2):
            wall = walls[int(rng.integers(4))]
            w, h = float(rng.uniform(0.3, 1.2)), float(rng.uniform(0.25, 0.9))
            zc = float(rng.uniform(1.2, 1.75))
            if wall.length < w + 0.4 or zc + h / 2 > height - 0.15:
                continue
            u = float(rng.uniform(0.2 + w / 2, wall.length - 0.2 - w / 2))
            if not segment_free(u - w / 2, u + w / 2, [(a, b) for a, b, _ in wall_items[wall.index]], 0.15):
                continue
            p0, p1 = wall.point(u - w / 2, 0.0), wall.point(u + w / 2, 0.06)
            lo = np.array([min(p0[0], p1[0]), min(p0[1], p1[1]), zc - h / 2])
            hi = np.array([max(p0[0], p1[0]), max(p0[1], p1[1]), zc + h / 2])
            if any(np.all(lo < b[3:] + 0.03) and np.all(b[:3] - 0.03 < hi) for b in boxes):
                continue
            asm.add(picture_pieces(wall, u, zc, w, h, rng), "picture", "wall", asm.new_group())
            wall_items[wall.index].append((u - w / 2, u + w / 2, zc + h / 2))
            break
